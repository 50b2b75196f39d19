# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster moves: carrying out the plan of one move. Internal use only.

:func:`run_move` plans the move (``_move_plan.plan_move``), then runs the
transfer (``direct``: node to node, :class:`_move_content.DirectTransfer`;
``ganeti``: Ganeti's import and export), verifies the copy (the commit
point: every disk's digest on the destination equals the source's) and
finishes the move on both clusters. The source is stopped only once the
destination is ready to receive. A failure before the commit point removes
the copy this move created and restores the source, then :class:`MoveFailed`
names the step.
"""

from __future__ import annotations

import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel
from ansible_collections.ganeti.fleet.plugins.module_utils._move_checks import describe_failures
from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import (
    DirectTransfer,
    content_problems,
    digest_record,
    digest_tags,
    disk_locations,
    finish_digests,
    locations_from_job,
    recorded_digests,
    start_digests,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import NodeAccess, stop_all, unreachable
from ansible_collections.ganeti.fleet.plugins.module_utils._move_plan import (
    PHASE_DONE,
    PHASE_NEW,
    PHASE_REMNANT,
    MoveError,
    import_warnings,
    plan_move,
    prepare_export,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import (
    TAG_MOVE_ID,
    TAG_MOVED_TO,
    TAG_PENDING,
    TAG_STOPPED_FOR_MOVE,
)


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
             check_mode=False, report=None, nodes=None):
    """Plan and, unless CHECK_MODE, carry out one move; returns the result dict.

    All steps run in this one process, and the finishing jobs on both
    clusters run at the same time. NODES (:class:`NodeAccess`) reaches the
    nodes that hold the disks. On a failure before the commit point the
    destination copy this move created is removed and the source's state
    restored, then :class:`MoveFailed` names the step. REPORT gets the name
    of each step as it starts, and of the undoing after a failed step.
    """
    report = report or (lambda message: None)
    nodes = nodes or NodeAccess()
    started = time.monotonic()
    plan = plan_move(src, dst, request, probe=probe or check_mode, prepare=not check_mode)
    # The signed handshake and key name are for this run only, not for its result.
    prepared = plan.pop("prepared", None)
    result = {"plan": plan, "changed": False, "actions": [], "seconds": {"plan": round(time.monotonic() - started, 2)}}
    if not plan["ok"]:
        raise MoveError("pre-flight failed: %s" % describe_failures(plan["findings"]), plan=plan)
    move = plan["move"]
    if check_mode:
        if plan["phase"] in (PHASE_NEW, PHASE_REMNANT) and (move["transfer"] == "direct" or move["verify"] == "content"):
            _check_node_access(plan, nodes)
        result["changed"] = plan["phase"] != PHASE_DONE
        return result
    if plan["phase"] in (PHASE_NEW, PHASE_REMNANT):
        if plan["phase"] == PHASE_REMNANT:
            _record(result, "remove the unfinished copy", report, _remove_tagged, dst,
                    move["destination_name"], [TAG_MOVE_ID % move["id"], TAG_PENDING], shutdown_timeout)
        try:
            transfer = _transfer_direct if move["transfer"] == "direct" else _transfer_ganeti
            verified = transfer(src, dst, plan, prepared, nodes, result, report, shutdown_timeout,
                                Deadline(transfer_timeout))
        except FleetError as exc:
            step, cause = (exc.move_step, exc.error) if isinstance(exc, StepFailed) else ("transfer", exc)
            report("undo the move, as '%s' failed" % step)
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
                           "oper_state": False, "tags": verified["source_tags"]}
        destination_instance = verified["instance"]
        result["digests"] = verified["digests"]
        result["transfer"] = verified.get("figures")
    else:
        source_instance, destination_instance = in_parallel(
            (src.get_instance, move["source_name"], True),
            (dst.get_instance, move["destination_name"], True))
        result["digests"] = [{"index": index, "algorithm": algorithm, "destination": value,
                              "computed": "recorded by the run that verified the copy"}
                             for index, (algorithm, value) in sorted(
                                 recorded_digests((destination_instance or {}).get("tags")).items())]
    result["verification"] = plan.get("verification")
    _finish(src, dst, move, source_instance, destination_instance, plan["start_destination"],
            shutdown_timeout, result, report, result.get("digests") if plan["phase"] in (PHASE_NEW, PHASE_REMNANT)
            else None)
    result["rapi_requests"] = {"source": src.request_count, "destination": dst.request_count}
    return result


def _check_node_access(plan, nodes):
    """Check mode: the node program runs on the source's node and where the copy can go (a finding)."""
    body = plan["create_body"]
    targets = [body["pnode"]] + ([body["snode"]] if body.get("snode") else []) if body.get("pnode") \
        else plan.get("destination_candidates") or []
    failed = unreachable(nodes, [plan["source"]["pnode"]] + targets)
    finding = {"check": "node_access", "ok": not failed}
    if failed:
        finding["message"] = ("the disks are read and written on the nodes over SSH, and %s: %s; give the nodes' "
                              "access in the inventory group ganeti_nodes or in node_access"
                              % ("these nodes cannot be reached" if len(failed) > 1 else "this node cannot be reached",
                                 "; ".join(failed.values())))
    else:
        finding["message"] = "the node program runs on %s" % ", ".join(sorted(set([plan["source"]["pnode"]] + targets)))
    plan["findings"].append(finding)
    plan["ok"] = plan["ok"] and not failed


def _record(result, name, report, func, *args):
    """Report step NAME, run it, and record it among the result's actions, with its seconds."""
    report(name)
    started = time.monotonic()
    value = func(*args)
    result["actions"].append(name)
    result.setdefault("seconds", {})[name] = round(time.monotonic() - started, 2)
    result["changed"] = True
    return value


def _step(result, name, report, func, *args):
    """A step of the transfer (:func:`_record`) whose failure names it (:class:`StepFailed`)."""
    try:
        return _record(result, name, report, func, *args)
    except StepFailed:
        raise
    except FleetError as exc:
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


def _mark_source(src, move, source):
    """Tag a running source ``stopped-for-move`` before the move stops it; returns its tags then.

    A run that dies after the stop leaves the source down: the tag tells the
    next run (and the compensation) that it ran before.
    """
    tags = list(source["tags"])
    tag = TAG_STOPPED_FOR_MOVE % move["id"]
    if (source["admin_state"] == "up" or source.get("oper_state")) and tag not in tags:
        src.wait_for_job(src.add_tags("instance", move["source_name"], [tag]), timeout=None)
        tags.append(tag)
    return tags


def _stop_source(src, move, source, shutdown_timeout, then=None):
    """Stop the source for good (admin down: Ganeti does not restart it), then THEN (a submit function).

    Both jobs are submitted at once (Ganeti runs them in order, both lock the
    instance); returns THEN's job result, or None.
    """
    jobs = []
    if source["admin_state"] != "down" or source.get("oper_state"):
        jobs.append(src.shutdown_instance(move["source_name"], timeout=shutdown_timeout))
    if then is not None:
        jobs.append(then(move["source_name"]))
    results = [src.wait_for_job(job, timeout=None) for job in jobs]
    return results[-1] if then is not None else None


class Deadline:
    """One limit for the whole transfer, from the copy's creation to its verification.

    Each wait gets what is left of it, so a move never runs past its
    ``transfer_timeout`` (plus the source's shutdown and the finishing jobs):
    the async limit a role derives from these timeouts holds.
    """

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.end = clock() + seconds

    def left(self):
        left = self.end - self.clock()
        if left <= 0:
            raise MoveError("the transfer did not finish within its transfer_timeout of %s s" % self.seconds)
        return left


def _transfer_direct(src, dst, plan, prepared, nodes, result, report, shutdown_timeout, deadline):
    """Create the copy without OS scripts, stream the disks node to node, compare the digests."""
    del prepared  # only the ganeti transfer has a handshake
    move, source = plan["move"], plan["source"]
    sizes = [d["size"] for d in source["disks"]]
    name = move["destination_name"]
    direct = DirectTransfer(nodes, "%s (move %s)" % (move["source_name"], move["id"]), sizes,
                            compress=plan["move"]["compress"], timeout=deadline.left)
    try:
        created, source_tags = _step(result, "create the destination instance", report, in_parallel,
                                     (_wait_created, dst, plan["create_body"], deadline.left()),
                                     (_mark_source, src, move, source))
        if sizes:
            # Both ends start on their nodes while the copy's disks are
            # activated: an unreachable node fails the move before the stop.
            locations, _started = _step(result, "activate the destination disks", report, in_parallel,
                                        (disk_locations, dst, name, len(sizes)),
                                        (direct.start, source["pnode"], _primary_node(created, name)))
            node_ips = plan.get("destination_node_ips") or {}
            address = node_ips.get(locations[0]["node"]) or locations[0]["node"]
            _step(result, "start the receiving end", report, direct.listen, locations, address)
        # Disks whose paths the plan read need no activating once the source is down.
        static = source_locations(source)
        activated = _step(result, "stop the source", report, _stop_source, src, move, source,
                          shutdown_timeout, src.activate_disks if sizes and not static else None)
        if sizes:
            locations = static or locations_from_job(activated, move["source_name"], len(sizes))
            _step(result, "send the disks", report, direct.send, locations)
        digests, figures, instance = _step(result, "verify the copy", report, _verify_direct, dst, move, source,
                                           direct if sizes else None)
    finally:
        direct.stop()
    return {"instance": instance, "digests": digests, "figures": figures, "source_tags": source_tags}


def _verify_direct(dst, move, source, direct):
    """``(digests, figures, copy)``: both ends' digests, equal for every disk, and the copy as it is now."""
    digests, figures = [], None
    if direct is not None:
        sent, received, figures = direct.finish()
        problems = content_problems(sent, received)
        if problems:
            raise MoveError("the copy on %s differs from the source: %s"
                            % (move["destination_cluster"], "; ".join(problems)))
        digests = digest_record(sent, received, "in the stream on both nodes")
    instance = dst.get_instance(move["destination_name"])
    _check_copy(instance, move, source)
    return digests, figures, instance


def _primary_node(created, name):
    """The primary node of a copy, from its create job's result (Ganeti returns the instance's nodes)."""
    nodes = (created.get("opresult") or [None])[0]
    if not nodes:
        raise MoveError("the create job of %s named none of its nodes" % name)
    return nodes[0]


def source_locations(source):
    """``[{node, path}]`` of the source's disks from the plan's static data, or None (activate them)."""
    if not source.get("disk_paths"):
        return None
    return [{"node": source["pnode"], "path": path} for path in source["disk_paths"]]


def _wait_created(dst, body, timeout):
    return dst.wait_for_job(dst.create_instance(body), timeout=timeout)


def _transfer_ganeti(src, dst, plan, prepared, nodes, result, report, shutdown_timeout, deadline):
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
    (import_waiter, targets), source_tags = _step(
        result, "create the destination instance", report, in_parallel,
        (_start_import, dst, body, deadline.left()), (_mark_source, src, move, source))
    # The destination announced its disk targets: its disks exist and its
    # import daemons listen. Only now is the source stopped.
    _step(result, "stop the source", report, _stop_source, src, move, source, shutdown_timeout)
    early = None
    if move["verify"] == "content" and source["disks"] and source_locations(source):
        # The source is down for good: its disks are digested while they are exported.
        early = start_digests(nodes, source_locations(source), [d["size"] for d in source["disks"]],
                              move["source_name"])
    export_body = {
        "mode": "remote", "destination": targets["disks"], "destination_x509_ca": targets["x509_ca"],
        "x509_key_name": prepared["x509_key_name"], "shutdown": True,
        "shutdown_timeout": shutdown_timeout, "remove_instance": False,
        "compress": plan["create_body"]["compress"],
    }
    try:
        export = _step(result, "export the disks", report, _export, src, move["source_name"], export_body,
                       deadline.left())
        imported = _step(result, "finish the import", report, _finish_import, import_waiter, deadline.left())
        verified = _step(result, "verify the copy", report, _verify, dst, move, source, export, imported)
        verified["digests"] = []
        if move["verify"] == "content" and source["disks"]:
            verified["digests"] = _step(result, "compare the disks' digests", report, _compare_digests,
                                        src, dst, move, source, nodes, deadline, early)
    finally:
        stop_all([early])
    verified["source_tags"] = source_tags
    return verified


def _compare_digests(src, dst, move, source, nodes, deadline, source_program=None):
    """Digest every disk on the nodes of both clusters at the same time; raise unless all are equal.

    SOURCE_PROGRAM: the source's digests, started already (static disk paths).
    """
    sizes = [d["size"] for d in source["disks"]]
    source_disks, destination_disks = in_parallel(
        (lambda: None,) if source_program else (disk_locations, src, move["source_name"], len(sizes)),
        (disk_locations, dst, move["destination_name"], len(sizes)))
    programs = []
    try:
        programs.append(source_program or start_digests(nodes, source_disks, sizes, move["source_name"]))
        programs.append(start_digests(nodes, destination_disks, sizes, move["destination_name"]))
        source_events, destination_events = [finish_digests(p, len(sizes), deadline.left()) for p in programs]
    finally:
        stop_all(programs)
    source_digests = [e["digest"] for e in source_events]
    destination_digests = [e["digest"] for e in destination_events]
    problems = content_problems(source_digests, destination_digests)
    if problems:
        raise MoveError("the copy on %s differs from the source, although Ganeti reported the import as "
                        "successful: %s" % (move["destination_cluster"], "; ".join(problems)))
    return digest_record(source_digests, destination_digests, "read from the disks on both nodes")


def remote_import_info(entry):
    """The signed disk targets and CA from a job log entry, or None."""
    if not isinstance(entry, dict) or entry.get("type") != "remote-import":
        return None
    message = entry.get("message")
    if isinstance(message, dict) and "disks" in message and "x509_ca" in message:
        return {"disks": message["disks"], "x509_ca": message["x509_ca"]}
    return None


def _start_import(dst, body, timeout):
    """Submit the remote import; return its waiter and targets once the disk targets are logged."""
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
        for entry in waiter.poll():
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
    expected = [d["size"] for d in source["disks"]]
    if len(export["disk_results"]) != len(expected):
        raise MoveError("the copy on %s is not complete: %d disks sent for %d"
                        % (move["destination_cluster"], len(export["disk_results"]), len(expected)))
    _check_copy(instance, move, source)
    return {"import_job": imported["job_id"], "export_job": export["job_id"],
            "disk_sizes": instance.get("disk.sizes") or [], "instance": instance}


def _check_copy(instance, move, source):
    """The copy's disk sizes are the source's and it carries this move's tag."""
    sizes = instance.get("disk.sizes") or []
    expected = [d["size"] for d in source["disks"]]
    problems = []
    if sizes != expected:
        problems.append("disk sizes %s on the destination, %s on the source" % (sizes, expected))
    if TAG_MOVE_ID % move["id"] not in (instance.get("tags") or []):
        problems.append("the copy lacks its tag %s" % (TAG_MOVE_ID % move["id"]))
    if problems:
        raise MoveError("the copy on %s is not complete: %s"
                        % (move["destination_cluster"], "; ".join(problems)))


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
    name = move["source_name"]
    stopped_tag = TAG_STOPPED_FOR_MOVE % move["id"]
    try:
        instance = src.get_instance(name, missing_ok=True)
        if instance is not None and plan["source"]["was_up"] and not (
                instance.get("oper_state") and instance.get("admin_state") == "up"):
            src.wait_for_job(src.startup_instance(name))
            said.append("The source %s was started again." % name)
        elif instance is not None:
            said.append("The source %s is in its state before the move." % name)
        if instance is not None and stopped_tag in (instance.get("tags") or []):
            src.wait_for_job(src.remove_tags("instance", name, [stopped_tag]))
    except RapiError as exc:
        said.append("Restarting the source failed (%s); start %s on %s by hand, or re-run the move "
                    "(the source's tag %s tells it that the source ran)" % (exc, name, move["source_cluster"],
                                                                            stopped_tag))
    return said


def _finish(src, dst, move, source_instance, destination_instance, start, shutdown_timeout, result,
            report, digests=None):
    """Start of the copy, its digest tags, commit and source policy, all submitted at once.

    Called only once the copy was verified. Each cluster's jobs are submitted
    from a thread of their own, then all are waited for. On the destination
    the start is submitted first, then the digest tags (DIGESTS, when this run
    computed them), then the commit (all lock the instance, so they run in
    that order), which starts the copy as early as Ganeti allows. A run
    interrupted before the commit leaves a state ``assess`` reads as
    verified (digest tags, source gone, source tagged ``moved-to``, or copy
    started).
    """
    destination_name = move["destination_name"]
    destination_instance = destination_instance or {}
    destination_jobs, source_jobs = [], []
    if start and not destination_instance.get("oper_state"):
        destination_jobs.append(("start the copy", dst.startup_instance, destination_name))
    if digests:
        destination_jobs.append(("record the digests", dst.add_tags, "instance", destination_name,
                                 digest_tags(digests)))
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
            stopped_tag = TAG_STOPPED_FOR_MOVE % move["id"]
            if stopped_tag in (source_instance.get("tags") or []):
                source_jobs.append(("untag the source", src.remove_tags, "instance", name, [stopped_tag]))
    submitted = in_parallel(*[(_submit_in_order, client, jobs) for client, jobs in
                              ((dst, destination_jobs), (src, source_jobs)) if jobs])
    failures = []
    started = time.monotonic()
    for client, jobs in submitted:
        for name, job_id in jobs:
            report(name)
            try:
                client.wait_for_job(job_id, timeout=None)
            except RapiError as exc:
                # A removal queued by an interrupted earlier run may have gone first.
                if not (name == "remove the source" and _source_gone(src, move)):
                    failures.append("'%s' failed: %s" % (name, exc))
                continue
            result["actions"].append(name)
            result.setdefault("seconds", {})[name] = round(time.monotonic() - started, 2)
            result["changed"] = True
    if failures:
        raise MoveError("the copy on %s is complete, but %s; re-run the move to finish it"
                        % (move["destination_cluster"], "; ".join(failures)))


def _source_gone(src, move):
    """Whether the source is gone after its removal failed: an earlier run's removal ran first."""
    try:
        return src.get_instance(move["source_name"], missing_ok=True) is None
    except RapiError:
        return False


def _submit_in_order(client, jobs):
    """Submit JOBS (``(name, submit_function, arg, ...)``) one after the other; ``(client, [(name, job id)])``."""
    return client, [(job[0], job[1](*job[2:])) for job in jobs]
