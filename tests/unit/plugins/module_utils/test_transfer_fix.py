# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the Ganeti 3.0.x transfer fix, on copies of the installed stock file."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import textwrap

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_local as node_local
from ansible_collections.ganeti.fleet.plugins.module_utils import _transfer_fix as tf
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_TRANSFER_FIX
from ansible_collections.ganeti.fleet.plugins.modules import transfer_fix as tf_module

INSTALLED_SHARE = "/usr/share/ganeti/3.0"
INSTALLED_FILE = os.path.join(INSTALLED_SHARE, tf.TARGET_RELPATH)
SYSTEM_PYTHON = "/usr/bin/python3"


def _installed_stock():
    try:
        with open(INSTALLED_FILE, "rb") as handle:
            data = handle.read()
    except OSError:
        pytest.skip("Ganeti 3.0 is not installed here (%s)" % INSTALLED_FILE)
    if tf.sha256_hex(data) != tf.STOCK_SHA256:
        pytest.skip("the installed %s is not the stock file" % INSTALLED_FILE)
    return data


@pytest.fixture
def stock():
    return _installed_stock()


@pytest.fixture
def share(tmp_path, stock):
    """A share directory like /usr/share/ganeti/3.0, holding a copy of the stock file."""
    root = tmp_path / "share" / "3.0"
    (root / "ganeti" / "impexpd").mkdir(parents=True)
    (root / "ganeti" / "_constants.py").write_text('RELEASE_VERSION = "3.0.2"\n', encoding="ascii")
    target = root / "ganeti" / "impexpd" / "__init__.py"
    target.write_bytes(stock)
    os.chmod(target, 0o644)
    os.utime(target, ns=(1678182000 * 10**9, 1678182000 * 10**9))
    link = tmp_path / "share" / "default"
    link.symlink_to(root)
    return {"dir": str(link), "real": str(root), "file": str(target),
            "backup": str(tmp_path / "backup")}


def _run(share, desired, check=False):
    inspection = tf.Inspection(share["dir"])
    plan = tf.Plan(inspection, desired)
    backup = None if check else tf.execute(plan, share["backup"])
    return inspection, plan, backup


# --- the transformation -------------------------------------------------------


def test_stock_checksum_is_the_installed_file(stock):
    assert tf.sha256_hex(stock) == tf.KNOWN_RELEASES["3.0.2"]["stock"]


def test_fix_is_deterministic_and_has_the_known_checksum(stock):
    first = tf.fix_bytes(stock)
    second = tf.fix_bytes(bytes(stock))
    assert first == second
    assert tf.sha256_hex(first) == tf.FIXED_SHA256
    for release in tf.KNOWN_RELEASES.values():
        assert release["fixed"] == tf.sha256_hex(first)


def test_unfix_restores_the_stock_bytes(stock):
    assert tf.unfix_bytes(tf.fix_bytes(stock)) == stock


def test_fix_changes_only_the_name_check(stock):
    fixed = tf.fix_bytes(stock).decode()
    assert "openssl-commonname=%s\" % constants.X509_CERT_CN" not in fixed
    assert "_ExpectedPeerCommonName(self._opts.ca)" in fixed
    # Verification options are untouched.
    assert fixed.count('"verify=1"') == stock.decode().count('"verify=1"') == 1
    compile(fixed, "impexpd/__init__.py", "exec")


def test_fix_refuses_other_layouts(stock):
    with pytest.raises(tf.TransferFixError):
        tf.fix_bytes(tf.fix_bytes(stock))
    with pytest.raises(tf.TransferFixError):
        tf.unfix_bytes(stock)
    with pytest.raises(tf.TransferFixError):
        tf.fix_bytes(b"# something else\n")


def test_classify(stock):
    assert tf.classify(stock, "3.0.2") == tf.STATE_STOCK
    assert tf.classify(tf.fix_bytes(stock), "3.0.2") == tf.STATE_FIXED
    assert tf.classify(stock + b"\n", "3.0.2") == tf.STATE_DRIFT


# --- apply, idempotency, restore -------------------------------------------------


def test_check_mode_plan_changes_nothing(share, stock):
    inspection, plan = _run(share, "present", check=True)[:2]
    assert inspection.state == tf.STATE_STOCK
    assert plan.changed and plan.action == "apply"
    assert plan.after_state == tf.STATE_FIXED
    assert plan.checksum_after == tf.FIXED_SHA256
    with open(share["file"], "rb") as handle:
        assert handle.read() == stock
    assert not os.path.exists(share["backup"])


def test_apply_then_idempotent_then_restore(share, stock):
    before = os.stat(share["file"])
    inspection, plan, backup = _run(share, "present")
    assert inspection.path == share["file"]          # the symlink is resolved
    assert inspection.release == "3.0.2"
    assert plan.changed
    with open(share["file"], "rb") as handle:
        assert tf.sha256_hex(handle.read()) == tf.FIXED_SHA256
    after = os.stat(share["file"])
    assert after.st_mode == before.st_mode
    # Byte-exact backup with the original metadata.
    with open(backup, "rb") as handle:
        assert handle.read() == stock
    with open(tf.backup_paths(share["backup"], "3.0.2")[1], encoding="utf-8") as handle:
        meta = json.load(handle)
    assert meta["sha256"] == tf.STOCK_SHA256
    assert meta["mode"] == 0o644
    assert meta["mtime_ns"] == before.st_mtime_ns
    assert meta["file"] == share["file"]
    # No temporary file left next to Ganeti's file.
    assert os.listdir(os.path.dirname(share["file"])) == ["__init__.py"]

    # Second run: nothing to do.
    inspection, plan, backup2 = _run(share, "present")
    assert inspection.state == tf.STATE_FIXED
    assert not plan.changed
    assert backup2 == backup

    # Restore: the original bytes, mode and mtime; the backup is gone.
    inspection, plan, backup3 = _run(share, "absent")
    assert plan.changed and plan.action == "restore"
    assert backup3 is None
    with open(share["file"], "rb") as handle:
        assert handle.read() == stock
    restored = os.stat(share["file"])
    assert restored.st_mode == before.st_mode
    assert restored.st_mtime_ns == before.st_mtime_ns
    assert not os.path.exists(backup)

    # And absent again: nothing to do.
    plan = _run(share, "absent")[1]
    assert not plan.changed


def test_restore_without_backup_uses_the_inverse_transformation(share, stock):
    _run(share, "present")
    shutil.rmtree(share["backup"])
    plan = _run(share, "absent")[1]
    assert plan.changed
    with open(share["file"], "rb") as handle:
        assert handle.read() == stock


def test_restore_ignores_a_corrupt_backup(share, stock):
    backup = _run(share, "present")[2]
    with open(backup, "wb") as handle:
        handle.write(b"not the stock file\n")
    _run(share, "absent")
    with open(share["file"], "rb") as handle:
        assert handle.read() == stock


def test_drift_is_refused_with_file_checksum_and_remedy(share, stock):
    with open(share["file"], "ab") as handle:
        handle.write(b"# local change\n")
    digest = tf.sha256_hex(stock + b"# local change\n")
    for desired in ("present", "absent"):
        inspection = tf.Inspection(share["dir"])
        assert inspection.state == tf.STATE_DRIFT
        with pytest.raises(tf.TransferFixError) as err:
            tf.Plan(inspection, desired)
        message = str(err.value)
        assert share["file"] in message
        assert digest in message
        assert "reinstall" in message
    with open(share["file"], "rb") as handle:
        assert handle.read() == stock + b"# local change\n"


@pytest.mark.parametrize("release", ["3.1.1", "3.1.0~rc2"])  # 3.1.0~rc2: Debian 13's
def test_newer_ganeti_needs_nothing(share, release):
    with open(os.path.join(share["real"], "ganeti", "_constants.py"), "w", encoding="ascii") as handle:
        handle.write('RELEASE_VERSION = "%s"\n' % release)
    inspection, plan, backup = _run(share, "present")
    assert inspection.state == tf.STATE_NOT_NEEDED
    assert not plan.changed and backup is None
    assert plan.checksum_after is None


def test_unknown_release_is_refused(share):
    with open(os.path.join(share["real"], "ganeti", "_constants.py"), "w", encoding="ascii") as handle:
        handle.write('RELEASE_VERSION = "2.16.2"\n')
    with pytest.raises(tf.TransferFixError, match="not supported"):
        tf.Inspection(share["dir"])


def test_missing_version_file(tmp_path):
    with pytest.raises(tf.TransferFixError, match="cannot read the Ganeti version"):
        tf.Inspection(str(tmp_path))


def test_node_identity_from_ssconf(tmp_path, monkeypatch):
    for name, text in (("cluster_name", "c1.lab\n"), ("master_node", "c1n1.lab\n"),
                       ("node_list", "c1n1.lab\nc1n2.lab\n"), ("online_nodes", "c1n1.lab\n")):
        (tmp_path / ("ssconf_" + name)).write_text(text, encoding="ascii")
    monkeypatch.setattr(node_local.socket, "gethostname", lambda: "c1n2")
    monkeypatch.setattr(node_local.socket, "getfqdn", lambda: "c1n2")
    ident = node_local.node_identity(str(tmp_path))
    assert ident == {"cluster_name": "c1.lab", "master_node": "c1n1.lab", "node_name": "c1n2.lab",
                     "nodes": ["c1n1.lab", "c1n2.lab"], "online_nodes": ["c1n1.lab"],
                     "is_master": False}
    assert node_local.node_identity(str(tmp_path / "none"))["cluster_name"] is None


def test_ssconf_readers(tmp_path):
    (tmp_path / "ssconf_master_candidates").write_text("c1n1.lab\n\n c1n3.lab \n", encoding="ascii")
    (tmp_path / "ssconf_master_ip").write_text("192.0.2.10\n", encoding="ascii")
    (tmp_path / "ssconf_empty").write_text("\n", encoding="ascii")
    assert node_local.ssconf_lines("master_candidates", str(tmp_path)) == ["c1n1.lab", "c1n3.lab"]
    assert node_local.ssconf_lines("missing", str(tmp_path)) is None
    assert node_local.ssconf_value("master_ip", str(tmp_path)) == "192.0.2.10"
    assert node_local.ssconf_value("empty", str(tmp_path)) is None
    assert node_local.ssconf_value("missing", str(tmp_path)) is None


def test_rewrite_file_keeps_mode_and_replaces_by_rename(tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    before = os.stat(path)
    node_local.rewrite_file(str(path), b"new\n", (0o600, os.geteuid(), os.getegid()))
    after = os.stat(path)
    assert path.read_bytes() == b"new\n"
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino
    assert os.listdir(str(tmp_path)) == ["users"]


def test_rewrite_file_creates_the_file_and_its_directory_with_the_defaults(tmp_path):
    path = tmp_path / "rapi" / "users"
    ids = (os.geteuid(), os.getegid())
    node_local.rewrite_file(str(path), b"x\n", (0o604,) + ids, (0o750,) + ids)
    assert os.stat(path.parent).st_mode & 0o7777 == 0o750
    assert os.stat(path).st_mode & 0o7777 == 0o604
    with pytest.raises(FleetError, match="cannot write %s" % (tmp_path / "none" / "file")):
        node_local.rewrite_file(str(tmp_path / "none" / "file"), b"x", (0o600,) + ids)
    with pytest.raises(FleetError, match="cannot write"):      # no defaults: the file must exist
        node_local.rewrite_file(str(tmp_path / "absent"), b"x")


def test_atomic_write_of_a_relative_path_without_owner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node_local.atomic_write("bundle.pem", b"pem\n", 0o644)
    assert (tmp_path / "bundle.pem").read_bytes() == b"pem\n"
    assert os.stat(tmp_path / "bundle.pem").st_mode & 0o7777 == 0o644


def test_run_checked_names_the_step_and_the_output_end():
    calls = []

    def run(argv, data=None):
        calls.append((argv, data))
        return (0, "fine", "") if argv[0] == "true" else (3, "", "x" * 2000 + " the cause\n")

    assert node_local.run_checked(run, ["true"], data=b"in") == "fine"
    with pytest.raises(FleetError) as err:
        node_local.redistribute(run)
    assert str(err.value).startswith("gnt-cluster redist-conf failed (rc=3): ")
    assert str(err.value).endswith("the cause") and len(str(err.value)) < 1100

    class StepError(FleetError):
        pass

    with pytest.raises(StepError, match="^gnt-node list failed"):
        node_local.run_checked(run, ["gnt-node", "list", "-o", "name"], error=StepError)
    assert calls[0] == (["true"], b"in")


class FakeNodeModule:
    """What a module's run() uses of NodeModule."""

    def __init__(self, params, check_mode=False, diff=False, identity=None):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.identity = identity or {"cluster_name": "c1.lab", "master_node": "c1n1.lab",
                                     "node_name": "c1n2.lab", "is_master": False,
                                     "nodes": ["c1n1.lab", "c1n2.lab"], "online_nodes": ["c1n1.lab", "c1n2.lab"]}
        self.result = dict(changed=False)


def test_module_returns_the_cluster_tag_of_the_fix(share):
    params = {"state": "present", "share_dir": share["dir"], "backup_dir": share["backup"]}
    checked = FakeNodeModule(params, check_mode=True, diff=True)
    tf_module.run(checked)
    assert checked.result["cluster_tag"] == TAG_TRANSFER_FIX
    assert checked.result["changed"] is True and checked.result["state"] == tf.STATE_FIXED
    assert checked.result["backup"] == tf.backup_paths(share["backup"], "3.0.2")[0]
    assert not os.path.exists(share["backup"])
    assert tf.FIXED_SHA256 in checked.result["diff"]["after"]
    applied = FakeNodeModule(params)
    tf_module.run(applied)
    assert applied.result["cluster_tag"] == TAG_TRANSFER_FIX
    assert applied.result["checksum_after"] == tf.FIXED_SHA256 and os.path.exists(applied.result["backup"])


def test_module_keeps_what_it_found_when_the_file_drifted(share):
    with open(share["file"], "ab") as handle:
        handle.write(b"# local change\n")
    module = FakeNodeModule({"state": "present", "share_dir": share["dir"], "backup_dir": share["backup"]})
    with pytest.raises(tf.TransferFixError, match="reinstall"):
        tf_module.run(module)
    assert isinstance(tf.TransferFixError("x"), FleetError)
    assert module.result["previous_state"] == tf.STATE_DRIFT
    assert module.result["cluster_tag"] == TAG_TRANSFER_FIX and module.result["file"] == share["file"]


def test_write_errors_name_the_file(share, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tf, "atomic_write", refuse)
    plan = tf.Plan(tf.Inspection(share["dir"]), "present")
    with pytest.raises(tf.TransferFixError, match="^%s: .*Permission denied" % share["file"]):
        tf.execute(plan, share["backup"])


def test_master_failover_refuses_a_node_that_is_no_candidate():
    from ansible_collections.ganeti.fleet.plugins.modules import master_failover

    identity = FakeNodeModule({}).identity
    with pytest.raises(FleetError) as err:
        master_failover.require_candidate(identity, ["c1n1.lab", "c1n3.lab"])
    assert "c1n2.lab is not a master candidate of c1.lab" in str(err.value)
    assert "the candidates are c1n3.lab." in str(err.value) and "role: master-candidate" in str(err.value)
    assert master_failover.require_candidate(identity, ["c1n1.lab", "c1n2.lab"]) == "c1n2.lab"
    assert master_failover.require_candidate(dict(identity, node_name="c1n1.lab", is_master=True), []) == "c1n1.lab"
    with pytest.raises(FleetError, match="cannot tell which node of c1.lab this host is"):
        master_failover.require_candidate(dict(identity, node_name=None), ["c1n1.lab"])


# --- the fixed code, run by Ganeti's own Python -----------------------------------


def _write_cert(path, common_name, with_key_first=False):
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    with open(path, "wb") as handle:
        handle.write(key_pem + cert_pem if with_key_first else cert_pem)


PROBE = textwrap.dedent("""
    import importlib.util, json, sys
    sys.path.insert(0, sys.argv[1])
    import ganeti
    spec = importlib.util.spec_from_file_location("ganeti.impexpd", sys.argv[2])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ganeti.impexpd"] = mod
    spec.loader.exec_module(mod)
    mod.CommandBuilder._SOCAT_VERSION = (1, 7, 4)

    class Opts(object):
        key = "/k.pem"; cert = "/c.pem"; bind = None; ipv4 = True; ipv6 = False
        host = "198.51.100.4"; port = 1234; connect_timeout = 10; connect_retries = 1
        magic = None; compress = "none"; cmd_prefix = None; cmd_suffix = None

    out = {}
    for ca in sys.argv[3:]:
        opts = Opts(); opts.ca = ca
        out[ca] = mod.CommandBuilder("export", opts, 1, 2, 3)._GetSocatCommand()
    print(json.dumps(out))
""")


def test_fixed_code_expects_the_ca_certificates_name(tmp_path, stock):
    if not os.path.exists(SYSTEM_PYTHON) or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import sys; sys.path.insert(0, %r); import ganeti, OpenSSL"
             % INSTALLED_SHARE], capture_output=True, check=False).returncode != 0:
        pytest.skip("Ganeti's Python (with pyOpenSSL) is not available")
    fixed = tmp_path / "impexpd_fixed.py"
    fixed.write_bytes(tf.fix_bytes(stock))
    remote = str(tmp_path / "remote-ca.pem")         # remote import: the peer's certificate
    _write_cert(remote, "node2.example.org")
    local = str(tmp_path / "server.pem")              # gnt-backup: node daemon key + certificate
    _write_cert(local, "ganeti.example.com", with_key_first=True)
    broken = str(tmp_path / "broken.pem")
    with open(broken, "w", encoding="ascii") as handle:
        handle.write("no certificate here\n")
    proc = subprocess.run([SYSTEM_PYTHON, "-c", PROBE, INSTALLED_SHARE, str(fixed), remote, local,
                           broken], capture_output=True, text=True, check=True)
    commands = json.loads(proc.stdout.strip().splitlines()[-1])
    for ca, expected in ((remote, "node2.example.org"), (local, "ganeti.example.com"),
                         (broken, "ganeti.example.com")):
        target = commands[ca][-1]
        assert target.startswith("OPENSSL:198.51.100.4:1234,")
        options = target.split(",")
        assert "openssl-commonname=%s" % expected in options
        assert "verify=1" in options
        assert "cafile=%s" % ca in options
