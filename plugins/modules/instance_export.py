#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_export
short_description: Prepare and run the source side of an inter-cluster instance move
version_added: 0.1.0
description:
  - The source half of Ganeti's inter-cluster move protocol, over the source cluster's RAPI.
  - O(state=prepared) runs C(prepare-export) in remote mode. It returns the signed handshake, the signed X509 key
    name and the signed X509 CA that the destination needs (see M(ganeti.fleet.instance_import)). Its only effect
    is a short-lived X509 key on the instance's primary node.
  - O(state=exported) sends the instance's disks to the destination given by the signed disk targets and CA that
    M(ganeti.fleet.instance_import) returned, and waits for the export job. It fails, naming the disks, when any
    disk was not sent.
  - Both clusters must share the cluster domain secret; every value relayed here is signed with it, and the
    module passes them through unchanged.
  - Most users want the M(ganeti.fleet.instance_move_plan) module and the C(ganeti.fleet.instance_move) role,
    which compose this module with the destination side, pre-flight checks and clean-up.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.job
attributes:
  check_mode:
    support: partial
    details:
      - In check mode nothing is sent; O(state=prepared) returns no handshake and O(state=exported) reports
        C(changed=true) without exporting.
  diff_mode:
    support: none
options:
  name:
    description: Name of the instance on the source cluster.
    type: str
    required: true
  state:
    description:
      - V(prepared) prepares a remote export and returns the signed values for the destination.
      - V(exported) sends the disks to the destination.
    type: str
    choices: [prepared, exported]
    required: true
  destination:
    description:
      - With O(state=exported), the signed disk targets returned by M(ganeti.fleet.instance_import) (its
        RV(ganeti.fleet.instance_import#module:disks)), one per disk of the instance.
    type: list
    elements: raw
  destination_x509_ca:
    description:
      - With O(state=exported), the signed X509 CA of the destination, returned by M(ganeti.fleet.instance_import).
    type: str
  x509_key_name:
    description:
      - With O(state=exported), the signed key name that O(state=prepared) returned.
    type: list
    elements: raw
  shutdown:
    description: Shut the instance down before sending its disks (Ganeti's default; needed to remove it).
    type: bool
    default: true
  shutdown_timeout:
    description: Seconds to wait for a clean shutdown before the instance is stopped forcibly.
    type: int
    default: 120
  remove_instance:
    description:
      - Remove the source instance once every disk was sent.
      - The C(ganeti.fleet.instance_move) role leaves this false and removes the source only after it verified
        the destination.
    type: bool
    default: false
  compress:
    description:
      - Compression of the data stream; must be in both clusters' C(compression_tools).
    type: str
    default: none
  zero_free_space:
    description: Zero the instance's free space before sending (needs compression and a C(zeroing_image)).
    type: bool
    default: false
  long_sleep:
    description:
      - Allow the instance to stay shut down for the whole transfer when its disks cannot be snapshotted
        (file and sharedfile disks, for example).
      - Without it Ganeti refuses to export a running instance that is not removed and whose disks cannot be
        snapshotted.
    type: bool
    default: false
"""

EXAMPLES = r"""
# The source half of a move; ganeti.fleet.instance_import is the other half.
- name: Export web1 from the source cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/ganeti.fleet.rapi:
      rapi_url: https://source-cluster.example.org:5080
      rapi_user: mover
      rapi_password: "{{ source_rapi_password }}"
      ca_path: /etc/ganeti-fleet/source-rapi.pem
  tasks:
    - name: Prepare an export of web1
      ganeti.fleet.instance_export:
        name: web1.example.org
        state: prepared
      register: prepared

    # ... ganeti.fleet.instance_import on the destination, registered as "imported" ...

    - name: Send the disks to the targets the destination announced
      ganeti.fleet.instance_export:
        name: web1.example.org
        state: exported
        destination: "{{ imported.disks }}"
        destination_x509_ca: "{{ imported.x509_ca }}"
        x509_key_name: "{{ prepared.x509_key_name }}"
"""

RETURN = r"""
handshake:
  description: Signed handshake for the destination (O(state=prepared)).
  returned: when O(state=prepared), not in check mode
  type: list
  elements: raw
x509_key_name:
  description: Signed name of the X509 key made on the source node (O(state=prepared)).
  returned: when O(state=prepared), not in check mode
  type: list
  elements: raw
x509_ca:
  description: Signed X509 CA of the source for the destination (O(state=prepared)).
  returned: when O(state=prepared), not in check mode
  type: str
disk_results:
  description: One boolean per disk, true when the disk was sent (O(state=exported)).
  returned: when O(state=exported), not in check mode
  type: list
  elements: bool
  sample: [true]
job_id:
  description: Id of the Ganeti job.
  returned: when a job was submitted, and on job failure
  type: str
job_ids:
  description: Ids of the Ganeti jobs submitted (the prepare or the export job).
  returned: success, and on job failure
  type: list
  elements: str
job_log:
  description: Last log entries of the export job (messages such as C(Disk 0 sent ...)).
  returned: when O(state=exported), and on job failure
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec


def prepare(module, client):
    name = module.params["name"]
    if module.check_mode:
        return dict(msg="check mode: export of %s not prepared" % name)
    job = module.jobs.run(client.prepare_export, name)
    prepared = job["opresult"][0]
    # Its only effect, a short-lived X509 key on the primary node, is nothing the user manages.
    return dict(changed=False, job_id=job["job_id"], handshake=prepared["handshake"],
                x509_key_name=prepared["x509_key_name"], x509_ca=prepared["x509_ca"])


def export(module, client):
    params = module.params
    name = params["name"]
    missing = [key for key in ("destination", "destination_x509_ca", "x509_key_name") if not params[key]]
    if missing:
        raise FleetError("state=exported needs %s" % ", ".join(missing))
    if module.check_mode:
        return dict(changed=True, msg="check mode: %s would be exported" % name)
    body = dict((key, params[key]) for key in ("destination", "destination_x509_ca", "x509_key_name", "shutdown",
                                               "shutdown_timeout", "remove_instance", "compress", "zero_free_space",
                                               "long_sleep"))
    body["mode"] = "remote"
    job = module.jobs.run(client.export_instance, name, body)
    finalized, disk_results = job["opresult"][0]
    module.result.update(job_id=job["job_id"], disk_results=disk_results, job_log=job["log"][-10:])
    if not finalized or not all(disk_results):
        failed = [str(index) for index, sent in enumerate(disk_results) if not sent]
        raise FleetError("export of %s (job %s) did not send disk(s) %s%s" % (
            name, job["job_id"], ", ".join(failed) or "-", "" if finalized else "; finalizing failed"))
    return None


def run(module, client):
    return (prepare if module.params["state"] == "prepared" else export)(module, client)


def main():
    RapiModule(argument_spec=dict(
        name=dict(type="str", required=True),
        state=dict(type="str", required=True, choices=["prepared", "exported"]),
        destination=dict(type="list", elements="raw"),
        destination_x509_ca=dict(type="str"),
        x509_key_name=dict(type="list", elements="raw", no_log=False),
        shutdown=dict(type="bool", default=True),
        shutdown_timeout=dict(type="int", default=120),
        remove_instance=dict(type="bool", default=False),
        compress=dict(type="str", default="none"),
        zero_free_space=dict(type="bool", default=False),
        long_sleep=dict(type="bool", default=False),
        wait_timeout=job_argument_spec()["wait_timeout"],
    )).run(run)


if __name__ == "__main__":
    main()
