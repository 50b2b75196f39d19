"""Every playbook, in check mode, on every ansible-core series the collection claims (2.16 and later).

The newest series is the development venv's (requirements-dev.txt), which
the rest of the suite runs on; each older one has its venv
``.venv-core-SERIES`` from ``tests/matrix/ansible-core-SERIES.txt``
(``scripts/check-matrix`` makes them, and so does ``scripts/test``). A
series whose venv is missing fails its tests: a claimed version that was not
tried is not supported.

Each playbook runs with the lab's inventory and the variables its header
documents; the run must pass and change nothing (check mode), and every
series must run the same tasks to the same outcome as the newest.
"""

import concurrent.futures
import glob
import os
import sys

import pytest

from fleettest import REPO, move_env, rapi_env, run_playbook
from fleetlab import helpers

INSTANCE = "vm55.lab"
SERIES = sorted(os.path.basename(path)[len("ansible-core-"):-len(".txt")]
                for path in glob.glob(os.path.join(REPO, "tests", "matrix", "ansible-core-*.txt")))
NEWEST = "newest"


def bin_dir(series):
    if series == NEWEST:
        return os.path.dirname(sys.executable)
    return os.path.join(REPO, ".venv-core-%s" % series, "bin")


def _runs(lab):
    """``{playbook: (extra_vars, env)}``: each playbook with the variables of its header's first example."""
    masters = [lab.cluster(c)["master"] for c in ("c1", "c2")]
    return {
        "move_instances.yml": ({"move_instances": [INSTANCE]}, move_env(lab)),
        "move_readiness.yml": ({"move_readiness_masters": "ganeti_masters"}, {}),
        "domain_secret.yml": ({"domain_secret_masters": "ganeti_masters"}, {}),
        "transfer_fix.yml": ({"transfer_fix_hosts": "ganeti_nodes"}, {}),
        "node_maintenance.yml": ({"node_maintenance_node": lab.cluster("c2")["nodes"][1],
                                  "node_maintenance_state": "out"}, rapi_env(lab, "c2")),
        "merge_clusters.yml": ({"cluster_merge_target": masters[1], "cluster_merge_sources": [masters[0]],
                                "cluster_merge_group_policy": "merge"}, {}),
    }


@pytest.fixture(scope="module")
def smoke_lab(lab):
    """The session lab with one small running instance on c1 for the move to plan."""
    helpers.create_instance(lab, "c1", INSTANCE, size_mib=8)
    yield lab
    helpers.remove_instance(lab, "c1", INSTANCE)


def _outcome(result):
    """What a run did, comparable between versions: per play, per task, per host, ok/changed/failed/skipped."""
    outcome = []
    for play in result.plays():
        for task in play["tasks"]:
            hosts = {host: ("failed" if r.get("failed") else "skipped" if r.get("skipped")
                            else "changed" if r.get("changed") else "ok")
                     for host, r in task["hosts"].items()}
            outcome.append((play["play"]["name"], task["task"]["name"], hosts))
    return outcome


def _check_runs(lab, series):
    """``{playbook: PlaybookResult}`` of every playbook in check mode on SERIES, one after the other."""
    path = bin_dir(series)
    if not os.path.exists(os.path.join(path, "ansible-playbook")):
        return "no venv for ansible-core %s at %s: make it with scripts/check-matrix %s" % (series, path, series)
    return {playbook: run_playbook(os.path.join(REPO, "playbooks", playbook), inventory=lab.state()["inventory"],
                                   extra_vars=extra, env=env, check=True, bin_dir=path)
            for playbook, (extra, env) in _runs(lab).items()}


@pytest.fixture(scope="module")
def check_runs(smoke_lab):
    """The check runs of every series, the series side by side (each mostly waits on the clusters)."""
    before = _instances(smoke_lab)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(SERIES) + 1) as pool:
        futures = {series: pool.submit(_check_runs, smoke_lab, series) for series in SERIES + [NEWEST]}
        runs = {series: future.result() for series, future in futures.items()}
    assert _instances(smoke_lab) == before
    return runs


def _instances(lab):
    return {c: sorted(i["name"] for i in helpers.list_instances(lab, c)) for c in ("c1", "c2")}


def _passed(series, runs):
    """The results of SERIES' runs, each checked: passed, no deprecation warning."""
    assert not isinstance(runs, str), runs
    for playbook, result in runs.items():
        assert result.rc == 0, "%s on ansible-core %s:\n%s" % (playbook, series, result.output[-6000:])
        assert "DEPRECATION WARNING" not in result.stderr, (playbook, series, result.stderr)
    return runs


@pytest.mark.parametrize("series", SERIES)
def test_every_playbook_in_check_mode(check_runs, series):
    newest = _passed(NEWEST, check_runs[NEWEST])
    for playbook, result in _passed(series, check_runs[series]).items():
        assert _outcome(result) == _outcome(newest[playbook]), playbook
