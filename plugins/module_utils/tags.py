# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic for Ganeti tags: validation and change planning."""

from __future__ import annotations

import re

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
