# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_maintenance as nm
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_MOVED_FROM, TAG_PREVIOUS_ROLE


def instance(name, pnode, template="sharedfile", running=True, snodes=(), tags=()):
    return {"name": name, "pnode": pnode, "snodes": list(snodes), "disk_template": template,
            "oper_state": running, "admin_state": "up" if running else "down", "tags": list(tags)}


def test_how_to_move():
    assert nm.how_to_move(instance("a", "n2"))[0] == nm.MIGRATE
    assert nm.how_to_move(instance("a", "n2", running=False))[0] == nm.FAILOVER
    assert nm.how_to_move(instance("a", "n2", template="diskless"))[0] == nm.MIGRATE
    method, reason = nm.how_to_move(instance("a", "n2", template="file"))
    assert method is None and "disk template file allows neither migration nor failover" in reason
    assert nm.how_to_move(instance("a", "n2", template="plain"))[0] is None


def test_plan_evacuation_sorts_and_classifies():
    instances = [
        instance("vm3", "n2", template="file"),
        instance("vm1", "n2"),
        instance("vm2", "n2", running=False),
        instance("vm4", "n1"),
        instance("vm5", "n1", template="drbd", snodes=["n2"]),
    ]
    plan = nm.plan_evacuation("n2", instances)
    assert [(m["name"], m["method"]) for m in plan["moves"]] == [("vm1", "migrate"), ("vm2", "failover")]
    assert [u["name"] for u in plan["unmovable"]] == ["vm3"]
    assert plan["secondaries"] == ["vm5"]
    assert "vm3 (disk template file" in nm.describe_unmovable("n2", plan["unmovable"])


def test_offline_node_moves_nothing():
    plan = nm.plan_evacuation("n2", [instance("vm1", "n2")], offline=True)
    assert plan["moves"] == [] and "offline" in plan["unmovable"][0]["reason"]


def test_move_bodies():
    shared = instance("vm1", "n2")
    assert nm.move_body(shared, nm.MIGRATE, migration_mode="live") == {"mode": "live", "allow_failover": False}
    assert nm.move_body(shared, nm.MIGRATE, target_node="n1") == {"target_node": "n1", "allow_failover": False}
    assert nm.move_body(shared, nm.FAILOVER, iallocator="hail", shutdown_timeout=30) == {
        "iallocator": "hail", "shutdown_timeout": 30}
    # DRBD goes to its secondary: no target, no iallocator.
    drbd = instance("vm2", "n2", template="drbd", snodes=["n1"])
    assert nm.move_body(drbd, nm.MIGRATE, target_node="n3") == {"allow_failover": False}


def test_moved_from_tags_round_trip():
    tag = nm.moved_from_tag("n2.lab")
    assert tag == TAG_MOVED_FROM + "n2.lab"
    assert nm.moved_from(["a", tag]) == ["n2.lab"]


def test_role_record_of_a_node_in_service():
    record = nm.role_record({"name": "n3", "role": "C", "tags": ["rack:a1"]})
    assert record == {"role": "master-candidate", "record_tag": TAG_PREVIOUS_ROLE + "master-candidate",
                      "recorded_role": None, "record_tags": []}


def test_role_record_of_a_node_out_of_service():
    tags = ["rack:a1", TAG_PREVIOUS_ROLE + "regular", TAG_PREVIOUS_ROLE + "bogus"]
    record = nm.role_record({"name": "n3", "role": "D", "tags": tags})
    assert record["role"] == "drained"
    assert record["record_tag"] == TAG_PREVIOUS_ROLE + "drained"
    # Only tags naming a role the node can be given back count as records.
    assert record["recorded_role"] == "regular"
    assert record["record_tags"] == [TAG_PREVIOUS_ROLE + "regular"]


def test_plan_return():
    tag = nm.moved_from_tag("n2")
    instances = [
        instance("vm1", "n1", tags=[tag]),
        instance("vm2", "n1", running=False, tags=[tag]),
        instance("vm3", "n2", tags=[tag]),
        instance("vm4", "n1"),
        instance("vm5", "n3", template="drbd", snodes=["n1"], tags=[tag]),
        instance("vm6", "n1", template="file", tags=[tag]),
    ]
    plan = nm.plan_return("n2", instances)
    assert [(m["name"], m["method"]) for m in plan["moves"]] == [("vm1", "migrate"), ("vm2", "failover")]
    assert plan["release"] == ["vm3"]
    assert [s["name"] for s in plan["stuck"]] == ["vm5", "vm6"]
    assert nm.recorded("n2", instances) == ["vm1", "vm2", "vm3", "vm5", "vm6"]


def test_sub_job_ids():
    assert nm.sub_job_ids([{"jobs": [[True, 33], [False, "no"], [True, "34"]]}]) == (["33", "34"], ["no"])
    assert nm.sub_job_ids([None]) == ([], [])
    assert nm.sub_job_ids(None) == ([], [])
