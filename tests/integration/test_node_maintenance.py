"""The node_maintenance role on a real Ganeti 3.0.2 cluster of three nodes.

Runs on the pool lab (see ``nodelab``): one cluster, three nodes, nothing
else on it, so no instance of another test stands in the way. Instances use
the ``sharedfile`` template (the directory is shared by the nodes of a lab
cluster, so they can migrate) and names from vm61.lab to vm69.lab. Results
are checked with the Ganeti command line.
"""

import pytest

from fleetlab import helpers
from nodelab import (
    changed_count,
    instances,
    network_of,
    node_tags,
    ok,
    pool_lab,
    result_of,
    role,
    run_role,
    set_role_cli,
    snapshot,
)

PREVIOUS_ROLE = "ganeti-fleet:maintenance-previous-role:"
MOVED_FROM = "ganeti-fleet:maintenance-moved-from:"
NAMES = ["vm%02d.lab" % i for i in range(61, 70)]


@pytest.fixture(scope="module")
def pool_cluster(lab, request):
    other = pool_lab(request)
    yield other
    for name in NAMES:
        helpers.remove_instance(other, "c1", name)
    for node in other.cluster("c1")["nodes"]:
        tags = [t for t in node_tags(other, "c1", node) if t.startswith(PREVIOUS_ROLE)]
        if tags:
            other.gnt("c1", "gnt-node", "remove-tags", node, *tags)
    for node in other.cluster("c1")["nodes"][1:]:
        set_role_cli(other, "c1", node, "master-candidate")


@pytest.fixture
def pool(lab, pool_cluster):
    """The pool lab with this test in its network; its instances removed afterwards."""
    with network_of(pool_cluster, lab):
        yield pool_cluster
    for name in NAMES:
        if name in instances(pool_cluster, "c1"):
            helpers.remove_instance(pool_cluster, "c1", name)


def make(lab, name, node, start=True, template="sharedfile"):
    helpers.create_instance(lab, "c1", name, size_mib=8, template=template, node=node, start=start,
                            memory_mib=64, random_bytes=False)


def test_out_and_back_in_with_running_and_stopped_instances(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n2.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n3.lab", "master-candidate")
    make(lab, "vm61.lab", "c1n3.lab")
    make(lab, "vm62.lab", "c1n3.lab", start=False)
    before = snapshot(lab, "c1")

    # Check mode: Ganeti's dry runs, no change.
    checked = ok(run_role(lab, tmp_path, node="c1n3", state="out", check=True))
    assert changed_count(checked) > 0
    assert snapshot(lab, "c1") == before

    out = ok(run_role(lab, tmp_path, node="c1n3", state="out"))
    assert changed_count(out) == 3  # tag, drain, evacuation
    assert role(lab, "c1", "c1n3.lab") == "drained"
    assert node_tags(lab, "c1", "c1n3.lab") == [PREVIOUS_ROLE + "master-candidate"]
    found = instances(lab, "c1")
    assert found["vm61.lab"][:2] == (found["vm61.lab"][0], "running") and found["vm61.lab"][0] != "c1n3.lab"
    assert found["vm62.lab"][:2] == (found["vm62.lab"][0], "ADMIN_down") and found["vm62.lab"][0] != "c1n3.lab"
    for name in ("vm61.lab", "vm62.lab"):
        assert MOVED_FROM + "c1n3.lab" in found[name][2]
    moved = result_of(out, "Move the instances off the node")["moved"]
    assert {(m["name"], m["method"]) for m in moved} == {("vm61.lab", "migrate"), ("vm62.lab", "failover")}

    again = ok(run_role(lab, tmp_path, node="c1n3", state="out"))
    assert changed_count(again) == 0, again.output

    # Check mode on the way back, with the moves back: still no change.
    middle = snapshot(lab, "c1")
    ok(run_role(lab, tmp_path, node="c1n3", state="in", rebalance=True, check=True))
    assert snapshot(lab, "c1") == middle

    back = ok(run_role(lab, tmp_path, node="c1n3", state="in", rebalance=True))
    assert changed_count(back) == 3  # role, moves back, tag
    assert role(lab, "c1", "c1n3.lab") == "master-candidate"
    assert node_tags(lab, "c1", "c1n3.lab") == []
    found = instances(lab, "c1")
    assert found["vm61.lab"] == ("c1n3.lab", "running", ())
    assert found["vm62.lab"] == ("c1n3.lab", "ADMIN_down", ())

    again = ok(run_role(lab, tmp_path, node="c1n3", state="in", rebalance=True))
    assert changed_count(again) == 0, again.output


def test_offline_and_back_to_regular_without_rebalance(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n3.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n2.lab", "regular")
    make(lab, "vm63.lab", "c1n2.lab")

    out = ok(run_role(lab, tmp_path, node="c1n2", state="out", offline=True))
    assert changed_count(out) == 4  # tag, drain, evacuation, offline
    assert role(lab, "c1", "c1n2.lab") == "offline"
    assert node_tags(lab, "c1", "c1n2.lab") == [PREVIOUS_ROLE + "regular"]
    pnode, status, _ = instances(lab, "c1")["vm63.lab"]
    assert pnode != "c1n2.lab" and status == "running"
    assert changed_count(ok(run_role(lab, tmp_path, node="c1n2", state="out", offline=True))) == 0

    back = ok(run_role(lab, tmp_path, node="c1n2", state="in"))
    restored = result_of(back, "Bring the node back in its role")
    # Leaving offline made it a master candidate (the pool was short); it was demoted again.
    assert restored["actions"] == ["change role from offline to regular",
                                   "demote from master-candidate to regular"], restored
    assert role(lab, "c1", "c1n2.lab") == "regular"
    assert node_tags(lab, "c1", "c1n2.lab") == []
    # No rebalance: the instance stays, its record is gone.
    assert instances(lab, "c1")["vm63.lab"] == (pnode, "running", ())
    assert changed_count(ok(run_role(lab, tmp_path, node="c1n2", state="in"))) == 0


def test_unmovable_instance_stops_everything_unless_allowed(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n2.lab", "master-candidate")
    make(lab, "vm64.lab", "c1n2.lab", template="file")
    make(lab, "vm65.lab", "c1n2.lab")
    before = snapshot(lab, "c1")

    refused = run_role(lab, tmp_path, node="c1n2", state="out")
    assert refused.rc != 0
    failed = result_of(refused, "Check that every instance can leave the node (dry runs, changes nothing)")
    assert "vm64.lab (disk template file allows neither migration nor failover" in failed["msg"]
    assert "allow_unmovable" in failed["msg"] and "vm65.lab" not in failed["msg"]
    assert snapshot(lab, "c1") == before

    out = ok(run_role(lab, tmp_path, node="c1n2", state="out", allow_unmovable=True))
    evacuation = result_of(out, "Move the instances off the node")
    assert [u["name"] for u in evacuation["unmovable"]] == ["vm64.lab"]
    assert [m["name"] for m in evacuation["moved"]] == ["vm65.lab"]
    assert role(lab, "c1", "c1n2.lab") == "drained"
    found = instances(lab, "c1")
    assert found["vm64.lab"][:2] == ("c1n2.lab", "running")
    assert found["vm65.lab"][0] != "c1n2.lab" and found["vm65.lab"][1] == "running"
    assert changed_count(ok(run_role(lab, tmp_path, node="c1n2", state="out", allow_unmovable=True))) == 0

    ok(run_role(lab, tmp_path, node="c1n2", state="in", rebalance=True))
    assert role(lab, "c1", "c1n2.lab") == "master-candidate"
    found = instances(lab, "c1")
    assert found["vm65.lab"] == ("c1n2.lab", "running", ())
    assert found["vm64.lab"] == ("c1n2.lab", "running", ())


def test_master_is_refused(pool, tmp_path):
    lab = pool
    before = snapshot(lab, "c1")
    refused = run_role(lab, tmp_path, node="c1n1", state="out")
    assert refused.rc != 0
    failed = result_of(refused, "Refuse the master node")
    assert "c1n1.lab is the master node" in failed["msg"]
    assert "gnt-cluster master-failover" in failed["msg"] and "ganeti.fleet.master_failover" in failed["msg"]
    assert snapshot(lab, "c1") == before
