# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the offline merge of Ganeti 3.0 configurations, on built config.data documents."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_config_data as cm
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.modules import cluster_config_merge
from ansible_collections.ganeti.fleet.tests.unit.plugins.module_args import patch_module_args

HYPERVISORS = ["fake"]


def config(index, instances=(), groups=("default",), drbd=(), networks=(), port_pool=None,
           highest_port=10999):
    """A Ganeti 3.0 config.data for cluster c<index>.lab, two nodes, given instances."""
    uid = "%02d" % index
    group_uuids = {name: "g%s-%d" % (uid, i) for i, name in enumerate(groups)}
    first_group = group_uuids[groups[0]]
    nodes = {}
    for n in (1, 2):
        uuid = "n%s-%d" % (uid, n)
        nodes[uuid] = {"name": "c%dn%d.lab" % (index, n), "uuid": uuid, "group": first_group,
                       "primary_ip": "198.18.0.%d" % (10 * index + n),
                       "secondary_ip": "198.18.0.%d" % (10 * index + n),
                       "master_candidate": True, "offline": False, "drained": False,
                       "master_capable": True, "vm_capable": True, "ndparams": {}, "serial_no": 1,
                       "tags": []}
    result = {
        "version": 3000000, "serial_no": 7, "ctime": 1.0, "mtime": 2.0, "filters": {},
        "cluster": {"cluster_name": "c%d.lab" % index, "uuid": "cl-%s" % uid,
                    "master_node": "n%s-1" % uid, "mac_prefix": "aa:%s:00" % uid,
                    "enabled_hypervisors": list(HYPERVISORS), "primary_ip_family": 2,
                    "file_storage_dir": "/srv/ganeti/file-storage",
                    "shared_file_storage_dir": "/srv/ganeti/shared-file-storage",
                    "gluster_storage_dir": "/var/run/ganeti/gluster",
                    "enabled_disk_templates": ["file", "sharedfile", "diskless", "drbd", "plain"],
                    "beparams": {"default": {"maxmem": 128, "minmem": 128, "vcpus": 1}},
                    "nicparams": {"default": {"mode": "bridged", "link": "gnt-br0", "vlan": ""}},
                    "hvparams": {"fake": {"migration_mode": "live"}, "kvm": {"acpi": True}},
                    "ndparams": {"ssh_port": 22, "spindle_count": 1},
                    "ssh_key_type": "rsa", "highest_used_port": highest_port,
                    "tcpudp_port_pool": list(port_pool or []), "serial_no": 4, "uid_pool": [],
                    "reserved_lvs": [], "osparams": {}, "os_hvp": {}, "hidden_os": [],
                    "blacklisted_os": []},
        "nodes": nodes,
        "nodegroups": {uuid: {"name": name, "uuid": uuid, "members": [], "networks": {},
                              "ndparams": {}, "serial_no": 1}
                       for name, uuid in group_uuids.items()},
        "instances": {}, "disks": {}, "networks": {},
    }
    for i, name in enumerate(instances):
        inst_uuid, disk_uuid = "i%s-%d" % (uid, i), "d%s-%d" % (uid, i)
        result["instances"][inst_uuid] = {
            "name": name, "uuid": inst_uuid, "primary_node": "n%s-1" % uid, "hypervisor": "fake",
            "admin_state": "down", "beparams": {}, "hvparams": {}, "serial_no": 2,
            "nics": [{"mac": "aa:%s:00:00:00:%02x" % (uid, i), "nicparams": {}, "uuid": "nic-%s-%d" % (uid, i)}],
            "disks": [disk_uuid]}
        result["disks"][disk_uuid] = {
            "uuid": disk_uuid, "dev_type": "file", "nodes": ["n%s-1" % uid], "children": [],
            "logical_id": ["loop", "/srv/ganeti/file-storage/%s/%s.file.disk0" % (name, disk_uuid)]}
    for i, (name, port) in enumerate(drbd):
        inst_uuid, disk_uuid = "di%s-%d" % (uid, i), "dd%s-%d" % (uid, i)
        result["instances"][inst_uuid] = {
            "name": name, "uuid": inst_uuid, "primary_node": "n%s-1" % uid, "hypervisor": "fake",
            "admin_state": "down", "beparams": {}, "hvparams": {}, "nics": [], "disks": [disk_uuid]}
        result["disks"][disk_uuid] = {
            "uuid": disk_uuid, "dev_type": "drbd", "nodes": ["n%s-1" % uid, "n%s-2" % uid],
            "logical_id": ["n%s-1" % uid, "n%s-2" % uid, port, 0, 0, "secret"],
            "children": [{"dev_type": "plain", "logical_id": ["xenvg", "data"], "children": []},
                         {"dev_type": "plain", "logical_id": ["xenvg", "meta"], "children": []}]}
    for i, name in enumerate(networks):
        result["networks"]["net%s-%d" % (uid, i)] = {"name": name, "uuid": "net%s-%d" % (uid, i),
                                                     "network": "10.%d.%d.0/24" % (index, i)}
    return result


def test_merge_adds_nodes_offline_instances_disks_and_renamed_groups():
    target, c2, c3 = config(1, ["vm11.lab"]), config(2, ["vm21.lab", "vm22.lab"]), config(3, ["vm31.lab"])
    merged, report = cm.merge(target, [c2, c3], group_policy="rename", now=100.0)
    assert sorted(n["name"] for n in merged["nodes"].values()) == [
        "c1n1.lab", "c1n2.lab", "c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab"]
    for uuid in list(c2["nodes"]) + list(c3["nodes"]):
        node = merged["nodes"][uuid]
        assert node["offline"] and not node["master_candidate"] and not node["drained"]
    assert set(merged["instances"]) == set(target["instances"]) | set(c2["instances"]) | set(c3["instances"])
    assert set(merged["disks"]) == set(target["disks"]) | set(c2["disks"]) | set(c3["disks"])
    groups = {g["uuid"]: g["name"] for g in merged["nodegroups"].values()}
    assert sorted(groups.values()) == ["default", "default-c2", "default-c3"]
    assert groups[merged["nodes"]["n02-1"]["group"]] == "default-c2"
    assert report["sources"][0]["groups_renamed"] == {"default": "default-c2"}
    assert merged["serial_no"] == target["serial_no"] + 1
    assert merged["cluster"]["serial_no"] == target["cluster"]["serial_no"] + 1
    assert merged["cluster"]["master_node"] == target["cluster"]["master_node"]
    assert any("mac_prefix" in w for w in report["merge_warnings"])
    assert cm.offline_nodes_of(merged, ["c2n1.lab", "c1n1.lab"]) == ["c2n1.lab"]
    # The inputs are not modified.
    assert target == config(1, ["vm11.lab"])


def test_merge_is_idempotent_by_uuid():
    target, c2 = config(1), config(2, ["vm21.lab"])
    merged = cm.merge(target, [c2], group_policy="rename")[0]
    again, report = cm.merge(merged, [c2], group_policy="rename")
    assert again is None
    assert report["already_merged"] == ["c2.lab"]


def test_partially_merged_target_is_refused():
    target, c2 = config(1), config(2, ["vm21.lab"])
    merged = cm.merge(target, [c2], group_policy="rename")[0]
    del merged["instances"]["i02-0"]
    with pytest.raises(cm.MergeRefused, match="only part of c2.lab"):
        cm.merge(merged, [c2], group_policy="rename")


def test_group_policy_error_refuses_and_names_the_group():
    with pytest.raises(cm.MergeRefused) as err:
        cm.merge(config(1), [config(2)], group_policy="error")
    assert any("node group default exists in c2.lab" in p for p in err.value.problems)


def test_refusal_is_a_failed_task_result_naming_the_target_and_every_problem():
    with pytest.raises(FleetError) as err:
        cm.merge(config(1), [config(2, ["vm21.lab"]), config(3, ["vm21.lab"])], group_policy="error")
    refused = err.value
    assert isinstance(refused, cm.MergeRefused)
    result = refused.to_result()
    assert result["problems"] == refused.problems and len(refused.problems) >= 2
    assert result["msg"] == "refusing to merge into c1.lab, nothing was changed: " + "; ".join(refused.problems)


def test_group_policy_merge_puts_nodes_in_the_target_group_with_its_networks():
    target, c2 = config(1), config(2, networks=["backend"])
    c2["nodegroups"]["g02-0"]["networks"] = {"net02-0": {"mode": "bridged", "link": "br9"}}
    merged, report = cm.merge(target, [c2], group_policy="merge")
    assert merged["nodes"]["n02-1"]["group"] == "g01-0"
    assert "g02-0" not in merged["nodegroups"]
    assert merged["nodegroups"]["g01-0"]["networks"]["net02-0"]["link"] == "br9"
    assert report["sources"][0]["groups_merged"] == ["default"]
    assert merged["networks"]["net02-0"]["name"] == "backend"


def test_explicit_group_map_wins():
    merged = cm.merge(config(1), [config(2)], group_policy="error", group_maps=[{"default": "old-c2"}])[0]
    assert "old-c2" in {g["name"] for g in merged["nodegroups"].values()}


@pytest.mark.parametrize("mutate, expected", [
    (lambda t, s: s["nodes"]["n02-1"].update(name="c1n1.lab"), "node c1n1.lab exists in c2.lab"),
    (lambda t, s: s["instances"]["i02-0"].update(name="vm11.lab"), "instance vm11.lab exists"),
    (lambda t, s: s["instances"]["i02-0"]["nics"][0].update(mac="aa:01:00:00:00:00"),
     "MAC aa:01:00:00:00:00 of instance vm21.lab"),
    (lambda t, s: s["cluster"].update(file_storage_dir="/srv/other"), "file_storage_dir"),
    (lambda t, s: s["cluster"].update(enabled_hypervisors=["kvm"]), "enables hypervisors kvm"),
    (lambda t, s: s["instances"]["i02-0"].update(admin_state="up"), "instance vm21.lab of c2.lab is marked up"),
    (lambda t, s: s.update(filters={"f1": {}}), "job filter rules (f1)"),
    (lambda t, s: s.update(version=2160000), "configuration version"),
    (lambda t, s: t["cluster"].update(enabled_disk_templates=["plain"]), "disk template(s) file"),
    (lambda t, s: s["nodes"]["n02-2"].update(primary_ip="198.18.0.11"), "IP address 198.18.0.11"),
    (lambda t, s: s["networks"].update(t["networks"]), "network net0 exists"),
    (lambda t, s: s["cluster"].update(cluster_name="c1.lab"), "is the target itself"),
    (lambda t, s: s["cluster"]["beparams"]["default"].update(maxmem=512), "beparams/default/maxmem"),
])
def test_clashes_are_refused_naming_the_object(mutate, expected):
    target, source = config(1, ["vm11.lab"], networks=["net0"]), config(2, ["vm21.lab"])
    mutate(target, source)
    before = copy.deepcopy(target)
    with pytest.raises(cm.MergeRefused) as err:
        cm.merge(target, [source], group_policy="rename")
    assert any(expected in p for p in err.value.problems), err.value.problems
    assert target == before


def test_clash_between_two_sources():
    c2, c3 = config(2, ["vm21.lab"]), config(3, ["vm21.lab"])
    c3["instances"]["i03-0"]["nics"][0]["mac"] = "aa:03:00:00:00:09"
    with pytest.raises(cm.MergeRefused, match="instance vm21.lab exists in both c2.lab and c3.lab"):
        cm.merge(config(1), [c2, c3], group_policy="rename")


def test_warn_policy_pins_the_source_defaults_on_instances_and_nodes():
    target, c2 = config(1), config(2, ["vm21.lab"])
    c2["cluster"]["beparams"]["default"]["maxmem"] = 512
    c2["cluster"]["nicparams"]["default"]["link"] = "br-c2"
    c2["cluster"]["ndparams"]["ssh_port"] = 2222
    merged, report = cm.merge(target, [c2], group_policy="rename", parameter_policy="warn")
    inst = merged["instances"]["i02-0"]
    assert inst["beparams"] == {"maxmem": 512}
    assert inst["nics"][0]["nicparams"] == {"link": "br-c2"}
    assert merged["nodes"]["n02-1"]["ndparams"] == {"ssh_port": 2222}
    assert report["sources"][0]["pinned_parameters"] == ["vm21.lab"]
    assert any("beparams" in w for w in report["merge_warnings"])
    assert merged["cluster"]["beparams"]["default"]["maxmem"] == 128


def test_always_strict_parameters_ignore_the_warn_policy():
    c2 = config(2)
    c2["cluster"]["ssh_key_type"] = "dsa"
    with pytest.raises(cm.MergeRefused, match="ssh_key_type"):
        cm.merge(config(1), [c2], group_policy="rename", parameter_policy="warn")


def test_drbd_ports_are_reallocated_from_the_pool_then_the_range():
    target = config(1, drbd=[("vm11.lab", 11000)], port_pool=[11005], highest_port=11010)
    c2 = config(2, drbd=[("vm21.lab", 11000), ("vm22.lab", 11001)])
    merged, report = cm.merge(target, [c2], group_policy="rename")
    ports = sorted(merged["disks"][uuid]["logical_id"][2] for uuid in c2["disks"])
    assert ports == [11005, 11011]
    assert merged["cluster"]["tcpudp_port_pool"] == []
    assert merged["cluster"]["highest_used_port"] == 11011
    assert sorted(v[0] for v in report["sources"][0]["drbd_ports"].values()) == [11000, 11001]
    # The children (LVs) and the other logical_id fields are kept.
    disk = merged["disks"]["dd02-0"]
    assert disk["logical_id"][:2] == ["n02-1", "n02-2"] and disk["logical_id"][3:] == [0, 0, "secret"]
    assert len(disk["children"]) == 2


def test_drbd_port_range_exhausted_is_refused():
    target = config(1, highest_port=cm.LAST_DRBD_PORT)
    with pytest.raises(cm.MergeRefused, match="no free DRBD port"):
        cm.merge(target, [config(2, drbd=[("vm21.lab", 11000)])], group_policy="rename")


def test_merge_status_and_summary():
    target, c2 = config(1), config(2, ["vm21.lab"])
    assert cm.merge_status(target, c2) == "absent"
    summary = cm.source_summary(c2)
    assert summary == {"cluster_name": "c2.lab", "nodes": ["c2n1.lab", "c2n2.lab"],
                       "online_nodes": ["c2n1.lab", "c2n2.lab"], "instances": ["vm21.lab"]}


def test_dump_and_load_round_trip(tmp_path):
    merged = cm.merge(config(1), [config(2, ["vm21.lab"])], group_policy="rename")[0]
    path = tmp_path / "config.data"
    path.write_text(cm.dump(merged), encoding="utf-8")
    assert cm.load(str(path)) == json.loads(cm.dump(merged))


def test_bad_policy_names_are_rejected():
    with pytest.raises(ValueError):
        cm.merge(config(1), [config(2)], group_policy="bogus")
    with pytest.raises(ValueError):
        cm.merge(config(1), [config(2)], parameter_policy="bogus")


# The target's own configuration as a source: its objects share every UUID
# with the target, so without a check of the cluster's identity it would
# pass as "already merged" and the merge would report success.
@pytest.mark.parametrize("make_source, expected", [
    (copy.deepcopy, "cluster c1.lab (UUID cl-01) is the target itself"),
    (lambda t: dict(copy.deepcopy(t), cluster=dict(t["cluster"], cluster_name="renamed.lab")),
     "cluster renamed.lab (UUID cl-01) is the target itself"),
    (lambda t: dict(config(2, ["vm21.lab"]), cluster=dict(config(2)["cluster"], cluster_name="c1.lab")),
     "cluster c1.lab (UUID cl-02) is the target itself"),
], ids=["same-configuration", "same-uuid", "same-name"])
def test_the_target_itself_is_refused_as_a_source(make_source, expected):
    target = config(1, ["vm11.lab"])
    source = make_source(target)
    before = copy.deepcopy(target)
    with pytest.raises(cm.MergeRefused) as err:
        cm.merge(target, [config(3), source], group_policy="rename")
    assert [p for p in err.value.problems if expected in p], err.value.problems
    assert "remove its configuration from the sources" in str(err.value)
    assert str(err.value).startswith("refusing to merge into c1.lab, nothing was changed")
    assert target == before


def test_one_cluster_given_twice_is_refused():
    with pytest.raises(cm.MergeRefused, match="cluster c2.lab is given twice"):
        cm.merge(config(1), [config(2, ["vm21.lab"]), config(2, ["vm21.lab"])], group_policy="rename")


def test_identity_problems_accept_distinct_clusters():
    assert cm.identity_problems(config(1), [config(2), config(3)]) == []


def test_the_target_file_itself_is_refused_whatever_the_path(tmp_path):
    own = tmp_path / "config.data"
    own.write_text(cm.dump(config(1)), encoding="utf-8")
    other = tmp_path / "source-c2.lab.config.data"
    other.write_text(cm.dump(config(2)), encoding="utf-8")
    (tmp_path / "link").symlink_to(own)
    os.link(str(own), str(tmp_path / "hardlink"))
    cm.refuse_own_file(str(own), [str(other)], "c1.lab")
    for alias in (str(own), str(tmp_path / "link"), str(tmp_path / "hardlink"), str(tmp_path / "." / "config.data")):
        with pytest.raises(cm.MergeRefused, match="is the target's own configuration file"):
            cm.refuse_own_file(str(own), [str(other), alias], "c1.lab")
    with pytest.raises(cm.MergeRefused, match="is given twice"):
        cm.refuse_own_file(str(own), [str(other), str(other)], "c1.lab")


class _Exit(Exception):
    pass


def _run_module(monkeypatch, args):
    """Run cluster_config_merge; return (failed, result)."""
    def leave(failed):
        def exit_json(self, **kwargs):
            raise _Exit(failed, kwargs)
        return exit_json

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", leave(False))
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", leave(True))
    with patch_module_args(args):
        with pytest.raises(_Exit) as done:
            cluster_config_merge.main()
    return done.value.args


def test_module_refuses_the_target_file_as_a_source_and_changes_nothing(tmp_path, monkeypatch):
    own = tmp_path / "config.data"
    own.write_text(cm.dump(config(1, ["vm11.lab"])), encoding="utf-8")
    os.chmod(str(own), 0o640)
    before = (own.read_bytes(), os.stat(str(own)).st_mtime_ns, os.stat(str(own)).st_ino)
    failed, result = _run_module(monkeypatch, {"config_file": str(own), "sources": [str(own)]})
    assert failed and result["changed"] is False
    assert "refusing to merge into c1.lab, nothing was changed" in result["msg"]
    assert "is the target's own configuration file" in result["msg"]
    assert result["problems"] and "warnings" not in result
    assert (own.read_bytes(), os.stat(str(own)).st_mtime_ns, os.stat(str(own)).st_ino) == before
    assert sorted(os.listdir(str(tmp_path))) == ["config.data"]


def test_module_returns_merge_warnings_not_the_reserved_warnings_key(tmp_path, monkeypatch):
    own = tmp_path / "config.data"
    own.write_text(cm.dump(config(1, ["vm11.lab"])), encoding="utf-8")
    source = tmp_path / "source-c2.lab.config.data"
    source.write_text(cm.dump(config(2, ["vm21.lab"])), encoding="utf-8")
    failed, result = _run_module(monkeypatch, {"config_file": str(own), "sources": [str(source)],
                                               "group_policy": "rename", "_ansible_check_mode": True})
    assert not failed and result["changed"] is True
    assert "warnings" not in result
    assert any("mac_prefix" in w for w in result["merge_warnings"])
    assert result["nodes_to_readd"] == ["c2n1.lab", "c2n2.lab"]
    assert cm.load(str(own)) == config(1, ["vm11.lab"])


def test_merge_carries_the_merged_clusters_own_tags_but_not_the_collections_bookkeeping():
    target, c2 = config(1), config(2, ["vm21.lab"])
    target["cluster"]["tags"] = ["site:ams", "ganeti-fleet:merged:c9.lab"]
    c2["cluster"]["tags"] = ["site:ams", "owner:team-b", "ganeti-fleet:transfer-fix"]
    merged, report = cm.merge(target, [c2], group_policy="rename")
    assert merged["cluster"]["tags"] == ["site:ams", "ganeti-fleet:merged:c9.lab", "owner:team-b"]
    assert report["sources"][0]["cluster_tags"] == ["owner:team-b"]
