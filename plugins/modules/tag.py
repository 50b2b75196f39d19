#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tag
short_description: Manage tags of Ganeti clusters, node groups, nodes and instances through RAPI
version_added: 0.1.0
description:
  - Adds tags to, or removes tags from, the cluster, a node group, a node or an instance.
  - Only the missing tags are added and only the present ones removed, so a second run reports no change.
  - Tags are checked against Ganeti's rules before anything is sent. A tag has at most 128 characters, made of
    letters, digits and the characters C(.), C(+), C(*), C(/), C(:), C(@), C(-) and C(_).
  - Every change is a Ganeti job (C(PUT) or C(DELETE) on the object's C(tags) resource); removals are
    sent before additions.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.job
  - ganeti.fleet.job.wait
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode only the current tags are read; nothing is written and no job is submitted.
  diff_mode:
    support: full
    details:
      - The diff shows the sorted tag list before and after.
options:
  kind:
    description:
      - Kind of object whose tags are managed.
    type: str
    choices: [cluster, group, node, instance]
    required: true
  name:
    description:
      - Name of the node group, node or instance.
      - Required unless O(kind=cluster); must not be given for the cluster.
      - Nodes and instances need their full name as Ganeti knows it.
    type: str
  tags:
    description:
      - The tags to add (O(state=present)) or remove (O(state=absent)).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) makes sure the O(tags) are set.
      - V(absent) makes sure none of the O(tags) is set.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove every tag of the object that is not in O(tags).
      - O(tags=[]) together with O(purge=true) removes all tags.
      - Ignored with O(state=absent).
    type: bool
    default: false
"""

EXAMPLES = r"""
# Writing tags needs a RAPI user with write access.
- name: Manage Ganeti tags
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Tag the cluster
      ganeti.fleet.tag:
        kind: cluster
        tags:
          - env:lab
          - managed-by:ansible

    - name: Find the nodes
      ganeti.fleet.node_info:
      register: nodes

    - name: Tag the first node, and keep only these tags
      ganeti.fleet.tag:
        kind: node
        name: "{{ nodes.nodes[0].name }}"
        tags:
          - rack:a1
        purge: true

    - name: Tag the default node group
      ganeti.fleet.tag:
        kind: group
        name: default
        tags:
          - site:lab

    - name: Remove a tag from the cluster
      ganeti.fleet.tag:
        kind: cluster
        tags:
          - env:lab
        state: absent
"""

RETURN = r"""
tags:
  description:
    - The object's tags after the change (sorted), read back from the cluster when the jobs were waited for.
    - In check mode, or with O(wait=false), the expected tags.
  returned: success
  type: list
  elements: str
  sample: [env:lab, managed-by:ansible]
added:
  description: Tags that were (or in check mode would be) added.
  returned: success
  type: list
  elements: str
  sample: [managed-by:ansible]
removed:
  description: Tags that were (or in check mode would be) removed.
  returned: success
  type: list
  elements: str
  sample: []
job_ids:
  description: Ids of the Ganeti jobs submitted, removal first. Empty when nothing had to change or in check mode.
  returned: success
  type: list
  elements: str
  sample: ["4711"]
jobs:
  description: Result of each job (status, summary, opresult, log) when O(wait=true).
  returned: when jobs were submitted and O(wait=true)
  type: list
  elements: dict
diff:
  description: Tags before and after, when running with C(--diff).
  returned: when diff mode is enabled
  type: dict
  sample:
    before:
      tags: [env:lab]
    after:
      tags: [env:lab, managed-by:ansible]
job_id:
  description: Id of the job that failed or timed out.
  returned: failure
  type: str
job_log:
  description: Last entries of the log of the job that failed.
  returned: failure
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import plan_tag_change, validate_tags

#: What the module returns of each job it waited for.
JOB_KEYS = ("job_id", "status", "summary", "opresult", "log")


def check_params(params):
    """Return an error message for inconsistent parameters, or ``None``."""
    kind = params["kind"]
    if kind == "cluster" and params.get("name"):
        return "name must not be given when kind=cluster"
    if kind != "cluster" and not params.get("name"):
        return "name is required when kind=%s" % kind
    problems = validate_tags(params.get("tags") or [])
    if problems:
        return "Invalid tags: %s" % "; ".join(problems)
    return None


def run(module, client):
    params = module.params
    problem = check_params(params)
    if problem:
        raise FleetError(problem)
    kind = params["kind"]
    name = params["name"] if kind != "cluster" else None

    plan = plan_tag_change(client.get_tags(kind, name), params["tags"],
                           state=params["state"], purge=params["purge"])
    result = module.result
    result.update(changed=plan["changed"], tags=plan["after"], added=plan["add"], removed=plan["remove"], job_ids=[])
    if module._diff:
        result["diff"] = dict(before=dict(tags=plan["before"]), after=dict(tags=plan["after"]))
    if not plan["changed"] or module.check_mode:
        return

    jobs = []
    for change, tags in ((client.remove_tags, plan["remove"]), (client.add_tags, plan["add"])):
        if tags:
            job = module.jobs.run(change, kind, name, tags)
            if job is not None:
                jobs.append(dict((key, job[key]) for key in JOB_KEYS))
    if params["wait"]:
        result["jobs"] = jobs
        result["tags"] = sorted(client.get_tags(kind, name))


def main():
    RapiModule(argument_spec=dict(
        kind=dict(type="str", required=True, choices=["cluster", "group", "node", "instance"]),
        name=dict(type="str"),
        tags=dict(type="list", elements="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        purge=dict(type="bool", default=False),
    ), jobs=True).run(run)


if __name__ == "__main__":
    main()
