# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the in-place merge's state directory: private modes and which backups a finished merge removes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils import basic

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_backups as mb
from ansible_collections.ganeti.fleet.plugins.module_utils import module_base
from ansible_collections.ganeti.fleet.plugins.modules import cluster_merge_backups
from ansible_collections.ganeti.fleet.tests.unit.plugins.module_args import patch_module_args


MERGED = ("c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab")
ONLINE = ("c1n1.lab", "c1n2.lab") + MERGED
MASTER_FILES = {"state.json.done": True, "target-config.data.backup": True,
                "source-c2.lab.config.data": True, "source-c3.lab.config.data": True}
MERGED_MASTER_FILES = {"config.data.backup": True, "var-lib-ganeti.tar.gz": True}


def plan(files, node_cluster="c1.lab", merged=MERGED, online=ONLINE, node="c2n1.lab"):
    return mb.plan_cleanup(files, node, node_cluster, "c1.lab", merged, online)


# The retention rule.

def test_finished_merge_removes_the_target_masters_backups_and_keeps_the_record():
    decision = plan(MASTER_FILES, node="c1n1.lab")
    assert decision["remove"] == ["source-c2.lab.config.data", "source-c3.lab.config.data",
                                  "target-config.data.backup"]
    assert decision["keep"] == {"state.json.done": mb.KEEP_RECORD}


def test_finished_merge_removes_a_merged_nodes_archives_and_configuration_backup():
    files = dict(MERGED_MASTER_FILES, **{"var-lib-ganeti.tar.gz.rolled-back": True,
                                         "var-lib-ganeti.tar.gz.partial": True})
    assert plan(files)["remove"] == ["config.data.backup", "var-lib-ganeti.tar.gz",
                                     "var-lib-ganeti.tar.gz.partial", "var-lib-ganeti.tar.gz.rolled-back"]


def test_files_the_merge_does_not_write_are_kept():
    files = {"var-lib-ganeti.tar.gz": True, "notes.txt": True, "source-.config.data": True,
             ".ansible_tmpXYZconfig.data.backup": True, "config.data.backup": False}
    decision = plan(files)
    assert decision["remove"] == ["var-lib-ganeti.tar.gz"]
    assert decision["keep"] == {"notes.txt": mb.KEEP_UNKNOWN, "source-.config.data": mb.KEEP_UNKNOWN,
                                ".ansible_tmpXYZconfig.data.backup": mb.KEEP_UNKNOWN,
                                "config.data.backup": mb.KEEP_NOT_FILE}


def test_nothing_is_removed_while_a_merge_is_under_way():
    files = dict(MASTER_FILES, **{"state.json": True})
    with pytest.raises(mb.CleanupRefused, match="nothing was removed: state.json is there") as err:
        plan(files, node="c1n1.lab")
    assert err.value.details["reason"] == "merge_under_way"


def test_nothing_is_removed_on_a_node_the_merge_did_not_readd():
    # Its archive is what brings its old cluster back.
    with pytest.raises(mb.CleanupRefused, match="it is a node of c3.lab, not of the target c1.lab") as err:
        plan(MERGED_MASTER_FILES, node_cluster="c3.lab", node="c3n2.lab")
    assert err.value.details["reason"] == "not_a_target_node"
    with pytest.raises(mb.CleanupRefused, match="a node of no cluster"):
        plan(MERGED_MASTER_FILES, node_cluster=None)


def test_nothing_is_removed_while_a_merged_node_is_not_online_in_the_target():
    online = [n for n in ONLINE if n != "c3n2.lab"]
    with pytest.raises(mb.CleanupRefused, match=r"merged node\(s\) c3n2.lab are not online nodes of c1.lab") as err:
        plan(MASTER_FILES, online=online, node="c1n1.lab")
    assert err.value.details["missing"] == ["c3n2.lab"]


@pytest.mark.parametrize("merged", [None, []])
def test_nothing_is_removed_without_the_record_of_a_finished_merge(merged):
    decision = plan(MERGED_MASTER_FILES, merged=merged)
    assert decision["remove"] == []
    assert set(decision["keep"]) == set(MERGED_MASTER_FILES)
    assert all("no finished merge into c1.lab is recorded" in why for why in decision["keep"].values())


def test_with_nothing_left_to_remove_nothing_is_checked():
    # A second cleanup stays quiet, even once the cluster changed.
    assert plan({"state.json.done": True}, node_cluster="c9.lab", online=[], node="c1n1.lab") == \
        {"remove": [], "keep": {"state.json.done": mb.KEEP_RECORD}}
    assert plan({}, node_cluster=None) == {"remove": [], "keep": {}}


def test_what_the_merge_writes_is_named():
    assert mb.describe("source-c2.lab.config.data") == "the configuration of merged cluster c2.lab (target master)"
    assert not mb.is_removable("state.json") and not mb.is_removable("state.json.done")
    assert mb.describe("state.json") and mb.describe("whatever") is None


# Modes.

@pytest.mark.parametrize("mode, expected", [(0o644, 0o600), (0o755, 0o700), (0o640, 0o600), (0o604, 0o600),
                                            (0o600, None), (0o400, None), (0o700, None), (0o777, 0o700)])
def test_group_and_other_permissions_are_removed(mode, expected):
    planned = mb.plan_tightening([("/x", mode)])
    assert planned == ([] if expected is None else [("/x", mode, expected)])


def test_the_record_lists_every_online_node_of_every_merged_cluster(tmp_path):
    record = {"phase": "readd", "sources": [{"cluster_name": "c2.lab", "online_nodes": ["c2n2.lab", "c2n1.lab"]},
                                            {"cluster_name": "c3.lab", "online_nodes": ["c3n1.lab", "c3n2.lab"]}]}
    assert mb.merged_nodes_of(record) == list(MERGED)
    with pytest.raises(ValueError):
        mb.merged_nodes_of({"phase": "done"})
    assert mb.recorded_nodes(str(tmp_path)) is None
    (tmp_path / "state.json.done").write_text("{not json", encoding="utf-8")
    with pytest.raises(mb.CleanupRefused, match="cannot read the record of the merge"):
        mb.recorded_nodes(str(tmp_path))


def test_the_directory_and_missing_parents_are_created_0700_whatever_the_umask(tmp_path):
    state_dir = str(tmp_path / "fleet" / "merge")
    old = os.umask(0o022)
    try:
        assert mb.ensure_private_directory(state_dir) == [str(tmp_path / "fleet"), state_dir]
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(tmp_path / "fleet")).st_mode) == 0o700
    assert mb.ensure_private_directory(state_dir) == []


def test_scan_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "merge").write_text("", encoding="utf-8")
    with pytest.raises(mb.FleetError, match="is not a directory"):
        mb.scan(str(tmp_path / "merge"))
    assert mb.scan(str(tmp_path / "missing")) == ({}, [])


def test_scan_refuses_a_directory_of_another_user(tmp_path, monkeypatch):
    (tmp_path / "merge").mkdir(mode=0o700)
    monkeypatch.setattr(mb.os, "geteuid", lambda: os.stat(str(tmp_path / "merge")).st_uid + 1)
    with pytest.raises(mb.FleetError, match="belongs to uid"):
        mb.scan(str(tmp_path / "merge"))


def test_scan_lists_modes_and_leaves_symbolic_links_out(tmp_path):
    state_dir = tmp_path / "merge"
    state_dir.mkdir(mode=0o700)
    (state_dir / "sub").mkdir(mode=0o755)
    (state_dir / "sub" / "f").write_text("x", encoding="utf-8")
    os.chmod(str(state_dir / "sub" / "f"), 0o644)
    (state_dir / "link").symlink_to("/etc/hostname")
    files, entries = mb.scan(str(state_dir))
    assert files == {"link": False, "sub": False}
    assert sorted(entries) == [(str(state_dir), 0o700), (str(state_dir / "sub"), 0o755),
                               (str(state_dir / "sub" / "f"), 0o644)]


# The module, end to end on a directory.

class _Exit(Exception):
    pass


def run_module(monkeypatch, args, identity=None):
    """Run cluster_merge_backups on this host with IDENTITY as its ssconf; return (failed, result)."""
    def leave(failed):
        def exit_json(self, **kwargs):
            raise _Exit(failed, kwargs)
        return exit_json

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", leave(False))
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", leave(True))
    monkeypatch.setattr(module_base, "node_identity", lambda: dict(identity or {
        "cluster_name": "c1.lab", "node_name": "c1n1.lab", "online_nodes": ONLINE, "nodes": ONLINE,
        "master_node": "c1n1.lab", "is_master": True}))
    with patch_module_args(args):
        with pytest.raises(_Exit) as done:
            cluster_merge_backups.main()
    return done.value.args


def modes(directory):
    found = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            found[os.path.relpath(path, directory)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


@pytest.fixture
def master_dir(tmp_path):
    """A target master's state directory after a finished merge, written under umask 022."""
    state_dir = tmp_path / "merge"
    old = os.umask(0o022)
    try:
        state_dir.mkdir()
        record = {"phase": "readd", "sources": [{"cluster_name": "c2.lab", "online_nodes": MERGED[:2]},
                                                {"cluster_name": "c3.lab", "online_nodes": MERGED[2:]}]}
        (state_dir / "state.json.done").write_text(json.dumps(record), encoding="utf-8")
        for name in ("target-config.data.backup", "source-c2.lab.config.data", "source-c3.lab.config.data",
                     "notes.txt"):
            (state_dir / name).write_text("secret", encoding="utf-8")
    finally:
        os.umask(old)
    return state_dir


def test_module_present_tightens_what_an_earlier_run_left_and_check_mode_changes_nothing(master_dir, monkeypatch):
    before = modes(str(master_dir))
    assert before["target-config.data.backup"] == 0o644
    failed, result = run_module(monkeypatch, {"state_dir": str(master_dir), "_ansible_check_mode": True,
                                              "_ansible_diff": True})
    assert not failed and result["changed"] and modes(str(master_dir)) == before
    assert "0644 merge/notes.txt" in result["diff"]["before"] and "0600 merge/notes.txt" in result["diff"]["after"]
    failed, result = run_module(monkeypatch, {"state_dir": str(master_dir)})
    assert not failed and result["changed"] and result["removed"] == []
    assert set(modes(str(master_dir)).values()) == {0o600} and stat.S_IMODE(master_dir.stat().st_mode) == 0o700
    assert run_module(monkeypatch, {"state_dir": str(master_dir)})[1]["changed"] is False


def test_module_cleaned_on_the_target_master_then_quiet(master_dir, monkeypatch):
    args = {"state_dir": str(master_dir), "state": "cleaned", "target_cluster": "c1.lab"}
    failed, result = run_module(monkeypatch, dict(args, _ansible_check_mode=True))
    assert not failed and result["changed"] and len(result["removed"]) == 3
    assert len(os.listdir(str(master_dir))) == 5
    failed, result = run_module(monkeypatch, args)
    assert not failed and result["changed"]
    assert result["merged_nodes"] == list(MERGED)
    assert result["removed"] == [str(master_dir / n) for n in ("source-c2.lab.config.data", "source-c3.lab.config.data",
                                                               "target-config.data.backup")]
    assert modes(str(master_dir)) == {"state.json.done": 0o600, "notes.txt": 0o600}
    assert set(result["kept"]) == {"state.json.done", "notes.txt"}
    failed, again = run_module(monkeypatch, args)
    assert not failed and again["changed"] is False and again["removed"] == [] and again["tightened"] == []


def test_module_cleaned_refuses_on_a_node_still_in_its_old_cluster(tmp_path, monkeypatch):
    state_dir = tmp_path / "merge"
    state_dir.mkdir(mode=0o700)
    (state_dir / "var-lib-ganeti.tar.gz").write_bytes(b"archive")
    failed, result = run_module(
        monkeypatch, {"state_dir": str(state_dir), "state": "cleaned", "target_cluster": "c1.lab",
                      "merged_nodes": MERGED},
        identity={"cluster_name": "c3.lab", "node_name": "c3n2.lab", "online_nodes": ["c3n1.lab", "c3n2.lab"]})
    assert failed and result["changed"] is False and result["reason"] == "not_a_target_node"
    assert "refusing to remove the merge's backups on c3n2.lab" in result["msg"]
    assert (state_dir / "var-lib-ganeti.tar.gz").read_bytes() == b"archive"


def test_module_cleaned_needs_the_target_cluster(tmp_path, monkeypatch):
    failed, result = run_module(monkeypatch, {"state_dir": str(tmp_path), "state": "cleaned"})
    assert failed and "target_cluster is required" in result["msg"]
