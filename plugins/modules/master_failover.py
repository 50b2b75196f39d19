#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: master_failover
short_description: Make the Ganeti node it runs on the cluster's master (gnt-cluster master-failover)
version_added: 0.1.0
description:
  - Runs C(gnt-cluster master-failover) on the node the task runs on, so that this node becomes the master of
    its cluster. Ganeti's RAPI has no master failover (ganeti/ganeti#383), so this module runs on the node over
    the normal SSH connection.
  - When the node already is the master, nothing is done.
  - Only a master candidate can become master. The module reads the candidates from Ganeti's ssconf files and
    fails, naming them, when this node is not one (make it one with M(ganeti.fleet.node) and
    C(role=master-candidate) first).
  - By default Ganeti asks the other nodes to vote and refuses when most of them do not answer; see O(no_voting).
  - Afterwards the module checks that this node is the master and that the master daemon answers.
  - The master IP address, and with it RAPI, moves to this node; RAPI is unavailable for the few seconds the
    failover takes (about 10 seconds on small clusters).
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - This module runs on the B(new master), a master candidate of the cluster (it is not a RAPI module). It needs
    root.
  - RAPI modules cannot change the master's role (Ganeti refuses it, and M(ganeti.fleet.node) fails with a
    message pointing here); fail the master over first, then change the old master's role.
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: partial
    details:
      - In check mode the module only checks that the node belongs to a cluster and is a master candidate, and
        reports whether a failover would run; the vote of the other nodes is not checked.
  diff_mode:
    support: full
    details:
      - The diff shows the master before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  no_voting:
    description:
      - Fail over without the agreement of the other nodes (C(--no-voting --yes-do-it)).
      - B(Dangerous.) Use it only when most nodes are down and you made sure by other means that the old master
        is not running as master any more; otherwise the cluster ends up with two masters.
    type: bool
    default: false
  ignore_offline_nodes:
    description: Do not count offline nodes when checking that a majority of nodes is healthy (C(--ignore-offline-nodes)).
    type: bool
    default: false
  timeout:
    description: Seconds to wait, from the start of the failover, until the new master daemon answers queries.
    type: int
    default: 300
seealso:
  - module: ganeti.fleet.node
  - name: gnt-cluster master-failover
    description: Ganeti's manual page.
    link: https://docs.ganeti.org/docs/ganeti/3.0/man/gnt-cluster.html
"""

EXAMPLES = r"""
- name: Make node2 the master of its cluster
  hosts: node2.example.org
  gather_facts: false
  tasks:
    - name: Fail the master over to this node
      ganeti.fleet.master_failover:
      register: failover

    - name: Report
      ansible.builtin.debug:
        msg: "master was {{ failover.master_before }}, now {{ failover.master }}"

- name: Take the old master out of the candidate pool afterwards
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Drain the old master
      ganeti.fleet.node:
        name: node1.example.org
        role: drained
"""

RETURN = r"""
cluster_name:
  description: Name of the cluster (from ssconf).
  returned: always
  type: str
  sample: cluster.example.org
node_name:
  description: The node the module ran on.
  returned: always
  type: str
  sample: node2.example.org
master_before:
  description: The master before the module ran.
  returned: always
  type: str
  sample: node1.example.org
master:
  description: The master after the module ran (in check mode, the predicted one).
  returned: always
  type: str
  sample: node2.example.org
master_candidates:
  description: The cluster's master candidates (the master included), from ssconf.
  returned: always
  type: list
  elements: str
  sample: [node1.example.org, node2.example.org]
command:
  description: The command run (or in check mode, that would run).
  returned: when a failover is needed
  type: list
  elements: str
  sample: [gnt-cluster, master-failover]
stdout_lines:
  description: Output of C(gnt-cluster master-failover).
  returned: when the failover ran
  type: list
  elements: str
stderr_lines:
  description: Error output of C(gnt-cluster master-failover) (Ganeti's warnings land here).
  returned: when the failover ran
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import DATA_DIR, node_identity


def read_lines(name, ssconf_dir=DATA_DIR):
    try:
        with open(os.path.join(ssconf_dir, "ssconf_" + name), encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError:
        return None


def failover_command(no_voting=False, ignore_offline_nodes=False):
    command = ["gnt-cluster", "master-failover"]
    if no_voting:
        command += ["--no-voting", "--yes-do-it"]
    if ignore_offline_nodes:
        command.append("--ignore-offline-nodes")
    return command


def main():
    module = AnsibleModule(
        argument_spec=dict(
            no_voting=dict(type="bool", default=False),
            ignore_offline_nodes=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    params = module.params
    identity = node_identity()
    candidates = read_lines("master_candidates") or []
    result = dict(changed=False, cluster_name=identity["cluster_name"], node_name=identity["node_name"],
                  master_before=identity["master_node"], master=identity["master_node"],
                  master_candidates=candidates)
    if not identity["cluster_name"]:
        module.fail_json(msg="this host is not a node of a Ganeti cluster (no ssconf files in %s)" % DATA_DIR,
                         **result)
    if not identity["node_name"]:
        module.fail_json(msg="cannot tell which node of %s this host is (hostname %s is not in the node list)"
                         % (identity["cluster_name"], os.uname()[1]), **result)
    if identity["is_master"]:
        module.exit_json(**result)
    me = identity["node_name"]
    if me not in candidates:
        module.fail_json(
            msg="node %s is not a master candidate of %s, so it cannot become master; the candidates are %s. "
                "Make it one first (ganeti.fleet.node with role: master-candidate) or run this on a candidate"
                % (me, identity["cluster_name"], ", ".join(c for c in candidates if c != identity["master_node"])
                   or "none besides the master"), **result)
    command = failover_command(params["no_voting"], params["ignore_offline_nodes"])
    result.update(changed=True, master=me, command=command)
    if module._diff:
        result["diff"] = dict(before={"master": identity["master_node"]}, after={"master": me})
    if module.check_mode:
        module.exit_json(**result)

    deadline = time.monotonic() + params["timeout"]
    rc, out, err = module.run_command(command, check_rc=False)
    result.update(stdout_lines=out.splitlines(), stderr_lines=err.splitlines())
    after = node_identity()
    result["master"] = after["master_node"]
    if rc != 0 or after["master_node"] != me:
        module.fail_json(msg="gnt-cluster master-failover on %s failed (rc=%s, master now %s): %s"
                         % (me, rc, after["master_node"], (err or out).strip()),
                         changed=after["master_node"] != identity["master_node"],
                         **dict((k, v) for k, v in result.items() if k != "changed"))
    # The master daemons start in the background; wait until the new master answers queries
    # (gnt-cluster getmaster only reads ssconf) and reports this node as master.
    last = ""
    while True:
        rc, out, err = module.run_command(["gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,role"],
                                          check_rc=False)
        if rc == 0 and "%s|M" % me in out.split():
            break
        last = (err or out).strip()
        if time.monotonic() > deadline:
            module.fail_json(msg="node %s is master now, but its master daemon did not answer within %s s: %s"
                             % (me, params["timeout"], last), **result)
        time.sleep(1)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
