# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure helpers for the info modules: pick named objects out of a bulk list."""

from __future__ import annotations


def wanted_names(name=None, names=None):
    """Merge the ``name`` and ``names`` options into one ordered list (or ``None`` for all)."""
    result = []
    if name:
        result.append(name)
    for item in names or []:
        if item not in result:
            result.append(item)
    return result or None


def select_by_name(objects, names=None, key="name"):
    """Return ``(selected, missing)`` from a bulk RAPI list.

    ``names=None`` selects everything.  Names match exactly, or by their
    first label (``web1`` matches ``web1.example.org``) when that is unique.
    ``selected`` follows the order of ``names``; ``missing`` lists the names
    that matched nothing.
    """
    objects = list(objects or [])
    if names is None:
        return objects, []
    by_name = {}
    by_short = {}
    for obj in objects:
        full = obj.get(key)
        if full is None:
            continue
        by_name[full] = obj
        by_short.setdefault(full.split(".", 1)[0], []).append(obj)
    selected = []
    missing = []
    for wanted in names:
        obj = by_name.get(wanted)
        if obj is None and "." not in wanted and len(by_short.get(wanted, [])) == 1:
            obj = by_short[wanted][0]
        if obj is None:
            missing.append(wanted)
        elif obj not in selected:
            selected.append(obj)
    return selected, missing
