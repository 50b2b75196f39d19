# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A move's disk bytes: where they are, their digests, and the direct transfer. Internal use only.

The decision a move's commit rests on is here: :func:`content_problems`
compares every disk's digest on the destination with the source's, both
computed on the nodes that hold the disks (``_disk_stream`` over SSH,
:mod:`_node_ssh`). The direct transfer (:class:`DirectTransfer`) streams the
disks node to node over TLS with a key pair made for the one transfer
(:func:`transfer_credentials`), digested on both ends and read back on the
destination.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.ganeti.fleet.plugins.module_utils._disk_stream import ALGORITHM
from ansible_collections.ganeti.fleet.plugins.module_utils._node_ssh import NodeProgram, NodeProgramFailed, stop_all
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.tags import TAG_DIGEST, TAG_PREFIX

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - exercised only without cryptography
    HAS_CRYPTOGRAPHY = False

#: The digest of a disk's bytes (``_disk_stream.TreeDigest``): BLAKE2b-256 over the BLAKE2b-256
#: of each 1 MiB block. BLAKE2b digests 613 MiB/s on this project's machine kind, sha256 364 MiB/s;
#: the block tree makes runs of zeros free (one digest for every zero block).
DIGEST_ALGORITHM = ALGORITHM

#: zlib levels of the direct transfer for the ``compress`` values it accepts.
DIRECT_COMPRESSION = {"none": 0, "gzip-fast": 1, "gzip": 6, "gzip-slow": 9}

MIB = 1024 * 1024
DISK_NAME_RE = re.compile(r"^disk/(\d+)$")

#: Seconds for the receiving end to say it listens, and for a program to start.
START_TIMEOUT = 60


class ContentMismatch(FleetError):
    """The copy's bytes are not the source's; the message names the disks."""


#: Disk types whose device path is in their logical id and stays valid while the
#: instance is down: the file of a file disk, the logical volume of a plain disk.
STATIC_PATH_TYPES = ("file", "sharedfile", "plain")


def static_disk_paths(disks):
    """The paths of DISKS (static query data) on the primary node, or None when any needs activating.

    DRBD, RBD and the other types have a device only while activated, so
    their paths come from an ``activate-disks`` job instead.
    """
    paths = []
    for disk in disks:
        logical_id = disk.get("logical_id") or []
        if disk.get("dev_type") not in STATIC_PATH_TYPES or len(logical_id) != 2:
            return None
        if disk["dev_type"] == "plain":
            paths.append("/dev/%s/%s" % tuple(logical_id))
        else:
            paths.append(logical_id[1])
    return paths


def disk_locations(client, name, count):
    """``[{node, path}]`` of NAME's COUNT disks, in order, from an ``activate-disks`` job.

    The paths are Ganeti's own answer (never built here): a file disk's name
    holds its logical id, which no instance query returns.
    """
    return locations_from_job(client.wait_for_job(client.activate_disks(name), timeout=None), name, count)


def locations_from_job(job, name, count):
    """:func:`disk_locations` from the finished ``activate-disks`` JOB of NAME."""
    found = {}
    for entry in job["opresult"][0] or []:
        node, iv_name, path = list(entry)[:3]
        match = DISK_NAME_RE.match(str(iv_name))
        if match:
            found[int(match.group(1))] = {"node": node, "path": path}
    missing = [str(i) for i in range(count) if i not in found]
    if missing:
        raise FleetError("activating the disks of %s gave no path for disk(s) %s" % (name, ", ".join(missing)))
    return [found[i] for i in range(count)]


def disk_settings(locations, sizes_mib):
    return [{"path": loc["path"], "size": int(size) * MIB} for loc, size in zip(locations, sizes_mib)]


def single_node(locations, name):
    nodes = sorted({loc["node"] for loc in locations})
    if len(nodes) != 1:
        raise FleetError("the disks of %s are on several nodes (%s); a move reads and writes them on one"
                         % (name, ", ".join(nodes)))
    return nodes[0]


def start_digests(access, locations, sizes_mib, label):
    """Start the digest of every disk on the node that holds it; returns the running program."""
    node = single_node(locations, label)
    settings = {"action": "digest", "algorithm": DIGEST_ALGORITHM, "cold": True,
                "disks": disk_settings(locations, sizes_mib)}
    return NodeProgram(access, node, settings, "the digest of the disks of %s" % label).start()


def finish_digests(program, count, timeout):
    events = sorted(program.finish("digest", timeout), key=lambda e: e["index"])
    if [e["index"] for e in events] != list(range(count)):
        raise FleetError("%s on %s gave digests for disks %s of %d"
                         % (program.what, program.node, [e["index"] for e in events], count))
    return events


def content_problems(source_digests, destination_digests):
    """Sentences naming each disk whose destination digest is not the source's (empty: equal)."""
    problems = []
    if len(source_digests) != len(destination_digests):
        problems.append("%d disk digests on the destination for %d on the source"
                        % (len(destination_digests), len(source_digests)))
    for index, (source, destination) in enumerate(zip(source_digests, destination_digests)):
        if not source or not destination or source != destination:
            problems.append("disk %d: %s %s on the destination, %s on the source"
                            % (index, DIGEST_ALGORITHM, destination or "none", source or "none"))
    return problems


def digest_record(source_digests, destination_digests, how):
    """The result's ``digests`` entry per disk."""
    return [{"index": index, "algorithm": DIGEST_ALGORITHM, "source": source, "destination": destination,
             "computed": how}
            for index, (source, destination) in enumerate(zip(source_digests, destination_digests))]


def digest_tags(digests):
    return [TAG_DIGEST % (d["index"], d["algorithm"], d["destination"]) for d in digests]


def recorded_digests(tags):
    """``{index: (algorithm, hex)}`` from a copy's digest tags."""
    prefix = TAG_PREFIX + "digest:"
    found = {}
    for tag in tags or []:
        if tag.startswith(prefix):
            parts = tag[len(prefix):].split(":")
            if len(parts) == 3 and parts[0].isdigit():
                found[int(parts[0])] = (parts[1], parts[2])
    return found


def digests_recorded_for(instance, disk_count):
    """Whether INSTANCE's tags record a digest for each of its DISK_COUNT disks (its copy was verified)."""
    found = recorded_digests((instance or {}).get("tags"))
    return disk_count > 0 and all(i in found for i in range(disk_count))


# ----------------------------------------------------------------------
# The direct transfer

def transfer_credentials(label, now=None):
    """Two key pairs made for one transfer, each end pinning the other's certificate.

    Returns the TLS settings of the receiving and the sending end. The
    private keys exist only in this process and, through SSH, in the memory
    of the two programs on the nodes.
    """
    if not HAS_CRYPTOGRAPHY:
        raise FleetError("the direct transfer needs the Python library cryptography on the controller; "
                         "install it (pip install cryptography) or use transfer: ganeti")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ends = {}
    for end in ("receiver", "sender"):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ganeti-fleet %s %s" % (end, label))])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=10))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        ends[end] = {
            "cert": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode("ascii"),
        }
    receiver = dict(ends["receiver"], peer_cert=ends["sender"]["cert"])
    sender = dict(ends["sender"], peer_cert=ends["receiver"]["cert"])
    return receiver, sender


def compress_level(compress):
    if compress not in DIRECT_COMPRESSION:
        raise FleetError("the direct transfer compresses with zlib: compress must be one of %s, not %r"
                         % (", ".join(DIRECT_COMPRESSION), compress))
    return DIRECT_COMPRESSION[compress]


class DirectTransfer:
    """The disks of one move streamed from the source node to the destination node.

    :meth:`start` starts both ends on their nodes, :meth:`listen` lets the
    receiving end listen (the destination is then ready: the source may be
    stopped), :meth:`send` lets the sending end stream, :meth:`finish` waits
    for both and returns the digests; :meth:`stop` ends both programs (a
    failure, or the controller going: their standard input closes).
    """

    def __init__(self, access, label, sizes_mib, compress="none", timeout=7200):
        """TIMEOUT: seconds for the whole transfer, or a function that says how many are left."""
        self.access = access
        self.label = label
        self.sizes_mib = list(sizes_mib)
        self.level = compress_level(compress)
        self.timeout = timeout
        self.receiver_tls, self.sender_tls = transfer_credentials(label)
        self.receiver = self.sender = None
        self.address = self.port = None

    def start(self, source_node, destination_node):
        """Start both ends ahead of time, before the disks' paths are known; both must answer.

        The nodes are then known to be reachable, with Python running, before
        the source is stopped.
        """
        self.receiver = NodeProgram(self.access, destination_node, {"action": "receive", "await_go": True},
                                    "receiving the disks of %s" % self.label).start()
        self.sender = NodeProgram(self.access, source_node, {"action": "send", "await_go": True},
                                  "sending the disks of %s" % self.label).start()
        for program in (self.receiver, self.sender):
            program.expect("ready", START_TIMEOUT)

    def listen(self, locations, address):
        """The receiving end listens on ADDRESS for the disks at LOCATIONS; returns its port."""
        node = single_node(locations, self.label + " (destination)")
        if node != self.receiver.node:
            raise FleetError("the copy of %s was placed on %s, not on %s where its receiving end runs"
                             % (self.label, node, self.receiver.node))
        self.receiver.go({"bind": address, "algorithm": DIGEST_ALGORITHM, "tls": self.receiver_tls,
                          "disks": disk_settings(locations, self.sizes_mib), "timeout": 300,
                          "accept_timeout": 600})
        self.port = self.receiver.expect("listening", START_TIMEOUT)["port"]
        self.address = address
        return self.port

    def send(self, locations):
        """The sending end streams the disks at LOCATIONS to the receiving end."""
        node = single_node(locations, self.label + " (source)")
        if node != self.sender.node:
            raise FleetError("the disks of %s are on %s, not on %s where its sending end runs"
                             % (self.label, node, self.sender.node))
        self.sender.go({"connect": [self.address, self.port], "algorithm": DIGEST_ALGORITHM, "tls": self.sender_tls,
                        "disks": disk_settings(locations, self.sizes_mib), "compress_level": self.level,
                        "timeout": 300})

    def finish(self):
        """``(source digests, destination digests, figures)``, once both ends are done."""
        left = self.timeout if callable(self.timeout) else (lambda: self.timeout)
        try:
            try:
                sent = sorted(self.sender.finish("sent", left()), key=lambda e: e["index"])
            except NodeProgramFailed as exc:
                # The sender sees only a closed connection; the receiver knows why (a full disk...).
                cause = self.receiver.error_within(10)
                if cause:
                    raise NodeProgramFailed("%s (and so %s)" % (cause, exc), node=self.receiver.node) from None
                raise
            received = sorted(self.receiver.finish("received", left()), key=lambda e: e["index"])
        finally:
            self.stop()
        figures = {"bytes": sum(e["bytes"] for e in sent), "zero_bytes": sum(e["zero_bytes"] for e in sent),
                   "wire_bytes": sum(e["wire_bytes"] for e in sent),
                   "send_seconds": round(sum(e["seconds"] for e in sent), 3)}
        return [e["digest"] for e in sent], [e["digest"] for e in received], figures

    def stop(self):
        stop_all([self.sender, self.receiver])
