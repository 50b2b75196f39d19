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
  - Run it on the B(new master), a master candidate of the cluster.
  - RAPI modules cannot change the master's role (Ganeti refuses it, and M(ganeti.fleet.node) fails with a
    message pointing here); fail the master over first, then change the old master's role.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
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

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import node_identity, ssconf_lines
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule


def failover_command(no_voting=False, ignore_offline_nodes=False):
    command = ["gnt-cluster", "master-failover"]
    if no_voting:
        command += ["--no-voting", "--yes-do-it"]
    if ignore_offline_nodes:
        command.append("--ignore-offline-nodes")
    return command


def require_candidate(identity, candidates):
    """This node's name; a failure when it cannot become master."""
    me = identity["node_name"]
    if not me:
        raise FleetError("cannot tell which node of %s this host is (hostname %s is not in the node list)"
                         % (identity["cluster_name"], os.uname()[1]))
    if not identity["is_master"] and me not in candidates:
        raise FleetError(
            "node %s is not a master candidate of %s, so it cannot become master; the candidates are %s. "
            "Make it one first (ganeti.fleet.node with role: master-candidate) or run this on a candidate"
            % (me, identity["cluster_name"], ", ".join(c for c in candidates if c != identity["master_node"])
               or "none besides the master"))
    return me


def wait_for_master_daemon(module, me, deadline):
    """Wait until the new master answers queries and reports this node as master.

    The master daemons start in the background, and ``gnt-cluster getmaster``
    only reads ssconf, so a node list query is what proves they answer.
    """
    while True:
        rc, out, err = module.run_binary(["gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,role"])
        if rc == 0 and "%s|M" % me in out.split():
            return
        if time.monotonic() > deadline:
            raise FleetError("node %s is master now, but its master daemon did not answer within %s s: %s"
                             % (me, module.params["timeout"], (err or out).strip()))
        time.sleep(1)


def run(module):
    params, result, identity = module.params, module.result, module.identity
    candidates = ssconf_lines("master_candidates") or []
    result.update(cluster_name=identity["cluster_name"], node_name=identity["node_name"],
                  master_before=identity["master_node"], master=identity["master_node"],
                  master_candidates=candidates)
    module.require_cluster_node()
    me = require_candidate(identity, candidates)
    if identity["is_master"]:
        return
    command = failover_command(params["no_voting"], params["ignore_offline_nodes"])
    result.update(changed=True, master=me, command=command)
    if module._diff:
        result["diff"] = dict(before={"master": identity["master_node"]}, after={"master": me})
    if module.check_mode:
        return
    deadline = time.monotonic() + params["timeout"]
    rc, out, err = module.run_binary(command)
    result.update(stdout_lines=out.splitlines(), stderr_lines=err.splitlines())
    result["master"] = node_identity()["master_node"]
    if rc != 0 or result["master"] != me:
        result["changed"] = result["master"] != identity["master_node"]
        raise FleetError("gnt-cluster master-failover on %s failed (rc=%s, master now %s): %s"
                         % (me, rc, result["master"], (err or out).strip()))
    wait_for_master_daemon(module, me, deadline)


def main():
    NodeModule(argument_spec=dict(
        no_voting=dict(type="bool", default=False),
        ignore_offline_nodes=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
    )).run(run)


if __name__ == "__main__":
    main()
