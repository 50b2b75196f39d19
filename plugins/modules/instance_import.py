#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_import
short_description: Create an instance on the destination cluster of an inter-cluster move (remote import)
version_added: 0.1.0
description:
  - The destination half of Ganeti's inter-cluster move protocol, over the destination cluster's RAPI.
  - Submits C(POST /2/instances) in C(remote-import) mode with the source's signed handshake and X509 CA
    (from M(ganeti.fleet.instance_export) with O(ganeti.fleet.instance_export#module:state=prepared)) and an
    instance specification.
  - Returns as soon as the job logs the signed disk targets and the destination's X509 CA, while the job goes on
    waiting for the data; hand them to M(ganeti.fleet.instance_export) with
    O(ganeti.fleet.instance_export#module:state=exported), then wait for this job with M(ganeti.fleet.job).
  - With O(dry_run=true) Ganeti only runs the checks of the request (shared cluster domain secret, name, MACs,
    placement, parameters) and creates nothing.
  - The destination cluster checks the handshake when the job starts, so a cluster domain secret that is not
    shared fails here, before anything is done on the source.
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
      - In check mode the request is sent as a Ganeti dry run when the handshake is given; nothing is created.
  diff_mode:
    support: none
options:
  spec:
    description:
      - The instance specification, a C(POST /2/instances) body (request version 1) such as
        RV(ganeti.fleet.instance_move_plan#module:plan.create_body).
      - Keys such as C(name), C(disk_template), C(disks), C(nics), C(os), C(pnode), C(iallocator), C(beparams),
        C(hvparams), C(osparams), C(tags), C(start) are passed to Ganeti as they are.
      - C(mode) is always C(remote-import) and C(__version__) always 1.
    type: dict
    required: true
  source_handshake:
    description: Signed handshake of the source cluster.
    type: list
    elements: raw
  source_x509_ca:
    description: Signed X509 CA of the source cluster.
    type: str
  source_instance_name:
    description: Name of the instance on the source cluster (defaults to C(spec.source_instance_name), then C(spec.name)).
    type: str
  dry_run:
    description: Only run Ganeti's checks of the request; create nothing.
    type: bool
    default: false
  wait:
    description:
      - Wait until the import job has ended instead of returning when the disk targets are known.
      - Only useful when the export was started elsewhere; the disks arrive only once the source exports.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the disk targets (or, with O(wait=true), for the end of the job).
      - When the time is up the module fails and reports the job id; the job itself keeps running.
"""

EXAMPLES = r"""
# The destination half of a move; "prepared" is the result of ganeti.fleet.instance_export
# with state prepared on the source cluster.
- name: Import web1 into the destination cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/ganeti.fleet.rapi:
      rapi_url: https://destination-cluster.example.org:5080
      rapi_user: mover
      rapi_password: "{{ destination_rapi_password }}"
      ca_path: /etc/ganeti-fleet/destination-rapi.pem
  tasks:
    - name: Create the destination instance and learn where to send the disks
      ganeti.fleet.instance_import:
        spec:
          name: web1.example.org
          disk_template: file
          disks: [{size: 10240}]
          nics: [{link: br0}]
          os: debootstrap+default
          iallocator: hail
          start: false
        source_handshake: "{{ prepared.handshake }}"
        source_x509_ca: "{{ prepared.x509_ca }}"
        source_instance_name: web1.example.org
      register: imported

    - name: Wait for the import once the source has exported
      ganeti.fleet.job:
        job_id: "{{ imported.job_id }}"
        state: waited
"""

RETURN = r"""
job_id:
  description: Id of the create job on the destination; it keeps running after the module returns.
  returned: success, and on job failure
  type: str
  sample: "812"
disks:
  description: Signed disk targets (host, port, magic, HMAC, salt), one per disk, for the source's export.
  returned: when the job logged them (not with O(dry_run=true))
  type: list
  elements: list
x509_ca:
  description: Signed X509 CA of the destination for the source's export.
  returned: when the job logged it (not with O(dry_run=true))
  type: str
status:
  description: Status of the job when the module returned (C(running) normally, C(success) after O(wait=true) or a dry run).
  returned: success
  type: str
job_ids:
  description: The id of the create job, as a list.
  returned: when the job was submitted
  type: list
  elements: str
job_log:
  description: The job's log entries seen so far.
  returned: success, and on job failure
  type: list
  elements: dict
"""

import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils._move_executor import remote_import_info


def build_body(params):
    body = dict(params["spec"])
    body["__version__"] = 1
    body["mode"] = "remote-import"
    body["source_instance_name"] = (params["source_instance_name"] or body.get("source_instance_name")
                                    or body.get("name"))
    if params["source_handshake"] is not None:
        body["source_handshake"] = params["source_handshake"]
    if params["source_x509_ca"] is not None:
        body["source_x509_ca"] = params["source_x509_ca"]
    return body


def run(module, client):
    params = module.params
    body = build_body(params)
    if not body.get("name"):
        raise FleetError("spec.name (the destination instance name) is required")
    dry_run = params["dry_run"] or module.check_mode
    if not (body.get("source_handshake") and body.get("source_x509_ca")):
        if not dry_run:
            raise FleetError("source_handshake and source_x509_ca are required (from instance_export "
                             "state=prepared on the source cluster)")
        return dict(changed=not params["dry_run"], status=None,
                    msg="check mode: no handshake given, the import of %s was not checked" % body["name"])
    # Followed here, not by module.jobs: the module returns while the job still runs, once it
    # has logged where the source must send the disks.
    job_id = module.jobs.submitted(client.create_instance(body, dry_run=dry_run), dry_run=dry_run)
    module.result["job_id"] = job_id
    waiter = client.job_waiter(job_id)
    deadline = time.monotonic() + params["wait_timeout"]
    targets = None
    while not waiter.finished:
        if time.monotonic() >= deadline:
            raise RapiError("Timed out after %s s waiting for the import job %s on %s to announce its "
                            "disk targets (status: %s); the job may still be running"
                            % (params["wait_timeout"], job_id, client.url, waiter.status),
                            kind="job_timeout", url=client.url, job_id=job_id,
                            job_status=waiter.status, log=waiter.log, timed_out=True)
        for entry in waiter.poll():
            targets = targets or remote_import_info(entry)
        if targets and not params["wait"]:
            return dict(status=waiter.status or "running", disks=targets["disks"], x509_ca=targets["x509_ca"],
                        job_log=waiter.log)
    result = waiter.result()
    returned = dict(changed=not dry_run, status=result["status"], job_log=result["log"])
    if targets:
        returned.update(disks=targets["disks"], x509_ca=targets["x509_ca"])
    return returned


def main():
    RapiModule(argument_spec=dict(
        spec=dict(type="dict", required=True),
        source_handshake=dict(type="list", elements="raw"),
        source_x509_ca=dict(type="str"),
        source_instance_name=dict(type="str"),
        dry_run=dict(type="bool", default=False),
        wait=dict(type="bool", default=False),
        wait_timeout=job_argument_spec()["wait_timeout"],
    )).run(run)


if __name__ == "__main__":
    main()
