# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Disk bytes on a Ganeti node: digests, and both ends of a direct transfer. Internal use only.

This file is a program that runs on the nodes, not on the controller.
``_node_ssh.NodeProgram`` starts ``python3`` on a node over SSH and sends it
this file's text, then the settings as one JSON line, on the same standard
input; the program answers with one JSON object per line on its standard
output (its *events*). Standard library only, Python 3.8 or later, so that it
runs on every Ganeti node as it is.

Actions (``settings["action"]``):

``digest``
    the digest of the first ``size`` bytes of each disk (``disks``: path,
    size), with the page cache of the disk dropped first (``cold``) so that
    the bytes are read from the storage.
``receive``
    listen on ``bind`` (port 0: one the kernel chooses), say ``listening``
    with the port, accept one TLS connection from the peer whose certificate
    is pinned (``tls.peer_cert``), write each disk as it comes, digesting what
    it writes, and flush it to the storage; a disk whose digest is not the
    one the sender computed fails the transfer.
``send``
    connect to ``connect`` (host, port) over TLS, pinning the receiver's
    certificate, and send each disk: runs of zeros as their length only,
    other blocks as they are or compressed with zlib (``compress_level``).

A program started with ``await_go`` says ``ready`` and waits for a second
JSON line with the rest of its settings: the controller starts it before it
knows the disks' paths. The stream is digested on both ends. Both ends stop
when their standard input closes: the controller that started them is gone, and nothing it did not see
may go on.
"""

import hashlib
import json
import os
import socket
import ssl
import stat
import struct
import sys
import threading
import time
import zlib

BLOCK = 1 << 20
ZERO_BLOCK = bytes(BLOCK)
#: Record types of the stream: data, compressed data, a run of zeros, end of a disk.
DATA, PACKED, ZEROS, END = b"D", b"C", b"Z", b"E"
HEADER = struct.Struct("!cQ")
#: ``ioctl`` number of BLKZEROOUT (Linux): zero a byte range of a block device.
BLKZEROOUT = 0x127F
#: The one digest: BLAKE2b-256 over the BLAKE2b-256 digests of the disk's 1 MiB blocks (the
#: last one may be shorter). Blocks of zeros share one digest, computed once, so runs of zeros
#: (sparse disks) cost nothing to digest, and blocks can be digested in any order.
ALGORITHM = "b2tree"
PERSON = b"ganeti-fleet"


class StreamError(Exception):
    """The action cannot go on; the message says why."""


def _block_digest(data):
    return hashlib.blake2b(data, digest_size=32).digest()


ZERO_BLOCK_DIGEST = _block_digest(ZERO_BLOCK)


class TreeDigest:
    """The :data:`ALGORITHM` digest of a byte stream, fed with bytes and runs of zeros."""

    def __init__(self):
        self.tree = hashlib.blake2b(digest_size=32, person=PERSON)
        self.partial = b""

    def update(self, data):
        if self.partial:
            take = BLOCK - len(self.partial)
            self.partial += bytes(data[:take])
            data = data[take:]
            if len(self.partial) < BLOCK:
                return
            self.tree.update(_block_digest(self.partial))
            self.partial = b""
        view = memoryview(data)
        while len(view) >= BLOCK:
            self.tree.update(ZERO_BLOCK_DIGEST if view[:BLOCK] == ZERO_BLOCK else _block_digest(view[:BLOCK]))
            view = view[BLOCK:]
        self.partial = bytes(view)

    def zeros(self, count):
        if self.partial:
            take = min(count, BLOCK - len(self.partial))
            self.update(ZERO_BLOCK[:take])
            count -= take
        whole, rest = divmod(count, BLOCK)
        while whole:
            step = min(whole, 4096)
            self.tree.update(ZERO_BLOCK_DIGEST * step)
            whole -= step
        if rest:
            self.update(ZERO_BLOCK[:rest])

    def hexdigest(self):
        tree = self.tree.copy()
        if self.partial:
            tree.update(_block_digest(self.partial))
        return tree.hexdigest()


def new_digest(algorithm=ALGORITHM):
    if algorithm != ALGORITHM:
        raise StreamError("unknown digest algorithm %r (this program knows %s)" % (algorithm, ALGORITHM))
    return TreeDigest()


def emit(event, **values):
    values["event"] = event
    sys.stdout.write(json.dumps(values, sort_keys=True) + "\n")
    sys.stdout.flush()


def _data_ranges(fd, start, end):
    """``(offset, length, is_data)`` ranges of a file between START and END, in whole blocks.

    Holes of a sparse file are found with SEEK_DATA/SEEK_HOLE, so that they
    are not read; where the file system cannot tell, everything is data.
    """
    offset = start
    while offset < end:
        try:
            data = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left; EINVAL: not supported
            data = end if _seek_hole_supported(fd) else offset
        # Whole blocks only: the digest and the stream work in blocks.
        block_start = min(max(offset, data - data % BLOCK), end)
        if block_start > offset:
            yield offset, block_start - offset, False
            offset = block_start
            continue
        try:
            hole = os.lseek(fd, max(offset, data), os.SEEK_HOLE)
        except OSError:
            hole = end
        hole = min(max(-(-hole // BLOCK) * BLOCK, offset + BLOCK), end)
        yield offset, hole - offset, True
        offset = hole


def _seek_hole_supported(fd):
    try:
        os.lseek(fd, 0, os.SEEK_HOLE)
        return True
    except OSError:
        return False


def read_blocks(path, size, cold=False):
    """``(kind, value)`` of the first SIZE bytes of PATH: ``(DATA, bytes)`` or ``(ZEROS, count)``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        mode = os.fstat(fd).st_mode
        if cold:
            # Read from the storage, not from what the page cache kept.
            if stat.S_ISREG(mode):
                os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        available = _device_size(fd, mode)
        if available < size:
            raise StreamError("%s holds %d bytes, fewer than the disk's %d" % (path, available, size))
        ranges = _data_ranges(fd, 0, size) if stat.S_ISREG(mode) else [(0, size, True)]
        for offset, length, is_data in ranges:
            if not is_data:
                yield ZEROS, length
                continue
            os.lseek(fd, offset, os.SEEK_SET)
            left = length
            while left > 0:
                chunk = os.read(fd, min(left, BLOCK))
                if not chunk:
                    raise StreamError("%s ended at byte %d, before the disk's %d" % (path, size - left, size))
                left -= len(chunk)
                if len(chunk) == BLOCK and chunk == ZERO_BLOCK:
                    yield ZEROS, BLOCK
                else:
                    yield DATA, chunk
    finally:
        os.close(fd)


def _device_size(fd, mode):
    if stat.S_ISBLK(mode):
        return os.lseek(fd, 0, os.SEEK_END)
    return os.fstat(fd).st_size


def disk_digest(path, size, algorithm, cold=True):
    digest = new_digest(algorithm)
    for kind, value in read_blocks(path, size, cold=cold):
        if kind is ZEROS:
            digest.zeros(value)
        else:
            digest.update(value)
    return digest.hexdigest()


def action_digest(settings):
    for index, disk in enumerate(settings["disks"]):
        started = time.monotonic()
        value = disk_digest(disk["path"], disk["size"], settings["algorithm"], cold=settings.get("cold", True))
        emit("digest", index=index, digest=value, bytes=disk["size"], seconds=round(time.monotonic() - started, 3))


# ----------------------------------------------------------------------
# TLS with keys made for one transfer

def _memory_file(text):
    """A path naming TEXT without a file on disk (a memfd), for ``load_cert_chain``."""
    fd = os.memfd_create("ganeti-fleet-tls", 0)
    os.write(fd, text.encode("ascii"))
    return fd, "/proc/self/fd/%d" % fd


def tls_context(tls, server):
    """A context that presents our certificate and accepts only the peer's (both pinned)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=tls["peer_cert"])
    cert_fd, cert_path = _memory_file(tls["cert"])
    key_fd, key_path = _memory_file(tls["key"])
    try:
        context.load_cert_chain(cert_path, key_path)
    finally:
        os.close(cert_fd)
        os.close(key_fd)
    return context


def _check_peer(connection, tls):
    expected = ssl.PEM_cert_to_DER_cert(tls["peer_cert"])
    if connection.getpeercert(binary_form=True) != expected:
        raise StreamError("the peer presented another certificate than the one of this transfer")


def _recv_exact(connection, count):
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        size = connection.recv_into(view[got:], count - got)
        if not size:
            raise StreamError("the sender closed the connection %d bytes before the end of a record" % (count - got))
        got += size
    return buffer


# ----------------------------------------------------------------------
# Receiving end

#: Bytes written between two flushes to the storage while a disk arrives.
FLUSH_EVERY = 64 * BLOCK


class DiskWriter:
    """Writes one disk: data at its offset, runs of zeros as holes or zeroed ranges.

    The disk is on its storage when :meth:`close` returns (the source may be
    removed afterwards). A thread flushes what arrived every
    :data:`FLUSH_EVERY` bytes, so that the storage writes while the stream
    goes on and the last flush has little left to do.
    """

    def __init__(self, path, size, check_only=False):
        self.fd = os.open(path, os.O_WRONLY)
        mode = os.fstat(self.fd).st_mode
        self.regular = stat.S_ISREG(mode)
        available = _device_size(self.fd, mode)
        if available < size or check_only:
            os.close(self.fd)
            if available < size:
                raise StreamError("%s holds %d bytes, fewer than the disk's %d" % (path, available, size))
            return
        if self.regular:
            # A file the move just created: emptied (all holes) and given its
            # size back, so that runs of zeros need no writes at all.
            os.ftruncate(self.fd, 0)
            os.ftruncate(self.fd, available)
        self.path = path
        self.offset = 0
        self.flushed = 0
        self.wanted = threading.Event()
        self.closing = False
        self.flusher = threading.Thread(target=self._flush_while_writing, daemon=True)
        self.flusher.start()

    def _flush_while_writing(self):
        while True:
            self.wanted.wait()
            self.wanted.clear()
            if self.closing:
                return
            os.fdatasync(self.fd)

    def write(self, data):
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, self.offset)
            self.offset += written
            view = view[written:]
        if self.offset - self.flushed >= FLUSH_EVERY:
            self.flushed = self.offset
            self.wanted.set()

    def zeros(self, count):
        if not self.regular:
            self._zero_range(self.offset, count)
        self.offset += count

    def _zero_range(self, offset, count):
        import fcntl  # pylint: disable=import-outside-toplevel
        try:
            fcntl.ioctl(self.fd, BLKZEROOUT, struct.pack("QQ", offset, count))
        except OSError:
            position = offset
            while position < offset + count:
                step = min(BLOCK, offset + count - position)
                position += os.pwrite(self.fd, ZERO_BLOCK[:step], position)

    def close(self):
        self.closing = True
        self.wanted.set()
        self.flusher.join()
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


def receive_disk(connection, disk, algorithm, index):
    """Write one disk from the stream; TLS runs in this thread, digesting and writing in another."""
    started = time.monotonic()
    writer = DiskWriter(disk["path"], disk["size"])
    digest = new_digest(algorithm)
    counts = {"wire": 0, "zeros": 0}
    pipe = Pipe()

    def store(pipe):
        while True:
            item = pipe.get()
            if item is None:
                return
            kind, value = item
            if kind == ZEROS:
                _check_room(writer, value, disk)
                writer.zeros(value)
                digest.zeros(value)
                counts["zeros"] += value
            else:
                if kind == PACKED:
                    value = zlib.decompress(value)
                _check_room(writer, len(value), disk)
                writer.write(value)
                digest.update(value)

    storer = pipe.run(store)
    sender_digest = None
    try:
        while True:
            kind, length = HEADER.unpack(_recv_exact(connection, HEADER.size))
            counts["wire"] += HEADER.size
            if kind == END:
                sender_digest = bytes(_recv_exact(connection, length)).decode("ascii")
                counts["wire"] += length
                break
            if kind == ZEROS:
                pipe.put((ZEROS, length))
                continue
            if kind not in (DATA, PACKED):
                raise StreamError("unknown record %r in the stream of disk %d" % (kind, index))
            pipe.put((kind, _recv_exact(connection, length)))
            counts["wire"] += length
    finally:
        pipe.queue.put(None)
        storer.join()
        writer.close()
    pipe.check()
    if writer.offset != disk["size"]:
        raise StreamError("disk %d: %d bytes received, the disk has %d" % (index, writer.offset, disk["size"]))
    stream_digest = digest.hexdigest()
    if sender_digest != stream_digest:
        raise StreamError("disk %d: the digest of what arrived (%s) is not the sender's (%s)"
                          % (index, stream_digest, sender_digest))
    return {"index": index, "bytes": writer.offset, "zero_bytes": counts["zeros"], "wire_bytes": counts["wire"],
            "stream_digest": stream_digest, "seconds": round(time.monotonic() - started, 3)}


def _check_room(writer, count, disk):
    if writer.offset + count > disk["size"]:
        raise StreamError("the stream holds more than the %d bytes of %s" % (disk["size"], disk["path"]))


def action_receive(settings):
    for disk in settings["disks"]:
        DiskWriter(disk["path"], disk["size"], check_only=True)
    context = tls_context(settings["tls"], server=True)
    timeout = settings.get("timeout", 300)
    family = socket.AF_INET6 if ":" in settings["bind"] else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((settings["bind"], settings.get("port", 0)))
    listener.listen(1)
    listener.settimeout(settings.get("accept_timeout", timeout))
    emit("listening", port=listener.getsockname()[1])
    try:
        raw, peer = listener.accept()
    except socket.timeout:
        raise StreamError("no sender connected within %s s" % listener.gettimeout()) from None
    finally:
        listener.close()
    raw.settimeout(timeout)
    _tune(raw)
    with context.wrap_socket(raw, server_side=True) as connection:
        _check_peer(connection, settings["tls"])
        emit("connected", peer=peer[0])
        received = [receive_disk(connection, disk, settings["algorithm"], index)
                    for index, disk in enumerate(settings["disks"])]
        connection.sendall(b"ok")
    for values in received:
        values["digest"] = values.pop("stream_digest")
        emit("received", **values)


# ----------------------------------------------------------------------
# Sending end

class Pipe:
    """A bounded hand-over between two threads; an error on either side ends both."""

    def __init__(self, depth=8):
        import queue  # pylint: disable=import-outside-toplevel
        self.queue = queue.Queue(depth)
        self.error = None

    def put(self, item):
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def get(self):
        return self.queue.get()

    def run(self, target):
        """Run TARGET(self) in a thread; returns the thread (``join`` it, then :meth:`check`)."""
        def work():
            try:
                target(self)
            except BaseException as exc:  # pylint: disable=broad-except
                self.error = exc
                while True:  # let the producer finish putting without blocking forever
                    if self.queue.get() is None:
                        break
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread

    def check(self):
        if self.error is not None:
            raise self.error


def send_disk(connection, disk, algorithm, level, index):
    """Send one disk; reading and digesting run in this thread, TLS in another."""
    started = time.monotonic()
    digest = new_digest(algorithm)
    counts = {"wire": 0, "zeros": 0}
    pipe = Pipe()

    def transmit(pipe):
        while True:
            record = pipe.get()
            if record is None:
                return
            connection.sendall(record)
            counts["wire"] += len(record)

    sender = pipe.run(transmit)
    pending_zeros = 0
    try:
        for kind, value in read_blocks(disk["path"], disk["size"]):
            if kind is ZEROS:
                digest.zeros(value)
                pending_zeros += value
                counts["zeros"] += value
                continue
            if pending_zeros:
                pipe.put(HEADER.pack(ZEROS, pending_zeros))
                pending_zeros = 0
            digest.update(value)
            record, payload = DATA, value
            if level:
                packed = zlib.compress(value, level)
                if len(packed) < len(value):
                    record, payload = PACKED, packed
            pipe.put(HEADER.pack(record, len(payload)) + payload)
        if pending_zeros:
            pipe.put(HEADER.pack(ZEROS, pending_zeros))
        value = digest.hexdigest().encode("ascii")
        pipe.put(HEADER.pack(END, len(value)) + value)
    finally:
        pipe.queue.put(None)
        sender.join()
    pipe.check()
    return {"index": index, "bytes": disk["size"], "zero_bytes": counts["zeros"], "wire_bytes": counts["wire"],
            "digest": value.decode("ascii"), "seconds": round(time.monotonic() - started, 3)}


def action_send(settings):
    context = tls_context(settings["tls"], server=False)
    host, port = settings["connect"]
    timeout = settings.get("timeout", 300)
    try:
        raw = socket.create_connection((host, port), timeout=settings.get("connect_timeout", 30))
    except OSError as exc:
        raise StreamError("cannot connect to the receiver at %s port %s: %s" % (host, port, exc)) from None
    raw.settimeout(timeout)
    _tune(raw)
    with context.wrap_socket(raw, server_side=False) as connection:
        _check_peer(connection, settings["tls"])
        sent = [send_disk(connection, disk, settings["algorithm"], settings.get("compress_level") or 0, index)
                for index, disk in enumerate(settings["disks"])]
        if _recv_exact(connection, 2) != b"ok":
            raise StreamError("the receiver did not confirm the transfer")
    for values in sent:
        emit("sent", **values)


def _tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 4 * BLOCK)


# ----------------------------------------------------------------------

ACTIONS = {"digest": action_digest, "receive": action_receive, "send": action_send}


def _stop_when_controller_goes(stdin):
    """End the process once standard input closes: whoever started it is gone."""
    def watch():
        while stdin.read(65536):
            pass
        os._exit(3)  # pylint: disable=protected-access
    threading.Thread(target=watch, daemon=True).start()


def main(stdin=None):
    stdin = stdin or sys.stdin.buffer
    try:
        settings = json.loads(stdin.readline().decode("utf-8"))
        action = ACTIONS.get(settings.get("action"))
        if action is None:
            raise StreamError("unknown action %r" % settings.get("action"))
        if settings.get("await_go"):
            # Started ahead of time (the node is reachable, Python runs): the
            # rest of the settings come when the controller knows them.
            emit("ready")
            line = stdin.readline()
            if not line:
                os._exit(3)  # pylint: disable=protected-access
            settings.update(json.loads(line.decode("utf-8")))
        _stop_when_controller_goes(stdin)
        action(settings)
    except (StreamError, OSError, ValueError, ssl.SSLError) as exc:
        emit("error", message="%s: %s" % (type(exc).__name__, exc) if not isinstance(exc, StreamError)
             else str(exc))
        sys.stdout.flush()
        os._exit(1)  # pylint: disable=protected-access
    emit("done")
    sys.stdout.flush()
    os._exit(0)  # pylint: disable=protected-access


if __name__ == "__main__":
    main()
