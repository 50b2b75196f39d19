"""The foundation RAPI modules in real playbooks against the lab's Ganeti 3.0.2 clusters.

Every playbook is written to a temporary directory and run with
ansible-playbook; the module results are read from the suite's JSON
callback, and every change (or its absence in check mode) is checked on the
cluster with the Ganeti command line, the ground truth.

Instances are named from the lab's pool (vm41.lab .. vm47.lab here), the only
names the clusters can resolve; whatever a test creates is removed again. The
stock-certificate test brings up a second, one-node lab of its own.
"""

import contextlib
import itertools
import os
import re
import secrets
import tempfile

import pytest
import yaml

import fleetlab
from fleetlab import helpers
from fleettest import rapi_env, rapi_options, run_playbook

INFO_STARTED = "vm41.lab"
INFO_STOPPED = "vm42.lab"
TAGGED = "vm43.lab"
MANAGED = "vm44.lab"
RENAMED = "vm45.lab"
NEVER_CREATED = "vm46.lab"
STARTED_UNINSTALLED = "vm47.lab"
ABSENT_NODE = "c1n9.lab"
TEST_TAGS = ["fleet-test:alpha", "fleet-test:beta"]
TAG_KINDS = {
    # kind: (object name for the module, gnt command, name for gnt)
    "cluster": (None, "gnt-cluster", None),
    "group": ("default", "gnt-group", "default"),
    "node": ("c1n2.lab", "gnt-node", "c1n2.lab"),
    "instance": (TAGGED, "gnt-instance", TAGGED),
}
SPEC = {
    "disk_template": "file",
    "disks": [{"size": 16}],
    "nics": [{}],
    "os": "lab-dd",
    "pnode": "c1n1.lab",
    "beparams": {"memory": 64},
    "no_install": True,
    "ip_check": False,
    "name_check": False,
}
_counter = itertools.count(1)


# ----------------------------------------------------------------------
# Playbooks


@pytest.fixture(autouse=True)
def no_rapi_env(monkeypatch):
    """Connections come only from what each test passes, never from the caller's shell."""
    for key in list(os.environ):
        if key.startswith("GANETI_RAPI_"):
            monkeypatch.delenv(key)


def write_playbook(directory, tasks, module_defaults=None):
    play = {"name": "ganeti.fleet modules", "hosts": "localhost", "gather_facts": False,
            "tasks": tasks}
    if module_defaults is not None:
        play["module_defaults"] = {"group/ganeti.fleet.rapi": module_defaults}
    path = os.path.join(str(directory), "play%02d.yml" % next(_counter))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump([play], handle, sort_keys=False)
    return path


def play(lab, directory, tasks, cluster="c1", env=None, module_defaults=None, **kwargs):
    """Run TASKS on localhost; the connection comes from GANETI_RAPI_* of CLUSTER (unless None)."""
    full_env = rapi_env(lab, cluster) if cluster else {}
    full_env.update(env or {})
    return run_playbook(write_playbook(directory, tasks, module_defaults), env=full_env, **kwargs)


def task(title, module, ignore_errors=False, **args):
    entry = {"name": title, "ganeti.fleet." + module: args}
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def result_of(result, name):
    hosts = result.task_results(name)
    assert "localhost" in hosts, "task %r did not run:\n%s" % (name, result.output)
    return hosts["localhost"]


def ok(result):
    assert result.rc == 0, result.output
    return result


# ----------------------------------------------------------------------
# Ground truth from the Ganeti command line


def gnt_tags(lab, kind, cluster="c1"):
    _, command, name = TAG_KINDS[kind]
    args = [command, "list-tags"] + ([name] if name else [])
    return sorted(lab.gnt(cluster, *args).split())


def instances(lab, cluster="c1"):
    return {i["name"]: i for i in helpers.list_instances(lab, cluster)}


def remove_test_tags(lab):
    for kind, (_, command, name) in TAG_KINDS.items():
        if kind == "instance" and name not in instances(lab):
            continue
        present = [tag for tag in gnt_tags(lab, kind) if tag in TEST_TAGS]
        if present:
            lab.gnt("c1", *([command, "remove-tags"] + ([name] if name else []) + present))


def remove_instances(lab, *names):
    existing = instances(lab)
    for name in names:
        if name in existing:
            helpers.remove_instance(lab, "c1", name)


def json_after_preamble(result):
    """With -v and more, ansible-playbook prints its version before the callback's JSON."""
    start = result.stdout.find('{\n  "plays"')
    assert start >= 0, result.output
    result.stdout = result.stdout[start:]
    return result


# ----------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def info_instances(lab):
    """One running and one stopped instance on c1, for the info and tag tests."""
    names = (INFO_STARTED, INFO_STOPPED, TAGGED)
    remove_instances(lab, *names)
    helpers.create_instance(lab, "c1", INFO_STARTED, size_mib=8, node="c1n1.lab",
                            random_bytes=False, memory_mib=64)
    helpers.create_instance(lab, "c1", INFO_STOPPED, size_mib=8, node="c1n2.lab",
                            random_bytes=False, start=False, memory_mib=64)
    helpers.create_instance(lab, "c1", TAGGED, size_mib=8, node="c1n2.lab",
                            random_bytes=False, start=False, memory_mib=64)
    yield names
    remove_instances(lab, *names)


@pytest.fixture()
def clean_tags(lab, info_instances):
    remove_test_tags(lab)
    yield
    remove_test_tags(lab)


@pytest.fixture(scope="module")
def stock_lab(lab):
    """A second, one-node lab whose RAPI keeps Ganeti's stock certificate (ganeti.example.com)."""
    lab_dir = tempfile.mkdtemp(prefix="fleetlab-stockcert-", dir="/var/tmp")
    other = fleetlab.Lab(lab_dir)
    try:
        other.up(fleetlab.Topology(clusters=1, nodes=1, rapi_cert="stock"), log=lambda m: None)
        yield other
    finally:
        other.down(log=lambda m: None)


@contextlib.contextmanager
def network_of(target, home):
    """Run the block (and the playbooks it starts) in TARGET lab's network, then go HOME."""
    fleetlab.enter_network_namespace(target.state()["controller"]["pid"])
    try:
        yield
    finally:
        fleetlab.enter_network_namespace(home.state()["controller"]["pid"])


# ----------------------------------------------------------------------
# cluster_info, instance_info, node_info


def test_cluster_info_on_both_clusters(lab, tmp_path):
    tasks = [task("info " + c, "cluster_info", **rapi_options(lab, c)) for c in ("c1", "c2")]
    result = ok(play(lab, tmp_path, tasks, cluster=None))
    for cluster in ("c1", "c2"):
        info = result_of(result, "info " + cluster)
        assert info["changed"] is False
        assert info["cluster"]["name"] == lab.cluster(cluster)["name"]
        assert info["cluster"]["master"] == lab.gnt(cluster, "gnt-cluster", "getmaster").strip()
        version = re.search(r"Software version: (\S+)", lab.gnt(cluster, "gnt-cluster", "version"))
        assert info["software_version"] == version.group(1) == "3.0.2"
        assert info["software_version_info"] == [3, 0, 2]
        assert info["rapi_version"] == 2
        assert "instance-create-reqv1" in info["features"]
        assert info["cluster"]["enabled_hypervisors"] == ["fake"]


def test_instance_info_one_several_all_and_unknown(lab, tmp_path, info_instances):
    tasks = [
        task("one", "instance_info", name=INFO_STARTED),
        task("short name", "instance_info", name=INFO_STOPPED.split(".", maxsplit=1)[0]),
        task("several", "instance_info", names=[INFO_STOPPED, INFO_STARTED]),
        task("all", "instance_info"),
        task("unknown", "instance_info", ignore_errors=True, name="nosuch.lab"),
        task("several unknown", "instance_info", ignore_errors=True,
             names=[INFO_STARTED, "nosuch1.lab", "nosuch2.lab"]),
    ]
    result = ok(play(lab, tmp_path, tasks))
    truth = instances(lab)

    one = result_of(result, "one")
    assert one["instance"]["name"] == INFO_STARTED
    assert one["instance"]["status"] == truth[INFO_STARTED]["status"] == "running"
    assert one["instance"]["pnode"] == truth[INFO_STARTED]["pnode"]
    assert one["instance"]["nic.macs"] == truth[INFO_STARTED]["macs"]
    assert one["instance"]["disk.sizes"] == truth[INFO_STARTED]["disk_sizes"]
    assert [i["name"] for i in one["instances"]] == [INFO_STARTED]

    short = result_of(result, "short name")
    assert short["instance"]["name"] == INFO_STOPPED
    assert short["instance"]["status"] == truth[INFO_STOPPED]["status"] == "ADMIN_down"

    several = result_of(result, "several")
    assert [i["name"] for i in several["instances"]] == [INFO_STOPPED, INFO_STARTED]
    assert "instance" not in several

    everything = result_of(result, "all")
    assert sorted(i["name"] for i in everything["instances"]) == sorted(truth)
    for item in everything["instances"]:
        assert item["status"] == truth[item["name"]]["status"]
        assert sorted(item["tags"]) == truth[item["name"]]["tags"]

    unknown = result_of(result, "unknown")
    assert unknown["failed"] is True
    assert "nosuch.lab" in unknown["msg"] and lab.cluster("c1")["rapi_url"] in unknown["msg"]
    assert unknown["missing"] == ["nosuch.lab"]
    several_unknown = result_of(result, "several unknown")
    assert several_unknown["failed"] is True
    assert "nosuch1.lab, nosuch2.lab" in several_unknown["msg"]
    assert INFO_STARTED not in several_unknown["msg"]


def test_node_info_one_several_all_and_unknown(lab, tmp_path, info_instances):
    tasks = [
        task("one", "node_info", name="c1n1.lab"),
        task("short name", "node_info", name="c1n2"),
        task("several", "node_info", names=["c1n2.lab", "c1n1.lab"]),
        task("all", "node_info"),
        task("unknown", "node_info", ignore_errors=True, name=ABSENT_NODE),
        task("several unknown", "node_info", ignore_errors=True, names=["c1n1.lab", ABSENT_NODE]),
    ]
    result = ok(play(lab, tmp_path, tasks))
    truth = {n["name"]: n for n in helpers.list_nodes(lab, "c1")}

    one = result_of(result, "one")
    assert one["node"]["name"] == "c1n1.lab"
    assert one["node"]["role"] == truth["c1n1.lab"]["role"] == "M"
    assert one["node"]["pinst_cnt"] == truth["c1n1.lab"]["pinst_cnt"]
    assert result_of(result, "short name")["node"]["name"] == "c1n2.lab"
    assert [n["name"] for n in result_of(result, "several")["nodes"]] == ["c1n2.lab", "c1n1.lab"]
    everything = result_of(result, "all")["nodes"]
    assert sorted(n["name"] for n in everything) == sorted(truth)
    for node in everything:
        assert node["role"] == truth[node["name"]]["role"]
        assert node["pinst_cnt"] == truth[node["name"]]["pinst_cnt"]
        assert node["offline"] is truth[node["name"]]["offline"] is False
    for name in ("unknown", "several unknown"):
        failed = result_of(result, name)
        assert failed["failed"] is True
        assert "Unknown node on %s: %s" % (lab.cluster("c1")["rapi_url"], ABSENT_NODE) == failed["msg"]


# ----------------------------------------------------------------------
# Connection errors


def test_wrong_password_is_named_and_never_shown(lab, tmp_path):
    wrong = "not-the-password-" + secrets.token_hex(6)
    url = lab.cluster("c1")["rapi_url"]
    expected = "Authentication as RAPI user 'fleet' failed at %s (HTTP 401)" % url
    tasks = [task("info", "cluster_info")]
    # The password from the environment, the default output at -vvv.
    by_env = play(lab, tmp_path, tasks, env={"GANETI_RAPI_PASSWORD": wrong}, json_output=False,
                  verbosity=3)
    assert by_env.rc != 0
    assert expected in by_env.output, by_env.output
    assert wrong not in by_env.output
    # The password as a module option, the JSON result at -vvv.
    options = dict(rapi_options(lab, "c1"), rapi_password=wrong)
    by_option = play(lab, tmp_path, [task("info", "cluster_info", **options)], cluster=None,
                     verbosity=3)
    assert by_option.rc != 0
    assert wrong not in by_option.output
    failed = result_of(json_after_preamble(by_option), "info")
    assert failed["msg"].startswith(expected)
    assert failed["status_code"] == 401
    assert failed["invocation"]["module_args"]["rapi_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert lab.rapi_password("c1") not in by_env.output + by_option.output


def test_wrong_ca_file_gives_a_tls_message_naming_the_ca(lab, tmp_path):
    url = lab.cluster("c1")["rapi_url"]
    other_ca = lab.cluster("c2")["ca_file"]
    tasks = [
        task("wrong CA", "cluster_info", ignore_errors=True, ca_path=other_ca),
        task("wrong CA, host name not checked", "cluster_info", ignore_errors=True,
             ca_path=other_ca, verify_hostname=False),
        task("system CA bundle", "cluster_info", ignore_errors=True,
             rapi_url=url, rapi_user="fleet", rapi_password=lab.rapi_password("c1")),
    ]
    env = rapi_env(lab, "c1")
    del env["GANETI_RAPI_CA_PATH"]
    result = ok(play(lab, tmp_path, tasks, cluster=None, env=env))
    for name in ("wrong CA", "wrong CA, host name not checked"):
        failed = result_of(result, name)
        assert failed["failed"] is True
        assert failed["msg"].startswith("TLS verification of Ganeti RAPI at %s failed" % url)
        assert "certificate verify failed" in failed["msg"]
        assert "CA file used: %s" % other_ca in failed["msg"]
    system = result_of(result, "system CA bundle")
    assert system["failed"] is True
    assert "no CA file was given, so the system CA bundle was used" in system["msg"]
    assert "GANETI_RAPI_CA_PATH" in system["msg"]


def test_certificate_for_another_host_needs_verify_hostname_false(lab, tmp_path):
    """The master node's own address is not in the certificate (only c1.lab and the master IP)."""
    c1 = lab.cluster("c1")
    node_url = "https://%s:5080" % c1["node_ips"][c1["master"]]
    tasks = [
        task("default", "cluster_info", ignore_errors=True),
        task("no host name check", "cluster_info", verify_hostname=False),
    ]
    result = ok(play(lab, tmp_path, tasks, env={"GANETI_RAPI_URL": node_url}))
    failed = result_of(result, "default")
    assert failed["failed"] is True
    assert failed["msg"].startswith("TLS verification of Ganeti RAPI at %s failed" % node_url)
    assert "does not match the host name" in failed["msg"]
    assert "verify_hostname=false" in failed["msg"]
    assert result_of(result, "no host name check")["cluster"]["name"] == "c1.lab"


def test_stock_certificate_fails_by_default_and_passes_without_host_name_check(lab, stock_lab, tmp_path):
    stock = stock_lab.cluster("c1")
    assert stock["rapi_cert"] == "stock"
    with open(stock["ca_file"], encoding="utf-8") as handle:
        assert "BEGIN CERTIFICATE" in handle.read()
    options = {"rapi_url": stock["rapi_url"], "rapi_user": stock["rapi_user"],
               "rapi_password": stock_lab.rapi_password("c1"), "ca_path": stock["ca_file"]}
    tasks = [
        task("default", "cluster_info", ignore_errors=True),
        task("verify_hostname false", "cluster_info", verify_hostname=False),
        task("still needs the CA", "cluster_info", ignore_errors=True, verify_hostname=False,
             ca_path=lab.cluster("c1")["ca_file"]),
    ]
    with network_of(stock_lab, lab):
        result = ok(play(lab, tmp_path, tasks, cluster=None, module_defaults=options))
        by_env = ok(play(lab, tmp_path, [task("env", "cluster_info")], cluster=None,
                         env={"GANETI_RAPI_URL": stock["rapi_url"], "GANETI_RAPI_USER": stock["rapi_user"],
                              "GANETI_RAPI_PASSWORD": stock_lab.rapi_password("c1"),
                              "GANETI_RAPI_CA_PATH": stock["ca_file"],
                              "GANETI_RAPI_VERIFY_HOSTNAME": "false"}))
    failed = result_of(result, "default")
    assert failed["failed"] is True
    assert "does not match the host name" in failed["msg"]
    assert "'ganeti.example.com'" in failed["msg"] and "verify_hostname=false" in failed["msg"]
    passed = result_of(result, "verify_hostname false")
    assert passed["cluster"]["name"] == "c1.lab" and passed["software_version"] == "3.0.2"
    wrong_ca = result_of(result, "still needs the CA")
    assert wrong_ca["failed"] is True and "certificate verify failed" in wrong_ca["msg"]
    assert result_of(by_env, "env")["cluster"]["name"] == "c1.lab"
    # Back in the session lab's network.
    back = ok(play(lab, tmp_path, [task("home", "cluster_info")]))
    assert result_of(back, "home")["cluster"]["name"] == "c1.lab"


def test_module_defaults_group_carries_the_connection(lab, tmp_path, info_instances):
    tag = "fleet-test:defaults-" + secrets.token_hex(4)
    tasks = [
        {"name": "cluster", "ganeti.fleet.cluster_info": None},
        {"name": "nodes", "ganeti.fleet.node_info": None},
        {"name": "instances", "ganeti.fleet.instance_info": {"names": [INFO_STARTED]}},
        {"name": "tag", "ganeti.fleet.tag": {"kind": "cluster", "tags": [tag]}, "register": "tagged"},
        {"name": "job", "ganeti.fleet.job": {"job_id": "{{ tagged.job_ids[0] }}", "state": "waited"}},
        {"name": "untag", "ganeti.fleet.tag": {"kind": "cluster", "tags": [tag], "state": "absent"}},
    ]
    # A wrong URL in the environment proves the group's defaults win.
    try:
        result = ok(play(lab, tmp_path, tasks, cluster=None, module_defaults=rapi_options(lab, "c1"),
                         env={"GANETI_RAPI_URL": "https://192.0.2.1:5080"}))
    finally:
        lab.gnt("c1", "gnt-cluster", "remove-tags", tag, check=False)
    assert result_of(result, "cluster")["cluster"]["name"] == "c1.lab"
    assert len(result_of(result, "nodes")["nodes"]) == 2
    assert result_of(result, "instances")["instances"][0]["name"] == INFO_STARTED
    assert result_of(result, "tag")["added"] == [tag]
    assert result_of(result, "job")["status"] == "success"
    assert result_of(result, "untag")["removed"] == [tag]
    assert tag not in gnt_tags(lab, "cluster")


# ----------------------------------------------------------------------
# tag


def _tag_tasks(state, tags=tuple(TEST_TAGS), suffix=""):
    tasks = []
    for kind, (name, _, _) in TAG_KINDS.items():
        args = {"kind": kind, "tags": list(tags), "state": state}
        if name:
            args["name"] = name
        tasks.append(task("%s %s%s" % (state, kind, suffix), "tag", **args))
    return tasks


def test_tag_check_diff_apply_and_rerun_on_every_kind(lab, tmp_path, clean_tags):
    before = {kind: gnt_tags(lab, kind) for kind in TAG_KINDS}
    for kind in TAG_KINDS:
        assert not set(TEST_TAGS) & set(before[kind])

    # Check mode with diff: reported, nothing written.
    checked = ok(play(lab, tmp_path, _tag_tasks("present"), check=True, diff=True))
    for kind in TAG_KINDS:
        res = result_of(checked, "present " + kind)
        assert res["changed"] is True
        assert res["added"] == TEST_TAGS and res["job_ids"] == []
        assert res["diff"]["before"]["tags"] == before[kind]
        assert res["diff"]["after"]["tags"] == sorted(before[kind] + TEST_TAGS)
        assert gnt_tags(lab, kind) == before[kind]

    # For real, with diff, then again: the second run is ok.
    applied = ok(play(lab, tmp_path, _tag_tasks("present") + _tag_tasks("present", suffix=" again"),
                      diff=True))
    for kind in TAG_KINDS:
        res = result_of(applied, "present " + kind)
        assert res["changed"] is True and len(res["job_ids"]) == 1
        assert res["jobs"][0]["status"] == "success"
        assert res["diff"]["before"]["tags"] == before[kind]
        assert res["tags"] == sorted(before[kind] + TEST_TAGS) == gnt_tags(lab, kind)
        again = result_of(applied, "present %s again" % kind)
        assert again["changed"] is False and again["job_ids"] == [] and again["added"] == []
    assert applied.stats()["localhost"]["changed"] == len(TAG_KINDS)

    # Absent in check mode changes nothing; then for real, twice.
    checked = ok(play(lab, tmp_path, _tag_tasks("absent"), check=True))
    for kind in TAG_KINDS:
        assert result_of(checked, "absent " + kind)["removed"] == TEST_TAGS
        assert set(TEST_TAGS) <= set(gnt_tags(lab, kind))
    removed = ok(play(lab, tmp_path, _tag_tasks("absent") + _tag_tasks("absent", suffix=" again")))
    for kind in TAG_KINDS:
        assert result_of(removed, "absent " + kind)["changed"] is True
        assert result_of(removed, "absent %s again" % kind)["changed"] is False
        assert gnt_tags(lab, kind) == before[kind]


def test_tag_refuses_invalid_tags_and_unknown_objects(lab, tmp_path, clean_tags):
    before = gnt_tags(lab, "cluster")
    tasks = [
        task("invalid", "tag", ignore_errors=True, kind="cluster", tags=["fleet-test:ok", "bad tag!"]),
        task("unknown node", "tag", ignore_errors=True, kind="node", name=ABSENT_NODE, tags=["x"]),
        task("cluster with a name", "tag", ignore_errors=True, kind="cluster", name="c1.lab", tags=["x"]),
    ]
    result = ok(play(lab, tmp_path, tasks))
    invalid = result_of(result, "invalid")
    assert invalid["failed"] is True and "Invalid tags" in invalid["msg"] and "'bad tag!'" in invalid["msg"]
    unknown = result_of(result, "unknown node")
    # Ganeti answers HTTP 500 here, with its own "not found" message.
    assert unknown["failed"] is True and "%s not found" % ABSENT_NODE in unknown["msg"]
    assert "GET /2/nodes/%s/tags" % ABSENT_NODE in unknown["msg"]
    assert "name must not be given" in result_of(result, "cluster with a name")["msg"]
    assert gnt_tags(lab, "cluster") == before


# ----------------------------------------------------------------------
# job


def _job_status(lab, job_id):
    out = lab.gnt("c1", "gnt-job", "list", "--no-headers", "-o", "id,status", job_id)
    return dict(line.split() for line in out.splitlines() if line.strip())[job_id]


def test_job_wait_info_and_cancel_of_a_finished_job(lab, tmp_path):
    tag = "fleet-test:job-" + secrets.token_hex(4)
    tasks = [
        dict(task("submit", "tag", kind="cluster", tags=[tag], wait=False), register="submitted"),
        task("wait", "job", job_id="{{ submitted.job_ids[0] }}", state="waited"),
        task("info", "job", job_id="{{ submitted.job_ids[0] }}"),
        task("cancel finished", "job", job_id="{{ submitted.job_ids[0] }}", state="canceled"),
    ]
    try:
        result = ok(play(lab, tmp_path, tasks))
    finally:
        lab.gnt("c1", "gnt-cluster", "remove-tags", tag, check=False)
    submitted = result_of(result, "submit")
    assert submitted["changed"] is True and "jobs" not in submitted
    job_id = submitted["job_ids"][0]
    waited = result_of(result, "wait")
    assert waited["changed"] is False
    assert waited["status"] == "success" and waited["job"]["id"] == job_id
    assert waited["job"]["summary"] == ["TAGS_SET"]
    info = result_of(result, "info")
    assert info["job"]["status"] == "success" and info["job"]["opstatus"] == ["success"]
    assert "error" not in info
    canceled = result_of(result, "cancel finished")
    assert canceled["changed"] is False and canceled["status"] == "success"
    assert "cancel_message" not in canceled
    assert _job_status(lab, job_id) == "success"


def test_job_cancel_of_a_queued_job(lab, tmp_path):
    # A filter rule keeps test-delay jobs queued, so there is something to cancel.
    filter_uuid = lab.gnt("c1", "gnt-filter", "add", "--action=PAUSE",
                          '--predicates=[["opcode", ["=", "OP_ID", "OP_TEST_DELAY"]]]').strip()
    job_id = None
    try:
        proc = lab.exec(lab.cluster("c1")["master"], ["gnt-debug", "delay", "--submit", "1"])
        job_id = re.search(r"JobID: (\d+)", proc.stdout + proc.stderr).group(1)  # on stderr
        assert _job_status(lab, job_id) == "queued"
        checked = ok(play(lab, tmp_path, [task("cancel", "job", job_id=job_id, state="canceled")],
                          check=True))
        res = result_of(checked, "cancel")
        assert res["changed"] is True and res["status"] == "queued"
        assert _job_status(lab, job_id) == "queued"
        tasks = [
            task("info", "job", job_id=job_id),
            task("cancel", "job", job_id=job_id, state="canceled"),
            task("cancel again", "job", job_id=job_id, state="canceled"),
            task("wait", "job", ignore_errors=True, job_id=job_id, state="waited"),
        ]
        result = ok(play(lab, tmp_path, tasks))
    finally:
        if job_id:
            lab.gnt("c1", "gnt-job", "cancel", "--yes-do-it", job_id, check=False)
        lab.gnt("c1", "gnt-filter", "delete", filter_uuid, check=False)
    assert result_of(result, "info")["status"] == "queued"
    canceled = result_of(result, "cancel")
    assert canceled["changed"] is True and canceled["status"] == "canceled"
    assert canceled["cancel_message"] == "Dequeued job %s" % job_id
    again = result_of(result, "cancel again")
    assert again["changed"] is False and again["status"] == "canceled"
    waited = result_of(result, "wait")
    assert waited["failed"] is True
    assert "Job %s (TEST_DELAY(1.0)) on %s was canceled" % (job_id, lab.cluster("c1")["rapi_url"]) \
        == waited["msg"]
    assert _job_status(lab, job_id) == "canceled"


def test_job_failure_surfaces_ganeti_reason_and_job_id(lab, tmp_path):
    """Ganeti refuses to create an instance on a node it does not know.

    The failure carries Ganeti's error class, message and code, the job id
    and the job's log (empty here: the job fails in its checks).
    """
    remove_instances(lab, NEVER_CREATED)
    spec = dict(SPEC, pnode=ABSENT_NODE)
    created = play(lab, tmp_path, [task("create", "instance", name=NEVER_CREATED, state="started",
                                        spec=spec)])
    assert created.rc != 0
    failed = result_of(created, "create")
    job_id = failed["job_id"]
    reason = "Node '%s' not known" % ABSENT_NODE
    assert failed["msg"] == "Job %s (INSTANCE_CREATE(%s)) on %s failed: OpPrereqError: %s [unknown_entity]" % (
        job_id, NEVER_CREATED, lab.cluster("c1")["rapi_url"], reason)
    assert failed["job_status"] == "error"
    assert failed["error"] == {"error_class": "OpPrereqError", "message": reason, "code": "unknown_entity"}
    assert isinstance(failed["job_log"], list)
    assert NEVER_CREATED not in instances(lab)
    assert "OpPrereqError" in lab.gnt("c1", "gnt-job", "info", job_id)

    # The job module on that job: waiting fails with the same reason, reading does not.
    tasks = [task("wait", "job", ignore_errors=True, job_id=job_id, state="waited"),
             task("info", "job", job_id=job_id)]
    result = ok(play(lab, tmp_path, tasks))
    waited = result_of(result, "wait")
    assert waited["failed"] is True and waited["job_id"] == job_id
    assert "OpPrereqError: %s" % reason in waited["msg"] and "Job %s" % job_id in waited["msg"]
    info = result_of(result, "info")
    assert info["status"] == "error"
    assert info["error"]["error_class"] == "OpPrereqError" and info["error"]["message"] == reason


# ----------------------------------------------------------------------
# instance


def test_instance_lifecycle(lab, tmp_path):
    remove_instances(lab, MANAGED, RENAMED)
    try:
        _instance_lifecycle(lab, tmp_path)
    finally:
        remove_instances(lab, MANAGED, RENAMED)


def _instance_lifecycle(lab, tmp_path):
    # Created stopped: Ganeti never starts an instance created without installation.
    create = {"name": MANAGED, "state": "stopped", "spec": SPEC, "tags": ["fleet-test:one"]}

    # Check mode with diff: the plan, and nothing on the cluster.
    checked = ok(play(lab, tmp_path, [task("create", "instance", **create)], check=True, diff=True))
    res = result_of(checked, "create")
    assert res["changed"] is True and res["actions"] == ["create %s" % MANAGED]
    assert res["diff"]["before"] == {"exists": False}
    assert res["diff"]["after"] == {"exists": True, "name": MANAGED, "admin_state": "down",
                                    "running": False, "tags": ["fleet-test:one"]}
    assert "instance" not in res
    assert MANAGED not in instances(lab)

    # Created; the same task again changes nothing.
    created = ok(play(lab, tmp_path, [task("create", "instance", **create),
                                      task("create again", "instance", **create)], diff=True))
    res = result_of(created, "create")
    assert res["changed"] is True and len(res["job_ids"]) == 1
    assert res["instance"]["name"] == MANAGED and res["instance"]["admin_state"] == "down"
    again = result_of(created, "create again")
    assert again["changed"] is False and again["actions"] == [] and again["job_ids"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    truth = instances(lab)[MANAGED]
    assert (truth["status"], truth["admin_state"]) == ("ADMIN_down", "down")
    assert truth["disk_template"] == "file" and truth["disk_sizes"] == [16]
    assert truth["pnode"] == "c1n1.lab" and truth["tags"] == ["fleet-test:one"]
    assert truth["memory"] == "64"
    assert lab.gnt("c1", "gnt-instance", "list", "--no-headers", "-o", "os", MANAGED).strip() == "lab-dd"

    # Started, twice.
    started = ok(play(lab, tmp_path, [task("start", "instance", name=MANAGED, state="started"),
                                      task("start again", "instance", name=MANAGED, state="started")]))
    assert result_of(started, "start")["actions"] == ["startup %s" % MANAGED]
    assert result_of(started, "start")["instance"]["oper_state"] is True
    assert result_of(started, "start again")["changed"] is False
    assert instances(lab)[MANAGED]["status"] == "running"

    # Stopped, twice.
    stopped = ok(play(lab, tmp_path, [task("stop", "instance", name=MANAGED, state="stopped"),
                                      task("stop again", "instance", name=MANAGED, state="stopped")]))
    assert result_of(stopped, "stop")["actions"] == ["shutdown %s" % MANAGED]
    assert result_of(stopped, "stop again")["changed"] is False
    assert instances(lab)[MANAGED]["status"] == "ADMIN_down"

    # Started, then renamed while running: stop, rename, start; the rename again is ok.
    rename = {"name": MANAGED, "new_name": RENAMED}
    renamed = ok(play(lab, tmp_path, [task("start", "instance", name=MANAGED, state="started"),
                                      task("rename", "instance", **rename),
                                      task("rename again", "instance", **rename)], diff=True))
    assert result_of(renamed, "start")["actions"] == ["startup %s" % MANAGED]
    res = result_of(renamed, "rename")
    assert res["actions"] == ["shutdown %s" % MANAGED, "rename %s" % RENAMED, "startup %s" % RENAMED]
    assert res["diff"]["before"]["name"] == MANAGED and res["diff"]["after"]["name"] == RENAMED
    assert result_of(renamed, "rename again")["changed"] is False
    truth = instances(lab)
    assert MANAGED not in truth
    assert truth[RENAMED]["status"] == "running" and truth[RENAMED]["tags"] == ["fleet-test:one"]

    # Tags replaced and removal planned, in check mode: nothing changes.
    retag = {"name": RENAMED, "tags": ["fleet-test:two"], "purge_tags": True}
    remove = {"name": RENAMED, "state": "absent", "require_tags": ["fleet-test:two"]}
    checked = ok(play(lab, tmp_path, [task("retag", "instance", **retag),
                                      task("remove", "instance", **dict(remove, require_tags=["fleet-test:one"]))],
                      check=True, diff=True))
    res = result_of(checked, "retag")
    assert res["actions"] == ["remove tags fleet-test:one", "add tags fleet-test:two"]
    assert res["diff"]["after"]["tags"] == ["fleet-test:two"]
    assert result_of(checked, "remove")["actions"] == ["remove %s" % RENAMED]
    assert instances(lab)[RENAMED]["tags"] == ["fleet-test:one"]

    # Retagged; removal refused while a required tag is missing.
    guarded = ok(play(lab, tmp_path, [
        task("retag", "instance", **retag),
        task("guarded remove", "instance", ignore_errors=True, name=RENAMED, state="absent",
             require_tags=["fleet-test:two", "fleet-test:missing"])]))
    assert result_of(guarded, "retag")["changed"] is True
    refused = result_of(guarded, "guarded remove")
    assert refused["failed"] is True
    assert refused["msg"].startswith("refusing to remove instance %s: it does not have the tag(s) "
                                     "fleet-test:missing" % RENAMED)
    truth = instances(lab)[RENAMED]
    assert truth["status"] == "running" and truth["tags"] == ["fleet-test:two"]

    # Removed when the required tags are there; again: ok.
    removed = ok(play(lab, tmp_path, [task("remove", "instance", **remove),
                                      task("remove again", "instance", **remove)], diff=True))
    res = result_of(removed, "remove")
    assert res["changed"] is True and res["diff"]["after"] == {"exists": False}
    assert "instance" not in res
    assert result_of(removed, "remove again")["changed"] is False
    assert RENAMED not in instances(lab) and MANAGED not in instances(lab)


def test_instance_created_with_state_started_without_install_runs(lab, tmp_path):
    remove_instances(lab, STARTED_UNINSTALLED)
    try:
        result = ok(play(lab, tmp_path, [task("create", "instance", name=STARTED_UNINSTALLED,
                                              state="started", spec=SPEC)], diff=True))
        res = result_of(result, "create")
        assert res["diff"]["after"]["running"] is True
        assert instances(lab)[STARTED_UNINSTALLED]["status"] == "running"
    finally:
        remove_instances(lab, STARTED_UNINSTALLED)
