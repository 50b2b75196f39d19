#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_merge_backups
short_description: Keep an in-place merge's state and backups private on a node, and remove them once the merge is finished
version_added: 0.2.0
description:
  - An in-place cluster merge (the P(ganeti.fleet.cluster_merge#role) role, strategy C(in_place)) keeps its
    state and backups in a directory on each host it works on (O(state_dir)). Several of these files hold key
    material; the archive of a merged node's C(/var/lib/ganeti) has its C(server.pem), C(rapi.pem) and cluster
    domain secret, and every copy of a C(config.data) has the DRBD secrets.
  - With O(state=present) the directory is created if missing (mode 0700, missing parents too, whatever the
    umask), and every file and directory in it that its group or others may use loses those permissions
    (0644 becomes 0600, 0755 becomes 0700), so that files of an earlier run are tightened too.
  - With O(state=cleaned) the files that a finished merge no longer needs are removed (RV(removed)) and what is
    kept is tightened as above. Removed are C(target-config.data.backup) and C(source-CLUSTER.config.data)
    (target master), C(config.data.backup) (merged masters), C(var-lib-ganeti.tar.gz),
    C(var-lib-ganeti.tar.gz.rolled-back) and C(var-lib-ganeti.tar.gz.partial) (merged nodes). Kept are the record of the merge
    (C(state.json.done), no key material) and anything the merge does not write (RV(kept) says why).
  - O(state=cleaned) removes nothing, and fails saying why, when there is something to remove and a merge is
    under way on this host (C(state.json)), this host is not a node of O(target_cluster) (the merge did not
    readd it, its backups are what brings its cluster back), or a merged node is not an online node of
    O(target_cluster) yet.
    It also removes nothing when no finished merge is recorded (neither O(merged_nodes) nor C(state.json.done)).
    With nothing left to remove it checks nothing and reports no change, so a second cleanup is quiet.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - The role runs this module with O(state=present) on the masters before a merge writes anything. After the
    merge is verified it runs it with O(state=cleaned) in check mode on the target master (which reads its
    record of the merge) and, if that finds something to remove, on every merged node with the
    RV(merged_nodes) the target master returned, and last on the target master.
  - The node's cluster and its online nodes are read from Ganeti's ssconf files (C(/var/lib/ganeti)).
  - Symbolic links in O(state_dir) are neither followed nor changed. A O(state_dir) that is not a directory, or
    that belongs to another user than the one the module runs as (root), is refused and nothing is changed.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
attributes:
  check_mode:
    support: full
    details:
      - Nothing is created, changed or removed; the result says what would be.
  diff_mode:
    support: full
    details:
      - The diff lists the directory's entries with their modes, before and after.
options:
  state_dir:
    description:
      - The merge's state directory on this host (the role's C(cluster_merge_state_dir)).
    type: path
    default: /var/lib/ganeti-fleet/merge
  state:
    description:
      - V(present) creates the directory and tightens what is in it; V(cleaned) removes the backups of a
        finished merge and tightens what is kept.
    type: str
    choices: [present, cleaned]
    default: present
  target_cluster:
    description:
      - Name of the cluster the merge went into. Required with O(state=cleaned); this node must be one of its
        nodes.
    type: str
  merged_nodes:
    description:
      - With O(state=cleaned), the nodes the merge readded into O(target_cluster); each must be an online node
        of it. Default is the list in the record of the merge (C(state.json.done)) in O(state_dir), which
        exists on the target master only; pass the target master's RV(merged_nodes) on the other nodes.
    type: list
    elements: str
seealso:
  - module: ganeti.fleet.cluster_config_merge
"""

EXAMPLES = r"""
- name: Make the merge's state directory private (before a merge writes to it)
  ganeti.fleet.cluster_merge_backups:
    state_dir: /var/lib/ganeti-fleet/merge

- name: Read the merged nodes of the finished merge into c1.lab from its master's record
  ganeti.fleet.cluster_merge_backups:
    state: cleaned
    target_cluster: c1.lab
  check_mode: true
  register: cleanup_plan
  delegate_to: c1n1.lab

- name: Remove the backups on every node the merge readded, then on the master
  ganeti.fleet.cluster_merge_backups:
    state: cleaned
    target_cluster: c1.lab
    merged_nodes: "{{ cleanup_plan.merged_nodes }}"
  loop: "{{ cleanup_plan.merged_nodes + ['c1n1.lab'] }}"
  delegate_to: "{{ item }}"
"""

RETURN = r"""
state_dir:
  description: The state directory.
  returned: always
  type: str
  sample: /var/lib/ganeti-fleet/merge
created:
  description: Directories created (O(state=present)), outermost first.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/ganeti-fleet/merge]
tightened:
  description: Files and directories whose group and other permissions were (would be) removed.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/ganeti-fleet/merge/var-lib-ganeti.tar.gz]
removed:
  description: Files removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
  sample: [/var/lib/ganeti-fleet/merge/var-lib-ganeti.tar.gz, /var/lib/ganeti-fleet/merge/config.data.backup]
kept:
  description: With O(state=cleaned), each file of the directory that stays, with the reason.
  returned: always
  type: dict
  sample: {state.json.done: "the record of the finished merge (plan, snapshots, disk digests; no key material)"}
merged_nodes:
  description:
    - The merged nodes the cleanup checked (O(merged_nodes), or the record of the merge in O(state_dir));
      empty when none is known.
  returned: always
  type: list
  elements: str
  sample: [c2n1.lab, c2n2.lab, c3n1.lab, c3n2.lab]
reason:
  description: On a refusal, its kind; V(merge_under_way), V(not_a_target_node), V(merge_not_finished) or V(bad_record).
  returned: failure
  type: str
  sample: merge_under_way
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_backups as mb
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import missing_directories
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule


def run(module):
    params, result = module.params, module.result
    state_dir = params["state_dir"].rstrip("/") or "/"
    result.update(state_dir=state_dir, created=[], tightened=[], removed=[], kept={}, merged_nodes=[])
    if params["state"] == "cleaned" and not params["target_cluster"]:
        raise FleetError("target_cluster is required with state=cleaned: name the cluster the merge went into")
    files, entries = mb.scan(state_dir)
    removals = []
    if params["state"] == "present":
        result["created"] = missing_directories(state_dir)
    elif files:
        merged_nodes = params["merged_nodes"]
        if merged_nodes is None:
            merged_nodes = mb.recorded_nodes(state_dir)
        result["merged_nodes"] = sorted(merged_nodes or [])
        identity = module.identity
        decision = mb.plan_cleanup(files, identity["node_name"], identity["cluster_name"],
                                   params["target_cluster"], merged_nodes, identity["online_nodes"])
        removals, result["kept"] = decision["remove"], decision["keep"]
    gone, tightening, after = mb.plan_changes(state_dir, entries, removals, result["created"])
    result.update(removed=gone, tightened=[path for path, _old, _new in tightening])
    result["changed"] = bool(result["created"] or gone or tightening)
    if module._diff and result["changed"]:
        result["diff"] = dict(before_header=state_dir, after_header=state_dir,
                              before=mb.listing(entries, state_dir), after=mb.listing(after, state_dir))
    if module.check_mode:
        return
    if params["state"] == "present":
        mb.ensure_private_directory(state_dir)
    mb.apply(state_dir, tightening, removals)


def main():
    NodeModule(argument_spec=dict(
        state_dir=dict(type="path", default=mb.STATE_DIR),
        state=dict(type="str", choices=["present", "cleaned"], default="present"),
        target_cluster=dict(type="str"),
        merged_nodes=dict(type="list", elements="str"),
    )).run(run)


if __name__ == "__main__":
    main()
