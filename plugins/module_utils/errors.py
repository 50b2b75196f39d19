# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's one exception root.

Every error the collection raises derives from :class:`FleetError`, whose
:meth:`~FleetError.to_result` gives the keyword arguments of ``fail_json``:
``msg`` and whatever details the error carries.  The module bases in
``module_base`` turn any ``FleetError`` into a failed task, merged with what
the module had already done (``changed``, ``job_ids``), so no module catches
errors only to report them.
"""

from __future__ import annotations

import contextlib


class FleetError(Exception):
    """An error with a complete message and result details for ``fail_json``.

    :param message: the whole message, naming the object, the cause and the fix.
    :param details: extra keys of the failed task's result (JSON-serialisable).
    """

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self):
        return self.message

    def to_result(self):
        """Keyword arguments for ``module.fail_json``."""
        result = dict(self.details)
        result["msg"] = self.message
        return result


class RapiError(FleetError):
    """The one error type raised by :class:`RapiClient`.

    ``str(error)`` is a complete, human readable message.  The attributes
    carry the details; those that do not apply are ``None``.

    :ivar message: the message (same as ``str(error)``).
    :ivar url: the cluster's RAPI URL (never with credentials).
    :ivar method: HTTP method of the failed request.
    :ivar path: request path, e.g. ``/2/instances/web1``.
    :ivar status_code: HTTP status of the failed request.
    :ivar explain: ``explain`` field of RAPI's error body.
    :ivar job_id: id of the job involved (string).
    :ivar job_status: last known status of that job.
    :ivar summary: the job's summary (list of opcode summaries).
    :ivar opresult: the job's raw ``opresult`` list.
    :ivar error_class: Ganeti error class of the failed opcode, e.g. ``OpPrereqError``.
    :ivar error_message: its message (HTML entities decoded).
    :ivar error_code: its error code, e.g. ``unknown_entity``.
    :ivar log: the job's log entries seen so far (list of dicts, see :func:`parse_log_entry`).
    :ivar timed_out: true when waiting for the job ran out of time (the job may still run).
    :ivar kind: short machine readable category: ``auth``, ``forbidden``,
        ``not_found``, ``http``, ``tls``, ``connection``, ``timeout``,
        ``invalid_response``, ``job_failed``, ``job_timeout``, ``config``.
    """

    def __init__(self, message, kind="http", url=None, method=None, path=None, status_code=None,
                 explain=None, job_id=None, job_status=None, summary=None, opresult=None,
                 error_class=None, error_message=None, error_code=None, log=None, timed_out=False):
        super().__init__(message)
        self.kind, self.url, self.method, self.path = kind, url, method, path
        self.status_code, self.explain = status_code, explain
        self.job_id = None if job_id is None else str(job_id)
        self.job_status, self.summary, self.opresult = job_status, summary, opresult
        self.error_class, self.error_message, self.error_code = error_class, error_message, error_code
        self.log = list(log or [])
        self.timed_out = timed_out

    def __str__(self):
        return self.message

    def __repr__(self):
        return "RapiError(%r, kind=%r, status_code=%r, job_id=%r)" % (
            self.message, self.kind, self.status_code, self.job_id)

    def log_tail(self, count=10):
        """Return the last ``count`` job log entries."""
        if count <= 0:
            return []
        return self.log[-count:]

    def to_result(self, log_tail=10):
        """Return a dictionary suitable for ``module.fail_json(**...)``."""
        result = dict(self.details)
        result["msg"] = self.message
        if self.status_code is not None:
            result["status_code"] = self.status_code
        if self.job_id is not None:
            result["job_id"] = self.job_id
            result["job_status"] = self.job_status
            result["job_log"] = self.log_tail(log_tail)
            if self.summary is not None:
                result["job_summary"] = self.summary
            if self.opresult is not None:
                result["opresult"] = self.opresult
        if self.error_class is not None:
            result["error"] = dict(
                error_class=self.error_class,
                message=self.error_message,
                code=self.error_code,
            )
        return result


@contextlib.contextmanager
def error_context(context):
    """Put CONTEXT, what the block was doing, before the message of a :class:`FleetError` it raises.

    The error keeps its class and details; its message becomes
    ``CONTEXT: MESSAGE``, for example ``Failed to migrate web1: Job 12 ...``.
    """
    try:
        yield
    except FleetError as exc:
        exc.message = "%s: %s" % (context, exc.message)
        raise
