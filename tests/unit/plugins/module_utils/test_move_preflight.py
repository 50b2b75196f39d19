# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The storage pre-flight of a move, and the checks of a move within one cluster."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _move_checks as checks
from ansible_collections.ganeti.fleet.plugins.module_utils import _move_plan as mv

DST = "dst.example.org"
MOVE = {"source_cluster": "src.example.org", "source_name": "web1", "destination_cluster": DST,
        "destination_name": "web1", "id": "0123456789abcdef"}

NODES = [
    {"name": "n1", "vm_capable": True, "offline": False, "drained": False},
    {"name": "n2", "vm_capable": True, "offline": False, "drained": False},
    {"name": "n3", "vm_capable": True, "offline": True, "drained": False},
    {"name": "n4", "vm_capable": True, "offline": False, "drained": True},
    {"name": "n5", "vm_capable": False, "offline": False, "drained": False},
]


def body(template="file", sizes=(1024,), pnode=None, snode=None, **extra):
    created = {"disk_template": template, "disks": [{"size": s, "mode": "rw"} for s in sizes]}
    if pnode:
        created["pnode"] = pnode
    if snode:
        created["snode"] = snode
    created.update(extra)
    return created


def check(created, free, storage_type=None, remnant=None, nodes=None, groups=None):
    """The storage finding for CREATED with FREE ({node: MiB}) as Ganeti reports it (NODES: the default nodes)."""
    wanted_type, chosen, why = checks.storage_to_read(created, NODES if nodes is None else nodes, groups)
    storage = {} if free is None else {storage_type or wanted_type: dict(free)}
    return checks.storage_check(created, MOVE, storage, chosen, why, remnant)


# ----------------------------------------------------------------------
# which nodes are read


def test_pinned_reads_only_the_given_nodes():
    assert checks.storage_to_read(body(pnode="n2"), NODES) == ("file", ["n2"], "the given primary node")
    # DRBD: both nodes; a short name is Ganeti's too.
    nodes = [dict(n, name=n["name"] + ".example.org") for n in NODES]
    assert checks.storage_to_read(body("drbd", pnode="n1", snode="n2"), nodes) == (
        "lvm-vg", ["n1.example.org", "n2.example.org"], "the given primary and secondary nodes")


def test_placement_reads_the_nodes_that_can_take_instances():
    storage_type, chosen, why = checks.storage_to_read(body("plain"), NODES)
    assert (storage_type, chosen) == ("lvm-vg", ["n1", "n2"])
    assert "no primary_node given" in why and "default iallocator" in why
    groups = [{"name": "rack1", "node_list": ["n2", "n3"]}, {"name": "rack2", "node_list": ["n1"]}]
    storage_type, chosen, why = checks.storage_to_read(body(group_name="rack1", iallocator="hail"), NODES, groups)
    assert chosen == ["n2"] and "group rack1" in why and "iallocator hail" in why


@pytest.mark.parametrize("template", ["diskless", "blockdev", "rbd", "ext", "gluster"])
def test_templates_without_counted_space_read_nothing(template):
    assert checks.storage_to_read(body(template, pnode="n1"), NODES) == (None, [], "")


# ----------------------------------------------------------------------
# the finding


def test_pinned_node_with_room_passes():
    finding = check(body(pnode="n1"), {"n1": 5000})
    assert finding.check == "storage" and finding.ok
    assert "n1 has 5000 MiB free file storage" in finding.message and "needs 1024 MiB" in finding.message


def test_pinned_node_without_room_fails_naming_node_free_and_need():
    finding = check(body(sizes=(512, 512), pnode="n2"), {"n2": 1000})
    assert not finding.ok
    assert "n2 has 1000 MiB free file storage" in finding.message and "24 MiB short" in finding.message
    assert "needs 1024 MiB (disk template file, disks 512+512 MiB)" in finding.message
    assert "another primary_node" in finding.message


def test_placement_passes_when_one_node_has_room_and_fails_when_none_has():
    finding = check(body(), {"n1": 100, "n2": 2000})
    assert finding.ok and "n2 has 2000 MiB" in finding.message and "n1 has" not in finding.message
    # Disks of one instance are all on its primary node: free space of two nodes does not add up.
    finding = check(body(), {"n1": 800, "n2": 800})
    assert not finding.ok
    assert "n1 has 800 MiB" in finding.message and "n2 has 800 MiB" in finding.message
    assert "no primary_node given" in finding.message


def test_drbd_counts_on_two_nodes_with_metadata():
    need = 1024 + 128
    finding = check(body("drbd", pnode="n1", snode="n2"), {"n1": 5000, "n2": need - 1})
    assert not finding.ok
    assert "n2 has %d MiB" % (need - 1) in finding.message and "n1 has" not in finding.message
    assert "needs %d MiB" % need in finding.message and "on each of two nodes" in finding.message
    assert check(body("drbd", pnode="n1", snode="n2"), {"n1": need, "n2": need}).ok
    # Placed by an iallocator, DRBD needs two nodes with room.
    finding = check(body("drbd"), {"n1": 5000, "n2": 100})
    assert not finding.ok and "%d MiB short" % (need - 100) in finding.message
    assert check(body("drbd"), {"n1": 5000, "n2": need}).ok


def test_shared_file_storage_is_one_directory():
    # Every node reports the same directory: its free space is not summed over the nodes.
    finding = check(body("sharedfile", sizes=(1024, 1024)), {"n1": 1500, "n2": 1500})
    assert not finding.ok and "the shared directory" in finding.message and "needs 2048 MiB" in finding.message
    assert check(body("sharedfile", sizes=(1024, 1024), pnode="n2"), {"n2": 2048}).ok


@pytest.mark.parametrize("template", ["diskless", "blockdev", "rbd", "ext"])
def test_templates_it_cannot_count_pass_saying_so(template):
    finding = check(body(template, pnode="n1"), None)
    assert finding.ok
    assert "needs no disk space" in finding.message if template == "diskless" else "not counted" in finding.message


def test_free_space_ganeti_did_not_report_passes_saying_so():
    finding = check(body(pnode="n1"), None)
    assert finding.ok and "could not be read: not checked" in finding.message


def test_an_unknown_pinned_node_is_left_to_the_nodes_check():
    finding = check(body(pnode="n9"), {})
    assert finding.ok and "n9 is not a node" in finding.message


def test_no_node_that_can_take_instances_fails():
    finding = check(body(), {}, storage_type="file", nodes=[n for n in NODES if n["name"] not in ("n1", "n2")])
    assert not finding.ok and "there is none" in finding.message


# ----------------------------------------------------------------------
# a remnant of an earlier run is removed before the copy is created


def remnant(template, sizes, pnode="n1", snodes=()):
    return {"name": "web1", "disk_template": template, "disk.sizes": list(sizes), "pnode": pnode,
            "snodes": list(snodes)}


def test_a_remnant_on_lvm_frees_its_own_space():
    # Ganeti reports the remnant's LVs as used: without it the copy fits.
    created = body("plain", pnode="n1")
    assert not check(created, {"n1": 500}).ok
    finding = check(created, {"n1": 500}, remnant=remnant("plain", [1024]))
    assert finding.ok
    assert "plus 1024 MiB freed by the removal of the unverified copy web1" in finding.message
    # DRBD: on both of its nodes, with its metadata.
    finding = check(body("drbd", pnode="n1", snode="n2"), {"n1": 100, "n2": 100},
                    remnant=remnant("drbd", [1024], "n1", ["n2"]))
    assert finding.ok


def test_a_remnant_frees_nothing_elsewhere():
    # On another node, or of another storage type, the remnant's space is no help.
    assert not check(body("plain", pnode="n2"), {"n2": 500}, remnant=remnant("plain", [1024], "n1")).ok
    assert not check(body("plain", pnode="n1"), {"n1": 500}, remnant=remnant("file", [1024], "n1")).ok
    # A remnant smaller than the new copy frees only its own size.
    assert not check(body("plain", pnode="n1"), {"n1": 500}, remnant=remnant("plain", [256], "n1")).ok


def test_a_sparse_file_remnant_is_not_counted_as_freeing_its_size():
    # Ganeti creates file disks sparse: free space already counts what the
    # remnant never wrote; its removal frees between nothing and its size.
    created = body("file", pnode="n1")
    finding = check(created, {"n1": 2000}, remnant=remnant("file", [1024]))
    assert finding.ok
    finding = check(created, {"n1": 500}, remnant=remnant("file", [1024]))
    assert not finding.ok
    assert "cannot be told" in finding.message and "gnt-instance remove web1" in finding.message
    # Even all of its size would not be enough: a plain refusal.
    finding = check(created, {"n1": 500}, remnant=remnant("file", [256]))
    assert not finding.ok and "cannot be told" not in finding.message
    # Shared file storage: the remnant is in the one directory, wherever its node.
    finding = check(body("sharedfile", pnode="n2"), {"n2": 500}, remnant=remnant("sharedfile", [1024], "n1"))
    assert not finding.ok and "cannot be told" in finding.message


# ----------------------------------------------------------------------
# moves within one cluster


SAME = dict(MOVE, source_cluster=DST, destination_cluster=DST)
INFO = {"name": DST, "uuid": "c-uuid"}


def test_a_move_onto_its_own_source_is_a_problem():
    problem = checks.same_cluster_problem(SAME, INFO, dict(INFO))
    assert "same cluster %s" % DST in problem and "new_name" in problem and "mac: generate" in problem
    # With a new name, or to another cluster, there is none.
    assert checks.same_cluster_problem(dict(SAME, destination_name="web2"), INFO, dict(INFO)) is None
    assert checks.same_cluster_problem(MOVE, INFO, {"name": "other", "uuid": "other-uuid"}) is None
    # A short name Ganeti expands to the source: the same instance (same UUID).
    problem = checks.same_cluster_problem(dict(SAME, destination_name="WEB1"), INFO, dict(INFO))
    assert problem is not None
    problem = checks.same_cluster_problem(dict(SAME, destination_name="web1.example.org"), INFO, dict(INFO),
                                          {"uuid": "i-1"}, {"uuid": "i-1"})
    assert problem is not None


def test_a_kept_mac_of_the_source_within_one_cluster_says_why_and_how():
    created = {"nics": [{"mac": "aa:00:00:00:00:01"}, {"mac": "generate"}]}
    instances = [{"name": "web1", "nic.macs": ["aa:00:00:00:00:01"]}, {"name": "db1", "nic.macs": []}]
    findings = checks._mac_checks(created, dict(SAME, destination_name="web2"), instances)  # pylint: disable=protected-access
    assert [f.ok for f in findings] == [False]
    assert "the source web1's own" in findings[0].message
    assert "nics: [{mac: generate}]" in findings[0].message
    assert "gnt-instance modify --net 0:modify,mac=aa:00:00:00:00:01 web2" in findings[0].message
    # Between clusters, the owner is some other instance: the usual message.
    findings = checks._mac_checks(created, dict(MOVE, destination_name="web2"), instances)  # pylint: disable=protected-access
    assert "already used by instance web1 on %s" % DST in findings[0].message


class OneCluster:
    """Both ends of a move within one cluster: answers the reads of plan_move, refuses any write."""

    def __init__(self):
        self.info = dict(INFO, enabled_disk_templates=["file"], enabled_hypervisors=["fake"], tags=[])
        self.instances = {"web1": {"name": "web1", "uuid": "i-1", "admin_state": "up", "tags": []}}
        self.writes = []

    def get_info(self):
        return copy.deepcopy(self.info)

    def get_instance(self, name, missing_ok=False):
        assert missing_ok
        return copy.deepcopy(self.instances.get(name))

    def __getattr__(self, name):
        # Everything else plan_move could call before its refusal: recorded, so the test sees it.
        def call(*args, **kwargs):
            self.writes.append((name, args, kwargs))
            raise AssertionError("unexpected call %s" % name)
        return call


def test_plan_refuses_a_move_within_one_cluster_without_a_new_name_before_anything():
    cluster = OneCluster()
    with pytest.raises(mv.MoveError) as caught:
        mv.plan_move(cluster, cluster, {"name": "web1", "transfer": "direct"}, probe=True, prepare=True)
    assert "same cluster %s" % DST in caught.value.message and "new_name" in caught.value.message
    assert cluster.writes == []
