"""PID 1 of one lab host: mounts its private files, then reaps orphans.

Started by ``unshare --mount --uts --net --pid --fork --mount-proc``. Ganeti
daemons double-fork; without a reaping PID 1 their zombies make
``start-stop-daemon --retry`` (and so every daemon restart) hang.

It takes one argument, a JSON file: ``{"hostname": ..., "mounts": [[src, dst,
kind], ...], "ready": path}``; ``kind`` is ``bind`` or ``tmpfs`` or ``sysfs``.
"""

import json
import os
import signal
import socket
import subprocess
import sys


def _mount(source, target, kind):
    if kind == "bind":
        cmd = ["mount", "--bind", source, target]
    elif kind == "tmpfs":
        cmd = ["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", target]
    elif kind == "sysfs":
        cmd = ["mount", "-t", "sysfs", "sysfs", target]
    else:
        raise ValueError("unknown mount kind %r" % kind)
    subprocess.run(cmd, check=True)


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
    for source, target, kind in spec["mounts"]:
        _mount(source, target, kind)
    for directory in spec.get("mkdirs", []):
        os.makedirs(directory, exist_ok=True)
    with open(spec["ready"], "w", encoding="utf-8") as handle:
        handle.write("ready\n")
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
