# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The RAPI connection options, defined once.

:func:`rapi_argument_spec` is the flat form of the single-cluster modules;
:func:`connection_suboptions` the form of a dict option (``source``,
``destination``, ``target``, ``sources``) with its own environment variables.
The ``rapi`` doc fragment documents both, and the inventory plugin reads the
same names; a unit test keeps them in step.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

DEFAULT_PORT = 5080
DEFAULT_TIMEOUT = 60

#: Prefix of the environment variables of the flat connection options.
ENV_PREFIX = "GANETI_RAPI_"


def rapi_argument_spec():
    """Return the connection options shared by every RAPI module.

    Each option falls back to an environment variable, so the same
    credentials work for modules, roles and inventory sources.
    """
    return dict(
        rapi_url=dict(type="str", required=True, fallback=(env_fallback, ["GANETI_RAPI_URL"])),
        rapi_user=dict(type="str", fallback=(env_fallback, ["GANETI_RAPI_USER"])),
        rapi_password=dict(type="str", no_log=True, fallback=(env_fallback, ["GANETI_RAPI_PASSWORD"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["GANETI_RAPI_CA_PATH"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["GANETI_RAPI_VALIDATE_CERTS"])),
        verify_hostname=dict(type="bool", default=True, fallback=(env_fallback, ["GANETI_RAPI_VERIFY_HOSTNAME"])),
        timeout=dict(type="int", default=DEFAULT_TIMEOUT, fallback=(env_fallback, ["GANETI_RAPI_TIMEOUT"])),
    )


#: Option names understood by :meth:`RapiClient.from_options`.
RAPI_OPTION_NAMES = tuple(rapi_argument_spec())


def connection_suboptions(env_prefix):
    """The connection options as suboptions, each falling back to ``env_prefix + NAME``.

    ``env_prefix`` replaces ``GANETI_RAPI_``, for example ``GANETI_SOURCE_RAPI_``.
    ``rapi_url`` is not required here: a missing URL is reported by the client.
    """
    spec = {}
    for key, option in rapi_argument_spec().items():
        option = dict(option)
        option.pop("required", None)
        names = [name.replace(ENV_PREFIX, env_prefix) for name in option["fallback"][1]]
        option["fallback"] = (env_fallback, names)
        spec[key] = option
    return spec
