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
  - Every other line of the file (comments, other users) is kept as it is. The file is replaced atomically,
    keeping its owner, group and mode (Ganeti's C(gnt-rapi:gnt-masterd), 0640, for a new file).
  - After a change, C(gnt-cluster redist-conf) copies the file to every online node (used after a master
    failover). The RAPI daemon on the master notices the new file by itself (inotify); no restart.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - This module runs on the cluster's B(master node) over the normal SSH connection (RAPI cannot manage its
    users). It needs root.
  - Enable pipelining for the task (C(ansible_pipelining=true), as the examples do) so that Ansible does not
    write the module's arguments, O(password) included, to a temporary file on the node.
  - RAPI accepts the new password a moment after the task; M(ganeti.fleet.rapi_access_check) run from the
    controller checks it for real.
  - Ganeti hashes user names and passwords as ASCII; other characters are refused.
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written in check mode; the result says what would change.
  diff_mode:
    support: full
    details:
      - The diff names the user and its options, never the password or its hash.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  name:
    description: The RAPI user name (printable ASCII, no blanks, no C(:)).
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
  description: What was done, in order; a subset of V(write) and V(redist-conf).
  returned: always
  type: list
  elements: str
  sample: [write, redist-conf]
"""

import grp
import os
import pwd
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    DATA_DIR,
    atomic_write,
    node_identity,
)


def _ids(user, group):
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def ownership(path):
    """(mode, uid, gid) for the users file: the existing file's, else Ganeti's."""
    try:
        stat = os.stat(path)
        return stat.st_mode & 0o7777, stat.st_uid, stat.st_gid
    except FileNotFoundError:
        mode, user, group = ra.RAPI_USERS_OWNERSHIP
        uid, gid = _ids(user, group)
        return mode, uid, gid


def ensure_directory(path):
    directory = os.path.dirname(path)
    if os.path.isdir(directory):
        return
    mode, user, group = ra.RAPI_DIR_OWNERSHIP
    uid, gid = _ids(user, group)
    os.mkdir(directory, mode)
    os.chown(directory, uid, gid)
    os.chmod(directory, mode)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            options=dict(type="list", elements="str", choices=list(ra.USER_OPTIONS), default=["write"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
            distribute=dict(type="bool", default=True),
        ),
        required_if=[("state", "present", ("password",))],
        supports_check_mode=True,
    )
    params = module.params
    identity = node_identity()
    result = dict(changed=False, cluster_name=identity["cluster_name"], master_node=identity["master_node"],
                  user=params["name"], action=None, reasons=[], steps=[])
    if not identity["cluster_name"]:
        module.fail_json(msg="this host is not a node of a Ganeti cluster (no ssconf files in %s)" % DATA_DIR,
                         **result)
    if not identity["is_master"]:
        module.fail_json(msg="this module must run on the master node of %s (%s), not on %s"
                         % (identity["cluster_name"], identity["master_node"],
                            identity["node_name"] or "this host"), **result)
    path = ra.RAPI_USERS_FILE
    options = [o for o in ra.USER_OPTIONS if o in params["options"]]
    try:
        ra.validate_user(params["name"], params["password"] if params["state"] == "present" else None)
        try:
            with open(path, encoding="utf-8") as handle:
                content = handle.read()
        except FileNotFoundError:
            content = None
        new_content, action, reasons = ra.plan_users_file(
            content, params["name"], params["password"], options, params["state"], params["update_password"])
    except ra.AccessError as exc:
        module.fail_json(msg=str(exc), **result)
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, exc), **result)
    result.update(action=action, reasons=reasons, changed=action is not None)
    if action is None:
        module.exit_json(**result)
    if module._diff:
        before = "user %s: %s\n" % (params["name"], "absent" if action == "created" else "present")
        after = ("user %s: absent\n" % params["name"] if action == "removed"
                 else "user %s: present, password hashed ({HA1}), options %s\n"
                 % (params["name"], ",".join(options) or "(none)"))
        result["diff"] = dict(before_header=path, after_header=path, before=before, after=after)
    planned = ["write"] + (["redist-conf"] if params["distribute"] else [])
    if module.check_mode:
        result["steps"] = planned
        module.exit_json(**result)
    try:
        ensure_directory(path)
        mode, uid, gid = ownership(path)
        atomic_write(path, new_content.encode("utf-8"), mode, uid, gid)
    except (OSError, KeyError) as exc:
        module.fail_json(msg="cannot write %s: %s" % (path, exc), exception=traceback.format_exc(), **result)
    result["steps"].append("write")
    if params["distribute"]:
        rc, out, err = module.run_command(["gnt-cluster", "redist-conf"], check_rc=False)
        if rc != 0:
            module.fail_json(msg="gnt-cluster redist-conf failed (rc=%s): %s" % (rc, (err or out).strip()[-1000:]),
                             **result)
        result["steps"].append("redist-conf")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
