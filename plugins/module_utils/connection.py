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

import os
from urllib.parse import urlsplit

from ansible.module_utils.errors import AnsibleFallbackNotFound

DEFAULT_PORT = 5080
DEFAULT_TIMEOUT = 60

#: Prefix of the environment variables of the flat connection options.
ENV_PREFIX = "GANETI_RAPI_"

#: Largest file that is read to see whether it is blank (a CA certificate is
#: larger than any file of white space a template writes).
_BLANK_FILE_LIMIT = 4096


def given_ca_path(path):
    """PATH as a CA file that was given, or None when it says "no CA file": the default trust.

    The rule: an empty value, and a file that exists but holds nothing but
    white space, mean that no CA file was given. A credential store that
    writes every file it knows (AWX writes a file for each file injector,
    also for an empty input) then leaves the default trust in place instead
    of failing on the empty file (OpenSSL's NO_CERTIFICATE_OR_CRL_FOUND).
    A path that does not exist, cannot be read or is not empty is returned
    as given, so that its error names it.
    """
    if path is None or not str(path).strip():
        return None
    local = os.path.expanduser(str(path))
    try:
        if os.path.isfile(local) and os.path.getsize(local) <= _BLANK_FILE_LIMIT:
            with open(local, "rb") as handle:
                if not handle.read().strip():
                    return None
    except OSError:
        pass
    return path


def connection_env_fallback(*names):
    """The value of the first of the environment variables NAMES that is set and not empty.

    An empty variable counts as not set: a credential store that injects
    every variable it defines (AWX does) sets optional ones to "" when their
    input is empty, and "" is no URL, user, password, boolean or number.
    """
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def ca_path_env_fallback(*names):
    """:func:`connection_env_fallback` for ``ca_path``: a blank CA file counts as not set (:func:`given_ca_path`)."""
    value = given_ca_path(connection_env_fallback(*names))
    if value is None:
        raise AnsibleFallbackNotFound
    return value


def rapi_argument_spec():
    """Return the connection options shared by every RAPI module.

    Each option falls back to an environment variable, so the same
    credentials work for modules, roles and inventory sources.
    """
    return dict(
        rapi_url=dict(type="str", required=True, fallback=(connection_env_fallback, ["GANETI_RAPI_URL"])),
        rapi_user=dict(type="str", fallback=(connection_env_fallback, ["GANETI_RAPI_USER"])),
        rapi_password=dict(type="str", no_log=True, fallback=(connection_env_fallback, ["GANETI_RAPI_PASSWORD"])),
        ca_path=dict(type="path", fallback=(ca_path_env_fallback, ["GANETI_RAPI_CA_PATH"])),
        # The two options that give up protection have no environment
        # variable: they are visible in the task or inventory that sets them,
        # never inherited from a shell, a CI job or an AWX credential.
        validate_certs=dict(type="bool", default=True),
        verify_hostname=dict(type="bool", default=True,
                             fallback=(connection_env_fallback, ["GANETI_RAPI_VERIFY_HOSTNAME"])),
        timeout=dict(type="int", default=DEFAULT_TIMEOUT, fallback=(connection_env_fallback, ["GANETI_RAPI_TIMEOUT"])),
        allow_plain_http=dict(type="bool", default=False),
    )


#: Suffix of the environment variables that are read no more (``GANETI_RAPI_``,
#: ``GANETI_SOURCE_RAPI_``...); a warning names any that is set.
IGNORED_ENVIRONMENT_SUFFIX = "RAPI_VALIDATE_CERTS"


def insecure_warnings(options):
    """Warnings for the connection OPTIONS that give up protection (empty when none does)."""
    url = options.get("rapi_url") or "(no URL)"
    warnings = []
    if options.get("validate_certs") is False:
        warnings.append("TLS certificate validation is off for %s (validate_certs=false): anyone on the network"
                        " path can pose as the cluster and read the RAPI password; give ca_path instead"
                        % url_without_credentials(url))
    if options.get("allow_plain_http") and str(url).lower().startswith("http://"):
        warnings.append("%s is plain HTTP (allow_plain_http=true): the RAPI password crosses the network"
                        " unencrypted" % url_without_credentials(url))
    return warnings


def ignored_environment_warnings(environ=None):
    """Warnings for environment variables that would turn certificate validation off, and are ignored."""
    environ = os.environ if environ is None else environ
    return ["%s is set and ignored: certificate validation can only be turned off in the task, module_defaults"
            " or the inventory (validate_certs)" % name
            for name in sorted(environ) if name.startswith("GANETI_") and name.endswith(IGNORED_ENVIRONMENT_SUFFIX)]


def url_password(url):
    """The password written into URL's user part (``https://user:pw@host``), else None."""
    try:
        return urlsplit(str(url)).password if url and "@" in str(url) else None
    except ValueError:
        return None


def url_without_credentials(url):
    """URL without a user part, for messages."""
    text = str(url)
    if "@" not in text:
        return text
    scheme, _sep, rest = text.rpartition("://")
    return (scheme + "://" if scheme else "") + rest.rsplit("@", 1)[1]


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
        if "fallback" in option:
            function, names = option["fallback"]
            option["fallback"] = (function, [name.replace(ENV_PREFIX, env_prefix) for name in names])
        spec[key] = option
    return spec
