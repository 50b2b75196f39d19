#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_evacuate
short_description: Move the instances off a Ganeti node for maintenance, and back, through RAPI
version_added: 0.1.0
description:
  - With O(state=evacuated), moves every primary instance off the node and evacuates the node's secondary
    instances, so that the node can be drained or taken offline without its instances.
  - A running instance is live-migrated (C(PUT /2/instances/NAME/migrate)); a stopped one is failed over
    (C(PUT /2/instances/NAME/failover)), which for a stopped instance only changes its primary node. Instances
    with DRBD disks go to their secondary node; those with externally mirrored disks (C(sharedfile), C(blockdev),
    C(rbd), C(ext), C(gluster)) and diskless ones go to O(target_node), or where O(iallocator) (by default the
    cluster's default iallocator) places them.
  - Instances whose disks cannot move (C(file), C(plain)) are named in the failure, before anything is done,
    unless O(allow_unmovable=true), which leaves them on the node.
  - Secondary instances are evacuated with C(POST /2/nodes/NAME/evacuate) in C(secondary-only) mode.
  - Every instance moved off the node is tagged C(ganeti-fleet:maintenance-moved-from:NODE) first (O(record)).
    With O(state=returned) the instances carrying that tag are migrated (or failed over) back to the node and
    the tag is removed; O(state=released) only removes the tags, leaving the instances where they are.
  - Instances are moved one at a time; the module waits for each move and reads the instance back.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.job
attributes:
  check_mode:
    support: full
    details:
      - In check mode every planned move is sent to Ganeti as a dry run (C(dry_run) in the migrate or failover
        request, C(dry-run) on the node evacuation), so Ganeti checks the target nodes, their memory and the
        instance policy; nothing moves and no tag is written.
      - With O(state=returned) on a node that is still drained or offline (as in a check-mode run of the
        node_maintenance role, where the node was not brought back), the dry runs are skipped, because Ganeti
        refuses drained and offline targets.
  diff_mode:
    support: full
    details:
      - The diff shows the primary node of each instance concerned, before and after.
options:
  name:
    description: Name of the node, as Ganeti knows it (its first label is enough when unique).
    type: str
    required: true
  state:
    description:
      - V(evacuated) moves the instances off the node.
      - V(returned) moves the instances recorded as moved off this node back to it (the node must be neither
        drained nor offline), and removes the records.
      - V(released) removes the records without moving anything.
    type: str
    choices: [evacuated, returned, released]
    default: evacuated
  primaries:
    description: With O(state=evacuated), move the instances whose primary node is this node.
    type: bool
    default: true
  secondaries:
    description: With O(state=evacuated), evacuate the instances having this node as secondary node.
    type: bool
    default: true
  allow_unmovable:
    description:
      - With O(state=evacuated), leave instances that cannot move (C(file) or C(plain) disks) on the node
        instead of failing. They are listed in RV(unmovable).
    type: bool
    default: false
  migration_mode:
    description: Migration mode of running instances.
    type: str
    choices: [live, non-live]
    default: live
  allow_failover:
    description:
      - Let Ganeti fail a running instance over (stop it and start it on the target) when it cannot be migrated.
      - This means downtime for that instance.
    type: bool
    default: false
  target_node:
    description:
      - With O(state=evacuated), the node that receives the externally mirrored and diskless instances.
      - Mutually exclusive with O(iallocator).
    type: str
  iallocator:
    description:
      - With O(state=evacuated), the iallocator that places the externally mirrored and diskless instances, and
        the new secondaries. Default the cluster's default iallocator.
      - Mutually exclusive with O(target_node).
    type: str
  shutdown_timeout:
    description: Seconds Ganeti waits for a clean shutdown when it fails an instance over.
    type: int
    default: 120
  record:
    description: With O(state=evacuated), tag each instance moved off the node, so that O(state=returned) can bring it back.
    type: bool
    default: true
notes:
  - Drain the node first (M(ganeti.fleet.node) with C(role=drained)); otherwise Ganeti may place new instances
    on it meanwhile. The P(ganeti.fleet.node_maintenance#role) role does both, in that order.
seealso:
  - module: ganeti.fleet.node
  - module: ganeti.fleet.instance_info
"""

EXAMPLES = r"""
- name: Node maintenance, step by step
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check that every instance can leave node3 (changes nothing)
      ganeti.fleet.node_evacuate:
        name: node3.example.org
      check_mode: true

    - name: Drain node3
      ganeti.fleet.node:
        name: node3.example.org
        role: drained

    - name: Move its instances off, leaving file-based ones there
      ganeti.fleet.node_evacuate:
        name: node3.example.org
        allow_unmovable: true
      register: evacuation

    - name: Show what could not move
      ansible.builtin.debug:
        msg: "{{ evacuation.unmovable | map(attribute='name') | list }}"

    - name: Later, bring node3 back as a master candidate
      ganeti.fleet.node:
        name: node3.example.org
        role: master-candidate

    - name: And migrate its instances back
      ganeti.fleet.node_evacuate:
        name: node3.example.org
        state: returned
"""

RETURN = r"""
node:
  description: Full name of the node.
  returned: always
  type: str
  sample: node3.example.org
moved:
  description:
    - Instances moved off the node (O(state=evacuated)) or back to it (O(state=returned)); in check mode, those
      that would move.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Instance name.
      type: str
    method:
      description: V(migrate) or V(failover).
      type: str
    from:
      description: Primary node before.
      type: str
    to:
      description: Primary node after (null in check mode when Ganeti chooses).
      type: str
  sample: [{"name": "web1.example.org", "method": "migrate", "from": "node3.example.org", "to": "node1.example.org"}]
unmovable:
  description: Instances that cannot leave the node, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "db1.example.org", "reason": "disk template file allows neither migration nor failover"}]
secondaries:
  description: Instances whose secondary was (or in check mode would be) moved off the node.
  returned: always
  type: list
  elements: str
released:
  description: Instances whose moved-from record was removed.
  returned: always
  type: list
  elements: str
stuck:
  description: With O(state=returned), recorded instances that cannot come back, with the reason (their record is kept).
  returned: always
  type: list
  elements: dict
job_ids:
  description: Ids of the Ganeti jobs submitted (moves, tags, evacuation, and the jobs it started).
  returned: always
  type: list
  elements: str
diff:
  description: Primary node of each instance concerned, before and after.
  returned: when diff mode is enabled
  type: dict
job_id:
  description: Id of the job that failed.
  returned: failure
  type: str
job_log:
  description: Last log entries of the job that failed.
  returned: failure
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_maintenance as nm
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, error_context
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import find_one


def move(module, client, instance, method, body, what):
    """Migrate or fail INSTANCE over (a dry run in check mode), named WHAT in a failure."""
    submit = client.migrate_instance if method == nm.MIGRATE else client.failover_instance
    with error_context("Failed to %s%s" % (what, " (dry run)" if module.check_mode else "")):
        module.jobs.run(submit, instance, body, dry_run=module.check_mode)


def set_record(module, client, instance, tag, present):
    """Add or remove INSTANCE's moved-from record TAG."""
    change = client.add_tags if present else client.remove_tags
    with error_context("Failed to %s tag %s on %s" % ("add" if present else "remove", tag, instance)):
        module.jobs.run(change, "instance", instance, [tag])


def primaries_by_name(instances):
    return dict((i["name"], i.get("pnode")) for i in instances)


def evacuate(module, client, node):
    params = module.params
    result = module.result
    name = node["name"]
    instances = client.list_instances(bulk=True)
    plan = nm.plan_evacuation(name, instances, offline=bool(node.get("offline")))
    moves = plan["moves"] if params["primaries"] else []
    secondaries = plan["secondaries"] if params["secondaries"] else []
    result["unmovable"] = plan["unmovable"] if params["primaries"] else []
    if result["unmovable"] and not params["allow_unmovable"]:
        raise FleetError("%s. Nothing was changed. Move or remove them first, or set allow_unmovable: true to "
                         "leave them on the node" % nm.describe_unmovable(name, result["unmovable"]))
    by_name = dict((i["name"], i) for i in instances)
    before = primaries_by_name(by_name[m["name"]] for m in moves)
    tag = nm.moved_from_tag(name)
    for planned in moves:
        instance = by_name[planned["name"]]
        body = nm.move_body(instance, planned["method"], params["target_node"], params["iallocator"],
                            params["migration_mode"], params["allow_failover"], params["shutdown_timeout"])
        if params["record"] and not module.check_mode and tag not in (instance.get("tags") or []):
            set_record(module, client, planned["name"], tag, True)
        move(module, client, planned["name"], planned["method"], body,
             "%s instance %s off node %s" % (planned["method"], planned["name"], name))
        to = params["target_node"] if module.check_mode else client.get_instance(planned["name"]).get("pnode")
        result["moved"].append({"name": planned["name"], "method": planned["method"], "from": name, "to": to})
        if to == name and not module.check_mode:
            raise FleetError("instance %s is still on %s after its %s job succeeded"
                             % (planned["name"], name, planned["method"]))
    if secondaries:
        evacuate_secondaries(module, client, name)
        result["secondaries"] = secondaries
    if module._diff:
        after = dict(before)
        after.update((moved["name"], moved["to"]) for moved in result["moved"])
        result["diff"] = dict(before={"primary_nodes": before}, after={"primary_nodes": after})
    return bool(moves or secondaries)


def evacuate_secondaries(module, client, name):
    params = module.params
    body = {"mode": "secondary-only"}
    if params["target_node"]:
        body["remote_node"] = params["target_node"]
    elif params["iallocator"]:
        body["iallocator"] = params["iallocator"]
    with error_context("Failed to evacuate the secondary instances of node %s" % name):
        job = module.jobs.run(client.evacuate_node, name, body, dry_run=module.check_mode)
    ids, errors = nm.sub_job_ids(job.get("opresult"))
    for job_id in ids:
        # Jobs Ganeti started for the evacuation: recorded and followed like the module's own.
        with error_context("Failed to move a secondary off node %s" % name):
            module.jobs.follow(job_id)
    if errors:
        raise FleetError("Ganeti could not start every secondary evacuation off %s: %s" % (name, "; ".join(errors)))


def bring_back(module, client, node):
    params = module.params
    result = module.result
    name = node["name"]
    instances = client.list_instances(bulk=True)
    plan = nm.plan_return(name, instances)
    result["stuck"] = plan["stuck"]
    for item in plan["stuck"]:
        module.warn("instance %s was moved off %s but cannot come back: %s" % (item["name"], name, item["reason"]))
    by_name = dict((i["name"], i) for i in instances)
    unavailable = node.get("drained") or node.get("offline")
    if unavailable and plan["moves"]:
        state = "offline" if node.get("offline") else "drained"
        if not module.check_mode:
            raise FleetError("node %s is %s, so Ganeti refuses it as a target; bring it back first "
                             "(ganeti.fleet.node with the role it should have)" % (name, state))
        module.warn("node %s is %s: the moves back are not dry-run (Ganeti refuses %s targets)"
                    % (name, state, state))
    before = primaries_by_name(by_name[m["name"]] for m in plan["moves"])
    tag = nm.moved_from_tag(name)
    for planned in plan["moves"]:
        instance = by_name[planned["name"]]
        body = nm.move_body(instance, planned["method"], target_node=name, migration_mode=params["migration_mode"],
                            allow_failover=params["allow_failover"], shutdown_timeout=params["shutdown_timeout"])
        if not (module.check_mode and unavailable):
            move(module, client, planned["name"], planned["method"], body,
                 "%s instance %s back to node %s" % (planned["method"], planned["name"], name))
        to = name if module.check_mode else client.get_instance(planned["name"]).get("pnode")
        result["moved"].append({"name": planned["name"], "method": planned["method"],
                                "from": instance.get("pnode"), "to": to})
        if not module.check_mode:
            set_record(module, client, planned["name"], tag, False)
            result["released"].append(planned["name"])
    release_records(module, client, name, plan["release"])
    if module._diff:
        result["diff"] = dict(before={"primary_nodes": before}, after={"primary_nodes": dict.fromkeys(before, name)})
    return bool(plan["moves"] or plan["release"])


def release_records(module, client, name, instances):
    """Remove NODE's moved-from record from INSTANCES (in check mode, only list them)."""
    tag = nm.moved_from_tag(name)
    for instance in instances:
        if not module.check_mode:
            set_record(module, client, instance, tag, False)
        module.result["released"].append(instance)


def release(module, client, node):
    names = nm.recorded(node["name"], client.list_instances(bulk=True))
    release_records(module, client, node["name"], names)
    if module._diff:
        module.result["diff"] = dict(before={"recorded": names}, after={"recorded": []})
    return bool(names)


STATES = {"evacuated": evacuate, "returned": bring_back, "released": release}


def run(module, client):
    module.result.update(node=module.params["name"], moved=[], unmovable=[], secondaries=[], released=[], stuck=[],
                         job_ids=[])
    node = find_one(client.list_nodes(bulk=True), module.params["name"], "node", client.url)
    module.result["node"] = node["name"]
    return dict(changed=STATES[module.params["state"]](module, client, node))


def main():
    RapiModule(argument_spec=dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=list(STATES), default="evacuated"),
        primaries=dict(type="bool", default=True),
        secondaries=dict(type="bool", default=True),
        allow_unmovable=dict(type="bool", default=False),
        migration_mode=dict(type="str", choices=["live", "non-live"], default="live"),
        allow_failover=dict(type="bool", default=False),
        target_node=dict(type="str"),
        iallocator=dict(type="str"),
        shutdown_timeout=dict(type="int", default=120),
        record=dict(type="bool", default=True),
        wait_timeout=job_argument_spec()["wait_timeout"],
    ), mutually_exclusive=[["target_node", "iallocator"]]).run(run)


if __name__ == "__main__":
    main()
