# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Client for the Ganeti remote API (RAPI, version 2).

One client class, :class:`RapiClient`, built on a ``requests.Session`` so
that connections are kept alive where the server allows it (Ganeti's own
HTTP server answers ``Connection: close``, so there each request opens a
new connection).  It is usable from modules (see
:meth:`RapiClient.from_module`) and from any other plugin, because it can be
built from a plain dictionary of the connection options
(:meth:`RapiClient.from_options`).

Every failure is reported as one exception type, :class:`RapiError`.
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    import requests.certs
    from requests.adapters import HTTPAdapter
except ImportError:  # pragma: no cover - exercised only without requests
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    HTTPAdapter = object
HAS_REQUESTS = REQUESTS_IMPORT_ERROR is None

from ansible_collections.ganeti.fleet.plugins.module_utils._transport import (
    check_single_anchor,
    encode_query,
    http_error,
    is_connection_refused,
    quote_name,
    short_reason,
    tls_error,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import RapiError
from ansible_collections.ganeti.fleet.plugins.module_utils.jobs import (
    DEFAULT_WAIT_TIMEOUT,
    SERVER_WAIT_SECONDS,
    JobWaiter,
    unescape,
)

#: Kinds of taggable objects and the RAPI path of their tags.
TAG_KINDS = ("cluster", "group", "node", "instance", "network")
_TAG_PATHS = {
    "group": "/2/groups/%s/tags",
    "node": "/2/nodes/%s/tags",
    "instance": "/2/instances/%s/tags",
    "network": "/2/networks/%s/tags",
}

_HTTP_RETRY_STATUS = frozenset([502, 503, 504])
_IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS"])

_NOT_GIVEN = object()


class _HostnameSkippingAdapter(HTTPAdapter):
    """HTTP adapter that verifies the certificate chain but not the host name.

    The pool manager gets ``assert_hostname=False``; the CA file is still
    passed (``cert_reqs=CERT_REQUIRED`` and ``ca_certs``) by requests for
    every request because ``verify`` is a path.
    """

    def init_poolmanager(self, *args, **kwargs):
        kwargs["assert_hostname"] = False
        return super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        proxy_kwargs["assert_hostname"] = False
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class RapiClient:
    """Client for one Ganeti cluster's RAPI.

    :param url: RAPI URL, e.g. ``https://cluster.example.org:5080``.  A bare
        host name is accepted; the scheme defaults to ``https`` and the port
        to 5080.
    :param user: RAPI user name (HTTP basic authentication), optional.
    :param password: its password.
    :param ca_path: PEM file with the CA (or self-signed certificate) to
        trust; the system bundle is used when not given.
    :param validate_certs: verify the server certificate at all.
    :param verify_hostname: check that the certificate matches the host
        name.  When false the chain is still verified against ``ca_path``.
    :param timeout: seconds for every single HTTP request (positive).
    :param allow_plain_http: accept an ``http://`` URL, whose Basic
        credentials cross the network in clear text.
    :param retries: how many times a request is repeated when it is safe
        (GET requests after connection errors or HTTP 502/503/504; any
        request whose connection was refused).
    :param backoff: first delay between retries in seconds (doubled each
        time, at most 5 s).
    """

    #: Shortest interval between two "nothing changed" answers of the job
    #: wait call.  The server normally blocks for ~10 s; this only guards
    #: against a server that answers at once.
    min_wait_interval = 0.5

    def __init__(self, url, user=None, password=None, ca_path=None, validate_certs=True,
                 verify_hostname=True, timeout=DEFAULT_TIMEOUT, retries=3, backoff=0.5,
                 user_agent=None, allow_plain_http=False):
        if not HAS_REQUESTS:
            raise RapiError("The Python library 'requests' is required to talk to Ganeti RAPI",
                            kind="config")
        self.url = self.normalize_url(url, allow_plain_http=allow_plain_http)
        self.user = user or None
        self._password = password
        self.ca_path = ca_path or None
        self.validate_certs = True if validate_certs is None else bool(validate_certs)
        self.verify_hostname = True if verify_hostname is None else bool(verify_hostname)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or self.timeout <= 0:
            raise RapiError("timeout must be a positive number of seconds, not %r" % (timeout,), kind="config")
        if self.url.startswith("https://") and self.validate_certs and not self.verify_hostname:
            check_single_anchor(self.url, self.ca_path)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        #: HTTP requests sent so far (a move reports them: the cost of a re-run).
        self.request_count = 0

        session = requests.Session()
        session.headers["Accept"] = "application/json"
        session.headers["User-Agent"] = user_agent or "ganeti.fleet RAPI client"
        if self.user is not None:
            session.auth = (self.user, password or "")
        if self.validate_certs and not self.verify_hostname:
            session.mount("https://", _HostnameSkippingAdapter())
        self._session = session
        if self.validate_certs:
            if self.verify_hostname:
                self._verify = self.ca_path or True
            else:
                # Always a path, so that urllib3 builds its own SSL context
                # for this pool instead of changing a shared one.
                self._verify = self.ca_path or requests.certs.where()
        else:
            self._verify = False

    # ------------------------------------------------------------------
    # Construction helpers

    @classmethod
    def from_options(cls, options, **kwargs):
        """Build a client from a mapping holding the :func:`rapi_argument_spec` options.

        Unknown keys are ignored, missing ones take their defaults.  Extra
        keyword arguments (``retries``, ``backoff``, ``user_agent``) are
        passed on.
        """
        options = dict(options or {})
        url = options.get("rapi_url")
        if not url:
            raise RapiError("No RAPI URL given: set rapi_url or GANETI_RAPI_URL", kind="config")
        timeout = options.get("timeout")
        return cls(
            url,
            user=options.get("rapi_user"),
            password=options.get("rapi_password"),
            ca_path=options.get("ca_path"),
            validate_certs=options.get("validate_certs", True),
            verify_hostname=options.get("verify_hostname", True),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            allow_plain_http=bool(options.get("allow_plain_http")),
            **kwargs
        )

    @classmethod
    def from_module(cls, module, **kwargs):
        """Build a client from an ``AnsibleModule`` using :func:`rapi_argument_spec`."""
        kwargs.setdefault("user_agent", "ganeti.fleet/%s" % getattr(module, "_name", "module"))
        return cls.from_options(module.params, **kwargs)

    @staticmethod
    def normalize_url(url, allow_plain_http=False):
        """Return ``scheme://host:port`` (no path, no credentials) for a RAPI URL.

        ``http://`` is refused unless ALLOW_PLAIN_HTTP: Basic authentication
        would send the RAPI password in clear text.
        """
        if not url or not str(url).strip():
            raise RapiError("No RAPI URL given: set rapi_url or GANETI_RAPI_URL", kind="config")
        text = str(url).strip()
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise RapiError("Unsupported RAPI URL scheme %r (use https)" % parts.scheme, kind="config")
        if parts.username or parts.password:
            raise RapiError("Do not put credentials into rapi_url; use rapi_user and rapi_password",
                            kind="config")
        if parts.scheme == "http" and not allow_plain_http:
            raise RapiError("RAPI URL http://%s uses plain HTTP: the RAPI user's password and every answer would"
                            " cross the network unencrypted. Use https:// (Ganeti's RAPI serves HTTPS on port"
                            " 5080), or set allow_plain_http=true for a RAPI deliberately run without TLS"
                            % parts.netloc, kind="config")
        if not parts.hostname:
            raise RapiError("RAPI URL %r has no host name" % parts.geturl().split("@")[-1], kind="config")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise RapiError("RAPI URL has an invalid port", kind="config")
        host = parts.hostname
        if ":" in host:
            host = "[%s]" % host
        return urlunsplit((parts.scheme, "%s:%d" % (host, port), "", "", ""))

    def close(self):
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return "RapiClient(url=%r, user=%r, ca_path=%r, validate_certs=%r, verify_hostname=%r)" % (
            self.url, self.user, self.ca_path, self.validate_certs, self.verify_hostname)

    # ------------------------------------------------------------------
    # Low level HTTP

    def request(self, method, path, query=None, body=_NOT_GIVEN, timeout=None, retry=None):
        """Send one RAPI request and return the decoded JSON answer.

        :param method: ``GET``, ``PUT``, ``POST`` or ``DELETE``.
        :param path: path starting with ``/``, already quoted.
        :param query: mapping of query arguments; booleans become ``0``/``1``,
            lists repeat the key (``tag=a&tag=b``).
        :param body: JSON-serialisable body.  Omit it for no body.
        :param timeout: per-request timeout override.
        :param retry: force (True) or forbid (False) retries after transport
            errors and HTTP 502/503/504; default: only for GET.
        :raises RapiError: on any failure.
        """
        method = method.upper()
        self.request_count += 1
        url = self.url + path
        headers = {}
        data = None
        if body is not _NOT_GIVEN:
            data = json.dumps(body)
        if data is not None or method not in _IDEMPOTENT_METHODS:
            headers["Content-Type"] = "application/json"
        params = encode_query(query)
        idempotent = method in _IDEMPOTENT_METHODS if retry is None else bool(retry)
        timeout = self.timeout if timeout is None else timeout

        attempt = 0
        while True:
            attempt += 1
            try:
                with warnings.catch_warnings():
                    if self._verify is False:
                        # validate_certs=false was asked for explicitly
                        warnings.simplefilter("ignore")
                    response = self._session.request(
                        method, url, params=params, data=data, headers=headers,
                        timeout=timeout, verify=self._verify, allow_redirects=False,
                    )
            except requests.exceptions.SSLError as exc:
                raise tls_error(exc, self.url, self.ca_path, method, path)
            except requests.exceptions.ConnectTimeout:
                if idempotent and attempt <= self.retries:
                    self._sleep_before_retry(attempt)
                    continue
                raise RapiError(
                    "Timed out connecting to Ganeti RAPI at %s (%s %s, timeout %s s)"
                    % (self.url, method, path, timeout),
                    kind="timeout", url=self.url, method=method, path=path)
            except requests.exceptions.Timeout:
                raise RapiError(
                    "Ganeti RAPI at %s did not answer %s %s within %s s"
                    % (self.url, method, path, timeout),
                    kind="timeout", url=self.url, method=method, path=path)
            except requests.exceptions.ConnectionError as exc:
                refused = is_connection_refused(exc)
                if (idempotent or refused) and attempt <= self.retries:
                    self._sleep_before_retry(attempt)
                    continue
                raise RapiError(
                    "Cannot connect to Ganeti RAPI at %s (%s %s): %s"
                    % (self.url, method, path, short_reason(exc)),
                    kind="connection", url=self.url, method=method, path=path)
            except requests.exceptions.RequestException as exc:
                raise RapiError(
                    "Request %s %s to Ganeti RAPI at %s failed: %s"
                    % (method, path, self.url, short_reason(exc)),
                    kind="connection", url=self.url, method=method, path=path)

            if response.status_code in _HTTP_RETRY_STATUS and idempotent and attempt <= self.retries:
                response.close()
                self._sleep_before_retry(attempt)
                continue
            return self._handle_response(response, method, path)

    def get(self, path, query=None, **kwargs):
        return self.request("GET", path, query=query, **kwargs)

    def put(self, path, query=None, body=_NOT_GIVEN, **kwargs):
        return self.request("PUT", path, query=query, body=body, **kwargs)

    def delete(self, path, query=None, body=_NOT_GIVEN, **kwargs):
        return self.request("DELETE", path, query=query, body=body, **kwargs)

    def _sleep_before_retry(self, attempt):
        delay = min(self.backoff * (2 ** (attempt - 1)), 5.0)
        if delay > 0:
            time.sleep(delay)

    def _handle_response(self, response, method, path):
        status = response.status_code
        if 200 <= status < 300:
            if not response.content or not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                raise RapiError(
                    "Ganeti RAPI at %s returned invalid JSON for %s %s"
                    % (self.url, method, path),
                    kind="invalid_response", url=self.url, method=method, path=path,
                    status_code=status)
        raise http_error(response, self.url, self.user, method, path)

    # ------------------------------------------------------------------
    # Cluster

    def get_version(self):
        """``GET /version``: the RAPI protocol version (``2``)."""
        return self.get("/version")

    def get_features(self):
        """``GET /2/features``: list of optional features (empty on old servers)."""
        try:
            features = self.get("/2/features")
        except RapiError as exc:
            if exc.status_code == 404:
                return []
            raise
        return list(features or [])

    def get_info(self):
        """``GET /2/info``: cluster information."""
        return self.get("/2/info")

    # ------------------------------------------------------------------
    # Instances, nodes, groups

    def list_instances(self, bulk=True):
        """``GET /2/instances``; with ``bulk`` a list of dicts, else a list of ``{id, uri}``."""
        return self.get("/2/instances", query={"bulk": 1} if bulk else None) or []

    def get_instance(self, name, missing_ok=False):
        """``GET /2/instances/NAME``; with ``missing_ok``, ``None`` for an unknown instance."""
        try:
            return self.get(self.instance_path(name))
        except RapiError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            raise

    @staticmethod
    def instance_path(name, action=None):
        """RAPI path of an instance, or of one of its actions, with the name quoted."""
        path = "/2/instances/%s" % quote_name(name)
        return path + "/" + action if action else path

    def list_os_names(self):
        """``GET /2/os``: the OS names (with variants) the cluster offers."""
        return list(self.get("/2/os") or [])

    # Jobs on one instance.  Each returns the job id.

    def create_instance(self, body, dry_run=False):
        """``POST /2/instances`` with a request-version-1 ``body``."""
        return self.submit("POST", "/2/instances", query={"dry-run": 1 if dry_run else None}, body=body)

    def remove_instance(self, name, shutdown_timeout=None):
        """``DELETE /2/instances/NAME`` (Ganeti shuts it down first)."""
        body = _NOT_GIVEN if shutdown_timeout is None else {"shutdown_timeout": shutdown_timeout}
        return self.submit("DELETE", self.instance_path(name), body=body)

    def shutdown_instance(self, name, timeout=None, no_remember=False):
        """``PUT /2/instances/NAME/shutdown``."""
        body = {}
        if timeout is not None:
            body["timeout"] = timeout
        if no_remember:
            body["no_remember"] = True
        return self.submit("PUT", self.instance_path(name, "shutdown"), body=body or _NOT_GIVEN)

    def startup_instance(self, name):
        """``PUT /2/instances/NAME/startup``."""
        return self.submit("PUT", self.instance_path(name, "startup"))

    def rename_instance(self, name, new_name, ip_check=False, name_check=False):
        """``PUT /2/instances/NAME/rename``."""
        return self.submit("PUT", self.instance_path(name, "rename"),
                           body={"new_name": new_name, "ip_check": ip_check, "name_check": name_check})

    def query_instance(self, name, static=True):
        """``GET /2/instances/NAME/info``: a job whose result holds the instance's details."""
        return self.submit("GET", self.instance_path(name, "info"), query={"static": 1 if static else None})

    def activate_disks(self, name):
        """``PUT /2/instances/NAME/activate-disks``: a job whose result lists ``[node, "disk/N", path]`` per disk."""
        return self.submit("PUT", self.instance_path(name, "activate-disks"))

    def prepare_export(self, name, mode="remote"):
        """``PUT /2/instances/NAME/prepare-export``: a job whose result holds the export handshake."""
        return self.submit("PUT", self.instance_path(name, "prepare-export"), query={"mode": mode})

    def export_instance(self, name, body):
        """``PUT /2/instances/NAME/export`` with ``body`` (mode, destination, ...)."""
        return self.submit("PUT", self.instance_path(name, "export"), body=body)

    def migrate_instance(self, name, body, dry_run=False):
        """``PUT /2/instances/NAME/migrate`` (``body``: mode, target_node, iallocator...)."""
        return self.submit("PUT", self.instance_path(name, "migrate"), body=dict(body, dry_run=True) if dry_run else body)

    def failover_instance(self, name, body, dry_run=False):
        """``PUT /2/instances/NAME/failover`` (``body``: target_node, iallocator, shutdown_timeout...)."""
        return self.submit("PUT", self.instance_path(name, "failover"), body=dict(body, dry_run=True) if dry_run else body)

    def list_nodes(self, bulk=True):
        """``GET /2/nodes``; with ``bulk`` a list of dicts."""
        return self.get("/2/nodes", query={"bulk": 1} if bulk else None) or []

    @staticmethod
    def node_path(name, action):
        """RAPI path of a node's action, with the name quoted."""
        return "/2/nodes/%s/%s" % (quote_name(name), action)

    def set_node_role(self, name, role, auto_promote=False):
        """``PUT /2/nodes/NAME/role`` (no dry run: Ganeti ignores ``dry-run`` there)."""
        return self.submit("PUT", self.node_path(name, "role"),
                           query={"auto-promote": 1 if auto_promote else None}, body=role)

    def modify_node(self, name, body, dry_run=False):
        """``POST /2/nodes/NAME/modify`` (``body``: the flags of ``OpNodeSetParams``)."""
        return self.submit("POST", self.node_path(name, "modify"), body=dict(body, dry_run=True) if dry_run else body)

    def evacuate_node(self, name, body, dry_run=False):
        """``POST /2/nodes/NAME/evacuate``: a job whose result lists the jobs it started."""
        return self.submit("POST", self.node_path(name, "evacuate"), query={"dry-run": 1 if dry_run else None},
                           body=body)

    def list_groups(self, bulk=True):
        """``GET /2/groups``; with ``bulk`` a list of dicts."""
        return self.get("/2/groups", query={"bulk": 1} if bulk else None) or []

    # ------------------------------------------------------------------
    # Tags

    @staticmethod
    def tags_path(kind, name=None):
        """RAPI path of the tags of an object."""
        if kind == "cluster":
            return "/2/tags"
        if kind not in _TAG_PATHS:
            raise RapiError("Unknown tag kind %r (expected one of %s)" % (kind, ", ".join(TAG_KINDS)),
                            kind="config")
        if not name:
            raise RapiError("A name is needed for %s tags" % kind, kind="config")
        return _TAG_PATHS[kind] % quote_name(name)

    def get_tags(self, kind, name=None):
        """Return the tags of an object as a list."""
        return list(self.get(self.tags_path(kind, name)) or [])

    def add_tags(self, kind, name, tags, dry_run=False):
        """Add tags (``PUT ...tags?tag=a&tag=b``); returns the job id."""
        return self.submit("PUT", self.tags_path(kind, name),
                           query={"tag": list(tags), "dry-run": 1 if dry_run else None})

    def remove_tags(self, kind, name, tags, dry_run=False):
        """Remove tags (``DELETE ...tags?tag=a&tag=b``); returns the job id."""
        return self.submit("DELETE", self.tags_path(kind, name),
                           query={"tag": list(tags), "dry-run": 1 if dry_run else None})

    # ------------------------------------------------------------------
    # Jobs

    def submit(self, method, path, query=None, body=_NOT_GIVEN):
        """Send a write request that starts a job and return the job id (a string)."""
        job_id = self.request(method, path, query=query, body=body)
        if job_id is None or isinstance(job_id, (dict, list, bool)) or str(job_id).strip() == "":
            raise RapiError(
                "Ganeti RAPI at %s answered %s %s with %r instead of a job id"
                % (self.url, method, path, job_id),
                kind="invalid_response", url=self.url, method=method, path=path)
        return str(job_id)

    def get_job(self, job_id):
        """``GET /2/jobs/ID``: id, ops, status, summary, opstatus, opresult, oplog, timestamps."""
        return self.get("/2/jobs/%s" % quote_name(job_id))

    def cancel_job(self, job_id):
        """``DELETE /2/jobs/ID``: returns ``(success, message)``.

        Ganeti can only cancel jobs that have not started running.
        """
        result = self.request("DELETE", "/2/jobs/%s" % quote_name(job_id))
        if isinstance(result, (list, tuple)) and len(result) == 2:
            return bool(result[0]), unescape(result[1])
        return bool(result), None

    def wait_for_job_change(self, job_id, previous_job_info=None, previous_log_serial=None):
        """One long poll on ``GET /2/jobs/ID/wait``.

        The server blocks up to about 10 seconds.  Returns ``None`` when
        nothing changed, else ``{"job_info": [status], "log_entries": [...]}``.
        Needs a RAPI user with write access.
        """
        body = {
            "fields": ["status"],
            "previous_job_info": previous_job_info,
            "previous_log_serial": previous_log_serial,
        }
        return self.request("GET", "/2/jobs/%s/wait" % quote_name(job_id), body=body,
                            timeout=max(self.timeout, SERVER_WAIT_SECONDS + 20))

    def job_waiter(self, job_id, on_log=None):
        """Return a :class:`JobWaiter` for ``job_id``."""
        return JobWaiter(self, job_id, on_log=on_log)

    def wait_for_job(self, job_id, timeout=DEFAULT_WAIT_TIMEOUT, on_log=None, on_poll=None):
        """Follow a job until it ends and return its result.

        :param job_id: the job id (string or int).
        :param timeout: overall seconds to wait (checked between long polls,
            so it may be overrun by one poll, about 10 s).  ``None`` waits
            forever.
        :param on_log: called once per new log entry, in order, with the
            entry as a dict (see :func:`parse_log_entry`), while the job is
            still running.  Whatever it raises is propagated (the job keeps
            running).
        :param on_poll: called with the :class:`JobWaiter` after every poll
            (also when nothing changed); may raise to stop waiting.
        :returns: a dict with ``job_id``, ``status``, ``opstatus``,
            ``opresult``, ``summary``, ``log`` (list of entry dicts),
            ``received_ts``, ``start_ts``, ``end_ts``.
        :raises RapiError: if the job failed or was canceled (``kind``
            ``job_failed``), if waiting timed out (``kind`` ``job_timeout``,
            ``timed_out`` true, ``job_id`` set), or on transport errors.
        """
        waiter = JobWaiter(self, job_id, on_log=on_log)
        return waiter.wait(timeout=timeout, on_poll=on_poll)


def in_parallel(*calls):
    """Run CALLS (each ``(function, arg, ...)``) at the same time; their results, in order.

    Each call waits on the network (a RAPI request or a Ganeti job), so
    threads overlap the round trips. All calls finish before the first
    error, if any, is raised.  ``None`` entries are skipped.
    """
    calls = [call for call in calls if call is not None]
    if len(calls) < 2:
        return [call[0](*call[1:]) for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call[0], *call[1:]) for call in calls]
        return [future.result() for future in futures]
