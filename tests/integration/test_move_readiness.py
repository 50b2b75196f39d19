"""Move readiness on the real lab: playbooks/move_readiness.yml and its RAPI pieces.

Session lab (2 clusters x 2 nodes): the clusters start with different domain
secrets and Ganeti's stock transfer code, and no RAPI user 'mover'. A move with
Ganeti's own transfer (transfer: ganeti, what the readiness is for) is refused.
Check mode of the domain_secret, transfer_fix and move_readiness roles changes
no file on any node and no cluster state. One -vvv run of move_readiness makes
the clusters ready (shared secret, transfer fix and tag, RAPI user with a
password of its own on each cluster, one CA file per cluster on the
controller, access checks, the move dry run); nothing secret shows in its
output nor in files outside Ganeti's own; a second run changes nothing. The
same move then succeeds with the new user, each cluster's password and CA
file, with identical disk bytes (and digests compared on both nodes, reached
through the lab inventory). transfer_fix state=absent restores Ganeti's files
byte for byte, and the move is refused again. The session lab
is put back as it was (secrets, users files, stock files, tags).

A separate 1 x 1 lab with Ganeti's stock RAPI certificate: the role re-issues
the certificates to the cluster name (check mode first: nothing changes), and
host name verification with the cluster's new CA file passes from that lab's
controller. (The role with its documented defaults only, on three clusters:
test_merge.py.)
"""

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import fleetlab
from fleetlab import helpers
from fleetlab.lab import LabError
from fleettest import REPO, _collections_path, connection, run_playbook

READINESS = os.path.join(REPO, "playbooks", "move_readiness.yml")
DOMAIN_SECRET = os.path.join(REPO, "playbooks", "domain_secret.yml")
TRANSFER_FIX = os.path.join(REPO, "playbooks", "transfer_fix.yml")
MOVES = os.path.join(REPO, "playbooks", "move_instances.yml")
CLUSTERS = ("c1", "c2")
USER = "mover"
DEFAULT_USER = "ganeti-fleet"          # the RAPI user of every role when ganeti_rapi_user is not set
FIX_TAG = "ganeti-fleet:transfer-fix"
SECRET_FILE = "/var/lib/ganeti/cluster-domain-secret"
NAME = "vm70.lab"
NAME_AFTER = "vm71.lab"
SIZE_MIB = 64
# Per node: what the check-mode comparison covers (private directories of the
# node), and the volatile files Ganeti rewrites by itself (job queue, locks).
NODE_DIRS = ("var-lib-ganeti", "var-lib-fleet", "etc-ganeti", "impexpd")
DISK_DIRS = ("file-storage", "shared-file-storage", "export")
VOLATILE = re.compile(r"^var-lib-ganeti/(queue/|crypto/|locks\.data|tempres\.data|watcher\.)")


# ----------------------------------------------------------------------
# helpers

def _node_dir(lab, node):
    return os.path.join(lab.lab_dir, "nodes", node)


def _nodes(lab):
    return [n for c in CLUSTERS for n in lab.cluster(c)["nodes"]]


def _file_state(path):
    stat = os.lstat(path)
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return (digest, stat.st_mode & 0o7777, stat.st_uid, stat.st_gid)


def node_files(lab):
    """{node/relative path: (sha256, mode, uid, gid)} of the nodes' private files."""
    found = {}
    for node in _nodes(lab):
        root = _node_dir(lab, node)
        for top in NODE_DIRS:
            base = os.path.join(root, top)
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [d for d in dirnames if d != "__pycache__"]
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, root)
                    if VOLATILE.match(rel) or not os.path.isfile(path):
                        continue
                    found["%s/%s" % (node, rel)] = _file_state(path)
    return found


def cluster_state(lab):
    """Cluster tags and instances (state, tags, MACs) of each cluster (config.data is in node_files)."""
    state = {}
    for cluster in CLUSTERS:
        state[cluster] = {
            "tags": sorted(lab.gnt(cluster, "gnt-cluster", "list-tags").split()),
            "instances": helpers.list_instances(lab, cluster),
        }
    return state


def _master_path(lab, cluster, rel):
    return os.path.join(_node_dir(lab, lab.cluster(cluster)["master"]), "var-lib-ganeti", rel)


def _read(path, mode="r"):
    with open(path, mode) as handle:  # pylint: disable=unspecified-encoding
        return handle.read()


def _rewrite_in_place(path, data, ownership=None):
    """Replace a master file's content keeping its inode, owner and mode (Ganeti's own way).

    OWNERSHIP, (mode, uid, gid), puts back the owner and mode the file had.
    """
    with open(path, "r+b") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(data)
    if ownership:
        os.chown(path, ownership[1], ownership[2])
        os.chmod(path, ownership[0])


def _set_secret_with_ganeti(lab, cluster, secret):
    _rewrite_in_place(_master_path(lab, cluster, "cluster-domain-secret"), (secret + "\n").encode())
    lab.gnt(cluster, "gnt-cluster", "redist-conf")


def _vault_files(tmp_path, values):
    """An encrypted vars file holding VALUES and its vault password file."""
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text(secrets.token_urlsafe(16) + "\n", encoding="ascii")
    vars_file = tmp_path / "readiness-vault.yml"
    vars_file.write_text("".join("%s: %s\n" % item for item in values.items()), encoding="ascii")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt",
                    "--vault-password-file", str(vault_pass), str(vars_file)], check=True, capture_output=True)
    for value in values.values():
        assert value not in vars_file.read_text(encoding="ascii")
    return ("-e", "@%s" % vars_file, "--vault-password-file", str(vault_pass))


def _forms(values):
    """The values and the forms they could leak in (base64 of a file holding them)."""
    found = []
    for value in values:
        found += [value, base64.b64encode(value.encode()).decode(),
                  base64.b64encode((value + "\n").encode()).decode()]
    return found


def _files_containing(roots, needles, since, skip=None, max_size=8 * 1024 * 1024):
    """Files under ROOTS (not SKIP), changed at or after SINCE (a time.time()), whose content holds one of NEEDLES.

    Only files the test may have written are read: a secret cannot leak
    into a file that was last changed before the test began, and /tmp of a
    CI machine holds whole virtualenvs.
    """
    raw = [n.encode() for n in needles]
    hits = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if skip and skip(dirpath):
                dirnames[:] = []
                continue
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    if not os.path.isfile(path) or os.path.islink(path):
                        continue
                    info = os.stat(path)
                    if info.st_size > max_size or max(info.st_mtime, info.st_ctime) < since:
                        continue
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                if any(n in data for n in raw):
                    hits.append(path)
    return hits


def _move_env(lab, user=None, passwords=None, ca_dir=None):
    """The move's connections: the lab's, or USER with each cluster's password and its own CA file in CA_DIR."""
    env = {}
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c2")):
        conn = connection(lab, cluster)
        name = lab.cluster(cluster)["name"]
        env.update({prefix + "URL": conn["rapi_url"], prefix + "USER": user or conn["rapi_user"],
                    prefix + "PASSWORD": (passwords or {}).get(name) or conn["rapi_password"],
                    prefix + "CA_PATH": os.path.join(ca_dir, name + ".pem") if ca_dir else conn["ca_path"]})
    return env


def _move(lab, name, **kwargs):
    """Move NAME with Ganeti's own transfer (what the readiness makes work), its disks digested on both nodes.

    The lab inventory gives the move the nodes' SSH access (for the digests).
    """
    started = time.monotonic()
    result = run_playbook(MOVES, inventory=lab.state()["inventory"],
                          extra_vars={"move_instances": [name],
                                      "move_defaults": {"transfer": "ganeti", "verify": "content"}},
                          env=_move_env(lab, **kwargs))
    result.seconds = time.monotonic() - started
    return result


def _readiness_vars(lab, ca_dir, probe=None):
    """The readiness run's extra vars: the dedicated user 'mover' on both clusters, each with its own password.

    Extra vars override the lab inventory's ganeti_rapi_user and ganeti_rapi_password (its admin
    user) for every cluster of the run. The passwords come from one vaulted map,
    vault_mover_passwords, indexed by the cluster name the lab inventory gives each cluster's group
    (the pattern the role's README documents), so the other playbooks run with the vault file
    (domain_secret_value) keep the inventory's connection (transfer_fix tags through RAPI with it).
    The RAPI URL is the inventory's ganeti_rapi_url (the master IP).
    """
    extra = {"ganeti_rapi_user": USER, "ganeti_rapi_password": "{{ vault_mover_passwords[ganeti_cluster_name] }}",
             "move_readiness_ca_dir": ca_dir,
             "move_readiness_rapi_certificate": True}
    if probe:
        extra["move_readiness_probe_instance"] = probe
    return extra


def _run(lab, playbook, extra=None, args=(), check=False, verbosity=0, inventory=None):
    started = time.monotonic()
    result = run_playbook(playbook, inventory=inventory or lab.state()["inventory"], extra_vars=extra or {},
                          args=args, check=check, verbosity=verbosity, json_output=not verbosity)
    result.seconds = time.monotonic() - started
    assert result.rc == 0, result.output[-8000:]
    return result


def _assert_no_changes(result):
    for host, stats in result.stats().items():
        assert stats["changed"] == 0, (host, stats)
        assert stats["failures"] == 0, (host, stats)


def _served_der(host, port=5080):
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, port)))


def _bundle_certificates(path):
    """Parse a CA file: (certificates, PEM labels found)."""
    text = _read(path)
    labels = re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----", text)
    certs = x509.load_pem_x509_certificates(text.encode())
    return certs, labels


def _snapshot_originals(lab):
    originals = {"secrets": {}, "users": {}, "rapi_pem": {}}
    for cluster in CLUSTERS:
        originals["secrets"][cluster] = _read(_master_path(lab, cluster, "cluster-domain-secret")).strip()
        originals["users"][cluster] = _read(_master_path(lab, cluster, "rapi/users"), "rb")
    for node in _nodes(lab):
        for rel in ("rapi/users", "rapi.pem", "cluster-domain-secret"):
            originals["rapi_pem"]["%s/%s" % (node, rel)] = _file_state(
                os.path.join(_node_dir(lab, node), "var-lib-ganeti", rel))
    return originals


def _restore(lab, originals):
    problems = []
    for cluster in CLUSTERS:
        helpers.remove_instance(lab, cluster, NAME)
        helpers.remove_instance(lab, cluster, NAME_AFTER)
    if not all(helpers.impexpd_is_stock(lab, node) for node in _nodes(lab)):
        run_playbook(TRANSFER_FIX, inventory=lab.state()["inventory"],
                     extra_vars={"transfer_fix_state": "absent",
                                 "transfer_fix_tag_via": "ssh"})
    for cluster in CLUSTERS:
        try:
            lab.gnt(cluster, "gnt-cluster", "remove-tags", FIX_TAG, check=False)
            master = lab.cluster(cluster)["master"]
            for rel in ("rapi/users", "cluster-domain-secret"):
                data = originals["users"][cluster] if rel == "rapi/users" else (
                    originals["secrets"][cluster] + "\n").encode()
                _rewrite_in_place(_master_path(lab, cluster, rel), data,
                                  originals["rapi_pem"]["%s/%s" % (master, rel)][1:])
            lab.gnt(cluster, "gnt-cluster", "redist-conf")      # the nodes get the master's copies
        except LabError as err:
            problems.append("%s: %s" % (cluster, err))
    return problems


# ----------------------------------------------------------------------
# the session lab

def test_move_readiness_makes_a_refused_move_work(lab, tmp_path):
    test_began = time.time() - 1
    nodes = _nodes(lab)
    assert all(helpers.impexpd_is_stock(lab, node) for node in nodes), "the lab must start stock"
    originals = _snapshot_originals(lab)
    passwords = {lab.cluster(c)["name"]: secrets.token_urlsafe(18) for c in CLUSTERS}
    domain_secret = secrets.token_hex(20)
    ca_dir = str(tmp_path / "controller" / "rapi-ca")
    vault_args = _vault_files(tmp_path, {"vault_mover_passwords": json.dumps(passwords),
                                         "domain_secret_value": domain_secret})
    timings = {}
    try:
        # The clusters start with different secrets.
        distinct = {c: secrets.token_hex(20) for c in CLUSTERS}
        for cluster in CLUSTERS:
            _set_secret_with_ganeti(lab, cluster, distinct[cluster])
        digest = helpers.create_instance(lab, "c1", NAME, size_mib=SIZE_MIB, node="c1n1.lab")

        # 1. On the stock lab the move is refused (transfer defect), nothing changes.
        result = _move(lab, NAME)
        timings["move_refused"] = result.seconds
        assert result.rc != 0
        assert "ganeti/ganeti#1681" in result.output, result.output[-4000:]
        assert NAME not in {i["name"] for i in helpers.list_instances(lab, "c2")}
        source = {i["name"]: i for i in helpers.list_instances(lab, "c1")}[NAME]
        assert (source["status"], source["admin_state"]) == ("running", "up")
        # ... and the new user does not exist yet.
        result = _move(lab, NAME, user=USER, passwords=passwords)
        assert result.rc != 0 and "401" in result.output

        # 2. Check mode of every role: no file on any node, no cluster state changes.
        files_before, state_before = node_files(lab), cluster_state(lab)
        for playbook, extra in ((DOMAIN_SECRET, {}),
                                (TRANSFER_FIX, {}),
                                (READINESS, _readiness_vars(lab, ca_dir, probe=NAME))):
            result = _run(lab, playbook, extra, args=vault_args, check=True)
            timings["check_" + os.path.basename(playbook)[:-4]] = result.seconds
            assert node_files(lab) == files_before, playbook
            assert cluster_state(lab) == state_before, playbook
        assert not os.path.exists(ca_dir)
        reported = result.task_results("Report the readiness of the clusters")
        report = next(iter(reported.values()))["msg"]
        assert report["mode"].startswith("check mode")
        assert any("RAPI user mover created" in item for item in report["changed"]["c1.lab"])

        # 3. The real run, at -vvv: everything in one run, nothing secret in the output.
        result = _run(lab, READINESS, _readiness_vars(lab, ca_dir, probe=NAME), args=vault_args, verbosity=3)
        timings["readiness_vvv"] = result.seconds
        output = result.output
        assert "ESTABLISH SSH CONNECTION" in output      # really -vvv
        for leaked in _forms(list(passwords.values()) + [domain_secret] + list(distinct.values())):
            assert leaked not in output
        for cluster in ("c1", "c2"):
            assert "transfer fix applied on %sn1.lab, %sn2.lab" % (cluster, cluster) in output
        assert output.count("RAPI user mover created") >= 2
        assert output.count("domain secret set (fingerprint") >= 1
        for name in passwords:
            assert "certificate written to %s/%s.pem" % (ca_dir, name) in output
        assert "RAPI certificate re-issued" not in output     # the lab's certificates fit already
        assert re.search(r'"probe_passed_to": \[\s*"c2\.lab"\s*\]', output), "the move dry run did not pass"

        # The clusters share the vaulted secret, on every node.
        for node in nodes:
            assert _read(os.path.join(_node_dir(lab, node), "var-lib-ganeti", "cluster-domain-secret")).strip() \
                == domain_secret
        for cluster in CLUSTERS:
            assert FIX_TAG in lab.gnt(cluster, "gnt-cluster", "list-tags").split()
            users = _read(_master_path(lab, cluster, "rapi/users"))
            expected = "{HA1}" + hashlib.md5(("%s:Ganeti Remote API:%s" % (
                USER, passwords[lab.cluster(cluster)["name"]])).encode()).hexdigest()
            assert "%s %s write" % (USER, expected) in users.splitlines()
            assert users.startswith(originals["users"][cluster].decode())       # other lines kept
            for node in lab.cluster(cluster)["nodes"]:                          # distributed
                assert _read(os.path.join(_node_dir(lab, node), "var-lib-ganeti", "rapi", "users")) == users
        for key, value in originals["rapi_pem"].items():
            if key.endswith("/rapi.pem"):
                assert _file_state(os.path.join(lab.lab_dir, "nodes", key.split("/", 1)[0], "var-lib-ganeti",
                                                "rapi.pem")) == value

        # 4. One CA file per cluster: its certificate alone, the one it serves.
        served = {lab.cluster(c)["name"]: _served_der(lab.cluster(c)["master_ip"]) for c in CLUSTERS}
        assert sorted(os.listdir(ca_dir)) == sorted(name + ".pem" for name in served)
        for name, der in served.items():
            path = os.path.join(ca_dir, name + ".pem")
            certs, labels = _bundle_certificates(path)
            assert labels == ["CERTIFICATE"]
            assert [c.public_bytes(serialization.Encoding.DER) for c in certs] == [der]
            assert os.stat(path).st_mode & 0o777 == 0o644

        # 5. Nothing secret in any file outside Ganeti's own: the lab directory (with every
        # node's private directories), /tmp and Ansible's temporary directories.
        def outside_ganeti(dirpath):
            # Ganeti's own files, and the instance disk images (random bytes).
            return "/var-lib-ganeti" in dirpath or os.path.basename(dirpath) in DISK_DIRS
        roots = [lab.lab_dir, "/tmp", os.path.expanduser("~/.ansible/tmp")]
        hits = _files_containing(roots, _forms(list(passwords.values()) + [domain_secret]), test_began,
                                 skip=outside_ganeti)
        assert hits == [], hits

        # 6. Second run: nothing to do.
        result = _run(lab, READINESS, _readiness_vars(lab, ca_dir, probe=NAME), args=vault_args)
        timings["readiness_second_run"] = result.seconds
        _assert_no_changes(result)
        report = next(iter(result.task_results("Report the readiness of the clusters").values()))["msg"]
        assert report["changed"] == {"c1.lab": ["nothing"], "c2.lab": ["nothing"], "controller": ["nothing"]}
        assert report["rapi_access"] == {"c1.lab": True, "c2.lab": True}
        assert report["probe_passed_to"] == ["c2.lab"]

        # 7. The same move now succeeds with the new user, each cluster's password and CA file (host names checked).
        result = _move(lab, NAME, user=USER, passwords=passwords, ca_dir=ca_dir)
        timings["move"] = result.seconds
        assert result.rc == 0, result.output[-6000:]
        assert NAME not in {i["name"] for i in helpers.list_instances(lab, "c1")}
        assert helpers.hash_instance_disk(lab, "c2", NAME) == digest
        moved = result.task_results("Move the instance")["move_" + NAME]
        assert "export the disks" in moved["actions"], moved["actions"]
        assert [d["source"] == d["destination"] for d in moved["digests"]] == [True], moved["digests"]

        # 8. transfer_fix state=absent: Ganeti's files byte for byte, and the move is refused again.
        result = _run(lab, TRANSFER_FIX, {"transfer_fix_state": "absent",
                                          "transfer_fix_tag_via": "ssh"})
        for node in nodes:
            assert helpers.impexpd_is_stock(lab, node), node
        helpers.create_instance(lab, "c1", NAME_AFTER, size_mib=16, node="c1n2.lab")
        result = _move(lab, NAME_AFTER, user=USER, passwords=passwords, ca_dir=ca_dir)
        assert result.rc != 0
        assert "ganeti/ganeti#1681" in result.output
        assert NAME_AFTER not in {i["name"] for i in helpers.list_instances(lab, "c2")}
        print("\ntimings (s): " + ", ".join("%s=%.1f" % item for item in timings.items()))
    finally:
        problems = _restore(lab, originals)
    assert not problems, problems
    assert _snapshot_originals(lab) == originals
    assert all(helpers.impexpd_is_stock(lab, node) for node in nodes)


# ----------------------------------------------------------------------
# a lab with Ganeti's stock RAPI certificate

def _controller_run(other, argv, env=None, timeout=900):
    base = {"ANSIBLE_COLLECTIONS_PATH": _collections_path(), "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": os.path.join(other.lab_dir, "ansible-local")}
    base.update(env or {})
    return other.exec("controller", argv, check=False, env=base, timeout=timeout, cwd=REPO)


def _controller_playbook(other, extra, check=False):
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), READINESS,
            "-i", other.state()["inventory"], "-e", json.dumps(extra)]
    if check:
        argv.append("--check")
    env = {"ANSIBLE_STDOUT_CALLBACK": "fleet_json",
           "ANSIBLE_CALLBACK_PLUGINS": os.path.join(REPO, "tests", "integration", "callback_plugins")}
    proc = _controller_run(other, argv, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-8000:]
    return json.loads(proc.stdout)


def _curl_info(other, ca_file, user, password):
    """HTTPS GET /2/info from the lab's controller, by cluster name, with host name verification."""
    proc = other.exec("controller", ["curl", "-sS", "--fail", "--cacert", ca_file, "--config", "-",
                                     "https://c1.lab:5080/2/info"],
                      check=False, input_text='user = "%s:%s"\n' % (user, password))
    return proc.returncode, proc.stdout + proc.stderr


def test_rapi_certificate_reissue_on_a_stock_certificate_lab(lab):
    test_began = time.time() - 1
    lab_dir = tempfile.mkdtemp(prefix="fleetlab-stockcert-", dir="/var/tmp")
    other = fleetlab.Lab(lab_dir)
    password = secrets.token_urlsafe(18)
    timings = {}
    try:
        started = time.monotonic()
        # One node: with rapi_cert="stock" the lab's 'gnt-node add' fails (the lab writes the domain
        # secret root-owned 0400 and only a RAPI restart, through ensure-dirs, fixes its owner).
        other.up(fleetlab.Topology(clusters=1, nodes=1, rapi_cert="stock"), log=lambda m: None)
        timings["lab_up"] = time.monotonic() - started
        cluster = other.cluster("c1")
        master_pem = os.path.join(lab_dir, "nodes", cluster["master"], "var-lib-ganeti", "rapi.pem")
        stock = _file_state(master_pem)
        # The stock certificate fails host name verification, even with the right CA file.
        rc, text = _curl_info(other, cluster["ca_file"], cluster["rapi_user"], other.rapi_password("c1"))
        assert rc == 60, text
        ca_dir = os.path.join(lab_dir, "controller-files", "rapi-ca")
        ca_file = os.path.join(ca_dir, "c1.lab.pem")
        # The lab inventory's ganeti_rapi_url is the master IP; the cluster name is what the
        # re-issued certificate must verify against (the role's default URL without an inventory one).
        extra = {"ganeti_rapi_user": USER, "ganeti_rapi_password": password,
                 "ganeti_rapi_url": "https://%s:5080" % cluster["name"],
                 "move_readiness_ca_dir": ca_dir, "move_readiness_rapi_certificate": True}

        # Check mode: reports the re-issue, changes nothing.
        started = time.monotonic()
        run = _controller_playbook(other, extra, check=True)
        timings["check"] = time.monotonic() - started
        cert_task = _task(run, "Read or re-issue the RAPI certificate on the master")
        assert cert_task[cluster["master"]]["changed"] is True
        assert "common name is ganeti.example.com, not c1.lab" in cert_task[cluster["master"]]["reasons"]
        assert _file_state(master_pem) == stock
        assert not os.path.exists(ca_dir)

        # The real run: new certificate, distributed, served; the bundle verifies the host name.
        started = time.monotonic()
        run = _controller_playbook(other, extra)
        timings["reissue_run"] = time.monotonic() - started
        result = _task(run, "Read or re-issue the RAPI certificate on the master")[cluster["master"]]
        assert result["reissued"] is True
        assert result["steps"] == ["write", "redist-conf", "restart-rapi", "verify"]
        assert result["info"]["common_name"] == "c1.lab"
        assert result["info"]["ip_addresses"] == [cluster["master_ip"]]
        assert "PRIVATE" not in json.dumps(run)
        new_state = _file_state(master_pem)
        assert new_state != stock and new_state[1:] == stock[1:]          # Ganeti's owner and mode kept
        for node in cluster["nodes"][1:]:
            assert _file_state(os.path.join(lab_dir, "nodes", node, "var-lib-ganeti", "rapi.pem"))[0] \
                == new_state[0]
        certs, labels = _bundle_certificates(ca_file)
        assert labels == ["CERTIFICATE"]
        served = other.exec("controller", ["sh", "-c", "openssl s_client -connect c1.lab:5080 </dev/null "
                                           "2>/dev/null | openssl x509 -outform DER | sha256sum"]).stdout.split()[0]
        assert hashlib.sha256(certs[0].public_bytes(serialization.Encoding.DER)).hexdigest() == served
        assert result["info"]["sha256_fingerprint"] == served
        rc, text = _curl_info(other, ca_file, USER, password)
        assert rc == 0 and json.loads(text)["name"] == "c1.lab", text
        access = _task(run, "Check RAPI access with the cluster's CA file and the user (TLS, authentication, write access)")
        assert access[cluster["master"]]["hostname_verified"] is True
        assert access[cluster["master"]]["write_access"] is True
        # The new key is only in Ganeti's own files.
        key_lines = [line for line in _read(master_pem).split("-----END PRIVATE KEY-----")[0].splitlines()
                     if len(line) == 64]
        assert key_lines
        hits = _files_containing([lab_dir, "/tmp"], key_lines[:3], test_began,
                                 skip=lambda d: "/var-lib-ganeti" in d or os.path.basename(d) in DISK_DIRS)
        assert hits == [], hits

        # Second run: nothing changes.
        started = time.monotonic()
        run = _controller_playbook(other, extra)
        timings["second_run"] = time.monotonic() - started
        for host, stats in run["stats"].items():
            assert stats["changed"] == 0, (host, stats)
        assert _file_state(master_pem) == new_state
        print("\ntimings (s): " + ", ".join("%s=%.1f" % item for item in timings.items()))
    finally:
        other.down(log=lambda m: None)
        shutil.rmtree(lab_dir, ignore_errors=True)
    assert lab.is_running()


def _task(run, name):
    found = {}
    for play in run["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(name):
                found.update(task["hosts"])
    assert found, name
    return found
