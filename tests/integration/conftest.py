"""Fixtures for the integration suite: a real lab, and playbooks run against it.

The session-scoped ``lab`` fixture brings the lab up once per run and takes
it down at the end. ``GANETI_LAB_REUSE=1`` reuses a lab that is already up
(and leaves it up), for fast local iteration. Once the lab is up, the test
process joins the lab controller's network namespace, so its own RAPI
clients and every ansible-playbook it starts reach the clusters, while
nothing of the lab touches the machine's own network.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fleetlab  # noqa: E402  pylint: disable=wrong-import-position
from fleettest import rebuild_lab, run_playbook, set_transfer_fix  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def lab():
    reuse = os.environ.get("GANETI_LAB_REUSE") == "1"
    the_lab = fleetlab.Lab()
    if not (reuse and the_lab.is_running()):
        the_lab.up(fleetlab.Topology(), log=lambda m: print("\n[lab] " + m))
    fleetlab.enter_network_namespace(the_lab.state()["controller"]["pid"])
    yield the_lab
    if not reuse:
        the_lab.down(log=lambda m: print("\n[lab] " + m))


@pytest.fixture(scope="session")
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
def three_clusters(lab):
    """The lab rebuilt with three clusters (c1, c2, c3) for a module of merge tests.

    Tests that need fresh clusters call ``fleettest.rebuild_lab(lab, MERGE_TOPOLOGY)``
    themselves. The default two-cluster lab is rebuilt afterwards for the
    modules that follow.
    """
    rebuild_lab(lab, MERGE_TOPOLOGY)
    yield lab
    rebuild_lab(lab, fleetlab.Topology())


MERGE_TOPOLOGY = fleetlab.Topology(clusters=3, nodes=2)
