# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module bases, the error root and the job runner, with the fake RAPI server of conftest."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic

from ansible_collections.ganeti.fleet.plugins.module_utils import module_base
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import JobRunner
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import RapiClient
from ansible_collections.ganeti.fleet.tests.unit.plugins.module_args import patch_module_args


class Exited(Exception):
    def __init__(self, failed, result):
        super().__init__(result)
        self.failed = failed
        self.result = result


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exited(False, kwargs)

    def fail_json(self, **kwargs):
        raise Exited(True, kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    for name in ("URL", "USER", "PASSWORD", "CA_PATH", "VALIDATE_CERTS", "VERIFY_HOSTNAME", "TIMEOUT"):
        monkeypatch.delenv("GANETI_RAPI_" + name, raising=False)


def run(base, args, func, **kwargs):
    with patch_module_args(args):
        module = base(**kwargs)
        with pytest.raises(Exited) as info:
            module.run(func)
    return info.value


def test_fleet_error_carries_its_details_into_the_result():
    error = FleetError("node n1 is offline: bring it online first", node="n1")
    assert str(error) == error.message
    assert error.to_result() == {"msg": "node n1 is offline: bring it online first", "node": "n1"}


def test_rapi_error_is_a_fleet_error_with_job_details():
    error = RapiError("job 7 failed", kind="job_failed", job_id=7, job_status="error", log=[{"serial": 1}])
    assert isinstance(error, FleetError)
    result = error.to_result()
    assert result["msg"] == "job 7 failed"
    assert result["job_id"] == "7" and result["job_status"] == "error"
    assert result["job_log"] == [{"serial": 1}]


def test_a_fleet_error_fails_the_task_with_the_result_so_far():
    def logic(module):
        module.result["steps"] = ["first"]
        raise FleetError("second step refused: fix X", step="second")

    exited = run(module_base.ControllerModule, {}, logic)
    assert exited.failed
    assert exited.result == {"changed": False, "steps": ["first"], "step": "second",
                             "msg": "second step refused: fix X"}


def test_a_returned_dict_is_merged_into_the_result():
    exited = run(module_base.ControllerModule, {}, lambda module: {"changed": True, "value": 3})
    assert not exited.failed
    assert exited.result == {"changed": True, "value": 3}


def test_rapi_module_merges_connection_and_job_options_and_closes_its_client(rapi, monkeypatch):
    _server, options = rapi
    seen = {}
    closed = []

    def record_close(client):
        closed.append(client)

    monkeypatch.setattr(RapiClient, "close", record_close)

    def logic(module, client):
        seen["client"] = client
        seen["wait_timeout"] = module.params["wait_timeout"]
        return {"url": client.url}

    args = {key: options[key] for key in ("rapi_url", "rapi_user", "rapi_password", "ca_path")}
    exited = run(module_base.RapiModule, args, logic, jobs=True)
    assert exited.result["url"] == RapiClient.normalize_url(options["rapi_url"])
    assert seen["wait_timeout"] == module_base.DEFAULT_WAIT_TIMEOUT
    assert closed == [seen["client"]]


def test_rapi_module_needs_user_and_password_together(rapi):
    _server, options = rapi
    with patch_module_args({"rapi_url": options["rapi_url"], "rapi_user": "u"}):
        with pytest.raises(Exited) as info:
            module_base.RapiModule()
    assert info.value.failed
    assert "rapi_password" in info.value.result["msg"]


@pytest.fixture
def warnings_seen(monkeypatch):
    """The warnings modules emit (AnsibleModule.warn), in order."""
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen


def test_validate_certs_false_warns_and_its_environment_variable_is_ignored(rapi, monkeypatch, warnings_seen):
    _server, options = rapi
    monkeypatch.setenv("GANETI_RAPI_VALIDATE_CERTS", "false")
    monkeypatch.setenv("GANETI_SOURCE_RAPI_VALIDATE_CERTS", "false")
    args = {key: options[key] for key in ("rapi_url", "rapi_user", "rapi_password")}
    seen = {}

    def logic(module, client):
        seen["verify"] = client.validate_certs

    # The variable does not turn validation off.
    run(module_base.RapiModule, args, logic)
    assert seen["verify"] is True
    assert warnings_seen == [
        "GANETI_RAPI_VALIDATE_CERTS is set and ignored: certificate validation can only be turned off in the task,"
        " module_defaults or the inventory (validate_certs)",
        "GANETI_SOURCE_RAPI_VALIDATE_CERTS is set and ignored: certificate validation can only be turned off in"
        " the task, module_defaults or the inventory (validate_certs)"]
    del warnings_seen[:]
    monkeypatch.delenv("GANETI_RAPI_VALIDATE_CERTS")
    monkeypatch.delenv("GANETI_SOURCE_RAPI_VALIDATE_CERTS")
    run(module_base.RapiModule, dict(args, validate_certs=False), logic)
    assert seen["verify"] is False
    assert len(warnings_seen) == 1
    assert warnings_seen[0].startswith("TLS certificate validation is off for %s (validate_certs=false)"
                                       % options["rapi_url"])


def test_a_password_written_into_the_url_is_refused_and_masked(rapi, monkeypatch):
    _server, options = rapi
    secret = "pw-in-the-url-4711"
    url = options["rapi_url"].replace("https://", "https://admin:%s@" % secret)

    def logic(module, client):
        raise AssertionError("never reached")

    exited = run(module_base.RapiModule, {"rapi_url": url, "validate_certs": False}, logic)
    assert exited.failed
    assert "Do not put credentials into rapi_url" in exited.result["msg"]
    # ansible-core removes the task's no_log values from everything it returns, the invocation included.
    with patch_module_args({"rapi_url": url, "validate_certs": False}):
        module = module_base.RapiModule()
    assert secret in module.no_log_values
    assert secret not in json.dumps(basic.remove_values({"invocation": {"module_args": module.params}},
                                                        module.no_log_values))


class FakeClient:
    """Records submitted jobs; the job named in ``failing`` fails when waited for."""

    def __init__(self, failing=None):
        self.failing = failing
        self.next_id = 100
        self.waited = []

    def submit_job(self, what, dry_run=False):
        self.next_id += 1
        return self.next_id

    def wait_for_job(self, job_id, timeout=None):
        self.waited.append((job_id, timeout))
        if job_id == self.failing:
            raise RapiError("job %s failed" % job_id, kind="job_failed", job_id=job_id)
        return {"job_id": job_id, "status": "success"}


def test_job_runner_marks_changed_when_a_job_is_accepted_and_keeps_ids_on_failure():
    client = FakeClient(failing="102")
    result = {"changed": False}
    runner = JobRunner(client, result, timeout=30)
    assert runner.run(client.submit_job, "first")["status"] == "success"
    assert result == {"changed": True, "job_ids": ["101"]}
    with pytest.raises(RapiError):
        runner.run(client.submit_job, "second")
    assert result == {"changed": True, "job_ids": ["101", "102"]}
    assert client.waited == [("101", 30), ("102", 30)]


def test_job_runner_dry_runs_change_nothing_and_no_wait_returns_at_once():
    client = FakeClient()
    result = {"changed": False}
    assert JobRunner(client, result).run(client.submit_job, "probe", dry_run=True)["status"] == "success"
    assert result == {"changed": False, "job_ids": ["101"]}
    assert JobRunner(client, result, wait=False).run(client.submit_job, "real") is None
    assert result == {"changed": True, "job_ids": ["101", "102"]}
    assert len(client.waited) == 1


def test_job_runner_in_a_module_fails_with_changed_and_every_job_id(rapi):
    _server, options = rapi
    client = FakeClient(failing="102")

    def logic(module, _client):
        runner = JobRunner(client, module.result)
        runner.run(client.submit_job, "first")
        runner.run(client.submit_job, "second")

    args = {key: options[key] for key in ("rapi_url", "rapi_user", "rapi_password", "ca_path")}
    exited = run(module_base.RapiModule, args, logic)
    assert exited.failed
    assert exited.result["changed"] is True
    assert exited.result["job_ids"] == ["101", "102"]
    assert exited.result["job_id"] == "102"


def test_node_module_refuses_a_host_that_is_no_node(monkeypatch):
    monkeypatch.setattr(module_base, "node_identity", lambda: {
        "cluster_name": None, "master_node": None, "node_name": None, "nodes": [], "online_nodes": [],
        "is_master": False})
    exited = run(module_base.NodeModule, {}, lambda module: module.require_master())
    assert exited.failed
    assert "not a node of a Ganeti cluster" in exited.result["msg"]


def test_node_module_names_the_master_when_run_elsewhere(monkeypatch):
    monkeypatch.setattr(module_base, "node_identity", lambda: {
        "cluster_name": "c1.lab", "master_node": "n1.lab", "node_name": "n2.lab", "nodes": ["n1.lab", "n2.lab"],
        "online_nodes": ["n1.lab", "n2.lab"], "is_master": False})
    exited = run(module_base.NodeModule, {}, lambda module: module.require_master())
    assert exited.failed
    assert exited.result["msg"] == "this module must run on the master node of c1.lab (n1.lab), not on n2.lab"


def test_job_runner_follows_jobs_ganeti_started_itself():
    client = FakeClient()
    result = {"changed": False}
    assert JobRunner(client, result, timeout=5).follow(77)["job_id"] == "77"
    assert result == {"changed": True, "job_ids": ["77"]}
    assert client.waited == [("77", 5)]
