# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ganeti jobs: following one through RAPI's long poll, and running a module's jobs.

:class:`JobWaiter` follows one job through ``GET /2/jobs/ID/wait``.
:class:`JobRunner` is how every module submits jobs: it records each job id
in the module's result and marks the result changed the moment Ganeti
accepted a job, so a failure of a later job still reports what changed.
"""

from __future__ import annotations

import html
import json
import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError

#: Seconds a module waits for one job (its ``wait_timeout`` default); long
#: enough for a migration or a disk transfer of a few tens of GiB.
DEFAULT_WAIT_TIMEOUT = 1800

#: Seconds the server blocks in ``GET /2/jobs/ID/wait`` (``_WFJC_TIMEOUT``).
SERVER_WAIT_SECONDS = 10

JOB_STATUS_SUCCESS = "success"
JOB_STATUS_ERROR = "error"
JOB_STATUS_CANCELING = "canceling"
JOB_STATUS_CANCELED = "canceled"
JOB_STATUS_QUEUED = "queued"
JOB_STATUS_WAITING = "waiting"
JOB_STATUS_RUNNING = "running"

#: Status values after which a job does not change any more (``canceling``
#: is included, as in Ganeti's own poll loop).
JOB_STATUS_FINALIZED = frozenset(
    [JOB_STATUS_SUCCESS, JOB_STATUS_ERROR, JOB_STATUS_CANCELING, JOB_STATUS_CANCELED]
)


def unescape(text):
    """Decode the HTML entities RAPI puts into its messages."""
    if not isinstance(text, str):
        return text
    return html.unescape(text)


def parse_log_entry(entry):
    """Turn a raw job log entry into a dictionary.

    RAPI sends ``[serial, [seconds, microseconds], type, message]``.  The
    result has the keys ``serial`` (int), ``timestamp`` (float seconds since
    the epoch), ``type`` (``message``, ``message-list``, ``remote-import``,
    ...) and ``message`` (a string, or structured data for some types).
    """
    if isinstance(entry, dict):
        return entry
    serial, stamp, log_type, message = (list(entry) + [None] * 4)[:4]
    timestamp = None
    if isinstance(stamp, (list, tuple)) and len(stamp) == 2:
        timestamp = stamp[0] + stamp[1] / 1000000.0
    elif isinstance(stamp, (int, float)):
        timestamp = float(stamp)
    if isinstance(message, str):
        message = unescape(message)
    return dict(serial=serial, timestamp=timestamp, type=log_type, message=message)


def decode_op_error(value):
    """Decode an encoded Ganeti error from a job's ``opresult``.

    Ganeti encodes exceptions as ``[class_name, args]``, for example
    ``["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]``.

    Returns ``(error_class, message, error_code)``; parts that cannot be
    found are ``None``.
    """
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str):
        error_class, args = value
        if isinstance(args, (list, tuple)):
            parts = list(args)
        else:
            parts = [args]
        message = None
        error_code = None
        if parts:
            message = parts[0] if isinstance(parts[0], str) else json.dumps(parts[0])
            if len(parts) > 1 and isinstance(parts[1], str):
                error_code = parts[1]
        return error_class, unescape(message), error_code
    if value is None:
        return None, None, None
    return None, unescape(value if isinstance(value, str) else json.dumps(value)), None


class JobWaiter:
    """Follows one job through ``GET /2/jobs/ID/wait`` long polls.

    Use :meth:`poll` step by step (e.g. to follow two jobs on two clusters
    at once) or :meth:`wait` to block until the job ends.
    """

    def __init__(self, client, job_id, on_log=None):
        self.client = client
        self.job_id = str(job_id)
        self.on_log = on_log
        self.status = None
        self.log = []
        self.finished = False
        self._prev_job_info = None
        self._prev_log_serial = None

    def poll(self):
        """Do one long poll; return the list of new log entries (dicts).

        Sets :attr:`status` and :attr:`finished`.  Calls ``on_log`` for every
        new entry.
        """
        if self.finished:
            return []
        started = time.monotonic()
        try:
            answer = self.client.wait_for_job_change(
                self.job_id, self._prev_job_info, self._prev_log_serial)
        except RapiError as exc:
            exc.job_id = exc.job_id or self.job_id
            exc.job_status = exc.job_status or self.status
            if not exc.log:
                exc.log = list(self.log)
            raise
        if answer is None:
            interval = self.client.min_wait_interval
            elapsed = time.monotonic() - started
            if interval and elapsed < interval:
                time.sleep(interval - elapsed)
            return []
        if not isinstance(answer, dict):
            raise RapiError(
                "Unexpected answer while waiting for job %s: %r" % (self.job_id, answer),
                kind="invalid_response", url=self.client.url, job_id=self.job_id,
                log=self.log)
        job_info = answer.get("job_info")
        if isinstance(job_info, list) and job_info:
            self._prev_job_info = job_info
            self.status = job_info[0]
        new_entries = []
        for raw in answer.get("log_entries") or []:
            entry = parse_log_entry(raw)
            serial = entry.get("serial")
            if isinstance(serial, int):
                if self._prev_log_serial is not None and serial <= self._prev_log_serial:
                    continue
                self._prev_log_serial = serial
            new_entries.append(entry)
        for entry in new_entries:
            self.log.append(entry)
            if self.on_log is not None:
                self.on_log(entry)
        if self.status in JOB_STATUS_FINALIZED and not new_entries:
            self.finished = True
        return new_entries

    def wait(self, timeout=DEFAULT_WAIT_TIMEOUT, on_poll=None):
        """Poll until the job ends, then return :meth:`result`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout_error(timeout)
            self.poll()
            if on_poll is not None:
                on_poll(self)
        return self.result()

    def _timeout_error(self, timeout):
        summary = None
        try:
            job = self.client.get_job(self.job_id) or {}
            self.status = job.get("status", self.status)
            summary = job.get("summary")
        except RapiError:
            pass
        last = ""
        if self.log:
            last = " Last log entry: %s" % _log_text(self.log[-1])
        return RapiError(
            "Timed out after %s s waiting for job %s on %s (status: %s); the job may "
            "still be running.%s" % (timeout, self.job_id, self.client.url, self.status, last),
            kind="job_timeout", url=self.client.url, job_id=self.job_id,
            job_status=self.status, summary=summary, log=self.log, timed_out=True)

    def result(self):
        """Read the finished job (``GET /2/jobs/ID``) and return its result dict.

        :raises RapiError: if the job did not succeed.
        """
        job = self.client.get_job(self.job_id) or {}
        status = job.get("status", self.status)
        self.status = status
        if not self.log and job.get("oplog"):
            for op_log in job.get("oplog") or []:
                for raw in op_log or []:
                    self.log.append(parse_log_entry(raw))
        result = dict(
            job_id=self.job_id,
            status=status,
            opstatus=job.get("opstatus"),
            opresult=job.get("opresult"),
            summary=job.get("summary"),
            log=list(self.log),
            received_ts=job.get("received_ts"),
            start_ts=job.get("start_ts"),
            end_ts=job.get("end_ts"),
        )
        if status == JOB_STATUS_SUCCESS:
            return result
        raise job_failure(self.client.url, self.job_id, job, self.log)


def job_failure(url, job_id, job, log=None):
    """Build the :class:`RapiError` for a job that did not succeed."""
    status = job.get("status")
    opstatus = job.get("opstatus") or []
    opresult = job.get("opresult") or []
    summary = job.get("summary")
    error_class = error_message = error_code = None
    failed_index = None
    for index, op_status in enumerate(opstatus):
        if op_status == JOB_STATUS_ERROR:
            failed_index = index
            break
    if failed_index is not None and failed_index < len(opresult):
        error_class, error_message, error_code = decode_op_error(opresult[failed_index])
    what = "Job %s" % job_id
    if summary:
        what += " (%s)" % ", ".join(str(s) for s in summary)
    if status in (JOB_STATUS_CANCELED, JOB_STATUS_CANCELING):
        text = "%s on %s was canceled" % (what, url)
    elif error_message is not None:
        detail = "%s: %s" % (error_class, error_message) if error_class else error_message
        if error_code:
            detail += " [%s]" % error_code
        text = "%s on %s failed: %s" % (what, url, detail)
    else:
        text = "%s on %s ended with status %s" % (what, url, status)
    return RapiError(
        text, kind="job_failed", url=url, job_id=job_id, job_status=status, summary=summary,
        opresult=opresult, error_class=error_class, error_message=error_message,
        error_code=error_code, log=log)


def _log_text(entry):
    message = entry.get("message")
    if isinstance(message, str):
        return message
    return json.dumps(message)


class JobRunner:
    """Submits a module's jobs, waits for them, and keeps the module's result true.

    Every job id goes into ``result["job_ids"]`` and ``result["changed"]``
    becomes true the moment Ganeti accepts a job that is not a dry run, so
    when a later job fails the failed task still says what changed.  Errors
    propagate; the module base merges ``result`` into the failure.

    :param client: the :class:`RapiClient` the jobs go to.
    :param result: the module's result dict (``job_ids`` is created).
    :param wait: follow each job to its end (a module's ``wait`` option).
    :param timeout: seconds to wait for each job (its ``wait_timeout``).
    """

    def __init__(self, client, result, wait=True, timeout=DEFAULT_WAIT_TIMEOUT):
        self.client = client
        self.result = result
        self.wait = wait
        self.timeout = timeout
        result.setdefault("job_ids", [])

    def submitted(self, job_id, dry_run=False):
        """Record a job the caller submitted itself; return its id."""
        job_id = str(job_id)
        self.result["job_ids"].append(job_id)
        if not dry_run:
            self.result["changed"] = True
        return job_id

    def run(self, submit, *args, **kwargs):
        """Call ``submit(*args, **kwargs)`` (a client method returning a job id), record it and wait.

        The keyword ``dry_run`` is passed on and keeps ``changed`` false.
        Returns the job's result dict (see :meth:`JobWaiter.result`), or
        ``None`` when not waiting.
        """
        job_id = self.submitted(submit(*args, **kwargs), dry_run=kwargs.get("dry_run", False))
        if not self.wait:
            return None
        return self.client.wait_for_job(job_id, timeout=self.timeout)

    def follow(self, job_id):
        """Record and wait for a job Ganeti started on its own (one of an evacuation's), changing the cluster."""
        return self.run(str, job_id)
