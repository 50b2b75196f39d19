# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ganeti versions: how releases differ, in one place. Internal use only.

A version string is ``software_version`` of ``/2/info`` or ``RELEASE_VERSION``
of a node's ``ganeti/_constants.py``: ``3.0.2``, or Debian 13's ``3.1.0~rc2``.
A pre-release sorts before its release, as in Debian: ``3.1.0~rc2`` lacks
fixes that came in ``3.1.0``, so it must not pass for it. No dependency
beyond the standard library: node-side modules use it too.
"""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(?:[~-]?(alpha|beta|rc)\.?(\d+))?")
_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}

#: Ganeti/ganeti#1681 (the exporter expects the importer's certificate to be
#: issued to "ganeti.example.com") is fixed by #1699, first in 3.1.0~rc1.
TRANSFER_DEFECT_FIXED_IN = "3.1.0~rc1"


def parse_version(text):
    """``(3, 0, 2)`` for ``3.0.2``; ``(3, 1, 0)`` for ``3.1.0~rc2`` too; ``()`` when unparsable.

    The release numbers only, for display and for comparing releases; use
    version_key() to order versions with their pre-release.
    """
    parsed = _parse(text)
    return parsed[0] if parsed else ()


def version_key(text):
    """A key that orders Ganeti versions (a pre-release before its release); None when unparsable.

    Release numbers are padded to three parts, so ``3.1`` equals ``3.1.0``.
    """
    parsed = _parse(text)
    if not parsed:
        return None
    numbers, pre_release = parsed
    numbers = (numbers + (0, 0, 0))[:max(3, len(numbers))]
    return numbers + ((0,) + pre_release if pre_release else (1, 0, 0))


def _parse(text):
    """(release numbers, (pre-release rank, number) or None), or None when TEXT is no version."""
    match = _VERSION_RE.match(str(text)) if text is not None else None
    if not match:
        return None
    numbers = tuple(int(part) for part in match.group(1).split("."))
    return numbers, ((_PRE_RANK[match.group(2)], int(match.group(3))) if match.group(2) else None)


def at_least(text, minimum):
    """True when version TEXT is MINIMUM or later; None when TEXT is unparsable."""
    key = version_key(text)
    if key is None:
        return None
    return key >= version_key(minimum)


def has_transfer_defect(text):
    """True when Ganeti TEXT's exporter has ganeti/ganeti#1681; None when TEXT is unparsable."""
    fixed = at_least(text, TRANSFER_DEFECT_FIXED_IN)
    return None if fixed is None else not fixed


def in_place_compatible(target_info, source_info):
    """Whether Ganeti lets SOURCE's nodes join TARGET, from their ``/2/info``: (ok, reason).

    Ganeti's own rules: a node joins only with the master's protocol version
    (``gnt-node add``: "Version mismatch"), and a configuration is read only
    by its own configuration version. The release string may differ (a
    pre-release and its release share both), which Ganeti only warns about.
    """
    fields = [field for field in ("protocol_version", "config_version")
              if target_info.get(field) is not None and source_info.get(field) is not None]
    if not fields:
        # Without the numbers, the release strings are all there is to compare.
        fields = ["software_version"]
    for field in fields:
        if target_info.get(field) != source_info.get(field):
            return False, "%s %s on the target, %s on the source" % (field, target_info.get(field), source_info.get(field))
    return True, None


def merge_version_rule(strategy, node_handover, target_name, target_info, source_name, source_info):
    """(severity, message) of what a merge's target and source versions (their /2/info) mean; None if equal.

    Both strategies end with the source's nodes in the target, unless the
    move strategy leaves them out (NODE_HANDOVER false): Ganeti's rule for
    nodes (same protocol and configuration versions) decides, and a
    difference of release only is noted.
    """
    compatible, difference = in_place_compatible(target_info, source_info)
    versions = (target_name, target_info.get("software_version"), source_name, source_info.get("software_version"))
    if not compatible and strategy == "in_place":
        return ("error", "%s runs Ganeti %s and %s runs %s: they cannot be merged in place (%s). Ganeti adds a node "
                "only with the master's protocol version and reads only its own configuration version. Upgrade one "
                "of them (gnt-cluster upgrade), or move the instances with playbooks/move_instances.yml, which "
                "moves between these versions." % (versions + (difference,)))
    if not compatible and node_handover:
        # The move strategy ends by adding the emptied cluster's nodes to the
        # target: Ganeti would refuse them only after the cluster is taken apart.
        return ("error", "%s runs Ganeti %s and %s runs %s: the instances could move across, but the nodes of %s "
                "cannot join %s afterwards (%s; Ganeti adds a node only with the master's protocol version), and "
                "the merge ends with that. Set node_handover to false (role: cluster_merge_node_handover) to move "
                "the instances and leave the nodes of %s out, or upgrade them to the target's Ganeti first."
                % (versions + (source_name, target_name, difference, source_name)))
    if not compatible:
        return ("warning", "%s runs Ganeti %s and %s runs %s (%s): the instances move across; the nodes of %s "
                "stay in it, emptied, as node_handover is false." % (versions + (difference, source_name)))
    if versions[1] != versions[3]:
        return ("warning", "Ganeti versions differ: target %s runs %s, %s runs %s. Their protocol and configuration "
                "versions match, so Ganeti accepts the nodes; cluster verify will warn about the different "
                "releases until both run the same." % versions)
    return None
