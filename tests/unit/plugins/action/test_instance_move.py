# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance_move action: the nodes' SSH access from the inventory, the move's progress shown."""

from __future__ import annotations

import os
import stat
import time
import types

import pytest
from ansible.plugins.action import ActionBase

from ansible_collections.ganeti.fleet.plugins.action import instance_move
from ansible_collections.ganeti.fleet.plugins.action.instance_move import (
    ActionModule,
    ProgressFollower,
    follows_progress,
    node_entry,
    run_followed,
    with_inventory_access,
)

HOSTVARS = {
    "c1n1.lab": {"ansible_host": "198.18.0.11", "ansible_user": "root", "ansible_ssh_private_key_file": "/k",
                 "ansible_ssh_common_args": "-o StrictHostKeyChecking=no", "ansible_ssh_extra_args": "-o X=1",
                 "ansible_python_interpreter": "/usr/bin/python3", "ganeti_rapi_password": "secret"},
    "c1n2.lab": {"ansible_port": "2222", "ansible_python_interpreter": "auto_silent"},
    "other": {"ansible_host": "203.0.113.9"},
}


def test_node_entry_takes_how_ansible_reaches_the_host_and_nothing_else():
    assert node_entry("c1n1.lab", HOSTVARS["c1n1.lab"]) == {
        "host": "198.18.0.11", "user": "root", "private_key_file": "/k",
        "ssh_args": "-o StrictHostKeyChecking=no -o X=1", "python": "/usr/bin/python3"}
    assert node_entry("c1n2.lab", HOSTVARS["c1n2.lab"]) == {"host": "c1n2.lab", "port": 2222}


def test_the_inventory_fills_only_the_nodes_the_task_did_not_name():
    task_vars = {"groups": {"ganeti_nodes": ["c1n1.lab", "c1n2.lab"], "all": list(HOSTVARS)},
                 "hostvars": HOSTVARS}
    args = with_inventory_access({"name": "web1", "node_access": {"hosts": {"c1n2.lab": "192.0.2.5"}}}, task_vars)
    assert args["name"] == "web1"
    assert args["node_access"]["hosts"]["c1n2.lab"] == "192.0.2.5"
    assert args["node_access"]["hosts"]["c1n1.lab"]["host"] == "198.18.0.11"
    assert "other" not in args["node_access"]["hosts"], "only the group's hosts"


def test_another_inventory_group_can_be_named():
    task_vars = {"groups": {"ganeti_nodes": ["c1n1.lab"], "mine": ["other"]}, "hostvars": HOSTVARS}
    args = with_inventory_access({"node_access": {"inventory_group": "mine"}}, task_vars)
    assert list(args["node_access"]["hosts"]) == ["other"]
    assert with_inventory_access({}, {})["node_access"] == {"hosts": {}}


# Progress: the module's lines shown on the controller while it runs

class Lines:
    """A SHOW callable that records the lines shown, with a way to wait for them."""

    def __init__(self):
        self.shown = []

    def __call__(self, line):
        self.shown.append(line)

    def wait_for(self, count, seconds=5.0):
        deadline = time.monotonic() + seconds
        while len(self.shown) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.shown)


def test_the_follower_shows_each_complete_line_as_it_comes(tmp_path):
    path = tmp_path / "progress"
    lines = Lines()
    follower = ProgressFollower(str(path), lines, interval=0.01).start()
    try:
        time.sleep(0.05)  # the file does not exist yet
        with open(path, "ab", buffering=0) as handle:
            handle.write(b"move vm1: plan the move (0.0 s)\n")
            assert lines.wait_for(1) == ["move vm1: plan the move (0.0 s)"]
            handle.write(b"move vm1: stop the so")
            time.sleep(0.05)
            assert lines.shown == ["move vm1: plan the move (0.0 s)"], "half a line waits for its end"
            handle.write(b"urce (3.2 s)\n\n\x1b[31mmove vm1: send the disks (4.0 s)\n")
            assert lines.wait_for(3)[1:] == ["move vm1: stop the source (3.2 s)",
                                             "[31mmove vm1: send the disks (4.0 s)"]
            handle.write(b"move vm1: verify the copy (9.9 s)\n")
    finally:
        follower.stop()
    assert lines.shown[-1] == "move vm1: verify the copy (9.9 s)", "stop shows what was written until then"
    assert len(lines.shown) == 4
    assert not follower.thread.is_alive()


def test_a_follower_whose_display_fails_stops_following_and_the_move_goes_on(tmp_path):
    path = tmp_path / "progress"
    path.write_bytes(b"move vm1: plan the move (0.0 s)\n")

    def broken(line):
        raise RuntimeError("no display")

    follower = ProgressFollower(str(path), broken, interval=0.01).start()
    follower.thread.join(5)
    assert not follower.thread.is_alive() and follower.failed
    follower.stop()


def test_run_followed_shows_the_lines_while_the_module_runs_and_removes_its_directory():
    lines = Lines()
    seen = {}

    def execute(args):
        path = args["progress_file"]
        seen.update(args=args, mode=stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode))
        with open(path, "a", encoding="utf-8") as handle:
            for step in ("plan the move", "create the destination instance", "stop the source"):
                handle.write("move vm1: %s (1.0 s)\n" % step)
                handle.flush()
                # Shown while the module still runs, before the next step starts.
                seen.setdefault("while running", []).append(lines.wait_for(len(seen.get("while running", [])) + 1))
        return {"changed": True}

    assert run_followed(execute, {"name": "vm1"}, lines, interval=0.01) == {"changed": True}
    assert seen["args"]["name"] == "vm1"
    assert seen["mode"] == 0o700
    assert seen["while running"][-1] == ["move vm1: plan the move (1.0 s)",
                                         "move vm1: create the destination instance (1.0 s)",
                                         "move vm1: stop the source (1.0 s)"]
    assert not os.path.exists(os.path.dirname(seen["args"]["progress_file"]))


def test_run_followed_removes_its_directory_when_the_module_fails():
    paths = []

    def execute(args):
        paths.append(args["progress_file"])
        with open(args["progress_file"], "w", encoding="utf-8") as handle:
            handle.write("move vm1: plan the move (0.0 s)\n")
        raise OSError("the module could not run")

    lines = Lines()
    with pytest.raises(OSError):
        run_followed(execute, {}, lines, interval=0.01)
    assert lines.shown == ["move vm1: plan the move (0.0 s)"]
    assert not os.path.exists(os.path.dirname(paths[0]))


def _task(async_val=0, check_mode=False):
    return types.SimpleNamespace(async_val=async_val, check_mode=check_mode)


@pytest.mark.parametrize("task, transport, become, args, follows", [
    (_task(), "local", False, {}, True),
    (_task(), "ssh", False, {}, False),              # the module runs on another host
    (_task(async_val=600), "local", False, {}, False),
    (_task(check_mode=True), "local", False, {}, False),
    (_task(), "local", True, {}, False),             # another user would write the file
    (_task(), "local", False, {"progress_file": "/tmp/mine"}, False),
])
def test_progress_is_followed_only_for_a_module_that_runs_here_in_the_tasks_time(task, transport, become, args, follows):
    connection = types.SimpleNamespace(transport=transport)
    play_context = types.SimpleNamespace(become=become)
    assert follows_progress(task, connection, play_context, args) is follows


class Shell:
    tmpdir = None


class Connection:
    transport = "local"
    has_native_async = False
    _shell = Shell()


def _action(monkeypatch, check_mode=False):
    task = types.SimpleNamespace(async_val=0, check_mode=check_mode, args={"name": "vm1"}, action="instance_move",
                                 _uuid="u1", environment=None, delegate_to=None, become=False)
    action = ActionModule.__new__(ActionModule)
    action._task = task
    action._connection = Connection()
    action._play_context = types.SimpleNamespace(become=False)
    shown = []
    monkeypatch.setattr(instance_move, "display", types.SimpleNamespace(
        display=lambda line, stderr=False: shown.append((line, stderr))))
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    monkeypatch.setattr(ActionModule, "_remove_tmp_path", lambda self, path: None, raising=False)
    return action, shown


def test_the_action_shows_the_modules_lines_on_standard_error(monkeypatch):
    action, shown = _action(monkeypatch)
    calls = []

    def execute_module(module_name, module_args, task_vars, wrap_async):
        calls.append(dict(module_args))
        with open(module_args["progress_file"], "a", encoding="utf-8") as handle:
            handle.write("move vm1: plan the move (0.0 s)\nmove vm1: commit (8.1 s)\n")
        return {"changed": True, "actions": ["commit"]}

    action._execute_module = execute_module
    result = action.run(task_vars={"groups": {}, "hostvars": {}})
    assert result["changed"] is True and result["actions"] == ["commit"]
    assert shown == [("move vm1: plan the move (0.0 s)", True), ("move vm1: commit (8.1 s)", True)]
    assert calls[0]["name"] == "vm1" and calls[0]["node_access"] == {"hosts": {}}


def test_in_check_mode_the_action_passes_no_progress_file_and_shows_nothing(monkeypatch):
    action, shown = _action(monkeypatch, check_mode=True)
    calls = []
    action._execute_module = lambda **kwargs: calls.append(kwargs["module_args"]) or {"changed": False}
    assert action.run(task_vars={}) == {"changed": False}
    assert "progress_file" not in calls[0] and shown == []
