# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: the pure helpers of the RAPI client's transport.

Path quoting, query encoding, the error messages of failed requests, the reading of ``requests``/``urllib3``
exception chains into short reasons, and the trust anchor rule of ``verify_hostname=false``.  Kept apart from ``rapi_client`` so that
the client stays one readable class; not an interface of the collection.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import unescape

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


def http_error(response, url, user, method, path):
    """The :class:`RapiError` for an HTTP error answer, with what to check."""
    status = response.status_code
    message = None
    explain = None
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = unescape(data.get("message"))
        explain = unescape(data.get("explain"))
    elif isinstance(data, str):
        message = unescape(data)
    if not message:
        text = (response.text or "").strip()
        message = unescape(text[:300]) if text else (response.reason or "HTTP %d" % status)
    common = dict(url=url, method=method, path=path, status_code=status, explain=explain)

    if status == 401:
        if user:
            text = ("Authentication as RAPI user '%s' failed at %s (HTTP 401): "
                    "check the credentials (rapi_user/rapi_password, or "
                    "GANETI_RAPI_USER/GANETI_RAPI_PASSWORD)" % (user, url))
        else:
            text = ("Ganeti RAPI at %s requires authentication (HTTP 401) and no "
                    "credentials were given: set rapi_user and rapi_password (or "
                    "GANETI_RAPI_USER/GANETI_RAPI_PASSWORD)" % url)
        return RapiError(text, kind="auth", **common)
    if status == 403:
        who = "RAPI user '%s'" % user if user else "Anonymous access"
        text = ("%s may not %s %s at %s (HTTP 403): this needs a RAPI user with write "
                "access (the 'write' option in Ganeti's RAPI users file)"
                % (who, method, path, url))
        return RapiError(text, kind="forbidden", **common)
    if status == 404:
        text = "%s not found on %s (%s %s): %s" % (
            describe_path(path), url, method, path, message)
        return RapiError(text, kind="not_found", **common)
    if status == 415:
        text = ("Ganeti RAPI at %s rejected the request body of %s %s (HTTP 415, "
                "unsupported media type): %s" % (url, method, path, message))
        return RapiError(text, **common)
    text = "Ganeti RAPI at %s: %s %s failed with HTTP %d: %s" % (
        url, method, path, status, message)
    return RapiError(text, **common)


def tls_error(exc, url, ca_path, method, path):
    """The :class:`RapiError` for a failed TLS verification, naming the CA used and the fix."""
    if ca_path:
        ca_text = "CA file used: %s" % ca_path
    else:
        ca_text = ("no CA file was given, so the system CA bundle was used (set ca_path "
                   "or GANETI_RAPI_CA_PATH to the cluster's RAPI certificate, the "
                   "certificate part of /var/lib/ganeti/rapi.pem)")
    text = "TLS verification of Ganeti RAPI at %s failed: %s. %s." % (
        url, short_reason(exc), ca_text)
    if is_hostname_mismatch(exc):
        text += (" The certificate does not match the host name; the stock Ganeti RAPI "
                 "certificate is issued to 'ganeti.example.com'. Use a certificate issued "
                 "for the cluster name, or set verify_hostname=false "
                 "(GANETI_RAPI_VERIFY_HOSTNAME=false) to skip only the host name check "
                 "while still verifying the certificate against ca_path.")
    return RapiError(text, kind="tls", url=url, method=method, path=path)


def check_single_anchor(url, ca_path):
    """Refuse ``verify_hostname=false`` unless CA_PATH holds exactly one certificate.

    Without the host name check, every certificate a trusted anchor vouches
    for is accepted for URL; with a bundle of several clusters' certificates
    any of those clusters (or whoever has its key) could answer for this one.
    """
    fix = ("give ca_path a file with only this cluster's certificate (the move_readiness role writes one per"
           " cluster), or keep verify_hostname=true with a certificate issued to the name in the URL")
    if not ca_path:
        raise RapiError("verify_hostname=false for %s needs ca_path: without the host name check the system CA"
                        " store would vouch for any host; %s" % (url, fix), kind="config")
    try:
        with open(ca_path, "rb") as handle:
            count = sum(1 for line in handle if line.startswith(b"-----BEGIN"))
    except OSError as exc:
        raise RapiError("cannot read ca_path %s: %s" % (ca_path, exc.strerror or exc), kind="config")
    if count != 1:
        raise RapiError("verify_hostname=false for %s: ca_path %s holds %d PEM blocks, and each certificate in it"
                        " would be accepted for this cluster; %s" % (url, ca_path, count, fix), kind="config")
