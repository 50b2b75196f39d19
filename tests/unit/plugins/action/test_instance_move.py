# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance_move action: the nodes' SSH access from the inventory."""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.action.instance_move import node_entry, with_inventory_access

HOSTVARS = {
    "c1n1.lab": {"ansible_host": "198.18.0.11", "ansible_user": "root", "ansible_ssh_private_key_file": "/k",
                 "ansible_ssh_common_args": "-o StrictHostKeyChecking=no", "ansible_ssh_extra_args": "-o X=1",
                 "ansible_python_interpreter": "/usr/bin/python3", "ganeti_rapi_password": "secret"},
    "c1n2.lab": {"ansible_port": "2222", "ansible_python_interpreter": "auto_silent"},
    "other": {"ansible_host": "203.0.113.9"},
}


def test_node_entry_takes_how_ansible_reaches_the_host_and_nothing_else():
    assert node_entry("c1n1.lab", HOSTVARS["c1n1.lab"]) == {
        "host": "198.18.0.11", "user": "root", "private_key_file": "/k",
        "ssh_args": "-o StrictHostKeyChecking=no -o X=1", "python": "/usr/bin/python3"}
    assert node_entry("c1n2.lab", HOSTVARS["c1n2.lab"]) == {"host": "c1n2.lab", "port": 2222}


def test_the_inventory_fills_only_the_nodes_the_task_did_not_name():
    task_vars = {"groups": {"ganeti_nodes": ["c1n1.lab", "c1n2.lab"], "all": list(HOSTVARS)},
                 "hostvars": HOSTVARS}
    args = with_inventory_access({"name": "web1", "node_access": {"hosts": {"c1n2.lab": "192.0.2.5"}}}, task_vars)
    assert args["name"] == "web1"
    assert args["node_access"]["hosts"]["c1n2.lab"] == "192.0.2.5"
    assert args["node_access"]["hosts"]["c1n1.lab"]["host"] == "198.18.0.11"
    assert "other" not in args["node_access"]["hosts"], "only the group's hosts"


def test_another_inventory_group_can_be_named():
    task_vars = {"groups": {"ganeti_nodes": ["c1n1.lab"], "mine": ["other"]}, "hostvars": HOSTVARS}
    args = with_inventory_access({"node_access": {"inventory_group": "mine"}}, task_vars)
    assert list(args["node_access"]["hosts"]) == ["other"]
    assert with_inventory_access({}, {})["node_access"] == {"hosts": {}}
