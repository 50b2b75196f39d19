"""Faults during inter-cluster moves, caused for real on the lab.

Each test moves an instance with playbooks/move_instances.yml (the lab
inventory gives the module its node access) while something breaks: a
destination that writes one byte wrong, a full destination disk store, a
RAPI that stops answering, the controller killed. Each then checks the
clusters themselves: the source's disk bytes (sha256 on its node) are those
it had before and it runs again, the unverified copy is gone, the task failed
naming the step; and the same move run again converges (sha256 equal on the
destination, source removed).

How the faults are made:

* a variant of the lab OS's import or export script (tests/lab/files/os-variants)
  in the private /srv of the nodes of one cluster, the stock script put back
  afterwards;
* a tmpfs smaller than the disk mounted over /srv/ganeti/file-storage in the
  destination node's own mount namespace: the file disk is created (sparse),
  its bytes do not fit;
* Ganeti's RAPI daemon stopped on a master (daemon-util), while the source's
  node sends slowly (a tbf qdisc on its interface) so that the stop lands
  mid-transfer;
* the direct transfer's sending end frozen (SIGSTOP) while it waits for its
  settings, or the source's export script held, to kill the controller after
  the source was stopped and before any byte moved;
* a Ganeti job holding the source node's lock, to kill the controller while
  the finishing jobs wait for it.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

import pytest

from fleettest import REPO, PlaybookResult, _collections_path, descendants, move_env, remove_instances, run_playbook
from fleetlab import helpers

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
SIZE_MIB = 64
STOCK_OS = os.path.join(REPO, "tests", "lab", "files", "os", "lab-dd")
OS_VARIANTS = os.path.join(REPO, "tests", "lab", "files", "os-variants", "lab-dd")
FILE_STORAGE = "/srv/ganeti/file-storage"
FILLER = "lab-filler"
DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"
TAG_PENDING = "ganeti-fleet:move-pending"
TAG_STOPPED_PREFIX = "ganeti-fleet:stopped-for-move:"
TAG_DIGEST_PREFIX = "ganeti-fleet:digest:"
#: The source's node is not its cluster's master: slowing its interface or
#: holding SSH to it leaves the source's RAPI alone.
SOURCE_NODE = "c1n2.lab"
DESTINATION_NODE = "c2n2.lab"
TEST_INSTANCES = ["vm%02d.lab" % i for i in range(40, 52)]
#: Seconds a Ganeti job holds the source node's lock while the finishing jobs run.
HOLD_SECONDS = 40


# ---------------------------------------------------------------------------
# Moves

_env = move_env


def move(lab, request):
    """Run the move of REQUEST (one instance) with the playbook and the lab inventory."""
    return run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], env=_env(lab),
                        extra_vars={"move_instances": [request]})


class BackgroundMove:
    """The playbook run of one move as a process tree of its own, to act on while it runs.

    Its output goes to files (a pipe nobody reads would block it).
    """

    def __init__(self, lab, request):
        self.workdir = tempfile.mkdtemp(prefix="move-fault-")
        self.out = open(os.path.join(self.workdir, "stdout"), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
        self.err = open(os.path.join(self.workdir, "stderr"), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
               "-i", lab.state()["inventory"], "-e", json.dumps({"move_instances": [request]})]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_STDOUT_CALLBACK="fleet_json",
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "callback_plugins"),
                   **_env(lab))
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=self.out, stderr=self.err,  # pylint: disable=consider-using-with
                                     start_new_session=True)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=600):
        self.proc.wait(timeout=timeout)
        return self._result()

    def kill(self):
        """Kill the playbook and every process it started, as a crashed controller loses them.

        Ansible's workers start sessions of their own: the whole tree, by PID.
        """
        for pid in [self.proc.pid] + descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def _result(self):
        self.out.seek(0)
        self.err.seek(0)
        result = PlaybookResult(types.SimpleNamespace(returncode=self.proc.returncode, stdout=self.out.read(),
                                                      stderr=self.err.read()))
        return result

    def close(self):
        if self.running():
            self.kill()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def background_move(lab, request):
    run = BackgroundMove(lab, request)
    try:
        yield run
    finally:
        run.close()


def wait_until(what, predicate, run=None, timeout=240, interval=0.2):
    """Poll PREDICATE until it returns a true value (returned); fail after TIMEOUT or when RUN ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if run is not None and not run.running():
            result = run.wait()
            pytest.fail("the move ended before %s:\n%s" % (what, result.output[-4000:]))
        time.sleep(interval)
    pytest.fail("timed out waiting for %s" % what)
    return None


def failure(result, name):
    """The failed move task's result of NAME, after checking that it failed."""
    assert result.rc != 0, result.output
    task = result.task_results("Move the instance")["move_" + name]
    assert task.get("failed"), task
    return task


def failed_step(task):
    """The step the failed move names, in its result and in its message."""
    step = task.get("step")
    assert step and "failed at step '%s'" % step in task["msg"], task["msg"]
    return step


# ---------------------------------------------------------------------------
# What the clusters show

def instances_by_name(lab, cluster):
    return {i["name"]: i for i in helpers.list_instances(lab, cluster)}


def status(lab, cluster, name):
    return lab.gnt(cluster, "gnt-instance", "list", "--no-headers", "-o", "status", name, check=False).strip()


def make_source(lab, name, node=SOURCE_NODE):
    """A running source instance on c1 with a random disk; returns its sha256."""
    for cluster in ("c1", "c2"):
        helpers.remove_instance(lab, cluster, name)
    return helpers.create_instance(lab, "c1", name, size_mib=SIZE_MIB, node=node)


def assert_source_restored(lab, name, digest):
    """The source holds its bytes, runs again, and carries no stopped-for-move tag."""
    source = instances_by_name(lab, "c1")[name]
    assert (source["status"], source["admin_state"]) == ("running", "up"), source
    assert not [t for t in source["tags"] if t.startswith(TAG_STOPPED_PREFIX)], source["tags"]
    assert helpers.hash_instance_disk(lab, "c1", name) == digest


def assert_no_copy(lab, name):
    assert name not in instances_by_name(lab, "c2"), "the unverified copy of %s was left on c2" % name


def assert_converges(lab, request, digest, phase=None):
    """The same move run again succeeds: the copy holds the source's bytes and runs, the source is gone."""
    name = request["name"]
    result = move(lab, request)
    assert result.rc == 0, result.output
    task = result.task_results("Move the instance")["move_" + name]
    if phase:
        assert task["plan"]["phase"] == phase, task["plan"]
    assert name not in instances_by_name(lab, "c1"), "source %s still exists" % name
    moved = instances_by_name(lab, "c2")[name]
    assert (moved["status"], moved["admin_state"]) == ("running", "up"), moved
    assert TAG_PENDING not in moved["tags"]
    assert any(t.startswith(TAG_DIGEST_PREFIX + "0:") for t in moved["tags"]), moved["tags"]
    if request.get("primary_node"):
        assert moved["pnode"] == request["primary_node"]
    assert helpers.hash_instance_disk(lab, "c2", name) == digest
    return task


# ---------------------------------------------------------------------------
# Faults

def _node_os_script(lab, node, script):
    return os.path.join(lab.lab_dir, "nodes", node, "srv", "ganeti", "os", "lab-dd", script)


@contextlib.contextmanager
def os_script_variant(lab, cluster, script, variant):
    """SCRIPT of the lab OS replaced by VARIANT on every node of CLUSTER; the stock one back afterwards."""
    nodes = lab.cluster(cluster)["nodes"]
    try:
        for node in nodes:
            shutil.copy(os.path.join(OS_VARIANTS, variant), _node_os_script(lab, node, script))
        yield nodes
    finally:
        for node in nodes:
            shutil.copy(os.path.join(STOCK_OS, script), _node_os_script(lab, node, script))


@contextlib.contextmanager
def small_file_storage(lab, node):
    """A tmpfs with room for one test disk and 16 MiB over NODE's file storage (its mount namespace only).

    The move's pre-flight finds room for the copy; the function ``fill()``
    it yields takes all but 24 MiB or less of it, so that the copy's bytes
    no longer fit.
    """
    lab.exec(node, ["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % (SIZE_MIB + 16), "tmpfs",
                    FILE_STORAGE])

    def fill():
        lab.exec(node, ["dd", "if=/dev/zero", "of=%s/%s" % (FILE_STORAGE, FILLER), "bs=1M",
                        "count=%d" % (SIZE_MIB - 8), "status=none"], check=False)

    try:
        yield fill
    finally:
        lab.exec(node, ["umount", FILE_STORAGE], check=False)


def files_of_copies(lab, node):
    """Files in NODE's file storage other than the filler."""
    out = lab.exec(node, ["find", FILE_STORAGE, "-type", "f", "!", "-name", FILLER]).stdout
    return out.split()


@contextlib.contextmanager
def slow_interface(lab, node, mbit):
    """NODE sends at MBIT Mbit/s at most (a tbf qdisc on its interface)."""
    lab.exec(node, ["tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "%dmbit" % mbit,
                    "burst", "32kb", "latency", "400ms"])
    try:
        yield
    finally:
        lab.exec(node, ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)


def node_programs(lab, node):
    """PIDs (in NODE's PID namespace) of the move's node programs (_disk_stream) running on NODE."""
    out = lab.exec(node, ["ps", "-eo", "pid=,args="]).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines()
            if "ganeti_fleet_disk_stream" in line and "ps -eo" not in line]


def receiver_listening(lab, node):
    """Whether a node program listens on NODE (the receiving end got its settings)."""
    return "python" in lab.exec(node, ["ss", "-Hltnp"]).stdout


@contextlib.contextmanager
def frozen(lab, node, pids):
    """The processes PIDS on NODE stopped (SIGSTOP), continued afterwards."""
    lab.exec(node, ["kill", "-STOP"] + [str(p) for p in pids])
    try:
        yield
    finally:
        lab.exec(node, ["kill", "-CONT"] + [str(p) for p in pids], check=False)


def rapi(lab, cluster, action):
    """Start or stop Ganeti's RAPI daemon on CLUSTER's master."""
    lab.exec(lab.cluster(cluster)["master"], [DAEMON_UTIL, action, "ganeti-rapi"])


@contextlib.contextmanager
def rapi_started_afterwards(lab, cluster):
    try:
        yield
    finally:
        lab.exec(lab.cluster(cluster)["master"], [DAEMON_UTIL, "start", "ganeti-rapi"], check=False)


# ---------------------------------------------------------------------------
# The tests

@pytest.fixture(scope="module")
def fixed(transfer_fixed):
    yield transfer_fixed
    remove_instances(transfer_fixed, TEST_INSTANCES)


def test_one_wrong_byte_from_ganeti_is_caught_before_the_source_goes(fixed):
    """Ganeti's import reports success although one byte differs; the digests catch it."""
    lab = fixed
    name = "vm40.lab"
    digest = make_source(lab, name)
    request = {"name": name, "transfer": "ganeti"}
    with os_script_variant(lab, "c2", "import", "import-one-byte-wrong"):
        result = move(lab, request)
    task = failure(result, name)
    assert failed_step(task) == "compare the disks' digests", task["msg"]
    assert "although Ganeti reported the import as successful" in task["msg"]
    assert "disk 0:" in task["msg"]
    assert_source_restored(lab, name, digest)
    assert_no_copy(lab, name)
    assert_converges(lab, request, digest, phase="new")


def stored_kib(lab, node):
    """KiB allocated in NODE's file storage (its file disks are sparse until written)."""
    return int(lab.exec(node, ["du", "-s", "-k", FILE_STORAGE]).stdout.split()[0])


def wait_for_bytes_arriving(lab, name, run, baseline_kib):
    """Until the copy's bytes arrive on the destination node: the transfer runs (the source is stopped)."""
    wait_until("the bytes of %s arriving on %s" % (name, DESTINATION_NODE),
               lambda: stored_kib(lab, DESTINATION_NODE) > baseline_kib + 1024, run)
    assert status(lab, "c1", name) == "ADMIN_down"


def job_ids(lab, cluster, summary, statuses=("queued", "waiting", "running")):
    """Ids of CLUSTER's jobs whose summary is SUMMARY, in one of STATUSES."""
    out = lab.gnt(cluster, "gnt-job", "list", "--no-headers", "--separator=|", "-o", "id,status,summary")
    found = []
    for line in out.splitlines():
        if line.count("|") == 2:
            job, state, text = line.split("|")
            if state in statuses and summary in text:
                found.append(job)
    return found


def _stopped_tags(instance):
    return [t for t in instance["tags"] if t.startswith(TAG_STOPPED_PREFIX)]


@pytest.mark.parametrize("transfer,name", [("direct", "vm41.lab"), ("ganeti", "vm42.lab")])
def test_destination_storage_full_during_transfer(fixed, transfer, name):
    """The copy's disk was created (sparse), then its node's store fills up while the bytes arrive."""
    lab = fixed
    digest = make_source(lab, name)
    request = {"name": name, "transfer": transfer, "primary_node": DESTINATION_NODE}
    with small_file_storage(lab, DESTINATION_NODE) as fill:
        with slow_interface(lab, SOURCE_NODE, 40), background_move(lab, request) as run:
            wait_for_bytes_arriving(lab, name, run, 0)
            fill()
            result = run.wait()
        task = failure(result, name)
        print("%s: %s" % (transfer, task["msg"]))
        assert_no_copy(lab, name)
        # Nothing of the copy stays in the full store either.
        assert files_of_copies(lab, DESTINATION_NODE) == []
    assert_source_restored(lab, name, digest)
    assert_converges(lab, request, digest, phase="new")
    # Ganeti's export sees the destination's end close; the direct transfer's
    # receiving end fails to write, the sending end then loses its peer.
    expected = {"direct": {"send the disks", "verify the copy"}, "ganeti": {"export the disks"}}[transfer]
    assert failed_step(task) in expected, task["msg"]


@pytest.mark.parametrize("transfer,name", [("direct", "vm43.lab"), ("ganeti", "vm44.lab")])
def test_destination_rapi_down_mid_transfer(fixed, transfer, name):
    """The destination's RAPI stops while the bytes travel: the source restarts, the copy waits for a re-run.

    Without the destination's RAPI the copy cannot be removed: it stays,
    stopped and tagged move-pending, and the failure says so. The re-run
    (RAPI back) finds it a remnant, removes it and moves again.
    """
    lab = fixed
    digest = make_source(lab, name)
    request = {"name": name, "transfer": transfer, "primary_node": DESTINATION_NODE}
    baseline = stored_kib(lab, DESTINATION_NODE)
    with rapi_started_afterwards(lab, "c2"):
        with slow_interface(lab, SOURCE_NODE, 40), background_move(lab, request) as run:
            wait_for_bytes_arriving(lab, name, run, baseline)
            rapi(lab, "c2", "stop")
            result = run.wait()
        task = failure(result, name)
        print("%s: %s" % (transfer, task["msg"]))
        assert_source_restored(lab, name, digest)
        copy = instances_by_name(lab, "c2")[name]
        assert TAG_PENDING in copy["tags"] and copy["admin_state"] == "down", copy
        assert "re-run the move to clean it up" in task["msg"], task["msg"]
    task_again = assert_converges(lab, request, digest, phase="remnant")
    assert "remove the unfinished copy" in task_again["actions"], task_again["actions"]
    expected = {"direct": {"verify the copy"}, "ganeti": {"finish the import"}}[transfer]
    assert failed_step(task) in expected, task["msg"]


def test_source_rapi_unreachable_during_the_compensation(fixed):
    """The transfer fails (destination store full) while the source's RAPI is down: the source stays
    stopped, tagged stopped-for-move; the failure says to start it by hand or re-run; the re-run
    (RAPI back) moves it and starts the copy, as the source ran before."""
    lab = fixed
    name = "vm45.lab"
    digest = make_source(lab, name)
    request = {"name": name, "primary_node": DESTINATION_NODE}
    with rapi_started_afterwards(lab, "c1"):
        with small_file_storage(lab, DESTINATION_NODE) as fill:
            with slow_interface(lab, SOURCE_NODE, 40), background_move(lab, request) as run:
                wait_for_bytes_arriving(lab, name, run, 0)
                rapi(lab, "c1", "stop")
                fill()
                result = run.wait()
            task = failure(result, name)
            print(task["msg"])
            assert_no_copy(lab, name)
            assert files_of_copies(lab, DESTINATION_NODE) == []
        source = instances_by_name(lab, "c1")[name]
        assert (source["status"], source["admin_state"]) == ("ADMIN_down", "down"), source
        stopped = _stopped_tags(source)
        assert len(stopped) == 1 and stopped[0] in task["msg"], (stopped, task["msg"])
        assert "by hand" in task["msg"] and "re-run the move" in task["msg"], task["msg"]
        assert helpers.hash_instance_disk(lab, "c1", name) == digest
    assert_converges(lab, request, digest, phase="new")
    assert failed_step(task) in {"send the disks", "verify the copy"}, task["msg"]


def _export_marker(lab, node, which):
    return os.path.join(lab.lab_dir, "nodes", node, "srv", "ganeti", "lab-export-" + which)


@contextlib.contextmanager
def export_held(lab):
    """The source cluster's export script held before its first byte until ``release()``."""
    markers = [_export_marker(lab, node, which) for node in lab.cluster("c1")["nodes"]
               for which in ("held", "release")]

    def release():
        for node in lab.cluster("c1")["nodes"]:
            with open(_export_marker(lab, node, "release"), "w", encoding="ascii"):
                pass

    try:
        with os_script_variant(lab, "c1", "export", "export-held"):
            yield release
            release()
    finally:
        for marker in markers:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)


@pytest.mark.parametrize("transfer,name", [("direct", "vm46.lab"), ("ganeti", "vm47.lab")])
def test_controller_killed_between_source_stop_and_transfer(fixed, transfer, name):
    """Killed once the source is stopped, before any byte moved; the re-run redoes the transfer."""
    lab = fixed
    digest = make_source(lab, name)
    request = {"name": name, "transfer": transfer, "primary_node": DESTINATION_NODE}
    baseline = stored_kib(lab, DESTINATION_NODE)
    if transfer == "direct":
        # Both ends start before the source is stopped; the receiving end
        # listens once both answered. The sending end, frozen then, waits
        # for its settings and cannot send a byte.
        with background_move(lab, request) as run:
            wait_until("the receiving end listening", lambda: receiver_listening(lab, DESTINATION_NODE), run)
            senders = node_programs(lab, SOURCE_NODE)
            assert senders, "no sending end on %s" % SOURCE_NODE
            with frozen(lab, SOURCE_NODE, senders):
                wait_until("the source was stopped", lambda: status(lab, "c1", name) == "ADMIN_down", run)
                assert stored_kib(lab, DESTINATION_NODE) <= baseline + 64, "bytes arrived before the kill"
                run.kill()
        # Without their controller both ends end (their standard input closed).
        wait_until("the node programs' end", lambda: not node_programs(lab, SOURCE_NODE)
                   and not node_programs(lab, DESTINATION_NODE), timeout=60)
    else:
        with export_held(lab) as release, background_move(lab, request) as run:
            wait_until("the export being held", lambda: os.path.exists(_export_marker(lab, SOURCE_NODE, "held")), run)
            run.kill()
            release()
            # The clusters finish the export and the import without a controller.
            wait_until("the export's end", lambda: not job_ids(lab, "c1", "BACKUP_EXPORT(%s)" % name))
            wait_until("the import's end", lambda: not job_ids(lab, "c2", "INSTANCE_CREATE(%s)" % name))
    source = instances_by_name(lab, "c1")[name]
    assert (source["status"], source["admin_state"]) == ("ADMIN_down", "down"), source
    assert len(_stopped_tags(source)) == 1, source["tags"]
    copy = instances_by_name(lab, "c2")[name]
    assert TAG_PENDING in copy["tags"], copy
    task = assert_converges(lab, request, digest, phase="remnant")
    assert "remove the unfinished copy" in task["actions"]


def test_controller_killed_during_the_finishing_jobs(fixed):
    """Killed while the source's removal waits for its node's lock, after the copy was committed.

    A Ganeti job (gnt-debug delay) holds the source node's lock; the start,
    digest tags and commit on the destination go through, the source's
    removal waits. The controller is killed then; a re-run at once finds the
    copy committed and converges.
    """
    lab = fixed
    name = "vm48.lab"
    digest = make_source(lab, name)
    request = {"name": name, "primary_node": DESTINATION_NODE}
    baseline = stored_kib(lab, DESTINATION_NODE)
    with slow_interface(lab, SOURCE_NODE, 40), background_move(lab, request) as run:
        wait_for_bytes_arriving(lab, name, run, baseline)
        lab.gnt("c1", "gnt-debug", "delay", "--submit", "--no-master", "-n", SOURCE_NODE, str(HOLD_SECONDS))
        wait_until("the copy committed", lambda: TAG_PENDING not in instances_by_name(lab, "c2")[name]["tags"], run)
        wait_until("the source's removal submitted", lambda: job_ids(lab, "c1", "INSTANCE_REMOVE(%s)" % name), run)
        run.kill()
    assert name in instances_by_name(lab, "c1"), "the source was removed before the controller was killed"
    task = assert_converges(lab, request, digest, phase="finish")
    # Only the source's removal was left; the killed run's removal, queued behind the lock,
    # may be the one that ran (the re-run's then finds the source gone, which is no failure).
    assert task["plan"]["reason"].endswith("left to do: remove the source"), task["plan"]["reason"]
    assert set(task["actions"]) <= {"remove the source"}, task["actions"]
