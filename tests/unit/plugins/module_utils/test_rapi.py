# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the RAPI client against a local HTTPS server."""

from __future__ import annotations

import base64
import os

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import rapi_client as rapi_mod
from ansible_collections.ganeti.fleet.plugins.module_utils._transport import describe_path
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    connection_suboptions,
    given_ca_path,
    rapi_argument_spec,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import decode_op_error, parse_log_entry
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import RapiClient

PASSWORD = "s3cret-Pa55"


def client_for(options, **overrides):
    opts = dict(options)
    opts.update(overrides)
    client = RapiClient.from_options(opts, retries=2, backoff=0.01)
    client.min_wait_interval = 0.01
    return client


# ----------------------------------------------------------------------
# Construction and options


def test_argument_spec_env_fallbacks():
    spec = rapi_argument_spec()
    envs = {name: opt["fallback"][1][0] for name, opt in spec.items() if "fallback" in opt}
    assert envs == {
        "rapi_url": "GANETI_RAPI_URL",
        "rapi_user": "GANETI_RAPI_USER",
        "rapi_password": "GANETI_RAPI_PASSWORD",
        "ca_path": "GANETI_RAPI_CA_PATH",
        "verify_hostname": "GANETI_RAPI_VERIFY_HOSTNAME",
        "timeout": "GANETI_RAPI_TIMEOUT",
    }
    # Giving up protection is never inherited from the environment.
    assert set(spec) - set(envs) == {"validate_certs", "allow_plain_http"}
    assert spec["allow_plain_http"]["default"] is False
    assert spec["rapi_password"]["no_log"] is True
    assert spec["validate_certs"]["default"] is True
    assert spec["verify_hostname"]["default"] is True


@pytest.mark.parametrize("given, expected", [
    ("cluster.example.org", "https://cluster.example.org:5080"),
    ("cluster.example.org:5081", "https://cluster.example.org:5081"),
    ("https://cluster.example.org:5080/", "https://cluster.example.org:5080"),
    ("http://c1.example.org", "http://c1.example.org:5080"),
    ("https://[2001:db8::1]:5080", "https://[2001:db8::1]:5080"),
])
def test_normalize_url(given, expected):
    assert RapiClient.normalize_url(given, allow_plain_http=True) == expected


@pytest.mark.parametrize("bad", ["", "ftp://x", "https://user:pw@host:5080", "http://c1.example.org"])
def test_normalize_url_rejects(bad):
    with pytest.raises(RapiError) as err:
        RapiClient.normalize_url(bad)
    assert err.value.kind == "config"
    assert "pw" not in str(err.value) or bad == ""


def test_from_options_requires_url():
    with pytest.raises(RapiError, match="GANETI_RAPI_URL"):
        RapiClient.from_options({"rapi_user": "x"})


def test_from_module_uses_params():
    class FakeModule:
        _name = "ganeti.fleet.cluster_info"
        params = {"rapi_url": "c1.example.org", "rapi_user": "u", "rapi_password": "p",
                  "ca_path": None, "validate_certs": True, "verify_hostname": True, "timeout": 5}

    client = RapiClient.from_module(FakeModule())
    assert client.url == "https://c1.example.org:5080"
    assert client.timeout == 5
    assert client._session.headers["User-Agent"] == "ganeti.fleet/ganeti.fleet.cluster_info"


def test_password_not_in_repr():
    client = RapiClient("c1.example.org", user="admin", password=PASSWORD)
    assert PASSWORD not in repr(client)
    assert PASSWORD not in str(vars(client).get("url"))


# ----------------------------------------------------------------------
# Requests, auth and errors


def test_get_sends_basic_auth_and_accept(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/version", (200, 2))
    client = client_for(options)
    assert client.get_version() == 2
    req = fake_rapi.requests[-1]
    expected = "Basic " + base64.b64encode(("admin:%s" % PASSWORD).encode()).decode()
    assert req["headers"]["Authorization"] == expected
    assert req["headers"]["Accept"] == "application/json"


def test_keep_alive_reuses_connection(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/version", (200, 2))
    client = client_for(options)
    for dummy in range(3):
        client.get_version()
    pool = client._session.get_adapter(server.url).poolmanager
    assert len(pool.pools) == 1


def test_write_sends_json_content_type(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("POST", "/2/instances", (200, 1234))
    client = client_for(options)
    job_id = client.submit("POST", "/2/instances", query={"dry-run": True}, body={"__version__": 1})
    assert job_id == "1234"
    req = fake_rapi.requests[-1]
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["json"] == {"__version__": 1}
    assert req["query"] == {"dry-run": ["1"]}


def test_job_id_string_is_opaque(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("PUT", "/2/tags", (200, "77"))
    client = client_for(options)
    assert client.add_tags("cluster", None, ["a", "b:c"]) == "77"
    req = fake_rapi.requests[-1]
    assert req["query"] == {"tag": ["a", "b:c"]}
    assert req["headers"]["Content-Type"] == "application/json"


def test_tags_paths_and_dry_run(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/instances/web1.example.org/tags", (200, ["x", "y"]))
    fake_rapi.route("DELETE", "/2/groups/default/tags", (200, 5))
    client = client_for(options)
    assert client.get_tags("instance", "web1.example.org") == ["x", "y"]
    assert client.remove_tags("group", "default", ["x"], dry_run=True) == "5"
    assert fake_rapi.requests[-1]["query"] == {"tag": ["x"], "dry-run": ["1"]}
    assert RapiClient.tags_path("node", "n1") == "/2/nodes/n1/tags"
    assert RapiClient.tags_path("cluster") == "/2/tags"
    with pytest.raises(RapiError):
        RapiClient.tags_path("instance")
    with pytest.raises(RapiError):
        RapiClient.tags_path("bogus", "x")


def test_bulk_lists(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/instances", lambda req: (200, [{"name": "a", "bulk": req["query"]}]))
    fake_rapi.route("GET", "/2/nodes", (200, [{"name": "n1"}]))
    client = client_for(options)
    assert client.list_instances() == [{"name": "a", "bulk": {"bulk": ["1"]}}]
    assert client.list_nodes() == [{"name": "n1"}]


def test_401_names_user_and_url(rapi, fake_rapi):
    server, options = rapi
    client = client_for(options, rapi_password="wrong-password")
    with pytest.raises(RapiError) as err:
        client.get_info()
    message = str(err.value)
    assert err.value.status_code == 401
    assert err.value.kind == "auth"
    assert "'admin'" in message
    assert server.url in message
    assert "credentials" in message
    assert "wrong-password" not in message and PASSWORD not in message


def test_401_without_credentials(rapi, fake_rapi):
    server, options = rapi
    client = client_for(options, rapi_user=None, rapi_password=None)
    with pytest.raises(RapiError) as err:
        client.get_info()
    assert "no credentials were given" in str(err.value)
    assert "Authorization" not in fake_rapi.requests[-1]["headers"]


def test_403_says_write_access_needed(rapi, fake_rapi):
    server, options = rapi
    client = client_for(options, rapi_user="reader", rapi_password="r3ad-only")
    with pytest.raises(RapiError) as err:
        client.add_tags("cluster", None, ["x"])
    assert err.value.status_code == 403
    assert "write access" in str(err.value)
    assert "'reader'" in str(err.value)


def test_404_names_object(rapi, fake_rapi):
    server, options = rapi
    client = client_for(options)
    with pytest.raises(RapiError) as err:
        client.get_instance("ghost.example.org")
    message = str(err.value)
    assert err.value.status_code == 404
    assert err.value.kind == "not_found"
    assert "instance 'ghost.example.org' not found" in message
    assert "/2/instances/ghost.example.org" in message


def test_415_reported(rapi, fake_rapi):
    server, options = rapi
    body = {"code": 415, "message": "Unsupported Media Type", "explain": ""}
    fake_rapi.route("PUT", "/2/modify", (415, body))
    client = client_for(options)
    with pytest.raises(RapiError) as err:
        client.submit("PUT", "/2/modify", body={"x": 1})
    assert err.value.status_code == 415
    assert "unsupported media type" in str(err.value)


def test_real_415_for_body_without_content_type(rapi, fake_rapi):
    """The fake server enforces the content type like Ganeti; the client always sends it."""
    server, options = rapi
    client = client_for(options)
    client._session.headers["Content-Type"] = "text/plain"
    fake_rapi.route("PUT", "/2/modify", (200, 1))
    # our explicit per-request header wins over the session default
    assert client.submit("PUT", "/2/modify", body={"x": 1}) == "1"


def test_error_message_html_unescaped(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("PUT", "/2/nodes/n1/role",
                    (400, {"code": 400, "message": "Can&#x27;t set &#x27;bogus&#x27; role",
                           "explain": "Bad &amp; request"}))
    client = client_for(options)
    with pytest.raises(RapiError) as err:
        client.submit("PUT", "/2/nodes/n1/role", body="bogus")
    assert "Can't set 'bogus' role" in str(err.value)
    assert "&#x27;" not in str(err.value)
    assert err.value.explain == "Bad & request"


def test_non_json_error_body(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/info", (500, b"<html>Internal &lt;error&gt;</html>"))
    client = client_for(options)
    client.retries = 0
    with pytest.raises(RapiError) as err:
        client.get_info()
    assert "HTTP 500" in str(err.value)
    assert "<error>" in str(err.value)


def test_invalid_json_success_body(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/info", (200, b"not json"))
    with pytest.raises(RapiError) as err:
        client_for(options).get_info()
    assert err.value.kind == "invalid_response"


def test_features_404_means_empty(rapi, fake_rapi):
    server, options = rapi
    client = client_for(options)
    assert client.get_features() == []
    fake_rapi.route("GET", "/2/features", (200, ["instance-create-reqv1"]))
    assert client.get_features() == ["instance-create-reqv1"]


# ----------------------------------------------------------------------
# TLS


def test_wrong_ca_fails_and_names_ca_file(rapi, certs):
    server, options = rapi
    client = client_for(options, ca_path=certs.other_ca)
    with pytest.raises(RapiError) as err:
        client.get_version()
    message = str(err.value)
    assert err.value.kind == "tls"
    assert certs.other_ca in message
    assert "CA file" in message
    assert "certificate verify failed" in message


def test_no_ca_uses_system_bundle_and_says_so(rapi):
    server, options = rapi
    client = client_for(options, ca_path=None)
    with pytest.raises(RapiError) as err:
        client.get_version()
    assert "ca_path" in str(err.value)
    assert "GANETI_RAPI_CA_PATH" in str(err.value)


def test_validate_certs_false(rapi, fake_rapi, certs):
    server, options = rapi
    fake_rapi.route("GET", "/version", (200, 2))
    client = client_for(options, ca_path=certs.other_ca, validate_certs=False)
    assert client.get_version() == 2


def test_hostname_mismatch_fails_by_default(fake_rapi, start_server, certs):
    server = start_server(fake_rapi, cert="example")
    fake_rapi.route("GET", "/version", (200, 2))
    client = client_for({"rapi_url": server.url, "rapi_user": "admin", "rapi_password": PASSWORD,
                         "ca_path": certs.ca})
    with pytest.raises(RapiError) as err:
        client.get_version()
    message = str(err.value)
    assert err.value.kind == "tls"
    assert "ganeti.example.com" in message
    assert "verify_hostname" in message
    assert certs.ca in message


def test_skip_hostname_keeps_ca_check(fake_rapi, start_server, certs):
    server = start_server(fake_rapi, cert="example")
    fake_rapi.route("GET", "/version", (200, 2))
    base = {"rapi_url": server.url, "rapi_user": "admin", "rapi_password": PASSWORD,
            "verify_hostname": False}
    client = client_for(base, ca_path=certs.ca)
    assert client.get_version() == 2
    # the right CA, no host name check: fine; a wrong CA must still fail
    wrong = client_for(base, ca_path=certs.other_ca)
    with pytest.raises(RapiError) as err:
        wrong.get_version()
    assert err.value.kind == "tls"
    assert certs.other_ca in str(err.value)
    # without a CA file the system CA store would vouch for any host: refused before any request
    with pytest.raises(RapiError) as err:
        client_for(base, ca_path=None)
    assert err.value.kind == "config" and "needs ca_path" in str(err.value)


def test_skip_hostname_refuses_a_bundle_of_several_certificates(certs, tmp_path):
    """Without the host name check every certificate of ca_path would be accepted for the cluster."""
    bundle = tmp_path / "bundle.pem"
    with open(certs.ca, encoding="ascii") as one, open(certs.other_ca, encoding="ascii") as other:
        bundle.write_text(one.read() + other.read())
    with pytest.raises(RapiError) as err:
        RapiClient("https://c1.example.org", ca_path=str(bundle), verify_hostname=False)
    assert err.value.kind == "config"
    assert "holds 2 PEM blocks" in str(err.value) and str(bundle) in str(err.value)
    # One certificate is fine; with the host name checked, a bundle is fine too.
    RapiClient("https://c1.example.org", ca_path=certs.ca, verify_hostname=False).close()
    RapiClient("https://c1.example.org", ca_path=str(bundle)).close()


@pytest.mark.parametrize("timeout", [0, -1, "60"])
def test_timeout_must_be_positive(timeout):
    with pytest.raises(RapiError) as err:
        RapiClient("https://c1.example.org", timeout=timeout)
    assert err.value.kind == "config" and "timeout must be a positive number" in str(err.value)


def test_plain_http_is_refused_unless_allowed():
    with pytest.raises(RapiError) as err:
        RapiClient("http://c1.example.org:5080", user="u", password="pw-4711")
    assert err.value.kind == "config"
    assert "plain HTTP" in str(err.value) and "allow_plain_http=true" in str(err.value)
    assert "pw-4711" not in str(err.value)
    client = RapiClient.from_options({"rapi_url": "http://c1.example.org", "allow_plain_http": True})
    assert client.url == "http://c1.example.org:5080"


def test_skip_hostname_does_not_leak_into_other_clients(fake_rapi, start_server, certs):
    server = start_server(fake_rapi, cert="example")
    fake_rapi.route("GET", "/version", (200, 2))
    base = {"rapi_url": server.url, "rapi_user": "admin", "rapi_password": PASSWORD,
            "ca_path": certs.ca}
    assert client_for(base, verify_hostname=False).get_version() == 2
    with pytest.raises(RapiError):
        client_for(base).get_version()


# ----------------------------------------------------------------------
# Retries


def test_get_retried_after_5xx(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/info", (503, {"code": 503, "message": "queue full", "explain": ""}),
                    (502, {"code": 502, "message": "master down", "explain": ""}),
                    (200, {"name": "c1"}))
    assert client_for(options).get_info() == {"name": "c1"}
    assert fake_rapi.count("GET", "/2/info") == 3


def test_get_retries_are_bounded(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("GET", "/2/info", (503, {"code": 503, "message": "Job queue full", "explain": ""}))
    with pytest.raises(RapiError) as err:
        client_for(options).get_info()
    assert err.value.status_code == 503
    assert "Job queue full" in str(err.value)
    assert fake_rapi.count("GET", "/2/info") == 3  # first try + 2 retries


def test_post_not_retried_after_5xx(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("POST", "/2/instances", (503, {"code": 503, "message": "queue full", "explain": ""}),
                    (200, 99))
    with pytest.raises(RapiError) as err:
        client_for(options).submit("POST", "/2/instances", body={"__version__": 1})
    assert err.value.status_code == 503
    assert fake_rapi.count("POST", "/2/instances") == 1


def test_connection_refused_names_url_and_is_retried(free_port, monkeypatch):
    sleeps = []
    monkeypatch.setattr(rapi_mod.time, "sleep", sleeps.append)
    client = RapiClient("https://127.0.0.1:%d" % free_port, user="admin", password=PASSWORD,
                        retries=2, backoff=0.25)
    with pytest.raises(RapiError) as err:
        client.submit("POST", "/2/instances", body={})
    message = str(err.value)
    assert err.value.kind == "connection"
    assert "https://127.0.0.1:%d" % free_port in message
    assert "refused" in message.lower()
    assert PASSWORD not in message
    # refused: nothing was sent, so even a POST is retried, with growing delays
    assert sleeps == [0.25, 0.5]


# ----------------------------------------------------------------------
# Jobs


def test_wait_for_job_success_incremental_log(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(10, [
        ("queued", []),
        ("running", [("message", "step one")]),
        ("running", []),
        ("running", [("message", "step two"), ("message", "step three")]),
        ("success", []),
    ], final={"summary": ["TAGS_SET(cluster)"], "opstatus": ["success"], "opresult": [None]})
    client = client_for(options)
    seen = []
    result = client.wait_for_job("10", timeout=30, on_log=seen.append)
    assert result["status"] == "success"
    assert result["job_id"] == "10"
    assert result["summary"] == ["TAGS_SET(cluster)"]
    assert [e["message"] for e in seen] == ["step one", "step two", "step three"]
    assert [e["serial"] for e in result["log"]] == [1, 2, 3]
    assert result["log"][0]["timestamp"] == pytest.approx(1700000001.25)
    waits = [r for r in fake_rapi.requests if r["path"] == "/2/jobs/10/wait"]
    assert waits[0]["json"] == {"fields": ["status"], "previous_job_info": None,
                                "previous_log_serial": None}
    assert waits[0]["headers"]["Content-Type"] == "application/json"
    # later polls carry what was seen so far
    assert len(waits) == 5
    assert waits[-1]["json"]["previous_log_serial"] == 3
    assert waits[-1]["json"]["previous_job_info"] == ["running"]


def test_remote_import_callback_before_completion(rapi, fake_rapi):
    server, options = rapi
    impinfo = {"disks": [["198.18.0.12", 41234, "magic", "hmac", "salt"]], "x509_ca": "CA..."}
    job = fake_rapi.add_job(11, [
        ("running", [("message", "creating disks")]),
        ("running", [("remote-import", impinfo)]),
        ("running", []),
        ("running", [("message", "import done")]),
        ("success", []),
    ], final={"opstatus": ["success"], "opresult": [["node2.example.org"]]})
    client = client_for(options)
    captured = []

    def on_log(entry):
        if entry["type"] == "remote-import":
            captured.append((entry["message"], job.status))

    result = client.wait_for_job(11, timeout=30, on_log=on_log)
    assert captured == [(impinfo, "running")]
    assert result["opresult"] == [["node2.example.org"]]


def test_job_waiter_step_by_step(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(12, [("running", [("message", "a")]), ("success", [])],
                      final={"opstatus": ["success"]})
    waiter = client_for(options).job_waiter("12")
    assert [e["message"] for e in waiter.poll()] == ["a"]
    assert not waiter.finished
    waiter.poll()
    assert waiter.status == "success"
    waiter.poll()
    assert waiter.finished
    assert waiter.result()["status"] == "success"


def test_job_failure_raises_with_opresult_and_log(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(13, [
        ("running", [("message", "checking node")]),
        ("error", [("message", "Node &#x27;x&#x27; check failed")]),
    ], final={
        "summary": ["NODE_SET_PARAMS(x)"],
        "opstatus": ["error"],
        "opresult": [["OpPrereqError", ["Node &#x27;x&#x27; not known", "unknown_entity"]]],
    })
    client = client_for(options)
    with pytest.raises(RapiError) as err:
        client.wait_for_job("13", timeout=30)
    exc = err.value
    assert exc.kind == "job_failed"
    assert exc.job_id == "13"
    assert exc.job_status == "error"
    assert exc.error_class == "OpPrereqError"
    assert exc.error_message == "Node 'x' not known"
    assert exc.error_code == "unknown_entity"
    assert exc.summary == ["NODE_SET_PARAMS(x)"]
    assert [e["message"] for e in exc.log_tail(1)] == ["Node 'x' check failed"]
    message = str(exc)
    assert "Job 13" in message and "NODE_SET_PARAMS(x)" in message
    assert "OpPrereqError: Node 'x' not known [unknown_entity]" in message
    result = exc.to_result()
    assert result["job_id"] == "13"
    assert result["error"] == {"error_class": "OpPrereqError", "message": "Node 'x' not known",
                               "code": "unknown_entity"}
    assert len(result["job_log"]) == 2


def test_job_canceled(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(14, [("canceled", [])], final={"opstatus": ["canceled"]})
    with pytest.raises(RapiError) as err:
        client_for(options).wait_for_job("14", timeout=30)
    assert "canceled" in str(err.value)
    assert err.value.job_status == "canceled"


def test_job_wait_timeout_reports_job_id(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(15, [("running", [("message", "copying disk 0")])],
                      final={"summary": ["INSTANCE_CREATE(web1)"], "opstatus": ["running"]})
    client = client_for(options)
    with pytest.raises(RapiError) as err:
        client.wait_for_job("15", timeout=0.3)
    exc = err.value
    assert exc.timed_out is True
    assert exc.kind == "job_timeout"
    assert exc.job_id == "15"
    assert exc.job_status == "running"
    assert "15" in str(exc) and "still be running" in str(exc)
    assert "copying disk 0" in str(exc)
    assert exc.to_result()["job_id"] == "15"


def test_unknown_job_is_404(rapi, fake_rapi):
    server, options = rapi
    with pytest.raises(RapiError) as err:
        client_for(options).wait_for_job("999", timeout=5)
    assert err.value.status_code == 404
    assert "job '999'" in str(err.value)
    assert err.value.job_id == "999"


def test_cancel_job(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.route("DELETE", "/2/jobs/16", (200, [True, "Job 16 will be canceled"]))
    assert client_for(options).cancel_job(16) == (True, "Job 16 will be canceled")


def test_on_poll_can_abort(rapi, fake_rapi):
    server, options = rapi
    fake_rapi.add_job(17, [("running", [])])

    class Abort(Exception):
        pass

    def on_poll(waiter):
        raise Abort(waiter.job_id)

    with pytest.raises(Abort):
        client_for(options).wait_for_job("17", timeout=30, on_poll=on_poll)


# ----------------------------------------------------------------------
# Pure helpers


def test_decode_op_error_variants():
    assert decode_op_error(["OpPrereqError", ["Can&#x27;t", "wrong_input"]]) == (
        "OpPrereqError", "Can't", "wrong_input")
    assert decode_op_error(["OpExecError", ["boom"]]) == ("OpExecError", "boom", None)
    assert decode_op_error(["OpExecError", "boom"]) == ("OpExecError", "boom", None)
    assert decode_op_error(None) == (None, None, None)


def test_parse_log_entry():
    entry = parse_log_entry([4, [1700000000, 500000], "message", "a &amp; b"])
    assert entry == {"serial": 4, "timestamp": 1700000000.5, "type": "message", "message": "a & b"}


def test_describe_path():
    assert describe_path("/2/nodes/n1.example.org/role") == "node 'n1.example.org'"
    assert describe_path("/2/groups/default") == "node group 'default'"
    assert describe_path("/2/info") == "resource /2/info"


def test_password_never_in_error_messages(rapi, fake_rapi, certs, free_port):
    server, options = rapi
    messages = []
    for overrides in ({"rapi_password": "wrong"}, {"ca_path": certs.other_ca},
                      {"rapi_url": "https://127.0.0.1:%d" % free_port}):
        client = client_for(options, **overrides)
        client.retries = 0
        with pytest.raises(RapiError) as err:
            client.get_info()
        messages.append(str(err.value))
        messages.append(repr(err.value))
        messages.append(repr(err.value.to_result()))
        messages.append(repr(client))
    for text in messages:
        assert PASSWORD not in text


class RecordingClient(RapiClient):
    """Records the paths of the requests the typed calls make, without sending any."""

    def __init__(self):
        super().__init__("https://c1.example.org")
        self.paths = []

    def request(self, method, path, query=None, body=None, timeout=None, retry=None):
        self.paths.append(path)
        return 1 if method != "GET" else {}


def test_every_typed_call_quotes_the_object_name():
    """A name with '/', '?', '#' or a blank cannot reach another RAPI path."""
    name = "a/b?c#d e"
    quoted = "a%2Fb%3Fc%23d%20e"
    client = RecordingClient()
    calls = [
        lambda: client.get_instance(name, missing_ok=True), lambda: client.remove_instance(name),
        lambda: client.shutdown_instance(name), lambda: client.startup_instance(name),
        lambda: client.rename_instance(name, "x"), lambda: client.query_instance(name),
        lambda: client.prepare_export(name), lambda: client.export_instance(name, {}),
        lambda: client.migrate_instance(name, {}), lambda: client.failover_instance(name, {}),
        lambda: client.set_node_role(name, "regular"), lambda: client.modify_node(name, {}),
        lambda: client.evacuate_node(name, {}), lambda: client.get_tags("instance", name),
        lambda: client.add_tags("node", name, ["t"]), lambda: client.remove_tags("group", name, ["t"]),
    ]
    for call in calls:
        try:
            call()
        except (RapiError, TypeError, KeyError):
            pass            # the fake answers are not what the call expects: only the path matters here
    assert len(client.paths) >= len(calls)
    for path in client.paths:
        assert name not in path and quoted in path, path


# ----------------------------------------------------------------------
# Empty values from a credential store: "not given"

_FLAT_VARIABLES = ("GANETI_RAPI_URL", "GANETI_RAPI_USER", "GANETI_RAPI_PASSWORD", "GANETI_RAPI_CA_PATH",
                   "GANETI_RAPI_VERIFY_HOSTNAME", "GANETI_RAPI_TIMEOUT")


def _validated(spec, parameters, monkeypatch, environment):
    """PARAMETERS as a module validates them against SPEC, with exactly ENVIRONMENT among the GANETI_ variables."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    for name in list(os.environ):
        if name.startswith("GANETI_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(spec).validate(parameters)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_given_ca_path_rule(tmp_path, certs):
    """Empty values and blank files say "no CA file"; anything else is kept, so that its error names it."""
    blank = tmp_path / "blank.pem"
    blank.write_bytes(b" \n\r\n\t")
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate\n")
    for value in (None, "", "   "):
        assert given_ca_path(value) is None
    assert given_ca_path(str(blank)) is None
    assert given_ca_path(str(empty)) is None
    assert given_ca_path(certs.ca) == certs.ca
    assert given_ca_path(str(garbage)) == str(garbage)
    assert given_ca_path(str(tmp_path / "missing.pem")) == str(tmp_path / "missing.pem")
    assert given_ca_path(str(tmp_path)) == str(tmp_path)            # a directory is no blank file


def test_empty_environment_variables_count_as_not_set(monkeypatch):
    """AWX injects every variable of a credential type, "" for an empty input: "" means not set."""
    params = _validated(rapi_argument_spec(), {}, monkeypatch, dict(
        {name: "" for name in _FLAT_VARIABLES}, GANETI_RAPI_URL="https://c1.example.org"))
    assert params["rapi_url"] == "https://c1.example.org"
    assert params["rapi_user"] is None and params["rapi_password"] is None and params["ca_path"] is None
    assert params["verify_hostname"] is True and params["timeout"] == 60


def test_an_empty_url_variable_leaves_the_url_missing(monkeypatch):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    monkeypatch.setenv("GANETI_RAPI_URL", "")
    result = ArgumentSpecValidator(rapi_argument_spec()).validate({})
    assert "rapi_url" in " ".join(result.error_messages)


@pytest.mark.parametrize("content", [b"", b"\n", b"  \r\n"], ids=["empty", "newline", "blanks"])
def test_a_blank_ca_file_in_the_environment_means_the_default_trust(monkeypatch, tmp_path, content):
    """The file AWX writes for an empty CA input, flat and in the dict form of a move."""
    blank = tmp_path / "ca"
    blank.write_bytes(content)
    flat = _validated(rapi_argument_spec(), {}, monkeypatch,
                      {"GANETI_RAPI_URL": "https://c1.example.org", "GANETI_RAPI_CA_PATH": str(blank)})
    assert flat["ca_path"] is None
    spec = {"destination": {"type": "dict", "options": connection_suboptions("GANETI_DEST_RAPI_")}}
    nested = _validated(spec, {"destination": {}}, monkeypatch,
                        {"GANETI_DEST_RAPI_URL": "https://c2.example.org", "GANETI_DEST_RAPI_CA_PATH": str(blank)})
    assert nested["destination"]["rapi_url"] == "https://c2.example.org"
    assert nested["destination"]["ca_path"] is None


def test_a_ca_file_with_content_and_a_missing_one_are_kept(monkeypatch, tmp_path, certs):
    spec = {"source": {"type": "dict", "options": connection_suboptions("GANETI_SOURCE_RAPI_")}}
    kept = _validated(spec, {"source": {}}, monkeypatch, {"GANETI_SOURCE_RAPI_CA_PATH": certs.ca})
    assert kept["source"]["ca_path"] == certs.ca
    missing = str(tmp_path / "missing.pem")
    kept = _validated(spec, {"source": {}}, monkeypatch, {"GANETI_SOURCE_RAPI_CA_PATH": missing})
    assert kept["source"]["ca_path"] == missing


def test_a_task_value_wins_over_a_blank_environment(monkeypatch, tmp_path, certs):
    blank = tmp_path / "ca"
    blank.write_bytes(b"")
    params = _validated(rapi_argument_spec(), {"rapi_url": "c1", "ca_path": certs.ca}, monkeypatch,
                        {"GANETI_RAPI_CA_PATH": str(blank)})
    assert params["ca_path"] == certs.ca


def test_blank_ca_file_means_the_default_trust_which_still_verifies(rapi, fake_rapi, monkeypatch, tmp_path, certs):
    """Through the whole path: the blank file is not loaded (no NO_CERTIFICATE_OR_CRL_FOUND), TLS is still checked.

    Without the server's CA in the default trust the connection fails on the certificate; with it (here
    REQUESTS_CA_BUNDLE, as an execution environment's trust could hold it) the same options connect.
    """
    _server, options = rapi
    blank = tmp_path / "ca"
    blank.write_bytes(b"")
    environment = {"GANETI_RAPI_URL": options["rapi_url"], "GANETI_RAPI_USER": options["rapi_user"],
                   "GANETI_RAPI_PASSWORD": options["rapi_password"], "GANETI_RAPI_CA_PATH": str(blank)}
    params = _validated(rapi_argument_spec(), {}, monkeypatch, environment)
    assert params["ca_path"] is None
    with pytest.raises(RapiError) as err:
        client_for(params).get_version()
    message = str(err.value)
    assert err.value.kind == "tls" and "certificate verify failed" in message, message
    assert "NO_CERTIFICATE_OR_CRL_FOUND" not in message and "no CA file was given" in message, message
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certs.ca)
    fake_rapi.route("GET", "/version", (200, 2))
    client = client_for(params)
    assert client.get_version() == 2
    client.close()
