# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module bases: the only places an ``AnsibleModule`` is built.

* :class:`RapiModule`: modules that talk to Ganeti RAPI from the controller,
  with the flat connection options (``rapi_url``...) or, with
  ``connection=False``, their own dict options built from
  :func:`~connection.connection_suboptions` and opened with
  :meth:`RapiModule.connect`.
* :class:`NodeModule`: modules that run on a Ganeti node over SSH and read the
  node's cluster membership from ssconf.
* :class:`ControllerModule`: modules that neither talk to RAPI nor need a node.

A module writes its logic as ``run(module, client)`` (RAPI) or
``run(module)`` and its ``main()`` is two lines::

    def main():
        RapiModule(argument_spec=dict(name=dict(type="str", required=True))).run(run)

``run`` fills ``module.result`` (or returns a dict merged into it).  Any
:class:`~errors.FleetError` it raises fails the task with the error's details
merged into the result so far, so ``changed`` and ``job_ids`` always say what
was done before the failure.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    ignored_environment_warnings,
    insecure_warnings,
    rapi_argument_spec,
    url_password,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import DEFAULT_WAIT_TIMEOUT, JobRunner
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import DATA_DIR, node_identity


def job_argument_spec():
    """Options of modules that start Ganeti jobs (the ``job`` doc fragment)."""
    return dict(
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
    )


class FleetModule(AnsibleModule):
    """What every module of the collection shares: check mode, a result, failures from errors."""

    def __init__(self, argument_spec=None, supports_check_mode=True, **kwargs):
        super().__init__(argument_spec=argument_spec or {}, supports_check_mode=supports_check_mode,
                         **kwargs)
        #: The task's result so far; what ``run`` exits or fails with.
        self.result = dict(changed=False)

    def require_library(self, present, name, import_error=None):
        """Fail the task when the Python library ``name`` could not be imported."""
        if not present:
            self.fail_json(msg=missing_required_lib(name), exception=import_error)

    def fail(self, message, **details):
        """Fail the task with ``message``, keeping the result so far."""
        self.fail_json(**self._with_result(dict(details, msg=message)))

    def _with_result(self, failure):
        values = dict(self.result)
        values.update(failure)
        return values

    def _call(self, func):
        return func(self)

    def _cleanup(self):
        """Release what the module opened (overridden by bases that open connections)."""

    def run(self, func):
        """Run the module's logic, then exit with :attr:`result`, or fail on a :class:`FleetError`."""
        try:
            returned = self._call(func)
        except FleetError as exc:
            self._cleanup()
            self.fail_json(**self._with_result(exc.to_result()))
        self._cleanup()
        if isinstance(returned, dict) and returned is not self.result:
            self.result.update(returned)
        self.exit_json(**self.result)


class ControllerModule(FleetModule):
    """A module that runs on the controller and talks to no cluster (``rapi_ca_bundle``)."""


class RapiModule(FleetModule):
    """A module that talks to Ganeti RAPI.

    :param connection: merge the flat connection options (``rapi_url``...).
        With ``False`` the module declares its own connection dicts and opens
        each with :meth:`connect`.
    :param jobs: merge the ``wait``/``wait_timeout`` options of the ``job``
        doc fragment; :attr:`jobs` honours them.
    """

    def __init__(self, argument_spec=None, connection=True, jobs=False, required_together=None, **kwargs):
        spec = {}
        together = list(required_together or [])
        if connection:
            spec.update(rapi_argument_spec())
            together.append(["rapi_user", "rapi_password"])
        if jobs:
            spec.update(job_argument_spec())
        spec.update(argument_spec or {})
        super().__init__(argument_spec=spec, required_together=together or None, **kwargs)
        # Imported here, not at the top: node-side modules share this file and
        # would otherwise import requests on every node run (about 0.5 s each).
        from ansible_collections.ganeti.fleet.plugins.module_utils import rapi_client

        self.require_library(rapi_client.HAS_REQUESTS, "requests", rapi_client.REQUESTS_IMPORT_ERROR)
        self._client_class = rapi_client.RapiClient
        self._flat_connection = connection
        self._client = None
        self._jobs = None
        self._opened = []
        for warning in ignored_environment_warnings():
            self.warn(warning)
        # A password written into a URL is refused by the client, but the
        # task's invocation would still echo it.
        for options in self._connection_options():
            password = url_password(options.get("rapi_url"))
            if password:
                self.no_log_values.add(password)

    def _connection_options(self):
        """Every connection of the task: the flat options, and each dict (or list of dicts) of connection keys."""
        found = [self.params] if self._flat_connection else []
        for value in self.params.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "rapi_url" in item:
                    found.append(item)
        return found

    @property
    def user_agent(self):
        return "ganeti.fleet/%s" % getattr(self, "_name", "module")

    def connect(self, options):
        """A :class:`RapiClient` for a dict of connection options, closed when the module ends."""
        for warning in insecure_warnings(options):
            self.warn(warning)
        client = self._client_class.from_options(options, user_agent=self.user_agent)
        self._opened.append(client)
        return client

    @property
    def client(self):
        """The client of the flat connection options, built on first use."""
        if self._client is None:
            self._client = self.connect(self.params)
        return self._client

    @property
    def jobs(self):
        """The :class:`JobRunner` of :attr:`client`, recording into :attr:`result`."""
        if self._jobs is None:
            self._jobs = JobRunner(self.client, self.result, wait=self.params.get("wait", True),
                                   timeout=self.params.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT)
        return self._jobs

    def _call(self, func):
        if self._flat_connection:
            return func(self, self.client)
        return func(self)

    def _cleanup(self):
        while self._opened:
            self._opened.pop().close()


class NodeModule(FleetModule):
    """A module that runs on a Ganeti node (over SSH) and works on its files and commands."""

    def __init__(self, argument_spec=None, **kwargs):
        super().__init__(argument_spec=argument_spec, **kwargs)
        self._identity = None

    @property
    def identity(self):
        """This node's cluster membership from ssconf (see :func:`node_local.node_identity`)."""
        if self._identity is None:
            self._identity = node_identity()
        return self._identity

    def require_cluster_node(self):
        """The identity of this host; a failure when it is not a Ganeti node."""
        identity = self.identity
        if not identity["cluster_name"]:
            raise FleetError("this host is not a node of a Ganeti cluster (no ssconf files in %s)" % DATA_DIR)
        return identity

    def require_master(self):
        """The identity of this host; a failure naming the master when this host is not it."""
        identity = self.require_cluster_node()
        if not identity["is_master"]:
            raise FleetError("this module must run on the master node of %s (%s), not on %s"
                             % (identity["cluster_name"], identity["master_node"],
                                identity["node_name"] or "this host"))
        return identity

    def run_binary(self, argv, data=None):
        """Run a command with binary input and output, never failing on its exit code: ``(rc, out, err)``."""
        return self.run_command(argv, data=data, binary_data=True, check_rc=False)
