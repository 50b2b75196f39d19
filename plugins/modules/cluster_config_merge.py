#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_config_merge
short_description: Merge other Ganeti clusters' configurations into this master's config.data, offline
version_added: 0.2.0
description:
  - The configuration step of an in-place cluster merge (Ganeti design 2.1, done for Ganeti 3.0);
    the nodes, node groups, networks, instances and top-level disk objects of one or more other
    clusters' C(config.data) are added to the target master's C(config.data), keeping every UUID,
    so that the merged clusters' nodes, with their disk files, become nodes of the target.
  - Merged nodes are added B(offline), not master candidates; bring them in afterwards with
    C(gnt-node add --readd --no-ssh-key-check NODE) (RV(nodes_to_readd)). Until then the target's
    master daemons only start without voting (C(--no-voting --yes-do-it)), because Ganeti 3.0 asks
    offline nodes for their vote too.
  - DRBD disks get new ports from the target's port pool or port range (the TCP port of a DRBD disk
    must be unique in a cluster). Instances and nodes whose values come from cluster defaults that
    differ on the target get those values pinned explicitly (with O(parameter_policy=warn)), so they
    keep behaving as before.
  - Node groups whose name also exists in the target are refused (O(group_policy=error)), renamed to
    C(NAME-<short cluster name>) (V(rename)) or merged into the target's group (V(merge)).
  - The module refuses, changing nothing, when the configurations clash in a way the policies do not
    resolve (node, instance or network names, MAC addresses, node IP addresses, UUIDs, storage
    directories, enabled hypervisors, disk templates, running instances, job filters, versions),
    and names every clash with its fix.
  - It refuses, changing nothing, a source that is the target itself, that is the target's own
    O(config_file) (the same file, whatever the path) or a configuration of the same cluster (the same
    cluster name or the same cluster UUID, C(cluster.uuid) in C(config.data)), such as a copy of it. It
    also refuses one file or one cluster given twice.
  - Idempotent. Objects are recognised by UUID, so a source that is already merged is reported in
    RV(already_merged) and not written again.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - Runs on the target cluster's B(master node). Ganeti 3.0's configuration daemon
    (wconfd) owns C(config.data) while it runs, so the module writes only when the master daemons
    are stopped (C(daemon-util stop-master)); it fails otherwise. Check mode works with them running.
  - The file is replaced atomically with its owner, group and mode kept. Keep a backup first; the
    P(ganeti.fleet.cluster_merge#role) role (strategy C(in_place)) does, and restores it on failure.
  - The source configurations contain secrets (DRBD shared secrets); the module never returns them.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
attributes:
  check_mode:
    support: full
    details:
      - Every check runs and the result says what would be merged; nothing is written.
  diff_mode:
    support: full
    details:
      - The diff lists the nodes, node groups and instances of the configuration, before and after.
options:
  sources:
    description:
      - Paths, on the target master, of the C(config.data) files of the clusters to merge (copies
        fetched from their masters after their daemons stopped).
    type: list
    elements: path
    required: true
  config_file:
    description: The target's configuration file.
    type: path
    default: /var/lib/ganeti/config.data
  group_policy:
    description: What to do with a node group name that exists in both clusters.
    type: str
    choices: [error, rename, merge]
    default: error
  group_maps:
    description:
      - Explicit node group names, one mapping (source group name to merged name) per source, in the
        order of O(sources); for example the C(group_map) of a merge pre-flight plan. Groups not listed
        follow O(group_policy).
    type: list
    elements: dict
  parameter_policy:
    description:
      - Cluster parameters that differ (defaults of instances and nodes, policies) are refused
        (V(strict)) or reported in RV(merge_warnings) (V(warn)). Some are always refused (enabled
        hypervisors, storage directories, volume group, primary IP family, SSH key type).
    type: str
    choices: [strict, warn]
    default: strict
seealso:
  - name: Ganeti design 2.1, automated cluster merger
    description: The 14 steps this module implements the configuration part of.
    link: https://docs.ganeti.org/docs/ganeti/3.0/html/design-2.1.html
  - module: ganeti.fleet.cluster_info
"""

EXAMPLES = r"""
- name: Merge the fetched configurations of c2 and c3 (master daemons stopped)
  ganeti.fleet.cluster_config_merge:
    sources:
      - /var/lib/ganeti-fleet/merge/source-c2.lab.config.data
      - /var/lib/ganeti-fleet/merge/source-c3.lab.config.data
    group_policy: rename
  register: merge

- name: Only check that the configurations can be merged
  ganeti.fleet.cluster_config_merge:
    sources: [/var/lib/ganeti-fleet/merge/source-c2.lab.config.data]
  check_mode: true
"""

RETURN = r"""
target:
  description: Name of the target cluster.
  returned: always
  type: str
  sample: c1.lab
merged:
  description: Per merged cluster, what was (in check mode, would be) added.
  returned: always
  type: list
  elements: dict
  contains:
    cluster:
      description: The merged cluster's name.
      type: str
    nodes:
      description: Its nodes, added offline.
      type: list
      elements: str
    instances:
      description: Its instances.
      type: list
      elements: str
    disks:
      description: How many top-level disk objects were added.
      type: int
    groups_added:
      description: Node groups created in the target (with their new names).
      type: list
      elements: str
    groups_merged:
      description: Node groups merged into the target's group of the same name.
      type: list
      elements: str
    groups_renamed:
      description: Old name to new name of the renamed node groups.
      type: dict
    networks:
      description: Networks added.
      type: list
      elements: str
    drbd_ports:
      description: Disk UUID to [old port, new port] of every DRBD disk.
      type: dict
    pinned_parameters:
      description: Instances that got the source cluster's defaults as explicit parameters.
      type: list
      elements: str
  sample:
    - {cluster: c2.lab, nodes: [c2n1.lab, c2n2.lab], instances: [vm21.lab], disks: 1,
       groups_added: [default-c2], groups_merged: [], groups_renamed: {default: default-c2},
       networks: [], drbd_ports: {}, pinned_parameters: []}
already_merged:
  description: Source clusters whose nodes, instances and disks the target already holds.
  returned: always
  type: list
  elements: str
  sample: []
nodes_to_readd:
  description: Nodes of the merged clusters that the target's configuration lists as offline.
  returned: always
  type: list
  elements: str
  sample: [c2n1.lab, c2n2.lab]
merge_warnings:
  description:
    - Differences that were accepted (parameter policy warn, informational parameters). Named so, not
      C(warnings), which Ansible reserves for its own warnings.
  returned: always
  type: list
  elements: str
  sample: ["cluster parameter mac_prefix is 'aa:02:00' on c2.lab; the merged cluster keeps the target's 'aa:01:00'"]
problems:
  description: Why the merge was refused (one entry per clash); empty on success.
  returned: always
  type: list
  elements: str
  sample: []
"""

import os

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_config_data as cm
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import rewrite_file
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule

WCONFD_PIDFILE = "/var/run/ganeti/ganeti-wconfd.pid"


def wconfd_running(pidfile=WCONFD_PIDFILE):
    try:
        with open(pidfile, encoding="ascii") as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summary(config):
    groups = {uuid: group["name"] for uuid, group in config.get("nodegroups", {}).items()}
    lines = ["node %s (group %s%s)" % (node["name"], groups.get(node.get("group"), "?"),
                                       ", offline" if node.get("offline") else "")
             for node in config.get("nodes", {}).values()]
    lines += ["group %s" % name for name in groups.values()]
    lines += ["instance %s" % inst["name"] for inst in config.get("instances", {}).values()]
    return "\n".join(sorted(lines)) + "\n"


def load_configs(params):
    """The target's configuration and the sources', parsed."""
    if params["group_maps"] is not None and len(params["group_maps"]) != len(params["sources"]):
        raise FleetError("group_maps must have one entry per source (%d), not %d"
                         % (len(params["sources"]), len(params["group_maps"])))
    try:
        return cm.load(params["config_file"]), [cm.load(path) for path in params["sources"]]
    except (OSError, ValueError) as err:
        raise FleetError("cannot read a configuration: %s" % err) from err


def run(module):
    params, result = module.params, module.result
    result.update(target=None, merged=[], already_merged=[], nodes_to_readd=[], merge_warnings=[], problems=[])
    target, sources = load_configs(params)
    result["target"] = cm.cluster_name(target)
    cm.refuse_own_file(params["config_file"], params["sources"], result["target"])
    merged, report = cm.merge(target, sources, group_policy=params["group_policy"],
                              parameter_policy=params["parameter_policy"], group_maps=params["group_maps"])
    source_nodes = [name for source in sources for name in cm.source_summary(source)["online_nodes"]]
    result.update(merged=report["sources"], already_merged=report["already_merged"],
                  merge_warnings=report["merge_warnings"],
                  nodes_to_readd=cm.offline_nodes_of(target if merged is None else merged, source_nodes))
    if merged is None:
        return
    result["changed"] = True
    if module._diff:
        result["diff"] = dict(before_header=params["config_file"], after_header=params["config_file"],
                              before=summary(target), after=summary(merged))
    if module.check_mode:
        return
    if wconfd_running():
        raise FleetError("the configuration daemon (ganeti-wconfd) is running on this node and owns %s: stop the"
                         " master daemons first (/usr/lib/ganeti/daemon-util stop-master); nothing was changed"
                         % params["config_file"])
    rewrite_file(params["config_file"], cm.dump(merged).encode("utf-8"))


def main():
    NodeModule(argument_spec=dict(
        sources=dict(type="list", elements="path", required=True),
        config_file=dict(type="path", default="/var/lib/ganeti/config.data"),
        group_policy=dict(type="str", choices=list(cm.GROUP_POLICIES), default="error"),
        group_maps=dict(type="list", elements="dict"),
        parameter_policy=dict(type="str", choices=list(cm.PARAMETER_POLICIES), default="strict"),
    )).run(run)


if __name__ == "__main__":
    main()
