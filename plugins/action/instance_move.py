# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action ganeti.fleet.instance_move: the module, with the nodes' SSH access taken from the inventory.

A move reads, writes and digests disks on the nodes of both clusters over
SSH. The way Ansible itself reaches those nodes is in the inventory; this
action copies it into ``node_access.hosts`` (see the ``node_access`` doc
fragment) for each host of ``node_access.inventory_group`` that the task
did not name itself, then runs the module as the ``normal`` action does
(async included).
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

DEFAULT_GROUP = "ganeti_nodes"


def node_entry(hostname, variables):
    """The ``node_access.hosts`` entry of the inventory host HOSTNAME from its VARIABLES (a mapping)."""
    entry = {"host": variables.get("ansible_host") or hostname}
    for key, name in (("user", "ansible_user"), ("port", "ansible_port"),
                      ("private_key_file", "ansible_ssh_private_key_file")):
        if variables.get(name) not in (None, ""):
            entry[key] = variables.get(name)
    args = " ".join(str(variables.get(name)) for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args")
                    if variables.get(name))
    if args:
        entry["ssh_args"] = args
    python = variables.get("ansible_python_interpreter")
    if isinstance(python, str) and python.startswith("/"):
        entry["python"] = python
    if entry.get("port") is not None:
        entry["port"] = int(entry["port"])
    return entry


def with_inventory_access(args, task_vars):
    """ARGS with ``node_access.hosts`` completed from the inventory group it names."""
    args = dict(args)
    access = dict(args.get("node_access") or {})
    group = access.get("inventory_group") or DEFAULT_GROUP
    hosts = dict(access.get("hosts") or {})
    hostvars = task_vars.get("hostvars") or {}
    for hostname in (task_vars.get("groups") or {}).get(group, []):
        if hostname not in hosts and hostname in hostvars:
            hosts[hostname] = node_entry(hostname, hostvars[hostname])
    access["hosts"] = hosts
    args["node_access"] = access
    return args


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        module_args = with_inventory_access(self._task.args, task_vars)
        result = merge_hash(result, self._execute_module(module_name="ganeti.fleet.instance_move",
                                                         module_args=module_args, task_vars=task_vars,
                                                         wrap_async=wrap_async))
        if not wrap_async:
            # pylint: disable-next=protected-access
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
