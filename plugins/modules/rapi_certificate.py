#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rapi_certificate
short_description: Report or re-issue a Ganeti cluster's RAPI certificate on its master node
version_added: 0.1.0
description:
  - Reads the RAPI certificate of the cluster (C(/var/lib/ganeti/rapi.pem) on the master node) and returns the
    certificate alone (RV(certificate), PEM, no key), with its SHA-256 fingerprint, subject, subjectAltName and
    expiry, for the controller's CA bundle (see M(ganeti.fleet.rapi_ca_bundle)).
  - With O(reissue=when_needed), makes sure the certificate is issued to the cluster name, with the cluster
    name, O(dns_names), the master IP (O(include_master_ip)) and O(ip_addresses) in its subjectAltName, and
    valid for more than O(renew_before_days) days. Ganeti's stock certificate, issued to
    C(ganeti.example.com), never fits, so clients that check host names fail against it.
  - A new certificate is made on the master node itself (RSA key of O(key_size) bits, self-signed, SHA-256,
    valid O(valid_days) days); the private key never leaves the node and is never returned.
    C(/var/lib/ganeti/rapi.pem) is replaced atomically, keeping the file's owner, group and mode
    (Ganeti's C(gnt-rapi:gnt-masterd), 0440, for a new file). C(gnt-cluster redist-conf) then copies it to
    every online node (used after a master failover) and the RAPI daemon on the master is restarted
    (C(daemon-util stop ganeti-rapi) then C(start ganeti-rapi)), which interrupts RAPI for about a second.
    The module waits until RAPI serves the new certificate.
  - C(gnt-cluster renew-crypto --rapi-certificate) is not used; on Ganeti 3.0.2 it reports success and changes
    nothing unless another renewal (such as C(--new-confd-hmac-key)) is part of the same call, and it stops the
    whole control plane of the cluster.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - This module runs on the cluster's B(master node) over the normal SSH connection (RAPI cannot read or
    change its own certificate). It needs root.
  - Requires the Python library C(cryptography) on the master node (Debian package C(python3-cryptography),
    a dependency of Ganeti's C(python3-openssl)).
  - The previous certificate and key are not kept. RAPI clients that trust the previous certificate must get
    the new one (M(ganeti.fleet.rapi_ca_bundle)).
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written or restarted in check mode; the result says whether the certificate would be
        re-issued, and why.
  diff_mode:
    support: full
    details:
      - The diff shows the subject, subjectAltName, expiry and fingerprint, never key material.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  reissue:
    description:
      - V(never) only reports the current certificate.
      - V(when_needed) re-issues it when it does not fit (see the description).
      - V(always) re-issues it on every run (a deliberate renewal; not idempotent).
    type: str
    choices: [never, when_needed, always]
    default: when_needed
  dns_names:
    description: DNS names to put into the subjectAltName besides the cluster name.
    type: list
    elements: str
    default: []
  ip_addresses:
    description: IP addresses to put into the subjectAltName besides the master IP.
    type: list
    elements: str
    default: []
  include_master_ip:
    description: Put the cluster's master IP (from Ganeti's ssconf) into the subjectAltName.
    type: bool
    default: true
  valid_days:
    description: Validity of a new certificate in days.
    type: int
    default: 1825
  renew_before_days:
    description: Re-issue when the certificate expires within this many days.
    type: int
    default: 30
  key_size:
    description: Size of a new RSA key in bits.
    type: int
    default: 2048
  restart_timeout:
    description: Seconds to wait for RAPI to serve the new certificate after the restart.
    type: int
    default: 60
seealso:
  - module: ganeti.fleet.rapi_ca_bundle
  - module: ganeti.fleet.rapi_user
"""

EXAMPLES = r"""
- name: Issue the RAPI certificate to the cluster name (on the master node)
  ganeti.fleet.rapi_certificate:
    reissue: when_needed
    dns_names: [rapi.example.org]
  register: rapi_cert

- name: Only read the current certificate
  ganeti.fleet.rapi_certificate:
    reissue: never
  register: rapi_cert

- name: Put it into the controller's CA bundle
  ganeti.fleet.rapi_ca_bundle:
    path: /etc/ganeti-fleet/rapi-ca.pem
    certificates:
      - name: "{{ rapi_cert.cluster_name }}"
        pem: "{{ rapi_cert.certificate }}"
  delegate_to: localhost
"""

RETURN = r"""
cluster_name:
  description: Name of the cluster (from ssconf).
  returned: always
  type: str
  sample: c1.example.org
master_node:
  description: The master node the module ran on.
  returned: always
  type: str
  sample: node1.example.org
master_ip:
  description: The cluster's master IP.
  returned: always
  type: str
  sample: 192.0.2.10
certificate:
  description:
    - The RAPI certificate after the task, PEM, certificate only (in check mode, the current one).
  returned: always
  type: str
  sample: "-----BEGIN CERTIFICATE-----\nMIID...\n-----END CERTIFICATE-----\n"
info:
  description: The certificate after the task (in check mode, the current one).
  returned: always
  type: dict
  contains:
    sha256_fingerprint:
      description: SHA-256 of the DER certificate, hexadecimal.
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    issuer:
      description: Issuer (RFC 4514).
      type: str
    common_name:
      description: Common name of the subject.
      type: str
    dns_names:
      description: DNS names of the subjectAltName.
      type: list
      elements: str
    ip_addresses:
      description: IP addresses of the subjectAltName.
      type: list
      elements: str
    serial_number:
      description: Serial number, hexadecimal.
      type: str
    not_before:
      description: Start of validity (UTC).
      type: str
    not_after:
      description: End of validity (UTC).
      type: str
    days_left:
      description: Days until it expires.
      type: int
    self_signed:
      description: Whether issuer and subject are the same.
      type: bool
previous:
  description: The certificate found before the task (same keys as RV(info)).
  returned: always
  type: dict
reissued:
  description: Whether the certificate was (in check mode, would be) re-issued.
  returned: always
  type: bool
reasons:
  description: Why the certificate did not fit (empty when it did).
  returned: always
  type: list
  elements: str
  sample: ["common name is ganeti.example.com, not c1.example.org"]
steps:
  description: What was done, in order; a subset of V(write), V(redist-conf), V(restart-rapi), V(verify).
  returned: always
  type: list
  elements: str
  sample: [write, redist-conf, restart-rapi, verify]
"""

import grp
import hashlib
import os
import pwd
import socket
import ssl
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    DATA_DIR,
    atomic_write,
    node_identity,
)

DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"
RAPI_PORT = 5080


def read_master_ip():
    try:
        with open(os.path.join(DATA_DIR, "ssconf_master_ip"), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def served_fingerprint(host, timeout=5):
    """SHA-256 of the certificate RAPI serves on HOST (no verification: only compared)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, RAPI_PORT), timeout=timeout) as sock:
        with context.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def wait_for_served(hosts, fingerprint, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for host in hosts:
            try:
                served = served_fingerprint(host)
            except (OSError, ssl.SSLError) as exc:
                last = "%s: %s" % (host, exc)
                continue
            if served == fingerprint:
                return host
            last = "%s serves the certificate %s" % (host, served)
        if time.monotonic() >= deadline:
            return last or "no answer"
        time.sleep(0.5)


def ownership():
    """(mode, uid, gid) for rapi.pem: the existing file's, else Ganeti's."""
    try:
        stat = os.stat(ra.RAPI_CERT_FILE)
        return stat.st_mode & 0o7777, stat.st_uid, stat.st_gid
    except FileNotFoundError:
        mode, user, group = ra.RAPI_CERT_OWNERSHIP
        return mode, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def diff_text(info):
    if not info:
        return "(no certificate)\n"
    return ("subject: %s\ndns: %s\nip: %s\nnot after: %s\nsha256: %s\n"
            % (info["subject"], ", ".join(info["dns_names"]), ", ".join(info["ip_addresses"]),
               info["not_after"], info["sha256_fingerprint"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            reissue=dict(type="str", choices=["never", "when_needed", "always"], default="when_needed"),
            dns_names=dict(type="list", elements="str", default=[]),
            ip_addresses=dict(type="list", elements="str", default=[]),
            include_master_ip=dict(type="bool", default=True),
            valid_days=dict(type="int", default=1825),
            renew_before_days=dict(type="int", default=30),
            key_size=dict(type="int", default=2048, no_log=False),
            restart_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    if not ra.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=ra.CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    identity = node_identity()
    master_ip = read_master_ip()
    result = dict(changed=False, cluster_name=identity["cluster_name"], master_node=identity["master_node"],
                  master_ip=master_ip, certificate=None, info=None, previous=None, reissued=False,
                  reasons=[], steps=[])
    if not identity["cluster_name"]:
        module.fail_json(msg="this host is not a node of a Ganeti cluster (no ssconf files in %s)" % DATA_DIR,
                         **result)
    if not identity["is_master"]:
        module.fail_json(msg="this module must run on the master node of %s (%s), not on %s"
                         % (identity["cluster_name"], identity["master_node"],
                            identity["node_name"] or "this host"), **result)
    if params["key_size"] < 2048:
        module.fail_json(msg="key_size must be at least 2048", **result)
    if params["valid_days"] < 1 or params["renew_before_days"] < 0 \
            or params["renew_before_days"] >= params["valid_days"]:
        module.fail_json(msg="valid_days must be positive and larger than renew_before_days", **result)

    cluster = identity["cluster_name"]
    ips = list(params["ip_addresses"])
    if params["include_master_ip"] and master_ip:
        ips.append(master_ip)
    try:
        with open(ra.RAPI_CERT_FILE, encoding="ascii", errors="replace") as handle:
            current_text = handle.read()
        certs = ra.certificates_from_pem(current_text)
        key_ok = bool(certs) and ra.key_matches_cert(current_text, certs[0])
        del current_text
    except FileNotFoundError:
        certs, key_ok = [], False
    except (ra.AccessError, ValueError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (ra.RAPI_CERT_FILE, exc), **result)

    reasons = []
    if not certs:
        reasons.append("%s holds no certificate" % ra.RAPI_CERT_FILE)
    else:
        result["previous"] = ra.describe_cert(certs[0])
        result["certificate"] = ra.cert_pem(certs[0])
        result["info"] = result["previous"]
        try:
            reasons = ra.cert_matches(certs[0], cluster, params["dns_names"], ips,
                                      params["renew_before_days"])
        except ValueError as exc:
            module.fail_json(msg="invalid ip_addresses: %s" % exc, **result)
        if not key_ok:
            reasons.append("the private key in %s does not belong to its certificate" % ra.RAPI_CERT_FILE)
    result["reasons"] = reasons
    mode = params["reissue"]
    reissue = mode == "always" or (mode == "when_needed" and bool(reasons))
    if mode == "always" and not reasons:
        result["reasons"] = ["renewal requested (reissue=always)"]
    result["reissued"] = reissue
    result["changed"] = reissue
    if not reissue:
        module.exit_json(**result)

    planned = ["write", "redist-conf", "restart-rapi", "verify"]
    if module.check_mode:
        result["steps"] = planned
        if module._diff:
            result["diff"] = dict(before_header=ra.RAPI_CERT_FILE, after_header=ra.RAPI_CERT_FILE,
                                  before=diff_text(result["previous"]),
                                  after="subject: CN=%s\ndns: %s\nip: %s\n(new key, valid %d days)\n"
                                  % (cluster, ", ".join(sorted(set([cluster] + params["dns_names"]))),
                                     ", ".join(sorted(set(ips))), params["valid_days"]))
        module.exit_json(**result)

    def run(argv, what):
        rc, out, err = module.run_command(argv, check_rc=False)
        if rc != 0:
            module.fail_json(msg="%s failed (rc=%s): %s" % (what, rc, (err or out).strip()[-1000:]), **result)

    try:
        pem_text, cert = ra.issue_certificate(cluster, params["dns_names"], ips, params["valid_days"],
                                              params["key_size"])
        file_mode, uid, gid = ownership()
        atomic_write(ra.RAPI_CERT_FILE, pem_text.encode("ascii"), file_mode, uid, gid)
        del pem_text
    except (OSError, ValueError, KeyError) as exc:
        module.fail_json(msg="cannot write %s: %s" % (ra.RAPI_CERT_FILE, exc),
                         exception=traceback.format_exc(), **result)
    result["steps"].append("write")
    result["certificate"] = ra.cert_pem(cert)
    result["info"] = ra.describe_cert(cert)
    run(["gnt-cluster", "redist-conf"], "gnt-cluster redist-conf")
    result["steps"].append("redist-conf")
    run([DAEMON_UTIL, "stop", "ganeti-rapi"], "stopping ganeti-rapi")
    run([DAEMON_UTIL, "start", "ganeti-rapi"], "starting ganeti-rapi")
    result["steps"].append("restart-rapi")
    hosts = [h for h in (master_ip, "127.0.0.1") if h]
    answer = wait_for_served(hosts, result["info"]["sha256_fingerprint"], params["restart_timeout"])
    if answer not in hosts:
        module.fail_json(msg="RAPI did not serve the new certificate within %s s (%s)"
                         % (params["restart_timeout"], answer), **result)
    result["steps"].append("verify")
    if module._diff:
        result["diff"] = dict(before_header=ra.RAPI_CERT_FILE, after_header=ra.RAPI_CERT_FILE,
                              before=diff_text(result["previous"]), after=diff_text(result["info"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
