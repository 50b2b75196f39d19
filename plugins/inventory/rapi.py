# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rapi
short_description: Ganeti instances, masters and nodes as inventory hosts, read through RAPI
version_added: 0.1.0
author: ganeti.fleet maintainers (@ganeti-fleet)
description:
  - Adds the instances of one or more Ganeti clusters to the inventory, one host per instance,
    named by the instance's full name; with O(nodes), also the clusters' masters or all their nodes.
  - Each cluster is read with one bulk request (C(GET /2/instances?bulk=1)), plus C(GET /2/info)
    for the cluster name and master; O(nodes) adds one bulk C(GET /2/nodes?bulk=1).
    A user without C(write) access is enough.
  - Every instance host gets variables prefixed C(ganeti_) (listed in the notes below), and is put into the groups
    C(ganeti_cluster_<cluster>) and C(ganeti_status_<status>).
    The cluster name and the status are lower-cased, and every character other than letters, digits and
    C(_) becomes C(_), for example C(ganeti_cluster_c1_example_org) and C(ganeti_status_admin_down).
  - Node hosts (O(nodes)) are put into the groups C(ganeti_nodes_<cluster>) (a child of C(ganeti_nodes)),
    C(ganeti_node_role_<role>) and, for each cluster's master, C(ganeti_masters). These are the groups the
    collection's roles and the C(ganeti.fleet.instance_move) action use. C(ganeti_nodes_<cluster>) carries the cluster's
    connection variables (C(ganeti_rapi_url)...) as group variables, without user and password.
  - A cluster that cannot be read (unreachable, refused credentials, TLS error, bad answer) is skipped with a
    warning naming it and the cause; the other clusters' hosts are still added. See O(on_cluster_error).
  - Further variables and groups of instance hosts come from O(compose), O(groups) and O(keyed_groups).
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
      - A host name found on more than one cluster (or as an instance and a node) is added once, from the
        first cluster listing it, with a warning.
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
  instances:
    description:
      - Add the clusters' instances as hosts. V(false) reads no instance at all (no C(GET /2/instances)),
        for a source of masters or nodes only.
    type: bool
    default: true
    version_added: 0.2.0
  nodes:
    description:
      - Which of the clusters' nodes become hosts as well, named by their Ganeti node names.
      - V(none) adds none. V(masters) adds each cluster's master node, V(all) every node (the master included).
      - Their C(ansible_host) is the node's primary IP as Ganeti knows it, so they are reached even where the
        node names do not resolve; override it in C(host_vars) where SSH must take another address.
      - Node hosts get the variables listed in the notes below and the groups C(ganeti_nodes),
        C(ganeti_nodes_<cluster>), C(ganeti_node_role_<role>) (C(master), C(master_candidate), C(regular),
        C(drained), C(offline)) and, for masters, C(ganeti_masters).
      - The group C(ganeti_nodes_<cluster>) holds the cluster's connection variables for the roles
        (C(ganeti_cluster_name), C(ganeti_cluster_master), C(ganeti_rapi_url), C(ganeti_rapi_ca_path) when a CA file
        is given, C(ganeti_rapi_validate_certs), C(ganeti_rapi_verify_hostname)) as group variables, so that
        C(group_vars) files override them. C(ganeti_rapi_user) and C(ganeti_rapi_password) are never set;
        give them in C(group_vars) (vaulted).
      - O(compose), O(groups) and O(keyed_groups) apply to instance hosts only.
    type: str
    choices: [none, masters, all]
    default: none
    version_added: 0.2.0
  include_clusters:
    description:
      - Only clusters whose name (from C(GET /2/info)) matches one of these shell-style patterns
        (C(*), C(?), C([...])) add hosts, for example V(prod-*). Empty means every cluster.
      - A cluster filtered out costs one C(GET /2/info) and adds nothing.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  exclude_clusters:
    description:
      - Clusters whose name matches one of these shell-style patterns add no hosts.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  include_instances:
    description:
      - Only instances whose full name matches one of these shell-style patterns become hosts,
        for example V(web*.example.org). Empty means every instance. Matching is case-sensitive.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  exclude_instances:
    description:
      - Instances whose full name matches one of these shell-style patterns are not added,
        for example V(*-template.example.org).
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  include_tags:
    description:
      - Only instances with at least one of these tags become hosts, for example V(ansible:managed).
        Empty means every instance. Tags are compared exactly.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  exclude_tags:
    description:
      - Instances with any of these tags are not added to the inventory, for example V(noansible).
      - Tags are compared exactly (C(owner:bob) excludes only that tag, not every C(owner:) tag).
    type: list
    elements: str
    default: []
  hvparams:
    description:
      - Add C(ganeti_hvparams) (the instance's effective hypervisor parameters, some 60 values for KVM)
        to every instance host.
      - Off by default, as they made up most of the inventory's size and of the time
        C(ansible-inventory --list) took with thousands of instances. They stay in the cache either way.
    type: bool
    default: false
    version_added: 0.2.0
  on_cluster_error:
    description:
      - What a cluster that cannot be read (unreachable, timed out, refused credentials, TLS error, bad answer)
        does to the source.
      - V(warn) skips that cluster with a warning naming its URL and the cause; the other clusters' hosts are
        still added. When every cluster of the source fails, the source fails all the same.
      - V(fail) fails the whole source at the first such cluster (ansible-inventory then ignores the source
        with a warning, or fails with C(ANSIBLE_INVENTORY_UNPARSED_FAILED=true)).
      - Errors in the source itself (an unsupported URL, an unknown option, a failing O(compose) with
        O(strict=true)) always fail the source.
    type: str
    choices: [warn, fail]
    default: warn
    version_added: 0.2.0
notes:
  - "Instance host variables: C(ganeti_cluster) (cluster name), C(ganeti_rapi_url), C(ganeti_status),
    C(ganeti_admin_state), C(ganeti_oper_state), C(ganeti_pnode), C(ganeti_snodes), C(ganeti_os),
    C(ganeti_disk_template), C(ganeti_tags) (sorted list), C(ganeti_tag_values), C(ganeti_nic_macs),
    C(ganeti_nic_ips), C(ganeti_nic_links), C(ganeti_nic_networks), C(ganeti_disk_sizes) (MiB), C(ganeti_beparams),
    C(ganeti_hvparams) (with O(hvparams=true)) and C(ganeti_uuid). Values are as RAPI returns them."
  - "Node host variables (O(nodes)): C(ansible_host) (the primary IP), C(ganeti_cluster), C(ganeti_node_role),
    C(ganeti_node_primary_ip), C(ganeti_node_secondary_ip), C(ganeti_node_offline), C(ganeti_node_drained),
    C(ganeti_node_master_candidate), C(ganeti_node_master_capable), C(ganeti_node_vm_capable),
    C(ganeti_node_tags) (sorted list) and C(ganeti_uuid)."
  - C(ganeti_tag_values) is a dictionary of the instance's C(key:value) tags (split at the first colon);
    tags without a colon are left out. When a key appears more than once, the value of the tag that sorts last wins.
  - C(ansible_host) of instance hosts is not set; set it with O(compose), for example from C(ganeti_nic_ips[0]).
  - An instance is added when its cluster passes O(include_clusters) and O(exclude_clusters), its name
    O(include_instances) and O(exclude_instances), and its tags O(include_tags) and O(exclude_tags).
    Nodes are filtered by cluster only.
  - The values read from RAPI are never templated; a tag holding a Jinja2 expression stays text.
    C(ansible-inventory --list) therefore prints them with C(__ansible_unsafe) markers.
  - The RAPI password is never put into a variable, the cache or a message.
  - "With O(cache=true) the RAPI answers are cached per cluster URL; C(--flush-cache) or
    C(meta: refresh_inventory) reads the clusters again."
  - O(rapi_url), O(rapi_user), O(rapi_password) and O(ca_path), at the top level and in O(clusters), may be
    Jinja2 templates (for example a lookup); O(rapi_password) may be a vaulted string.
"""

EXAMPLES = r"""
# Each example is one inventory file. The first is given as YAML; uncomment the others.

# prod.ganeti.yml: one cluster, the connection from the environment
# (GANETI_RAPI_URL, GANETI_RAPI_USER, GANETI_RAPI_PASSWORD, GANETI_RAPI_CA_PATH)
plugin: ganeti.fleet.rapi
compose:
  # the first IP address of the instance's NICs, else its name
  ansible_host: ganeti_nic_ips | select | first | default(inventory_hostname)

# fleet.ganeti.yml: several clusters; entries inherit the top-level options they do not set
#   plugin: ganeti.fleet.rapi
#   rapi_user: inventory
#   rapi_password: "{{ lookup('ansible.builtin.env', 'FLEET_RAPI_PASSWORD') }}"
#   clusters:
#     - rapi_url: https://old.example.org:5080
#       ca_path: /etc/ganeti-fleet/old-rapi.pem
#     - rapi_url: https://new.example.org:5080
#       ca_path: /etc/ganeti-fleet/new-rapi.pem
#       verify_hostname: false   # still on Ganeti's stock ganeti.example.com certificate
#   exclude_tags:
#     - noansible

# clusters.ganeti.yml: the masters and nodes for the roles (move_readiness on ganeti_masters,
# transfer_fix on ganeti_nodes, the instance_move action's node access from ganeti_nodes), no instances.
# Users and passwords go into group_vars/ganeti_nodes_<cluster>.yml (vaulted), for example
# group_vars/ganeti_nodes_old_example_org.yml with ganeti_rapi_user and ganeti_rapi_password.
#   plugin: ganeti.fleet.rapi
#   instances: false
#   nodes: all
#   rapi_user: inventory
#   rapi_password: "{{ lookup('ansible.builtin.env', 'FLEET_RAPI_PASSWORD') }}"
#   clusters:
#     - rapi_url: https://old.example.org:5080
#       ca_path: /etc/ganeti-fleet/old-rapi.pem
#     - rapi_url: https://new.example.org:5080
#       ca_path: /etc/ganeti-fleet/new-rapi.pem

# web.ganeti.yml: filters; the web instances of the production clusters, but no templates
#   plugin: ganeti.fleet.rapi
#   clusters:
#     - rapi_url: https://prod-a.example.org:5080
#     - rapi_url: https://prod-b.example.org:5080
#     - rapi_url: https://test-a.example.org:5080
#   include_clusters: ["prod-*"]
#   include_instances: ["web*.example.org", "www-?.example.org"]
#   exclude_instances: ["*-template.example.org"]
#   include_tags: ["group:web"]
#   exclude_tags: ["noansible"]

# strict.ganeti.yml: an AWX source that must not sync with a cluster missing
# (with "overwrite", the hosts of a skipped cluster would be removed)
#   plugin: ganeti.fleet.rapi
#   on_cluster_error: fail
#   clusters:
#     - rapi_url: https://c1.example.org:5080
#     - rapi_url: https://c2.example.org:5080

# tagged.ganeti.yml: groups from key:value tags; an instance tagged group:web and
# owner:alice lands in the groups tag_web and owner_alice
#   plugin: ganeti.fleet.rapi
#   keyed_groups:
#     - key: ganeti_tag_values.group
#       prefix: tag
#     - key: ganeti_tag_values.owner
#       prefix: owner
#     - key: ganeti_pnode
#       prefix: node
#   groups:
#     stopped: ganeti_admin_state == 'down'
#     mirrored: ganeti_disk_template in ['drbd', 'rbd', 'sharedfile']
#   compose:
#     ansible_host: ganeti_nic_ips | select | first | default(inventory_hostname)
#     kernel: ganeti_hvparams.kernel_path     # needs hvparams: true
#   hvparams: true

# cached.ganeti.yml: keep the RAPI answers for an hour (--flush-cache reads again)
#   plugin: ganeti.fleet.rapi
#   cache: true
#   cache_plugin: ansible.builtin.jsonfile
#   cache_connection: ~/.cache/ganeti-fleet-inventory
#   cache_timeout: 3600
"""

import os

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.release import __version__ as ansible_version
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.ganeti.fleet.plugins.module_utils._inventory import (
    HOST_VARS,
    INSTANCE_FIELDS,
    NODE_FIELDS,
    InstanceFilter,
    NameFilter,
    cluster_connection_vars,
    cluster_name,
    instance_vars,
    kept_fields,
    node_vars,
    nodes_to_add,
    safe_group_part,
    tag_values,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    DEFAULT_TIMEOUT,
    ENV_PREFIX,
    RAPI_OPTION_NAMES,
    given_ca_path,
    ignored_environment_warnings,
    insecure_warnings,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import RapiClient

# Kept importable from here (the plugin's public helpers before they moved).
__all__ = ["InventoryModule", "FILE_ENDINGS", "HOST_VARS", "INSTANCE_FIELDS", "safe_group_part", "tag_values"]

#: File name endings accepted by :meth:`InventoryModule.verify_file`.
FILE_ENDINGS = ("ganeti.yml", "ganeti.yaml", "rapi.yml", "rapi.yaml")

#: Options that may be Jinja2 templates (and, as strings, vaulted values).
_TEMPLATED_OPTIONS = ("rapi_url", "rapi_user", "rapi_password", "ca_path")

# From ansible-core 2.19 on, values an inventory plugin sets are never templated (they are not
# trusted as templates); older versions template any string unless it is wrapped as unsafe.
# Wrapping was a third of the plugin's time with thousands of instances, so only where needed.
_WRAP_UNSAFE = tuple(int(part) for part in ansible_version.split(".")[:2]) < (2, 19)

#: One retry for a request that could not connect: an inventory run should not wait
#: long for a cluster that is down (the modules' client retries three times).
_RETRIES = 1


def _unsafe(value):
    return wrap_var(value) if _WRAP_UNSAFE else value


class ClusterReadError(FleetError):
    """A cluster of the source could not be read; the source may go on without it."""


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Ganeti instances, masters and nodes of one or more clusters, read through RAPI."""

    NAME = "ganeti.fleet.rapi"

    def __init__(self):
        super().__init__()
        self._basedir = None
        self._status_groups = {}

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
        self._status_groups = {}

        use_cache = bool(self.get_option("cache"))
        read_cache = use_cache and cache
        node_mode = self.get_option("nodes") or "none"
        # the bulk answers this source needs from each cluster
        parts = [part for part, wanted in (("instances", self.get_option("instances")),
                                           ("nodes", node_mode != "none")) if wanted]
        clusters = NameFilter(self.get_option("include_clusters"), self.get_option("exclude_clusters"))
        instances = InstanceFilter(self.get_option("include_instances"), self.get_option("exclude_instances"),
                                   self.get_option("include_tags"), self.get_option("exclude_tags"))
        fail_fast = self.get_option("on_cluster_error") == "fail"
        for warning in ignored_environment_warnings():
            self.display.warning("ganeti.fleet.rapi: " + warning)
        seen = {}
        failures = []
        all_options = self._cluster_options()
        for options in all_options:
            try:
                data = self._cluster_data(options, use_cache, read_cache, parts, clusters)
            except ClusterReadError as exc:
                if fail_fast:
                    raise AnsibleParserError("ganeti.fleet.rapi: %s (on_cluster_error=fail)" % exc)
                if len(all_options) == 1:
                    # nothing to go on with
                    raise AnsibleParserError("ganeti.fleet.rapi: %s" % exc)
                failures.append(to_text(exc))
                self.display.warning("ganeti.fleet.rapi: %s; skipping this cluster, the source goes on without "
                                     "its hosts (on_cluster_error=warn)" % exc)
                continue
            if not clusters(to_text(data["cluster"])):
                self.display.vvv("ganeti.fleet.rapi: skipping the cluster %s (include_clusters/exclude_clusters)"
                                 % data["cluster"])
                continue
            if "instances" in parts:
                self._add_instances(data, instances, seen)
            if "nodes" in parts:
                self._add_nodes(data, options, node_mode, seen)
        if failures and len(failures) == len(all_options):
            raise AnsibleParserError("ganeti.fleet.rapi: no cluster of the source could be read: "
                                     + "; ".join(failures))

    # ------------------------------------------------------------------
    # Options

    def _cluster_options(self):
        """Return the connection options of every cluster (a list of dicts)."""
        defaults = dict((name, self.get_option(name)) for name in RAPI_OPTION_NAMES)
        defaults["ca_path"] = self._top_level_ca_path(defaults["ca_path"])
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
            if entry.get("ca_path") is not None and options["ca_path"] is not None:
                # like the top-level option: ~ expanded, relative to the inventory file
                options["ca_path"] = given_ca_path(os.path.join(self._basedir,
                                                                os.path.expanduser(options["ca_path"])))
            result.append(options)
        return result

    def _top_level_ca_path(self, value):
        """The top-level ca_path (resolved by Ansible), None when it is blank (:func:`given_ca_path`).

        Ansible turns an empty path option into the current directory, which
        requests would then take as a directory of CA certificates; an empty
        variable (AWX injects one for an empty CA field) means no CA file.
        """
        origin = self.get_option_and_origin("ca_path")[1]
        name = ENV_PREFIX + "CA_PATH"
        if str(origin).startswith("env") and not os.environ.get(name, "").strip():
            return None
        return given_ca_path(value)

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
        # a ca_path that renders to nothing is no CA file (a blank file is judged once its path is resolved)
        if not (options.get("ca_path") or "").strip():
            options["ca_path"] = None
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

    def _cluster_data(self, options, use_cache, read_cache, parts, clusters):
        """Return ``{"url", "cluster", "master", "instances"?, "nodes"?}`` for one cluster, from the cache or RAPI.

        :raises AnsibleParserError: for an error in the source's options.
        :raises ClusterReadError: when the cluster cannot be read.
        """
        url = options.get("rapi_url")
        try:
            for warning in insecure_warnings(options):
                self.display.warning("ganeti.fleet.rapi: " + warning)
            client = RapiClient.from_options(options, user_agent="ganeti.fleet inventory", retries=_RETRIES)
        except RapiError as exc:
            raise AnsibleParserError("ganeti.fleet.rapi: cannot use the cluster at %s: %s" % (url, exc))
        cache_key = self.get_cache_key(client.url)
        if read_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
            if isinstance(data, dict) and all(isinstance(data.get(part), list) for part in parts):
                self.display.vvv("ganeti.fleet.rapi: %s from the cache" % client.url)
                client.close()
                return data
        self.display.vvv("ganeti.fleet.rapi: reading %s as %s" % (client.url, client.user or "anonymous"))
        try:
            with client:
                data = self._query(client, parts, clusters)
        except RapiError as exc:
            if exc.kind == "config":
                raise AnsibleParserError("ganeti.fleet.rapi: cannot use the cluster at %s: %s" % (client.url, exc))
            raise ClusterReadError("reading the cluster at %s failed: %s" % (client.url, exc))
        if use_cache:
            self._cache[cache_key] = data
        return data

    @staticmethod
    def _query(client, parts, clusters):
        info = client.get_info() or {}
        name = cluster_name(info, client.url)
        data = {"url": client.url, "cluster": name,
                "master": info.get("master") if isinstance(info, dict) else None}
        if not clusters(name):
            # filtered out: the bulk requests are not worth sending
            return data
        for part, path, fields in (("instances", "/2/instances", INSTANCE_FIELDS), ("nodes", "/2/nodes", NODE_FIELDS)):
            if part not in parts:
                continue
            answer = client.list_instances(bulk=True) if part == "instances" else client.list_nodes(bulk=True)
            data[part] = kept_fields(answer, fields)
            if data[part] is None:
                raise RapiError("unexpected answer to GET %s?bulk=1 (not a list)" % path,
                                kind="invalid_response", url=client.url)
        return data

    # ------------------------------------------------------------------
    # Hosts and groups

    def _claim(self, name, cluster, seen, what):
        """Whether NAME is still free (the first cluster listing a host name keeps it)."""
        if name in seen:
            self.display.warning("ganeti.fleet.rapi: %s %s of cluster %s is already a host from cluster %s; "
                                 "keeping the one of %s" % (what, name, cluster, seen[name], seen[name]))
            return False
        seen[name] = cluster
        return True

    def _add_instances(self, data, instance_filter, seen):
        cluster = to_text(data["cluster"])
        url = data.get("url")
        strict = self.get_option("strict")
        hvparams = bool(self.get_option("hvparams"))
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        constructed = bool(compose or groups or keyed_groups)
        inventory = self.inventory
        cluster_group = inventory.add_group("ganeti_cluster_" + safe_group_part(cluster))
        status_groups = self._status_groups
        for instance in data.get("instances") or []:
            name = to_text(instance["name"])
            hostvars = instance_vars(instance, cluster, url, hvparams=hvparams)
            skip = instance_filter.reason_to_skip(name, hostvars["ganeti_tags"])
            if skip:
                self.display.vvv("ganeti.fleet.rapi: skipping %s of %s (%s)" % (name, cluster, skip))
                continue
            if not self._claim(name, cluster, seen, "instance"):
                continue

            host = inventory.add_host(name, group=cluster_group)
            for var, value in hostvars.items():
                # Data from RAPI is never templated (a tag such as "{{ lookup(...) }}" stays text).
                inventory.set_variable(host, var, _unsafe(value))

            status = instance.get("status")
            if status:
                group = status_groups.get(status)
                if group is None:
                    group = status_groups[status] = inventory.add_group("ganeti_status_" + safe_group_part(status))
                inventory.add_child(group, host)

            if constructed:
                # with inventory_hostname, group_names and the variables set so far
                variables = inventory.get_host(host).get_vars()
                self._set_composite_vars(compose, variables, host, strict=strict)
                self._add_host_to_composed_groups(groups, variables, host, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, variables, host, strict=strict)

    def _add_nodes(self, data, options, mode, seen):
        cluster = to_text(data["cluster"])
        master = data.get("master")
        inventory = self.inventory
        all_nodes = inventory.add_group("ganeti_nodes")
        group = inventory.add_group("ganeti_nodes_" + safe_group_part(cluster))
        inventory.add_child(all_nodes, group)
        for var, value in cluster_connection_vars(options, data.get("url"), cluster, master).items():
            inventory.set_variable(group, var, _unsafe(value))
        for node in nodes_to_add(data.get("nodes"), master, mode):
            name = to_text(node["name"])
            if not self._claim(name, cluster, seen, "node"):
                continue
            host = inventory.add_host(name, group=group)
            hostvars = node_vars(node, cluster, master)
            for var, value in hostvars.items():
                inventory.set_variable(host, var, _unsafe(value))
            inventory.add_child(inventory.add_group("ganeti_node_role_" + safe_group_part(hostvars["ganeti_node_role"])),
                                host)
            if name == master:
                inventory.add_child(inventory.add_group("ganeti_masters"), host)
