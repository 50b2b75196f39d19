# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Moves: the pre-flight checks that need no write on either cluster. Internal use only.

Each check is a :class:`Finding` naming the object it checked; they work on
what ``_move_plan.plan_move`` read from both clusters, so they are unit-tested
without a cluster. The clusters may be one and the same: a move within one
cluster copies an instance under a new name (another disk template, another
node) and removes or keeps the source.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils._ganeti_version import has_transfer_defect
from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import DIRECT_COMPRESSION
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_capacity import (
    SHARED_STORAGE,
    TEMPLATE_STORAGE,
    can_take_instances,
    instance_disk,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import select_by_name
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_TRANSFER_FIX


#: Storage types whose units are allocated in full when created (LVM logical
#: volumes): removing one frees exactly its size. Ganeti creates file disks
#: sparse (truncated to their size), so removing one frees only what was written.
THICK_STORAGE = ("lvm-vg",)


class Finding:
    """One pre-flight check: its name, whether it passed, and what it found."""

    def __init__(self, check, ok, message):
        self.check = check
        self.ok = ok
        self.message = message

    def as_dict(self):
        return {"check": self.check, "ok": self.ok, "message": self.message}


def static_checks(source, request, move, src_info, dst_info, dst_features, dst_instances,
                  dst_nodes, dst_os_names, src_cluster_tags, create_body):
    """Pre-flight checks that need no write on either cluster; a list of Findings."""
    findings = []

    def add(check, ok, message):
        findings.append(Finding(check, ok, message))

    add("rapi_features", "instance-create-reqv1" in dst_features,
        "destination %s %s instance creation request version 1"
        % (move["destination_cluster"], "supports" if "instance-create-reqv1" in dst_features
           else "does not support"))
    template = create_body["disk_template"]
    enabled = dst_info.get("enabled_disk_templates") or []
    add("disk_template", template in enabled,
        "disk template %s is %s on %s (enabled: %s)"
        % (template, "enabled" if template in enabled else "not enabled",
           move["destination_cluster"], ", ".join(enabled)))
    hypervisors = dst_info.get("enabled_hypervisors") or []
    add("hypervisor", source["hypervisor"] in hypervisors,
        "hypervisor %s is %s on %s (enabled: %s)"
        % (source["hypervisor"], "enabled" if source["hypervisor"] in hypervisors else "not enabled",
           move["destination_cluster"], ", ".join(hypervisors)))
    if source["os"] and dst_os_names is not None:
        add("os", source["os"].split("+")[0] in dst_os_names,
            "OS %s %s on %s" % (source["os"], "exists" if source["os"].split("+")[0] in dst_os_names
                                else "is not installed", move["destination_cluster"]))
    compress = request.get("compress") or "none"
    if request.get("transfer") == "direct":
        add("compression", compress in DIRECT_COMPRESSION,
            "the direct transfer compresses with zlib: %s" % compress if compress in DIRECT_COMPRESSION else
            "the direct transfer compresses with zlib only: compress must be one of %s, not %s"
            % (", ".join(DIRECT_COMPRESSION), compress))
    elif compress != "none":
        src_tools = src_info.get("compression_tools") or []
        dst_tools = dst_info.get("compression_tools") or []
        both = compress in src_tools and compress in dst_tools
        add("compression", both,
            "compression %s is allowed on %s (%s) and %s (%s)" % (
                compress, move["source_cluster"], ", ".join(src_tools), move["destination_cluster"],
                ", ".join(dst_tools)) if both else
            "compression %s must be in both clusters' compression_tools: %s has %s, %s has %s; "
            "add it with 'gnt-cluster modify --compression-tools' or choose another"
            % (compress, move["source_cluster"], ", ".join(src_tools), move["destination_cluster"],
               ", ".join(dst_tools)))
    findings.extend(_placement_checks(create_body, move, dst_info, dst_nodes))
    findings.extend(_mac_checks(create_body, move, dst_instances))
    if request.get("transfer") == "direct":
        add("transfer_defect", True,
            "the direct transfer does not use Ganeti's import and export: neither ganeti/ganeti#1681 "
            "nor the cluster domain secret matter")
        return findings
    if has_transfer_defect(src_info.get("software_version")) and TAG_TRANSFER_FIX not in src_cluster_tags:
        add("transfer_defect", False,
            "source cluster %s runs Ganeti %s, whose disk transfers fail on the socat commonName "
            "check (ganeti/ganeti#1681) and the transfer fix is not applied (no cluster tag %s); "
            "run the ganeti.fleet.transfer_fix role (or playbooks/move_readiness.yml) on %s, "
            "or move with transfer: direct"
            % (move["source_cluster"], src_info.get("software_version"), TAG_TRANSFER_FIX,
               move["source_cluster"]))
    else:
        add("transfer_defect", True,
            "disk transfers from %s (Ganeti %s) are not affected by ganeti/ganeti#1681%s"
            % (move["source_cluster"], src_info.get("software_version"),
               " (transfer fix applied)" if TAG_TRANSFER_FIX in src_cluster_tags else ""))
    return findings


def _placement_checks(body, move, dst_info, dst_nodes):
    findings = []
    by_name = {n["name"]: n for n in dst_nodes}
    for key in ("pnode", "snode"):
        node = body.get(key)
        if not node:
            continue
        # Ganeti accepts a unique short name too.
        selected = select_by_name(dst_nodes, [node])[0]
        info = selected[0] if selected else None
        if info is None:
            findings.append(Finding("nodes", False, "node %s does not exist on %s (nodes: %s)" % (
                node, move["destination_cluster"], ", ".join(sorted(by_name)))))
        elif info.get("offline") or info.get("drained") or not info.get("vm_capable", True):
            findings.append(Finding("nodes", False, "node %s on %s cannot take instances (%s)" % (
                node, move["destination_cluster"],
                "offline" if info.get("offline") else "drained" if info.get("drained")
                else "not vm_capable")))
        else:
            findings.append(Finding("nodes", True, "node %s on %s can take the instance"
                                    % (node, move["destination_cluster"])))
    if not body.get("pnode") and not body.get("iallocator"):
        default = dst_info.get("default_iallocator")
        findings.append(Finding(
            "iallocator", bool(default),
            "placement on %s by its default iallocator %s" % (move["destination_cluster"], default)
            if default else
            "%s has no default iallocator: give primary_node or iallocator"
            % move["destination_cluster"]))
    return findings


def _mac_checks(body, move, dst_instances):
    used = {}
    for instance in dst_instances:
        if instance.get("name") == move["destination_name"]:
            continue  # a remnant of this move is removed first
        for mac in instance.get("nic.macs") or []:
            used[mac.lower()] = instance["name"]
    findings = []
    for index, nic in enumerate(body["nics"]):
        mac = (nic.get("mac") or "").lower()
        if mac in ("", "generate", "auto"):
            continue
        owner = used.get(mac)
        if owner is None:
            message = "MAC %s of NIC %d is free on %s" % (mac, index, move["destination_cluster"])
        elif owner == move["source_name"] and same_cluster(move):
            message = (
                "MAC %s of NIC %d is the source %s's own: within one cluster the copy and its source exist "
                "side by side until the copy is verified, and Ganeti refuses a MAC used twice; pass nics: "
                "[{mac: generate}] to give the copy a new one (to keep this MAC, move with source_policy: "
                "remove, then give it to the copy: gnt-instance modify --net %d:modify,mac=%s %s)"
                % (mac, index, owner, index, mac, move["destination_name"]))
        else:
            message = ("MAC %s of NIC %d is already used by instance %s on %s; pass nics: [{mac: generate}] "
                       "to give the moved instance a new one" % (mac, index, owner, move["destination_cluster"]))
        findings.append(Finding("mac", owner is None, message))
    return findings


def same_cluster(move):
    """Whether the move's source and destination are one cluster (a copy within it)."""
    return move["source_cluster"] == move["destination_cluster"]


def same_cluster_problem(move, src_info, dst_info, source_instance=None, destination_instance=None):
    """Why a move within one cluster cannot be planned (it copies onto its own source), or None.

    Both RAPI connections may reach one cluster under different URLs: the
    clusters are compared by their UUIDs (names when a UUID is missing). The
    destination name may be a short form Ganeti expands to the source's own
    name: two instances with one UUID are one instance.
    """
    ids = (src_info.get("uuid"), dst_info.get("uuid"))
    if not (ids[0] == ids[1] if all(ids) else src_info.get("name") == dst_info.get("name")):
        return None
    itself = move["source_name"].lower() == move["destination_name"].lower() or (
        source_instance is not None and destination_instance is not None
        and source_instance.get("uuid") and source_instance.get("uuid") == destination_instance.get("uuid"))
    if not itself:
        return None
    return ("source and destination are the same cluster %s, and the destination name %s is the source "
            "instance %s itself: a move within one cluster makes a copy next to the source (the source is "
            "removed or kept only once the copy is verified), so the copy needs a name of its own; give "
            "new_name (a name that is free on %s), with nics: [{mac: generate}] as the source keeps its MACs "
            "until then, or choose a destination cluster other than %s"
            % (dst_info.get("name"), move["destination_name"], move["source_name"], dst_info.get("name"),
               dst_info.get("name")))


def storage_to_read(body, dst_nodes, dst_groups=None):
    """``(storage_type, nodes, why)``: the free space the storage check reads, on which nodes and why those.

    ``storage_type`` is None when the destination disk template needs no
    space on the nodes or is one the check cannot count. The nodes are the
    given primary (and, for DRBD, secondary) node; without a primary node,
    every node of the destination the placement could choose: vm_capable,
    online, not drained, in the request's node group when it names one
    (DST_GROUPS: bulk ``/2/groups``, read only then).
    """
    storage_type = TEMPLATE_STORAGE.get(body.get("disk_template"))
    if storage_type is None or not body.get("disks"):
        return None, [], ""
    if body.get("pnode"):
        wanted = [body["pnode"]] + ([body["snode"]] if body.get("snode") and body["disk_template"] == "drbd" else [])
        selected, _missing = select_by_name(dst_nodes, wanted)
        return storage_type, [n["name"] for n in selected], "the given %s" % (
            "primary and secondary nodes" if len(wanted) > 1 else "primary node")
    pool = [n for n in dst_nodes if can_take_instances(n)]
    why = "any node that can take instances, that is vm_capable, online and not drained"
    if body.get("group_name"):
        members = set()
        for group in dst_groups or []:
            if group.get("name") == body["group_name"]:
                members.update(group.get("node_list") or [])
        pool = [n for n in pool if n["name"] in members]
        why = "any node of group %s that can take instances, that is vm_capable, online and not drained" % (
            body["group_name"])
    placer = "iallocator %s" % body["iallocator"] if body.get("iallocator") else "the default iallocator"
    return storage_type, [n["name"] for n in pool], "no primary_node given: %s may choose %s" % (placer, why)


def remnant_space(remnant, storage_type):
    """``({node: MiB}, exact)``: the space the REMNANT of an earlier run frees on each node when removed.

    A run removes its unverified copy before it creates the new one, so that
    copy's space is the new copy's too. Only space of STORAGE_TYPE counts; on
    shared storage it is under the key None. ``exact`` is False for sparse
    file disks: their removal frees at most their size.
    """
    if not remnant:
        return {}, True
    remnant_type, _total, per_node = instance_disk(remnant)
    if remnant_type != storage_type or not per_node:
        return {}, True
    if storage_type in SHARED_STORAGE:
        return {None: per_node}, storage_type in THICK_STORAGE
    holders = [remnant.get("pnode")]
    if remnant.get("disk_template") == "drbd":
        holders += list(remnant.get("snodes") or [])
    return {node: per_node for node in holders if node}, storage_type in THICK_STORAGE


def storage_check(body, move, storage, nodes, why, remnant=None):
    """Finding ``storage``: whether the destination has room for the copy's disks.

    BODY is the create request (disk template, disks, pnode, snode); STORAGE
    ``{storage_type: {node: free MiB}}`` (``_merge_capacity.read_storage``) of
    NODES, chosen by :func:`storage_to_read` for the reason WHY; REMNANT the
    destination instance an earlier run left (phase remnant), which is removed
    before the copy is created. DRBD disks count on two nodes, with their
    metadata; shared file storage is one directory for all nodes.
    """
    template = body.get("disk_template")
    sizes = [int(d["size"]) for d in body.get("disks") or []]
    storage_type, total, per_node = instance_disk({"disk_template": template, "disk.sizes": sizes})
    cluster, name = move["destination_cluster"], move["destination_name"]
    if storage_type is None:
        return Finding("storage", True, "the copy %s (disk template %s%s) needs no disk space on the nodes of %s"
                       % (name, template, ", no disks" if not sizes else "", cluster))
    if storage_type not in TEMPLATE_STORAGE.values():
        return Finding("storage", True, "free space for disk template %s is not counted (Ganeti reports none "
                       "this check can use); %s's own checks apply when the copy is created" % (template, cluster))
    pinned = bool(body.get("pnode"))
    if not nodes and pinned:
        return Finding("storage", True, "free space not checked: the given node %s is not a node of %s (see "
                       "the check nodes)" % (body["pnode"], cluster))
    if not nodes:
        return Finding("storage", False, "no node of %s can hold the copy %s: %s, and there is none"
                       % (cluster, name, why))
    free_by_node = (storage or {}).get(storage_type)
    if free_by_node is None:
        return Finding("storage", True, "free %s storage of %s on %s could not be read: not checked"
                       % (storage_type, ", ".join(nodes), cluster))
    copies = 2 if template == "drbd" else 1
    credit, exact = remnant_space(remnant, storage_type)
    shared = storage_type in SHARED_STORAGE

    def free(node):
        return int(free_by_node.get(node) or 0), credit.get(None if shared else node, 0)

    need = total if shared else per_node
    what = "%d MiB (disk template %s, disks %s MiB%s%s)" % (
        need, template, "+".join(str(s) for s in sizes), ", with DRBD metadata" if template == "drbd" else "",
        ", on each of two nodes" if copies == 2 and not shared else "")
    rows = []
    for node in nodes:
        reported, extra = free(node)
        rows.append((node, reported, extra, reported + (extra if exact else 0)))
    if shared:
        # One directory for every node: counted once, as the best any node reports.
        rows = [max(rows, key=lambda r: r[3])]
        rows = [("the shared directory (seen from %s)" % rows[0][0],) + rows[0][1:]]

    def enough(fitting):
        if pinned:
            return len(fitting) == len(rows)
        return len(fitting) >= (1 if shared else copies)

    fitting = [r for r in rows if r[3] >= need]
    uncertain = not enough(fitting) and enough([r for r in rows if r[1] + r[2] >= need])

    def describe(row):
        node, reported, extra, _counted = row
        text = "%s has %d MiB free %s storage" % (node, reported, storage_type)
        if extra:
            text += " plus %d MiB %s by the removal of the unverified copy %s an earlier run left" % (
                extra, "freed" if exact else "at most freed (sparse file disks free only what was written)",
                name)
        return text

    if enough(fitting):
        best = fitting if pinned else sorted(fitting, key=lambda r: -r[3])[:1 if shared else copies]
        return Finding("storage", True, "free space on %s (%s): %s; the copy %s needs %s" % (
            cluster, why, "; ".join(describe(r) for r in best), name, what))
    short = [r for r in rows if r[3] < need]
    if pinned:
        worst = min(r[3] for r in short)
    else:
        # The node that would hold the last copy: the best one, or the second best for DRBD.
        ranked = sorted((r[3] for r in rows), reverse=True)
        wanted = 1 if shared else copies
        worst = ranked[wanted - 1] if len(ranked) >= wanted else 0
    message = "free space on %s (%s): %s; the copy %s needs %s: %d MiB short" % (
        cluster, why, "; ".join(describe(r) for r in (short if pinned else rows)), name, what, need - worst)
    if uncertain:
        message += ("; whether removing the unverified copy %s frees enough cannot be told (its file disks are "
                    "sparse): remove it (gnt-instance remove %s; tagged move-pending by this move) and re-run"
                    % (name, name))
    elif pinned:
        message += "; free space there, or choose %s with room" % (
            "other nodes" if len(rows) > 1 else "another primary_node")
    else:
        message += "; free space on %s, or give a primary_node with room" % (
            "two nodes" if copies == 2 and not shared else "a node")
    return Finding("storage", False, message)


def describe_failures(findings):
    """The messages of the failed checks (Findings or their dicts), joined."""
    items = [f.as_dict() if isinstance(f, Finding) else f for f in findings]
    return "; ".join(f["message"] for f in items if not f["ok"])
