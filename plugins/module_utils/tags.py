# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ganeti tags: the collection's tag vocabulary, validation and change planning.

Every tag the collection writes or reads is named here and nowhere else in
the code; roles get the names from module results, never from literals.
"""

from __future__ import annotations

import re


#: Prefix of every tag the collection writes.
TAG_PREFIX = "ganeti-fleet:"

# A move's instance tags, on the destination copy or on a kept source:
# TAG_MOVE_ID ("move-id:ID"), TAG_PENDING, TAG_SOURCE ("source:CLUSTER/NAME"),
# TAG_SOURCE_UUID, TAG_SOURCE_UP, TAG_MOVED_TO ("moved-to:CLUSTER/NAME").
(TAG_MOVE_ID, TAG_PENDING, TAG_SOURCE, TAG_SOURCE_UUID, TAG_SOURCE_UP, TAG_MOVED_TO) = (
    TAG_PREFIX + name for name in ("move-id:%s", "move-pending", "source:%s/%s", "source-uuid:%s",
                                   "source-admin-up", "moved-to:%s/%s"))

# A move's content record: TAG_DIGEST ("digest:INDEX:ALGORITHM:HEX") on the
# copy, one per disk, added only once the copy's bytes were found equal to the
# source's; TAG_STOPPED_FOR_MOVE ("stopped-for-move:ID") on a source that was
# running when the move stopped it, until it runs again or the move is done.
(TAG_DIGEST, TAG_STOPPED_FOR_MOVE) = (
    TAG_PREFIX + name for name in ("digest:%d:%s:%s", "stopped-for-move:%s"))

#: Cluster tag of a cluster whose nodes all carry the transfer fix; the move
#: pre-flight looks for it on clusters older than Ganeti 3.1.
TAG_TRANSFER_FIX = TAG_PREFIX + "transfer-fix"

#: Cluster tag the access check adds and removes to prove write access.
TAG_ACCESS_CHECK = TAG_PREFIX + "access-check"

# A merge's cluster tags on the target: TAG_MERGING and TAG_MERGED
# ("merging:CLUSTER", "merged:CLUSTER"), and TAG_MERGE_NODE
# ("merge-node:CLUSTER:NODE:GROUP"), a node of a merged cluster still to join.
(TAG_MERGING, TAG_MERGED, TAG_MERGE_NODE) = (
    TAG_PREFIX + name for name in ("merging:%s", "merged:%s", "merge-node:%s:%s:%s"))

# What a move merge carries besides instances: TAG_CARRIED ("carried-from:CLUSTER/NAME"),
# on a network or node group it created on the target from the merged cluster's
# object NAME (a re-run recognises its own copies), and TAG_MERGE_NODE_SETUP
# ("merge-node-setup:CLUSTER:NODE:SECONDARY_IP:MASTER_CAPABLE:VM_CAPABLE"), a
# cluster tag that keeps, while the merge is in progress, what the node needs
# to join the target once its cluster is taken apart.
(TAG_CARRIED, TAG_MERGE_NODE_SETUP) = (
    TAG_PREFIX + name for name in ("carried-from:%s/%s", "merge-node-setup:%s:%s:%s:%s:%s"))

# Node maintenance: the node's role before it ("maintenance-previous-role:ROLE",
# a node tag) and the node an instance was moved off ("maintenance-moved-from:NODE").
(TAG_PREVIOUS_ROLE, TAG_MOVED_FROM) = (
    TAG_PREFIX + name for name in ("maintenance-previous-role:", "maintenance-moved-from:"))


def own_tags(tags):
    """The TAGS that are not ganeti.fleet's own bookkeeping (those a merge carries to the target), sorted."""
    return sorted(tag for tag in tags or [] if not tag.startswith(TAG_PREFIX))


def tag_values(tags, prefix):
    """The rest of each tag in ``tags`` that starts with ``prefix``, in order."""
    return [tag[len(prefix):] for tag in tags or [] if tag.startswith(prefix)]


#: Same rules as Ganeti's ``TaggableObject.ValidateTag``.
MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJECT = 4096
VALID_TAG_RE = re.compile(r"^[\w.+*/:@-]+$")


def tag_problem(tag):
    """Return why ``tag`` is not a valid Ganeti tag, or ``None`` if it is."""
    if not isinstance(tag, str):
        return "tag %r is not a string" % (tag,)
    if not tag:
        return "tags cannot be empty"
    if len(tag) > MAX_TAG_LEN:
        return "tag %r is longer than %d characters" % (tag, MAX_TAG_LEN)
    if not VALID_TAG_RE.match(tag):
        return "tag %r contains characters other than letters, digits and . + * / : @ - _" % tag
    return None


def validate_tags(tags):
    """Return a list of problems with ``tags`` (empty if all are valid)."""
    return [problem for problem in (tag_problem(tag) for tag in tags) if problem]


def _unique(items):
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def plan_tag_change(current, wanted, state="present", purge=False):
    """Work out which tags to add and remove.

    :param current: tags the object has now.
    :param wanted: tags given by the user.
    :param state: ``present`` (make sure ``wanted`` are set) or ``absent``
        (make sure none of ``wanted`` is set).
    :param purge: with ``present``, also remove every tag not in ``wanted``.
    :returns: dict with ``add`` and ``remove`` (lists, in a stable order),
        ``before`` and ``after`` (sorted lists) and ``changed`` (bool).
    """
    if state not in ("present", "absent"):
        raise ValueError("state must be 'present' or 'absent', not %r" % (state,))
    current = _unique(current or [])
    wanted = _unique(wanted or [])
    current_set = set(current)
    wanted_set = set(wanted)
    if state == "present":
        add = [tag for tag in wanted if tag not in current_set]
        remove = [tag for tag in current if tag not in wanted_set] if purge else []
    else:
        add = []
        remove = [tag for tag in wanted if tag in current_set]
    after = (current_set - set(remove)) | set(add)
    return dict(
        add=add,
        remove=remove,
        before=sorted(current_set),
        after=sorted(after),
        changed=bool(add or remove),
    )
