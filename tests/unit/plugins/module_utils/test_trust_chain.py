# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The trust chain: what a key of one cluster can forge, what a bundle can be made to hold.

TLS handshakes run in memory (``ssl.MemoryBIO``), with the client context
the RAPI client's ``requests``/``urllib3`` stack builds: OpenSSL, the CA file
as trust anchors, the host name checked.
"""

from __future__ import annotations

import datetime
import os
import ssl

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.modules import rapi_ca_bundle

NOW = datetime.datetime.now(datetime.timezone.utc)


def private_key(pem_text):
    (block,) = [block for label, block in ra.pem_blocks(pem_text) if "PRIVATE KEY" in label]
    return serialization.load_pem_private_key(block.encode("ascii"), password=None)


def build(subject, key, signer_key=None, issuer=None, ca=False, dns=()):
    """A certificate for SUBJECT's KEY, signed by SIGNER_KEY (self-signed without one)."""
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer or subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(minutes=5))
               .not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns]), critical=False)
    return builder.sign(signer_key or key, hashes.SHA256())


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cn(name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def handshake(tmp_path, server_pem, cafile, hostname):
    """None when a client trusting CAFILE accepts the server for HOSTNAME, else OpenSSL's reason."""
    server_file = tmp_path / ("server-%s.pem" % os.urandom(4).hex())
    server_file.write_text(server_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(server_file))
    client_context = ssl.create_default_context(cafile=str(cafile))
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, to_client, server_side=True)
    client = client_context.wrap_bio(client_in, client_out, server_hostname=hostname)
    for _round in range(10):
        finished = True
        for side, outgoing, incoming in ((client, client_out, to_server), (server, to_client, client_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                finished = False
            except ssl.SSLError as exc:
                return exc.reason or str(exc)
            data = outgoing.read()
            if data:
                incoming.write(data)
        if finished:
            return None
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def cluster_a():
    """Cluster A's rapi.pem (key and certificate) as the collection issues it."""
    return ra.issue_certificate("c1.example.org", valid_days=30)


@pytest.fixture(scope="module")
def cluster_b():
    return ra.issue_certificate("c2.example.org", valid_days=30)


def test_issued_certificates_cannot_sign(cluster_a):
    _pem, cert = cluster_a
    assert not ra.can_sign(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    assert ra.unsafe_reasons(cert, "c1.example.org") == []


def test_a_key_of_one_cluster_cannot_forge_a_certificate_for_another(tmp_path, cluster_a, cluster_b):
    """The bundle holds both clusters; a certificate for c2 signed with c1's key (which every c1 node holds)."""
    pem_a, cert_a = cluster_a
    pem_b, cert_b = cluster_b
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(ra.render_bundle({"c1": [cert_a], "c2": [cert_b]}))
    # Each cluster's own certificate is its own trust anchor.
    assert handshake(tmp_path, pem_a, bundle, "c1.example.org") is None
    assert handshake(tmp_path, pem_b, bundle, "c2.example.org") is None
    forger = new_key()
    forged = build(cn("c2.example.org"), forger, signer_key=private_key(pem_a), issuer=cert_a.subject,
                   dns=["c2.example.org"])
    forged_pem = key_pem(forger) + ra.cert_pem(forged)
    assert handshake(tmp_path, forged_pem, bundle, "c2.example.org") == "CERTIFICATE_VERIFY_FAILED"


def test_the_forgery_works_with_a_certificate_of_the_earlier_profile(tmp_path, cluster_b):
    """What 0.1.0 issued (CA:TRUE, keyCertSign) signs for anyone: the attack is real, and it is detected."""
    old_key = new_key()
    old_cert = build(cn("c1.example.org"), old_key, ca=True, dns=["c1.example.org"])
    assert ra.unsafe_reasons(old_cert, "c1.example.org")
    assert ra.unsafe_reasons(old_cert, "c9.example.org") == []     # issued to another name: not ours
    assert ra.SIGNING_REASON in ra.cert_matches(old_cert, "c1.example.org")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(ra.render_bundle({"c1": [old_cert], "c2": [cluster_b[1]]}))
    forger = new_key()
    forged = build(cn("c2.example.org"), forger, signer_key=old_key, issuer=old_cert.subject, dns=["c2.example.org"])
    assert handshake(tmp_path, key_pem(forger) + ra.cert_pem(forged), bundle, "c2.example.org") is None


# ----------------------------------------------------------------------
# bundles

@pytest.fixture(scope="module")
def smuggled():
    """A certificate the attacker wants trusted."""
    key = new_key()
    return build(cn("evil.example.org"), key, ca=True, dns=["evil.example.org"])


@pytest.fixture(scope="module")
def bait(smuggled):
    """A certificate whose subject holds a line break and the smuggled certificate as a PEM block."""
    payload = "x\n" + ra.cert_pem(smuggled) + "y"
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c1.example.org"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, payload)])
    cert = build(subject, new_key(), dns=["c1.example.org"])
    # RFC 4514 keeps the line breaks: written into a comment, the block would be a certificate of the file.
    assert "\n-----BEGIN CERTIFICATE-----\n" in cert.subject.rfc4514_string()
    return cert


class BundleModule:
    """What ``rapi_ca_bundle.run`` uses of its module."""

    check_mode = False
    _diff = False

    def __init__(self, path, certificates):
        self.params = dict(path=str(path), certificates=certificates, exclusive=True, replace_changed=False,
                           mode="0644", timeout=5)
        self.result = dict(changed=False)

    def require_library(self, present, name, import_error=None):
        assert present, name


def entry(name, pem=None, url=None, pin=None):
    return dict(name=name, pem=pem, url=url, sha256_fingerprint=pin)


def anchors(path):
    """The fingerprints in PATH, read by cryptography, and the number of certificates OpenSSL loads from it."""
    text = path.read_text()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(path))
    return [ra.cert_fingerprint(c) for c in x509.load_pem_x509_certificates(text.encode())], \
        context.cert_store_stats()["x509"]


def test_a_subject_holding_a_pem_block_adds_nothing_to_the_bundle(tmp_path, bait, smuggled):
    path = tmp_path / "rapi-ca.pem"
    module = BundleModule(path, [entry("c1.example.org", pem=ra.cert_pem(bait))])
    rapi_ca_bundle.run(module)
    assert module.result["changed"] is True
    assert anchors(path) == ([ra.cert_fingerprint(bait)], 1)
    assert ra.cert_fingerprint(smuggled) not in path.read_text()
    assert "evil" not in path.read_text()


def test_the_same_bait_fetched_by_url_with_a_pin_adds_nothing(tmp_path, monkeypatch, bait, smuggled):
    monkeypatch.setattr(ra, "served_certificate", lambda host, port=5080, timeout=10: bait)
    path = tmp_path / "rapi-ca.pem"
    module = BundleModule(path, [entry("c1.example.org", url="https://c1.example.org:5080",
                                       pin=ra.cert_fingerprint(bait))])
    rapi_ca_bundle.run(module)
    assert anchors(path) == ([ra.cert_fingerprint(bait)], 1)
    assert module.result["certificates"][0]["source"] == "url"


def test_a_pin_vouches_only_for_the_pinned_certificate(tmp_path, cluster_a, smuggled):
    """PEM text with a second certificate next to the pinned one: only the pinned one goes in."""
    pem, cert = cluster_a
    path = tmp_path / "rapi-ca.pem"
    module = BundleModule(path, [entry("c1.example.org", pem=pem + ra.cert_pem(smuggled),
                                       pin=ra.cert_fingerprint(cert))])
    rapi_ca_bundle.run(module)
    assert anchors(path) == ([ra.cert_fingerprint(cert)], 1)


def test_a_bundle_that_does_not_read_back_as_intended_is_not_written(cluster_a, smuggled):
    cert = cluster_a[1]
    text = ra.render_bundle({"c1": [cert]})
    ra.check_bundle(text, [ra.cert_fingerprint(cert)])
    tampered = text.replace("# sha256:", "# sha256:\n" + ra.cert_pem(smuggled) + "#", 1)
    with pytest.raises(ra.AccessError, match="would hold 2 PEM blocks, 2 certificates"):
        ra.check_bundle(tampered, [ra.cert_fingerprint(cert)])


@pytest.mark.parametrize("name", ["c1\n-----BEGIN CERTIFICATE-----", "", "c 1", "#c1", "../c1"])
def test_bundle_entry_names_are_plain_cluster_names(tmp_path, cluster_a, name):
    module = BundleModule(tmp_path / "rapi-ca.pem", [entry(name, pem=ra.cert_pem(cluster_a[1]))])
    with pytest.raises(FleetError, match="must be a cluster name"):
        rapi_ca_bundle.run(module)
    assert not (tmp_path / "rapi-ca.pem").exists()
