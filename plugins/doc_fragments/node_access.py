# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Modules that reach the Ganeti nodes over SSH from the controller (``_node_ssh.NodeAccess``)."""

    DOCUMENTATION = r"""
options:
  node_access:
    description:
      - How the controller reaches the Ganeti nodes over SSH, to read, write and digest the disks there.
      - By default each node is reached as C(root) at its Ganeti node name with the controller's SSH setup
        (C(~/.ssh/config), keys, agent, C(known_hosts)); C(BatchMode) is always on, so a node whose host key
        is not known fails instead of asking.
      - The action plugin fills O(node_access.hosts) from the inventory, for each host of
        O(node_access.inventory_group) that is not in it already, from that host's C(ansible_host), C(ansible_user),
        C(ansible_port), C(ansible_ssh_private_key_file), C(ansible_ssh_common_args), C(ansible_ssh_extra_args)
        and C(ansible_python_interpreter). Inventory host names must be the nodes' Ganeti names.
    type: dict
    default: {}
    suboptions:
      user:
        description: SSH user on the nodes; the programs need root (to read and write disks).
        type: str
        default: root
      port:
        description: SSH port.
        type: int
      private_key_file:
        description: SSH private key on the controller.
        type: path
      ssh_args:
        description:
          - Extra C(ssh) options, as one string (like C(ansible_ssh_common_args)); they come first on the command
            line, so they win over the collection's own bounds.
        type: str
        default: ''
      python:
        description: Python 3 on the nodes (Ganeti's own).
        type: str
        default: /usr/bin/python3
      hosts:
        description:
          - Per node (by Ganeti node name), its address, or a dict with any of the keys C(host), C(user), C(port),
            C(private_key_file), C(ssh_args) and C(python), overriding the values above.
        type: dict
        default: {}
      inventory_group:
        description: Inventory group whose hosts give the nodes' SSH access (read by the action plugin).
        type: str
        default: ganeti_nodes
"""
