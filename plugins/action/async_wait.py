# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action ganeti.fleet.async_wait: wait for async jobs, one line of progress per finished job.

``ansible.builtin.async_status`` with ``until``/``retries`` prints a
"FAILED - RETRYING" line on every poll. This action polls the jobs itself
(running ``ansible.builtin.async_status`` through ``_execute_module``) and
prints one line when each job finishes (its label, result and seconds), so a
terminal and an AWX job log both show progress while it waits.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

ARGUMENT_SPEC = {
    "jobs": {"type": "list", "elements": "raw", "required": True},
    "labels": {"type": "list", "elements": "str", "default": []},
    "timeout": {"type": "int", "required": True},
    "poll": {"type": "float", "default": 5.0},
}


def job_ids(jobs):
    """The async job id of each entry of JOBS: a job id, or the registered result of an async task."""
    ids = []
    for job in jobs:
        jid = job.get("ansible_job_id") if isinstance(job, dict) else job
        if not jid:
            raise AnsibleActionFail("async_wait: %r is neither an async job id nor the result of an async task "
                                    "(no ansible_job_id; was the task started with async and poll: 0?)" % (job,))
        ids.append(str(jid))
    return ids


def outcome(result):
    """One word for a finished job's RESULT: failed, changed or ok."""
    if result.get("failed"):
        return "failed"
    return "changed" if result.get("changed") else "ok"


def progress_line(label, result, seconds, done, total):
    """The line printed when the job LABEL finished."""
    line = "[%d/%d] %s: %s in %d s" % (done, total, label, outcome(result), round(seconds))
    if result.get("failed") and result.get("msg"):
        line += ": %s" % result["msg"]
    return line


def wait_for_jobs(ids, labels, status, timeout, poll, report, clock=time.monotonic, sleep=time.sleep):
    """Poll STATUS(jid) for every job of IDS until all finished or TIMEOUT seconds passed.

    REPORT gets one line per finished job. Returns the jobs' results in the
    order of IDS, each as async_status gave it plus ``label`` and ``seconds``;
    a job still running at the timeout is returned unfinished (``finished``
    false, ``failed`` true, ``msg`` says so).
    """
    labels = list(labels) + list(ids[len(labels):])
    start = clock()
    results = {}
    while True:
        for jid, label in zip(ids, labels):
            if jid in results:
                continue
            result = dict(status(jid))
            if result.get("finished") or (result.get("failed") and "finished" not in result):
                result.update(label=label, seconds=round(clock() - start, 1))
                results[jid] = result
                report(progress_line(label, result, result["seconds"], len(results), len(ids)))
        if len(results) == len(ids):
            break
        if clock() - start >= timeout:
            for jid, label in zip(ids, labels):
                if jid not in results:
                    results[jid] = {"ansible_job_id": jid, "label": label, "finished": False, "failed": True,
                                    "seconds": round(clock() - start, 1),
                                    "msg": "job %s (%s) still runs after %d s" % (jid, label, timeout)}
            break
        sleep(poll)
    return [results[jid] for jid in ids]


class ActionModule(ActionBase):
    """Wait for async jobs started with ``poll: 0``; return each one's result as async_status does."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        ids = job_ids(args["jobs"])
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))

        def status(jid):
            answer = self._execute_module(module_name="ansible.builtin.async_status", task_vars=task_vars,
                                          module_args={"jid": jid, "mode": "status", "_async_dir": async_dir})
            answer["ansible_job_id"] = jid
            return answer

        # Progress goes to stderr: stdout stays the callback's alone, so a
        # machine-readable stdout callback (json) is not interleaved.
        def report(line):
            display.display(line, stderr=True)

        report("Waiting for %d job(s): %s" % (len(ids), ", ".join(args["labels"] or ids)))
        results = wait_for_jobs(ids, args["labels"], status, args["timeout"], args["poll"], report)
        failed = [r["label"] for r in results if r.get("failed")]
        result.update(results=results, changed=any(r.get("changed") for r in results), failed=bool(failed))
        if failed:
            result["msg"] = "%d of %d job(s) failed: %s" % (len(failed), len(results), "; ".join(
                "%s: %s" % (r["label"], r.get("msg", "failed")) for r in results if r.get("failed")))
        return result
