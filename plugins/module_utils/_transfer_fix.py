# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Node-side fix for inter-cluster transfers on Ganeti 3.0.x. Internal use only.

Ganeti 3.0.0 to 3.0.2 (upstream issue ganeti/ganeti#1681) run the sending
side of every disk transfer with ``socat ... openssl-commonname=ganeti.example.com``.
With socat >= 1.7.3 that name is checked against the receiving side's
certificate, whose commonName is the receiving node's host name, so every
inter-cluster transfer fails with "certificate is valid but its commonName
does not match hostname".

Upstream fixed it after 3.0.2 in two steps: PR #1699 expects the reverse
DNS name of the destination IP, and PR #1840 then had to special-case local
``gnt-backup`` exports, which use the node daemon certificate (commonName
``ganeti.example.com``) instead of a per-transfer one.

The fix here takes a different route that covers both cases without DNS:
the sending side is always handed the peer's own certificate as its CA
file (``--ca``), so the name to expect is that certificate's commonName.
Verification stays on; the certificate is still pinned by the CA file.

The transformation is a fixed text substitution on the stock file, so the
fixed file has a known checksum and the change can be reversed exactly.
Everything here is plain Python (no Ansible imports), so it can be unit
tested and used by the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.ganeti.fleet.plugins.module_utils._ganeti_version import (
    TRANSFER_DEFECT_FIXED_IN,
    has_transfer_defect,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import atomic_write
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: Version of the transformation below (part of the backup metadata).
FIX_REVISION = 1

#: The affected file, relative to a Ganeti version's share directory.
TARGET_RELPATH = "ganeti/impexpd/__init__.py"

#: Default location of the active Ganeti version (a symlink chain on Debian:
#: /usr/share/ganeti/default -> /etc/ganeti/share -> /usr/share/ganeti/3.0).
DEFAULT_SHARE_DIR = "/usr/share/ganeti/default"

#: Default directory for the byte-exact backups.
DEFAULT_BACKUP_DIR = "/var/lib/ganeti-fleet/transfer-fix"

#: sha256 of the stock file.  Debian 12's ganeti-3.0 3.0.2-3 ships the
#: upstream file unchanged, and lib/impexpd/__init__.py is byte-identical in
#: the upstream tags v3.0.0, v3.0.1 and v3.0.2.
STOCK_SHA256 = "fab727d58732434236f263e56eb90a2a2773a33f7797aa47b4da3da1e04b3c82"

#: sha256 of the stock file after fix_bytes() (checked by the unit tests).
FIXED_SHA256 = "21c76f47e64934d89d19b57ddd104a3e573d96c7c97fdd3734756d49fb86ca6d"

#: Ganeti releases whose stock file is known, with the packaging it was
#: checked against.
KNOWN_RELEASES = {
    "3.0.0": {"stock": STOCK_SHA256, "fixed": FIXED_SHA256},
    "3.0.1": {"stock": STOCK_SHA256, "fixed": FIXED_SHA256},
    "3.0.2": {"stock": STOCK_SHA256, "fixed": FIXED_SHA256, "debian": "3.0.2-3"},
}


STATE_STOCK = "stock"
STATE_FIXED = "fixed"
STATE_NOT_NEEDED = "not_needed"
STATE_DRIFT = "drift"

# The stock lines in CommandBuilder._GetSocatCommand() that pick the name.
_STOCK_CN_BLOCK = (
    "      # For socat versions >= 1.7.3, we need to also specify\n"
    "      # openssl-commonname, otherwise server certificate verification will\n"
    "      # fail.\n"
    "      if self._GetSocatVersion() >= (1, 7, 3):\n"
    "        addr2 += [\"openssl-commonname=%s\" % constants.X509_CERT_CN]\n"
)

_FIXED_CN_BLOCK = (
    "      # For socat versions >= 1.7.3, we need to also specify\n"
    "      # openssl-commonname, otherwise server certificate verification will\n"
    "      # fail. The peer presents the very certificate handed over as CA, so\n"
    "      # expect its commonName (ganeti.fleet transfer fix, ganeti#1681).\n"
    "      if self._GetSocatVersion() >= (1, 7, 3):\n"
    "        addr2 += [\"openssl-commonname=%s\" %\n"
    "                  _ExpectedPeerCommonName(self._opts.ca)]\n"
)

# Anchor before which the helper is inserted (unique in the stock file).
_ANCHOR = "\n\nclass CommandBuilder(object):\n"

_HELPER = (
    "\n\n"
    "#: ganeti.fleet transfer fix: a commonName usable as a socat option value\n"
    "_PEER_CN_RE = re.compile(r\"^[A-Za-z0-9_]([A-Za-z0-9._-]{0,251}[A-Za-z0-9_])?$\")\n"
    "\n"
    "\n"
    "def _ExpectedPeerCommonName(ca_path):\n"
    "  \"\"\"Returns the commonName the peer's certificate must carry.\n"
    "\n"
    "  Added by the ganeti.fleet transfer fix (ganeti#1681). The CA file holds\n"
    "  the peer's own certificate: the one made for a remote import, or the\n"
    "  node daemon certificate for local exports. Without a usable commonName\n"
    "  the stock name is returned.\n"
    "\n"
    "  \"\"\"\n"
    "  try:\n"
    "    import OpenSSL # pylint: disable=C0415\n"
    "    cert = OpenSSL.crypto.load_certificate(OpenSSL.crypto.FILETYPE_PEM,\n"
    "                                           utils.ReadFile(ca_path))\n"
    "    common_name = cert.get_subject().CN\n"
    "  except Exception as err: # pylint: disable=W0703\n"
    "    logging.warning(\"Cannot read a commonName from %s (%s), expecting %s\",\n"
    "                    ca_path, err, constants.X509_CERT_CN)\n"
    "    return constants.X509_CERT_CN\n"
    "  if not common_name or not _PEER_CN_RE.match(common_name):\n"
    "    logging.warning(\"Unusable commonName %r in %s, expecting %s\",\n"
    "                    common_name, ca_path, constants.X509_CERT_CN)\n"
    "    return constants.X509_CERT_CN\n"
    "  return common_name\n"
)

_VERSION_RE = re.compile(r"^RELEASE_VERSION\s*=\s*[\"']([^\"']+)[\"']", re.M)


class TransferFixError(FleetError):
    """The fix cannot be applied or removed; the message says why and what to do."""


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def fix_bytes(stock):
    """Return the fixed file for the stock file STOCK (bytes).

    Deterministic: the same input always gives the same output.
    """
    text = stock.decode("ascii")
    if text.count(_STOCK_CN_BLOCK) != 1 or text.count(_ANCHOR) != 1:
        raise TransferFixError("the file does not have the expected stock layout")
    text = text.replace(_STOCK_CN_BLOCK, _FIXED_CN_BLOCK)
    text = text.replace(_ANCHOR, _HELPER + _ANCHOR)
    return text.encode("ascii")


def unfix_bytes(fixed):
    """Inverse of fix_bytes()."""
    text = fixed.decode("ascii")
    if text.count(_FIXED_CN_BLOCK) != 1 or text.count(_HELPER + _ANCHOR) != 1:
        raise TransferFixError("the file does not have the expected fixed layout")
    text = text.replace(_HELPER + _ANCHOR, _ANCHOR)
    text = text.replace(_FIXED_CN_BLOCK, _STOCK_CN_BLOCK)
    return text.encode("ascii")


def read_release_version(share_dir):
    """Ganeti release of the code under SHARE_DIR (from ganeti/_constants.py)."""
    path = os.path.join(share_dir, "ganeti", "_constants.py")
    try:
        with open(path, encoding="utf-8") as handle:
            match = _VERSION_RE.search(handle.read())
    except OSError as err:
        raise TransferFixError("cannot read the Ganeti version from %s: %s" % (path, err)) from err
    if not match:
        raise TransferFixError("no RELEASE_VERSION in %s" % path)
    return match.group(1)


def classify(data, release):
    """STATE_STOCK, STATE_FIXED or STATE_DRIFT for the file content DATA."""
    known = KNOWN_RELEASES[release]
    digest = sha256_hex(data)
    if digest == known["stock"]:
        return STATE_STOCK
    if digest == known["fixed"]:
        return STATE_FIXED
    return STATE_DRIFT


def drift_message(path, digest, release):
    known = KNOWN_RELEASES[release]
    return (
        "%s (sha256 %s) matches neither the stock Ganeti %s file (sha256 %s) nor the "
        "fixed one (sha256 %s): it was changed by something else, so it is left alone. "
        "Restore the packaged file (on Debian: apt-get install --reinstall ganeti-3.0; "
        "'dpkg --verify ganeti-3.0' shows the change) or remove the local change, then "
        "run again." % (path, digest, release, known["stock"], known["fixed"]))


class Inspection:
    """What is installed: the file, its content and the Ganeti release."""

    def __init__(self, share_dir=DEFAULT_SHARE_DIR):
        self.share_dir = os.path.realpath(share_dir)
        self.release = read_release_version(self.share_dir)
        self.path = os.path.join(self.share_dir, TARGET_RELPATH)
        self.data = None
        self.digest = None
        self.state = None
        if has_transfer_defect(self.release) is False:
            self.state = STATE_NOT_NEEDED
            return
        if self.release not in KNOWN_RELEASES:
            raise TransferFixError(
                "Ganeti %s (in %s) is not supported by this fix: it knows %s, and %s or "
                "later carries the upstream fix" % (
                    self.release, self.share_dir, ", ".join(sorted(KNOWN_RELEASES)),
                    TRANSFER_DEFECT_FIXED_IN))
        try:
            with open(self.path, "rb") as handle:
                self.data = handle.read()
        except OSError as err:
            raise TransferFixError("cannot read %s: %s" % (self.path, err)) from err
        self.digest = sha256_hex(self.data)
        self.state = classify(self.data, self.release)


class Plan:
    """What to do to reach DESIRED ('present' or 'absent') from INSPECTION."""

    def __init__(self, inspection, desired):
        self.inspection = inspection
        self.desired = desired
        self.action = None          # None, "apply" or "restore"
        self.new_data = None
        state = inspection.state
        if state == STATE_NOT_NEEDED:
            self.after_state = STATE_NOT_NEEDED
            return
        if state == STATE_DRIFT:
            raise TransferFixError(drift_message(inspection.path, inspection.digest,
                                                 inspection.release))
        if desired == "present":
            self.after_state = STATE_FIXED
            if state == STATE_STOCK:
                self.action = "apply"
                self.new_data = fix_bytes(inspection.data)
        elif desired == "absent":
            self.after_state = STATE_STOCK
            if state == STATE_FIXED:
                self.action = "restore"
        else:
            raise TransferFixError("unknown desired state %r" % desired)

    @property
    def changed(self):
        return self.action is not None

    @property
    def checksum_after(self):
        known = KNOWN_RELEASES.get(self.inspection.release)
        if self.after_state == STATE_FIXED:
            return known["fixed"]
        if self.after_state == STATE_STOCK:
            return known["stock"]
        return None


def backup_paths(backup_dir, release):
    base = os.path.join(backup_dir, release)
    return os.path.join(base, "impexpd__init__.py.orig"), os.path.join(base, "metadata.json")


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def write_backup(inspection, backup_dir):
    """Keep a byte-exact copy of the stock file and its metadata; return its path."""
    orig, meta = backup_paths(backup_dir, inspection.release)
    if os.path.exists(orig) and sha256_hex(_read(orig)) == inspection.digest and os.path.exists(meta):
        return orig
    os.makedirs(os.path.dirname(orig), mode=0o700, exist_ok=True)
    stat = os.stat(inspection.path)
    atomic_write(orig, inspection.data, 0o600, os.geteuid(), os.getegid(), stat.st_mtime_ns)
    metadata = {"file": inspection.path, "ganeti_version": inspection.release,
                "sha256": inspection.digest, "mode": stat.st_mode & 0o7777,
                "uid": stat.st_uid, "gid": stat.st_gid, "mtime_ns": stat.st_mtime_ns,
                "fix_revision": FIX_REVISION}
    atomic_write(meta, (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode(),
                 0o600, os.geteuid(), os.getegid())
    return orig


def _load_backup(backup_dir, release, stock_sha):
    orig, meta = backup_paths(backup_dir, release)
    try:
        data = _read(orig)
        with open(meta, encoding="utf-8") as handle:
            metadata = json.load(handle)
    except (OSError, ValueError):
        return None, None
    if sha256_hex(data) != stock_sha:
        return None, None
    return data, metadata


def remove_backup(backup_dir, release):
    removed = False
    for path in backup_paths(backup_dir, release):
        if os.path.exists(path):
            os.unlink(path)
            removed = True
    base = os.path.join(backup_dir, release)
    for directory in (base, backup_dir):
        try:
            os.rmdir(directory)
        except OSError:
            break
    return removed


def execute(plan, backup_dir=DEFAULT_BACKUP_DIR):
    """Carry out PLAN; return the backup path in use (None after a restore)."""
    try:
        return _execute(plan, backup_dir)
    except OSError as err:
        raise TransferFixError("%s: %s" % (plan.inspection.path, err)) from err


def _execute(plan, backup_dir):
    inspection = plan.inspection
    known = KNOWN_RELEASES.get(inspection.release)
    if plan.action is None:
        if plan.after_state == STATE_FIXED:
            orig = backup_paths(backup_dir, inspection.release)[0]
            return orig if os.path.exists(orig) else None
        return None
    stat = os.stat(inspection.path)
    if plan.action == "apply":
        backup = write_backup(inspection, backup_dir)
        atomic_write(inspection.path, plan.new_data, stat.st_mode & 0o7777, stat.st_uid,
                     stat.st_gid)
        if sha256_hex(_read(inspection.path)) != known["fixed"]:
            raise TransferFixError("%s does not have the expected checksum after writing it"
                                   % inspection.path)
        return backup
    # restore
    data, metadata = _load_backup(backup_dir, inspection.release, known["stock"])
    if data is None:
        data = unfix_bytes(inspection.data)
        metadata = {}
    if sha256_hex(data) != known["stock"]:  # pragma: no cover - guarded by the tests
        raise TransferFixError("cannot rebuild the stock %s" % inspection.path)
    atomic_write(inspection.path, data, metadata.get("mode", stat.st_mode & 0o7777),
                 metadata.get("uid", stat.st_uid), metadata.get("gid", stat.st_gid),
                 metadata.get("mtime_ns"))
    if sha256_hex(_read(inspection.path)) != known["stock"]:
        raise TransferFixError("%s does not have the stock checksum after restoring it"
                               % inspection.path)
    remove_backup(backup_dir, inspection.release)
    return None


def diff_text(state, digest, path):
    return "file: %s\nstate: %s\nsha256: %s\n" % (path, state, digest)
