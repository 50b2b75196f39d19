"""Inter-cluster moves with playbooks/move_instances.yml on the real lab.

Every move is checked on the clusters themselves: the sha256 of the disk on
the destination node equals the source's, parameters and NICs are kept,
tags are carried with provenance, and the source is gone. Every run gets the
lab inventory, as users run the playbook with theirs: the move reaches the
nodes of both clusters with the SSH access it describes.

Moves use the default transfer (direct, node to node, digested on both ends),
on stock Ganeti 3.0.2 nodes (no transfer fix); the first one between clusters
whose domain secrets differ. The last test is about Ganeti's own transfer
(transfer: ganeti) and its 3.0.2 defect, with and without the transfer fix.
"""

import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from fleettest import REPO, _collections_path, descendants, move_env, run_playbook, set_transfer_fix
from fleetlab import helpers
from fleetlab.lab import OS_NAME

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
# Large enough for many 1 MiB blocks of the digest tree and a transfer that takes a while;
# larger only costs the CI machine CPU (random bytes, sha256 on both ends, compression).
SIZE_MIB = 64
SECRET_FILE = "/var/lib/ganeti/cluster-domain-secret"
DIGEST_TAG_PREFIX = "ganeti-fleet:digest:"
FIX_TAG = "ganeti-fleet:transfer-fix"
# b2tree, computed on the node from the disk's bytes, without the collection's code:
# BLAKE2b-256 (personalisation ganeti-fleet) over the BLAKE2b-256 of each 1 MiB block.
B2TREE = r"""
import hashlib, sys
tree = hashlib.blake2b(digest_size=32, person=b"ganeti-fleet")
with open(sys.argv[1], "rb") as disk:
    for block in iter(lambda: disk.read(1 << 20), b""):
        tree.update(hashlib.blake2b(block, digest_size=32).digest())
print(tree.hexdigest())
"""


_env = move_env


def move(lab, instances, defaults=None, check=False, source="c1", destination="c2"):
    """Run the playbook with the lab inventory: the nodes' SSH access comes from its group ganeti_nodes."""
    extra = {"move_instances": instances}
    if defaults:
        extra["move_defaults"] = defaults
    return run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra,
                        env=_env(lab, source, destination), check=check)


def move_result(result, name):
    """The instance_move module's result for the move of NAME."""
    return result.task_results("Move the instance")["move_" + name]


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


TEST_INSTANCES = ["vm%02d.lab" % i for i in range(10, 22)]


def _stock(lab):
    """True when every lab node runs Ganeti's own impexpd and no cluster claims the transfer fix."""
    return all(helpers.impexpd_is_stock(lab, node) for cluster in ("c1", "c2")
               for node in lab.cluster(cluster)["nodes"]) and not any(
                   FIX_TAG in lab.gnt(cluster, "gnt-cluster", "list-tags").split() for cluster in ("c1", "c2"))


@pytest.fixture(scope="module")
def moves(lab):
    """The session lab, stock: the direct transfer needs no transfer fix."""
    assert _stock(lab), "the lab's nodes must start with Ganeti's stock impexpd and no transfer-fix tag"
    yield lab
    # Leave the clusters as the other test modules expect them: no test instance.
    for cluster in ("c1", "c2"):
        present = set(instances_by_name(lab, cluster))
        for name in TEST_INSTANCES:
            if name in present:
                helpers.remove_instance(lab, cluster, name)


@pytest.fixture(scope="module")
def fixed(transfer_fixed, moves):
    """The lab with the transfer fix (for Ganeti's own transfer), stock again after the module."""
    yield transfer_fixed


def _master_secret_file(lab, cluster):
    return os.path.join(lab.lab_dir, "nodes", lab.cluster(cluster)["master"], "var-lib-ganeti",
                        "cluster-domain-secret")


def _node_secrets(lab, cluster):
    """{node: sha256 of its cluster-domain-secret file}, read on the node."""
    return {node: lab.exec(node, ["sha256sum", SECRET_FILE]).stdout.split()[0]
            for node in lab.cluster(cluster)["nodes"]}


def _set_secret_with_ganeti(lab, cluster, secret):
    """Ground truth, without the collection: write the master's file, then gnt-cluster redist-conf."""
    with open(_master_secret_file(lab, cluster), "r+", encoding="utf-8") as handle:   # keeps owner and mode
        handle.seek(0)
        handle.truncate()
        handle.write(secret + "\n")
    lab.gnt(cluster, "gnt-cluster", "redist-conf")


@pytest.fixture
def distinct_secrets(moves):
    """Each cluster with a domain secret of its own (Ganeti's remote import would refuse), restored after."""
    lab = moves
    original = {}
    for cluster in ("c1", "c2"):
        with open(_master_secret_file(lab, cluster), encoding="utf-8") as handle:
            original[cluster] = handle.read().strip()
    try:
        for cluster in ("c1", "c2"):
            _set_secret_with_ganeti(lab, cluster, secrets.token_hex(20))
        on_nodes = {cluster: _node_secrets(lab, cluster) for cluster in ("c1", "c2")}
        assert all(len(set(sums.values())) == 1 for sums in on_nodes.values()), on_nodes
        assert set(on_nodes["c1"].values()).isdisjoint(on_nodes["c2"].values()), on_nodes
        yield lab
    finally:
        for cluster in ("c1", "c2"):
            _set_secret_with_ganeti(lab, cluster, original[cluster])


def b2tree_on_node(lab, cluster, name, index=0):
    """The b2tree digest of disk INDEX of NAME, computed on its node from the bytes on disk."""
    node, path = helpers.disk_path(lab, cluster, name, index)
    return lab.exec(node, ["python3", "-c", B2TREE, path]).stdout.strip()


@pytest.fixture(scope="module")
def moved_once(moves):
    """The moves whose re-run must change nothing."""
    return {}


def test_direct_move_between_clusters_with_distinct_secrets_on_stock_nodes(distinct_secrets):
    """No shared domain secret, no transfer fix: the direct transfer moves the bytes, digested on both ends."""
    lab = distinct_secrets
    name = "vm10.lab"
    digest = helpers.create_instance(lab, "c1", name, size_mib=SIZE_MIB, node="c1n1.lab",
                                     tags=["app:web", "owner:team-a"])
    before = instances_by_name(lab, "c1")[name]
    request = {"name": name, "transfer": "direct"}
    started = time.monotonic()
    result = move(lab, [request])
    elapsed = time.monotonic() - started
    assert result.rc == 0, result.output
    assert _move_hosts(result)["move_" + name]["failures"] == 0
    moved = assert_moved(lab, name, digest, before)
    res = move_result(result, name)
    assert res["plan"]["move"]["transfer"] == "direct"
    assert "prepare the export" not in res["actions"] and "send the disks" in res["actions"], res["actions"]
    assert res["verification"].startswith("content")
    # The digests both ends computed in the stream agree, and equal the copy's bytes on its node.
    on_node = b2tree_on_node(lab, "c2", name)
    assert [(d["index"], d["algorithm"], d["source"], d["destination"]) for d in res["digests"]] == \
        [(0, "b2tree", on_node, on_node)]
    # ... and the copy carries them, as its one digest tag.
    assert [t for t in moved["tags"] if t.startswith(DIGEST_TAG_PREFIX)] == \
        ["%s0:b2tree:%s" % (DIGEST_TAG_PREFIX, on_node)]
    assert res["transfer"]["bytes"] == SIZE_MIB * 1024 * 1024, res["transfer"]
    print("direct move of %d MiB: %.1f s (playbook), figures %s" % (SIZE_MIB, elapsed, res["transfer"]))
    # Second run: nothing to do.
    again = move(lab, [request])
    assert again.rc == 0, again.output
    stats = _move_hosts(again)["move_" + name]
    assert (stats["changed"], stats["failures"]) == (0, 0), again.output
    assert move_result(again, name)["plan"]["phase"] == "done"
    assert helpers.hash_instance_disk(lab, "c2", name) == digest


def _create_sparse_pair(lab, name, node, random_mib, sparse_mib, offsets_mib):
    """An instance with two file disks: RANDOM_MIB of random bytes, and SPARSE_MIB of zeros
    with 1 MiB of random bytes at each of OFFSETS_MIB; returns the sha256 of both, read on the node."""
    lab.gnt("c1", "gnt-instance", "add", "-t", "file", "-o", OS_NAME, "--disk", "0:size=%dM" % random_mib,
            "--disk", "1:size=%dM" % sparse_mib, "-B", "memory=128M", "--no-name-check", "--no-ip-check",
            "--no-start", "--no-install", "-n", node, name)
    (holder, full), (_, sparse) = (helpers.disk_path(lab, "c1", name, 0), helpers.disk_path(lab, "c1", name, 1))
    script = ["head -c %d /dev/urandom | dd of=%s bs=1M iflag=fullblock conv=notrunc status=none"
              % (random_mib << 20, full)]
    script += ["head -c 1048576 /dev/urandom | dd of=%s bs=1M seek=%d iflag=fullblock conv=notrunc status=none"
               % (sparse, offset) for offset in offsets_mib]
    script += ["sync %s %s" % (full, sparse), "sha256sum %s %s" % (full, sparse)]
    out = lab.exec(holder, ["sh", "-ec", " && ".join(script)]).stdout
    digests = [line.split()[0] for line in out.splitlines() if line.strip()]
    lab.gnt("c1", "gnt-instance", "startup", name)
    return digests


def test_direct_move_of_two_disks_one_sparse_compressed(moves):
    lab = moves
    name = "vm21.lab"
    random_mib, sparse_mib = 32, 256
    digests = _create_sparse_pair(lab, name, "c1n2.lab", random_mib, sparse_mib, (0, 97, 255))
    assert len(set(digests)) == 2
    before = instances_by_name(lab, "c1")[name]
    assert before["disk_sizes"] == [random_mib, sparse_mib]
    result = move(lab, [{"name": name, "transfer": "direct", "compress": "gzip-fast",
                         "primary_node": "c2n2.lab"}])
    assert result.rc == 0, result.output
    assert name not in instances_by_name(lab, "c1")
    moved = instances_by_name(lab, "c2")[name]
    assert (moved["pnode"], moved["status"], moved["disk_sizes"]) == ("c2n2.lab", "running", before["disk_sizes"])
    assert [helpers.hash_instance_disk(lab, "c2", name, index) for index in (0, 1)] == digests
    res = move_result(result, name)
    assert [d["index"] for d in res["digests"]] == [0, 1]
    assert all(d["source"] == d["destination"] for d in res["digests"]), res["digests"]
    figures = res["transfer"]
    assert figures["bytes"] == (random_mib + sparse_mib) << 20, figures
    # The sparse disk's zeros (253 MiB of it) are not sent as data.
    assert figures["zero_bytes"] >= (sparse_mib - 3) << 20, figures
    assert figures["wire_bytes"] < figures["bytes"] - figures["zero_bytes"] + (8 << 20), figures
    print("two disks (%d + %d MiB, sparse, gzip-fast): figures %s" % (random_mib, sparse_mib, figures))


def test_rename_generate_mac_and_explicit_node(moves, moved_once):
    lab = moves
    digest = helpers.create_instance(lab, "c1", "vm11.lab", size_mib=SIZE_MIB, node="c1n2.lab")
    before = instances_by_name(lab, "c1")["vm11.lab"]
    request = {"name": "vm11.lab", "new_name": "vm12.lab", "primary_node": "c2n2.lab",
               "nics": [{"mac": "generate"}]}
    result = move(lab, [request])
    assert result.rc == 0, result.output
    assert_moved(lab, "vm11.lab", digest, before, new_name="vm12.lab", node="c2n2.lab", same_mac=False)
    moved_once["rename"] = [request]


def test_four_moves_in_parallel(moves, moved_once):
    lab = moves
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


def test_rerun_after_success_changes_nothing(moves, moved_once):
    lab = moves
    if len(moved_once) != 2:
        pytest.skip("needs the two moves above")
    for key in ("rename", "parallel"):
        defaults = {"primary_node": "c2n1.lab"} if key == "parallel" else None
        result = move(lab, moved_once[key], defaults=defaults)
        assert result.rc == 0, result.output
        for host, stats in _move_hosts(result).items():
            assert stats["changed"] == 0, (host, result.output)
            assert stats["failures"] == 0


def test_check_mode_plans_and_changes_nothing(moves):
    """Check mode of a direct move: planned and pre-flighted, nothing changed on either cluster."""
    lab = moves
    helpers.create_instance(lab, "c1", "vm17.lab", size_mib=16, node="c1n1.lab")
    before = cluster_state(lab)
    result = move(lab, [{"name": "vm17.lab", "transfer": "direct", "compress": "gzip-fast"}], check=True)
    assert result.rc == 0, result.output
    res = move_result(result, "vm17.lab")
    plan = res["plan"]
    assert res["changed"] is True            # it would move
    assert plan["phase"] == "new"
    assert plan["ok"] is True
    assert plan["move"]["transfer"] == "direct"
    findings = {f["check"]: f for f in plan["findings"]}
    assert set(findings) >= {"destination_dry_run", "transfer_defect", "mac", "compression"}
    assert all(f["ok"] for f in findings.values()), findings
    assert "direct transfer" in findings["transfer_defect"]["message"], findings["transfer_defect"]
    assert cluster_state(lab) == before
    helpers.remove_instance(lab, "c1", "vm17.lab")


def test_unknown_option_fails_only_its_own_instance(moves):
    """A misspelt option refuses that instance's move (in Python, before any cluster is
    contacted); the other instance of the same run is still planned."""
    lab = moves
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


def test_keep_policy_leaves_the_source_stopped_and_tagged(moves):
    lab = moves
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


# Run on the node: does a program started as 'python3 -c' (as the move starts its ends) hold PATH open?
READING = r"""
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            if not handle.read().split(b"\0")[1:2] == [b"-c"] or int(pid) == os.getpid():
                continue
        if any(os.readlink("/proc/%s/fd/%s" % (pid, fd)) == sys.argv[1] for fd in os.listdir("/proc/%s/fd" % pid)):
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
"""


def _sender_running(lab, node, path):
    """True when the sending end of a move (a python3 -c program started over SSH) reads PATH on NODE."""
    return lab.exec(node, ["python3", "-c", READING, path], check=False).returncode == 0


def test_interrupted_move_resumes(moves):
    """The controller is killed while the disk streams; the next run converges to a verified move."""
    lab = moves
    name = "vm19.lab"
    digest = helpers.create_instance(lab, "c1", name, size_mib=1024, node="c1n1.lab")
    before = instances_by_name(lab, "c1")[name]
    node, path = helpers.disk_path(lab, "c1", name)
    assert not _sender_running(lab, node, path)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
           "-i", lab.state()["inventory"], "-e", '{"move_instances": ["%s"]}' % name]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_HOST_KEY_CHECKING="False",
               **_env(lab))
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _sender_running(lab, node, path):
                break
            assert proc.poll() is None, "the playbook ended before the transfer started"
            time.sleep(0.05)
        else:
            pytest.fail("the sending end of %s never started" % name)
    finally:
        # Ansible's workers start sessions of their own: kill the whole tree,
        # as a crashed controller would lose it.
        for pid in [proc.pid] + descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    # Left behind: the source stopped (and tagged so), an unverified copy.
    source = instances_by_name(lab, "c1")[name]
    assert source["admin_state"] == "down", source
    assert any(t.startswith("ganeti-fleet:stopped-for-move:") for t in source["tags"]), source
    assert "ganeti-fleet:move-pending" in instances_by_name(lab, "c2")[name]["tags"]
    result = move(lab, [name])
    assert result.rc == 0, result.output
    res = move_result(result, name)
    assert res["plan"]["phase"] == "remnant", res["plan"]
    assert res["actions"][0] == "remove the unfinished copy", res["actions"]
    assert all(d["source"] == d["destination"] for d in res["digests"]) and len(res["digests"]) == 1
    assert_moved(lab, name, digest, before)      # started again: the source ran before the move


def test_refused_without_transfer_fix_and_clean_failure(fixed):
    """Ganeti's own transfer: on stock nodes the move is refused; forced through, it fails cleanly;
    with the transfer fix it goes through, its disks digested on both nodes."""
    lab = fixed
    name = "vm20.lab"
    request = {"name": name, "transfer": "ganeti"}
    digest = helpers.create_instance(lab, "c1", name, size_mib=64, node="c1n2.lab")
    set_transfer_fix(lab, "absent")
    try:
        result = move(lab, [request])
        assert result.rc != 0
        assert "ganeti/ganeti#1681" in result.output and "transfer_fix" in result.output
        assert name not in instances_by_name(lab, "c2")
        source = instances_by_name(lab, "c1")[name]
        assert (source["status"], source["admin_state"]) == ("running", "up")
        # Pretend the fix is there (the tag lies): the transfer fails for real and
        # the move must leave no damage behind.
        lab.gnt("c1", "gnt-cluster", "add-tags", FIX_TAG)
        result = move(lab, [request])
        assert result.rc != 0
        assert "failed at step 'export the disks'" in result.output, result.output
        assert name not in instances_by_name(lab, "c2"), "the failed copy was left on c2"
        source = instances_by_name(lab, "c1")[name]
        assert (source["status"], source["admin_state"]) == ("running", "up")
        assert not any(t.startswith("ganeti-fleet:stopped-for-move:") for t in source["tags"]), source
        assert helpers.hash_instance_disk(lab, "c1", name) == digest
    finally:
        lab.gnt("c1", "gnt-cluster", "remove-tags", FIX_TAG, check=False)
        set_transfer_fix(lab, "present")
    # With the fix back, the same run completes.
    before = instances_by_name(lab, "c1")[name]
    result = move(lab, [request])
    assert result.rc == 0, result.output
    res = move_result(result, name)
    assert "export the disks" in res["actions"] and "compare the disks' digests" in res["actions"], res["actions"]
    on_node = b2tree_on_node(lab, "c2", name)
    assert [(d["source"], d["destination"]) for d in res["digests"]] == [(on_node, on_node)]
    assert_moved(lab, name, digest, before)
