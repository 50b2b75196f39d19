# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster domain secret handling on a Ganeti master node. Internal use only.

Clusters can move instances between them only when they share the cluster
domain secret (``/var/lib/ganeti/cluster-domain-secret``): every handshake,
key name and certificate exchanged during a move is signed with it. RAPI
cannot read or set it, so this runs on the master node.

Plain Python, no Ansible imports: commands are run through a callable
``run(argv, data=None) -> (rc, stdout, stderr)`` supplied by the caller.

The secret itself never leaves this code: results carry a *fingerprint*,
an HMAC-SHA256 of a fixed label keyed with the secret, truncated. Node
copies are compared through checksums that stay inside the module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_local as nl
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    DATA_DIR,
    read_bytes,
    redistribute,
    rewrite_file,
    run_checked,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

SECRET_FILE = os.path.join(DATA_DIR, "cluster-domain-secret")
#: What Ganeti's ensure-dirs gives the secret file (mode, user, group): lib/tools/ensure_dirs.py
#: lists CLUSTER_DOMAIN_SECRET_FILE as 0640, masterd uid and gid. Used for a new file only; an
#: existing file keeps its own.
SECRET_FILE_OWNERSHIP = (0o640, "gnt-masterd", "gnt-masterd")

#: Label keyed with the secret to make its fingerprint (changing it changes
#: every fingerprint, so it is versioned).
FINGERPRINT_LABEL = b"ganeti.fleet cluster-domain-secret fingerprint v1"
FINGERPRINT_LENGTH = 16

METHOD_REDISTRIBUTE = "redistribute"
METHOD_RENEW_CRYPTO = "renew-crypto"

#: What Ganeti's GenerateSecret() makes: 20 random bytes as 40 hex characters.
GENERATED_BYTES = 20

# A secret Ganeti reads back unchanged (first non-empty line, no blanks) and
# that is worth calling a secret.
_SECRET_RE = re.compile(r"^[\x21-\x7e]{16,512}$")

# 'gnt-cluster command' output: one block per node.
_BLOCK_RE = re.compile(r"^-+\nnode: (?P<node>\S+)\n(?P<output>.*?)\nreturn code = (?P<rc>-?\d+)$",
                       re.M | re.S)


class DomainSecretError(FleetError):
    """The secret cannot be set or verified; the message never contains it."""


def fingerprint(secret):
    """Keyed fingerprint of SECRET: safe to print and to compare between clusters."""
    if secret is None:
        return None
    digest = hmac.new(secret.encode("utf-8"), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


def generate_secret():
    """A new random secret, in the form Ganeti generates (40 hex characters)."""
    return secrets.token_hex(GENERATED_BYTES)


def validate_secret(secret):
    """Return SECRET without surrounding blanks, or raise DomainSecretError."""
    value = (secret or "").strip()
    if not _SECRET_RE.match(value):
        raise DomainSecretError(
            "the secret must be one line of 16 to 512 printable characters without blanks "
            "(Ganeti generates 40 hexadecimal characters)")
    return value


def parse_secret_file(data):
    """The secret Ganeti reads from the file content DATA (bytes), or None if unusable.

    Mirrors Ganeti's strict one-line read: the only non-empty line, with
    trailing blanks removed.
    """
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = [line for line in text.splitlines() if line]
    if len(lines) != 1:
        return None
    value = lines[0].rstrip()
    return value or None


def file_content(secret):
    return (secret + "\n").encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def parse_cluster_command(text):
    """Parse 'gnt-cluster command' output into {node: (rc, output)}."""
    result = {}
    for match in _BLOCK_RE.finditer(text):
        result[match.group("node")] = (int(match.group("rc")), match.group("output").strip())
    return result


def node_checksums(run, path=SECRET_FILE):
    """sha256 of PATH on every online node, as {node: checksum or None}."""
    rc, out, err = run(["gnt-cluster", "command", "sha256sum", path])
    blocks = parse_cluster_command(out)
    if not blocks:
        raise DomainSecretError("'gnt-cluster command' gave no node output (rc=%s): %s"
                                % (rc, (err or out).strip()[-500:]))
    sums = {}
    for node, (node_rc, output) in blocks.items():
        fields = output.split()
        sums[node] = fields[0] if node_rc == 0 and fields and len(fields[0]) == 64 else None
    return sums


class State:
    """The secret on the master and how the online nodes compare."""

    def __init__(self, run, path=SECRET_FILE):
        self.path = path
        self.data = read_bytes(path)
        self.secret = parse_secret_file(self.data)
        self.checksum = sha256_hex(self.data) if self.data is not None else None
        self.nodes = node_checksums(run, path)

    @property
    def fingerprint(self):
        return fingerprint(self.secret)

    def nodes_out_of_sync(self):
        return sorted(node for node, digest in self.nodes.items() if digest != self.checksum)


class Plan:
    """What to do on this master to reach the DESIRED secret (None: keep the current one)."""

    def __init__(self, state, desired=None, generated=False):
        self.state = state
        self.generated = generated
        if desired is None:
            if state.secret is None:
                raise DomainSecretError(
                    "%s does not hold a usable secret (missing, empty or several lines); give "
                    "a secret or ask for a generated one" % state.path)
            desired = state.secret
        self.desired = validate_secret(desired)
        self.write = self.desired != state.secret
        self.out_of_sync = state.nodes_out_of_sync()
        self.distribute = self.write or bool(self.out_of_sync)

    @property
    def changed(self):
        return self.write or self.distribute

    @property
    def fingerprint(self):
        return fingerprint(self.desired)


def planned_steps(plan, method=METHOD_REDISTRIBUTE):
    """The steps :func:`apply` takes for PLAN (what check mode reports)."""
    steps = []
    if plan.write:
        steps.append("renew-crypto" if method == METHOD_RENEW_CRYPTO else "write")
    if plan.distribute and not (plan.write and method == METHOD_RENEW_CRYPTO):
        steps.append("redist-conf")
    return steps


def apply(plan, run, method=METHOD_REDISTRIBUTE):
    """Carry out PLAN; return the list of steps taken (for the result)."""
    steps = planned_steps(plan, method)
    path = plan.state.path
    if "renew-crypto" in steps:
        # The secret goes through a pipe: no file other than Ganeti's own
        # ever holds it. '--new-confd-hmac-key' is needed on 3.0.x, where
        # '--cluster-domain-secret' alone reports success and does nothing.
        run_checked(run, ["gnt-cluster", "renew-crypto", "-f", "--cluster-domain-secret=/dev/stdin",
                          "--new-confd-hmac-key"], "gnt-cluster renew-crypto", data=file_content(plan.desired),
                    error=DomainSecretError)
        if parse_secret_file(read_bytes(path)) != plan.desired:
            raise DomainSecretError(
                "gnt-cluster renew-crypto reported success but %s does not hold the new secret "
                "(the Ganeti 3.0 defect where renew-crypto ignores --cluster-domain-secret); use "
                "method=redistribute" % path)
    if "write" in steps:
        rewrite_file(path, file_content(plan.desired), SECRET_FILE_OWNERSHIP)
    if "redist-conf" in steps:
        redistribute(run, error=DomainSecretError)
    return steps


def verify(run, path=SECRET_FILE, expected_secret=None):
    """Check that every online node holds the master's file; return {node: bool}."""
    data = read_bytes(path)
    secret = parse_secret_file(data)
    if expected_secret is not None and secret != expected_secret:
        raise DomainSecretError("%s on the master does not hold the expected secret "
                                "(fingerprint %s, expected %s)"
                                % (path, fingerprint(secret), fingerprint(expected_secret)))
    master_sum = sha256_hex(data) if data is not None else None
    sums = node_checksums(run, path)
    result = {node: digest == master_sum for node, digest in sorted(sums.items())}
    bad = [node for node, ok in result.items() if not ok]
    if bad:
        raise DomainSecretError("the cluster domain secret differs from the master's on: %s"
                                % ", ".join(bad))
    return result


def diff_text(fingerprint_value, in_sync, total):
    return "fingerprint: %s\nnodes in sync: %d/%d\n" % (fingerprint_value, in_sync, total)


#: The way back after a failure at a step of :func:`change`, ``{failed step: recovery steps}``.
RECOVERY = {
    "renew-crypto": ("restore", "redist-conf", "verify"),
    "redist-conf": ("restore", "redist-conf", "verify"),
    "verify": ("restore", "redist-conf", "verify"),
}


def recovery_steps(failed_step, backup, path=SECRET_FILE):
    """What to do after FAILED_STEP: restore BACKUP only when the master's file no longer holds its bytes.

    A write that failed left the file as it was (atomic rename); a failed
    renew-crypto may or may not have replaced it.
    """
    if backup is None:
        return ()
    if failed_step == "renew-crypto" and read_bytes(path) == read_bytes(backup.path):
        return ()
    return nl.recovery_plan(failed_step, RECOVERY)


def change(plan, run, result, method=METHOD_REDISTRIBUTE, backup_dir=nl.BACKUP_DIR, keep=nl.BACKUPS_KEPT):
    """Carry out PLAN and verify every node, filling RESULT's ``steps``, ``backup`` and ``nodes``.

    Before the master's file changes it is copied to BACKUP_DIR. When the
    redistribution or the verification after that fails, the copy is put
    back (bytes, owner, group, mode), redistributed and verified, and the
    :class:`DomainSecretError` says so; if that fails too, it says where the
    copy is and how to finish by hand.
    """
    path = plan.state.path
    steps = result.setdefault("steps", [])
    backup = nl.backup_file(path, backup_dir, keep) if plan.write else None
    result["backup"] = backup.path if backup else None
    actions = {
        "write": lambda: rewrite_file(path, file_content(plan.desired), SECRET_FILE_OWNERSHIP),
        "renew-crypto": lambda: apply(plan, run, METHOD_RENEW_CRYPTO),
        "redist-conf": lambda: redistribute(run, error=DomainSecretError),
        "verify": lambda: result.update(nodes=verify(run, path, expected_secret=plan.desired)),
    }
    # 'verify' is not reported as a step when it passes: steps say what changed.
    forward = planned_steps(plan, method)
    try:
        nl.run_steps([(step, actions[step]) for step in forward], steps)
        nl.run_steps([("verify", actions["verify"])], [])
    except nl.ReplacementStepFailed as failure:
        if backup is None:
            raise DomainSecretError(failure.message) from failure
        actions.update({
            "restore": lambda: nl.restore_file(backup),
            "verify": lambda: result.update(nodes=verify(run, path, expected_secret=plan.state.secret)),
        })
        restored = ("The previous secret (fingerprint %s) was restored to %s (same bytes, owner, group and"
                    " mode) and every online node has it again" % (plan.state.fingerprint, path))
        message, done = nl.recover(failure, backup, recovery_steps(failure.step, backup, path), actions,
                                   restored, [["gnt-cluster", "redist-conf"]])
        steps.extend(done)
        raise DomainSecretError(message) from failure
    return result
