"""One cluster domain secret for the lab's clusters, through the domain_secret role.

The clusters start with different secrets (written on each master and
redistributed with Ganeti's own commands). The role, in check mode, changes
nothing; then it gives both clusters one secret (adopted from the first
master, then a vaulted one, then a generated one through renew-crypto), with
the file identical on every node, idempotent second runs, and nothing secret
in a -vvv run's output. The lab's shared secret is restored at the end.
"""

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import time

from fleetlab.lab import LabError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(REPO, "playbooks", "domain_secret.yml")
SECRET_FILE = "/var/lib/ganeti/cluster-domain-secret"
CLUSTERS = ("c1", "c2")
ENSURE_TASK = "Give every cluster the secret and make sure all its nodes have it"


class _Fingerprints:
    """The documented fingerprint: HMAC-SHA256 of a fixed label keyed with the secret, 16 hex."""

    @staticmethod
    def fingerprint(secret):
        return hmac.new(secret.encode(), b"ganeti.fleet cluster-domain-secret fingerprint v1",
                        hashlib.sha256).hexdigest()[:16]


def _master_file(lab, cluster):
    info = lab.cluster(cluster)
    return os.path.join(lab.lab_dir, "nodes", info["master"], "var-lib-ganeti", "cluster-domain-secret")


def _read_secret(lab, cluster):
    with open(_master_file(lab, cluster), encoding="utf-8") as handle:
        return handle.read().strip()


def _node_files(lab):
    """{node: sha256 of its cluster-domain-secret file}, read from the lab's node directories."""
    sums = {}
    for cluster in CLUSTERS:
        for node in lab.cluster(cluster)["nodes"]:
            path = os.path.join(lab.lab_dir, "nodes", node, "var-lib-ganeti", "cluster-domain-secret")
            with open(path, "rb") as handle:
                sums[node] = hashlib.sha256(handle.read()).hexdigest()
    return sums


def _set_secret_with_ganeti(lab, cluster, secret):
    """Ground truth, without the collection: write the master's file, then gnt-cluster redist-conf."""
    path = _master_file(lab, cluster)
    with open(path, "r+", encoding="utf-8") as handle:     # keeps Ganeti's owner and mode
        handle.seek(0)
        handle.truncate()
        handle.write(secret + "\n")
    lab.gnt(cluster, "gnt-cluster", "redist-conf")


def _run(lab, run_playbook, extra=None, check=False, diff=False, verbosity=0, args=()):
    started = time.monotonic()
    # -vvv runs keep Ansible's default output: that is what an operator's log would hold.
    result = run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra or {},
                          check=check, diff=diff, verbosity=verbosity, args=args,
                          json_output=not verbosity)
    result.seconds = time.monotonic() - started
    assert result.rc == 0, result.output[-6000:]
    return result


def _assert_shared(lab, ds, secret=None):
    sums = _node_files(lab)
    assert len(set(sums.values())) == 1, sums
    secrets_now = {_read_secret(lab, c) for c in CLUSTERS}
    assert len(secrets_now) == 1
    if secret is not None:
        assert secrets_now == {secret}
    return ds.fingerprint(secrets_now.pop())


def _assert_not_in(output, values):
    """None of VALUES, nor the base64 of a secret file holding one, appears in OUTPUT."""
    for value in values:
        assert value not in output
        assert base64.b64encode((value + "\n").encode()).decode() not in output


def _assert_no_changes(result):
    for host, stats in result.stats().items():
        assert stats["changed"] == 0, (host, stats)
        assert stats["failures"] == 0, (host, stats)


def test_domain_secret_role_gives_clusters_one_secret(lab, playbook_runner, tmp_path):
    ds = _Fingerprints()
    original = {c: _read_secret(lab, c) for c in CLUSTERS}
    timings = {}
    try:
        # Start from different secrets.
        distinct = {c: secrets.token_hex(20) for c in CLUSTERS}
        for cluster in CLUSTERS:
            _set_secret_with_ganeti(lab, cluster, distinct[cluster])
        before = _node_files(lab)
        assert len(set(before.values())) == 2

        # 1. Check mode: reports the change, writes nothing.
        result = _run(lab, playbook_runner, check=True, diff=True)
        timings["check"] = result.seconds
        assert _node_files(lab) == before
        ensured = result.task_results(ENSURE_TASK)
        assert ensured[lab.cluster("c1")["master"]]["changed"] is False
        assert ensured[lab.cluster("c2")["master"]]["changed"] is True
        assert ensured[lab.cluster("c2")["master"]]["steps"] == ["write", "redist-conf"]
        assert ensured[lab.cluster("c2")["master"]]["diff"]["after"].startswith(
            "fingerprint: %s\n" % ds.fingerprint(distinct["c1"]))

        # 2. Adopt the first master's secret, at -vvv: nothing secret in the output.
        result = _run(lab, playbook_runner, verbosity=3)
        timings["adopt_vvv"] = result.seconds
        fingerprint = _assert_shared(lab, ds, distinct["c1"])
        output = result.output
        assert "ESTABLISH SSH CONNECTION" in output      # really -vvv
        assert "share the domain secret with fingerprint %s" % fingerprint in output
        _assert_not_in(output, list(distinct.values()) + [lab.rapi_password(c) for c in CLUSTERS])

        # 3. Second run: nothing to do; every node of each cluster verified.
        result = _run(lab, playbook_runner)
        timings["second_run"] = result.seconds
        _assert_no_changes(result)
        ensured = result.task_results(ENSURE_TASK)
        assert {r["fingerprint"] for r in ensured.values()} == {fingerprint}
        for res in ensured.values():
            assert all(res["nodes"].values()) and len(res["nodes"]) == 2

        # 4. A vaulted secret, given to every cluster.
        vaulted = secrets.token_hex(20)
        vault_pass = tmp_path / "vault-pass"
        vault_pass.write_text(secrets.token_urlsafe(16) + "\n", encoding="ascii")
        vars_file = tmp_path / "domain-secret.yml"
        vars_file.write_text("domain_secret_value: %s\n" % vaulted, encoding="ascii")
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt",
                        "--vault-password-file", str(vault_pass), str(vars_file)],
                       check=True, capture_output=True)
        assert vaulted not in vars_file.read_text(encoding="ascii")
        vault_args = ("-e", "@%s" % vars_file, "--vault-password-file", str(vault_pass))
        result = _run(lab, playbook_runner, verbosity=3, args=vault_args)
        timings["vaulted_vvv"] = result.seconds
        _assert_not_in(result.output, [vaulted] + [lab.rapi_password(c) for c in CLUSTERS])
        assert _assert_shared(lab, ds, vaulted) == ds.fingerprint(vaulted)
        _assert_no_changes(_run(lab, playbook_runner, args=vault_args))

        # 5. Renewal: a new secret generated on the first master, through renew-crypto.
        result = _run(lab, playbook_runner, extra={"domain_secret_rotate": True,
                                                   "domain_secret_method": "renew-crypto"},
                      verbosity=3)
        timings["rotate_renew_crypto"] = result.seconds
        renewed = _read_secret(lab, "c1")
        assert renewed != vaulted and len(renewed) == 40
        _assert_not_in(result.output, [renewed, vaulted])
        _assert_shared(lab, ds, renewed)
        _assert_no_changes(_run(lab, playbook_runner))
        print("\ntimings (s): " + ", ".join("%s=%.1f" % item for item in timings.items()))
    finally:
        for cluster in CLUSTERS:
            try:
                # renew-crypto leaves Ganeti's backups of the previous secret and confd key.
                lab.exec(lab.cluster(cluster)["master"], ["sh", "-c", "rm -f %s.backup-* "
                                                          "/var/lib/ganeti/hmac.key.backup-*"
                                                          % SECRET_FILE])
                _set_secret_with_ganeti(lab, cluster, original[cluster])
            except LabError as err:   # keep restoring the other cluster
                print("restoring %s failed: %s" % (cluster, err))
    assert {c: _read_secret(lab, c) for c in CLUSTERS} == original
    assert len(set(_node_files(lab).values())) == len(set(original.values()))
