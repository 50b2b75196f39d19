# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test-only stdout callback: the whole run as one JSON document.

ansible-core has no JSON stdout callback (it lives in ansible.posix); this
one writes the same shape (plays -> tasks -> hosts, and stats), so the
integration tests can read task results without extra collections.
"""

from __future__ import annotations

import json

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: fleet_json
type: stdout
short_description: The run as one JSON document (tests only)
description: Writes plays, tasks with per-host results, and stats as JSON at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fleet_json"

    def __init__(self, display=None):
        super().__init__(display)
        self.results = []

    def v2_playbook_on_play_start(self, play):
        self.results.append({"play": {"name": play.get_name(), "id": str(play._uuid)}, "tasks": []})

    def _task_entry(self, task):
        tasks = self.results[-1]["tasks"]
        if not tasks or tasks[-1]["task"]["id"] != str(task._uuid):
            tasks.append({"task": {"name": task.name or task.get_name(), "id": str(task._uuid)}, "hosts": {}})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_entry(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_entry(task)

    def _record(self, result, **flags):
        entry = self._task_entry(result._task)
        data = dict(result._result)
        data.update(flags)
        host = result._host.get_name()
        entry["hosts"][host] = data

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {}
        for host in sorted(stats.processed.keys()):
            summary[host] = stats.summarize(host)
        output = {"plays": self.results, "stats": summary}
        self._display.display(json.dumps(output, cls=AnsibleJSONEncoder, indent=2, sort_keys=True))
