# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Planning of node role changes against a model of Ganeti 3.0's rules.

The scenarios are the ones observed on real Ganeti 3.0.2 clusters (the
lab): auto-promotion when leaving drained/offline, demotions refused while
the candidate pool would be short, and ganeti/ganeti#1682.
"""

from __future__ import annotations

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_role as nr
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError


def rapi_node(name, role, master_capable=True, vm_capable=True, pinst=(), sinst=()):
    letter = {"master": "M", "master-candidate": "C", "regular": "R", "drained": "D", "offline": "O"}[role]
    return {"name": name, "role": letter, "master_candidate": role in ("master", "master-candidate"),
            "drained": role == "drained", "offline": role == "offline", "master_capable": master_capable,
            "vm_capable": vm_capable, "pinst_list": list(pinst), "sinst_list": list(sinst),
            "pinst_cnt": len(pinst), "sinst_cnt": len(sinst)}


def cluster(*nodes):
    return nr.model_cluster(list(nodes), master=nodes[0]["name"])


def two(role="master-candidate", **kwargs):
    return cluster(rapi_node("n1", "master"), rapi_node("n2", role, **kwargs))


def three(n2="master-candidate", n3="master-candidate", **kwargs):
    return cluster(rapi_node("n1", "master"), rapi_node("n2", n2, **kwargs), rapi_node("n3", n3))


def wanted(role=None, master_capable=None, vm_capable=None):
    return {"role": role, "master_capable": master_capable, "vm_capable": vm_capable}


def kinds(steps):
    return [(s["kind"], s.get("role"), s["op"], s["auto_promote"]) for s in steps]


# ----------------------------------------------------------------------
# Model


def test_role_of_letters_and_flags():
    assert nr.role_of({"role": "C"}) == "master-candidate"
    assert nr.role_of({"role": "drained"}) == "drained"
    assert nr.role_of({"offline": True, "master_candidate": False}) == "offline"
    assert nr.role_of({"master_candidate": True}) == "master-candidate"
    assert nr.role_of({}) == "regular"


def test_master_counts_as_candidate():
    model = two()
    assert model["n1"]["master"] is True and model["n1"]["master_candidate"] is True
    assert nr.pool_stats(model, 10) == (2, 2, 2)
    assert nr.pool_stats(model, 10, exclude=("n2",)) == (1, 1, 1)
    assert nr.pool_stats(model, 1) == (2, 1, 2)


def test_drained_offline_and_incapable_nodes_are_not_eligible():
    model = cluster(rapi_node("n1", "master"), rapi_node("n2", "drained"), rapi_node("n3", "offline"),
                    rapi_node("n4", "regular", master_capable=False))
    assert nr.pool_stats(model, 10) == (1, 1, 1)


def test_demotion_short_in_three_node_cluster_only():
    # Two nodes: the master alone is the whole eligible pool once n2 is excluded.
    assert nr.demotion_short(two(), "n2", 10)[0] is False
    # Three nodes with n3 regular: master alone, but two eligible.
    assert nr.demotion_short(three(n3="regular"), "n2", 10) == (True, 1, 2)
    assert nr.demotion_short(three(), "n2", 10)[0] is False


def test_self_promotion_when_leaving_drained():
    assert nr.self_promotes(two("drained"), 10) is True
    assert nr.self_promotes(three("drained"), 10) is True
    # A pool of size 2 already full with master and n3.
    assert nr.self_promotes(three("drained"), 2) is False


# ----------------------------------------------------------------------
# Plans


@pytest.mark.parametrize("role", nr.ROLES)
def test_nothing_to_do_when_already_there(role):
    model = two(role)
    steps, predicted = nr.plan(model, "n2", wanted(role), 10, True)
    assert steps == []
    assert predicted == model


def test_drained_to_regular_is_auto_promoted_then_demoted():
    steps, predicted = nr.plan(two("drained"), "n2", wanted("regular"), 10, True)
    assert kinds(steps) == [
        ("role", "regular", {"master_candidate": False, "drained": False, "offline": False}, False),
        ("role", "regular", {"master_candidate": False, "drained": False, "offline": False}, False),
    ]
    assert steps[1]["reason"] == "demote from master-candidate to regular"
    assert predicted["n2"]["role"] == "regular"


def test_offline_to_regular_in_three_node_cluster():
    steps, predicted = nr.plan(three("offline", "master-candidate"), "n2", wanted("regular"), 10, False)
    # Promoted on the way out of offline, then demoted: the pool (master, n3) stays full without it.
    assert [s["reason"] for s in steps] == ["change role from offline to regular",
                                            "demote from master-candidate to regular"]
    assert predicted["n2"]["role"] == "regular"


def test_demotion_refused_without_auto_promote_when_pool_short():
    with pytest.raises(nr.NodeRoleError) as err:
        nr.plan(three(n3="regular"), "n2", wanted("regular"), 10, False)
    text = str(err.value)
    assert "1 master candidate(s) where the candidate pool needs 2" in text
    assert "auto_promote: true" in text and "force" in text


def test_demotion_with_auto_promote_promotes_another_node():
    before = three(n3="regular")
    steps, predicted = nr.plan(before, "n2", wanted("drained"), 10, True)
    assert kinds(steps) == [("role", "drained", {"drained": True}, True)]
    assert predicted["n2"]["role"] == "drained"
    assert predicted["n3"]["role"] == "master-candidate"
    assert nr.role_changes(before, predicted, exclude=("n2",)) == [
        {"name": "n3", "before": "regular", "after": "master-candidate"}]


def test_auto_promote_only_passed_when_needed():
    steps = nr.plan(three(), "n2", wanted("drained"), 10, True)[0]
    assert steps[0]["auto_promote"] is False


def test_master_is_refused_with_failover_hint():
    with pytest.raises(nr.NodeRoleError) as err:
        nr.plan(two(), "n1", wanted("drained"), 10, True)
    assert "master-failover" in str(err.value)
    assert "ganeti.fleet.master_failover" in str(err.value)


def test_master_flags_only():
    steps = nr.plan(two(), "n1", wanted(vm_capable=False), 10, True)[0]
    assert kinds(steps) == [("modify", None, {"vm_capable": False}, False)]
    with pytest.raises(nr.NodeRoleError, match="must remain master capable"):
        nr.plan(two(), "n1", wanted(master_capable=False), 10, True)


def test_vm_capable_false_with_instances_is_refused_with_names():
    model = two(pinst=["vm2"], sinst=["vm1"])
    with pytest.raises(nr.NodeRoleError) as err:
        nr.plan(model, "n2", wanted(vm_capable=False), 10, True)
    assert "vm1, vm2" in str(err.value)
    # Already false: nothing to refuse.
    model = two(vm_capable=False, pinst=["vm2"])
    assert nr.plan(model, "n2", wanted(vm_capable=False), 10, True)[0] == []


def test_candidate_needs_master_capable():
    model = two("regular", master_capable=False)
    with pytest.raises(nr.NodeRoleError, match="set master_capable: true"):
        nr.plan(model, "n2", wanted("master-candidate"), 10, True)
    with pytest.raises(nr.NodeRoleError, match="cannot be a master candidate"):
        nr.plan(model, "n2", wanted("master-candidate", master_capable=False), 10, True)
    steps, predicted = nr.plan(model, "n2", wanted("master-candidate", master_capable=True), 10, True)
    # Becoming master capable promotes it by itself when the pool is short.
    assert kinds(steps) == [("modify", None, {"master_capable": True}, False)]
    assert predicted["n2"]["role"] == "master-candidate"


def test_becoming_master_capable_then_regular_demotes_again():
    steps, predicted = nr.plan(two("regular", master_capable=False), "n2",
                               wanted("regular", master_capable=True, vm_capable=False), 10, True)
    assert [s["reason"] for s in steps] == ["set master_capable=true",
                                            "demote from master-candidate to regular",
                                            "set vm_capable=false"]
    assert nr.view(predicted["n2"]) == {"role": "regular", "master_capable": True, "vm_capable": False}


def test_issue_1682_promoted_incapable_node_is_demoted():
    model = two("offline", master_capable=False)
    steps, predicted = nr.plan(model, "n2", wanted("regular"), 10, True)
    assert [s["kind"] for s in steps] == ["role", "modify"]
    assert steps[1]["op"] == {"master_candidate": False}
    assert "1682" in steps[1]["reason"]
    assert predicted["n2"]["role"] == "regular"
    assert predicted["n2"]["master_candidate"] is False


def test_issue_1682_state_found_is_fixed_when_role_managed():
    model = two("master-candidate", master_capable=False)
    steps = nr.plan(model, "n2", wanted("regular"), 10, True)[0]
    assert kinds(steps) == [("modify", None, {"master_candidate": False}, False)]
    steps = nr.plan(model, "n2", wanted(master_capable=False), 10, True)[0]
    assert kinds(steps) == [("modify", None, {"master_candidate": False}, False)]
    # Nothing managed that concerns the role: left alone.
    assert nr.plan(model, "n2", wanted(vm_capable=True), 10, True)[0] == []


def test_master_capable_false_on_candidate_demotes_it():
    steps, predicted = nr.plan(three(n3="regular"), "n2", wanted(master_capable=False), 10, True)
    assert kinds(steps) == [("modify", None, {"master_capable": False}, True)]
    assert predicted["n2"]["role"] == "regular" and predicted["n3"]["role"] == "master-candidate"
    with pytest.raises(nr.NodeRoleError, match="master_capable=false on master candidate n2"):
        nr.plan(three(n3="regular"), "n2", wanted(master_capable=False), 10, False)


def test_role_then_master_capable_off():
    steps, predicted = nr.plan(two(), "n2", wanted("drained", master_capable=False), 10, True)
    assert [s["reason"] for s in steps] == ["change role from master-candidate to drained",
                                            "set master_capable=false"]
    assert nr.view(predicted["n2"]) == {"role": "drained", "master_capable": False, "vm_capable": True}


@pytest.mark.parametrize("start", nr.ROLES)
@pytest.mark.parametrize("goal", nr.ROLES)
@pytest.mark.parametrize("size", [2, 3])
def test_every_transition_reaches_its_goal(start, goal, size):
    model = two(start) if size == 2 else three(start, "regular" if start == "master-candidate" else "master-candidate")
    steps, predicted = nr.plan(model, "n2", wanted(goal), 10, True)
    assert predicted["n2"]["role"] == goal
    assert nr.reached(predicted["n2"], wanted(goal))
    assert bool(steps) == (start != goal)
    assert len(steps) <= 2
    # The plan is stable: once there, nothing more to do.
    assert nr.plan(predicted, "n2", wanted(goal), 10, True)[0] == []


def test_unknown_node():
    with pytest.raises(nr.NodeRoleError, match="unknown node n9"):
        nr.plan(two(), "n9", wanted("regular"), 10, True)


# ----------------------------------------------------------------------
# Requests


def test_role_step_keeps_role_and_auto_promote():
    step = nr.plan(three(n3="regular"), "n2", wanted("offline"), 10, True)[0][0]
    assert (step["kind"], step["role"], step["auto_promote"]) == ("role", "offline", True)


def test_dry_run_of_a_role_step_is_a_modify_with_the_same_flags():
    step = nr.plan(three(n3="regular"), "n2", wanted("regular"), 10, True)[0][0]
    assert step["kind"] == "role"
    assert nr.modify_body(step) == {"master_candidate": False, "drained": False, "offline": False,
                                    "auto_promote": True}


def test_modify_step_body():
    step = nr.plan(two(), "n2", wanted(vm_capable=False), 10, True)[0][0]
    assert step["kind"] == "modify"
    assert nr.modify_body(step) == {"vm_capable": False}


def test_node_role_error_is_a_fleet_error():
    with pytest.raises(FleetError):
        nr.plan(two(), "n9", wanted("regular"), 10, True)


def test_one_flag_per_request():
    # Ganeti counts master_capable and vm_capable among the "states" an opcode may set to true.
    model = two("regular", master_capable=False, vm_capable=False)
    steps = nr.plan(model, "n2", wanted("master-candidate", master_capable=True, vm_capable=True), 10, True)[0]
    for step in steps:
        assert list(step["op"].values()).count(True) <= 1, step


def test_describe_wanted():
    assert nr.describe_wanted(wanted("regular", vm_capable=False)) == "role regular, vm_capable=false"
    assert nr.describe_wanted(wanted()) == "its current state"
