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
  wait_timeout:
    description: Seconds to wait for each Ganeti job (each migration is one job).
    type: int
    default: 1800
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
from ansible_collections.ganeti.fleet.plugins.module_utils._transport import quote_name
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_module import create_rapi_module
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import select_by_name


class Runner:
    """Submits jobs, waits for them, and keeps the result up to date for failures."""

    def __init__(self, module, client, result):
        self.module = module
        self.client = client
        self.result = result
        self.timeout = module.params["wait_timeout"]

    def job(self, method, path, what, query=None, body=None):
        job_id = self.client.submit(method, path, query=query, body=body)
        self.result["job_ids"].append(job_id)
        try:
            return self.client.wait_for_job(job_id, timeout=self.timeout)
        except RapiError as exc:
            exc.message = "Failed to %s: %s" % (what, exc.message)
            self.fail(exc)

    def fail(self, exc):
        values = dict(self.result)
        values["changed"] = bool(values["job_ids"]) and not self.module.check_mode
        self.module.fail_rapi(exc, **values)

    def move(self, instance, method, body, what):
        path = "/2/instances/%s/%s" % (quote_name(instance), method)
        return self.job("PUT", path, what, body=body)

    def set_record(self, instance, tag, present):
        if present:
            self.client_tags("add", instance, tag)
        else:
            self.client_tags("remove", instance, tag)

    def client_tags(self, action, instance, tag):
        func = self.client.add_tags if action == "add" else self.client.remove_tags
        job_id = func("instance", instance, [tag])
        self.result["job_ids"].append(job_id)
        try:
            self.client.wait_for_job(job_id, timeout=self.timeout)
        except RapiError as exc:
            exc.message = "Failed to %s tag %s on %s: %s" % (action, tag, instance, exc.message)
            self.fail(exc)


def find_node(module, client, name):
    nodes = client.list_nodes(bulk=True)
    selected, missing = select_by_name(nodes, [name])
    if missing:
        module.fail_json(msg="unknown node %s on %s (nodes: %s)" % (
            name, client.url, ", ".join(sorted(n["name"] for n in nodes))))
    return selected[0]


def primaries_by_name(instances):
    return dict((i["name"], i.get("pnode")) for i in instances)


def evacuate(module, client, node, result):
    params = module.params
    name = node["name"]
    instances = client.list_instances(bulk=True)
    plan = nm.plan_evacuation(name, instances, offline=bool(node.get("offline")))
    moves = plan["moves"] if params["primaries"] else []
    secondaries = plan["secondaries"] if params["secondaries"] else []
    unmovable = plan["unmovable"] if params["primaries"] else []
    result["unmovable"] = unmovable
    if unmovable and not params["allow_unmovable"]:
        module.fail_json(msg="%s. Nothing was changed. Move or remove them first, or set allow_unmovable: "
                         "true to leave them on the node" % nm.describe_unmovable(name, unmovable), **result)
    by_name = dict((i["name"], i) for i in instances)
    before = primaries_by_name(by_name[m["name"]] for m in moves)
    runner = Runner(module, client, result)
    tag = nm.moved_from_tag(name)
    for move in moves:
        instance = by_name[move["name"]]
        what = "%s instance %s off node %s" % (move["method"], move["name"], name)
        body = nm.move_body(instance, move["method"], params["target_node"], params["iallocator"],
                            params["migration_mode"], params["allow_failover"], params["shutdown_timeout"],
                            dry_run=module.check_mode)
        if module.check_mode:
            runner.move(move["name"], move["method"], body, what + " (dry run)")
            result["moved"].append({"name": move["name"], "method": move["method"], "from": name,
                                    "to": params["target_node"]})
            continue
        if params["record"] and tag not in (instance.get("tags") or []):
            runner.set_record(move["name"], tag, True)
        runner.move(move["name"], move["method"], body, what)
        after = client.get_instance(move["name"])
        result["moved"].append({"name": move["name"], "method": move["method"], "from": name,
                                "to": after.get("pnode")})
        if after.get("pnode") == name:
            runner.fail(RapiError("instance %s is still on %s after its %s job succeeded"
                                  % (move["name"], name, move["method"]), kind="job_failed"))
    if secondaries:
        body = {"mode": "secondary-only"}
        if params["target_node"]:
            body["remote_node"] = params["target_node"]
        elif params["iallocator"]:
            body["iallocator"] = params["iallocator"]
        job = runner.job("POST", "/2/nodes/%s/evacuate" % quote_name(name),
                         "evacuate the secondary instances of node %s" % name,
                         query={"dry-run": 1} if module.check_mode else None, body=body)
        ids, errors = nm.sub_job_ids(job.get("opresult"))
        for job_id in ids:
            result["job_ids"].append(job_id)
            try:
                client.wait_for_job(job_id, timeout=params["wait_timeout"])
            except RapiError as exc:
                exc.message = "Failed to move a secondary off node %s: %s" % (name, exc.message)
                runner.fail(exc)
        if errors:
            module.fail_json(msg="Ganeti could not start every secondary evacuation off %s: %s"
                             % (name, "; ".join(errors)), changed=True, **without_changed(result))
        result["secondaries"] = secondaries
    changed = bool(moves or secondaries)
    if module._diff:
        after = dict(before)
        for move in result["moved"]:
            after[move["name"]] = move["to"]
        result["diff"] = dict(before={"primary_nodes": before}, after={"primary_nodes": after})
    return changed


def bring_back(module, client, node, result):
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
            module.fail_json(msg="node %s is %s, so Ganeti refuses it as a target; bring it back first "
                             "(ganeti.fleet.node with the role it should have)" % (name, state), **result)
        module.warn("node %s is %s: the moves back are not dry-run (Ganeti refuses %s targets)"
                    % (name, state, state))
    before = primaries_by_name(by_name[m["name"]] for m in plan["moves"])
    runner = Runner(module, client, result)
    tag = nm.moved_from_tag(name)
    for move in plan["moves"]:
        instance = by_name[move["name"]]
        what = "%s instance %s back to node %s" % (move["method"], move["name"], name)
        body = nm.move_body(instance, move["method"], target_node=name,
                            migration_mode=module.params["migration_mode"],
                            allow_failover=module.params["allow_failover"],
                            shutdown_timeout=module.params["shutdown_timeout"], dry_run=module.check_mode)
        if module.check_mode:
            if not unavailable:
                runner.move(move["name"], move["method"], body, what + " (dry run)")
            result["moved"].append({"name": move["name"], "method": move["method"],
                                    "from": instance.get("pnode"), "to": name})
            continue
        runner.move(move["name"], move["method"], body, what)
        after = client.get_instance(move["name"])
        result["moved"].append({"name": move["name"], "method": move["method"],
                                "from": instance.get("pnode"), "to": after.get("pnode")})
        runner.set_record(move["name"], tag, False)
        result["released"].append(move["name"])
    for instance in plan["release"]:
        if not module.check_mode:
            runner.set_record(instance, tag, False)
        result["released"].append(instance)
    if module._diff:
        after = dict((key, name) for key in before)
        result["diff"] = dict(before={"primary_nodes": before}, after={"primary_nodes": after})
    return bool(plan["moves"] or plan["release"])


def release(module, client, node, result):
    name = node["name"]
    tag = nm.moved_from_tag(name)
    names = nm.recorded(name, client.list_instances(bulk=True))
    runner = Runner(module, client, result)
    for instance in names:
        if not module.check_mode:
            runner.set_record(instance, tag, False)
        result["released"].append(instance)
    if module._diff:
        result["diff"] = dict(before={"recorded": names}, after={"recorded": []})
    return bool(names)


def without_changed(result):
    return dict((key, value) for key, value in result.items() if key != "changed")


def run(module, client):
    node = find_node(module, client, module.params["name"])
    result = dict(changed=False, node=node["name"], moved=[], unmovable=[], secondaries=[], released=[],
                  stuck=[], job_ids=[])
    state = module.params["state"]
    if state == "evacuated":
        changed = evacuate(module, client, node, result)
    elif state == "returned":
        changed = bring_back(module, client, node, result)
    else:
        changed = release(module, client, node, result)
    result["changed"] = changed
    return result


def main():
    module = create_rapi_module(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["evacuated", "returned", "released"], default="evacuated"),
            primaries=dict(type="bool", default=True),
            secondaries=dict(type="bool", default=True),
            allow_unmovable=dict(type="bool", default=False),
            migration_mode=dict(type="str", choices=["live", "non-live"], default="live"),
            allow_failover=dict(type="bool", default=False),
            target_node=dict(type="str"),
            iallocator=dict(type="str"),
            shutdown_timeout=dict(type="int", default=120),
            record=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
        ),
        mutually_exclusive=[["target_node", "iallocator"]],
    )
    module.run(run)


if __name__ == "__main__":
    main()
