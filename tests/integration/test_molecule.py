"""The molecule scenarios of extensions/molecule, on the session's lab.

``molecule test -s domain_secret`` runs the domain_secret role's scenario on
the lab the suite brought up: the default scenario's create finds it up and
reuses it (its destroy then leaves it up), prepare gives each cluster a secret
of its own, converge runs the role, molecule's idempotence step runs it again
and fails on any change, verify reads the secret file on every node.
"""

import os
import re
import subprocess
import sys
import time

from fleettest import REPO, _collections_path

VENV_BIN = os.path.dirname(sys.executable)
SECRET_FILE = "/var/lib/ganeti/cluster-domain-secret"
# Molecule's per-step lines (NO_COLOR), e.g. "INFO     [domain_secret > idempotence] Executed: Successful".
STEP = re.compile(r"^INFO +\[(\S+) > (\S+)\] Executed: (.+)$", re.MULTILINE)


def _molecule(lab, ephemeral, *args):
    env = dict(os.environ)
    for key in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS"):
        env.pop(key, None)      # molecule's idempotence step reads the default callback's recap
    env.update({
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
        "GANETI_LAB_DIR": lab.lab_dir,
        # A state of its own: no "created" or "converged" left by an earlier run.
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",     # molecule's log lines and Ansible's output in their order
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "molecule"), *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
    return proc, time.monotonic() - started


def _node_secret_sums(lab):
    """{node: sha256 of its secret file}, read on each node."""
    sums = {}
    for cluster in lab.state()["clusters"]:
        for node in cluster["nodes"]:
            sums[node] = lab.exec(node, ["sha256sum", SECRET_FILE]).stdout.split()[0]
    return sums


def test_domain_secret_scenario(lab, tmp_path):
    before = _node_secret_sums(lab)
    proc, seconds = _molecule(lab, tmp_path / "molecule", "test", "-s", "domain_secret")
    output = proc.stdout
    print("\nmolecule test -s domain_secret: %.1f s" % seconds)
    assert proc.returncode == 0, output[-8000:]

    steps = {(scenario, step): result.strip() for scenario, step, result in STEP.findall(output)}
    for scenario, step in (("default", "create"), ("domain_secret", "prepare"),
                           ("domain_secret", "converge"), ("domain_secret", "idempotence"),
                           ("domain_secret", "verify"), ("default", "destroy")):
        assert steps.get((scenario, step)) == "Successful", (scenario, step, steps)
    # The idempotence step is molecule's second converge: its recap shows no change.
    idempotence = output.split("[domain_secret > idempotence] Executing", 1)[1].split(
        "[domain_secret > idempotence] Executed", 1)[0]
    assert "PLAY RECAP" in idempotence
    assert re.findall(r"changed=(\d+)", idempotence) and set(re.findall(r"changed=(\d+)", idempotence)) == {"0"}
    assert "nodes of %d clusters hold" % len(lab.state()["clusters"]) in output     # verify's success message

    # The lab was up before: create reused it and destroy left it up.
    assert lab.is_running()
    after = _node_secret_sums(lab)
    assert after.keys() == before.keys()
    assert len(set(after.values())) == 1
    # prepare really replaced the secrets: the shared one is new.
    assert set(after.values()).isdisjoint(before.values())
