# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers for modules that run on a Ganeti node (over SSH, not RAPI).

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import os
import socket
import tempfile

#: Ganeti's data directory (ssconf files, cluster domain secret).
DATA_DIR = "/var/lib/ganeti"


def node_identity(ssconf_dir=DATA_DIR):
    """Cluster membership of this node from Ganeti's ssconf files (best effort)."""

    def read(name):
        try:
            with open(os.path.join(ssconf_dir, "ssconf_" + name), encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return None

    cluster_name = (read("cluster_name") or "").strip() or None
    master = (read("master_node") or "").strip() or None
    nodes = [line.strip() for line in (read("node_list") or "").splitlines() if line.strip()]
    online_text = read("online_nodes")
    online = ([line.strip() for line in online_text.splitlines() if line.strip()]
              if online_text is not None else list(nodes))
    node_name = None
    candidates = [socket.gethostname()]
    try:
        candidates.append(socket.getfqdn())
    except OSError:  # pragma: no cover
        pass
    for candidate in candidates:
        if candidate in nodes:
            node_name = candidate
            break
    if node_name is None:
        short = candidates[0].split(".")[0]
        matches = [n for n in nodes if n.split(".")[0] == short]
        if len(matches) == 1:
            node_name = matches[0]
    return {"cluster_name": cluster_name, "master_node": master, "node_name": node_name,
            "nodes": nodes, "online_nodes": online, "is_master": bool(node_name and node_name == master)}


def atomic_write(path, data, mode, uid, gid, mtime_ns=None):
    """Replace PATH by DATA atomically (temporary file in the same directory, then rename).

    The temporary file gets MODE and ownership before it is renamed, so the
    content is never visible with other permissions.
    """
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".fleet-tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
