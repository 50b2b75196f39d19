# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Common ground of the two-cluster move modules (``instance_move``, ``instance_move_plan``)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils.connection import rapi_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    RapiClient,
)

REQUEST_KEYS = ("name", "new_name", "primary_node", "secondary_node", "iallocator", "group",
                "disk_template", "beparams", "hvparams", "osparams", "nics", "link_map", "network_map",
                "compress", "source_policy", "start")


def connection_spec(env_prefix):
    """The RAPI connection options as suboptions, each with its own environment variable."""
    spec = {}
    for key, option in rapi_argument_spec().items():
        option = dict(option)
        option.pop("required", None)
        if "fallback" in option:
            names = [name.replace("GANETI_RAPI_", env_prefix) for name in option["fallback"][1]]
            option["fallback"] = (env_fallback, names)
        spec[key] = option
    return spec


def move_argument_spec():
    """The options of the ``move`` doc fragment."""
    return dict(
        source=dict(type="dict", required=True, options=connection_spec("GANETI_SOURCE_RAPI_")),
        destination=dict(type="dict", required=True, options=connection_spec("GANETI_DEST_RAPI_")),
        name=dict(type="str", required=True),
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
        source_policy=dict(type="str", default="remove", choices=["remove", "keep"]),
        start=dict(type="bool"),
    )


class MoveModule(AnsibleModule):
    """An AnsibleModule talking to a source and a destination cluster."""

    def __init__(self, argument_spec, **kwargs):
        spec = move_argument_spec()
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, supports_check_mode=True, **kwargs)
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    def request(self):
        return {key: self.params[key] for key in REQUEST_KEYS}

    def clients(self):
        """(source, destination) RapiClients; the caller closes them."""
        agent = "ganeti.fleet/%s" % getattr(self, "_name", "move")
        return (RapiClient.from_options(self.params["source"], user_agent=agent),
                RapiClient.from_options(self.params["destination"], user_agent=agent))
