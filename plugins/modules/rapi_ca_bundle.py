#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rapi_ca_bundle
short_description: Write the RAPI certificates of Ganeti clusters into a CA bundle on the controller
version_added: 0.1.0
description:
  - Builds a PEM CA bundle with the RAPI certificates of one or several Ganeti clusters, for the O(ganeti.fleet.cluster_info#module:ca_path)
    option of the collection's RAPI modules (or E(GANETI_RAPI_CA_PATH)).
  - Each entry of O(certificates) names a cluster and gives its certificate in one of two ways.
  - O(certificates[].pem) is PEM text read on the master node, either the RV(ganeti.fleet.rapi_certificate#module:certificate)
    result of M(ganeti.fleet.rapi_certificate) (certificate only, the key never leaves the node) or the
    content of C(/var/lib/ganeti/rapi.pem) read with C(ansible.builtin.slurp) (certificate and private key).
    Only C(CERTIFICATE) blocks are parsed (with C(cryptography)) and re-serialised into the bundle; any
    private key is dropped, never written and never returned.
  - O(certificates[].url) fetches the certificate the RAPI endpoint serves over TLS (trust on first use). With
    O(certificates[].sha256_fingerprint) the served certificate must have that fingerprint. Without a pin, a
    certificate that differs from the one already in the bundle for that cluster fails the task, unless
    O(replace_changed=true).
  - The bundle is written atomically with O(mode), in a deterministic order (clusters sorted by name), each
    certificate preceded by comment lines naming the cluster, fingerprint and expiry. No text taken from a
    certificate is written outside its PEM block (a subject can hold line breaks and a PEM block of its own),
    and before writing, the new bundle is read back the way TLS libraries read it (PEM blocks, certificates,
    OpenSSL's trust store); unless it holds exactly the intended certificates, nothing is written. An
    unchanged bundle is not rewritten, so runs are idempotent.
  - A bundle that holds the certificates of several clusters lets each of them vouch only for its own names
    when host names are checked. For O(ganeti.fleet.cluster_info#module:verify_hostname=false), give each
    cluster a bundle of its own (one entry; the RAPI client refuses a larger one), as
    R(the move_readiness role,ansible_collections.ganeti.fleet.move_readiness_role) does.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
requirements:
  - cryptography
notes:
  - Runs where the bundle is needed, usually the controller (C(delegate_to=localhost)).
  - When O(certificates[].pem) may hold a private key, keep the task C(no_log) and enable pipelining
    (C(ansible_pipelining=true)) so that no temporary module file holds it.
  - With clusters that still use Ganeti's stock certificate (issued to C(ganeti.example.com)), clients must
    skip the host name check (O(ganeti.fleet.cluster_info#module:verify_hostname=false)); re-issue the
    certificate to the cluster name with M(ganeti.fleet.rapi_certificate) instead.
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - The bundle is not written in check mode; certificates given by URL are still fetched.
  diff_mode:
    support: full
    details:
      - The diff lists the clusters and fingerprints before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  path:
    description: The CA bundle file to write.
    type: path
    required: true
  certificates:
    description: The clusters and their certificates.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the cluster, written into a comment line of the bundle; letters, digits, V(.), V(_) and V(-).
        type: str
        required: true
      pem:
        description:
          - PEM text holding the cluster's RAPI certificate; other blocks (the private key of C(rapi.pem)) are
            ignored. Mutually exclusive with O(certificates[].url).
        type: str
      url:
        description:
          - RAPI URL (C(https://host:5080)) or C(host:port) to fetch the served certificate from.
            Mutually exclusive with O(certificates[].pem).
        type: str
      sha256_fingerprint:
        description:
          - Expected SHA-256 fingerprint of the certificate (hexadecimal, colons allowed). The task fails if
            the certificate differs. Only the pinned certificate goes into the bundle, even when
            O(certificates[].pem) holds more.
        type: str
  exclusive:
    description: Remove the certificates of clusters not in O(certificates) from the bundle.
    type: bool
    default: true
  replace_changed:
    description:
      - For certificates fetched by URL without a pin, accept a certificate that differs from the one already
        in the bundle (a re-issued certificate). Otherwise the task fails.
    type: bool
    default: false
  mode:
    description: Permissions of the bundle file.
    type: raw
    default: '0644'
  timeout:
    description: Seconds for each TLS connection when fetching by URL.
    type: int
    default: 10
seealso:
  - module: ganeti.fleet.rapi_certificate
  - module: ganeti.fleet.rapi_access_check
"""

EXAMPLES = r"""
- name: Read the RAPI certificate on each master (certificate only)
  ganeti.fleet.rapi_certificate:
    reissue: never
  register: rapi_cert

- name: Note each cluster's certificate
  ansible.builtin.set_fact:
    rapi_bundle_entry:
      name: "{{ rapi_cert.cluster_name }}"
      pem: "{{ rapi_cert.certificate }}"

- name: One CA bundle for all clusters of the play, on the controller
  ganeti.fleet.rapi_ca_bundle:
    path: "{{ playbook_dir }}/rapi-ca.pem"
    certificates: "{{ ansible_play_hosts | map('extract', hostvars, 'rapi_bundle_entry') | list }}"
  delegate_to: localhost
  run_once: true

- name: From rapi.pem read with slurp (the key is dropped by the module)
  block:
    - name: Read rapi.pem on the master
      ansible.builtin.slurp:
        src: /var/lib/ganeti/rapi.pem
      register: rapi_pem
      no_log: true

    - name: Write the bundle
      ganeti.fleet.rapi_ca_bundle:
        path: /etc/ganeti-fleet/rapi-ca.pem
        exclusive: false
        certificates:
          - name: "{{ inventory_hostname }}"
            pem: "{{ rapi_pem.content | b64decode }}"
      delegate_to: localhost
      no_log: true
      vars:
        ansible_pipelining: true

- name: Trust on first use, pinned
  ganeti.fleet.rapi_ca_bundle:
    path: /etc/ganeti-fleet/rapi-ca.pem
    certificates:
      - name: c1.example.org
        url: https://c1.example.org:5080
        sha256_fingerprint: "5f:0e:...:9a"
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The bundle file.
  returned: always
  type: str
  sample: /etc/ganeti-fleet/rapi-ca.pem
certificates:
  description: What the bundle holds after the task (in check mode, would hold), sorted by cluster name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The cluster.
      type: str
    sha256_fingerprint:
      description: SHA-256 of the DER certificate, hexadecimal.
      type: str
    subject:
      description: Subject (RFC 4514).
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
    not_after:
      description: End of validity (UTC).
      type: str
    days_left:
      description: Days until it expires.
      type: int
    source:
      description: V(pem), V(url), or V(kept) for an entry kept from the existing bundle.
      type: str
added:
  description: Clusters whose certificates were added or changed.
  returned: always
  type: list
  elements: str
  sample: [c2.example.org]
removed:
  description: Clusters removed from the bundle.
  returned: always
  type: list
  elements: str
  sample: []
private_keys_dropped:
  description: How many private key blocks were found in O(certificates[].pem) and left out.
  returned: always
  type: int
  sample: 1
"""

import os

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import atomic_write
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, error_context
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import ControllerModule

#: What each certificate of the result tells (keys of ``describe_cert``).
SHOWN = ("sha256_fingerprint", "subject", "common_name", "dns_names", "ip_addresses", "not_after", "days_left")


def file_mode(value):
    if not isinstance(value, str):
        return value
    try:
        return int(value, 8)
    except ValueError as exc:
        raise FleetError("mode must be an octal number such as '0644'") from exc


def read_bundle(path):
    """The bundle's text (None when it does not exist) and its entries."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError("cannot read %s: %s" % (path, exc)) from exc
    with error_context("%s is not a readable bundle" % path):
        return text, ra.parse_bundle(text) if text else {}


def given_certificates(item, timeout):
    """``(certificates, source, private keys dropped)`` of one entry of the certificates option."""
    if item["pem"] is not None:
        dropped = sum(1 for label, _block in ra.pem_blocks(item["pem"]) if "PRIVATE KEY" in label)
        return ra.certificates_from_pem(item["pem"]), "pem", dropped
    try:
        return [ra.served_certificate(*ra.parse_endpoint(item["url"]), timeout=timeout)], "url", 0
    except (OSError, ValueError) as exc:
        raise FleetError("cannot fetch the certificate from %s: %s" % (item["url"], exc)) from exc


def trusted_certificates(module, item, certs, source, current):
    """The certificates of CERTS the bundle may hold for the entry ITEM.

    With a pin, only the pinned certificate (other certificates in the same
    PEM text are not vouched for by the pin). Without one, certificates
    fetched by URL must be what the bundle CURRENT already trusts.
    """
    name = item["name"]
    if not certs:
        raise FleetError("the PEM text holds no certificate")
    fingerprints = [ra.cert_fingerprint(c) for c in certs]
    if item["sha256_fingerprint"]:
        pin = ra.normalize_fingerprint(item["sha256_fingerprint"])
        if pin not in fingerprints:
            raise FleetError("the certificate has the SHA-256 fingerprint %s, not the pinned %s"
                             % (", ".join(fingerprints), pin))
        return [certs[fingerprints.index(pin)]]
    if source == "url" and name in current and not module.params["replace_changed"]:
        known = [ra.cert_fingerprint(c) for c in current[name]]
        if fingerprints[0] not in known:
            raise FleetError("%s serves a certificate (SHA-256 %s) that differs from the one in %s (%s); pin the"
                             " new one with sha256_fingerprint or set replace_changed=true"
                             % (item["url"], fingerprints[0], module.params["path"], ", ".join(known)))
    return certs


def wanted_certificates(module, current):
    """``{name: certificates}`` and ``{name: source}`` of what the bundle must hold."""
    params = module.params
    names = [item["name"] for item in params["certificates"]]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        raise FleetError("cluster names given more than once: %s" % ", ".join(duplicates))
    wanted, sources = {}, {}
    for item in params["certificates"]:
        name = ra.validate_bundle_name(item["name"])
        with error_context(name):
            certs, source, dropped = given_certificates(item, params["timeout"])
            certs = trusted_certificates(module, item, certs, source, current)
        module.result["private_keys_dropped"] += dropped
        wanted[name], sources[name] = certs, source
    if not params["exclusive"]:
        for name, certs in current.items():
            if name and name not in wanted:
                wanted[name], sources[name] = certs, "kept"
    return wanted, sources


def shown(name, source, cert):
    info = ra.describe_cert(cert)
    return dict(name=name, source=source, **{key: info[key] for key in SHOWN})


def summary(entries):
    return "".join("%s %s\n" % (name, ra.cert_fingerprint(cert))
                   for name in sorted(entries) for cert in entries[name]) or "(empty)\n"


def run(module):
    module.require_library(ra.HAS_CRYPTOGRAPHY, "cryptography", ra.CRYPTOGRAPHY_IMPORT_ERROR)
    path = module.params["path"]
    mode = file_mode(module.params["mode"])
    result = module.result
    result.update(path=path, certificates=[], added=[], removed=[], private_keys_dropped=0)
    current_text, current = read_bundle(path)
    wanted, sources = wanted_certificates(module, current)
    text = ra.render_bundle(wanted)
    ra.check_bundle(text, ra.bundle_fingerprints(wanted))
    result.update(
        changed=text != current_text,
        added=sorted(n for n in wanted if [ra.cert_fingerprint(c) for c in wanted[n]]
                     != [ra.cert_fingerprint(c) for c in current.get(n, [])]),
        removed=sorted(n for n in current if n not in wanted),
        certificates=[shown(name, sources[name], cert) for name in sorted(wanted) for cert in wanted[name]])
    if current_text is not None and not result["changed"]:
        try:
            result["changed"] = os.stat(path).st_mode & 0o7777 != mode
        except OSError:
            pass
    if result["changed"] and module._diff:
        result["diff"] = dict(before_header=path, after_header=path, before=summary(current), after=summary(wanted))
    if result["changed"] and not module.check_mode:
        try:
            atomic_write(path, text.encode("ascii"), mode)
        except OSError as exc:
            raise FleetError("cannot write %s: %s" % (path, exc)) from exc


def main():
    ControllerModule(argument_spec=dict(
        path=dict(type="path", required=True),
        certificates=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            pem=dict(type="str", no_log=True),
            url=dict(type="str"),
            sha256_fingerprint=dict(type="str"),
        ), mutually_exclusive=[("pem", "url")], required_one_of=[("pem", "url")]),
        exclusive=dict(type="bool", default=True),
        replace_changed=dict(type="bool", default=False),
        mode=dict(type="raw", default="0644"),
        timeout=dict(type="int", default=10),
    )).run(run)


if __name__ == "__main__":
    main()
