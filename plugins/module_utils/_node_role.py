# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internal use only: node roles and flags, a model of Ganeti's rules and the planning of changes.

Pure functions, no I/O. The rules are those of Ganeti 3.0's
``LUNodeSetParams`` and of the configuration's candidate pool:

* a node's role comes from three mutually exclusive flags,
  ``master_candidate``, ``drained`` and ``offline``;
* the master's role can only change by a master failover;
* demoting a master candidate (to regular, drained or offline, or by
  ``master_capable=false``) is refused when the remaining candidates would be
  fewer than ``min(candidate_pool_size, eligible nodes)``, unless
  ``auto_promote`` is given (``force`` does not help); with ``auto_promote``
  Ganeti promotes other eligible nodes afterwards;
* leaving ``drained`` or ``offline`` (and becoming master capable) promotes the
  node itself to master candidate when the pool is short, even when the node
  is not master capable (ganeti/ganeti#1682);
* ``vm_capable=false`` is refused while the node holds instances.

:func:`next_step` decides the next change towards the wanted state from the
current state; the module applies it, reads the cluster back and asks again,
so every surprise of Ganeti (an auto-promotion, #1682) is corrected by the
following step. :func:`plan` runs the same loop on a model of the cluster
(:func:`simulate`), for check mode and for refusing early.
"""

from __future__ import annotations

import copy

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

MASTER = "master"
MASTER_CANDIDATE = "master-candidate"
REGULAR = "regular"
DRAINED = "drained"
OFFLINE = "offline"

#: Roles a module can ask for (the master role only comes by a failover).
ROLES = (MASTER_CANDIDATE, REGULAR, DRAINED, OFFLINE)

#: One-letter codes of the node query field ``role``.
ROLE_LETTERS = {"M": MASTER, "C": MASTER_CANDIDATE, "R": REGULAR, "D": DRAINED, "O": OFFLINE}

#: Role -> (master_candidate, drained, offline), as Ganeti stores it.
ROLE_FLAGS = {
    MASTER_CANDIDATE: (True, False, False),
    REGULAR: (False, False, False),
    DRAINED: (False, True, False),
    OFFLINE: (False, False, True),
}

#: Body of ``POST /2/nodes/NAME/modify`` equivalent to ``PUT /2/nodes/NAME/role``
#: (``R_2_nodes_name_role.GetPutOpInput``): ``None`` leaves a flag alone.
ROLE_MODIFY_BODY = {
    MASTER_CANDIDATE: {"master_candidate": True},
    REGULAR: {"master_candidate": False, "drained": False, "offline": False},
    DRAINED: {"drained": True},
    OFFLINE: {"offline": True},
}

MASTER_FAILOVER_HINT = (
    "the master's role can only change by a master failover: run 'gnt-cluster master-failover' on "
    "the master candidate that should take over (module ganeti.fleet.master_failover, which runs "
    "there over SSH), then manage this node's role")


class NodeRoleError(FleetError):
    """A request Ganeti would refuse, or one that cannot be reached; the message says why."""


def role_of(node):
    """Role name of a node dict from ``GET /2/nodes?bulk=1`` (or a model node)."""
    letter = node.get("role")
    if letter in ROLE_LETTERS:
        return ROLE_LETTERS[letter]
    if letter in ROLE_LETTERS.values():
        return letter
    if node.get("offline"):
        return OFFLINE
    if node.get("drained"):
        return DRAINED
    if node.get("master_candidate"):
        return MASTER_CANDIDATE
    return REGULAR


def model_node(node, master=None):
    """Reduce a RAPI node dict to what the rules need."""
    role = role_of(node)
    is_master = role == MASTER or (master is not None and node.get("name") == master)
    if is_master:
        role = MASTER
    flags = ROLE_FLAGS.get(role, (True, False, False))
    instances = list(node.get("pinst_list") or []) + list(node.get("sinst_list") or [])
    if not instances and (node.get("pinst_cnt") or node.get("sinst_cnt")):
        instances = ["(%d instances)" % ((node.get("pinst_cnt") or 0) + (node.get("sinst_cnt") or 0))]
    return {
        "name": node.get("name"),
        "role": role,
        "master": is_master,
        "master_candidate": flags[0],
        "drained": flags[1],
        "offline": flags[2],
        "master_capable": bool(node.get("master_capable", True)),
        "vm_capable": bool(node.get("vm_capable", True)),
        "instances": instances,
    }


def model_cluster(nodes, master=None):
    """Model of the cluster's nodes: name -> :func:`model_node`."""
    return dict((node["name"], model_node(node, master)) for node in nodes)


def view(node):
    """What the module reports and diffs for one node."""
    return {"role": node["role"], "master_capable": node["master_capable"],
            "vm_capable": node["vm_capable"]}


def pool_stats(cluster, pool_size, exclude=()):
    """``(mc_now, mc_should, mc_max)`` like ``ConfigWriter.GetMasterCandidateStats``.

    The master counts as a candidate. Eligible nodes are master capable and
    neither drained nor offline.
    """
    mc_now = mc_max = 0
    for name, node in cluster.items():
        if name in exclude:
            continue
        if node["master_capable"] and not (node["offline"] or node["drained"]):
            mc_max += 1
        if node["master_candidate"]:
            mc_now += 1
    mc_should = mc_max if pool_size is None else min(mc_max, pool_size)
    return mc_now, mc_should, mc_max


def demotion_short(cluster, name, pool_size):
    """``(short, remaining, should)``: would demoting NAME leave the pool short?

    Ganeti refuses such a demotion without ``auto_promote``.
    """
    remaining, should = pool_stats(cluster, pool_size, exclude=(name,))[:2]
    return remaining < should, remaining, should


def self_promotes(cluster, pool_size):
    """``_DecideSelfPromotion``: would a node leaving drained/offline promote itself?

    Called with the node still drained or offline (so it is not counted as
    eligible). Ganeti does not look at the node's ``master_capable`` flag here
    (ganeti/ganeti#1682).
    """
    mc_now, mc_should = pool_stats(cluster, pool_size)[:2]
    mc_should = mc_should + 1 if pool_size is None else min(mc_should + 1, pool_size)
    return mc_now < mc_should


def _eligible_for_promotion(node, exclude):
    return not (node["master_candidate"] or node["offline"] or node["drained"]
                or node["name"] in exclude or not node["master_capable"])


def _set_role(node, role):
    node["role"] = role
    node["master_candidate"], node["drained"], node["offline"] = ROLE_FLAGS[role]


def simulate(cluster, step, pool_size):
    """Apply STEP to a copy of the model as Ganeti would; return the new model.

    ``AdjustCandidatePool`` promotes random eligible nodes; the model promotes
    them in name order, which is enough to predict the target node's state.
    """
    cluster = copy.deepcopy(cluster)
    node = cluster[step["node"]]
    op = dict(step["op"])
    auto_promote = bool(step.get("auto_promote"))
    was_candidate = node["master_candidate"]
    might_demote = (op.get("master_candidate") is False or op.get("offline") is True
                    or op.get("drained") is True or op.get("master_capable") is False)
    # Ineffective "unset" requests are dropped, like Ganeti does.
    for flag in ("master_candidate", "drained", "offline"):
        if op.get(flag) is False and not node[flag]:
            op[flag] = None
    promote_self = False
    if op.get("drained") is False or op.get("offline") is False or (
            op.get("master_capable") and not node["master_capable"]):
        others = dict(cluster)
        promote_self = self_promotes(others, pool_size)
    if promote_self:
        op["master_candidate"] = True
    if op.get("master_capable") is False and node["master_candidate"]:
        op["master_candidate"] = False
    if op.get("master_candidate"):
        new_role = MASTER_CANDIDATE
    elif op.get("drained"):
        new_role = DRAINED
    elif op.get("offline"):
        new_role = OFFLINE
    elif False in (op.get("master_candidate"), op.get("drained"), op.get("offline")):
        new_role = REGULAR
    else:
        new_role = node["role"]
    for flag in ("master_capable", "vm_capable"):
        if op.get(flag) is not None:
            node[flag] = bool(op[flag])
    if new_role != node["role"]:
        _set_role(node, new_role)
        if auto_promote and was_candidate and might_demote:
            mc_now, mc_should = pool_stats(cluster, pool_size, exclude=(node["name"],))[:2]
            for name in sorted(cluster):
                if mc_now >= mc_should:
                    break
                other = cluster[name]
                if _eligible_for_promotion(other, (node["name"],)):
                    _set_role(other, MASTER_CANDIDATE)
                    mc_now += 1
    return cluster


def check_request(node, wanted):
    """Refusals known before anything is sent; returns a list of messages.

    :param node: the model node (see :func:`model_node`).
    :param wanted: dict with ``role``, ``master_capable`` and ``vm_capable``
        (``None`` for "leave alone").
    """
    name = node["name"]
    problems = []
    role = wanted.get("role")
    if node["master"]:
        if role is not None:
            problems.append("node %s is the master; %s" % (name, MASTER_FAILOVER_HINT))
        if wanted.get("master_capable") is False:
            problems.append("node %s is the master, which must remain master capable "
                            "(fail the master over to another node first)" % name)
    if role == MASTER_CANDIDATE and wanted.get("master_capable") is False:
        problems.append("node %s cannot be a master candidate with master_capable=false" % name)
    elif role == MASTER_CANDIDATE and not node["master_capable"] and wanted.get("master_capable") is None:
        problems.append("node %s is not master capable, so it cannot become a master candidate; "
                        "set master_capable: true as well" % name)
    if wanted.get("vm_capable") is False and node["vm_capable"] and node["instances"]:
        problems.append("node %s hosts instances (%s), so Ganeti refuses vm_capable=false; move "
                        "them off first (for example with ganeti.fleet.node_evacuate)"
                        % (name, ", ".join(sorted(node["instances"]))))
    return problems


def _demotion_error(cluster, name, pool_size, what):
    remaining, should = demotion_short(cluster, name, pool_size)[1:]
    eligible = pool_stats(cluster, pool_size)[2]
    return NodeRoleError(
        "%s would leave %d master candidate(s) where the candidate pool needs %d "
        "(candidate_pool_size %s, %d eligible node(s)); Ganeti refuses that without auto-promotion "
        "(its force option does not help). Set auto_promote: true to let Ganeti promote another "
        "node, or promote one first" % (what, remaining, should, pool_size, eligible))


def next_step(cluster, name, wanted, pool_size, auto_promote):
    """The next change that brings NAME closer to WANTED, or ``None`` when there.

    A step is a dict: ``kind`` (``role`` for ``PUT /2/nodes/NAME/role``,
    ``modify`` for ``POST /2/nodes/NAME/modify``), ``node``, ``op`` (the
    opcode fields), ``role`` (for ``role`` steps), ``auto_promote`` and
    ``reason`` (a sentence for the module's ``actions``).

    :raises NodeRoleError: when the next change is one Ganeti would refuse.
    """
    node = cluster[name]
    role = wanted.get("role")
    master_capable = wanted.get("master_capable")
    vm_capable = wanted.get("vm_capable")
    pending_vm = vm_capable is not None and vm_capable != node["vm_capable"]

    # One flag per request: Ganeti refuses an opcode setting more than one
    # field to true ("Can't set the node into more than one state at the same
    # time" also counts master_capable and vm_capable).
    if master_capable is True and not node["master_capable"]:
        return _step("modify", name, {"master_capable": True}, False, "set master_capable=true")

    if role is not None and not node["master"] and node["role"] != role:
        demotes = node["master_candidate"] and role != MASTER_CANDIDATE
        short = demotes and demotion_short(cluster, name, pool_size)[0]
        if short and not auto_promote:
            raise _demotion_error(cluster, name, pool_size,
                                  "Changing node %s from %s to %s" % (name, node["role"], role))
        if role == MASTER_CANDIDATE and not node["master_capable"]:
            raise NodeRoleError("node %s is not master capable, so it cannot become a master "
                                "candidate; set master_capable: true as well" % name)
        if node["role"] == MASTER_CANDIDATE and role == REGULAR and not node["master_capable"]:
            return _step("modify", name, {"master_candidate": False}, short,
                         "demote from master-candidate: the node is not master capable "
                         "(Ganeti promoted it anyway, ganeti/ganeti#1682)")
        if node["role"] == MASTER_CANDIDATE and role == REGULAR:
            reason = "demote from master-candidate to regular"
        else:
            reason = "change role from %s to %s" % (node["role"], role)
        return _step("role", name, dict(ROLE_MODIFY_BODY[role]), short, reason, role=role)

    if (node["master_candidate"] and not node["master"] and not node["master_capable"]
            and (role is not None or master_capable is not None)):
        # ganeti/ganeti#1682: Ganeti promoted a node that is not master capable.
        short = demotion_short(cluster, name, pool_size)[0]
        if short and not auto_promote:
            raise _demotion_error(cluster, name, pool_size,
                                  "Demoting node %s (promoted although not master capable, "
                                  "ganeti/ganeti#1682)" % name)
        return _step("modify", name, {"master_candidate": False}, short,
                     "demote from master-candidate: the node is not master capable "
                     "(Ganeti promoted it anyway, ganeti/ganeti#1682)")

    if master_capable is False and node["master_capable"]:
        if node["master"]:
            raise NodeRoleError("node %s is the master, which must remain master capable" % name)
        short = node["master_candidate"] and demotion_short(cluster, name, pool_size)[0]
        if short and not auto_promote:
            raise _demotion_error(cluster, name, pool_size,
                                  "Setting master_capable=false on master candidate %s" % name)
        return _step("modify", name, {"master_capable": False}, short, "set master_capable=false")

    if pending_vm:
        if vm_capable is False and node["instances"]:
            raise NodeRoleError("node %s hosts instances (%s), so Ganeti refuses vm_capable=false"
                                % (name, ", ".join(sorted(node["instances"]))))
        return _step("modify", name, {"vm_capable": vm_capable}, False,
                     "set vm_capable=%s" % str(vm_capable).lower())
    return None


def _step(kind, name, op, auto_promote, reason, role=None):
    step = {"kind": kind, "node": name, "op": op, "auto_promote": bool(auto_promote), "reason": reason}
    if role is not None:
        step["role"] = role
    return step


#: Most steps a change can need: master capable, role, demotion after an
#: auto-promotion, #1682 fix, master capable off, vm capable; plus slack.
MAX_STEPS = 8


def plan(cluster, name, wanted, pool_size, auto_promote):
    """Steps from the current model to WANTED, and the predicted model afterwards.

    :returns: ``(steps, predicted_cluster)``.
    :raises NodeRoleError: for requests Ganeti would refuse.
    """
    if name not in cluster:
        raise NodeRoleError("unknown node %s" % name)
    problems = check_request(cluster[name], wanted)
    if problems:
        raise NodeRoleError("; ".join(problems))
    steps = []
    current = cluster
    while True:
        step = next_step(current, name, wanted, pool_size, auto_promote)
        if step is None:
            return steps, current
        steps.append(step)
        if len(steps) > MAX_STEPS:
            raise NodeRoleError("node %s: no plan reaches %s within %d changes"
                                % (name, describe_wanted(wanted), MAX_STEPS))
        current = simulate(current, step, pool_size)


def describe_wanted(wanted):
    parts = []
    if wanted.get("role") is not None:
        parts.append("role %s" % wanted["role"])
    for flag in ("master_capable", "vm_capable"):
        if wanted.get(flag) is not None:
            parts.append("%s=%s" % (flag, str(wanted[flag]).lower()))
    return ", ".join(parts) or "its current state"


def reached(node, wanted):
    """Whether a model node is in the WANTED state."""
    if wanted.get("role") is not None and not node["master"] and node["role"] != wanted["role"]:
        return False
    for flag in ("master_capable", "vm_capable"):
        if wanted.get(flag) is not None and node[flag] != wanted[flag]:
            return False
    return not (node["master_candidate"] and not node["master"] and not node["master_capable"]
                and (wanted.get("role") is not None or wanted.get("master_capable") is not None))


def role_changes(before, after, exclude=()):
    """Other nodes whose role changed between two models (auto-promotions)."""
    changes = []
    for name in sorted(after):
        if name in exclude or name not in before:
            continue
        if before[name]["role"] != after[name]["role"]:
            changes.append({"name": name, "before": before[name]["role"], "after": after[name]["role"]})
    return changes


def modify_body(step):
    """Body of ``POST /2/nodes/NAME/modify`` for STEP.

    Role steps go through ``PUT /2/nodes/NAME/role``, which has no dry run
    (Ganeti ignores its ``dry-run`` query argument and makes the change);
    their dry run is this request instead: the same opcode with the same
    flags.
    """
    body = dict(step["op"])
    if step["auto_promote"]:
        body["auto_promote"] = True
    return body
