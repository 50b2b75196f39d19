#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rapi_access_check
short_description: Check that the controller can use a Ganeti cluster's RAPI with its credentials
version_added: 0.1.0
description:
  - Connects to the cluster's RAPI with the given connection options (CA file, host name check, user and
    password) and checks, for real, what an inter-cluster move needs.
  - The TLS handshake and the certificate (against O(ca_path), and the host name unless
    O(verify_hostname=false)); the RAPI version (C(/version) is 2); authentication (C(/2/info), which also
    gives the cluster name and Ganeti version).
  - With O(check_write=true), write access, by a harmless write - a dry run of adding a cluster tag
    (C(PUT /2/tags?dry-run=1)) - whose job is followed through C(/2/jobs/ID/wait) (which also needs write
    access). A dry-run job changes nothing on the cluster; it only appears in the job list.
  - Fails with a message naming the step that failed (TLS, authentication, permission).
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.job
attributes:
  check_mode:
    support: full
    details:
      - The checks run in check mode too; they change nothing (the write check is a dry run).
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
options:
  check_write:
    description: Also check write access with a dry-run job.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the dry-run job of the write check.
  expected_cluster_name:
    description: Fail unless the cluster's name (C(/2/info)) is this one.
    type: str
"""

EXAMPLES = r"""
- name: Check RAPI access with the new CA bundle and user
  ganeti.fleet.rapi_access_check:
    rapi_url: https://c1.example.org:5080
    rapi_user: mover
    rapi_password: "{{ vault_rapi_mover_password }}"
    ca_path: /etc/ganeti-fleet/rapi-ca.pem
    expected_cluster_name: c1.example.org
  register: access
"""

RETURN = r"""
cluster_name:
  description: Name of the cluster (C(/2/info)).
  returned: success
  type: str
  sample: c1.example.org
software_version:
  description: Ganeti version of the cluster.
  returned: success
  type: str
  sample: 3.0.2
rapi_version:
  description: RAPI protocol version (C(/version)).
  returned: success
  type: int
  sample: 2
url:
  description: The RAPI URL used (no credentials).
  returned: always
  type: str
  sample: https://c1.example.org:5080
hostname_verified:
  description: Whether the certificate was checked against the host name of the URL.
  returned: always
  type: bool
  sample: true
ca_path:
  description: The CA file used (null for the system bundle).
  returned: always
  type: str
  sample: /etc/ganeti-fleet/rapi-ca.pem
user:
  description: The RAPI user.
  returned: always
  type: str
  sample: mover
write_access:
  description: Whether write access was checked and works (null when O(check_write=false)).
  returned: success
  type: bool
  sample: true
job_id:
  description: Id of the dry-run job of the write check.
  returned: when O(check_write=true)
  type: str
  sample: "1234"
job_ids:
  description: The id of the dry-run job of the write check, as a list.
  returned: when O(check_write=true)
  type: list
  elements: str
  sample: ["1234"]
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, error_context
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_ACCESS_CHECK


#: How a failed request names the step of the check it belongs to.
FAILED_AT = "RAPI access check failed at the %s step"


def run(module, client):
    result = module.result
    result.update(url=client.url, user=client.user, ca_path=client.ca_path,
                  hostname_verified=bool(client.validate_certs and client.verify_hostname))
    if not client.user:
        raise FleetError("give rapi_user and rapi_password: the check is about a user's access")
    with error_context(FAILED_AT % "TLS and RAPI version"):
        version = client.get_version()
    if version != 2:
        raise FleetError("%s answers /version with %r, not 2" % (client.url, version))
    result["rapi_version"] = version
    with error_context(FAILED_AT % "authentication"):
        info = client.get_info() or {}
    result.update(cluster_name=info.get("name"), software_version=info.get("software_version"), write_access=None)
    expected = module.params["expected_cluster_name"]
    if expected and info.get("name") != expected:
        raise FleetError("%s is the RAPI of cluster %s, not %s" % (client.url, info.get("name"), expected))
    if module.params["check_write"]:
        with error_context(FAILED_AT % "write access (dry-run job)"):
            job = module.jobs.run(client.add_tags, "cluster", None, [TAG_ACCESS_CHECK], dry_run=True)
        result.update(job_id=job["job_id"], write_access=True)


def main():
    RapiModule(argument_spec=dict(
        check_write=dict(type="bool", default=True),
        wait_timeout=job_argument_spec()["wait_timeout"],
        expected_cluster_name=dict(type="str"),
    )).run(run)


if __name__ == "__main__":
    main()
