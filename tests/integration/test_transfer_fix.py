"""The transfer fix on real 3.0.2 clusters: Ganeti's own move-instance works with it.

Sequence on the lab (all nodes of both clusters, through the role):
check mode changes nothing; the fix is applied and the clusters are tagged;
move-instance moves an instance with identical disk bytes, and a local
gnt-backup export still works; a second run changes nothing; state=absent
restores Ganeti's files byte for byte and removes the tags, and the
stock failure is back. The lab is left stock whatever happens.
"""

import hashlib
import importlib
import os
import subprocess
import sys
import time

import pytest

import fleettest
from fleetlab import helpers
from fleetlab.lab import IMPEXPD_DIR

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PLAYBOOK = os.path.join(REPO, "playbooks", "transfer_fix.yml")
MOVE_INSTANCE = "/usr/share/ganeti/3.0/move-instance"
STOCK_FILE = os.path.join(IMPEXPD_DIR, "__init__.py")
NAME = "vm86.lab"
BACKUP_NAME = "vm85.lab"
SIZE_MIB = 64
CN_ERROR = 'commonName does not match hostname "ganeti.example.com"'
CLUSTERS = ("c1", "c2")


def _module_utils(name):
    """One of the collection's own module_utils (checksums of the fix, the tag vocabulary)."""
    collections = fleettest._collections_path()  # pylint: disable=protected-access
    if collections not in sys.path:
        sys.path.insert(0, collections)
    return importlib.import_module("ansible_collections.ganeti.fleet.plugins.module_utils." + name)


TF = _module_utils("_transfer_fix")
FIX_TAG = _module_utils("tags").TAG_TRANSFER_FIX


def _nodes(lab):
    return [node for cluster in CLUSTERS for node in lab.cluster(cluster)["nodes"]]


def _private_file(lab, node):
    return os.path.join(lab.lab_dir, "nodes", node, "impexpd", "__init__.py")


def _sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _node_files(lab):
    return {node: _sha(_private_file(lab, node)) for node in _nodes(lab)}


def _tags(lab, cluster):
    return lab.gnt(cluster, "gnt-cluster", "list-tags").split()


def _run_role(lab, run_playbook, state="present", check=False, diff=False, via_rapi=True):
    # Through RAPI (ganeti.fleet.tag), the role takes each cluster's connection from the
    # lab inventory's group variables (ganeti_rapi_url, ganeti_rapi_user, ganeti_rapi_password,
    # ganeti_rapi_ca_path). 'rapi', not 'auto' (which picks it too, the URL being set), so that
    # the test says which way the tag goes.
    extra = {"transfer_fix_state": state,
             "transfer_fix_tag_via": "rapi" if via_rapi else "ssh"}
    started = time.monotonic()
    result = run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra,
                          check=check, diff=diff)
    result.seconds = time.monotonic() - started
    assert result.rc == 0, result.output[-6000:]
    return result


def _move(lab):
    src, dst = lab.cluster("c1"), lab.cluster("c2")
    started = time.monotonic()
    proc = subprocess.run(
        [MOVE_INSTANCE, "--opportunistic-tries=0",
         "--src-ca-file", src["ca_file"], "--src-username", src["rapi_user"],
         "--src-password-file", src["rapi_password_file"],
         "--dest-ca-file", dst["ca_file"], "--dest-username", dst["rapi_user"],
         "--dest-password-file", dst["rapi_password_file"],
         "--dest-primary-node", dst["nodes"][0],
         src["master_ip"], dst["master_ip"], NAME],
        capture_output=True, text=True, timeout=900, check=False)
    return proc, time.monotonic() - started


def _cleanup_instances(lab):
    for cluster in CLUSTERS:
        helpers.remove_instance(lab, cluster, NAME)
    helpers.remove_instance(lab, "c1", BACKUP_NAME)
    lab.gnt("c1", "gnt-backup", "remove", BACKUP_NAME, check=False)


def _force_stock(lab, run_playbook):
    """Put the lab back to stock whatever state the test stopped in."""
    if not all(helpers.impexpd_is_stock(lab, node) for node in _nodes(lab)):
        run_playbook(PLAYBOOK, inventory=lab.state()["inventory"],
                     extra_vars={"transfer_fix_state": "absent",
                                 "transfer_fix_tag_via": "ssh"})
    with open(STOCK_FILE, "rb") as handle:
        stock = handle.read()
    for node in _nodes(lab):
        if not helpers.impexpd_is_stock(lab, node):
            with open(_private_file(lab, node), "wb") as handle:   # last resort
                handle.write(stock)
    for cluster in CLUSTERS:
        lab.gnt(cluster, "gnt-cluster", "remove-tags", FIX_TAG, check=False)


def test_transfer_fix_role_makes_move_instance_work(lab, playbook_runner):
    nodes = _nodes(lab)
    if not all(helpers.impexpd_is_stock(lab, node) for node in nodes):
        pytest.fail("the lab's nodes must start with Ganeti's stock impexpd")
    stock_sha = _sha(STOCK_FILE)
    assert stock_sha == TF.STOCK_SHA256
    timings = {}
    try:
        # 1. Check mode: would change every node, changes nothing.
        before = _node_files(lab)
        tags_before = {c: _tags(lab, c) for c in CLUSTERS}
        result = _run_role(lab, playbook_runner, check=True, diff=True)
        timings["check"] = result.seconds
        assert _node_files(lab) == before
        assert all(helpers.impexpd_is_stock(lab, node) for node in nodes)
        assert {c: _tags(lab, c) for c in CLUSTERS} == tags_before
        applied = result.task_results("Apply or remove the transfer fix")
        assert sorted(applied) == sorted(nodes)
        for node, res in applied.items():
            assert res["changed"] is True, (node, res)
            assert res["state"] == "fixed" and res["previous_state"] == "stock"
            assert res["diff"]["after"].count(TF.FIXED_SHA256) == 1
        for node in nodes:
            # The role's default backup directory, /var/lib/ganeti-fleet/transfer-fix, private to each lab node.
            assert not os.path.exists(os.path.join(lab.lab_dir, "nodes", node, "var-lib-fleet", "transfer-fix"))

        # 2. Apply for real; the clusters get the tag (through RAPI).
        result = _run_role(lab, playbook_runner)
        timings["apply"] = result.seconds
        applied = result.task_results("Apply or remove the transfer fix")
        for node in nodes:
            assert applied[node]["changed"] is True
            assert applied[node]["ganeti_version"] == "3.0.2"
            assert applied[node]["checksum_before"] == TF.STOCK_SHA256
            assert applied[node]["checksum_after"] == TF.FIXED_SHA256
            assert _sha(_private_file(lab, node)) == TF.FIXED_SHA256
            backup = os.path.join(lab.lab_dir, "nodes", node, "var-lib-fleet", "transfer-fix",
                                  "3.0.2", "impexpd__init__.py.orig")
            assert _sha(backup) == stock_sha
        for cluster in CLUSTERS:
            assert FIX_TAG in _tags(lab, cluster)

        # 3. Ganeti's own move-instance now works, with identical bytes.
        source_digest = helpers.create_instance(lab, "c1", NAME, size_mib=SIZE_MIB, node="c1n1.lab")
        proc, timings["move_instance"] = _move(lab)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert NAME not in {i["name"] for i in helpers.list_instances(lab, "c1")}
        moved = {i["name"]: i for i in helpers.list_instances(lab, "c2")}[NAME]
        assert moved["status"] == "running"
        assert helpers.hash_instance_disk(lab, "c2", NAME) == source_digest

        # 4. Local gnt-backup exports (node daemon certificate) still work.
        backup_digest = helpers.create_instance(lab, "c1", BACKUP_NAME, size_mib=16, node="c1n1.lab")
        started = time.monotonic()
        out = lab.gnt("c1", "gnt-backup", "export", "-n", "c1n2.lab", "--long-sleep", BACKUP_NAME)
        timings["gnt_backup_export"] = time.monotonic() - started
        assert "finished receiving data" in out
        listing = lab.exec("c1n2.lab", ["sh", "-c", "cd /var/lib/ganeti/export/%s && sha256sum"
                                        " $(ls | grep -v '^config.ini$')" % BACKUP_NAME]).stdout
        assert [line.split()[0] for line in listing.splitlines()] == [backup_digest]

        # 5. Second run: nothing to do.
        result = _run_role(lab, playbook_runner)
        timings["second_run"] = result.seconds
        for host, stats in result.stats().items():
            assert stats["changed"] == 0, (host, stats)
            assert stats["failures"] == 0

        # 6. Remove (tags through SSH this time): stock files byte for byte, no tags.
        result = _run_role(lab, playbook_runner, state="absent", via_rapi=False)
        timings["remove"] = result.seconds
        for node in nodes:
            assert helpers.impexpd_is_stock(lab, node), node
        for cluster in CLUSTERS:
            assert FIX_TAG not in _tags(lab, cluster)
        result = _run_role(lab, playbook_runner, state="absent", via_rapi=False)
        for host, stats in result.stats().items():
            assert stats["changed"] == 0, (host, stats)

        # 7. And the stock failure is back.
        helpers.remove_instance(lab, "c2", NAME)
        helpers.create_instance(lab, "c1", NAME, size_mib=SIZE_MIB, node="c1n1.lab")
        proc, timings["move_instance_stock"] = _move(lab)
        assert proc.returncode != 0
        jobs = lab.gnt("c1", "gnt-job", "list", "--no-headers", "-o", "id,summary").splitlines()
        export_ids = [line.split()[0] for line in jobs if "BACKUP_EXPORT(%s)" % NAME in line]
        assert export_ids
        assert CN_ERROR in lab.gnt("c1", "gnt-job", "info", export_ids[-1])
        print("\ntimings (s): " + ", ".join("%s=%.1f" % item for item in timings.items()))
    finally:
        _cleanup_instances(lab)
        _force_stock(lab, playbook_runner)
    assert all(helpers.impexpd_is_stock(lab, node) for node in nodes)
