"""Fixtures for the integration suite: a real lab, and playbooks run against it.

The ``lab`` fixture gives each test module the lab with its default topology
(two clusters of two nodes), brought up when it is not up with that topology
already, and the lab is taken down at the end of the run.
``GANETI_LAB_REUSE=1`` reuses a lab that is already up (and leaves it up),
for fast local iteration. Modules of merge tests take ``three_clusters``
instead, which rebuilds the lab with three fresh clusters; the lab is only
brought back to the default topology when a later module asks for ``lab``,
so a lane of merge tests never builds a default lab it does not use. Once
the lab is up, the test process joins the lab controller's network
namespace, so its own RAPI clients and every ansible-playbook it starts reach
the clusters, while nothing of the lab touches the machine's own network.
"""

import json
import os
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fleetlab  # noqa: E402  pylint: disable=wrong-import-position
from fleettest import rebuild_lab, run_playbook, set_transfer_fix  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def session_lab():
    """The lab of this run, in whatever topology the last module left it; down at the end."""
    reuse = os.environ.get("GANETI_LAB_REUSE") == "1"
    the_lab = fleetlab.Lab()
    yield the_lab
    if not reuse:
        the_lab.down(log=lambda m: print("\n[lab] " + m))


@pytest.fixture(scope="module")
def lab(session_lab):
    """The lab with its default topology, for a module of tests (up only when it is not)."""
    session_lab.up(fleetlab.Topology(), log=lambda m: print("\n[lab] " + m))
    fleetlab.enter_network_namespace(session_lab.state()["controller"]["pid"])
    return session_lab


@pytest.fixture(scope="module")
def clusters(lab):
    """The lab's clusters as dicts (name, rapi_url, ca_file, rapi_user, ...)."""
    return lab.state()["clusters"]


@pytest.fixture(scope="session")
def playbook_runner():
    return run_playbook


@pytest.fixture(scope="module")
def transfer_fixed(lab):
    """The lab with Ganeti 3.0.2's transfer defect fixed on every node, stock again afterwards."""
    set_transfer_fix(lab, "present")
    yield lab
    set_transfer_fix(lab, "absent")


@pytest.fixture(scope="module")
def three_clusters(session_lab):
    """The lab rebuilt with three fresh clusters (c1, c2, c3) for a module of merge tests.

    Tests that need fresh clusters again call ``fleettest.rebuild_lab(lab, MERGE_TOPOLOGY)``
    themselves. A later module that takes ``lab`` gets the default topology back.
    """
    return rebuild_lab(session_lab, MERGE_TOPOLOGY)


MERGE_TOPOLOGY = fleetlab.Topology(clusters=3, nodes=2)


# CPU per test: scripts/test gives each lane a CPU group (cgroup) and names
# its usage files here (the main lane's include its lab's daemons). Setup to
# teardown, so a module's fixtures count in its first and last tests.
CPU_USAGE_FILES = [path for path in os.environ.get("GANETI_TEST_CPU_USAGE", "").split(os.pathsep) if path]
_cpu_per_test = []


def cpu_seconds(paths):
    """CPU-seconds used so far by the cgroups whose usage files are PATHS (v1 cpuacct.usage or v2 cpu.stat)."""
    total = 0.0
    for path in paths:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
        if os.path.basename(path) == "cpu.stat":
            total += int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
        else:
            total += int(text) / 1e9
    return total


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # pylint: disable=unused-argument
    if not CPU_USAGE_FILES:
        yield
        return
    cpu, wall = cpu_seconds(CPU_USAGE_FILES), time.monotonic()
    yield
    _cpu_per_test.append((cpu_seconds(CPU_USAGE_FILES) - cpu, time.monotonic() - wall, item.nodeid))


def pytest_terminal_summary(terminalreporter):
    if not _cpu_per_test:
        return
    terminalreporter.write_sep("=", "most CPU per test (CPU-seconds of the lane's group, then wall seconds)")
    for cpu, wall, nodeid in sorted(_cpu_per_test, reverse=True)[:30]:
        terminalreporter.write_line("%8.1f %8.1f  %s" % (cpu, wall, nodeid))
    cpu, wall = sum(t[0] for t in _cpu_per_test), sum(t[1] for t in _cpu_per_test)
    terminalreporter.write_line("%8.1f %8.1f  all %d tests" % (cpu, wall, len(_cpu_per_test)))
