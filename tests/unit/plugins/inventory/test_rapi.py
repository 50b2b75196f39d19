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
from ansible_collections.ganeti.fleet.plugins.module_utils import _inventory
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
        "ganeti_uuid": WEB1["uuid"],
    }
    for key, value in expected.items():
        assert web1[key] == value, key
    assert sorted(key for key in web1 if key.startswith("ganeti_")) == sorted(expected)
    assert "ansible_host" not in web1  # left to compose
    assert "ganeti_hvparams" not in web1  # hvparams: false by default

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
    # a number from ansible-core 2.19 on, its text before (compose results are not native there)
    assert str(result.vars("web2.example.org")["memory_mib"]) == "512"
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


def _ca_paths_used(monkeypatch):
    """The ca_path of every RAPI client the plugin makes, in order."""
    used = []
    original = rapi_inventory.RapiClient.from_options

    def recording(options, **kwargs):
        used.append(options.get("ca_path"))
        return original(options, **kwargs)
    monkeypatch.setattr(rapi_inventory.RapiClient, "from_options", staticmethod(recording))
    return used


def test_blank_ca_path_from_environment_is_the_default_trust(tmp_path, cluster, monkeypatch):
    # AWX injects GANETI_RAPI_CA_PATH="" for an empty CA field; Ansible would
    # make that the current directory, a directory of CA certificates to requests.
    fake, options = cluster
    monkeypatch.setenv("GANETI_RAPI_URL", options["rapi_url"])
    monkeypatch.setenv("GANETI_RAPI_CA_PATH", "")
    monkeypatch.chdir(tmp_path)
    used = _ca_paths_used(monkeypatch)
    with pytest.raises(AnsibleParserError, match="(?i)certificate"):
        # the default trust does not know the test CA: the cluster is refused
        parse(tmp_path, {"rapi_user": "admin", "rapi_password": PASSWORD})
    assert used == [None]
    assert fake.requests == []


def test_blank_ca_file_and_empty_template_are_the_default_trust(tmp_path, rapi, fake_rapi, certs, monkeypatch):
    serve(fake_rapi, "one.example.org", [WEB1])
    (tmp_path / "blank.pem").write_text("\n  \n")
    config = {"rapi_user": "admin", "rapi_password": PASSWORD, "on_cluster_error": "warn",
              "clusters": [{"rapi_url": rapi[0].url, "ca_path": "blank.pem"},
                           {"rapi_url": rapi[0].url, "ca_path": "{{ '' }}"},
                           {"rapi_url": rapi[0].url, "ca_path": certs.ca}]}
    used = _ca_paths_used(monkeypatch)
    result, warnings = parse_with_warnings(tmp_path, config, monkeypatch)
    assert used == [None, None, certs.ca]
    # the two clusters without a CA file are skipped (the test CA is not in the default trust)
    assert len([w for w in warnings if "skipping this cluster" in w]) == 2, warnings
    assert result.hosts == ["web1.example.org"]


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


def test_wrong_password(tmp_path, cluster, monkeypatch):
    fake, options = cluster
    warnings = []
    with pytest.raises(AnsibleParserError) as err:
        # one cluster only: the source fails (there is nothing to go on with), no warning first
        parse_with_warnings(tmp_path, dict(options, rapi_password="wrong-one"), monkeypatch, warnings=warnings)
    assert warnings == []
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


# ----------------------------------------------------------------------
# hvparams, filters


def parse_with_warnings(tmp_path, config, monkeypatch, file_name="test.ganeti.yml", warnings=None):
    """Like parse(), also returning the warnings the plugin gave (collected in WARNINGS)."""
    warnings = [] if warnings is None else warnings
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(dict(config, plugin=NAME)))
    plugin = make_plugin()
    monkeypatch.setattr(plugin.display, "warning", lambda msg, *args, **kwargs: warnings.append(msg))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path))
    inventory.reconcile_inventory()
    return Parsed(plugin, inventory), warnings


def test_hvparams_on_request(tmp_path, cluster):
    result = parse(tmp_path, dict(cluster[1], hvparams=True, compose={"boot": "ganeti_hvparams.boot_order"}))
    assert result.vars("web1.example.org")["ganeti_hvparams"] == WEB1["hvparams"]
    assert result.vars("web1.example.org")["boot"] == "disk"


@pytest.mark.parametrize("filters, expected", [
    ({"include_instances": ["web*"]}, ["web1.example.org", "web2.example.org"]),
    ({"include_instances": ["web?.example.org", "db1.example.org"]},
     ["db1.example.org", "web1.example.org", "web2.example.org"]),
    ({"include_instances": ["WEB*"]}, []),  # case-sensitive, as Ganeti's names
    ({"exclude_instances": ["*2.example.org"]}, ["db1.example.org", "web1.example.org"]),
    ({"include_instances": ["web*"], "exclude_instances": ["web2.*"]}, ["web1.example.org"]),
    ({"include_tags": ["group:web"]}, ["web1.example.org", "web2.example.org"]),
    ({"include_tags": ["owner:alice", "group:db"]}, ["db1.example.org", "web1.example.org"]),
    ({"include_tags": ["group:*"]}, []),  # tags are compared exactly
    ({"include_tags": ["group:web"], "exclude_tags": ["backup"]}, ["web2.example.org"]),
    ({"include_clusters": ["cluster.*"]}, ["db1.example.org", "web1.example.org", "web2.example.org"]),
    ({"include_clusters": ["other*"]}, []),
    ({"exclude_clusters": ["*.example.org"]}, []),
])
def test_filters(tmp_path, cluster, filters, expected):
    fake, options = cluster
    result = parse(tmp_path, dict(options, **filters))
    assert result.hosts == expected
    if "clusters" in "".join(filters) and not expected:
        # a cluster filtered out costs /2/info only
        assert [req["path"] for req in fake.requests] == ["/2/info"]


def test_filters_in_groups_and_vvv(tmp_path, cluster, monkeypatch):
    messages = []
    plugin_display = make_plugin().display
    monkeypatch.setattr(plugin_display, "vvv", lambda msg, *args, **kwargs: messages.append(msg))
    result = parse(tmp_path, dict(cluster[1], exclude_instances=["db*"], include_tags=["group:web", "group:db"]))
    assert result.group("ganeti_cluster_cluster_example_org") == ["web1.example.org", "web2.example.org"]
    assert result.group("ganeti_status_running") == ["web1.example.org"]
    assert any("db1.example.org" in msg and "exclude_instances" in msg for msg in messages)


# ----------------------------------------------------------------------
# Masters and nodes


def _node(name, pip, role="R", **extra):
    """A node as Ganeti 3.0 lists it in GET /2/nodes?bulk=1."""
    data = {"name": name, "offline": role == "O", "master_candidate": role in ("M", "C"), "drained": role == "D",
            "dtotal": 100000, "dfree": 50000, "mtotal": 4096, "mnode": 512, "mfree": 2048,
            "pinst_cnt": 1, "sinst_cnt": 0, "ctotal": 4, "cnodes": 1, "csockets": 1,
            "pip": pip, "sip": pip.replace("192.0.2.", "198.51.100."), "role": role,
            "pinst_list": ["web1.example.org"], "sinst_list": [], "master_capable": True, "vm_capable": True,
            "ndparams": {"ssh_port": 22}, "group.uuid": "8a1c0e42-0000-4000-8000-000000000001",
            "ctime": 1700000000.0, "mtime": 1700000100.0, "uuid": "c0ffee00-0000-4000-8000-%012d" % len(name),
            "serial_no": 7, "tags": ["rack:r1"]}
    data.update(extra)
    return data


NODES = [_node("n1.example.org", "192.0.2.1", role="M"), _node("n2.example.org", "192.0.2.2", role="C"),
         _node("n3.example.org", "192.0.2.3", role="O", tags=[])]


def serve_nodes(fake, cluster_name, nodes, master="n1.example.org"):
    fake.route("GET", "/2/info", (200, {"name": cluster_name, "master": master, "software_version": "3.0.2"}))
    fake.route("GET", "/2/nodes", (200, copy.deepcopy(nodes)))


def group_vars(result, group):
    assert group in result.inventory.groups, sorted(result.inventory.groups)
    return result.inventory.groups[group].get_vars()


def test_nodes_all(tmp_path, cluster):
    fake, options = cluster
    serve_nodes(fake, "cluster.example.org", NODES)
    compose = {"ansible_host": "ganeti_nic_ips | select | first | default(inventory_hostname)"}
    config = dict(options, nodes="all", compose=compose)
    result = parse(tmp_path, config)

    assert result.hosts == ["db1.example.org", "n1.example.org", "n2.example.org", "n3.example.org",
                            "web1.example.org", "web2.example.org"]
    assert result.group("ganeti_nodes") == ["n1.example.org", "n2.example.org", "n3.example.org"]
    assert result.group("ganeti_nodes_cluster_example_org") == ["n1.example.org", "n2.example.org",
                                                                "n3.example.org"]
    assert "ganeti_nodes_cluster_example_org" in [g.name for g in result.inventory.groups["ganeti_nodes"].child_groups]
    assert result.group("ganeti_masters") == ["n1.example.org"]
    assert result.group("ganeti_node_role_master") == ["n1.example.org"]
    assert result.group("ganeti_node_role_master_candidate") == ["n2.example.org"]
    assert result.group("ganeti_node_role_offline") == ["n3.example.org"]
    # instances stay apart from the nodes
    assert result.group("ganeti_cluster_cluster_example_org") == ["db1.example.org", "web1.example.org",
                                                                  "web2.example.org"]

    n1 = result.vars("n1.example.org")
    assert {key: value for key, value in n1.items() if key.startswith(("ganeti_", "ansible_"))} == {
        "ansible_host": "192.0.2.1",  # the primary IP, not the compose expression of instances
        "ganeti_cluster": "cluster.example.org",
        "ganeti_node_role": "master",
        "ganeti_node_primary_ip": "192.0.2.1",
        "ganeti_node_secondary_ip": "198.51.100.1",
        "ganeti_node_offline": False,
        "ganeti_node_drained": False,
        "ganeti_node_master_candidate": True,
        "ganeti_node_master_capable": True,
        "ganeti_node_vm_capable": True,
        "ganeti_node_tags": ["rack:r1"],
        "ganeti_uuid": NODES[0]["uuid"],
    }
    assert result.vars("n3.example.org")["ganeti_node_offline"] is True
    assert result.vars("web1.example.org")["ansible_host"] == "192.0.2.10"

    # the roles' connection convention, as group variables of the cluster's node group
    assert group_vars(result, "ganeti_nodes_cluster_example_org") == {
        "ganeti_cluster_name": "cluster.example.org",
        "ganeti_cluster_master": "n1.example.org",
        "ganeti_rapi_url": options["rapi_url"],
        "ganeti_rapi_ca_path": options["ca_path"],
        "ganeti_rapi_validate_certs": True,
        "ganeti_rapi_verify_hostname": True,
    }
    # never a user or a password
    for name in result.hosts:
        assert PASSWORD not in repr(result.vars(name))
        assert "ganeti_rapi_user" not in result.vars(name) and "ganeti_rapi_password" not in result.vars(name)
    for group in result.inventory.groups.values():
        assert PASSWORD not in repr(group.get_vars())
    assert [(req["path"], req["query"]) for req in fake.requests] == [
        ("/2/info", {}), ("/2/instances", {"bulk": ["1"]}), ("/2/nodes", {"bulk": ["1"]})]


def test_masters_only_without_instances(tmp_path, cluster):
    fake, options = cluster
    serve_nodes(fake, "cluster.example.org", NODES)
    result = parse(tmp_path, dict(options, nodes="masters", instances=False, verify_hostname=False))
    assert result.hosts == ["n1.example.org"]
    assert result.group("ganeti_masters") == ["n1.example.org"]
    assert result.group("ganeti_nodes") == ["n1.example.org"]
    assert group_vars(result, "ganeti_nodes_cluster_example_org")["ganeti_rapi_verify_hostname"] is False
    # no instance read at all
    assert [req["path"] for req in fake.requests] == ["/2/info", "/2/nodes"]


def test_nodes_of_two_clusters(tmp_path, rapi, fake_rapi, start_server, certs, monkeypatch):
    serve(fake_rapi, "one.example.org", [WEB1])
    serve_nodes(fake_rapi, "one.example.org", NODES[:2])
    other = type(fake_rapi)()
    serve(other, "two.example.org", [DB1])
    # n2 is on both (a badly copied source file, say); m1 is the second cluster's master
    serve_nodes(other, "two.example.org", [_node("m1.example.org", "192.0.2.11", role="M"),
                                           _node("n2.example.org", "192.0.2.12")], master="m1.example.org")
    second = start_server(other)
    config = {"rapi_user": "admin", "rapi_password": PASSWORD, "ca_path": certs.ca, "nodes": "all",
              "clusters": [{"rapi_url": rapi[0].url}, {"rapi_url": second.url}]}
    result, warnings = parse_with_warnings(tmp_path, config, monkeypatch)
    assert result.group("ganeti_masters") == ["m1.example.org", "n1.example.org"]
    assert result.group("ganeti_nodes") == ["m1.example.org", "n1.example.org", "n2.example.org"]
    assert result.group("ganeti_nodes_two_example_org") == ["m1.example.org"]
    assert result.vars("n2.example.org")["ganeti_cluster"] == "one.example.org"
    assert result.vars("n2.example.org")["ansible_host"] == "192.0.2.2"
    assert group_vars(result, "ganeti_nodes_two_example_org")["ganeti_rapi_url"] == second.url
    assert group_vars(result, "ganeti_nodes_two_example_org")["ganeti_cluster_master"] == "m1.example.org"
    assert len(warnings) == 1 and "n2.example.org" in warnings[0] and "two.example.org" in warnings[0]


def test_nodes_cached(tmp_path, cluster):
    fake, options = cluster
    serve_nodes(fake, "cluster.example.org", NODES)
    config = cached_config(options, tmp_path)
    # a cache entry without nodes does not serve a source that wants them
    parse(tmp_path, config)
    assert [req["path"] for req in fake.requests] == ["/2/info", "/2/instances"]
    first = parse(tmp_path, dict(config, nodes="all"))
    assert [req["path"] for req in fake.requests][2:] == ["/2/info", "/2/instances", "/2/nodes"]
    count = len(fake.requests)
    second = parse(tmp_path, dict(config, nodes="all"))
    assert len(fake.requests) == count
    assert second.hosts == first.hosts
    assert second.group("ganeti_masters") == ["n1.example.org"]
    assert second.vars("n2.example.org")["ansible_host"] == "192.0.2.2"
    assert group_vars(second, "ganeti_nodes_cluster_example_org")["ganeti_cluster_master"] == "n1.example.org"


def test_node_named_like_an_instance(tmp_path, cluster, monkeypatch):
    fake, options = cluster
    serve_nodes(fake, "cluster.example.org", NODES + [_node("web1.example.org", "192.0.2.9")])
    result, warnings = parse_with_warnings(tmp_path, dict(options, nodes="all"), monkeypatch)
    assert "web1.example.org" not in result.group("ganeti_nodes")
    assert result.vars("web1.example.org")["ganeti_status"] == "running"
    assert len(warnings) == 1 and "node web1.example.org" in warnings[0]


# ----------------------------------------------------------------------
# A cluster that cannot be read


def _two_clusters(rapi, certs, second_url, **extra):
    return dict({"rapi_user": "admin", "rapi_password": PASSWORD, "ca_path": certs.ca,
                 "clusters": [{"rapi_url": rapi[0].url}, {"rapi_url": second_url}]}, **extra)


def test_failed_cluster_skipped_with_warning(tmp_path, rapi, fake_rapi, start_server, certs, monkeypatch):
    serve(fake_rapi, "one.example.org", [WEB1])
    other = type(fake_rapi)()
    other.route("GET", "/2/info", (200, {"name": "two.example.org"}))
    other.route("GET", "/2/instances", (500, {"code": 500, "message": "Internal error", "explain": ""}))
    second = start_server(other)
    result, warnings = parse_with_warnings(tmp_path, _two_clusters(rapi, certs, second.url), monkeypatch)
    assert result.hosts == ["web1.example.org"]
    assert result.group("ganeti_cluster_one_example_org") == ["web1.example.org"]
    assert "ganeti_cluster_two_example_org" not in result.inventory.groups
    assert len(warnings) == 1
    assert second.url in warnings[0] and "HTTP 500" in warnings[0] and "skipping" in warnings[0]


def test_failed_cluster_strict(tmp_path, rapi, fake_rapi, start_server, certs):
    serve(fake_rapi, "one.example.org", [WEB1])
    other = type(fake_rapi)()
    other.route("GET", "/2/info", (200, {"name": "two.example.org"}))
    other.route("GET", "/2/instances", (500, {"code": 500, "message": "Internal error", "explain": ""}))
    second = start_server(other)
    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, _two_clusters(rapi, certs, second.url, on_cluster_error="fail"))
    assert second.url in str(err.value)
    assert "HTTP 500" in str(err.value)
    assert "on_cluster_error=fail" in str(err.value)


@pytest.mark.parametrize("fault", ["unreachable", "password", "tls"])
def test_each_kind_of_failed_cluster(tmp_path, rapi, fake_rapi, start_server, certs, free_port, monkeypatch, fault):
    serve(fake_rapi, "one.example.org", [WEB1])
    other = type(fake_rapi)()
    serve(other, "two.example.org", [DB1])
    config = _two_clusters(rapi, certs, start_server(other).url)
    if fault == "unreachable":
        bad_url = "https://127.0.0.1:%d" % free_port
        config["clusters"][1]["rapi_url"] = bad_url
        cause = "Cannot connect to Ganeti RAPI"
    elif fault == "password":
        bad_url = config["clusters"][1]["rapi_url"]
        config["clusters"][1]["rapi_password"] = "wrong-one"
        cause = "HTTP 401"
    else:
        bad_url = config["clusters"][1]["rapi_url"]
        config["clusters"][1]["ca_path"] = certs.other_ca
        cause = "TLS verification"
    result, warnings = parse_with_warnings(tmp_path, config, monkeypatch)
    assert result.hosts == ["web1.example.org"]
    assert len(warnings) == 1, warnings
    assert bad_url in warnings[0] and cause in warnings[0]
    assert "wrong-one" not in warnings[0] and PASSWORD not in warnings[0]

    with pytest.raises(AnsibleParserError) as err:
        parse(tmp_path, dict(config, on_cluster_error="fail"), file_name="strict.ganeti.yml")
    assert bad_url in str(err.value) and cause in str(err.value)


def test_every_cluster_failed(tmp_path, rapi, fake_rapi, certs, free_port, monkeypatch):
    config = _two_clusters(rapi, certs, "https://127.0.0.1:%d" % free_port)
    config["clusters"][0]["rapi_password"] = "wrong-one"
    warnings = []
    with pytest.raises(AnsibleParserError) as err:
        parse_with_warnings(tmp_path, config, monkeypatch, warnings=warnings)
    assert len(warnings) == 2
    message = str(err.value)
    assert "no cluster of the source could be read" in message
    assert "HTTP 401" in message and "127.0.0.1:%d" % free_port in message


def test_configuration_error_fails_even_with_warn(tmp_path, rapi, fake_rapi, certs):
    serve(fake_rapi, "one.example.org", [WEB1])
    with pytest.raises(AnsibleParserError, match="Unsupported RAPI URL scheme"):
        parse(tmp_path, _two_clusters(rapi, certs, "ftp://two.example.org"))


# ----------------------------------------------------------------------
# The parsing helpers


def test_name_filter_and_instance_filter():
    names = _inventory.NameFilter(["web*", "db[12].example.org"], ["*.test"])
    assert names("web1.example.org") and names("db2.example.org")
    assert not names("db3.example.org") and not names("web1.test") and not names("mail.example.org")
    assert _inventory.NameFilter()("anything") and not _inventory.NameFilter().active
    assert _inventory.NameFilter(exclude=["a*"])("b") and not _inventory.NameFilter(exclude=["a*"])("ab")
    instances = _inventory.InstanceFilter(include_tags=["x"], exclude_tags=["y"])
    assert instances.reason_to_skip("a", ["x"]) is None
    assert "include_tags" in instances.reason_to_skip("a", ["z"])
    assert "exclude_tags" in instances.reason_to_skip("a", ["x", "y"])


def test_node_role_and_kept_fields():
    assert _inventory.node_role({"name": "n1", "role": "C"}, master="n1") == "master"
    assert [_inventory.node_role(dict(node, name="x"), master="n1") for node in NODES] == [
        "master", "master-candidate", "offline"]
    assert _inventory.node_role({"name": "x", "drained": True}, master=None) == "drained"
    assert _inventory.node_role({"name": "x"}, master=None) == "regular"
    kept = _inventory.kept_fields([{"name": "a", "pip": "1", "junk": 1}, {"pip": "2"}, "x"], ("name", "pip"))
    assert kept == [{"name": "a", "pip": "1"}]
    assert _inventory.kept_fields({"not": "a list"}, ("name",)) is None
    assert _inventory.cluster_name({}, "https://c1.example.org:5080") == "c1.example.org"
    assert _inventory.nodes_to_add(NODES, "n1.example.org", "none") == []
