# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What modules that run on a Ganeti node share: ssconf, files, commands. Internal use only.

Plain Python, no Ansible imports. Commands run through a callable
``run(argv, data=None) -> (rc, stdout, stderr)``, such as
``NodeModule.run_binary``.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import tempfile

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: Ganeti's data directory (ssconf files, cluster domain secret).
DATA_DIR = "/var/lib/ganeti"


def ssconf_text(name, ssconf_dir=DATA_DIR):
    """Content of the ssconf file NAME (``ssconf_<name>``), or None when it cannot be read."""
    try:
        with open(os.path.join(ssconf_dir, "ssconf_" + name), encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def ssconf_value(name, ssconf_dir=DATA_DIR):
    """The one value of the ssconf file NAME, or None when it is missing or empty."""
    return (ssconf_text(name, ssconf_dir) or "").strip() or None


def ssconf_lines(name, ssconf_dir=DATA_DIR):
    """The non-empty lines of the ssconf file NAME, or None when it cannot be read."""
    text = ssconf_text(name, ssconf_dir)
    if text is None:
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _own_node_name(nodes):
    candidates = [socket.gethostname()]
    try:
        candidates.append(socket.getfqdn())
    except OSError:  # pragma: no cover
        pass
    for candidate in candidates:
        if candidate in nodes:
            return candidate
    short = candidates[0].split(".")[0]
    matches = [n for n in nodes if n.split(".")[0] == short]
    return matches[0] if len(matches) == 1 else None


def node_identity(ssconf_dir=DATA_DIR):
    """Cluster membership of this node from Ganeti's ssconf files (best effort)."""
    master = ssconf_value("master_node", ssconf_dir)
    nodes = ssconf_lines("node_list", ssconf_dir) or []
    online = ssconf_lines("online_nodes", ssconf_dir)
    node_name = _own_node_name(nodes)
    return {"cluster_name": ssconf_value("cluster_name", ssconf_dir), "master_node": master,
            "node_name": node_name, "nodes": nodes,
            "online_nodes": list(nodes) if online is None else online,
            "is_master": bool(node_name and node_name == master)}


def read_bytes(path):
    """Content of PATH, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _uid(user):
    return user if isinstance(user, int) else pwd.getpwnam(user).pw_uid


def _gid(group):
    return group if isinstance(group, int) else grp.getgrnam(group).gr_gid


def file_ownership(path, default=None):
    """``(mode, uid, gid)`` for rewriting PATH: the existing file's, else DEFAULT.

    DEFAULT is ``(mode, user, group)`` as Ganeti's ensure-dirs sets it; user
    and group are names or numeric ids. Without it PATH must exist.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        if default is None:
            raise
        mode, user, group = default
        return mode, _uid(user), _gid(group)
    return stat.st_mode & 0o7777, stat.st_uid, stat.st_gid


def ensure_directory(path, mode, user, group):
    """Create the directory PATH with Ganeti's mode and ownership when it is missing."""
    if os.path.isdir(path):
        return
    os.mkdir(path, mode)
    os.chown(path, _uid(user), _gid(group))
    os.chmod(path, mode)


def atomic_write(path, data, mode, uid=None, gid=None, mtime_ns=None):
    """Replace PATH by DATA atomically (temporary file in the same directory, then rename).

    The temporary file gets MODE and ownership (unless UID and GID are None)
    before it is renamed, so the content is never visible with other
    permissions.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".fleet-tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if uid is not None and gid is not None:
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


def rewrite_file(path, data, default_ownership=None, directory_ownership=None):
    """Replace PATH by DATA, keeping its mode and ownership (DEFAULT_OWNERSHIP for a new file).

    With DIRECTORY_OWNERSHIP (``(mode, user, group)``) a missing parent
    directory is created.  Raises :class:`~errors.FleetError` naming PATH
    when it cannot be written.
    """
    try:
        if directory_ownership is not None:
            ensure_directory(os.path.dirname(path), *directory_ownership)
        mode, uid, gid = file_ownership(path, default_ownership)
        atomic_write(path, data, mode, uid, gid)
    except (OSError, KeyError) as exc:
        raise FleetError("cannot write %s: %s" % (path, exc)) from exc


def run_checked(run, argv, what=None, data=None, error=FleetError):
    """Run ARGV through RUN; raise ERROR naming WHAT and the output's end when it fails."""
    rc, out, err = run(argv, data=data)
    if rc != 0:
        raise error("%s failed (rc=%s): %s" % (what or " ".join(argv[:2]), rc, (err or out).strip()[-1000:]))
    return out


def redistribute(run, error=FleetError):
    """``gnt-cluster redist-conf``: copy the master's files to every online node."""
    return run_checked(run, ["gnt-cluster", "redist-conf"], "gnt-cluster redist-conf", error=error)
