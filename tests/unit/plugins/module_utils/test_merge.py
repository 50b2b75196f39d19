# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy
import threading

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_checks as merge
from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_verify as verify
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import RapiClient


def instance(name, mac, ip=None, running=True, template="file", os_name="lab-dd", tags=(), memory=128):
    return {"name": name, "nic.macs": [mac], "nic.ips": [ip], "nic.networks.names": [None],
            "oper_state": running, "admin_state": "up" if running else "down", "disk_template": template,
            "disk.sizes": [256], "os": os_name, "hypervisor": "fake", "tags": list(tags),
            "beparams": {"maxmem": memory, "vcpus": 1}}


def cluster(name, instances=(), nodes=("n1",), groups=("default",), networks=(), version="3.0.2", tags=(),
            uuid=None, **info):
    base = {"name": name, "uuid": uuid or name + "-uuid", "software_version": version, "master": name + "-" + nodes[0],
            "protocol_version": 3000000, "config_version": 3000000,
            "enabled_disk_templates": ["file", "sharedfile", "diskless"], "enabled_hypervisors": ["fake"],
            "hvparams": {"fake": {"migration_mode": "live"}}, "beparams": {"default": {"maxmem": 128}},
            "nicparams": {"default": {"mode": "bridged", "link": "gnt-br0"}},
            "file_storage_dir": "/srv/ganeti/file-storage", "shared_file_storage_dir": "/srv/ganeti/shared",
            "volume_group_name": None, "default_iallocator": "hail"}
    base.update(info)
    return {"info": base, "instances": list(instances),
            "nodes": [{"name": "%s-%s" % (name, n), "group": groups[0], "offline": False} for n in nodes],
            "groups": [{"name": g} for g in groups], "networks": [{"name": n} for n in networks],
            "oses": ["lab-dd"], "tags": list(tags)}


def checks(result, severity="error"):
    return sorted({f["check"] for f in result["findings"] if f["severity"] == severity})


def test_compatible_clusters_give_a_plan_without_errors():
    target = cluster("a", [instance("vm1", "aa:01:00:00:00:01")])
    source = cluster("b", [instance("vm2", "aa:02:00:00:00:01"), instance("vm3", "aa:02:00:00:00:02", running=False)],
                     nodes=("n1", "n2"), groups=("grp",))
    result = merge.preflight(target, [source])
    assert merge.errors(result["findings"]) == []
    plan = result["plan"]["sources"][0]
    assert plan["state"] == "pending"
    assert plan["instances"] == ["vm2", "vm3"] and plan["running_instances"] == ["vm2"]
    assert plan["nodes"] == ["b-n1", "b-n2"]
    assert plan["group_map"] == {"grp": "grp"} and plan["new_groups"] == ["grp"]
    assert plan["node_groups"] == {"b-n1": "grp", "b-n2": "grp"}
    assert plan["record_tags"] == ["ganeti-fleet:merging:b", "ganeti-fleet:merge-node:b:b-n1:grp",
                                   "ganeti-fleet:merge-node:b:b-n2:grp"]
    assert plan["merged_tag"] == "ganeti-fleet:merged:b"
    assert result["plan"]["target"]["nodes"] == ["a-n1"]
    assert result["plan"]["transfer_fix_tag"] == "ganeti-fleet:transfer-fix"


@pytest.mark.parametrize("option", ["strategy", "group_policy", "parameter_policy"])
def test_an_unknown_policy_is_a_fleet_error_naming_the_known_ones(option):
    with pytest.raises(FleetError, match="unknown .* 'nope' \\(expected one of "):
        merge.preflight(cluster("a"), [cluster("b")], **{option: "nope"})


def test_name_mac_and_ip_clashes_are_errors_naming_both_sides():
    target = cluster("a", [instance("vm1", "aa:00:00:00:00:01", ip="10.0.0.5")], networks=("net1",))
    source = cluster("b", [instance("vm1", "aa:00:00:00:00:09"), instance("vm7", "aa:00:00:00:00:01", ip="10.0.0.5")],
                     networks=("net1",))
    source["nodes"][0]["name"] = "a-n1"
    result = merge.preflight(target, [source], group_policy="merge")
    assert checks(result) == ["instance-name", "ip", "mac", "network-name", "node-name"]
    by_check = {f["check"]: f for f in result["findings"]}
    assert "vm1" in by_check["instance-name"]["message"] and "gnt-instance rename" in by_check["instance-name"]["message"]
    assert by_check["mac"]["objects"] == ["aa:00:00:00:00:01", "vm1", "vm7"]
    assert "vm7 (b)" in by_check["mac"]["message"] and "vm1 (a)" in by_check["mac"]["message"]
    assert "10.0.0.5" in by_check["ip"]["message"]


def test_clashes_between_two_merged_clusters_are_found():
    target = cluster("a")
    b = cluster("b", [instance("vm5", "aa:00:00:00:00:05")])
    c = cluster("c", [instance("vm5", "aa:00:00:00:00:05")])
    result = merge.preflight(target, [b, c], group_policy="merge")
    assert checks(result) == ["instance-name", "mac"]
    assert all("(b)" in f["message"] or "in b" in f["message"] for f in merge.errors(result["findings"]))


def test_copies_of_an_earlier_run_are_not_clashes():
    source = cluster("b", [instance("vm2", "aa:02:00:00:00:01")])
    target = cluster("a", [instance("vm2", "aa:02:00:00:00:01", tags=["ganeti-fleet:source:b/vm2"])])
    assert merge.errors(merge.preflight(target, [source], group_policy="merge")["findings"]) == []
    foreign = cluster("a", [instance("vm2", "aa:02:00:00:00:01", tags=["ganeti-fleet:source:x/vm2"])])
    assert checks(merge.preflight(foreign, [source], group_policy="merge")) == ["instance-name", "mac"]


@pytest.mark.parametrize("policy, mapping, severity", [
    ("error", {}, "error"),
    ("rename", {"default": "default-b"}, "warning"),
    ("merge", {"default": "default"}, "warning"),
])
def test_group_policies(policy, mapping, severity):
    result = merge.preflight(cluster("a"), [cluster("b.example.org")], group_policy=policy)
    group_findings = [f for f in result["findings"] if f["check"] == "group-name"]
    assert [f["severity"] for f in group_findings] == [severity]
    plan = result["plan"]["sources"][0]
    if policy == "error":
        assert "Set the group policy to rename or merge" in group_findings[0]["message"]
    else:
        assert plan["group_map"] == mapping
        assert plan["node_groups"] == {"b.example.org-n1": mapping["default"]}
    assert plan["new_groups"] == (["default-b"] if policy == "rename" else [])


def test_rename_refuses_a_taken_name_and_two_sources_do_not_collide():
    mapping, new, findings = merge.plan_groups(["default", "default-b"], ["default"], "rename", "b.lab")
    assert mapping == {} and new == [] and findings[0]["severity"] == "error"
    mapping, new, findings = merge.plan_groups(["x"], ["g"], "error", "c.lab", taken=["g"])
    assert findings[0]["severity"] == "error" and "g" in findings[0]["objects"]


def test_parameters_strict_and_warn():
    target = cluster("a")
    source = cluster("b", nicparams={"default": {"mode": "bridged", "link": "br9"}})
    assert checks(merge.preflight(target, [source], group_policy="rename")) == ["parameter"]
    warned = merge.preflight(target, [source], group_policy="rename", parameter_policy="warn")
    assert merge.errors(warned["findings"]) == [] and "parameter" in checks(warned, "warning")
    hv = cluster("b", hvparams={"fake": {"migration_mode": "non-live"}})
    assert "hvparams/fake" in merge.preflight(target, [hv], group_policy="rename")["findings"][0]["objects"]


def test_in_place_needs_equal_storage_paths_hypervisors_and_versions():
    target = cluster("a")
    source = cluster("b", [instance("vm2", "aa:02:00:00:00:01")], file_storage_dir="/other",
                     enabled_hypervisors=["fake", "kvm"], version="3.0.1")
    move = merge.preflight(target, [source], group_policy="rename")
    assert checks(move) == [] and "version" in checks(move, "warning")
    # 3.0.1 and 3.0.2 share their protocol: Ganeti takes the nodes, the difference is only noted.
    in_place = merge.preflight(target, [source], strategy="in_place", group_policy="rename")
    assert checks(in_place) == ["hypervisor", "storage-path"] and "version" in checks(in_place, "warning")
    newer = cluster("b", [instance("vm2", "aa:02:00:00:00:01")], version="3.1.0", protocol_version=3010000,
                    config_version=3010000)
    refused = merge.preflight(target, [newer], strategy="in_place", group_policy="rename")
    assert checks(refused) == ["version"]
    assert "cannot be merged in place" in " ".join(f["message"] for f in refused["findings"] if f["check"] == "version")
    # The shared file storage path only matters when an instance uses it.
    shared_only = cluster("b", [instance("vm2", "aa:02:00:00:00:01")], shared_file_storage_dir="/elsewhere")
    assert checks(merge.preflight(target, [shared_only], strategy="in_place", group_policy="rename")) == []


def test_in_place_across_versions_follows_ganeti_protocol_versions():
    target = cluster("a", version="3.1.0~rc2", protocol_version=3010000, config_version=3010000)
    older = cluster("b", version="3.0.2", protocol_version=3000000, config_version=3000000)
    refused = merge.preflight(target, [older], strategy="in_place", group_policy="rename")
    [finding] = [f for f in refused["findings"] if f["check"] == "version"]
    assert finding["severity"] == "error" and finding["objects"] == ["a", "b"]
    assert "protocol_version 3010000 on the target, 3000000 on the source" in finding["message"]
    assert "playbooks/move_instances.yml" in finding["message"]
    # The move strategy would move the instances, then fail to add the emptied cluster's nodes: refused too.
    moved = merge.preflight(target, [older], group_policy="rename")
    [finding] = [f for f in moved["findings"] if f["check"] == "version"]
    assert finding["severity"] == "error"
    assert "the nodes of b cannot join a afterwards (protocol_version 3010000 on the target" in finding["message"]
    # Without the node handover, the instances move across and the merged cluster keeps its nodes.
    apart = merge.preflight(target, [older], group_policy="rename", node_handover=False)
    [finding] = [f for f in apart["findings"] if f["check"] == "version"]
    assert finding["severity"] == "warning" and "the nodes of b stay in it, emptied" in finding["message"]
    assert merge.errors(apart["findings"]) == [] and apart["plan"]["sources"][0]["state"] == "pending"
    with pytest.raises(FleetError, match="node_handover=false applies to the move strategy only"):
        merge.preflight(target, [older], strategy="in_place", group_policy="rename", node_handover=False)
    # A pre-release and its release share the protocol: Ganeti adds the nodes, so only a warning.
    release = cluster("b", version="3.1.0", protocol_version=3010000, config_version=3010000)
    same_protocol = merge.preflight(target, [release], strategy="in_place", group_policy="rename")
    assert "version" not in checks(same_protocol) and "version" in checks(same_protocol, "warning")


def test_instances_the_target_cannot_run_and_offline_nodes():
    target = cluster("a", enabled_disk_templates=["file"])
    target["oses"] = ["other"]
    source = cluster("b", [instance("vm2", "aa:02:00:00:00:01", template="sharedfile")])
    source["nodes"][0]["offline"] = True
    source["instances"][0]["hypervisor"] = "kvm"
    assert checks(merge.preflight(target, [source], group_policy="rename")) == [
        "disk-template", "hypervisor", "node-offline", "os"]


def test_a_cluster_cannot_be_merged_into_itself_or_twice():
    target = cluster("a")
    assert checks(merge.preflight(target, [cluster("a")])) == ["cluster"]
    b = cluster("b")
    assert checks(merge.preflight(target, [b, copy.deepcopy(b)], group_policy="rename")) == ["cluster"]


def test_unreachable_source_is_fine_only_when_the_target_recorded_it():
    gone = {"name": "b", "error": "connection refused", "host": "b-master"}
    result = merge.preflight(cluster("a"), [gone])
    assert checks(result) == ["unreachable"] and "connection refused" in result["findings"][0]["message"]
    merged = merge.preflight(cluster("a", tags=["ganeti-fleet:merged:b"]), [gone])
    assert merge.errors(merged["findings"]) == [] and merged["plan"]["sources"][0]["state"] == "merged"
    tags = merge.record_tags("b", {"b-n1": "default", "b-n2": "g2"})
    resumed = merge.preflight(cluster("a", tags=tags), [gone])
    plan = resumed["plan"]["sources"][0]
    assert plan["state"] == "in_progress" and plan["host"] == "b-master"
    assert plan["node_groups"] == {"b-n1": "default", "b-n2": "g2"} and plan["new_groups"] == ["g2"]
    assert plan["record_tags"] == tags and plan["merged_tag"] == "ganeti-fleet:merged:b"


def test_pending_nodes_are_read_from_the_tags_of_that_cluster_only():
    tags = (merge.record_tags("b", {"b-n1": "default", "b-n2": "g2"})
            + merge.record_tags("bb", {"bb-n1": "default"}) + ["ganeti-fleet:merge-node:b:broken", "other"])
    assert merge.pending_nodes(tags, "b") == {"b-n1": "default", "b-n2": "g2"}
    assert merge.pending_nodes(tags, "bb") == {"bb-n1": "default"}
    assert merge.pending_nodes(tags, "c") == {}


def test_nodes_already_taken_out_stay_in_the_plan():
    tags = merge.record_tags("b", {"b-n1": "default", "b-n2": "default"})
    source = cluster("b")  # b-n2 was removed from b by the interrupted run
    plan = merge.preflight(cluster("a", tags=tags), [source], group_policy="merge")["plan"]["sources"][0]
    assert plan["state"] == "in_progress" and plan["nodes"] == ["b-n1", "b-n2"]


def test_snapshot_comparison_reports_what_was_lost():
    a = cluster("a", [instance("vm1", "aa:01:00:00:00:01")])
    b = cluster("b", [instance("vm2", "aa:02:00:00:00:01", tags=["web"]),
                      instance("vm3", "aa:02:00:00:00:02", running=False)], networks=("n1",))
    before = [verify.snapshot(a), verify.snapshot(b)]
    merged = cluster("a", [instance("vm1", "aa:01:00:00:00:01"),
                           instance("vm2", "aa:02:00:00:00:01", tags=["web", "ganeti-fleet:source:b/vm2"]),
                           instance("vm3", "aa:02:00:00:00:02", running=False)],
                     nodes=("n1",), groups=("default", "default-b"), networks=("n1",))
    merged["nodes"].append({"name": "b-n1", "group": "default-b"})
    assert verify.compare_snapshot(before, verify.snapshot(merged), {"b": {"default": "default-b"}}) == []

    broken = copy.deepcopy(merged)
    broken["instances"][1]["tags"] = []
    broken["instances"][2]["oper_state"] = True
    broken["instances"][2]["admin_state"] = "up"
    del broken["instances"][0]
    broken["nodes"].pop()
    broken["networks"] = []
    differences = verify.compare_snapshot(before, verify.snapshot(broken), {"b": {"default": "default-b"}})
    assert differences == [
        "instance vm1 (from a) is missing",
        "instance vm2 (from b): tags lost: web",
        "instance vm3 (from b): admin_state was 'down', is 'up'",
        "instance vm3 (from b): running was False, is True",
        "node b-n1 (from b) is not a node of a",
        "network n1 (from b) is missing",
    ]
    assert verify.compare_snapshot(before, verify.snapshot(merged), {"b": {"default": "other"}}) == [
        "node group default (from b, expected as other) is missing",
        "node b-n1 (from b): group is 'default-b', expected 'other'"]
    # Without the node handover, the merged cluster keeps its nodes; the target's own still count.
    kept = copy.deepcopy(merged)
    kept["nodes"].pop()
    assert verify.compare_snapshot(before, verify.snapshot(kept), {"b": {"default": "default-b"}},
                                   node_handover=False) == []
    kept["nodes"].pop(0)
    assert verify.compare_snapshot(before, verify.snapshot(kept), {"b": {"default": "default-b"}},
                                   node_handover=False) == ["node a-n1 (from a) is not a node of a"]


class FakeClient:
    def __init__(self, answers):
        self.answers = answers

    def get_info(self):
        return {"name": "a"}

    def list_instances(self, bulk=True):
        return [{"name": "vm1"}]

    def list_nodes(self, bulk=True):
        return [{"name": "n1", "group.uuid": "u1"}]

    def list_groups(self, bulk=True):
        return [{"name": "default"}]

    def get_tags(self, kind, name=None):
        return ["t"]

    def get(self, path, query=None):
        return self.answers[path]

    def list_os_names(self):
        return list(self.answers["/2/os"])


def test_read_cluster_fills_in_what_bulk_queries_lack():
    client = FakeClient({
        "/2/query/instance": {"data": [[[0, "vm1"], [0, "fake"]]]},
        "/2/query/group": {"data": [[[0, "default"], [0, "u1"]]]},
        "/2/query/node": {"data": [[[0, "n1"], [0, {"spindle_count": 2}]]]},
        "/2/os": ["lab-dd"],
        "/2/networks": [],
    })
    data = merge.read_cluster(client)
    assert data["instances"][0]["hypervisor"] == "fake"
    assert data["nodes"][0]["group"] == "default" and data["nodes"][0]["custom_ndparams"] == {"spindle_count": 2}
    assert data["tags"] == ["t"] and data["oses"] == ["lab-dd"]


def test_only_stopped_file_based_instances_within_the_limit_are_hashed():
    data = cluster("b", [instance("run", "m1"), instance("stop", "m2", running=False),
                         instance("big", "m3", running=False), instance("drbd", "m4", running=False, template="drbd"),
                         instance("shared", "m5", running=False, template="sharedfile")])
    data["instances"][2]["disk.sizes"] = [4096, 4096]
    assert merge.hash_candidates(data, 1024) == ["shared", "stop"]
    assert merge.hash_candidates(data, 8192) == ["big", "shared", "stop"]


class JobClient:
    """Answers static instance data jobs like Ganeti does (one result dict keyed by instance)."""

    query_instance = RapiClient.query_instance
    instance_path = staticmethod(RapiClient.instance_path)

    def __init__(self, disks):
        self.disks = disks
        self.submitted = []

    def submit(self, method, path, query=None):
        self.submitted.append((method, path, query))
        return path.split("/")[3]

    def wait_for_job(self, job_id):
        return {"opresult": [{job_id: {"pnode": "n-" + job_id, "disks": self.disks[job_id]}}]}


def test_disk_locations_reads_the_static_instance_data():
    client = JobClient({
        "vm1": [{"dev_type": "file", "logical_id": ["loop", "/srv/f/vm1/a.file.disk0"]},
                {"dev_type": "sharedfile", "logical_id": ["loop", "/srv/s/vm1/b.file.disk1"]}],
        "vm2": [{"dev_type": "plain", "logical_id": ["xenvg", "lv"]}],
    })
    assert merge.disk_locations(client, "b", ["vm1", "vm2"]) == [
        {"cluster": "b", "instance": "vm1", "index": 0, "node": "n-vm1", "path": "/srv/f/vm1/a.file.disk0"},
        {"cluster": "b", "instance": "vm1", "index": 1, "node": "n-vm1", "path": "/srv/s/vm1/b.file.disk1"},
    ]
    assert client.submitted[0] == ("GET", "/2/instances/vm1/info", {"static": 1})


class ClusterClient(FakeClient):
    """A cluster's RAPI for read_clusters: answers, or fails like a RAPI that is gone."""

    BULK = {"/2/query/instance": {"data": [[[0, "vm1"], [0, "fake"]]]},
            "/2/query/group": {"data": [[[0, "default"], [0, "u1"]]]}, "/2/os": [], "/2/networks": [],
            "/2/query/node": {"data": [[[0, "n1"], [0, {}]]]}}

    def __init__(self, name, tags=(), failure=None, before_failing=None):
        super().__init__(self.BULK)
        self.name, self.tags, self.failure, self.before_failing = name, list(tags), failure, before_failing

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def get_info(self):
        if self.failure:
            if self.before_failing:
                self.before_failing()
            raise merge.RapiError("cannot reach %s" % self.name, kind=self.failure)
        return {"name": self.name}

    def get_tags(self, kind, name=None):
        return self.tags


def connector(clients, contacted):
    def connect(options):
        contacted.append(options["name"])
        return clients[options["name"]]
    return connect


def test_read_clusters_asks_the_silent_merged_clusters_at_the_same_time():
    # Each silent RAPI waits for the other before failing: read one after the
    # other, the barrier breaks and the test fails.
    both_asked = threading.Barrier(2, timeout=5)
    clients = {"a": ClusterClient("a", tags=["ganeti-fleet:merged:c"]),
               "b": ClusterClient("b", failure="connection", before_failing=both_asked.wait),
               "c": ClusterClient("c"),
               "d": ClusterClient("d", failure="timeout", before_failing=both_asked.wait)}
    contacted = []
    sources = [{"name": n, "host": n + "-master"} for n in ("b", "c", "d")]
    clusters, locations = merge.read_clusters({"name": "a"}, sources, connector(clients, contacted))
    assert [c.get("name") or c["info"]["name"] for c in clusters] == ["a", "b", "c", "d"]
    assert clusters[1] == {"name": "b", "error": "cannot reach b", "host": "b-master"}
    assert clusters[2] == {"name": "c", "error": "merged earlier", "host": "c-master"}
    assert "cannot reach d" in clusters[3]["error"]
    assert "c" not in contacted and locations == []


def test_read_clusters_fails_on_the_target_and_on_answers_that_are_errors():
    clients = {"a": ClusterClient("a", failure="connection"), "b": ClusterClient("b")}
    with pytest.raises(merge.RapiError, match="cannot reach a"):
        merge.read_clusters({"name": "a"}, [{"name": "b"}], connector(clients, []))
    clients = {"a": ClusterClient("a"), "b": ClusterClient("b", failure="http")}
    with pytest.raises(merge.RapiError, match="cannot reach b"):
        merge.read_clusters({"name": "a"}, [{"name": "b"}], connector(clients, []))


def test_read_clusters_locates_the_disks_to_hash_on_every_answering_cluster(monkeypatch):
    clients = {"a": ClusterClient("a"), "b": ClusterClient("b")}
    monkeypatch.setattr(merge, "hash_candidates", lambda data, limit: ["vm-" + data["info"]["name"]])
    monkeypatch.setattr(merge, "disk_locations", lambda client, name, names: [(name, names)])
    clusters, locations = merge.read_clusters({"name": "a"}, [{"name": "b"}], connector(clients, []),
                                              hash_disks_up_to=64)
    assert [c["host"] for c in clusters] == [None, None]
    assert locations == [("a", ["vm-a"]), ("b", ["vm-b"])]
