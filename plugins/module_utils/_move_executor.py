# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster moves: carrying out the plan of one move. Internal use only.

:func:`run_move` plans the move (``_move_plan.plan_move``), then runs the
transfer (import, export), verifies the copy (the commit point) and finishes
the move on both clusters. A failure before the commit point removes the
copy this move created and restores the source, then :class:`MoveFailed`
names the step.
"""

from __future__ import annotations

import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel
from ansible_collections.ganeti.fleet.plugins.module_utils._move_checks import describe_failures
from ansible_collections.ganeti.fleet.plugins.module_utils._move_plan import (
    PHASE_DONE,
    PHASE_NEW,
    PHASE_REMNANT,
    MoveError,
    import_warnings,
    plan_move,
    prepare_export,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_MOVE_ID, TAG_MOVED_TO, TAG_PENDING


class MoveFailed(MoveError):
    """A move failed at a named step; what it created was removed and the source restored.

    Its result (``to_result``) has ``step``, ``cleanup`` (sentences saying
    what was undone), ``job_id`` and ``job_log`` (the last ten entries).
    """

    def __init__(self, message, step, cleanup=None, job_id=None, log=None):
        log = list(log or [])
        super().__init__(message, step=step, cleanup=list(cleanup or []), job_id=job_id, job_log=log[-10:])
        self.step = step
        self.cleanup = self.details["cleanup"]
        self.job_id = job_id
        self.log = log

    def of_move(self, name):
        return self  # its message names the move already


class StepFailed(MoveError):
    """An error of one step of the transfer, with the step's name (``move_step``)."""

    def __init__(self, step, error):
        super().__init__(str(error))
        self.move_step = step
        self.error = error


def run_move(src, dst, request, probe=False, shutdown_timeout=120, transfer_timeout=7200,
             check_mode=False, report=None):
    """Plan and, unless CHECK_MODE, carry out one move; returns the result dict.

    All steps run in this one process: the export is submitted as soon as the
    destination's import job announces its disk targets, and the finishing
    jobs on both clusters run at the same time. On a failure before the
    commit point the destination copy this move created is removed and the
    source's state restored, then :class:`MoveFailed` names the step.
    """
    report = report or (lambda message: None)
    plan = plan_move(src, dst, request, probe=probe or check_mode, prepare=not check_mode)
    # The signed handshake and key name are for this run only, not for its result.
    prepared = plan.pop("prepared", None)
    result = {"plan": plan, "changed": False, "actions": []}
    if not plan["ok"]:
        raise MoveError("pre-flight failed: %s" % describe_failures(plan["findings"]), plan=plan)
    move = plan["move"]
    if check_mode:
        result["changed"] = plan["phase"] != PHASE_DONE
        return result
    if plan["phase"] in (PHASE_NEW, PHASE_REMNANT):
        if plan["phase"] == PHASE_REMNANT:
            _record(result, "remove the unfinished copy", report, _remove_tagged, dst,
                    move["destination_name"], [TAG_MOVE_ID % move["id"], TAG_PENDING], shutdown_timeout)
        try:
            verified = _transfer(src, dst, plan, prepared, result, report, shutdown_timeout,
                                 transfer_timeout)
        except (RapiError, MoveError) as exc:
            step, cause = (exc.move_step, exc.error) if isinstance(exc, StepFailed) else ("transfer", exc)
            cleanup = _compensate(src, dst, plan, shutdown_timeout)
            raise MoveFailed(
                "moving %s from %s to %s failed at step '%s': %s. %s" % (
                    move["source_name"], move["source_cluster"], move["destination_cluster"], step,
                    cause, " ".join(cleanup)),
                step, cleanup, job_id=getattr(cause, "job_id", None), log=getattr(cause, "log", None))
        # What both clusters show now is known without asking: the source
        # was stopped for the transfer, the copy was just read by the verify.
        source = plan["source"]
        source_instance = {"name": source["name"], "uuid": source["uuid"], "admin_state": "down",
                           "oper_state": False, "tags": source["tags"]}
        destination_instance = verified["instance"]
    else:
        source_instance, destination_instance = in_parallel(
            (src.get_instance, move["source_name"], True),
            (dst.get_instance, move["destination_name"], True))
    _finish(src, dst, move, source_instance, destination_instance, plan["start_destination"],
            shutdown_timeout, result, report)
    return result


def _record(result, name, report, func, *args):
    """Report step NAME, run it, and record it among the result's actions."""
    report(name)
    value = func(*args)
    result["actions"].append(name)
    result["changed"] = True
    return value


def _step(result, name, report, func, *args):
    """A step of the transfer (:func:`_record`) whose failure names it (:class:`StepFailed`)."""
    try:
        return _record(result, name, report, func, *args)
    except (RapiError, MoveError) as exc:
        raise StepFailed(name, exc) from exc


def _remove_tagged(client, name, required_tags, shutdown_timeout):
    instance = client.get_instance(name, missing_ok=True)
    if instance is None:
        return False
    missing = [t for t in required_tags if t not in (instance.get("tags") or [])]
    if missing:
        raise MoveError("refusing to remove %s: it lacks the tag(s) %s" % (name, ", ".join(missing)))
    client.wait_for_job(client.remove_instance(name, shutdown_timeout=shutdown_timeout), timeout=None)
    return True


def _transfer(src, dst, plan, prepared, result, report, shutdown_timeout, transfer_timeout):
    """Import, export and verification; returns what the verification found.

    The commit is not made here: :func:`_finish` makes it at the same time as
    the source policy and the start, all submitted only after the verification.
    """
    move = plan["move"]
    source = plan["source"]
    if prepared is None:
        prepared = _step(result, "prepare the export", report, prepare_export, src, move["source_name"])
    else:
        result["actions"].append("prepare the export")
    body = dict(plan["create_body"], source_handshake=prepared["handshake"],
                source_x509_ca=prepared["x509_ca"], source_shutdown_timeout=shutdown_timeout)
    stop = {}

    def stop_source():
        # The destination accepted the request (its checks passed): stop the
        # source while the destination creates its disks. Stopped for good
        # (admin down), so that Ganeti does not restart it after the export
        # and no write can reach it once its disks were copied.
        if source["admin_state"] != "down" or source.get("oper_state"):
            stop["job"] = src.shutdown_instance(move["source_name"], timeout=shutdown_timeout)

    import_waiter, targets = _step(result, "create the destination instance", report, _start_import,
                                   dst, body, transfer_timeout, stop_source)
    if stop.get("job"):
        _step(result, "stop the source", report, src.wait_for_job, stop["job"], None)
    export_body = {
        "mode": "remote", "destination": targets["disks"], "destination_x509_ca": targets["x509_ca"],
        "x509_key_name": prepared["x509_key_name"], "shutdown": True,
        "shutdown_timeout": shutdown_timeout, "remove_instance": False,
        "compress": plan["create_body"]["compress"],
    }
    export = _step(result, "export the disks", report, _export, src, move["source_name"], export_body,
                   transfer_timeout)
    imported = _step(result, "finish the import", report, _finish_import, import_waiter, transfer_timeout)
    return _step(result, "verify the copy", report, _verify, dst, move, source, export, imported)


def remote_import_info(entry):
    """The signed disk targets and CA from a job log entry, or None."""
    if not isinstance(entry, dict) or entry.get("type") != "remote-import":
        return None
    message = entry.get("message")
    if isinstance(message, dict) and "disks" in message and "x509_ca" in message:
        return {"disks": message["disks"], "x509_ca": message["x509_ca"]}
    return None


def _start_import(dst, body, timeout, on_accepted):
    """Submit the remote import; return its waiter once the disk targets are logged.

    ON_ACCEPTED is called once, when the job logs its first entry: Ganeti
    checked the request (handshake, names, resources) and creates the disks.
    """
    job_id = dst.create_instance(body)
    waiter = dst.job_waiter(job_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if waiter.finished:
            waiter.result()  # raises with Ganeti's reason when the job failed
            raise MoveError("the import job %s ended without announcing its disk targets" % job_id)
        if deadline is not None and time.monotonic() > deadline:
            raise MoveError("the import job %s did not announce its disk targets within %s s"
                            % (job_id, timeout))
        entries = waiter.poll()
        if entries and on_accepted is not None:
            on_accepted()
            on_accepted = None
        for entry in entries:
            targets = remote_import_info(entry)
            if targets:
                return waiter, targets


def _export(src, name, body, timeout):
    job_id = src.export_instance(name, body)
    job = src.wait_for_job(job_id, timeout=timeout)
    finalized, disk_results = job["opresult"][0]
    if not finalized or not all(disk_results):
        failed = [str(i) for i, ok in enumerate(disk_results) if not ok]
        raise MoveError("export job %s did not send disk(s) %s" % (job_id, ", ".join(failed) or "-"))
    return {"job_id": job_id, "disk_results": disk_results}


def _finish_import(waiter, timeout):
    job = waiter.wait(timeout=timeout)
    warnings = import_warnings(job["log"])
    if warnings:
        raise MoveError("import job %s reports disks that did not arrive: %s"
                        % (job["job_id"], "; ".join(warnings)))
    return job


def _verify(dst, move, source, export, imported):
    instance = dst.get_instance(move["destination_name"])
    sizes = instance.get("disk.sizes") or []
    expected = [d["size"] for d in source["disks"]]
    problems = []
    if len(export["disk_results"]) != len(expected):
        problems.append("%d disks sent for %d" % (len(export["disk_results"]), len(expected)))
    if sizes != expected:
        problems.append("disk sizes %s on the destination, %s on the source" % (sizes, expected))
    if TAG_MOVE_ID % move["id"] not in (instance.get("tags") or []):
        problems.append("the copy lacks its tag %s" % (TAG_MOVE_ID % move["id"]))
    if problems:
        raise MoveError("the copy on %s is not complete: %s"
                        % (move["destination_cluster"], "; ".join(problems)))
    return {"import_job": imported["job_id"], "export_job": export["job_id"], "disk_sizes": sizes,
            "instance": instance}


def _compensate(src, dst, plan, shutdown_timeout):
    """Undo a failed transfer; returns sentences saying what was done."""
    move = plan["move"]
    said = []
    try:
        if _remove_tagged(dst, move["destination_name"], [TAG_MOVE_ID % move["id"], TAG_PENDING],
                          shutdown_timeout):
            said.append("The copy this move created on %s was removed." % move["destination_cluster"])
        else:
            said.append("Nothing was left on %s." % move["destination_cluster"])
    except (RapiError, MoveError) as exc:
        said.append("Removing the copy on %s failed too (%s); re-run the move to clean it up."
                    % (move["destination_cluster"], exc))
    try:
        instance = src.get_instance(move["source_name"], missing_ok=True)
        if instance is not None and plan["source"]["was_up"] and not (
                instance.get("oper_state") and instance.get("admin_state") == "up"):
            src.wait_for_job(src.startup_instance(move["source_name"]))
            said.append("The source %s was started again." % move["source_name"])
        elif instance is not None:
            said.append("The source %s is in its state before the move." % move["source_name"])
    except RapiError as exc:
        said.append("Restarting the source failed (%s); start %s on %s by hand."
                    % (exc, move["source_name"], move["source_cluster"]))
    return said


def _finish(src, dst, move, source_instance, destination_instance, start, shutdown_timeout, result,
            report):
    """Start of the copy, commit and source policy, all submitted at once.

    Called only once the copy was verified. Each cluster's jobs are submitted
    from a thread of their own, then all are waited for. On the destination
    the start is submitted before the commit (both lock the instance, so they
    run in that order), which starts the copy as early as Ganeti allows. A run
    interrupted before the commit leaves a state ``assess`` reads as
    verified (source gone, source tagged ``moved-to``, or copy started).
    """
    destination_name = move["destination_name"]
    destination_instance = destination_instance or {}
    destination_jobs, source_jobs = [], []
    if start and not destination_instance.get("oper_state"):
        destination_jobs.append(("start the copy", dst.startup_instance, destination_name))
    if TAG_PENDING in (destination_instance.get("tags") or []):
        destination_jobs.append(("commit", dst.remove_tags, "instance", destination_name, [TAG_PENDING]))
    if source_instance is not None:
        name = move["source_name"]
        if move["source_policy"] == "remove":
            source_jobs.append(("remove the source", src.remove_instance, name, shutdown_timeout))
        else:
            if source_instance.get("admin_state") != "down" or source_instance.get("oper_state"):
                source_jobs.append(("stop the source", src.shutdown_instance, name, shutdown_timeout))
            moved_to = TAG_MOVED_TO % (move["destination_cluster"], destination_name)
            if moved_to not in (source_instance.get("tags") or []):
                source_jobs.append(("tag the source", src.add_tags, "instance", name, [moved_to]))
    submitted = in_parallel(*[(_submit_in_order, client, jobs) for client, jobs in
                              ((dst, destination_jobs), (src, source_jobs)) if jobs])
    failures = []
    for client, jobs in submitted:
        for name, job_id in jobs:
            report(name)
            try:
                client.wait_for_job(job_id, timeout=None)
            except RapiError as exc:
                failures.append("'%s' failed: %s" % (name, exc))
                continue
            result["actions"].append(name)
            result["changed"] = True
    if failures:
        raise MoveError("the copy on %s is complete, but %s; re-run the move to finish it"
                        % (move["destination_cluster"], "; ".join(failures)))


def _submit_in_order(client, jobs):
    """Submit JOBS (``(name, submit_function, arg, ...)``) one after the other; ``(client, [(name, job id)])``."""
    return client, [(job[0], job[1](*job[2:])) for job in jobs]
