# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_capacity as capacity
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_checks as merge
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_moves as moves
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError

INFO = {"name": "a.lab", "default_iallocator": "hail", "volume_group_name": "xenvg"}


def node(name, mfree=1024, group="default", **extra):
    return dict({"name": name, "mfree": mfree, "group": group, "vm_capable": True, "offline": False,
                 "drained": False}, **extra)


def inst(name, template="file", sizes=(100,), memory=128, macs=("aa:03:00:00:00:01",)):
    return {"name": name, "disk_template": template, "disk.sizes": list(sizes), "beparams": {"maxmem": memory},
            "nic.macs": list(macs), "nic.ips": [None] * len(macs), "oper_state": False, "admin_state": "down",
            "os": "lab-dd", "hypervisor": "fake", "tags": []}


def errors(findings):
    return [f["message"] for f in findings if f["severity"] == "error"]


def test_disk_demand_per_template_drbd_counts_twice_with_metadata():
    assert capacity.instance_disk(inst("a", "file", (100, 50))) == ("file", 150, 150)
    assert capacity.instance_disk(inst("a", "plain", (100,))) == ("lvm-vg", 100, 100)
    assert capacity.instance_disk(inst("a", "drbd", (100,))) == ("lvm-vg", 2 * (100 + 128), 228)
    assert capacity.instance_disk(inst("a", "diskless", ())) == (None, 0, 0)
    assert capacity.instance_disk(inst("a", "rbd", (10,)))[0] == "rbd"
    assert capacity.storage_types([inst("a", "drbd"), inst("b", "sharedfile"), inst("c", "rbd")]) == [
        "lvm-vg", "sharedfile"]


def test_enough_room_gives_no_finding():
    placement, findings = capacity.plan_placement(["vm1", "vm2"], INFO, [node("n1"), node("n2")], ["default"])
    assert findings == [] and placement == {"vm1": {"iallocator": "hail"}, "vm2": {"iallocator": "hail"}}
    storage = {"file": {"n1": 150, "n2": 150}}
    assert capacity.check_capacity([inst("vm1"), inst("vm2")], placement, INFO, [node("n1"), node("n2")],
                                   storage) == []


def test_memory_short_names_the_shortfall_and_the_fix():
    placement, _findings = capacity.plan_placement(["vm1", "vm2"], INFO, [node("n1", 300)], ["default"])
    found = errors(capacity.check_capacity([inst("vm1", memory=200), inst("vm2", memory=200)], placement, INFO,
                                           [node("n1", 300)], {"file": {"n1": 1000}}))
    assert len(found) == 1
    assert "need 400 MiB" in found[0] and "300 MiB free: 100 MiB short" in found[0] and "Free memory" in found[0]


def test_one_instance_larger_than_any_node_is_refused_even_when_the_sum_fits():
    nodes = [node("n1", 600), node("n2", 600)]
    placement, _findings = capacity.plan_placement(["big"], INFO, nodes, ["default"])
    found = errors(capacity.check_capacity([inst("big", memory=1000)], placement, INFO, nodes,
                                           {"file": {"n1": 1000, "n2": 1000}}))
    assert len(found) == 1 and "instance big needs 1000 MiB on one node" in found[0] and "400 MiB short" in found[0]


def test_disk_short_per_storage_type_drbd_twice_sharedfile_once():
    nodes = [node("n1"), node("n2")]
    placement, _findings = capacity.plan_placement(["d", "s"], INFO, nodes, ["default"])
    storage = {"lvm-vg": {"n1": 300, "n2": 300}, "sharedfile": {"n1": 500, "n2": 500}}
    found = errors(capacity.check_capacity([inst("d", "drbd", (200,)), inst("s", "sharedfile", (600,))], placement,
                                           INFO, nodes, storage))
    assert any("Disk (sharedfile storage)" in m and "need 600 MiB" in m and "500 MiB free: 100 MiB short" in m
               for m in found), found
    # DRBD: 2 x (200 + 128) = 656 > 600, and 328 on one node fits.
    assert any("Disk (lvm-vg storage)" in m and "need 656 MiB" in m and "56 MiB short" in m for m in found), found


def test_unreadable_storage_is_a_warning_and_offline_nodes_do_not_count():
    nodes = [node("n1", 100), node("n2", 5000, offline=True)]
    placement, _findings = capacity.plan_placement(["vm1"], INFO, nodes, ["default"])
    findings = capacity.check_capacity([inst("vm1", "plain", memory=200)], placement, INFO, nodes, {})
    assert [f["severity"] for f in findings] == ["error", "warning"]
    assert "not checked" in findings[1]["message"]


def test_placement_without_any_iallocator_needs_primary_nodes():
    info = dict(INFO, default_iallocator=None)
    nodes = [node("n1"), node("n2", drained=True)]
    placement, findings = capacity.plan_placement(["vm1", "vm2"], info, nodes, ["default"])
    assert "vm1, vm2" in errors(findings)[0] and "--default-iallocator" in errors(findings)[0]
    placement, findings = capacity.plan_placement(["vm1", "vm2"], info, nodes, ["default"],
                                                  primary_nodes={"vm1": "n1", "vm2": "n2", "gone": "n1"})
    assert placement == {"vm1": {"primary_node": "n1"}, "vm2": {"primary_node": "n2"}}
    assert any("n2 given for instance vm2 cannot take instances" in m for m in errors(findings))
    assert any(f["severity"] == "warning" and "gone" in f["message"] for f in findings)
    placement, findings = capacity.plan_placement(["vm1"], info, nodes, ["default"], iallocator="hail",
                                                  group="nope")
    assert placement == {"vm1": {"iallocator": "hail", "group": "nope"}}
    assert "Node group nope" in errors(findings)[0]


def test_pinned_instances_are_checked_against_their_node():
    nodes = [node("n1", 100), node("n2", 1000)]
    placement, _findings = capacity.plan_placement(["vm1"], INFO, nodes, ["default"], primary_nodes={"vm1": "n1"})
    found = errors(capacity.check_capacity([inst("vm1", memory=200)], placement, INFO, nodes,
                                           {"file": {"n1": 1000, "n2": 1000}}))
    assert len(found) == 1 and "node n1" in found[0] and "100 MiB short" in found[0]


class FakeStorage:
    def __init__(self, rows, failing=()):
        self.rows = rows
        self.failing = failing

    @staticmethod
    def node_path(name, action):
        return "/2/nodes/%s/%s" % (name, action)

    def get(self, path, query=None):
        node_name = path.split("/")[3]
        if (node_name, query["storage_type"]) in self.failing:
            raise RapiError("no such storage type")
        assert query["output_fields"] == "name,free"
        return (node_name, query["storage_type"])

    def wait_for_job(self, job_id):
        return {"opresult": [self.rows[job_id]]}


def test_read_storage_sums_the_units_and_keeps_only_the_cluster_volume_group():
    client = FakeStorage({("n1", "lvm-vg"): [["xenvg", 100], ["other", 900]], ("n2", "lvm-vg"): [["xenvg", 50]],
                          ("n1", "file"): [["/srv", 10]], ("n2", "file"): [["/srv", 20]],
                          ("n1", "sharedfile"): [["/srv/s", 30]]},
                         failing=[("n2", "sharedfile")])
    storage = capacity.read_storage(client, ["n1", "n2"], ["lvm-vg", "file", "sharedfile"], "xenvg")
    assert storage == {"lvm-vg": {"n1": 100, "n2": 50}, "file": {"n1": 10, "n2": 20}}


# The per-instance move requests the pre-flight decides (name and MAC policies).

def cluster(name, instances, nodes=("n1",)):
    return {"info": {"name": name, "uuid": name, "software_version": "3.0.2", "default_iallocator": "hail",
                     "enabled_disk_templates": ["file", "diskless"], "enabled_hypervisors": ["fake"]},
            "instances": instances, "nodes": [node("%s-%s" % (name, n)) for n in nodes],
            "groups": [{"name": "default"}], "networks": [], "oses": ["lab-dd"], "tags": []}


def plan_moves(result):
    return {s["cluster_name"]: s["moves"] for s in result["plan"]["sources"]}


def test_rename_and_generate_resolve_clashes_in_the_move_requests():
    target = cluster("c1.lab", [inst("vm01.lab", macs=("aa:01:00:00:00:01",)),
                                inst("vm02.lab", macs=("aa:01:00:00:00:02",))])
    source = cluster("c3.lab", [inst("vm01.lab", macs=("aa:03:00:00:00:01",)),
                                inst("vm33.lab", macs=("aa:03:00:00:00:02", "aa:01:00:00:00:02"))])
    refused = merge.preflight(target, [source], group_policy="merge")
    assert {f["check"] for f in refused["findings"] if f["severity"] == "error"} == {"instance-name", "mac"}
    result = merge.preflight(target, [source], group_policy="merge", name_policy="rename", mac_policy="generate")
    assert errors(result["findings"]) == []
    assert plan_moves(result)["c3.lab"] == [
        {"name": "vm01.lab", "new_name": "vm01-c3.lab", "iallocator": "hail"},
        {"name": "vm33.lab", "nics": [{}, {"mac": "generate"}], "iallocator": "hail"}]
    # The policies are for moves: an in-place merge still refuses.
    in_place = merge.preflight(target, [source], strategy="in_place", group_policy="merge", name_policy="rename",
                               mac_policy="generate")
    assert {"instance-name", "mac"} <= {f["check"] for f in in_place["findings"] if f["severity"] == "error"}


def test_a_renamed_name_that_is_taken_is_an_error():
    target = cluster("c1.lab", [inst("vm01.lab"), inst("vm01-c3.lab", macs=("aa:01:00:00:00:09",))])
    source = cluster("c3.lab", [inst("vm01.lab", macs=("aa:03:00:00:00:01",))])
    result = merge.preflight(target, [source], group_policy="merge", name_policy="rename")
    assert any("its new name vm01-c3.lab" in m and "exists in c1.lab" in m for m in errors(result["findings"]))


def test_a_resumed_run_finds_the_renamed_copy_by_its_provenance_tag():
    copy = inst("vm01-c3.lab", macs=("aa:01:00:00:00:07",))
    copy["tags"] = ["ganeti-fleet:source:c3.lab/vm01.lab", "ganeti-fleet:move-pending"]
    target = cluster("c1.lab", [inst("vm01.lab", macs=("aa:01:00:00:00:01",)), copy])
    source = cluster("c3.lab", [inst("vm01.lab", macs=("aa:01:00:00:00:01",))])
    result = merge.preflight(target, [source], group_policy="merge", name_policy="rename", mac_policy="generate")
    assert errors(result["findings"]) == []
    assert plan_moves(result)["c3.lab"] == [
        {"name": "vm01.lab", "new_name": "vm01-c3.lab", "nics": [{"mac": "generate"}], "iallocator": "hail"}]


@pytest.mark.parametrize("pattern, problem", [
    ("{short}", "{cluster}"), ("{cluster}", "{name} or {short}"), ("{short}-{node}", "unknown placeholder"),
    ("{short!r}-{cluster}", "not valid"), ("{short", "not valid")])
def test_rename_patterns_are_validated(pattern, problem):
    with pytest.raises(FleetError, match="cluster_merge_rename_pattern") as info:
        moves.check_rename_pattern(pattern)
    assert problem in str(info.value)


def test_renamed_names_and_invalid_results():
    assert moves.renamed("{short}-{cluster}{suffix}", "web1.example.org", "b.example.org") == "web1-b.example.org"
    assert moves.renamed("{cluster}-{name}", "web1", "b") == "b-web1"
    assert moves.name_problem("web1_b.lab") and moves.name_problem("-x.lab") and not moves.name_problem("a-b.lab")


def test_async_limit_covers_the_moves_own_timeouts():
    assert moves.async_limit(7200, 120) == 7200 + 120 + moves.ASYNC_MARGIN
    assert moves.async_limit(7200, 120) > 7200
    with pytest.raises(FleetError, match="transfer_timeout"):
        moves.async_limit(0, 120)


def test_verification_expects_new_names_and_any_generated_mac():
    snap = {"cluster_name": "c3.lab", "instances": {"vm01.lab": {"macs": ["m1"]}, "vm33.lab": {"macs": ["m2", "m3"]}}}
    plan = [{"cluster_name": "c3.lab", "moves": [{"name": "vm01.lab", "new_name": "vm01-c3.lab"},
                                                 {"name": "vm33.lab", "nics": [{}, {"mac": "generate"}]}]}]
    expected = moves.expected_snapshot(snap, plan)
    assert expected["instances"] == {"vm01-c3.lab": {"macs": ["m1"]}, "vm33.lab": {"macs": ["m2", None]}}
    assert moves.expected_change("macs", expected["instances"]["vm33.lab"], {"macs": ["m2", "new"]})
    assert not moves.expected_change("macs", expected["instances"]["vm33.lab"], {"macs": ["other", "new"]})
    assert not moves.expected_change("memory", {"memory": None}, {"memory": 1})
    locations = moves.expected_locations([{"cluster": "c3.lab", "instance": "vm01.lab", "index": 0}], plan)
    assert locations == [{"cluster": "c3.lab", "instance": "vm01-c3.lab", "index": 0}]
