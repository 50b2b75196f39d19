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
  - Moves an instance between two clusters, or to a new name within one, over both clusters' RAPI.
  - Plans first, as M(ganeti.fleet.instance_move_plan) does. It works out the phase of the move, the destination's
    create request, and runs the pre-flight checks, which must pass before anything is shut down.
  - The destination instance is created stopped and tagged C(ganeti-fleet:move-id:ID) and
    C(ganeti-fleet:move-pending). The source is stopped only once the destination is ready to receive, and tagged
    C(ganeti-fleet:stopped-for-move:ID) first when it was running.
  - With O(transfer=direct) (the default) the copy is created without running the OS scripts, both instances'
    disks are activated, and the disks stream from the source's node to the destination's node over TLS, digested
    on both ends. With O(transfer=ganeti) Ganeti's remote import and export carry them, and the disks are digested
    on both nodes afterwards (O(verify=content)).
  - Once every disk's digest on the destination equals the source's (the commit point), the copy is started if
    the source was marked up, tagged with the digests (C(ganeti-fleet:digest:INDEX:ALGORITHM:HEX)), the
    C(move-pending) tag removed, and the source removed (or, with O(source_policy=keep), stopped and tagged
    C(ganeti-fleet:moved-to:CLUSTER/NAME)), these jobs at the same time. A re-run reads a copy still tagged
    C(move-pending) as verified when it carries the digest tags, when its source is gone (and the destination
    lists its successful import job), is tagged C(moved-to), or when the copy was started.
  - A failure before the commit point removes the destination instance this move created (only one carrying both
    tags) and restores the source's state, then fails naming the step and Ganeti's reason.
  - A re-run finds what an earlier run left, from the tags on both clusters, and resumes; after a completed move
    it changes nothing.
  - >-
    While it runs, the move shows a line per step as the step starts, such as C(move web1.example.org: stop the
    source) and the seconds since the module started, on the controller's output when the module runs there
    (see O(progress_file)).
  - The C(ganeti.fleet.instance_move) role and the C(ganeti.fleet.move_instances) playbook wrap this module.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.move
  - ganeti.fleet.node_access
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
    description:
      - Seconds for the whole transfer, from the copy's creation to the comparison of the digests; each wait gets
        what is left of it. A move runs at most this long, plus the source's O(shutdown_timeout), the plan and the
        finishing jobs, so an C(async) limit of O(transfer_timeout) + O(shutdown_timeout) + 900 never cuts a move
        short of its compensation.
    type: int
    default: 7200
  progress_file:
    description:
      - >-
        A file to which the move appends one line per step as the step starts: C(move), the instance's name, a
        colon, the step, and the seconds since the module started in parentheses, for example
        C(move web1.example.org: stop the source) followed by C(12.3 s) in parentheses. The first line is the
        plan's (C(plan the move)), and a failed step is followed by the undoing's line. Created with mode C(0600)
        when missing. Only the instance's name and the steps' names are written. A file that cannot be written
        does not fail the move.
      - Not needed on the controller. When the module runs there (connection C(local), as in the
        C(ganeti.fleet.move_instances) playbook), without C(async), C(become) or check mode, and this option is not
        set, the module's action plugin sets it to a file in a private temporary directory (mode C(0700), removed
        afterwards) and shows each line on the controller's standard error as it comes. A terminal running
        C(ansible-playbook) and an AWX job (as C(verbose) events) both see each step of a move while it runs,
        a line per step and nothing more. Check mode shows no line (it plans and changes nothing, in seconds).
      - Set it to follow a move run with C(async), or on another host, with C(tail -f) for example. The action
        plugin then shows nothing itself.
    type: path
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

# In the background: follow its steps with tail -f /var/tmp/web3-move.log
- name: Move web3, async
  ganeti.fleet.instance_move:
    source: {}
    destination: {}
    name: web3.example.org
    progress_file: /var/tmp/web3-move.log
  async: 8100
  poll: 0
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
digests:
  description:
    - Per disk, the digests of the source and of the copy, and how they were computed. Empty when nothing was
      compared (O(verify=metadata)). On a re-run that only finishes a move, the digests its tags recorded.
  returned: success
  type: list
  elements: dict
  sample: [{index: 0, algorithm: b2tree, source: 3d09...4f8f, destination: 3d09...4f8f,
            computed: in the stream on both nodes}]
verification:
  description: What the commit of the move rested on (digests of every disk, or metadata only).
  returned: success
  type: str
transfer:
  description: Figures of a direct transfer (bytes, zero_bytes, wire_bytes, send_seconds); null otherwise.
  returned: success
  type: dict
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
from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import move_argument_spec, move_of, move_request
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import NodeAccess, node_access_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils._progress import ProgressFile


def run(module):
    params = module.params
    request = move_request(params)
    with ProgressFile(params["progress_file"], "move %s" % request["name"]) as report:
        report("plan the move")
        source, destination = module.connect(params["source"]), module.connect(params["destination"])
        with move_of(request["name"]):
            return run_move(source, destination, request, probe=params["probe"],
                            shutdown_timeout=params["shutdown_timeout"], transfer_timeout=params["transfer_timeout"],
                            check_mode=module.check_mode, nodes=NodeAccess(params["node_access"]), report=report)


def main():
    RapiModule(argument_spec=move_argument_spec(
        probe=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=120),
        transfer_timeout=dict(type="int", default=7200),
        progress_file=dict(type="path"),
        **node_access_argument_spec()
    ), connection=False).run(run)


if __name__ == "__main__":
    main()
