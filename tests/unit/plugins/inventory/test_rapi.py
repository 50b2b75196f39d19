# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the ganeti.fleet.rapi inventory plugin against the local fake RAPI.

The plugin is parsed from real inventory files (written to a temporary
directory) with ansible-core's own option handling: the plugin's
documentation is registered with the configuration manager as the plugin
loader would do it.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.ganeti.fleet.plugins.inventory import rapi as rapi_inventory
from ansible_collections.ganeti.fleet.plugins.inventory.rapi import InventoryModule, safe_group_part, tag_values
from ansible_collections.ganeti.fleet.tests.unit.plugins.test_connection_docs import CollectionFragments

NAME = "ganeti.fleet.rapi"
PASSWORD = "s3cret-Pa55"


def _instance(name, status="running", pnode="n1.example.org", tags=(), ips=("192.0.2.10",), **extra):
    """An instance as Ganeti 3.0 lists it in GET /2/instances?bulk=1."""
    data = {
        "name": name,
        "admin_state": "up" if status == "running" else "down",
        "admin_up": status == "running",
        "os": "debootstrap+default",
        "pnode": pnode,
        "snodes": [],
        "disk_template": "plain",
        "nic.ips": list(ips),
        "nic.macs": ["aa:00:00:%02x:00:01" % (len(name) % 256)],
        "nic.modes": ["bridged"],
        "nic.uuids": ["6b6a5ff6-0000-4000-8000-%012d" % len(name)],
        "nic.names": [None],
        "nic.links": ["br0"],
        "nic.networks": [None],
        "nic.networks.names": [None],
        "nic.bridges": ["br0"],
        "network_port": None,
        "disk.sizes": [1024],
        "disk.spindles": [None],
        "disk_usage": 1024,
        "disk.uuids": ["0d2c1bb4-0000-4000-8000-%012d" % len(name)],
        "disk.names": [None],
        "beparams": {"vcpus": 1, "maxmem": 512, "minmem": 512, "memory": 512,
                     "auto_balance": True, "always_failover": False, "spindle_use": 1},
        "hvparams": {"kernel_path": "", "boot_order": "disk"},
        "oper_state": status == "running",
        "oper_ram": 512 if status == "running" else None,
        "oper_vcpus": 1 if status == "running" else None,
        "status": status,
        "custom_hvparams": {},
        "custom_beparams": {"memory": 512},
        "custom_nicparams": [{}],
        "ctime": 1700000000.0,
        "mtime": 1700000100.0,
        "uuid": "1f9e3c0a-0000-4000-8000-%012d" % len(name),
        "serial_no": 3,
        "tags": list(tags),
    }
    data.update(extra)
    return data


WEB1 = _instance("web1.example.org", tags=["group:web", "owner:alice", "backup"])
WEB2 = _instance("web2.example.org", status="ADMIN_down", pnode="n2.example.org",
                 tags=["group:web", "group:frontend", "noansible-not"])
DB1 = _instance("db1.example.org", ips=(), tags=["group:db", "noansible"],
                snodes=["n2.example.org"], disk_template="drbd")


def _register_plugin_options():
    """Give ansible's configuration manager the plugin's options, as the plugin loader does."""
    if C.config.has_configuration_definition("inventory", NAME):
        return
    doc = yaml.safe_load(rapi_inventory.DOCUMENTATION)
    add_fragments(doc, rapi_inventory.__file__, fragment_loader=CollectionFragments())
    C.config.initialize_plugin_configuration_definitions("inventory", NAME, doc["options"])


def make_plugin():
    _register_plugin_options()
    plugin = InventoryModule()
    # what the plugin loader sets on the plugins it loads
    plugin._load_name = NAME
    plugin._redirected_names = [NAME]
    plugin.ansible_name = NAME
    return plugin


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("URL", "USER", "PASSWORD", "CA_PATH", "VALIDATE_CERTS", "VERIFY_HOSTNAME", "TIMEOUT"):
        monkeypatch.delenv("GANETI_RAPI_" + name, raising=False)
    for name in ("ANSIBLE_INVENTORY_CACHE", "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_INVENTORY_CACHE_PLUGIN",
                 "ANSIBLE_CACHE_PLUGIN_CONNECTION", "ANSIBLE_INVENTORY_CACHE_CONNECTION"):
        monkeypatch.delenv(name, raising=False)


def serve(fake, cluster_name, instances):
    fake.route("GET", "/2/info", (200, {"name": cluster_name, "software_version": "3.0.2"}))
    fake.route("GET", "/2/instances", (200, copy.deepcopy(instances)))


@pytest.fixture
def cluster(rapi, fake_rapi):
    """One fake cluster, cluster.example.org, with three instances; returns ``(fake, options)``."""
    serve(fake_rapi, "cluster.example.org", [WEB1, WEB2, DB1])
    return fake_rapi, rapi[1]


class Parsed:
    def __init__(self, plugin, inventory):
        self.plugin = plugin
        self.inventory = inventory

    @property
    def hosts(self):
        return sorted(self.inventory.hosts)

    def vars(self, host):
        return self.inventory.get_host(host).get_vars()

    def group(self, name):
        assert name in self.inventory.groups, "no group %s in %s" % (name, sorted(self.inventory.groups))
        return sorted(host.name for host in self.inventory.groups[name].get_hosts())


def parse(tmp_path, config, cache=True, file_name="test.ganeti.yml"):
    """Write CONFIG to an inventory file and parse it as ansible-inventory would."""
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(dict(config, plugin=NAME)))
    plugin = make_plugin()
    assert plugin.verify_file(str(path))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    if getattr(plugin, "_cache", None):
        plugin.update_cache_if_changed()  # what the inventory manager does after parse()
    inventory.reconcile_inventory()
    return Parsed(plugin, inventory)


def instance_requests(fake):
    return [req for req in fake.requests if req["path"] == "/2/instances"]


# ----------------------------------------------------------------------
# Helpers and file names


@pytest.mark.parametrize("file_name, accepted", [
    ("prod.ganeti.yml", True),
    ("ganeti.yaml", True),
    ("inventory/site_rapi.yml", True),
    ("rapi.yaml", True),
    ("hosts.yml", False),
    ("ganeti.yml.bak", False),
    ("ganeti.json", False),
])
def test_verify_file(tmp_path, file_name, accepted):
    path = tmp_path / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("plugin: %s\n" % NAME)
    assert make_plugin().verify_file(str(path)) is accepted


def test_verify_file_missing(tmp_path):
    assert make_plugin().verify_file(str(tmp_path / "absent.ganeti.yml")) is False


def test_tag_values_and_group_names():
    assert tag_values(["group:web", "owner:alice", "plain", ":novalue", "url:http://x:80", "empty:"]) == {
        "group": "web", "owner": "alice", "url": "http://x:80", "empty": ""}
    # the tag that sorts last wins
    assert tag_values(["group:web", "group:api"]) == {"group": "web"}
    assert tag_values(None) == {}
    assert safe_group_part("c1.Example-org") == "c1_example_org"
    assert safe_group_part("ADMIN_down") == "admin_down"


# ----------------------------------------------------------------------
# Hosts, variables and groups


def test_hosts_and_vars(tmp_path, cluster):
    fake, options = cluster
    result = parse(tmp_path, options)

    assert result.hosts == ["db1.example.org", "web1.example.org", "web2.example.org"]
    web1 = result.vars("web1.example.org")
    expected = {
        "ganeti_cluster": "cluster.example.org",
        "ganeti_rapi_url": options["rapi_url"],
        "ganeti_status": "running",
        "ganeti_admin_state": "up",
        "ganeti_oper_state": True,
        "ganeti_pnode": "n1.example.org",
        "ganeti_snodes": [],
        "ganeti_os": "debootstrap+default",
        "ganeti_disk_template": "plain",
        "ganeti_tags": ["backup", "group:web", "owner:alice"],
        "ganeti_tag_values": {"group": "web", "owner": "alice"},
        "ganeti_nic_macs": WEB1["nic.macs"],
        "ganeti_nic_ips": ["192.0.2.10"],
        "ganeti_nic_links": ["br0"],
        "ganeti_nic_networks": [None],
        "ganeti_disk_sizes": [1024],
        "ganeti_beparams": WEB1["beparams"],
        "ganeti_hvparams": WEB1["hvparams"],
        "ganeti_uuid": WEB1["uuid"],
    }
    for key, value in expected.items():
        assert web1[key] == value, key
    assert sorted(key for key in web1 if key.startswith("ganeti_")) == sorted(expected)
    assert "ansible_host" not in web1  # left to compose

    db1 = result.vars("db1.example.org")
    assert db1["ganeti_snodes"] == ["n2.example.org"]
    assert db1["ganeti_nic_ips"] == []
    assert result.vars("web2.example.org")["ganeti_tag_values"] == {"group": "web"}

    # one bulk query and the cluster info, nothing else
    assert [(req["method"], req["path"]) for req in fake.requests] == [("GET", "/2/info"), ("GET", "/2/instances")]
    assert instance_requests(fake)[0]["query"] == {"bulk": ["1"]}
    # the password is in no variable
    for host in result.hosts:
        assert PASSWORD not in repr(result.vars(host))


def test_default_groups(tmp_path, cluster):
    result = parse(tmp_path, cluster[1])
    assert result.group("ganeti_cluster_cluster_example_org") == [
        "db1.example.org", "web1.example.org", "web2.example.org"]
    assert result.group("ganeti_status_running") == ["db1.example.org", "web1.example.org"]
    assert result.group("ganeti_status_admin_down") == ["web2.example.org"]


def test_constructed_features(tmp_path, cluster):
    config = dict(cluster[1])
    config.update({
        "compose": {"ansible_host": "ganeti_nic_ips[0] | default(inventory_hostname, true)",
                    "memory_mib": "ganeti_beparams.memory"},
        "groups": {"mirrored": "ganeti_disk_template == 'drbd'",
                   "stopped": "ganeti_admin_state == 'down'"},
        "keyed_groups": [{"key": "ganeti_tag_values.group", "prefix": "tag"},
                         {"key": "ganeti_tag_values.owner", "prefix": "owner"},
                         {"key": "ganeti_pnode", "prefix": "node"}],
    })
    result = parse(tmp_path, config)

    assert result.vars("web1.example.org")["ansible_host"] == "192.0.2.10"
    assert result.vars("db1.example.org")["ansible_host"] == "db1.example.org"
    assert result.vars("web2.example.org")["memory_mib"] == 512
    assert result.group("mirrored") == ["db1.example.org"]
    assert result.group("stopped") == ["web2.example.org"]
    assert result.group("tag_web") == ["web1.example.org", "web2.example.org"]
    assert result.group("tag_db") == ["db1.example.org"]
    assert result.group("owner_alice") == ["web1.example.org"]
    assert result.group("node_n1_example_org") == ["db1.example.org", "web1.example.org"]
    assert "tag_frontend" not in result.inventory.groups  # group:web sorts after group:frontend


def test_rapi_data_is_never_templated(tmp_path, rapi, fake_rapi):
    evil = _instance("evil.example.org", tags=["{{ 6 * 7 }}", "group:{{ 6 * 7 }}"], os="{{ 6 * 7 }}")
    serve(fake_rapi, "cluster.example.org", [evil])
    config = dict(rapi[1], compose={"first_tag": "ganeti_tags[1]", "os_name": "ganeti_os"},
                  keyed_groups=[{"key": "ganeti_tag_values.group", "prefix": "tag"}])
    result = parse(tmp_path, config)
    hostvars = result.vars("evil.example.org")
    assert hostvars["first_tag"] == "{{ 6 * 7 }}"
    assert hostvars["os_name"] == "{{ 6 * 7 }}"
    assert hostvars["ganeti_tag_values"] == {"group": "{{ 6 * 7 }}"}
    assert "tag_42" not in result.inventory.groups


def test_strict_compose_error(tmp_path, cluster):
    config = dict(cluster[1], strict=True, compose={"ansible_host": "ganeti_nic_ips[0]"})
    with pytest.raises(AnsibleError, match="db1.example.org"):
        parse(tmp_path, config)


def test_exclude_tags(tmp_path, cluster):
    result = parse(tmp_path, dict(cluster[1], exclude_tags=["noansible", "unused"]))
    assert result.hosts == ["web1.example.org", "web2.example.org"]
    assert "db1.example.org" not in result.group("ganeti_cluster_cluster_example_org")


def test_empty_cluster(tmp_path, rapi, fake_rapi):
    serve(fake_rapi, "empty.example.org", [])
    result = parse(tmp_path, rapi[1])
    assert result.hosts == []
    assert result.group("ganeti_cluster_empty_example_org") == []


# ----------------------------------------------------------------------
# Where the connection comes from


def test_single_cluster_from_environment(tmp_path, cluster, monkeypatch):
    fake, options = cluster
    monkeypatch.setenv("GANETI_RAPI_URL", options["rapi_url"])
    monkeypatch.setenv("GANETI_RAPI_USER", "reader")
    monkeypatch.setenv("GANETI_RAPI_PASSWORD", "r3ad-only")
    monkeypatch.setenv("GANETI_RAPI_CA_PATH", options["ca_path"])
    monkeypatch.setenv("GANETI_RAPI_TIMEOUT", "5")
    result = parse(tmp_path, {})
    assert len(result.hosts) == 3
    assert result.plugin.get_option("timeout") == 5
    assert fake.requests[0]["headers"]["Authorization"].startswith("Basic ")


def test_templated_password_and_relative_ca(tmp_path, cluster, certs):
    fake, options = cluster
    (tmp_path / "ca.pem").write_bytes(open(certs.ca, "rb").read())
    config = {"clusters": [{"rapi_url": options["rapi_url"], "rapi_user": "admin",
                            "rapi_password": "{{ 's3cret' ~ '-Pa55' }}", "ca_path": "ca.pem"}]}
    result = parse(tmp_path, config)
    assert len(result.hosts) == 3


def test_two_clusters(tmp_path, rapi, fake_rapi, start_server, certs, monkeypatch):
    serve(fake_rapi, "one.example.org", [WEB1, WEB2])
    other = type(fake_rapi)()
    # web2 also on the second cluster (say, a stopped copy after a move)
    serve(other, "two.example.org", [DB1, _instance("web2.example.org", status="running", pnode="m1")])
    second = start_server(other)
    warnings = []
    config = {
        # top-level connection options are the defaults of every entry
        "rapi_user": "admin",
        "rapi_password": PASSWORD,
        "ca_path": certs.ca,
        "clusters": [{"rapi_url": rapi[0].url}, {"rapi_url": second.url, "timeout": 5}],
    }
    path = tmp_path / "fleet.ganeti.yml"
    path.write_text(yaml.safe_dump(dict(config, plugin=NAME)))
    plugin = make_plugin()
    monkeypatch.setattr(plugin.display, "warning", lambda msg, *args, **kwargs: warnings.append(msg))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path))
    result = Parsed(plugin, inventory)

    assert result.hosts == ["db1.example.org", "web1.example.org", "web2.example.org"]
    assert result.group("ganeti_cluster_one_example_org") == ["web1.example.org", "web2.example.org"]
    assert result.group("ganeti_cluster_two_example_org") == ["db1.example.org"]
    assert result.vars("db1.example.org")["ganeti_cluster"] == "two.example.org"
    assert result.vars("db1.example.org")["ganeti_rapi_url"] == second.url
    # the first cluster listing a name keeps it
    assert result.vars("web2.example.org")["ganeti_cluster"] == "one.example.org"
    assert result.vars("web2.example.org")["ganeti_pnode"] == "n2.example.org"
    assert result.group("ganeti_status_admin_down") == ["web2.example.org"]
    assert result.group("ganeti_status_running") == ["db1.example.org", "web1.example.org"]
    assert len(warnings) == 1
    assert "web2.example.org" in warnings[0] and "two.example.org" in warnings[0]
    assert len(instance_requests(fake_rapi)) == 1 and len(instance_requests(other)) == 1


def test_clusters_ignore_top_level_url(tmp_path, cluster, monkeypatch, free_port):
    fake, options = cluster
    monkeypatch.setenv("GANETI_RAPI_URL", "https://127.0.0.1:%d" % free_port)
    config = {"rapi_user": "admin", "rapi_password": PASSWORD, "ca_path": options["ca_path"],
              "clusters": [{"rapi_url": options["rapi_url"]}]}
    assert len(parse(tmp_path, config).hosts) == 3


# ----------------------------------------------------------------------
# Cache


def cached_config(options, tmp_path):
    return dict(options, cache=True, cache_plugin="jsonfile",
                cache_connection=str(tmp_path / "cache"), cache_timeout=600)


def test_cache_hit_and_refresh(tmp_path, cluster):
    fake, options = cluster
    config = cached_config(options, tmp_path)

    first = parse(tmp_path, config)
    assert len(instance_requests(fake)) == 1
    cache_files = list((tmp_path / "cache").iterdir())
    assert len(cache_files) == 1
    assert PASSWORD not in cache_files[0].read_text()

    # a new run (new plugin object) reads the cache: no HTTP request at all
    count = len(fake.requests)
    second = parse(tmp_path, config)
    assert len(fake.requests) == count
    assert second.hosts == first.hosts
    assert second.vars("web1.example.org")["ganeti_tag_values"] == {"group": "web", "owner": "alice"}
    assert second.group("ganeti_status_admin_down") == ["web2.example.org"]

    # a refresh (--flush-cache, meta: refresh_inventory) reads RAPI again and updates the cache
    serve(fake, "cluster.example.org", [WEB1])
    third = parse(tmp_path, config, cache=False)
    assert len(instance_requests(fake)) == 2
    assert third.hosts == ["web1.example.org"]
    assert parse(tmp_path, config).hosts == ["web1.example.org"]
    assert len(instance_requests(fake)) == 2


def test_cache_is_per_cluster_url(tmp_path, rapi, fake_rapi, start_server, certs):
    serve(fake_rapi, "one.example.org", [WEB1])
    other = type(fake_rapi)()
    serve(other, "two.example.org", [DB1])
    second = start_server(other)
    base = cached_config({"rapi_user": "admin", "rapi_password": PASSWORD, "ca_path": certs.ca}, tmp_path)

    parse(tmp_path, dict(base, rapi_url=rapi[0].url))
    # a second source with both clusters: only the new one is read
    result = parse(tmp_path, dict(base, clusters=[{"rapi_url": rapi[0].url}, {"rapi_url": second.url}]),
                   file_name="fleet.ganeti.yml")
    assert result.hosts == ["db1.example.org", "web1.example.org"]
    assert len(instance_requests(fake_rapi)) == 1
    assert len(instance_requests(other)) == 1


def test_cache_off_reads_every_time(tmp_path, cluster):
    fake, options = cluster
    parse(tmp_path, options)
    parse(tmp_path, options)
    assert len(instance_requests(fake)) == 2


# ----------------------------------------------------------------------
# Errors


def test_wrong_password(tmp_path, cluster):
    fake, options = cluster
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, dict(options, rapi_password="wrong-one"))
    message = str(err.value)
    assert options["rapi_url"] in message
    assert "Authentication as RAPI user 'admin' failed" in message
    assert "HTTP 401" in message
    assert "wrong-one" not in message
    assert instance_requests(fake) == []


def test_tls_error(tmp_path, cluster, certs):
    fake, options = cluster
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, dict(options, ca_path=certs.other_ca))
    message = str(err.value)
    assert options["rapi_url"] in message
    assert "TLS verification" in message


def test_error_names_failing_cluster(tmp_path, rapi, fake_rapi, start_server, certs):
    serve(fake_rapi, "one.example.org", [WEB1])
    other = type(fake_rapi)()
    other.route("GET", "/2/info", (200, {"name": "two.example.org"}))
    other.route("GET", "/2/instances", (500, {"code": 500, "message": "Internal error", "explain": ""}))
    second = start_server(other)
    second_url = second.url
    config = {"rapi_user": "admin", "rapi_password": PASSWORD, "ca_path": certs.ca,
              "clusters": [{"rapi_url": rapi[0].url}, {"rapi_url": second_url}]}
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, config)
    assert second_url in str(err.value)
    assert "HTTP 500" in str(err.value)


@pytest.mark.parametrize("config, expected", [
    ({}, "no cluster given"),
    ({"clusters": [{"rapi_user": "x"}]}, "clusters[0] has no rapi_url"),
    ({"clusters": [{"rapi_url": "https://a", "password": "x"}]}, "unknown option(s) password"),
    ({"clusters": ["https://a"]}, "clusters[0] must be a dictionary"),
    ({"clusters": [{"rapi_url": "https://a", "validate_certs": "maybe"}]}, "validate_certs must be a boolean"),
    ({"clusters": [{"rapi_url": "https://a", "timeout": "soon"}]}, "timeout must be an integer"),
    ({"rapi_url": "ftp://cluster.example.org"}, "Unsupported RAPI URL scheme"),
])
def test_configuration_errors(tmp_path, config, expected):
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, config)
    assert expected in str(err.value)


def test_wrong_plugin_name(tmp_path):
    path = tmp_path / "other.ganeti.yml"
    path.write_text("plugin: some.other.plugin\nrapi_url: https://a\n")
    with pytest.raises(AnsibleParserError, match="Incorrect plugin name"):
        make_plugin().parse(InventoryData(), DataLoader(), str(path))
