# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.ganeti.fleet.plugins.action import async_wait


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def scripted(finish_at, clock, outcomes):
    """A status function: job J finishes at FINISH_AT[J] seconds with OUTCOMES[J]."""
    polls = []

    def status(jid):
        polls.append(jid)
        if clock() >= finish_at[jid]:
            return dict(outcomes[jid], finished=1, started=1, ansible_job_id=jid)
        return {"finished": 0, "started": 1, "ansible_job_id": jid}
    return status, polls


def test_one_line_per_finished_job_in_the_order_they_finish():
    clock = Clock()
    status, polls = scripted({"j1": 12, "j2": 4}, clock,
                             {"j1": {"changed": True}, "j2": {"failed": True, "msg": "no room"}})
    lines = []
    results = async_wait.wait_for_jobs(["j1", "j2"], ["vm01", "vm02"], status, 100, 2, lines.append,
                                       clock=clock, sleep=clock.sleep)
    assert lines == ["[1/2] vm02: failed in 4 s: no room", "[2/2] vm01: changed in 12 s"]
    assert [r["label"] for r in results] == ["vm01", "vm02"]
    assert results[0]["changed"] and results[0]["seconds"] == 12 and results[1]["failed"]
    # A finished job is not asked again.
    assert polls.count("j2") == 3 and polls.count("j1") == 7


def test_a_job_still_running_at_the_timeout_is_returned_failed():
    clock = Clock()
    status, _polls = scripted({"j1": 1, "j2": 10 ** 6}, clock, {"j1": {}, "j2": {}})
    lines = []
    results = async_wait.wait_for_jobs(["j1", "j2"], ["vm01"], status, 30, 5, lines.append,
                                       clock=clock, sleep=clock.sleep)
    assert lines == ["[1/2] vm01: ok in 5 s"]
    assert results[1] == {"ansible_job_id": "j2", "label": "j2", "finished": False, "failed": True, "seconds": 30,
                          "msg": "job j2 (j2) still runs after 30 s"}


def test_an_unknown_job_ends_the_wait_for_it():
    clock = Clock()
    results = async_wait.wait_for_jobs(["j1"], [], lambda jid: {"failed": True, "msg": "could not find job"},
                                       10, 1, lambda line: None, clock=clock, sleep=clock.sleep)
    assert results[0]["failed"] and clock.now == 0


def test_jobs_are_async_results_or_ids():
    assert async_wait.job_ids([{"ansible_job_id": "1.2", "item": "x"}, "3.4"]) == ["1.2", "3.4"]
    with pytest.raises(AnsibleActionFail, match="poll: 0"):
        async_wait.job_ids([{"changed": True}])
