# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the modules end to end against the local fake RAPI."""

from __future__ import annotations

import pytest

from ansible.module_utils import basic

from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_ACCESS_CHECK, TAG_MOVED_FROM, TAG_PREVIOUS_ROLE
from ansible_collections.ganeti.fleet.plugins.modules import (
    cluster_info,
    instance,
    instance_info,
    job,
    node,
    node_evacuate,
    node_info,
    rapi_access_check,
    tag,
)
from ansible_collections.ganeti.fleet.tests.unit.plugins.module_args import patch_module_args


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        kwargs["failed"] = True
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("URL", "USER", "PASSWORD", "CA_PATH", "VALIDATE_CERTS", "VERIFY_HOSTNAME", "TIMEOUT"):
        monkeypatch.delenv("GANETI_RAPI_" + name, raising=False)


def run_module(module, args, check_mode=False, diff=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises((ExitJson, FailJson)) as info:
            module.main()
    result = info.value.args[0]
    return result


@pytest.fixture
def conn(rapi):
    server, options = rapi
    return {key: options[key] for key in ("rapi_url", "rapi_user", "rapi_password", "ca_path")}


# ----------------------------------------------------------------------
# Tag planning through the module


class TagState:
    """Tags stored by the fake server, changed by tag jobs."""

    def __init__(self, fake, path, tags):
        self.tags = list(tags)
        self.next_job = 100
        fake.route("GET", path, lambda req: (200, list(self.tags)))
        fake.route("PUT", path, self.put)
        fake.route("DELETE", path, self.delete)
        self.fake = fake

    def _job(self, summary):
        self.next_job += 1
        self.fake.add_job(self.next_job, [("running", [("message", summary)]), ("success", [])],
                          final={"summary": [summary], "opstatus": ["success"]})
        return 200, self.next_job

    def put(self, req):
        if req["query"].get("dry-run") != ["1"]:
            self.tags.extend(t for t in req["query"]["tag"] if t not in self.tags)
        return self._job("TAGS_SET")

    def delete(self, req):
        if req["query"].get("dry-run") != ["1"]:
            self.tags = [t for t in self.tags if t not in req["query"]["tag"]]
        return self._job("TAGS_DEL")


def writes(fake):
    return [r for r in fake.requests if r["method"] in ("PUT", "POST", "DELETE")]


def test_tag_present_then_idempotent(conn, fake_rapi):
    state = TagState(fake_rapi, "/2/tags", ["env:lab"])
    args = dict(conn, kind="cluster", tags=["env:lab", "managed-by:ansible"])
    first = run_module(tag, args, diff=True)
    assert first["changed"] is True
    assert first["added"] == ["managed-by:ansible"]
    assert first["removed"] == []
    assert first["tags"] == ["env:lab", "managed-by:ansible"]
    assert first["job_ids"] == ["101"]
    assert first["jobs"][0]["status"] == "success"
    assert first["diff"] == {"before": {"tags": ["env:lab"]},
                             "after": {"tags": ["env:lab", "managed-by:ansible"]}}
    assert state.tags == ["env:lab", "managed-by:ansible"]
    second = run_module(tag, args)
    assert second["changed"] is False
    assert second["job_ids"] == []


def test_tag_check_mode_makes_no_writes(conn, fake_rapi):
    state = TagState(fake_rapi, "/2/instances/web1.example.org/tags", ["a", "b"])
    args = dict(conn, kind="instance", name="web1.example.org", tags=["c"], purge=True)
    result = run_module(tag, args, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["added"] == ["c"]
    assert result["removed"] == ["a", "b"]
    assert result["diff"]["after"] == {"tags": ["c"]}
    assert writes(fake_rapi) == []
    assert state.tags == ["a", "b"]


def test_tag_absent_and_purge(conn, fake_rapi):
    state = TagState(fake_rapi, "/2/nodes/n1.example.org/tags", ["a", "b", "c"])
    result = run_module(tag, dict(conn, kind="node", name="n1.example.org", tags=["b", "x"], state="absent"))
    assert result["changed"] is True
    assert result["removed"] == ["b"]
    assert state.tags == ["a", "c"]
    result = run_module(tag, dict(conn, kind="node", name="n1.example.org", tags=["z"], purge=True))
    assert result["removed"] == ["a", "c"]
    assert result["added"] == ["z"]
    assert state.tags == ["z"]
    # removal is sent before the addition
    assert [r["method"] for r in writes(fake_rapi)][-2:] == ["DELETE", "PUT"]


def test_tag_no_wait_returns_job_ids(conn, fake_rapi):
    TagState(fake_rapi, "/2/groups/default/tags", [])
    result = run_module(tag, dict(conn, kind="group", name="default", tags=["site:lab"], wait=False))
    assert result["changed"] is True
    assert result["job_ids"] == ["101"]
    assert "jobs" not in result
    assert not any(r["path"].endswith("/wait") for r in fake_rapi.requests)


def test_tag_job_failure_reports_job(conn, fake_rapi):
    fake_rapi.route("GET", "/2/tags", (200, []))
    fake_rapi.route("PUT", "/2/tags", (200, 55))
    fake_rapi.add_job(55, [("error", [("message", "Tag check failed")])], final={
        "opstatus": ["error"],
        "opresult": [["OpPrereqError", ["Too many tags", "wrong_input"]]],
    })
    result = run_module(tag, dict(conn, kind="cluster", tags=["x"]))
    assert result["failed"] is True
    assert result["job_id"] == "55"
    assert "OpPrereqError: Too many tags [wrong_input]" in result["msg"]
    assert result["job_log"][0]["message"] == "Tag check failed"


@pytest.mark.parametrize("args, words", [
    ({"kind": "cluster", "name": "x", "tags": ["a"]}, "must not be given"),
    ({"kind": "node", "tags": ["a"]}, "name is required"),
    ({"kind": "cluster", "tags": ["bad tag"]}, "Invalid tags"),
])
def test_tag_parameter_errors(conn, fake_rapi, args, words):
    result = run_module(tag, dict(conn, **args))
    assert result["failed"] is True
    assert words in result["msg"]
    assert fake_rapi.requests == []


# ----------------------------------------------------------------------
# Info modules


INSTANCES = [
    {"name": "web1.example.org", "status": "running", "pnode": "n1.example.org", "tags": []},
    {"name": "web2.example.org", "status": "ADMIN_down", "pnode": "n2.example.org", "tags": []},
]
NODES = [
    {"name": "n1.example.org", "role": "M"},
    {"name": "n2.example.org", "role": "C"},
]


def test_instance_info_all_one_and_several(conn, fake_rapi):
    fake_rapi.route("GET", "/2/instances", (200, INSTANCES))
    result = run_module(instance_info, conn)
    assert result["changed"] is False
    assert [i["name"] for i in result["instances"]] == ["web1.example.org", "web2.example.org"]
    result = run_module(instance_info, dict(conn, name="web2"))
    assert result["instance"]["name"] == "web2.example.org"
    result = run_module(instance_info, dict(conn, names=["web2.example.org", "web1.example.org"]))
    assert [i["name"] for i in result["instances"]] == ["web2.example.org", "web1.example.org"]
    assert all(r["query"] == {"bulk": ["1"]} for r in fake_rapi.requests)
    assert len(fake_rapi.requests) == 3


def test_instance_info_unknown_names_fail(conn, fake_rapi):
    fake_rapi.route("GET", "/2/instances", (200, INSTANCES))
    result = run_module(instance_info, dict(conn, names=["web1", "ghost", "phantom.example.org"]))
    assert result["failed"] is True
    assert "ghost, phantom.example.org" in result["msg"]
    assert result["missing"] == ["ghost", "phantom.example.org"]


def test_instance_info_name_and_names_exclusive(conn):
    result = run_module(instance_info, dict(conn, name="a", names=["b"]))
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_node_info(conn, fake_rapi):
    fake_rapi.route("GET", "/2/nodes", (200, NODES))
    result = run_module(node_info, dict(conn, name="n1"))
    assert result["node"]["role"] == "M"
    result = run_module(node_info, dict(conn, name="n9"))
    assert result["failed"] is True
    assert "Unknown node" in result["msg"] and "n9" in result["msg"]


def test_cluster_info(conn, fake_rapi):
    fake_rapi.route("GET", "/2/info", (200, {"name": "c1.example.org", "software_version": "3.0.2"}))
    fake_rapi.route("GET", "/version", (200, 2))
    fake_rapi.route("GET", "/2/features", (200, ["instance-create-reqv1"]))
    result = run_module(cluster_info, conn)
    assert result["cluster"]["name"] == "c1.example.org"
    assert result["rapi_version"] == 2
    assert result["features"] == ["instance-create-reqv1"]
    assert result["software_version"] == "3.0.2"
    assert result["software_version_info"] == [3, 0, 2]


def test_connection_from_environment(rapi, fake_rapi, monkeypatch):
    server, options = rapi
    monkeypatch.setenv("GANETI_RAPI_URL", server.url)
    monkeypatch.setenv("GANETI_RAPI_USER", "admin")
    monkeypatch.setenv("GANETI_RAPI_PASSWORD", options["rapi_password"])
    monkeypatch.setenv("GANETI_RAPI_CA_PATH", options["ca_path"])
    fake_rapi.route("GET", "/2/nodes", (200, NODES))
    result = run_module(node_info, {})
    assert len(result["nodes"]) == 2


def test_auth_failure_message(conn, fake_rapi):
    result = run_module(cluster_info, dict(conn, rapi_password="nope"))
    assert result["failed"] is True
    assert "'admin'" in result["msg"] and conn["rapi_url"] in result["msg"]
    assert result["status_code"] == 401


# ----------------------------------------------------------------------
# Job module


def test_job_info_does_not_fail_on_failed_job(conn, fake_rapi):
    fake_rapi.add_job(70, [("error", [("message", "x")])], final={
        "opstatus": ["error"], "opresult": [["OpExecError", ["disk failed"]]]})
    fake_rapi.jobs["70"].advance()
    result = run_module(job, dict(conn, job_id="70"))
    assert "failed" not in result
    assert result["status"] == "error"
    assert result["job"]["id"] == "70"
    assert result["error"] == {"error_class": "OpExecError", "message": "disk failed", "code": None}
    assert result["log"][0]["message"] == "x"


def test_job_waited(conn, fake_rapi):
    fake_rapi.add_job(71, [("running", [("message", "a")]), ("success", [("message", "b")])],
                      final={"opstatus": ["success"], "opresult": [["n1"]]})
    result = run_module(job, dict(conn, job_id="71", state="waited"))
    assert result["changed"] is False
    assert result["status"] == "success"
    assert result["job"]["opresult"] == [["n1"]]
    assert [e["message"] for e in result["log"]] == ["a", "b"]


def test_job_waited_failure(conn, fake_rapi):
    fake_rapi.add_job(72, [("error", [("message", "bad")])], final={
        "opstatus": ["error"], "opresult": [["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]]})
    result = run_module(job, dict(conn, job_id="72", state="waited"))
    assert result["failed"] is True
    assert result["job_id"] == "72"
    assert "Node 'x' not known" in result["msg"]


def test_job_cancel(conn, fake_rapi):
    queued = fake_rapi.add_job(73, [("canceled", [])], final={"opstatus": ["canceled"]})
    fake_rapi.route("DELETE", "/2/jobs/73", (200, [True, "Job 73 canceled"]))
    check = run_module(job, dict(conn, job_id="73", state="canceled"), check_mode=True)
    assert check["changed"] is True
    assert not any(r["method"] == "DELETE" for r in fake_rapi.requests)
    result = run_module(job, dict(conn, job_id="73", state="canceled"))
    assert result["changed"] is True
    assert result["cancel_message"] == "Job 73 canceled"
    assert result["status"] == "canceled"
    assert queued.status == "canceled"
    again = run_module(job, dict(conn, job_id="73", state="canceled"))
    assert again["changed"] is False


def test_job_cancel_refused(conn, fake_rapi):
    fake_rapi.add_job(74, [("running", [])])
    fake_rapi.jobs["74"].advance()
    fake_rapi.route("DELETE", "/2/jobs/74", (200, [False, "Job no longer waiting, can't cancel"]))
    result = run_module(job, dict(conn, job_id="74", state="canceled"))
    assert result["failed"] is True
    assert "can't cancel" in result["msg"]


def test_job_output_pure():
    out = job.job_output({"id": 5, "status": "success", "oplog": [[[1, [1, 0], "message", "m"]]]})
    assert out["job"]["id"] == "5"
    assert "oplog" not in out["job"]
    assert out["log"][0]["message"] == "m"
    assert "error" not in out


def test_node_info_returns_the_maintenance_record(conn, fake_rapi):
    nodes = [dict(NODES[0], tags=[]), dict(NODES[1], role="D", tags=["x", TAG_PREVIOUS_ROLE + "master-candidate"])]
    fake_rapi.route("GET", "/2/nodes", (200, nodes))
    result = run_module(node_info, dict(conn, name="n2"))
    assert result["maintenance"] == {"role": "drained", "record_tag": TAG_PREVIOUS_ROLE + "drained",
                                     "recorded_role": "master-candidate",
                                     "record_tags": [TAG_PREVIOUS_ROLE + "master-candidate"]}
    assert "maintenance" not in run_module(node_info, dict(conn, names=["n2"]))


# ----------------------------------------------------------------------
# Modules that run jobs: job ids and "changed" stay true when a later job fails


def job_route(fake, method, path, job_id, error=None):
    """Answer METHOD PATH with JOB_ID, a job that succeeds or fails with ERROR."""
    fake.route(method, path, (200, job_id))
    if error is None:
        fake.add_job(job_id, [("success", [])], final={"opstatus": ["success"]})
    else:
        fake.add_job(job_id, [("error", [("message", error)])],
                     final={"opstatus": ["error"], "opresult": [["OpExecError", [error]]]})


RUNNING = {"name": "web1.example.org", "admin_state": "up", "oper_state": True, "tags": [],
           "pnode": "n2.example.org", "snodes": [], "disk_template": "sharedfile"}


def test_instance_failure_after_a_change_reports_every_job(conn, fake_rapi):
    fake_rapi.route("GET", "/2/instances/web1.example.org", (200, RUNNING))
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/shutdown", 81)
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/tags", 82, error="tag storage full")
    result = run_module(instance, dict(conn, name="web1.example.org", state="stopped", tags=["a"]))
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["job_ids"] == ["81", "82"]
    assert result["job_id"] == "82" and "tag storage full" in result["msg"]
    assert result["actions"] == ["shutdown web1.example.org", "add tags a"]


def test_instance_plans_in_check_mode_and_acts_for_real(conn, fake_rapi):
    stopped = dict(RUNNING, admin_state="down", oper_state=False)
    fake_rapi.route("GET", "/2/instances/web1.example.org", (200, RUNNING), (200, RUNNING), (200, stopped))
    fake_rapi.route("GET", "/2/instances/gone.example.org", (404, {"message": "Instance not found"}))
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/shutdown", 83)
    checked = run_module(instance, dict(conn, name="web1.example.org", state="stopped"), check_mode=True)
    assert (checked["changed"], checked["actions"], checked["job_ids"]) == (True, ["shutdown web1.example.org"], [])
    assert writes(fake_rapi) == []
    done = run_module(instance, dict(conn, name="web1.example.org", state="stopped", shutdown_timeout=30))
    assert done["changed"] is True and done["job_ids"] == ["83"]
    assert done["instance"]["admin_state"] == "down"
    assert writes(fake_rapi)[0]["json"] == {"timeout": 30}
    absent = run_module(instance, dict(conn, name="gone.example.org", state="absent"))
    assert absent["changed"] is False and absent["actions"] == []
    missing = run_module(instance, dict(conn, name="gone.example.org", state="present"))
    assert missing["failed"] is True and "no spec is given" in missing["msg"]


CLUSTER_INFO = {"master": "n1.example.org", "candidate_pool_size": 10}
NODE_MC = {"name": "n2.example.org", "role": "C", "master_capable": True, "vm_capable": True, "tags": []}


def test_node_role_change_goes_through_the_role_resource(conn, fake_rapi):
    fake_rapi.route("GET", "/2/info", (200, CLUSTER_INFO))
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], NODE_MC]), (200, [NODES[0], dict(NODE_MC, role="D")]))
    job_route(fake_rapi, "PUT", "/2/nodes/n2.example.org/role", 90)
    result = run_module(node, dict(conn, name="n2", role="drained"))
    assert result["changed"] is True and result["role"] == "drained" and result["role_before"] == "master-candidate"
    assert result["job_ids"] == ["90"] and result["actions"] == ["change role from master-candidate to drained"]
    request = writes(fake_rapi)[0]
    assert request["json"] == "drained" and "auto-promote" not in request["query"]


def test_node_check_mode_is_a_dry_run_that_changes_nothing(conn, fake_rapi):
    fake_rapi.route("GET", "/2/info", (200, CLUSTER_INFO))
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], NODE_MC]))
    job_route(fake_rapi, "POST", "/2/nodes/n2.example.org/modify", 91, error="node has instances")
    result = run_module(node, dict(conn, name="n2", role="drained"), check_mode=True)
    assert result["failed"] is True and result["changed"] is False and result["job_ids"] == ["91"]
    assert result["msg"].startswith("Ganeti refuses to change role from master-candidate to drained on node "
                                    "n2.example.org (dry run): ")
    assert writes(fake_rapi)[0]["json"] == {"drained": True, "dry_run": True}


def test_node_unknown_fails_before_any_job(conn, fake_rapi):
    fake_rapi.route("GET", "/2/info", (200, CLUSTER_INFO))
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], NODE_MC]))
    result = run_module(node, dict(conn, name="n9", role="drained"))
    assert result["failed"] is True and result["changed"] is False and result["job_ids"] == []
    assert "unknown node n9" in result["msg"] and "n1.example.org, n2.example.org" in result["msg"]


def test_node_evacuate_records_then_migrates(conn, fake_rapi):
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], dict(NODE_MC, role="D")]))
    fake_rapi.route("GET", "/2/instances", (200, [RUNNING]))
    fake_rapi.route("GET", "/2/instances/web1.example.org", (200, dict(RUNNING, pnode="n1.example.org")))
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/tags", 95)
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/migrate", 96)
    result = run_module(node_evacuate, dict(conn, name="n2"))
    assert result["changed"] is True and result["job_ids"] == ["95", "96"]
    assert result["moved"] == [{"name": "web1.example.org", "method": "migrate", "from": "n2.example.org",
                                "to": "n1.example.org"}]
    tagging, migration = writes(fake_rapi)
    assert tagging["query"]["tag"] == [TAG_MOVED_FROM + "n2.example.org"]
    assert migration["json"] == {"mode": "live", "allow_failover": False}


def test_node_evacuate_failed_move_after_its_record_reports_both_jobs(conn, fake_rapi):
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], dict(NODE_MC, role="D")]))
    fake_rapi.route("GET", "/2/instances", (200, [RUNNING]))
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/tags", 97)
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/migrate", 98, error="not enough memory")
    result = run_module(node_evacuate, dict(conn, name="n2"))
    assert result["failed"] is True and result["changed"] is True and result["job_ids"] == ["97", "98"]
    assert result["msg"].startswith("Failed to migrate instance web1.example.org off node n2.example.org: ")
    assert "not enough memory" in result["msg"]


def test_node_evacuate_check_mode_sends_dry_runs_only(conn, fake_rapi):
    fake_rapi.route("GET", "/2/nodes", (200, [NODES[0], dict(NODE_MC, role="D")]))
    fake_rapi.route("GET", "/2/instances", (200, [RUNNING]))
    job_route(fake_rapi, "PUT", "/2/instances/web1.example.org/migrate", 99)
    result = run_module(node_evacuate, dict(conn, name="n2"), check_mode=True)
    assert result["changed"] is True and result["job_ids"] == ["99"]
    assert [w["path"] for w in writes(fake_rapi)] == ["/2/instances/web1.example.org/migrate"]
    assert writes(fake_rapi)[0]["json"]["dry_run"] is True


def test_rapi_access_check_write_access_by_dry_run(conn, fake_rapi):
    fake_rapi.route("GET", "/version", (200, 2))
    fake_rapi.route("GET", "/2/info", (200, {"name": "c1.example.org", "software_version": "3.0.2"}))
    job_route(fake_rapi, "PUT", "/2/tags", 100)
    result = run_module(rapi_access_check, dict(conn, expected_cluster_name="c1.example.org"))
    assert result["changed"] is False and result["write_access"] is True and result["job_id"] == "100"
    request = writes(fake_rapi)[0]
    assert request["query"] == {"tag": [TAG_ACCESS_CHECK], "dry-run": ["1"]}


def test_rapi_access_check_names_the_failed_step(conn, fake_rapi):
    fake_rapi.route("GET", "/version", (200, 2))
    fake_rapi.route("GET", "/2/info", (200, {"name": "c1.example.org"}))
    fake_rapi.route("PUT", "/2/tags", (403, {"message": "Forbidden"}))
    result = run_module(rapi_access_check, conn)
    assert result["failed"] is True and result["status_code"] == 403
    assert result["msg"].startswith("RAPI access check failed at the write access (dry-run job) step: ")
    assert result["cluster_name"] == "c1.example.org" and result["rapi_version"] == 2
