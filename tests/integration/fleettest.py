"""Helpers shared by the integration tests: playbook runs and lab connections."""

import json
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, "tests", "output", "collections")


def _collections_path():
    """A collections path where ganeti.fleet is this checkout."""
    link = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "ganeti", "fleet")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link) and os.readlink(link) != REPO:
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(REPO, link)
        except FileExistsError:
            pass            # another test process made it at the same moment
    return COLLECTIONS_ROOT


def rapi_options(lab, cluster):
    """Module options that reach CLUSTER's RAPI."""
    info = lab.cluster(cluster)
    return {"rapi_url": info["rapi_url"], "rapi_user": info["rapi_user"],
            "rapi_password": lab.rapi_password(cluster), "ca_path": info["ca_file"]}


def move_env(lab, source="c1", destination="c2"):
    """GANETI_SOURCE_RAPI_* and GANETI_DEST_RAPI_* environment variables for a move from SOURCE to DESTINATION."""
    env = {}
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", source), ("GANETI_DEST_RAPI_", destination)):
        conn = rapi_options(lab, cluster)
        env.update({prefix + "URL": conn["rapi_url"], prefix + "USER": conn["rapi_user"],
                    prefix + "PASSWORD": conn["rapi_password"], prefix + "CA_PATH": conn["ca_path"]})
    return env


def rapi_env(lab, cluster):
    """GANETI_RAPI_* environment variables for CLUSTER."""
    opts = rapi_options(lab, cluster)
    return {"GANETI_RAPI_URL": opts["rapi_url"], "GANETI_RAPI_USER": opts["rapi_user"],
            "GANETI_RAPI_PASSWORD": opts["rapi_password"], "GANETI_RAPI_CA_PATH": opts["ca_path"]}


class PlaybookResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def output(self):
        return self.stdout + self.stderr

    def stats(self):
        """Recap per host from the json stdout callback."""
        return json.loads(self.stdout)["stats"]

    def plays(self):
        """The plays of the run, each with its tasks and their per-host results (json callback)."""
        return json.loads(self.stdout)["plays"]

    def task_results(self, task_name):
        """Per-host results of the task named TASK_NAME (json callback)."""
        found = {}
        for play in json.loads(self.stdout)["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"] == task_name:
                    found.update(task["hosts"])
        return found


def run_playbook(playbook, inventory=None, extra_vars=None, env=None, args=(), json_output=True,
                 check=False, diff=False, verbosity=0, bin_dir=None):
    """Run ansible-playbook (from the dev venv, or BIN_DIR) and return a PlaybookResult."""
    cmd = [os.path.join(bin_dir or os.path.dirname(sys.executable), "ansible-playbook"), playbook]
    if inventory:
        cmd += ["-i", inventory]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(args)
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    if json_output:
        # ansible-core ships no JSON stdout callback; the suite has its own.
        full_env["ANSIBLE_STDOUT_CALLBACK"] = "fleet_json"
        full_env["ANSIBLE_CALLBACK_PLUGINS"] = os.path.join(REPO, "tests", "integration",
                                                            "callback_plugins")
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=False,
                          cwd=REPO, timeout=1800)
    return PlaybookResult(proc)


def connection(lab, cluster):
    """A connection dict (rapi_url, rapi_user, rapi_password, ca_path) for CLUSTER."""
    return rapi_options(lab, cluster)


def inventory_without(lab, path, variable):
    """A copy of the lab inventory at PATH without VARIABLE anywhere (extra vars cannot unset one)."""
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != variable}
        return node
    with open(lab.state()["inventory"], encoding="utf-8") as handle:
        inventory = strip(yaml.safe_load(handle))
    # It holds the lab's RAPI passwords, as the lab's own inventory does.
    with open(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)
    return str(path)


def set_transfer_fix(lab, state):
    """Apply (present) or revert (absent) the transfer fix on every lab node, with the role."""
    result = run_playbook(os.path.join(REPO, "playbooks", "transfer_fix.yml"),
                          inventory=lab.state()["inventory"],
                          extra_vars={"transfer_fix_state": state})
    assert result.rc == 0, result.output
    return result


def rebuild_lab(lab, topology):
    """Bring LAB down and up again with TOPOLOGY, and join its new controller's network.

    For tests that destroy or merge clusters: each starts from fresh clusters.
    """
    sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
    import fleetlab  # pylint: disable=import-outside-toplevel

    lab.down(log=lambda m: print("\n[lab] " + m), keep_snapshots=True)
    lab.up(topology, log=lambda m: print("\n[lab] " + m))
    fleetlab.enter_network_namespace(lab.state()["controller"]["pid"])
    return lab


def descendants(pid):
    """PIDs of every process below PID (Ansible's workers start sessions of their own)."""
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


def remove_instances(lab, names, clusters=("c1", "c2")):
    """Remove each of NAMES from CLUSTERS where it exists (a test module's instances, afterwards)."""
    from fleetlab import helpers  # pylint: disable=import-outside-toplevel  (tests/lab is on the path by then)

    for cluster in clusters:
        present = {i["name"] for i in helpers.list_instances(lab, cluster)}
        for name in names:
            if name in present:
                helpers.remove_instance(lab, cluster, name)
