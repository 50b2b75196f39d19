#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: job
short_description: Inspect, wait for or cancel a Ganeti job through RAPI
version_added: 0.1.0
description:
  - Reads a Ganeti job (C(GET /2/jobs/ID)), waits for it to finish, or cancels it (C(DELETE /2/jobs/ID)).
  - Waiting follows the job with RAPI's long-poll call C(GET /2/jobs/ID/wait), so the job log is
    collected as it is written and there is no fixed polling interval.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
extends_documentation_fragment:
  - ganeti.fleet.rapi
  - ganeti.fleet.rapi.actiongroup_rapi
  - ganeti.fleet.attributes
  - ganeti.fleet.job
attributes:
  check_mode:
    support: full
    details:
      - With O(state=canceled) the module reports whether the job would be canceled and sends nothing.
      - With O(state=waited) the module waits in check mode too, since waiting changes nothing.
  diff_mode:
    support: none
options:
  job_id:
    description:
      - Id of the job, as returned by the modules that start jobs (RV(ganeti.fleet.tag#module:job_ids) for example).
    type: str
    required: true
  state:
    description:
      - Leave unset to read the job as it is now; a failed job does not make the module fail then.
      - V(waited) waits until the job has finished and fails if the job failed or was canceled.
        Needs a RAPI user with C(write) access.
      - V(canceled) cancels the job if it has not finished yet. Ganeti can only cancel jobs that
        have not started running; for a running job the module fails with Ganeti's answer.
        Needs a RAPI user with C(write) access.
    type: str
    choices: [waited, canceled]
  wait_timeout:
    description:
      - With O(state=waited), how many seconds to wait before giving up. The job keeps running.
      - With O(state=canceled), how long to wait for the job to reach its final state after the cancel request.
"""

EXAMPLES = r"""
- name: Work with Ganeti jobs
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Start a job without waiting for it
      ganeti.fleet.tag:
        kind: cluster
        tags: [managed-by:ansible]
        wait: false
      register: tagging

    - name: Wait for the jobs to finish
      ganeti.fleet.job:
        job_id: "{{ item }}"
        state: waited
        wait_timeout: 300
      loop: "{{ tagging.job_ids }}"
      register: waited

    - name: Show the job log
      ansible.builtin.debug:
        msg: "{{ item.log | map(attribute='message') | list }}"
      loop: "{{ waited.results }}"
      loop_control:
        label: "{{ item.job.id }}"

    - name: Read a job without failing if it failed
      ganeti.fleet.job:
        job_id: "{{ tagging.job_ids[0] }}"
      register: job_state
      when: tagging.job_ids | length > 0

    - name: Cancel a job that has not started yet (nothing happens if it already finished)
      ganeti.fleet.job:
        job_id: "{{ tagging.job_ids[0] }}"
        state: canceled
      when: tagging.job_ids | length > 0
"""

RETURN = r"""
job:
  description: The job as returned by C(GET /2/jobs/ID), after waiting or canceling.
  returned: success
  type: dict
  contains:
    id:
      description: Job id.
      type: str
      sample: "4711"
    status:
      description: Job status, one of V(queued), V(waiting), V(running), V(canceling), V(canceled), V(success), V(error).
      type: str
      sample: success
    summary:
      description: One summary string per opcode.
      type: list
      elements: str
      sample: ["TAGS_SET(cluster)"]
    opstatus:
      description: Status of each opcode.
      type: list
      elements: str
      sample: [success]
    opresult:
      description: Result of each opcode; for a failed opcode the encoded error, for example
        V(["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]).
      type: list
      elements: raw
      sample: [null]
    received_ts:
      description: When the job was received, as C([seconds, microseconds]).
      type: list
      elements: int
    start_ts:
      description: When the job started, as C([seconds, microseconds]).
      type: list
      elements: int
    end_ts:
      description: When the job ended, as C([seconds, microseconds]).
      type: list
      elements: int
status:
  description: Job status (same as RV(job.status)).
  returned: success
  type: str
  sample: success
error:
  description: The decoded error of the failed opcode, when the job failed.
  returned: when the job failed
  type: dict
  contains:
    error_class:
      description: Ganeti error class.
      type: str
      sample: OpPrereqError
    message:
      description: Error message.
      type: str
      sample: Node 'x' not known
    code:
      description: Ganeti error code, if any.
      type: str
      sample: unknown_entity
log:
  description: The job log entries.
  returned: success
  type: list
  elements: dict
  contains:
    serial:
      description: Serial number of the entry.
      type: int
    timestamp:
      description: Time of the entry in seconds since the epoch.
      type: float
    type:
      description: Entry type, V(message), V(message-list) or V(remote-import).
      type: str
    message:
      description: The message; structured data for some entry types.
      type: raw
  sample:
    - serial: 1
      timestamp: 1700000000.25
      type: message
      message: "Adding tags"
cancel_message:
  description: Ganeti's answer to the cancel request.
  returned: when O(state=canceled) and a cancel request was sent
  type: str
  sample: Job 4711 canceled
job_id:
  description: The job id (also returned when the module fails because of the job).
  returned: always
  type: str
  sample: "4711"
job_log:
  description: The last entries of the job log, when the module fails because of the job.
  returned: failure
  type: list
  elements: dict
"""

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import (
    JOB_STATUS_FINALIZED,
    JOB_STATUS_SUCCESS,
    decode_op_error,
    parse_log_entry,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import RapiModule, job_argument_spec

CANCELABLE = ("queued", "waiting")
JOB_KEYS = ("status", "summary", "opstatus", "opresult", "received_ts", "start_ts", "end_ts")


def job_output(job, log=None):
    """Return the module result for a job dict from ``GET /2/jobs/ID``."""
    job = dict(job or {})
    if log is None:
        log = []
        for op_log in job.get("oplog") or []:
            log.extend(parse_log_entry(raw) for raw in op_log or [])
    job.pop("oplog", None)
    if "id" in job:
        job["id"] = str(job["id"])
    result = dict(job=job, status=job.get("status"), log=log)
    if job.get("status") not in (None, JOB_STATUS_SUCCESS) and job.get("status") in JOB_STATUS_FINALIZED:
        for op_status, op_result in zip(job.get("opstatus") or [], job.get("opresult") or []):
            if op_status == "error":
                error_class, message, code = decode_op_error(op_result)
                result["error"] = dict(error_class=error_class, message=message, code=code)
                break
    return result


def run(module, client):
    job_id = module.params["job_id"]
    state = module.params["state"]
    timeout = module.params["wait_timeout"]
    result = module.result
    result["job_id"] = job_id

    if state == "waited":
        waited = client.wait_for_job(job_id, timeout=timeout)
        job = dict((key, waited[key]) for key in JOB_KEYS)
        job["id"] = waited["job_id"]
        return job_output(job, waited["log"])

    job = client.get_job(job_id)
    if state is None or job.get("status") in JOB_STATUS_FINALIZED:
        return job_output(job)

    # state == "canceled" and the job has not finished
    if module.check_mode:
        if job.get("status") not in CANCELABLE:
            module.warn("Job %s is %s; Ganeti will probably refuse to cancel it"
                        % (job_id, job.get("status")))
        return dict(job_output(job), changed=True)
    success, message = client.cancel_job(job_id)
    result["cancel_message"] = message
    if not success:
        result.update(job_output(client.get_job(job_id)))
        raise FleetError("Ganeti did not cancel job %s: %s" % (job_id, message))
    result["changed"] = True
    try:
        client.wait_for_job(job_id, timeout=timeout)
    except RapiError as exc:
        # a canceled job ends as "failed"; anything else is a real problem
        if exc.kind != "job_failed":
            raise
    return job_output(client.get_job(job_id))


def main():
    RapiModule(argument_spec=dict(
        job_id=dict(type="str", required=True),
        state=dict(type="str", choices=["waited", "canceled"]),
        wait_timeout=job_argument_spec()["wait_timeout"],
    )).run(run)


if __name__ == "__main__":
    main()
