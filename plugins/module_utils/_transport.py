# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: the pure helpers of the RAPI client's transport.

Path quoting, query encoding and the reading of ``requests``/``urllib3``
exception chains into short reasons.  Kept apart from ``rapi_client`` so that
the client stays one readable class; not an interface of the collection.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

#: Names of the objects in RAPI paths, used for readable 404 messages.
_PATH_OBJECTS = {
    "instances": "instance",
    "nodes": "node",
    "groups": "node group",
    "networks": "network",
    "jobs": "job",
    "os": "OS",
    "filters": "filter rule",
}


def _exception_chain(exc):
    """Yield ``exc`` and the exceptions it wraps (cause, context, reason, args)."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.append(getattr(current, "__cause__", None))
        stack.append(getattr(current, "__context__", None))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)


def is_connection_refused(exc):
    return any(isinstance(item, ConnectionRefusedError) for item in _exception_chain(exc))


def is_hostname_mismatch(exc):
    for item in _exception_chain(exc):
        # X509_V_ERR_HOSTNAME_MISMATCH (62) and X509_V_ERR_IP_ADDRESS_MISMATCH (64)
        if getattr(item, "verify_code", None) in (62, 64):
            return True
        text = str(item).lower()
        if "mismatch" in text or "doesn't match" in text or "does not match" in text:
            return True
    return False


def short_reason(exc):
    """Return the most specific, short description of a transport error."""
    best = None
    for item in _exception_chain(exc):
        if isinstance(item, OSError) and not type(item).__module__.startswith(("requests", "urllib3")):
            text = item.strerror or str(item)
            return text
        if best is None:
            best = item
    text = str(best if best is not None else exc)
    # urllib3 messages look like "<urllib3.connection.HTTPSConnection object at 0x..>: Failed ..."
    text = re.sub(r"<[^>]+>:\s*", "", text)
    return text


def quote_name(name):
    """Quote an object name or job id for use in a RAPI path."""
    return quote(str(name), safe="")


def describe_path(path):
    """Describe the object a RAPI path refers to, for messages.

    ``/2/instances/web1`` gives ``instance 'web1'``; unknown paths are
    returned as ``resource /path``.
    """
    parts = [part for part in path.split("?")[0].split("/") if part]
    if len(parts) >= 3 and parts[0] == "2" and parts[1] in _PATH_OBJECTS:
        return "%s '%s'" % (_PATH_OBJECTS[parts[1]], unquote(parts[2]))
    return "resource %s" % path


def encode_query(query):
    if not query:
        return None
    params = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool):
                item = 1 if item else 0
            params.append((key, item))
    return params or None
