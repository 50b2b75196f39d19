"""Cluster merge (move strategy): name and MAC clashes resolved by policy, and the capacity pre-flight.

c3 holds an instance named like one of c1 and one whose MAC one of c1 uses.
An instance c1 has no room for is refused by the pre-flight before anything
changes; without it, the merge with the rename and generate policies moves
everything, and a second run changes nothing.
"""

import json
import os
import re

import pytest

from fleetlab import helpers
from fleettest import REPO, run_playbook

PLAYBOOK = os.path.join(REPO, "playbooks", "merge_clusters.yml")
PATTERN = "{short}-{cluster}{suffix}"


def merge(lab, **extra):
    extra_vars = {
        "cluster_merge_target": lab.cluster("c1")["master"],
        "cluster_merge_sources": [lab.cluster("c3")["master"]],
        "cluster_merge_group_policy": "rename",
        "cluster_merge_verify_ignore_errors": ["ENODESETUP"],
        "cluster_merge_instance_name_policy": "rename",
        "cluster_merge_rename_pattern": PATTERN,
        "cluster_merge_mac_policy": "generate",
    }
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra_vars)


def state(lab, clusters=("c1", "c3")):
    return {c: {"instances": helpers.list_instances(lab, c), "nodes": helpers.list_nodes(lab, c),
                "tags": sorted(lab.gnt(c, "gnt-cluster", "list-tags").split())} for c in clusters}


def task_results(result, prefix):
    """The localhost result of the one task whose name starts with PREFIX."""
    found = [task["hosts"]["localhost"] for play in json.loads(result.stdout)["plays"] for task in play["tasks"]
             if task["task"]["name"].startswith(prefix)]
    assert len(found) == 1, [task["task"]["name"] for play in json.loads(result.stdout)["plays"]
                             for task in play["tasks"]]
    return found[0]


def changed(result):
    return sum(host["changed"] for host in result.stats().values())


@pytest.fixture(scope="module")
def populated(three_clusters):
    """c1: vm01 and vm02; c3: vm01 (name clash) and vm33 (MAC of c1's vm02). Disk hashes and MACs."""
    lab = three_clusters
    digests = {
        ("c1", "vm01.lab"): helpers.create_instance(lab, "c1", "vm01.lab", size_mib=16),
        ("c1", "vm02.lab"): helpers.create_instance(lab, "c1", "vm02.lab", size_mib=16, start=False),
        ("c3", "vm01.lab"): helpers.create_instance(lab, "c3", "vm01.lab", size_mib=32, start=False),
        ("c3", "vm33.lab"): helpers.create_instance(lab, "c3", "vm33.lab", size_mib=16, start=False),
    }
    clash_mac = [i for i in helpers.list_instances(lab, "c1") if i["name"] == "vm02.lab"][0]["macs"][0]
    lab.gnt("c3", "gnt-instance", "modify", "--net", "0:mac=%s" % clash_mac, "vm33.lab")
    return {"digests": digests, "clash_mac": clash_mac}


def test_capacity_refusal_changes_nothing(three_clusters, populated):
    """An instance whose disk (sparse, so it costs nothing here) exceeds c1's free file storage."""
    lab = three_clusters
    free = sum(int(n) for n in lab.gnt("c1", "gnt-node", "list", "--no-headers", "--units=m", "-o", "dfree").split())
    # Twice c1's free space: the nodes' file storage shares the machine's file system, whose free
    # space moves by gigabytes while other work runs, so a margin of one GiB can vanish by the pre-flight.
    lab.gnt("c3", "gnt-instance", "add", "-t", "file", "-o", "lab-dd", "--disk", "0:size=%dM" % (2 * free),
            "-B", "memory=32M", "--no-name-check", "--no-ip-check", "--no-start", "--no-install", "-n", "c3n1.lab",
            "vm39.lab")
    try:
        before = state(lab)
        result = merge(lab)
        assert result.rc != 0
        message = result.task_results("Pre-flight (reads every cluster, changes nothing)")["localhost"]["msg"]
        assert "Disk (file storage): the instances that would move to c1.lab need" in message, message
        assert "vm39.lab" in message and "short" in message, message
        assert state(lab) == before
    finally:
        helpers.remove_instance(lab, "c3", "vm39.lab")


def test_merge_renames_and_generates(three_clusters, populated):
    lab = three_clusters
    before = state(lab)
    result = merge(lab)
    assert result.rc == 0, result.output[-8000:]
    after = {i["name"]: i for i in helpers.list_instances(lab, "c1")}
    renamed = PATTERN.format(short="vm01", cluster="c3", suffix=".lab")
    assert renamed in after
    assert helpers.hash_instance_disk(lab, "c1", renamed) == populated["digests"][("c3", "vm01.lab")]
    assert "ganeti-fleet:source:c3.lab/vm01.lab" in after[renamed]["tags"]
    # c1's own instances are untouched: bytes, MACs, states.
    for old in before["c1"]["instances"]:
        now = after[old["name"]]
        assert (now["macs"], now["status"], now["tags"]) == (old["macs"], old["status"], old["tags"])
        assert helpers.hash_instance_disk(lab, "c1", old["name"]) == populated["digests"][("c1", old["name"])]
    # The MAC-clashing instance moved with a new MAC, its data intact.
    assert after["vm33.lab"]["macs"] and after["vm33.lab"]["macs"][0] != populated["clash_mac"]
    assert len({m for i in after.values() for m in i["macs"]}) == sum(len(i["macs"]) for i in after.values())
    assert helpers.hash_instance_disk(lab, "c1", "vm33.lab") == populated["digests"][("c3", "vm33.lab")]
    assert {"c3n1.lab", "c3n2.lab"} <= {n["name"] for n in helpers.list_nodes(lab, "c1")}
    # The moves' progress: one line per finished move, no retry noise.
    assert "FAILED - RETRYING" not in result.output
    waited = task_results(result, "Wait for the moves of")
    assert sorted(r["label"] for r in waited["results"]) == ["vm01.lab as %s" % renamed, "vm33.lab"]
    progress = re.findall(r"^\[\d/2\] (.+): changed in \d+ s$", result.stderr, re.M)
    assert sorted(progress) == ["vm01.lab as %s" % renamed, "vm33.lab"], result.stderr[-3000:]

    again = merge(lab)
    assert again.rc == 0, again.output[-8000:]
    assert changed(again) == 0
    assert {i["name"]: i for i in helpers.list_instances(lab, "c1")} == after
