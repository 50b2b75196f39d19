# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster moves: the plan and the pre-flight of one move. Internal use only.

A move is driven over both clusters' RAPI; ``_move_executor`` carries it
out, ``_move_request`` defines its options and identity. What this module
adds is what makes the move safe and repeatable:

* the destination create request is built from the source instance
  (``OpInstanceQueryData``) plus the request's overrides, and always with
  ``start: false``, so a failed transfer never starts an empty copy;
* every destination instance a move creates carries tags naming the move
  (``TAG_MOVE_ID``) and marking it unfinished (``TAG_PENDING``) until its data
  was verified; only such an instance is ever removed;
* :func:`assess` reads both clusters and tells in which phase an earlier run
  left the move, so a re-run resumes or does nothing;
* :func:`plan_move` checks everything that can be checked before the source
  is shut down: the static checks of ``_move_checks``, the destination's free
  space, and Ganeti's own checks (with ``transfer: ganeti`` the shared cluster
  domain secret too), by a dry run of the real create request on the
  destination.
"""

from __future__ import annotations

import re

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import parse_log_entry
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import in_parallel
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_capacity import TEMPLATE_STORAGE, read_storage
from ansible_collections.ganeti.fleet.plugins.module_utils._move_checks import (
    Finding,
    can_take_instances,
    same_cluster_problem,
    static_checks,
    storage_check,
    storage_to_read,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import recorded_digests, static_disk_paths
from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import (
    SOURCE_POLICIES,
    MoveError,
    describe_move,
    destination_name,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import (
    TAG_MOVE_ID,
    TAG_MOVED_TO,
    TAG_PENDING,
    TAG_PREFIX,
    TAG_SOURCE,
    TAG_SOURCE_UP,
    TAG_SOURCE_UUID,
    TAG_STOPPED_FOR_MOVE,
    tag_problem,
    tag_values,
)

#: The destination only warns when a disk did not arrive (3.0 and later).
IMPORT_FAILED_DISK_RE = re.compile(r"were not imported successfully|failed to receive data", re.I)

PHASE_NEW = "new"
PHASE_REMNANT = "remnant"
PHASE_FINISH = "finish"
PHASE_DONE = "done"


def source_details(client, name, listed=None):
    """Everything a move needs to know about the source instance.

    Uses ``GET /2/instances/NAME`` (tags, run state; LISTED when already
    read) and the static ``OpInstanceQueryData`` job (instance-level
    parameters, NICs with their VLANs and networks, disk modes and names)
    which RAPI exposes nowhere else. The static query takes no locks, so it
    runs next to the ``prepare-export`` job.
    """
    if listed is None:
        listed = client.get_instance(name)
    result = client.wait_for_job(client.query_instance(name))["opresult"][0]
    data = result.get(name) or (list(result.values())[0] if result else None)
    if not data:
        raise MoveError("Ganeti returned no data for instance %s" % name)
    return {
        "name": data["name"],
        "uuid": data["uuid"],
        "admin_state": data["config_state"],
        "status": listed.get("status"),
        "oper_state": listed.get("oper_state"),
        "pnode": data["pnode"],
        "os": data["os"],
        "hypervisor": data["hypervisor"],
        "disk_template": data["disk_template"],
        "disks": [{"size": d["size"], "mode": d.get("mode"), "name": d.get("name"),
                   "spindles": d.get("spindles")} for d in data["disks"]],
        "disk_paths": static_disk_paths(data["disks"]),
        "nics": [_nic_from_tuple(t) for t in data["nics"]],
        "beparams": dict(data.get("be_instance") or {}),
        "hvparams": dict(data.get("hv_instance") or {}),
        "osparams": dict(data.get("os_instance") or {}),
        "tags": sorted(listed.get("tags") or []),
    }


def _nic_from_tuple(value):
    name, uuid, ip, mac, mode, link, vlan, network_uuid, netinfo = (list(value) + [None] * 9)[:9]
    network_name = None
    if network_uuid:
        network_name = (netinfo or {}).get("name") or network_uuid
    return {"name": name, "uuid": uuid, "ip": ip, "mac": mac, "mode": mode, "link": link,
            "vlan": vlan, "network": network_name}


def build_create_body(source, request, source_cluster, move):
    """The ``POST /2/instances`` body (request version 1) for the destination.

    Overrides from REQUEST: ``disk_template``, ``primary_node``,
    ``secondary_node``, ``iallocator``, ``group``, ``beparams``,
    ``hvparams``, ``osparams``, ``nics`` (per index; ``mac: generate``),
    ``link_map``, ``network_map``, ``compress``. Source tags are carried,
    provenance and move-control tags are added. With ``transfer: direct`` the
    instance is created (``create`` mode) without running the OS scripts
    (``no_install``): the disks' bytes come from the source's node.
    """
    direct = (request.get("transfer") or "direct") == "direct"
    body = {
        "__version__": 1,
        "mode": "create" if direct else "remote-import",
        "name": destination_name(request),
        "disk_template": request.get("disk_template") or source["disk_template"],
        "disks": [_disk_spec(d) for d in source["disks"]],
        "nics": build_nics(source["nics"], request),
        "os": source["os"] or None,
        "hypervisor": source["hypervisor"],
        "beparams": _merged(source["beparams"], request.get("beparams")),
        "hvparams": _merged(source["hvparams"], request.get("hvparams")),
        "osparams": _merged(source["osparams"], request.get("osparams")),
        # Never start here: a transfer that failed would start an empty copy.
        "start": False,
        "ip_check": False,
        "name_check": False,
        "wait_for_sync": False,
        "tags": move_tags(source, source_cluster, move),
    }
    if direct:
        body["no_install"] = True
    else:
        body["source_instance_name"] = source["name"]
        body["compress"] = request.get("compress") or "none"
    for option, key in (("primary_node", "pnode"), ("secondary_node", "snode"),
                        ("iallocator", "iallocator"), ("group", "group_name")):
        if request.get(option):
            body[key] = request[option]
    return body


def move_tags(source, source_cluster, move):
    """Tags of the destination instance while it is being imported."""
    tags = [t for t in source["tags"] if not t.startswith(TAG_PREFIX)]
    tags += [TAG_MOVE_ID % move, TAG_PENDING, TAG_SOURCE % (source_cluster, source["name"]),
             TAG_SOURCE_UUID % source["uuid"]]
    if source.get("was_up", source["admin_state"] == "up"):
        tags.append(TAG_SOURCE_UP)
    for tag in tags:
        problem = tag_problem(tag)
        if problem:
            raise MoveError("cannot tag the destination instance: %s" % problem)
    return tags


def _disk_spec(disk):
    spec = {"size": disk["size"], "mode": disk.get("mode") or "rw"}
    if disk.get("name"):
        spec["name"] = disk["name"]
    if disk.get("spindles"):
        spec["spindles"] = disk["spindles"]
    return spec


def _merged(base, override):
    merged = dict(base or {})
    merged.update(override or {})
    return merged


def build_nics(source_nics, request):
    """NIC specs for the destination: source values, mapped, then per-index overrides."""
    link_map = request.get("link_map") or {}
    network_map = request.get("network_map") or {}
    overrides = request.get("nics") or []
    if len(overrides) > len(source_nics):
        raise MoveError("%d NIC overrides given for instance %s, which has %d NICs; a move "
                        "cannot add NICs" % (len(overrides), request["name"], len(source_nics)))
    nics = []
    for index, nic in enumerate(source_nics):
        spec = {"mac": nic["mac"], "ip": nic["ip"]}
        if nic.get("name"):
            spec["name"] = nic["name"]
        if nic.get("network"):
            # A NIC on a gnt-network takes mode and link from the network's
            # connection on the destination (sending both is refused).
            spec["network"] = network_map.get(nic["network"], nic["network"])
        else:
            spec["mode"] = nic["mode"]
            spec["link"] = link_map.get(nic["link"], nic["link"])
            if nic.get("vlan"):
                spec["vlan"] = nic["vlan"]
        if index < len(overrides):
            for key, value in (overrides[index] or {}).items():
                if value is None:
                    spec.pop(key, None)
                else:
                    spec[key] = value
        nics.append(spec)
    return nics


def tag_value(tags, template):
    """Value of the first tag matching TEMPLATE (``prefix%s``), or None."""
    values = tag_values(tags, template.split("%s")[0])
    return values[0] if values else None


def assess(source_instance, destination_instance, move):
    """Phase of a move from what both clusters show now.

    :param source_instance: ``GET /2/instances/NAME`` of the source, or None.
    :param destination_instance: the same on the destination, or None.
    :returns: ``(phase, reason)``.
    :raises MoveError: when the move cannot proceed (the reason names it).
    """
    if destination_instance is None:
        if source_instance is None:
            raise MoveError("instance %s exists on neither cluster and no earlier run of this move "
                            "created it; check the name" % move["source_name"])
        return PHASE_NEW, "destination name %s is free" % move["destination_name"]
    dst_tags = destination_instance.get("tags") or []
    if TAG_MOVE_ID % move["id"] not in dst_tags:
        raise MoveError(
            "destination cluster %s already has an instance named %s that this move did not create "
            "(it has no tag %s); choose another new_name or remove that instance"
            % (move["destination_cluster"], move["destination_name"], TAG_MOVE_ID % move["id"]))
    if TAG_PENDING in dst_tags and not verified_before_commit(source_instance, destination_instance, move):
        return PHASE_REMNANT, ("instance %s on %s is left over from an unfinished run of this move "
                               "(tag %s); it will be removed and the transfer redone"
                               % (move["destination_name"], move["destination_cluster"], TAG_PENDING))
    if source_instance is not None and tag_value(dst_tags, TAG_SOURCE_UUID) != source_instance.get("uuid"):
        raise MoveError(
            "instance %s on %s is not the one moved to %s/%s (uuid differs); refusing to touch it"
            % (move["source_name"], move["source_cluster"], move["destination_cluster"],
               move["destination_name"]))
    pending = finish_actions(source_instance, destination_instance, move)
    if pending:
        return PHASE_FINISH, "data verified on the destination; left to do: %s" % ", ".join(pending)
    return PHASE_DONE, "already moved: %s/%s" % (move["destination_cluster"], move["destination_name"])


def verified_before_commit(source_instance, destination_instance, move):
    """Whether a copy still tagged pending was verified by the run that made it.

    The commit (removing ``TAG_PENDING``) runs at the same time as the
    finishing jobs, which a run submits only after the copy was verified:
    the source's removal, its ``moved-to`` tag and the copy's start (a copy is
    created stopped). So a pending copy whose source is gone, whose source
    carries this move's ``moved-to`` tag, or which was started, was verified.
    The digest tags (``TAG_DIGEST``) a run adds once the digests were equal
    say so directly. A source that is gone is only trusted together with
    the digest tags or the destination's record of the import job (see
    :func:`import_job_succeeded`, checked by :func:`plan_move`).
    """
    if source_instance is None:
        return True
    if recorded_digests(destination_instance.get("tags")):
        return True
    moved_to = TAG_MOVED_TO % (move["destination_cluster"], move["destination_name"])
    if moved_to in (source_instance.get("tags") or []):
        return True
    return destination_instance.get("admin_state") == "up"


def import_job_succeeded(dst, name):
    """``(ok, message)``: did the destination's last import job of NAME succeed, every disk received?

    Reads the destination's job list (``GET /2/jobs?bulk=1``) and that job's
    log; jobs archived by Ganeti are not listed, so an old copy is not trusted.
    """
    summary = "INSTANCE_CREATE(%s)" % name
    jobs = [job for job in dst.get("/2/jobs", query={"bulk": 1}) or []
            if summary in (job.get("summary") or [])]
    if not jobs:
        return False, "the destination lists no import job of %s" % name
    job = dst.get_job(max(jobs, key=lambda j: int(j["id"]))["id"]) or {}
    if job.get("status") != "success":
        return False, "the last import job %s of %s ended with status %s" % (
            job.get("id"), name, job.get("status"))
    log = [parse_log_entry(entry) for op_log in job.get("oplog") or [] for entry in op_log or []]
    warnings = import_warnings(log)
    if warnings:
        return False, "the last import job %s of %s reports: %s" % (job.get("id"), name, "; ".join(warnings))
    return True, "import job %s of %s succeeded" % (job.get("id"), name)


def finish_actions(source_instance, destination_instance, move):
    """What remains after the data was verified (empty when the move is complete)."""
    actions = []
    if TAG_PENDING in (destination_instance.get("tags") or []):
        actions.append("commit")
    if source_instance is not None:
        if move["source_policy"] == "remove":
            actions.append("remove the source")
        else:
            if source_instance.get("admin_state") != "down" or source_instance.get("oper_state"):
                actions.append("stop the source")
            moved_to = TAG_MOVED_TO % (move["destination_cluster"], move["destination_name"])
            if moved_to not in (source_instance.get("tags") or []):
                actions.append("tag the source %s" % moved_to)
            if TAG_STOPPED_FOR_MOVE % move["id"] in (source_instance.get("tags") or []):
                actions.append("untag the source %s" % (TAG_STOPPED_FOR_MOVE % move["id"]))
    if should_start(destination_instance, move) and not destination_instance.get("oper_state"):
        actions.append("start the destination")
    return actions


def should_start(destination_instance, move):
    if move.get("start") is not None:
        return bool(move["start"])
    return TAG_SOURCE_UP in (destination_instance.get("tags") or [])


def import_warnings(log):
    """Log lines of an import job saying a disk did not arrive."""
    found = []
    for entry in log or []:
        message = entry.get("message") if isinstance(entry, dict) else entry
        if isinstance(message, str) and IMPORT_FAILED_DISK_RE.search(message):
            found.append(message)
    return found


def plan_move(src, dst, request, probe=True, prepare=False):
    """Read both clusters and return the plan of one move (changes nothing but the probe).

    The probe (``probe=True``) runs ``prepare-export`` on the source (its only
    effect is a short-lived X509 key on the source's primary node) and a
    ``dry-run`` of the real create request on the destination, which checks
    the shared cluster domain secret and everything Ganeti itself checks
    before creating an instance. ``prepare=True`` (a real move) runs the
    ``prepare-export`` whenever a transfer is due, while the source is read;
    its result is returned as ``prepared`` and serves the probe too.

    Independent reads and jobs run at the same time (``in_parallel``).

    :returns: dict with ``move`` (ids and names), ``phase``, ``reason``,
        ``source`` (details, when the source still exists),
        ``create_body``, ``findings`` (list of dicts), ``ok`` and
        ``prepared`` (None unless prepared).
    """
    source_policy = request.get("source_policy") or "remove"
    if source_policy not in SOURCE_POLICIES:
        raise MoveError("source_policy must be one of %s, not %r"
                        % (", ".join(SOURCE_POLICIES), source_policy))
    src_info, dst_info, source_instance, destination_instance = in_parallel(
        (src.get_info,), (dst.get_info,), (src.get_instance, request["name"], True),
        (dst.get_instance, destination_name(request), True))
    move = describe_move(request, src_info["name"], dst_info["name"])
    problem = same_cluster_problem(move, src_info, dst_info, source_instance, destination_instance)
    if problem:
        raise MoveError(problem)
    phase, reason = assess(source_instance, destination_instance, move)
    result = {"move": move, "phase": phase, "reason": reason, "source": None, "create_body": None,
              "findings": [], "ok": True,
              "destination": _instance_summary(destination_instance),
              "start_destination": None, "prepared": None}
    if phase not in (PHASE_NEW, PHASE_REMNANT):
        if source_instance is None and TAG_PENDING in (destination_instance.get("tags") or []) \
                and destination_instance.get("admin_state") != "up" \
                and not recorded_digests(destination_instance.get("tags")):
            ok, message = import_job_succeeded(dst, move["destination_name"])
            if not ok:
                raise MoveError(
                    "instance %s on %s is tagged %s and its source %s is gone from %s, but %s: "
                    "whether its data arrived cannot be told; check it, then remove the tag %s "
                    "(data complete) or the instance" % (
                        move["destination_name"], move["destination_cluster"], TAG_PENDING,
                        move["source_name"], move["source_cluster"], message, TAG_PENDING))
        result["start_destination"] = should_start(destination_instance, move)
        return result
    ganeti = move["transfer"] == "ganeti"
    want_prepared = ganeti and ((probe and phase == PHASE_NEW) or prepare)
    # With a given primary node the free space to check is known already: read it now.
    early_type, early_nodes = _storage_known_early(request, source_instance)
    source, prepared, dst_features, dst_instances, dst_nodes, dst_os_names, early_storage = in_parallel(
        (source_details, src, move["source_name"], source_instance),
        (prepare_export, src, move["source_name"]) if want_prepared else (lambda: None,),
        (dst.get_features,), (dst.list_instances, True), (dst.list_nodes, True),
        (_os_names, dst) if probe else (lambda: None,),
        (read_storage, dst, early_nodes, [early_type], dst_info.get("volume_group_name")) if early_nodes
        else (lambda: None,))
    result["prepared"] = prepared if prepare else None
    # An interrupted run may have stopped the source already: the copy it left,
    # or the source's own tag, records whether it was marked up before the move.
    source["was_up"] = source["admin_state"] == "up" or (TAG_STOPPED_FOR_MOVE % move["id"]) in source["tags"] or (
        phase == PHASE_REMNANT and TAG_SOURCE_UP in (destination_instance.get("tags") or []))
    result["destination_node_ips"] = {node["name"]: node.get("pip") for node in dst_nodes or []}
    result["destination_candidates"] = sorted(node["name"] for node in dst_nodes or [] if can_take_instances(node))
    result["source"] = source
    result["start_destination"] = source["was_up"] if move["start"] is None else bool(move["start"])
    body = build_create_body(source, request, move["source_cluster"], move["id"])
    result["create_body"] = body
    if move["verify"] == "content":
        result["verification"] = "content: the digest of every disk on both clusters, computed on their nodes"
    else:
        result["verification"] = ("metadata only (verify: metadata): job results, disk sizes and Ganeti's logs; "
                                  "no byte was compared")
    # The cluster's tags come with /2/info.
    findings = static_checks(
        source, request, move, src_info, dst_info, dst_features, dst_instances, dst_nodes,
        dst_os_names, src_info.get("tags") or [], body)
    storage_type, storage_nodes, why = storage_to_read(body, dst_nodes, body.get("group_name") and dst.list_groups(True))
    read_early = early_storage is not None and (storage_type, storage_nodes) == (early_type, early_nodes)
    storage, probed = in_parallel(
        (lambda: early_storage,) if read_early else
        (read_storage, dst, storage_nodes, [storage_type], dst_info.get("volume_group_name")) if storage_nodes
        else (dict,),
        (probe_destination, src, dst, move, body, prepared) if probe and phase == PHASE_NEW else (lambda: None,))
    findings.append(storage_check(body, move, storage, storage_nodes, why, destination_instance if phase == PHASE_REMNANT else None))
    if probed is not None:
        findings.append(probed)
    elif probe:
        findings.append(Finding("destination_dry_run", True,
                                "dry run skipped: the remnant of the earlier run holds the name; the "
                                "real create runs its checks before the source is shut down"))
    result["findings"] = [f.as_dict() for f in findings]
    result["ok"] = all(f.ok for f in findings)
    return result


def _storage_known_early(request, source_instance):
    """``(storage_type, nodes)`` the storage check will read when the request names the primary node, else (None, [])."""
    template = request.get("disk_template") or (source_instance or {}).get("disk_template")
    storage_type = TEMPLATE_STORAGE.get(template)
    if not request.get("primary_node") or storage_type is None:
        return None, []
    return storage_type, [request["primary_node"]] + (
        [request["secondary_node"]] if template == "drbd" and request.get("secondary_node") else [])


def prepare_export(src, name):
    """The source's signed handshake, X509 key name and CA for one remote export (a ``prepare-export`` job)."""
    return src.wait_for_job(src.prepare_export(name))["opresult"][0]


def probe_destination(src, dst, move, body, prepared=None):
    """A dry run of the real create on the destination (for ``ganeti`` transfers with a fresh handshake)."""
    ganeti = move["transfer"] == "ganeti"
    probe_body = dict(body)
    if ganeti:
        if prepared is None:
            prepared = prepare_export(src, move["source_name"])
        probe_body.update(source_handshake=prepared["handshake"], source_x509_ca=prepared["x509_ca"])
    try:
        dst.wait_for_job(dst.create_instance(probe_body, dry_run=True))
    except RapiError as exc:
        if exc.kind != "job_failed":
            raise
        text = exc.error_message or str(exc)
        hint = ""
        if "domain secret" in text:
            hint = ("; make the clusters share one cluster domain secret "
                    "(playbooks/domain_secret.yml), or move with transfer: direct")
        return Finding("destination_dry_run", False,
                       "%s refuses the %s of %s as %s: %s%s" % (
                           move["destination_cluster"], "import" if ganeti else "creation",
                           move["source_name"], move["destination_name"], text, hint))
    return Finding("destination_dry_run", True,
                   "%s accepts the %s of %s as %s (%sname, placement, MACs and parameters checked by a dry run)"
                   % (move["destination_cluster"], "import" if ganeti else "creation", move["source_name"],
                      move["destination_name"], "shared cluster domain secret, " if ganeti else ""))


def _os_names(client):
    return {name.split("+")[0] for name in client.list_os_names()}


def _instance_summary(instance):
    if instance is None:
        return None
    return {key: instance.get(key) for key in (
        "name", "admin_state", "oper_state", "status", "pnode", "tags", "disk.sizes", "nic.macs")}
