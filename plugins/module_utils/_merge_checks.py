# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster merge: what each cluster holds, what would clash, what was lost. Internal use only.

Everything here works on plain data read over RAPI (:func:`read_cluster`), so
that the pre-flight and the verification are unit-tested without a cluster:

- :func:`preflight` compares a target cluster with the clusters merged into it
  and returns findings (errors and warnings, each naming the objects) and a
  plan (group mapping, nodes and instances of each merged cluster, and the
  tags the merge writes, so that roles never spell them);
- :func:`snapshot` records the inventory a merge must preserve, and
  :func:`compare_snapshot` lists what is missing or changed afterwards.
"""

from __future__ import annotations

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_carry, _merge_moves
from ansible_collections.ganeti.fleet.plugins.module_utils._ganeti_version import merge_version_rule
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import connection_suboptions
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import (
    TAG_MERGE_NODE,
    TAG_MERGED,
    TAG_MERGING,
    TAG_TRANSFER_FIX,
    tag_values,
)

#: The ``target`` option of the merge modules: the connection to the cluster that stays.
TARGET_OPTION = dict(type="dict", required=True, options=connection_suboptions("GANETI_TARGET_RAPI_"))

STRATEGIES = ("move", "in_place")
GROUP_POLICIES = ("error", "rename", "merge")
PARAMETER_POLICIES = ("strict", "warn")

#: Cluster parameters compared between the clusters (as tools/cluster-merge
#: does); a difference is an error under the strict policy, a warning under warn.
COMPARED_PARAMETERS = ("beparams", "nicparams", "ndparams", "default_iallocator", "drbd_usermode_helper",
                       "maintain_node_health", "master_netdev", "primary_ip_version", "uid_pool",
                       "default_hypervisor", "os_hvp", "osparams")

#: Parameters that must be equal for an in-place merge whatever the policy:
#: the merged nodes keep their disks where they are.
IN_PLACE_STRICT_PARAMETERS = ("volume_group_name", "file_storage_dir", "shared_file_storage_dir",
                              "gluster_storage_dir")

#: Disk templates each in-place strict parameter matters for.
_STORAGE_PARAMETER_TEMPLATES = {
    "volume_group_name": ("plain", "drbd"),
    "file_storage_dir": ("file",),
    "shared_file_storage_dir": ("sharedfile",),
    "gluster_storage_dir": ("gluster",),
}


def _query(client, resource, fields):
    """Rows of ``GET /2/query/RESOURCE`` as dicts (fields the bulk resources lack)."""
    answer = client.get("/2/query/%s" % resource, query={"fields": ",".join(fields)}) or {}
    return [{field: cell[1] for field, cell in zip(fields, row)} for row in answer.get("data") or []]


#: What every merge-node tag starts with; the rest is ``CLUSTER:NODE:GROUP``.
_MERGE_NODE_PREFIX = TAG_MERGE_NODE.split("%s", 1)[0]


def merge_state(target_tags, cluster_name):
    """``merged``, ``in_progress`` or ``pending``: what the target's tags say of CLUSTER_NAME."""
    if TAG_MERGED % cluster_name in target_tags:
        return "merged"
    if TAG_MERGING % cluster_name in target_tags:
        return "in_progress"
    return "pending"


def pending_nodes(target_tags, cluster_name):
    """Nodes of CLUSTER_NAME recorded on the target as still to join it: {node: group}.

    The target keeps these tags so that a merge interrupted after the merged
    cluster was taken apart can finish.
    """
    nodes = {}
    for value in tag_values(target_tags, _MERGE_NODE_PREFIX):
        cluster, _sep, node_group = value.partition(":")
        if cluster == cluster_name and ":" in node_group:
            node, group = node_group.rsplit(":", 1)
            nodes[node] = group
    return nodes


def record_tags(cluster_name, node_groups):
    """Tags that record on the target a merge in progress: the cluster, and each node with its group."""
    return [TAG_MERGING % cluster_name] + sorted(
        TAG_MERGE_NODE % (cluster_name, node, group) for node, group in node_groups.items())


def read_cluster(client):
    """Everything the pre-flight and the snapshot need from one cluster, read over RAPI."""
    info = client.get_info() or {}
    instances = client.list_instances(bulk=True)
    hypervisors = {row["name"]: row["hypervisor"] for row in _query(client, "instance", ("name", "hypervisor"))}
    for instance in instances:
        instance.setdefault("hypervisor", hypervisors.get(instance["name"]))
    groups = client.list_groups(bulk=True)
    group_names = {row["uuid"]: row["name"] for row in _query(client, "group", ("name", "uuid"))}
    nodes = client.list_nodes(bulk=True)
    custom = {row["name"]: row["custom_ndparams"] for row in _query(client, "node", ("name", "custom_ndparams"))}
    for node in nodes:
        node.setdefault("group", group_names.get(node.get("group.uuid")))
        node.setdefault("custom_ndparams", custom.get(node["name"]))
    try:
        oses = client.list_os_names()
    except RapiError:
        # Listing OSes needs every node to answer; unknown is reported, not fatal.
        oses = None
    return {
        "info": info,
        "instances": instances,
        "nodes": nodes,
        "groups": groups,
        "networks": client.get("/2/networks", query={"bulk": 1}) or [],
        "oses": oses,
        "tags": client.get_tags("cluster"),
    }


def _finding(severity, check, message, objects=()):
    return {"severity": severity, "check": check, "message": message, "objects": sorted(set(objects))}


def _name_clash(owners, name, cluster, check, what, fix=""):
    """A finding when NAME already belongs to another cluster in OWNERS; else NAME is recorded as CLUSTER's."""
    owner = owners.setdefault(name, cluster)
    if owner == cluster:
        return []
    message = "%s %s exists in %s and in %s." % (what, name, cluster, owner)
    return [_finding("error", check, message + (" " + fix if fix else ""), [name])]


def _cluster_name(data):
    return data["info"].get("name") or "?"


def _short_name(cluster_name):
    return cluster_name.split(".", 1)[0]


def _instance_nics(instance):
    macs = instance.get("nic.macs") or []
    ips = instance.get("nic.ips") or []
    networks = instance.get("nic.networks.names") or instance.get("nic.networks") or []
    return [{"mac": mac, "ip": ips[i] if i < len(ips) else None,
             "network": networks[i] if i < len(networks) else None} for i, mac in enumerate(macs)]


def _running(instance):
    return bool(instance.get("oper_state"))


def _group_names(data):
    return [g["name"] for g in data["groups"]]


def plan_groups(target_groups, source_groups, policy, source_cluster, taken=(), carried=None):
    """Map each group of a merged cluster to a group of the target.

    Returns ``(mapping, new_groups, findings)``: ``mapping`` from source group
    name to target group name, ``new_groups`` the target groups to create,
    and findings for clashes the policy does not resolve. ``taken`` are
    target names already claimed by earlier merged clusters of the same run;
    ``carried`` maps source groups to the target groups an earlier run of
    this merge created for them (see ``_merge_carry.carried_copies``).
    """
    mapping = dict(carried or {})
    new_groups = []
    findings = []
    existing = set(target_groups)
    claimed = set(taken)
    for group in source_groups:
        if group in mapping:
            continue
        if group not in existing and group not in claimed:
            mapping[group] = group
            new_groups.append(group)
            claimed.add(group)
            continue
        if policy == "merge" and group in existing:
            mapping[group] = group
            findings.append(_finding(
                "warning", "group-name",
                "Node group %s of %s joins the target's group of the same name (group policy merge)."
                % (group, source_cluster), [group]))
            continue
        if policy in ("rename", "merge"):
            renamed = "%s-%s" % (group, _short_name(source_cluster))
            if renamed in existing or renamed in claimed:
                findings.append(_finding(
                    "error", "group-name",
                    "Node group %s of %s cannot be renamed to %s: that name is taken on the target. "
                    "Rename one of the groups first (gnt-group rename)." % (group, source_cluster, renamed),
                    [group, renamed]))
                continue
            mapping[group] = renamed
            new_groups.append(renamed)
            claimed.add(renamed)
            findings.append(_finding(
                "warning", "group-name",
                "Node group %s of %s becomes %s on the target (group policy %s)."
                % (group, source_cluster, renamed, policy), [group, renamed]))
            continue
        findings.append(_finding(
            "error", "group-name",
            "Node group %s exists in %s and in the target. Set the group policy to rename or merge, "
            "or rename one of the groups first (gnt-group rename)." % (group, source_cluster), [group]))
    return mapping, new_groups, findings


def _compare_parameters(target, source, strategy, parameter_policy, source_cluster, used_templates):
    findings = []
    t_info, s_info = target["info"], source["info"]
    severity = "error" if parameter_policy == "strict" else "warning"
    for key in COMPARED_PARAMETERS:
        if key in t_info and key in s_info and t_info[key] != s_info[key]:
            findings.append(_finding(
                severity, "parameter",
                "Cluster parameter %s differs: target %r, %s %r. Make them equal (gnt-cluster modify) "
                "or use the parameter policy warn." % (key, t_info[key], source_cluster, s_info[key]), [key]))
    t_hvparams = t_info.get("hvparams") or {}
    s_hvparams = s_info.get("hvparams") or {}
    for hypervisor in sorted(set(t_info.get("enabled_hypervisors") or []) & set(s_info.get("enabled_hypervisors") or [])):
        if t_hvparams.get(hypervisor) != s_hvparams.get(hypervisor):
            findings.append(_finding(
                severity, "parameter",
                "Hypervisor parameters of %s differ between the target and %s." % (hypervisor, source_cluster),
                ["hvparams/%s" % hypervisor]))
    if strategy == "in_place":
        for key in IN_PLACE_STRICT_PARAMETERS:
            if not set(_STORAGE_PARAMETER_TEMPLATES[key]) & used_templates:
                continue
            if t_info.get(key) != s_info.get(key):
                findings.append(_finding(
                    "error", "storage-path",
                    "%s differs: target %r, %s %r. An in-place merge keeps the disks where they are, so the "
                    "storage settings must be equal; use the move strategy."
                    % (key, t_info.get(key), source_cluster, s_info.get(key)), [key]))
        t_hv = set(t_info.get("enabled_hypervisors") or [])
        s_hv = set(s_info.get("enabled_hypervisors") or [])
        if t_hv != s_hv:
            findings.append(_finding(
                "error", "hypervisor",
                "Enabled hypervisors differ: target %s, %s %s. An in-place merge needs the same set."
                % (", ".join(sorted(t_hv)), source_cluster, ", ".join(sorted(s_hv))), sorted(t_hv ^ s_hv)))
    return findings


def preflight(target, sources, strategy="move", group_policy="error", parameter_policy="strict",
              name_policy="error", rename_pattern=_merge_moves.DEFAULT_RENAME_PATTERN, mac_policy="error",
              placement=None, node_handover=True):
    """Check that SOURCES (cluster data, see read_cluster) can be merged into TARGET.

    Returns ``{"findings": [...], "plan": {...}}``. Nothing is changed anywhere;
    an ``error`` finding means the merge must not start. Move strategy:
    NAME_POLICY, RENAME_PATTERN, MAC_POLICY and PLACEMENT decide each
    instance's move request (``moves`` of each plan source; see
    ``_merge_moves``), and the target's ``storage``, when read, its capacity.
    Without NODE_HANDOVER (move strategy only) the merged clusters keep their
    nodes, emptied of instances.
    """
    for what, value, known in (("merge strategy", strategy, STRATEGIES), ("group policy", group_policy, GROUP_POLICIES),
                               ("parameter policy", parameter_policy, PARAMETER_POLICIES)):
        if value not in known:
            raise FleetError("unknown %s %r (expected one of %s)" % (what, value, ", ".join(known)))
    _merge_moves.check_policies(name_policy, mac_policy, rename_pattern)
    if strategy == "in_place" and not node_handover:
        raise FleetError("node_handover=false applies to the move strategy only: an in-place merge is the merged "
                         "clusters' nodes joining the target")
    # Policies resolve clashes through the moves' own options: move strategy only.
    name_policy, mac_policy = (name_policy, mac_policy) if strategy == "move" else ("error", "error")
    placement = placement or {}
    moving = []
    findings = []
    target_name = _cluster_name(target)
    t_info = target["info"]

    # Names already in use, with their owner, so a clash names both sides.
    instance_owner = {i["name"]: target_name for i in target["instances"]}
    node_owner = {n["name"]: target_name for n in target["nodes"]}
    network_owner = {n["name"]: target_name for n in target["networks"]}
    mac_owner = {}
    ip_owner = {}
    for instance in target["instances"]:
        for nic in _instance_nics(instance):
            mac_owner.setdefault(nic["mac"], (target_name, instance["name"]))
            if nic["ip"]:
                ip_owner.setdefault(nic["ip"], (target_name, instance["name"]))

    seen_clusters = {t_info.get("uuid") or target_name: target_name}
    claimed_groups = []
    plan_sources = []
    target_templates = set(t_info.get("enabled_disk_templates") or [])
    target_hypervisors = set(t_info.get("enabled_hypervisors") or [])
    target_oses = None if target.get("oses") is None else {o.split("+", 1)[0] for o in target["oses"]}

    target_tags = target.get("tags") or []
    for source in sources:
        if "info" not in source:
            # Its RAPI did not answer: fine if the target says it was (being) merged.
            source_name = source.get("name") or "?"
            state = merge_state(target_tags, source_name)
            if state == "pending":
                findings.append(_finding(
                    "error", "unreachable",
                    "The RAPI of %s does not answer (%s), and %s has no record of merging it. Check that its "
                    "master daemons run and the connection options are right." % (
                        source_name, source.get("error"), target_name), [source_name]))
            nodes = pending_nodes(target_tags, source_name)
            plan_sources.append({
                "cluster_name": source_name, "host": source.get("host"), "state": state, "master": None,
                "software_version": None, "nodes": sorted(nodes), "online_nodes": sorted(nodes),
                "node_groups": nodes, "instances": [], "running_instances": [], "group_map": {},
                "new_groups": sorted(set(nodes.values()) - set(_group_names(target))),
                "record_tags": record_tags(source_name, nodes),
                "merged_tag": TAG_MERGED % source_name,
            })
            continue
        s_info = source["info"]
        source_name = _cluster_name(source)
        key = s_info.get("uuid") or source_name
        if key in seen_clusters:
            findings.append(_finding(
                "error", "cluster",
                "%s is given twice, or is the target itself: a cluster cannot be merged into itself."
                % source_name, [source_name]))
            continue
        seen_clusters[key] = source_name

        version_rule = merge_version_rule(strategy, node_handover, target_name, t_info, source_name, s_info)
        if version_rule:
            findings.append(_finding(version_rule[0], "version", version_rule[1], [target_name, source_name]))

        # Copies an earlier (interrupted) run of this merge moved to the
        # target carry a provenance tag, under whichever name the move gave
        # them: they are ours, not clashes, and their moves resume.
        copies = _merge_moves.copies_on_target(target["instances"], source_name)
        moves = []
        for instance in source["instances"]:
            name = instance["name"]
            if name in copies:
                moves.append(_merge_moves.resumed_move(instance, copies[name], target_name, mac_owner, mac_policy))
                continue
            new_name, name_findings = _merge_moves.resolve_name(name, source_name, instance_owner, name_policy,
                                                                rename_pattern)
            findings.extend(name_findings)
            generate = []
            for index, nic in enumerate(_instance_nics(instance)):
                owner = mac_owner.get(nic["mac"])
                if owner and mac_policy == "generate":
                    generate.append(index)
                    findings.append(_merge_moves.generated_mac_finding(nic["mac"], name, source_name, owner, index))
                elif owner:
                    findings.append(_finding(
                        "error", "mac",
                        "MAC %s of instance %s (%s) is also used by instance %s (%s). Give one of them a new MAC "
                        "first (gnt-instance modify --net N:mac=generate), or set the MAC policy to generate "
                        "(move strategy)."
                        % (nic["mac"], name, source_name, owner[1], owner[0]), [nic["mac"], name, owner[1]]))
                else:
                    mac_owner[nic["mac"]] = (source_name, name)
                if nic["ip"]:
                    owner = ip_owner.get(nic["ip"])
                    if owner:
                        findings.append(_finding(
                            "error", "ip",
                            "IP %s of instance %s (%s) is also used by instance %s (%s)."
                            % (nic["ip"], name, source_name, owner[1], owner[0]), [nic["ip"], name, owner[1]]))
                    else:
                        ip_owner[nic["ip"]] = (source_name, name)
            template = instance.get("disk_template")
            if template and template not in target_templates:
                findings.append(_finding(
                    "error", "disk-template",
                    "Instance %s (%s) uses the disk template %s, which is not enabled on %s "
                    "(gnt-cluster modify --enabled-disk-templates)." % (name, source_name, template, target_name),
                    [name, template]))
            hypervisor = instance.get("hypervisor")
            if hypervisor and hypervisor not in target_hypervisors:
                findings.append(_finding(
                    "error", "hypervisor",
                    "Instance %s (%s) runs on the hypervisor %s, which is not enabled on %s."
                    % (name, source_name, hypervisor, target_name), [name, hypervisor]))
            os_name = (instance.get("os") or "").split("+", 1)[0]
            if os_name and target_oses is not None and os_name not in target_oses:
                findings.append(_finding(
                    "error" if strategy == "move" else "warning", "os",
                    "Instance %s (%s) uses the OS %s, which %s does not have on all its nodes."
                    % (name, source_name, os_name, target_name), [name, os_name]))
            moves.append(_merge_moves.move_request(name, new_name, len(instance.get("nic.macs") or []), generate))
            moving.append(instance)

        for node in source["nodes"]:
            name = node["name"]
            findings.extend(_name_clash(node_owner, name, source_name, "node-name", "Node"))
            if node.get("offline"):
                findings.append(_finding(
                    "error", "node-offline",
                    "Node %s of %s is offline. Bring it back (gnt-node modify --offline=no) or remove it from %s "
                    "before the merge." % (name, source_name, source_name), [name]))

        carried_networks = _merge_carry.carried_copies(target["networks"], source_name)
        for network in source["networks"]:
            name = network["name"]
            if carried_networks.get(name) != name:
                findings.extend(_name_clash(network_owner, name, source_name, "network-name", "Network",
                                            "Rename or remove one of them first."))

        used_templates = {i.get("disk_template") for i in source["instances"]} - {None}
        findings.extend(_compare_parameters(target, source, strategy, parameter_policy, source_name, used_templates))

        group_map, new_groups, group_findings = plan_groups(
            _group_names(target), _group_names(source), group_policy, source_name, claimed_groups,
            carried=_merge_carry.carried_copies(target["groups"], source_name))
        claimed_groups.extend(new_groups)
        findings.extend(group_findings)
        if strategy == "move":
            findings.extend(_merge_carry.preflight_findings(target, source, group_map))

        # Nodes an interrupted run already took out of the cluster are only
        # recorded in the target's tags.
        node_groups = pending_nodes(target_tags, source_name)
        node_groups.update({n["name"]: group_map.get(n.get("group"), n.get("group")) for n in source["nodes"]})
        plan_sources.append({
            "cluster_name": source_name,
            "host": source.get("host"),
            "state": merge_state(target_tags, source_name),
            "master": s_info.get("master"),
            "software_version": s_info.get("software_version"),
            "nodes": sorted(node_groups),
            "online_nodes": sorted(n["name"] for n in source["nodes"] if not n.get("offline")),
            "node_groups": node_groups,
            "record_tags": record_tags(source_name, node_groups),
            "merged_tag": TAG_MERGED % source_name,
            "instances": sorted(i["name"] for i in source["instances"]),
            "running_instances": sorted(i["name"] for i in source["instances"] if _running(i)),
            "group_map": group_map,
            "new_groups": new_groups,
            "moves": moves,
        })

    if strategy == "move":
        findings.extend(_merge_moves.place_and_check_capacity(target, plan_sources, moving, placement))

    plan = {
        "target": {
            "cluster_name": target_name,
            "master": t_info.get("master"),
            "software_version": t_info.get("software_version"),
            "nodes": sorted(n["name"] for n in target["nodes"]),
            "groups": sorted(_group_names(target)),
            "default_iallocator": t_info.get("default_iallocator"),
        },
        "sources": plan_sources,
        "transfer_fix_tag": TAG_TRANSFER_FIX,
    }
    findings.sort(key=lambda f: (f["severity"] != "error", f["check"], f["message"]))
    return {"findings": findings, "plan": plan}


def errors(findings):
    return [f for f in findings if f["severity"] == "error"]


#: Disk types whose data is a file on the primary node, cheap to hash there.
HASHABLE_DISK_TYPES = ("file", "sharedfile")


def hash_candidates(cluster_data, max_mib):
    """Instances whose disks are worth hashing before and after a merge.

    Stopped instances only (a running one writes to its disks), with
    file-based disks, at most MAX_MIB in all.
    """
    names = []
    for instance in cluster_data["instances"]:
        if _running(instance) or instance.get("admin_state") == "up":
            continue
        if instance.get("disk_template") not in HASHABLE_DISK_TYPES:
            continue
        if sum(instance.get("disk.sizes") or []) <= max_mib:
            names.append(instance["name"])
    return sorted(names)


#: RapiError kinds of a RAPI that does not answer at all.
UNANSWERED_KINDS = ("connection", "timeout")


def read_clusters(target_options, source_options, connect, hash_disks_up_to=0):
    """Read the target, then every merged cluster at the same time, for :func:`preflight`.

    CONNECT turns one connection dict into a RAPI client. A merged cluster
    the target's tags call merged is not contacted (its RAPI is gone); one
    whose RAPI does not answer is kept as ``{"name", "error", "host"}`` for
    :func:`preflight` to judge. Reading in parallel matters most there: each
    silent RAPI costs its client's retries. Returns ``(clusters, locations)``,
    the target first; a target that cannot be read raises its RapiError.
    """
    target, locations = _read_cluster_and_disks(target_options, connect, hash_disks_up_to, False)
    calls = [None if merge_state(target["tags"], options.get("name") or "") == "merged"
             else (_read_cluster_and_disks, options, connect, hash_disks_up_to, True)
             for options in source_options]
    answers = iter(in_parallel(*calls))
    clusters = [target]
    for options, call in zip(source_options, calls):
        if call is None:
            clusters.append({"name": options["name"], "error": "merged earlier", "host": options.get("host")})
            continue
        cluster, found = next(answers)
        clusters.append(cluster)
        locations += found
    return clusters, locations


def _read_cluster_and_disks(options, connect, hash_disks_up_to, may_be_gone):
    with connect(options) as client:
        try:
            cluster = read_cluster(client)
        except RapiError as exc:
            if not may_be_gone or exc.kind not in UNANSWERED_KINDS:
                raise
            # A merged cluster is taken apart by the merge: the target's
            # tags say whether that is why it does not answer.
            return {"name": options.get("name") or options.get("rapi_url"), "error": str(exc),
                    "host": options.get("host")}, []
        cluster["host"] = options.get("host")
        locations = []
        if hash_disks_up_to > 0:
            locations = disk_locations(client, cluster["info"].get("name"),
                                       hash_candidates(cluster, hash_disks_up_to))
        return cluster, locations


def disk_locations(client, cluster_name, names):
    """Node and file of each file-based disk of the instances NAMES, as a flat list.

    Reads Ganeti's static instance data (one job per instance, submitted
    together; no node is contacted).
    """
    jobs = [(name, client.query_instance(name)) for name in names]
    locations = []
    for name, job_id in jobs:
        result = client.wait_for_job(job_id)
        data = ((result.get("opresult") or [{}])[0] or {}).get(name) or {}
        for index, disk in enumerate(data.get("disks") or []):
            logical_id = disk.get("logical_id") or []
            if disk.get("dev_type") in HASHABLE_DISK_TYPES and len(logical_id) > 1:
                locations.append({"cluster": cluster_name, "instance": name, "index": index,
                                  "node": data.get("pnode"), "path": logical_id[1]})
    return locations
