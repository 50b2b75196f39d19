"""In-place cluster merge (strategy in_place) against the real lab.

c2 and c3 are merged into c1 without copying data: their nodes, with their
disk files, become nodes of c1, through playbooks/merge_clusters.yml. The
failures before and after the point of no return are tested on a merge of c2
alone into c1; a node lost during a merge of both, on three clusters.
"""

import json
import os
import stat
import threading
import time
import types

import pytest
import requests
import yaml

import fleetlab
from fleetlab import helpers
from fleettest import REPO, rapi_options, rebuild_lab, run_playbook

PLAYBOOK = os.path.join(REPO, "playbooks", "merge_clusters.yml")
TOPOLOGY = fleetlab.Topology(clusters=3, nodes=2)
# The failure tests that concern one merged cluster merge c2 alone, on two
# clusters: what a second merged cluster adds (one rollback of several
# sources) is the node-lost test's.
ONE_SOURCE = fleetlab.Topology(clusters=2, nodes=2)
ONE_SOURCE_VARS = {"cluster_merge_sources": ["c2n1.lab"]}
with open(os.path.join(REPO, "roles", "cluster_merge", "defaults", "main.yml"), encoding="utf-8") as _defaults:
    # The role's documented default, as a user gets it.
    STATE_DIR = yaml.safe_load(_defaults)["cluster_merge_state_dir"]
EXTRA_VARS = {"cluster_merge_strategy": "in_place",
              "cluster_merge_target": "c1n1.lab", "cluster_merge_sources": ["c2n1.lab", "c3n1.lab"],
              "cluster_merge_group_policy": "rename",
              "cluster_merge_verify_ignore_errors": ["ENODESETUP"]}
NODES = ("c1n1.lab", "c1n2.lab", "c2n1.lab", "c2n2.lab", "c3n1.lab", "c3n2.lab")

# What a merge of c2 and c3 into c1 leaves in STATE_DIR on each node, as
# docs/docsite/rst/merge_in_place_guide.rst ("Files, modes and cleanup") lists it, and what the
# cleanup keeps of it. c1n2, a node of the target, gets nothing.
WRITTEN = {
    "c1n1.lab": {"state.json.done", "target-config.data.backup", "source-c2.lab.config.data",
                 "source-c3.lab.config.data"},
    "c2n1.lab": {"var-lib-ganeti.tar.gz"},
    "c3n1.lab": {"var-lib-ganeti.tar.gz"},
    "c2n2.lab": {"var-lib-ganeti.tar.gz"},
    "c3n2.lab": {"var-lib-ganeti.tar.gz"},
}
KEPT = {"c1n1.lab": {"state.json.done"}, "c2n1.lab": set(), "c3n1.lab": set(), "c2n2.lab": set(),
        "c3n2.lab": set()}

# name: (cluster, node, template, running)
INSTANCES = {
    "vm11.lab": ("c1.lab", "c1n2.lab", "file", True),
    "vm21.lab": ("c2.lab", "c2n2.lab", "file", True),
    "vm22.lab": ("c2.lab", "c2n1.lab", "file", False),
    "vm31.lab": ("c3.lab", "c3n1.lab", "sharedfile", True),
    "vm32.lab": ("c3.lab", "c3n2.lab", "file", True),
}
ONE_SOURCE_INSTANCES = {name: spec for name, spec in INSTANCES.items() if spec[0] in ("c1.lab", "c2.lab")}


def _lab_nodes(lab):
    return [node for cluster in lab.state()["clusters"] for node in cluster["nodes"]]


def populate(lab, instances=INSTANCES):
    """Create INSTANCES; return name -> {sha256, node, path, inode, mtime, status, pnode}."""
    found = {}
    for name, (cluster, node, template, running) in instances.items():
        digest = helpers.create_instance(lab, cluster, name, 16, template=template, node=node,
                                         start=running)
        holder, path = helpers.disk_path(lab, cluster, name)
        found[name] = {"sha256": digest, "node": holder, "path": path, "stat": disk_stat(lab, holder, path)}
    for cluster in sorted({spec[0] for spec in instances.values()}):
        for inst in helpers.list_instances(lab, cluster):
            found[inst["name"]].update(status=inst["status"], pnode=inst["pnode"], macs=inst["macs"])
    return found


def disk_stat(lab, node, path):
    """Inode and mtime (ns) of a disk file: equal before and after means it was not rewritten."""
    return lab.exec(node, ["stat", "-c", "%i %Y.%y", path]).stdout.strip()


def instances_on(lab, master):
    out = lab.exec(master, ["gnt-instance", "list", "--no-headers", "--separator=|", "-o",
                            "name,pnode,status"]).stdout
    return {line.split("|")[0]: {"pnode": line.split("|")[1], "status": line.split("|")[2]}
            for line in out.splitlines() if line.strip()}


def verify_clean(lab, master):
    proc = lab.exec(master, ["gnt-cluster", "verify", "--error-codes"], check=False)
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if ":ERROR:" in line and "ENODESETUP" not in line]
    assert not errors, output
    return output


def merge(lab, env=None, **extra):
    variables = dict(EXTRA_VARS, **extra)
    started = time.monotonic()
    result = run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=variables, env=env)
    return result, time.monotonic() - started


def state_dir_listing(lab, host, path=STATE_DIR):
    """{relative path: (type, mode)} of everything in PATH on HOST ("." is PATH itself); {} when absent."""
    out = lab.exec(host, ["sh", "-c", 'if [ -e "$1" ]; then find "$1" -printf "%m %y %P\\n"; fi', "-", path]).stdout
    found = {}
    for line in out.splitlines():
        mode, kind, rel = line.split(" ", 2)
        found[rel or "."] = (kind, int(mode, 8))
    return found


def open_entries(listing):
    """Entries of a listing that the group or others may use (anything but 0600 files and 0700 directories)."""
    return {rel: "%s %04o" % (kind, mode) for rel, (kind, mode) in listing.items() if mode & 0o077}


def controller_listing(root):
    """The same listing of a directory of the controller (the machine the playbook runs on)."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            found[os.path.relpath(path, root)] = ("f", stat.S_IMODE(os.lstat(path).st_mode))
    return found


def every_cluster(lab):
    """Instances with states, nodes and tags of c1, c2 and c3: what check mode may not change."""
    return {c: (helpers.list_instances(lab, c), helpers.list_nodes(lab, c), lab.gnt(c, "gnt-cluster", "list-tags"))
            for c in ("c1.lab", "c2.lab", "c3.lab")}


@pytest.fixture(scope="module")
def merged(three_clusters, tmp_path_factory):
    """c2 and c3 merged into c1 keeping the backups (cluster_merge_cleanup: false), then the cleanup run."""
    lab = three_clusters  # freshly rebuilt for this module
    before = populate(lab)
    unchanged = every_cluster(lab)
    checked = run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=EXTRA_VARS, check=True)
    assert checked.rc == 0, checked.output
    assert all(stats["changed"] == 0 for stats in checked.stats().values()), checked.stats()
    assert every_cluster(lab) == unchanged
    # Ansible's own temporary files on the controller (the configurations
    # handed to the target master pass through them) go to a directory the
    # test can walk afterwards.
    controller_tmp = str(tmp_path_factory.mktemp("controller-tmp"))
    result, seconds = merge(lab, env={"ANSIBLE_LOCAL_TEMP": controller_tmp}, cluster_merge_cleanup=False)
    print("\n[in_place] merge of c2 and c3 into c1 (backups kept): %.1f s" % seconds)
    written = {host: state_dir_listing(lab, host) for host in NODES}
    controller = {"tmp": controller_listing(controller_tmp), "state_dir": controller_listing(STATE_DIR)}
    archive = lab.exec("c3n2.lab", ["tar", "-tzf", STATE_DIR + "/var-lib-ganeti.tar.gz"]).stdout.split()
    cleanup, seconds = merge(lab)
    print("\n[in_place] later run with the cleanup: %.1f s" % seconds)
    kept = {host: state_dir_listing(lab, host) for host in NODES}
    return types.SimpleNamespace(lab=lab, before=before, result=result, written=written, controller=controller,
                                 archive=archive, cleanup=cleanup, kept=kept)


def assert_merged(lab, before, sources=("c2", "c3")):
    """The SOURCES' nodes and instances are c1's, each disk file untouched, c1 verifies clean."""
    nodes = {node["name"] for node in helpers.list_nodes(lab, "c1.lab")}
    assert nodes == {"%sn%d.lab" % (cluster, index) for cluster in ("c1",) + tuple(sources) for index in (1, 2)}
    assert not any(node["offline"] for node in helpers.list_nodes(lab, "c1.lab"))
    after = instances_on(lab, "c1n1.lab")
    assert set(after) == set(before)
    for name, old in before.items():
        assert after[name] == {"pnode": old["pnode"], "status": old["status"]}, name
        holder, path = helpers.disk_path(lab, "c1.lab", name)
        assert (holder, path) == (old["node"], old["path"]), name
        assert helpers.hash_instance_disk(lab, "c1.lab", name) == old["sha256"], name
        assert disk_stat(lab, holder, path) == old["stat"], "disk file of %s was rewritten" % name
    macs = {inst["name"]: inst["macs"] for inst in helpers.list_instances(lab, "c1.lab")}
    assert macs == {name: old["macs"] for name, old in before.items()}
    groups = lab.exec("c1n1.lab", ["gnt-group", "list", "--no-headers", "-o", "name"]).stdout.split()
    assert sorted(groups) == ["default"] + ["default-" + source for source in sources]
    verify_clean(lab, "c1n1.lab")
    watcher = lab.exec("c1n1.lab", ["gnt-cluster", "watcher", "info"]).stdout
    assert "not paused" in watcher
    tags = lab.gnt("c1.lab", "gnt-cluster", "list-tags").split()
    assert {"ganeti-fleet:merged:%s.lab" % source for source in sources} <= set(tags)
    assert lab.exec("c1n1.lab", ["test", "-e", STATE_DIR + "/state.json"], check=False).returncode != 0


def test_in_place_merge_keeps_every_instance_and_its_disk_files(merged):
    assert merged.result.rc == 0, merged.result.output
    assert "1 disk(s) of stopped instances hashed before and after: identical" in merged.result.output, \
        merged.result.output
    assert_merged(merged.lab, merged.before)


def test_in_place_merge_writes_nothing_that_group_or_others_can_read(merged):
    assert merged.result.rc == 0, merged.result.output
    # With the cleanup turned off every backup stays, each where the docs say.
    files = {host: {rel for rel, (kind, _mode) in listing.items() if rel != "."}
             for host, listing in merged.written.items() if listing}
    assert files == WRITTEN
    assert all(listing["."] == ("d", 0o700) for listing in merged.written.values() if listing)
    assert {host: open_entries(listing) for host, listing in merged.written.items()} == {host: {} for host in NODES}
    # The archive is the node's former /var/lib/ganeti, key material included.
    assert {"ganeti/server.pem", "ganeti/rapi.pem", "ganeti/cluster-domain-secret"} <= set(merged.archive)
    assert open_entries(merged.controller["tmp"]) == {} and open_entries(merged.controller["state_dir"]) == {}


def test_in_place_merge_cleanup_removes_the_backups_and_keeps_the_record(merged):
    assert merged.cleanup.rc == 0, merged.cleanup.output
    files = {host: {rel for rel in listing if rel != "."} for host, listing in merged.kept.items() if listing}
    assert files == KEPT
    assert {host: open_entries(listing) for host, listing in merged.kept.items()} == {host: {} for host in NODES}
    record = json.loads(merged.lab.exec("c1n1.lab", ["cat", STATE_DIR + "/state.json.done"]).stdout)
    assert [source["cluster_name"] for source in record["sources"]] == ["c2.lab", "c3.lab"]
    # Only the cleanup changed something in that later run.
    changed = [name for name, hosts in _changed_tasks(merged.cleanup).items() if hosts]
    assert changed == ["In place cleanup | Remove the merge's backups on the merged nodes, then on the target master"], \
        changed


def _changed_tasks(result):
    """Task name -> hosts (or loop items) it reported changed on, from the json callback."""
    found = {}
    for play in json.loads(result.stdout)["plays"]:
        for task in play["tasks"]:
            found[task["task"]["name"]] = [host for host, res in task["hosts"].items() if res.get("changed")]
    return found


def test_in_place_merge_second_run_and_second_cleanup_change_nothing(merged):
    assert merged.cleanup.rc == 0, merged.cleanup.output
    result, seconds = merge(merged.lab)
    print("\n[in_place] run after the cleanup (nothing to do): %.1f s" % seconds)
    assert result.rc == 0, result.output
    assert all(stats["changed"] == 0 and stats["failures"] == 0
               for stats in result.stats().values()), result.stats()
    assert {host: state_dir_listing(merged.lab, host) for host in NODES} == merged.kept


def assert_rolled_back(lab, before, instances=INSTANCES):
    """Each cluster as before the merge: its instances in their states, disks, RAPI, watcher running."""
    for cluster in sorted({spec[0] for spec in instances.values()}):
        master = lab.cluster(cluster)["master"]
        now = instances_on(lab, master)
        expected = {name for name, spec in instances.items() if spec[0] == cluster}
        assert set(now) == expected, cluster
        for name in expected:
            assert now[name] == {"pnode": before[name]["pnode"], "status": before[name]["status"]}, name
            assert helpers.hash_instance_disk(lab, cluster, name) == before[name]["sha256"], name
        verify_clean(lab, master)
        assert "not paused" in lab.exec(master, ["gnt-cluster", "watcher", "info"]).stdout
        opts = rapi_options(lab, cluster)
        answer = requests.get(opts["rapi_url"] + "/2/info", auth=(opts["rapi_user"], opts["rapi_password"]),
                              verify=opts["ca_path"], timeout=30)
        assert answer.status_code == 200 and answer.json()["name"] == cluster
    assert {n["name"] for n in helpers.list_nodes(lab, "c1.lab")} == {"c1n1.lab", "c1n2.lab"}


def change_merged_clusters(lab, before, removed="vm32.lab"):
    """A new running instance on c2 (vm23), one fewer (REMOVED, of c3 or c2); BEFORE follows."""
    digest = helpers.create_instance(lab, "c2.lab", "vm23.lab", 16, template="file", node="c2n2.lab", start=True)
    holder, path = helpers.disk_path(lab, "c2.lab", "vm23.lab")
    listed = {i["name"]: i for i in helpers.list_instances(lab, "c2.lab")}["vm23.lab"]
    before["vm23.lab"] = {"sha256": digest, "node": holder, "path": path, "stat": disk_stat(lab, holder, path),
                          "pnode": listed["pnode"], "status": listed["status"], "macs": listed["macs"]}
    helpers.remove_instance(lab, INSTANCES[removed][0], removed)
    del before[removed]


def plant(lab, host, path, text):
    lab.exec(host, ["sh", "-c", 'umask 077; mkdir -p "$(dirname "$1")"; cat > "$1"', "-", path], input_text=text)


def test_failure_before_the_point_of_no_return_rolls_back_and_a_rerun_merges_the_clusters_as_they_are_now(
        three_clusters):
    lab = rebuild_lab(three_clusters, ONE_SOURCE)
    before = populate(lab, ONE_SOURCE_INSTANCES)
    # What an earlier, finished merge into a cluster of the same name left:
    # its record and a backup of a configuration that is not c1's now. A new
    # run archives them and backs up afresh; they are never merged.
    stale_config = lab.exec("c1n1.lab", ["cat", "/var/lib/ganeti/config.data"]).stdout.replace(
        '"vm11.lab"', '"stale-vm.lab"')
    plant(lab, "c1n1.lab", STATE_DIR + "/target-config.data.backup", stale_config)
    plant(lab, "c1n1.lab", STATE_DIR + "/state.json.done", json.dumps({"sources": []}))
    # The last step before the point of no return fails on c2n2: its state
    # directory cannot be created (a file is in the way). By then the target
    # runs on the merged configuration and the merged cluster is stopped.
    blocker = STATE_DIR
    lab.exec("c2n2.lab", ["sh", "-c", "mkdir -p %s && touch %s" % (os.path.dirname(blocker), blocker)])
    try:
        result, seconds = merge(lab, **ONE_SOURCE_VARS)
        print("\n[in_place] failed merge with rollback: %.1f s" % seconds)
    finally:
        lab.exec("c2n2.lab", ["rm", "-f", blocker])
    assert result.rc != 0
    assert "failed before its point of no return" in result.output and "c2n2.lab" in result.output, result.output
    assert "Merge the configurations and clear the merged nodes' old identity" in result.output, result.output
    assert "Rollback: rolled back from phase stopped" in result.output, result.output
    assert_rolled_back(lab, before, ONE_SOURCE_INSTANCES)
    # The target master's key was removed again from the nodes it was added to.
    target_key = lab.exec("c1n1.lab", ["cat", "/root/.ssh/id_rsa.pub"]).stdout.strip()
    assert target_key not in lab.exec("c2n1.lab", ["cat", "/root/.ssh/authorized_keys"]).stdout
    left = state_dir_listing(lab, "c1n1.lab")
    assert "state.json" not in left and open_entries(left) == {}
    archived = sorted(rel for rel in left if rel.startswith("archive/") and rel.count("/") == 2)
    assert {rel.split("/")[-1] for rel in archived} == {
        "target-config.data.backup", "state.json.done", "state.json.rolled-back"}, archived
    # The backup this run took is of c1 as it is, not the stale one.
    backup = lab.exec("c1n1.lab", ["cat", STATE_DIR + "/target-config.data.backup"]).stdout
    assert "stale-vm.lab" not in backup and '"vm11.lab"' in backup

    # The merged cluster changes after the rollback: a new instance, one
    # fewer. The same playbook merges it as it is now.
    change_merged_clusters(lab, before, removed="vm21.lab")
    result, seconds = merge(lab, **ONE_SOURCE_VARS)
    print("\n[in_place] re-run after the rollback, cluster changed: %.1f s" % seconds)
    assert result.rc == 0, result.output
    assert_merged(lab, before, sources=("c2",))
    assert "vm21.lab" not in instances_on(lab, "c1n1.lab")


def refuses_a_state_of_another_incarnation_of_the_target(lab):
    """The state of a merge into an earlier c1 (another UUID), interrupted before its point of no return."""
    unchanged = every_cluster(lab)
    stale = {"format": 2, "phase": "merged",
             "target": {"cluster_name": "c1.lab", "uuid": "0-earlier-c1", "serial_no": 3, "master": "c1n1.lab"},
             "sources": [{"cluster_name": "c2.lab", "master": "c2n1.lab", "online_nodes": ["c2n1.lab", "c2n2.lab"],
                          "uuid": "0-earlier-c2", "serial_no": 3, "running": []}],
             "running": {"c2.lab": []}}
    plant(lab, "c1n1.lab", STATE_DIR + "/state.json", json.dumps(stale))
    plant(lab, "c1n1.lab", STATE_DIR + "/target-config.data.backup", '{"cluster": {"uuid": "0-earlier-c1"}}')
    listing = state_dir_listing(lab, "c1n1.lab")
    result, _seconds = merge(lab)
    assert result.rc != 0
    assert "UUID 0-earlier-c1" in result.output and "built again under the same name" in result.output, result.output
    assert "mv %s %s.old" % (STATE_DIR, STATE_DIR) in result.output, result.output
    assert every_cluster(lab) == unchanged
    assert state_dir_listing(lab, "c1n1.lab") == listing
    assert "not paused" in lab.exec("c1n1.lab", ["gnt-cluster", "watcher", "info"]).stdout
    # The operator moves the directory away, as the message says.
    lab.exec("c1n1.lab", ["mv", STATE_DIR, STATE_DIR + ".old"])


def test_a_node_lost_after_the_backups_fails_the_run_within_the_bound_and_the_rollback_names_it(three_clusters):
    lab = rebuild_lab(three_clusters, TOPOLOGY)
    before = populate(lab)
    refuses_a_state_of_another_incarnation_of_the_target(lab)
    # c3n2 leaves the network as soon as the backups are taken and the state
    # says 'prepared': the stop step cannot reach it.
    stop, unplugged = threading.Event(), threading.Event()
    lost_at = []
    watcher = threading.Thread(target=_unplug_at, args=(lab, "c3n2.lab", ("prepared",), stop, unplugged, lost_at))
    watcher.start()
    try:
        result, _seconds = merge(lab)
        failed_after = time.monotonic() - lost_at[0] if lost_at else None
    finally:
        stop.set()
        watcher.join()
    try:
        assert unplugged.is_set(), result.output
        print("\n[in_place] run failed %.1f s after c3n2 left the network" % failed_after)
        # Minutes, not the TCP timeout: the failed step, then the whole
        # rollback (each command to c3n2 fails after its 10 s connect timeout).
        assert failed_after < 300, failed_after
        assert result.rc != 0
        assert "failed before its point of no return" in result.output, result.output
        assert "except on c3n2.lab" in result.output, result.output
        state = _state(lab)
        assert state["phase"] == "prepared"
        # Everything else is back: c2 whole, c3's master and its instance on c3n1.
        assert instances_on(lab, "c2n1.lab")["vm21.lab"]["status"] == "running"
        assert "not paused" in lab.exec("c2n1.lab", ["gnt-cluster", "watcher", "info"]).stdout
        assert "not paused" in lab.exec("c1n1.lab", ["gnt-cluster", "watcher", "info"]).stdout
        assert instances_on(lab, "c3n1.lab")["vm31.lab"]["status"] == "running"
        assert "not paused" in lab.exec("c3n1.lab", ["gnt-cluster", "watcher", "info"]).stdout
    finally:
        lab.exec("c3n2.lab", ["ip", "link", "set", "eth0", "up"])
    # c3n2 is back: the next run finishes the rollback first and says so.
    result, _seconds = merge(lab)
    assert result.rc != 0 and "rolled back first" in result.output, result.output
    assert_rolled_back(lab, before)
    assert _state(lab) == {}
    # A merge after a rollback, of the clusters as they are then, is the
    # failure-before-the-point-of-no-return test's.


def _state(lab):
    proc = lab.exec("c1n1.lab", ["cat", STATE_DIR + "/state.json"], check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}


def _state_phase(lab):
    return _state(lab).get("phase")


def _unplug_at(lab, node, phases, stop, unplugged, when=None):
    """Take NODE off the lab network as soon as the state reaches one of PHASES."""
    while not stop.is_set():
        if _state_phase(lab) in phases:
            lab.exec(node, ["ip", "link", "set", "eth0", "down"])
            if when is not None:
                when.append(time.monotonic())
            unplugged.set()
            return
        time.sleep(0.3)


def test_failure_after_the_point_of_no_return_is_finished_by_a_rerun(three_clusters):
    lab = rebuild_lab(three_clusters, ONE_SOURCE)
    before = populate(lab, ONE_SOURCE_INSTANCES)
    # Past the point of no return c2n2 drops off the network: its readd
    # fails (the target master cannot reach it over SSH) after c2n1 was
    # readded. Nothing can be rolled back; a re-run finishes.
    stop, unplugged = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_unplug_at, args=(lab, "c2n2.lab", ("merged", "readd"), stop, unplugged))
    watcher.start()
    try:
        result, seconds = merge(lab, **ONE_SOURCE_VARS)
        print("\n[in_place] merge interrupted after the point of no return: %.1f s" % seconds)
    finally:
        stop.set()
        watcher.join()
        lab.exec("c2n2.lab", ["ip", "link", "set", "eth0", "up"])
    assert unplugged.is_set(), result.output
    assert result.rc != 0
    assert "failed after its point of no return" in result.output, result.output
    assert "c2n2.lab" in result.output and "run the same playbook again" in result.output, result.output
    state = _state(lab)
    assert state["phase"] == "readd"
    # The digest of the one stopped file-based instance, taken before anything stopped.
    assert state["disk_digests"] == ["vm22.lab:0:%s" % before["vm22.lab"]["sha256"]]
    nodes = {node["name"]: node["offline"] for node in helpers.list_nodes(lab, "c1.lab")}
    assert nodes["c2n2.lab"] is True
    assert not any(offline for name, offline in nodes.items() if name.startswith("c1"))
    # The merged cluster's instances stay stopped until the merge is finished.
    admin = lab.exec("c1n1.lab", ["gnt-instance", "list", "--no-headers", "--separator=|", "-o",
                                  "name,admin_state"]).stdout.split()
    assert {"vm21.lab|down", "vm22.lab|down", "vm11.lab|up"} <= set(admin), admin

    # Past the point of no return, before the merge is finished: the
    # merged nodes' backups are all still there, private.
    pending = {host: state_dir_listing(lab, host) for host in _lab_nodes(lab)}
    assert {host: open_entries(listing) for host, listing in pending.items()} == {host: {} for host in pending}
    assert all("var-lib-ganeti.tar.gz" in pending[host] for host in ("c2n1.lab", "c2n2.lab"))

    result, seconds = merge(lab, **ONE_SOURCE_VARS)
    print("\n[in_place] re-run that finishes it: %.1f s" % seconds)
    assert result.rc == 0, result.output
    # Compared with that record, not with every instance the interruption left stopped.
    assert "1 disk(s) of stopped instances hashed before and after: identical" in result.output, result.output
    assert_merged(lab, before, sources=("c2",))
    # Finished and verified: the default cleanup ran.
    kept = {host: files for host, files in KEPT.items() if host in _lab_nodes(lab)}
    assert {host: {rel for rel in state_dir_listing(lab, host) if rel != "."} for host in kept} == kept
    again, _ = merge(lab, **ONE_SOURCE_VARS)
    assert again.rc == 0, again.output
    assert all(stats["changed"] == 0 for stats in again.stats().values()), again.stats()
