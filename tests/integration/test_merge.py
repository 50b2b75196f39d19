"""Cluster merge with the move strategy, its pre-flight and check mode, on three real clusters.

c2 is merged into c1; c3 carries the clashes the pre-flight must refuse.
The module starts from a freshly built three-cluster lab and leaves the
default lab behind (fixture ``three_clusters``). It first makes the three
clusters ready for moves with playbooks/move_readiness.yml and nothing but
its documented required variables (each cluster's own RAPI password, from the
inventory) and a probe instance: the role re-issues the certificate of c3, which has one of the
ganeti.fleet 0.1.0 profile (a CA), and the instance moves with what the role set up.
"""

import ast
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shutil
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetlab import helpers
from fleettest import REPO, connection, inventory_without, run_playbook

PLAYBOOK = os.path.join(REPO, "playbooks", "merge_clusters.yml")
READINESS = os.path.join(REPO, "playbooks", "move_readiness.yml")
MOVES = os.path.join(REPO, "playbooks", "move_instances.yml")
PROBE = "vm29.lab"


def merge(lab, sources, check=False, **extra):
    extra_vars = {
        "cluster_merge_target": lab.cluster("c1")["master"],
        "cluster_merge_sources": [lab.cluster(s)["master"] for s in sources],
        "cluster_merge_group_policy": "rename",
        "cluster_merge_verify_ignore_errors": ["ENODESETUP"],
    }
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, inventory=lab.state()["inventory"], extra_vars=extra_vars, check=check)


def cluster_state(lab, clusters=("c1", "c2", "c3")):
    """Instances (with states and tags), nodes, groups, networks and cluster tags of each cluster: what nothing
    may change."""
    return {c: {"instances": helpers.list_instances(lab, c), "nodes": helpers.list_nodes(lab, c),
                "groups": lab.gnt(c, "gnt-group", "list", "--no-headers", "-o", "name,tags").split(),
                "networks": lab.gnt(c, "gnt-network", "list", "--no-headers", "-o", "name,group_list").split(),
                "tags": sorted(lab.gnt(c, "gnt-cluster", "list-tags").split())} for c in clusters}


def verify_errors(lab, cluster):
    """Errors of 'gnt-cluster verify' other than the lab kernel's known ENODESETUP."""
    proc = lab.exec(lab.cluster(cluster)["master"], ["gnt-cluster", "verify", "--error-codes"], check=False)
    output = proc.stdout + proc.stderr
    return [line for line in output.splitlines() if re.search(r"\bERROR:", line) and ":ENODESETUP:" not in line]


def changed(result):
    return sum(host["changed"] for host in result.stats().values())


def old_profile_pem(name, ip):
    """Key and certificate as ganeti.fleet 0.1.0 issued them: a CA (CA:TRUE, keyCertSign) for the cluster."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                        x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM), cert


def install_rapi_pem(lab, cluster, pem):
    """Put PEM into the cluster's rapi.pem (Ganeti's owner and mode kept), on every node, and restart RAPI."""
    master = lab.cluster(cluster)["master"]
    path = os.path.join(lab.lab_dir, "nodes", master, "var-lib-ganeti", "rapi.pem")
    with open(path, "r+b") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(pem)
    lab.gnt(cluster, "gnt-cluster", "redist-conf")
    lab.exec(master, ["/usr/lib/ganeti/daemon-util", "stop", "ganeti-rapi"])
    lab.exec(master, ["/usr/lib/ganeti/daemon-util", "start", "ganeti-rapi"])


def served_certificate(lab, cluster):
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((lab.cluster(cluster)["master_ip"], 5080)))
    return x509.load_der_x509_certificate(der)


def report_of(result):
    return next(iter(result.task_results("Report the readiness of the clusters").values()))["msg"]


def test_move_readiness_with_its_defaults_makes_three_clusters_ready(three_clusters, tmp_path):
    """Only what the role documents as required: each master's ganeti_rapi_password (the lab's, one per
    cluster); ganeti_rapi_user, the CA directory, the backup directories and everything else at their
    defaults. HOME is a directory of the test, where the default CA directory (~/.ganeti-fleet/rapi-ca) goes."""
    lab = three_clusters
    names = {c: lab.cluster(c)["name"] for c in ("c1", "c2", "c3")}
    passwords = {c: lab.rapi_password(c) for c in names}
    assert len(set(passwords.values())) == 3
    inventory = inventory_without(lab, tmp_path / "inventory.yml", "ganeti_rapi_user")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    ca_dir = home / ".ganeti-fleet" / "rapi-ca"
    digest = helpers.create_instance(lab, "c1", PROBE, size_mib=16)
    # c3 still has a certificate of the 0.1.0 profile: its key could sign certificates for c1 and c2.
    old_pem, old_cert = old_profile_pem(names["c3"], lab.cluster("c3")["master_ip"])
    install_rapi_pem(lab, "c3", old_pem)
    assert served_certificate(lab, "c3") == old_cert

    # One password for all clusters is refused before anything changes.
    shared = run_playbook(READINESS, inventory=inventory, env=env, extra_vars={"ganeti_rapi_password": "same"})
    assert shared.rc != 0
    assert "3 clusters share 1 RAPI password(s)" in shared.output, shared.output[-3000:]
    assert not ca_dir.exists()

    first = run_playbook(READINESS, inventory=inventory, env=env,
                         extra_vars={"move_readiness_probe_instance": PROBE})
    assert first.rc == 0, first.output[-8000:]
    report = report_of(first)
    assert sorted(report["probe_passed_to"]) == [names["c2"], names["c3"]], report
    assert report["rapi_access"] == {names[c]: True for c in names}, report
    assert report["ca_files"] == {names[c]: "~/.ganeti-fleet/rapi-ca/%s.pem" % names[c] for c in names}
    assert sorted(os.listdir(ca_dir)) == sorted(n + ".pem" for n in names.values())
    # The 0.1.0 certificate was re-issued, as a change, and c3 now serves an end-entity certificate,
    # the one its CA file holds; the other clusters' certificates were left alone.
    assert any(item.startswith("RAPI certificate re-issued to %s (issued by ganeti.fleet 0.1.0 as a CA" % names["c3"])
               for item in report["changed"][names["c3"]]), report
    served = served_certificate(lab, "c3")
    assert served != old_cert
    assert served.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with open(ca_dir / (names["c3"] + ".pem"), "rb") as handle:
        assert x509.load_pem_x509_certificates(handle.read()) == [served]
    # The lab's own CA file for c3 (its inventory's ganeti_rapi_ca_path) follows, for the merge tests.
    shutil.copyfile(ca_dir / (names["c3"] + ".pem"), lab.cluster("c3")["ca_file"])
    for cluster in ("c1", "c2"):
        assert not any("re-issued" in item for item in report["changed"][names[cluster]]), report
    for cluster, name in names.items():
        assert any(item.startswith("RAPI user ganeti-fleet created") for item in report["changed"][name]), report
        expected = "{HA1}" + hashlib.md5(("ganeti-fleet:Ganeti Remote API:%s" % passwords[cluster]).encode()).hexdigest()
        master = lab.cluster(cluster)["master"]
        users = lab.exec(master, ["cat", "/var/lib/ganeti/rapi/users"]).stdout.splitlines()
        assert "ganeti-fleet %s write" % expected in users
        # The transfer fix kept its backup in the default directory, private to each node.
        for node in lab.cluster(cluster)["nodes"]:
            assert os.listdir(os.path.join(lab.lab_dir, "nodes", node, "var-lib-fleet", "transfer-fix")), node

    second = run_playbook(READINESS, inventory=inventory, env=env,
                          extra_vars={"move_readiness_probe_instance": PROBE})
    assert second.rc == 0, second.output[-8000:]
    assert all(stats["changed"] == 0 for stats in second.stats().values()), second.stats()
    assert report_of(second)["changed"] == dict({names[c]: ["nothing"] for c in names}, controller=["nothing"])

    # A move with what the role set up: ganeti-fleet, each cluster's own password and CA file.
    move_env = dict(env)
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c3")):
        move_env.update({prefix + "URL": connection(lab, cluster)["rapi_url"], prefix + "USER": "ganeti-fleet",
                         prefix + "PASSWORD": passwords[cluster],
                         prefix + "CA_PATH": str(ca_dir / (names[cluster] + ".pem"))})
    # Ganeti's own transfer is what readiness prepares (domain secret, transfer fix); the digests
    # are read on the nodes the inventory reaches.
    moved = run_playbook(MOVES, inventory=inventory, env=move_env,
                         extra_vars={"move_instances": [PROBE], "move_defaults": {"transfer": "ganeti"}})
    assert moved.rc == 0, moved.output[-6000:]
    assert PROBE not in {i["name"] for i in helpers.list_instances(lab, "c1")}
    assert helpers.hash_instance_disk(lab, "c3", PROBE) == digest
    helpers.remove_instance(lab, "c3", PROBE)
    assert PROBE not in json.dumps(helpers.list_instances(lab, "c3"))


def secondary_ip(lab, node):
    """A second address of NODE on the lab's bridge: 198.18.0.(100 + its own last octet)."""
    primary = lab.state()["hosts"][node]["ip"]
    return "198.18.0.%d" % (100 + int(primary.rsplit(".", 1)[1]))


def make_multi_homed(lab, cluster):
    """Every node of CLUSTER gets a secondary IP (a second address on eth0), the master first (Ganeti's rule)."""
    for node in lab.cluster(cluster)["nodes"]:
        lab.exec(node, ["ip", "addr", "add", secondary_ip(lab, node) + "/24", "dev", "eth0"])
    for node in lab.cluster(cluster)["nodes"]:
        lab.gnt(cluster, "gnt-node", "modify", "--force", "-s", secondary_ip(lab, node), node)


#: What c2 carries besides instances, as c1 must show it after the merge.
CARRIED = {
    "net-c2": {"network": "198.18.64.0/24", "gateway": "198.18.64.1", "mac_prefix": "aa:02:40",
               "reserved": "198.18.64.5,198.18.64.6", "tags": ["net:front", "site:c2"]},
    "spare-c2": {"network": "198.18.65.0/24", "gateway": None, "mac_prefix": None,
                 "reserved": "198.18.65.9", "tags": ["net:spare"]},
}


def populate_carried(lab):
    """c2's networks (one for vm12's NIC, one unused), a node group db with its own parameters and tags,
    node parameters, node tags and cluster tags."""
    for name, spec in CARRIED.items():
        args = ["gnt-network", "add", "--network=" + spec["network"], "--add-reserved-ips=" + spec["reserved"],
                "--tags=" + ",".join(spec["tags"])]
        args += ["--gateway=" + spec["gateway"]] if spec["gateway"] else []
        args += ["--mac-prefix=" + spec["mac_prefix"]] if spec["mac_prefix"] else []
        lab.gnt("c2", *(args + [name]))
    lab.gnt("c2", "gnt-group", "add", "--alloc-policy=last_resort", "--node-parameters=spindle_count=2",
            "--ipolicy-vcpu-ratio=3.5", "--ipolicy-spindle-ratio=8", "db")
    lab.gnt("c2", "gnt-group", "add-tags", "db", "tier:db")
    lab.gnt("c2", "gnt-network", "connect", "-N", "mode=bridged,link=gnt-br0", "net-c2", "default")
    lab.gnt("c2", "gnt-network", "connect", "-N", "mode=bridged,link=gnt-br0,vlan=7", "spare-c2", "db")
    lab.gnt("c2", "gnt-node", "modify", "--node-parameters=spindle_count=3", "c2n2.lab")
    lab.gnt("c2", "gnt-node", "add-tags", "c2n2.lab", "rack:r2")
    lab.gnt("c2", "gnt-node", "modify", "--master-capable=no", "c2n2.lab")
    lab.gnt("c2", "gnt-cluster", "add-tags", "site:c2", "owner:ops")


@pytest.fixture(scope="module")
def populated(three_clusters):
    """c1 and c2 with instances (running and stopped) full of random bytes; their disk hashes.

    Every cluster is multi-homed (Ganeti adds a node with a secondary IP only to a cluster whose
    master has one); c2 has what a merge carries besides instances (see populate_carried), and
    vm12's NIC is on c2's network net-c2.
    """
    lab = three_clusters
    for cluster in ("c1", "c2", "c3"):
        make_multi_homed(lab, cluster)
    populate_carried(lab)
    digests = {
        "vm01.lab": helpers.create_instance(lab, "c1", "vm01.lab", size_mib=32),
        "vm11.lab": helpers.create_instance(lab, "c2", "vm11.lab", size_mib=64),
        "vm12.lab": helpers.create_instance(lab, "c2", "vm12.lab", size_mib=32, start=False,
                                            tags=["role:db"]),
    }
    lab.gnt("c2", "gnt-instance", "modify", "--net", "0:modify,network=net-c2,ip=198.18.64.20", "vm12.lab")
    return digests


def test_check_mode_changes_nothing(three_clusters, populated):
    lab = three_clusters
    before = cluster_state(lab)
    result = merge(lab, ["c2"], check=True)
    assert result.rc == 0, result.output
    assert changed(result) == 0
    report = result.task_results("Report the pre-flight and the plan")["localhost"]["msg"]
    assert "Would merge into c1.lab (move): c2.lab [pending]: 2 instances (1 running)" in report
    assert cluster_state(lab) == before


def test_preflight_refuses_a_name_and_a_mac_clash(three_clusters, populated):
    lab = three_clusters
    mac = helpers.list_instances(lab, "c1")[0]["macs"][0]
    for name, net in (("vm01.lab", "0:mac=generate"), ("vm13.lab", "0:mac=%s" % mac)):
        lab.gnt("c3", "gnt-instance", "add", "-t", "diskless", "-o", "lab-dd", "--no-name-check",
                "--no-ip-check", "--no-start", "--no-install", "-B", "memory=128M", "--net", net, name)
    before = cluster_state(lab)
    result = merge(lab, ["c3"])
    assert result.rc != 0
    message = result.task_results("Pre-flight (reads every cluster, changes nothing)")["localhost"]["msg"]
    assert re.search(r"Instance vm01\.lab exists in c3\.lab and in c1\.lab", message), message
    assert re.search(r"MAC %s of instance vm13\.lab \(c3\.lab\) is also used by instance vm01\.lab \(c1\.lab\)"
                     % re.escape(mac), message), message
    assert cluster_state(lab) == before


def test_unreachable_node_is_refused_before_any_change(three_clusters, populated):
    lab = three_clusters
    before = cluster_state(lab)
    # Existing SSH control connections would hide the failure: start afresh.
    for entry in os.listdir(os.path.join(lab.lab_dir, "ssh")):
        os.unlink(os.path.join(lab.lab_dir, "ssh", entry))
    lab.exec("c2n2.lab", ["ip", "link", "set", "eth0", "down"])
    try:
        result = merge(lab, ["c2"])
    finally:
        lab.exec("c2n2.lab", ["ip", "link", "set", "eth0", "up"])
    assert result.rc != 0
    assert "c2n2.lab" in result.output and "UNREACHABLE" in result.output.upper()
    assert cluster_state(lab) == before
    assert verify_errors(lab, "c2") == []


@pytest.fixture(scope="module")
def merged_once(three_clusters, populated):
    lab = three_clusters
    before = cluster_state(lab, ("c1", "c2"))
    result = merge(lab, ["c2"])
    assert result.rc == 0, result.output
    return {"result": result, "before": before}


def test_move_merge_keeps_every_instance_and_hands_the_nodes_over(three_clusters, populated, merged_once):
    lab = three_clusters
    before = merged_once["before"]
    after = {i["name"]: i for i in helpers.list_instances(lab, "c1")}
    for old in before["c1"]["instances"] + before["c2"]["instances"]:
        now = after[old["name"]]
        assert now["status"] == old["status"], (old, now)
        assert now["disk_sizes"] == old["disk_sizes"] and now["macs"] == old["macs"]
        assert set(old["tags"]) <= set(now["tags"])
        assert helpers.hash_instance_disk(lab, "c1", old["name"]) == populated[old["name"]]
    assert "ganeti-fleet:source:c2.lab/vm11.lab" in after["vm11.lab"]["tags"]
    nodes = {n["name"]: n for n in helpers.list_nodes(lab, "c1")}
    assert {"c1n1.lab", "c1n2.lab", "c2n1.lab", "c2n2.lab"} == set(nodes)
    assert not any(n["offline"] or n["drained"] for n in nodes.values())
    groups = lab.gnt("c1", "gnt-node", "list", "--no-headers", "-o", "name,group").split()
    assert dict(zip(groups[::2], groups[1::2]))["c2n2.lab"] == "default-c2"
    tags = lab.gnt("c1", "gnt-cluster", "list-tags").split()
    assert "ganeti-fleet:merged:c2.lab" in tags
    assert not [t for t in tags if t.startswith(("ganeti-fleet:merging:", "ganeti-fleet:merge-node:"))]
    assert verify_errors(lab, "c1") == []
    hashed = merged_once["result"].task_results("Check that the data of those disks is unchanged")["localhost"]
    assert hashed["msg"] == "1 disk(s) of stopped instances hashed before and after: identical."
    # The merged cluster is gone: its master is an ordinary node of c1 now.
    assert lab.exec("c2n1.lab", ["gnt-cluster", "getmaster"], check=False).stdout.strip() == "c1n1.lab"


def gnt_rows(lab, cluster, command, fields):
    """Rows of 'gnt-COMMAND list -o FIELDS' on CLUSTER's master, as dicts keyed by the first field."""
    output = lab.gnt(cluster, command, "list", "--no-headers", "--separator=|", "-o", ",".join(fields))
    rows = [dict(zip(fields, line.split("|"))) for line in output.splitlines() if line.strip()]
    return {row[fields[0]]: row for row in rows}


def test_move_merge_carries_networks_groups_node_parameters_and_tags(three_clusters, populated, merged_once):
    lab = three_clusters
    networks = gnt_rows(lab, "c1", "gnt-network",
                        ("name", "network", "gateway", "mac_prefix", "external_reservations", "group_list", "tags"))
    assert set(CARRIED) <= set(networks)
    for name, spec in CARRIED.items():
        row = networks[name]
        assert row["network"] == spec["network"]
        assert row["gateway"] == (spec["gateway"] or "-")
        assert row["mac_prefix"] == (spec["mac_prefix"] or "-")
        assert set(spec["reserved"].split(",")) <= set(row["external_reservations"].split(", ")), row
        assert set(spec["tags"]) <= set(row["tags"].split(",")), row
    # Exactly c2's external reservations: network, broadcast, gateway, and the added ones.
    assert sorted(networks["net-c2"]["external_reservations"].split(", ")) == sorted(
        ["198.18.64.0", "198.18.64.1", "198.18.64.5", "198.18.64.6", "198.18.64.255"])
    # Connections under the mapped group names (group policy rename: default -> default-c2), and to c1's
    # own group where vm12 landed with its NIC on net-c2.
    assert "default-c2 (bridged, gnt-br0, )" in networks["net-c2"]["group_list"]
    assert "default (bridged, gnt-br0, )" in networks["net-c2"]["group_list"]
    assert networks["spare-c2"]["group_list"] == "db (bridged, gnt-br0, 7)"
    vm12 = lab.gnt("c1", "gnt-instance", "list", "--no-headers", "--separator=|", "-o",
                   "nic.networks.names,nic.ips", "vm12.lab").strip().split("|")
    assert ast.literal_eval(vm12[0]) == ["net-c2"] and vm12[1] == "198.18.64.20", vm12

    groups = gnt_rows(lab, "c1", "gnt-group", ("name", "alloc_policy", "custom_ndparams", "custom_ipolicy", "tags"))
    assert groups["db"]["alloc_policy"] == "last_resort"
    assert ast.literal_eval(groups["db"]["custom_ndparams"]) == {"spindle_count": 2}
    assert ast.literal_eval(groups["db"]["custom_ipolicy"]) == {"spindle-ratio": 8, "vcpu-ratio": 3.5}
    assert "tier:db" in ast.literal_eval(groups["db"]["tags"])
    assert groups["default-c2"]["alloc_policy"] == "preferred"

    nodes = gnt_rows(lab, "c1", "gnt-node", ("name", "sip", "master_capable", "vm_capable", "custom_ndparams",
                                             "tags", "group"))
    for node in ("c2n1.lab", "c2n2.lab"):
        assert nodes[node]["sip"] == secondary_ip(lab, node)
        assert nodes[node]["group"] == "default-c2"
    assert nodes["c2n2.lab"]["master_capable"] == "N" and nodes["c2n1.lab"]["master_capable"] == "Y"
    assert ast.literal_eval(nodes["c2n2.lab"]["custom_ndparams"]) == {"spindle_count": 3}
    assert nodes["c2n2.lab"]["tags"] == "rack:r2"

    tags = lab.gnt("c1", "gnt-cluster", "list-tags").split()
    assert {"site:c2", "owner:ops"} <= set(tags)
    assert not [t for t in tags if t.startswith("ganeti-fleet:merge-node-setup:")]

    verification = merged_once["result"].task_results(
        "Check that the target holds every instance, node, group and network as before")["localhost"]
    assert verification["differences"] == []
    snap = verification["snapshot"]
    assert snap["network_details"]["spare-c2"]["reservations"] == ["198.18.65.0", "198.18.65.9", "198.18.65.255"]
    assert snap["network_details"]["spare-c2"]["connections"] == {"db": {"mode": "bridged", "link": "gnt-br0",
                                                                         "vlan": "7"}}
    assert snap["group_params"]["db"]["ipolicy"] == {"spindle-ratio": 8, "vcpu-ratio": 3.5}
    assert snap["node_params"]["c2n2.lab"]["secondary_ip"] == secondary_ip(lab, "c2n2.lab")
    assert {"site:c2", "owner:ops"} <= set(snap["cluster_tags"])


def test_second_run_changes_nothing(three_clusters, merged_once):
    result = merge(three_clusters, ["c2"])
    assert result.rc == 0, result.output
    assert changed(result) == 0
    report = result.task_results("Report the pre-flight and the plan")["localhost"]["msg"]
    assert "c2.lab [merged]" in report


def test_run_interrupted_after_the_cluster_was_taken_apart_resumes(three_clusters, merged_once):
    """c3 is moved and destroyed, then adding its nodes fails: a re-run finishes from c1's tags alone."""
    lab = three_clusters
    digest = helpers.create_instance(lab, "c3", "vm31.lab", size_mib=32)
    lab.gnt("c3", "gnt-instance", "remove", "--force", "vm01.lab", check=False)
    lab.gnt("c3", "gnt-instance", "remove", "--force", "vm13.lab", check=False)
    # The target master's key cannot be authorised on c3n2 (a directory is in
    # the way); the controller still logs in through authorized_keys2.
    ssh = "/root/.ssh"
    lab.exec("c3n2.lab", ["sh", "-ec", "mv {0}/authorized_keys {0}/authorized_keys2 && mkdir {0}/authorized_keys"
                          .format(ssh)])
    try:
        first = merge(lab, ["c3"])
    finally:
        lab.exec("c3n2.lab", ["sh", "-ec", "rmdir {0}/authorized_keys && mv {0}/authorized_keys2 {0}/authorized_keys"
                              .format(ssh)])
    assert first.rc != 0
    assert "Let the target master log in to the joining nodes" in first.output, first.output
    tags = lab.gnt("c1", "gnt-cluster", "list-tags").split()
    assert "ganeti-fleet:merging:c3.lab" in tags and "ganeti-fleet:merge-node:c3.lab:c3n2.lab:default-c3" in tags
    assert lab.exec("c3n1.lab", ["test", "-e", "/var/lib/ganeti/config.data"], check=False).returncode != 0

    second = merge(lab, ["c3"])
    assert second.rc == 0, second.output
    report = second.task_results("Report the pre-flight and the plan")["localhost"]["msg"]
    assert "c3.lab [in_progress]" in report
    nodes = {n["name"] for n in helpers.list_nodes(lab, "c1")}
    assert {"c3n1.lab", "c3n2.lab"} <= nodes
    # Their secondary IPs came from c1's tags: c3's RAPI was gone.
    sips = gnt_rows(lab, "c1", "gnt-node", ("name", "sip"))
    assert {n: sips[n]["sip"] for n in ("c3n1.lab", "c3n2.lab")} == {n: secondary_ip(lab, n) for n in ("c3n1.lab", "c3n2.lab")}
    status = {i["name"]: i["status"] for i in helpers.list_instances(lab, "c1")}
    assert status["vm31.lab"] == "running"
    assert helpers.hash_instance_disk(lab, "c1", "vm31.lab") == digest
    tags = lab.gnt("c1", "gnt-cluster", "list-tags").split()
    assert "ganeti-fleet:merged:c3.lab" in tags
    assert not [t for t in tags if t.startswith(("ganeti-fleet:merging:", "ganeti-fleet:merge-node"))]
    assert verify_errors(lab, "c1") == []
