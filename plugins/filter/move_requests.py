# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: move_requests
short_description: One move request per instance of a list of moves, with shared defaults
version_added: 0.1.0
description:
  - Turns the list of moves of the C(ganeti.fleet.move_instances) playbook (instance names, or dicts with C(name) and
    move options) and the defaults of every move into one request per instance, each with the inventory host
    name of its move.
  - Fails naming the entry when an entry is neither a name nor a dict with C(name), or when an instance or a
    destination name is listed twice.
  - The move options themselves are checked by M(ganeti.fleet.instance_move), so that an unknown option fails
    only its own move.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
positional: defaults
options:
  _input:
    description: The moves, each an instance name or a dict with C(name) and the options of its move.
    type: list
    elements: raw
    required: true
  defaults:
    description: The move options of every instance; an entry's own keys win.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: One host per move
  ansible.builtin.add_host:
    name: "{{ item.host }}"
    groups: [ganeti_moves]
    instance_move_request: "{{ item.request }}"
  loop: "{{ ['web1.example.org', {'name': 'db1.example.org', 'new_name': 'db9.example.org'}]
            | ganeti.fleet.move_requests({'source_policy': 'keep'}) }}"
"""

RETURN = r"""
_value:
  description: One entry per move, in the order of the input.
  type: list
  elements: dict
  contains:
    host:
      description: The inventory host name of the move, C(move_) and the instance name.
      type: str
    request:
      description: The defaults, overridden by the entry's own keys.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import MoveError, listed_requests


def move_requests(instances, defaults=None):
    try:
        return listed_requests(instances, defaults)
    except MoveError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self):
        return {"move_requests": move_requests}
