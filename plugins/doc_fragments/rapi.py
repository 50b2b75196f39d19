# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The RAPI connection options (``connection.rapi_argument_spec``), documented once.

    ``DOCUMENTATION`` is the module form; ``PLUGINS`` adds what a plugin reads
    its options from (environment variables) and must come first in the
    plugin's ``extends_documentation_fragment``: the fragment listed first
    wins on the keys both set, and a plugin's ``rapi_url`` is not required.
    """

    DOCUMENTATION = r"""
options:
  rapi_url:
    description:
      - URL of the cluster's remote API, for example V(https://cluster.example.org:5080).
      - A bare host name is accepted; the scheme then defaults to C(https) and the port to C(5080).
      - RAPI runs on the master node; use the cluster name (which follows the master) rather than a node name.
      - If not set, the value of the E(GANETI_RAPI_URL) environment variable is used.
    type: str
    required: true
  rapi_user:
    description:
      - RAPI user name (HTTP basic authentication), as listed in the cluster's RAPI users file.
      - Modules that only read, and the inventory plugin, work with a user without the C(write) option,
        unless noted otherwise. Modules that start jobs need a user with C(write) access.
      - If not set, the value of the E(GANETI_RAPI_USER) environment variable is used.
      - Give it together with O(rapi_password).
    type: str
  rapi_password:
    description:
      - Password of O(rapi_user). It is never logged.
      - If not set, the value of the E(GANETI_RAPI_PASSWORD) environment variable is used.
    type: str
  ca_path:
    description:
      - PEM file with the CA certificate, or the self-signed certificate, the RAPI certificate is checked against.
      - For a cluster with Ganeti's self-signed certificate, this is the certificate part of
        C(/var/lib/ganeti/rapi.pem) on the master node.
      - When not set, the system's CA bundle is used.
      - Ignored if O(validate_certs=false).
      - If not set, the value of the E(GANETI_RAPI_CA_PATH) environment variable is used.
    type: path
  validate_certs:
    description:
      - Verify the RAPI server's TLS certificate.
      - Setting this to V(false) turns off all verification; anyone on the network path can pose as the cluster
        and read the RAPI password. Every task that does it gets a warning. Prefer O(ca_path), and
        O(verify_hostname=false) when only the host name does not match.
      - There is no environment variable for this option (C(GANETI_RAPI_VALIDATE_CERTS) is ignored, with a
        warning), so turning verification off is always visible in the task, C(module_defaults) or inventory.
    type: bool
    default: true
  verify_hostname:
    description:
      - Check that the RAPI certificate was issued for the host name in O(rapi_url).
      - Ganeti's default RAPI certificate is issued to C(ganeti.example.com), whatever the cluster is called.
        Set this to V(false) to accept such a certificate; the certificate chain is still verified against
        O(ca_path), so only the host name check is skipped.
      - V(false) needs O(ca_path) holding exactly one certificate, this cluster's, because without the host name
        check every certificate in the file would be accepted for this cluster. A bundle of several clusters'
        certificates is refused.
      - Ignored if O(validate_certs=false).
      - If not set, the value of the E(GANETI_RAPI_VERIFY_HOSTNAME) environment variable is used.
    type: bool
    default: true
  timeout:
    description:
      - Timeout in seconds for each HTTP request to RAPI.
      - Waiting for jobs is limited separately (see O(ignore:wait_timeout) where a module has it).
      - If not set, the value of the E(GANETI_RAPI_TIMEOUT) environment variable is used.
    type: int
    default: 60
  allow_plain_http:
    description:
      - Accept an C(http://) O(rapi_url). Ganeti's RAPI serves HTTPS; over plain HTTP the RAPI password and
        every answer cross the network unencrypted, so C(http://) URLs are refused unless this is V(true).
      - There is no environment variable for this option.
    type: bool
    default: false
requirements:
  - requests
notes:
  - RAPI is reached over HTTPS from the host that runs the module, usually the controller
    (a play on C(localhost), or tasks delegated to it); an inventory source reads it from the controller.
  - Requests that are safe to repeat (reads, and any request whose connection was refused)
    are retried up to three times with a short, growing delay.
seealso:
  - ref: ansible_collections.ganeti.fleet.docsite.connection_guide
    description: Connecting to Ganeti RAPI, credentials, certificates and AWX.
"""

    ACTIONGROUP_RAPI = r"""
attributes:
  action_group:
    description: Use C(group/ganeti.fleet.rapi) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - ganeti.fleet.rapi
"""

    # The plugin form: where each option is read from; descriptions, types and
    # defaults come from DOCUMENTATION.
    PLUGINS = r"""
options:
  rapi_url:
    required: false
    env:
      - name: GANETI_RAPI_URL
  rapi_user:
    env:
      - name: GANETI_RAPI_USER
  rapi_password:
    env:
      - name: GANETI_RAPI_PASSWORD
  ca_path:
    env:
      - name: GANETI_RAPI_CA_PATH
  verify_hostname:
    env:
      - name: GANETI_RAPI_VERIFY_HOSTNAME
  timeout:
    env:
      - name: GANETI_RAPI_TIMEOUT
"""
