# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the in-place merge engine: phases, state identity, backups, rollback, resume.

The engine drives a fake world (``World``) through the same methods as
``NodeOps``: three clusters' masters and nodes, their daemons, instances,
watcher pauses and files, any host of which can stop answering.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_in_place as engine
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_nodes as nodes
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.tests.unit.plugins.module_utils.test_config_merge import config

STATE_DIR = "/var/lib/ganeti-fleet/merge"
STATE = os.path.join(STATE_DIR, engine.STATE_FILE)
TARGET = "c1n1.lab"


def with_running(cfg, *names):
    for inst in cfg["instances"].values():
        if inst["name"] in names:
            inst["admin_state"] = "up"
    return cfg


class World:
    """Target c1 (master c1n1) and merged c2, c3 (two nodes each), as the engine sees them."""

    def __init__(self):
        self.configs = {"c1n1.lab": with_running(config(1, ["vm11.lab"]), "vm11.lab"),
                        "c2n1.lab": with_running(config(2, ["vm21.lab", "vm22.lab"]), "vm21.lab"),
                        "c3n1.lab": with_running(config(3, ["vm31.lab"]), "vm31.lab")}
        self.files = {engine.CONFIG_FILE: json.dumps(self.configs["c1n1.lab"])}
        self.nodes = ["c1n1.lab", "c1n2.lab", "c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"]
        self.daemons = {n: True for n in self.nodes}
        self.voting = True
        self.identity = {n: True for n in self.nodes}
        self.archives = set()
        self.unreachable = set()
        self.fail = {}
        self.offline = set()
        self.statuses = {"c1n1.lab": {"vm11.lab": "running"},
                         "c2n1.lab": {"vm21.lab": "running", "vm22.lab": "ADMIN_down"},
                         "c3n1.lab": {"vm31.lab": "running"}}
        self.pauses = {}
        self.master_ip = {"c2n1.lab": True, "c3n1.lab": True}
        self.tags = []
        self.calls = []
        self.readded = []
        self.keys = {n: {"ssh-rsa TARGET root@c1n1"} for n in self.nodes if not n.startswith("c1")}


class FakeFiles:
    def __init__(self, world):
        self.world = world

    def read(self, path):
        return self.world.files.get(path)

    def write(self, path, text):
        self.world.files[path] = text

    def replace_config(self, path, data):
        if self.world.daemons[TARGET]:
            raise AssertionError("config.data replaced while wconfd runs")
        self.world.files[path] = data.decode("utf-8") if isinstance(data, bytes) else data

    def listdir(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self.world.files if p.startswith(prefix)})

    def rename(self, source, destination):
        prefix = source + "/"
        for path in [p for p in self.world.files if p == source or p.startswith(prefix)]:
            self.world.files[destination + path[len(source):]] = self.world.files.pop(path)


class FakeOps:
    """The NodeOps interface over a World."""

    def __init__(self, world):
        self.world = world

    def _reach(self, host, what):
        self.world.calls.append((host, what))
        if host in self.world.unreachable:
            raise engine.NodeUnreachable("%s: ssh: connect to host %s port 22: No route to host" % (host, host))
        if (host, what) in self.world.fail:
            raise engine.MergeStepFailed(self.world.fail[(host, what)])

    def read_file(self, host, path):
        self._reach(host, "read")
        return json.dumps(self.world.configs[host])

    def check(self, host, argv, what, **kwargs):
        rc, out, err = self.run(host, argv, **kwargs)
        if rc != 0:
            raise engine.MergeStepFailed("%s on %s failed: %s" % (what, host, err))
        return out

    def run(self, host, argv, env=None, timeout=None, data=None):
        w = self.world
        key = " ".join(argv[:2]) if argv[0] != engine.DAEMON_UTIL else argv[1]
        self._reach(host, key)
        if argv == ["true"]:
            return 0, "", ""
        if argv[0] == engine.DAEMON_UTIL:
            if argv[1] == "stop-all":
                w.daemons[host] = False
            elif argv[1] == "stop-master":
                w.daemons[host] = False
            elif argv[1] == "start-master":
                w.daemons[host] = True
                w.voting = not (env and "--no-voting" in env.get("EXTRA_WCONFD_ARGS", ""))
            return 0, "", ""
        if argv[:2] == ["gnt-instance", "shutdown"]:
            for name in argv[4:]:
                w.statuses[host][name] = "ADMIN_down"
                for inst in w.configs[host]["instances"].values():
                    if inst["name"] == name:
                        inst["admin_state"] = "down"
                w.configs[host]["serial_no"] += 1
            return 0, "", ""
        if argv[:2] == ["gnt-instance", "startup"]:
            for name in argv[3:]:
                # After the merge the target's master starts every instance.
                holder = next(m for m, st in w.statuses.items() if name in st) if host == TARGET else host
                w.statuses[holder][name] = "running"
            return 0, "", ""
        if argv[:2] == ["gnt-cluster", "deactivate-master-ip"]:
            was = w.master_ip[host]
            w.master_ip[host] = False
            return (0, "", "") if was else (1, "", "already down")
        if argv[:2] == ["gnt-cluster", "activate-master-ip"]:
            w.master_ip[host] = True
            return 0, "", ""
        if argv[:3] == ["gnt-cluster", "watcher", "continue"]:
            w.pauses[host] = None
            return 0, "", ""
        if argv[:2] == ["gnt-cluster", "add-tags"]:
            w.tags += argv[2:]
            return 0, "", ""
        if argv[:2] == ["gnt-cluster", "redist-conf"]:
            return 0, "", ""
        if argv[:3] == ["gnt-node", "add", "--readd"]:
            w.offline.discard(argv[-1])
            w.readded.append(argv[-1])
            return 0, "", ""
        raise AssertionError("unexpected command on %s: %s" % (host, argv))

    def archive_and_clear_identity(self, node, archive):
        self._reach(node, "archive")
        assert archive == os.path.join(STATE_DIR, engine.NODE_ARCHIVE)
        if self.world.identity[node]:
            self.world.archives.add(node)
        self.world.identity[node] = False

    def restore_node(self, node, archive):
        self._reach(node, "restore")
        out = ""
        if not self.world.identity[node] and node in self.world.archives:
            self.world.identity[node] = True
            out += "restored\n"
        if not self.world.daemons[node]:
            self.world.daemons[node] = True
            out += "started ganeti-noded\n"
        return out

    def remove_authorized_key(self, node, key):
        self._reach(node, "unauthorise")
        had = key in self.world.keys.get(node, set())
        self.world.keys.get(node, set()).discard(key)
        return had

    def daemons_running(self, host, daemons):
        self._reach(host, "check")
        return {d: self.world.daemons[host] for d in daemons}

    def voting_disabled(self, host):
        self._reach(host, "pgrep")
        return self.world.daemons[host] and not self.world.voting

    def instance_statuses(self, master):
        self._reach(master, "gnt-instance list")
        if master == TARGET:
            merged = {}
            for statuses in self.world.statuses.values():
                merged.update(statuses)
            return merged
        return dict(self.world.statuses[master])

    def offline_nodes(self, master):
        self._reach(master, "gnt-node list")
        return sorted(self.world.offline)

    def wait_for_master(self, master):
        self._reach(master, "getmaster")
        if not self.world.daemons[master]:
            raise engine.MergeStepFailed("the master daemons of %s did not answer" % master)

    def pause_watcher(self, host, seconds, via_file, now):
        self._reach(host, "pause")
        self.world.pauses[host] = ("file" if via_file else "cluster", now + seconds)


SOURCES = [
    {"cluster_name": "c2.lab", "master": "c2n1.lab", "online_nodes": ["c2n1.lab", "c2n2.lab"],
     "group_map": {"default": "default-c2"}, "merged_tag": "ganeti-fleet:merged:c2.lab", "host": "c2n1.lab"},
    {"cluster_name": "c3.lab", "master": "c3n1.lab", "online_nodes": ["c3n1.lab", "c3n2.lab"],
     "group_map": {"default": "default-c3"}, "merged_tag": "ganeti-fleet:merged:c3.lab", "host": "c3n1.lab"},
]


def engine_for(world, sources=tuple(SOURCES), clock=lambda: 1000000.0):
    return engine.InPlaceMerge(FakeOps(world), STATE_DIR, TARGET, sources=engine.plan_sources(sources),
                               group_policy="rename", watcher_pause=3600, record={"snapshots": ["s"]},
                               files=FakeFiles(world), clock=clock)


def step(world, name, **kwargs):
    return engine_for(world, **kwargs).run_step(name)


def state(world):
    return json.loads(world.files[STATE])


def run_until(world, last):
    for name in ("prepare", "stop", "merge", "readd", "finish"):
        step(world, name)
        if name == last:
            return


# ----------------------------------------------------------------------
# Pure decisions

@pytest.mark.parametrize("name, phase, expected", [
    ("prepare", "new", "run"), ("prepare", "prepared", "rollback_first"), ("prepare", "merged", "rollback_first"),
    ("prepare", "readd", "skip"),
    ("stop", "prepared", "run"), ("stop", "stopped", "skip"), ("stop", "readd", "skip"),
    ("merge", "stopped", "run"), ("merge", "merged", "skip"), ("merge", "readd", "skip"),
    ("readd", "merged", "run"), ("readd", "readd", "run"),
    ("finish", "readd", "run"),
])
def test_step_decision(name, phase, expected):
    assert engine.step_decision(name, phase) == expected


@pytest.mark.parametrize("name, phase", [("stop", "new"), ("merge", "prepared"), ("readd", "stopped"),
                                         ("finish", "merged"), ("merge", "new")])
def test_step_out_of_order_is_refused(name, phase):
    with pytest.raises(engine.MergeStepFailed, match="needs"):
        engine.step_decision(name, phase)


def identity(name, uuid, serial=7):
    return {"cluster_name": name, "uuid": uuid, "serial_no": serial}


def recorded(phase, target_uuid="cl-01", source_uuid="cl-02"):
    return {"format": engine.STATE_FORMAT, "phase": phase, "target": identity("c1.lab", target_uuid),
            "sources": [dict(identity("c2.lab", source_uuid), master="c2n1.lab")]}


def test_assess_state_without_state_is_fresh():
    assert engine.assess_state(None, STATE, identity("c1.lab", "cl-01"), []) == "fresh"


def test_assess_state_resumes_past_the_point_of_no_return_and_rolls_back_before():
    now = [identity("c2.lab", "cl-02")]
    assert engine.assess_state(recorded("readd"), STATE, identity("c1.lab", "cl-01"), now) == "resume"
    assert engine.assess_state(recorded("merged"), STATE, identity("c1.lab", "cl-01"), now) == "rollback_first"
    # A merged cluster that does not answer cannot be checked; the rollback skips it then.
    assert engine.assess_state(recorded("stopped"), STATE, identity("c1.lab", "cl-01"), [None]) == "rollback_first"


def test_assess_state_refuses_the_state_of_a_target_built_again():
    with pytest.raises(engine.MergeStepFailed, match="cl-old.*UUID cl-01.*built\\s+again") as err:
        engine.assess_state(recorded("readd", target_uuid="cl-old"), STATE, identity("c1.lab", "cl-01"), [])
    assert STATE in str(err.value) and "mv %s %s.old" % (STATE_DIR, STATE_DIR) in str(err.value)


def test_assess_state_refuses_an_interrupted_run_of_a_merged_cluster_built_again():
    with pytest.raises(engine.MergeStepFailed, match="c2.lab with cluster UUID cl-02.*now has UUID cl-new"):
        engine.assess_state(recorded("stopped"), STATE, identity("c1.lab", "cl-01"), [identity("c2.lab", "cl-new")])


def test_assess_state_refuses_a_state_without_identity():
    old = {"phase": "prepared", "sources": []}
    with pytest.raises(engine.MergeStepFailed, match="records no cluster identity"):
        engine.assess_state(old, STATE, identity("c1.lab", "cl-01"), [])


def test_check_backup_refuses_another_serial():
    with pytest.raises(engine.MergeStepFailed, match="serial 7.*serial 9"):
        engine.check_backup({"serial_no": 9, "cluster": {"uuid": "cl-01"}}, identity("c1.lab", "cl-01"), "/x")
    engine.check_backup({"serial_no": 7, "cluster": {"uuid": "cl-01"}}, identity("c1.lab", "cl-01"), "/x")


def test_masters_last_and_instances_to_start():
    sources = engine.plan_sources(SOURCES)
    assert engine.masters_last(sources) == ["c2n2.lab", "c3n2.lab", "c2n1.lab", "c3n1.lab"]
    assert engine.not_running(["a", "b"], {"a": "running", "b": "ERROR_down"}) == ["b"]
    assert engine.still_running(["a", "b", "c"], {"a": "running", "b": "ERROR_up", "c": "ADMIN_down"}) == ["a", "b"]


def test_plan_sources_keeps_the_engine_keys_and_refuses_incomplete_ones():
    kept = engine.plan_sources([dict(SOURCES[0], instances=["x"], state="pending")])
    assert set(kept[0]) == set(engine.SOURCE_KEYS)
    with pytest.raises(FleetError, match="c2.lab lacks master, online_nodes"):
        engine.plan_sources([{"cluster_name": "c2.lab"}])


def test_ssh_argv_bounds_the_connection_and_pins_host_keys():
    argv = nodes.ssh_argv("c2n1.lab", ["sh", "-c", "echo 'a b'"], "/d/known_hosts")
    assert argv[:3] == ["ssh", "-o", "BatchMode=yes"]
    for option in ("ConnectTimeout=10", "ServerAliveInterval=5", "ServerAliveCountMax=3",
                   "StrictHostKeyChecking=yes", "UserKnownHostsFile=/d/known_hosts"):
        assert option in argv
    assert argv[-3:] == ["c2n1.lab", "--", "sh -c 'echo '\"'\"'a b'\"'\"''"]


def test_known_hosts_text_refuses_what_is_not_a_key():
    text = nodes.known_hosts_text({"c2n1.lab": ["ssh-ed25519 AAAAkey root@c2n1", "ecdsa-sha2-nistp256 AAAAe x"]})
    assert text == "c2n1.lab ssh-ed25519 AAAAkey\nc2n1.lab ecdsa-sha2-nistp256 AAAAe\n"
    for bad in ({"c2n1.lab": ["nonsense"]}, {"c2n1.lab,*": ["ssh-ed25519 AAAA"]}):
        with pytest.raises(FleetError, match="not a public key line"):
            nodes.known_hosts_text(bad)


def test_node_ops_reports_an_unreachable_node_and_a_silent_one():
    def refused(argv, **_kwargs):
        return subprocess.CompletedProcess(argv, 255, b"", b"ssh: connect to host c2n2.lab port 22: No route to host\n")

    ops = nodes.NodeOps("c1n1.lab", "/d/known_hosts", run=refused)
    with pytest.raises(engine.NodeUnreachable, match="c2n2.lab: ssh: connect to host c2n2.lab port 22: No route"):
        ops.run("c2n2.lab", ["true"])

    def silent(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    ops = nodes.NodeOps("c1n1.lab", "/d/known_hosts", command_timeout=42, run=silent)
    with pytest.raises(engine.NodeUnreachable, match="no answer within 42 s"):
        ops.run("c2n2.lab", ["true"])


def test_node_ops_runs_locally_on_the_target_master_with_its_environment():
    seen = []

    def record(argv, **kwargs):
        seen.append((argv, kwargs["env"]))
        return subprocess.CompletedProcess(argv, 0, b"ok", b"")

    ops = nodes.NodeOps("c1n1.lab", "/d/known_hosts", run=record)
    assert ops.run("c1n1.lab", ["daemon-util", "start-master"], env={"EXTRA_WCONFD_ARGS": "--no-voting"}) == \
        (0, "ok", "")
    assert seen[0][0] == ["daemon-util", "start-master"] and seen[0][1]["EXTRA_WCONFD_ARGS"] == "--no-voting"
    ops.run("c2n1.lab", ["daemon-util", "start-master"], env={"EXTRA_WCONFD_ARGS": "--no-voting"})
    assert seen[1][0][0] == "ssh" and seen[1][0][-1] == "env EXTRA_WCONFD_ARGS=--no-voting daemon-util start-master"
    assert seen[1][1] is None


# ----------------------------------------------------------------------
# The engine on the fake world

def test_a_whole_merge_records_every_phase_and_ends_with_everything_running():
    world = World()
    phases = []
    for name in ("prepare", "stop", "merge", "readd", "finish"):
        if name == "readd":
            world.offline = {"c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"}
        result = step(world, name)
        assert result["changed"]
        phases.append(result["phase"])
    assert phases == ["prepared", "stopped", "merged", "readd", "done"]
    assert STATE not in world.files
    done = json.loads(world.files[os.path.join(STATE_DIR, engine.DONE_FILE)])
    assert [h["phase"] for h in done["history"]] == phases
    assert done["target"] == {"cluster_name": "c1.lab", "uuid": "cl-01", "serial_no": 7, "master": TARGET}
    assert [(s["cluster_name"], s["uuid"], s["running"]) for s in done["sources"]] == [
        ("c2.lab", "cl-02", ["vm21.lab"]), ("c3.lab", "cl-03", ["vm31.lab"])]
    assert done["snapshots"] == ["s"]
    merged = json.loads(world.files[engine.CONFIG_FILE])
    assert {i["name"] for i in merged["instances"].values()} == {"vm11.lab", "vm21.lab", "vm22.lab", "vm31.lab"}
    assert world.readded == ["c2n2.lab", "c3n2.lab", "c2n1.lab", "c3n1.lab"]
    assert world.voting and world.daemons[TARGET]
    assert world.statuses["c2n1.lab"] == {"vm21.lab": "running", "vm22.lab": "ADMIN_down"}
    assert world.statuses["c3n1.lab"]["vm31.lab"] == "running"
    assert world.pauses[TARGET] is None
    assert world.tags == ["ganeti-fleet:merged:c2.lab", "ganeti-fleet:merged:c3.lab"]
    assert world.archives == {"c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"}


def test_prepare_backs_up_fresh_bytes_and_pauses_every_watcher():
    world = World()
    step(world, "prepare")
    assert world.files[os.path.join(STATE_DIR, engine.TARGET_BACKUP)] == world.files[engine.CONFIG_FILE]
    assert json.loads(world.files[engine.source_configs_path(STATE_DIR, "c2.lab")]) == world.configs["c2n1.lab"]
    assert state(world)["watcher_paused_until"] == 1000000 + 3600
    assert world.pauses == {TARGET: ("cluster", 1003600.0), "c2n1.lab": ("cluster", 1003600.0),
                            "c3n1.lab": ("cluster", 1003600.0)}
    assert all(world.daemons.values()) and world.statuses["c2n1.lab"]["vm21.lab"] == "running"


def test_later_steps_renew_the_pause_through_the_files_of_stopped_nodes():
    world = World()
    step(world, "prepare")
    step(world, "stop", clock=lambda: 1002000.0)
    assert world.pauses["c2n1.lab"] == ("cluster", 1005600.0)
    step(world, "merge", clock=lambda: 1003000.0)
    assert world.pauses[TARGET] == ("file", 1006600.0)
    assert world.pauses["c2n2.lab"] == ("file", 1006600.0) and world.pauses["c3n1.lab"] == ("file", 1006600.0)
    assert state(world)["watcher_paused_until"] == 1006600


def test_prepare_refuses_configurations_that_do_not_merge_before_anything_changes():
    world = World()
    world.configs["c3n1.lab"] = config(3, ["vm21.lab"])
    before = copy.deepcopy(world.files)
    with pytest.raises(FleetError, match="vm21.lab exists in both c2.lab and c3.lab"):
        step(world, "prepare")
    assert world.files == before and world.pauses == {}


def test_prepare_refuses_an_unreachable_merged_node_before_anything_changes():
    world = World()
    world.unreachable.add("c3n2.lab")
    before = copy.deepcopy(world.files)
    with pytest.raises(engine.NodeUnreachable, match="c3n2.lab"):
        step(world, "prepare")
    assert world.files == before and world.pauses == {}


def test_prepare_archives_what_a_finished_run_left_and_backs_up_afresh():
    world = World()
    stale_backup = json.dumps(config(1, ["gone.lab"]))
    world.files[os.path.join(STATE_DIR, engine.TARGET_BACKUP)] = stale_backup
    world.files[os.path.join(STATE_DIR, engine.DONE_FILE)] = "{}"
    result = step(world, "prepare")
    archive = os.path.join(STATE_DIR, engine.ARCHIVE_DIR, "19700112T134640Z")
    assert world.files[os.path.join(archive, engine.TARGET_BACKUP)] == stale_backup
    assert world.files[os.path.join(archive, engine.DONE_FILE)] == "{}"
    assert world.files[os.path.join(STATE_DIR, engine.TARGET_BACKUP)] == world.files[engine.CONFIG_FILE]
    assert any("archived" in a for a in result["actions"])


def test_prepare_refuses_the_state_of_a_target_built_again_and_changes_nothing():
    world = World()
    stale = recorded("stopped", target_uuid="cl-old")
    world.files[STATE] = json.dumps(stale)
    before = copy.deepcopy(world.files)
    with pytest.raises(engine.MergeStepFailed, match="built again"):
        step(world, "prepare")
    assert world.files == before and world.pauses == {} and all(world.daemons.values())
    # The role's rescue calls the rollback next: it must not restore anything either.
    result = step(world, "rollback")
    assert not result["rolled_back"] and "built again" in result["message"]
    assert world.files == before


def test_merge_refuses_a_backup_changed_since_it_was_recorded():
    world = World()
    step(world, "prepare")
    step(world, "stop")
    path = engine.source_configs_path(STATE_DIR, "c2.lab")
    changed = json.loads(world.files[path])
    changed["serial_no"] += 1
    world.files[path] = json.dumps(changed)
    with pytest.raises(engine.MergeStepFailed, match="source-c2.lab.config.data is not the configuration"):
        step(world, "merge")
    assert json.loads(world.files[engine.CONFIG_FILE]) == world.configs["c1n1.lab"]


@pytest.mark.parametrize("last", ["prepare", "stop", "merge"])
def test_rollback_from_each_phase_restores_both_sides(last):
    world = World()
    run_until(world, last)
    result = step(world, "rollback")
    assert result["rolled_back"] and result["not_reached"] == []
    assert json.loads(world.files[engine.CONFIG_FILE]) == world.configs["c1n1.lab"]
    assert all(world.daemons.values()) and world.voting
    assert all(world.identity.values())
    assert world.statuses["c2n1.lab"] == {"vm21.lab": "running", "vm22.lab": "ADMIN_down"}
    assert world.statuses["c3n1.lab"]["vm31.lab"] == "running"
    assert world.master_ip == {"c2n1.lab": True, "c3n1.lab": True}
    assert all(world.pauses[h] is None for h in (TARGET, "c2n1.lab", "c3n1.lab"))
    assert STATE not in world.files
    assert any(p.endswith("state.json.rolled-back") for p in world.files)
    # Rolled back: the next rollback has nothing to do, the next prepare starts afresh.
    assert not step(world, "rollback")["changed"]
    assert step(world, "prepare")["phase"] == "prepared"


def test_rollback_before_anything_stopped_leaves_running_daemons_alone():
    world = World()
    step(world, "prepare")
    world.calls.clear()
    step(world, "rollback")
    assert not any(what in ("stop-master", "start-master", "gnt-instance startup") for _h, what in world.calls)


def test_rollback_removes_the_target_masters_key_last_and_only_where_this_run_added_it():
    world = World()
    run_until(world, "stop")
    merge = engine.InPlaceMerge(FakeOps(world), STATE_DIR, TARGET, files=FakeFiles(world), clock=lambda: 1.0,
                                authorized_key="ssh-rsa TARGET root@c1n1", key_added_on=["c2n2.lab", "c3n2.lab"])
    world.unreachable.add("c3n2.lab")
    result = merge.run_step("rollback")
    assert world.keys["c2n2.lab"] == set() and world.keys["c2n1.lab"] == {"ssh-rsa TARGET root@c1n1"}
    assert world.calls[-1] == ("c2n2.lab", "unauthorise")
    assert "removed the target master's key from c2n2.lab, where this run had added it" in result["actions"]
    assert [u["host"] for u in result["not_reached"]] == ["c3n2.lab"]


def test_rollback_before_the_stop_keeps_what_the_target_changed_since_the_backup():
    world = World()
    step(world, "prepare")
    changed = json.loads(world.files[engine.CONFIG_FILE])
    changed["serial_no"] += 3
    world.files[engine.CONFIG_FILE] = json.dumps(changed)
    step(world, "rollback")
    assert json.loads(world.files[engine.CONFIG_FILE])["serial_no"] == changed["serial_no"]


def test_rollback_skips_and_names_a_node_that_does_not_answer_then_converges():
    world = World()
    run_until(world, "merge")
    world.unreachable.add("c3n2.lab")
    result = step(world, "rollback")
    assert not result["rolled_back"]
    assert [u["host"] for u in result["not_reached"]] == ["c3n2.lab"]
    assert "except on c3n2.lab" in result["message"] and "No route to host" in result["message"]
    # Everything it could reach is back.
    assert json.loads(world.files[engine.CONFIG_FILE]) == world.configs["c1n1.lab"]
    assert world.daemons["c2n1.lab"] and world.statuses["c2n1.lab"]["vm21.lab"] == "running"
    assert world.statuses["c3n1.lab"]["vm31.lab"] == "running"
    assert state(world)["phase"] == "merged"
    # The node comes back: the next run rolls back what is left first, then asks for a new run.
    world.unreachable.clear()
    with pytest.raises(engine.MergeStepFailed, match="rolled back first.*Run the playbook again"):
        step(world, "prepare")
    assert world.identity["c3n2.lab"] and world.daemons["c3n2.lab"]
    assert STATE not in world.files


def test_rollback_past_the_point_of_no_return_does_nothing():
    world = World()
    world.offline = {"c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"}
    run_until(world, "readd")
    before = copy.deepcopy(world.files)
    result = step(world, "rollback")
    assert not result["changed"] and not result["rolled_back"]
    assert "past its point of no return" in result["message"]
    assert world.files == before


def test_an_interrupted_readd_readds_only_the_nodes_still_offline():
    world = World()
    world.offline = {"c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"}
    run_until(world, "merge")
    world.fail[(TARGET, "gnt-node add")] = "c3n2.lab: ssh: connect to host c3n2.lab port 22: No route to host"
    original_run = FakeOps.run

    def readd_fails_for_c3n2(ops, host, argv, **kwargs):
        if argv[:3] == ["gnt-node", "add", "--readd"] and argv[-1] == "c3n2.lab":
            return 1, "", "ssh: connect to host c3n2.lab port 22: No route to host"
        world.fail.clear()
        return original_run(ops, host, argv, **kwargs)

    FakeOps.run = readd_fails_for_c3n2
    try:
        with pytest.raises(engine.MergeStepFailed, match="readding c3n2.lab on c1n1.lab failed.*No route"):
            step(world, "readd")
    finally:
        FakeOps.run = original_run
    assert state(world)["phase"] == "readd" and world.offline == {"c3n2.lab", "c2n1.lab", "c3n1.lab"}
    # Resumed: prepare, stop and merge are skipped, readd does the rest.
    for name in ("prepare", "stop", "merge"):
        assert not step(world, name)["changed"]
    world.readded.clear()
    step(world, "readd")
    assert world.readded == ["c3n2.lab", "c2n1.lab", "c3n1.lab"]
    step(world, "finish")
    assert world.voting and STATE not in world.files


def test_prepare_after_an_interrupted_run_rolls_it_back_and_asks_for_a_new_run():
    world = World()
    run_until(world, "stop")
    with pytest.raises(engine.MergeStepFailed, match="interrupted at phase stopped.*rolled back first"):
        step(world, "prepare")
    assert all(world.daemons.values()) and world.statuses["c2n1.lab"]["vm21.lab"] == "running"
    assert STATE not in world.files
    assert step(world, "prepare")["phase"] == "prepared"
