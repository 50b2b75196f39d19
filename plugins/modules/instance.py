#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: instance
short_description: Manage a Ganeti instance's existence, run state, name and tags through RAPI
version_added: 0.1.0
description:
  - Makes sure an instance exists (created from O(spec)) or does not, is running or stopped, has a given name,
    and carries given tags.
  - Reads the instance first and only submits the jobs needed, so a second run reports no change.
  - O(require_tags) guards removals. An instance that lacks one of them is never removed, which is how a move
    makes sure it only ever deletes an instance it created itself.
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
      - In check mode the instance is only read; the result says what would change.
  diff_mode:
    support: full
    details:
      - The diff shows existence, name, admin state, run state and tags before and after.
options:
  name:
    description:
      - Name of the instance.
      - With O(new_name), the current name; if only O(new_name) exists, the rename is considered done.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the instance exists (creating it from O(spec) when missing).
      - V(absent) removes it.
      - V(started) and V(stopped) make sure it exists and is running or stopped (admin state and run state).
    type: str
    choices: [present, absent, started, stopped]
    default: present
  spec:
    description:
      - Instance specification used when the instance must be created, a C(POST /2/instances) body
        (request version 1), with C(disk_template), C(disks), C(nics), C(os), C(pnode) or C(iallocator), C(beparams)...
      - The instance name is O(name) (or O(new_name)); C(start) follows O(state).
    type: dict
  new_name:
    description:
      - Rename the instance to this name. Ganeti renames only stopped instances; the module stops the instance,
        renames it and starts it again when it was running and O(state) does not say otherwise.
    type: str
  tags:
    description: Tags the instance must have.
    type: list
    elements: str
  purge_tags:
    description: Remove the tags that are not in O(tags).
    type: bool
    default: false
  require_tags:
    description:
      - With O(state=absent), remove the instance only if it has every one of these tags; otherwise fail and
        change nothing.
    type: list
    elements: str
  shutdown_timeout:
    description: Seconds Ganeti waits for a clean shutdown before stopping the instance forcibly.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Manage instances
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Make sure vm01 is running
      ganeti.fleet.instance:
        name: vm01.lab
        state: started

    - name: Stop it and tag it
      ganeti.fleet.instance:
        name: vm01.lab
        state: stopped
        tags: [retired]

    - name: Remove it, but only if it is the copy a move created
      ganeti.fleet.instance:
        name: vm01.lab
        state: absent
        require_tags: ["ganeti-fleet:move-id:0123456789abcdef"]
"""

RETURN = r"""
instance:
  description: The instance as RAPI shows it after the change (absent when removed or in check mode).
  returned: when the instance exists at the end and not in check mode
  type: dict
actions:
  description: What was (or in check mode would be) done, in order.
  returned: success
  type: list
  elements: str
  sample: [shutdown, rename to vm02.lab, startup]
job_ids:
  description: Ids of the jobs submitted, also when a later one failed.
  returned: always
  type: list
  elements: str
diff:
  description: Before and after (exists, name, admin_state, running, tags).
  returned: when diff mode is enabled
  type: dict
job_id:
  description: Id of the job that failed.
  returned: failure
  type: str
job_log:
  description: Last log entries of the job that failed.
  returned: failure
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import plan_tag_change, validate_tags


def view(instance):
    if instance is None:
        return {"exists": False}
    return {"exists": True, "name": instance["name"], "admin_state": instance.get("admin_state"),
            "running": bool(instance.get("oper_state")), "tags": sorted(instance.get("tags") or [])}


def plan(params, instance, renamed):
    """List of (action, argument) to reach the wanted state, and the expected view after."""
    state = params["state"]
    actions = []
    after = dict(view(instance))
    if state == "absent":
        if instance is not None:
            actions.append(("remove", instance["name"]))
            after = {"exists": False}
        return actions, after
    if instance is None:
        if not params["spec"]:
            raise FleetError("instance %s does not exist and no spec is given to create it"
                             % (params["new_name"] or params["name"]))
        name = params["new_name"] or params["name"]
        actions.append(("create", name))
        if state == "started" and params["spec"].get("no_install"):
            # Ganeti does not start an instance created without installing it.
            actions.append(("startup", name))
        after = {"exists": True, "name": name, "admin_state": "up" if state == "started" else "down",
                 "running": state == "started", "tags": sorted(params["tags"] or [])}
        return actions, after
    running = after["running"]
    if params["new_name"] and not renamed:
        if running or after["admin_state"] == "up":
            actions.append(("shutdown", instance["name"]))
        actions.append(("rename", params["new_name"]))
        after["name"] = params["new_name"]
        if running and state != "stopped":
            actions.append(("startup", params["new_name"]))
        after["admin_state"] = "up" if running and state != "stopped" else "down"
        after["running"] = running and state != "stopped"
    name = after["name"]
    if state == "started" and not (after["running"] and after["admin_state"] == "up"):
        actions.append(("startup", name))
        after["running"], after["admin_state"] = True, "up"
    elif state == "stopped" and (after["running"] or after["admin_state"] != "down"):
        actions.append(("shutdown", name))
        after["running"], after["admin_state"] = False, "down"
    if params["tags"] is not None:
        change = plan_tag_change(after["tags"], params["tags"], purge=params["purge_tags"])
        if change["remove"]:
            actions.append(("remove_tags", change["remove"]))
        if change["add"]:
            actions.append(("add_tags", change["add"]))
        after["tags"] = change["after"]
    return actions, after


def describe(action, argument):
    if action in ("add_tags", "remove_tags"):
        return "%s %s" % (action.replace("_", " "), ", ".join(argument))
    return "%s %s" % (action, argument)


def run(module, client):
    params = module.params
    result = module.result
    result.update(actions=[], job_ids=[])
    problems = validate_tags((params["tags"] or []) + (params["require_tags"] or []))
    if problems:
        raise FleetError("Invalid tags: %s" % "; ".join(problems))
    instance = client.get_instance(params["name"], missing_ok=True)
    renamed = False
    if params["new_name"] and params["new_name"] != params["name"]:
        target = client.get_instance(params["new_name"], missing_ok=True)
        if instance is None and target is not None:
            instance, renamed = target, True
        elif instance is not None and target is not None:
            raise FleetError("cannot rename %s to %s: an instance named %s already exists"
                             % (params["name"], params["new_name"], params["new_name"]))
    elif params["new_name"]:
        renamed = True
    if params["state"] == "absent" and instance is not None and params["require_tags"]:
        missing = [t for t in params["require_tags"] if t not in (instance.get("tags") or [])]
        if missing:
            raise FleetError("refusing to remove instance %s: it does not have the tag(s) %s, so it is not the "
                             "instance this task may remove" % (instance["name"], ", ".join(missing)))
    before = view(instance)
    actions, after = plan(params, instance, renamed)
    result["actions"] = [describe(action, argument) for action, argument in actions]
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if module.check_mode or not actions:
        if not module.check_mode and after.get("exists"):
            result["instance"] = instance
        return dict(changed=bool(actions))
    for action, argument in actions:
        module.jobs.run(*job_call(client, params, action, argument))
    if after.get("exists"):
        result["instance"] = client.get_instance(after["name"])
    return None


def job_call(client, params, action, argument):
    """The client call (method and arguments) that starts the job of one planned action."""
    if action == "remove":
        return client.remove_instance, argument, params["shutdown_timeout"]
    if action == "create":
        body = dict(params["spec"])
        body.update({"__version__": 1, "name": argument,
                     "start": params["state"] == "started" and not body.get("no_install")})
        body.setdefault("mode", "create")
        if params["tags"]:
            body["tags"] = sorted(set(body.get("tags") or []) | set(params["tags"]))
        return client.create_instance, body
    if action == "shutdown":
        return client.shutdown_instance, argument, params["shutdown_timeout"]
    if action == "startup":
        return client.startup_instance, argument
    if action == "rename":
        return client.rename_instance, params["name"], argument
    name = params["new_name"] or params["name"]
    if action == "add_tags":
        return client.add_tags, "instance", name, argument
    return client.remove_tags, "instance", name, argument


def main():
    RapiModule(argument_spec=dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "started", "stopped"]),
        spec=dict(type="dict"),
        new_name=dict(type="str"),
        tags=dict(type="list", elements="str"),
        purge_tags=dict(type="bool", default=False),
        require_tags=dict(type="list", elements="str"),
        shutdown_timeout=dict(type="int", default=120),
        wait_timeout=job_argument_spec()["wait_timeout"],
    )).run(run)


if __name__ == "__main__":
    main()
