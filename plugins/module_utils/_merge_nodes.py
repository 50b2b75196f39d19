# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Commands and files of the in-place merge engine (:mod:`_merge_in_place`). Internal use only.

:class:`NodeOps` runs the engine's commands: directly on the target master,
over SSH on the merged nodes, every one bounded, with the nodes' host keys
pinned. :class:`LocalFiles` is the target master's file system as the engine
uses it. The unit tests replace both with fakes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    DAEMON_UTIL, DATA_DIR, atomic_write, make_private_directories, rewrite_file)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

WATCHER_PAUSE_FILE = os.path.join(DATA_DIR, "watcher.pause")

#: Seconds for one command on a node; a node that stops answering fails its
#: command after SSH_ALIVE_INTERVAL * SSH_ALIVE_COUNT seconds of silence.
COMMAND_TIMEOUT = 300
SSH_CONNECT_TIMEOUT = 10
SSH_ALIVE_INTERVAL = 5
SSH_ALIVE_COUNT = 3
#: Seconds to wait for a master's daemons to answer after a start.
MASTER_WAIT = 90


class MergeStepFailed(FleetError):
    """A step of the in-place merge failed; the message names the step, the host and the cause."""


class NodeUnreachable(FleetError):
    """A node did not answer over SSH (connection refused or timed out, or no answer in time)."""


def ssh_argv(host, command, known_hosts, connect_timeout=SSH_CONNECT_TIMEOUT):
    """The ssh command line that runs COMMAND (a list) as root on HOST, bounded and with pinned host keys."""
    return ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % connect_timeout,
            "-o", "ServerAliveInterval=%d" % SSH_ALIVE_INTERVAL, "-o", "ServerAliveCountMax=%d" % SSH_ALIVE_COUNT,
            "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=%s" % known_hosts,
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-l", "root", host,
            "--", shlex.join(command)]


def known_hosts_text(host_keys):
    """known_hosts lines for ``{node: [public key lines]}``; refuses a key line that is not one."""
    lines = []
    for node, keys in sorted(host_keys.items()):
        for key in keys:
            fields = key.split()
            if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-")) or any(
                    c in node for c in " ,\n#"):
                raise FleetError("the SSH host key given for %s is not a public key line: %r" % (node, key[:60]))
            lines.append("%s %s %s\n" % (node, fields[0], fields[1]))
    return "".join(lines)


# ----------------------------------------------------------------------
# Commands on the nodes

class NodeOps:
    """Runs the merge's commands: on LOCAL (the target master) directly, elsewhere over SSH."""

    def __init__(self, local, known_hosts, command_timeout=COMMAND_TIMEOUT, run=subprocess.run):
        self.local = local
        self.known_hosts = known_hosts
        self.command_timeout = command_timeout
        self._run = run

    def run(self, host, argv, env=None, timeout=None, data=None):
        """``(rc, stdout, stderr)``; raises :class:`NodeUnreachable` when HOST does not answer."""
        timeout = timeout or self.command_timeout
        remote = host != self.local
        if remote:
            if env:
                argv = ["env"] + ["%s=%s" % item for item in sorted(env.items())] + list(argv)
            full = ssh_argv(host, argv, self.known_hosts)
        else:
            full = list(argv)
        try:
            proc = self._run(full, input=data, capture_output=True, timeout=timeout, check=False,
                             env=dict(os.environ, **env) if env and not remote else None)
        except subprocess.TimeoutExpired as exc:
            raise NodeUnreachable("%s: no answer within %d s to %s" % (host, timeout, " ".join(argv[:3]))) from exc
        out, err = _text(proc.stdout), _text(proc.stderr)
        if remote and proc.returncode == 255:
            raise NodeUnreachable("%s: %s" % (host, (err.strip().splitlines() or ["ssh failed"])[-1]))
        return proc.returncode, out, err

    def check(self, host, argv, what, **kwargs):
        rc, out, err = self.run(host, argv, **kwargs)
        if rc != 0:
            raise MergeStepFailed("%s on %s failed (rc=%s): %s" % (what, host, rc, tail_of(err or out)))
        return out

    def read_file(self, host, path):
        return self.check(host, ["cat", path], "reading %s" % path)

    def daemons_running(self, host, daemons):
        """``{daemon: bool}``."""
        script = "for d in %s; do if %s check $d >/dev/null 2>&1; then echo $d=1; else echo $d=0; fi; done" % (
            " ".join(daemons), DAEMON_UTIL)
        out = self.check(host, ["sh", "-c", script], "checking the daemons")
        found = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return {d: found.get(d) == "1" for d in daemons}

    def voting_disabled(self, host):
        rc, _out, _err = self.run(host, ["pgrep", "-f", "ganeti-wconf[d].*--no-voting"])
        return rc == 0

    def instance_statuses(self, master):
        out = self.check(master, ["gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,status"],
                         "listing the instances")
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)

    def offline_nodes(self, master):
        out = self.check(master, ["gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,offline"],
                         "listing the nodes")
        return [line.split("|")[0] for line in out.splitlines() if line.endswith("|Y")]

    def wait_for_master(self, master, clock=time.monotonic, sleep=time.sleep, limit=MASTER_WAIT):
        deadline = clock() + limit
        while True:
            rc, _out, err = self.run(master, ["gnt-cluster", "getmaster"], timeout=60)
            if rc == 0:
                return
            if clock() > deadline:
                raise MergeStepFailed("the master daemons of %s did not answer within %d s: %s"
                                      % (master, limit, tail_of(err)))
            sleep(2)

    def archive_and_clear_identity(self, node, archive):
        """Archive NODE's /var/lib/ganeti to ARCHIVE (0600), then remove its ssconf and server.pem.

        The archive is written only while the node still has its identity: a
        re-run after a partial step never archives a cleared node.
        """
        directory = os.path.dirname(archive)
        script = ("set -e; umask 077; mkdir -p {dir}; chmod 0700 {dir}; "
                  "if [ -e {data}/server.pem ]; then tar -C /var/lib -czf {arch}.partial ganeti; "
                  "mv -f {arch}.partial {arch}; fi; rm -f {data}/ssconf_* {data}/server.pem").format(
            dir=shlex.quote(directory), arch=shlex.quote(archive), data=DATA_DIR)
        self.check(node, ["sh", "-c", script], "archiving /var/lib/ganeti and clearing the old identity")

    def restore_node(self, node, archive):
        """Put back what the merge removed on NODE, start the daemons that do not run; the output says what.

        Only ssconf and server.pem come back from ARCHIVE (config.data and the
        rest stay as the node has them); a daemon that exits as "not master"
        (11) on a node that is not the master is no failure.
        """
        script = ("set -e; if [ ! -e {data}/server.pem ] && [ -e {arch} ]; then "
                  "tar -C /var/lib -xzf {arch} --wildcards 'ganeti/ssconf_*' ganeti/server.pem; echo restored; fi; "
                  "for d in $({du} list-start-daemons); do {du} check $d >/dev/null 2>&1 || "
                  "{{ {du} start $d >/dev/null 2>&1 && echo started $d || [ $? = 11 ]; }}; done").format(
            data=DATA_DIR, arch=shlex.quote(archive), du=DAEMON_UTIL)
        return self.check(node, ["sh", "-c", script], "restoring the node")

    def remove_authorized_key(self, node, key):
        """Remove the line KEY from root's authorized_keys on NODE; True when it was there."""
        script = ('f=/root/.ssh/authorized_keys; [ -e "$f" ] || exit 0; grep -qxF -- "$1" "$f" || exit 0; '
                  'umask 077; grep -vxF -- "$1" "$f" > "$f.fleet-tmp" || true; mv -f "$f.fleet-tmp" "$f"; echo removed')
        return "removed" in self.check(node, ["sh", "-c", script, "-", key], "removing the target master's key")

    def pause_watcher(self, host, seconds, via_file, now):
        """Pause the watcher for SECONDS: through the cluster (every node) or, daemons stopped, this node's file."""
        if via_file:
            until = int(now + seconds)
            self.check(host, ["sh", "-c", "umask 022; printf '%%d\\n' %d > %s" % (until, WATCHER_PAUSE_FILE)],
                       "pausing the watcher")
        else:
            self.check(host, ["gnt-cluster", "watcher", "pause", str(int(seconds))], "pausing the watcher")


def _text(value):
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def tail_of(text, lines=3):
    return " ".join(line.strip() for line in (text or "").strip().splitlines()[-lines:]) or "no output"


class LocalFiles:
    """The target master's files, as the engine uses them (a fake replaces it in the unit tests)."""

    def read(self, path):
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, path, text):
        make_private_directories(os.path.dirname(path))
        atomic_write(path, text.encode("utf-8") if isinstance(text, str) else text, 0o600)

    def replace_config(self, path, data):
        rewrite_file(path, data)

    def listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def rename(self, source, destination):
        make_private_directories(os.path.dirname(destination))
        os.replace(source, destination)
