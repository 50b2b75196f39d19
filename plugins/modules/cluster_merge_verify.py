#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_merge_verify
short_description: Check that a cluster merge lost nothing
version_added: 0.2.0
description:
  - Compares the target cluster after a merge with the inventory snapshots taken before it by
    M(ganeti.fleet.cluster_merge_preflight), and fails when anything is missing or changed.
  - Every instance of every snapshot must be an instance of the target with the same admin state, run state,
    disk template, disk sizes, MAC addresses, OS, hypervisor, memory and VCPUs, and keep all its tags (moves
    add provenance tags). Every node must be a node of the target, every node group (under its mapped name)
    and every network must exist.
  - What the move strategy carries besides instances is checked too - every network with the same addresses,
    gateway and MAC prefix, its external reservations (the target may have more), tags and group connections
    (mode, link, VLAN, under the mapped group names); every node group with its own parameters (allocation
    policy, ndparams, diskparams, instance policy; not for a group merged into the target's group of the same
    name, which keeps its own) and tags; every node in its mapped group with the same secondary IP, master and VM
    capability, ndparams and tags; and the cluster tags of every cluster. The collection's own C(ganeti-fleet:)
    tags are not compared.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.merge
  - ganeti.fleet.attributes
  - ganeti.fleet.attributes.INFO_MODULE
options:
  snapshots:
    description: RV(ganeti.fleet.cluster_merge_preflight#module:snapshots) of the pre-flight before the merge.
    type: list
    elements: dict
    required: true
  group_map:
    description:
      - Per merged cluster name, its group names mapped to the target's (the V(group_map) of each entry of
        RV(ganeti.fleet.cluster_merge_preflight#module:plan.sources)). Groups not listed keep their name.
    type: dict
    default: {}
  node_handover:
    description:
      - Whether the merged clusters' nodes joined the target (the merge's O(ganeti.fleet.cluster_merge_preflight#module:node_handover)).
        V(false) does not look for them in the target.
    type: bool
    default: true
  disk_locations_of:
    description:
      - Instances whose disk files to locate on the target (see RV(disk_locations)), to compare their data with the
        hashes taken before the merge.
    type: list
    elements: str
    default: []
requirements:
  - requests
seealso:
  - module: ganeti.fleet.cluster_merge_preflight
"""

EXAMPLES = r"""
- name: Check that the merge into cluster-a lost nothing
  ganeti.fleet.cluster_merge_verify:
    target: "{{ connection_a }}"
    snapshots: "{{ merge_preflight.snapshots }}"
    group_map: "{{ dict(merge_preflight.plan.sources | map(attribute='cluster_name')
      | zip(merge_preflight.plan.sources | map(attribute='group_map'))) }}"
"""

RETURN = r"""
differences:
  description: What is missing or changed; empty when the merge lost nothing.
  returned: always
  type: list
  elements: str
  sample: ["instance web1 (from b.example.org): running was True, is False"]
snapshot:
  description: The target's inventory now, in the form of the pre-flight's snapshots.
  returned: always
  type: dict
disk_locations:
  description:
    - Node and file of each file-based disk of O(disk_locations_of) on the target, in the form of
      RV(ganeti.fleet.cluster_merge_preflight#module:disk_locations).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils._merge_checks import (
    TARGET_OPTION,
    disk_locations,
    read_cluster,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_verify import compare_snapshot, snapshot
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule

ARGUMENT_SPEC = dict(
    target=TARGET_OPTION,
    snapshots=dict(type="list", elements="dict", required=True),
    group_map=dict(type="dict", default={}),
    node_handover=dict(type="bool", default=True),
    disk_locations_of=dict(type="list", elements="str", default=[]),
)


def run(module):
    params = module.params
    client = module.connect(params["target"])
    now = snapshot(read_cluster(client))
    present = [name for name in params["disk_locations_of"] if name in now["instances"]]
    differences = compare_snapshot(params["snapshots"], now, params["group_map"], node_handover=params["node_handover"])
    module.result.update(differences=differences, snapshot=now,
                         disk_locations=disk_locations(client, now["cluster_name"], present))
    if differences:
        module.fail("The merge into %s lost or changed %d thing(s): %s"
                    % (now["cluster_name"], len(differences), "; ".join(differences)))


def main():
    RapiModule(argument_spec=ARGUMENT_SPEC, connection=False).run(run)


if __name__ == "__main__":
    main()
