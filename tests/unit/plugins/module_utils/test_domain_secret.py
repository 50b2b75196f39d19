# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the cluster domain secret logic, with a simulated cluster."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _domain_secret as ds
from ansible_collections.ganeti.fleet.plugins.module_utils import _node_local as node_local
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

SECRET_A = "0123456789abcdef0123456789abcdef01234567"
SECRET_B = "fedcba9876543210fedcba9876543210fedcba98"


class FakeCluster:
    """A master's secret file (a real file) and its nodes' copies, driven by gnt-cluster calls."""

    def __init__(self, path, nodes=("n1.lab", "n2.lab"), renew_works=True):
        self.path = path
        self.nodes = {name: None for name in nodes}
        self.master = nodes[0]
        self.renew_works = renew_works
        self.calls = []

    def master_data(self):
        return node_local.read_bytes(self.path)

    def sync_all(self):
        for name in self.nodes:
            self.nodes[name] = self.master_data()

    def run(self, argv, data=None):
        self.calls.append((list(argv), data))
        if argv[:3] == ["gnt-cluster", "command", "sha256sum"]:
            blocks = []
            for name in self.nodes:
                content = self.master_data() if name == self.master else self.nodes[name]
                if content is None:
                    blocks.append("-" * 48 + "\nnode: %s\nsha256sum: %s: No such file or directory\n\n"
                                  "return code = 1" % (name, argv[3]))
                else:
                    blocks.append("-" * 48 + "\nnode: %s\n%s  %s\n\nreturn code = 0"
                                  % (name, hashlib.sha256(content).hexdigest(), argv[3]))
            return 0, "\n".join(blocks) + "\n", ""
        if argv == ["gnt-cluster", "redist-conf"]:
            self.sync_all()
            return 0, "", ""
        if argv[:2] == ["gnt-cluster", "renew-crypto"]:
            if self.renew_works:
                with open(self.path, "wb") as handle:
                    handle.write(data)
                self.sync_all()
            return 0, "All requested certificates and keys have been replaced.\n", ""
        return 127, "", "unexpected command %r" % (argv,)


@pytest.fixture
def cluster(tmp_path):
    path = str(tmp_path / "cluster-domain-secret")
    with open(path, "wb") as handle:
        handle.write(ds.file_content(SECRET_A))
    os.chmod(path, 0o640)
    fake = FakeCluster(path)
    fake.sync_all()
    return fake


def _plan(cluster, desired=None):
    return ds.Plan(ds.State(cluster.run, cluster.path), desired)


# --- pure helpers -------------------------------------------------------------------


def test_fingerprint_is_keyed_short_and_stable():
    fp = ds.fingerprint(SECRET_A)
    assert fp == ds.fingerprint(SECRET_A)
    assert re.match(r"^[0-9a-f]{16}$", fp)
    assert fp != ds.fingerprint(SECRET_B)
    assert fp not in SECRET_A and SECRET_A not in fp
    # Not a plain hash of the secret or of the file.
    assert fp not in hashlib.sha256(SECRET_A.encode()).hexdigest()
    assert fp not in hashlib.sha256(ds.file_content(SECRET_A)).hexdigest()
    assert ds.fingerprint(None) is None


def test_generated_secrets_look_like_ganeti_ones():
    first, second = ds.generate_secret(), ds.generate_secret()
    assert re.match(r"^[0-9a-f]{40}$", first)
    assert first != second


@pytest.mark.parametrize("value", ["", "short", "has blank inside 1234567", "two\nlines-1234567890",
                                   "x" * 513, None])
def test_invalid_secrets_are_refused_without_echoing_them(value):
    with pytest.raises(ds.DomainSecretError) as err:
        ds.validate_secret(value)
    if value:
        assert value not in str(err.value)


def test_validate_strips_surrounding_blanks():
    assert ds.validate_secret("  %s\n" % SECRET_A) == SECRET_A


@pytest.mark.parametrize("data,expected", [
    (b"abc\n", "abc"),
    (b"\n\nabc  \n\n", "abc"),
    (b"abc", "abc"),
    (b"abc\ndef\n", None),
    (b"", None),
    (b"\n\n", None),
    (b"\xff\xfe\n", None),
    (None, None),
])
def test_parse_secret_file_reads_like_ganeti(data, expected):
    assert ds.parse_secret_file(data) == expected


def test_parse_cluster_command():
    text = ("------------------------------------------------\nnode: a.lab\nline one\nline two\n\n"
            "return code = 0\n------------------------------------------------\nnode: b.lab\n"
            "oops\n\nreturn code = 2\n")
    assert ds.parse_cluster_command(text) == {"a.lab": (0, "line one\nline two"), "b.lab": (2, "oops")}


def test_no_node_output_is_an_error(cluster):
    def broken(argv, data=None):
        return 1, "", "Cannot communicate with the master daemon"
    with pytest.raises(ds.DomainSecretError, match="gave no node output"):
        ds.node_checksums(broken, cluster.path)


# --- planning and applying ------------------------------------------------------------


def test_in_sync_and_same_secret_needs_nothing(cluster):
    for desired in (None, SECRET_A, " %s " % SECRET_A):
        plan = _plan(cluster, desired)
        assert not plan.changed
        assert plan.fingerprint == ds.fingerprint(SECRET_A)
    assert ds.apply(_plan(cluster), cluster.run) == []


def test_node_out_of_sync_is_redistributed_only(cluster):
    cluster.nodes["n2.lab"] = ds.file_content(SECRET_B)
    plan = _plan(cluster)
    assert not plan.write and plan.distribute and plan.changed
    assert plan.out_of_sync == ["n2.lab"]
    assert ds.apply(plan, cluster.run) == ["redist-conf"]
    assert ds.verify(cluster.run, cluster.path, SECRET_A) == {"n1.lab": True, "n2.lab": True}


def test_missing_node_copy_counts_as_out_of_sync(cluster):
    cluster.nodes["n2.lab"] = None
    assert _plan(cluster).out_of_sync == ["n2.lab"]


def test_new_secret_is_written_atomically_with_the_existing_stat(cluster, tmp_path):
    before = os.stat(cluster.path)
    plan = _plan(cluster, SECRET_B)
    assert plan.write and plan.changed
    assert ds.apply(plan, cluster.run) == ["write", "redist-conf"]
    with open(cluster.path, "rb") as handle:
        assert handle.read() == (SECRET_B + "\n").encode()
    after = os.stat(cluster.path)
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino               # replaced by rename, not rewritten in place
    assert sorted(os.listdir(str(tmp_path))) == ["cluster-domain-secret"]
    assert ds.verify(cluster.run, cluster.path, SECRET_B) == {"n1.lab": True, "n2.lab": True}
    # Second run: nothing to do.
    assert not _plan(cluster, SECRET_B).changed
    # The secret never went through a command line or stdin.
    for argv, data in cluster.calls:
        assert SECRET_B not in " ".join(argv)
        assert data is None


def _masterd_ids():
    try:
        return pwd.getpwnam("gnt-masterd").pw_uid, grp.getgrnam("gnt-masterd").gr_gid
    except KeyError:
        return None


@pytest.mark.skipif(os.geteuid() != 0 or _masterd_ids() is None,
                    reason="giving a file to gnt-masterd needs root and Ganeti's users")
def test_missing_file_is_created_like_ganeti_does(cluster):
    # lib/tools/ensure_dirs.py: CLUSTER_DOMAIN_SECRET_FILE, 0640, masterd uid, masterd gid.
    assert ds.SECRET_FILE_OWNERSHIP == (0o640, "gnt-masterd", "gnt-masterd")
    os.unlink(cluster.path)
    with pytest.raises(ds.DomainSecretError, match="does not hold a usable secret"):
        _plan(cluster)
    plan = _plan(cluster, SECRET_B)
    ds.apply(plan, cluster.run)
    stat = os.stat(cluster.path)
    assert (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) == (0o640,) + _masterd_ids()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_an_existing_file_keeps_its_ownership(cluster):
    os.chown(cluster.path, 0, 0)
    os.chmod(cluster.path, 0o400)
    ds.apply(_plan(cluster, SECRET_B), cluster.run)
    stat = os.stat(cluster.path)
    assert (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) == (0o400, 0, 0)


# --- change: backup, verification, the way back -----------------------------------------


def _secret_backups(directory):
    return node_local.list_backups(str(directory), "cluster-domain-secret")


def test_change_backs_up_then_writes_and_verifies(cluster, tmp_path):
    backups = tmp_path / "backups"
    before = node_local.read_bytes(cluster.path)
    result = ds.change(_plan(cluster, SECRET_B), cluster.run, {}, backup_dir=str(backups), keep=2)
    assert result["steps"] == ["write", "redist-conf"]
    assert result["nodes"] == {"n1.lab": True, "n2.lab": True}
    assert _secret_backups(backups) == [result["backup"]]
    assert node_local.read_bytes(result["backup"]) == before
    assert os.stat(result["backup"]).st_mode & 0o7777 == 0o600
    # Nothing to write: no backup.
    again = ds.change(_plan(cluster, SECRET_B), cluster.run, {}, backup_dir=str(backups), keep=2)
    assert again["backup"] is None and again["steps"] == []
    for secret in (SECRET_A, SECRET_B, SECRET_A):
        ds.change(_plan(cluster, secret), cluster.run, {}, backup_dir=str(backups), keep=2)
    assert len(_secret_backups(backups)) == 2


def test_failed_redistribution_restores_the_previous_secret_everywhere(cluster, tmp_path):
    before = os.stat(cluster.path)
    attempts = []

    def run(argv, data=None):
        if argv == ["gnt-cluster", "redist-conf"]:
            attempts.append(node_local.read_bytes(cluster.path))
            if len(attempts) == 1:
                cluster.nodes["n2.lab"] = node_local.read_bytes(cluster.path)   # half done
                return 1, "", "Failure: node n1.lab unreachable"
        return cluster.run(argv, data)

    result = {}
    with pytest.raises(ds.DomainSecretError) as err:
        ds.change(_plan(cluster, SECRET_B), run, result, backup_dir=str(tmp_path / "b"))
    message = str(err.value)
    assert "gnt-cluster redist-conf failed (rc=1): Failure: node n1.lab unreachable" in message
    assert "previous secret (fingerprint %s) was restored" % ds.fingerprint(SECRET_A) in message
    assert SECRET_A not in message and SECRET_B not in message
    assert result["steps"] == ["write", "restore", "redist-conf", "verify"]
    assert node_local.read_bytes(cluster.path) == ds.file_content(SECRET_A)
    assert cluster.nodes == {"n1.lab": ds.file_content(SECRET_A), "n2.lab": ds.file_content(SECRET_A)}
    after = os.stat(cluster.path)
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert attempts[1] == ds.file_content(SECRET_A)     # the second redist-conf sent the old secret


def test_failed_verification_whose_way_back_fails_says_how_to_finish(cluster, tmp_path):
    def run(argv, data=None):
        if argv == ["gnt-cluster", "redist-conf"]:
            return 0, "", ""                               # claims success, copies nothing
        return cluster.run(argv, data)

    result = {}
    with pytest.raises(ds.DomainSecretError) as err:
        ds.change(_plan(cluster, SECRET_B), run, result, backup_dir=str(tmp_path / "b"))
    message = str(err.value)
    # The way back restored the master's file; the nodes still hold the old copy, so the
    # verification after the restore passes.
    assert result["steps"] == ["write", "redist-conf", "restore", "redist-conf", "verify"]
    assert message.startswith("the cluster domain secret differs from the master's on: n2.lab. The previous")
    assert node_local.read_bytes(cluster.path) == ds.file_content(SECRET_A)

    def broken(argv, data=None):
        if argv == ["gnt-cluster", "redist-conf"]:
            return 1, "", "Cannot communicate with the master daemon"
        return cluster.run(argv, data)

    result = {}
    with pytest.raises(ds.DomainSecretError) as err:
        ds.change(_plan(cluster, SECRET_B), broken, result, backup_dir=str(tmp_path / "b"))
    message = str(err.value)
    assert result["steps"] == ["write", "restore"]
    assert "Restoring the previous file failed too, at redist-conf" in message
    assert "kept in %s" % result["backup"] in message
    assert "install -m 0640 -o " in message and "gnt-cluster redist-conf" in message
    assert node_local.read_bytes(cluster.path) == ds.file_content(SECRET_A)


def test_a_renew_crypto_that_changed_nothing_needs_no_restore(cluster, tmp_path):
    cluster.renew_works = False
    result = {}
    with pytest.raises(ds.DomainSecretError, match="does not hold the new secret") as err:
        ds.change(_plan(cluster, SECRET_B), cluster.run, result, ds.METHOD_RENEW_CRYPTO, str(tmp_path / "b"))
    assert "nothing had been changed" in str(err.value)
    assert result["steps"] == [] and result["backup"]


def test_renew_crypto_gets_the_secret_through_stdin(cluster):
    plan = _plan(cluster, SECRET_B)
    assert ds.apply(plan, cluster.run, ds.METHOD_RENEW_CRYPTO) == ["renew-crypto"]
    renew = [(argv, data) for argv, data in cluster.calls if argv[:2] == ["gnt-cluster", "renew-crypto"]]
    assert len(renew) == 1
    argv, data = renew[0]
    assert argv == ["gnt-cluster", "renew-crypto", "-f", "--cluster-domain-secret=/dev/stdin",
                    "--new-confd-hmac-key"]
    assert data == (SECRET_B + "\n").encode()
    assert ["gnt-cluster", "redist-conf"] not in [call[0] for call in cluster.calls]
    assert ds.verify(cluster.run, cluster.path, SECRET_B)


def test_renew_crypto_that_changes_nothing_is_detected(cluster):
    cluster.renew_works = False
    with pytest.raises(ds.DomainSecretError) as err:
        ds.apply(_plan(cluster, SECRET_B), cluster.run, ds.METHOD_RENEW_CRYPTO)
    assert "does not hold the new secret" in str(err.value)
    assert SECRET_B not in str(err.value) and SECRET_A not in str(err.value)


def test_renew_crypto_only_for_a_new_secret(cluster):
    cluster.nodes["n2.lab"] = b"stale\n"
    assert ds.apply(_plan(cluster), cluster.run, ds.METHOD_RENEW_CRYPTO) == ["redist-conf"]


def test_failing_command_is_reported(cluster):
    def run(argv, data=None):
        if argv == ["gnt-cluster", "redist-conf"]:
            return 1, "", "Failure: prerequisites not met"
        return cluster.run(argv, data)
    with pytest.raises(ds.DomainSecretError, match="redist-conf failed .*prerequisites"):
        ds.apply(_plan(cluster, SECRET_B), run)


def test_verify_names_nodes_that_differ_but_not_the_secret(cluster):
    cluster.nodes["n2.lab"] = ds.file_content(SECRET_B)
    with pytest.raises(ds.DomainSecretError) as err:
        ds.verify(cluster.run, cluster.path)
    assert "n2.lab" in str(err.value)
    assert SECRET_A not in str(err.value) and SECRET_B not in str(err.value)
    with pytest.raises(ds.DomainSecretError) as err:
        ds.verify(cluster.run, cluster.path, expected_secret=SECRET_B)
    assert ds.fingerprint(SECRET_B) in str(err.value)
    assert SECRET_A not in str(err.value) and SECRET_B not in str(err.value)


def test_diff_text_shows_fingerprints_only():
    text = ds.diff_text(ds.fingerprint(SECRET_A), 1, 2)
    assert text == "fingerprint: %s\nnodes in sync: 1/2\n" % ds.fingerprint(SECRET_A)


def test_planned_steps_say_what_check_mode_reports_without_running_anything(cluster):
    assert ds.planned_steps(_plan(cluster)) == []
    assert ds.planned_steps(_plan(cluster, SECRET_B)) == ["write", "redist-conf"]
    assert ds.planned_steps(_plan(cluster, SECRET_B), ds.METHOD_RENEW_CRYPTO) == ["renew-crypto"]
    cluster.nodes["n2.lab"] = b"stale\n"
    assert ds.planned_steps(_plan(cluster), ds.METHOD_RENEW_CRYPTO) == ["redist-conf"]
    assert [argv[:2] for argv, _data in cluster.calls] == [["gnt-cluster", "command"]] * len(cluster.calls)


def test_errors_are_fleet_errors_without_the_secret(cluster):
    with pytest.raises(FleetError) as err:
        ds.validate_secret("short")
    assert isinstance(err.value, ds.DomainSecretError)
    assert err.value.to_result() == {"msg": str(err.value)}
