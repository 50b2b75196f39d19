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
* SSH from the controller to the source node held (an htb class that drops,
  on the controller's interface) or the source's export script held, to kill
  the controller after the source was stopped and before any byte moved;
* a Ganeti job holding the source node's lock, to kill the controller while
  the finishing jobs wait for it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

import pytest

from fleettest import REPO, PlaybookResult, _collections_path, connection, run_playbook
from fleetlab import helpers

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
SIZE_MIB = 64
STOCK_OS = os.path.join(REPO, "tests", "lab", "files", "os", "lab-dd")
OS_VARIANTS = os.path.join(REPO, "tests", "lab", "files", "os-variants", "lab-dd")
FILE_STORAGE = "/srv/ganeti/file-storage"
DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"
TAG_PENDING = "ganeti-fleet:move-pending"
TAG_STOPPED_PREFIX = "ganeti-fleet:stopped-for-move:"
TAG_DIGEST_PREFIX = "ganeti-fleet:digest:"
#: The source's node is not its cluster's master: slowing its interface or
#: holding SSH to it leaves the source's RAPI alone.
SOURCE_NODE = "c1n2.lab"
DESTINATION_NODE = "c2n2.lab"
TEST_INSTANCES = ["vm%02d.lab" % i for i in range(40, 52)]


# ---------------------------------------------------------------------------
# Moves

def _env(lab):
    env = {}
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c2")):
        conn = connection(lab, cluster)
        env.update({prefix + "URL": conn["rapi_url"], prefix + "USER": conn["rapi_user"],
                    prefix + "PASSWORD": conn["rapi_password"], prefix + "CA_PATH": conn["ca_path"]})
    return env


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
        import json  # pylint: disable=import-outside-toplevel
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
        for pid in [self.proc.pid] + _descendants(self.proc.pid):
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
    message = task["msg"]
    assert "failed at step '" in message, message
    return message.split("failed at step '", 1)[1].split("'", 1)[0]


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
def full_file_storage(lab, node, size_mib):
    """A tmpfs of SIZE_MIB over NODE's file storage directory, in NODE's mount namespace only."""
    lab.exec(node, ["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mib, "tmpfs", FILE_STORAGE])
    try:
        yield
    finally:
        lab.exec(node, ["umount", FILE_STORAGE], check=False)


def file_storage_mounts(lab, node):
    return lab.exec(node, ["findmnt", "-n", "-o", "FSTYPE", FILE_STORAGE], check=False).stdout.split()


@contextlib.contextmanager
def slow_interface(lab, node, mbit):
    """NODE sends at MBIT Mbit/s at most (a tbf qdisc on its interface)."""
    lab.exec(node, ["tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "%dmbit" % mbit,
                    "burst", "32kb", "latency", "400ms"])
    try:
        yield
    finally:
        lab.exec(node, ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)


@contextlib.contextmanager
def ssh_held(lab, node):
    """The controller's packets to NODE's SSH port dropped (an htb class that queues nothing).

    New SSH connections from the controller to NODE hang; the function
    ``dropped()`` it yields counts the packets dropped so far.
    """
    address = next(c["node_ips"][node] for c in lab.state()["clusters"] if node in c["node_ips"])
    script = "\n".join([
        "tc qdisc add dev eth0 root handle 1: htb default 10",
        "tc class add dev eth0 parent 1: classid 1:10 htb rate 10gbit",
        "tc class add dev eth0 parent 1: classid 1:20 htb rate 8bit ceil 8bit",
        "tc qdisc add dev eth0 parent 1:20 handle 20: bfifo limit 0",
        "tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst %s/32 "
        "match ip dport 22 0xffff flowid 1:20" % address,
    ])
    lab.exec("controller", ["sh", "-ec", script])

    def dropped():
        out = lab.exec("controller", ["tc", "-s", "qdisc", "show", "dev", "eth0", "parent", "1:20"]).stdout
        return int(out.split("dropped", 1)[1].split(",", 1)[0]) if "dropped" in out else 0

    try:
        yield dropped
    finally:
        lab.exec("controller", ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)


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
    for cluster in ("c1", "c2"):
        present = set(instances_by_name(transfer_fixed, cluster))
        for name in TEST_INSTANCES:
            if name in present:
                helpers.remove_instance(transfer_fixed, cluster, name)


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


@pytest.mark.parametrize("transfer,name", [("direct", "vm41.lab"), ("ganeti", "vm42.lab")])
def test_destination_storage_full(fixed, transfer, name):
    """The copy's file disk is created (sparse) but its bytes do not fit on the destination node."""
    lab = fixed
    digest = make_source(lab, name)
    request = {"name": name, "transfer": transfer, "primary_node": DESTINATION_NODE}
    with full_file_storage(lab, DESTINATION_NODE, SIZE_MIB // 4):
        result = move(lab, request)
        task = failure(result, name)
        step = failed_step(task)
        print("%s: failed at step %r: %s" % (transfer, step, task["msg"]))
        assert_no_copy(lab, name)
        # Nothing of the copy stays in the full store either.
        assert lab.exec(DESTINATION_NODE, ["find", FILE_STORAGE, "-type", "f"]).stdout.strip() == ""
    assert step == {"direct": "verify the copy", "ganeti": "finish the import"}[transfer], task["msg"]
    assert_source_restored(lab, name, digest)
    assert_converges(lab, request, digest, phase="new")
