# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options of the modules that plan or run an inter-cluster move.

    The move options (name ... start) document ``_move_plan.MOVE_OPTIONS``;
    a unit test keeps the two in step.
    """

    DOCUMENTATION = r"""
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
        description: Verify the RAPI certificate (V(false) warns; no environment variable).
        type: bool
        default: true
      verify_hostname:
        description:
          - Check that the certificate is issued to the host name of the URL; the CA is verified either way.
          - V(false) needs C(ca_path) holding only this cluster's certificate.
        type: bool
        default: true
      timeout:
        description: Seconds for each HTTP request.
        type: int
        default: 60
      allow_plain_http:
        description: Accept an C(http://) URL (the password then crosses the network in clear text); no environment variable.
        type: bool
        default: false
  destination:
    description:
      - Connection to the destination cluster's RAPI, as O(source); environment variables
        C(GANETI_DEST_RAPI_*) (for example E(GANETI_DEST_RAPI_URL)).
    type: dict
    required: true
    suboptions: *connection
  request:
    description:
      - The options of the move (O(name), O(new_name), O(primary_node) ... O(start), as documented here) in one
        dict, as the C(ganeti.fleet.instance_move) role and the C(ganeti.fleet.move_instances) playbook pass them.
      - A key given here takes precedence over the option of the same name. Each key is checked like that option;
        any other key fails the task, naming the key and the options a move has.
    type: dict
  name:
    description: Name of the instance on the source cluster. Required, here or as the key C(name) of O(request).
    type: str
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
"""
