# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""RAPI access material: certificates and CA bundles. Internal use only.

Plain Python, no Ansible imports. Certificate handling needs the
``cryptography`` library (:data:`HAS_CRYPTOGRAPHY`). The RAPI users file
is handled by ``_rapi_users``.

Nothing here ever returns or writes a private key except
:func:`issue_certificate`, whose result is meant for Ganeti's own
``rapi.pem`` on the master node.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
import ssl
import traceback
from urllib.parse import urlsplit

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - exercised only without cryptography
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
HAS_CRYPTOGRAPHY = CRYPTOGRAPHY_IMPORT_ERROR is None

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import DATA_DIR
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: Ganeti's RAPI certificate and key (one PEM file, key first).
RAPI_CERT_FILE = os.path.join(DATA_DIR, "rapi.pem")
#: What Ganeti's ensure-dirs sets (mode, user, group).
RAPI_CERT_OWNERSHIP = (0o440, "gnt-rapi", "gnt-masterd")
#: Common name of the certificate Ganeti generates at cluster init.
STOCK_COMMON_NAME = "ganeti.example.com"
#: Why a certificate that can sign others does not fit (see :func:`can_sign`).
SIGNING_REASON = ("it can sign other certificates (CA:TRUE or keyCertSign), so whoever holds its key can issue"
                  " certificates that a CA bundle holding it trusts")
#: Ganeti's RAPI port.
RAPI_PORT = 5080

_PEM_BLOCK_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.S)
_BUNDLE_HEADER = "# ganeti.fleet RAPI CA bundle; written by ganeti.fleet.rapi_ca_bundle, do not edit."
_ENTRY_RE = re.compile(r"^# cluster: (?P<name>\S+)$")
_BUNDLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class AccessError(FleetError):
    """Invalid input or state; the message never holds a password or a key."""


# ----------------------------------------------------------------------
# Certificates

def pem_blocks(text):
    """(label, block text) of every PEM block in TEXT, in order."""
    return [(m.group("label"), m.group(0)) for m in _PEM_BLOCK_RE.finditer(text or "")]


def certificates_from_pem(text):
    """The certificates in TEXT (which may also hold a private key) as x509 objects.

    Only ``CERTIFICATE`` blocks are parsed; every other block (private keys
    in particular) is skipped and never kept.
    """
    certs = []
    for label, block in pem_blocks(text):
        if label not in ("CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE"):
            continue
        if label != "CERTIFICATE":
            block = block.replace(label, "CERTIFICATE")
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError as exc:
            raise AccessError("a CERTIFICATE block cannot be parsed: %s" % exc)
    return certs


def cert_pem(cert):
    """The certificate re-serialised as PEM text (certificate only)."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_fingerprint(cert):
    """SHA-256 fingerprint of the DER certificate, lower-case hex without colons."""
    return cert.fingerprint(hashes.SHA256()).hex()


def parse_endpoint(url):
    """``(host, port)`` of a RAPI URL or ``host:port`` (port 5080 when not given)."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if not parts.hostname:
        raise AccessError("%r has no host name" % url)
    return parts.hostname, parts.port or RAPI_PORT


def served_certificate(host, port=RAPI_PORT, timeout=10):
    """The certificate a TLS server on HOST:PORT presents, as an x509 object.

    Nothing is verified: callers pin or compare the fingerprint instead
    (trust on first use).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def normalize_fingerprint(value):
    """Accept ``AA:BB:..``, ``sha256:aabb..`` or plain hex; return plain lower-case hex."""
    text = (value or "").strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    text = text.replace(":", "").replace(" ", "")
    if not re.match(r"^[0-9a-f]{64}$", text):
        raise AccessError("%r is not a SHA-256 fingerprint (64 hexadecimal digits)" % value)
    return text


def _not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def _not_before(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return value


def cert_sans(cert):
    """(dns names, ip addresses) of the subjectAltName extension, as sorted lists of strings."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = sorted(ext.get_values_for_type(x509.DNSName))
    ips = sorted(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    return dns, ips


def common_name(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else None


def describe_cert(cert, now=None):
    """What is safe to show about a certificate (no key material exists in it)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    dns, ips = cert_sans(cert)
    not_after = _not_after(cert)
    return {
        "sha256_fingerprint": cert_fingerprint(cert),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "common_name": common_name(cert),
        "dns_names": dns,
        "ip_addresses": ips,
        "serial_number": format(cert.serial_number, "x"),
        "not_before": _not_before(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": (not_after - now).days,
        "self_signed": cert.issuer == cert.subject,
    }


def cert_matches(cert, cluster_name, dns_names=(), ip_addresses=(), renew_before_days=30, now=None):
    """Why CERT does not fit (list of reasons; empty when it fits).

    It fits when its common name is CLUSTER_NAME, its subjectAltName holds
    CLUSTER_NAME, every name of DNS_NAMES and every address of IP_ADDRESSES,
    and it is valid for more than RENEW_BEFORE_DAYS days.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    reasons = []
    dns, ips = cert_sans(cert)
    name = common_name(cert)
    if name != cluster_name:
        reasons.append("common name is %s, not %s" % (name, cluster_name))
    wanted_dns = sorted(set([cluster_name] + list(dns_names)))
    missing_dns = [n for n in wanted_dns if n not in dns]
    if missing_dns:
        reasons.append("subjectAltName lacks DNS %s" % ", ".join(missing_dns))
    wanted_ips = sorted(set(str(ipaddress.ip_address(ip)) for ip in ip_addresses))
    missing_ips = [ip for ip in wanted_ips if ip not in ips]
    if missing_ips:
        reasons.append("subjectAltName lacks IP %s" % ", ".join(missing_ips))
    if _not_before(cert) > now:
        reasons.append("not valid before %s" % _not_before(cert).strftime("%Y-%m-%dT%H:%M:%SZ"))
    days_left = (_not_after(cert) - now).days
    if days_left < renew_before_days:
        reasons.append("expires in %d days (renewal %d days before expiry)" % (days_left, renew_before_days))
    if can_sign(cert):
        reasons.append(SIGNING_REASON)
    return reasons


def can_sign(cert):
    """True when CERT may sign other certificates (``CA:TRUE`` or the ``keyCertSign`` key usage)."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        signs = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        signs = False
    return bool(is_ca or signs)


def issued_as_ca_by_fleet(cert, cluster_name):
    """True for a certificate ganeti.fleet 0.1.0 issued: self-signed, to CLUSTER_NAME, and a CA.

    Those certificates could sign certificates for other host names, which a
    CA bundle holding them then trusts; :func:`unsafe_reasons` names them.
    """
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return (cert.issuer == cert.subject and common_name(cert) == cluster_name
            and constraints.ca and constraints.path_length == 0 and usage.key_cert_sign
            and ExtendedKeyUsageOID.SERVER_AUTH in purposes)


def unsafe_reasons(cert, cluster_name):
    """Why CERT must be re-issued even when nothing else is asked for (empty when it need not)."""
    if issued_as_ca_by_fleet(cert, cluster_name):
        return ["issued by ganeti.fleet 0.1.0 as a CA certificate (CA:TRUE, keyCertSign): its key can sign"
                " certificates for other clusters' names"]
    return []


def key_matches_cert(pem_text, cert):
    """True when a private key in PEM_TEXT belongs to CERT (the key is not kept)."""
    wanted = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    for label, block in pem_blocks(pem_text):
        if "PRIVATE KEY" not in label:
            continue
        try:
            key = serialization.load_pem_private_key(block.encode("ascii"), password=None)
        except (ValueError, TypeError):
            continue
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        if public == wanted:
            return True
    return False


def issue_certificate(cluster_name, dns_names=(), ip_addresses=(), valid_days=1825, key_size=2048,
                      now=None):
    """A new RSA key and a self-signed end-entity certificate for the cluster's RAPI.

    The certificate cannot sign others (``CA:FALSE``, no ``keyCertSign``):
    clients trust it as its own anchor, and its key, copied to every node
    of the cluster, can never vouch for another host name.

    Returns ``(pem_text, cert)``: PEM_TEXT is the key followed by the
    certificate, the layout of Ganeti's ``rapi.pem``; it is only ever
    written to that file.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cluster_name)])
    dns = sorted(set([cluster_name] + list(dns_names)))
    ips = sorted(set(ipaddress.ip_address(ip) for ip in ip_addresses), key=str)
    alt = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip) for ip in ips]
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=True, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
    )
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem + cert_pem(cert), cert


# ----------------------------------------------------------------------
# CA bundle

def validate_bundle_name(name):
    """Refuse a bundle entry name that is not a plain cluster name (it is written into a comment line)."""
    if not isinstance(name, str) or not _BUNDLE_NAME_RE.match(name):
        raise AccessError("bundle entry name %r must be a cluster name: letters, digits, '.', '_' and '-'" % (name,))
    return name


def render_bundle(entries):
    """The bundle text for ENTRIES, a mapping {name: [x509 certificates]}.

    Deterministic: names sorted, certificates in the given order without
    duplicates, each preceded by comment lines (ignored by TLS libraries).
    The comments hold only the validated entry name and values computed
    here (fingerprint, expiry), never text taken from a certificate: a
    subject can hold line breaks and a whole PEM block.
    """
    lines = [_BUNDLE_HEADER]
    for name in sorted(entries):
        validate_bundle_name(name)
        seen = set()
        for cert in entries[name]:
            fingerprint = cert_fingerprint(cert)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            lines.append("")
            lines.append("# cluster: %s" % name)
            lines.append("# sha256: %s" % fingerprint)
            lines.append("# not after: %s" % _not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"))
            lines.append(cert_pem(cert).rstrip("\n"))
    return "\n".join(lines) + "\n"


def bundle_fingerprints(entries):
    """The fingerprints a bundle of ENTRIES must hold, in the order :func:`render_bundle` writes them."""
    found = []
    for name in sorted(entries):
        seen = set()
        for cert in entries[name]:
            fingerprint = cert_fingerprint(cert)
            if fingerprint not in seen:
                seen.add(fingerprint)
                found.append(fingerprint)
    return found


def check_bundle(text, fingerprints):
    """Raise :class:`AccessError` unless TEXT holds exactly the certificates FINGERPRINTS, nothing else.

    Checked the way TLS libraries read the file: every line opening a PEM
    block counts, the certificates are parsed by ``cryptography``, and
    OpenSSL itself (the ``ssl`` module) loads the text as trust anchors.
    """
    openers = [line for line in text.splitlines() if line.startswith("-----BEGIN")]
    try:
        parsed = [cert_fingerprint(c) for c in x509.load_pem_x509_certificates(text.encode("ascii"))] if openers else []
    except ValueError as exc:
        raise AccessError("the bundle does not parse back: %s" % exc) from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if openers:
        context.load_verify_locations(cadata=text)
    loaded = context.cert_store_stats()["x509"]
    wanted = list(fingerprints)
    if parsed != wanted or len(openers) != len(wanted) or loaded != len(set(wanted)):
        raise AccessError("the bundle would hold %d PEM blocks, %d certificates (%s) and %d trust anchors, not"
                          " exactly %s; nothing was written"
                          % (len(openers), len(parsed), ", ".join(parsed) or "none", loaded,
                             ", ".join(wanted) or "none"))


def parse_bundle(text):
    """{name: [x509 certificates]} of a bundle written by :func:`render_bundle`.

    Certificates without a ``# cluster:`` line are listed under ``""``.
    """
    entries = {}
    name = ""
    position = 0
    for match in _PEM_BLOCK_RE.finditer(text or ""):
        for line in text[position:match.start()].splitlines():
            found = _ENTRY_RE.match(line.strip())
            if found:
                name = found.group("name")
        position = match.end()
        if match.group("label") == "CERTIFICATE":
            entries.setdefault(name, []).extend(certificates_from_pem(match.group(0)))
    return entries
