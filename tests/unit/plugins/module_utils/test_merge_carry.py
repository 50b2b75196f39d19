# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_carry as carry
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_checks as merge
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_verify as verify
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_CARRIED


def node(name, group="default", pip="198.18.0.1", sip=None, master_capable=True, vm_capable=True, ndparams=None,
         tags=()):
    return {"name": name, "group": group, "pip": pip, "sip": sip or pip, "master_capable": master_capable,
            "vm_capable": vm_capable, "custom_ndparams": ndparams or {}, "tags": list(tags), "offline": False}


def group(name, alloc_policy="preferred", ndparams=None, ipolicy=None, diskparams=None, tags=()):
    return {"name": name, "alloc_policy": alloc_policy, "custom_ndparams": ndparams or {},
            "custom_ipolicy": ipolicy or {}, "custom_diskparams": diskparams or {}, "tags": list(tags)}


def network(name, subnet="198.18.64.0/24", gateway="198.18.64.1", reserved=(), group_list=(), inst_list=(),
            tags=(), mac_prefix="aa:02:40"):
    base = subnet.rsplit(".", 1)[0]
    automatic = [base + ".0", base + ".255"] + ([gateway] if gateway else [])
    return {"name": name, "network": subnet, "gateway": gateway, "network6": None, "gateway6": None,
            "mac_prefix": mac_prefix, "external_reservations": ", ".join(automatic + list(reserved)),
            "group_list": [list(entry) for entry in group_list], "inst_list": list(inst_list), "tags": list(tags)}


def cluster(name, nodes, groups, networks=(), tags=(), instances=()):
    return {"info": {"name": name, "master": nodes[0]["name"], "uuid": name + "-uuid", "software_version": "3.0.2",
                     "enabled_disk_templates": ["file"], "enabled_hypervisors": ["fake"]},
            "nodes": list(nodes), "groups": list(groups), "networks": list(networks), "tags": list(tags),
            "instances": list(instances), "oses": None}


def target(**kwargs):
    return cluster("a", [node("a1", pip="198.18.0.11", sip="198.18.0.111")], [group("default")], **kwargs)


def source(**kwargs):
    nodes = [node("b1", pip="198.18.0.21", sip="198.18.0.121"),
             node("b2", group="db", pip="198.18.0.22", sip="198.18.0.122", master_capable=False,
                  ndparams={"spindle_count": 3}, tags=["rack:r2", "ganeti-fleet:transfer-fix"])]
    groups = [group("default"), group("db", alloc_policy="last_resort", ndparams={"spindle_count": 2},
                                      ipolicy={"vcpu-ratio": 3.5}, tags=["tier:db"])]
    networks = [network("front", reserved=["198.18.64.5"], group_list=[("default", "bridged", "gnt-br0", "")],
                        inst_list=["vm12"], tags=["site:b"]),
                network("spare", subnet="198.18.65.0/24", gateway=None, reserved=["198.18.65.9"],
                        group_list=[("db", "bridged", "gnt-br0", "7")], mac_prefix=None)]
    defaults = dict(networks=networks, tags=["site:b", "ganeti-fleet:transfer-fix", "shared"])
    defaults.update(kwargs)
    return cluster("b", nodes, groups, **defaults)


GROUP_MAP = {"default": "default-b", "db": "db"}


def test_a_network_is_recreated_with_only_the_reservations_ganeti_does_not_make_itself():
    body = carry.network_body(source()["networks"][0], "b")
    assert body == {"network_name": "front", "network": "198.18.64.0/24", "gateway": "198.18.64.1",
                    "mac_prefix": "aa:02:40", "add_reserved_ips": ["198.18.64.5"], "conflicts_check": False,
                    "tags": ["site:b", TAG_CARRIED % ("b", "front")]}
    spare = carry.network_body(source()["networks"][1], "b")
    assert "gateway" not in spare and "mac_prefix" not in spare and spare["add_reserved_ips"] == ["198.18.65.9"]


def test_the_plan_creates_groups_networks_connections_and_cluster_tags_before_the_moves():
    plan = carry.plan_objects(target(tags=["shared"]), source(), GROUP_MAP)
    assert plan["groups"] == [
        {"body": {"group_name": "default-b", "alloc_policy": "preferred"},
         "tags": [TAG_CARRIED % ("b", "default")]},
        {"body": {"group_name": "db", "alloc_policy": "last_resort", "ndparams": {"spindle_count": 2},
                  "ipolicy": {"vcpu-ratio": 3.5}},
         "tags": ["tier:db", TAG_CARRIED % ("b", "db")]}]
    assert [n["network_name"] for n in plan["networks"]] == ["front", "spare"]
    # front has an instance: also connected to the target's own group, where moves place it.
    assert plan["connections"] == [
        {"network": "front", "body": {"group_name": "default", "network_mode": "bridged", "network_link": "gnt-br0"}},
        {"network": "front", "body": {"group_name": "default-b", "network_mode": "bridged",
                                      "network_link": "gnt-br0"}},
        {"network": "spare", "body": {"group_name": "db", "network_mode": "bridged", "network_link": "gnt-br0",
                                      "network_vlan": "7"}}]
    assert [w for w in plan["warnings"] if "also connected to the target's group default" in w]
    # Only the merged cluster's own tags that the target lacks: no bookkeeping, no duplicates.
    assert plan["cluster_tags"] == ["site:b"]


def applied(target_data, plan, cluster_name="b"):
    """TARGET_DATA as it is once PLAN was carried out."""
    done = copy.deepcopy(target_data)
    for item in plan["groups"]:
        done["groups"].append(group(item["body"]["group_name"], item["body"].get("alloc_policy"),
                                    item["body"].get("ndparams"), item["body"].get("ipolicy"), tags=item["tags"]))
    for body in plan["networks"]:
        done["networks"].append(dict(network(body["network_name"], body["network"], body.get("gateway")),
                                     tags=body["tags"]))
    for connection in plan["connections"]:
        net = next(n for n in done["networks"] if n["name"] == connection["network"])
        body = connection["body"]
        net["group_list"].append([body["group_name"], body.get("network_mode"), body.get("network_link"),
                                  body.get("network_vlan", "")])
    done["tags"] += plan["cluster_tags"]
    return done


def test_a_second_run_plans_nothing():
    first = carry.plan_objects(target(), source(), GROUP_MAP)
    second = carry.plan_objects(applied(target(), first), source(), GROUP_MAP)
    assert second == {"groups": [], "networks": [], "connections": [], "cluster_tags": [], "warnings": []}


def test_with_the_merge_policy_the_target_group_keeps_its_parameters_and_the_difference_is_a_warning():
    plan = carry.plan_objects(target(), source(), {"default": "default", "db": "db"})
    assert [g["body"]["group_name"] for g in plan["groups"]] == ["db"]
    same = carry.plan_objects(target(), source(), {"default": "default", "db": "db"})["warnings"]
    assert not [w for w in same if "keeps its own parameters" in w]
    a = target()
    a["groups"][0]["custom_ipolicy"] = {"vcpu-ratio": 2}
    warnings = carry.plan_objects(a, source(), {"default": "default", "db": "db"})["warnings"]
    assert any("Node group default of b joins the target's group default, which keeps its own parameters"
               in w and "ipolicy" in w for w in warnings), warnings


def test_a_network_of_the_same_name_that_no_merge_created_is_refused():
    a = target(networks=[network("front")])
    with pytest.raises(carry.CarryError, match="Network front of b cannot be carried"):
        carry.plan_objects(a, source(), GROUP_MAP)
    findings = carry.preflight_findings(a, source(), GROUP_MAP)
    assert [f["check"] for f in findings if f["severity"] == "error"] == ["network-name"]


def test_secondary_ips_must_match_the_targets_homing():
    assert [f for f in carry.preflight_findings(target(), source(), GROUP_MAP) if f["severity"] == "error"] == []
    single = cluster("a", [node("a1", pip="198.18.0.11")], [group("default")])
    (finding,) = [f for f in carry.preflight_findings(single, source(), GROUP_MAP) if f["severity"] == "error"]
    assert finding["check"] == "secondary-ip" and finding["objects"] == ["b1", "b2"]
    assert "Make a multi-homed first" in finding["message"]
    plain = source()
    for item in plain["nodes"]:
        item["sip"] = item["pip"]
    (finding,) = [f for f in carry.preflight_findings(target(), plain, GROUP_MAP) if f["severity"] == "error"]
    assert "have none" in finding["message"] and "gnt-node modify -s" in finding["message"]


def test_the_preflight_accepts_the_copies_an_earlier_run_carried():
    first = carry.plan_objects(target(), source(), GROUP_MAP)
    result = merge.preflight(applied(target(), first), [source()], group_policy="rename")
    assert merge.errors(result["findings"]) == []
    assert result["plan"]["sources"][0]["group_map"] == GROUP_MAP
    assert result["plan"]["sources"][0]["new_groups"] == []
    fresh = merge.preflight(target(), [source()], group_policy="rename")
    assert fresh["plan"]["sources"][0]["group_map"] == GROUP_MAP
    single = cluster("a", [node("a1", pip="198.18.0.11")], [group("default")])
    refused = merge.preflight(single, [source()], group_policy="rename")
    assert "secondary-ip" in {f["check"] for f in merge.errors(refused["findings"])}


def test_nodes_join_with_their_group_secondary_ip_and_capabilities():
    records = carry.node_records(source(), GROUP_MAP)
    assert records["b2"] == {"group": "db", "secondary_ip": "198.18.0.122", "master_capable": False,
                             "vm_capable": True, "ndparams": {"spindle_count": 3}, "tags": ["rack:r2"]}
    assert carry.add_argv("b2", records["b2"]) == [
        "gnt-node", "add", "--no-ssh-key-check", "--node-group", "db", "-s", "198.18.0.122",
        "--master-capable=no", "--vm-capable=yes", "b2"]
    single = dict(records["b2"], secondary_ip=None)
    assert "-s" not in carry.add_argv("b2", single)


def test_join_parameters_survive_in_the_targets_tags_once_the_cluster_is_taken_apart():
    records = carry.node_records(source(), GROUP_MAP)
    tags = [carry.setup_tag("b", name, record) for name, record in records.items()]
    assert tags == ["ganeti-fleet:merge-node-setup:b:b1:198.18.0.121:yes:yes",
                    "ganeti-fleet:merge-node-setup:b:b2:198.18.0.122:no:yes"]
    tags.append(carry.setup_tag("c", "b1", records["b1"]))
    tags.append(carry.setup_tag("b", "v6", dict(records["b1"], secondary_ip="2001:db8::7")))
    rebuilt = carry.records_from_tags(tags, "b", {"b1": "default-b", "b2": "db", "v6": "db", "b3": "db"})
    assert rebuilt["b2"] == {"group": "db", "secondary_ip": "198.18.0.122", "master_capable": False,
                             "vm_capable": True, "ndparams": {}, "tags": []}
    assert rebuilt["v6"]["secondary_ip"] == "2001:db8::7"
    assert rebuilt["b3"]["secondary_ip"] is None and rebuilt["b3"]["master_capable"] is True
    assert carry.setup_tag("b" * 60, "n" * 60, records["b1"]) is None


def test_node_changes_are_only_what_the_joined_node_lacks():
    record = carry.node_records(source(), GROUP_MAP)["b2"]
    joined = node("b2", group="db", master_capable=False)
    assert carry.node_changes(joined, record) == {"tags": ["rack:r2"], "modify": {"ndparams": {"spindle_count": 3}}}
    done = dict(joined, custom_ndparams={"spindle_count": 3}, tags=["rack:r2"])
    assert carry.node_changes(done, record) == {"tags": [], "modify": {}}
    assert carry.node_changes(dict(done, master_capable=True), record)["modify"] == {"master_capable": False}


def test_the_snapshot_comparison_checks_every_carried_object():
    before = [verify.snapshot(dict(target(), groups=[group("default")])), verify.snapshot(source())]
    mapping = {"b": GROUP_MAP}
    after = applied(target(), carry.plan_objects(target(), source(), GROUP_MAP))
    after["nodes"] += [dict(n, group=GROUP_MAP[n["group"]]) for n in source()["nodes"]]
    front = next(n for n in after["networks"] if n["name"] == "front")
    front["external_reservations"] += ", 198.18.64.5"
    spare = next(n for n in after["networks"] if n["name"] == "spare")
    spare["external_reservations"] += ", 198.18.65.9"
    spare["mac_prefix"] = None
    front["tags"] += ["site:b"]
    assert verify.compare_snapshot(before, verify.snapshot(after), mapping) == []

    broken = copy.deepcopy(after)
    spare = next(n for n in broken["networks"] if n["name"] == "spare")
    spare["external_reservations"] = "198.18.65.0, 198.18.65.255"
    spare["group_list"] = []
    next(g for g in broken["groups"] if g["name"] == "db")["custom_ipolicy"] = {}
    b2 = next(n for n in broken["nodes"] if n["name"] == "b2")
    b2.update(sip=b2["pip"], tags=[])
    broken["tags"].remove("site:b")
    assert verify.compare_snapshot(before, verify.snapshot(broken), mapping) == [
        "network spare (from b): reservations lost: 198.18.65.9",
        "network spare (from b): connection to group db is missing, expected mode bridged, link gnt-br0, vlan 7",
        "node group db (from b, as db): ipolicy is {}, expected {'vcpu-ratio': 3.5}",
        "node b2 (from b): secondary_ip is None, expected '198.18.0.122'",
        "node b2 (from b): tags lost: rack:r2",
        "cluster tags of b on a: tags lost: site:b",
    ]


def test_a_group_merged_into_the_targets_keeps_the_targets_parameters_without_a_difference():
    a = target()
    a["groups"][0]["custom_ipolicy"] = {"vcpu-ratio": 2}
    before = [verify.snapshot(a), verify.snapshot(source())]
    after = applied(a, carry.plan_objects(a, source(), {"default": "default", "db": "db"}))
    after["nodes"] += source()["nodes"]
    for name, extra in (("front", "198.18.64.5"), ("spare", "198.18.65.9")):
        net = next(n for n in after["networks"] if n["name"] == name)
        net["external_reservations"] += ", " + extra
        net["tags"] = source()["networks"][0]["tags"] + net["tags"]
        net["mac_prefix"] = next(n for n in source()["networks"] if n["name"] == name)["mac_prefix"]
    assert verify.compare_snapshot(before, verify.snapshot(after), {"b": {"default": "default", "db": "db"}}) == []


def test_snapshots_without_the_carried_fields_compare_as_before():
    old = {"cluster_name": "b", "instances": {}, "nodes": [], "groups": [], "networks": ["front"]}
    now = verify.snapshot(applied(target(), carry.plan_objects(target(), source(), GROUP_MAP)))
    assert verify.compare_snapshot([old], now) == []


class Recorder:
    def __init__(self):
        self.calls = []

    def submit(self, method, path, body=None):
        self.calls.append((method, path, body.get("group_name") or body.get("network_name")))
        return "1"

    def add_tags(self, kind, name, tags):
        self.calls.append(("tags", kind, name))
        return "2"

    def modify_node(self, name, body):
        self.calls.append(("modify", name, sorted(body)))
        return "3"


class Jobs:
    def run(self, submit, *args, **kwargs):
        return submit(*args, **kwargs)


def test_groups_and_networks_are_created_before_their_connections():
    client = Recorder()
    carry.apply_objects(client, Jobs(), carry.plan_objects(target(), source(), GROUP_MAP))
    assert client.calls == [
        ("POST", "/2/groups", "default-b"), ("tags", "group", "default-b"),
        ("POST", "/2/groups", "db"), ("tags", "group", "db"),
        ("POST", "/2/networks", "front"), ("POST", "/2/networks", "spare"),
        ("PUT", "/2/networks/front/connect", "default"), ("PUT", "/2/networks/front/connect", "default-b"),
        ("PUT", "/2/networks/spare/connect", "db"),
        ("tags", "cluster", None)]
    client = Recorder()
    carry.apply_node_changes(client, Jobs(), {"b2": {"tags": ["rack:r2"], "modify": {"ndparams": {}}},
                                              "b1": {"tags": [], "modify": {}}})
    assert client.calls == [("modify", "b2", ["ndparams"]), ("tags", "node", "b2")]
