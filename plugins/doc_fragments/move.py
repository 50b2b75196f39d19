# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options of the modules that plan or run an inter-cluster move.

    The move options (name ... start) document ``_move_request.MOVE_OPTIONS``;
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
    description:
      - Compression of the transfer.
      - With O(transfer=ganeti) it must be in both clusters' C(compression_tools).
      - With O(transfer=direct) the stream is compressed with zlib, which every node has; V(gzip-fast),
        V(gzip) and V(gzip-slow) are zlib levels 1, 6 and 9.
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
  transfer:
    description:
      - How the disks travel.
      - V(direct) creates the copy without running the OS scripts and streams the disks from the source's node to
        the destination's node over TLS, with a key pair made for this one move, digested on both ends; it needs
        SSH access to both clusters' nodes (the C(node_access) option of M(ganeti.fleet.instance_move)), but neither a shared cluster domain secret nor the
        transfer fix.
      - V(ganeti) uses Ganeti's remote export and import, which need the shared cluster domain secret and, from
        Ganeti older than 3.1, the transfer fix.
    type: str
    choices: [direct, ganeti]
    default: direct
  verify:
    description:
      - What the commit of the move (the point after which the source may be removed) rests on.
      - V(content) compares the digest of every disk on the destination with the source's, computed on the nodes
        that hold them (BLAKE2b-256 of the disk's 1 MiB blocks' BLAKE2b-256); it needs SSH access to the nodes
        (the C(node_access) option of M(ganeti.fleet.instance_move)).
      - V(metadata) trusts Ganeti's job results, the disk sizes and the import's log, without comparing a byte;
        only with O(transfer=ganeti), and the result says so.
    type: str
    choices: [content, metadata]
    default: content
"""
