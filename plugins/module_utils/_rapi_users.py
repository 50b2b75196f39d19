# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ganeti's RAPI users file: its lines, the {HA1} hash, planned changes. Internal use only.

Plain Python, no Ansible imports; nothing here writes a file.
"""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import DATA_DIR
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: Ganeti's RAPI users file, reloaded by the RAPI daemon when it changes.
RAPI_USERS_FILE = os.path.join(DATA_DIR, "rapi", "users")
#: Realm of Ganeti's RAPI, part of the {HA1} password hash.
RAPI_REALM = "Ganeti Remote API"
#: What Ganeti's ensure-dirs sets (mode, user, group).
RAPI_USERS_OWNERSHIP = (0o640, "gnt-rapi", "gnt-masterd")
RAPI_DIR_OWNERSHIP = (0o750, "gnt-rapi", "gnt-masterd")

USER_OPTIONS = ("read", "write")

_USER_NAME_RE = re.compile(r"^[\x21-\x7e]+$")


class UsersFileError(FleetError):
    """Invalid user, password or users file; the message never holds a password."""


def ha1_hash(user, password, realm=RAPI_REALM):
    """``{HA1}`` form of PASSWORD: md5 of ``user:realm:password``, as Ganeti checks it."""
    try:
        digest = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode("ascii"))  # nosec - Ganeti's format
    except UnicodeEncodeError:
        raise UsersFileError("RAPI user names and passwords must be ASCII (Ganeti hashes them as ASCII)")
    return "{HA1}" + digest.hexdigest()


def validate_user(name, password=None):
    if not name or not _USER_NAME_RE.match(name) or ":" in name:
        raise UsersFileError("a RAPI user name must be printable ASCII without blanks or ':'")
    if name.startswith("#"):
        # Ganeti's users file parser skips every line that starts with '#'.
        raise UsersFileError(
            "RAPI user %s cannot be managed: its name starts with '#', and Ganeti reads a users file line"
            " starting with '#' as a comment, so RAPI would never know the user, and this module would add"
            " its line again on every run and could never remove it; choose a name that does not start"
            " with '#'" % name)
    if password is not None:
        if not password or any(ch in password for ch in "\r\n") or not password.isascii():
            raise UsersFileError("the RAPI password must be one line of ASCII characters")


def parse_users_line(line):
    """(name, password field, options) of a users file line, or None for comments and blanks."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = text.split(None, 2)
    if len(parts) < 2:
        return None
    options = [o.strip() for o in parts[2].split(",") if o.strip()] if len(parts) == 3 else []
    return parts[0], parts[1], options


def password_matches(field, user, password):
    """True when the password field of the users file accepts PASSWORD for USER."""
    if field.upper().startswith("{HA1}"):
        return field[5:].lower() == ha1_hash(user, password)[5:]
    if field.upper().startswith("{CLEARTEXT}"):
        return field[11:] == password
    return field == password


def plan_users_file(content, user, password=None, options=("write",), state="present",
                    update_password="always"):
    """Work out the new users file.

    Returns ``(new_content, action, reasons)``. ACTION is ``created``,
    ``updated``, ``removed`` or ``None`` (nothing to do). Every other line
    (comments, other users) is kept as it is. The password is stored in
    the ``{HA1}`` form; a stored password that still matches is kept only
    when it is already hashed.
    """
    lines = (content or "").splitlines()
    found = [i for i, line in enumerate(lines) if (parse_users_line(line) or [None])[0] == user]
    reasons = []
    if state == "absent":
        if not found:
            return content, None, reasons
        kept = [line for i, line in enumerate(lines) if i not in found]
        return ("\n".join(kept) + "\n") if kept else "", "removed", ["user %s removed" % user]
    wanted_options = list(options)
    if found:
        field, current_options = parse_users_line(lines[found[0]])[1:]
        keep_password = False
        if update_password == "on_create":
            keep_password = True
        elif field.upper().startswith("{HA1}") and password_matches(field, user, password):
            keep_password = True
        new_field = field if keep_password else ha1_hash(user, password)
        if not keep_password:
            reasons.append("password of %s %s" % (
                user, "changed" if not password_matches(field, user, password)
                else "stored in clear text, now hashed"))
        if current_options != wanted_options:
            reasons.append("options of %s: %s -> %s" % (
                user, ",".join(current_options) or "(none)", ",".join(wanted_options) or "(none)"))
        if len(found) > 1:
            reasons.append("duplicate lines of %s removed" % user)
        if not reasons:
            return content, None, reasons
        new_line = " ".join([user, new_field] + ([",".join(wanted_options)] if wanted_options else []))
        out = []
        for i, line in enumerate(lines):
            if i == found[0]:
                out.append(new_line)
            elif i not in found:
                out.append(line)
        return "\n".join(out) + "\n", "updated", reasons
    if password is None:
        raise UsersFileError("a password is needed to create RAPI user %s" % user)
    new_line = " ".join([user, ha1_hash(user, password)] + ([",".join(wanted_options)] if wanted_options else []))
    prefix = content or ""
    if prefix and not prefix.endswith("\n"):
        prefix += "\n"
    return prefix + new_line + "\n", "created", ["user %s created" % user]
