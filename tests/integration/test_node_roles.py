"""ganeti.fleet.node and ganeti.fleet.master_failover on real Ganeti 3.0.2 clusters.

Every result is checked against the Ganeti command line on the master
(``gnt-node list``), the ground truth.

* Role transitions, refusals and check mode use node c2n2 of the session
  lab's cluster c2 (two nodes: c1 is left alone), which is put back as it
  was found.
* The candidate-pool cases (a demotion Ganeti refuses without
  auto-promotion, a promotion of another node, ganeti/ganeti#1682) and the
  master failover need three nodes: they run on the pool lab (see
  ``nodelab``).

With two or three nodes and Ganeti's default candidate_pool_size of 10,
every master capable node that is neither drained nor offline "should" be a
candidate: Ganeti promotes a node leaving drained or offline by itself, and
refuses to demote a candidate when another eligible node is not one. The
tests set up each starting state explicitly and never rely on what Ganeti
did before.
"""

import itertools

import pytest

from fleetlab import helpers
from nodelab import (
    network_of,
    node_task,
    nodes,
    ok,
    play,
    pool_lab,
    result_of,
    role,
    set_role_cli,
    snapshot,
)

ROLES = ["master-candidate", "regular", "drained", "offline"]
NODE = "c2n2.lab"
MASTER = "c2n1.lab"
INSTANCE = "vm70.lab"


@pytest.fixture(scope="module")
def c2(lab):
    """Cluster c2 of the session lab; its nodes are put back as found."""
    found = nodes(lab, "c2")
    yield lab
    for name, (wanted, master_capable, vm_capable) in found.items():
        if name != MASTER and nodes(lab, "c2")[name] != (wanted, master_capable, vm_capable):
            set_role_cli(lab, "c2", name, wanted, master_capable, vm_capable)
    assert nodes(lab, "c2") == found


@pytest.fixture(scope="module")
def pool_cluster(lab, request):
    """The pool lab; its nodes are master candidates again at the end."""
    other = pool_lab(request)
    yield other
    for name in other.cluster("c1")["nodes"][1:]:
        set_role_cli(other, "c1", name, "master-candidate")


@pytest.fixture
def pool(lab, pool_cluster):
    """The pool lab, with this test (and its playbooks) in its network."""
    with network_of(pool_cluster, lab):
        yield pool_cluster


# ----------------------------------------------------------------------
# Every transition, run twice (session lab, c2)


@pytest.mark.parametrize("start,goal", list(itertools.product(ROLES, ROLES)),
                         ids=["%s-to-%s" % pair for pair in itertools.product(ROLES, ROLES)])
def test_transition(c2, tmp_path, start, goal):
    lab = c2
    flags_before = nodes(lab, "c2")[NODE][1:]
    result = ok(play(lab, tmp_path, [
        node_task("start", name=NODE, role=start),
        node_task("first", name=NODE, role=goal),
        node_task("second", name=NODE, role=goal),
    ], cluster="c2"))
    first, second = result_of(result, "first"), result_of(result, "second")
    assert first["role_before"] == start
    assert first["changed"] is (start != goal), first
    assert first["role"] == goal
    assert second["changed"] is False, second
    assert second["actions"] == [] and second["job_ids"] == []
    assert second["role"] == goal
    assert role(lab, "c2", NODE) == goal
    assert nodes(lab, "c2")[NODE][1:] == flags_before
    assert role(lab, "c2", MASTER) == "master"


# ----------------------------------------------------------------------
# Refusals and check mode (session lab, c2)


def test_master_role_is_refused_and_nothing_changes(c2, tmp_path):
    lab = c2
    before = snapshot(lab, "c2")
    result = play(lab, tmp_path, [
        node_task("master", ignore_errors=True, name=MASTER, role="drained"),
        node_task("master in check mode", ignore_errors=True, name=MASTER, role="regular"),
        node_task("master not master capable", ignore_errors=True, name=MASTER, master_capable=False),
    ], cluster="c2")
    ok(result)
    for task in ("master", "master in check mode"):
        failed = result_of(result, task)
        assert failed["failed"] is True and failed["changed"] is False
        assert "is the master" in failed["msg"]
        assert "gnt-cluster master-failover" in failed["msg"]
        assert "ganeti.fleet.master_failover" in failed["msg"]
        assert failed["job_ids"] == []
    assert "must remain master capable" in result_of(result, "master not master capable")["msg"]
    assert snapshot(lab, "c2") == before


def test_vm_capable_false_with_instances_is_refused(c2, tmp_path):
    lab = c2
    set_role_cli(lab, "c2", NODE, "master-candidate")
    helpers.create_instance(lab, "c2", INSTANCE, size_mib=8, template="sharedfile", node=NODE,
                            random_bytes=False)
    try:
        before = snapshot(lab, "c2")
        result = ok(play(lab, tmp_path, [
            node_task("vm_capable", ignore_errors=True, name=NODE, vm_capable=False),
            node_task("vm_capable with a role", ignore_errors=True, name=NODE, role="regular",
                      vm_capable=False),
        ], cluster="c2"))
        for task in ("vm_capable", "vm_capable with a role"):
            failed = result_of(result, task)
            assert failed["failed"] is True and failed["changed"] is False
            assert "hosts instances (%s)" % INSTANCE in failed["msg"], failed["msg"]
            assert "refuses vm_capable=false" in failed["msg"]
            assert failed["job_ids"] == []
        assert snapshot(lab, "c2") == before
    finally:
        helpers.remove_instance(lab, "c2", INSTANCE)


def test_check_mode_changes_nothing(c2, tmp_path):
    lab = c2
    set_role_cli(lab, "c2", NODE, "master-candidate")
    before = snapshot(lab, "c2")
    tasks = [
        node_task("drain", name=NODE, role="drained"),
        node_task("offline", name=NODE, role="offline"),
        node_task("regular", name=NODE, role="regular"),
        node_task("flags", name=NODE, master_capable=False, vm_capable=False),
        node_task("regular and not master capable", name=NODE, role="regular", master_capable=False),
        node_task("same", name=NODE, role="master-candidate"),
    ]
    result = ok(play(lab, tmp_path, tasks, cluster="c2", check=True, diff=True))
    drain = result_of(result, "drain")
    assert drain["changed"] is True and drain["role"] == "drained"
    assert drain["diff"] == {"before": {"role": "master-candidate", "master_capable": True, "vm_capable": True},
                             "after": {"role": "drained", "master_capable": True, "vm_capable": True}}
    assert len(drain["job_ids"]) == 1  # the dry run
    assert result_of(result, "offline")["role"] == "offline"
    assert result_of(result, "regular")["role"] == "regular"
    flags = result_of(result, "flags")
    assert (flags["role"], flags["master_capable"], flags["vm_capable"]) == ("regular", False, False)
    both = result_of(result, "regular and not master capable")
    assert both["actions"] == ["demote from master-candidate to regular", "set master_capable=false"]
    same = result_of(result, "same")
    assert same["changed"] is False and same["job_ids"] == []
    assert snapshot(lab, "c2") == before


# ----------------------------------------------------------------------
# The candidate pool (three nodes)


def test_demotion_needs_auto_promote_when_the_pool_would_be_short(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n2.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n3.lab", "regular")
    before = snapshot(lab, "c1")
    refused = ok(play(lab, tmp_path, [
        node_task("refused", ignore_errors=True, name="c1n2", role="regular", auto_promote=False),
        node_task("refused in check mode", ignore_errors=True, name="c1n2", role="drained",
                  auto_promote=False),
    ], check=False))
    failed = result_of(refused, "refused")
    assert failed["failed"] is True and failed["changed"] is False and failed["job_ids"] == []
    assert "would leave 1 master candidate(s) where the candidate pool needs 2" in failed["msg"]
    assert "candidate_pool_size 10" in failed["msg"] and "auto_promote: true" in failed["msg"]
    assert "auto_promote: true" in result_of(refused, "refused in check mode")["msg"]
    assert snapshot(lab, "c1") == before

    result = ok(play(lab, tmp_path, [
        node_task("demote", name="c1n2", role="regular"),
        node_task("again", name="c1n2", role="regular"),
    ]))
    demote = result_of(result, "demote")
    assert demote["changed"] is True and demote["role"] == "regular"
    assert demote["pool_changes"] == [{"name": "c1n3.lab", "before": "regular", "after": "master-candidate"}]
    assert result_of(result, "again")["changed"] is False
    assert role(lab, "c1", "c1n2.lab") == "regular"
    assert role(lab, "c1", "c1n3.lab") == "master-candidate"


def test_regular_again_after_auto_promotion(pool, tmp_path):
    """drained -> regular: Ganeti makes the node a candidate; the module demotes it again."""
    lab = pool
    set_role_cli(lab, "c1", "c1n3.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n2.lab", "drained")
    result = ok(play(lab, tmp_path, [node_task("regular", name="c1n2", role="regular")]))
    regular = result_of(result, "regular")
    assert regular["actions"] == ["change role from drained to regular",
                                  "demote from master-candidate to regular"], regular
    assert len(regular["job_ids"]) == 2
    assert role(lab, "c1", "c1n2.lab") == "regular"


def test_issue_1682_node_not_master_capable_is_demoted_again(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n3.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n2.lab", "offline", master_capable=False)
    assert nodes(lab, "c1")["c1n2.lab"] == ("offline", False, True)
    try:
        result = ok(play(lab, tmp_path, [
            node_task("online", name="c1n2", role="regular"),
            node_task("again", name="c1n2", role="regular"),
        ]))
        online = result_of(result, "online")
        assert online["actions"][0] == "change role from offline to regular"
        assert "ganeti/ganeti#1682" in online["actions"][1], online
        assert (online["role"], online["master_capable"]) == ("regular", False)
        assert result_of(result, "again")["changed"] is False
        assert nodes(lab, "c1")["c1n2.lab"] == ("regular", False, True)
    finally:
        set_role_cli(lab, "c1", "c1n2.lab", "master-candidate")


def test_flags_and_role_together(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n2.lab", "regular", master_capable=False, vm_capable=False)
    result = ok(play(lab, tmp_path, [
        node_task("candidate", name="c1n2", role="master-candidate", master_capable=True, vm_capable=True),
        node_task("again", name="c1n2", role="master-candidate", master_capable=True, vm_capable=True),
        node_task("off", name="c1n2", role="regular", master_capable=False, vm_capable=False),
        node_task("off again", name="c1n2", role="regular", master_capable=False, vm_capable=False),
    ]))
    candidate = result_of(result, "candidate")
    assert candidate["changed"] is True
    assert (candidate["role"], candidate["master_capable"], candidate["vm_capable"]) == (
        "master-candidate", True, True)
    assert result_of(result, "again")["changed"] is False
    off = result_of(result, "off")
    assert (off["role"], off["master_capable"], off["vm_capable"]) == ("regular", False, False)
    assert result_of(result, "off again")["changed"] is False
    assert nodes(lab, "c1")["c1n2.lab"] == ("regular", False, False)
    set_role_cli(lab, "c1", "c1n2.lab", "master-candidate")


# ----------------------------------------------------------------------
# Master failover (three nodes)


def failover_play(lab, tmp_path, host, check=False):
    return play(lab, tmp_path, [{"name": "failover", "ganeti.fleet.master_failover": None,
                                 "ignore_errors": True}],
                hosts=host, check=check, diff=True)


def test_master_failover_and_back(pool, tmp_path):
    lab = pool
    set_role_cli(lab, "c1", "c1n3.lab", "master-candidate")
    set_role_cli(lab, "c1", "c1n2.lab", "regular")
    try:
        # Not a candidate: refused, nothing changes.
        refused = result_of(ok(failover_play(lab, tmp_path, "c1n2.lab")), "failover", "c1n2.lab")
        assert refused["failed"] is True and refused["changed"] is False
        assert "c1n2.lab is not a master candidate" in refused["msg"]
        assert "c1n3.lab" in refused["msg"] and "role: master-candidate" in refused["msg"]
        # Check mode: predicted, nothing happens.
        checked = result_of(ok(failover_play(lab, tmp_path, "c1n3.lab", check=True)), "failover", "c1n3.lab")
        assert checked["changed"] is True and checked["master"] == "c1n3.lab"
        assert checked["diff"] == {"before": {"master": "c1n1.lab"}, "after": {"master": "c1n3.lab"}}
        assert lab.gnt("c1", "gnt-cluster", "getmaster").strip() == "c1n1.lab"
        # The failover, then a second run that does nothing.
        done = result_of(ok(failover_play(lab, tmp_path, "c1n3.lab")), "failover", "c1n3.lab")
        assert done.get("failed") is not True, done
        assert done["changed"] is True and done["master_before"] == "c1n1.lab" and done["master"] == "c1n3.lab"
        assert lab.exec("c1n3.lab", ["gnt-cluster", "getmaster"]).stdout.strip() == "c1n3.lab"
        assert role(lab_on(lab, "c1n3.lab"), "c1", "c1n3.lab") == "master"
        again = result_of(ok(failover_play(lab, tmp_path, "c1n3.lab")), "failover", "c1n3.lab")
        assert again["changed"] is False and again["master"] == "c1n3.lab"
        # RAPI followed the master IP. The old master is a candidate like any other now,
        # and the new master is the one the node module refuses.
        result = ok(play(lab, tmp_path, [node_task("old master", name="c1n1", role="master-candidate"),
                                         node_task("new master", ignore_errors=True, name="c1n3",
                                                   role="regular")]))
        assert result_of(result, "old master")["role_before"] == "master-candidate"
        assert "is the master" in result_of(result, "new master")["msg"]
    finally:
        if lab.exec("c1n1.lab", ["gnt-cluster", "getmaster"]).stdout.strip() != "c1n1.lab":
            back = result_of(ok(failover_play(lab, tmp_path, "c1n1.lab")), "failover", "c1n1.lab")
            assert back["changed"] is True and back["master"] == "c1n1.lab", back
    assert lab.gnt("c1", "gnt-cluster", "getmaster").strip() == "c1n1.lab"


def lab_on(lab, master):
    """LAB with gnt commands sent to MASTER instead of the first node (after a failover)."""

    class OnMaster:
        def gnt(self, cluster, *args, check=True):
            del cluster
            return lab.exec(master, list(args), check=check).stdout

    return OnMaster()
