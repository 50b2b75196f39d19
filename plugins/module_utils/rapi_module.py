# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Common base for the collection's RAPI modules.

A module builds its argument spec, calls :func:`create_rapi_module` and
hands its logic to :meth:`GanetiRapiModule.run`::

    def run(module, client):
        return dict(changed=False, info=client.get_info())

    def main():
        module = create_rapi_module(argument_spec=dict(...))
        module.run(run)
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ganeti.fleet.plugins.module_utils.connection import rapi_argument_spec
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import DEFAULT_WAIT_TIMEOUT
from ansible_collections.ganeti.fleet.plugins.module_utils.rapi_client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    RapiClient,
)


def job_argument_spec():
    """Options of modules that start Ganeti jobs (see the ``job`` doc fragment)."""
    return dict(
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
    )


class GanetiRapiModule(AnsibleModule):
    """``AnsibleModule`` with the RAPI connection options merged in.

    Check mode is supported by default.  :attr:`client` is built on first
    use; :meth:`run` turns :class:`RapiError` into ``fail_json``.
    """

    def __init__(self, argument_spec=None, supports_check_mode=True, required_together=None, **kwargs):
        spec = rapi_argument_spec()
        spec.update(argument_spec or {})
        together = [["rapi_user", "rapi_password"]]
        together.extend(required_together or [])
        super().__init__(
            argument_spec=spec,
            supports_check_mode=supports_check_mode,
            required_together=together,
            **kwargs
        )
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        self._client = None

    @property
    def client(self):
        """The :class:`RapiClient` for this module's connection options."""
        if self._client is None:
            try:
                self._client = RapiClient.from_module(self)
            except RapiError as exc:
                self.fail_rapi(exc)
        return self._client

    def fail_rapi(self, error, **result):
        """Fail the module from a :class:`RapiError`, with job id and log tail."""
        values = error.to_result()
        values.update(result)
        self.fail_json(**values)

    def run(self, func):
        """Call ``func(module, client)``, exit with its result dict.

        A :class:`RapiError` becomes ``fail_json`` with ``msg``, and with
        ``job_id``, ``job_status`` and ``job_log`` when a job was involved.
        """
        result = {}
        try:
            result = func(self, self.client)
        except RapiError as exc:
            self.fail_rapi(exc)
        finally:
            if self._client is not None:
                self._client.close()
        self.exit_json(**result)


def create_rapi_module(argument_spec=None, **kwargs):
    """Return a :class:`GanetiRapiModule` (check mode supported unless told otherwise)."""
    return GanetiRapiModule(argument_spec=argument_spec, **kwargs)
