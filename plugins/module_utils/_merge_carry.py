# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: what a move merge carries to the target besides instances.

Moves carry instances; everything else of a merged cluster is carried here,
as plain functions on the data :func:`_merge_checks.read_cluster` reads:

- networks with their addresses, external reservations and tags, and node
  groups with their parameters and tags, created on the target before any
  instance moves (a NIC on a network needs the network, connected to the
  destination's group); each copy carries ``TAG_CARRIED`` so that a re-run
  recognises it;
- the networks' connections to node groups (mode, link, VLAN);
- the merged cluster's own cluster tags (not the collection's bookkeeping);
- per node, what ``gnt-node add`` needs (group, secondary IP, master and VM
  capability) and what RAPI sets once the node has joined (ndparams, tags).

:func:`carried_snapshot` and :func:`compare_carried` extend the merge's
verification to all of it.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.ganeti.fleet.plugins.module_utils._transport import quote_name
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import (
    MAX_TAG_LEN,
    TAG_CARRIED,
    TAG_MERGE_NODE_SETUP,
    own_tags,
)

#: Network fields copied as they are (``POST /2/networks``, ``OpNetworkAdd``).
NETWORK_FIELDS = ("network", "gateway", "network6", "gateway6", "mac_prefix")

#: A group's own parameters: the bulk field read, the ``OpGroupAdd`` field written.
GROUP_PARAMETERS = (("alloc_policy", "alloc_policy"), ("custom_ndparams", "ndparams"),
                    ("custom_diskparams", "diskparams"), ("custom_ipolicy", "ipolicy"))

#: What every merge-node-setup tag starts with; the rest is ``CLUSTER:NODE:SIP:MC:VC``.
_SETUP_PREFIX = TAG_MERGE_NODE_SETUP.split("%s", 1)[0]


class CarryError(FleetError):
    """A merged cluster's object cannot be carried to the target as it is."""


def _finding(severity, check, message, objects=()):
    return {"severity": severity, "check": check, "message": message, "objects": sorted(set(objects))}


def _unset(value):
    """Ganeti's query answers ``-`` (or nothing) for a connection parameter that is not set."""
    return value in (None, "", "-")


def reservations(network):
    """The external reservations of NETWORK (bulk data), sorted by address."""
    value = network.get("external_reservations") or []
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",")]
    return sorted((item for item in value if item), key=ipaddress.ip_address)


def automatic_reservations(network):
    """Addresses Ganeti reserves itself when it creates NETWORK: network, broadcast, gateway."""
    subnet = ipaddress.ip_network(network["network"], strict=False)
    found = {str(subnet.network_address), str(subnet.broadcast_address)}
    if not _unset(network.get("gateway")):
        found.add(network["gateway"])
    return found


def connections(network):
    """NETWORK's connections to node groups: ``{group: {"mode", "link", "vlan"}}``."""
    found = {}
    for entry in network.get("group_list") or []:
        group, mode, link, vlan = (list(entry) + ["-"] * 4)[:4]
        found[group] = {"mode": None if _unset(mode) else mode, "link": None if _unset(link) else link,
                        "vlan": None if _unset(vlan) else vlan}
    return found


def group_parameters(group):
    """A node group's own parameters (not those it inherits from the cluster)."""
    params = {"alloc_policy": group.get("alloc_policy")}
    for read, written in GROUP_PARAMETERS[1:]:
        params[written] = group.get(read) or {}
    return params


def carried_copies(target_objects, cluster):
    """{name in CLUSTER: target object name} of the networks or groups an earlier run carried to the target."""
    copies = {}
    for item in target_objects:
        for tag in item.get("tags") or []:
            for name in _carried_names(tag, cluster):
                copies[name] = item["name"]
    return copies


def _carried_names(tag, cluster):
    prefix = TAG_CARRIED % (cluster, "")
    return [tag[len(prefix):]] if tag.startswith(prefix) and len(tag) > len(prefix) else []


def network_body(network, cluster):
    """``POST /2/networks`` body that recreates NETWORK of CLUSTER on the target, exactly.

    The reservations Ganeti makes itself (network, broadcast, gateway) are left
    out, as reserving an address twice fails the job; conflict checks are off,
    so the target reserves nothing the merged cluster had not.
    """
    body = {"network_name": network["name"], "conflicts_check": False,
            "tags": own_tags(network.get("tags")) + [TAG_CARRIED % (cluster, network["name"])]}
    for field in NETWORK_FIELDS:
        if not _unset(network.get(field)):
            body[field] = network[field]
    automatic = automatic_reservations(network)
    extra = [ip for ip in reservations(network) if ip not in automatic]
    if extra:
        body["add_reserved_ips"] = extra
    return body


def group_body(group, name):
    """``POST /2/groups`` body creating NAME with the own parameters of GROUP."""
    body = {"group_name": name}
    for key, value in group_parameters(group).items():
        if value:
            body[key] = value
    return body


def _differences(what, expected, actual):
    return ["%s: %s is %r, expected %r" % (what, key, actual.get(key), value)
            for key, value in sorted(expected.items()) if actual.get(key) != value]


def plan_objects(target, source, group_map):
    """What to create on TARGET so that SOURCE's networks, groups and cluster tags exist there.

    GROUP_MAP is the pre-flight's mapping of SOURCE's groups to the target's.
    Returns ``{"groups": [{"body", "tags"}], "networks": [body], "connections":
    [{"network", "body"}], "cluster_tags": [...], "warnings": [...]}``; empty
    lists when everything is there already, so a second run changes nothing.
    """
    cluster = source["info"].get("name") or "?"
    target_groups = {g["name"]: g for g in target["groups"]}
    target_networks = {n["name"]: n for n in target["networks"]}
    network_copies = carried_copies(target["networks"], cluster)
    group_copies = carried_copies(target["groups"], cluster)
    plan = {"groups": [], "networks": [], "connections": [], "cluster_tags": [], "warnings": []}

    for group in source["groups"]:
        name = group_map.get(group["name"], group["name"])
        existing = target_groups.get(name)
        if existing is None:
            plan["groups"].append({"body": group_body(group, name),
                                   "tags": own_tags(group.get("tags")) + [TAG_CARRIED % (cluster, group["name"])]})
        elif group_copies.get(group["name"]) != name:
            # The group policy merge: the target's group keeps its own parameters.
            differences = _differences("node group %s" % name, group_parameters(group), group_parameters(existing))
            if differences:
                plan["warnings"].append(
                    "Node group %s of %s joins the target's group %s, which keeps its own parameters (%s)."
                    % (group["name"], cluster, name, "; ".join(differences)))

    connected = {}
    for network in source["networks"]:
        name = network["name"]
        existing = target_networks.get(name)
        if existing is None:
            plan["networks"].append(network_body(network, cluster))
            connected[name] = {}
        elif network_copies.get(name) == name:
            connected[name] = connections(existing)
        else:
            raise CarryError("Network %s of %s cannot be carried: %s has a network of that name that no merge "
                             "created. Rename or remove one of them (the pre-flight reports this clash)."
                             % (name, cluster, target["info"].get("name")))
        wanted = {group_map.get(group, group): params for group, params in connections(network).items()}
        if network.get("inst_list") and wanted:
            # Moves place instances in the target's groups (the merged nodes join
            # afterwards): a NIC on the network needs it connected there too.
            params = wanted[sorted(wanted)[0]]
            for group in hosting_groups(target):
                if group not in wanted and group not in connected[name]:
                    wanted[group] = params
                    plan["warnings"].append(
                        "Network %s of %s is also connected to the target's group %s (%s), so that the instances "
                        "moving there keep their NICs on it." % (name, cluster, group, _describe(params)))
        for group, params in sorted(wanted.items()):
            have = connected[name].get(group)
            if have is None:
                body = {"group_name": group}
                for key in ("mode", "link", "vlan"):
                    if params[key] is not None:
                        body["network_" + key] = params[key]
                plan["connections"].append({"network": name, "body": body})
            elif have != params:
                plan["warnings"].append(
                    "Network %s is connected to the target's group %s with %s; %s had %s."
                    % (name, group, _describe(have), cluster, _describe(params)))

    target_tags = set(target.get("tags") or [])
    plan["cluster_tags"] = [tag for tag in own_tags(source.get("tags")) if tag not in target_tags]
    return plan


def hosting_groups(cluster_data):
    """Groups of CLUSTER_DATA with a VM-capable node: where moves may place instances."""
    return sorted({n.get("group") for n in cluster_data["nodes"] if n.get("vm_capable", True) and n.get("group")})


def _describe(params):
    return ", ".join("%s %s" % (key, params[key]) for key in ("mode", "link", "vlan") if params.get(key)) or "defaults"


def _homed(node):
    """A node's secondary IP when it differs from its primary one (multi-homed), else None."""
    sip = node.get("sip") or node.get("secondary_ip")
    pip = node.get("pip") or node.get("primary_ip")
    return sip if sip and sip != pip else None


def preflight_findings(target, source, group_map):
    """Findings of the pre-flight on what the move strategy carries (no change anywhere)."""
    findings = []
    cluster = source["info"].get("name") or "?"
    target_name = target["info"].get("name") or "?"
    master = next((n for n in target["nodes"] if n["name"] == target["info"].get("master")), None)
    if master is not None:
        target_multi = _homed(master) is not None
        wrong = sorted(n["name"] for n in source["nodes"] if (_homed(n) is not None) != target_multi)
        if wrong:
            if target_multi:
                message = ("%s has secondary IPs (multi-homed) but node(s) %s of %s have none: Ganeti refuses to add "
                           "them. Give them a secondary IP first (gnt-node modify -s)." % (target_name, ", ".join(wrong), cluster))
            else:
                message = ("Node(s) %s of %s have a secondary IP, %s has none (single-homed): Ganeti refuses to add "
                           "them. Make %s multi-homed first (gnt-node modify -s IP --force on its master, then each "
                           "node)." % (", ".join(wrong), cluster, target_name, target_name))
            findings.append(_finding("error", "secondary-ip", message, wrong))
    try:
        plan = plan_objects(target, source, group_map)
    except CarryError as exc:
        findings.append(_finding("error", "network-name", str(exc)))
        return findings
    findings.extend(_finding("warning", "carry", message) for message in plan["warnings"])
    return findings


def node_records(source, group_map):
    """What each node of SOURCE takes to the target: {node: record} (see :func:`add_argv`)."""
    records = {}
    for node in source["nodes"]:
        records[node["name"]] = {
            "group": group_map.get(node.get("group"), node.get("group")),
            "secondary_ip": _homed(node),
            "master_capable": bool(node.get("master_capable", True)),
            "vm_capable": bool(node.get("vm_capable", True)),
            "ndparams": node.get("custom_ndparams") or {},
            "tags": own_tags(node.get("tags")),
        }
    return records


def _yes(value):
    return "yes" if value else "no"


def setup_tag(cluster, node, record):
    """The cluster tag that keeps RECORD's join parameters on the target, or None when too long for a tag."""
    tag = TAG_MERGE_NODE_SETUP % (cluster, node, record.get("secondary_ip") or "-",
                                  _yes(record["master_capable"]), _yes(record["vm_capable"]))
    return tag if len(tag) <= MAX_TAG_LEN else None


def records_from_tags(target_tags, cluster, node_groups):
    """Node records of CLUSTER rebuilt from the target's setup tags, once the cluster is taken apart.

    NODE_GROUPS ({node: group}) comes from the merge-node tags. Nodes without
    a setup tag join with Ganeti's defaults; ndparams and node tags are not
    kept in tags (too long) and are lost then.
    """
    records = {node: {"group": group, "secondary_ip": None, "master_capable": True, "vm_capable": True,
                      "ndparams": {}, "tags": []} for node, group in node_groups.items()}
    for tag in target_tags or []:
        if not tag.startswith(_SETUP_PREFIX):
            continue
        tag_cluster, _sep, rest = tag[len(_SETUP_PREFIX):].partition(":")
        node, _sep, rest = rest.partition(":")
        parts = rest.rsplit(":", 2)
        if tag_cluster != cluster or node not in records or len(parts) != 3:
            continue
        records[node].update(secondary_ip=None if parts[0] == "-" else parts[0],
                             master_capable=parts[1] == "yes", vm_capable=parts[2] == "yes")
    return records


def add_argv(node, record):
    """``gnt-node add`` for NODE joining the target with what RECORD keeps (run on the target's master)."""
    argv = ["gnt-node", "add", "--no-ssh-key-check", "--node-group", record["group"]]
    if record.get("secondary_ip"):
        argv += ["-s", record["secondary_ip"]]
    argv += ["--master-capable=" + _yes(record["master_capable"]), "--vm-capable=" + _yes(record["vm_capable"])]
    return argv + [node]


def node_changes(node, record):
    """What RAPI must still set on NODE (bulk data on the target) to match RECORD: ``{"tags", "modify"}``."""
    modify = {}
    for key in ("master_capable", "vm_capable"):
        if bool(node.get(key, True)) != record[key]:
            modify[key] = record[key]
    ndparams = {key: value for key, value in (record.get("ndparams") or {}).items()
                if (node.get("custom_ndparams") or {}).get(key) != value}
    if ndparams:
        modify["ndparams"] = ndparams
    tags = [tag for tag in record.get("tags") or [] if tag not in (node.get("tags") or [])]
    return {"tags": tags, "modify": modify}


def carried_snapshot(cluster_data):
    """The part of a merge snapshot that is not instances: networks, groups, node parameters, cluster tags."""
    networks = {}
    for network in cluster_data["networks"]:
        details = {field: None if _unset(network.get(field)) else network[field] for field in NETWORK_FIELDS}
        details.update(reservations=reservations(network), tags=own_tags(network.get("tags")),
                       connections=connections(network))
        networks[network["name"]] = details
    groups = {g["name"]: dict(group_parameters(g), tags=own_tags(g.get("tags"))) for g in cluster_data["groups"]}
    nodes = {}
    for node in cluster_data["nodes"]:
        nodes[node["name"]] = {"group": node.get("group"), "secondary_ip": _homed(node),
                               "master_capable": bool(node.get("master_capable", True)),
                               "vm_capable": bool(node.get("vm_capable", True)),
                               "ndparams": node.get("custom_ndparams") or {}, "tags": own_tags(node.get("tags"))}
    return {"network_details": networks, "group_params": groups, "node_params": nodes,
            "cluster_tags": own_tags(cluster_data.get("tags"))}


def _lost(what, before, now):
    lost = sorted(set(before) - set(now or []))
    return ["%s: tags lost: %s" % (what, ", ".join(lost))] if lost else []


def compare_carried(snap, after, mapping, kept_groups):
    """What AFTER (the target's snapshot) lost of SNAP's networks, groups, node parameters and cluster tags.

    MAPPING maps SNAP's group names to the target's; groups in KEPT_GROUPS
    (the target's own before the merge) keep their own parameters. Snapshots
    taken before these fields existed compare nothing here.
    """
    origin = snap["cluster_name"]
    differences = []
    now_networks = after.get("network_details") or {}
    for name, was in sorted((snap.get("network_details") or {}).items()):
        now = now_networks.get(name)
        if now is None:
            continue  # compare_snapshot reports the missing network
        what = "network %s (from %s)" % (name, origin)
        differences += _differences(what, {f: was.get(f) for f in NETWORK_FIELDS}, now)
        missing = sorted(set(was.get("reservations") or []) - set(now.get("reservations") or []))
        if missing:
            differences.append("%s: reservations lost: %s" % (what, ", ".join(missing)))
        differences += _lost(what, was.get("tags") or [], now.get("tags"))
        for group, params in sorted((was.get("connections") or {}).items()):
            mapped = mapping.get(group, group)
            have = (now.get("connections") or {}).get(mapped)
            if have != params and (mapped not in kept_groups or have is None):
                differences.append("%s: connection to group %s is %s, expected %s"
                                   % (what, mapped, _describe(have) if have else "missing", _describe(params)))
    now_groups = after.get("group_params") or {}
    for name, was in sorted((snap.get("group_params") or {}).items()):
        mapped = mapping.get(name, name)
        now = now_groups.get(mapped)
        if now is None:
            continue  # compare_snapshot reports the missing group
        what = "node group %s (from %s, as %s)" % (name, origin, mapped)
        if mapped not in kept_groups:
            differences += _differences(what, {k: v for k, v in was.items() if k != "tags"}, now)
            differences += _lost(what, was.get("tags") or [], now.get("tags"))
    now_nodes = after.get("node_params") or {}
    for name, was in sorted((snap.get("node_params") or {}).items()):
        now = now_nodes.get(name)
        if now is None:
            continue  # compare_snapshot reports the missing node
        what = "node %s (from %s)" % (name, origin)
        expected = {k: v for k, v in was.items() if k != "tags"}
        expected["group"] = mapping.get(was.get("group"), was.get("group"))
        differences += _differences(what, expected, now)
        differences += _lost(what, was.get("tags") or [], now.get("tags"))
    if "cluster_tags" in snap:
        differences += _lost("cluster %s" % after["cluster_name"] if origin == after["cluster_name"]
                             else "cluster tags of %s on %s" % (origin, after["cluster_name"]),
                             snap["cluster_tags"], after.get("cluster_tags"))
    return differences


def apply_objects(client, jobs, plan):
    """Create what PLAN (see :func:`plan_objects`) lists on the target, with JOBS (a JobRunner on CLIENT)."""
    # Groups and networks first: a connection needs both.
    for group in plan["groups"]:
        jobs.run(client.submit, "POST", "/2/groups", body=group["body"])
        jobs.run(client.add_tags, "group", group["body"]["group_name"], group["tags"])
    for network in plan["networks"]:
        jobs.run(client.submit, "POST", "/2/networks", body=network)
    for connection in plan["connections"]:
        jobs.run(client.submit, "PUT", "/2/networks/%s/connect" % quote_name(connection["network"]),
                 body=connection["body"])
    if plan["cluster_tags"]:
        jobs.run(client.add_tags, "cluster", None, plan["cluster_tags"])


def apply_node_changes(client, jobs, changes):
    """Set on the target's nodes what :func:`node_changes` found missing: {node: change}."""
    for name, change in sorted(changes.items()):
        if change["modify"]:
            jobs.run(client.modify_node, name, change["modify"])
        if change["tags"]:
            jobs.run(client.add_tags, "node", name, change["tags"])
