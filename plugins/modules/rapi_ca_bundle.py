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
    certificate preceded by comment lines naming the cluster, subject, fingerprint and expiry. An unchanged
    bundle is not rewritten, so runs are idempotent.
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
        description: Name of the cluster (a label in the bundle, no blanks).
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
            the certificate differs.
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
import socket
import ssl
import tempfile
import traceback
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils import _rapi_credentials as ra

if ra.HAS_CRYPTOGRAPHY:
    from cryptography import x509


def parse_endpoint(url):
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if not parts.hostname:
        raise ra.AccessError("%r has no host name" % url)
    return parts.hostname, parts.port or 5080


def fetch_certificate(url, timeout):
    host, port = parse_endpoint(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust on first use: the fingerprint is checked instead
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def write_bundle(path, text, mode):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def summary(entries):
    return "".join("%s %s\n" % (name, ra.cert_fingerprint(cert))
                   for name in sorted(entries) for cert in entries[name]) or "(empty)\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
    if not ra.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=ra.CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    path = params["path"]
    mode = params["mode"]
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            module.fail_json(msg="mode must be an octal number such as '0644'")
    result = dict(changed=False, path=path, certificates=[], added=[], removed=[], private_keys_dropped=0)

    try:
        with open(path, encoding="ascii") as handle:
            current_text = handle.read()
    except FileNotFoundError:
        current_text = None
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, exc), **result)
    try:
        current = ra.parse_bundle(current_text) if current_text else {}
    except ra.AccessError as exc:
        module.fail_json(msg="%s is not a readable bundle: %s" % (path, exc), **result)

    wanted, sources = {}, {}
    names = [item["name"] for item in params["certificates"]]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        module.fail_json(msg="cluster names given more than once: %s" % ", ".join(duplicates), **result)
    for item in params["certificates"]:
        name = item["name"]
        if not name or any(ch.isspace() for ch in name):
            module.fail_json(msg="cluster name %r must be non-empty, without blanks" % name, **result)
        try:
            if item["pem"] is not None:
                certs = ra.certificates_from_pem(item["pem"])
                result["private_keys_dropped"] += sum(
                    1 for block in ra.pem_blocks(item["pem"]) if "PRIVATE KEY" in block[0])
                source = "pem"
            else:
                certs = [fetch_certificate(item["url"], params["timeout"])]
                source = "url"
        except ra.AccessError as exc:
            module.fail_json(msg="%s: %s" % (name, exc), **result)
        except (OSError, ssl.SSLError) as exc:
            module.fail_json(msg="%s: cannot fetch the certificate from %s: %s" % (name, item["url"], exc),
                             **result)
        if not certs:
            module.fail_json(msg="%s: the PEM text holds no certificate" % name, **result)
        fingerprints = [ra.cert_fingerprint(c) for c in certs]
        if item["sha256_fingerprint"]:
            try:
                pin = ra.normalize_fingerprint(item["sha256_fingerprint"])
            except ra.AccessError as exc:
                module.fail_json(msg="%s: %s" % (name, exc), **result)
            if pin not in fingerprints:
                module.fail_json(msg="%s: the certificate has the SHA-256 fingerprint %s, not the pinned %s"
                                 % (name, ", ".join(fingerprints), pin), **result)
        elif source == "url" and name in current and not params["replace_changed"]:
            known = [ra.cert_fingerprint(c) for c in current[name]]
            if fingerprints[0] not in known:
                module.fail_json(msg="%s: %s serves a certificate (SHA-256 %s) that differs from the one in %s "
                                 "(%s); pin the new one with sha256_fingerprint or set replace_changed=true"
                                 % (name, item["url"], fingerprints[0], path, ", ".join(known)), **result)
        wanted[name] = certs
        sources[name] = source
    if not params["exclusive"]:
        for name, certs in current.items():
            if name and name not in wanted:
                wanted[name] = certs
                sources[name] = "kept"

    text = ra.render_bundle(wanted)
    changed = text != current_text
    added = sorted(n for n in wanted if [ra.cert_fingerprint(c) for c in wanted[n]]
                   != [ra.cert_fingerprint(c) for c in current.get(n, [])])
    removed = sorted(n for n in current if n not in wanted)
    result.update(changed=changed, added=added, removed=removed)
    for name in sorted(wanted):
        for cert in wanted[name]:
            info = ra.describe_cert(cert)
            result["certificates"].append(dict(
                name=name, source=sources[name],
                **{k: info[k] for k in ("sha256_fingerprint", "subject", "common_name", "dns_names",
                                        "ip_addresses", "not_after", "days_left")}))
    if not changed and current_text is not None:
        try:
            if os.stat(path).st_mode & 0o7777 != mode:
                result["changed"] = changed = True
        except OSError:
            pass
    if changed and module._diff:
        result["diff"] = dict(before_header=path, after_header=path, before=summary(current),
                              after=summary(wanted))
    if changed and not module.check_mode:
        try:
            write_bundle(path, text, mode)
        except OSError as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, exc), exception=traceback.format_exc(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
