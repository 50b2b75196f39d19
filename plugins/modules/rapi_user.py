#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rapi_user
short_description: Manage a user in a Ganeti cluster's RAPI users file on its master node
version_added: 0.1.0
description:
  - Makes sure the RAPI users file (C(/var/lib/ganeti/rapi/users)) of the cluster has a line for O(name) with
    the given password and options (V(write) by default), or none with O(state=absent).
  - The password is stored hashed in Ganeti's C({HA1}) form, the MD5 of C(user:Ganeti Remote API:password)
    in hexadecimal; it is never written in clear text and never returned. An existing line is left alone
    when its hash matches and its options are the same, so runs are idempotent. A matching password stored
    in clear text is rewritten hashed.
  - Every other line of the file (comments, other users) is kept as it is. Before every change the file is
    copied to O(backup_dir) (mode 0600, root); then it is replaced atomically, keeping its owner, group and
    mode (Ganeti's C(gnt-rapi:gnt-masterd), 0640, for a new file).
  - After a change, C(gnt-cluster redist-conf) copies the file to every online node (used after a master
    failover). The RAPI daemon on the master notices the new file by itself (inotify); no restart.
  - When C(gnt-cluster redist-conf) fails, the previous file is put back from its backup and redistributed, so
    that the master and the nodes agree again and the next run makes the change again; the task fails saying
    so.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - RAPI cannot manage its users, hence a module on the master node.
  - RAPI accepts the new password a moment after the task; M(ganeti.fleet.rapi_access_check) run from the
    controller checks it for real.
  - Ganeti hashes user names and passwords as ASCII; other characters are refused.
  - A user name starting with C(#) is refused; Ganeti reads such a line of the users file as a comment.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
  - ganeti.fleet.node.master
  - ganeti.fleet.node.secrets
  - ganeti.fleet.backup
attributes:
  diff_mode:
    support: full
    details:
      - The diff names the user and its options, never the password or its hash.
options:
  name:
    description: The RAPI user name (printable ASCII, no blanks, no C(:), not starting with C(#)).
    type: str
    required: true
  password:
    description:
      - The user's password (ASCII). Required with O(state=present).
      - Keep it in Ansible Vault or another secret store.
    type: str
  options:
    description:
      - Access options of the user. V(write) allows the writes inter-cluster moves need (and waiting for jobs);
        V(read) grants read access where RAPI requires authentication for reads.
    type: list
    elements: str
    choices: [read, write]
    default: [write]
  state:
    description: V(present) adds or updates the user, V(absent) removes its line.
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description:
      - V(always) replaces a stored password that does not match O(password).
      - V(on_create) sets the password only when the user is added.
    type: str
    choices: [always, on_create]
    default: always
  distribute:
    description: Run C(gnt-cluster redist-conf) after a change.
    type: bool
    default: true
seealso:
  - module: ganeti.fleet.rapi_access_check
  - module: ganeti.fleet.rapi_certificate
"""

EXAMPLES = r"""
- name: A RAPI user with write access for moves (on the master node)
  ganeti.fleet.rapi_user:
    name: mover
    password: "{{ vault_rapi_mover_password }}"
    options: [write]
  vars:
    ansible_pipelining: true

- name: Remove an old user
  ganeti.fleet.rapi_user:
    name: olduser
    state: absent
"""

RETURN = r"""
cluster_name:
  description: Name of the cluster (from ssconf).
  returned: always
  type: str
  sample: c1.example.org
master_node:
  description: The master node the module ran on.
  returned: always
  type: str
  sample: node1.example.org
user:
  description: The user name.
  returned: always
  type: str
  sample: mover
action:
  description: V(created), V(updated), V(removed), or null when nothing changed (in check mode, what would be done).
  returned: always
  type: str
  sample: created
reasons:
  description: What differed.
  returned: always
  type: list
  elements: str
  sample: ["user mover created"]
steps:
  description:
    - What was done, in order; a subset of V(write) and V(redist-conf).
    - After a failed V(redist-conf), V(restore) and V(redist-conf) follow when the previous file was put back.
  returned: always
  type: list
  elements: str
  sample: [write, redist-conf]
backup:
  description: The copy of the users file made before this change (null when nothing was written or there was no file).
  returned: always
  type: str
  sample: /var/lib/ganeti-fleet/backups/users.20260301T101500.123456Z
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_users as ru
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    ReplacementStepFailed,
    backup_argument_spec,
    backup_file,
    check_backup_options,
    recover,
    recovery_plan,
    redistribute,
    restore_file,
    rewrite_file,
    run_steps,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule

#: The way back after a failed step: RAPI already reads the new file on the master, and the nodes
#: must not keep another one (a later master failover would bring it back).
RECOVERY = {"redist-conf": ("restore", "redist-conf")}


def read_users(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError("cannot read %s: %s" % (path, exc)) from exc


def diff(name, action, options):
    before = "user %s: %s\n" % (name, "absent" if action == "created" else "present")
    after = ("user %s: absent\n" % name if action == "removed"
             else "user %s: present, password hashed ({HA1}), options %s\n" % (name, ",".join(options) or "(none)"))
    return dict(before_header=ru.RAPI_USERS_FILE, after_header=ru.RAPI_USERS_FILE, before=before, after=after)


def run(module):
    params, result = module.params, module.result
    result.update(cluster_name=module.identity["cluster_name"], master_node=module.identity["master_node"],
                  user=params["name"], action=None, reasons=[], steps=[], backup=None)
    module.require_master()
    check_backup_options(params["backup_dir"], params["backups_kept"])
    path = ru.RAPI_USERS_FILE
    options = [o for o in ru.USER_OPTIONS if o in params["options"]]
    ru.validate_user(params["name"], params["password"] if params["state"] == "present" else None)
    new_content, action, reasons = ru.plan_users_file(
        read_users(path), params["name"], params["password"], options, params["state"], params["update_password"])
    result.update(action=action, reasons=reasons, changed=action is not None)
    if action is None:
        return
    if module._diff:
        result["diff"] = diff(params["name"], action, options)
    if module.check_mode:
        result["steps"] = ["write"] + (["redist-conf"] if params["distribute"] else [])
        return
    backup = backup_file(path, params["backup_dir"], params["backups_kept"])
    result["backup"] = backup.path if backup else None
    steps = [("write", lambda: rewrite_file(path, new_content.encode("utf-8"), ru.RAPI_USERS_OWNERSHIP,
                                            ru.RAPI_DIR_OWNERSHIP))]
    if params["distribute"]:
        steps.append(("redist-conf", lambda: redistribute(module.run_binary)))
    try:
        run_steps(steps, result["steps"])
    except ReplacementStepFailed as failure:
        plan = recovery_plan(failure.step, RECOVERY)
        message, done = recover(failure, backup, plan,
                                {"restore": lambda: restore_file(backup),
                                 "redist-conf": lambda: redistribute(module.run_binary)},
                                "The previous users file was restored and redistributed; the next run makes"
                                " the change again", [["gnt-cluster", "redist-conf"]])
        result["steps"].extend(done)
        raise FleetError(message) from failure


def main():
    NodeModule(argument_spec=dict(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        options=dict(type="list", elements="str", choices=list(ru.USER_OPTIONS), default=["write"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
        distribute=dict(type="bool", default=True),
        **backup_argument_spec()
    ), required_if=[("state", "present", ("password",))]).run(run)


if __name__ == "__main__":
    main()
