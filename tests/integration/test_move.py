"""Inter-cluster moves with playbooks/move_instances.yml on the real lab.

Every move is checked on the clusters themselves: the sha256 of the disk on
the destination node equals the source's, parameters and NICs are kept,
tags are carried with provenance, and the source is gone.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from fleettest import REPO, _collections_path, connection, run_playbook, set_transfer_fix
from fleetlab import helpers

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
SIZE_MIB = 256


def _env(lab, source="c1", destination="c2"):
    env = {}
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", source), ("GANETI_DEST_RAPI_", destination)):
        conn = connection(lab, cluster)
        env.update({prefix + "URL": conn["rapi_url"], prefix + "USER": conn["rapi_user"],
                    prefix + "PASSWORD": conn["rapi_password"], prefix + "CA_PATH": conn["ca_path"]})
    return env


def move(lab, instances, defaults=None, check=False, source="c1", destination="c2"):
    extra = {"move_instances": instances}
    if defaults:
        extra["move_defaults"] = defaults
    return run_playbook(PLAYBOOK, extra_vars=extra, env=_env(lab, source, destination), check=check)


def instances_by_name(lab, cluster):
    return {i["name"]: i for i in helpers.list_instances(lab, cluster)}


def cluster_state(lab):
    """What check mode must not change: instances (state, tags, MACs) and cluster tags."""
    state = {}
    for cluster in ("c1", "c2"):
        state[cluster] = {
            "instances": instances_by_name(lab, cluster),
            "tags": sorted(lab.gnt(cluster, "gnt-cluster", "list-tags").split()),
        }
    return state


def _move_hosts(result):
    return {host: stats for host, stats in result.stats().items() if host.startswith("move_")}


def assert_moved(lab, name, digest, source_before, new_name=None, node=None, same_mac=True):
    dst_name = new_name or name
    assert name not in instances_by_name(lab, "c1"), "source %s still exists" % name
    moved = instances_by_name(lab, "c2")[dst_name]
    assert helpers.hash_instance_disk(lab, "c2", dst_name) == digest
    assert moved["status"] == "running"  # the source was running
    assert moved["disk_sizes"] == source_before["disk_sizes"]
    assert moved["memory"] == source_before["memory"]
    if same_mac:
        assert moved["macs"] == source_before["macs"]
    else:
        assert moved["macs"] != source_before["macs"]
    if node:
        assert moved["pnode"] == node
    for tag in source_before["tags"]:
        assert tag in moved["tags"]
    assert "ganeti-fleet:source:c1.lab/%s" % name in moved["tags"]
    assert any(t.startswith("ganeti-fleet:move-id:") for t in moved["tags"])
    assert "ganeti-fleet:move-pending" not in moved["tags"]
    return moved


TEST_INSTANCES = ["vm%02d.lab" % i for i in range(10, 21)]


@pytest.fixture(scope="module")
def fixed(transfer_fixed):
    yield transfer_fixed
    # Leave the clusters as the other test modules expect them: no test instance.
    for cluster in ("c1", "c2"):
        present = set(instances_by_name(transfer_fixed, cluster))
        for name in TEST_INSTANCES:
            if name in present:
                helpers.remove_instance(transfer_fixed, cluster, name)


@pytest.fixture(scope="module")
def moved_once(fixed):
    """Acceptance 1 and 2 share their sources; keep what they created for the re-run test."""
    return {}


def test_single_move_keeps_data_parameters_and_tags(fixed, moved_once):
    lab = fixed
    digest = helpers.create_instance(lab, "c1", "vm10.lab", size_mib=SIZE_MIB, node="c1n1.lab",
                                     tags=["app:web", "owner:team-a"])
    before = instances_by_name(lab, "c1")["vm10.lab"]
    result = move(lab, ["vm10.lab"])
    assert result.rc == 0, result.output
    assert _move_hosts(result)["move_vm10.lab"]["failures"] == 0
    assert_moved(lab, "vm10.lab", digest, before)
    moved_once["single"] = ["vm10.lab"]


def test_rename_generate_mac_and_explicit_node(fixed, moved_once):
    lab = fixed
    digest = helpers.create_instance(lab, "c1", "vm11.lab", size_mib=SIZE_MIB, node="c1n2.lab")
    before = instances_by_name(lab, "c1")["vm11.lab"]
    request = {"name": "vm11.lab", "new_name": "vm12.lab", "primary_node": "c2n2.lab",
               "nics": [{"mac": "generate"}]}
    result = move(lab, [request])
    assert result.rc == 0, result.output
    assert_moved(lab, "vm11.lab", digest, before, new_name="vm12.lab", node="c2n2.lab", same_mac=False)
    moved_once["rename"] = [request]


def test_four_moves_in_parallel(fixed, moved_once):
    lab = fixed
    names = ["vm13.lab", "vm14.lab", "vm15.lab", "vm16.lab"]
    digests, before = {}, {}
    for index, name in enumerate(names):
        digests[name] = helpers.create_instance(lab, "c1", name, size_mib=SIZE_MIB,
                                                node="c1n%d" % (index % 2 + 1))
    listed = instances_by_name(lab, "c1")
    before = {name: listed[name] for name in names}
    started = time.monotonic()
    result = move(lab, names, defaults={"primary_node": "c2n1.lab"})
    elapsed = time.monotonic() - started
    assert result.rc == 0, result.output
    hosts = _move_hosts(result)
    assert sorted(hosts) == sorted("move_" + n for n in names)
    assert all(stats["failures"] == 0 for stats in hosts.values())
    for name in names:
        assert_moved(lab, name, digests[name], before[name], node="c2n1.lab")
    print("4 x %d MiB moved in %.1f s" % (SIZE_MIB, elapsed))
    moved_once["parallel"] = names


def test_rerun_after_success_changes_nothing(fixed, moved_once):
    lab = fixed
    if len(moved_once) != 3:
        pytest.skip("needs the three moves above")
    for key in ("single", "rename", "parallel"):
        defaults = {"primary_node": "c2n1.lab"} if key == "parallel" else None
        result = move(lab, moved_once[key], defaults=defaults)
        assert result.rc == 0, result.output
        for host, stats in _move_hosts(result).items():
            assert stats["changed"] == 0, (host, result.output)
            assert stats["failures"] == 0


def test_check_mode_plans_and_changes_nothing(fixed):
    lab = fixed
    helpers.create_instance(lab, "c1", "vm17.lab", size_mib=16, node="c1n1.lab")
    before = cluster_state(lab)
    result = move(lab, ["vm17.lab"], check=True)
    assert result.rc == 0, result.output
    plans = result.task_results("Move the instance")
    plan = plans["move_vm17.lab"]["plan"]
    assert plan["phase"] == "new"
    assert plan["ok"] is True
    assert {f["check"] for f in plan["findings"]} >= {"destination_dry_run", "transfer_defect", "mac"}
    assert cluster_state(lab) == before
    helpers.remove_instance(lab, "c1", "vm17.lab")


def test_unknown_option_fails_only_its_own_instance(fixed):
    """A misspelt option refuses that instance's move (in Python, before any cluster is
    contacted); the other instance of the same run is still planned."""
    lab = fixed
    helpers.create_instance(lab, "c1", "vm18.lab", size_mib=16, node="c1n1.lab")
    before = cluster_state(lab)
    result = move(lab, ["vm18.lab", {"name": "vm19.lab", "primay_node": "c2n1.lab"}], check=True)
    assert result.rc != 0, result.output
    hosts = _move_hosts(result)
    assert hosts["move_vm18.lab"]["failures"] == 0
    assert hosts["move_vm19.lab"]["failures"] == 1
    results = result.task_results("Move the instance")
    assert results["move_vm18.lab"]["plan"]["ok"] is True
    message = results["move_vm19.lab"]["msg"]
    assert "primay_node" in message and "primary_node" in message, message
    assert cluster_state(lab) == before
    helpers.remove_instance(lab, "c1", "vm18.lab")


def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_interrupted_move_resumes(fixed):
    """The controller is killed mid-transfer; the next run converges to a verified move."""
    lab = fixed
    name = "vm19.lab"
    digest = helpers.create_instance(lab, "c1", name, size_mib=1024, node="c1n1.lab")
    before = instances_by_name(lab, "c1")[name]
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
           "-e", '{"move_instances": ["%s"]}' % name]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), **_env(lab))
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = lab.gnt("c1", "gnt-job", "list", "--no-headers", "-o", "status,summary")
            if any(line.split()[0] == "running" and "BACKUP_EXPORT(%s)" % name in line
                   for line in jobs.splitlines() if line.strip()):
                break
            assert proc.poll() is None, "the playbook ended before the transfer started"
            time.sleep(0.2)
        else:
            pytest.fail("the export of %s never started" % name)
    finally:
        # Ansible's workers start sessions of their own: kill the whole tree,
        # as a crashed controller would lose it.
        for pid in [proc.pid] + _descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    # The clusters finish their jobs without a controller; the copy stays unverified.
    result = move(lab, [name])
    assert result.rc == 0, result.output
    plan = result.task_results("Move the instance")["move_" + name]["plan"]
    assert plan["phase"] == "remnant", plan
    assert_moved(lab, name, digest, before)


def test_refused_without_transfer_fix_and_clean_failure(fixed):
    """Acceptance 5: on stock nodes the move is refused; forced through, it fails cleanly."""
    lab = fixed
    name = "vm20.lab"
    digest = helpers.create_instance(lab, "c1", name, size_mib=64, node="c1n2.lab")
    set_transfer_fix(lab, "absent")
    try:
        result = move(lab, [name])
        assert result.rc != 0
        assert "ganeti/ganeti#1681" in result.output and "transfer_fix" in result.output
        assert name not in instances_by_name(lab, "c2")
        source = instances_by_name(lab, "c1")[name]
        assert (source["status"], source["admin_state"]) == ("running", "up")
        # Pretend the fix is there (the tag lies): the transfer fails for real and
        # the move must leave no damage behind.
        lab.gnt("c1", "gnt-cluster", "add-tags", "ganeti-fleet:transfer-fix")
        result = move(lab, [name])
        assert result.rc != 0
        assert "failed at step 'export the disks'" in result.output, result.output
        assert name not in instances_by_name(lab, "c2"), "the failed copy was left on c2"
        source = instances_by_name(lab, "c1")[name]
        assert (source["status"], source["admin_state"]) == ("running", "up")
        assert helpers.hash_instance_disk(lab, "c1", name) == digest
    finally:
        lab.gnt("c1", "gnt-cluster", "remove-tags", "ganeti-fleet:transfer-fix", check=False)
        set_transfer_fix(lab, "present")
    # With the fix back, the same run completes.
    before = instances_by_name(lab, "c1")[name]
    result = move(lab, [name])
    assert result.rc == 0, result.output
    assert_moved(lab, name, digest, before)


def test_keep_policy_leaves_the_source_stopped_and_tagged(fixed):
    lab = fixed
    name = "vm18.lab"
    digest = helpers.create_instance(lab, "c1", name, size_mib=32, node="c1n1.lab")
    result = move(lab, [{"name": name, "source_policy": "keep", "primary_node": "c2n2.lab"}])
    assert result.rc == 0, result.output
    source = instances_by_name(lab, "c1")[name]
    assert (source["status"], source["admin_state"]) == ("ADMIN_down", "down")
    assert "ganeti-fleet:moved-to:c2.lab/%s" % name in source["tags"]
    assert helpers.hash_instance_disk(lab, "c1", name) == digest
    moved = instances_by_name(lab, "c2")[name]
    assert moved["status"] == "running"
    assert helpers.hash_instance_disk(lab, "c2", name) == digest
    again = move(lab, [{"name": name, "source_policy": "keep", "primary_node": "c2n2.lab"}])
    assert again.rc == 0, again.output
    assert _move_hosts(again)["move_" + name]["changed"] == 0
