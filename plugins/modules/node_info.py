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
  - Returns Ganeti nodes as listed by C(GET /2/nodes?bulk=1), one request for the whole cluster.
  - Without O(name) and O(names) every node of the cluster is returned.
  - Names are matched exactly, or by their first label when that is unique (V(node1) finds
    V(node1.example.org)).
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.attributes.info_module
options:
  name:
    description:
      - Name of one node to return. The module fails if it does not exist.
      - Mutually exclusive with O(names).
    type: str
  names:
    description:
      - Names of the nodes to return. The module fails, naming them, if some do not exist.
      - Mutually exclusive with O(name).
    type: list
    elements: str
"""

EXAMPLES = r"""
# Connection from GANETI_RAPI_URL, GANETI_RAPI_USER, GANETI_RAPI_PASSWORD,
# GANETI_RAPI_CA_PATH and GANETI_RAPI_VERIFY_HOSTNAME.
- name: Look at nodes
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/ganeti.fleet.rapi:
      timeout: 30
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
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_module import create_rapi_module
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import select_by_name, wanted_names


def run(module, client):
    names = wanted_names(module.params["name"], module.params["names"])
    selected, missing = select_by_name(client.list_nodes(bulk=True), names)
    if missing:
        module.fail_json(
            msg="Unknown node%s on %s: %s" % (
                "s" if len(missing) > 1 else "", client.url, ", ".join(missing)),
            missing=missing,
        )
    result = dict(changed=False, nodes=selected)
    if module.params["name"]:
        result["node"] = selected[0]
    return result


def main():
    module = create_rapi_module(
        argument_spec=dict(
            name=dict(type="str"),
            names=dict(type="list", elements="str"),
        ),
        mutually_exclusive=[["name", "names"]],
    )
    module.run(run)


if __name__ == "__main__":
    main()
