# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only. Cluster merge (move strategy): placement and capacity of the target.

Before the first instance moves, the pre-flight checks that the target can
take every instance that would move: memory, and disk per storage type,
against the free memory and free storage of the target's nodes where the
instances will be placed. Everything here works on plain data, so that it is
unit-tested without a cluster; :func:`read_storage` is the only RAPI read.

Figures are MiB, as Ganeti reports them (``mfree``, ``disk.sizes``, the
``free`` column of a node's storage units).
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel

#: Ganeti's storage type of each disk template whose space the check counts.
TEMPLATE_STORAGE = {"file": "file", "sharedfile": "sharedfile", "plain": "lvm-vg", "drbd": "lvm-vg"}

#: Disk templates that need no space on the target's nodes.
NO_STORAGE_TEMPLATES = ("diskless",)

#: How many nodes hold a copy of each disk of a template (DRBD: primary and secondary).
TEMPLATE_COPIES = {"drbd": 2}

#: DRBD metadata of each disk, on each of its two nodes (Ganeti's DRBD_META_SIZE).
DRBD_META_MIB = 128

#: Storage types whose space one directory shared by all nodes provides:
#: counted once, not once per node.
SHARED_STORAGE = ("sharedfile",)


def _finding(severity, check, message, objects=()):
    return {"severity": severity, "check": check, "message": message, "objects": sorted(set(objects))}


def instance_memory(instance):
    """Maximum memory of INSTANCE in MiB (Ganeti's filled ``beparams``: ``maxmem``, older ``memory``)."""
    beparams = instance.get("beparams") or {}
    return int(beparams.get("maxmem", beparams.get("memory")) or 0)


def instance_disk(instance):
    """``(storage_type, total MiB, MiB on each node that holds it)`` of INSTANCE's disks.

    ``storage_type`` is None for a template without space on the nodes, and
    the template itself for one this check cannot count (blockdev, rbd, ext,
    gluster).
    """
    template = instance.get("disk_template") or "diskless"
    sizes = [int(s) for s in instance.get("disk.sizes") or []]
    if template in NO_STORAGE_TEMPLATES or not sizes:
        return None, 0, 0
    per_node = sum(sizes)
    if template == "drbd":
        per_node += DRBD_META_MIB * len(sizes)
    copies = TEMPLATE_COPIES.get(template, 1)
    return TEMPLATE_STORAGE.get(template, template), per_node * copies, per_node


def storage_types(instances):
    """The storage types the free space of which must be read for INSTANCES."""
    return sorted({instance_disk(i)[0] for i in instances} & set(TEMPLATE_STORAGE.values()))


def can_take_instances(node):
    """Whether NODE (a RAPI node) can take a new instance: VM-capable, online, not drained."""
    return node.get("vm_capable", True) and not node.get("offline") and not node.get("drained")


def plan_placement(names, target_info, target_nodes, target_groups, iallocator=None, group=None,
                   primary_nodes=None):
    """Where each instance of NAMES goes on the target: a dict of move options per instance, and findings.

    An instance in PRIMARY_NODES goes to that node; the others are placed by
    IALLOCATOR, or by the target's default iallocator, within GROUP when
    given. Without any iallocator an instance has no placement: an error.
    """
    primary_nodes = primary_nodes or {}
    findings = []
    nodes = {n["name"]: n for n in target_nodes}
    cluster = target_info.get("name") or "the target"
    allocator = iallocator or target_info.get("default_iallocator") or None
    if group and group not in target_groups:
        findings.append(_finding(
            "error", "placement",
            "Node group %s (cluster_merge_group) does not exist on %s; its groups are %s."
            % (group, cluster, ", ".join(sorted(target_groups)) or "none"), [group]))
    for name, node in sorted(primary_nodes.items()):
        if node not in nodes:
            findings.append(_finding(
                "error", "placement",
                "Primary node %s given for instance %s (cluster_merge_primary_nodes) is not a node of %s."
                % (node, name, cluster), [name, node]))
        elif not can_take_instances(nodes[node]):
            findings.append(_finding(
                "error", "placement",
                "Primary node %s given for instance %s cannot take instances (offline, drained or not "
                "vm_capable)." % (node, name), [name, node]))
    unknown = sorted(set(primary_nodes) - set(names))
    if unknown:
        findings.append(_finding(
            "warning", "placement",
            "cluster_merge_primary_nodes names instance(s) that do not move: %s." % ", ".join(unknown), unknown))
    placement = {}
    unplaced = []
    for name in names:
        if primary_nodes.get(name):
            placement[name] = {"primary_node": primary_nodes[name]}
        elif allocator:
            placement[name] = {"iallocator": allocator}
            if group:
                placement[name]["group"] = group
        else:
            unplaced.append(name)
    if unplaced:
        findings.append(_finding(
            "error", "placement",
            "%s has no default iallocator, so nothing places the moved instance(s) %s. Set one "
            "(gnt-cluster modify --default-iallocator hail), set cluster_merge_iallocator, or give each a "
            "node in cluster_merge_primary_nodes." % (cluster, ", ".join(unplaced)), unplaced))
    return placement, findings


def _fmt(mib):
    return "%d MiB" % mib


def check_capacity(instances, placement, target_info, target_nodes, storage):
    """Findings when the target cannot hold INSTANCES (the bulk data of the instances that would move).

    PLACEMENT is :func:`plan_placement`'s; STORAGE is ``{storage_type:
    {node: free MiB}}`` (:func:`read_storage`), a type missing from it is
    reported as not checked. Instances with a primary node are checked
    against that node, the others against every node they may be placed on.
    Memory counts the maximum memory of every instance, stopped ones too:
    an iallocator places a new instance as if it ran.
    """
    cluster = target_info.get("name") or "the target"
    findings = []
    eligible = [n for n in target_nodes if can_take_instances(n)]
    pinned = {name: p["primary_node"] for name, p in placement.items() if p.get("primary_node")}
    groups = {p.get("group") for name, p in placement.items() if not p.get("primary_node")}
    # Instances placed by an iallocator may go to any node of their group (or of the cluster).
    pool = [n for n in eligible if None in groups or n.get("group") in groups]

    memory = {"pool": 0}
    memory.update((node, 0) for node in set(pinned.values()))
    disk = {}
    largest = {}
    unchecked = {}
    for instance in instances:
        name = instance["name"]
        where = pinned.get(name, "pool")
        mem = instance_memory(instance)
        memory[where] = memory.get(where, 0) + mem
        largest.setdefault(("memory", where), (0, None))
        if mem > largest[("memory", where)][0]:
            largest[("memory", where)] = (mem, name)
        storage_type, total, per_node = instance_disk(instance)
        if storage_type is None:
            continue
        if storage_type not in storage:
            unchecked.setdefault(storage_type, []).append(name)
            continue
        key = (storage_type, where)
        disk[key] = disk.get(key, 0) + total
        if per_node > largest.get(key, (0, None))[0]:
            largest[key] = (per_node, name)

    def free_memory(nodes):
        return sum(int(n.get("mfree") or 0) for n in nodes)

    for where, need in sorted(memory.items()):
        if not need:
            continue
        nodes = pool if where == "pool" else [n for n in eligible if n["name"] == where]
        free = free_memory(nodes)
        movers = [i["name"] for i in instances if pinned.get(i["name"], "pool") == where]
        if need > free:
            findings.append(_finding(
                "error", "capacity",
                "Memory: the instances that would move to %s need %s (maximum memory of %s), its nodes %s have "
                "%s free: %s short. Free memory on the target (stop or shrink instances, add nodes), or merge "
                "fewer instances (remove or shrink them on the merged cluster first)."
                % (_where(where, cluster), _fmt(need), ", ".join(movers), _names(nodes), _fmt(free),
                   _fmt(need - free)), [where if where != "pool" else cluster] + movers))
            continue
        biggest, name = largest.get(("memory", where), (0, None))
        best = max([int(n.get("mfree") or 0) for n in nodes] or [0])
        if biggest > best:
            findings.append(_finding(
                "error", "capacity",
                "Memory: instance %s needs %s on one node, the node of %s with the most free memory has %s: "
                "%s short. Free memory on one node, or shrink the instance (gnt-instance modify -B maxmem=...)."
                % (name, _fmt(biggest), _where(where, cluster), _fmt(best), _fmt(biggest - best)), [name]))

    for (storage_type, where), need in sorted(disk.items()):
        nodes = pool if where == "pool" else [n for n in eligible if n["name"] == where]
        free_by_node = storage[storage_type]
        frees = [int(free_by_node.get(n["name"]) or 0) for n in nodes]
        free = max(frees or [0]) if storage_type in SHARED_STORAGE else sum(frees)
        movers = [i["name"] for i in instances if pinned.get(i["name"], "pool") == where
                  and instance_disk(i)[0] == storage_type]
        if need > free:
            findings.append(_finding(
                "error", "capacity",
                "Disk (%s storage): the instances that would move to %s need %s (%s; DRBD disks count twice), "
                "its nodes %s have %s free: %s short. Free %s storage on the target (remove instances or "
                "unused disks, grow the storage, add nodes), or merge fewer or smaller instances."
                % (storage_type, _where(where, cluster), _fmt(need), ", ".join(movers), _names(nodes), _fmt(free),
                   _fmt(need - free), storage_type), [where if where != "pool" else cluster] + movers))
            continue
        biggest, name = largest.get((storage_type, where), (0, None))
        best = max(frees or [0])
        if biggest > best:
            findings.append(_finding(
                "error", "capacity",
                "Disk (%s storage): instance %s needs %s on one node, the node of %s with the most free %s "
                "storage has %s: %s short. Free space on one node, or give the instance a node with room "
                "(cluster_merge_primary_nodes)."
                % (storage_type, name, _fmt(biggest), _where(where, cluster), storage_type, _fmt(best),
                   _fmt(biggest - best)), [name]))

    for storage_type, names in sorted(unchecked.items()):
        findings.append(_finding(
            "warning", "capacity",
            "Disk space of %s (%s) is not checked: %s reports no free space for it; the moves' own checks "
            "apply." % (", ".join(names), storage_type, cluster), names))
    return findings


def _where(where, cluster):
    return cluster if where == "pool" else "node %s" % where


def _names(nodes):
    return ", ".join(n["name"] for n in nodes) or "(none that can take instances)"


def read_storage(client, nodes, types, volume_group=None):
    """``{storage_type: {node: free MiB}}`` of NODES (names) on the cluster of CLIENT.

    One ``GET /2/nodes/NODE/storage`` job per node and storage type, all
    submitted at once. For ``lvm-vg`` only the cluster's VOLUME_GROUP counts.
    A type Ganeti cannot report is left out (the check then says so).
    """
    calls = [(_node_storage, client, node, storage_type) for storage_type in types for node in nodes]
    answers = iter(in_parallel(*calls))
    storage = {}
    for storage_type in types:
        free = {}
        for node in nodes:
            rows = next(answers)
            if rows is None:
                free = None
                continue
            if free is None:
                continue
            free[node] = sum(int(row[1] or 0) for row in rows
                             if storage_type != "lvm-vg" or not volume_group or row[0] == volume_group)
        if free is not None:
            storage[storage_type] = free
    return storage


def _node_storage(client, node, storage_type):
    try:
        job_id = client.get(client.node_path(node, "storage"),
                            query={"storage_type": storage_type, "output_fields": "name,free"})
        result = client.wait_for_job(job_id)
    except RapiError:
        return None
    return (result.get("opresult") or [[]])[0] or []
