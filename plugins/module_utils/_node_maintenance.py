# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: which instances can leave a node, how, and the records node maintenance keeps in tags.

Pure functions, no I/O.

An instance can leave its primary node only when all its disks are
mirrored, internally (DRBD: to its secondary node) or externally
(``sharedfile``, ``blockdev``, ``rbd``, ``ext``, ``gluster``, and
``diskless``: to any node, chosen by an iallocator or given). A running
instance is live-migrated; a stopped one is failed over (for a stopped
instance that only changes its primary node). ``file`` and ``plain``
instances cannot move.

Records, as tags (named in ``tags``):

* node tag :data:`~tags.TAG_PREVIOUS_ROLE` + ROLE: the role the node had
  before it was taken out of service, restored when it comes back
  (:func:`role_record` tells the node_maintenance role both);
* instance tag :data:`~tags.TAG_MOVED_FROM` + NODE: the instance was moved
  off NODE for its maintenance, and moves back on a rebalance.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils._node_role import ROLES, role_of
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_MOVED_FROM, TAG_PREVIOUS_ROLE, tag_values

#: Disk templates whose instances can be migrated or failed over
#: (``constants.DTS_MIRRORED`` of Ganeti 3.0).
INTERNAL_MIRROR = frozenset(["drbd"])
EXTERNAL_MIRROR = frozenset(["sharedfile", "blockdev", "rbd", "ext", "gluster", "diskless"])
MOVABLE_TEMPLATES = INTERNAL_MIRROR | EXTERNAL_MIRROR

MIGRATE = "migrate"
FAILOVER = "failover"


def role_record(node):
    """The role of NODE (a ``GET /2/nodes`` dict) and its maintenance record.

    :returns: dict with ``role`` (the node's role now), ``record_tag`` (the
        tag that records that role), ``recorded_role`` (the role recorded
        when the node was taken out of service, or ``None``) and
        ``record_tags`` (the node's tags recording a role).
    """
    role = role_of(node)
    roles_by_tag = dict((TAG_PREVIOUS_ROLE + restorable, restorable) for restorable in ROLES)
    tags = [tag for tag in node.get("tags") or [] if tag in roles_by_tag]
    return {"role": role, "record_tag": TAG_PREVIOUS_ROLE + role,
            "recorded_role": roles_by_tag[tags[0]] if tags else None, "record_tags": tags}


def moved_from_tag(node):
    return TAG_MOVED_FROM + node


def moved_from(tags):
    """Nodes an instance was moved off for maintenance, from its tags."""
    return tag_values(tags, TAG_MOVED_FROM)


def is_running(instance):
    return bool(instance.get("oper_state"))


def how_to_move(instance):
    """``(method, reason)``: ``method`` is :data:`MIGRATE`, :data:`FAILOVER` or ``None``."""
    template = instance.get("disk_template")
    if template not in MOVABLE_TEMPLATES:
        return None, ("disk template %s allows neither migration nor failover (only %s do)"
                      % (template, ", ".join(sorted(MOVABLE_TEMPLATES))))
    if is_running(instance):
        return MIGRATE, "running, %s disks" % template
    return FAILOVER, "not running, %s disks" % template


def placement(instance, target_node=None, iallocator=None):
    """Opcode fields choosing where an instance goes.

    DRBD instances always go to their secondary node (Ganeti refuses a target
    or an iallocator for them). Others go to TARGET_NODE, or where
    IALLOCATOR (default: the cluster's default iallocator) puts them.
    """
    if instance.get("disk_template") in INTERNAL_MIRROR:
        return {}
    if target_node:
        return {"target_node": target_node}
    if iallocator:
        return {"iallocator": iallocator}
    return {}


def move_body(instance, method, target_node=None, iallocator=None, migration_mode=None,
              allow_failover=False, shutdown_timeout=None):
    """Body of ``PUT /2/instances/NAME/migrate`` or ``.../failover``."""
    body = placement(instance, target_node, iallocator)
    if method == MIGRATE:
        if migration_mode:
            body["mode"] = migration_mode
        body["allow_failover"] = bool(allow_failover)
    elif shutdown_timeout is not None:
        body["shutdown_timeout"] = shutdown_timeout
    return body


def plan_evacuation(node, instances, offline=False):
    """What to do with the instances of NODE.

    :param node: the node's full name.
    :param instances: ``GET /2/instances?bulk=1``.
    :param offline: the node is offline (nothing can be migrated off it).
    :returns: dict with ``moves`` (list of dicts: ``name``, ``method``,
        ``reason``, ``template``, ``running``), ``unmovable`` (list of dicts:
        ``name``, ``reason``) and ``secondaries`` (names of instances having
        NODE as a secondary node), every list sorted by name.
    """
    moves, unmovable, secondaries = [], [], []
    for instance in sorted(instances or [], key=lambda i: i["name"]):
        if node in (instance.get("snodes") or []):
            secondaries.append(instance["name"])
        if instance.get("pnode") != node:
            continue
        if offline:
            unmovable.append({"name": instance["name"], "reason": (
                "its primary node %s is offline, so Ganeti cannot migrate it; fail it over by hand "
                "(gnt-instance failover --ignore-consistency) if its disks allow" % node)})
            continue
        method, reason = how_to_move(instance)
        if method is None:
            unmovable.append({"name": instance["name"], "reason": reason})
        else:
            moves.append({"name": instance["name"], "method": method, "reason": reason,
                          "template": instance.get("disk_template"), "running": is_running(instance)})
    return {"moves": moves, "unmovable": unmovable, "secondaries": secondaries}


def describe_unmovable(node, unmovable):
    return "%d instance(s) cannot leave %s: %s" % (
        len(unmovable), node, "; ".join("%s (%s)" % (item["name"], item["reason"]) for item in unmovable))


def plan_return(node, instances):
    """Instances moved off NODE for maintenance, and what to do with each.

    :returns: dict with ``moves`` (to bring back, as in
        :func:`plan_evacuation`), ``release`` (names already back on NODE:
        only their record is removed) and ``stuck`` (dicts ``name``,
        ``reason``: recorded but unable to come back).
    """
    moves, release, stuck = [], [], []
    for instance in sorted(instances or [], key=lambda i: i["name"]):
        if node not in moved_from(instance.get("tags")):
            continue
        if instance.get("pnode") == node:
            release.append(instance["name"])
            continue
        method, reason = how_to_move(instance)
        if method is None:
            stuck.append({"name": instance["name"], "reason": reason})
        elif instance.get("disk_template") in INTERNAL_MIRROR and node not in (instance.get("snodes") or []):
            stuck.append({"name": instance["name"], "reason": (
                "%s instances can only move to their secondary node, which is not %s any more"
                % (instance.get("disk_template"), node))})
        else:
            moves.append({"name": instance["name"], "method": method, "reason": reason,
                          "template": instance.get("disk_template"), "running": is_running(instance)})
    return {"moves": moves, "release": release, "stuck": stuck}


def recorded(node, instances):
    """Names of the instances carrying NODE's moved-from record."""
    return sorted(i["name"] for i in instances or [] if node in moved_from(i.get("tags")))


def sub_job_ids(opresult):
    """Job ids submitted by an opcode that returns jobs (node evacuate and migrate).

    Ganeti answers ``[{"jobs": [[true, id], [false, "error"], ...]}]``.
    Returns ``(ids, errors)``.
    """
    ids, errors = [], []
    for entry in opresult or []:
        if not isinstance(entry, dict):
            continue
        for item in entry.get("jobs") or []:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                if item[0]:
                    ids.append(str(item[1]))
                else:
                    errors.append(str(item[1]))
    return ids, errors
