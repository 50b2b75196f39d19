#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_move
short_description: Move one Ganeti instance to another cluster, safely and resumably
version_added: 0.1.0
description:
  - Moves an instance between two clusters with Ganeti's remote export and import, over both clusters' RAPI.
  - Plans first, as M(ganeti.fleet.instance_move_plan) does. It works out the phase of the move, the destination's
    create request, and runs the pre-flight checks, which must pass before anything is shut down.
  - The destination instance is created stopped and tagged C(ganeti-fleet:move-id:ID) and
    C(ganeti-fleet:move-pending). The export starts as soon as the destination announces its disk targets. Once
    every disk was sent and received and the disk sizes match (the commit point), the copy is started if the
    source was marked up, the C(move-pending) tag removed, and the source removed (or, with
    O(source_policy=keep), stopped and tagged C(ganeti-fleet:moved-to:CLUSTER/NAME)), these jobs at the same
    time. A re-run reads a copy still tagged C(move-pending) as verified when its source is gone (and the
    destination lists its successful import job), is tagged C(moved-to), or when the copy was started.
  - A failure before the commit point removes the destination instance this move created (only one carrying both
    tags) and restores the source's state, then fails naming the step and Ganeti's reason.
  - A re-run finds what an earlier run left, from the tags on both clusters, and resumes; after a completed move
    it changes nothing.
  - The C(ganeti.fleet.instance_move) role and the C(ganeti.fleet.move_instances) playbook wrap this module.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.move
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the move is planned and every pre-flight check runs, including the dry run of the create
        request on the destination; nothing changes on either cluster (the source's primary node keeps a
        short-lived X509 key, as after Ganeti's own C(prepare-export)).
  diff_mode:
    support: none
options:
  probe:
    description:
      - Also dry-run the create request on the destination before the move (always done in check mode).
      - Without it the real create request makes the same checks, still before the source is shut down.
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds for a clean shutdown of the source before Ganeti stops it forcibly.
    type: int
    default: 120
  transfer_timeout:
    description: Seconds to wait for the transfer of all disks.
    type: int
    default: 7200
"""

EXAMPLES = r"""
- name: Move web1 to the new cluster, with a new MAC address
  ganeti.fleet.instance_move:
    source:
      rapi_url: https://old-cluster.example.org:5080
      rapi_user: mover
      rapi_password: "{{ old_rapi_password }}"
      ca_path: /etc/ganeti-fleet/old-rapi.pem
    destination:
      rapi_url: https://new-cluster.example.org:5080
      rapi_user: mover
      rapi_password: "{{ new_rapi_password }}"
      ca_path: /etc/ganeti-fleet/new-rapi.pem
    name: web1.example.org
    primary_node: node3.example.org
    nics:
      - mac: generate

# Connections from GANETI_SOURCE_RAPI_* and GANETI_DEST_RAPI_* environment variables.
- name: Keep the source, stopped and tagged, after the move
  ganeti.fleet.instance_move:
    source: {}
    destination: {}
    name: db1.example.org
    new_name: db9.example.org
    source_policy: keep

# The move options as one dict, for example one entry of a list of moves.
- name: Move an instance described by a variable
  ganeti.fleet.instance_move:
    source: {}
    destination: {}
    request: "{{ item }}"
  loop:
    - {name: web2.example.org, link_map: {br0: br-prod}}
    - {name: db2.example.org, primary_node: node3.example.org, nics: [{mac: generate}]}
"""

RETURN = r"""
plan:
  description: The plan the move followed, as returned by M(ganeti.fleet.instance_move_plan).
  returned: always
  type: dict
actions:
  description: The steps carried out, in order.
  returned: always
  type: list
  elements: str
  sample: [prepare the export, create the destination instance, export the disks, finish the import,
           verify the copy, start the copy, commit, remove the source]
step:
  description: The step that failed.
  returned: failure
  type: str
cleanup:
  description: What was done after the failure (copy removed, source restarted).
  returned: failure
  type: list
  elements: str
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils._move_executor import run_move
from ansible_collections.ganeti.fleet.plugins.module_utils._move_plan import move_argument_spec, move_of, move_request


def run(module):
    params = module.params
    request = move_request(params)
    source, destination = module.connect(params["source"]), module.connect(params["destination"])
    with move_of(request["name"]):
        return run_move(source, destination, request, probe=params["probe"],
                        shutdown_timeout=params["shutdown_timeout"], transfer_timeout=params["transfer_timeout"],
                        check_mode=module.check_mode)


def main():
    RapiModule(argument_spec=move_argument_spec(
        probe=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=120),
        transfer_timeout=dict(type="int", default=7200),
    ), connection=False).run(run)


if __name__ == "__main__":
    main()
