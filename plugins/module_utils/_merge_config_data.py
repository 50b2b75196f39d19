# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Offline merge of Ganeti 3.0 cluster configurations (``config.data``). Internal use only.

The configuration step of design 2.1's cluster merge (in-place merges),
written for the Ganeti 3.0 format: disks are top-level objects referenced by
UUID from the instances, node groups and networks are referenced by UUID
from nodes, NICs and groups, and the configuration daemon (wconfd) owns the
file while it runs.

No Ansible imports. Everything here works on parsed JSON
(dicts) and never touches a file, except :func:`load`, :func:`dump` and
:func:`refuse_own_file` (which compares paths).
"""

from __future__ import annotations

import copy
import json
import os
import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import own_tags

GROUP_POLICIES = ("error", "rename", "merge")
PARAMETER_POLICIES = ("strict", "warn")

#: Ganeti's DRBD port range (constants.FIRST_DRBD_PORT / LAST_DRBD_PORT).
FIRST_DRBD_PORT = 11000
LAST_DRBD_PORT = 14999

DT_DRBD8 = "drbd"

#: Cluster parameters that, when they differ, make the merged cluster's
#: objects behave differently on the target, or break them outright. They
#: are refused whatever the parameter policy.
ALWAYS_STRICT = ("enabled_hypervisors", "primary_ip_family", "volume_group_name",
                 "file_storage_dir", "shared_file_storage_dir", "gluster_storage_dir",
                 "ssh_key_type")

#: Cluster parameters compared under the parameter policy (tools/cluster-merge's
#: list, plus what Ganeti 3.0 added). Defaults that instances and nodes inherit
#: (beparams, nicparams, hvparams, ndparams, osparams) are pinned on the merged
#: objects when they differ, so that they keep behaving as before.
POLICY_PARAMETERS = ("beparams", "nicparams", "ndparams", "hvparams", "os_hvp", "osparams",
                     "diskparams", "ipolicy", "default_iallocator", "drbd_usermode_helper",
                     "hidden_os", "blacklisted_os", "maintain_node_health", "uid_pool",
                     "modify_ssh_setup", "enabled_user_shutdown", "prealloc_wipe_disks")

#: Cluster parameters whose difference is only reported: the target's value
#: applies to the merged cluster from then on without changing any merged
#: object (new MACs, the master network device of a future failover...).
INFORMATIONAL_PARAMETERS = ("mac_prefix", "master_netdev", "master_netmask",
                            "modify_etc_hosts", "candidate_pool_size")

#: Storage directories that matter only when their disk template is enabled.
_STORAGE_DIR_TEMPLATES = {"file_storage_dir": "file", "shared_file_storage_dir": "sharedfile",
                          "gluster_storage_dir": "gluster"}


class MergeRefused(FleetError):
    """The configurations cannot be merged into the cluster TARGET as asked; nothing was changed.

    ``problems`` (also a key of the failed task's result) lists one
    human-readable sentence per clash, each naming the object, the cause and
    the fix.
    """

    def __init__(self, target, problems):
        problems = list(problems)
        super().__init__("refusing to merge into %s, nothing was changed: %s" % (target, "; ".join(problems)),
                         problems=problems)

    @property
    def problems(self):
        return self.details["problems"]


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def dump(config):
    """config.data text as Ganeti writes it (compact JSON, sorted keys are not required)."""
    return json.dumps(config, separators=(",", ":"))


def cluster_name(config):
    return config["cluster"]["cluster_name"]


def cluster_uuid(config):
    return config["cluster"].get("uuid")


def refuse_own_file(config_file, sources, target_name):
    """Refuse SOURCES (paths) that are CONFIG_FILE itself, or one file given twice.

    Raises :class:`MergeRefused` naming each such path. A path that cannot be
    compared (missing) is left to :func:`load`, which names it.
    """
    problems = []
    for index, path in enumerate(sources):
        if _same_file(path, config_file):
            problems.append("source %s is the target's own configuration file %s: a cluster cannot be merged"
                            " into itself; remove it from sources" % (path, config_file))
        for earlier in sources[:index]:
            if _same_file(path, earlier):
                problems.append("source %s is given twice (also as %s); list each merged cluster's"
                                " configuration once" % (path, earlier))
                break
    if problems:
        raise MergeRefused(target_name, problems)


def _same_file(left, right):
    try:
        return os.path.samefile(left, right)
    except OSError:
        return os.path.realpath(left) == os.path.realpath(right)


def identity_problems(target, sources):
    """Sources that are the target cluster itself, or one cluster given twice (list of problems).

    A cluster is its UUID (``cluster.uuid``, kept for the cluster's life)
    and its name; a copy of the target's configuration has both, and would
    otherwise pass as already merged because its objects share the target's
    UUIDs.
    """
    problems, seen = [], {}
    tname, tuuid = cluster_name(target), cluster_uuid(target)
    for source in sources:
        sname, suuid = cluster_name(source), cluster_uuid(source)
        if sname == tname or (suuid and suuid == tuuid):
            problems.append("cluster %s (UUID %s) is the target itself (%s, UUID %s): a cluster cannot be merged"
                            " into itself; remove its configuration from the sources"
                            % (sname, suuid, tname, tuuid))
            continue
        for key in (("name", sname), ("uuid", suuid)):
            if key[1] and key in seen:
                problems.append("cluster %s is given twice (as %s and %s); list each merged cluster once"
                                % (sname, seen[key], sname))
                break
        seen[("name", sname)] = sname
        if suuid:
            seen[("uuid", suuid)] = sname
    return problems


def short_name(name):
    return name.split(".")[0]


def _names(objects):
    return {obj["name"]: uuid for uuid, obj in (objects or {}).items()}


def _macs(config):
    found = {}
    for inst in config.get("instances", {}).values():
        for nic in inst.get("nics", []):
            if nic.get("mac"):
                found[nic["mac"].lower()] = inst["name"]
    return found


def _node_ips(config):
    found = {}
    for node in config.get("nodes", {}).values():
        for key in ("primary_ip", "secondary_ip"):
            if node.get(key):
                found.setdefault(node[key], node["name"])
    return found


def merge_status(target, source):
    """How much of SOURCE is already in TARGET: ``absent``, ``merged`` or ``partial``.

    Objects are matched by UUID, which the merge keeps, so a re-run after an
    interruption recognises what an earlier run already wrote.
    """
    wanted = [("nodes", uuid) for uuid in source.get("nodes", {})]
    wanted += [("instances", uuid) for uuid in source.get("instances", {})]
    wanted += [("disks", uuid) for uuid in source.get("disks", {})]
    present = [1 for kind, uuid in wanted if uuid in target.get(kind, {})]
    if not present:
        return "absent"
    if len(present) == len(wanted):
        return "merged"
    return "partial"


def _top_templates(config):
    """The template of each instance (the dev_type of its top-level disks; diskless if none)."""
    disks = config.get("disks", {})
    found = set()
    for inst in config.get("instances", {}).values():
        if not inst.get("disks"):
            found.add("diskless")
        for disk_uuid in inst.get("disks", []):
            disk = disks.get(disk_uuid)
            if disk:
                found.add(disk.get("dev_type"))
    return found


def _differences(left, right, prefix=""):
    """Paths (a/b/c) where two parameter trees differ, keys of either side included."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            found += _differences(left.get(key), right.get(key), prefix + "/" + str(key))
        return found
    if isinstance(left, list) and isinstance(right, list) and \
            all(not isinstance(x, (dict, list)) for x in left + right):
        return [] if sorted(map(str, left)) == sorted(map(str, right)) else [prefix or "/"]
    return [] if left == right else [prefix or "/"]


def compare_clusters(target, source, parameter_policy="strict"):
    """Return (problems, warnings) from the cluster-level parameters of SOURCE against TARGET."""
    problems, warnings = [], []
    tcl, scl = target["cluster"], source["cluster"]
    sname = scl["cluster_name"]
    if target.get("version") != source.get("version"):
        problems.append("cluster %s has configuration version %s, the target %s has %s: both must run"
                        " the same Ganeti version; upgrade one of them first"
                        % (sname, source.get("version"), tcl["cluster_name"], target.get("version")))
    used = _top_templates(source)
    missing = sorted(used - set(tcl.get("enabled_disk_templates", [])))
    if missing:
        problems.append("cluster %s has instances with disk template(s) %s, which %s does not enable;"
                        " enable them on the target (gnt-cluster modify --enabled-disk-templates)"
                        % (sname, ", ".join(missing), tcl["cluster_name"]))
    for key in ALWAYS_STRICT:
        tval, sval = tcl.get(key), scl.get(key)
        if key in _STORAGE_DIR_TEMPLATES:
            template = _STORAGE_DIR_TEMPLATES[key]
            if template not in set(scl.get("enabled_disk_templates", [])) | used:
                continue
        if key == "enabled_hypervisors":
            if sorted(tval or []) != sorted(sval or []):
                problems.append("cluster %s enables hypervisors %s, %s enables %s: a cluster has one set;"
                                " make them equal first (gnt-cluster modify --enabled-hypervisors)"
                                % (sname, ",".join(sval or []), tcl["cluster_name"],
                                   ",".join(tval or [])))
            continue
        if tval != sval:
            problems.append("cluster parameter %s is %r on %s and %r on the target %s: its instances'"
                            " disks or nodes depend on it; make it equal on both clusters first"
                            % (key, sval, sname, tval, tcl["cluster_name"]))
    for key in POLICY_PARAMETERS:
        tval, sval = tcl.get(key), scl.get(key)
        if key == "hvparams":
            hvs = set(scl.get("enabled_hypervisors", []))
            tval = {hv: v for hv, v in (tval or {}).items() if hv in hvs}
            sval = {hv: v for hv, v in (sval or {}).items() if hv in hvs}
        diffs = _differences(tval, sval)
        if not diffs:
            continue
        text = ("cluster parameter %s differs between %s and the target %s (%s)"
                % (key, sname, tcl["cluster_name"],
                   ", ".join(key + d if d != "/" else "%r instead of %r" % (sval, tval)
                             for d in diffs[:8])))
        if parameter_policy == "strict":
            problems.append(text + "; make it equal, or use the parameter policy warn (the merged"
                            " instances and nodes then keep their values as explicit parameters)")
        else:
            warnings.append(text)
    for key in INFORMATIONAL_PARAMETERS:
        if tcl.get(key) != scl.get(key):
            warnings.append("cluster parameter %s is %r on %s; the merged cluster keeps the target's"
                            " %r" % (key, scl.get(key), sname, tcl.get(key)))
    return problems, warnings


def _fill_missing(explicit, defaults_source, defaults_target):
    """Pin on an object the source cluster's defaults that the target's defaults would change."""
    pinned = dict(explicit or {})
    for key, sval in (defaults_source or {}).items():
        if key in pinned:
            continue
        if (defaults_target or {}).get(key) != sval:
            pinned[key] = copy.deepcopy(sval)
    return pinned


def group_map_for(target, source, group_policy, explicit=None):
    """Map each source group name to its name in the merged config.

    EXPLICIT (name -> name), e.g. from a pre-flight plan, wins over the policy.
    Returns (mapping, problems).
    """
    explicit = explicit or {}
    tgroups = _names(target.get("nodegroups"))
    sname = short_name(cluster_name(source))
    mapping, problems = {}, []
    for name in sorted(_names(source.get("nodegroups"))):
        if name in explicit:
            mapping[name] = explicit[name]
            continue
        if name not in tgroups:
            mapping[name] = name
        elif group_policy == "merge":
            mapping[name] = name
        elif group_policy == "rename":
            mapping[name] = "%s-%s" % (name, sname)
        else:
            problems.append("node group %s exists in %s and in the target %s: rename one of them"
                            " (gnt-group rename), or use the group policy rename or merge"
                            % (name, cluster_name(source), cluster_name(target)))
    return mapping, problems


def check_clashes(target, source, group_map):
    """Name, address and UUID clashes between SOURCE and TARGET (list of problems)."""
    problems = []
    sname, tname = cluster_name(source), cluster_name(target)
    for kind, label in (("nodes", "node"), ("instances", "instance"), ("networks", "network")):
        tnames = _names(target.get(kind))
        for name in sorted(_names(source.get(kind))):
            if name in tnames:
                problems.append("%s %s exists in %s and in the target %s: remove or rename it in one"
                                " cluster first" % (label, name, sname, tname))
    for kind in ("nodes", "instances", "disks", "networks", "nodegroups"):
        for uuid in sorted(set(source.get(kind, {})) & set(target.get(kind, {}))):
            problems.append("%s UUID %s is used in %s and in the target %s: the configurations must"
                            " not share objects (was this cluster cloned from the other?)"
                            % (kind[:-1], uuid, sname, tname))
    tmacs = _macs(target)
    for mac, inst in sorted(_macs(source).items()):
        if mac in tmacs:
            problems.append("MAC %s of instance %s (%s) is also used by %s on the target %s: change"
                            " one (gnt-instance modify --net N:mac=generate)"
                            % (mac, inst, sname, tmacs[mac], tname))
    tips = _node_ips(target)
    for addr, node in sorted(_node_ips(source).items()):
        if addr in tips:
            problems.append("IP address %s of node %s (%s) is also used by node %s of the target %s"
                            % (addr, node, sname, tips[addr], tname))
    tgroups = _names(target.get("nodegroups"))
    new_names = {}
    for old, new in sorted(group_map.items()):
        if new != old and new in tgroups:
            problems.append("node group %s of %s would be renamed %s, which the target %s already has;"
                            " rename it yourself first (gnt-group rename)" % (old, sname, new, tname))
        if new in new_names and new_names[new] != old:
            problems.append("node groups %s and %s of %s would both become %s"
                            % (new_names[new], old, sname, new))
        new_names[new] = old
    filters = source.get("filters") or {}
    if filters:
        problems.append("cluster %s has job filter rules (%s), which would apply to the whole merged"
                        " cluster: delete them (gnt-filter delete) and recreate them on the target"
                        % (sname, ", ".join(sorted(filters))))
    for uuid, inst in sorted(source.get("instances", {}).items()):
        if inst.get("admin_state") == "up":
            problems.append("instance %s of %s is marked up: stop it (gnt-instance shutdown) before"
                            " its configuration is merged" % (inst["name"], sname))
        for disk_uuid in inst.get("disks", []):
            if disk_uuid not in source.get("disks", {}):
                problems.append("instance %s of %s refers to disk %s, which its configuration lacks:"
                                " the configuration is damaged; run gnt-cluster verify on %s"
                                % (inst["name"], sname, disk_uuid, sname))
    return problems


class PortAllocator:
    """Ganeti's DRBD port allocation (wconfd's allocatePort): the pool first, then highest+1."""

    def __init__(self, cluster):
        self.cluster = cluster

    def allocate(self):
        pool = self.cluster.setdefault("tcpudp_port_pool", [])
        if pool:
            return pool.pop()
        port = max(int(self.cluster.get("highest_used_port") or 0), FIRST_DRBD_PORT - 1) + 1
        if port > LAST_DRBD_PORT:
            name = self.cluster["cluster_name"]
            raise MergeRefused(name, ["the target %s has no free DRBD port left (highest used %d, last"
                                      " %d, empty port pool)" % (name, port - 1, LAST_DRBD_PORT)])
        self.cluster["highest_used_port"] = port
        return port


def _drbd_disks(disk):
    """DISK and its DRBD descendants (children are embedded objects)."""
    found = [disk] if disk.get("dev_type") == DT_DRBD8 else []
    for child in disk.get("children") or []:
        found += _drbd_disks(child)
    return found


def merge_one(merged, source, group_map, group_policy, parameter_policy, now):
    """Merge SOURCE into MERGED (modified in place). Returns a report dict."""
    tcl, scl = merged["cluster"], source["cluster"]
    report = {"cluster": scl["cluster_name"], "nodes": [], "instances": [], "disks": 0,
              "groups_added": [], "groups_merged": [], "groups_renamed": {}, "networks": [],
              "drbd_ports": {}, "pinned_parameters": [], "cluster_tags": []}
    tgroups = _names(merged.setdefault("nodegroups", {}))
    group_uuid = {}
    for uuid, group in sorted(source.get("nodegroups", {}).items()):
        new_name = group_map[group["name"]]
        if new_name in tgroups:
            target_group = merged["nodegroups"][tgroups[new_name]]
            for net_uuid, netparams in (group.get("networks") or {}).items():
                target_group.setdefault("networks", {})[net_uuid] = copy.deepcopy(netparams)
            target_group["serial_no"] = int(target_group.get("serial_no", 0)) + 1
            target_group["mtime"] = now
            group_uuid[uuid] = tgroups[new_name]
            report["groups_merged"].append(group["name"])
        else:
            new_group = copy.deepcopy(group)
            new_group["name"] = new_name
            new_group["members"] = []
            merged["nodegroups"][uuid] = new_group
            group_uuid[uuid] = uuid
            tgroups[new_name] = uuid
            report["groups_added"].append(new_name)
            if new_name != group["name"]:
                report["groups_renamed"][group["name"]] = new_name
    for uuid, network in sorted((source.get("networks") or {}).items()):
        merged.setdefault("networks", {})[uuid] = copy.deepcopy(network)
        report["networks"].append(network["name"])

    pin_nd = _differences(tcl.get("ndparams"), scl.get("ndparams"))
    for uuid, node in sorted(source.get("nodes", {}).items()):
        new_node = copy.deepcopy(node)
        # Offline and not a candidate: the target's master votes and
        # distributes only to nodes it knows are its own; 'gnt-node add
        # --readd' brings each node in with the target's certificates.
        new_node.update(master_candidate=False, offline=True, drained=False,
                        group=group_uuid[node["group"]], mtime=now,
                        serial_no=int(node.get("serial_no", 0)) + 1)
        if pin_nd:
            new_node["ndparams"] = _fill_missing(node.get("ndparams"), scl.get("ndparams"),
                                                 tcl.get("ndparams"))
        merged["nodes"][uuid] = new_node
        report["nodes"].append(node["name"])

    allocator = PortAllocator(tcl)
    for uuid, disk in sorted(source.get("disks", {}).items()):
        new_disk = copy.deepcopy(disk)
        for drbd in _drbd_disks(new_disk):
            old_port = drbd["logical_id"][2]
            drbd["logical_id"][2] = allocator.allocate()
            report["drbd_ports"][uuid] = [old_port, drbd["logical_id"][2]]
        merged.setdefault("disks", {})[uuid] = new_disk
        report["disks"] += 1

    hvparams_s, hvparams_t = scl.get("hvparams") or {}, tcl.get("hvparams") or {}
    nic_s = (scl.get("nicparams") or {}).get("default", {})
    nic_t = (tcl.get("nicparams") or {}).get("default", {})
    be_s = (scl.get("beparams") or {}).get("default", {})
    be_t = (tcl.get("beparams") or {}).get("default", {})
    for uuid, inst in sorted(source.get("instances", {}).items()):
        new_inst = copy.deepcopy(inst)
        hv = inst.get("hypervisor")
        before = (dict(new_inst.get("beparams") or {}), dict(new_inst.get("hvparams") or {}),
                  [dict(nic.get("nicparams") or {}) for nic in new_inst.get("nics", [])])
        new_inst["beparams"] = _fill_missing(inst.get("beparams"), be_s, be_t)
        new_inst["hvparams"] = _fill_missing(inst.get("hvparams"), hvparams_s.get(hv),
                                             hvparams_t.get(hv))
        for nic in new_inst.get("nics", []):
            if not nic.get("network"):
                nic["nicparams"] = _fill_missing(nic.get("nicparams"), nic_s, nic_t)
        after = (new_inst["beparams"], new_inst["hvparams"],
                 [nic.get("nicparams") or {} for nic in new_inst.get("nics", [])])
        if after != before:
            report["pinned_parameters"].append(inst["name"])
        new_inst["mtime"] = now
        new_inst["serial_no"] = int(inst.get("serial_no", 0)) + 1
        merged["instances"][uuid] = new_inst
        report["instances"].append(inst["name"])

    # The merged cluster's own tags; ganeti.fleet's bookkeeping tags describe
    # that cluster (its transfer fix, its merges) and would be wrong on the target.
    carried_tags = [tag for tag in own_tags(scl.get("tags")) if tag not in (tcl.get("tags") or [])]
    tcl["tags"] = list(tcl.get("tags") or []) + carried_tags
    report["cluster_tags"] = carried_tags
    tcl["uid_pool"] = _union(tcl.get("uid_pool"), scl.get("uid_pool"))
    tcl["reserved_lvs"] = sorted(set(tcl.get("reserved_lvs") or []) |
                                 set(scl.get("reserved_lvs") or []))
    for key in ("hidden_os", "blacklisted_os"):
        tcl[key] = sorted(set(tcl.get(key) or []) | set(scl.get(key) or []))
    for name, params in (scl.get("osparams") or {}).items():
        tcl.setdefault("osparams", {}).setdefault(name, copy.deepcopy(params))
    for name, params in (scl.get("os_hvp") or {}).items():
        tcl.setdefault("os_hvp", {}).setdefault(name, copy.deepcopy(params))
    del group_policy, parameter_policy  # decisions were taken in group_map_for/compare_clusters
    return report


def _union(left, right):
    result = list(left or [])
    for item in right or []:
        if item not in result:
            result.append(item)
    return result


def merge(target, sources, group_policy="error", parameter_policy="strict", group_maps=None,
          now=None):
    """Merge SOURCES (parsed config.data of the merged clusters) into TARGET.

    Returns ``(merged_config_or_None, report)``: None when every source is
    already merged (nothing to write). Raises :class:`MergeRefused`, before
    anything is built, listing every clash the policies do not resolve.
    """
    if group_policy not in GROUP_POLICIES:
        raise ValueError("group_policy must be one of %s" % ", ".join(GROUP_POLICIES))
    if parameter_policy not in PARAMETER_POLICIES:
        raise ValueError("parameter_policy must be one of %s" % ", ".join(PARAMETER_POLICIES))
    group_maps = group_maps or [None] * len(sources)
    now = time.time() if now is None else now
    report = {"target": cluster_name(target), "sources": [], "already_merged": [],
              "merge_warnings": [], "nodes_added": [], "instances_added": []}
    # Before merge_status: the target's own configuration shares every UUID
    # with it and would be taken for an already merged source.
    problems = identity_problems(target, sources)
    if problems:
        raise MergeRefused(cluster_name(target), problems)
    todo = []
    seen = {"nodes": {}, "instances": {}, "networks": {}, "nodegroups": {}}
    for index, source in enumerate(sources):
        status = merge_status(target, source)
        name = cluster_name(source)
        if status == "merged":
            report["already_merged"].append(name)
            continue
        if status == "partial":
            problems.append("the target %s holds only part of %s's nodes, instances and disks:"
                            " an earlier merge was interrupted while writing; restore the target's"
                            " config.data from the merge backup and run again"
                            % (cluster_name(target), name))
            continue
        cluster_problems, warnings = compare_clusters(target, source, parameter_policy)
        mapping, group_problems = group_map_for(target, source, group_policy, group_maps[index])
        problems += cluster_problems + group_problems
        report["merge_warnings"] += warnings
        if not group_problems:
            problems += check_clashes(target, source, mapping)
        for kind, label in (("nodes", "node"), ("instances", "instance"), ("networks", "network")):
            for obj_name in _names(source.get(kind)):
                if obj_name in seen[kind]:
                    problems.append("%s %s exists in both %s and %s" % (label, obj_name,
                                                                        seen[kind][obj_name], name))
                seen[kind][obj_name] = name
        for new_name in set(mapping.values()) - set(_names(target.get("nodegroups"))):
            if new_name in seen["nodegroups"]:
                problems.append("node group %s would be created from both %s and %s; use the group"
                                " policy rename" % (new_name, seen["nodegroups"][new_name], name))
            seen["nodegroups"][new_name] = name
        todo.append((source, mapping))
    if problems:
        raise MergeRefused(cluster_name(target), problems)
    if not todo:
        return None, report
    merged = copy.deepcopy(target)
    for source, mapping in todo:
        one = merge_one(merged, source, mapping, group_policy, parameter_policy, now)
        report["sources"].append(one)
        report["nodes_added"] += one["nodes"]
        report["instances_added"] += one["instances"]
    merged["cluster"]["serial_no"] = int(merged["cluster"].get("serial_no", 0)) + 1
    merged["cluster"]["mtime"] = now
    merged["serial_no"] = int(merged.get("serial_no", 0)) + 1
    merged["mtime"] = now
    return merged, report


def offline_nodes_of(config, names):
    """Those of NAMES that CONFIG lists as offline nodes (to be readded)."""
    by_name = {node["name"]: node for node in config.get("nodes", {}).values()}
    return [name for name in names if by_name.get(name, {}).get("offline")]


def source_summary(config):
    """What a merge needs to remember about a source: its nodes, instances and groups."""
    return {"cluster_name": cluster_name(config),
            "nodes": sorted(node["name"] for node in config.get("nodes", {}).values()),
            "online_nodes": sorted(node["name"] for node in config.get("nodes", {}).values()
                                   if not node.get("offline")),
            "instances": sorted(inst["name"] for inst in config.get("instances", {}).values())}
