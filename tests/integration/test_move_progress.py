"""Progress of a move on the real lab: a line per step while playbooks/move_instances.yml runs.

A move is one module call. Its action plugin follows the module's progress
file from the worker and shows each line through Display, which a forked
worker proxies to the main process. These tests run the playbook as users
do, with the lab inventory, and read its output as it comes:

* in a terminal (a pseudo-terminal, as an interactive ansible-playbook has):
  each step's line appears between the task's banner and its result, in the
  order of the steps, at the time the step starts;
* through ansible-runner (what AWX runs): each line is a ``verbose`` event,
  received before the task's result event.

Both with the ansible-core of the test venv and, when it is there, with
2.16's (.venv-core-2.16), the oldest series the collection supports: the
worker's Display proxying differs between them. Each move is checked on the
clusters: the copy's bytes on its node equal the source's, the source is gone.
"""

import errno
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from fleettest import REPO, _collections_path, remove_instances
from fleetlab import helpers
from test_move import _env, assert_moved, instances_by_name

PLAYBOOK = os.path.join(REPO, "playbooks", "move_instances.yml")
SIZE_MIB = 64
#: The steps of a direct move (the default transfer), in their order, each announced as it starts.
DIRECT_STEPS = ["plan the move", "create the destination instance", "activate the destination disks",
                "start the receiving end", "stop the source", "send the disks", "verify the copy",
                "start the copy", "record the digests", "commit", "remove the source"]
LINE = re.compile(r"^move (?P<name>\S+): (?P<step>.+) \((?P<seconds>\d+\.\d) s\)$")
#: How much later than its step's start a line may arrive (the action looks at the file every 0.5 s).
LATENESS = 2.5

CORES = {"core-venv": os.path.dirname(sys.executable), "core-2.16": os.path.join(REPO, ".venv-core-2.16", "bin")}
NAMES = {("terminal", "core-2.16"): "vm75.lab", ("runner", "core-venv"): "vm76.lab"}


@pytest.fixture(scope="module")
def progress_lab(lab):
    yield lab
    remove_instances(lab, sorted(set(NAMES.values())))


def core(name):
    """``(name, bin directory)`` of an ansible-core installation (its ansible-playbook and Python)."""
    path = CORES[name]
    assert os.path.exists(os.path.join(path, "ansible-playbook")), (
        "no %s: scripts/check-matrix 2.16 makes it" % path)
    return name, path


def _version(bin_dir):
    return subprocess.run([os.path.join(bin_dir, "python"), "-c", "import ansible; print(ansible.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _environment(lab):
    env = dict(os.environ)
    env.update({"ANSIBLE_COLLECTIONS_PATH": _collections_path(), "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    env.update(_env(lab))
    return env


def run_in_terminal(cmd, env, timeout=900):
    """Run CMD with a pseudo-terminal as its stdout and stderr; ``(rc, [(seconds, line)])`` as read."""
    master, slave = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, cwd=REPO,
                            start_new_session=True)
    os.close(slave)
    lines, pending = [], b""
    try:
        while True:
            left = started + timeout - time.monotonic()
            assert left > 0, "ansible-playbook still runs after %d s: %s" % (timeout, lines[-20:])
            ready, _, _ = select.select([master], [], [], min(left, 5))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError as exc:
                if exc.errno == errno.EIO:  # every writer closed the terminal: the playbook ended
                    break
                raise
            if not data:
                break
            pending += data
            *complete, pending = pending.split(b"\n")
            now = time.monotonic() - started
            lines.extend((now, raw.decode("utf-8", "replace").rstrip("\r")) for raw in complete)
    finally:
        os.close(master)
        rc = proc.wait(timeout=60)
    return rc, lines


def progress_of(name, lines):
    """``[(arrival seconds, step, seconds in the line)]`` of the move of NAME among LINES."""
    found = []
    for arrived, text in lines:
        match = LINE.match(text.strip())
        if match and match.group("name") == name:
            found.append((arrived, match.group("step"), float(match.group("seconds"))))
    return found


def assert_shown_as_they_happened(progress):
    """Every step once, in order, and each line shown when its step started, not at the end."""
    assert [step for _, step, _ in progress] == DIRECT_STEPS, progress
    first_arrival, _, first_seconds = progress[0]
    seconds = [s for _, _, s in progress]
    assert seconds == sorted(seconds), progress
    # A move of SIZE_MIB takes seconds: lines shown only at its end would arrive together, more than
    # LATENESS off their steps' starts.
    assert seconds[-1] - seconds[0] >= 2 * LATENESS, progress
    for arrival, step, at in progress:
        offset = (arrival - first_arrival) - (at - first_seconds)
        assert -LATENESS <= offset <= LATENESS, "%s: shown %.1f s off its start (%s)" % (step, offset, progress)


def _report(bin_dir, way, progress):
    first_arrival, _, first_seconds = progress[0]
    rows = ["  %-34s %5.1f s  %5.1f s" % (step, at - first_seconds, arrival - first_arrival)
            for arrival, step, at in progress]
    print("ansible-core %s, %s (step: its start in the line, then when shown, both from the first line):\n%s"
          % (_version(bin_dir), way, "\n".join(rows)))


def _create(lab, name):
    digest = helpers.create_instance(lab, "c1", name, size_mib=SIZE_MIB, node="c1n1.lab")
    return digest, instances_by_name(lab, "c1")[name]


def test_a_terminal_shows_each_step_while_the_move_runs(progress_lab):
    """On the oldest ansible-core claimed (a worker's display reaches the main process otherwise there)."""
    lab = progress_lab
    core_name, bin_dir = core("core-2.16")
    name = NAMES[("terminal", core_name)]
    digest, before = _create(lab, name)
    cmd = [os.path.join(bin_dir, "ansible-playbook"), PLAYBOOK, "-i", lab.state()["inventory"],
           "-e", json.dumps({"move_instances": [name]})]
    rc, lines = run_in_terminal(cmd, _environment(lab))
    output = "\n".join(text for _, text in lines)
    assert rc == 0, output
    progress = progress_of(name, lines)
    assert_shown_as_they_happened(progress)
    texts = [text for _, text in lines]
    banner = next(i for i, text in enumerate(texts) if text.startswith("TASK [ganeti.fleet.instance_move : Move the instance]"))
    result = next(i for i, text in enumerate(texts) if text.startswith("changed: [move_%s]" % name))
    shown = [i for i, text in enumerate(texts) if LINE.match(text.strip())]
    assert banner < shown[0] and shown[-1] < result, output
    # Nothing else of the move between the banner and its result: a line per step, no line per poll.
    assert len(shown) == len(DIRECT_STEPS) and shown == list(range(shown[0], shown[0] + len(shown))), output
    assert progress[0][0] < lines[result][0] - 3, "the first step was shown seconds before the task's result"
    assert_moved(lab, name, digest, before)
    _report(bin_dir, "terminal", progress)
    print("\n".join(text for _, text in lines[banner:result + 1]))


def test_ansible_runner_records_each_step_as_a_verbose_event_while_the_move_runs(progress_lab, tmp_path):
    """On the newest ansible-core, as AWX runs it."""
    import ansible_runner  # pylint: disable=import-outside-toplevel  (an extra of the development venv)
    lab = progress_lab
    core_name, bin_dir = core("core-venv")
    name = NAMES[("runner", core_name)]
    digest, before = _create(lab, name)
    started = time.monotonic()
    events = []

    def received(event):
        events.append((time.monotonic() - started, event))
        return False  # nothing kept on disk beyond what the run needs

    env = _environment(lab)
    # ansible-runner runs the ansible-playbook its PATH finds (with binary= it would drop the playbook).
    envvars = {k: v for k, v in env.items() if k.startswith(("ANSIBLE_", "GANETI_"))}
    envvars["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path), project_dir=REPO, playbook=PLAYBOOK, inventory=lab.state()["inventory"],
        extravars={"move_instances": [name]}, envvars=envvars, event_handler=received, quiet=True, timeout=900)
    assert (runner.status, runner.rc) == ("successful", 0), [e.get("stdout") for _, e in events][-30:]
    lines = [(at, line) for at, event in events if event.get("event") == "verbose"
             for line in (event.get("stdout") or "").splitlines()]
    progress = progress_of(name, lines)
    assert_shown_as_they_happened(progress)
    result = next(at for at, event in events if event.get("event") == "runner_on_ok"
                  and event["event_data"].get("host") == "move_" + name
                  and event["event_data"].get("task") == "Move the instance")
    assert progress[-1][0] <= result, "every step's event came before the task's result"
    assert progress[0][0] < result - 3, "the first step's event came seconds before the task's result"
    assert_moved(lab, name, digest, before)
    _report(bin_dir, "ansible-runner", progress)
