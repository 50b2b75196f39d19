# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A merge's verification: the inventory it must preserve, and what the target lost. Internal use only.

:func:`snapshot` takes the inventory of one cluster (read by
:func:`_merge_checks.read_cluster`) before the merge; :func:`compare_snapshot`
compares the target's afterwards with them. Pure functions, no Ansible.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_carry, _merge_moves
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_checks import _cluster_name, _group_names, _running

#: Instance fields a merge must preserve (see compare_snapshot).
_PRESERVED_FIELDS = ("admin_state", "running", "disk_template", "disk_sizes", "macs", "os", "hypervisor",
                     "memory", "vcpus")


def snapshot(cluster_data):
    """The inventory of one cluster that a merge must preserve (JSON-friendly)."""
    instances = {}
    for instance in cluster_data["instances"]:
        beparams = instance.get("beparams") or {}
        instances[instance["name"]] = {
            "admin_state": instance.get("admin_state"),
            "running": _running(instance),
            "disk_template": instance.get("disk_template"),
            "disk_sizes": list(instance.get("disk.sizes") or []),
            "macs": list(instance.get("nic.macs") or []),
            "os": instance.get("os"),
            "hypervisor": instance.get("hypervisor"),
            "memory": beparams.get("maxmem", beparams.get("memory")),
            "vcpus": beparams.get("vcpus"),
            "tags": sorted(instance.get("tags") or []),
        }
    return {
        "cluster_name": _cluster_name(cluster_data),
        "instances": instances,
        "nodes": sorted(n["name"] for n in cluster_data["nodes"]),
        "groups": sorted(_group_names(cluster_data)),
        "networks": sorted(n["name"] for n in cluster_data["networks"]),
        **_merge_carry.carried_snapshot(cluster_data),
    }


def compare_snapshot(before, after, group_map=None, node_handover=True):
    """What the merged cluster AFTER lost or changed compared with the snapshots BEFORE.

    BEFORE is a list of snapshots (target first, then the merged clusters);
    AFTER the snapshot of the target after the merge. GROUP_MAP maps, per
    cluster name, the merged cluster's group names to the target's. Without
    NODE_HANDOVER the merged clusters keep their nodes. Tags may
    have been added (provenance tags of moves), never removed. Returns a list
    of human-readable differences, empty when nothing was lost.
    """
    group_map = group_map or {}
    differences = []
    for snap in before:
        origin = snap["cluster_name"]
        for name, was in sorted(snap["instances"].items()):
            now = after["instances"].get(name)
            if now is None:
                differences.append("instance %s (from %s) is missing" % (name, origin))
                continue
            for field in _PRESERVED_FIELDS:
                if was.get(field) != now.get(field) and not _merge_moves.expected_change(field, was, now):
                    differences.append("instance %s (from %s): %s was %r, is %r"
                                       % (name, origin, field, was.get(field), now.get(field)))
            lost_tags = sorted(set(was.get("tags") or []) - set(now.get("tags") or []))
            if lost_tags:
                differences.append("instance %s (from %s): tags lost: %s" % (name, origin, ", ".join(lost_tags)))
        for node in snap["nodes"] if node_handover or snap is before[0] else ():
            if node not in after["nodes"]:
                differences.append("node %s (from %s) is not a node of %s" % (node, origin, after["cluster_name"]))
        mapping = group_map.get(origin, {})
        for group in snap["groups"]:
            expected = mapping.get(group, group)
            if expected not in after["groups"]:
                differences.append("node group %s (from %s, expected as %s) is missing" % (group, origin, expected))
        for network in snap["networks"]:
            if network not in after["networks"]:
                differences.append("network %s (from %s) is missing" % (network, origin))
        differences += _merge_carry.compare_carried(snap, after, mapping, before[0]["groups"] if snap is not before[0] else ())
    return differences
