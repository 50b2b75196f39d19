# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the inter-cluster move (_move_plan, _move_checks, _move_executor), with data shaped like Ganeti 3.0's answers."""

from __future__ import annotations

import copy
import hashlib
import os
import re

import pytest
import yaml

from ansible_collections.ganeti.fleet.plugins.doc_fragments.move import ModuleDocFragment as MoveFragment
from ansible_collections.ganeti.fleet.plugins.module_utils import _move_executor as ex
from ansible_collections.ganeti.fleet.plugins.module_utils import _move_plan as mv
from ansible_collections.ganeti.fleet.plugins.module_utils import rapi_client
from ansible_collections.ganeti.fleet.plugins.module_utils import tags as vocabulary
from ansible_collections.ganeti.fleet.plugins.module_utils._move_checks import (
    Finding,
    describe_failures,
    static_checks,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._move_executor import (
    MoveFailed,
    remote_import_info,
    run_move,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._move_plan import (
    PHASE_DONE,
    PHASE_FINISH,
    PHASE_NEW,
    PHASE_REMNANT,
    assess,
    build_create_body,
    import_warnings,
    move_tags,
    plan_move,
    probe_destination,
    source_details,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import (
    MOVE_OPTIONS,
    REQUEST_KEYS,
    MoveError,
    describe_move,
    move_argument_spec,
    move_id,
    move_of,
    move_request,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError, RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import NodeProgramFailed

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
SRC = "src.example.org"
DST = "dst.example.org"
NAME = "web1.example.org"
UUID = "0d6f8a4e-3c1b-4f55-9a52-1f0e6a2b7c11"
MOVE_ID = move_id(SRC, NAME, DST, NAME)
#: The move options of the tests of Ganeti's own transfer (no node access in these fakes).
GANETI = {"transfer": "ganeti", "verify": "metadata"}

# ``OpInstanceQueryData`` (static) of the source instance, as Ganeti 3.0 returns it.
QUERY_DATA = {
    NAME: {
        "name": NAME,
        "uuid": UUID,
        "config_state": "up",
        "run_state": None,
        "pnode": "node1.src.example.org",
        "pnode_group_uuid": "b7b0c1f0-4d4c-4a38-8f4e-0f3b2d3c4e5f",
        "pnode_group_name": "default",
        "snodes": [],
        "os": "debootstrap+default",
        "hypervisor": "kvm",
        "disk_template": "plain",
        "network_port": None,
        "disks": [
            {"iv_name": "disk/0", "dev_type": "plain", "size": 10240, "mode": "rw", "name": "root",
             "spindles": None, "uuid": "5b1d"},
            {"iv_name": "disk/1", "dev_type": "plain", "size": 2048, "mode": "ro", "name": None,
             "spindles": 1, "uuid": "6c2e"},
        ],
        "nics": [
            # (name, uuid, ip, mac, mode, link, vlan, network uuid, network info)
            ["front", "e1a1", "192.0.2.10", "aa:00:00:11:22:33", "bridged", "br0", "", None, None],
            [None, "e1a2", None, "aa:00:00:44:55:66", "openvswitch", "switch1", ".100", None, None],
            ["back", "e1a3", "10.1.0.5", "aa:00:00:77:88:99", "routed", "rt-back", "",
             "9f0c1d2e-net", {"name": "backnet", "network": "10.1.0.0/24"}],
        ],
        "be_instance": {"maxmem": 2048, "minmem": 1024, "vcpus": 2},
        "hv_instance": {"boot_order": "disk", "kernel_path": ""},
        "os_instance": {"dhcp": "yes"},
        "be_actual": {"maxmem": 2048, "minmem": 1024, "vcpus": 2, "auto_balance": True},
        "hv_actual": {},
        "os_actual": {},
        "ctime": 1700000000.0,
        "mtime": 1700000100.0,
    },
}

# ``GET /2/instances/NAME`` of the source.
LISTED = {
    "name": NAME,
    "uuid": UUID,
    "status": "running",
    "admin_state": "up",
    "oper_state": True,
    "pnode": "node1.src.example.org",
    "disk.sizes": [10240, 2048],
    "nic.macs": ["aa:00:00:11:22:33", "aa:00:00:44:55:66", "aa:00:00:77:88:99"],
    "tags": ["owner:team-a", "app:web", "ganeti-fleet:moved-to:old.example.org/web1.example.org"],
}


def source():
    """What :func:`source_details` makes of the data above."""
    return {
        "name": NAME,
        "uuid": UUID,
        "admin_state": "up",
        "status": "running",
        "oper_state": True,
        "pnode": "node1.src.example.org",
        "os": "debootstrap+default",
        "hypervisor": "kvm",
        "disk_template": "plain",
        "disks": [{"size": 10240, "mode": "rw", "name": "root", "spindles": None},
                  {"size": 2048, "mode": "ro", "name": None, "spindles": 1}],
        "nics": [
            {"name": "front", "uuid": "e1a1", "ip": "192.0.2.10", "mac": "aa:00:00:11:22:33",
             "mode": "bridged", "link": "br0", "vlan": "", "network": None},
            {"name": None, "uuid": "e1a2", "ip": None, "mac": "aa:00:00:44:55:66",
             "mode": "openvswitch", "link": "switch1", "vlan": ".100", "network": None},
            {"name": "back", "uuid": "e1a3", "ip": "10.1.0.5", "mac": "aa:00:00:77:88:99",
             "mode": "routed", "link": "rt-back", "vlan": "", "network": "backnet"},
        ],
        "beparams": {"maxmem": 2048, "minmem": 1024, "vcpus": 2},
        "hvparams": {"boot_order": "disk", "kernel_path": ""},
        "osparams": {"dhcp": "yes"},
        "tags": ["app:web", "ganeti-fleet:moved-to:old.example.org/web1.example.org", "owner:team-a"],
    }


def a_move(**changes):
    request = dict(GANETI, name=NAME)
    request.update(changes.pop("request", {}))
    move = describe_move(request, SRC, DST)
    move.update(changes)
    return move


def body(request=None, src=None):
    request = dict(GANETI, name=NAME, **(request or {}))
    move = describe_move(request, SRC, DST)
    return build_create_body(src or source(), request, SRC, move["id"])


# ----------------------------------------------------------------------
# move_id


def test_move_id_is_stable_across_releases():
    # A re-run finds its earlier destination by this id: it must never change.
    assert move_id(SRC, NAME, DST, NAME) == "86f47da6f6e97403"
    assert move_id("c1.lab", "vm10.lab", "c2.lab", "vm10.lab") == "916cba83c5e7b102"
    expected = hashlib.sha256("\0".join([SRC, NAME, DST, NAME]).encode()).hexdigest()[:16]
    assert MOVE_ID == expected


def test_move_id_changes_with_every_part_and_has_no_join_ambiguity():
    ids = {
        move_id(SRC, NAME, DST, NAME),
        move_id("other.example.org", NAME, DST, NAME),
        move_id(SRC, "web2.example.org", DST, NAME),
        move_id(SRC, NAME, "other.example.org", NAME),
        move_id(SRC, NAME, DST, "web9.example.org"),
        move_id(DST, NAME, SRC, NAME),
    }
    assert len(ids) == 6
    assert move_id("a", "bc", "d", "e") != move_id("ab", "c", "d", "e")
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


def test_describe_move_defaults():
    move = describe_move({"name": NAME}, SRC, DST)
    assert move == {"id": MOVE_ID, "source_cluster": SRC, "source_name": NAME, "destination_cluster": DST,
                    "destination_name": NAME, "source_policy": "remove", "start": None, "transfer": "direct",
                    "verify": "content", "compress": "none"}
    renamed = describe_move({"name": NAME, "new_name": "web2.example.org", "source_policy": "keep",
                             "start": False}, SRC, DST)
    assert renamed["destination_name"] == "web2.example.org"
    assert renamed["id"] == move_id(SRC, NAME, DST, "web2.example.org")
    assert (renamed["source_policy"], renamed["start"]) == ("keep", False)


# ----------------------------------------------------------------------
# source_details


class FakeClient(rapi_client.RapiClient):
    """A RapiClient whose requests and jobs are answered from dictionaries.

    The typed calls (``get_instance``, ``create_instance``, ``prepare_export``...)
    are the real client's; they end in :meth:`get` and :meth:`submit` here.
    """

    # pylint: disable-next=super-init-not-called
    def __init__(self, info, instances=None, query_data=None, features=None, nodes=None, os_names=None,
                 cluster_tags=None, prepared=None, dry_run_error=None, job_list=None, job_details=None,
                 failing_jobs=(), import_log=None):
        self.url = "https://%s:5080" % info.get("name", "fake")
        self.request_count = 0
        self.info = info
        self.instances = copy.deepcopy(dict(instances or {}))
        self.query_data = query_data
        self.features = features if features is not None else [
            "node-evac-res1", "node-migrate-reqv1", "instance-create-reqv1", "instance-reinstall-reqv1"]
        self.nodes = nodes or []
        self.os_names = os_names or []
        self.cluster_tags = cluster_tags or []
        self.prepared = prepared
        self.dry_run_error = dry_run_error
        self.job_list = job_list or []
        self.job_details = job_details or {}
        self.failing_jobs = set(failing_jobs)
        self.import_log = import_log or []
        self.submitted = []
        self.jobs = {}
        self.free_mib = 10 ** 7

    def get_info(self):
        # Ganeti's /2/info carries the cluster's tags.
        return dict(copy.deepcopy(self.info), tags=list(self.cluster_tags))

    def list_instances(self, bulk=True):
        assert bulk
        return [copy.deepcopy(i) for i in self.instances.values()]

    def list_nodes(self, bulk=True):
        assert bulk
        return copy.deepcopy(self.nodes)

    def get_features(self):
        return list(self.features)

    def get(self, path, query=None, **kwargs):
        if path == "/2/jobs":
            assert query == {"bulk": 1}
            return copy.deepcopy(self.job_list)
        if path == "/2/os":
            return list(self.os_names)
        if path.startswith("/2/nodes/") and path.endswith("/storage"):
            # A read (a job that changes nothing): not among the submitted jobs.
            job_id = "s%d" % len(self.jobs)
            self.jobs[job_id] = ("GET", path, query, None)
            return job_id
        name = path[len("/2/instances/"):]
        assert path.startswith("/2/instances/") and "/" not in name, path
        if name not in self.instances:
            raise RapiError("instance '%s' not found" % name, kind="not_found", status_code=404, path=path)
        return copy.deepcopy(self.instances[name])

    def get_job(self, job_id):
        return copy.deepcopy(self.job_details[str(job_id)])

    def remove_tags(self, kind, name, tags):
        return self.submit("DELETE", "/2/%ss/%s/tags" % (kind, name), query={"tag": list(tags)})

    def add_tags(self, kind, name, tags):
        return self.submit("PUT", "/2/%ss/%s/tags" % (kind, name), query={"tag": list(tags)})

    def submit(self, method, path, query=None, body=None):
        # As the real client sends them: no query argument of value None, no body when not given.
        query = {key: value for key, value in (query or {}).items() if value is not None} or None
        body = None if body is rapi_client._NOT_GIVEN else copy.deepcopy(body)  # pylint: disable=protected-access
        job_id = str(100 + len(self.submitted))
        self.submitted.append({"job_id": job_id, "method": method, "path": path, "query": query, "body": body})
        self.jobs[job_id] = (method, path, query, body)
        return job_id

    def job_waiter(self, job_id, on_log=None):
        return FakeImportWaiter(self, job_id)

    def wait_for_job(self, job_id, timeout=None):
        method, path, query, body = self.jobs[job_id]
        if (method, path) in self.failing_jobs:
            raise RapiError("Job %s on https://x:5080 failed" % job_id, kind="job_failed", job_id=job_id,
                            log=[{"serial": 1, "type": "message", "message": "it broke"}])
        name = path.split("/")[3] if path.startswith("/2/instances/") else None
        if path.endswith("/startup") or path.endswith("/shutdown"):
            up = path.endswith("/startup")
            self.instances.get(name, {}).update(admin_state="up" if up else "down", oper_state=up)
        elif method == "DELETE" and name and not path.endswith("/tags"):
            self.instances.pop(name, None)
        elif path.endswith("/info"):
            return {"job_id": job_id, "status": "success", "opresult": [copy.deepcopy(self.query_data)]}
        elif path.endswith("/prepare-export"):
            assert query == {"mode": "remote"}
            return {"job_id": job_id, "status": "success", "opresult": [copy.deepcopy(self.prepared)]}
        elif path.endswith("/export"):
            return {"job_id": job_id, "status": "success",
                    "opresult": [[True, [True] * len(body["destination"])]]}
        elif method == "POST" and path == "/2/instances":
            if query == {"dry-run": 1}:
                if self.dry_run_error is not None:
                    raise self.dry_run_error
                return {"job_id": job_id, "status": "success", "opresult": [[]]}
            assert body["mode"] == "create" and body["no_install"], "a real import is followed by its waiter"
            self.instances[body["name"]] = {
                "name": body["name"], "uuid": "c0py", "admin_state": "down", "oper_state": False,
                "status": "ADMIN_down", "tags": list(body["tags"]), "disk.sizes": [d["size"] for d in body["disks"]],
                "nic.macs": [nic.get("mac") for nic in body["nics"]]}
            return {"job_id": job_id, "status": "success", "opresult": [["node1.dst.example.org"]]}
        elif path.endswith("/storage"):
            # Every node has room: the storage check's own tests are in test_move_preflight.py.
            return {"job_id": job_id, "status": "success", "opresult": [[["storage", self.free_mib]]]}
        elif path.endswith("/activate-disks"):
            sizes = self.instances[name]["disk.sizes"]
            node = "node1.dst.example.org" if self.info["name"] == DST else "node1.src.example.org"
            return {"job_id": job_id, "status": "success",
                    "opresult": [[[node, "disk/%d" % i, "/srv/%s.disk%d" % (name, i)] for i in range(len(sizes))]]}
        elif path.endswith("/tags") and name in self.instances:
            tags = self.instances[name].setdefault("tags", [])
            for tag in query["tag"]:
                if method == "PUT" and tag not in tags:
                    tags.append(tag)
                elif method == "DELETE" and tag in tags:
                    tags.remove(tag)
        elif not path.endswith("/tags"):
            raise AssertionError("unexpected job %s %s" % (method, path))
        return {"job_id": job_id, "status": "success", "opresult": [None]}


class FakeImportWaiter:
    """The remote import job on the fake destination: it creates the copy and logs the disk targets."""

    def __init__(self, client, job_id):
        self.client = client
        self.job_id = job_id
        self.finished = False
        self.log = []

    def poll(self):
        if self.log:
            self.finished = True
            return []
        body = self.client.jobs[self.job_id][3]
        self.client.instances[body["name"]] = {
            "name": body["name"], "uuid": "c0py", "admin_state": "down", "oper_state": False,
            "status": "ADMIN_down", "tags": list(body["tags"]), "disk.sizes": [d["size"] for d in body["disks"]],
            "nic.macs": [nic.get("mac") for nic in body["nics"]]}
        targets = {"disks": [["198.51.100.7", 41234 + i, "c0ffee"] for i in range(len(body["disks"]))],
                   "x509_ca": "-----BEGIN CERTIFICATE-----"}
        self.log = [{"serial": 1, "type": "message", "message": "creating disks"},
                    {"serial": 2, "type": "remote-import", "message": targets}] + list(self.client.import_log)
        return list(self.log)

    def result(self):
        raise AssertionError("the fake import always announces its targets")

    def wait(self, timeout=None):
        return {"job_id": self.job_id, "status": "success", "log": list(self.log)}


SRC_INFO = {"name": SRC, "software_version": "3.0.2", "enabled_hypervisors": ["kvm"],
            "enabled_disk_templates": ["plain", "drbd", "file"], "default_iallocator": "hail",
            "compression_tools": ["gzip", "gzip-fast", "gzip-slow"]}
DST_INFO = {"name": DST, "software_version": "3.0.2", "enabled_hypervisors": ["kvm"],
            "enabled_disk_templates": ["plain", "drbd"], "default_iallocator": "hail",
            "compression_tools": ["gzip", "gzip-fast", "gzip-slow", "lzop"]}
DST_NODES = [
    {"name": "node1.dst.example.org", "offline": False, "drained": False, "vm_capable": True},
    {"name": "node2.dst.example.org", "offline": False, "drained": False, "vm_capable": True},
    {"name": "node3.dst.example.org", "offline": True, "drained": False, "vm_capable": True},
    {"name": "node4.dst.example.org", "offline": False, "drained": True, "vm_capable": True},
    {"name": "node5.dst.example.org", "offline": False, "drained": False, "vm_capable": False},
]
DST_INSTANCES = {
    "db7.example.org": {"name": "db7.example.org", "uuid": "77", "admin_state": "up", "oper_state": True,
                        "nic.macs": ["aa:00:00:99:99:99"], "tags": []},
}
PREPARED = {"handshake": [0, "b1c0ffee", "5a17"], "x509_key_name": ["x509-key", "ab12", "sig"],
            "x509_ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
TRANSFER_FIXED = ["ganeti-fleet:transfer-fix"]


def src_client(**kwargs):
    kwargs.setdefault("instances", {NAME: LISTED})
    kwargs.setdefault("query_data", QUERY_DATA)
    kwargs.setdefault("cluster_tags", TRANSFER_FIXED)
    kwargs.setdefault("prepared", PREPARED)
    return FakeClient(SRC_INFO, **kwargs)


def dst_client(**kwargs):
    kwargs.setdefault("instances", DST_INSTANCES)
    kwargs.setdefault("nodes", DST_NODES)
    kwargs.setdefault("os_names", ["debootstrap+default", "debootstrap+minimal", "image"])
    return FakeClient(DST_INFO, **kwargs)


def test_source_details_from_query_data_and_listing():
    client = src_client()
    details = source_details(client, NAME)
    assert {key: details[key] for key in source()} == source()
    job = client.submitted[0]
    assert (job["method"], job["path"], job["query"]) == ("GET", "/2/instances/%s/info" % NAME, {"static": 1})


def test_source_details_network_without_info_falls_back_to_its_uuid():
    data = copy.deepcopy(QUERY_DATA)
    data[NAME]["nics"][2][8] = None
    details = source_details(src_client(query_data=data), NAME)
    assert details["nics"][2]["network"] == "9f0c1d2e-net"
    assert [n["network"] for n in details["nics"][:2]] == [None, None]


def test_source_details_fails_without_data():
    with pytest.raises(MoveError, match="returned no data for instance %s" % NAME):
        source_details(src_client(query_data={}), NAME)


# ----------------------------------------------------------------------
# build_create_body


def test_create_body_copies_the_source():
    created = body()
    assert created["__version__"] == 1
    assert created["mode"] == "remote-import"
    assert created["name"] == created["source_instance_name"] == NAME
    assert created["disk_template"] == "plain"
    assert created["disks"] == [{"size": 10240, "mode": "rw", "name": "root"},
                                {"size": 2048, "mode": "ro", "spindles": 1}]
    assert created["os"] == "debootstrap+default"
    assert created["hypervisor"] == "kvm"
    assert created["beparams"] == {"maxmem": 2048, "minmem": 1024, "vcpus": 2}
    assert created["hvparams"] == {"boot_order": "disk", "kernel_path": ""}
    assert created["osparams"] == {"dhcp": "yes"}
    # never started by the import, never checked against DNS, no waiting for a sync
    assert created["start"] is False
    assert created["ip_check"] is False and created["name_check"] is False
    assert created["wait_for_sync"] is False
    assert created["compress"] == "none"
    for key in ("pnode", "snode", "iallocator", "group_name"):
        assert key not in created


def test_create_body_disk_without_mode_is_rw():
    src = source()
    src["disks"] = [{"size": 512, "mode": None, "name": None, "spindles": 0}]
    assert body(src=src)["disks"] == [{"size": 512, "mode": "rw"}]


def test_create_body_rename_placement_and_template():
    created = body({"new_name": "web2.example.org", "primary_node": "node1.dst.example.org",
                    "secondary_node": "node2.dst.example.org", "iallocator": "hail", "group": "rack2",
                    "disk_template": "drbd", "compress": "gzip"})
    assert created["name"] == "web2.example.org"
    assert created["source_instance_name"] == NAME
    assert created["pnode"] == "node1.dst.example.org"
    assert created["snode"] == "node2.dst.example.org"
    assert created["iallocator"] == "hail"
    assert created["group_name"] == "rack2"
    assert created["disk_template"] == "drbd"
    assert created["compress"] == "gzip"
    assert "ganeti-fleet:move-id:%s" % move_id(SRC, NAME, DST, "web2.example.org") in created["tags"]


def test_create_body_merges_parameter_overrides_without_touching_the_source():
    src = source()
    created = body({"beparams": {"maxmem": 4096, "spindle_use": 2}, "hvparams": {"kernel_path": "/boot/vmlinuz"},
                    "osparams": {"dhcp": "no", "root_size": "5G"}}, src=src)
    assert created["beparams"] == {"maxmem": 4096, "minmem": 1024, "vcpus": 2, "spindle_use": 2}
    assert created["hvparams"] == {"boot_order": "disk", "kernel_path": "/boot/vmlinuz"}
    assert created["osparams"] == {"dhcp": "no", "root_size": "5G"}
    assert src == source()


def test_create_body_nics_keep_mac_ip_mode_link_vlan_and_network():
    nics = body()["nics"]
    assert nics[0] == {"mac": "aa:00:00:11:22:33", "ip": "192.0.2.10", "name": "front", "mode": "bridged",
                       "link": "br0"}
    assert nics[1] == {"mac": "aa:00:00:44:55:66", "ip": None, "mode": "openvswitch", "link": "switch1",
                       "vlan": ".100"}
    # On a network, mode and link come from the destination's network connection.
    assert nics[2] == {"mac": "aa:00:00:77:88:99", "ip": "10.1.0.5", "name": "back", "network": "backnet"}


def test_create_body_link_and_network_maps():
    nics = body({"link_map": {"br0": "br-prod", "unused": "x"},
                 "network_map": {"backnet": "backnet-dst"}})["nics"]
    assert nics[0]["link"] == "br-prod"
    assert nics[1]["link"] == "switch1"
    assert nics[2]["network"] == "backnet-dst"
    assert "mode" not in nics[2] and "link" not in nics[2]


def test_create_body_nic_overrides_generate_mac_and_remove_keys():
    nics = body({"nics": [{"mac": "generate", "ip": None, "name": None}, {}, {"ip": "10.1.0.99"}]})["nics"]
    assert nics[0] == {"mac": "generate", "mode": "bridged", "link": "br0"}
    assert nics[1]["mac"] == "aa:00:00:44:55:66"
    assert nics[2]["ip"] == "10.1.0.99" and nics[2]["network"] == "backnet"


def test_create_body_nic_override_can_take_a_nic_off_its_network():
    nics = body({"nics": [None, None, {"network": None, "mode": "bridged", "link": "br1"}]})["nics"]
    assert nics[2] == {"mac": "aa:00:00:77:88:99", "ip": "10.1.0.5", "name": "back", "mode": "bridged",
                       "link": "br1"}


def test_create_body_partial_nic_overrides_apply_by_index():
    nics = body({"nics": [{"link": "br9"}]})["nics"]
    assert [n.get("link") for n in nics] == ["br9", "switch1", None]


def test_too_many_nic_overrides_is_refused():
    with pytest.raises(MoveError) as caught:
        body({"nics": [{}, {}, {}, {"mac": "generate"}]})
    assert str(caught.value) == ("4 NIC overrides given for instance %s, which has 3 NICs; a move cannot "
                                 "add NICs" % NAME)


# ----------------------------------------------------------------------
# move_tags


def test_move_tags_carry_source_tags_and_add_provenance():
    tags = move_tags(source(), SRC, MOVE_ID)
    assert tags == ["app:web", "owner:team-a",
                    "ganeti-fleet:move-id:%s" % MOVE_ID,
                    "ganeti-fleet:move-pending",
                    "ganeti-fleet:source:%s/%s" % (SRC, NAME),
                    "ganeti-fleet:source-uuid:%s" % UUID,
                    "ganeti-fleet:source-admin-up"]
    assert body()["tags"] == tags


def test_move_tags_do_not_carry_the_collections_own_tags_twice():
    src = source()
    # The instance was moved here by an earlier move, and is moved on now.
    src["tags"] = ["app:web", "ganeti-fleet:move-id:0123456789abcdef", "ganeti-fleet:source:old/web1",
                   "ganeti-fleet:source-uuid:1111", "ganeti-fleet:source-admin-up"]
    tags = move_tags(src, SRC, MOVE_ID)
    assert len(tags) == len(set(tags))
    assert [t for t in tags if t.startswith("ganeti-fleet:move-id:")] == ["ganeti-fleet:move-id:%s" % MOVE_ID]
    assert [t for t in tags if t.startswith("ganeti-fleet:source:")] == ["ganeti-fleet:source:%s/%s" % (SRC, NAME)]
    assert [t for t in tags if t.startswith("ganeti-fleet:source-uuid:")] == ["ganeti-fleet:source-uuid:" + UUID]
    assert tags.count("ganeti-fleet:source-admin-up") == 1


@pytest.mark.parametrize("admin_state", ["down", "offline"])
def test_source_admin_up_tag_only_when_the_source_is_up(admin_state):
    src = source()
    src["admin_state"] = admin_state
    assert "ganeti-fleet:source-admin-up" not in move_tags(src, SRC, MOVE_ID)


@pytest.mark.parametrize("admin_state, was_up, tagged", [
    ("down", True, True),    # stopped by an interrupted run of this move
    ("up", False, False),
])
def test_source_admin_up_tag_follows_was_up_when_known(admin_state, was_up, tagged):
    src = dict(source(), admin_state=admin_state, was_up=was_up)
    assert ("ganeti-fleet:source-admin-up" in move_tags(src, SRC, MOVE_ID)) is tagged


def test_move_tags_refuse_a_tag_ganeti_would_refuse():
    src = source()
    src["name"] = "web1." + "sub." * 25 + "example.org"  # a provenance tag of more than 128 characters
    with pytest.raises(MoveError, match=r"cannot tag the destination instance: tag 'ganeti-fleet:source:.*"
                                        r"is longer than 128 characters"):
        move_tags(src, SRC, MOVE_ID)
    src = source()
    src["tags"] = ["bad tag"]
    with pytest.raises(MoveError, match="cannot tag the destination instance: tag 'bad tag' contains"):
        move_tags(src, SRC, MOVE_ID)


# ----------------------------------------------------------------------
# assess


def destination(*extra, **fields):
    instance = {"name": NAME, "uuid": "d5e1", "admin_state": "down", "oper_state": False,
                "tags": ["app:web", "ganeti-fleet:move-id:%s" % MOVE_ID,
                         "ganeti-fleet:source:%s/%s" % (SRC, NAME),
                         "ganeti-fleet:source-uuid:%s" % UUID] + list(extra)}
    instance.update(fields)
    return instance


def source_instance(**fields):
    instance = copy.deepcopy(LISTED)
    instance.update(fields)
    return instance


def test_assess_new_move():
    phase, reason = assess(source_instance(), None, a_move())
    assert phase == PHASE_NEW
    assert reason == "destination name %s is free" % NAME


def test_assess_nothing_anywhere():
    with pytest.raises(MoveError) as caught:
        assess(None, None, a_move())
    assert str(caught.value).startswith("instance %s exists on neither cluster" % NAME)


def test_assess_remnant_of_an_unfinished_run():
    phase, reason = assess(source_instance(), destination("ganeti-fleet:move-pending"), a_move())
    assert phase == PHASE_REMNANT
    assert "left over from an unfinished run" in reason and DST in reason


@pytest.mark.parametrize("tags", [
    [],
    ["app:web"],
    ["ganeti-fleet:move-id:ffffffffffffffff", "ganeti-fleet:move-pending"],
], ids=["untagged", "foreign tags", "another move"])
def test_assess_refuses_a_destination_the_move_did_not_create(tags):
    with pytest.raises(MoveError) as caught:
        assess(source_instance(), {"name": NAME, "tags": tags, "oper_state": True}, a_move())
    message = str(caught.value)
    assert "destination cluster %s already has an instance named %s" % (DST, NAME) in message
    assert "ganeti-fleet:move-id:%s" % MOVE_ID in message and "new_name" in message


def test_assess_refuses_when_the_source_is_another_instance():
    with pytest.raises(MoveError) as caught:
        assess(source_instance(uuid="99999999-0000-0000-0000-000000000000"), destination(), a_move())
    assert str(caught.value) == ("instance %s on %s is not the one moved to %s/%s (uuid differs); refusing "
                                 "to touch it" % (NAME, SRC, DST, NAME))


def test_assess_finish_removes_the_source():
    phase, reason = assess(source_instance(admin_state="down", oper_state=False),
                           destination("ganeti-fleet:source-admin-up", admin_state="up", oper_state=True),
                           a_move())
    assert phase == PHASE_FINISH
    assert reason == "data verified on the destination; left to do: remove the source"


def test_assess_finish_keep_stops_and_tags_the_source_and_starts_the_destination():
    phase, reason = assess(source_instance(), destination("ganeti-fleet:source-admin-up"),
                           a_move(source_policy="keep"))
    assert phase == PHASE_FINISH
    assert reason.endswith("left to do: stop the source, tag the source ganeti-fleet:moved-to:%s/%s, "
                           "start the destination" % (DST, NAME))


@pytest.mark.parametrize("src_fields, action", [
    ({"admin_state": "up", "oper_state": False}, "stop the source"),
    ({"admin_state": "down", "oper_state": True}, "stop the source"),
    ({"admin_state": "down", "oper_state": False}, "tag the source ganeti-fleet:moved-to:%s/%s" % (DST, NAME)),
])
def test_assess_finish_keep_single_actions(src_fields, action):
    src = source_instance(**src_fields)
    if action.startswith("stop"):
        src["tags"] = src["tags"] + ["ganeti-fleet:moved-to:%s/%s" % (DST, NAME)]
    phase, reason = assess(src, destination(), a_move(source_policy="keep"))
    assert (phase, reason) == (PHASE_FINISH, "data verified on the destination; left to do: " + action)


def test_assess_finish_only_starts_the_destination():
    phase, reason = assess(None, destination("ganeti-fleet:source-admin-up", admin_state="down"), a_move())
    assert (phase, reason) == (PHASE_FINISH, "data verified on the destination; left to do: start the destination")


def test_assess_start_option_overrides_the_source_state():
    # explicit start=false: a destination whose source was up is left stopped
    assert assess(None, destination("ganeti-fleet:source-admin-up"), a_move(start=False))[0] == PHASE_DONE
    # explicit start=true: started although the source was down
    phase, reason = assess(None, destination(), a_move(start=True))
    assert phase == PHASE_FINISH and reason.endswith("start the destination")


@pytest.mark.parametrize("src, dst, move", [
    (None, destination("ganeti-fleet:source-admin-up", admin_state="up", oper_state=True), a_move()),
    (None, destination(), a_move()),
    (source_instance(admin_state="down", oper_state=False,
                     tags=["ganeti-fleet:moved-to:%s/%s" % (DST, NAME)]),
     destination("ganeti-fleet:source-admin-up", admin_state="up", oper_state=True), a_move(source_policy="keep")),
], ids=["removed source, running copy", "stopped source and copy", "kept source"])
def test_assess_done(src, dst, move):
    assert assess(src, dst, move) == (PHASE_DONE, "already moved: %s/%s" % (DST, NAME))


# ----------------------------------------------------------------------
# static_checks


def checks(src=None, request=None, src_info=None, dst_info=None, features=None, dst_instances=None,
           dst_nodes=None, os_names=None, cluster_tags=None, create_body=None):
    src = src or source()
    request = dict({"name": NAME, "primary_node": "node1.dst.example.org"}, **(request or {}))
    move = describe_move(request, SRC, DST)
    if create_body is None:
        create_body = build_create_body(src, request, SRC, move["id"])
    findings = static_checks(
        src, request, move, src_info or SRC_INFO, dst_info or DST_INFO,
        features if features is not None else FakeClient({}).features,
        list((dst_instances if dst_instances is not None else DST_INSTANCES).values()),
        dst_nodes if dst_nodes is not None else DST_NODES,
        os_names if os_names is not None else {"debootstrap", "image"},
        cluster_tags if cluster_tags is not None else TRANSFER_FIXED, create_body)
    assert all(isinstance(f, Finding) for f in findings)
    return findings


def failed(findings):
    return [f.check for f in findings if not f.ok]


def the(findings, check):
    found = [f for f in findings if f.check == check]
    assert len(found) == 1, [f.as_dict() for f in findings]
    return found[0]


def test_static_checks_all_pass():
    findings = checks()
    assert failed(findings) == []
    assert [f.check for f in findings] == ["rapi_features", "disk_template", "hypervisor", "os", "nodes",
                                           "mac", "mac", "mac", "transfer_defect"]
    assert the(findings, "nodes").message == "node node1.dst.example.org on %s can take the instance" % DST
    assert describe_failures(findings) == ""


def test_static_checks_missing_request_version_1():
    finding = the(checks(features=["node-evac-res1"]), "rapi_features")
    assert not finding.ok
    assert finding.message == "destination %s does not support instance creation request version 1" % DST


def test_static_checks_disk_template_not_enabled():
    finding = the(checks(request={"disk_template": "file"}), "disk_template")
    assert not finding.ok
    assert finding.message == "disk template file is not enabled on %s (enabled: plain, drbd)" % DST


def test_static_checks_hypervisor_not_enabled():
    finding = the(checks(dst_info=dict(DST_INFO, enabled_hypervisors=["xen-pvm", "xen-hvm"])), "hypervisor")
    assert not finding.ok
    assert finding.message == "hypervisor kvm is not enabled on %s (enabled: xen-pvm, xen-hvm)" % DST


def test_static_checks_os_missing_and_variants():
    finding = the(checks(os_names={"image"}), "os")
    assert not finding.ok and finding.message == "OS debootstrap+default is not installed on %s" % DST
    assert the(checks(os_names={"debootstrap"}), "os").ok
    src = source()
    src["os"] = ""
    assert [f for f in checks(src=src) if f.check == "os"] == []
    # Without the list of the destination's OSes (a plan without probe) the OS is not checked.
    findings = static_checks(source(), {"name": NAME}, a_move(), SRC_INFO, DST_INFO, FakeClient({}).features,
                             [], DST_NODES, None, TRANSFER_FIXED, body())
    assert "os" not in [f.check for f in findings]


def test_static_checks_compression_on_one_side_only():
    finding = the(checks(request={"compress": "lzop"}), "compression")
    assert not finding.ok
    assert finding.message.startswith("compression lzop must be in both clusters' compression_tools: %s has "
                                      "gzip, gzip-fast, gzip-slow, %s has gzip, gzip-fast, gzip-slow, lzop"
                                      % (SRC, DST))
    assert "gnt-cluster modify --compression-tools" in finding.message
    both = the(checks(request={"compress": "gzip"}), "compression")
    assert both.ok and both.message.startswith("compression gzip is allowed on %s" % SRC)
    assert [f for f in checks() if f.check == "compression"] == []


@pytest.mark.parametrize("node, problem", [
    ("node9.dst.example.org", "does not exist"),
    ("node3.dst.example.org", "cannot take instances (offline)"),
    ("node4.dst.example.org", "cannot take instances (drained)"),
    ("node5.dst.example.org", "cannot take instances (not vm_capable)"),
])
def test_static_checks_node_cannot_take_the_instance(node, problem):
    findings = checks(request={"primary_node": node})
    assert failed(findings) == ["nodes"]
    message = the(findings, "nodes").message
    assert message.startswith("node %s " % node) and problem in message and DST in message
    if problem == "does not exist":
        assert "(nodes: node1.dst.example.org, node2.dst.example.org" in message


def test_static_checks_accept_a_unique_short_node_name():
    assert the(checks(request={"primary_node": "node2"}), "nodes").ok


def test_static_checks_secondary_node_is_checked_too():
    findings = checks(request={"secondary_node": "node3.dst.example.org", "disk_template": "drbd"})
    nodes = [f for f in findings if f.check == "nodes"]
    assert [f.ok for f in nodes] == [True, False]
    assert "node3.dst.example.org" in nodes[1].message


def test_static_checks_iallocator():
    default = the(checks(request={"primary_node": None}), "iallocator")
    assert default.ok and default.message == "placement on %s by its default iallocator hail" % DST
    missing = the(checks(request={"primary_node": None}, dst_info=dict(DST_INFO, default_iallocator="")),
                  "iallocator")
    assert not missing.ok
    assert missing.message == "%s has no default iallocator: give primary_node or iallocator" % DST
    explicit = checks(request={"primary_node": None, "iallocator": "hail"}, dst_info=dict(DST_INFO, default_iallocator=""))
    assert [f for f in explicit if f.check in ("iallocator", "nodes")] == []


def test_static_checks_mac_clash_names_the_owner():
    owner = {"name": "db7.example.org", "nic.macs": ["AA:00:00:44:55:66"], "tags": []}
    findings = checks(dst_instances={"db7.example.org": owner})
    clash = [f for f in findings if f.check == "mac" and not f.ok]
    assert len(clash) == 1
    assert clash[0].message == ("MAC aa:00:00:44:55:66 of NIC 1 is already used by instance db7.example.org on "
                                "%s; pass nics: [{mac: generate}] to give the moved instance a new one" % DST)


def test_static_checks_mac_of_the_moves_own_remnant_and_generated_macs_are_fine():
    remnant = {"name": NAME, "nic.macs": ["aa:00:00:11:22:33"], "tags": []}
    assert failed(checks(dst_instances={NAME: remnant})) == []
    owner = {"name": "db7.example.org", "nic.macs": ["aa:00:00:11:22:33"], "tags": []}
    findings = checks(request={"nics": [{"mac": "generate"}]}, dst_instances={"db7.example.org": owner})
    assert failed(findings) == []
    assert len([f for f in findings if f.check == "mac"]) == 2


def test_static_checks_transfer_defect_on_3_0_without_the_fix():
    finding = the(checks(cluster_tags=[]), "transfer_defect")
    assert not finding.ok
    assert finding.message.startswith("source cluster %s runs Ganeti 3.0.2, whose disk transfers fail" % SRC)
    assert "ganeti/ganeti#1681" in finding.message and "ganeti.fleet.transfer_fix" in finding.message
    assert "ganeti-fleet:transfer-fix" in finding.message


def test_static_checks_transfer_defect_fixed_or_not_present():
    fixed = the(checks(), "transfer_defect")
    assert fixed.ok and fixed.message.endswith("(transfer fix applied)")
    newer = the(checks(src_info=dict(SRC_INFO, software_version="3.1.0"), cluster_tags=[]), "transfer_defect")
    assert newer.ok and "Ganeti 3.1.0" in newer.message and "transfer fix applied" not in newer.message


def test_static_checks_collect_every_failure():
    findings = checks(request={"disk_template": "file", "primary_node": "node3.dst.example.org"},
                      os_names=set(), cluster_tags=[])
    assert failed(findings) == ["disk_template", "os", "nodes", "transfer_defect"]
    assert describe_failures(findings) == "; ".join(f.message for f in findings if not f.ok)
    assert describe_failures(findings).startswith("disk template file is not enabled")


def test_domain_secret_hint_names_a_playbook_that_exists():
    error = RapiError("failed", kind="job_failed", error_message="Invalid handshake: Hash didn't match, clusters "
                                                                 "don't share the same domain secret")
    finding = probe_destination(src_client(), dst_client(dry_run_error=error), a_move(), body())
    named = re.findall(r"playbooks/[\w.-]+\.yml", finding.message)
    assert named == ["playbooks/domain_secret.yml"]
    assert os.path.isfile(os.path.join(COLLECTION_ROOT, named[0]))


def test_transfer_defect_hint_names_playbooks_that_exist():
    message = the(checks(cluster_tags=[]), "transfer_defect").message
    named = re.findall(r"playbooks/[\w.-]+\.yml", message)
    assert named
    for path in named:
        assert os.path.isfile(os.path.join(COLLECTION_ROOT, path)), path


# ----------------------------------------------------------------------
# Job log helpers, describe_failures


def test_import_warnings():
    log = [
        {"serial": 1, "type": "message", "message": "* disk 0, size 10.0G"},
        {"serial": 2, "type": "message",
         "message": " - WARNING: Some disks for instance web1.example.org on node node1.dst.example.org were "
                    "not imported successfully"},
        {"serial": 3, "type": "message", "message": "disk/1 failed to receive data: connection reset"},
        {"serial": 4, "type": "remote-import", "message": {"disks": [], "x509_ca": "pem"}},
        "Failed To Receive Data on disk/2",
        None,
    ]
    assert import_warnings(log) == [log[1]["message"], log[2]["message"], log[4]]
    assert import_warnings([]) == [] and import_warnings(None) == []


def test_remote_import_info():
    message = {"disks": [["198.51.100.7", 41234, "c0ffee"]], "x509_ca": "-----BEGIN CERTIFICATE-----",
               "other": 1}
    entry = {"serial": 3, "timestamp": 1.5, "type": "remote-import", "message": message}
    assert remote_import_info(entry) == {"disks": message["disks"], "x509_ca": message["x509_ca"]}
    assert remote_import_info(dict(entry, type="message")) is None
    assert remote_import_info(dict(entry, message={"disks": []})) is None
    assert remote_import_info(dict(entry, message="text")) is None
    assert remote_import_info([3, [1, 0], "remote-import", message]) is None


def test_describe_failures_accepts_findings_and_dicts():
    findings = [Finding("a", True, "fine"), Finding("b", False, "broken b"),
                {"check": "c", "ok": False, "message": "broken c"}, {"check": "d", "ok": True, "message": "ok"}]
    assert describe_failures(findings) == "broken b; broken c"
    assert Finding("b", False, "broken b").as_dict() == {"check": "b", "ok": False, "message": "broken b"}


# ----------------------------------------------------------------------
# plan_move and probe_destination, with fake clients


def test_plan_new_move_passes_and_probes_with_the_real_body():
    src, dst = src_client(), dst_client()
    plan = plan_move(src, dst, {**GANETI, "name": NAME, "primary_node": "node2.dst.example.org"})
    assert plan["ok"] is True, plan["findings"]
    assert plan["phase"] == PHASE_NEW and plan["destination"] is None
    assert plan["start_destination"] is True
    assert {key: plan["source"][key] for key in source()} == source()
    assert plan["create_body"]["pnode"] == "node2.dst.example.org"
    assert plan["findings"][-1]["check"] == "destination_dry_run"
    assert plan["findings"][-1]["message"].startswith("%s accepts the import of %s as %s" % (DST, NAME, NAME))
    prepare = src.submitted[-1]
    assert (prepare["method"], prepare["path"]) == ("PUT", "/2/instances/%s/prepare-export" % NAME)
    (dry_run,) = dst.submitted
    assert (dry_run["method"], dry_run["path"], dry_run["query"]) == ("POST", "/2/instances", {"dry-run": 1})
    assert dry_run["body"]["source_handshake"] == PREPARED["handshake"]
    assert dry_run["body"]["source_x509_ca"] == PREPARED["x509_ca"]
    assert dry_run["body"]["start"] is False
    assert {k: v for k, v in dry_run["body"].items() if not k.startswith("source_")} == \
        {k: v for k, v in plan["create_body"].items() if k != "source_instance_name"}
    assert "source_handshake" not in plan["create_body"]


def test_plan_dry_run_refused_for_the_domain_secret():
    error = RapiError("Job 101 (INSTANCE_CREATE(web1.example.org)) on https://%s:5080 failed: ..." % DST,
                      kind="job_failed", job_id="101", job_status="error", error_class="OpPrereqError",
                      error_message="Invalid handshake: Hash didn't match, clusters don't share the same "
                                    "domain secret",
                      error_code="wrong_input")
    plan = plan_move(src_client(), dst_client(dry_run_error=error), {**GANETI, "name": NAME})
    assert plan["ok"] is False
    finding = plan["findings"][-1]
    assert finding["check"] == "destination_dry_run" and finding["ok"] is False
    assert finding["message"] == (
        "%s refuses the import of %s as %s: Invalid handshake: Hash didn't match, clusters don't share the "
        "same domain secret; make the clusters share one cluster domain secret (playbooks/domain_secret.yml), "
        "or move with transfer: direct" % (DST, NAME, NAME))
    assert describe_failures(plan["findings"]) == finding["message"]


def test_probe_other_refusal_has_no_domain_secret_hint():
    error = RapiError("failed", kind="job_failed", error_class="OpPrereqError",
                      error_message="Instance 'web1.example.org' is already in the cluster")
    src, dst = src_client(), dst_client(dry_run_error=error)
    move = a_move()
    finding = probe_destination(src, dst, move, body())
    assert not finding.ok
    assert finding.message.endswith(": Instance 'web1.example.org' is already in the cluster")
    assert "domain_secret.yml" not in finding.message


def test_probe_without_decoded_error_uses_the_whole_message():
    error = RapiError("Job 7 on https://dst:5080 ended with status error", kind="job_failed")
    finding = probe_destination(src_client(), dst_client(dry_run_error=error), a_move(), body())
    assert not finding.ok and finding.message.endswith("ended with status error")


def test_probe_transport_errors_are_not_findings():
    error = RapiError("Cannot connect to Ganeti RAPI at https://dst:5080", kind="connection")
    with pytest.raises(RapiError, match="Cannot connect"):
        probe_destination(src_client(), dst_client(dry_run_error=error), a_move(), body())


def test_plan_without_probe_writes_nothing():
    src, dst = src_client(), dst_client()
    plan = plan_move(src, dst, {**GANETI, "name": NAME}, probe=False)
    assert plan["ok"] is True
    assert "destination_dry_run" not in [f["check"] for f in plan["findings"]]
    assert [j["method"] for j in src.submitted] == ["GET"] and dst.submitted == []
    assert "os" not in [f["check"] for f in plan["findings"]]


def test_plan_reports_static_failures_and_still_probes():
    plan = plan_move(src_client(cluster_tags=[]), dst_client(), {**GANETI, "name": NAME, "primary_node": "node3.dst.example.org"})
    assert plan["ok"] is False
    assert [f["check"] for f in plan["findings"] if not f["ok"]] == ["nodes", "transfer_defect"]


def test_plan_remnant_skips_the_dry_run():
    remnant = destination("ganeti-fleet:move-pending", **{"nic.macs": ["aa:00:00:11:22:33"]})
    src, dst = src_client(), dst_client(instances=dict(DST_INSTANCES, **{NAME: remnant}))
    plan = plan_move(src, dst, {**GANETI, "name": NAME})
    assert plan["phase"] == PHASE_REMNANT
    assert plan["ok"] is True, plan["findings"]
    assert plan["findings"][-1]["message"].startswith("dry run skipped")
    assert dst.submitted == []
    assert plan["destination"]["name"] == NAME


def test_plan_remnant_remembers_that_the_source_was_up():
    """An interrupted run stopped the source; the copy it left says the source had been up."""
    remnant = destination("ganeti-fleet:move-pending", "ganeti-fleet:source-admin-up")
    stopped = source_instance(admin_state="down", oper_state=False, status="ADMIN_down")
    data = copy.deepcopy(QUERY_DATA)
    data[NAME]["config_state"] = "down"
    src = src_client(instances={NAME: stopped}, query_data=data)
    plan = plan_move(src, dst_client(instances={NAME: remnant}), {**GANETI, "name": NAME})
    assert plan["phase"] == PHASE_REMNANT
    assert plan["source"]["admin_state"] == "down" and plan["source"]["was_up"] is True
    assert plan["start_destination"] is True
    assert "ganeti-fleet:source-admin-up" in plan["create_body"]["tags"]
    # A new move of a stopped source: not up, not started.
    plan = plan_move(src_client(instances={NAME: stopped}, query_data=data), dst_client(), {**GANETI, "name": NAME})
    assert plan["source"]["was_up"] is False and plan["start_destination"] is False
    assert "ganeti-fleet:source-admin-up" not in plan["create_body"]["tags"]


def test_plan_finish_phase_reads_nothing_more():
    dst_instance = destination("ganeti-fleet:source-admin-up", admin_state="up", oper_state=True)
    src, dst = src_client(), dst_client(instances={NAME: dst_instance})
    plan = plan_move(src, dst, {**GANETI, "name": NAME})
    assert plan["phase"] == PHASE_FINISH and plan["reason"].endswith("remove the source")
    assert plan["source"] is None and plan["create_body"] is None and plan["findings"] == []
    assert plan["start_destination"] is True
    assert src.submitted == [] and dst.submitted == []


def test_plan_refuses_an_unknown_source_policy():
    with pytest.raises(MoveError, match="source_policy must be one of remove, keep, not 'archive'"):
        plan_move(src_client(), dst_client(), {**GANETI, "name": NAME, "source_policy": "archive"})


def test_plan_refuses_a_foreign_destination():
    foreign = {"name": NAME, "uuid": "f0", "tags": ["app:other"], "nic.macs": []}
    with pytest.raises(MoveError, match="already has an instance named %s" % NAME):
        plan_move(src_client(), dst_client(instances={NAME: foreign}), {**GANETI, "name": NAME})


def test_plan_other_rapi_errors_propagate():
    class Broken(FakeClient):
        def get_instance(self, name, missing_ok=False):
            raise RapiError("Ganeti RAPI at https://dst:5080: GET failed with HTTP 500", status_code=500)

    with pytest.raises(RapiError, match="HTTP 500"):
        plan_move(src_client(), Broken(DST_INFO), {**GANETI, "name": NAME})


def test_tag_value_and_should_start():
    tags = ["a", "ganeti-fleet:source-uuid:abc", "ganeti-fleet:source:c/x"]
    assert mv.tag_value(tags, vocabulary.TAG_SOURCE_UUID) == "abc"
    assert mv.tag_value(tags, vocabulary.TAG_SOURCE) == "c/x"
    assert mv.tag_value(tags, vocabulary.TAG_MOVE_ID) is None
    assert mv.should_start({"tags": [vocabulary.TAG_SOURCE_UP]}, {"start": None}) is True
    assert mv.should_start({"tags": []}, {"start": None}) is False
    assert mv.should_start({"tags": [vocabulary.TAG_SOURCE_UP]}, {"start": False}) is False


# ----------------------------------------------------------------------
# A copy still tagged pending whose run had got past the verification


PENDING = "ganeti-fleet:move-pending"
MOVED_TO = "ganeti-fleet:moved-to:%s/%s" % (DST, NAME)


def test_assess_pending_copy_of_a_removed_source_is_verified():
    phase, reason = assess(None, destination(PENDING, "ganeti-fleet:source-admin-up"), a_move())
    assert (phase, reason) == (PHASE_FINISH, "data verified on the destination; left to do: commit, "
                                             "start the destination")


def test_assess_pending_copy_of_a_source_tagged_moved_to_is_verified():
    src = source_instance(admin_state="down", oper_state=False, tags=[MOVED_TO])
    phase, reason = assess(src, destination(PENDING), a_move(source_policy="keep"))
    assert (phase, reason) == (PHASE_FINISH, "data verified on the destination; left to do: commit")


def test_assess_pending_copy_that_was_started_is_verified():
    src = source_instance(admin_state="down", oper_state=False)
    phase, reason = assess(src, destination(PENDING, admin_state="up", oper_state=True), a_move())
    assert (phase, reason) == (PHASE_FINISH, "data verified on the destination; left to do: commit, "
                                             "remove the source")


def test_assess_pending_copy_with_the_moved_to_tag_of_another_move_is_a_remnant():
    src = source_instance(admin_state="down", oper_state=False,
                          tags=["ganeti-fleet:moved-to:%s/other.example.org" % DST])
    assert assess(src, destination(PENDING), a_move())[0] == PHASE_REMNANT


def test_assess_pending_copy_of_another_source_is_refused_even_when_tagged_moved_to():
    src = source_instance(uuid="99999999-0000-0000-0000-000000000000", tags=[MOVED_TO])
    with pytest.raises(MoveError, match="uuid differs"):
        assess(src, destination(PENDING), a_move(source_policy="keep"))


def import_job(job_id, status="success", log=()):
    return {"id": job_id, "status": status, "summary": ["INSTANCE_CREATE(%s)" % NAME],
            "oplog": [[[i + 1, [1700000000, 0], "message", text] for i, text in enumerate(log)]]}


def pending_copy_plan(job_list, job_details):
    dst = dst_client(instances={NAME: destination(PENDING, "ganeti-fleet:source-admin-up")},
                     job_list=job_list, job_details=job_details)
    return plan_move(src_client(instances={}), dst, {**GANETI, "name": NAME})


def test_plan_trusts_a_pending_copy_of_a_removed_source_only_after_its_import_job():
    jobs = [{"id": 7, "summary": ["INSTANCE_CREATE(%s)" % NAME], "status": "success"},
            {"id": 9, "summary": ["INSTANCE_CREATE(%s)" % NAME], "status": "success"},
            {"id": 8, "summary": ["INSTANCE_STARTUP(%s)" % NAME], "status": "success"}]
    plan = pending_copy_plan(jobs, {"9": import_job(9, log=["Disk 0 finished receiving data"])})
    assert plan["phase"] == PHASE_FINISH and plan["reason"].endswith("commit, start the destination")


@pytest.mark.parametrize("jobs, details, problem", [
    ([], {}, "the destination lists no import job of %s" % NAME),
    ([{"id": 9, "summary": ["INSTANCE_CREATE(%s)" % NAME]}], {"9": import_job(9, status="error")},
     "the last import job 9 of %s ended with status error" % NAME),
    ([{"id": 9, "summary": ["INSTANCE_CREATE(%s)" % NAME]}],
     {"9": import_job(9, log=["Some disks for instance %s were not imported successfully" % NAME])},
     "the last import job 9 of %s reports: Some disks" % NAME),
], ids=["no job", "failed job", "disk not imported"])
def test_plan_refuses_a_pending_copy_of_a_removed_source_without_a_good_import_job(jobs, details, problem):
    with pytest.raises(MoveError) as caught:
        pending_copy_plan(jobs, details)
    message = str(caught.value)
    assert message.startswith("instance %s on %s is tagged %s and its source %s is gone from %s, but %s"
                              % (NAME, DST, PENDING, NAME, SRC, problem))


def test_plan_prepares_the_export_once_for_the_probe_and_the_transfer():
    src, dst = src_client(), dst_client()
    plan = plan_move(src, dst, {**GANETI, "name": NAME}, probe=True, prepare=True)
    assert plan["ok"] is True, plan["findings"]
    assert plan["prepared"] == PREPARED
    prepares = [j for j in src.submitted if j["path"].endswith("/prepare-export")]
    assert len(prepares) == 1
    assert dst.submitted[0]["body"]["source_handshake"] == PREPARED["handshake"]


def test_plan_prepares_the_export_for_a_remnant_but_not_for_a_finished_move():
    remnant = destination(PENDING)
    src = src_client()
    plan = plan_move(src, dst_client(instances={NAME: remnant}), {**GANETI, "name": NAME}, probe=False, prepare=True)
    assert plan["phase"] == PHASE_REMNANT and plan["prepared"] == PREPARED
    src = src_client()
    plan = plan_move(src, dst_client(instances={NAME: destination()}), {**GANETI, "name": NAME}, prepare=True)
    assert plan["phase"] == PHASE_FINISH and plan["prepared"] is None and src.submitted == []


class Recorder:
    """Wraps fake clients to record the order of submissions and waits across both."""

    def __init__(self):
        self.events = []

    def wrap(self, label, client):
        submit, wait = client.submit, client.wait_for_job

        def recorded_submit(*args, **kwargs):
            job_id = submit(*args, **kwargs)
            self.events.append(("submit", label, args[0], args[1]))
            return job_id

        def recorded_wait(job_id, timeout=None):
            self.events.append(("wait", label, job_id))
            return wait(job_id, timeout)

        client.submit, client.wait_for_job = recorded_submit, recorded_wait
        return client


def test_finish_starts_the_copy_before_the_commit_and_submits_every_job_before_waiting():
    recorder = Recorder()
    src, dst = recorder.wrap("src", src_client()), recorder.wrap("dst", dst_client())
    result = {"actions": [], "changed": False}
    ex._finish(src, dst, a_move(), source_instance(admin_state="down", oper_state=False),
               destination(PENDING), True, 120, result, lambda m: None)
    submits = [e[1:] for e in recorder.events if e[0] == "submit"]
    # Each cluster's jobs come from a thread of their own: the order holds per cluster.
    assert [s for s in submits if s[0] == "dst"] == [("dst", "PUT", "/2/instances/%s/startup" % NAME),
                                                     ("dst", "DELETE", "/2/instances/%s/tags" % NAME)]
    assert [s for s in submits if s[0] == "src"] == [("src", "DELETE", "/2/instances/%s" % NAME)]
    assert [e[0] for e in recorder.events] == ["submit"] * 3 + ["wait"] * 3
    assert dst.submitted[1]["query"] == {"tag": [PENDING]}
    assert src.submitted[0]["body"] == {"shutdown_timeout": 120}
    assert set(result.pop("seconds")) == {"start the copy", "commit", "remove the source"}
    assert result == {"actions": ["start the copy", "commit", "remove the source"], "changed": True}


def test_finish_without_start_or_commit_only_handles_the_source():
    src, dst = src_client(), dst_client()
    result = {"actions": [], "changed": False}
    ex._finish(src, dst, a_move(), source_instance(admin_state="down", oper_state=False),
               destination(), False, 120, result, lambda m: None)
    assert not dst.submitted
    assert [(j["method"], j["path"]) for j in src.submitted] == [("DELETE", "/2/instances/%s" % NAME)]
    assert set(result.pop("seconds")) == {"remove the source"}
    assert result == {"actions": ["remove the source"], "changed": True}


def test_finish_keep_tags_the_source_next_to_the_commit():
    src, dst = src_client(), dst_client()
    result = {"actions": [], "changed": False}
    ex._finish(src, dst, a_move(source_policy="keep"), source_instance(admin_state="down", oper_state=False),
               destination(PENDING), False, 120, result, lambda m: None)
    assert [(j["method"], j["path"], j["query"]) for j in src.submitted] == [
        ("PUT", "/2/instances/%s/tags" % NAME, {"tag": [MOVED_TO]})]
    assert result["actions"] == ["commit", "tag the source"]


def test_finish_reports_every_failed_job_and_waits_for_the_others():
    src = src_client(failing_jobs=[("DELETE", "/2/instances/%s" % NAME)])
    dst = dst_client()
    result = {"actions": [], "changed": False}
    with pytest.raises(MoveError) as caught:
        ex._finish(src, dst, a_move(), source_instance(admin_state="down", oper_state=False),
                   destination(PENDING), True, 120, result, lambda m: None)
    message = str(caught.value)
    assert message.startswith("the copy on %s is complete, but 'remove the source' failed: Job " % DST)
    assert message.endswith("re-run the move to finish it")
    assert result["actions"] == ["start the copy", "commit"]


# ----------------------------------------------------------------------
# The move options: one definition, its documentation, the request


def test_the_move_fragment_documents_the_argument_spec():
    options = yaml.safe_load(MoveFragment.DOCUMENTATION)["options"]
    spec = move_argument_spec()

    def described(option):
        return (option.get("type", "str"), option.get("default"), bool(option.get("required")),
                option.get("elements"), option.get("choices"))

    assert list(options) == list(spec)
    assert {name: described(option) for name, option in options.items()} == \
        {name: described(option) for name, option in spec.items()}
    for name in ("source", "destination"):
        assert {key: described(option) for key, option in options[name]["suboptions"].items()} == \
            {key: described(option) for key, option in spec[name]["options"].items()}
    assert REQUEST_KEYS == tuple(MOVE_OPTIONS) == tuple(list(options)[3:])


def params(**given):
    """The module's parameters as Ansible fills them: every move option, with its default."""
    values = {key: option.get("default") for key, option in move_argument_spec().items()}
    values.update(given)
    return values


def test_request_from_the_options():
    request = move_request(params(name=NAME, primary_node="node1.dst.example.org"))
    assert list(request) == list(REQUEST_KEYS)
    assert request["name"] == NAME and request["primary_node"] == "node1.dst.example.org"
    assert (request["compress"], request["source_policy"], request["start"]) == ("none", "remove", None)


def test_request_dict_takes_precedence_and_is_checked_like_the_options():
    request = move_request(params(name="ignored", source_policy="keep", request={
        "name": NAME, "new_name": "web2.example.org", "start": "yes", "nics": [{"mac": "generate"}]}))
    assert request["name"] == NAME and request["new_name"] == "web2.example.org"
    assert request["start"] is True  # converted as a bool option would be
    assert request["nics"] == [{"mac": "generate"}]
    assert request["source_policy"] == "keep"  # not in the request: the option's value


def test_request_with_an_unknown_key_names_it_and_the_allowed_ones():
    with pytest.raises(MoveError) as caught:
        move_request(params(request={"name": NAME, "primay_node": "n3", "colour": "red"}))
    message = str(caught.value)
    assert message.startswith("the request of the move of %s has unknown option(s) colour, primay_node; "
                              "the options of a move are: name, new_name, primary_node, " % NAME)
    assert message.endswith(", ".join(REQUEST_KEYS))


@pytest.mark.parametrize("request_, problem", [
    ({"name": NAME, "source_policy": "archive"}, "source_policy must be one of: remove, keep"),
    ({"name": NAME, "nics": "generate"}, "nics"),
    ({"name": NAME, "beparams": ["maxmem"]}, "beparams"),
], ids=["choice", "list", "dict"])
def test_request_values_are_checked(request_, problem):
    with pytest.raises(MoveError) as caught:
        move_request(params(request=request_))
    assert str(caught.value).startswith("the request of the move of %s is not valid: " % NAME)
    assert problem in str(caught.value)


def test_request_needs_a_name():
    with pytest.raises(MoveError, match="no instance to move: give its name"):
        move_request(params(request={"new_name": "web2.example.org"}))


def test_move_of_names_the_move_and_keeps_the_details():
    with pytest.raises(MoveError) as caught:
        with move_of(NAME):
            raise MoveError("pre-flight failed: x", plan={"ok": False})
    assert caught.value.to_result() == {"msg": "move of %s: pre-flight failed: x" % NAME, "plan": {"ok": False}}
    failed = MoveFailed("moving %s failed at step 'export the disks': x" % NAME, "export the disks")
    with pytest.raises(MoveFailed) as caught:
        with move_of(NAME):
            raise failed
    assert caught.value is failed
    with pytest.raises(RapiError):
        with move_of(NAME):
            raise RapiError("HTTP 500")
    assert issubclass(MoveError, FleetError)


# ----------------------------------------------------------------------
# run_move, end to end on the fake clusters

TRANSFER_ACTIONS = ["prepare the export", "create the destination instance", "stop the source",
                    "export the disks", "finish the import", "verify the copy"]


def test_run_move_in_check_mode_plans_and_changes_nothing():
    src, dst = src_client(), dst_client()
    result = run_move(src, dst, {**GANETI, "name": NAME}, check_mode=True)
    assert result["changed"] is True and result["actions"] == []
    assert result["plan"]["phase"] == PHASE_NEW and "prepared" not in result["plan"]
    assert [j["path"] for j in src.submitted] == ["/2/instances/%s/info" % NAME,
                                                  "/2/instances/%s/prepare-export" % NAME]
    assert [j["query"] for j in dst.submitted] == [{"dry-run": 1}]


def test_run_move_refuses_before_anything_when_the_pre_flight_fails():
    src, dst = src_client(cluster_tags=[]), dst_client()
    with pytest.raises(MoveError) as caught:
        run_move(src, dst, {**GANETI, "name": NAME})
    result = caught.value.to_result()
    assert result["msg"].startswith("pre-flight failed: source cluster %s runs Ganeti 3.0.2" % SRC)
    assert result["plan"]["ok"] is False
    assert [j["path"] for j in src.submitted if j["method"] != "GET"] == ["/2/instances/%s/prepare-export" % NAME]
    assert dst.submitted == []


def test_run_move_transfers_verifies_and_finishes():
    src, dst = src_client(), dst_client()
    reported = []
    result = run_move(src, dst, {**GANETI, "name": NAME}, shutdown_timeout=30, report=reported.append)
    assert result["changed"] is True
    assert result["actions"] == TRANSFER_ACTIONS + ["start the copy", "commit", "remove the source"]
    assert reported == result["actions"][1:]  # the export was prepared with the plan
    create = next(j for j in dst.submitted if j["path"] == "/2/instances")
    assert create["query"] is None and create["body"]["start"] is False
    assert create["body"]["source_handshake"] == PREPARED["handshake"]
    assert create["body"]["source_shutdown_timeout"] == 30
    export = next(j for j in src.submitted if j["path"].endswith("/export"))
    assert export["body"]["x509_key_name"] == PREPARED["x509_key_name"]
    assert export["body"]["destination"][1] == ["198.51.100.7", 41235, "c0ffee"]
    assert (export["body"]["shutdown"], export["body"]["remove_instance"]) == (True, False)
    assert NAME not in src.instances
    copy_ = dst.instances[NAME]
    assert copy_["admin_state"] == "up" and "ganeti-fleet:move-id:%s" % MOVE_ID in copy_["tags"]


def test_run_move_removes_the_remnant_first():
    remnant = destination(PENDING, **{"nic.macs": ["aa:00:00:11:22:33"]})
    src, dst = src_client(), dst_client(instances={NAME: remnant})
    result = run_move(src, dst, {**GANETI, "name": NAME})
    assert result["plan"]["phase"] == PHASE_REMNANT
    assert result["actions"][0] == "remove the unfinished copy"
    assert result["actions"][1:7] == TRANSFER_ACTIONS


def test_run_move_failed_transfer_removes_the_copy_and_restarts_the_source():
    src = src_client(failing_jobs=[("PUT", "/2/instances/%s/export" % NAME)])
    dst = dst_client()
    with pytest.raises(MoveFailed) as caught:
        with move_of(NAME):
            run_move(src, dst, {**GANETI, "name": NAME})
    failure = caught.value
    assert failure.step == "export the disks"
    assert failure.cleanup == ["The copy this move created on %s was removed." % DST,
                               "The source %s was started again." % NAME]
    result = failure.to_result()
    assert sorted(result) == ["cleanup", "job_id", "job_log", "msg", "step"]
    assert result["msg"].startswith("moving %s from %s to %s failed at step 'export the disks': Job "
                                    % (NAME, SRC, DST))
    assert result["msg"].endswith("The source %s was started again." % NAME)
    assert result["job_id"] == failure.job_id and result["job_log"][0]["message"] == "it broke"
    assert NAME not in dst.instances
    assert src.instances[NAME]["admin_state"] == "up"


def test_run_move_import_that_lost_a_disk_fails_at_its_step():
    lost = [{"serial": 3, "type": "message", "message": "disk/1 failed to receive data: connection reset"}]
    with pytest.raises(MoveFailed) as caught:
        run_move(src_client(), dst_client(import_log=lost), {**GANETI, "name": NAME})
    assert caught.value.step == "finish the import"
    assert "reports disks that did not arrive: disk/1 failed to receive data" in str(caught.value)
    assert caught.value.job_id is None


def test_run_move_finishes_a_verified_move_without_a_transfer():
    dst_instance = destination("ganeti-fleet:source-admin-up", admin_state="up", oper_state=True)
    src, dst = src_client(), dst_client(instances={NAME: dst_instance})
    result = run_move(src, dst, {**GANETI, "name": NAME})
    assert result["plan"]["phase"] == PHASE_FINISH
    assert result["actions"] == ["remove the source"]
    again = run_move(src, dst, {**GANETI, "name": NAME})
    assert again["plan"]["phase"] == PHASE_DONE
    assert set(again.pop("seconds")) == {"plan"}
    assert again.pop("rapi_requests") == {"source": 0, "destination": 0}
    assert again == {"plan": again["plan"], "changed": False, "actions": [], "digests": [], "verification": None}


# ----------------------------------------------------------------------
# The direct transfer and content verification, with the node programs faked


class FakeDirectTransfer:
    """Stands for _move_content.DirectTransfer: records what the executor asked, answers digests."""

    made = []

    def __init__(self, access, label, sizes_mib, compress="none", timeout=7200):
        self.label, self.sizes, self.compress, self.timeout = label, sizes_mib, compress, timeout
        self.calls = []
        self.received = None
        FakeDirectTransfer.made.append(self)

    def start(self, source_node, destination_node):
        self.calls.append(("start", source_node, destination_node))

    def listen(self, locations, address):
        self.calls.append(("listen", locations, address))
        return 40000

    def send(self, locations):
        self.calls.append(("send", locations))

    def finish(self):
        self.calls.append(("finish",))
        sent = ["d%d" % i for i in range(len(self.sizes))]
        return sent, self.received or list(sent), {"bytes": 1, "zero_bytes": 0, "wire_bytes": 1, "send_seconds": 0.1}

    def stop(self):
        self.calls.append(("stop",))


@pytest.fixture()
def direct(monkeypatch):
    FakeDirectTransfer.made = []
    monkeypatch.setattr(ex, "DirectTransfer", FakeDirectTransfer)
    return FakeDirectTransfer


DST_NODES_WITH_IPS = [dict(n, pip="192.0.2.%d" % i) for i, n in enumerate(DST_NODES, 1)]


def test_direct_move_creates_without_install_listens_before_the_stop_and_records_the_digests(direct):
    src, dst = src_client(), dst_client(nodes=DST_NODES_WITH_IPS)
    order = []
    result = run_move(src, dst, {"name": NAME, "compress": "gzip-fast"}, report=order.append)
    (transfer,) = direct.made
    assert result["actions"] == ["create the destination instance", "activate the destination disks",
                                 "start the receiving end", "stop the source", "send the disks", "verify the copy",
                                 "start the copy", "record the digests", "commit", "remove the source"]
    assert order.index("start the receiving end") < order.index("stop the source")
    assert not [j for j in src.submitted if j["path"].endswith("prepare-export")], "no handshake is needed"
    create = next(j for j in dst.submitted if j["path"] == "/2/instances")
    assert create["body"]["mode"] == "create" and create["body"]["no_install"] is True
    assert "source_instance_name" not in create["body"] and "compress" not in create["body"]
    assert transfer.compress == "gzip-fast"
    assert transfer.calls.pop(0) == ("start", "node1.src.example.org", "node1.dst.example.org")
    assert transfer.calls[0] == ("listen", [{"node": "node1.dst.example.org", "path": "/srv/%s.disk0" % NAME},
                                            {"node": "node1.dst.example.org", "path": "/srv/%s.disk1" % NAME}],
                                 "192.0.2.1")
    assert transfer.calls[1] == ("send", [{"node": "node1.src.example.org", "path": "/srv/%s.disk0" % NAME},
                                          {"node": "node1.src.example.org", "path": "/srv/%s.disk1" % NAME}])
    assert transfer.calls[-1] == ("stop",)
    source_jobs = [(j["method"], j["path"].rsplit("/", 1)[-1]) for j in src.submitted]
    assert source_jobs.index(("PUT", "tags")) < source_jobs.index(("PUT", "shutdown")) \
        < source_jobs.index(("PUT", "activate-disks")), "tagged stopped-for-move, stopped, then its disks activated"
    tagged = next(j for j in src.submitted if j["path"].endswith("/tags"))
    assert tagged["query"] == {"tag": ["ganeti-fleet:stopped-for-move:%s" % MOVE_ID]}
    assert [d["source"] for d in result["digests"]] == ["d0", "d1"]
    assert "ganeti-fleet:digest:1:b2tree:d1" in dst.instances[NAME]["tags"]
    assert PENDING not in dst.instances[NAME]["tags"] and NAME not in src.instances


def test_direct_move_with_differing_digests_removes_the_copy_and_restarts_the_source(direct):
    src, dst = src_client(), dst_client(nodes=DST_NODES_WITH_IPS)
    original = FakeDirectTransfer.__init__

    def corrupting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.received = ["d0", "XX"]
    FakeDirectTransfer.__init__ = corrupting
    try:
        with pytest.raises(MoveFailed) as caught:
            run_move(src, dst, {"name": NAME})
    finally:
        FakeDirectTransfer.__init__ = original
    failure = caught.value
    assert failure.step == "verify the copy"
    assert "disk 1: b2tree XX on the destination, d1 on the source" in failure.message
    assert NAME not in dst.instances, "the copy was removed"
    assert src.instances[NAME]["admin_state"] == "up", "the source runs again"
    untag = [j for j in src.submitted if j["method"] == "DELETE" and j["path"].endswith("/tags")]
    assert untag and untag[-1]["query"] == {"tag": ["ganeti-fleet:stopped-for-move:%s" % MOVE_ID]}


def test_a_source_tagged_stopped_for_move_ran_before(direct):
    stopped = dict(LISTED, admin_state="down", oper_state=False, status="ADMIN_down",
                   tags=LISTED["tags"] + ["ganeti-fleet:stopped-for-move:%s" % MOVE_ID])
    src = src_client(instances={NAME: stopped})
    plan = plan_move(src, dst_client(nodes=DST_NODES_WITH_IPS), {"name": NAME}, probe=False)
    assert plan["source"]["was_up"] is True and plan["start_destination"] is True
    assert "ganeti-fleet:stopped-for-move:%s" % MOVE_ID not in plan["create_body"]["tags"]


def test_direct_transfer_with_metadata_verification_is_refused():
    with pytest.raises(MoveError, match="transfer: direct with verify: metadata"):
        move_request({"name": NAME, "transfer": "direct", "verify": "metadata"})


def test_a_pending_copy_with_its_digest_tags_was_verified():
    copy_ = destination(PENDING, "ganeti-fleet:digest:0:b2tree:d0", admin_state="down")
    phase, _reason = mv.assess(source_instance(admin_state="down"), copy_, a_move())
    assert phase == PHASE_FINISH


class FakeDigests:
    """The digest programs on both nodes: each disk's digest is "d", or "bad" on a corrupting destination."""

    def __init__(self, corrupt=False):
        self.corrupt = corrupt
        self.started = []

    def start(self, access, locations, sizes, label):
        program = type("Program", (), {"node": locations[0]["node"], "stop": lambda self: None})()
        self.started.append(program.node)
        return program

    def finish(self, program, count, timeout):
        bad = self.corrupt and program.node.endswith(".dst.example.org")
        return [{"index": i, "digest": "bad" if bad else "d"} for i in range(count)]


def test_ganeti_transfer_verified_by_content_compares_digests_read_on_both_nodes(monkeypatch):
    digests = FakeDigests()
    monkeypatch.setattr(ex, "start_digests", digests.start)
    monkeypatch.setattr(ex, "finish_digests", digests.finish)
    result = run_move(src_client(), dst_client(), {"name": NAME, "transfer": "ganeti"})
    assert "compare the disks' digests" in result["actions"]
    assert sorted(digests.started) == ["node1.dst.example.org", "node1.src.example.org"]
    assert [d["computed"] for d in result["digests"]] == ["read from the disks on both nodes"] * 2


def test_ganeti_transfer_whose_copy_differs_is_undone_before_the_commit(monkeypatch):
    digests = FakeDigests(corrupt=True)
    monkeypatch.setattr(ex, "start_digests", digests.start)
    monkeypatch.setattr(ex, "finish_digests", digests.finish)
    src, dst = src_client(), dst_client()
    with pytest.raises(MoveFailed) as caught:
        run_move(src, dst, {"name": NAME, "transfer": "ganeti"})
    assert caught.value.step == "compare the disks' digests"
    assert "although Ganeti reported the import as successful" in caught.value.message
    assert NAME not in dst.instances and src.instances[NAME]["admin_state"] == "up"


def test_one_deadline_bounds_every_wait_of_the_transfer():
    now = [100.0]
    deadline = ex.Deadline(60, clock=lambda: now[0])
    assert deadline.left() == 60
    now[0] += 45
    assert deadline.left() == 15, "a later wait gets only what is left"
    now[0] += 15
    with pytest.raises(MoveError, match="did not finish within its transfer_timeout of 60 s"):
        deadline.left()


def test_check_mode_of_a_direct_move_checks_the_nodes_it_will_use(monkeypatch):
    asked = []

    def fake_unreachable(access, nodes):
        asked.append(sorted(nodes))
        return {"node2.dst.example.org": "the node program on node2.dst.example.org ended before 'ready' "
                                         "(ssh: Permission denied)"}
    monkeypatch.setattr(ex, "unreachable", fake_unreachable)
    src, dst = src_client(), dst_client(nodes=DST_NODES_WITH_IPS)
    result = run_move(src, dst, {"name": NAME}, check_mode=True)
    assert asked == [["node1.dst.example.org", "node1.src.example.org", "node2.dst.example.org"]], \
        "the source's node and every node that can take the copy"
    finding = result["plan"]["findings"][-1]
    assert finding["check"] == "node_access" and finding["ok"] is False
    assert "Permission denied" in finding["message"] and "inventory group ganeti_nodes" in finding["message"]
    assert result["plan"]["ok"] is False and not dst.submitted[1:], "only the dry run was submitted"
    asked.clear()
    run_move(src_client(), dst_client(nodes=DST_NODES_WITH_IPS),
             {"name": NAME, "primary_node": "node2.dst.example.org"}, check_mode=True)
    assert asked == [["node1.src.example.org", "node2.dst.example.org"]], "only the node asked for"


def test_static_disk_paths_of_files_and_logical_volumes_only():
    assert mv.static_disk_paths([
        {"dev_type": "file", "logical_id": ["loop", "/srv/ganeti/file-storage/web1/0eca.file.disk0"]},
        {"dev_type": "plain", "logical_id": ["xenvg", "5b1d.disk1"]}]) == [
        "/srv/ganeti/file-storage/web1/0eca.file.disk0", "/dev/xenvg/5b1d.disk1"]
    assert mv.static_disk_paths([{"dev_type": "plain", "logical_id": ["xenvg", "a"]},
                                 {"dev_type": "drbd8", "logical_id": ["n1", "n2", 11000, 0, 1, "s"]}]) is None, \
        "a DRBD device exists only while activated"
    assert mv.static_disk_paths([{"dev_type": "plain"}]) is None


def query_data_with_paths():
    data = copy.deepcopy(QUERY_DATA)
    for index, disk in enumerate(data[NAME]["disks"]):
        disk["logical_id"] = ["xenvg", "lv%d" % index]
    return data


def test_direct_move_reads_a_plain_source_where_the_plan_found_it_without_activating_it(direct):
    src, dst = src_client(query_data=query_data_with_paths()), dst_client(nodes=DST_NODES_WITH_IPS)
    run_move(src, dst, {"name": NAME})
    (transfer,) = direct.made
    assert ("send", [{"node": "node1.src.example.org", "path": "/dev/xenvg/lv0"},
                     {"node": "node1.src.example.org", "path": "/dev/xenvg/lv1"}]) in transfer.calls
    assert not [j for j in src.submitted if j["path"].endswith("/activate-disks")]


def test_ganeti_transfer_digests_a_plain_source_while_it_is_exported(monkeypatch):
    digests = FakeDigests()
    monkeypatch.setattr(ex, "start_digests", digests.start)
    monkeypatch.setattr(ex, "finish_digests", digests.finish)
    reported = []
    src = src_client(query_data=query_data_with_paths())
    result = run_move(src, dst_client(), {"name": NAME, "transfer": "ganeti"},
                      report=lambda step: reported.append((step, list(digests.started))))
    assert ("export the disks", ["node1.src.example.org"]) in reported, "the source's digests started before"
    assert not [j for j in src.submitted if j["path"].endswith("/activate-disks")]
    assert len(result["digests"]) == 2


def test_the_free_space_of_a_given_primary_node_is_read_with_the_source(monkeypatch):
    reads = []
    original = mv.read_storage

    def counting(client, nodes, types, volume_group=None):
        reads.append((tuple(nodes), tuple(types)))
        return original(client, nodes, types, volume_group)
    monkeypatch.setattr(mv, "read_storage", counting)
    plan = plan_move(src_client(), dst_client(), {**GANETI, "name": NAME, "primary_node": "node2.dst.example.org"},
                     probe=False)
    assert reads == [(("node2.dst.example.org",), ("lvm-vg",))], "read once, at the same time as the source"
    assert [f for f in plan["findings"] if f["check"] == "storage"][0]["ok"] is True
    reads.clear()
    plan_move(src_client(), dst_client(), {**GANETI, "name": NAME}, probe=False)
    assert reads == [(("node1.dst.example.org", "node2.dst.example.org"), ("lvm-vg",))], \
        "without a primary node, once the candidates are known"


def test_a_removal_that_failed_because_an_earlier_runs_removal_went_first_is_no_failure():
    src = src_client(failing_jobs=[("DELETE", "/2/instances/%s" % NAME)])
    dst = dst_client()
    src.instances.pop(NAME)   # the earlier run's queued removal ran just before this one's
    result = {"actions": [], "changed": False}
    ex._finish(src, dst, a_move(), source_instance(admin_state="down", oper_state=False),
               destination(PENDING), False, 120, result, lambda m: None)
    assert result["actions"] == ["commit"]
    src = src_client(failing_jobs=[("DELETE", "/2/instances/%s" % NAME)])
    with pytest.raises(MoveError, match="'remove the source' failed"):
        ex._finish(src, dst_client(), a_move(), source_instance(admin_state="down", oper_state=False),
                   destination(PENDING), False, 120, {"actions": []}, lambda m: None)


def test_a_node_program_failure_names_the_step_it_stopped(direct):
    original = FakeDirectTransfer.send

    def failing_send(self, locations):
        raise NodeProgramFailed("sending the disks of %s on node1.src.example.org failed: no room" % NAME)
    FakeDirectTransfer.send = failing_send
    try:
        with pytest.raises(MoveFailed) as caught:
            run_move(src_client(), dst_client(nodes=DST_NODES_WITH_IPS), {"name": NAME})
    finally:
        FakeDirectTransfer.send = original
    assert caught.value.step == "send the disks"
    assert "no room" in caught.value.message
