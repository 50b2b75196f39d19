"""Backups of the secret files on a real master, and the automatic way back after a failed RAPI restart.

Session lab (2 clusters x 2 nodes), cluster c1, modules' default backup
directory (/var/lib/ganeti-fleet/backups on the master, a per-node directory
of the lab).

1. A bare rapi_certificate task (default reissue: never) only reads.
2. Fault: a process in the master's network namespace tries to bind TCP port
   5080 every 3 ms; once ganeti-rapi released it during the restart after a
   re-issue, it holds it for a few seconds, so 'daemon-util start ganeti-rapi'
   really fails (EADDRINUSE). The task must fail naming the failed start and
   saying the previous certificate is restored; rapi.pem (bytes, owner, group,
   mode) on the master and the other node is the original; RAPI serves the
   original certificate again; a 0600 root backup of it exists.
3. Two successful 'reissue: always' runs with backups_kept: 2 write 0600
   backups of the file they replaced and prune to two; 'reissue: never'
   then reports ok. rapi_user and cluster_domain_secret back up their files
   too, and a user name starting with '#' is refused.

The original rapi.pem, users file and domain secret are put back at the end
(other tests trust the lab's CA file).
"""

import hashlib
import os
import ssl
import subprocess
import sys
import time

from fleettest import run_playbook
from nodelab import write_plays

BACKUP_DIR = "/var/lib/ganeti-fleet/backups"          # the modules' default
DATA = "/var/lib/ganeti"
FILES = ("rapi.pem", "rapi/users", "cluster-domain-secret")
HOLD_SECONDS = 4

# Binds port 5080 as soon as it is free, holds it HOLD seconds, then exits; gives up after LIMIT seconds.
GRABBER = r"""
import socket, sys, time
hold, limit = float(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + limit
print("polling %.3f" % time.time(), flush=True)
while time.monotonic() < deadline:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", 5080))
        sock.listen(1)
    except OSError:
        sock.close()
        time.sleep(0.003)
        continue
    print("grabbed %.3f" % time.time(), flush=True)
    time.sleep(hold)
    sock.close()
    print("released %.3f" % time.time(), flush=True)
    sys.exit(0)
print("never grabbed", flush=True)
sys.exit(3)
"""


def _path(lab, node, rel, root="var-lib-ganeti"):
    return os.path.join(lab.lab_dir, "nodes", node, root, rel)


def _state(path):
    """(bytes, uid, gid, mode) of PATH."""
    with open(path, "rb") as handle:
        data = handle.read()
    stat = os.stat(path)
    return data, stat.st_uid, stat.st_gid, stat.st_mode & 0o7777


def _served(host):
    """SHA-256 of the certificate RAPI serves on HOST:5080 (from the lab controller's network)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, 5080)))).hexdigest()


def _wait_served(host, fingerprint, timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = _served(host)
            if last == fingerprint:
                return last
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    return last


def _backups(lab, master):
    directory = _on_machine(lab, master, BACKUP_DIR + "/")
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, name) for name in os.listdir(directory))


def _on_machine(lab, node, backup_path):
    """Where a backup path of NODE (under the default backup directory) is on this machine."""
    assert backup_path.startswith(BACKUP_DIR + "/"), backup_path
    return _path(lab, node, os.path.relpath(backup_path, "/var/lib/ganeti-fleet"), root="var-lib-fleet")


def _play(lab, tmp_path, tasks, master):
    plays = [{"name": "secret backups", "hosts": master, "gather_facts": False, "tasks": tasks}]
    return run_playbook(write_plays(tmp_path, plays), inventory=lab.state()["inventory"])


def _result(run, name, host):
    found = run.task_results(name)
    assert host in found, "task %r did not run on %s:\n%s" % (name, host, run.output[-3000:])
    return found[host]


def _put_back(lab, master, originals):
    """The original files on the master (bytes, owner, mode), on every node, and served by RAPI."""
    for rel, (data, uid, gid, mode) in originals.items():
        path = _path(lab, master, rel)
        tmp = path + ".test-restore"
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    lab.gnt("c1", "gnt-cluster", "redist-conf")
    lab.exec(master, ["sh", "-c", "/usr/lib/ganeti/daemon-util stop ganeti-rapi;"
                      " /usr/lib/ganeti/daemon-util start ganeti-rapi"], check=False)


def test_rapi_certificate_restores_the_previous_one_after_a_failed_restart(lab, tmp_path):
    cluster = lab.cluster("c1")
    master, other, master_ip = cluster["master"], cluster["nodes"][1], cluster["master_ip"]
    originals = {rel: _state(_path(lab, master, rel)) for rel in FILES}
    original_pem = originals["rapi.pem"]
    original_fp = _served(master_ip)
    for path in _backups(lab, master):         # backups of earlier runs on a reused lab
        os.unlink(path)
    timings = {}
    grabber = None
    try:
        # 1. A bare task only reads: no re-issue, no backup, no restart.
        started = time.monotonic()
        run = _play(lab, tmp_path, [{"name": "read", "ganeti.fleet.rapi_certificate": {}}], master)
        timings["read"] = time.monotonic() - started
        assert run.rc == 0, run.output[-3000:]
        read = _result(run, "read", master)
        assert read["changed"] is False and read["reissued"] is False and read["backup"] is None
        assert read["info"]["sha256_fingerprint"] == original_fp
        assert _state(_path(lab, master, "rapi.pem")) == original_pem and _backups(lab, master) == []

        # 2. The fault: port 5080 taken while RAPI restarts.
        grabber = subprocess.Popen(  # pylint: disable=consider-using-with
            ["nsenter", "--target", str(lab.host_pid(master)), "--net", sys.executable, "-c", GRABBER,
             str(HOLD_SECONDS), "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert grabber.stdout.readline().startswith("polling"), "the port grabber did not start"
        started = time.monotonic()
        run = _play(lab, tmp_path, [{"name": "reissue under fault", "ganeti.fleet.rapi_certificate":
                                     {"reissue": "always"}}], master)
        timings["failed_reissue_and_restore"] = time.monotonic() - started
        grab_out, _ = grabber.communicate(timeout=30)
        assert grabber.returncode == 0 and "grabbed" in grab_out, grab_out
        grabber = None
        stamps = dict(line.split() for line in grab_out.splitlines() if line.count(" ") == 1)
        print("\nport 5080 held by the test for %.1f s" % (float(stamps["released"]) - float(stamps["grabbed"])))
        assert run.rc != 0
        failed = _result(run, "reissue under fault", master)
        message = failed["msg"]
        print("\nfailure message: " + message)
        assert failed["failed"] is True
        assert message.startswith("starting ganeti-rapi failed (rc=1)") and "Address already in use" in message
        assert "The previous key and certificate were restored to %s/rapi.pem" % DATA in message
        assert "RAPI serves it (sha256 %s) again" % original_fp in message
        assert failed["steps"] == ["write", "redist-conf", "restore", "redist-conf", "restart-rapi", "verify"]
        assert failed["reissued"] is False and failed["info"]["sha256_fingerprint"] == original_fp
        # Ground truth: the files, and what RAPI serves.
        assert _state(_path(lab, master, "rapi.pem")) == original_pem
        assert _state(_path(lab, other, "rapi.pem"))[0] == original_pem[0]
        assert _served(master_ip) == original_fp
        backups = _backups(lab, master)
        assert [os.path.basename(p) for p in backups] == [os.path.basename(failed["backup"])]
        assert failed["backup"].startswith(BACKUP_DIR + "/rapi.pem.")
        data, uid, gid, mode = _state(backups[0])
        assert (data, uid, gid, mode) == (original_pem[0], 0, 0, 0o600)
        assert os.stat(os.path.dirname(backups[0])).st_mode & 0o7777 == 0o700

        # 3. Successful re-issues back up and prune; 'never' is ok afterwards. The other two files too.
        started = time.monotonic()
        run = _play(lab, tmp_path, [
            {"name": "always 1", "ganeti.fleet.rapi_certificate": {"reissue": "always", "backups_kept": 2}},
            {"name": "always 2", "ganeti.fleet.rapi_certificate": {"reissue": "always", "backups_kept": 2}},
            {"name": "never", "ganeti.fleet.rapi_certificate": {"reissue": "never"}},
            {"name": "user add", "ganeti.fleet.rapi_user": {"name": "backup-test", "password": "pw-backup-test"},
             "vars": {"ansible_pipelining": True}},
            {"name": "user comment", "ganeti.fleet.rapi_user": {"name": "#backup-test", "password": "pw"},
             "ignore_errors": True, "vars": {"ansible_pipelining": True}},
            {"name": "secret new", "ganeti.fleet.cluster_domain_secret": {"generate": True},
             "vars": {"ansible_pipelining": True}},
        ], master)
        timings["two_reissues_and_others"] = time.monotonic() - started
        first, second, never = (_result(run, name, master) for name in ("always 1", "always 2", "never"))
        assert first["changed"] and second["changed"], run.output[-3000:]
        assert never["changed"] is False and never["backup"] is None and not never.get("failed")
        assert never["info"]["sha256_fingerprint"] == second["info"]["sha256_fingerprint"] == _served(master_ip)
        rapi_backups = [p for p in _backups(lab, master) if os.path.basename(p).startswith("rapi.pem.")]
        names = [os.path.basename(first["backup"]), os.path.basename(second["backup"])]
        assert [os.path.basename(p) for p in rapi_backups] == names
        assert _state(rapi_backups[0])[0] == original_pem[0]                     # what 'always 1' replaced
        assert first["certificate"].encode() in _state(rapi_backups[1])[0]       # what 'always 2' replaced
        assert all(_state(p)[1:] == (0, 0, 0o600) for p in rapi_backups)
        user = _result(run, "user add", master)
        assert user["changed"]
        assert _state(_on_machine(lab, master, user["backup"])) == (originals["rapi/users"][0], 0, 0, 0o600)
        refused = _result(run, "user comment", master)
        assert refused["failed"] and "RAPI user #backup-test cannot be managed" in refused["msg"]
        assert "as a comment" in refused["msg"]
        secret = _result(run, "secret new", master)
        assert secret["changed"] and secret["steps"] == ["write", "redist-conf"]
        assert _state(_on_machine(lab, master, secret["backup"])) == (originals["cluster-domain-secret"][0], 0, 0, 0o600)
        assert _state(_path(lab, master, "cluster-domain-secret"))[1:] == originals["cluster-domain-secret"][1:]
    finally:
        if grabber is not None and grabber.poll() is None:
            grabber.kill()              # by its PID: the nsenter'd python itself (nsenter --net execs it)
            grabber.wait()
        started = time.monotonic()
        _put_back(lab, master, originals)
        back = _wait_served(master_ip, original_fp)
        timings["put_back"] = time.monotonic() - started
        print("\ntimings (s): " + ", ".join("%s=%.1f" % item for item in timings.items()))
    assert back == original_fp
    for node in cluster["nodes"]:
        for rel in FILES:
            assert _state(_path(lab, node, rel))[0] == originals[rel][0], (node, rel)
    assert _state(_path(lab, master, "rapi.pem")) == original_pem
