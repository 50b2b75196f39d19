#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_move_plan
short_description: Plan an inter-cluster instance move and run its pre-flight checks
version_added: 0.1.0
description:
  - Reads the source and the destination cluster and returns the plan of moving one instance, without shutting
    anything down.
  - The plan says in which phase the move is (V(new), V(remnant) of an interrupted run, V(finish) after the data
    was verified, V(done)), so that a re-run resumes or does nothing.
  - Builds the destination's create request from the source instance and the overrides (new name, placement,
    disk template, parameters, NICs, link and network maps). The request never starts the instance; the move
    starts it after the data was verified.
  - Pre-flight checks, each named in RV(plan.findings) - RAPI features, disk template, hypervisor, OS, nodes
    or iallocator, MAC addresses, compression tools, the Ganeti 3.0 transfer defect (ganeti/ganeti#1681) - and,
    with O(probe=true), a dry run of the real create request on the destination, which checks the shared
    cluster domain secret and everything Ganeti checks before creating an instance.
  - Fails, listing every failed check, when the move cannot be done; O(fail_on_findings=false) only reports.
  - Talks to two clusters, so it is not in the C(ganeti.fleet.rapi) action group; give O(source) and
    O(destination).
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.move
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module changes nothing on either cluster; with O(probe=true) the source's primary node keeps a
        short-lived X509 key (as after Ganeti's own C(prepare-export)).
  diff_mode:
    support: none
options:
  probe:
    description: Run the dry-run probe of the destination (shared domain secret and Ganeti's own checks).
    type: bool
    default: true
  fail_on_findings:
    description: Fail when a pre-flight check fails (otherwise only report, with RV(plan.ok=false)).
    type: bool
    default: true
"""

EXAMPLES = r"""
# old_cluster and new_cluster: dicts of connection options (rapi_url, rapi_user, rapi_password, ca_path).
- name: Plan moving web1 from one cluster to another
  ganeti.fleet.instance_move_plan:
    source: "{{ old_cluster }}"
    destination: "{{ new_cluster }}"
    name: web1.example.org
    nics:
      - mac: generate
  register: move_plan

- name: Show the checks
  ansible.builtin.debug:
    var: move_plan.plan.findings
"""

RETURN = r"""
plan:
  description: The plan of the move.
  returned: success, and when a check failed
  type: dict
  contains:
    move:
      description: Move id, cluster and instance names, source policy.
      type: dict
    phase:
      description: V(new), V(remnant), V(finish) or V(done).
      type: str
    reason:
      description: Why the move is in that phase.
      type: str
    source:
      description: The source instance (disks, NICs, parameters, admin state, tags) when a transfer is still to do.
      type: dict
    create_body:
      description: The destination create request (without the handshake), for M(ganeti.fleet.instance_import).
      type: dict
    findings:
      description: Each pre-flight check with C(check), C(ok) and C(message).
      type: list
      elements: dict
    ok:
      description: True when every check passed.
      type: bool
    destination:
      description: The destination instance when it exists.
      type: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils._move_checks import describe_failures
from ansible_collections.ganeti.fleet.plugins.module_utils._move_plan import plan_move
from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import (
    MoveError,
    move_argument_spec,
    move_of,
    move_request,
)


def run(module):
    params = module.params
    request = move_request(params)
    source, destination = module.connect(params["source"]), module.connect(params["destination"])
    with move_of(request["name"]):
        plan = plan_move(source, destination, request, probe=params["probe"])
    if not plan["ok"] and params["fail_on_findings"]:
        raise MoveError("pre-flight of the move of %s failed: %s"
                        % (request["name"], describe_failures(plan["findings"])), plan=plan)
    return dict(plan=plan)


def main():
    RapiModule(argument_spec=move_argument_spec(
        probe=dict(type="bool", default=True),
        fail_on_findings=dict(type="bool", default=True),
    ), connection=False).run(run)


if __name__ == "__main__":
    main()
