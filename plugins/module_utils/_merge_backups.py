# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The files an in-place merge leaves in its state directory: modes and retention. Internal use only.

An in-place merge (docs/docsite/rst/merge_in_place_guide.rst) keeps its state and backups in
one directory per host (``cluster_merge_state_dir``). Several of them hold
key material: the archive of a merged node's ``/var/lib/ganeti`` has its
``server.pem``, ``rapi.pem`` and cluster domain secret, every copy of a
``config.data`` has the DRBD secrets. So:

* :func:`plan_tightening` makes every file 0600 (at most) and every
  directory 0700 (at most), whatever the umask that created them;
* :func:`plan_cleanup` decides which of them may be removed once the merge
  is finished: nothing while a merge is under way, nothing on a node that is
  not an online member of the target, nothing without the record of a
  finished merge, and never the record itself or a file the merge does not
  write.

The decisions are pure functions; :func:`scan`, :func:`recorded_nodes`,
:func:`ensure_private_directory` and :func:`apply` touch the file system.
"""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import make_private_directories
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

#: The role's default state directory (cluster_merge_state_dir).
STATE_DIR = "/var/lib/ganeti-fleet/merge"

#: The state of a run under way (target master).
OPEN_STATE = "state.json"
#: The same file once the run finished: the record of the merge.
CLOSED_STATE = "state.json.done"

#: Files the merge writes that a finished merge no longer needs, by name:
#: what each is (for messages). Every one of them holds key material.
REMOVABLE = {
    "target-config.data.backup": "the target's configuration before the merge (target master)",
    "config.data.backup": "a merged cluster's configuration (its master)",
    "var-lib-ganeti.tar.gz": "a merged node's former /var/lib/ganeti: its certificates and domain secret",
    "var-lib-ganeti.tar.gz.rolled-back": "the same archive, from a run that was rolled back",
    "var-lib-ganeti.tar.gz.partial": "the same archive, interrupted while it was written",
}
#: source-CLUSTER.config.data on the target master: a merged cluster's configuration.
SOURCE_CONFIG_PREFIX, SOURCE_CONFIG_SUFFIX = "source-", ".config.data"

#: Group and other permission bits: none on anything the merge writes.
OPEN_BITS = 0o077

KEEP_RECORD = "the record of the finished merge (plan, snapshots, disk digests; no key material)"
KEEP_UNKNOWN = "not a file the merge writes"
KEEP_NOT_FILE = "not a regular file"


class CleanupRefused(FleetError):
    """Nothing was removed: the merge's backups are still needed on this host (the message says why)."""


def describe(name):
    """What the merge file NAME is, or None when the merge does not write such a file."""
    if name in REMOVABLE:
        return REMOVABLE[name]
    if name.startswith(SOURCE_CONFIG_PREFIX) and name.endswith(SOURCE_CONFIG_SUFFIX) and \
            len(name) > len(SOURCE_CONFIG_PREFIX) + len(SOURCE_CONFIG_SUFFIX):
        return "the configuration of merged cluster %s (target master)" % (
            name[len(SOURCE_CONFIG_PREFIX):-len(SOURCE_CONFIG_SUFFIX)])
    if name in (OPEN_STATE, CLOSED_STATE):
        return "the merge's state"
    return None


def is_removable(name):
    return name not in (OPEN_STATE, CLOSED_STATE) and describe(name) is not None


def private_mode(mode):
    """MODE without any group or other permission (0644 -> 0600, 0755 -> 0700, 0400 stays)."""
    return mode & ~OPEN_BITS


def plan_tightening(entries):
    """``[(path, old_mode, new_mode)]`` for the ENTRIES ``(path, mode)`` that group or others can use."""
    return [(path, mode, private_mode(mode)) for path, mode in entries if mode & OPEN_BITS]


def plan_cleanup(files, node_name, node_cluster, target_cluster, merged_nodes, online_nodes):
    """Which files of a state directory a finished merge may remove.

    :param files: ``{name: is_regular_file}``, the entries of the state directory.
    :param node_name: this node's name (for messages).
    :param node_cluster: the cluster this node belongs to now (its ssconf), or None.
    :param target_cluster: the cluster the merge went into.
    :param merged_nodes: the merged nodes, from the record of the finished merge
        (``state.json.done`` on the target master); None or empty when no
        finished merge is recorded.
    :param online_nodes: the online nodes of this node's cluster (its ssconf).
    :returns: ``{"remove": [names], "keep": {name: reason}}``.
    :raises CleanupRefused: before anything is removed, when there is
        something to remove and a merge is under way here, this node is not a
        node of the target, or a merged node is not an online node of the
        target yet.
    """
    where = node_name or "this host"
    candidates = sorted(name for name, regular in files.items() if regular and is_removable(name))
    keep = {}
    for name, regular in sorted(files.items()):
        if name == CLOSED_STATE:
            keep[name] = KEEP_RECORD
        elif name == OPEN_STATE:
            keep[name] = "the state of a merge under way"
        elif not is_removable(name):
            keep[name] = KEEP_UNKNOWN
        elif not regular:
            keep[name] = KEEP_NOT_FILE
    if not candidates:
        # Nothing to lose, so nothing to refuse: a re-run after the cleanup
        # stays quiet even if the cluster changed since.
        return {"remove": [], "keep": keep}
    if OPEN_STATE in files:
        raise CleanupRefused(
            "refusing to remove the merge's backups on %s, nothing was removed: %s is there, a merge into"
            " %s is under way (or was interrupted); finish it first by running the playbook again"
            % (where, OPEN_STATE, target_cluster), reason="merge_under_way")
    if not merged_nodes:
        reason = ("no finished merge into %s is recorded (%s on its master), so this backup may still be"
                  " needed" % (target_cluster, CLOSED_STATE))
        keep.update((name, reason) for name in candidates)
        return {"remove": [], "keep": keep}
    if node_cluster != target_cluster:
        raise CleanupRefused(
            "refusing to remove the merge's backups on %s, nothing was removed: it is a node of %s, not of"
            " the target %s, so the merge did not readd it and its backups are what brings its cluster"
            " back; finish the merge first" % (where, node_cluster or "no cluster", target_cluster),
            reason="not_a_target_node")
    missing = sorted(set(merged_nodes) - set(online_nodes or []))
    if missing:
        raise CleanupRefused(
            "refusing to remove the merge's backups on %s, nothing was removed: merged node(s) %s are"
            " not online nodes of %s yet, the merge is not finished; run the playbook again to readd"
            " them" % (where, ", ".join(missing), target_cluster),
            reason="merge_not_finished", missing=missing)
    return {"remove": candidates, "keep": keep}


def plan_changes(state_dir, entries, removals, created=()):
    """What a run does to STATE_DIR: ``(removed_paths, tightening, entries_after)``.

    ENTRIES are :func:`scan`'s, REMOVALS names in STATE_DIR, CREATED the
    directories :func:`ensure_private_directory` creates (0700).
    """
    gone = sorted(os.path.join(state_dir, name) for name in removals)
    kept = [(path, mode) for path, mode in entries
            if path not in gone and not any(path.startswith(g + "/") for g in gone)]
    tightening = plan_tightening(kept)
    after = [(path, private_mode(mode)) for path, mode in kept] + [(path, 0o700) for path in created]
    return gone, tightening, after


def merged_nodes_of(record):
    """The merged nodes a closed state file (parsed) lists: every online node of every merged cluster."""
    sources = record.get("sources") if isinstance(record, dict) else None
    if not isinstance(sources, list):
        raise ValueError("it has no list of merged clusters ('sources')")
    nodes = set()
    for source in sources:
        nodes.update((source or {}).get("online_nodes") or [])
    return sorted(nodes)


def recorded_nodes(state_dir):
    """The merged nodes of the finished merge recorded in STATE_DIR, or None when none is recorded."""
    path = os.path.join(state_dir, CLOSED_STATE)
    try:
        with open(path, encoding="utf-8") as handle:
            return merged_nodes_of(json.load(handle))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CleanupRefused("refusing to remove the merge's backups, nothing was removed: cannot read the"
                             " record of the merge %s: %s" % (path, err), reason="bad_record") from err


def scan(state_dir):
    """``(files, entries)`` of STATE_DIR, or ``({}, [])`` when it does not exist.

    ``files`` is ``{name: is_regular_file}`` of its top level; ``entries``
    is ``[(path, mode)]`` of the directory and everything below it. Symbolic
    links are neither followed nor listed in ``entries`` (chmod would change
    what they point to).
    """
    try:
        top = os.lstat(state_dir)
    except FileNotFoundError:
        return {}, []
    if not stat.S_ISDIR(top.st_mode):
        raise FleetError("%s is not a directory: move what is there out of the way; the merge keeps its state"
                         " and backups in this directory" % state_dir)
    if top.st_uid != os.geteuid():
        # Whoever owns it could have put or linked anything in it.
        raise FleetError("%s belongs to uid %d, not to the user the merge runs as (uid %d): check what is in it,"
                         " then give it to that user (chown) or remove it; nothing was changed"
                         % (state_dir, top.st_uid, os.geteuid()))
    files, entries = {}, [(state_dir, stat.S_IMODE(top.st_mode))]
    for name in sorted(os.listdir(state_dir)):
        info = os.lstat(os.path.join(state_dir, name))
        files[name] = stat.S_ISREG(info.st_mode)
    for base, dirs, names in os.walk(state_dir):
        for name in sorted(dirs + names):
            path = os.path.join(base, name)
            info = os.lstat(path)
            if not stat.S_ISLNK(info.st_mode):
                entries.append((path, stat.S_IMODE(info.st_mode)))
    return files, entries


def ensure_private_directory(path):
    """Create PATH and any missing parent 0700, whatever the umask. Returns the directories created."""
    try:
        return make_private_directories(path)
    except OSError as err:
        raise FleetError("cannot create %s: %s" % (err.filename or path, err)) from err


def apply(state_dir, tightening, removals):
    """Remove REMOVALS (names in STATE_DIR), then chmod the TIGHTENING ``[(path, old, new)]`` left."""
    removed = []
    for name in removals:
        path = os.path.join(state_dir, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise FleetError("cannot remove %s: %s (removed so far: %s)"
                             % (path, err, ", ".join(removed) or "nothing")) from err
        removed.append(path)
    for path, _old, new in tightening:
        if os.path.lexists(path):
            os.chmod(path, new)
    return removed


def listing(entries, state_dir):
    """Text for a diff: one ``MODE PATH`` line per entry."""
    return "".join("%04o %s\n" % (mode, os.path.relpath(path, os.path.dirname(state_dir)))
                   for path, mode in sorted(entries))
