# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: free_low_cpu
short_description: The free strategy, checking on its workers every 20 ms instead of every millisecond
version_added: 0.1.0
description:
  - Runs the play like P(ansible.builtin.free#strategy) does (each host goes through its tasks as fast as it can), but the
    controller checks on its workers every O(poll_interval) seconds instead of every millisecond (Ansible's
    C(internal_poll_interval)).
  - Meant for plays whose tasks take many seconds each, such as instance moves. Ansible's main process otherwise
    wakes up a thousand times a second while it waits, each time checking every worker process; while eight
    moves ran it used 10.6 s of CPU in 67 s, which the Ganeti jobs on the same machine had to share.
  - A larger C(internal_poll_interval) in C(ansible.cfg) is kept.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
options:
  poll_interval:
    description: Seconds between two checks on the workers while the play runs.
    type: float
    default: 0.02
    env:
      - name: GANETI_FLEET_STRATEGY_POLL_INTERVAL
"""

import os

from ansible import constants as C
from ansible.plugins.strategy.free import StrategyModule as FreeStrategyModule

DEFAULT_POLL_INTERVAL = 0.02


class StrategyModule(FreeStrategyModule):
    """The free strategy with a longer sleep between its polls of the workers."""

    def run(self, iterator, play_context):
        # The free strategy and StrategyBase read this constant each time they sleep.
        previous = C.DEFAULT_INTERNAL_POLL_INTERVAL
        C.DEFAULT_INTERNAL_POLL_INTERVAL = max(previous, self._poll_interval())
        try:
            return super().run(iterator, play_context)
        finally:
            C.DEFAULT_INTERNAL_POLL_INTERVAL = previous

    @staticmethod
    def _poll_interval():
        try:
            return float(os.environ.get("GANETI_FLEET_STRATEGY_POLL_INTERVAL", DEFAULT_POLL_INTERVAL))
        except ValueError:
            return DEFAULT_POLL_INTERVAL
