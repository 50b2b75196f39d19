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
  - With O(reissue=when_unsafe), re-issues only a certificate that must not stay in use whatever else is asked,
    that is one that ganeti.fleet 0.1.0 issued as a CA certificate (C(CA:TRUE), C(keyCertSign)), whose key could sign
    certificates for other clusters' names. The collection now issues end-entity certificates (C(CA:FALSE)).
  - With O(reissue=when_needed), makes sure the certificate is issued to the cluster name, with the cluster
    name, O(dns_names), the master IP (O(include_master_ip)) and O(ip_addresses) in its subjectAltName, and
    valid for more than O(renew_before_days) days, and that it cannot sign other certificates. Ganeti's stock
    certificate, issued to C(ganeti.example.com), never fits, so clients that check host names fail against it.
  - A new certificate is made on the master node itself (RSA key of O(key_size) bits, self-signed, SHA-256,
    valid O(valid_days) days); the private key never leaves the node and is never returned.
    C(/var/lib/ganeti/rapi.pem) is first copied to O(backup_dir), then replaced atomically, keeping the file's owner, group and mode
    (Ganeti's C(gnt-rapi:gnt-masterd), 0440, for a new file). C(gnt-cluster redist-conf) then copies it to
    every online node (used after a master failover) and the RAPI daemon on the master is restarted
    (C(daemon-util stop ganeti-rapi) then C(start ganeti-rapi)), which interrupts RAPI for about a second.
    The module waits until RAPI serves the new certificate.
  - When a step after the write fails (C(gnt-cluster redist-conf), stopping or starting the RAPI daemon, RAPI
    not serving the new certificate within O(restart_timeout) seconds), the module puts the previous
    C(rapi.pem) back from its backup (same bytes, owner, group and mode), runs C(gnt-cluster redist-conf) again,
    restarts RAPI (trying to start it again for up to O(restart_timeout) seconds) and waits until RAPI serves
    the previous certificate, then fails with a message naming the step that failed and saying that the
    previous key and certificate were restored and are served again. If the way back fails too, the message
    says where the backup is and the commands that finish the restore by hand.
  - C(gnt-cluster renew-crypto --rapi-certificate) is not used; on Ganeti 3.0.2 it reports success and changes
    nothing unless another renewal (such as C(--new-confd-hmac-key)) is part of the same call, and it stops the
    whole control plane of the cluster.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - RAPI cannot read or change its own certificate, hence a module on the master node.
  - Requires the Python library C(cryptography) on the master node (Debian package C(python3-cryptography),
    a dependency of Ganeti's C(python3-openssl)).
  - The previous certificate and key are kept in O(backup_dir) (mode 0600, root), the newest O(backups_kept)
    of them. RAPI clients that trust the previous certificate must get the new one
    (M(ganeti.fleet.rapi_ca_bundle)).
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
  - ganeti.fleet.node.master
  - ganeti.fleet.backup
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
      - V(never) only reports the current certificate (and in RV(reasons) why it does not fit); nothing is
        written or restarted.
      - V(when_unsafe) re-issues it only when it can sign certificates for other names because ganeti.fleet
        0.1.0 issued it as a CA certificate; RV(reasons) then says so.
      - V(when_needed) re-issues it when it does not fit (see the description); this includes V(when_unsafe).
      - V(always) re-issues it on every run (a deliberate renewal; not idempotent).
      - The default was V(when_needed) before 0.2.0; a task that only reads the certificate no longer re-keys
        and restarts RAPI.
    type: str
    choices: [never, when_unsafe, when_needed, always]
    default: never
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
    description:
      - Seconds to wait for RAPI to serve the new certificate after the restart.
      - On the way back after a failure, also how long starting RAPI is retried, and how long the module waits
        for RAPI to serve the previous certificate.
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

- name: Only read the current certificate (the default)
  ganeti.fleet.rapi_certificate:
  register: rapi_cert

- name: Replace a certificate that could sign others, keep ten backups in a directory of our own
  ganeti.fleet.rapi_certificate:
    reissue: when_unsafe
    backup_dir: /root/rapi-cert-backups
    backups_kept: 10

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
  description:
    - Whether the certificate was (in check mode, would be) re-issued; false when the previous one had to be
      restored after a failure.
  returned: always
  type: bool
reasons:
  description: Why the certificate did not fit (empty when it did).
  returned: always
  type: list
  elements: str
  sample: ["common name is ganeti.example.com, not c1.example.org"]
steps:
  description:
    - What was done, in order; a subset of V(write), V(redist-conf), V(restart-rapi), V(verify).
    - After a failure, V(restore) (the previous C(rapi.pem) is back) and the steps of the way back that worked
      follow, for example V([write, redist-conf, restore, redist-conf, restart-rapi, verify]), where the last
      V(verify) means RAPI serves the previous certificate again.
  returned: always
  type: list
  elements: str
  sample: [write, redist-conf, restart-rapi, verify]
backup:
  description: The copy of the previous C(rapi.pem) made before it was replaced (null when nothing was replaced).
  returned: always
  type: str
  sample: /var/lib/ganeti-fleet/backups/rapi.pem.20260301T101500.123456Z
"""

import ipaddress
import time

from ansible_collections.ganeti.fleet.plugins.module_utils import _node_local as nl
from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule

RAPI_DAEMON = "ganeti-rapi"
STEPS = ["write", "redist-conf", "restart-rapi", "verify"]
#: The way back after a failure at a step, ``{failed step: recovery steps}``. Until RAPI was
#: restarted it still serves the previous certificate (it reads rapi.pem only when it starts).
RECOVERY = {
    "redist-conf": ("restore", "redist-conf", "verify"),
    "restart-rapi": ("restore", "redist-conf", "restart-rapi", "verify"),
    "verify": ("restore", "redist-conf", "restart-rapi", "verify"),
}
MANUAL_STEPS = (["gnt-cluster", "redist-conf"], [nl.DAEMON_UTIL, "stop", RAPI_DAEMON],
                [nl.DAEMON_UTIL, "start", RAPI_DAEMON])


def reissue_decision(mode, reasons, unsafe):
    """Whether to re-issue, and the reasons to report, for the REISSUE mode MODE.

    REASONS: why the certificate does not fit; UNSAFE: why it must not stay
    in use (:func:`_rapi_credentials.unsafe_reasons`).
    """
    if mode == "always":
        return True, list(reasons) or ["renewal requested (reissue=always)"]
    if mode == "when_needed":
        return bool(reasons), list(reasons)
    if mode == "when_unsafe":
        return bool(unsafe), list(unsafe)
    return False, list(reasons)


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


def require_served(hosts, fingerprint, timeout, which):
    answer = wait_for_served(hosts, fingerprint, timeout)
    if answer not in hosts:
        raise FleetError("RAPI did not serve the %s certificate (sha256 %s) within %s s (%s)"
                         % (which, fingerprint, timeout, answer))


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
    nl.check_backup_options(params["backup_dir"], params["backups_kept"])


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


def restored_text(plan, previous):
    served = "RAPI serves it (sha256 %s) again" % previous["sha256_fingerprint"]
    if "restart-rapi" not in plan:
        served = "RAPI, not restarted, still serves it (sha256 %s)" % previous["sha256_fingerprint"]
    return ("The previous key and certificate were restored to %s (same bytes, owner, group and mode) and"
            " redistributed to the nodes; %s" % (ra.RAPI_CERT_FILE, served))


def reissue(module, cluster, ips):
    """Make, install and serve a new certificate; on a failure after the write, go back to the previous one."""
    params, result = module.params, module.result
    run, timeout = module.run_binary, params["restart_timeout"]
    hosts = [h for h in (result["master_ip"], "127.0.0.1") if h]
    pem_text, cert = ra.issue_certificate(cluster, params["dns_names"], ips, params["valid_days"],
                                          params["key_size"])
    backup = nl.backup_file(ra.RAPI_CERT_FILE, params["backup_dir"], params["backups_kept"])
    result["backup"] = backup.path if backup else None
    previous, previous_pem = result["previous"], result["certificate"]
    new_info = ra.describe_cert(cert)

    def write():
        nl.rewrite_file(ra.RAPI_CERT_FILE, pem_text.encode("ascii"), ra.RAPI_CERT_OWNERSHIP)
        result.update(certificate=ra.cert_pem(cert), info=new_info)

    def restart():
        nl.run_checked(run, [nl.DAEMON_UTIL, "stop", RAPI_DAEMON], "stopping %s" % RAPI_DAEMON)
        nl.run_checked(run, [nl.DAEMON_UTIL, "start", RAPI_DAEMON], "starting %s" % RAPI_DAEMON)

    try:
        nl.run_steps([("write", write), ("redist-conf", lambda: nl.redistribute(run)), ("restart-rapi", restart),
                      ("verify", lambda: require_served(hosts, new_info["sha256_fingerprint"], timeout, "new"))],
                     result["steps"])
    except nl.ReplacementStepFailed as failure:
        plan = nl.recovery_plan(failure.step, RECOVERY)
        actions = {
            "restore": lambda: nl.restore_file(backup),
            "redist-conf": lambda: nl.redistribute(run),
            "restart-rapi": lambda: nl.restart_daemon(run, RAPI_DAEMON, timeout),
            "verify": lambda: require_served(hosts, previous["sha256_fingerprint"], timeout, "previous"),
        }
        message, done = nl.recover(failure, backup if previous else None, plan, actions,
                                   restored_text(plan, previous) if previous else "", MANUAL_STEPS)
        result["steps"].extend(done)
        if done == list(plan) and plan and previous:
            result.update(certificate=previous_pem, info=previous, reissued=False)
        raise FleetError(message) from failure
    finally:
        del pem_text


def run(module):
    module.require_library(ra.HAS_CRYPTOGRAPHY, "cryptography", ra.CRYPTOGRAPHY_IMPORT_ERROR)
    params, result, identity = module.params, module.result, module.identity
    result.update(cluster_name=identity["cluster_name"], master_node=identity["master_node"],
                  master_ip=nl.ssconf_value("master_ip"), certificate=None, info=None, previous=None,
                  reissued=False, reasons=[], steps=[], backup=None)
    module.require_master()
    cluster = identity["cluster_name"]
    ips = list(params["ip_addresses"])
    if params["include_master_ip"] and result["master_ip"]:
        ips.append(result["master_ip"])
    check_params(params, ips)
    certs, key_ok = read_current()
    reasons = misfit_reasons(module, certs, key_ok, cluster, ips)
    unsafe = ra.unsafe_reasons(certs[0], cluster) if certs else []
    needed, reasons = reissue_decision(params["reissue"], reasons, unsafe)
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
        reissue=dict(type="str", choices=["never", "when_unsafe", "when_needed", "always"], default="never"),
        dns_names=dict(type="list", elements="str", default=[]),
        ip_addresses=dict(type="list", elements="str", default=[]),
        include_master_ip=dict(type="bool", default=True),
        valid_days=dict(type="int", default=1825),
        renew_before_days=dict(type="int", default=30),
        key_size=dict(type="int", default=2048, no_log=False),
        restart_timeout=dict(type="int", default=60),
        **nl.backup_argument_spec()
    )).run(run)


if __name__ == "__main__":
    main()
