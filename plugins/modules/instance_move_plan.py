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
  source:
    description:
      - Connection to the source cluster's RAPI. Keys as in the C(ganeti.fleet.rapi) options; each falls back to
        an environment variable C(GANETI_SOURCE_RAPI_*) (for example E(GANETI_SOURCE_RAPI_URL)).
    type: dict
    required: true
    suboptions: &connection
      rapi_url:
        description: RAPI URL, for example C(https://cluster.example.org:5080).
        type: str
      rapi_user:
        description: RAPI user with write access.
        type: str
      rapi_password:
        description: Its password.
        type: str
      ca_path:
        description: PEM file of the cluster's RAPI certificate (or its CA).
        type: path
      validate_certs:
        description: Verify the RAPI certificate.
        type: bool
        default: true
      verify_hostname:
        description: Check that the certificate is issued to the host name of O(source.rapi_url); the CA is verified either way.
        type: bool
        default: true
      timeout:
        description: Seconds for each HTTP request.
        type: int
        default: 60
  destination:
    description:
      - Connection to the destination cluster's RAPI, as O(source); environment variables
        C(GANETI_DEST_RAPI_*) (for example E(GANETI_DEST_RAPI_URL)).
    type: dict
    required: true
    suboptions: *connection
  name:
    description: Name of the instance on the source cluster.
    type: str
    required: true
  new_name:
    description: Name on the destination (default O(name)).
    type: str
  primary_node:
    description: Destination primary node. Without it, O(iallocator) or the destination's default iallocator places the instance.
    type: str
  secondary_node:
    description: Destination secondary node (mirrored disk templates).
    type: str
  iallocator:
    description: Destination iallocator (default the destination cluster's default iallocator).
    type: str
  group:
    description: Destination node group.
    type: str
  disk_template:
    description: Destination disk template (default the source's).
    type: str
  beparams:
    description: Backend parameters overriding the source instance's.
    type: dict
  hvparams:
    description: Hypervisor parameters overriding the source instance's.
    type: dict
  osparams:
    description: OS parameters overriding the source instance's.
    type: dict
  nics:
    description:
      - Per-NIC overrides, by index (C(mac), C(ip), C(link), C(mode), C(vlan), C(network), C(name)).
      - C(mac=generate) gives the moved instance a new MAC address; a C(null) value removes the key.
    type: list
    elements: dict
  link_map:
    description: Source NIC link to destination link, for every NIC not overridden.
    type: dict
  network_map:
    description: Source gnt-network name to destination network name.
    type: dict
  compress:
    description: Compression of the transfer; must be in both clusters' C(compression_tools).
    type: str
    default: none
  source_policy:
    description:
      - What happens to the source after a verified move. V(remove) deletes it; V(keep) leaves it stopped, tagged
        C(ganeti-fleet:moved-to:CLUSTER/NAME).
    type: str
    choices: [remove, keep]
    default: remove
  start:
    description: Start the moved instance (default when the source was marked up).
    type: bool
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
- name: Plan moving web1 from one cluster to another
  ganeti.fleet.instance_move_plan:
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

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils.move import (
    MoveError,
    describe_failures,
    plan_move,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    RapiClient,
    RapiError,
    rapi_argument_spec,
)

REQUEST_KEYS = ("name", "new_name", "primary_node", "secondary_node", "iallocator", "group",
                "disk_template", "beparams", "hvparams", "osparams", "nics", "link_map", "network_map",
                "compress", "source_policy", "start")


def connection_spec(env_prefix):
    """The RAPI connection options as suboptions, each with its own environment variable."""
    spec = {}
    for key, option in rapi_argument_spec().items():
        option = dict(option)
        option.pop("required", None)
        if "fallback" in option:
            names = [name.replace("GANETI_RAPI_", env_prefix) for name in option["fallback"][1]]
            option["fallback"] = (env_fallback, names)
        spec[key] = option
    return spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=connection_spec("GANETI_SOURCE_RAPI_")),
            destination=dict(type="dict", required=True, options=connection_spec("GANETI_DEST_RAPI_")),
            name=dict(type="str", required=True),
            new_name=dict(type="str"),
            primary_node=dict(type="str"),
            secondary_node=dict(type="str"),
            iallocator=dict(type="str"),
            group=dict(type="str"),
            disk_template=dict(type="str"),
            beparams=dict(type="dict"),
            hvparams=dict(type="dict"),
            osparams=dict(type="dict"),
            nics=dict(type="list", elements="dict"),
            link_map=dict(type="dict"),
            network_map=dict(type="dict"),
            compress=dict(type="str", default="none"),
            source_policy=dict(type="str", default="remove", choices=["remove", "keep"]),
            start=dict(type="bool"),
            probe=dict(type="bool", default=True),
            fail_on_findings=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    params = module.params
    request = {key: params[key] for key in REQUEST_KEYS}
    clients = []
    try:
        src = RapiClient.from_options(params["source"], user_agent="ganeti.fleet/instance_move_plan")
        clients.append(src)
        dst = RapiClient.from_options(params["destination"], user_agent="ganeti.fleet/instance_move_plan")
        clients.append(dst)
        plan = plan_move(src, dst, request, probe=params["probe"])
    except MoveError as exc:
        module.fail_json(msg="move of %s: %s" % (params["name"], exc))
    except RapiError as exc:
        module.fail_json(**exc.to_result())
    finally:
        for client in clients:
            client.close()
    if not plan["ok"] and params["fail_on_findings"]:
        module.fail_json(msg="pre-flight of the move of %s failed: %s"
                             % (params["name"], describe_failures(plan["findings"])), plan=plan)
    module.exit_json(changed=False, plan=plan)


if __name__ == "__main__":
    main()

