#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_merge_preflight
short_description: Check that Ganeti clusters can be merged into a target cluster, and plan the merge
version_added: 0.2.0
description:
  - Reads the target cluster and every cluster to merge into it over RAPI, and reports everything that would
    make the merge fail or lose something, before anything is changed. Each finding names the objects.
  - For O(strategy=move), name and MAC clashes can be resolved by O(name_policy) and O(mac_policy); the pre-flight
    then decides the move request of each instance (V(moves) in RV(plan.sources)). It places the moved instances
    (O(iallocator), O(group), O(primary_nodes)) and checks that the target's nodes have the memory and the disk
    space per storage type (file, sharedfile, lvm; DRBD counts twice) that the instances need.
  - Checks, per merged cluster, - a cluster given twice or merged into itself; the Ganeti versions (both strategies
    end with the merged cluster's nodes in the target, which Ganeti allows only with the same protocol and
    configuration versions, so different ones are an error, for example 3.0 and 3.1; a different release with the
    same ones, such as 3.1.0~rc2 and 3.1.0, is a warning); instance, node and network names that exist in more
    than one cluster; MAC and IP addresses used twice; disk templates, hypervisors and OSes of the merged
    instances that the target lacks; offline nodes; node group names under O(group_policy); cluster parameters
    under O(parameter_policy) (C(beparams), C(nicparams), C(ndparams), the default iallocator and hypervisor,
    per-hypervisor parameters, ...); and for O(strategy=in_place) the storage paths and the set of enabled
    hypervisors, which must be equal whatever the policy.
  - Returns the plan (the group mapping, and the nodes, instances and running instances of each merged cluster)
    and RV(snapshots), the inventory that M(ganeti.fleet.cluster_merge_verify) compares with the target after
    the merge.
  - Fails, listing every error, when the merge must not start; O(fail_on_error=false) only reports.
  - Talks to several clusters, so it is not in the C(ganeti.fleet.rapi) action group.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.merge
  - ganeti.fleet.attributes
  - ganeti.fleet.attributes.INFO_MODULE
options:
  sources:
    description:
      - Connections to the RAPI of the clusters merged into the target, with the keys of O(target) and
        O(sources[].name). Each connection key falls back to an environment variable C(GANETI_SOURCE_RAPI_*)
        (for example E(GANETI_SOURCE_RAPI_URL)).
      - A merged cluster whose RAPI does not answer is accepted when the target's tags record that it was
        merged (V(merged)) or that its merge was interrupted after it was taken apart (V(in_progress), the plan
        then lists its nodes still to join the target); see RV(plan.sources).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The merged cluster's name, to recognise it in the target's tags when its RAPI no longer answers
            because an earlier run merged it.
        type: str
      host:
        description:
          - A label of the cluster returned as it is in its RV(plan.sources) entry, for example the inventory
            host of its master node.
        type: str
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
  strategy:
    description:
      - How the merge will be done; some checks depend on it (see the description).
    type: str
    choices: [move, in_place]
    default: move
  node_handover:
    description:
      - O(strategy=move) only. Whether the merged clusters' nodes join the target once their instances have moved
        (the merged cluster is taken apart). V(false) moves the instances only and leaves each merged cluster, emptied,
        with its nodes; the merge is recorded on the target all the same.
      - Ganeti adds a node only with the master's protocol version, so merging a Ganeti 3.0 cluster into a 3.1
        one is refused unless this is V(false).
    type: bool
    default: true
  group_policy:
    description:
      - What to do with a node group name that exists in a merged cluster and in the target. V(error) refuses,
        V(rename) renames the merged cluster's group to C(NAME-SHORTCLUSTERNAME), V(merge) puts its nodes in
        the target's group of the same name.
    type: str
    choices: [error, rename, merge]
    default: error
  parameter_policy:
    description:
      - A cluster parameter that differs is an error with V(strict), a warning with V(warn).
    type: str
    choices: [strict, warn]
    default: strict
  fail_on_error:
    description: Fail when a finding is an error. With V(false) the findings are only returned.
    type: bool
    default: true
  name_policy:
    description:
      - O(strategy=move) only. What to do with an instance whose name exists on the target (or in an earlier merged
        cluster). V(error) refuses; V(rename) moves it under the name O(rename_pattern) gives (the move's
        C(new_name)), refusing when that name is taken too.
    type: str
    choices: [error, rename]
    default: error
  rename_pattern:
    description:
      - The new name of a clashing instance under O(name_policy=rename). Placeholders C({name}) (the full name),
        C({short}) (up to the first dot), C({suffix}) (the rest with its dot, or empty), C({cluster}) (the merged
        cluster's short name). It must contain C({cluster}) and C({name}) or C({short}).
      - V({short}-{cluster}{suffix}) turns C(web1.example.org) of C(b.example.org) into C(web1-b.example.org).
    type: str
    default: "{short}-{cluster}{suffix}"
  mac_policy:
    description:
      - O(strategy=move) only. What to do with a NIC whose MAC is used by another instance. V(error) refuses;
        V(generate) lets Ganeti generate a new MAC for that NIC when the instance moves (the move's
        C(nics) entry C(mac=generate)).
    type: str
    choices: [error, generate]
    default: error
  iallocator:
    description:
      - O(strategy=move) only. The iallocator that places the moved instances on the target. Default the target's
        default iallocator; when the target has none and an instance has no node in O(primary_nodes), the
        pre-flight refuses.
    type: str
  group:
    description:
      - O(strategy=move) only. The target's node group the iallocator places the moved instances in (default any).
    type: str
  primary_nodes:
    description:
      - O(strategy=move) only. Instance name (on the merged cluster) to the target node it moves to; these
        instances are not placed by the iallocator.
    type: dict
    default: {}
  transfer_timeout:
    description:
      - The transfer timeout of each move (M(ganeti.fleet.instance_move)'s O(ganeti.fleet.instance_move#module:transfer_timeout)),
        to derive RV(plan.move_async) from.
    type: int
    default: 7200
  shutdown_timeout:
    description:
      - The shutdown timeout of each move (M(ganeti.fleet.instance_move)'s O(ganeti.fleet.instance_move#module:shutdown_timeout)).
    type: int
    default: 120
  hash_disks_up_to:
    description:
      - Return in RV(disk_locations) the node and file of every disk of the stopped instances with file-based
        disks (templates V(file) and V(sharedfile)) of at most this many MiB in all, so that their data can be
        hashed before and after the merge. Running instances are left out (their disks change).
      - V(0) returns none.
    type: int
    default: 0
requirements:
  - requests
seealso:
  - module: ganeti.fleet.cluster_merge_verify
  - name: The ganeti.fleet.cluster_merge role
    description: Merges clusters with this pre-flight first.
    link: https://github.com/ganeti-fleet/ganeti.fleet/blob/main/roles/cluster_merge/README.md
"""

EXAMPLES = r"""
- name: Check that two clusters can be merged into cluster-a
  ganeti.fleet.cluster_merge_preflight:
    target:
      rapi_url: https://cluster-a.example.org:5080
      rapi_user: fleet
      rapi_password: "{{ vault_rapi_password_a }}"
      ca_path: /etc/ganeti-fleet/rapi-ca.pem
    sources:
      - rapi_url: https://cluster-b.example.org:5080
        rapi_user: fleet
        rapi_password: "{{ vault_rapi_password_b }}"
        ca_path: /etc/ganeti-fleet/rapi-ca.pem
    group_policy: rename
  register: merge_preflight

- name: Only report the findings
  ganeti.fleet.cluster_merge_preflight:
    target: "{{ connection_a }}"
    sources: ["{{ connection_b }}"]
    strategy: in_place
    fail_on_error: false
  register: merge_findings
"""

RETURN = r"""
findings:
  description: Every finding, errors first.
  returned: always
  type: list
  elements: dict
  contains:
    severity:
      description: V(error) (the merge must not start) or V(warning).
      type: str
    check:
      description: >-
        Which check: V(cluster), V(unreachable), V(version), V(instance-name), V(node-name), V(network-name), V(group-name),
        V(mac), V(ip), V(disk-template), V(hypervisor), V(os), V(node-offline), V(parameter), V(storage-path),
        V(placement), V(capacity), V(secondary-ip) (merged nodes and the target differ in being multi-homed,
        which Ganeti refuses), V(carry) (move strategy - a group that keeps the target's parameters, a network
        connected differently or also to the target's groups).
      type: str
    message:
      description: What is wrong, naming the objects and the way out.
      type: str
    objects:
      description: Names of the objects concerned.
      type: list
      elements: str
  sample:
    - severity: error
      check: mac
      message: "MAC aa:00:00:12:34:56 of instance web1 (b.example.org) is also used by instance db1 (a.example.org). ..."
      objects: [aa:00:00:12:34:56, db1, web1]
errors:
  description: Number of error findings.
  returned: always
  type: int
  sample: 0
plan:
  description: What the merge will do.
  returned: always
  type: dict
  contains:
    target:
      description: The target's name (V(cluster_name)), master, version, nodes, groups and default iallocator.
      type: dict
    sources:
      description:
        - One entry per merged cluster, in the order of O(sources). Keys V(cluster_name), V(state) (V(pending),
          V(in_progress) or V(merged), from the target's tags), V(master),
          V(software_version), V(nodes), V(online_nodes), V(node_groups) (node name to target group name),
          V(instances), V(running_instances), V(group_map) (source group name to target group name) and
          V(new_groups) (target groups to create).
        - V(moves) (O(strategy=move)), one request per instance for M(ganeti.fleet.instance_move)'s
          O(ganeti.fleet.instance_move#module:request) - V(name), and where set V(new_name) (O(name_policy=rename),
          or the name of the copy an earlier run made), V(nics) (C(mac) V(generate) for the clashing NICs) and
          the placement (V(iallocator) and V(group), or V(primary_node)).
        - The cluster tags of the target that record the merge, for the tasks that set and remove them, are
          V(record_tags) (the merge in progress, C(ganeti-fleet:merging:NAME), and each node still to join with
          its target group, C(ganeti-fleet:merge-node:NAME:NODE:GROUP)) and V(merged_tag) (the completed merge,
          C(ganeti-fleet:merged:NAME); a re-run skips the cluster).
      type: list
      elements: dict
    move_async:
      description:
        - The C(async) limit of each move in seconds - O(transfer_timeout) plus O(shutdown_timeout) plus a margin,
          so that Ansible never kills a move before its own timeouts and rollback.
      type: int
      sample: 8220
    move_timeouts:
      description: O(transfer_timeout) and O(shutdown_timeout), for the moves.
      type: dict
      sample: {transfer_timeout: 7200, shutdown_timeout: 120}
    transfer_fix_tag:
      description:
        - The cluster tag that says every node of a cluster carries the transfer fix
          (see M(ganeti.fleet.transfer_fix)); the move pre-flight looks for it.
      type: str
      sample: ganeti-fleet:transfer-fix
disk_locations:
  description: Where the disks of O(hash_disks_up_to) are, one entry per disk.
  returned: always
  type: list
  elements: dict
  sample: [{cluster: b.example.org, instance: db1, index: 0, node: n3.example.org,
            path: /srv/ganeti/file-storage/db1/8f0c.file.disk0}]
snapshots:
  description:
    - The inventory of every cluster before the merge (target first), for M(ganeti.fleet.cluster_merge_verify).
      Each has V(cluster_name), V(instances) (name to admin state, running, disk template, disk sizes, MACs, OS,
      hypervisor, memory, VCPUs, tags), V(nodes), V(groups) and V(networks), and what a move merge carries
      besides instances - V(network_details) (per network - addresses, MAC prefix, external reservations, tags,
      group connections), V(group_params) (per group - own parameters and tags), V(node_params) (per node - group,
      secondary IP, master and VM capability, own ndparams, tags) and V(cluster_tags).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils._merge_capacity import read_storage, storage_types
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_moves import (
    DEFAULT_RENAME_PATTERN,
    MAC_POLICIES,
    NAME_POLICIES,
    async_limit,
    expected_locations,
    expected_snapshot,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_checks import (
    TARGET_OPTION,
    errors,
    preflight,
    read_clusters,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_verify import snapshot
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import connection_suboptions
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule


ARGUMENT_SPEC = dict(
    target=TARGET_OPTION,
    sources=dict(type="list", elements="dict", required=True,
                 options=dict(connection_suboptions("GANETI_SOURCE_RAPI_"), name=dict(type="str"), host=dict(type="str"))),
    strategy=dict(type="str", default="move", choices=["move", "in_place"]),
    node_handover=dict(type="bool", default=True),
    group_policy=dict(type="str", default="error", choices=["error", "rename", "merge"]),
    parameter_policy=dict(type="str", default="strict", choices=["strict", "warn"]),
    fail_on_error=dict(type="bool", default=True),
    hash_disks_up_to=dict(type="int", default=0),
    name_policy=dict(type="str", default="error", choices=list(NAME_POLICIES)),
    rename_pattern=dict(type="str", default=DEFAULT_RENAME_PATTERN),
    mac_policy=dict(type="str", default="error", choices=list(MAC_POLICIES)),
    iallocator=dict(type="str"),
    group=dict(type="str"),
    primary_nodes=dict(type="dict", default={}),
    transfer_timeout=dict(type="int", default=7200),
    shutdown_timeout=dict(type="int", default=120),
)


def run(module):
    params = module.params
    if not params["sources"]:
        module.fail("sources is empty: give at least one cluster to merge into the target")
    data, locations = read_clusters(params["target"], params["sources"], module.connect,
                                    hash_disks_up_to=params["hash_disks_up_to"])
    move_async = async_limit(params["transfer_timeout"], params["shutdown_timeout"])
    if params["strategy"] == "move":
        _read_target_storage(module, params["target"], data)
    result = preflight(data[0], data[1:], strategy=params["strategy"], group_policy=params["group_policy"],
                       parameter_policy=params["parameter_policy"], name_policy=params["name_policy"],
                       rename_pattern=params["rename_pattern"], mac_policy=params["mac_policy"],
                       placement={key: params[key] for key in ("iallocator", "group", "primary_nodes")},
                       node_handover=params["node_handover"])
    result["plan"].update(move_async=move_async, move_timeouts={
        key: params[key] for key in ("transfer_timeout", "shutdown_timeout")})
    failures = errors(result["findings"])
    module.result.update(findings=result["findings"], errors=len(failures), plan=result["plan"],
                         disk_locations=expected_locations(locations, result["plan"]["sources"]),
                         snapshots=[expected_snapshot(snapshot(cluster), result["plan"]["sources"])
                                    for cluster in data if "info" in cluster])
    if failures and params["fail_on_error"]:
        module.fail("The clusters cannot be merged into %s: %s"
                    % (result["plan"]["target"]["cluster_name"], " ".join(f["message"] for f in failures)))


def _read_target_storage(module, target_options, data):
    """The target's free storage of the types the merged clusters' instances use, as data[0]["storage"]."""
    types = storage_types([i for cluster in data[1:] for i in cluster.get("instances") or []])
    nodes = [n["name"] for n in data[0]["nodes"] if n.get("vm_capable", True) and not n.get("offline")]
    storage = {}
    if types and nodes:
        with module.connect(target_options) as client:
            storage = read_storage(client, nodes, types, data[0]["info"].get("volume_group_name"))
    data[0]["storage"] = storage


def main():
    RapiModule(argument_spec=ARGUMENT_SPEC, connection=False).run(run)


if __name__ == "__main__":
    main()
