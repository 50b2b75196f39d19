"""Helpers for the node role and node maintenance tests.

The candidate-pool cases need three nodes in one cluster, which the
session's default lab (two clusters of two nodes) does not have, and node
maintenance must not meet instances other tests left behind. Both use a
second lab of one cluster with three nodes, brought up once per test run
(``pool_lab``) and taken down at the end of the run.

``GANETI_POOL_LAB_DIR`` names the directory of that lab; with
``GANETI_LAB_REUSE=1`` a lab already up there is reused and left up, for
fast local iteration (as the session lab does).
"""

import contextlib
import itertools
import os
import tempfile

import yaml

import fleetlab
from fleetlab import helpers
from fleettest import run_playbook

ROLE_LETTERS = {"M": "master", "C": "master-candidate", "R": "regular", "D": "drained", "O": "offline"}
LETTER_OF = {role: letter for letter, role in ROLE_LETTERS.items()}
POOL_TOPOLOGY = fleetlab.Topology(clusters=1, nodes=3)
_COUNTER = itertools.count(1)
_POOL = {}


def pool_lab(request):
    """The three-node lab, up once per test run (see the module docstring)."""
    if "lab" in _POOL:
        return _POOL["lab"]
    lab_dir = os.environ.get("GANETI_POOL_LAB_DIR")
    reuse = os.environ.get("GANETI_LAB_REUSE") == "1" and bool(lab_dir)
    if not lab_dir:
        lab_dir = tempfile.mkdtemp(prefix="fleetlab-nodes-", dir="/var/tmp")
    other = fleetlab.Lab(lab_dir)
    if not reuse:
        request.config.add_cleanup(lambda: other.down(log=lambda m: None))
    if not (reuse and other.is_running() and other.state()["topology"] == POOL_TOPOLOGY.as_dict()):
        other.up(POOL_TOPOLOGY, log=lambda m: print("\n[pool lab] " + m))
    _POOL["lab"] = other
    return other


@contextlib.contextmanager
def network_of(target, home):
    """Run the block (and the playbooks it starts) in TARGET lab's network, then go back HOME."""
    fleetlab.enter_network_namespace(target.state()["controller"]["pid"])
    try:
        yield
    finally:
        fleetlab.enter_network_namespace(home.state()["controller"]["pid"])


def rapi_env(lab, cluster):
    info = lab.cluster(cluster)
    return {"GANETI_RAPI_URL": info["rapi_url"], "GANETI_RAPI_USER": info["rapi_user"],
            "GANETI_RAPI_PASSWORD": lab.rapi_password(cluster), "GANETI_RAPI_CA_PATH": info["ca_file"]}


def write_plays(directory, plays):
    path = os.path.join(str(directory), "play%03d.yml" % next(_COUNTER))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(plays, handle, sort_keys=False)
    return path


def play(lab, directory, tasks, cluster="c1", hosts="localhost", **kwargs):
    """Run TASKS (on localhost by default) with CLUSTER's RAPI in the environment."""
    plays = [{"name": "node tests", "hosts": hosts, "gather_facts": False, "tasks": tasks}]
    inventory = lab.state()["inventory"] if hosts != "localhost" else None
    return run_playbook(write_plays(directory, plays), inventory=inventory, env=rapi_env(lab, cluster),
                        **kwargs)


def run_role(lab, directory, cluster="c1", **variables):
    """Run the node_maintenance role with VARIABLES (without their node_maintenance_ prefix)."""
    plays = [{"name": "node maintenance", "hosts": "localhost", "gather_facts": False,
              "roles": [{"role": "ganeti.fleet.node_maintenance"}]}]
    extra = {"node_maintenance_" + key: value for key, value in variables.items()}
    check = extra.pop("node_maintenance_check", False)
    return run_playbook(write_plays(directory, plays), extra_vars=extra, env=rapi_env(lab, cluster),
                        check=check)


def node_task(title, ignore_errors=False, **args):
    entry = {"name": title, "ganeti.fleet.node": args}
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def result_of(result, name, host="localhost"):
    hosts = result.task_results(name)
    assert host in hosts, "task %r did not run on %s:\n%s" % (name, host, result.output)
    return hosts[host]


def ok(result):
    assert result.rc == 0, result.output
    return result


def changed_count(result):
    return sum(stats["changed"] for stats in result.stats().values())


# ----------------------------------------------------------------------
# Ground truth: the Ganeti command line on the master


def nodes(lab, cluster):
    """name -> (role name, master_capable, vm_capable) from gnt-node list."""
    return {n["name"]: (ROLE_LETTERS[n["role"]], n["master_capable"], n["vm_capable"])
            for n in helpers.list_nodes(lab, cluster)}


def role(lab, cluster, node):
    out = lab.gnt(cluster, "gnt-node", "list", "--no-headers", "-o", "role", node).strip()
    return ROLE_LETTERS[out]


def node_tags(lab, cluster, node):
    return sorted(lab.gnt(cluster, "gnt-node", "list-tags", node).split())


def instances(lab, cluster):
    """name -> (primary node, status, tags) from gnt-instance list."""
    return {i["name"]: (i["pnode"], i["status"], tuple(i["tags"])) for i in helpers.list_instances(lab, cluster)}


def snapshot(lab, cluster):
    """What check mode must leave alone: roles, flags, node tags, instances and their nodes."""
    found = nodes(lab, cluster)
    return {"nodes": found, "node_tags": {name: node_tags(lab, cluster, name) for name in found},
            "instances": instances(lab, cluster),
            "master": lab.gnt(cluster, "gnt-cluster", "getmaster").strip()}


def set_role_cli(lab, cluster, node, wanted, master_capable=True, vm_capable=True):
    """Put NODE in role WANTED with the Ganeti command line (test set-up and clean-up).

    Leaving drained or offline may promote the node (candidate pool), so the
    role is read back and set again until it is right.
    """
    # One flag per call: Ganeti refuses to set two of them to yes at once.
    _, current_mc, current_vm = nodes(lab, cluster)[node]
    if current_mc != master_capable:
        lab.gnt(cluster, "gnt-node", "modify", "--auto-promote",
                "--master-capable=%s" % ("yes" if master_capable else "no"), node)
    if current_vm != vm_capable:
        lab.gnt(cluster, "gnt-node", "modify", "--vm-capable=%s" % ("yes" if vm_capable else "no"), node)
    flags = {"master-candidate": ["-C", "yes"], "drained": ["-D", "yes"], "offline": ["-O", "yes"]}
    for _ in range(4):
        current = role(lab, cluster, node)
        if current == wanted:
            return
        if wanted in flags:
            args = flags[wanted]
        elif current == "drained":
            args = ["-D", "no"]
        elif current == "offline":
            args = ["--force", "-O", "no"]  # the CLI asks for a confirmation without --force
        else:
            args = ["-C", "no"]
        lab.gnt(cluster, "gnt-node", "modify", "--auto-promote", *(args + [node]))
    raise AssertionError("%s did not reach role %s (it is %s)" % (node, wanted, role(lab, cluster, node)))
