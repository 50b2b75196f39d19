"""The ganeti.fleet.rapi inventory plugin, run by ansible-inventory against the lab's clusters.

Inventory files are written to a temporary directory and read with the
venv's ``ansible-inventory --list`` (through the ``auto`` plugin, as users
run it); what it prints is compared with the Ganeti command line, the ground
truth. Instances are named from the lab's pool (vm81.lab .. vm83.lab here)
and removed again at the end.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from fleetlab import helpers
from fleettest import _collections_path

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
