#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_merge_in_place
short_description: Run one step of an in-place Ganeti cluster merge, on the target's master
version_added: 0.2.0
description:
  - The engine of the in-place merge (design 2.1 for Ganeti 3.0) that the C(ganeti.fleet.cluster_merge) role runs
    with C(cluster_merge_strategy=in_place). One call runs one step; the role calls them in order
    C(prepare), C(stop), C(merge), C(readd), C(finish), and C(rollback) when one of the first three fails.
  - Runs on the target cluster's master. It reaches the merged clusters' nodes over SSH as root with the master's
    own key (the one C(gnt-node add) uses), checking their host keys against O(host_keys) only, and bounds every
    command (connect 10 s, 15 s of silence, O(command_timeout) in all).
  - C(prepare) checks the state directory first. A C(state.json) of another cluster (another UUID, a cluster built
    again under the same name) is refused; one of a run interrupted before the point of no return is rolled back,
    and the step then fails asking for a new run; one past it is resumed. What a finished or rolled-back run left
    is moved to C(archive/STAMP). Then it reads every configuration, checks that they merge and that every merged
    node answers, backs the configurations up afresh, records each cluster's UUID, configuration serial number and
    running instances in C(state.json), and pauses every watcher.
  - C(stop) stops the merged clusters' running instances, their master IP addresses and daemons (masters last) and
    the target's master daemons. C(merge) merges the configurations from the backups (checked against the recorded
    identities), starts the target's master without voting and archives then clears each merged node's old
    identity. C(readd) is the point of no return, C(finish) starts the instances that ran, resumes the watchers and
    closes the state (C(state.json.done)). Each step renews the watcher pause.
  - C(rollback) converges from whichever step failed before the point of no return. Each action is taken only
    when needed; a node that does not answer is skipped and named, and the state stays so that the next run
    rolls back again first. It never restores a backup whose identity differs from the recorded one.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: none
    details:
      - The role runs the pre-flight and C(cluster_config_merge) in check mode instead.
  diff_mode:
    support: none
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [prepare, stop, merge, readd, finish, rollback]
  state_dir:
    description: The merge's state directory, on the target master and on every merged node (0700, files 0600).
    type: path
    default: /var/lib/ganeti-fleet/merge
  sources:
    description:
      - The merged clusters, as the pre-flight's plan gives them; each needs C(cluster_name), C(master) (its master
        node) and C(online_nodes), and may have C(group_map) (its node groups' names in the target) and
        C(merged_tag) (the cluster tag that records the merge on the target). Other keys are ignored.
      - Used by C(prepare); later steps use what C(prepare) recorded.
    type: list
    elements: dict
    default: []
  host_keys:
    description:
      - SSH host public keys of the merged nodes, a dict of node name to a list of public key lines, as read over
        Ansible's own connection.
      - Needed by every step before C(readd) and by C(rollback); the module writes them to a C(known_hosts) file in
        its temporary directory, removed when it ends.
    type: dict
    default: {}
  group_policy:
    description: See M(ganeti.fleet.cluster_config_merge).
    type: str
    choices: [error, rename, merge]
    default: error
  parameter_policy:
    description: See M(ganeti.fleet.cluster_config_merge).
    type: str
    choices: [strict, warn]
    default: strict
  watcher_pause:
    description: Seconds every watcher stays paused from each step on (each step renews the pause).
    type: int
    default: 3600
  shutdown_timeout:
    description: Seconds for a clean shutdown of each merged instance before Ganeti stops it forcibly.
    type: int
    default: 120
  command_timeout:
    description: Seconds one command on a node may take, at most.
    type: int
    default: 300
  authorized_key:
    description:
      - The target master's root public key (one C(authorized_keys) line). With O(step=rollback), removed from the
        merged nodes in O(key_added_on), after everything else.
    type: str
  key_added_on:
    description: The merged nodes where this run added O(authorized_key) (the rollback takes it away only there).
    type: list
    elements: str
    default: []
  record:
    description: Data kept in the state for a resumed run (the pre-flight's snapshots and disk digests).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Prepare the merge of c2 into c1 (on c1's master)
  ganeti.fleet.cluster_merge_in_place:
    step: prepare
    sources:
      - cluster_name: c2.example.org
        master: node21.example.org
        online_nodes: [node21.example.org, node22.example.org]
        merged_tag: "ganeti-fleet:merged:c2.example.org"
    host_keys:
      node21.example.org: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."]
      node22.example.org: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."]
  delegate_to: node11.example.org

- name: Roll back what the merge did so far
  ganeti.fleet.cluster_merge_in_place:
    step: rollback
  delegate_to: node11.example.org
"""

RETURN = r"""
phase:
  description: The phase the state records after the step (C(new) when there is no state).
  returned: always
  type: str
  sample: stopped
actions:
  description: What the step did, in order.
  returned: always
  type: list
  elements: str
not_reached:
  description: Hosts a rollback could not reach or restore, each with the error (C(host), C(error)).
  returned: always
  type: list
  elements: dict
rolled_back:
  description: Whether the rollback reached everything it had to undo.
  returned: when O(step=rollback)
  type: bool
phase_rolled_back:
  description: The phase the rollback started from.
  returned: when O(step=rollback)
  type: str
message:
  description: What the rollback did, or why it did nothing.
  returned: when O(step=rollback)
  type: str
"""

import os

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_in_place as engine
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_nodes import LocalFiles, NodeOps, known_hosts_text
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule


def run(module):
    params = module.params
    identity = module.require_master()
    files = LocalFiles()
    # Only for this run of the module: the keys come with every step.
    known_hosts = os.path.join(module.tmpdir, "known_hosts")
    with open(known_hosts, "w", encoding="utf-8") as handle:
        handle.write(known_hosts_text(params["host_keys"]))
    ops = NodeOps(identity["node_name"], known_hosts, command_timeout=params["command_timeout"])
    merge = engine.InPlaceMerge(ops, params["state_dir"], identity["node_name"],
                                sources=engine.plan_sources(params["sources"]),
                                group_policy=params["group_policy"], parameter_policy=params["parameter_policy"],
                                watcher_pause=params["watcher_pause"], shutdown_timeout=params["shutdown_timeout"],
                                record=params["record"], files=files, authorized_key=params["authorized_key"],
                                key_added_on=params["key_added_on"])
    return merge.run_step(params["step"])


def main():
    NodeModule(argument_spec=dict(
        step=dict(type="str", required=True, choices=["prepare", "stop", "merge", "readd", "finish", "rollback"]),
        state_dir=dict(type="path", default="/var/lib/ganeti-fleet/merge"),
        sources=dict(type="list", elements="dict", default=[]),
        host_keys=dict(type="dict", default={}, no_log=False),
        group_policy=dict(type="str", choices=["error", "rename", "merge"], default="error"),
        parameter_policy=dict(type="str", choices=["strict", "warn"], default="strict"),
        watcher_pause=dict(type="int", default=3600),
        shutdown_timeout=dict(type="int", default=120),
        command_timeout=dict(type="int", default=300),
        authorized_key=dict(type="str", no_log=False),
        key_added_on=dict(type="list", elements="str", default=[], no_log=False),
        record=dict(type="dict", default={}),
    ), supports_check_mode=False).run(run)


if __name__ == "__main__":
    main()
