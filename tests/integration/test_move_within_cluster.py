"""Moves within one cluster, and the storage pre-flight, with playbooks/move_instances.yml on the lab.

Source and destination are both c1: the copy gets a new name and new MACs,
another disk template or primary node; its disk's sha256 is compared with
the source's on the nodes. The storage pre-flight is made to fail for real:
a node's file storage directory becomes a small tmpfs, mounted inside that
node's own mount namespace.
"""

import os
import re

import pytest

from fleettest import REPO, connection, remove_instances, run_playbook
from fleetlab import helpers

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
#: Ganeti's file storage directory on the lab's nodes (gnt-cluster info: file storage path).
FILE_STORAGE_DIR = "/srv/ganeti/file-storage"
TEST_INSTANCES = ["vm%02d.lab" % i for i in range(40, 50)]


def move(lab, instances, defaults=None):
    """Run the playbook from c1 to c1, with the lab inventory (the nodes are reached through it)."""
    env = {}
    for prefix in ("GANETI_SOURCE_RAPI_", "GANETI_DEST_RAPI_"):
        conn = connection(lab, "c1")
        env.update({prefix + "URL": conn["rapi_url"], prefix + "USER": conn["rapi_user"],
                    prefix + "PASSWORD": conn["rapi_password"], prefix + "CA_PATH": conn["ca_path"]})
    extra = {"move_instances": instances}
    if defaults:
        extra["move_defaults"] = defaults
    return run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra, env=env)


def instances_by_name(lab, cluster="c1"):
    return {i["name"]: i for i in helpers.list_instances(lab, cluster)}


def clusters_state(lab):
    """Instances (state, tags, MACs, nodes) of both clusters: what a refused move must not change."""
    return {cluster: instances_by_name(lab, cluster) for cluster in ("c1", "c2")}


def move_hosts(result):
    return {host: stats for host, stats in result.stats().items() if host.startswith("move_")}


@pytest.fixture(scope="module")
def c1(transfer_fixed):
    """The lab with the transfer fix (for transfer: ganeti); no test instance left afterwards."""
    yield transfer_fixed
    remove_instances(transfer_fixed, TEST_INSTANCES)


def test_same_name_and_kept_macs_are_refused_before_anything_changes(c1):
    lab = c1
    helpers.create_instance(lab, "c1", "vm40.lab", size_mib=16, node="c1n1.lab")
    before = clusters_state(lab)
    result = move(lab, ["vm40.lab"])
    assert result.rc != 0
    message = result.task_results("Move the instance")["move_vm40.lab"]["msg"]
    assert "same cluster c1.lab" in message and "new_name" in message, message
    assert "mac: generate" in message, message
    assert clusters_state(lab) == before

    result = move(lab, [{"name": "vm40.lab", "new_name": "vm41.lab"}])
    assert result.rc != 0
    message = result.task_results("Move the instance")["move_vm40.lab"]["msg"]
    mac = before["c1"]["vm40.lab"]["macs"][0]
    assert "MAC %s of NIC 0 is the source vm40.lab's own" % mac in message, message
    assert "nics: [{mac: generate}]" in message, message
    assert clusters_state(lab) == before
    helpers.remove_instance(lab, "c1", "vm40.lab")


@pytest.mark.parametrize("transfer,policy", [("direct", "remove"), ("ganeti", "keep")])
def test_copy_within_one_cluster_changes_template_and_node(c1, transfer, policy):
    lab = c1
    name, new_name = ("vm42.lab", "vm43.lab") if transfer == "direct" else ("vm44.lab", "vm45.lab")
    digest = helpers.create_instance(lab, "c1", name, size_mib=64, node="c1n1.lab", tags=["app:db"])
    before = instances_by_name(lab)[name]
    assert (before["disk_template"], before["pnode"]) == ("file", "c1n1.lab")
    request = {"name": name, "new_name": new_name, "disk_template": "sharedfile", "primary_node": "c1n2.lab",
               "nics": [{"mac": "generate"}], "transfer": transfer, "source_policy": policy}
    result = move(lab, [request])
    assert result.rc == 0, result.output
    plan = result.task_results("Move the instance")["move_" + name]["plan"]
    storage = [f for f in plan["findings"] if f["check"] == "storage"]
    assert storage and storage[0]["ok"] and "sharedfile" in storage[0]["message"], plan["findings"]

    listed = instances_by_name(lab)
    copy = listed[new_name]
    assert helpers.hash_instance_disk(lab, "c1", new_name) == digest
    assert (copy["disk_template"], copy["pnode"], copy["status"]) == ("sharedfile", "c1n2.lab", "running")
    assert copy["macs"] != before["macs"] and copy["disk_sizes"] == before["disk_sizes"]
    assert "app:db" in copy["tags"] and "ganeti-fleet:source:c1.lab/%s" % name in copy["tags"]
    assert "ganeti-fleet:move-pending" not in copy["tags"]
    if policy == "remove":
        assert name not in listed
    else:
        source = listed[name]
        assert (source["status"], source["admin_state"]) == ("ADMIN_down", "down")
        assert "ganeti-fleet:moved-to:c1.lab/%s" % new_name in source["tags"]
        assert helpers.hash_instance_disk(lab, "c1", name) == digest

    again = move(lab, [request])
    assert again.rc == 0, again.output
    assert move_hosts(again)["move_" + name]["changed"] == 0, again.output


def _mounted_at(lab, node, path):
    """The file system type mounted at PATH as NODE's own mount namespace sees it."""
    return lab.exec(node, ["findmnt", "-n", "-o", "FSTYPE", "--mountpoint", path], check=False).stdout.strip()


def test_storage_preflight_refuses_a_node_without_room(c1):
    lab = c1
    name = "vm46.lab"
    helpers.create_instance(lab, "c1", name, size_mib=64, node="c1n1.lab")
    assert not any(i["pnode"] == "c1n2.lab" and i["disk_template"] == "file"
                   for i in instances_by_name(lab).values()), "a file instance on c1n2 would be hidden by the tmpfs"
    lab.exec("c1n2.lab", ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", FILE_STORAGE_DIR])
    try:
        # The tmpfs is c1n2's alone: c1n1 and this machine still see their own directory.
        assert _mounted_at(lab, "c1n2.lab", FILE_STORAGE_DIR) == "tmpfs"
        assert _mounted_at(lab, "c1n1.lab", FILE_STORAGE_DIR) != "tmpfs"
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            assert not any(line.split()[4] == FILE_STORAGE_DIR for line in handle)
        before = clusters_state(lab)
        result = move(lab, [{"name": name, "new_name": "vm47.lab", "primary_node": "c1n2.lab",
                             "nics": [{"mac": "generate"}]}])
        assert result.rc != 0
        task = result.task_results("Move the instance")["move_" + name]
        storage = [f for f in task["plan"]["findings"] if f["check"] == "storage"]
        assert len(storage) == 1 and not storage[0]["ok"], task["plan"]["findings"]
        # Everything else passed: the storage check alone refused the move.
        assert all(f["ok"] for f in task["plan"]["findings"] if f["check"] != "storage"), task["plan"]["findings"]
        found = re.search(r"c1n2\.lab has (\d+) MiB free file storage", storage[0]["message"])
        assert found and int(found.group(1)) <= 16, storage[0]["message"]
        assert "needs 64 MiB" in storage[0]["message"], storage[0]["message"]
        assert "pre-flight failed" in task["msg"] and "c1n2.lab" in task["msg"], task["msg"]
        print("refused: %s" % storage[0]["message"])
        assert clusters_state(lab) == before
        source = before["c1"][name]
        assert (source["status"], source["admin_state"]) == ("running", "up")
    finally:
        lab.exec("c1n2.lab", ["umount", FILE_STORAGE_DIR], check=False)
    assert _mounted_at(lab, "c1n2.lab", FILE_STORAGE_DIR) != "tmpfs"
    helpers.remove_instance(lab, "c1", name)
