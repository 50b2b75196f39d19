# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster moves: the pre-flight checks that need no write on either cluster. Internal use only.

Each check is a :class:`Finding` naming the object it checked; they work on
what ``_move_plan.plan_move`` read from both clusters, so they are unit-tested
without a cluster.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import parse_version
from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import DIRECT_COMPRESSION
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import select_by_name
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_TRANSFER_FIX

#: First Ganeti version whose export side checks the right certificate name
#: (upstream ganeti/ganeti#1681, fixed by PRs #1699 and #1840).
TRANSFER_FIX_VERSION = (3, 1)


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
    src_version = parse_version(src_info.get("software_version"))
    if src_version and src_version < TRANSFER_FIX_VERSION and TAG_TRANSFER_FIX not in src_cluster_tags:
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
        findings.append(Finding(
            "mac", owner is None,
            "MAC %s of NIC %d is free on %s" % (mac, index, move["destination_cluster"])
            if owner is None else
            "MAC %s of NIC %d is already used by instance %s on %s; pass nics: [{mac: generate}] "
            "to give the moved instance a new one" % (mac, index, owner, move["destination_cluster"])))
    return findings


def describe_failures(findings):
    """The messages of the failed checks (Findings or their dicts), joined."""
    items = [f.as_dict() if isinstance(f, Finding) else f for f in findings]
    return "; ".join(f["message"] for f in items if not f["ok"])
