#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: transfer_fix
short_description: Fix inter-cluster disk transfers on Ganeti 3.0.x nodes
version_added: 0.1.0
description:
  - On Ganeti 3.0.0 to 3.0.2 the sending side of every disk transfer runs C(socat) with
    C(openssl-commonname=ganeti.example.com), while the receiving node presents a certificate
    issued to its own host name. With socat 1.7.3 or later every inter-cluster transfer
    (C(move-instance), RAPI remote export) therefore fails with
    C(certificate is valid but its commonName does not match hostname) (upstream issue
    ganeti/ganeti#1681, fixed after 3.0.2).
  - This module changes Ganeti's C(ganeti/impexpd/__init__.py) on the node so that the sending
    side expects the commonName of the peer certificate it was handed as CA file. Certificate
    verification stays on. Local C(gnt-backup) exports, which use the node daemon certificate,
    keep working.
  - The change is applied only when the installed Ganeti release and the file's SHA-256 are the
    known stock ones. The transformation is deterministic, so the fixed file has a known checksum
    too. A byte-exact backup of the stock file is kept under O(backup_dir), and O(state=absent)
    restores the original byte for byte.
  - A file that matches neither the stock nor the fixed checksum (drift) is never touched. The
    module fails and names the file, its checksum and the remedy.
  - On Ganeti 3.1 or later the upstream fix is included and the module changes nothing
    (RV(state=not_needed)).
  - Each transfer starts a new import/export daemon process, so no Ganeti daemon needs a restart.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - Run it on every node of a cluster; the P(ganeti.fleet.transfer_fix#role) role does that and marks the
    cluster with the tag RV(cluster_tag).
  - Package upgrades or C(apt-get install --reinstall ganeti-3.0) put the stock file back;
    run the module again afterwards. C(dpkg --verify ganeti-3.0) reports the changed file while
    the fix is applied.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
attributes:
  diff_mode:
    support: full
    details:
      - The diff is a summary (file, state, SHA-256), not the file content.
options:
  state:
    description:
      - V(present) applies the fix, V(absent) restores the stock file.
    type: str
    choices: [present, absent]
    default: present
  share_dir:
    description:
      - Directory of the active Ganeti version's shared files. Symbolic links are resolved, so the
        default follows Debian's C(/usr/share/ganeti/default) to the version in use.
    type: path
    default: /usr/share/ganeti/default
  backup_dir:
    description:
      - Directory for the byte-exact backup of the stock file and its metadata (one
        sub-directory per Ganeti release). The backup is removed after a successful restore.
    type: path
    default: /var/lib/ganeti-fleet/transfer-fix
seealso:
  - name: Ganeti issue 1681
    description: The upstream report of the commonName failure.
    link: https://github.com/ganeti/ganeti/issues/1681
"""

EXAMPLES = r"""
- name: Fix transfers on every node of the clusters
  hosts: ganeti_nodes
  become: true
  tasks:
    - name: Apply the transfer fix
      ganeti.fleet.transfer_fix:
        state: present

- name: Go back to the stock Ganeti file
  hosts: ganeti_nodes
  become: true
  tasks:
    - name: Restore the stock impexpd
      ganeti.fleet.transfer_fix:
        state: absent
"""

RETURN = r"""
state:
  description:
    - State of the node after the task (in check mode, the state it would have).
    - V(fixed), V(stock), or V(not_needed) on Ganeti 3.1 or later.
  returned: always
  type: str
  sample: fixed
previous_state:
  description: State found before the task.
  returned: always
  type: str
  sample: stock
ganeti_version:
  description: Ganeti release found in O(share_dir).
  returned: always
  type: str
  sample: 3.0.2
file:
  description: The affected file, with symbolic links resolved.
  returned: always
  type: str
  sample: /usr/share/ganeti/3.0/ganeti/impexpd/__init__.py
checksum_before:
  description: SHA-256 of the file before the task (null when the fix is not needed).
  returned: always
  type: str
  sample: fab727d58732434236f263e56eb90a2a2773a33f7797aa47b4da3da1e04b3c82
checksum_after:
  description: SHA-256 of the file after the task (in check mode, the expected one).
  returned: always
  type: str
  sample: 21c76f47e64934d89d19b57ddd104a3e573d96c7c97fdd3734756d49fb86ca6d
backup:
  description: Path of the backup of the stock file while the fix is applied, else null.
  returned: always
  type: str
  sample: /var/lib/ganeti-fleet/transfer-fix/3.0.2/impexpd__init__.py.orig
cluster_tag:
  description:
    - The cluster tag that marks a cluster whose online nodes all carry the fix (or run Ganeti 3.1 or
      later); the move pre-flight looks for it on clusters older than Ganeti 3.1. The module does not
      set it; the P(ganeti.fleet.transfer_fix#role) role does.
  returned: always
  type: str
  sample: ganeti-fleet:transfer-fix
node:
  description:
    - The node's cluster membership, read from Ganeti's ssconf files (keys are null when the
      node is not in a cluster).
  returned: always
  type: dict
  contains:
    cluster_name:
      description: Name of the node's cluster.
      type: str
      sample: c1.lab
    master_node:
      description: Name of the cluster's master node.
      type: str
      sample: c1n1.lab
    node_name:
      description: This node's name in the cluster.
      type: str
      sample: c1n2.lab
    is_master:
      description: Whether this node is the master.
      type: bool
      sample: false
    nodes:
      description: All nodes of the cluster.
      type: list
      elements: str
      sample: [c1n1.lab, c1n2.lab]
    online_nodes:
      description: Online nodes of the cluster.
      type: list
      elements: str
      sample: [c1n1.lab, c1n2.lab]
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _transfer_fix as tf
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_TRANSFER_FIX


def run(module):
    params = module.params
    result = module.result
    result.update(node=module.identity, cluster_tag=TAG_TRANSFER_FIX)
    inspection = tf.Inspection(params["share_dir"])
    result.update(ganeti_version=inspection.release, file=inspection.path,
                  previous_state=inspection.state, checksum_before=inspection.digest)
    plan = tf.Plan(inspection, params["state"])
    result.update(state=plan.after_state, changed=plan.changed, checksum_after=plan.checksum_after)
    if module._diff and plan.changed:
        result["diff"] = dict(
            before_header=inspection.path, after_header=inspection.path,
            before=tf.diff_text(inspection.state, inspection.digest, inspection.path),
            after=tf.diff_text(plan.after_state, plan.checksum_after, inspection.path))
    if not module.check_mode:
        result["backup"] = tf.execute(plan, params["backup_dir"])
    elif plan.after_state == tf.STATE_FIXED:
        result["backup"] = tf.backup_paths(params["backup_dir"], inspection.release)[0]
    else:
        result["backup"] = None


def main():
    NodeModule(argument_spec=dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        share_dir=dict(type="path", default=tf.DEFAULT_SHARE_DIR),
        backup_dir=dict(type="path", default=tf.DEFAULT_BACKUP_DIR),
    )).run(run)


if __name__ == "__main__":
    main()
