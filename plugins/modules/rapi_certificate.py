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
  - RAPI cannot read or change its own certificate, hence a module on the master node.
  - Requires the Python library C(cryptography) on the master node (Debian package C(python3-cryptography),
    a dependency of Ganeti's C(python3-openssl)).
  - The previous certificate and key are not kept. RAPI clients that trust the previous certificate must get
    the new one (M(ganeti.fleet.rapi_ca_bundle)).
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
  - ganeti.fleet.node.master
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

import ipaddress
import time

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import (
    redistribute,
    rewrite_file,
    run_checked,
    ssconf_value,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule

DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"
STEPS = ["write", "redist-conf", "restart-rapi", "verify"]


def wait_for_served(hosts, fingerprint, timeout):
    """The first of HOSTS whose RAPI serves the certificate FINGERPRINT, else why none did."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for host in hosts:
            try:
                served = ra.cert_fingerprint(ra.served_certificate(host, timeout=5))
            except (OSError, ValueError) as exc:
                last = "%s: %s" % (host, exc)
                continue
            if served == fingerprint:
                return host
            last = "%s serves the certificate %s" % (host, served)
        if time.monotonic() >= deadline:
            return last or "no answer"
        time.sleep(0.5)


def diff_text(info):
    if not info:
        return "(no certificate)\n"
    return ("subject: %s\ndns: %s\nip: %s\nnot after: %s\nsha256: %s\n"
            % (info["subject"], ", ".join(info["dns_names"]), ", ".join(info["ip_addresses"]),
               info["not_after"], info["sha256_fingerprint"]))


def check_params(params, ips):
    try:
        for address in ips:
            ipaddress.ip_address(address)
    except ValueError as exc:
        raise FleetError("invalid ip_addresses: %s" % exc) from exc
    if params["key_size"] < 2048:
        raise FleetError("key_size must be at least 2048")
    if params["valid_days"] < 1 or params["renew_before_days"] < 0 \
            or params["renew_before_days"] >= params["valid_days"]:
        raise FleetError("valid_days must be positive and larger than renew_before_days")


def read_current():
    """The certificates in rapi.pem, and whether its key belongs to the first one."""
    try:
        with open(ra.RAPI_CERT_FILE, encoding="ascii", errors="replace") as handle:
            current_text = handle.read()
        certs = ra.certificates_from_pem(current_text)
        return certs, bool(certs) and ra.key_matches_cert(current_text, certs[0])
    except FileNotFoundError:
        return [], False
    except (ra.AccessError, ValueError) as exc:
        raise ra.AccessError("cannot read %s: %s" % (ra.RAPI_CERT_FILE, exc)) from exc


def misfit_reasons(module, certs, key_ok, cluster, ips):
    """Why the current certificate does not fit (fills the result's previous certificate)."""
    if not certs:
        return ["%s holds no certificate" % ra.RAPI_CERT_FILE]
    result = module.result
    result["previous"] = result["info"] = ra.describe_cert(certs[0])
    result["certificate"] = ra.cert_pem(certs[0])
    reasons = ra.cert_matches(certs[0], cluster, module.params["dns_names"], ips,
                              module.params["renew_before_days"])
    if not key_ok:
        reasons.append("the private key in %s does not belong to its certificate" % ra.RAPI_CERT_FILE)
    return reasons


def reissue(module, cluster, ips):
    """Make, install and serve a new certificate."""
    params, result = module.params, module.result
    pem_text, cert = ra.issue_certificate(cluster, params["dns_names"], ips, params["valid_days"],
                                          params["key_size"])
    rewrite_file(ra.RAPI_CERT_FILE, pem_text.encode("ascii"), ra.RAPI_CERT_OWNERSHIP)
    del pem_text
    result["steps"].append("write")
    result.update(certificate=ra.cert_pem(cert), info=ra.describe_cert(cert))
    redistribute(module.run_binary)
    result["steps"].append("redist-conf")
    run_checked(module.run_binary, [DAEMON_UTIL, "stop", "ganeti-rapi"], "stopping ganeti-rapi")
    run_checked(module.run_binary, [DAEMON_UTIL, "start", "ganeti-rapi"], "starting ganeti-rapi")
    result["steps"].append("restart-rapi")
    hosts = [h for h in (result["master_ip"], "127.0.0.1") if h]
    answer = wait_for_served(hosts, result["info"]["sha256_fingerprint"], params["restart_timeout"])
    if answer not in hosts:
        raise FleetError("RAPI did not serve the new certificate within %s s (%s)"
                         % (params["restart_timeout"], answer))
    result["steps"].append("verify")


def run(module):
    module.require_library(ra.HAS_CRYPTOGRAPHY, "cryptography", ra.CRYPTOGRAPHY_IMPORT_ERROR)
    params, result, identity = module.params, module.result, module.identity
    result.update(cluster_name=identity["cluster_name"], master_node=identity["master_node"],
                  master_ip=ssconf_value("master_ip"), certificate=None, info=None, previous=None,
                  reissued=False, reasons=[], steps=[])
    module.require_master()
    cluster = identity["cluster_name"]
    ips = list(params["ip_addresses"])
    if params["include_master_ip"] and result["master_ip"]:
        ips.append(result["master_ip"])
    check_params(params, ips)
    certs, key_ok = read_current()
    reasons = misfit_reasons(module, certs, key_ok, cluster, ips)
    mode = params["reissue"]
    needed = mode == "always" or (mode == "when_needed" and bool(reasons))
    if mode == "always" and not reasons:
        reasons = ["renewal requested (reissue=always)"]
    result.update(reasons=reasons, reissued=needed, changed=needed)
    if not needed:
        return
    if module.check_mode:
        result["steps"] = list(STEPS)
        after = ("subject: CN=%s\ndns: %s\nip: %s\n(new key, valid %d days)\n"
                 % (cluster, ", ".join(sorted(set([cluster] + params["dns_names"]))),
                    ", ".join(sorted(set(ips))), params["valid_days"]))
    else:
        reissue(module, cluster, ips)
        after = diff_text(result["info"])
    if module._diff:
        result["diff"] = dict(before_header=ra.RAPI_CERT_FILE, after_header=ra.RAPI_CERT_FILE,
                              before=diff_text(result["previous"]), after=after)


def main():
    NodeModule(argument_spec=dict(
        reissue=dict(type="str", choices=["never", "when_needed", "always"], default="when_needed"),
        dns_names=dict(type="list", elements="str", default=[]),
        ip_addresses=dict(type="list", elements="str", default=[]),
        include_master_ip=dict(type="bool", default=True),
        valid_days=dict(type="int", default=1825),
        renew_before_days=dict(type="int", default=30),
        key_size=dict(type="int", default=2048, no_log=False),
        restart_timeout=dict(type="int", default=60),
    )).run(run)


if __name__ == "__main__":
    main()
