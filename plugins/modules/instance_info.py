#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_info
short_description: Read information about Ganeti instances through RAPI
version_added: 0.1.0
description:
  - Returns Ganeti instances with the fields of C(GET /2/instances?bulk=1).
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
- name: Look at instances
  hosts: localhost
  gather_facts: false
  tasks:
    - name: List every instance of the cluster
      ganeti.fleet.instance_info:
      register: all_instances

    - name: Show instance names and where they run
      ansible.builtin.debug:
        msg: "{{ item.name }}: {{ item.status }} on {{ item.pnode }}"
      loop: "{{ all_instances.instances }}"
      loop_control:
        label: "{{ item.name }}"

    - name: Read one instance
      ganeti.fleet.instance_info:
        name: "{{ all_instances.instances[0].name }}"
      register: one
      when: all_instances.instances | length > 0

    - name: Read several instances (fails if one is unknown)
      ganeti.fleet.instance_info:
        names: "{{ all_instances.instances | map(attribute='name') | list }}"
      register: several
"""

RETURN = r"""
instances:
  description:
    - The selected instances with the fields of C(GET /2/instances?bulk=1), in the order of O(names)
      (or the cluster's order when listing all).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Instance name.
      type: str
      sample: web1.example.org
    status:
      description: Combined status, for example V(running), V(ADMIN_down) or V(ERROR_down).
      type: str
      sample: running
    admin_state:
      description: Administrative state, V(up), V(down) or V(offline).
      type: str
      sample: up
    oper_state:
      description: Whether the instance is actually running.
      type: bool
      sample: true
    pnode:
      description: Primary node.
      type: str
      sample: node1.example.org
    snodes:
      description: Secondary nodes.
      type: list
      elements: str
      sample: [node2.example.org]
    os:
      description: OS definition.
      type: str
      sample: debootstrap+default
    disk_template:
      description: Disk template.
      type: str
      sample: drbd
    disk.sizes:
      description: Disk sizes in MiB.
      type: list
      elements: int
      sample: [10240]
    nic.macs:
      description: MAC addresses of the NICs.
      type: list
      elements: str
      sample: ["aa:00:00:12:34:56"]
    beparams:
      description: Backend parameters (memory, vcpus...), cluster defaults filled in.
      type: dict
    tags:
      description: Instance tags.
      type: list
      elements: str
      sample: [role:web]
    uuid:
      description: Instance UUID.
      type: str
instance:
  description: The instance named by O(name).
  returned: when O(name) is given
  type: dict
  sample:
    name: web1.example.org
    status: running
    pnode: node1.example.org
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import selected_result, selection_argument_spec


def run(module, client):
    return selected_result(client.list_instances(bulk=True), module.params, "instance", client.url)


def main():
    RapiModule(argument_spec=selection_argument_spec(), mutually_exclusive=[["name", "names"]]).run(run)


if __name__ == "__main__":
    main()
