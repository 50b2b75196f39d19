# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only. Cluster merge (move strategy): the move request of each instance.

The pre-flight (``_merge_checks.preflight``) decides, per instance, what its
move asks of ``ganeti.fleet.instance_move``: a ``new_name`` when its name is
taken on the target and the name policy is ``rename``, a generated MAC for
each NIC whose MAC is taken when the MAC policy is ``generate``, and its
placement. The role only passes these requests on. It also holds the one
place where the async limit of a move is derived from the move's timeouts.
"""

from __future__ import annotations

import re
import string

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_capacity
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_SOURCE, tag_values

NAME_POLICIES = ("error", "rename")
MAC_POLICIES = ("error", "generate")

#: Placeholders of the rename pattern.
RENAME_PLACEHOLDERS = ("name", "short", "suffix", "cluster")
DEFAULT_RENAME_PATTERN = "{short}-{cluster}{suffix}"

#: A host name as Ganeti accepts it for an instance (labels of letters, digits, hyphens).
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.I)

#: Seconds added to a move's own timeouts for its jobs, reads and verification.
ASYNC_MARGIN = 900


def async_limit(transfer_timeout, shutdown_timeout, margin=ASYNC_MARGIN):
    """The ``async`` limit of one move: its transfer and shutdown timeouts plus MARGIN.

    Below the move's own timeouts, Ansible's async wrapper would kill the
    move mid-transfer, before its own rollback runs.
    """
    for what, value in (("transfer_timeout", transfer_timeout), ("shutdown_timeout", shutdown_timeout)):
        if not isinstance(value, int) or value <= 0:
            raise FleetError("the move's %s must be a positive number of seconds, not %r" % (what, value))
    return transfer_timeout + shutdown_timeout + margin


def check_rename_pattern(pattern):
    """Raise FleetError unless PATTERN is a usable rename pattern (see :func:`renamed`)."""
    fields = []
    try:
        for _text, field, spec, conversion in string.Formatter().parse(pattern or ""):
            if field is not None:
                if spec or conversion:
                    raise ValueError("no format specs or conversions")
                fields.append(field)
    except ValueError as exc:
        raise FleetError("cluster_merge_rename_pattern %r is not valid (%s); use placeholders %s, for example %s"
                         % (pattern, exc, ", ".join("{%s}" % p for p in RENAME_PLACEHOLDERS),
                            DEFAULT_RENAME_PATTERN)) from None
    unknown = sorted(set(fields) - set(RENAME_PLACEHOLDERS))
    if unknown:
        raise FleetError("cluster_merge_rename_pattern %r has unknown placeholder(s) %s; the placeholders are %s"
                         % (pattern, ", ".join("{%s}" % u for u in unknown),
                            ", ".join("{%s}" % p for p in RENAME_PLACEHOLDERS)))
    if "name" not in fields and "short" not in fields:
        raise FleetError("cluster_merge_rename_pattern %r must contain {name} or {short}: without the instance's "
                         "name every renamed instance would get the same name" % pattern)
    if "cluster" not in fields:
        raise FleetError("cluster_merge_rename_pattern %r must contain {cluster}: the merged cluster's short "
                         "name keeps the new name apart from the clashing one" % pattern)


def renamed(pattern, instance_name, cluster_name):
    """INSTANCE_NAME of CLUSTER_NAME renamed by PATTERN.

    Placeholders: ``{name}`` (the full name), ``{short}`` (up to the first
    dot), ``{suffix}`` (the rest, with its dot, or empty), ``{cluster}`` (the
    merged cluster's short name).
    """
    short, dot, rest = instance_name.partition(".")
    return pattern.format(name=instance_name, short=short, suffix=dot + rest,
                          cluster=cluster_name.split(".", 1)[0])


def name_problem(name):
    """Why NAME cannot be an instance name, or None."""
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in name.split(".")):
        return "%r is not a valid host name (labels of letters, digits and inner hyphens)" % name
    return None


def copies_on_target(target_instances, source_cluster):
    """``{source instance name: target instance name}`` of the copies earlier runs moved from SOURCE_CLUSTER.

    A move tags its copy with its origin (``TAG_SOURCE``), whatever name the
    copy got; that is how a resumed run finds renamed copies.
    """
    prefix = TAG_SOURCE.split("%s", 1)[0]
    copies = {}
    for instance in target_instances:
        for value in tag_values(instance.get("tags"), prefix):
            cluster, _sep, name = value.partition("/")
            if cluster == source_cluster and name:
                copies[name] = instance["name"]
    return copies


def move_request(name, new_name=None, nic_count=0, generate=(), placement=None):
    """The request dict of one move (keys of ``_move_request.MOVE_OPTIONS``), only what is set.

    GENERATE lists the indexes of the NICs that get a new MAC; the other
    NICs get no override (``{}``: the source's values).
    """
    request = {"name": name}
    if new_name and new_name != name:
        request["new_name"] = new_name
    if generate:
        last = max(generate)
        request["nics"] = [{"mac": "generate"} if index in generate else {}
                           for index in range(min(last + 1, nic_count or last + 1))]
    request.update(placement or {})
    return request


def _finding(severity, check, message, objects=()):
    return {"severity": severity, "check": check, "message": message, "objects": sorted(set(objects))}


def check_policies(name_policy, mac_policy, rename_pattern):
    """Raise FleetError for an unknown policy, or an unusable RENAME_PATTERN under the rename policy."""
    for what, value, known in (("instance name policy", name_policy, NAME_POLICIES),
                               ("MAC policy", mac_policy, MAC_POLICIES)):
        if value not in known:
            raise FleetError("unknown %s %r (expected one of %s)" % (what, value, ", ".join(known)))
    if name_policy == "rename":
        check_rename_pattern(rename_pattern)


def resolve_name(name, source_cluster, owners, policy, pattern):
    """``(name on the target, findings)`` of instance NAME of SOURCE_CLUSTER.

    OWNERS maps each name already taken (target, earlier merged clusters) to
    its cluster; the name the instance gets is recorded there. A clash is an
    error under the ``error`` policy; under ``rename`` the instance gets
    PATTERN's name, an error only when that name is invalid or taken too.
    """
    owner = owners.setdefault(name, source_cluster)
    if owner == source_cluster:
        return name, []
    if policy != "rename":
        return name, [_finding("error", "instance-name",
                               "Instance %s exists in %s and in %s. Rename one of them first (gnt-instance rename), "
                               "or set the instance name policy to rename (move strategy)."
                               % (name, source_cluster, owner), [name])]
    new_name = renamed(pattern, name, source_cluster)
    problem = name_problem(new_name)
    if problem:
        return name, [_finding("error", "instance-name",
                               "Instance %s (%s) clashes with one of %s and cannot be renamed by "
                               "cluster_merge_rename_pattern %r: %s." % (name, source_cluster, owner, pattern,
                                                                         problem), [name])]
    taken = owners.setdefault(new_name, source_cluster)
    if taken != source_cluster:
        return name, [_finding("error", "instance-name",
                               "Instance %s (%s) clashes with one of %s, and its new name %s (cluster_merge_rename_"
                               "pattern %r) exists in %s too. Change the pattern, or rename one of them first "
                               "(gnt-instance rename)." % (name, source_cluster, owner, new_name, pattern, taken),
                               [name, new_name])]
    return new_name, [_finding("warning", "instance-name",
                               "Instance %s of %s clashes with an instance of %s: it moves as %s (instance name "
                               "policy rename)." % (name, source_cluster, owner, new_name), [name, new_name])]


def generated_mac_finding(mac, name, source_cluster, owner, index):
    """The warning that NIC INDEX of NAME gets a new MAC, its MAC being OWNER's ``(cluster, instance)``."""
    return _finding("warning", "mac",
                    "MAC %s of instance %s (%s) is also used by instance %s (%s): NIC %d gets a new MAC when it "
                    "moves (MAC policy generate)." % (mac, name, source_cluster, owner[1], owner[0], index),
                    [mac, name, owner[1]])


def resumed_move(instance, copy_name, target_cluster, mac_owners, mac_policy):
    """The request that resumes the move of INSTANCE whose copy COPY_NAME an earlier run left on the target.

    Same new name, so the same move id; a NIC whose MAC a target instance
    other than the copy holds gets a new MAC again if the move is redone.
    """
    macs = instance.get("nic.macs") or []
    generate = []
    if mac_policy == "generate":
        generate = [index for index, mac in enumerate(macs)
                    if mac_owners.get(mac) and mac_owners[mac] != (target_cluster, copy_name)]
    return move_request(instance["name"], copy_name, len(macs), generate)


def place_and_check_capacity(target, plan_sources, moving, placement):
    """Add each move's placement to its request; the findings of placement and of the target's capacity.

    MOVING is the bulk data of the instances still to move; the capacity is
    checked when the target's ``storage`` was read and every instance is placed.
    """
    names = [move["name"] for source in plan_sources for move in source.get("moves") or []]
    where, findings = _merge_capacity.plan_placement(
        names, target["info"], target["nodes"], [g["name"] for g in target["groups"]],
        iallocator=placement.get("iallocator"), group=placement.get("group"),
        primary_nodes=placement.get("primary_nodes"))
    for source in plan_sources:
        for move in source.get("moves") or []:
            move.update(where.get(move["name"], {}))
    if "storage" in target and not [f for f in findings if f["severity"] == "error"]:
        findings.extend(_merge_capacity.check_capacity(moving, where, target["info"], target["nodes"],
                                                       target["storage"]))
    return findings


def expected_snapshot(snap, plan_sources):
    """SNAP (``_merge_checks.snapshot`` of a merged cluster) as the target should show it after the moves.

    An instance renamed by its move is expected under its new name; a MAC
    its move generates is not known in advance (None: any MAC).
    """
    moves = {move["name"]: move for source in plan_sources if source["cluster_name"] == snap["cluster_name"]
             for move in source.get("moves") or []}
    instances = {}
    for name, was in snap["instances"].items():
        move = moves.get(name, {})
        was = dict(was)
        generated = [i for i, nic in enumerate(move.get("nics") or []) if (nic or {}).get("mac") == "generate"]
        if generated:
            was["macs"] = [None if i in generated else mac for i, mac in enumerate(was.get("macs") or [])]
        instances[move.get("new_name") or name] = was
    return dict(snap, instances=instances)


def expected_change(field, was, now):
    """Whether WAS and NOW of one instance differ in FIELD only as its move intended (a generated MAC)."""
    if field != "macs":
        return False
    before, after = was.get("macs") or [], now.get("macs") or []
    return None in before and len(before) == len(after) and all(
        mac is None or mac == new for mac, new in zip(before, after))


def expected_locations(locations, plan_sources):
    """Disk LOCATIONS (``_merge_checks.disk_locations``) named as the instances will be named on the target."""
    new_names = {(source["cluster_name"], move["name"]): move["new_name"] for source in plan_sources
                 for move in source.get("moves") or [] if move.get("new_name")}
    return [dict(loc, instance=new_names.get((loc["cluster"], loc["instance"]), loc["instance"])) for loc in locations]
