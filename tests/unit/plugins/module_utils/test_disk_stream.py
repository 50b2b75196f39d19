# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node program (_disk_stream) run for real, as local processes, on real files.

The programs are started the way the controller starts them on a node (the
bootstrap reads the program's text and its settings from standard input);
only ``ssh`` is left out. The two ends talk TLS over the loopback interface.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils import _disk_stream, _node_ssh
from ansible_collections.ganeti.fleet.plugins.module_utils._move_content import (
    DirectTransfer,
    transfer_credentials,
)
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import NodeAccess, NodeProgram, NodeProgramFailed

MIB = 1024 * 1024


def local_popen(argv, **kwargs):
    """Run the command ssh would run on the node, here."""
    return subprocess.Popen(shlex.split(argv[argv.index("--") + 1]), **kwargs)  # pylint: disable=consider-using-with


@pytest.fixture(autouse=True)
def run_locally(monkeypatch):
    original = NodeProgram.__init__

    def init(self, access, node, settings, what, popen=None):
        original(self, access, node, settings, what, popen=local_popen)
    monkeypatch.setattr(NodeProgram, "__init__", init)


ACCESS = NodeAccess({"python": os.path.realpath(os.sys.executable)})


def reference_digest(data):
    """The b2tree digest, written out independently (as docs/docsite/rst/moves_guide.rst tells it for a check by hand)."""
    tree = hashlib.blake2b(digest_size=32, person=b"ganeti-fleet")
    for offset in range(0, len(data), MIB):
        tree.update(hashlib.blake2b(data[offset:offset + MIB], digest_size=32).digest())
    return tree.hexdigest()


def sparse_file(path, size_mib, chunks):
    """A file of SIZE_MIB MiB, all holes but random CHUNKS ``{offset: length}``; returns its bytes."""
    with open(path, "wb") as handle:
        handle.truncate(size_mib * MIB)
        for offset, length in chunks.items():
            handle.seek(offset)
            handle.write(os.urandom(length))
    with open(path, "rb") as handle:
        return handle.read()


# ----------------------------------------------------------------------
# The digest

@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 7, 3 * MIB + 4096])
def test_tree_digest_of_bytes_equals_the_reference(size):
    data = os.urandom(size)
    digest = _disk_stream.TreeDigest()
    digest.update(data)
    assert digest.hexdigest() == reference_digest(data)


def test_tree_digest_is_the_same_fed_in_any_pieces_and_runs_of_zeros():
    data = os.urandom(MIB // 2) + bytes(2 * MIB + 100) + os.urandom(MIB + 3)
    pieces = _disk_stream.TreeDigest()
    pieces.update(data[:1000])
    pieces.update(data[1000:MIB // 2])
    pieces.zeros(2 * MIB + 100)
    pieces.update(memoryview(data)[MIB // 2 + 2 * MIB + 100:])
    assert pieces.hexdigest() == reference_digest(data)
    assert pieces.hexdigest() == pieces.hexdigest(), "reading the digest does not change it"


def test_tree_digest_changes_with_one_byte():
    data = bytearray(os.urandom(2 * MIB))
    before = reference_digest(bytes(data))
    data[MIB + 5] ^= 1
    digest = _disk_stream.TreeDigest()
    digest.update(data)
    assert digest.hexdigest() != before


def digest_program(path, size, cold=True):
    settings = {"action": "digest", "algorithm": _disk_stream.ALGORITHM, "cold": cold,
                "disks": [{"path": path, "size": size}]}
    return NodeProgram(ACCESS, "node1", settings, "the digest of the disks of web1").start()


def test_digest_action_reads_a_sparse_file_without_its_holes_mattering(tmp_path):
    path = str(tmp_path / "disk0")
    data = sparse_file(path, 6, {0: 4096, 3 * MIB + 12345: 70000})
    (event,) = digest_program(path, len(data)).finish("digest", 30)
    assert event["digest"] == reference_digest(data)
    assert event["bytes"] == 6 * MIB and event["index"] == 0


def test_digest_of_a_disk_shorter_than_its_size_fails_naming_the_node(tmp_path):
    path = str(tmp_path / "disk0")
    with open(path, "wb") as handle:
        handle.write(os.urandom(MIB))
    program = digest_program(path, 2 * MIB)
    with pytest.raises(NodeProgramFailed) as caught:
        program.finish("digest", 30)
    assert "the digest of the disks of web1 on node1 failed" in str(caught.value)
    assert "holds %d bytes, fewer than the disk's %d" % (MIB, 2 * MIB) in str(caught.value)


def test_an_unknown_algorithm_is_refused(tmp_path):
    path = str(tmp_path / "disk0")
    sparse_file(path, 1, {})
    settings = {"action": "digest", "algorithm": "md5", "disks": [{"path": path, "size": MIB}]}
    with pytest.raises(NodeProgramFailed, match="unknown digest algorithm 'md5'"):
        NodeProgram(ACCESS, "node1", settings, "digest").start().finish("digest", 30)


# ----------------------------------------------------------------------
# The direct transfer

def test_direct_transfer_copies_every_byte_of_sparse_and_full_disks(tmp_path):
    sources = [str(tmp_path / "src0"), str(tmp_path / "src1")]
    destinations = [str(tmp_path / "dst0"), str(tmp_path / "dst1")]
    data = [sparse_file(sources[0], 8, {0: MIB, 5 * MIB + 100: 3000}),
            sparse_file(sources[1], 3, {0: 3 * MIB})]
    for path, size in zip(destinations, (8, 3)):
        # The destination holds other bytes: runs of zeros must still arrive as zeros.
        with open(path, "wb") as handle:
            handle.write(b"\xff" * size * MIB)
    transfer = DirectTransfer(ACCESS, "web1 (move 1)", [8, 3], compress="gzip-fast", timeout=60)
    transfer.start("src-node", "dst-node")
    transfer.listen([{"node": "dst-node", "path": p} for p in destinations], "127.0.0.1")
    transfer.send([{"node": "src-node", "path": p} for p in sources])
    sent, received, figures = transfer.finish()
    assert sent == received == [reference_digest(d) for d in data]
    for path, expected in zip(destinations, data):
        with open(path, "rb") as handle:
            assert handle.read() == expected
    assert figures["bytes"] == 11 * MIB
    assert figures["zero_bytes"] >= 5 * MIB, "the holes travel as their length"
    assert figures["wire_bytes"] < 5 * MIB, "zeros and compressible data are not sent as they are"


def test_direct_transfer_refuses_a_sender_with_another_key(tmp_path):
    source, destination = str(tmp_path / "src"), str(tmp_path / "dst")
    sparse_file(source, 1, {0: 1000})
    sparse_file(destination, 1, {})
    transfer = DirectTransfer(ACCESS, "web1", [1], timeout=30)
    transfer.start("src-node", "dst-node")
    transfer.listen([{"node": "dst-node", "path": destination}], "127.0.0.1")
    _receiver, intruder = transfer_credentials("someone else")
    transfer.sender_tls = intruder
    transfer.send([{"node": "src-node", "path": source}])
    with pytest.raises(NodeProgramFailed) as caught:
        transfer.finish()
    assert "web1" in str(caught.value) and "failed" in str(caught.value)
    with open(destination, "rb") as handle:
        assert handle.read() == bytes(MIB), "nothing was written"


def test_a_receiver_whose_disk_is_too_small_fails_before_listening(tmp_path):
    destination = str(tmp_path / "dst")
    sparse_file(destination, 1, {})
    transfer = DirectTransfer(ACCESS, "web1", [2], timeout=30)
    transfer.start("src-node", "dst-node")
    with pytest.raises(NodeProgramFailed, match="fewer than the disk's"):
        transfer.listen([{"node": "dst-node", "path": destination}], "127.0.0.1")


def test_closing_standard_input_ends_the_program(tmp_path):
    destination = str(tmp_path / "dst")
    sparse_file(destination, 1, {})
    transfer = DirectTransfer(ACCESS, "web1", [1], timeout=30)
    transfer.start("src-node", "dst-node")
    transfer.listen([{"node": "dst-node", "path": destination}], "127.0.0.1")
    started = time.monotonic()
    transfer.stop()
    assert transfer.receiver.proc.returncode == 3, "the program ended itself when its controller went"
    assert transfer.sender.proc.returncode == 3, "one that waited for its settings too"
    assert time.monotonic() - started < 5


def test_the_disks_must_be_where_the_ends_run(tmp_path):
    destination = str(tmp_path / "dst")
    sparse_file(destination, 1, {})
    transfer = DirectTransfer(ACCESS, "web1", [1], timeout=30)
    transfer.start("src-node", "dst-node")
    try:
        with pytest.raises(Exception, match="placed on other-node, not on dst-node where its receiving end runs"):
            transfer.listen([{"node": "other-node", "path": destination}], "127.0.0.1")
    finally:
        transfer.stop()


def test_direct_transfer_compression_must_be_zlib():
    with pytest.raises(Exception, match="compress must be one of none, gzip-fast, gzip, gzip-slow, not 'lzop'"):
        DirectTransfer(ACCESS, "web1", [1], compress="lzop")


def test_program_source_is_the_program_file():
    with open(_disk_stream.__file__, "rb") as handle:
        assert _node_ssh.program_source() == handle.read()


def test_unreachable_names_the_nodes_where_the_program_cannot_run():
    broken = NodeAccess({"python": os.path.realpath(os.sys.executable),
                         "hosts": {"bad-node": {"python": "/nonexistent/python3"},
                                   "silent-node": {"python": "/bin/false"}}})
    failed = _node_ssh.unreachable(broken, ["good-node", "bad-node", "silent-node"], timeout=30)
    assert sorted(failed) == ["bad-node", "silent-node"]
    # It ends at once: before it read its program (broken pipe) or before it said ready.
    assert failed["silent-node"].startswith(("the node program on silent-node ended before 'ready'",
                                             "the node program on silent-node could not start"))
    assert failed["bad-node"].startswith("the node program on bad-node could not start")


def test_a_receiver_that_fails_is_the_reason_given_not_the_senders_broken_connection(tmp_path):
    source, destination = str(tmp_path / "src"), str(tmp_path / "dst")
    sparse_file(source, 4, {0: 4 * MIB})
    sparse_file(destination, 4, {})
    transfer = DirectTransfer(ACCESS, "web1", [4], timeout=60)
    transfer.start("src-node", "dst-node")
    transfer.listen([{"node": "dst-node", "path": destination}], "127.0.0.1")
    os.truncate(destination, MIB)  # the disk is no longer what it was: the receiver gives up, the sender sees EOF
    transfer.send([{"node": "src-node", "path": source}])
    with pytest.raises(NodeProgramFailed) as caught:
        transfer.finish()
    message = str(caught.value)
    assert message.startswith("receiving the disks of web1 on dst-node failed: ")
    assert "fewer than the disk's" in message and "and so sending the disks of web1 on src-node failed" in message
