# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster instance moves: planning, pre-flight, and the state of a move.

A move is driven over both clusters' RAPI with Ganeti's own primitives
(``prepare-export``, ``POST /2/instances`` in ``remote-import`` mode, and a
remote ``export``). What this module adds is what makes the move safe and
repeatable:

* the destination create request is built from the source instance
  (``OpInstanceQueryData``) plus the caller's overrides, and always with
  ``start: false``, so a failed transfer never starts an empty copy;
* every destination instance a move creates carries tags naming the move
  (:data:`TAG_MOVE_ID`) and marking it unfinished (:data:`TAG_PENDING`)
  until its data was verified; only such an instance is ever removed;
* :func:`assess` reads both clusters and tells in which phase an earlier run
  left the move, so a re-run resumes or does nothing;
* :func:`preflight` checks everything that can be checked before the source
  is shut down, including the shared cluster domain secret, by a dry-run of
  the real create request on the destination.
"""

from __future__ import annotations

import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import parse_log_entry
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import parse_version
from ansible_collections.ganeti.fleet.plugins.module_utils._selection import select_by_name
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import tag_problem

TAG_PREFIX = "ganeti-fleet:"
TAG_MOVE_ID = TAG_PREFIX + "move-id:%s"
TAG_PENDING = TAG_PREFIX + "move-pending"
TAG_SOURCE = TAG_PREFIX + "source:%s/%s"
TAG_SOURCE_UUID = TAG_PREFIX + "source-uuid:%s"
TAG_SOURCE_UP = TAG_PREFIX + "source-admin-up"
TAG_MOVED_TO = TAG_PREFIX + "moved-to:%s/%s"
#: Cluster tag set by the transfer_fix role once every node is fixed.
TAG_TRANSFER_FIX = TAG_PREFIX + "transfer-fix"

#: The destination only warns when a disk did not arrive (3.0 and later).
IMPORT_FAILED_DISK_RE = re.compile(r"were not imported successfully|failed to receive data", re.I)

#: First Ganeti version whose export side checks the right certificate name
#: (upstream ganeti/ganeti#1681, fixed by PRs #1699 and #1840).
TRANSFER_FIX_VERSION = (3, 1)

PHASE_NEW = "new"
PHASE_REMNANT = "remnant"
PHASE_FINISH = "finish"
PHASE_DONE = "done"

SOURCE_POLICIES = ("remove", "keep")


class MoveError(Exception):
    """A move cannot go on; the message names the object, the cause and the fix."""


def move_id(source_cluster, source_name, destination_cluster, destination_name):
    """Stable identifier of one move (same request, same id: that is how a re-run finds it)."""
    text = "\0".join([source_cluster, source_name, destination_cluster, destination_name])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
    job_id = client.submit("GET", "/2/instances/%s/info" % name, query={"static": 1})
    result = client.wait_for_job(job_id)["opresult"][0]
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


def destination_name(request):
    return request.get("new_name") or request["name"]


def build_create_body(source, request, source_cluster, move):
    """The ``POST /2/instances`` body (request version 1) for the destination.

    Overrides from REQUEST: ``disk_template``, ``primary_node``,
    ``secondary_node``, ``iallocator``, ``group``, ``beparams``,
    ``hvparams``, ``osparams``, ``nics`` (per index; ``mac: generate``),
    ``link_map``, ``network_map``, ``compress``. Source tags are carried,
    provenance and move-control tags are added.
    """
    name = destination_name(request)
    body = {
        "__version__": 1,
        "mode": "remote-import",
        "name": name,
        "source_instance_name": source["name"],
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
        "compress": request.get("compress") or "none",
        "tags": move_tags(source, source_cluster, move),
    }
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
    """Value of the first tag matching TEMPLATE (``prefix:%s``), or None."""
    prefix = template.split("%s")[0]
    for tag in tags or []:
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return None


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

    The commit (removing :data:`TAG_PENDING`) runs at the same time as the
    finishing jobs, which a run submits only after the copy was verified:
    the source's removal, its ``moved-to`` tag and the copy's start (a copy is
    created stopped). So a pending copy whose source is gone, whose source
    carries this move's ``moved-to`` tag, or which was started, was verified.
    A source that is gone is only trusted together with the destination's
    record of the import job (see :func:`import_job_succeeded`, checked by
    :func:`plan_move`).
    """
    if source_instance is None:
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


def remote_import_info(entry):
    """The signed disk targets and CA from a job log entry, or None."""
    if not isinstance(entry, dict) or entry.get("type") != "remote-import":
        return None
    message = entry.get("message")
    if isinstance(message, dict) and "disks" in message and "x509_ca" in message:
        return {"disks": message["disks"], "x509_ca": message["x509_ca"]}
    return None


class Finding:
    """One pre-flight check: its name, whether it passed, and what it found."""

    def __init__(self, check, ok, message):
        self.check = check
        self.ok = ok
        self.message = message

    def as_dict(self):
        return {"check": self.check, "ok": self.ok, "message": self.message}


def static_checks(source, request, move, src_info, dst_info, dst_features, dst_instances,
                  dst_nodes, dst_os_names, src_cluster_tags, create_body):
    """Pre-flight checks that need no write on either cluster; a list of Findings."""
    findings = []

    def add(check, ok, message):
        findings.append(Finding(check, ok, message))

    add("rapi_features", "instance-create-reqv1" in dst_features,
        "destination %s %s instance creation request version 1"
        % (move["destination_cluster"], "supports" if "instance-create-reqv1" in dst_features
           else "does not support"))
    template = create_body["disk_template"]
    enabled = dst_info.get("enabled_disk_templates") or []
    add("disk_template", template in enabled,
        "disk template %s is %s on %s (enabled: %s)"
        % (template, "enabled" if template in enabled else "not enabled",
           move["destination_cluster"], ", ".join(enabled)))
    hypervisors = dst_info.get("enabled_hypervisors") or []
    add("hypervisor", source["hypervisor"] in hypervisors,
        "hypervisor %s is %s on %s (enabled: %s)"
        % (source["hypervisor"], "enabled" if source["hypervisor"] in hypervisors else "not enabled",
           move["destination_cluster"], ", ".join(hypervisors)))
    if source["os"] and dst_os_names is not None:
        add("os", source["os"].split("+")[0] in dst_os_names,
            "OS %s %s on %s" % (source["os"], "exists" if source["os"].split("+")[0] in dst_os_names
                                else "is not installed", move["destination_cluster"]))
    compress = create_body.get("compress") or "none"
    if compress != "none":
        src_tools = src_info.get("compression_tools") or []
        dst_tools = dst_info.get("compression_tools") or []
        both = compress in src_tools and compress in dst_tools
        add("compression", both,
            "compression %s is allowed on %s (%s) and %s (%s)" % (
                compress, move["source_cluster"], ", ".join(src_tools), move["destination_cluster"],
                ", ".join(dst_tools)) if both else
            "compression %s must be in both clusters' compression_tools: %s has %s, %s has %s; "
            "add it with 'gnt-cluster modify --compression-tools' or choose another"
            % (compress, move["source_cluster"], ", ".join(src_tools), move["destination_cluster"],
               ", ".join(dst_tools)))
    findings.extend(_placement_checks(create_body, move, dst_info, dst_nodes))
    findings.extend(_mac_checks(create_body, move, dst_instances))
    src_version = parse_version(src_info.get("software_version"))
    if src_version and src_version < TRANSFER_FIX_VERSION and TAG_TRANSFER_FIX not in src_cluster_tags:
        add("transfer_defect", False,
            "source cluster %s runs Ganeti %s, whose disk transfers fail on the socat commonName "
            "check (ganeti/ganeti#1681) and the transfer fix is not applied (no cluster tag %s); "
            "run the ganeti.fleet.transfer_fix role (or playbooks/move_readiness.yml) on %s"
            % (move["source_cluster"], src_info.get("software_version"), TAG_TRANSFER_FIX,
               move["source_cluster"]))
    else:
        add("transfer_defect", True,
            "disk transfers from %s (Ganeti %s) are not affected by ganeti/ganeti#1681%s"
            % (move["source_cluster"], src_info.get("software_version"),
               " (transfer fix applied)" if TAG_TRANSFER_FIX in src_cluster_tags else ""))
    return findings


def _placement_checks(body, move, dst_info, dst_nodes):
    findings = []
    by_name = {n["name"]: n for n in dst_nodes}
    for key in ("pnode", "snode"):
        node = body.get(key)
        if not node:
            continue
        # Ganeti accepts a unique short name too.
        selected = select_by_name(dst_nodes, [node])[0]
        info = selected[0] if selected else None
        if info is None:
            findings.append(Finding("nodes", False, "node %s does not exist on %s (nodes: %s)" % (
                node, move["destination_cluster"], ", ".join(sorted(by_name)))))
        elif info.get("offline") or info.get("drained") or not info.get("vm_capable", True):
            findings.append(Finding("nodes", False, "node %s on %s cannot take instances (%s)" % (
                node, move["destination_cluster"],
                "offline" if info.get("offline") else "drained" if info.get("drained")
                else "not vm_capable")))
        else:
            findings.append(Finding("nodes", True, "node %s on %s can take the instance"
                                    % (node, move["destination_cluster"])))
    if not body.get("pnode") and not body.get("iallocator"):
        default = dst_info.get("default_iallocator")
        findings.append(Finding(
            "iallocator", bool(default),
            "placement on %s by its default iallocator %s" % (move["destination_cluster"], default)
            if default else
            "%s has no default iallocator: give primary_node or iallocator"
            % move["destination_cluster"]))
    return findings


def _mac_checks(body, move, dst_instances):
    used = {}
    for instance in dst_instances:
        if instance.get("name") == move["destination_name"]:
            continue  # a remnant of this move is removed first
        for mac in instance.get("nic.macs") or []:
            used[mac.lower()] = instance["name"]
    findings = []
    for index, nic in enumerate(body["nics"]):
        mac = (nic.get("mac") or "").lower()
        if mac in ("", "generate", "auto"):
            continue
        owner = used.get(mac)
        findings.append(Finding(
            "mac", owner is None,
            "MAC %s of NIC %d is free on %s" % (mac, index, move["destination_cluster"])
            if owner is None else
            "MAC %s of NIC %d is already used by instance %s on %s; pass nics: [{mac: generate}] "
            "to give the moved instance a new one" % (mac, index, owner, move["destination_cluster"])))
    return findings


def describe_failures(findings):
    """The messages of the failed checks (Findings or their dicts), joined."""
    items = [f.as_dict() if isinstance(f, Finding) else f for f in findings]
    return "; ".join(f["message"] for f in items if not f["ok"])


def get_instance_or_none(client, name):
    try:
        return client.get_instance(name)
    except RapiError as exc:
        if exc.status_code == 404:
            return None
        raise


def describe_move(request, source_cluster, destination_cluster):
    dst_name = destination_name(request)
    return {
        "id": move_id(source_cluster, request["name"], destination_cluster, dst_name),
        "source_cluster": source_cluster,
        "source_name": request["name"],
        "destination_cluster": destination_cluster,
        "destination_name": dst_name,
        "source_policy": request.get("source_policy") or "remove",
        "start": request.get("start"),
    }


def in_parallel(*calls):
    """Run CALLS (each ``(function, arg, ...)``) at the same time; their results, in order.

    Each call waits on the network (a RAPI request or a Ganeti job), so
    threads overlap the round trips. All calls finish before the first
    error, if any, is raised.
    """
    calls = [call for call in calls if call is not None]
    if len(calls) < 2:
        return [call[0](*call[1:]) for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call[0], *call[1:]) for call in calls]
        return [future.result() for future in futures]


def plan_move(src, dst, request, probe=True, prepare=False):
    """Read both clusters and return the plan of one move (changes nothing but the probe).

    The probe (``probe=True``) runs ``prepare-export`` on the source (its only
    effect is a short-lived X509 key on the source's primary node) and a
    ``dry-run`` of the real create request on the destination, which checks
    the shared cluster domain secret and everything Ganeti itself checks
    before creating an instance. ``prepare=True`` (a real move) runs the
    ``prepare-export`` whenever a transfer is due, while the source is read;
    its result is returned as ``prepared`` and serves the probe too.

    Independent reads and jobs run at the same time (:func:`in_parallel`).

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
        (src.get_info,), (dst.get_info,), (get_instance_or_none, src, request["name"]),
        (get_instance_or_none, dst, destination_name(request)))
    move = describe_move(request, src_info["name"], dst_info["name"])
    phase, reason = assess(source_instance, destination_instance, move)
    result = {"move": move, "phase": phase, "reason": reason, "source": None, "create_body": None,
              "findings": [], "ok": True,
              "destination": _instance_summary(destination_instance),
              "start_destination": None, "prepared": None}
    if phase not in (PHASE_NEW, PHASE_REMNANT):
        if source_instance is None and TAG_PENDING in (destination_instance.get("tags") or []) \
                and destination_instance.get("admin_state") != "up":
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
    want_prepared = (probe and phase == PHASE_NEW) or prepare
    source, prepared, dst_features, dst_instances, dst_nodes, dst_os_names = in_parallel(
        (source_details, src, move["source_name"], source_instance),
        (_prepare_export, src, move["source_name"]) if want_prepared else (lambda: None,),
        (dst.get_features,), (dst.list_instances, True), (dst.list_nodes, True),
        (_os_names, dst) if probe else (lambda: None,))
    result["prepared"] = prepared if prepare else None
    # An interrupted run may have stopped the source already: the copy it left
    # records whether the source was marked up before the move.
    source["was_up"] = source["admin_state"] == "up" or (
        phase == PHASE_REMNANT and TAG_SOURCE_UP in (destination_instance.get("tags") or []))
    result["source"] = source
    result["start_destination"] = source["was_up"] if move["start"] is None else bool(move["start"])
    body = build_create_body(source, request, move["source_cluster"], move["id"])
    result["create_body"] = body
    # The cluster's tags come with /2/info.
    findings = static_checks(
        source, request, move, src_info, dst_info, dst_features, dst_instances, dst_nodes,
        dst_os_names, src_info.get("tags") or [], body)
    if probe and phase == PHASE_NEW:
        findings.append(probe_destination(src, dst, move, body, prepared))
    elif probe:
        findings.append(Finding("destination_dry_run", True,
                                "dry run skipped: the remnant of the earlier run holds the name; the "
                                "real create runs its checks before the source is shut down"))
    result["findings"] = [f.as_dict() for f in findings]
    result["ok"] = all(f.ok for f in findings)
    return result


def probe_destination(src, dst, move, body, prepared=None):
    """prepare-export on the source (unless PREPARED), then a dry run of the real create."""
    if prepared is None:
        prepared = _prepare_export(src, move["source_name"])
    probe_body = dict(body, source_handshake=prepared["handshake"],
                      source_x509_ca=prepared["x509_ca"])
    try:
        dst.wait_for_job(dst.submit("POST", "/2/instances", query={"dry-run": 1}, body=probe_body))
    except RapiError as exc:
        if exc.kind != "job_failed":
            raise
        text = exc.error_message or str(exc)
        hint = ""
        if "domain secret" in text:
            hint = ("; make the clusters share one cluster domain secret "
                    "(playbooks/domain_secret.yml)")
        return Finding("destination_dry_run", False,
                       "%s refuses the import of %s as %s: %s%s" % (
                           move["destination_cluster"], move["source_name"],
                           move["destination_name"], text, hint))
    return Finding("destination_dry_run", True,
                   "%s accepts the import of %s as %s (shared cluster domain secret, name, "
                   "placement, MACs and parameters checked by a dry run)"
                   % (move["destination_cluster"], move["source_name"], move["destination_name"]))


def _os_names(client):
    names = client.get("/2/os") or []
    return {name.split("+")[0] for name in names}


def _instance_summary(instance):
    if instance is None:
        return None
    return {key: instance.get(key) for key in (
        "name", "admin_state", "oper_state", "status", "pnode", "tags", "disk.sizes", "nic.macs")}


class MoveFailed(MoveError):
    """A move failed at a named step; what it created was removed and the source restored."""

    def __init__(self, message, step, cleanup=None, job_id=None, log=None):
        super().__init__(message)
        self.step = step
        self.cleanup = cleanup or []
        self.job_id = job_id
        self.log = log or []


def run_move(src, dst, request, probe=False, shutdown_timeout=120, transfer_timeout=7200,
             check_mode=False, report=None):
    """Plan and, unless CHECK_MODE, carry out one move; returns the result dict.

    All steps run in this one process: the export is submitted as soon as the
    destination's import job announces its disk targets, and the finishing
    jobs on both clusters run at the same time. On a failure before the
    commit point the destination copy this move created is removed and the
    source's state restored, then :class:`MoveFailed` names the step.
    """
    report = report or (lambda message: None)
    plan = plan_move(src, dst, request, probe=probe or check_mode, prepare=not check_mode)
    # The signed handshake and key name are for this run only, not for its result.
    prepared = plan.pop("prepared", None)
    result = {"plan": plan, "changed": False, "actions": []}
    if not plan["ok"]:
        error = MoveError("pre-flight failed: %s" % describe_failures(plan["findings"]))
        error.plan = plan
        raise error
    move = plan["move"]
    if check_mode:
        result["changed"] = plan["phase"] != PHASE_DONE
        return result
    if plan["phase"] in (PHASE_NEW, PHASE_REMNANT):
        if plan["phase"] == PHASE_REMNANT:
            _step(result, "remove the unfinished copy", report, _remove_tagged, dst,
                  move["destination_name"], [TAG_MOVE_ID % move["id"], TAG_PENDING], shutdown_timeout)
        try:
            verified = _transfer(src, dst, plan, prepared, result, report, shutdown_timeout,
                                 transfer_timeout)
        except (RapiError, MoveError) as exc:
            step = getattr(exc, "move_step", "transfer")
            cleanup = _compensate(src, dst, plan, shutdown_timeout)
            raise MoveFailed(
                "moving %s from %s to %s failed at step '%s': %s. %s" % (
                    move["source_name"], move["source_cluster"], move["destination_cluster"], step,
                    exc, " ".join(cleanup)),
                step, cleanup, job_id=getattr(exc, "job_id", None), log=getattr(exc, "log", None))
        # What both clusters show now is known without asking: the source
        # was stopped for the transfer, the copy was just read by the verify.
        source = plan["source"]
        source_instance = {"name": source["name"], "uuid": source["uuid"], "admin_state": "down",
                           "oper_state": False, "tags": source["tags"]}
        destination_instance = verified["instance"]
    else:
        source_instance, destination_instance = in_parallel(
            (get_instance_or_none, src, move["source_name"]),
            (get_instance_or_none, dst, move["destination_name"]))
    _finish(src, dst, move, source_instance, destination_instance, plan["start_destination"],
            shutdown_timeout, result, report)
    return result


def _step(result, name, report, func, *args):
    report(name)
    try:
        value = func(*args)
    except (RapiError, MoveError) as exc:
        exc.move_step = name
        raise
    result["actions"].append(name)
    result["changed"] = True
    return value


def _remove_tagged(client, name, required_tags, shutdown_timeout):
    instance = get_instance_or_none(client, name)
    if instance is None:
        return False
    missing = [t for t in required_tags if t not in (instance.get("tags") or [])]
    if missing:
        raise MoveError("refusing to remove %s: it lacks the tag(s) %s" % (name, ", ".join(missing)))
    client.wait_for_job(client.submit("DELETE", "/2/instances/%s" % name,
                                      body={"shutdown_timeout": shutdown_timeout}), timeout=None)
    return True


def _transfer(src, dst, plan, prepared, result, report, shutdown_timeout, transfer_timeout):
    """Import, export and verification; returns what the verification found.

    The commit is not made here: :func:`_finish` makes it at the same time as
    the source policy and the start, all submitted only after the verification.
    """
    move = plan["move"]
    source = plan["source"]
    if prepared is None:
        prepared = _step(result, "prepare the export", report, _prepare_export, src, move["source_name"])
    else:
        result["actions"].append("prepare the export")
    body = dict(plan["create_body"], source_handshake=prepared["handshake"],
                source_x509_ca=prepared["x509_ca"], source_shutdown_timeout=shutdown_timeout)
    stop = {}

    def stop_source():
        # The destination accepted the request (its checks passed): stop the
        # source while the destination creates its disks. Stopped for good
        # (admin down), so that Ganeti does not restart it after the export
        # and no write can reach it once its disks were copied.
        if source["admin_state"] != "down" or source.get("oper_state"):
            stop["job"] = src.submit("PUT", "/2/instances/%s/shutdown" % move["source_name"],
                                     body={"timeout": shutdown_timeout})

    import_waiter, targets = _step(result, "create the destination instance", report, _start_import,
                                   dst, body, transfer_timeout, stop_source)
    if stop.get("job"):
        _step(result, "stop the source", report, src.wait_for_job, stop["job"], None)
    export_body = {
        "mode": "remote", "destination": targets["disks"], "destination_x509_ca": targets["x509_ca"],
        "x509_key_name": prepared["x509_key_name"], "shutdown": True,
        "shutdown_timeout": shutdown_timeout, "remove_instance": False,
        "compress": plan["create_body"]["compress"],
    }
    export = _step(result, "export the disks", report, _export, src, move["source_name"], export_body,
                   transfer_timeout)
    imported = _step(result, "finish the import", report, _finish_import, import_waiter, transfer_timeout)
    return _step(result, "verify the copy", report, _verify, dst, move, source, export, imported)


def _prepare_export(src, name):
    job_id = src.submit("PUT", "/2/instances/%s/prepare-export" % name, query={"mode": "remote"})
    return src.wait_for_job(job_id)["opresult"][0]


def _start_import(dst, body, timeout, on_accepted):
    """Submit the remote import; return its waiter once the disk targets are logged.

    ON_ACCEPTED is called once, when the job logs its first entry: Ganeti
    checked the request (handshake, names, resources) and creates the disks.
    """
    job_id = dst.submit("POST", "/2/instances", body=body)
    waiter = dst.job_waiter(job_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if waiter.finished:
            waiter.result()  # raises with Ganeti's reason when the job failed
            raise MoveError("the import job %s ended without announcing its disk targets" % job_id)
        if deadline is not None and time.monotonic() > deadline:
            raise MoveError("the import job %s did not announce its disk targets within %s s"
                            % (job_id, timeout))
        entries = waiter.poll()
        if entries and on_accepted is not None:
            on_accepted()
            on_accepted = None
        for entry in entries:
            targets = remote_import_info(entry)
            if targets:
                return waiter, targets


def _export(src, name, body, timeout):
    job_id = src.submit("PUT", "/2/instances/%s/export" % name, body=body)
    job = src.wait_for_job(job_id, timeout=timeout)
    finalized, disk_results = job["opresult"][0]
    if not finalized or not all(disk_results):
        failed = [str(i) for i, ok in enumerate(disk_results) if not ok]
        raise MoveError("export job %s did not send disk(s) %s" % (job_id, ", ".join(failed) or "-"))
    return {"job_id": job_id, "disk_results": disk_results}


def _finish_import(waiter, timeout):
    job = waiter.wait(timeout=timeout)
    warnings = import_warnings(job["log"])
    if warnings:
        raise MoveError("import job %s reports disks that did not arrive: %s"
                        % (job["job_id"], "; ".join(warnings)))
    return job


def _verify(dst, move, source, export, imported):
    instance = dst.get_instance(move["destination_name"])
    sizes = instance.get("disk.sizes") or []
    expected = [d["size"] for d in source["disks"]]
    problems = []
    if len(export["disk_results"]) != len(expected):
        problems.append("%d disks sent for %d" % (len(export["disk_results"]), len(expected)))
    if sizes != expected:
        problems.append("disk sizes %s on the destination, %s on the source" % (sizes, expected))
    if TAG_MOVE_ID % move["id"] not in (instance.get("tags") or []):
        problems.append("the copy lacks its tag %s" % (TAG_MOVE_ID % move["id"]))
    if problems:
        raise MoveError("the copy on %s is not complete: %s"
                        % (move["destination_cluster"], "; ".join(problems)))
    return {"import_job": imported["job_id"], "export_job": export["job_id"], "disk_sizes": sizes,
            "instance": instance}


def _compensate(src, dst, plan, shutdown_timeout):
    """Undo a failed transfer; returns sentences saying what was done."""
    move = plan["move"]
    said = []
    try:
        if _remove_tagged(dst, move["destination_name"], [TAG_MOVE_ID % move["id"], TAG_PENDING],
                          shutdown_timeout):
            said.append("The copy this move created on %s was removed." % move["destination_cluster"])
        else:
            said.append("Nothing was left on %s." % move["destination_cluster"])
    except (RapiError, MoveError) as exc:
        said.append("Removing the copy on %s failed too (%s); re-run the move to clean it up."
                    % (move["destination_cluster"], exc))
    try:
        instance = get_instance_or_none(src, move["source_name"])
        if instance is not None and plan["source"]["was_up"] and not (
                instance.get("oper_state") and instance.get("admin_state") == "up"):
            src.wait_for_job(src.submit("PUT", "/2/instances/%s/startup" % move["source_name"]))
            said.append("The source %s was started again." % move["source_name"])
        elif instance is not None:
            said.append("The source %s is in its state before the move." % move["source_name"])
    except RapiError as exc:
        said.append("Restarting the source failed (%s); start %s on %s by hand."
                    % (exc, move["source_name"], move["source_cluster"]))
    return said


def _finish(src, dst, move, source_instance, destination_instance, start, shutdown_timeout, result,
            report):
    """Start of the copy, commit and source policy, all submitted at once.

    Called only once the copy was verified. Each cluster's jobs are submitted
    from a thread of their own, then all are waited for. On the destination
    the start is submitted before the commit (both lock the instance, so they
    run in that order), which starts the copy as early as Ganeti allows. A run
    interrupted before the commit leaves a state :func:`assess` reads as
    verified (source gone, source tagged ``moved-to``, or copy started).
    """
    destination_name = move["destination_name"]
    destination_instance = destination_instance or {}
    destination_jobs, source_jobs = [], []
    if start and not destination_instance.get("oper_state"):
        destination_jobs.append(("start the copy", dst.submit, "PUT",
                                 "/2/instances/%s/startup" % destination_name))
    if TAG_PENDING in (destination_instance.get("tags") or []):
        destination_jobs.append(("commit", dst.remove_tags, "instance", destination_name, [TAG_PENDING]))
    if source_instance is not None:
        name = move["source_name"]
        if move["source_policy"] == "remove":
            source_jobs.append(("remove the source", src.submit, "DELETE", "/2/instances/%s" % name,
                                None, {"shutdown_timeout": shutdown_timeout}))
        else:
            if source_instance.get("admin_state") != "down" or source_instance.get("oper_state"):
                source_jobs.append(("stop the source", src.submit, "PUT", "/2/instances/%s/shutdown" % name,
                                    None, {"timeout": shutdown_timeout}))
            moved_to = TAG_MOVED_TO % (move["destination_cluster"], destination_name)
            if moved_to not in (source_instance.get("tags") or []):
                source_jobs.append(("tag the source", src.add_tags, "instance", name, [moved_to]))
    submitted = in_parallel(*[(_submit_in_order, client, jobs) for client, jobs in
                              ((dst, destination_jobs), (src, source_jobs)) if jobs])
    failures = []
    for client, jobs in submitted:
        for name, job_id in jobs:
            report(name)
            try:
                client.wait_for_job(job_id, timeout=None)
            except RapiError as exc:
                failures.append("'%s' failed: %s" % (name, exc))
                continue
            result["actions"].append(name)
            result["changed"] = True
    if failures:
        raise MoveError("the copy on %s is complete, but %s; re-run the move to finish it"
                        % (move["destination_cluster"], "; ".join(failures)))


def _submit_in_order(client, jobs):
    """Submit JOBS (``(name, submit_function, arg, ...)``) one after the other; ``(client, [(name, job id)])``."""
    return client, [(job[0], job[1](*job[2:])) for job in jobs]
