#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_info
short_description: Read information about a Ganeti cluster through RAPI
version_added: 0.1.0
description:
  - Returns the cluster information of C(GET /2/info), the RAPI protocol version (C(GET /version))
    and the optional RAPI features the cluster implements (C(GET /2/features)).
  - The Ganeti software version is also returned as a list of integers, handy for version comparisons.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.attributes.info_module
options: {}
"""

EXAMPLES = r"""
# The connection comes from the environment: GANETI_RAPI_URL, GANETI_RAPI_USER,
# GANETI_RAPI_PASSWORD, GANETI_RAPI_CA_PATH and, for Ganeti's stock certificate
# (issued to ganeti.example.com), GANETI_RAPI_VERIFY_HOSTNAME=false.
- name: Inspect a Ganeti cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/ganeti.fleet.rapi:
      timeout: 30
  tasks:
    - name: Read cluster information
      ganeti.fleet.cluster_info:
      register: cluster

    - name: Show the Ganeti version and the master node
      ansible.builtin.debug:
        msg: "{{ cluster.cluster.name }} runs Ganeti {{ cluster.software_version }}, master {{ cluster.cluster.master }}"

    - name: Require Ganeti 3.0 or later
      ansible.builtin.assert:
        that:
          - cluster.software_version is ansible.builtin.version('3.0', '>=')
          - "'instance-create-reqv1' in cluster.features"

    - name: Read the same cluster with explicit connection options
      ganeti.fleet.cluster_info:
        rapi_url: "{{ lookup('ansible.builtin.env', 'GANETI_RAPI_URL') }}"
        rapi_user: "{{ lookup('ansible.builtin.env', 'GANETI_RAPI_USER') }}"
        rapi_password: "{{ lookup('ansible.builtin.env', 'GANETI_RAPI_PASSWORD') }}"
      register: again
"""

RETURN = r"""
cluster:
  description:
    - Cluster information as returned by C(GET /2/info).
    - The keys depend on the Ganeti version; the most useful ones are listed here.
  returned: success
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      sample: cluster1.example.org
    master:
      description: Name of the master node.
      type: str
      sample: node1.example.org
    software_version:
      description: Ganeti version.
      type: str
      sample: 3.0.2
    enabled_hypervisors:
      description: Hypervisors enabled on the cluster.
      type: list
      elements: str
      sample: [kvm]
    enabled_disk_templates:
      description: Disk templates enabled on the cluster.
      type: list
      elements: str
      sample: [drbd, plain]
    default_iallocator:
      description: Default instance allocator, empty if none.
      type: str
      sample: hail
    tags:
      description: Cluster tags.
      type: list
      elements: str
      sample: [env:prod]
  sample:
    name: cluster1.example.org
    master: node1.example.org
    software_version: 3.0.2
rapi_version:
  description: RAPI protocol version (C(GET /version)), V(2) for every supported Ganeti.
  returned: success
  type: int
  sample: 2
features:
  description: Optional RAPI features (C(GET /2/features)); empty on servers without that resource.
  returned: success
  type: list
  elements: str
  sample: [instance-create-reqv1, instance-reinstall-reqv1, node-migrate-reqv1, node-evac-res1]
software_version:
  description: Ganeti software version of the cluster.
  returned: success
  type: str
  sample: 3.0.2
software_version_info:
  description: The software version as a list of integers.
  returned: success
  type: list
  elements: int
  sample: [3, 0, 2]
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils._ganeti_version import parse_version


def run(module, client):
    info = client.get_info() or {}
    software_version = info.get("software_version")
    return dict(
        cluster=info,
        rapi_version=client.get_version(),
        features=client.get_features(),
        software_version=software_version,
        software_version_info=list(parse_version(software_version)),
    )


def main():
    RapiModule().run(run)


if __name__ == "__main__":
    main()
