#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The documentation of the action plugin plugins/action/async_wait.py, which
# runs on the controller; there is no module code.

from __future__ import annotations

DOCUMENTATION = r"""
module: async_wait
short_description: Wait for async jobs, one line of progress per finished job
version_added: 0.2.0
description:
  - Waits for jobs started with C(async) and C(poll) set to 0, polling each with M(ansible.builtin.async_status) itself,
    and prints one line on standard error when each job finishes (its label, result and seconds), instead of
    the C(FAILED - RETRYING) line that M(ansible.builtin.async_status) with C(until) prints on every poll.
  - Returns each job's result as M(ansible.builtin.async_status) gives it. Fails, listing them, when a job
    failed or still runs after O(timeout) seconds.
  - The C(ganeti.fleet.cluster_merge) role waits for its moves with it.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - It only reads the jobs' status.
  diff_mode:
    support: none
options:
  jobs:
    description: The jobs, each an async job id or the registered result of an async task (with C(ansible_job_id)).
    type: list
    elements: raw
    required: true
  labels:
    description: A label for each job, in the order of O(jobs), for the progress lines (default the job ids).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for all jobs, at most.
    type: int
    required: true
  poll:
    description: Seconds between two polls of the jobs still running.
    type: float
    default: 5.0
"""

EXAMPLES = r"""
- name: Start the moves
  ganeti.fleet.instance_move:
    source: {}
    destination: {}
    name: "{{ item }}"
  loop: [web1.example.org, web2.example.org]
  async: 8200
  poll: 0
  register: started

- name: Wait for them, one line per finished move
  ganeti.fleet.async_wait:
    jobs: "{{ started.results }}"
    labels: [web1.example.org, web2.example.org]
    timeout: 8200
"""

RETURN = r"""
results:
  description: Each job's result as M(ansible.builtin.async_status) gave it, plus C(label) and C(seconds).
  returned: always
  type: list
  elements: dict
"""
