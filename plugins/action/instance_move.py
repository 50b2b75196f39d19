# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action ganeti.fleet.instance_move: the module, with the nodes' SSH access taken from the inventory.

A move reads, writes and digests disks on the nodes of both clusters over
SSH. The way Ansible itself reaches those nodes is in the inventory; this
action copies it into ``node_access.hosts`` (see the ``node_access`` doc
fragment) for each host of ``node_access.inventory_group`` that the task
did not name itself, then runs the module as the ``normal`` action does
(async included).

A move is one module call, silent until it returns, for up to its transfer
timeout. When the module runs here (connection ``local``), without async,
become or check mode, the module appends a line per step to a file in a
private temporary directory (its ``progress_file`` option) and a thread of
this worker follows the file and shows each new line with ``Display``. A
worker proxies ``Display`` to the main process over its final queue (2.16
to 2.19 alike), whose results thread prints the line at once: a terminal
sees it, and ansible-runner (AWX) records it as a ``verbose`` event. The
lines go to standard error, as ``async_wait``'s: it is line-buffered even
into a pipe, and a machine-readable stdout callback stays parseable. The
module itself still runs in the worker's main thread (signal handlers and
2.19's task context as without progress); the thread only reads a file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.ganeti.fleet.plugins.module_utils._progress import MAX_LINE

display = Display()

DEFAULT_GROUP = "ganeti_nodes"
#: Seconds between two looks at the progress file: a step's line shows at most this late.
FOLLOW_INTERVAL = 0.5

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def node_entry(hostname, variables):
    """The ``node_access.hosts`` entry of the inventory host HOSTNAME from its VARIABLES (a mapping)."""
    entry = {"host": variables.get("ansible_host") or hostname}
    for key, name in (("user", "ansible_user"), ("port", "ansible_port"),
                      ("private_key_file", "ansible_ssh_private_key_file")):
        if variables.get(name) not in (None, ""):
            entry[key] = variables.get(name)
    args = " ".join(str(variables.get(name)) for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args")
                    if variables.get(name))
    if args:
        entry["ssh_args"] = args
    python = variables.get("ansible_python_interpreter")
    if isinstance(python, str) and python.startswith("/"):
        entry["python"] = python
    if entry.get("port") is not None:
        entry["port"] = int(entry["port"])
    return entry


def with_inventory_access(args, task_vars):
    """ARGS with ``node_access.hosts`` completed from the inventory group it names."""
    args = dict(args)
    access = dict(args.get("node_access") or {})
    group = access.get("inventory_group") or DEFAULT_GROUP
    hosts = dict(access.get("hosts") or {})
    hostvars = task_vars.get("hostvars") or {}
    for hostname in (task_vars.get("groups") or {}).get(group, []):
        if hostname not in hosts and hostname in hostvars:
            hosts[hostname] = node_entry(hostname, hostvars[hostname])
    access["hosts"] = hosts
    args["node_access"] = access
    return args


def shown_line(raw):
    """The text of a progress line as read (bytes), printable and bounded, or '' for a blank one."""
    return _CONTROL.sub(" ", raw.decode("utf-8", "replace")).strip()[:MAX_LINE]


class ProgressFollower:
    """Shows each complete line appended to PATH with SHOW, from a thread of its own, as it comes.

    The file may not exist yet; a line still being written waits for its
    newline. :meth:`stop` shows what was written until then.
    """

    def __init__(self, path, show, interval=FOLLOW_INTERVAL):
        self.path = path
        self.show = show
        self.interval = interval
        self.offset = 0
        self.partial = b""
        self.failed = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="instance_move progress", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join()
        if not self.failed:
            self._read()

    def _follow(self):
        while not self.stopped.wait(self.interval) and self._read():
            pass

    def _read(self):
        """Show the lines completed since the last read; False when showing failed (then follow no more)."""
        try:
            self._show_new_lines()
        except Exception:  # pylint: disable=broad-exception-caught
            # Progress is best effort: the move goes on, and its result says what it did.
            self.failed = True
        return not self.failed

    def _show_new_lines(self):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            line = shown_line(raw)
            if line:
                self.show(line)


def run_followed(execute, module_args, show, interval=FOLLOW_INTERVAL):
    """EXECUTE(MODULE_ARGS with a ``progress_file``), showing the file's lines with SHOW while it runs.

    The file is in a directory of its own (mode 0700, mkdtemp's), removed
    afterwards whatever the outcome.
    """
    directory = tempfile.mkdtemp(prefix="ganeti-fleet-progress-")
    try:
        follower = ProgressFollower(os.path.join(directory, "progress"), show, interval).start()
        try:
            return execute(dict(module_args, progress_file=follower.path))
        finally:
            follower.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def follows_progress(task, connection, play_context, module_args):
    """Whether this action shows the move's progress: the module runs on this machine, in this task's time.

    Not under async (the task returns at once), check mode (no transfer),
    become (another user would write the file), nor when the task names its
    own ``progress_file``.
    """
    return (getattr(connection, "transport", None) == "local" and not task.async_val and not task.check_mode
            and not getattr(play_context, "become", False) and not module_args.get("progress_file"))


def show_progress(line):
    display.display(line, stderr=True)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        module_args = with_inventory_access(self._task.args, task_vars)

        def execute(args):
            return self._execute_module(module_name="ganeti.fleet.instance_move", module_args=args,
                                        task_vars=task_vars, wrap_async=wrap_async)

        if follows_progress(self._task, self._connection, self._play_context, module_args):
            outcome = run_followed(execute, module_args, show_progress)
        else:
            outcome = execute(module_args)
        result = merge_hash(result, outcome)
        if not wrap_async:
            # pylint: disable-next=protected-access
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
