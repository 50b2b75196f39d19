# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: what the ``ganeti.fleet.rapi`` inventory plugin makes of RAPI's bulk answers.

Plain functions on the decoded answers (no Ansible objects): which fields
are kept (and cached), which hosts pass the filters, and the variables and
group names of instance, master and node hosts. The plugin only reads the
clusters and hands the results to Ansible's inventory.
"""

from __future__ import annotations

import fnmatch
import re

#: Instance fields kept from the bulk answer (and in the cache).
INSTANCE_FIELDS = ("name", "status", "admin_state", "oper_state", "pnode", "snodes", "os",
                   "disk_template", "tags", "nic.macs", "nic.ips", "nic.links", "nic.networks",
                   "disk.sizes", "beparams", "hvparams", "uuid")

#: Node fields kept from ``GET /2/nodes?bulk=1`` (and in the cache).
NODE_FIELDS = ("name", "pip", "sip", "role", "offline", "drained", "master_candidate",
               "master_capable", "vm_capable", "tags", "uuid")

#: Instance host variable (without the ``ganeti_`` prefix) -> RAPI field.
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

#: Node host variable (without the ``ganeti_node_`` prefix) -> RAPI field.
NODE_VARS = (
    ("primary_ip", "pip"),
    ("secondary_ip", "sip"),
    ("offline", "offline"),
    ("drained", "drained"),
    ("master_candidate", "master_candidate"),
    ("master_capable", "master_capable"),
    ("vm_capable", "vm_capable"),
)

#: Ganeti's one-letter node roles (the ``role`` field) as ``gnt-node`` and RAPI's role resource name them.
NODE_ROLES = {"M": "master", "C": "master-candidate", "R": "regular", "D": "drained", "O": "offline"}

#: Choices of the plugin's ``nodes`` option.
NODE_CHOICES = ("none", "masters", "all")

_UNSAFE_GROUP_CHARS = re.compile(r"[^a-z0-9_]")


def safe_group_part(text):
    """Lower-case TEXT and replace every character but letters, digits and ``_`` by ``_``."""
    return _UNSAFE_GROUP_CHARS.sub("_", str(text).lower())


def tag_values(tags):
    """Parse ``key:value`` tags into a dictionary (split at the first colon).

    Tags without a colon or with an empty key are left out; for a key given
    more than once the value of the tag sorting last wins.
    """
    values = {}
    for tag in sorted(tags or []):
        key, sep, value = str(tag).partition(":")
        if sep and key:
            values[key] = value
    return values


def cluster_name(info, url):
    """The cluster's name from ``GET /2/info``, else the host of its URL."""
    name = info.get("name") if isinstance(info, dict) else None
    return name or url.split("://", 1)[-1].rsplit(":", 1)[0]


def kept_fields(items, fields):
    """The dicts of a bulk answer reduced to FIELDS (entries without a name are dropped).

    Only these fields are cached, and the rest of the answer (the largest
    part of it) can be freed at once.
    """
    if not isinstance(items, list):
        return None
    return [{field: item.get(field) for field in fields}
            for item in items if isinstance(item, dict) and item.get("name")]


class NameFilter:
    """Shell-style patterns (``*``, ``?``, ``[...]``) on names, all compiled into one expression.

    Empty INCLUDE means every name; a name matching any EXCLUDE pattern is
    left out. Matching is case-sensitive, as Ganeti's names are.
    """

    def __init__(self, include=None, exclude=None):
        self.include = self._compile(include)
        self.exclude = self._compile(exclude)

    @staticmethod
    def _compile(patterns):
        patterns = [str(pattern) for pattern in patterns or []]
        if not patterns:
            return None
        return re.compile("|".join("(?:%s)" % fnmatch.translate(pattern) for pattern in patterns))

    @property
    def active(self):
        return self.include is not None or self.exclude is not None

    def __call__(self, name):
        if self.include is not None and not self.include.match(name):
            return False
        return self.exclude is None or not self.exclude.match(name)


class InstanceFilter:
    """Which instances become hosts: by name patterns and by tags (compared exactly)."""

    def __init__(self, include=None, exclude=None, include_tags=None, exclude_tags=None):
        self.names = NameFilter(include, exclude)
        self.include_tags = frozenset(str(tag) for tag in include_tags or [])
        self.exclude_tags = frozenset(str(tag) for tag in exclude_tags or [])

    def reason_to_skip(self, name, tags):
        """``None`` when the instance NAME with TAGS is kept, else why not (for ``-vvv``)."""
        if self.names.active and not self.names(name):
            return "name filtered out by include_instances/exclude_instances"
        if self.include_tags and self.include_tags.isdisjoint(tags):
            return "none of the tags in include_tags"
        if self.exclude_tags:
            excluded = self.exclude_tags.intersection(tags)
            if excluded:
                return "tag %s in exclude_tags" % ", ".join(sorted(excluded))
        return None


def instance_vars(instance, cluster, url, hvparams=True):
    """The ``ganeti_*`` host variables of one instance (a dict of INSTANCE_FIELDS)."""
    tags = sorted(str(tag) for tag in instance.get("tags") or [])
    hostvars = {"ganeti_cluster": cluster, "ganeti_rapi_url": url, "ganeti_tags": tags,
                "ganeti_tag_values": tag_values(tags)}
    for var, field in HOST_VARS:
        if hvparams or var != "hvparams":
            hostvars["ganeti_" + var] = instance.get(field)
    return hostvars


def node_role(node, master):
    """The node's role name (``master``, ``master-candidate``, ``regular``, ``drained``, ``offline``)."""
    if node.get("name") == master:
        return "master"
    role = NODE_ROLES.get(node.get("role"))
    if role:
        return role
    # an answer without the role letter: derive it as Ganeti does
    if node.get("offline"):
        return "offline"
    if node.get("drained"):
        return "drained"
    return "master-candidate" if node.get("master_candidate") else "regular"


def node_vars(node, cluster, master):
    """The host variables of a node: ``ansible_host`` (its primary IP) and ``ganeti_*``."""
    hostvars = {"ganeti_cluster": cluster, "ganeti_node_role": node_role(node, master),
                "ganeti_node_tags": sorted(str(tag) for tag in node.get("tags") or []),
                "ganeti_uuid": node.get("uuid")}
    for var, field in NODE_VARS:
        hostvars["ganeti_node_" + var] = node.get(field)
    if node.get("pip"):
        # the address Ganeti itself reaches the node by (node names need not resolve on the controller)
        hostvars["ansible_host"] = node["pip"]
    return hostvars


def cluster_connection_vars(options, url, cluster, master):
    """The group variables of a cluster's node group: the roles' connection convention, without secrets.

    ``ganeti_rapi_user`` and ``ganeti_rapi_password`` are left to the
    operator (the roles need a user with write access; the inventory's may
    be read-only), and no password ever becomes an inventory variable.
    """
    variables = {"ganeti_cluster_name": cluster, "ganeti_rapi_url": url,
                 "ganeti_rapi_validate_certs": bool(options.get("validate_certs", True)),
                 "ganeti_rapi_verify_hostname": bool(options.get("verify_hostname", True))}
    if master:
        variables["ganeti_cluster_master"] = master
    if options.get("ca_path"):
        variables["ganeti_rapi_ca_path"] = options["ca_path"]
    return variables


def nodes_to_add(nodes, master, mode):
    """The nodes that become hosts under the ``nodes`` option MODE (``none``, ``masters``, ``all``)."""
    if mode == "all":
        return list(nodes or [])
    if mode == "masters":
        return [node for node in nodes or [] if node.get("name") == master]
    return []
