# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: pick named objects out of a RAPI bulk list, as the info and node modules do.

Names match exactly, or by their first label (``web1`` matches
``web1.example.org``) when that is unique, like Ganeti's command line tools.
The ``selection`` doc fragment documents :func:`selection_argument_spec`.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError


def selection_argument_spec():
    """The ``name`` and ``names`` options of the info modules (mutually exclusive)."""
    return dict(name=dict(type="str"), names=dict(type="list", elements="str"))


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

    ``names=None`` selects everything.  ``selected`` follows the order of
    ``names``; ``missing`` lists the names that matched nothing.
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


def selected_result(objects, params, kind, url):
    """The result of an info module: ``KINDs`` as selected by ``params``, and ``KIND`` with ``name``.

    :raises FleetError: naming the unknown names (also as ``missing``).
    """
    selected, missing = select_by_name(objects, wanted_names(params["name"], params["names"]))
    if missing:
        raise FleetError("Unknown %s%s on %s: %s" % (kind, "s" if len(missing) > 1 else "", url, ", ".join(missing)),
                         missing=missing)
    result = {kind + "s": selected}
    if params["name"]:
        result[kind] = selected[0]
    return result


def find_one(objects, name, kind, url):
    """The one object of a bulk list that NAME selects.

    :raises FleetError: listing the names the cluster knows.
    """
    selected, missing = select_by_name(objects, [name])
    if missing:
        raise FleetError("unknown %s %s on %s (%ss: %s)" % (
            kind, name, url, kind, ", ".join(sorted(obj["name"] for obj in objects))))
    return selected[0]
