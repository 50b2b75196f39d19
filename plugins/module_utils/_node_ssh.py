# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Programs on Ganeti nodes, started from the controller over SSH. Internal use only.

:class:`NodeAccess` says how the controller reaches each node (address, user,
port, key, SSH options: from the inventory, see the ``instance_move`` action
plugin, or given). :class:`NodeProgram` runs ``_disk_stream`` on one node and
reads its events as they come, each wait bounded; stopping it closes its
standard input, which ends the program on the node.
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import subprocess
import time

from ansible_collections.ganeti.fleet.plugins.module_utils import _disk_stream
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel

#: Run on the node by ``python3 -c``: read the program's length and text, then run it.
BOOTSTRAP = ("import sys;b=sys.stdin.buffer;n=int(b.readline());g={'__name__':'ganeti_fleet_disk_stream'};"
             "exec(compile(b.read(n),'ganeti-fleet-disk-stream','exec'),g);g['main']()")
SSH_CONNECT_TIMEOUT = 10
SSH_ALIVE_INTERVAL = 5
SSH_ALIVE_COUNT = 3

#: The keys of ``node_access`` and of each entry of its ``hosts``.
ACCESS_KEYS = ("host", "user", "port", "private_key_file", "ssh_args", "python")


class NodeProgramFailed(FleetError):
    """A program on a node failed, or its node could not be reached; the message names the node."""


def node_access_argument_spec():
    """The ``node_access`` option of the modules that reach nodes (the ``node_access`` doc fragment)."""
    return dict(node_access=dict(type="dict", default={}, options=dict(
        user=dict(type="str", default="root"),
        port=dict(type="int"),
        private_key_file=dict(type="path"),
        ssh_args=dict(type="str", default=""),
        python=dict(type="str", default="/usr/bin/python3"),
        hosts=dict(type="dict", default={}),
        inventory_group=dict(type="str", default="ganeti_nodes"),
    )))


class NodeAccess:
    """How to reach each node: the defaults of ``node_access``, overridden per node by its ``hosts`` entry."""

    def __init__(self, options=None):
        options = dict(options or {})
        options.pop("inventory_group", None)  # read by the action plugin only
        self.hosts = dict(options.pop("hosts", None) or {})
        self.defaults = {key: value for key, value in options.items() if value not in (None, "")}
        for node, entry in self.hosts.items():
            if isinstance(entry, str):
                self.hosts[node] = {"host": entry}
            elif not isinstance(entry, dict) or set(entry) - set(ACCESS_KEYS):
                raise FleetError("node_access.hosts[%s] must be an address or a dict with the keys %s"
                                 % (node, ", ".join(ACCESS_KEYS)))

    def settings(self, node):
        values = {"host": node, "user": "root", "python": "/usr/bin/python3", "ssh_args": ""}
        values.update(self.defaults)
        values.update({k: v for k, v in self.hosts.get(node, {}).items() if v not in (None, "")})
        return values

    def argv(self, node, command):
        """The ssh command line that runs COMMAND (a list) on NODE.

        The node's own SSH options come first: ssh takes the first value of
        an option, so they win over the bounds added here.
        """
        values = self.settings(node)
        argv = ["ssh"] + shlex.split(values["ssh_args"] or "")
        argv += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % SSH_CONNECT_TIMEOUT,
                 "-o", "ServerAliveInterval=%d" % SSH_ALIVE_INTERVAL,
                 "-o", "ServerAliveCountMax=%d" % SSH_ALIVE_COUNT, "-o", "LogLevel=ERROR"]
        if values.get("port"):
            argv += ["-p", str(values["port"])]
        if values.get("private_key_file"):
            argv += ["-i", values["private_key_file"]]
        argv += ["-l", values["user"], values["host"], "--", shlex.join(command)]
        return argv

    def python(self, node):
        return self.settings(node)["python"]


def program_source():
    """The text of the node program (also when this module is read from a zip, as in a module run)."""
    loader = getattr(_disk_stream, "__loader__", None)
    source = loader.get_source(_disk_stream.__name__) if loader is not None else None
    if source is None:
        with open(_disk_stream.__file__, "rb") as handle:
            source = handle.read()
    # Loaders differ: text from the standard ones, bytes from some test runners' own.
    return source if isinstance(source, bytes) else source.encode("utf-8")


class NodeProgram:
    """``_disk_stream`` running on NODE with SETTINGS; what it does is named WHAT in errors."""

    def __init__(self, access, node, settings, what, popen=subprocess.Popen):
        self.node = node
        self.what = what
        self.events = []
        self._buffer = b""
        self._popen = popen
        self._argv = access.argv(node, [access.python(node), "-c", BOOTSTRAP])
        self._settings = settings
        self.proc = None

    def start(self):
        source = program_source()
        try:
            self.proc = self._popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except OSError as exc:
            raise NodeProgramFailed("%s on %s could not start: %s" % (self.what, self.node, exc),
                                    node=self.node) from None
        os.set_blocking(self.proc.stdout.fileno(), False)
        try:
            self.proc.stdin.write(b"%d\n" % len(source) + source + json.dumps(self._settings).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise self._failure("could not start (%s)" % exc) from None
        return self

    def go(self, settings):
        """Send the rest of the settings to a program started with ``await_go``."""
        try:
            self.proc.stdin.write(json.dumps(settings).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise self._failure("could not be told to go on (%s)" % exc) from None

    def expect(self, name, timeout):
        """Wait for the event NAME (a dict) for at most TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("event") == name:
                    return self.events.pop(index)
            self._read(deadline, waiting_for=name)

    def finish(self, name, timeout):
        """Every event NAME until the program says ``done``, within TIMEOUT seconds."""
        self.expect("done", timeout)
        found = [event for event in self.events if event.get("event") == name]
        self.stop()
        return found

    def error_within(self, seconds):
        """The failure this program reports within SECONDS (its message), or None."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline - 0.1:
                if any(event.get("event") == "done" for event in self.events):
                    return None
                self._read(deadline, waiting_for="its end")
        except NodeProgramFailed as exc:
            return str(exc)
        return None

    def _read(self, deadline, waiting_for):
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._failure("said no '%s' within the time allowed" % waiting_for)
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(min(left, 5)):
                return
        chunk = self.proc.stdout.read()
        if chunk is None:
            return
        if chunk == b"":
            raise self._failure("ended before '%s'" % waiting_for)
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line.decode("utf-8"))
            except ValueError:
                continue
            if event.get("event") == "error":
                raise self._failure("failed: %s" % event.get("message"))
            self.events.append(event)

    def _failure(self, text):
        detail = self._stop_and_tell()
        return NodeProgramFailed("%s on %s %s%s" % (self.what, self.node, text, detail), node=self.node)

    def _stop_and_tell(self):
        self.stop()
        err = b""
        if self.proc is not None and self.proc.stderr is not None:
            try:
                err = self.proc.stderr.read() or b""
            except (OSError, ValueError):
                err = b""
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        if self.proc is not None and self.proc.returncode == 255 and lines:
            return " (ssh: %s)" % lines[-1]
        return " (%s)" % lines[-1] if lines else ""

    def stop(self, grace=5):
        """End the program: its standard input closes (it stops itself), then the ssh process goes."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def unreachable(access, nodes, timeout=60):
    """``{node: why}`` of the NODES where the node program cannot run (empty: all reachable).

    The program is started on every node at once, waits for settings that
    never come, and is stopped once it said ``ready``.
    """
    def try_node(node):
        program = NodeProgram(access, node, {"action": "digest", "await_go": True}, "the node program")
        try:
            program.start().expect("ready", timeout)
        except FleetError as exc:
            return node, str(exc)
        finally:
            program.stop()
        return node, None
    return {node: why for node, why in in_parallel(*[(try_node, node) for node in sorted(set(nodes))]) if why}


def stop_all(programs):
    for program in programs:
        if program is not None:
            program.stop()
