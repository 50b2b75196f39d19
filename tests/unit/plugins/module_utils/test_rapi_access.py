# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the RAPI access helpers: certificates, CA bundles, the users file."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra


@pytest.fixture(scope="module")
def issued():
    pem, cert = ra.issue_certificate("c1.example.org", ["rapi.example.org"], ["192.0.2.10"], valid_days=400)
    return pem, cert


def test_issued_certificate_fits_and_key_stays_in_rapi_pem(issued):
    pem, cert = issued
    labels = [block[0] for block in ra.pem_blocks(pem)]
    assert labels == ["PRIVATE KEY", "CERTIFICATE"]          # Ganeti's rapi.pem layout
    assert ra.key_matches_cert(pem, cert)
    assert ra.cert_matches(cert, "c1.example.org", ["rapi.example.org"], ["192.0.2.10"]) == []
    info = ra.describe_cert(cert)
    assert info["common_name"] == "c1.example.org"
    assert info["dns_names"] == ["c1.example.org", "rapi.example.org"]
    assert info["ip_addresses"] == ["192.0.2.10"]
    assert info["self_signed"] is True
    assert 398 <= info["days_left"] <= 400


def test_cert_matches_names_what_does_not_fit(issued):
    cert = issued[1]
    reasons = ra.cert_matches(cert, "c2.example.org", [], ["192.0.2.11"], renew_before_days=500)
    text = "; ".join(reasons)
    assert "common name is c1.example.org, not c2.example.org" in text
    assert "lacks DNS c2.example.org" in text
    assert "lacks IP 192.0.2.11" in text
    assert "expires in" in text


def test_certificates_only_drops_the_key(issued):
    pem, cert = issued
    certs = ra.certificates_from_pem(pem)
    assert len(certs) == 1 and ra.cert_fingerprint(certs[0]) == ra.cert_fingerprint(cert)
    assert "PRIVATE" not in ra.cert_pem(certs[0])


def test_bundle_is_deterministic_and_parses_back(issued):
    cert1 = issued[1]
    cert2 = ra.issue_certificate("c2.example.org", valid_days=30)[1]
    text = ra.render_bundle({"c2": [cert2], "c1": [cert1, cert1]})
    assert text == ra.render_bundle({"c1": [cert1], "c2": [cert2]})
    assert text.index("# cluster: c1") < text.index("# cluster: c2")
    assert text.count("BEGIN CERTIFICATE") == 2 and "PRIVATE" not in text
    parsed = ra.parse_bundle(text)
    assert {name: [ra.cert_fingerprint(c) for c in certs] for name, certs in parsed.items()} == {
        "c1": [ra.cert_fingerprint(cert1)], "c2": [ra.cert_fingerprint(cert2)]}


def test_fingerprint_forms():
    plain = "ab" * 32
    assert ra.normalize_fingerprint(":".join(["AB"] * 32)) == plain
    assert ra.normalize_fingerprint("sha256:" + plain) == plain
    with pytest.raises(ra.AccessError):
        ra.normalize_fingerprint("abc")


def test_ha1_is_ganetis_form():
    expected = hashlib.md5(b"mover:Ganeti Remote API:s3cret").hexdigest()
    assert ra.ha1_hash("mover", "s3cret") == "{HA1}" + expected
    with pytest.raises(ra.AccessError):
        ra.ha1_hash("mover", "p\u00e4ss")


def test_users_file_create_keep_update_remove():
    original = "# users\nfleet {cleartext}abc write\n"
    content, action = ra.plan_users_file(original, "mover", "pw1", ["write"])[:2]
    assert action == "created"
    assert content == original + "mover %s write\n" % ra.ha1_hash("mover", "pw1")
    # Same password and options: nothing to do.
    assert ra.plan_users_file(content, "mover", "pw1", ["write"]) == (content, None, [])
    # New password: the line is replaced in place, others kept.
    updated, action, reasons = ra.plan_users_file(content, "mover", "pw2", ["write"])
    assert action == "updated" and "password of mover changed" in reasons
    assert updated.splitlines()[:2] == original.splitlines()
    # on_create keeps the stored password.
    assert ra.plan_users_file(content, "mover", "pw2", ["write"], update_password="on_create")[1] is None
    # A matching clear text password is rewritten hashed.
    hashed, action, reasons = ra.plan_users_file(original, "fleet", "abc", ["write"])
    assert action == "updated" and "stored in clear text, now hashed" in reasons[0]
    assert "fleet %s write" % ra.ha1_hash("fleet", "abc") in hashed
    # Removal keeps the other lines.
    removed, action = ra.plan_users_file(content, "mover", state="absent")[:2]
    assert action == "removed" and removed == original
    assert ra.plan_users_file(original, "mover", state="absent")[1] is None


def test_users_file_new_and_duplicate_lines():
    content, action = ra.plan_users_file(None, "mover", "pw", ["write"])[:2]
    assert action == "created" and content.count("\n") == 1
    dup = content + "mover {cleartext}old read\n"
    fixed, action, reasons = ra.plan_users_file(dup, "mover", "pw", ["write"])
    assert action == "updated" and "duplicate lines of mover removed" in reasons
    assert fixed == content


def test_validate_user():
    ra.validate_user("mover", "pw")
    for bad in ("", "a b", "a:b"):
        with pytest.raises(ra.AccessError):
            ra.validate_user(bad)
    with pytest.raises(ra.AccessError):
        ra.validate_user("mover", "two\nlines")


def test_expired_certificate_is_reissued():
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=20)
    cert = ra.issue_certificate("c1.example.org", valid_days=10, now=past)[1]
    assert any("expires in" in r for r in ra.cert_matches(cert, "c1.example.org"))
