#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_merge_carry
short_description: Carry what is not an instance from a merged Ganeti cluster to the target of a move merge
version_added: 0.3.0
description:
  - Part of the C(move) strategy of the C(ganeti.fleet.cluster_merge) role; instances move with
    M(ganeti.fleet.instance_move), everything else of the merged cluster is carried by this module over RAPI.
  - With O(phase=objects), before any instance moves, creates on the target the merged cluster's node groups
    (under their name in O(group_map)) with their own parameters (allocation policy, ndparams, diskparams,
    instance policy) and tags, its networks with their addresses, MAC prefix, external reservations and tags,
    connects each network to the mapped groups with the merged cluster's mode, link and VLAN (a network with
    instances on it also to the target's groups that have VM-capable nodes, where the moves place instances),
    and adds the merged cluster's cluster tags to the target's (not the collection's own C(ganeti-fleet:) tags). A group
    mapped onto a group the target already had (group policy V(merge)) keeps the target's parameters; the
    differences are returned as warnings.
  - Each network and group it creates carries the tag C(ganeti-fleet:carried-from:CLUSTER/NAME), so that a
    later run recognises its own copies (the pre-flight does not count them as clashes); what exists already is
    not created again, so a second run changes nothing.
  - It also returns, per node of the merged cluster, how the node joins the target (RV(nodes)) - its group,
    secondary IP, master and VM capability, and the C(gnt-node add) command line for the target's master - and
    the cluster tags that keep these on the target while the merged cluster is taken apart (RV(record_tags)).
    When the target's tags say the merged cluster is already being taken apart (C(ganeti-fleet:merging:NAME)),
    its RAPI is not contacted and RV(nodes) comes from those tags.
  - With O(phase=nodes), once the nodes have joined the target, sets what C(gnt-node add) cannot (ndparams,
    node tags) and corrects master and VM capability, for the nodes of O(nodes).
  - Talks to two clusters, so it is not in the C(ganeti.fleet.rapi) action group.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.merge
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details: Reads both clusters and returns what would be created, changing nothing.
  diff_mode:
    support: full
    details: The target's networks, node groups and cluster tags (O(phase=objects)) or node tags and parameters
      (O(phase=nodes)) before and after.
options:
  source:
    description:
      - Connection to the RAPI of the merged cluster, with the keys of O(target) and O(source.name). Each
        connection key falls back to an environment variable C(GANETI_SOURCE_RAPI_*). Not contacted with
        O(phase=nodes), nor when the target's tags say the merged cluster is being taken apart.
    type: dict
    required: true
    suboptions:
      name:
        description: The merged cluster's name, as in the target's merge tags.
        type: str
        required: true
      rapi_url:
        description: RAPI URL, as O(target.rapi_url).
        type: str
      rapi_user:
        description: RAPI user, as O(target.rapi_user).
        type: str
      rapi_password:
        description: Its password, as O(target.rapi_password).
        type: str
      ca_path:
        description: CA file, as O(target.ca_path).
        type: path
      validate_certs:
        description: Verify the certificate, as O(target.validate_certs).
        type: bool
        default: true
      verify_hostname:
        description: Check the certificate's host name, as O(target.verify_hostname).
        type: bool
        default: true
      timeout:
        description: Seconds for each HTTP request, as O(target.timeout).
        type: int
        default: 60
      allow_plain_http:
        description: Accept an C(http://) URL, as O(target.allow_plain_http).
        type: bool
        default: false
  group_map:
    description:
      - The merged cluster's group names mapped to the target's (V(group_map) of its entry in
        RV(ganeti.fleet.cluster_merge_preflight#module:plan.sources)). Groups not listed keep their name.
    type: dict
    default: {}
  phase:
    description:
      - V(objects) carries groups, networks, connections and cluster tags and returns RV(nodes); run it before
        any instance moves. V(nodes) sets node tags and parameters of O(nodes) once they joined the target.
    type: str
    choices: [objects, nodes]
    default: objects
  nodes:
    description:
      - With O(phase=nodes), RV(nodes) of the O(phase=objects) run. Nodes that are not (yet) nodes of the target
        are left out and listed in RV(missing).
    type: dict
    default: {}
requirements:
  - requests
notes:
  - The target's user needs write access (C(rapi_user) of O(target) is read-only in the pre-flight, not here).
  - Networks are created with Ganeti's conflict check off, so that the copy has exactly the merged cluster's
    external reservations and no others.
seealso:
  - module: ganeti.fleet.cluster_merge_preflight
  - module: ganeti.fleet.cluster_merge_verify
"""

EXAMPLES = r"""
- name: Carry networks, node groups and cluster tags of cluster-b to cluster-a before the moves
  ganeti.fleet.cluster_merge_carry:
    target: "{{ connection_a }}"
    source: "{{ connection_b | combine({'name': 'cluster-b.example.org'}) }}"
    group_map: "{{ merge_preflight.plan.sources[0].group_map }}"
  register: carried

- name: Add a node of cluster-b to cluster-a with its secondary IP and capabilities (on cluster-a's master)
  ansible.builtin.command:
    argv: "{{ carried.nodes['node3.example.org'].add_argv }}"
  delegate_to: cluster-a-master

- name: Give the joined nodes their ndparams and tags
  ganeti.fleet.cluster_merge_carry:
    target: "{{ connection_a }}"
    source: {name: cluster-b.example.org}
    phase: nodes
    nodes: "{{ carried.nodes }}"
"""

RETURN = r"""
created:
  description: What O(phase=objects) created (or would create in check mode) on the target.
  returned: always
  type: dict
  contains:
    groups:
      description: Names of the node groups created.
      type: list
      elements: str
    networks:
      description: Names of the networks created.
      type: list
      elements: str
    connections:
      description: C(NETWORK -> GROUP) of each network connection made.
      type: list
      elements: str
    cluster_tags:
      description: Cluster tags added to the target.
      type: list
      elements: str
  sample: {groups: [default-b], networks: [net-b], connections: [net-b -> default-b], cluster_tags: [site:b]}
warnings_found:
  description: What is carried differently from the merged cluster (a group that keeps the target's parameters,
    a network connected differently).
  returned: always
  type: list
  elements: str
nodes:
  description:
    - Per node of the merged cluster, how it joins the target - V(group), V(secondary_ip) (null when single-homed),
      V(master_capable), V(vm_capable), V(ndparams), V(tags) and V(add_argv) (C(gnt-node add) with these, for
      the target's master). Returned by O(phase=objects).
  returned: always
  type: dict
  sample: {n3.example.org: {group: default-b, secondary_ip: 10.0.1.3, master_capable: true, vm_capable: true,
           ndparams: {}, tags: [rack:7], add_argv: [gnt-node, add, --no-ssh-key-check, --node-group, default-b,
           -s, 10.0.1.3, --master-capable=yes, --vm-capable=yes, n3.example.org]}}
record_tags:
  description:
    - Cluster tags that keep each node's join parameters on the target while the merged cluster is taken apart
      (C(ganeti-fleet:merge-node-setup:...)); the role sets them with the other merge records and removes them
      at the end. Returned by O(phase=objects).
  returned: always
  type: list
  elements: str
changed_nodes:
  description: With O(phase=nodes), per node, the tags added (V(tags)) and the parameters modified (V(modify)).
  returned: always
  type: dict
missing:
  description: With O(phase=nodes), nodes of O(nodes) that are not nodes of the target.
  returned: always
  type: list
  elements: str
job_ids:
  description: Ganeti jobs submitted, in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_carry as carry
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_checks import (
    TARGET_OPTION,
    merge_state,
    pending_nodes,
    read_cluster,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import connection_suboptions
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import JobRunner
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel

ARGUMENT_SPEC = dict(
    target=TARGET_OPTION,
    source=dict(type="dict", required=True,
                options=dict(connection_suboptions("GANETI_SOURCE_RAPI_"), name=dict(type="str", required=True))),
    group_map=dict(type="dict", default={}),
    phase=dict(type="str", default="objects", choices=["objects", "nodes"]),
    nodes=dict(type="dict", default={}),
)


def run(module):
    params = module.params
    client = module.connect(params["target"])
    module.result.update(created=dict(groups=[], networks=[], connections=[], cluster_tags=[]), warnings_found=[],
                         nodes={}, record_tags=[], changed_nodes={}, missing=[], job_ids=[])
    jobs = JobRunner(client, module.result)
    if params["phase"] == "nodes":
        return carry_nodes(module, client, jobs)
    name = params["source"]["name"]
    target_tags = client.get_tags("cluster")
    if merge_state(target_tags, name) != "pending":
        # Taken apart (or being): its objects were carried before its moves, its nodes are in the target's tags.
        nodes = carry.records_from_tags(target_tags, name, pending_nodes(target_tags, name))
        module.result["record_tags"] = sorted(t for t in target_tags if any(
            t == carry.setup_tag(name, node, record) for node, record in nodes.items()))
    else:
        target, source = in_parallel((read_cluster, client), (read_cluster, module.connect(params["source"])))
        plan = carry.plan_objects(target, source, params["group_map"])
        carry_objects(module, client, jobs, target, plan)
        nodes = carry.node_records(source, params["group_map"])
        module.result["record_tags"] = sorted(filter(None, (carry.setup_tag(name, n, r) for n, r in nodes.items())))
    module.result["nodes"] = {node: dict(record, add_argv=carry.add_argv(node, record))
                              for node, record in nodes.items()}


def carry_objects(module, client, jobs, target, plan):
    created = module.result["created"]
    created.update(groups=[g["body"]["group_name"] for g in plan["groups"]],
                   networks=[n["network_name"] for n in plan["networks"]],
                   connections=["%s -> %s" % (c["network"], c["body"]["group_name"]) for c in plan["connections"]],
                   cluster_tags=plan["cluster_tags"])
    module.result["warnings_found"] = plan["warnings"]
    for warning in plan["warnings"]:
        module.warn(warning)
    anything = any(created.values())
    module.result["changed"] = anything
    if module._diff:
        before = dict(groups=sorted(g["name"] for g in target["groups"]),
                      networks=sorted(n["name"] for n in target["networks"]),
                      connections=[], cluster_tags=sorted(target.get("tags") or []))
        module.result["diff"] = dict(before=before, after={key: sorted(before[key] + created[key]) for key in before})
    if module.check_mode or not anything:
        return
    carry.apply_objects(client, jobs, plan)


def carry_nodes(module, client, jobs):
    present = {node["name"]: node for node in read_cluster(client)["nodes"]}
    result = module.result
    result["missing"] = sorted(set(module.params["nodes"]) - set(present))
    for name, record in sorted(module.params["nodes"].items()):
        if name not in present:
            continue
        change = carry.node_changes(present[name], record)
        if change["tags"] or change["modify"]:
            result["changed_nodes"][name] = change
    result["changed"] = bool(result["changed_nodes"])
    if module._diff:
        result["diff"] = dict(
            before={name: {key: present[name].get("custom_ndparams" if key == "ndparams" else key)
                           for key in change["modify"]} for name, change in result["changed_nodes"].items()},
            after={name: dict(change["modify"], tags=change["tags"]) for name, change in result["changed_nodes"].items()})
    if module.check_mode:
        return
    carry.apply_node_changes(client, jobs, result["changed_nodes"])


def main():
    RapiModule(argument_spec=ARGUMENT_SPEC, connection=False).run(run)


if __name__ == "__main__":
    main()
