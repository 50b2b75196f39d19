# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options of modules that start or follow Ganeti jobs.

    ``DOCUMENTATION`` (``wait_timeout``) goes with every such module;
    ``WAIT`` (``wait``) only with those that can return before their jobs end.
    """

    DOCUMENTATION = r"""
options:
  wait_timeout:
    description:
      - How many seconds to wait for each Ganeti job the module follows.
      - When the time is up the module fails and reports the job id; the job itself keeps running.
      - Waiting needs a RAPI user with C(write) access (Ganeti restricts C(/2/jobs/ID/wait) to such users).
    type: int
    default: 1800
"""

    WAIT = r"""
options:
  wait:
    description:
      - Wait for the Ganeti jobs the module starts to finish (each for at most O(wait_timeout) seconds), and fail
        if one of them fails.
      - With V(false) the module returns as soon as the jobs are submitted; their ids are in RV(job_ids)
        and M(ganeti.fleet.job) can wait for them later.
    type: bool
    default: true
"""
