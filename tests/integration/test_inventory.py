"""The ganeti.fleet.rapi inventory plugin, run by ansible-inventory against the lab's clusters.

Inventory files are written to a temporary directory and read with the
venv's ``ansible-inventory --list`` (through the ``auto`` plugin, as users
run it); what it prints is compared with the Ganeti command line, the ground
truth. Instances are named from the lab's pool (vm81.lab .. vm83.lab here)
and removed again at the end. Masters and nodes from the plugin are then
used by a playbook (RAPI from their connection variables, SSH to their
``ansible_host``), and a cluster whose RAPI daemon is stopped for real is
skipped with a warning.
"""

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from fleetlab import helpers
from fleettest import _collections_path, run_playbook

DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"

WEB = "vm81.lab"        # c1, running, tagged group:web and owner:alice
DB = "vm82.lab"         # c2, stopped, tagged group:db
HIDDEN = "vm83.lab"     # c1, tagged noansible: never in the inventory
INSTANCES = (
    ("c1", WEB, ["group:web", "owner:alice"], True),
    ("c2", DB, ["group:db"], False),
    ("c1", HIDDEN, ["noansible", "group:web"], False),
)


@pytest.fixture(autouse=True)
def no_rapi_env(monkeypatch):
    """Connections come only from what each test passes, never from the caller's shell."""
    for key in list(os.environ):
        if key.startswith(("GANETI_RAPI_", "ANSIBLE_INVENTORY_CACHE", "ANSIBLE_CACHE_")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def instances(lab):
    """The test instances, created once for the module and removed at the end."""
    created = []
    try:
        for cluster, name, tags, start in INSTANCES:
            helpers.remove_instance(lab, cluster, name)  # left over from an interrupted run
            created.append((cluster, name))
            helpers.create_instance(lab, cluster, name, size_mib=8, memory_mib=32, tags=tags,
                                    start=start, random_bytes=False)
        yield {cluster: {i["name"]: i for i in helpers.list_instances(lab, cluster)}
               for cluster in ("c1", "c2")}
    finally:
        for cluster, name in created:
            helpers.remove_instance(lab, cluster, name)


def connection(lab, cluster):
    info = lab.cluster(cluster)
    return {"rapi_url": info["rapi_url"], "rapi_user": info["rapi_user"],
            "rapi_password": lab.rapi_password(cluster), "ca_path": info["ca_file"]}


def write_inventory(directory, name, config):
    path = os.path.join(str(directory), name)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(dict(config, plugin="ganeti.fleet.rapi"), handle, sort_keys=False)
    return path


def ansible_inventory(path, *args, env=None):
    """Run ansible-inventory -i PATH --list; return the CompletedProcess."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", path, "--list"]
    cmd += list(args)
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
        # a source that fails is an error, not a warning
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=False,
                          timeout=300)


def plain(value):
    """VALUE without the markers ansible-inventory puts around unsafe (untemplated) strings."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listed(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return plain(json.loads(proc.stdout))


def group_hosts(data, group):
    assert group in data, "no group %s in %s" % (group, sorted(data))
    return set(data[group].get("hosts", []))


def test_two_clusters(lab, instances, tmp_path):
    path = write_inventory(tmp_path, "fleet.ganeti.yml", {
        "clusters": [connection(lab, "c1"), connection(lab, "c2")],
        "exclude_tags": ["noansible"],
        "compose": {"ansible_host": "ganeti_nic_ips | select | first | default(inventory_hostname)"},
        "keyed_groups": [{"key": "ganeti_tag_values.group", "prefix": "tag"},
                         {"key": "ganeti_tag_values.owner", "prefix": "owner"}],
        "groups": {"stopped": "ganeti_admin_state == 'down'"},
        "hvparams": True,
    })
    data = listed(ansible_inventory(path))
    hostvars = data["_meta"]["hostvars"]

    # every instance of each cluster, but the excluded one, in its cluster's group
    for cluster, group in (("c1", "ganeti_cluster_c1_lab"), ("c2", "ganeti_cluster_c2_lab")):
        expected = {name for name, inst in instances[cluster].items() if "noansible" not in inst["tags"]}
        assert group_hosts(data, group) == expected
    assert HIDDEN not in hostvars

    web, db = hostvars[WEB], hostvars[DB]
    truth = instances["c1"][WEB]
    assert web["ganeti_cluster"] == "c1.lab"
    assert web["ganeti_rapi_url"] == lab.cluster("c1")["rapi_url"]
    assert web["ganeti_status"] == "running"
    assert web["ganeti_admin_state"] == "up"
    assert web["ganeti_oper_state"] is True
    assert web["ganeti_pnode"] == truth["pnode"]
    assert web["ganeti_snodes"] == []
    assert web["ganeti_os"] == "lab-dd"
    assert web["ganeti_disk_template"] == "file"
    assert web["ganeti_disk_sizes"] == [8]
    assert web["ganeti_tags"] == ["group:web", "owner:alice"]
    assert web["ganeti_tag_values"] == {"group": "web", "owner": "alice"}
    assert web["ganeti_nic_macs"] == truth["macs"]
    assert len(web["ganeti_nic_ips"]) == len(web["ganeti_nic_links"]) == len(web["ganeti_nic_networks"]) == 1
    assert web["ganeti_beparams"]["memory"] == 32
    assert isinstance(web["ganeti_hvparams"], dict)
    assert len(web["ganeti_uuid"]) == 36
    # the lab's NICs have no IP: compose falls back to the name
    assert web["ansible_host"] == WEB
    assert lab.rapi_password("c1") not in json.dumps(data)
    assert lab.rapi_password("c2") not in json.dumps(data)

    assert db["ganeti_cluster"] == "c2.lab"
    assert db["ganeti_status"] == "ADMIN_down"
    assert db["ganeti_admin_state"] == "down"
    assert db["ganeti_oper_state"] is False
    assert db["ganeti_nic_macs"][0].startswith("aa:02:00")

    assert WEB in group_hosts(data, "ganeti_status_running")
    assert DB in group_hosts(data, "ganeti_status_admin_down")
    assert group_hosts(data, "tag_web") >= {WEB}
    assert HIDDEN not in group_hosts(data, "tag_web")
    assert DB in group_hosts(data, "tag_db")
    assert WEB in group_hosts(data, "owner_alice")
    assert DB in group_hosts(data, "stopped") and WEB not in group_hosts(data, "stopped")


def test_single_cluster_from_environment(lab, instances, tmp_path):
    path = write_inventory(tmp_path, "c2.ganeti.yml", {})
    conn = connection(lab, "c2")
    env = {"GANETI_RAPI_URL": conn["rapi_url"], "GANETI_RAPI_USER": conn["rapi_user"],
           "GANETI_RAPI_PASSWORD": conn["rapi_password"], "GANETI_RAPI_CA_PATH": conn["ca_path"]}
    data = listed(ansible_inventory(path, env=env))
    assert group_hosts(data, "ganeti_cluster_c2_lab") == set(instances["c2"])
    assert WEB not in data["_meta"]["hostvars"]
    assert data["_meta"]["hostvars"][DB]["ganeti_cluster"] == "c2.lab"
    assert "ganeti_hvparams" not in data["_meta"]["hostvars"][DB]  # hvparams: false by default


def test_cache_and_errors(lab, instances, tmp_path):
    conn = connection(lab, "c1")
    config = dict(conn, cache=True, cache_plugin="ansible.builtin.jsonfile",
                  cache_connection=str(tmp_path / "cache"), cache_timeout=600)
    good = write_inventory(tmp_path, "c1.ganeti.yml", config)
    first = listed(ansible_inventory(good))
    assert WEB in first["_meta"]["hostvars"]

    # same cluster, wrong password: answered from the cache, RAPI is not asked
    wrong = write_inventory(tmp_path, "c1-wrong.ganeti.yml", dict(config, rapi_password="not-the-password"))
    cached = listed(ansible_inventory(wrong))
    assert cached["_meta"]["hostvars"] == first["_meta"]["hostvars"]

    # --flush-cache reads RAPI again: the wrong password now fails, with the cluster and the cause
    proc = ansible_inventory(wrong, "--flush-cache")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert conn["rapi_url"] in output
    assert "Authentication as RAPI user '%s' failed" % conn["rapi_user"] in output
    assert "not-the-password" not in output

    # without a cache, the wrong password fails at once
    uncached = write_inventory(tmp_path, "c1-nocache.ganeti.yml", dict(conn, rapi_password="not-the-password"))
    proc = ansible_inventory(uncached)
    assert proc.returncode != 0
    assert "HTTP 401" in proc.stdout + proc.stderr


# ----------------------------------------------------------------------
# Masters and nodes


def gnt_nodes(lab, cluster):
    """CLUSTER's nodes from gnt-node list: name -> (primary IP, secondary IP, role letter)."""
    out = lab.gnt(cluster, "gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,pip,sip,role")
    nodes = {}
    for line in out.splitlines():
        if line.strip():
            name, pip, sip, role = line.split("|")
            nodes[name] = (pip, sip, role)
    return nodes


def test_masters_and_nodes(lab, tmp_path):
    """Every node of both clusters with the address Ganeti knows it by; the masters with the roles' variables."""
    path = write_inventory(tmp_path, "nodes.ganeti.yml", {
        "clusters": [connection(lab, "c1"), connection(lab, "c2")], "instances": False, "nodes": "all"})
    data = listed(ansible_inventory(path))
    hostvars = data["_meta"]["hostvars"]
    truth = {cluster: gnt_nodes(lab, cluster) for cluster in ("c1", "c2")}
    masters = {cluster: lab.gnt(cluster, "gnt-cluster", "getmaster").strip() for cluster in ("c1", "c2")}

    assert set(hostvars) == set(truth["c1"]) | set(truth["c2"])  # no instance
    assert group_hosts(data, "ganeti_masters") == set(masters.values())
    for cluster in ("c1", "c2"):
        info = lab.cluster(cluster)
        assert group_hosts(data, "ganeti_nodes_%s_lab" % cluster) == set(truth[cluster])
        assert "ganeti_nodes_%s_lab" % cluster in data["ganeti_nodes"]["children"]
        for name, (pip, sip, role) in truth[cluster].items():
            node = hostvars[name]
            assert node["ansible_host"] == pip
            assert node["ganeti_node_primary_ip"] == pip and node["ganeti_node_secondary_ip"] == sip
            assert node["ganeti_cluster"] == info["name"]
            assert node["ganeti_node_role"] == {"M": "master", "C": "master-candidate", "R": "regular",
                                                "D": "drained", "O": "offline"}[role]
            # the cluster's connection convention, from the group ganeti_nodes_<cluster>
            assert node["ganeti_cluster_name"] == info["name"]
            assert node["ganeti_cluster_master"] == masters[cluster]
            assert node["ganeti_rapi_url"] == info["rapi_url"]
            assert node["ganeti_rapi_ca_path"] == info["ca_file"]
            assert node["ganeti_rapi_validate_certs"] is True and node["ganeti_rapi_verify_hostname"] is True
            assert "ganeti_rapi_user" not in node and "ganeti_rapi_password" not in node
        assert masters[cluster] in group_hosts(data, "ganeti_node_role_master")
        assert lab.rapi_password(cluster) not in json.dumps(data)

    # masters only
    path = write_inventory(tmp_path, "masters.ganeti.yml", {
        "clusters": [connection(lab, "c1"), connection(lab, "c2")], "instances": False, "nodes": "masters"})
    data = listed(ansible_inventory(path))
    assert set(data["_meta"]["hostvars"]) == set(masters.values())


MASTERS_AND_NODES_PLAY = """
- name: RAPI of each master's cluster, from the inventory's connection variables
  hosts: ganeti_masters
  gather_facts: false
  tasks:
    - name: Cluster info
      ganeti.fleet.cluster_info:
        rapi_url: "{{ ganeti_rapi_url }}"
        rapi_user: "{{ ganeti_rapi_user }}"
        rapi_password: "{{ ganeti_rapi_password }}"
        ca_path: "{{ ganeti_rapi_ca_path }}"
        validate_certs: "{{ ganeti_rapi_validate_certs }}"
        verify_hostname: "{{ ganeti_rapi_verify_hostname }}"
      delegate_to: localhost

- name: SSH to every node at its ansible_host
  hosts: ganeti_nodes
  gather_facts: false
  tasks:
    - name: Node name
      ansible.builtin.raw: uname -n
      changed_when: false
"""


def test_masters_and_nodes_in_a_play(lab, tmp_path):
    """The hosts work as the roles use them: group_vars add user and password, SSH reaches each node."""
    inventory_dir = tmp_path / "inventory"
    (inventory_dir / "group_vars").mkdir(parents=True)
    write_inventory(inventory_dir, "nodes.ganeti.yml", {
        "clusters": [connection(lab, "c1"), connection(lab, "c2")], "instances": False, "nodes": "all"})
    # how the lab's own inventory reaches its nodes (user root, the lab's key and SSH options)
    with open(os.path.join(lab.lab_dir, "inventory.yml"), encoding="utf-8") as handle:
        ssh_vars = yaml.safe_load(handle)["all"]["vars"]
    ssh_vars.pop("ansible_python_interpreter", None)  # raw needs none; the module runs on the controller
    (inventory_dir / "group_vars" / "all.yml").write_text(yaml.safe_dump(ssh_vars))
    for cluster in ("c1", "c2"):
        # what docs/docsite/rst/inventory_guide.rst tells operators to do (vaulted in real life)
        (inventory_dir / "group_vars" / ("ganeti_nodes_%s_lab.yml" % cluster)).write_text(yaml.safe_dump({
            "ganeti_rapi_user": lab.cluster(cluster)["rapi_user"],
            "ganeti_rapi_password": lab.rapi_password(cluster)}))
    play = tmp_path / "play.yml"
    play.write_text(MASTERS_AND_NODES_PLAY)

    result = run_playbook(str(play), inventory=str(inventory_dir))
    assert result.rc == 0, result.output
    info = result.task_results("Cluster info")
    for cluster in ("c1", "c2"):
        master = lab.cluster(cluster)["master"]
        assert info[master]["cluster"]["name"] == lab.cluster(cluster)["name"]
        assert info[master]["cluster"]["master"] == master
    names = result.task_results("Node name")
    every_node = set(lab.cluster("c1")["nodes"]) | set(lab.cluster("c2")["nodes"])
    assert set(names) == every_node
    for node, task in names.items():
        # the host answering at the node's primary IP is that node
        assert task["stdout"].strip() in (node, node.split(".")[0]), (node, task["stdout"])


# ----------------------------------------------------------------------
# A cluster that cannot be read


def rapi_answers(lab, cluster):
    conn = connection(lab, cluster)
    proc = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                           "--cacert", conn["ca_path"], "-u", "%s:%s" % (conn["rapi_user"], conn["rapi_password"]),
                           conn["rapi_url"] + "/2/info"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() == "200"


def start_rapi(lab, cluster):
    """Start CLUSTER's RAPI daemon again and wait until it answers."""
    lab.exec(lab.cluster(cluster)["master"], [DAEMON_UTIL, "start", "ganeti-rapi"], check=False)
    deadline = time.monotonic() + 60
    while not rapi_answers(lab, cluster):
        assert time.monotonic() < deadline, "RAPI of %s did not come back" % cluster
        time.sleep(0.5)


def test_unreadable_cluster_skipped(lab, instances, tmp_path):
    """c2's RAPI stopped and a lab address where nothing listens: c1's hosts still listed, with warnings."""
    c1 = lab.cluster("c1")
    # a c1 node that is not the master: nothing listens on 5080 there
    nowhere_ip = next(ip for name, ip in c1["node_ips"].items() if name != c1["master"])
    nowhere = dict(connection(lab, "c1"), rapi_url="https://%s:5080" % nowhere_ip)
    config = {"clusters": [connection(lab, "c1"), connection(lab, "c2"), nowhere], "nodes": "all",
              "exclude_tags": ["noansible"]}
    path = write_inventory(tmp_path, "fleet.ganeti.yml", config)
    strict = write_inventory(tmp_path, "strict.ganeti.yml", dict(config, on_cluster_error="fail"))
    c2_url = lab.cluster("c2")["rapi_url"]

    lab.exec(lab.cluster("c2")["master"], [DAEMON_UTIL, "stop", "ganeti-rapi"])
    try:
        assert not rapi_answers(lab, "c2")
        proc = ansible_inventory(path)
        data = listed(proc)
        hostvars = data["_meta"]["hostvars"]
        # c1: instances and nodes as before
        assert WEB in hostvars and hostvars[WEB]["ganeti_cluster"] == "c1.lab"
        assert group_hosts(data, "ganeti_cluster_c1_lab") == {
            name for name, inst in instances["c1"].items() if "noansible" not in inst["tags"]}
        assert group_hosts(data, "ganeti_nodes_c1_lab") == set(c1["nodes"])
        assert group_hosts(data, "ganeti_masters") == {c1["master"]}
        # c2: nothing
        assert DB not in hostvars
        assert not set(lab.cluster("c2")["nodes"]) & set(hostvars)
        assert "ganeti_cluster_c2_lab" not in data and "ganeti_nodes_c2_lab" not in data
        # one warning per skipped cluster, naming it and the cause
        warnings = " ".join(proc.stderr.split())
        assert "reading the cluster at %s failed: Cannot connect to Ganeti RAPI at %s" % (c2_url, c2_url) in warnings
        assert "reading the cluster at https://%s:5080 failed: Cannot connect" % nowhere_ip in warnings
        assert warnings.count("skipping this cluster") == 2
        assert lab.rapi_password("c2") not in proc.stderr

        # strict: the source fails, naming the first cluster that could not be read
        proc = ansible_inventory(strict)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output
        assert c2_url in output and "on_cluster_error=fail" in output
    finally:
        start_rapi(lab, "c2")

    # c2 back: both clusters again
    both = write_inventory(tmp_path, "both.ganeti.yml", dict(config, clusters=config["clusters"][:2]))
    data = listed(ansible_inventory(both))
    assert DB in data["_meta"]["hostvars"] and WEB in data["_meta"]["hostvars"]
