"""PID 1 of one lab host: mounts its private files, then reaps orphans.

Started by ``unshare --mount --uts --net --pid --fork --mount-proc``. Ganeti
daemons double-fork; without a reaping PID 1 their zombies make
``start-stop-daemon --retry`` (and so every daemon restart) hang.

It takes one argument, a JSON file: ``{"hostname": ..., "mounts": [[src, dst,
kind], ...], "ready": path}``; ``kind`` is ``bind`` or ``tmpfs`` or ``sysfs``.
With ``"root": {"lower": ..., "upper": ..., "work": ..., "merged": ...}`` the
host runs in that root filesystem (another Debian, another Ganeti): read-only
under an overlay whose writable layer is the host's own, its mounts made
inside it, then made the root of the host's mount namespace, so that
``nsenter --mount`` lands in it too.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys

MNT_DETACH = 2


def _mount(source, target, kind):
    if kind == "bind":
        cmd = ["mount", "--bind", source, target]
    elif kind == "rbind":
        cmd = ["mount", "--rbind", source, target]
    elif kind == "proc":
        cmd = ["mount", "-t", "proc", "proc", target]
    elif kind == "overlay":
        cmd = ["mount", "-t", "overlay", "overlay", "-o", source, target]
    elif kind == "tmpfs":
        cmd = ["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", target]
    elif kind == "sysfs":
        cmd = ["mount", "-t", "sysfs", "sysfs", target]
    else:
        raise ValueError("unknown mount kind %r" % kind)
    subprocess.run(cmd, check=True)


def _prepare_root(root):
    merged = root["merged"]
    _mount("lowerdir=%s,upperdir=%s,workdir=%s" % (root["lower"], root["upper"], root["work"]), merged, "overlay")
    _mount("proc", merged + "/proc", "proc")
    _mount("/dev", merged + "/dev", "rbind")
    _mount("tmpfs", merged + "/tmp", "tmpfs")


def _switch_root(merged):
    # pivot_root(2) moves the root of every process of this mount namespace,
    # this one included; the machine's tree is then detached from it.
    os.makedirs(merged + "/.machine", exist_ok=True)
    subprocess.run(["pivot_root", merged, merged + "/.machine"], check=True)
    os.chdir("/")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(b"/.machine", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount2 /.machine")
    os.rmdir("/.machine")


def _terminate(signum, frame):  # pylint: disable=unused-argument
    # PID 1 of a PID namespace: kill(-1) reaches every process in it, and
    # the namespace (with its mounts and interfaces) goes away when we exit.
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os._exit(0)


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    socket.sethostname(spec["hostname"])
    root = spec.get("root")
    if root:
        _prepare_root(root)
    prefix = root["merged"] if root else ""
    for source, target, kind in spec["mounts"]:
        _mount(source, prefix + target, kind)
    # The ready file is in the machine's tree, which another root hides.
    ready_dir = os.open(os.path.dirname(spec["ready"]), os.O_RDONLY | os.O_DIRECTORY)
    if root:
        _switch_root(root["merged"])
    for directory in spec.get("mkdirs", []):
        os.makedirs(directory, exist_ok=True)
    ready = os.open(os.path.basename(spec["ready"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644,
                    dir_fd=ready_dir)
    os.write(ready, b"ready\n")
    os.close(ready)
    os.close(ready_dir)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # Orphans are reparented to us without a signal, so reap on SIGCHLD and
    # also every few seconds.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        signal.sigtimedwait([signal.SIGCHLD], 5)


if __name__ == "__main__":
    main()
