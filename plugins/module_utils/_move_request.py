# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inter-cluster moves: the options of a move, its identity and its error. Internal use only.

:data:`MOVE_OPTIONS` defines the options of a move request, once, for the
modules' options and for their ``request`` dict (:func:`move_request`);
:func:`describe_move` gives a move its identity (:func:`move_id`), which is
how a re-run finds what an earlier run left.
"""

from __future__ import annotations

import copy
import hashlib
from contextlib import contextmanager

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ganeti.fleet.plugins.module_utils.connection import connection_suboptions
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

SOURCE_POLICIES = ("remove", "keep")

#: How a move's disks travel: ``direct`` node to node (``_move_content.DirectTransfer``),
#: ``ganeti`` with Ganeti's own remote export and import.
TRANSFER_METHODS = ("direct", "ganeti")
#: What the commit of a move rests on: ``content``, every disk's digest on both clusters;
#: ``metadata``, Ganeti's job results, disk sizes and logs (``ganeti`` transfers only).
VERIFY_MODES = ("content", "metadata")

#: The options of one move request, as argument specs. The modules
#: ``instance_move`` and ``instance_move_plan`` take each as an option and all
#: of them in their ``request`` dict; the ``move`` doc fragment documents them.
MOVE_OPTIONS = dict(
    name=dict(type="str"),
    new_name=dict(type="str"),
    primary_node=dict(type="str"),
    secondary_node=dict(type="str"),
    iallocator=dict(type="str"),
    group=dict(type="str"),
    disk_template=dict(type="str"),
    beparams=dict(type="dict"),
    hvparams=dict(type="dict"),
    osparams=dict(type="dict"),
    nics=dict(type="list", elements="dict"),
    link_map=dict(type="dict"),
    network_map=dict(type="dict"),
    compress=dict(type="str", default="none"),
    source_policy=dict(type="str", default="remove", choices=list(SOURCE_POLICIES)),
    start=dict(type="bool"),
    transfer=dict(type="str", default="direct", choices=list(TRANSFER_METHODS)),
    verify=dict(type="str", default="content", choices=list(VERIFY_MODES)),
)

#: The keys of a move request.
REQUEST_KEYS = tuple(MOVE_OPTIONS)


class MoveError(FleetError):
    """A move cannot go on; the message names the object, the cause and the fix.

    :param plan: the plan whose pre-flight failed (the failed task's ``plan``).
    """

    def __init__(self, message, plan=None, **details):
        if plan is not None:
            details["plan"] = plan
        super().__init__(message, **details)
        self.plan = plan

    def of_move(self, name):
        """This error as the failure of the move of NAME (its message says which move)."""
        return MoveError("move of %s: %s" % (name, self.message), **self.details)


@contextmanager
def move_of(name):
    """Let every :class:`MoveError` raised inside say that it stopped the move of NAME."""
    try:
        yield
    except MoveError as exc:
        raise exc.of_move(name) from None


def move_argument_spec(**extra):
    """The options of the ``move`` doc fragment, and EXTRA (the module's own)."""
    spec = dict(
        source=dict(type="dict", required=True, options=connection_suboptions("GANETI_SOURCE_RAPI_")),
        destination=dict(type="dict", required=True, options=connection_suboptions("GANETI_DEST_RAPI_")),
        request=dict(type="dict"),
    )
    spec.update(copy.deepcopy(MOVE_OPTIONS))
    spec.update(extra)
    return spec


def move_request(params):
    """The request of one move: the module's move options, overridden by the keys of its ``request``.

    The ``request`` keys are checked against :data:`MOVE_OPTIONS` (names,
    types and choices) as Ansible checks options.
    """
    given = params.get("request") or {}
    name = given.get("name") or params.get("name")
    unknown = sorted(set(given) - set(MOVE_OPTIONS))
    if unknown:
        raise MoveError("the request of the move of %s has unknown option(s) %s; the options of a move are: %s"
                        % (name or "an instance", ", ".join(unknown), ", ".join(REQUEST_KEYS)))
    checked = ArgumentSpecValidator(MOVE_OPTIONS).validate(given)
    if checked.error_messages:
        raise MoveError("the request of the move of %s is not valid: %s"
                        % (name or "an instance", "; ".join(checked.error_messages)))
    request = {key: params.get(key) for key in REQUEST_KEYS}
    request.update((key, checked.validated_parameters[key]) for key in given)
    if not request["name"]:
        raise MoveError("no instance to move: give its name as the option name or as the key name of request")
    if request.get("transfer") == "direct" and request.get("verify") == "metadata":
        raise MoveError("the move of %s asks for transfer: direct with verify: metadata; the direct transfer "
                        "always compares the digests of both ends: leave verify at content, or use "
                        "transfer: ganeti" % request["name"])
    return request


def move_id(source_cluster, source_name, destination_cluster, destination_name):
    """Stable identifier of one move (same request, same id: that is how a re-run finds it)."""
    text = "\0".join([source_cluster, source_name, destination_cluster, destination_name])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def destination_name(request):
    return request.get("new_name") or request["name"]


def describe_move(request, source_cluster, destination_cluster):
    """The identity of one move: its id, clusters, names, source policy and start."""
    dst_name = destination_name(request)
    return {
        "id": move_id(source_cluster, request["name"], destination_cluster, dst_name),
        "source_cluster": source_cluster,
        "source_name": request["name"],
        "destination_cluster": destination_cluster,
        "destination_name": dst_name,
        "source_policy": request.get("source_policy") or "remove",
        "start": request.get("start"),
        "transfer": request.get("transfer") or "direct",
        "verify": request.get("verify") or "content",
        "compress": request.get("compress") or "none",
    }


def listed_requests(instances, defaults=None):
    """``[{"host", "request"}]``: one move per entry of the playbook's list INSTANCES, over DEFAULTS.

    An entry is an instance name or a dict with ``name`` and move options;
    DEFAULTS (a dict) gives the options of every entry, an entry's own keys
    win. Only what one host per move needs is checked here: the entries'
    shape, and that no instance and no destination name is listed twice
    (two hosts would move the same instance, or race for one name). Each
    request's options are checked by the module, so that an unknown key fails
    only the move it belongs to.
    """
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, dict):
        raise MoveError("move_defaults must be a dict of move options, not %s" % type(defaults).__name__)
    if isinstance(instances, (str, bytes, dict)) or not isinstance(instances, (list, tuple)) or not instances:
        raise MoveError("move_instances must be a non-empty list of instance names, or of dicts with the key "
                        "name and move options; got %r" % (instances,))
    listed, sources, destinations = [], {}, {}
    for index, entry in enumerate(instances):
        where = "move_instances[%d]" % index
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise MoveError("%s is %r: give an instance name, or a dict with the key name (the instance) and "
                            "move options" % (where, entry))
        request = dict(defaults)
        request.update(entry)
        name, new_name = request["name"], request.get("new_name") or request["name"]
        for seen, key, what in ((sources, name, "the instance"), (destinations, new_name, "the destination name")):
            if key in seen:
                raise MoveError("%s and %s both list %s %s: list each move once" % (seen[key], where, what, key))
            seen[key] = where
        listed.append({"host": "move_" + name, "request": request})
    return listed
