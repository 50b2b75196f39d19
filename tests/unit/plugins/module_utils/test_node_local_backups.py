# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Backups of replaced files, their restore, and the way back after a failed RAPI certificate change."""

from __future__ import annotations

import datetime
import os
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_local as nl
from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.modules import rapi_certificate

T0 = datetime.datetime(2026, 3, 1, 10, 15, 0, 123456, tzinfo=datetime.timezone.utc)


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "data" / "rapi.pem"
    path.parent.mkdir()
    path.write_bytes(b"old key and certificate\n")
    os.chmod(str(path), 0o440)
    return str(path)


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path):
    return os.stat(path).st_mode & 0o7777


# --- backup_file ------------------------------------------------------------------------


def test_backup_is_0600_in_a_new_0700_directory_even_with_umask_000(secret_file, tmp_path, umask_000):
    backup_dir = str(tmp_path / "fleet" / "backups")
    backup = nl.backup_file(secret_file, backup_dir, 5, now=T0)
    assert backup.path == os.path.join(backup_dir, "rapi.pem.20260301T101500.123456Z")
    assert backup.source == secret_file
    stat = os.stat(secret_file)
    assert (backup.mode, backup.uid, backup.gid) == (0o440, stat.st_uid, stat.st_gid)
    with open(backup.path, "rb") as handle:
        assert handle.read() == b"old key and certificate\n"
    assert _mode(backup.path) == 0o600
    assert _mode(backup_dir) == 0o700
    if os.geteuid() == 0:
        assert (os.stat(backup.path).st_uid, os.stat(backup.path).st_gid) == (0, 0)
    assert os.listdir(backup_dir) == ["rapi.pem.20260301T101500.123456Z"]


def test_default_backup_name_is_utc_with_microseconds(secret_file, tmp_path):
    backup = nl.backup_file(secret_file, str(tmp_path / "b"))
    assert re.match(r"^rapi\.pem\.\d{8}T\d{6}\.\d{6}Z$", os.path.basename(backup.path))
    assert nl.BACKUP_DIR == "/var/lib/ganeti-fleet/backups" and nl.BACKUPS_KEPT == 5


def test_missing_file_needs_no_backup(tmp_path):
    backup_dir = str(tmp_path / "b")
    assert nl.backup_file(str(tmp_path / "absent"), backup_dir) is None
    assert not os.path.exists(backup_dir)


def test_pruning_keeps_the_newest_n_of_that_file_only(secret_file, tmp_path):
    backup_dir = str(tmp_path / "b")
    os.mkdir(backup_dir, 0o700)
    foreign = [os.path.join(backup_dir, name) for name in ("users.20200101T000000.000000Z", "rapi.pem.notes")]
    for path in foreign:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("x")
    made = []
    for minute in range(6):
        with open(secret_file, "wb") as handle:
            handle.write(b"version %d\n" % minute)
        made.append(nl.backup_file(secret_file, backup_dir, 3, now=T0 + datetime.timedelta(minutes=minute)).path)
    assert nl.list_backups(backup_dir, "rapi.pem") == made[-3:]
    with open(made[-1], "rb") as handle:
        assert handle.read() == b"version 5\n"
    assert all(os.path.exists(path) for path in foreign)


def test_the_backup_just_made_survives_a_clock_that_went_back(secret_file, tmp_path):
    backup_dir = str(tmp_path / "b")
    later = [nl.backup_file(secret_file, backup_dir, 2, now=T0 + datetime.timedelta(hours=h)).path for h in (1, 2)]
    earlier = nl.backup_file(secret_file, backup_dir, 2, now=T0).path
    assert nl.list_backups(backup_dir, "rapi.pem") == [earlier, later[1]]


def test_same_microsecond_gets_the_next_name(secret_file, tmp_path):
    backup_dir = str(tmp_path / "b")
    first = nl.backup_file(secret_file, backup_dir, 5, now=T0).path
    second = nl.backup_file(secret_file, backup_dir, 5, now=T0).path
    assert first.endswith(".123456Z") and second.endswith(".123457Z")


@pytest.mark.parametrize("keep,directory,words", [
    (0, "/b", "backups_kept must be at least 1"),
    (1, "relative/dir", "must be an absolute path"),
])
def test_backup_options_are_checked(secret_file, keep, directory, words):
    with pytest.raises(FleetError, match=words):
        nl.backup_file(secret_file, directory, keep)


def test_a_directory_others_can_write_to_is_refused(secret_file, tmp_path):
    backup_dir = str(tmp_path / "b")
    os.mkdir(backup_dir)
    os.chmod(backup_dir, 0o777)
    with pytest.raises(FleetError) as err:
        nl.backup_file(secret_file, backup_dir)
    assert "others could change the backups" in str(err.value) and "chmod 0700 %s" % backup_dir in str(err.value)
    assert os.listdir(backup_dir) == []


def test_a_link_in_place_of_the_backup_is_never_followed(secret_file, tmp_path):
    backup_dir = str(tmp_path / "b")
    os.mkdir(backup_dir, 0o700)
    victim = str(tmp_path / "victim")
    os.symlink(victim, os.path.join(backup_dir, "rapi.pem.20260301T101500.123456Z"))
    backup = nl.backup_file(secret_file, backup_dir, 5, now=T0)
    assert backup.path.endswith(".123457Z") and not os.path.exists(victim)


# --- restore_file -----------------------------------------------------------------------


def test_restore_puts_bytes_and_ownership_back_atomically(secret_file, tmp_path):
    backup = nl.backup_file(secret_file, str(tmp_path / "b"), now=T0)
    nl.atomic_write(secret_file, b"new key\n", 0o644)
    inode = os.stat(secret_file).st_ino
    nl.restore_file(backup)
    with open(secret_file, "rb") as handle:
        assert handle.read() == b"old key and certificate\n"
    stat = os.stat(secret_file)
    assert (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) == (backup.mode, backup.uid, backup.gid)
    assert stat.st_ino != inode                               # renamed into place
    assert sorted(os.listdir(os.path.dirname(secret_file))) == ["rapi.pem"]
    assert os.path.exists(backup.path)                        # the backup stays


def test_restore_of_a_vanished_backup_names_both_files(secret_file, tmp_path):
    backup = nl.backup_file(secret_file, str(tmp_path / "b"), now=T0)
    os.unlink(backup.path)
    with pytest.raises(FleetError, match="cannot restore %s from %s" % (re.escape(secret_file), re.escape(backup.path))):
        nl.restore_file(backup)


def test_restore_commands_copy_with_owner_and_mode_then_the_rest():
    backup = nl.Backup("/b/rapi.pem.X", "/var/lib/ganeti/rapi.pem", 0o440, 0, 0)
    assert nl.restore_commands(backup, [["gnt-cluster", "redist-conf"]]) == [
        "install -m 0440 -o root -g root /b/rapi.pem.X /var/lib/ganeti/rapi.pem", "gnt-cluster redist-conf"]


# --- steps and the way back ---------------------------------------------------------------


def _failing(message):
    def action():
        raise FleetError(message)
    return action


def test_run_steps_names_the_failed_step_and_records_the_ones_done():
    done = []
    with pytest.raises(nl.ReplacementStepFailed) as err:
        nl.run_steps([("a", lambda: None), ("b", _failing("b broke")), ("c", lambda: None)], done)
    assert (err.value.step, err.value.message, done) == ("b", "b broke", ["a"])
    with pytest.raises(nl.ReplacementStepFailed, match="^c: .*gone"):
        nl.run_steps([("c", _failing_os)], [])


def _failing_os():
    raise OSError("gone")


BACKUP = nl.Backup("/b/f.X", "/d/f", 0o600, 0, 0)


def test_recover_after_a_failure_reports_both_the_failure_and_the_restore():
    calls = []
    actions = {name: (lambda n=name: calls.append(n)) for name in ("restore", "again")}
    message, done = nl.recover(nl.ReplacementStepFailed("x", "starting y failed (rc=1): busy"), BACKUP, ("restore", "again"),
                               actions, "The previous file is back")
    assert calls == done == ["restore", "again"]
    assert message == "starting y failed (rc=1): busy. The previous file is back (backup /b/f.X)"


def test_recover_that_fails_gives_the_backup_and_the_commands():
    actions = {"restore": lambda: None, "again": _failing("again failed: no")}
    message, done = nl.recover(nl.ReplacementStepFailed("x", "x failed"), BACKUP, ("restore", "again"), actions, "unused",
                               [["do", "it"]])
    assert done == ["restore"]
    assert message == ("x failed. Restoring the previous file failed too, at again: again failed: no. The previous"
                       " file is kept in /b/f.X; restore it by hand on this node: install -m 0600 -o root -g root"
                       " /b/f.X /d/f; do it")


def test_recover_without_a_plan_or_a_backup_changes_nothing():
    untouched = {"restore": _failing("must not run")}
    assert nl.recover(nl.ReplacementStepFailed("write", "cannot write"), BACKUP, (), untouched, "x") == (
        "cannot write; nothing had been changed", [])
    message, done = nl.recover(nl.ReplacementStepFailed("v", "v failed"), None, ("restore",), untouched, "x")
    assert "nothing to go back to" in message and "the new one stays in place" in message and done == []


def test_restart_daemon_retries_start_until_the_timeout():
    calls, now = [], [0.0]

    def run(argv, data=None):
        calls.append(argv[1])
        return (1, "", "Address already in use") if 0 < calls.count("start") < 3 and argv[1] == "start" \
            else (0, "", "")

    nl.restart_daemon(run, "ganeti-rapi", 10, interval=1, clock=lambda: now[0],
                      sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert calls == ["stop", "start", "start", "start"]
    calls[:] = []
    with pytest.raises(FleetError, match=r"starting ganeti-rapi failed \(rc=1\), retried for 2 s: Address"):
        nl.restart_daemon(lambda argv, data=None: (0, "", "") if argv[1] == "stop" else (1, "", "Address already in use"),
                          "ganeti-rapi", 2, interval=1, clock=lambda: now[0],
                          sleep=lambda s: now.__setitem__(0, now[0] + s))


# --- rapi_certificate: what to re-issue, and the way back ----------------------------------


def _ca_certificate(name):
    """A certificate like the CA certificates ganeti.fleet 0.1.0 issued."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                 key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=100))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(**usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def test_when_unsafe_reissues_only_a_certificate_that_can_sign_others():
    ca_cert = _ca_certificate("c1.lab")
    unsafe = ra.unsafe_reasons(ca_cert, "c1.lab")
    assert unsafe
    needed, reasons = rapi_certificate.reissue_decision("when_unsafe", ["common name is x, not c1.lab"], unsafe)
    assert needed and reasons == unsafe and "0.1.0" in reasons[0]
    _pem, end_entity = ra.issue_certificate("c1.lab", valid_days=30, key_size=2048)
    assert ra.unsafe_reasons(end_entity, "c1.lab") == []
    misfit = ["expires in 29 days (renewal 30 days before expiry)"]
    assert rapi_certificate.reissue_decision("when_unsafe", misfit, []) == (False, [])
    assert rapi_certificate.reissue_decision("never", misfit, unsafe) == (False, misfit)
    assert rapi_certificate.reissue_decision("when_needed", misfit, []) == (True, misfit)
    assert rapi_certificate.reissue_decision("when_needed", [], []) == (False, [])
    assert rapi_certificate.reissue_decision("always", [], []) == (True, ["renewal requested (reissue=always)"])


def test_the_default_is_to_only_read():
    import yaml  # pylint: disable=import-outside-toplevel
    options = yaml.safe_load(rapi_certificate.DOCUMENTATION)["options"]
    assert options["reissue"]["default"] == "never"
    assert options["reissue"]["choices"] == ["never", "when_unsafe", "when_needed", "always"]


def test_recovery_restarts_rapi_only_once_it_was_restarted():
    plan = nl.recovery_plan
    assert plan("write", rapi_certificate.RECOVERY) == ()
    assert plan("redist-conf", rapi_certificate.RECOVERY) == ("restore", "redist-conf", "verify")
    for step in ("restart-rapi", "verify"):
        assert plan(step, rapi_certificate.RECOVERY) == ("restore", "redist-conf", "restart-rapi", "verify")


class FakeMaster:
    """The master as the module sees it: rapi.pem, commands, and the certificate RAPI serves."""

    def __init__(self, path, fail=()):
        self.path, self.fail, self.calls = path, list(fail), []
        self.serving = self.read_cert()

    def read_cert(self):
        with open(self.path, encoding="ascii") as handle:
            return ra.certificates_from_pem(handle.read())[0]

    def run(self, argv, data=None):
        name = " ".join(os.path.basename(a) for a in argv[:3])
        self.calls.append(name)
        if name in self.fail:
            self.fail.remove(name)
            return 1, "", "Error when starting daemon process: Address already in use (errno=98)"
        if name == "daemon-util start ganeti-rapi":
            self.serving = self.read_cert()
        return 0, "", ""

    def served(self, host, port=ra.RAPI_PORT, timeout=10):
        return self.serving


class FakeModule:
    def __init__(self, master, backup_dir):
        self.run_binary = master.run
        self.params = dict(dns_names=[], valid_days=30, renew_before_days=1, key_size=2048, restart_timeout=1,
                           backup_dir=backup_dir, backups_kept=2)
        self.result = dict(master_ip="198.18.0.10", steps=[], previous=None, certificate=None, info=None)


@pytest.fixture
def master(tmp_path, monkeypatch):
    path = str(tmp_path / "rapi.pem")
    pem, _cert = ra.issue_certificate("c1.lab", valid_days=30, key_size=2048)
    with open(path, "w", encoding="ascii") as handle:
        handle.write(pem)
    os.chmod(path, 0o440)
    monkeypatch.setattr(ra, "RAPI_CERT_FILE", path)
    fake = FakeMaster(path)
    monkeypatch.setattr(ra, "served_certificate", fake.served)
    return fake


def _reissue(master, tmp_path):
    module = FakeModule(master, str(tmp_path / "backups"))
    certs, key_ok = rapi_certificate.read_current()
    rapi_certificate.misfit_reasons(module, certs, key_ok, "c1.lab", ["198.18.0.10"])
    with open(master.path, "rb") as handle:
        before = handle.read()
    try:
        rapi_certificate.reissue(module, "c1.lab", ["198.18.0.10"])
    except FleetError as exc:
        return module.result, before, str(exc)
    return module.result, before, None


def test_reissue_backs_up_and_serves_the_new_certificate(master, tmp_path):
    result, before, error = _reissue(master, tmp_path)
    assert error is None
    assert result["steps"] == ["write", "redist-conf", "restart-rapi", "verify"]
    assert os.path.dirname(result["backup"]) == str(tmp_path / "backups") and _mode(result["backup"]) == 0o600
    with open(result["backup"], "rb") as handle:
        assert handle.read() == before
    assert ra.cert_fingerprint(master.serving) == result["info"]["sha256_fingerprint"] != \
        result["previous"]["sha256_fingerprint"]


def test_a_failed_rapi_start_puts_the_previous_certificate_back(master, tmp_path):
    previous = ra.cert_fingerprint(master.serving)
    result, before, error = _reissue(master, tmp_path)
    assert error is None
    # Now with a start that fails once: the way back retries it.
    master.fail = ["daemon-util start ganeti-rapi"]
    current = ra.cert_fingerprint(master.serving)
    assert current != previous
    with open(master.path, "rb") as handle:
        before = handle.read()
    stat_before = os.stat(master.path)
    result, _before, error = _reissue(master, tmp_path)
    assert error.startswith("starting ganeti-rapi failed (rc=1): Error when starting daemon process: Address already"
                            " in use (errno=98). The previous key and certificate were restored to %s" % master.path)
    assert "RAPI serves it (sha256 %s) again (backup %s)" % (current, result["backup"]) in error
    assert result["steps"] == ["write", "redist-conf", "restore", "redist-conf", "restart-rapi", "verify"]
    assert master.calls[-3:] == ["gnt-cluster redist-conf", "daemon-util stop ganeti-rapi",
                                 "daemon-util start ganeti-rapi"]
    with open(master.path, "rb") as handle:
        assert handle.read() == before
    stat = os.stat(master.path)
    assert (stat.st_mode, stat.st_uid, stat.st_gid) == (stat_before.st_mode, stat_before.st_uid, stat_before.st_gid)
    assert ra.cert_fingerprint(master.serving) == current == result["info"]["sha256_fingerprint"]
    assert result["reissued"] is False
    assert len(nl.list_backups(str(tmp_path / "backups"), "rapi.pem")) == 2


def test_a_failed_redistribution_restores_without_restarting_rapi(master, tmp_path):
    master.fail = ["gnt-cluster redist-conf"]
    served = ra.cert_fingerprint(master.serving)
    result, before, error = _reissue(master, tmp_path)
    assert "RAPI, not restarted, still serves it (sha256 %s)" % served in error
    assert result["steps"] == ["write", "restore", "redist-conf", "verify"]
    assert not any(call.startswith("daemon-util") for call in master.calls)
    with open(master.path, "rb") as handle:
        assert handle.read() == before


def test_a_way_back_that_fails_too_says_where_the_backup_is_and_what_to_run(master, tmp_path):
    master.fail = ["daemon-util start ganeti-rapi"] * 50
    result, before, error = _reissue(master, tmp_path)
    assert result["steps"] == ["write", "redist-conf", "restore", "redist-conf"]
    assert "Restoring the previous file failed too, at restart-rapi: starting ganeti-rapi failed" in error
    assert "The previous file is kept in %s" % result["backup"] in error
    assert error.endswith("install -m 0440 -o %s %s %s; gnt-cluster redist-conf; /usr/lib/ganeti/daemon-util stop"
                          " ganeti-rapi; /usr/lib/ganeti/daemon-util start ganeti-rapi"
                          % (" -g ".join(nl._owner_name(os.getuid(), os.getgid())), result["backup"], master.path))
    with open(master.path, "rb") as handle:
        assert handle.read() == before
