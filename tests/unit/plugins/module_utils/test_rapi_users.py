# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the RAPI users file helpers."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_users as ru
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError


def test_ha1_is_ganetis_form():
    expected = hashlib.md5(b"mover:Ganeti Remote API:s3cret").hexdigest()
    assert ru.ha1_hash("mover", "s3cret") == "{HA1}" + expected
    with pytest.raises(ru.UsersFileError):
        ru.ha1_hash("mover", "p\u00e4ss")


def test_users_file_create_keep_update_remove():
    original = "# users\nfleet {cleartext}abc write\n"
    content, action = ru.plan_users_file(original, "mover", "pw1", ["write"])[:2]
    assert action == "created"
    assert content == original + "mover %s write\n" % ru.ha1_hash("mover", "pw1")
    # Same password and options: nothing to do.
    assert ru.plan_users_file(content, "mover", "pw1", ["write"]) == (content, None, [])
    # New password: the line is replaced in place, others kept.
    updated, action, reasons = ru.plan_users_file(content, "mover", "pw2", ["write"])
    assert action == "updated" and "password of mover changed" in reasons
    assert updated.splitlines()[:2] == original.splitlines()
    # on_create keeps the stored password.
    assert ru.plan_users_file(content, "mover", "pw2", ["write"], update_password="on_create")[1] is None
    # A matching clear text password is rewritten hashed.
    hashed, action, reasons = ru.plan_users_file(original, "fleet", "abc", ["write"])
    assert action == "updated" and "stored in clear text, now hashed" in reasons[0]
    assert "fleet %s write" % ru.ha1_hash("fleet", "abc") in hashed
    # Removal keeps the other lines.
    removed, action = ru.plan_users_file(content, "mover", state="absent")[:2]
    assert action == "removed" and removed == original
    assert ru.plan_users_file(original, "mover", state="absent")[1] is None


def test_users_file_new_and_duplicate_lines():
    content, action = ru.plan_users_file(None, "mover", "pw", ["write"])[:2]
    assert action == "created" and content.count("\n") == 1
    dup = content + "mover {cleartext}old read\n"
    fixed, action, reasons = ru.plan_users_file(dup, "mover", "pw", ["write"])
    assert action == "updated" and "duplicate lines of mover removed" in reasons
    assert fixed == content


def test_validate_user():
    ru.validate_user("mover", "pw")
    for bad in ("", "a b", "a:b"):
        with pytest.raises(ru.UsersFileError):
            ru.validate_user(bad)
    with pytest.raises(ru.UsersFileError):
        ru.validate_user("mover", "two\nlines")


@pytest.mark.parametrize("name", ["#admin", "#", "##x"])
def test_a_name_ganeti_reads_as_a_comment_is_refused(name):
    with pytest.raises(ru.UsersFileError) as err:
        ru.validate_user(name, "pw")
    message = str(err.value)
    assert "RAPI user %s " % name in message
    assert "as a comment" in message and "choose a name that does not start with '#'" in message
    assert "pw" not in message.replace("password", "")
    # Why: such a line is invisible to the parser, so a plan would add it on every run.
    content = ru.plan_users_file(None, name, "pw", ["write"])[0]
    assert ru.parse_users_line(content.splitlines()[0]) is None


def test_a_hash_inside_a_name_is_fine():
    ru.validate_user("ad#min", "pw")


class FakeMaster:
    """What ``rapi_user.run`` uses of its module, on a master whose redist-conf fails FAILURES times."""

    check_mode = False
    _diff = False
    identity = {"cluster_name": "c1.example.org", "master_node": "n1.example.org"}

    def __init__(self, backup_dir, failures):
        self.params = dict(name="mover", password="pw-1", options=["write"], state="present",
                           update_password="always", distribute=True, backup_dir=str(backup_dir), backups_kept=5)
        self.result = dict(changed=False)
        self.failures = failures
        self.commands = []

    def require_master(self):
        return self.identity

    def run_binary(self, argv, data=None):
        self.commands.append(argv)
        if argv[:2] == ["gnt-cluster", "redist-conf"] and self.failures:
            self.failures -= 1
            return 1, "", "node n2.example.org: connection refused"
        return 0, "", ""


def test_a_failed_redistribution_puts_the_previous_users_file_back(tmp_path, monkeypatch):
    """The master and the nodes agree again, the task fails saying so, and the next run makes the change."""
    from ansible_collections.ganeti.fleet.plugins.modules import rapi_user

    users = tmp_path / "users"
    original = b"# users\nfleet {HA1}00112233445566778899aabbccddeeff write\n"
    users.write_bytes(original)
    users.chmod(0o640)
    monkeypatch.setattr(ru, "RAPI_USERS_FILE", str(users))
    module = FakeMaster(tmp_path / "backups", failures=1)
    with pytest.raises(FleetError) as err:
        rapi_user.run(module)
    message = str(err.value)
    assert message.startswith("gnt-cluster redist-conf failed (rc=1): node n2.example.org: connection refused.")
    assert "The previous users file was restored and redistributed" in message
    assert users.read_bytes() == original and users.stat().st_mode & 0o777 == 0o640
    assert module.result["steps"] == ["write", "restore", "redist-conf"]
    assert module.result["changed"] is True
    (backup,) = list((tmp_path / "backups").iterdir())
    assert backup.read_bytes() == original and backup.stat().st_mode & 0o777 == 0o600
    # The next run, with redist-conf working, makes the change.
    again = FakeMaster(tmp_path / "backups", failures=0)
    rapi_user.run(again)
    assert again.result["steps"] == ["write", "redist-conf"]
    assert "mover %s write" % ru.ha1_hash("mover", "pw-1") in users.read_text().splitlines()
