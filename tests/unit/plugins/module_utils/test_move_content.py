# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A move's content decisions (_move_content), node access (_node_ssh) and the action that fills it."""

from __future__ import annotations

import shlex

import pytest
from cryptography import x509

from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import (
    content_problems,
    digest_record,
    digest_tags,
    digests_recorded_for,
    locations_from_job,
    recorded_digests,
    transfer_credentials,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import BOOTSTRAP, NodeAccess
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import tag_problem

A, B = "a" * 64, "b" * 64


def test_equal_digests_have_no_problem():
    assert content_problems([A, B], [A, B]) == []


def test_each_differing_or_missing_disk_is_named():
    assert content_problems([A, B], [A, A]) == ["disk 1: b2tree %s on the destination, %s on the source" % (A, B)]
    assert content_problems([A], [None]) == ["disk 0: b2tree none on the destination, %s on the source" % A]
    assert content_problems([A, B], [A]) == ["1 disk digests on the destination for 2 on the source"]


def test_empty_digests_are_never_equal():
    assert content_problems([""], [""]) != []


def test_digest_tags_round_trip_and_are_valid_ganeti_tags():
    record = digest_record([A, B], [A, B], "in the stream on both nodes")
    tags = digest_tags(record)
    assert tags == ["ganeti-fleet:digest:0:b2tree:%s" % A, "ganeti-fleet:digest:1:b2tree:%s" % B]
    assert [tag_problem(t) for t in tags] == [None, None]
    assert recorded_digests(tags + ["app:web", "ganeti-fleet:digest:x:y"]) == {0: ("b2tree", A), 1: ("b2tree", B)}
    assert digests_recorded_for({"tags": tags}, 2)
    assert not digests_recorded_for({"tags": tags[:1]}, 2)
    assert not digests_recorded_for({"tags": []}, 0)


def test_locations_come_from_ganetis_answer_in_disk_order():
    job = {"opresult": [[["n2", "disk/1", "/srv/b"], ["n2", "disk/0", "/srv/a"]]]}
    assert locations_from_job(job, "web1", 2) == [{"node": "n2", "path": "/srv/a"}, {"node": "n2", "path": "/srv/b"}]


def test_a_disk_without_a_path_is_an_error_naming_the_instance():
    with pytest.raises(FleetError, match="activating the disks of web1 gave no path for disk.s. 1"):
        locations_from_job({"opresult": [[["n2", "disk/0", "/srv/a"]]]}, "web1", 2)


def test_each_end_pins_the_other_ends_certificate_made_for_this_transfer():
    receiver, sender = transfer_credentials("web1 (move 1234)")
    assert receiver["peer_cert"] == sender["cert"] and sender["peer_cert"] == receiver["cert"]
    assert receiver["cert"] != sender["cert"] and receiver["key"] != sender["key"]
    cert = x509.load_pem_x509_certificate(receiver["cert"].encode())
    assert "web1 (move 1234)" in cert.subject.rfc4514_string()
    again = transfer_credentials("web1 (move 1234)")[0]
    assert again["key"] != receiver["key"], "a new key pair for every transfer"


# ----------------------------------------------------------------------
# NodeAccess

def remote_command(argv):
    return shlex.split(argv[argv.index("--") + 1])


def test_a_node_is_reached_as_root_at_its_name_in_batch_mode():
    argv = NodeAccess().argv("node1.example.org", ["python3", "-c", BOOTSTRAP])
    assert argv[0] == "ssh" and "BatchMode=yes" in argv and "ConnectTimeout=10" in argv
    assert argv[argv.index("-l") + 1] == "root" and argv[argv.index("--") - 1] == "node1.example.org"
    assert remote_command(argv) == ["python3", "-c", BOOTSTRAP]


def test_the_nodes_own_options_come_first_and_win():
    access = NodeAccess({"user": "admin", "ssh_args": "-o StrictHostKeyChecking=no -o ConnectTimeout=3",
                         "hosts": {"node1": "192.0.2.1",
                                   "node2": {"host": "192.0.2.2", "port": 2222, "private_key_file": "/k",
                                             "user": "root", "python": "/opt/py3"}}})
    first = access.argv("node1", ["true"])
    assert first[1:5] == ["-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=3"]
    assert first[first.index("-l") + 1:first.index("--")] == ["admin", "192.0.2.1"]
    second = access.argv("node2", ["true"])
    assert second[second.index("-p") + 1] == "2222" and second[second.index("-i") + 1] == "/k"
    assert second[second.index("-l") + 1:second.index("--")] == ["root", "192.0.2.2"]
    assert access.python("node2") == "/opt/py3" and access.python("node1") == "/usr/bin/python3"


def test_a_malformed_hosts_entry_is_refused():
    with pytest.raises(FleetError, match=r"node_access.hosts\[node1\] must be an address or a dict"):
        NodeAccess({"hosts": {"node1": {"address": "192.0.2.1"}}})
