#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: Read information about Ganeti nodes through RAPI
version_added: 0.1.0
description:
  - Returns Ganeti nodes with the fields of C(GET /2/nodes?bulk=1).
  - For one node (O(name)) also what the P(ganeti.fleet.node_maintenance#role) role records on it, and the tag it
    records it with (RV(maintenance)).
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.attributes.info_module
  - ganeti.fleet.selection
options: {}
"""

EXAMPLES = r"""
- name: Look at nodes
  hosts: localhost
  gather_facts: false
  tasks:
    - name: List every node of the cluster
      ganeti.fleet.node_info:
      register: all_nodes

    - name: Show the role of each node
      ansible.builtin.debug:
        msg: "{{ item.name }} is {{ item.role }} ({{ item.pinst_cnt }} primary instances)"
      loop: "{{ all_nodes.nodes }}"
      loop_control:
        label: "{{ item.name }}"

    - name: Read the master node
      ganeti.fleet.node_info:
        name: "{{ (all_nodes.nodes | selectattr('role', 'equalto', 'M') | first).name }}"
      register: master

    - name: Read several nodes (fails if one is unknown)
      ganeti.fleet.node_info:
        names: "{{ all_nodes.nodes | map(attribute='name') | list }}"
      register: several
"""

RETURN = r"""
nodes:
  description:
    - The selected nodes with the fields of C(GET /2/nodes?bulk=1), in the order of O(names)
      (or the cluster's order when listing all).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: node1.example.org
    role:
      description:
        - Node role as a one-letter code, V(M) (master), V(C) (master candidate), V(R) (regular),
          V(D) (drained) or V(O) (offline).
      type: str
      sample: M
    offline:
      description: Whether the node is offline.
      type: bool
      sample: false
    drained:
      description: Whether the node is drained.
      type: bool
      sample: false
    master_candidate:
      description: Whether the node is a master candidate.
      type: bool
      sample: true
    master_capable:
      description: Whether the node can become master.
      type: bool
      sample: true
    vm_capable:
      description: Whether the node can host instances.
      type: bool
      sample: true
    pip:
      description: Primary IP address.
      type: str
      sample: 192.0.2.11
    sip:
      description: Secondary IP address.
      type: str
      sample: 198.51.100.11
    pinst_list:
      description: Instances having this node as primary.
      type: list
      elements: str
    sinst_list:
      description: Instances having this node as secondary.
      type: list
      elements: str
    group.uuid:
      description: UUID of the node group.
      type: str
    tags:
      description: Node tags.
      type: list
      elements: str
node:
  description: The node named by O(name).
  returned: when O(name) is given
  type: dict
  sample:
    name: node1.example.org
    role: M
maintenance:
  description:
    - The role of the node named by O(name), and the record the P(ganeti.fleet.node_maintenance#role) role keeps of
      the role it had before it was taken out of service (a node tag), so that it can bring it back in that role.
  returned: when O(name) is given
  type: dict
  contains:
    role:
      description: The node's role, V(master), V(master-candidate), V(regular), V(drained) or V(offline).
      type: str
      sample: master-candidate
    record_tag:
      description: The node tag that records the node's current role.
      type: str
      sample: ganeti-fleet:maintenance-previous-role:master-candidate
    recorded_role:
      description: The role recorded on the node, or null when none is.
      type: str
      sample: master-candidate
    record_tags:
      description: The node's tags that record a role (removed when the node is back in service).
      type: list
      elements: str
      sample: [ganeti-fleet:maintenance-previous-role:master-candidate]
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils._node_maintenance import role_record
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import selected_result, selection_argument_spec


def run(module, client):
    result = selected_result(client.list_nodes(bulk=True), module.params, "node", client.url)
    if "node" in result:
        result["maintenance"] = role_record(result["node"])
    return result


def main():
    RapiModule(argument_spec=selection_argument_spec(), mutually_exclusive=[["name", "names"]]).run(run)


if __name__ == "__main__":
    main()
