# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The in-place cluster merge as an engine: phases, state, backups, rollback. Internal use only.

Design 2.1's merge for Ganeti 3.0: the merged clusters' nodes, with their
disks, become nodes of the target. The engine runs on the target's master
(module ``cluster_merge_in_place``) and reaches the merged nodes over SSH
with the target master's root key (the one ``gnt-node add`` uses), their
host keys pinned from what the role read over Ansible's own connection.

One step per module call; the role only sequences them::

    prepare -> stop -> merge | readd -> finish        (rescue before readd: rollback)

``state.json`` in the state directory of the target master records the
phase reached (``prepared``, ``stopped``, ``merged``; ``readd`` is the point
of no return) together with each cluster's UUID and configuration serial
number, read from the very bytes the run backs up. A run that finds a state
of another cluster (another UUID: a cluster built again under the same name)
refuses; one that finds an interrupted run before the point of no return
rolls it back first; one past it finishes it. Backups are taken afresh by
every run, before anything stops, and checked against the recorded identity
before they are restored or merged.

:class:`~_merge_nodes.NodeOps` runs the commands (locally on the target
master, over SSH elsewhere); every decision is in :class:`InPlaceMerge` and
the pure functions, which the unit tests drive with a fake ``NodeOps``.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.ganeti.fleet.plugins.module_utils import _merge_config_data as cm
from ansible_collections.ganeti.fleet.plugins.module_utils._merge_nodes import (
    COMMAND_TIMEOUT, LocalFiles, MergeStepFailed, NodeUnreachable, tail_of)
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import DAEMON_UTIL, DATA_DIR
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

STATE_FILE = "state.json"
DONE_FILE = "state.json.done"
ARCHIVE_DIR = "archive"
TARGET_BACKUP = "target-config.data.backup"
NODE_ARCHIVE = "var-lib-ganeti.tar.gz"
STATE_FORMAT = 2

#: Phases in the order a merge reaches them; ``readd`` is the point of no return.
PHASES = ("new", "prepared", "stopped", "merged", "readd", "done")
POINT_OF_NO_RETURN = "readd"
#: The phase each step needs, and the phase it records once it is done.
STEPS = {"prepare": ("new", "prepared"), "stop": ("prepared", "stopped"), "merge": ("stopped", "merged"),
         "readd": ("merged", "readd"), "finish": ("readd", "done")}

CONFIG_FILE = os.path.join(DATA_DIR, "config.data")
MASTER_DAEMONS = ("ganeti-wconfd", "ganeti-luxid", "ganeti-rapi")


def phase_index(phase):
    return PHASES.index(phase)


def before_point_of_no_return(phase):
    return phase_index(phase) < phase_index(POINT_OF_NO_RETURN)


def step_decision(step, phase):
    """What STEP does when the state records PHASE: ``run``, ``skip`` (done already) or ``rollback_first``.

    Raises :class:`MergeStepFailed` for a step out of order.
    """
    needed, reached = STEPS[step]
    if step == "prepare":
        if phase == "new":
            return "run"
        return "rollback_first" if before_point_of_no_return(phase) else "skip"
    if phase_index(phase) >= phase_index(reached) and not (step == "readd" and phase == "readd"):
        return "skip"
    if phase == needed or (step == "readd" and phase == "readd"):
        # readd converges: an interrupted readd readds the nodes still offline.
        return "run"
    raise MergeStepFailed("the in-place merge cannot %s now: its state is at phase %s, %s needs %s; run the"
                          " whole role (it runs the steps in order)" % (step, phase, step, needed))


def config_identity(config):
    """``{"cluster_name", "uuid", "serial_no"}`` of a parsed config.data."""
    cluster = config.get("cluster") or {}
    return {"cluster_name": cluster.get("cluster_name"), "uuid": cluster.get("uuid"),
            "serial_no": config.get("serial_no")}


def assess_state(state, state_path, target, sources):
    """How a run goes on from the STATE found at STATE_PATH (None when there is none).

    TARGET and SOURCES are the identities (:func:`config_identity`) of the
    clusters as they are now; a source whose configuration could not be read
    is None. Returns ``fresh``, ``resume`` (past the point of no return) or
    ``rollback_first`` (an interrupted run before it). Raises
    :class:`MergeStepFailed` when the state is not of these clusters.
    """
    if state is None:
        return "fresh"
    phase = state.get("phase")
    recorded = state.get("target") or {}
    if state.get("format") != STATE_FORMAT or phase not in PHASES or not recorded.get("uuid"):
        raise MergeStepFailed(
            "%s records no cluster identity (it was written by an earlier version, or is damaged): the engine"
            " cannot tell whether its backups are of these clusters. If that merge was finished or rolled back"
            " by hand, move the file away (mv %s %s.old) and run again; otherwise finish or roll it back by hand"
            " first (docs/docsite/rst/merge_in_place_guide.rst, 'By hand')" % (state_path, state_path, state_path))
    if recorded["uuid"] != target["uuid"]:
        raise MergeStepFailed(
            "%s records a merge into %s with cluster UUID %s, but this cluster (%s) has UUID %s: it was built"
            " again under the same name, and the file and the backups next to it are not of this cluster."
            " Nothing was changed. Move the state directory away (mv %s %s.old), then run again"
            % (state_path, recorded.get("cluster_name"), recorded["uuid"], target["cluster_name"], target["uuid"],
               os.path.dirname(state_path), os.path.dirname(state_path)))
    if not before_point_of_no_return(phase):
        return "resume"
    by_name = {s["cluster_name"]: s for s in state.get("sources") or []}
    for now in sources:
        if now is None:
            continue
        was = by_name.get(now["cluster_name"])
        if was is not None and was.get("uuid") != now["uuid"]:
            raise MergeStepFailed(
                "%s records an interrupted merge of %s with cluster UUID %s, but %s now has UUID %s: it was built"
                " again, and the backups of that run are not of it. Nothing was changed. Check both clusters,"
                " move the state directory away (mv %s %s.old), then run again"
                % (state_path, now["cluster_name"], was.get("uuid"), now["cluster_name"], now["uuid"],
                   os.path.dirname(state_path), os.path.dirname(state_path)))
    return "rollback_first"


def check_backup(config, recorded, path):
    """Raise unless the parsed backup CONFIG at PATH is the configuration RECORDED in the state."""
    found = config_identity(config)
    if found["uuid"] != recorded.get("uuid") or found["serial_no"] != recorded.get("serial_no"):
        raise MergeStepFailed(
            "%s is not the configuration this run recorded (cluster %s UUID %s serial %s; the file has UUID %s"
            " serial %s): it was left by another run or changed since. Nothing was restored or merged from it"
            % (path, recorded.get("cluster_name"), recorded.get("uuid"), recorded.get("serial_no"),
               found["uuid"], found["serial_no"]))


def running_instances(config):
    """Names of the instances CONFIG marks up (they run again after the merge or its rollback)."""
    return sorted(inst["name"] for inst in (config.get("instances") or {}).values()
                  if inst.get("admin_state") == "up")


#: What the engine keeps of each merged cluster of the role's plan.
SOURCE_KEYS = ("cluster_name", "master", "online_nodes", "group_map", "merged_tag", "host")


def plan_sources(sources):
    """The merged clusters of the plan, with the keys the engine uses; refuses one that lacks a required key."""
    kept = []
    for source in sources:
        missing = [key for key in SOURCE_KEYS[:3] if not source.get(key)]
        if missing:
            raise FleetError("merged cluster %s lacks %s in sources (cluster_name, master and online_nodes are"
                             " required)" % (source.get("cluster_name") or "?", ", ".join(missing)))
        kept.append({key: source.get(key) for key in SOURCE_KEYS})
    return kept


def as_stopped(config):
    """A copy of CONFIG with every instance marked down, as the merge step will find it."""
    copied = json.loads(json.dumps(config))
    for inst in (copied.get("instances") or {}).values():
        if inst.get("admin_state") == "up":
            inst["admin_state"] = "down"
    return copied


def masters_last(sources):
    """The online nodes of every merged cluster, each cluster's master last (it stops after its voters)."""
    nodes = [n for s in sources for n in s["online_nodes"] if n != s["master"]]
    return nodes + [s["master"] for s in sources if s["master"] in s["online_nodes"]]


def not_running(wanted, statuses):
    """Those of WANTED whose status (``{name: status}``) is not ``running``."""
    return [name for name in wanted if statuses.get(name) != "running"]


def still_running(names, statuses):
    return [name for name in names if statuses.get(name) in ("running", "ERROR_up")]


def source_configs_path(state_dir, cluster_name):
    return os.path.join(state_dir, "source-%s.config.data" % cluster_name)


# ----------------------------------------------------------------------
# The engine

class InPlaceMerge:
    """One step of an in-place merge, on the target master, through OPS (a NodeOps or a fake).

    SOURCES are the merged clusters as :func:`plan_sources` keeps them.
    """

    def __init__(self, ops, state_dir, target_master, sources=(), group_policy="error", parameter_policy="strict",
                 watcher_pause=3600, shutdown_timeout=120, record=None, files=None, clock=time.time,
                 authorized_key=None, key_added_on=()):
        self.ops = ops
        self.state_dir = state_dir
        self.target_master = target_master
        self.sources = [dict(s) for s in sources]
        self.group_policy = group_policy
        self.parameter_policy = parameter_policy
        self.watcher_pause = watcher_pause
        self.shutdown_timeout = shutdown_timeout
        self.record = record or {}
        self.files = files or LocalFiles()
        self.clock = clock
        self.authorized_key = authorized_key
        self.key_added_on = list(key_added_on)
        self.actions = []
        self.not_reached = []
        self.state = None

    # -- state ---------------------------------------------------------

    @property
    def state_path(self):
        return os.path.join(self.state_dir, STATE_FILE)

    def load_state(self):
        text = self.files.read(self.state_path)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as err:
            raise MergeStepFailed("%s is not valid JSON (%s): move it away after checking what it records"
                                  % (self.state_path, err)) from err

    def save_state(self, phase):
        self.state["phase"] = phase
        self.state.setdefault("history", []).append({"phase": phase, "at": int(self.clock())})
        self._write_state()
        self.actions.append("recorded phase %s in %s" % (phase, self.state_path))

    def _write_state(self):
        self.files.write(self.state_path, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    @property
    def phase(self):
        return (self.state or {}).get("phase", "new")

    def _plan_sources(self):
        return self.state["sources"] if self.state else self.sources

    # -- steps -----------------------------------------------------------

    def run_step(self, step):
        """Run STEP (see :data:`STEPS`); returns ``{"changed", "phase", "actions"}``."""
        if step == "rollback":
            return self.rollback()
        self.state = self.load_state()
        if step == "prepare" and self.state is not None:
            if self.assess() == "resume":
                return self._result(False)
            return self._roll_back_interrupted()
        if step_decision(step, self.phase) == "skip":
            return self._result(False)
        getattr(self, "_" + step)()
        return self._result(True)

    def assess(self):
        """:func:`assess_state` of the loaded state against the clusters as they are now."""
        target = config_identity(json.loads(self.files.read(CONFIG_FILE) or "{}"))
        sources = []
        for source in self.state.get("sources") or []:
            try:
                sources.append(config_identity(json.loads(self.ops.read_file(source["master"], CONFIG_FILE))))
            except (NodeUnreachable, MergeStepFailed, ValueError):
                sources.append(None)
        return assess_state(self.state, self.state_path, target, sources)

    def _result(self, changed, **extra):
        # Not "unreachable": Ansible takes a result with that key for a host it could not reach.
        result = {"changed": changed, "phase": self.phase, "actions": self.actions, "not_reached": self.not_reached}
        result.update(extra)
        return result

    def _roll_back_interrupted(self):
        report = self.rollback()
        message = ("%s recorded an in-place merge interrupted at phase %s, before its point of no return. It was"
                   " rolled back first%s. Run the playbook again to merge the clusters as they are now."
                   % (self.state_path, report["phase_rolled_back"],
                      "" if not report["not_reached"] else
                      ", except on %s, which did not answer" % ", ".join(u["host"] for u in report["not_reached"])))
        raise MergeStepFailed(message, actions=self.actions, not_reached=self.not_reached)

    def _prepare(self):
        target_bytes = self.files.read(CONFIG_FILE)
        target = json.loads(target_bytes)
        self.state = None
        configs = []
        for source in self.sources:
            text = self.ops.read_file(source["master"], CONFIG_FILE)
            configs.append((source, text, json.loads(text)))
        for source, _text_, config in configs:
            if config_identity(config)["cluster_name"] != source["cluster_name"]:
                raise MergeStepFailed("%s holds the configuration of %s, not of %s: check the inventory host of"
                                      " that cluster's master" % (source["master"],
                                                                  config_identity(config)["cluster_name"],
                                                                  source["cluster_name"]))
        # Nothing stops before the configurations are known to merge, as they
        # will be once the running instances are stopped.
        cm.merge(target, [as_stopped(c) for _s, _t, c in configs], group_policy=self.group_policy,
                 parameter_policy=self.parameter_policy, group_maps=[s.get("group_map") or {} for s in self.sources])
        for node in masters_last(self.sources):
            self.ops.check(node, ["true"], "reaching the node")
        self.archive_stale()
        self._write_backups(target_bytes, [(s["cluster_name"], t) for s, t, _c in configs])
        self.state = {
            "format": STATE_FORMAT, "started": int(self.clock()),
            "target": dict(config_identity(target), master=self.target_master),
            "sources": [dict(source, **config_identity(config), running=running_instances(config))
                        for source, _t, config in configs],
            "running": {source["cluster_name"]: running_instances(config) for source, _t, config in configs},
        }
        self.state.update(self.record)
        # Recorded before the first pause: a rollback resumes what was paused.
        self.save_state("prepared")
        self.renew_watcher_pause()
        self._write_state()

    def _stop(self):
        self.renew_watcher_pause()
        for source in self.state["sources"]:
            master, wanted = source["master"], source["running"]
            statuses = self.ops.instance_statuses(master)
            up = still_running(wanted, statuses)
            if up:
                self.ops.check(master, ["gnt-instance", "shutdown", "--force-multiple",
                                        "--timeout=%d" % self.shutdown_timeout] + up,
                               "stopping the instances", timeout=self.shutdown_timeout * 2 + 120)
                left = still_running(up, self.ops.instance_statuses(master))
                if left:
                    raise MergeStepFailed("instances %s of %s still run after their shutdown"
                                          % (", ".join(left), source["cluster_name"]))
                self.actions.append("stopped %s on %s" % (", ".join(up), source["cluster_name"]))
            rc, _out, err = self.ops.run(master, ["gnt-cluster", "deactivate-master-ip", "--yes"])
            self.actions.append("deactivated the master IP of %s%s" % (
                source["cluster_name"], "" if rc == 0 else " (it was not active: %s)" % tail_of(err, 1)))
        for node in masters_last(self.state["sources"]):
            self.ops.check(node, [DAEMON_UTIL, "stop-all"], "stopping the Ganeti daemons")
            self.actions.append("stopped the Ganeti daemons on %s" % node)
        self.ops.check(self.target_master, [DAEMON_UTIL, "stop-master"], "stopping the master daemons")
        self.actions.append("stopped the master daemons of %s" % self.state["target"]["cluster_name"])
        # With every daemon stopped the configurations are final: these
        # backups, and their serial numbers in the state, are what is merged.
        target_bytes = self.files.read(CONFIG_FILE)
        self._refresh_identity(self.state["target"], json.loads(target_bytes), CONFIG_FILE)
        texts = []
        for source in self.state["sources"]:
            text = self.ops.read_file(source["master"], CONFIG_FILE)
            self._refresh_identity(source, json.loads(text), "%s on %s" % (CONFIG_FILE, source["master"]))
            texts.append((source["cluster_name"], text))
        self._write_backups(target_bytes, texts)
        self.save_state("stopped")

    def _refresh_identity(self, recorded, config, where):
        found = config_identity(config)
        if found["uuid"] != recorded["uuid"]:
            raise MergeStepFailed("%s now holds cluster UUID %s, not %s as recorded when the merge began: the"
                                  " cluster was replaced while the merge ran" % (where, found["uuid"],
                                                                                 recorded["uuid"]))
        recorded["serial_no"] = found["serial_no"]

    def _write_backups(self, target_bytes, sources):
        """Back up the target's configuration and the merged clusters' (``[(name, text)]``), replacing older ones."""
        self.files.write(os.path.join(self.state_dir, TARGET_BACKUP), target_bytes)
        for name, text in sources:
            self.files.write(source_configs_path(self.state_dir, name), text)
        self.actions.append("backed up the configurations of %s to %s" % (
            ", ".join([config_identity(json.loads(target_bytes))["cluster_name"]] + [n for n, _t in sources]),
            self.state_dir))

    def _merge(self):
        self.renew_watcher_pause()
        target_path = os.path.join(self.state_dir, TARGET_BACKUP)
        target = json.loads(self.files.read(target_path) or "{}")
        check_backup(target, self.state["target"], target_path)
        sources = []
        for source in self.state["sources"]:
            path = source_configs_path(self.state_dir, source["cluster_name"])
            config = json.loads(self.files.read(path) or "{}")
            check_backup(config, source, path)
            sources.append(config)
        if any(self.ops.daemons_running(self.target_master, ("ganeti-wconfd",)).values()):
            raise MergeStepFailed("ganeti-wconfd runs on %s and owns %s: the master daemons must be stopped"
                                  " before the configuration is replaced" % (self.target_master, CONFIG_FILE))
        merged, report = cm.merge(target, sources, group_policy=self.group_policy,
                                  parameter_policy=self.parameter_policy,
                                  group_maps=[s.get("group_map") or {} for s in self.state["sources"]])
        if merged is not None:
            self.files.replace_config(CONFIG_FILE, cm.dump(merged).encode("utf-8"))
            self.actions.append("merged %s into %s's configuration" % (
                ", ".join(r["cluster"] for r in report["sources"]), report["target"]))
        self.state["merge_warnings"] = report["merge_warnings"]
        self.start_master_without_voting()
        archive = os.path.join(self.state_dir, NODE_ARCHIVE)
        for node in masters_last(self.state["sources"]):
            self.ops.archive_and_clear_identity(node, archive)
            self.actions.append("archived %s's Ganeti state to %s and cleared its old cluster identity"
                                % (node, archive))
        self.save_state("merged")

    def _readd(self):
        if self.phase != "readd":
            self.save_state("readd")
        running = self.ops.daemons_running(self.target_master, ("ganeti-wconfd", "ganeti-luxid"))
        if not all(running.values()):
            self.start_master_without_voting()
        offline = set(self.ops.offline_nodes(self.target_master))
        to_readd = [n for n in masters_last(self.state["sources"]) if n in offline]
        for node in to_readd:
            self.ops.check(self.target_master, ["gnt-node", "add", "--readd", "--no-ssh-key-check", node],
                           "readding %s" % node, timeout=COMMAND_TIMEOUT)
            self.actions.append("readded %s" % node)
        if to_readd or self.ops.voting_disabled(self.target_master):
            self.ops.check(self.target_master, ["gnt-cluster", "redist-conf"], "gnt-cluster redist-conf")
            self.ops.check(self.target_master, [DAEMON_UTIL, "stop-master"], "stopping the master daemons")
            self.ops.check(self.target_master, [DAEMON_UTIL, "start-master"], "starting the master daemons")
            self.ops.wait_for_master(self.target_master)
            self.actions.append("redistributed the configuration and restarted the master daemons with voting")

    def _finish(self):
        self.ops.wait_for_master(self.target_master)
        wanted = [name for names in self.state["running"].values() for name in names]
        to_start = not_running(wanted, self.ops.instance_statuses(self.target_master))
        if to_start:
            self.ops.check(self.target_master, ["gnt-instance", "startup", "--force-multiple"] + to_start,
                           "starting the merged instances", timeout=COMMAND_TIMEOUT * 2)
            self.actions.append("started %s" % ", ".join(to_start))
        self.ops.check(self.target_master, ["gnt-cluster", "watcher", "continue"], "resuming the watcher")
        tags = [s["merged_tag"] for s in self.state["sources"] if s.get("merged_tag")]
        if tags:
            self.ops.check(self.target_master, ["gnt-cluster", "add-tags"] + tags, "tagging the target")
        self.actions.append("resumed the watcher; tagged %s" % ", ".join(tags))
        self.save_state("done")
        self.files.rename(self.state_path, os.path.join(self.state_dir, DONE_FILE))

    # -- pieces ------------------------------------------------------------

    def start_master_without_voting(self):
        # Ganeti 3.0 asks every node, offline ones included, for its vote;
        # the merged nodes are offline until readded.
        self.ops.check(self.target_master, [DAEMON_UTIL, "start-master"], "starting the master daemons without voting",
                       env={"EXTRA_WCONFD_ARGS": "--no-voting --yes-do-it",
                            "EXTRA_LUXID_ARGS": "--no-voting --yes-do-it"})
        self.ops.wait_for_master(self.target_master)
        self.actions.append("started the master daemons of %s without voting" % self.target_master)

    def renew_watcher_pause(self):
        """Pause every watcher for watcher_pause seconds from now (renewed at every step)."""
        now = self.clock()
        target_up = all(self.ops.daemons_running(self.target_master, ("ganeti-luxid",)).values())
        self.ops.pause_watcher(self.target_master, self.watcher_pause, not target_up, now)
        stopped = phase_index(self.phase) >= phase_index("stopped")
        for source in self.state["sources"]:
            for node in (masters_last([source]) if stopped else [source["master"]]):
                self.ops.pause_watcher(node, self.watcher_pause, stopped, now)
        self.state["watcher_paused_until"] = int(now + self.watcher_pause)

    def _archive_path(self):
        return os.path.join(self.state_dir, ARCHIVE_DIR, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock())))

    def archive_stale(self):
        """Move what an earlier (finished or rolled-back) run left in the state directory to archive/STAMP."""
        stale = [name for name in self.files.listdir(self.state_dir)
                 if name != ARCHIVE_DIR and not name.startswith(".")]
        if not stale:
            return
        destination = self._archive_path()
        for name in stale:
            self.files.rename(os.path.join(self.state_dir, name), os.path.join(destination, name))
        self.actions.append("archived %s from an earlier run to %s" % (", ".join(sorted(stale)), destination))

    # -- rollback ------------------------------------------------------------

    def rollback(self):
        """Undo a run that has not reached the point of no return, from whatever step it reached.

        Every action checks first whether it is needed; a node that does not
        answer is skipped and reported. The state file goes to the archive
        once everything was reached; otherwise it stays, and the next run
        rolls back again first.
        """
        self.state = self.load_state()
        if self.state is None:
            return self._result(False, rolled_back=False, phase_rolled_back="new",
                                message="nothing to roll back: the merge stopped before it recorded any state,"
                                        " no cluster was changed")
        phase = self.phase
        if not before_point_of_no_return(phase):
            return self._result(False, rolled_back=False, phase_rolled_back=phase,
                                message="the merge is past its point of no return (phase %s): it is not rolled"
                                        " back; run the playbook again to finish it" % phase)
        try:
            self.assess()
        except MergeStepFailed as err:
            # Backups of another incarnation must never be restored.
            return self._result(False, rolled_back=False, phase_rolled_back=phase, message=str(err))
        self._restore_target()
        sources = self.state["sources"]
        for node in masters_last(sources):
            self._guarded(node, self._restore_node, node)
        for source in sources:
            self._guarded(source["master"], self._restore_cluster, source)
        self._guarded(self.target_master, self.ops.check, self.target_master,
                      ["gnt-cluster", "watcher", "continue"], "resuming the watcher")
        # Last: the engine reaches the nodes with this very key.
        for node in self.key_added_on if self.authorized_key else ():
            if self._guarded(node, self.ops.remove_authorized_key, node, self.authorized_key):
                self.actions.append("removed the target master's key from %s, where this run had added it" % node)
        if not self.not_reached:
            self.state["rolled_back"] = int(self.clock())
            self._write_state()
            self.files.rename(self.state_path, os.path.join(self._archive_path(), STATE_FILE + ".rolled-back"))
            self.actions.append("archived the rolled-back run's state")
        return self._result(True, rolled_back=not self.not_reached, phase_rolled_back=phase,
                            message=self._rollback_message(phase))

    def _rollback_message(self, phase):
        names = ", ".join(s["cluster_name"] for s in self.state["sources"])
        if not self.not_reached:
            return ("rolled back from phase %s: %s's configuration and master daemons as before; %s's daemons,"
                    " master IP addresses and instances that ran started again; watchers resumed"
                    % (phase, self.state["target"]["cluster_name"], names))
        return ("rolled back from phase %s, except on %s, which did not answer or failed (%s): bring them back and"
                " run the playbook again, it finishes the rollback first (%s stays until then)"
                % (phase, ", ".join(u["host"] for u in self.not_reached),
                   "; ".join(u["error"] for u in self.not_reached), self.state_path))

    def _guarded(self, host, func, *args):
        if any(u["host"] == host for u in self.not_reached):
            return None
        try:
            return func(*args)
        except (NodeUnreachable, MergeStepFailed) as err:
            # The rollback goes on with the other hosts; this one is reported.
            self.not_reached.append({"host": host, "error": str(err)})
            return None

    def _restore_target(self):
        master = self.target_master
        backup_path = os.path.join(self.state_dir, TARGET_BACKUP)
        backup = self.files.read(backup_path)
        current = self.files.read(CONFIG_FILE)
        restart = False
        # Only the merge step writes the target's configuration, and the stop
        # step takes the backup it starts from: before that the target's own
        # changes since 'prepare' are in config.data and must stay.
        if self.phase != "prepared" and backup is not None and current != backup:
            check_backup(json.loads(backup), self.state["target"], backup_path)
            self.ops.check(master, [DAEMON_UTIL, "stop-master"], "stopping the master daemons")
            self.files.replace_config(CONFIG_FILE, backup.encode("utf-8") if isinstance(backup, str) else backup)
            self.actions.append("restored %s's configuration from %s" % (master, backup_path))
            restart = True
        running = self.ops.daemons_running(master, MASTER_DAEMONS)
        if restart or not all(running.values()) or self.ops.voting_disabled(master):
            self.ops.check(master, [DAEMON_UTIL, "stop-master"], "stopping the master daemons")
            self.ops.check(master, [DAEMON_UTIL, "start-master"], "starting the master daemons")
            self.ops.wait_for_master(master)
            self.actions.append("restarted the master daemons of %s" % self.state["target"]["cluster_name"])

    def _restore_node(self, node):
        archive = os.path.join(self.state_dir, NODE_ARCHIVE)
        out = self.ops.restore_node(node, archive)
        if "restored" in out:
            self.actions.append("restored %s's ssconf and server.pem from %s" % (node, archive))
        if "started" in out:
            self.actions.append("started the Ganeti daemons on %s" % node)

    def _restore_cluster(self, source):
        master = source["master"]
        self.ops.wait_for_master(master)
        rc, _out, _err = self.ops.run(master, ["gnt-cluster", "activate-master-ip"])
        if rc == 0:
            self.actions.append("activated the master IP of %s" % source["cluster_name"])
        # Before the instances: one that cannot start must not keep the watcher paused.
        self.ops.check(master, ["gnt-cluster", "watcher", "continue"], "resuming the watcher")
        to_start = not_running(source.get("running") or [], self.ops.instance_statuses(master))
        if to_start:
            self.ops.check(master, ["gnt-instance", "startup", "--force-multiple"] + to_start,
                           "starting the instances", timeout=COMMAND_TIMEOUT * 2)
            self.actions.append("started %s on %s" % (", ".join(to_start), source["cluster_name"]))
