# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What modules that run on a Ganeti node share: ssconf, files, backups, commands. Internal use only.

Plain Python, no Ansible imports. Commands run through a callable
``run(argv, data=None) -> (rc, stdout, stderr)``, such as
``NodeModule.run_binary``.
"""

from __future__ import annotations

import collections
import datetime
import grp
import os
import pwd
import re
import socket
import tempfile
import time

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: Ganeti's data directory (ssconf files, cluster domain secret).
DATA_DIR = "/var/lib/ganeti"
#: Where node-side modules keep a copy of each secret file before they replace it.
BACKUP_DIR = "/var/lib/ganeti-fleet/backups"
#: How many backups of one file are kept (the newest).
BACKUPS_KEPT = 5
#: Ganeti's daemon control script.
DAEMON_UTIL = "/usr/lib/ganeti/daemon-util"

_BACKUP_STAMP_RE = re.compile(r"^\.\d{8}T\d{6}\.\d{6}Z$")

#: A backup made by :func:`backup_file`: where it is, which file it copies,
#: and that file's ``(mode, uid, gid)`` when it was copied.
Backup = collections.namedtuple("Backup", "path source mode uid gid")


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


# ----------------------------------------------------------------------
# Backups of the files the modules replace

def backup_argument_spec():
    """The ``backup_dir`` and ``backups_kept`` options (doc fragment ``ganeti.fleet.backup``)."""
    return dict(backup_dir=dict(type="path", default=BACKUP_DIR),
                backups_kept=dict(type="int", default=BACKUPS_KEPT))


def check_backup_options(backup_dir, keep):
    if keep is None or keep < 1:
        raise FleetError("backups_kept must be at least 1 (got %s): the backup just made is one of them" % keep)
    if not backup_dir or not os.path.isabs(backup_dir):
        raise FleetError("backup_dir must be an absolute path (got %r)" % (backup_dir,))


def missing_directories(path):
    """The components of PATH that do not exist yet, outermost first."""
    missing = []
    while path and not os.path.lexists(path):
        missing.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def make_private_directories(path):
    """Create PATH and any missing parent 0700, whatever the umask; the directories created (OSError on failure)."""
    created = []
    for directory in missing_directories(path):
        os.mkdir(directory, 0o700)
        os.chmod(directory, 0o700)
        created.append(directory)
    return created


def _backup_directory(backup_dir):
    """Create BACKUP_DIR (0700) when missing; refuse one that others could write to."""
    make_private_directories(backup_dir.rstrip("/") or "/")
    stat = os.lstat(backup_dir)
    if not os.path.isdir(backup_dir) or os.path.islink(backup_dir):
        raise FleetError("the backup directory %s is not a directory; remove it or choose another backup_dir"
                         % backup_dir)
    # A directory others can write to lets them replace or remove backups.
    if stat.st_uid != os.geteuid() or stat.st_mode & 0o022:
        raise FleetError("the backup directory %s is owned by uid %d with mode %04o: others could change the"
                         " backups in it; make it root's and 0700 (chown root: %s; chmod 0700 %s) or choose"
                         " another backup_dir" % (backup_dir, stat.st_uid, stat.st_mode & 0o7777,
                                                  backup_dir, backup_dir))


def list_backups(backup_dir, name):
    """Backups of the file NAME (a basename) in BACKUP_DIR, oldest first."""
    try:
        entries = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    found = [entry for entry in entries
             if entry.startswith(name + ".") and _BACKUP_STAMP_RE.match(entry[len(name):])]
    return [os.path.join(backup_dir, entry) for entry in sorted(found)]


def prune_backups(backup_dir, name, keep, protect=None):
    """Remove the backups of NAME beyond the newest KEEP, never PROTECT; return the removed paths."""
    backups = [path for path in list_backups(backup_dir, name) if path != protect]
    room = keep - (1 if protect else 0)
    removed = backups[:max(len(backups) - room, 0)]
    for path in removed:
        os.unlink(path)
    return removed


def _backup_name(name, now):
    return "%s.%sZ" % (name, now.strftime("%Y%m%dT%H%M%S.%f"))


def backup_file(path, backup_dir=BACKUP_DIR, keep=BACKUPS_KEPT, now=None):
    """Copy PATH's current bytes to ``BACKUP_DIR/<name>.<UTC time>Z``; a :data:`Backup`, or None.

    None when PATH does not exist (there is nothing to go back to). The
    copy is created 0600 (``O_EXCL``, so the umask never widens it and no
    existing file or link is followed), owned by root, and synced to disk
    before PATH may change. Then only the newest KEEP backups of that name
    stay. Raises :class:`~errors.FleetError` when no backup can be made.
    """
    check_backup_options(backup_dir, keep)
    name = os.path.basename(path)
    try:
        stat = os.stat(path)
        data = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FleetError("cannot read %s to back it up: %s; nothing was changed" % (path, exc)) from exc
    if data is None:
        return None
    try:
        _backup_directory(backup_dir)
        when = now or datetime.datetime.now(datetime.timezone.utc)
        for _attempt in range(100):
            target = os.path.join(backup_dir, _backup_name(name, when))
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                when += datetime.timedelta(microseconds=1)
        else:  # pragma: no cover - a hundred backups within the same microseconds
            raise FileExistsError(target)
        try:
            os.fchmod(fd, 0o600)
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(target)
            raise
        os.close(fd)
        _fsync_directory(backup_dir)
        prune_backups(backup_dir, name, keep, protect=target)
    except OSError as exc:
        raise FleetError("cannot back up %s into %s: %s; nothing was changed (fix the directory or choose"
                         " another backup_dir)" % (path, backup_dir, exc)) from exc
    return Backup(target, path, stat.st_mode & 0o7777, stat.st_uid, stat.st_gid)


def _fsync_directory(directory):
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def restore_file(backup):
    """Put BACKUP back in place of its file, atomically, with the file's former mode and ownership."""
    try:
        data = read_bytes(backup.path)
        if data is None:
            raise FileNotFoundError("backup %s is gone" % backup.path)
        atomic_write(backup.source, data, backup.mode, backup.uid, backup.gid)
        if read_bytes(backup.source) != data:
            raise OSError("%s does not hold the backup's bytes after the restore" % backup.source)
    except OSError as exc:
        raise FleetError("cannot restore %s from %s: %s" % (backup.source, backup.path, exc)) from exc


def _owner_name(uid, gid):
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def restore_commands(backup, then=()):
    """The shell commands that restore BACKUP by hand, followed by THEN (commands as argv lists)."""
    user, group = _owner_name(backup.uid, backup.gid)
    commands = ["install -m %04o -o %s -g %s %s %s" % (backup.mode, user, group, backup.path, backup.source)]
    commands.extend(" ".join(argv) for argv in then)
    return commands


# ----------------------------------------------------------------------
# Replacing a live file: the steps after the write, and the way back

class ReplacementStepFailed(FleetError):
    """A step after a file was replaced failed; STEP names it."""

    def __init__(self, step, message, **details):
        super().__init__(message, **details)
        self.step = step


def run_steps(steps, done):
    """Run STEPS, ``[(name, callable)]``, in order, appending each name to DONE once it worked.

    Raises :class:`ReplacementStepFailed` for the first that fails, with the cause: a
    :class:`~errors.FleetError` message (which names what failed), or an OS
    error after the step's name.
    """
    for name, action in steps:
        try:
            action()
        except FleetError as exc:
            raise ReplacementStepFailed(name, exc.message) from exc
        except OSError as exc:
            raise ReplacementStepFailed(name, "%s: %s" % (name, exc)) from exc
        done.append(name)


def recovery_plan(failed_step, plans):
    """The recovery steps for a failure at FAILED_STEP, from PLANS ``{step: (recovery steps)}``.

    A step without an entry needs none (nothing was changed before it).
    """
    return tuple(plans.get(failed_step, ()))


def recover(failure, backup, plan, actions, restored, then=()):
    """After FAILURE (a :class:`ReplacementStepFailed`), run the recovery steps PLAN; return the message to fail with.

    ACTIONS maps each step of PLAN to a callable. When every recovery step
    worked the message names what failed and says RESTORED (what is back
    and in use again); otherwise it also names the recovery step that
    failed, where BACKUP is and the commands (the copy, then THEN) that
    finish the restore by hand. Returns ``(message, recovery steps done)``.
    """
    done = []
    first = failure.message.rstrip(".")
    if not plan:
        return first + "; nothing had been changed", done
    if backup is None:
        return (first + "; there is nothing to go back to (the file did not exist or held nothing usable"
                " before), so the new one stays in place"), done
    try:
        run_steps([(step, actions[step]) for step in plan], done)
    except ReplacementStepFailed as again:
        return ("%s. Restoring the previous file failed too, at %s: %s. The previous file is kept in %s;"
                " restore it by hand on this node: %s"
                % (first, again.step, again.message.rstrip("."), backup.path,
                   "; ".join(restore_commands(backup, then)))), done
    return "%s. %s (backup %s)" % (first, restored, backup.path), done


def restart_daemon(run, daemon, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """``daemon-util stop DAEMON``, then ``start`` again until it works or TIMEOUT seconds passed."""
    run_checked(run, [DAEMON_UTIL, "stop", daemon], "stopping %s" % daemon)
    deadline = clock() + timeout
    while True:
        rc, out, err = run([DAEMON_UTIL, "start", daemon])
        if rc == 0:
            return
        if clock() + interval > deadline:
            raise FleetError("starting %s failed (rc=%s), retried for %s s: %s"
                             % (daemon, rc, timeout, (err or out).strip()[-1000:]))
        sleep(interval)
