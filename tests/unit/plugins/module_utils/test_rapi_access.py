# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the RAPI access helpers: certificates and CA bundles."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError


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


def test_expired_certificate_is_reissued():
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=20)
    cert = ra.issue_certificate("c1.example.org", valid_days=10, now=past)[1]
    assert any("expires in" in r for r in ra.cert_matches(cert, "c1.example.org"))


@pytest.mark.parametrize("url,expected", [
    ("https://c1.example.org:5081/2/info", ("c1.example.org", 5081)),
    ("c1.example.org", ("c1.example.org", 5080)),
    ("c1.example.org:443", ("c1.example.org", 443)),
    ("https://[2001:db8::1]", ("2001:db8::1", 5080)),
])
def test_parse_endpoint(url, expected):
    assert ra.parse_endpoint(url) == expected


def test_parse_endpoint_without_a_host_is_an_access_error():
    with pytest.raises(FleetError, match="has no host name"):
        ra.parse_endpoint("https://:5080")


def test_served_certificate_is_what_a_tls_server_presents_unverified(issued, tmp_path):
    pem, cert = issued
    pem_file = tmp_path / "rapi.pem"
    pem_file.write_text(pem, encoding="ascii")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pem_file))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _addr = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        served = ra.served_certificate("127.0.0.1", port, timeout=5)
    finally:
        thread.join(5)
        listener.close()
    # Self-signed and issued to another name: fetched anyway, for pinning.
    assert ra.cert_fingerprint(served) == ra.cert_fingerprint(cert)


class FakeControllerModule:
    def __init__(self, **params):
        self.params = dict(dict(path="/nonexistent/rapi-ca.pem", exclusive=True, replace_changed=False, timeout=5),
                           **params)
        self.result = dict(changed=False, private_keys_dropped=0)


def _entry(name, pem=None, url=None, pin=None):
    return dict(name=name, pem=pem, url=url, sha256_fingerprint=pin)


def test_ca_bundle_takes_certificates_from_pem_and_drops_keys(issued):
    from ansible_collections.ganeti.fleet.plugins.modules import rapi_ca_bundle

    pem, cert = issued
    other = ra.issue_certificate("c2.example.org", valid_days=30)[1]
    module = FakeControllerModule(certificates=[_entry("c1", pem=pem, pin=ra.cert_fingerprint(cert).upper())],
                                  exclusive=False)
    wanted, sources = rapi_ca_bundle.wanted_certificates(module, {"c2": [other], "": [other]})
    assert sources == {"c1": "pem", "c2": "kept"}
    assert [ra.cert_fingerprint(c) for c in wanted["c1"]] == [ra.cert_fingerprint(cert)]
    assert module.result["private_keys_dropped"] == 1


@pytest.mark.parametrize("entries,message", [
    ([_entry("c1", pem="x"), _entry("c1", pem="y")], "cluster names given more than once: c1"),
    ([_entry("c 1", pem="x")], "bundle entry name 'c 1' must be a cluster name"),
    ([_entry("c1", pem="no certificate")], "c1: the PEM text holds no certificate"),
    ([_entry("c1", url="https://:5080")], "c1: 'https://:5080' has no host name"),
])
def test_ca_bundle_refuses_unusable_entries(entries, message):
    from ansible_collections.ganeti.fleet.plugins.modules import rapi_ca_bundle

    with pytest.raises(FleetError) as err:
        rapi_ca_bundle.wanted_certificates(FakeControllerModule(certificates=entries), {})
    assert str(err.value).startswith(message)


def test_ca_bundle_refuses_a_certificate_other_than_the_pinned_one(issued):
    from ansible_collections.ganeti.fleet.plugins.modules import rapi_ca_bundle

    pem, cert = issued
    module = FakeControllerModule(certificates=[_entry("c1", pem=pem, pin="ab" * 32)])
    with pytest.raises(FleetError, match="^c1: the certificate has the SHA-256 fingerprint %s, not the pinned %s$"
                       % (ra.cert_fingerprint(cert), "ab" * 32)):
        rapi_ca_bundle.wanted_certificates(module, {})
