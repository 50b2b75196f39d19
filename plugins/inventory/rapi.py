# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rapi
short_description: Ganeti instances as inventory hosts, read through RAPI
version_added: 0.1.0
author: ganeti.fleet maintainers (@ganeti-fleet)
description:
  - Adds the instances of one or more Ganeti clusters to the inventory, one host per instance,
    named by the instance's full name.
  - Each cluster is read with one bulk request (C(GET /2/instances?bulk=1)), plus C(GET /2/info)
    for the cluster name. A user without C(write) access is enough.
  - Every host gets variables prefixed C(ganeti_) (listed in the notes below), and is put into the groups
    C(ganeti_cluster_<cluster>) and C(ganeti_status_<status>).
    The cluster name and the status are lower-cased, and every character other than letters, digits and
    C(_) becomes C(_), for example C(ganeti_cluster_c1_example_org) and C(ganeti_status_admin_down).
  - Further variables and groups come from O(compose), O(groups) and O(keyed_groups).
  - "The inventory source must be a YAML file whose name ends in C(ganeti.yml), C(ganeti.yaml),
    C(rapi.yml) or C(rapi.yaml), for example C(inventory/prod.ganeti.yml), with C(plugin: ganeti.fleet.rapi)."
extends_documentation_fragment:
  # first, so that its entries (environment variables; rapi_url not required) win
  - ganeti.fleet.rapi.plugins
  - ganeti.fleet.rapi
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a source for this plugin.
    type: str
    required: true
    choices:
      - ganeti.fleet.rapi
  clusters:
    description:
      - Several clusters in one inventory source, each given by its own connection options.
      - Without it, the source reads the one cluster of O(rapi_url), which is then required.
      - When set, O(rapi_url) is ignored, and the other top-level connection options (and so their
        environment variables) are the defaults for every entry.
      - An instance name found on more than one cluster is added once, from the first cluster listing
        it, with a warning.
    type: list
    elements: dict
    suboptions:
      rapi_url:
        description: URL of the cluster's remote API, as O(rapi_url).
        type: str
        required: true
      rapi_user:
        description: RAPI user name, as O(rapi_user).
        type: str
      rapi_password:
        description: Password of the RAPI user, as O(rapi_password).
        type: str
      ca_path:
        description: CA file, as O(ca_path). A relative path is relative to the inventory file.
        type: path
      validate_certs:
        description: Verify the TLS certificate, as O(validate_certs).
        type: bool
      verify_hostname:
        description: Check the certificate's host name, as O(verify_hostname).
        type: bool
      timeout:
        description: Timeout for each HTTP request, as O(timeout).
        type: int
      allow_plain_http:
        description: Accept an C(http://) URL, as O(allow_plain_http).
        type: bool
  exclude_tags:
    description:
      - Instances with any of these tags are not added to the inventory, for example V(noansible).
      - Tags are compared exactly (C(owner:bob) excludes only that tag, not every C(owner:) tag).
    type: list
    elements: str
    default: []
notes:
  - "Host variables: C(ganeti_cluster) (cluster name), C(ganeti_rapi_url), C(ganeti_status), C(ganeti_admin_state),
    C(ganeti_oper_state), C(ganeti_pnode), C(ganeti_snodes), C(ganeti_os), C(ganeti_disk_template),
    C(ganeti_tags) (sorted list), C(ganeti_tag_values), C(ganeti_nic_macs), C(ganeti_nic_ips), C(ganeti_nic_links),
    C(ganeti_nic_networks), C(ganeti_disk_sizes) (MiB), C(ganeti_beparams), C(ganeti_hvparams) and C(ganeti_uuid).
    Values are as RAPI returns them."
  - C(ganeti_tag_values) is a dictionary of the instance's C(key:value) tags (split at the first colon);
    tags without a colon are left out. When a key appears more than once, the value of the tag that sorts last wins.
  - C(ansible_host) is not set; set it with O(compose), for example from C(ganeti_nic_ips[0]).
  - The values read from RAPI are marked unsafe, so they are never templated; a tag holding a Jinja2
    expression stays text. C(ansible-inventory --list) therefore prints them with C(__ansible_unsafe) markers.
  - "With O(cache=true) the RAPI answers are cached per cluster URL; C(--flush-cache) or
    C(meta: refresh_inventory) reads the clusters again."
  - Errors (connection, TLS, authentication) stop the source with a message naming the cluster URL and the cause.
  - O(rapi_url), O(rapi_user), O(rapi_password) and O(ca_path), at the top level and in O(clusters), may be
    Jinja2 templates (for example a lookup); O(rapi_password) may be a vaulted string.
"""

EXAMPLES = r"""
# prod.ganeti.yml: one cluster, the connection from the environment
# (GANETI_RAPI_URL, GANETI_RAPI_USER, GANETI_RAPI_PASSWORD, GANETI_RAPI_CA_PATH)
plugin: ganeti.fleet.rapi
compose:
  # the first IP address of the instance's NICs, else its name
  ansible_host: ganeti_nic_ips | select | first | default(inventory_hostname)

---
# fleet.ganeti.yml: several clusters; entries inherit the top-level options they do not set
plugin: ganeti.fleet.rapi
rapi_user: inventory
rapi_password: "{{ lookup('ansible.builtin.env', 'FLEET_RAPI_PASSWORD') }}"
clusters:
  - rapi_url: https://old.example.org:5080
    ca_path: /etc/ganeti-fleet/old-rapi.pem
  - rapi_url: https://new.example.org:5080
    ca_path: /etc/ganeti-fleet/new-rapi.pem
    verify_hostname: false   # still on Ganeti's stock ganeti.example.com certificate
exclude_tags:
  - noansible

---
# tagged.ganeti.yml: groups from key:value tags; an instance tagged group:web and
# owner:alice lands in the groups tag_web and owner_alice
plugin: ganeti.fleet.rapi
keyed_groups:
  - key: ganeti_tag_values.group
    prefix: tag
  - key: ganeti_tag_values.owner
    prefix: owner
  - key: ganeti_pnode
    prefix: node
groups:
  stopped: ganeti_admin_state == 'down'
  mirrored: ganeti_disk_template in ['drbd', 'rbd', 'sharedfile']
compose:
  ansible_host: ganeti_nic_ips | select | first | default(inventory_hostname)

---
# cached.ganeti.yml: keep the RAPI answers for an hour (--flush-cache reads again)
plugin: ganeti.fleet.rapi
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ganeti-fleet-inventory
cache_timeout: 3600
"""

import os
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    DEFAULT_TIMEOUT,
    RAPI_OPTION_NAMES,
    ignored_environment_warnings,
    insecure_warnings,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import RapiClient

#: File name endings accepted by :meth:`InventoryModule.verify_file`.
FILE_ENDINGS = ("ganeti.yml", "ganeti.yaml", "rapi.yml", "rapi.yaml")

#: Options that may be Jinja2 templates (and, as strings, vaulted values).
_TEMPLATED_OPTIONS = ("rapi_url", "rapi_user", "rapi_password", "ca_path")

#: Instance fields kept from the bulk answer (and in the cache).
INSTANCE_FIELDS = ("name", "status", "admin_state", "oper_state", "pnode", "snodes", "os",
                   "disk_template", "tags", "nic.macs", "nic.ips", "nic.links", "nic.networks",
                   "disk.sizes", "beparams", "hvparams", "uuid")

#: Host variable (without the ``ganeti_`` prefix) -> RAPI field.
HOST_VARS = (
    ("status", "status"),
    ("admin_state", "admin_state"),
    ("oper_state", "oper_state"),
    ("pnode", "pnode"),
    ("snodes", "snodes"),
    ("os", "os"),
    ("disk_template", "disk_template"),
    ("nic_macs", "nic.macs"),
    ("nic_ips", "nic.ips"),
    ("nic_links", "nic.links"),
    ("nic_networks", "nic.networks"),
    ("disk_sizes", "disk.sizes"),
    ("beparams", "beparams"),
    ("hvparams", "hvparams"),
    ("uuid", "uuid"),
)

_UNSAFE_GROUP_CHARS = re.compile(r"[^a-z0-9_]")


def safe_group_part(text):
    """Lower-case TEXT and replace every character but letters, digits and ``_`` by ``_``."""
    return _UNSAFE_GROUP_CHARS.sub("_", to_text(text).lower())


def tag_values(tags):
    """Parse ``key:value`` tags into a dictionary (split at the first colon).

    Tags without a colon or with an empty key are left out; for a key given
    more than once the value of the tag sorting last wins.
    """
    values = {}
    for tag in sorted(tags or []):
        key, sep, value = to_text(tag).partition(":")
        if sep and key:
            values[key] = value
    return values


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Ganeti instances of one or more clusters, read through RAPI."""

    NAME = "ganeti.fleet.rapi"

    def __init__(self):
        super().__init__()
        self._basedir = None

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        if to_text(path).endswith(FILE_ENDINGS):
            return True
        self.display.vvv("Skipping %s: the file name of a ganeti.fleet.rapi inventory source must end in %s"
                         % (path, ", ".join(FILE_ENDINGS)))
        return False

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self._basedir = os.path.dirname(os.path.abspath(to_text(path)))

        use_cache = bool(self.get_option("cache"))
        read_cache = use_cache and cache
        exclude = set(to_text(tag) for tag in self.get_option("exclude_tags") or [])
        for warning in ignored_environment_warnings():
            self.display.warning("ganeti.fleet.rapi: " + warning)
        seen = {}
        for options in self._cluster_options():
            data = self._cluster_data(options, use_cache, read_cache)
            self._populate(data, exclude, seen)

    # ------------------------------------------------------------------
    # Options

    def _cluster_options(self):
        """Return the connection options of every cluster (a list of dicts)."""
        defaults = dict((name, self.get_option(name)) for name in RAPI_OPTION_NAMES)
        entries = self.get_option("clusters")
        if not entries:
            if not defaults["rapi_url"]:
                raise AnsibleParserError(
                    "ganeti.fleet.rapi: no cluster given: set rapi_url (or the GANETI_RAPI_URL "
                    "environment variable), or list the clusters in 'clusters'")
            return [self._finish_options(defaults, "top-level options")]

        result = []
        for index, entry in enumerate(entries):
            where = "clusters[%d]" % index
            if not isinstance(entry, dict):
                raise AnsibleParserError("ganeti.fleet.rapi: %s must be a dictionary of connection options"
                                         % where)
            unknown = sorted(set(entry) - set(RAPI_OPTION_NAMES))
            if unknown:
                raise AnsibleParserError("ganeti.fleet.rapi: %s has unknown option(s) %s (known: %s)"
                                         % (where, ", ".join(to_text(name) for name in unknown),
                                            ", ".join(RAPI_OPTION_NAMES)))
            if not entry.get("rapi_url"):
                raise AnsibleParserError("ganeti.fleet.rapi: %s has no rapi_url" % where)
            options = dict(defaults)
            options.update((key, value) for key, value in entry.items() if value is not None)
            options = self._finish_options(options, where)
            if entry.get("ca_path") is not None:
                # like the top-level option: ~ expanded, relative to the inventory file
                options["ca_path"] = os.path.join(self._basedir, os.path.expanduser(options["ca_path"]))
            result.append(options)
        return result

    def _finish_options(self, options, where):
        """Template the string options and check the types of the others."""
        for name in _TEMPLATED_OPTIONS:
            value = options.get(name)
            if value is None:
                continue
            if self.templar.is_template(value):
                value = self.templar.template(value)
            # str() also decrypts vaulted values
            options[name] = None if value is None else str(value)
        for name, default in (("validate_certs", True), ("verify_hostname", True), ("allow_plain_http", False)):
            try:
                options[name] = default if options.get(name) is None else boolean(options[name], strict=True)
            except TypeError:
                raise AnsibleParserError("ganeti.fleet.rapi: %s: %s must be a boolean, not %r"
                                         % (where, name, options[name]))
        try:
            options["timeout"] = DEFAULT_TIMEOUT if options.get("timeout") is None else int(options["timeout"])
        except (TypeError, ValueError):
            raise AnsibleParserError("ganeti.fleet.rapi: %s: timeout must be an integer, not %r"
                                     % (where, options["timeout"]))
        return options

    # ------------------------------------------------------------------
    # RAPI and cache

    def _cluster_data(self, options, use_cache, read_cache):
        """Return ``{"url", "cluster", "instances"}`` for one cluster, from the cache or RAPI."""
        url = options.get("rapi_url")
        try:
            for warning in insecure_warnings(options):
                self.display.warning("ganeti.fleet.rapi: " + warning)
            client = RapiClient.from_options(options, user_agent="ganeti.fleet inventory")
        except RapiError as exc:
            raise AnsibleParserError("ganeti.fleet.rapi: cannot use the cluster at %s: %s" % (url, exc))
        cache_key = self.get_cache_key(client.url)
        if read_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("instances"), list):
                self.display.vvv("ganeti.fleet.rapi: %s from the cache" % client.url)
                client.close()
                return data
        self.display.vvv("ganeti.fleet.rapi: reading %s as %s" % (client.url, client.user or "anonymous"))
        try:
            with client:
                data = self._query(client)
        except RapiError as exc:
            raise AnsibleParserError("ganeti.fleet.rapi: reading the instances of the cluster at %s failed: %s"
                                     % (client.url, exc))
        if use_cache:
            self._cache[cache_key] = data
        return data

    @staticmethod
    def _query(client):
        info = client.get_info() or {}
        instances = client.list_instances(bulk=True)
        if not isinstance(instances, list):
            raise RapiError("unexpected answer to GET /2/instances?bulk=1 (not a list)",
                            kind="invalid_response", url=client.url)
        kept = []
        for instance in instances:
            if isinstance(instance, dict) and instance.get("name"):
                kept.append(dict((field, instance.get(field)) for field in INSTANCE_FIELDS))
        name = info.get("name") if isinstance(info, dict) else None
        return {"url": client.url, "cluster": name or client.url.split("://", 1)[-1].rsplit(":", 1)[0],
                "instances": kept}

    # ------------------------------------------------------------------
    # Hosts and groups

    def _populate(self, data, exclude, seen):
        cluster = to_text(data["cluster"])
        url = data.get("url")
        strict = self.get_option("strict")
        cluster_group = self.inventory.add_group("ganeti_cluster_" + safe_group_part(cluster))
        for instance in data["instances"]:
            name = to_text(instance["name"])
            tags = sorted(to_text(tag) for tag in instance.get("tags") or [])
            excluded = exclude.intersection(tags)
            if excluded:
                self.display.vvv("ganeti.fleet.rapi: skipping %s of %s (tag %s)"
                                 % (name, cluster, ", ".join(sorted(excluded))))
                continue
            if name in seen:
                self.display.warning("ganeti.fleet.rapi: instance %s is on clusters %s and %s; keeping the one "
                                     "of %s" % (name, seen[name], cluster, seen[name]))
                continue
            seen[name] = cluster

            host = self.inventory.add_host(name, group=cluster_group)
            hostvars = {"ganeti_cluster": cluster, "ganeti_rapi_url": url, "ganeti_tags": tags,
                        "ganeti_tag_values": tag_values(tags)}
            for var, field in HOST_VARS:
                hostvars["ganeti_" + var] = instance.get(field)
            for var, value in hostvars.items():
                # Data from RAPI is never templated (a tag such as "{{ lookup(...) }}"
                # stays text); ansible-core 2.19 does this by itself, older ones need it.
                self.inventory.set_variable(host, var, wrap_var(value))

            status = instance.get("status")
            if status:
                self.inventory.add_child(self.inventory.add_group("ganeti_status_" + safe_group_part(status)),
                                         host)

            # with inventory_hostname, group_names and the variables set so far
            variables = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict=strict)
