#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node
short_description: Set a Ganeti node's role and its master_capable and vm_capable flags through RAPI
version_added: 0.1.0
description:
  - Brings a node to a role (V(master-candidate), V(regular), V(drained) or V(offline)) and sets its
    C(master_capable) and C(vm_capable) flags.
  - The module reads the node first and sends nothing when it is already as asked (Ganeti would otherwise run
    the change anyway and bump the configuration's serial number). After every change it reads the cluster back
    and goes on until the node is as asked, because Ganeti does not always do what was requested
    (see O(auto_promote) and the notes).
  - Roles are set with C(PUT /2/nodes/NAME/role), flags with C(POST /2/nodes/NAME/modify); each is a Ganeti job
    the module waits for.
  - The master node is refused when a role is asked for, with a message naming C(gnt-cluster master-failover);
    use M(ganeti.fleet.master_failover) on the node that should take over first.
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
      - In check mode the first change is sent to Ganeti as a dry run (C(POST /2/nodes/NAME/modify) with
        C(dry_run), the same opcode and flags as the role request), so Ganeti's own checks run (master,
        candidate pool, instances on the node, a node that cannot be brought back online); nothing changes.
        Further changes are predicted from Ganeti's rules.
      - The role request C(PUT /2/nodes/NAME/role) has no dry run; Ganeti 3.0 ignores its C(dry-run) query
        argument and makes the change, so the module never uses it in check mode.
  diff_mode:
    support: full
    details:
      - The diff shows the node's role, C(master_capable) and C(vm_capable) before and after.
options:
  name:
    description:
      - Name of the node, as Ganeti knows it; its first label is enough when that is unique in the cluster.
    type: str
    required: true
  role:
    description:
      - The role the node must have.
      - V(master-candidate) needs a master capable node (set O(master_capable=true) along with it if needed).
      - V(regular) is reached even when Ganeti promotes the node to master candidate on its way out of
        V(drained) or V(offline) (it does so whenever the candidate pool is not full); the module then demotes
        it again.
      - V(drained) and V(offline) demote a master candidate (ganeti/ganeti#437).
      - Not allowed for the master node.
    type: str
    choices: [master-candidate, regular, drained, offline]
  master_capable:
    description:
      - Whether the node may become master candidate or master.
      - V(false) on a master candidate demotes it. V(true) may promote it at once when the candidate pool is not
        full; with O(role=regular) the module demotes it again.
    type: bool
  vm_capable:
    description:
      - Whether the node may host instances.
      - Ganeti refuses V(false) while instances have this node as primary or secondary; the module fails
        before sending anything and names them.
    type: bool
  auto_promote:
    description:
      - Allow Ganeti to promote other nodes to master candidate when this node stops being one and the
        candidate pool would otherwise be short (fewer than C(min(candidate_pool_size, eligible nodes))
        candidates). Ganeti refuses such a demotion without it, whatever C(force) says.
      - The module only passes it on demotions that need it; such a change locks all nodes of the cluster.
      - With V(false) such a demotion fails before anything is sent, with a message giving the pool figures.
    type: bool
    default: true
notes:
  - Bringing a node back from V(offline) needs the node to answer Ganeti's node daemon; Ganeti warns that this
    is done without C(gnt-node add --readd).
  - When Ganeti promotes a node that is not master capable (ganeti/ganeti#1682, leaving V(drained) or
    V(offline) while the pool is short), the module demotes it again with C(master_candidate=false).
  - Other nodes promoted by Ganeti to fill the candidate pool are listed in RV(pool_changes).
seealso:
  - module: ganeti.fleet.master_failover
  - module: ganeti.fleet.node_evacuate
  - module: ganeti.fleet.node_info
  - name: Node maintenance
    description: The node_maintenance role takes a node out of service and brings it back.
    link: https://github.com/ganeti-fleet/ganeti.fleet/blob/main/docs/docsite/rst/node_maintenance_guide.rst
"""

EXAMPLES = r"""
# Connection from GANETI_RAPI_URL, GANETI_RAPI_USER, GANETI_RAPI_PASSWORD and
# GANETI_RAPI_CA_PATH; changing nodes needs a RAPI user with write access.
- name: Manage node roles
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Drain a node (a master candidate is demoted; another node is promoted if the pool needs it)
      ganeti.fleet.node:
        name: node3.example.org
        role: drained

    - name: Make it a regular node again, not a master candidate
      ganeti.fleet.node:
        name: node3.example.org
        role: regular

    - name: Keep a node out of the candidate pool and free of instances
      ganeti.fleet.node:
        name: node4.example.org
        role: regular
        master_capable: false
        vm_capable: false

    - name: Refuse demotions that would leave the candidate pool short
      ganeti.fleet.node:
        name: node2.example.org
        role: regular
        auto_promote: false
"""

RETURN = r"""
name:
  description: Full name of the node.
  returned: always
  type: str
  sample: node3.example.org
role:
  description:
    - The node's role after the module ran (read back from the cluster); in check mode the predicted one.
    - One of V(master), V(master-candidate), V(regular), V(drained) or V(offline).
  returned: success
  type: str
  sample: drained
role_before:
  description: The node's role before the module ran.
  returned: always
  type: str
  sample: master-candidate
master_capable:
  description: The node's C(master_capable) flag after the module ran (in check mode, predicted).
  returned: success
  type: bool
  sample: true
vm_capable:
  description: The node's C(vm_capable) flag after the module ran (in check mode, predicted).
  returned: success
  type: bool
  sample: true
actions:
  description: The changes made (in check mode, planned), in order.
  returned: always
  type: list
  elements: str
  sample: ["change role from drained to regular", "demote from master-candidate to regular"]
job_ids:
  description: Ids of the Ganeti jobs submitted (in check mode, the dry-run job).
  returned: always
  type: list
  elements: str
  sample: ["1041", "1042"]
pool_changes:
  description:
    - Other nodes whose role changed while the module ran, for example nodes Ganeti promoted to master
      candidate to fill the pool (in check mode, a prediction).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "node4.example.org", "before": "regular", "after": "master-candidate"}]
diff:
  description: Role and flags before and after, in diff mode.
  returned: when diff mode is enabled
  type: dict
  sample:
    before: {role: master-candidate, master_capable: true, vm_capable: true}
    after: {role: drained, master_capable: true, vm_capable: true}
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

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_role as nr
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import error_context
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import find_one


def read_cluster(client, name, master):
    """(full name, model) of the cluster, NAME resolved like node_info does."""
    nodes = client.list_nodes(bulk=True)
    return find_one(nodes, name, "node", client.url)["name"], nr.model_cluster(nodes, master)


def run_step(module, client, step, dry_run=False):
    if step["kind"] == "role" and not dry_run:
        return module.jobs.run(client.set_node_role, step["node"], step["role"], auto_promote=step["auto_promote"])
    return module.jobs.run(client.modify_node, step["node"], nr.modify_body(step), dry_run=dry_run)


def run(module, client):
    params = module.params
    wanted = {"role": params["role"], "master_capable": params["master_capable"],
              "vm_capable": params["vm_capable"]}
    auto_promote = params["auto_promote"]
    result = module.result
    result.update(name=params["name"], actions=[], job_ids=[])
    info = client.get_info() or {}
    pool_size = info.get("candidate_pool_size")
    master = info.get("master")
    name, before = read_cluster(client, params["name"], master)
    result.update(name=name, role_before=before[name]["role"])
    steps, predicted = nr.plan(before, name, wanted, pool_size, auto_promote)

    if module.check_mode:
        result["actions"] = [step["reason"] for step in steps]
        if steps:
            with error_context("Ganeti refuses to %s on node %s (dry run)" % (steps[0]["reason"], name)):
                run_step(module, client, steps[0], dry_run=True)
        return finish(module, before, predicted, name, changed=bool(steps))

    current = before
    step = nr.next_step(current, name, wanted, pool_size, auto_promote)
    while step is not None:
        if len(result["actions"]) >= nr.MAX_STEPS:
            raise nr.NodeRoleError("node %s did not reach %s after %d changes; it is now %s"
                                   % (name, nr.describe_wanted(wanted), nr.MAX_STEPS, nr.view(current[name])))
        result["actions"].append(step["reason"])
        with error_context("Failed to %s on node %s" % (step["reason"], name)):
            run_step(module, client, step)
        name, current = read_cluster(client, name, master)
        step = nr.next_step(current, name, wanted, pool_size, auto_promote)
    return finish(module, before, current, name, changed=bool(result["job_ids"]))


def finish(module, before, after, name, changed):
    node = after[name]
    result = dict(changed=changed, role=node["role"], master_capable=node["master_capable"],
                  vm_capable=node["vm_capable"], pool_changes=nr.role_changes(before, after, exclude=(name,)))
    if module._diff:
        result["diff"] = dict(before=nr.view(before[name]), after=nr.view(node))
    return result


def main():
    RapiModule(argument_spec=dict(
        name=dict(type="str", required=True),
        role=dict(type="str", choices=list(nr.ROLES)),
        master_capable=dict(type="bool"),
        vm_capable=dict(type="bool"),
        auto_promote=dict(type="bool", default=True),
        wait_timeout=job_argument_spec()["wait_timeout"],
    )).run(run)


if __name__ == "__main__":
    main()
