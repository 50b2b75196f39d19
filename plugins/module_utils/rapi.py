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

import html
import json
import re
import time
import traceback
import warnings
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback

try:
    import requests
    import requests.certs
    from requests.adapters import HTTPAdapter

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only without requests
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    HTTPAdapter = object


DEFAULT_PORT = 5080
DEFAULT_TIMEOUT = 60
DEFAULT_WAIT_TIMEOUT = 600

#: Seconds the server blocks in ``GET /2/jobs/ID/wait`` (``_WFJC_TIMEOUT``).
SERVER_WAIT_SECONDS = 10

JOB_STATUS_SUCCESS = "success"
JOB_STATUS_ERROR = "error"
JOB_STATUS_CANCELING = "canceling"
JOB_STATUS_CANCELED = "canceled"
JOB_STATUS_QUEUED = "queued"
JOB_STATUS_WAITING = "waiting"
JOB_STATUS_RUNNING = "running"

#: Status values after which a job does not change any more (``canceling``
#: is included, as in Ganeti's own poll loop).
JOB_STATUS_FINALIZED = frozenset(
    [JOB_STATUS_SUCCESS, JOB_STATUS_ERROR, JOB_STATUS_CANCELING, JOB_STATUS_CANCELED]
)

#: Kinds of taggable objects and the RAPI path of their tags.
TAG_KINDS = ("cluster", "group", "node", "instance", "network")
_TAG_PATHS = {
    "group": "/2/groups/%s/tags",
    "node": "/2/nodes/%s/tags",
    "instance": "/2/instances/%s/tags",
    "network": "/2/networks/%s/tags",
}

#: Names of the objects in RAPI paths, used for readable 404 messages.
_PATH_OBJECTS = {
    "instances": "instance",
    "nodes": "node",
    "groups": "node group",
    "networks": "network",
    "jobs": "job",
    "os": "OS",
    "filters": "filter rule",
}

_HTTP_RETRY_STATUS = frozenset([502, 503, 504])
_IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS"])

_NOT_GIVEN = object()


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


class RapiError(Exception):
    """The one error type raised by :class:`RapiClient`.

    ``str(error)`` is a complete, human readable message.  The attributes
    carry the details; those that do not apply are ``None``.

    :ivar message: the message (same as ``str(error)``).
    :ivar url: the cluster's RAPI URL (never with credentials).
    :ivar method: HTTP method of the failed request.
    :ivar path: request path, e.g. ``/2/instances/web1``.
    :ivar status_code: HTTP status of the failed request.
    :ivar explain: ``explain`` field of RAPI's error body.
    :ivar job_id: id of the job involved (string).
    :ivar job_status: last known status of that job.
    :ivar summary: the job's summary (list of opcode summaries).
    :ivar opresult: the job's raw ``opresult`` list.
    :ivar error_class: Ganeti error class of the failed opcode, e.g. ``OpPrereqError``.
    :ivar error_message: its message (HTML entities decoded).
    :ivar error_code: its error code, e.g. ``unknown_entity``.
    :ivar log: the job's log entries seen so far (list of dicts, see :func:`parse_log_entry`).
    :ivar timed_out: true when waiting for the job ran out of time (the job may still run).
    :ivar kind: short machine readable category: ``auth``, ``forbidden``,
        ``not_found``, ``http``, ``tls``, ``connection``, ``timeout``,
        ``invalid_response``, ``job_failed``, ``job_timeout``, ``config``.
    """

    def __init__(self, message, kind="http", url=None, method=None, path=None, status_code=None,
                 explain=None, job_id=None, job_status=None, summary=None, opresult=None,
                 error_class=None, error_message=None, error_code=None, log=None, timed_out=False):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.url = url
        self.method = method
        self.path = path
        self.status_code = status_code
        self.explain = explain
        self.job_id = None if job_id is None else str(job_id)
        self.job_status = job_status
        self.summary = summary
        self.opresult = opresult
        self.error_class = error_class
        self.error_message = error_message
        self.error_code = error_code
        self.log = list(log or [])
        self.timed_out = timed_out

    def __str__(self):
        return self.message

    def __repr__(self):
        return "RapiError(%r, kind=%r, status_code=%r, job_id=%r)" % (
            self.message, self.kind, self.status_code, self.job_id)

    def log_tail(self, count=10):
        """Return the last ``count`` job log entries."""
        if count <= 0:
            return []
        return self.log[-count:]

    def to_result(self, log_tail=10):
        """Return a dictionary suitable for ``module.fail_json(**...)``."""
        result = dict(msg=self.message)
        if self.status_code is not None:
            result["status_code"] = self.status_code
        if self.job_id is not None:
            result["job_id"] = self.job_id
            result["job_status"] = self.job_status
            result["job_log"] = self.log_tail(log_tail)
            if self.summary is not None:
                result["job_summary"] = self.summary
            if self.opresult is not None:
                result["opresult"] = self.opresult
        if self.error_class is not None:
            result["error"] = dict(
                error_class=self.error_class,
                message=self.error_message,
                code=self.error_code,
            )
        return result


def unescape(text):
    """Decode the HTML entities RAPI puts into its messages."""
    if not isinstance(text, str):
        return text
    return html.unescape(text)


def parse_version(text):
    """Parse a Ganeti version string such as ``3.0.2`` into ``(3, 0, 2)``.

    Anything after the numeric part (``~rc1``, ``-dev``) is ignored.
    Returns ``()`` when no number is found.
    """
    if text is None:
        return ()
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not match:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def parse_log_entry(entry):
    """Turn a raw job log entry into a dictionary.

    RAPI sends ``[serial, [seconds, microseconds], type, message]``.  The
    result has the keys ``serial`` (int), ``timestamp`` (float seconds since
    the epoch), ``type`` (``message``, ``message-list``, ``remote-import``,
    ...) and ``message`` (a string, or structured data for some types).
    """
    if isinstance(entry, dict):
        return entry
    serial, stamp, log_type, message = (list(entry) + [None] * 4)[:4]
    timestamp = None
    if isinstance(stamp, (list, tuple)) and len(stamp) == 2:
        timestamp = stamp[0] + stamp[1] / 1000000.0
    elif isinstance(stamp, (int, float)):
        timestamp = float(stamp)
    if isinstance(message, str):
        message = unescape(message)
    return dict(serial=serial, timestamp=timestamp, type=log_type, message=message)


def decode_op_error(value):
    """Decode an encoded Ganeti error from a job's ``opresult``.

    Ganeti encodes exceptions as ``[class_name, args]``, for example
    ``["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]``.

    Returns ``(error_class, message, error_code)``; parts that cannot be
    found are ``None``.
    """
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str):
        error_class, args = value
        if isinstance(args, (list, tuple)):
            parts = list(args)
        else:
            parts = [args]
        message = None
        error_code = None
        if parts:
            message = parts[0] if isinstance(parts[0], str) else json.dumps(parts[0])
            if len(parts) > 1 and isinstance(parts[1], str):
                error_code = parts[1]
        return error_class, unescape(message), error_code
    if value is None:
        return None, None, None
    return None, unescape(value if isinstance(value, str) else json.dumps(value)), None


def _exception_chain(exc):
    """Yield ``exc`` and the exceptions it wraps (cause, context, reason, args)."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.append(getattr(current, "__cause__", None))
        stack.append(getattr(current, "__context__", None))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)


def _is_connection_refused(exc):
    return any(isinstance(item, ConnectionRefusedError) for item in _exception_chain(exc))


def _is_hostname_mismatch(exc):
    for item in _exception_chain(exc):
        # X509_V_ERR_HOSTNAME_MISMATCH (62) and X509_V_ERR_IP_ADDRESS_MISMATCH (64)
        if getattr(item, "verify_code", None) in (62, 64):
            return True
        text = str(item).lower()
        if "mismatch" in text or "doesn't match" in text or "does not match" in text:
            return True
    return False


def _short_reason(exc):
    """Return the most specific, short description of a transport error."""
    best = None
    for item in _exception_chain(exc):
        if isinstance(item, OSError) and not type(item).__module__.startswith(("requests", "urllib3")):
            text = item.strerror or str(item)
            return text
        if best is None:
            best = item
    text = str(best if best is not None else exc)
    # urllib3 messages look like "<urllib3.connection.HTTPSConnection object at 0x..>: Failed ..."
    text = re.sub(r"<[^>]+>:\s*", "", text)
    return text


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
    :param timeout: seconds for every single HTTP request.
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
                 user_agent=None):
        if not HAS_REQUESTS:
            raise RapiError("The Python library 'requests' is required to talk to Ganeti RAPI",
                            kind="config")
        self.url = self.normalize_url(url)
        self.user = user or None
        self._password = password
        self.ca_path = ca_path or None
        self.validate_certs = True if validate_certs is None else bool(validate_certs)
        self.verify_hostname = True if verify_hostname is None else bool(verify_hostname)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))

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
            **kwargs
        )

    @classmethod
    def from_module(cls, module, **kwargs):
        """Build a client from an ``AnsibleModule`` using :func:`rapi_argument_spec`."""
        kwargs.setdefault("user_agent", "ganeti.fleet/%s" % getattr(module, "_name", "module"))
        return cls.from_options(module.params, **kwargs)

    @staticmethod
    def normalize_url(url):
        """Return ``scheme://host:port`` (no path, no credentials) for a RAPI URL."""
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
        url = self.url + path
        headers = {}
        data = None
        if body is not _NOT_GIVEN:
            data = json.dumps(body)
        if data is not None or method not in _IDEMPOTENT_METHODS:
            headers["Content-Type"] = "application/json"
        params = _encode_query(query)
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
                raise self._tls_error(exc, method, path)
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
                refused = _is_connection_refused(exc)
                if (idempotent or refused) and attempt <= self.retries:
                    self._sleep_before_retry(attempt)
                    continue
                raise RapiError(
                    "Cannot connect to Ganeti RAPI at %s (%s %s): %s"
                    % (self.url, method, path, _short_reason(exc)),
                    kind="connection", url=self.url, method=method, path=path)
            except requests.exceptions.RequestException as exc:
                raise RapiError(
                    "Request %s %s to Ganeti RAPI at %s failed: %s"
                    % (method, path, self.url, _short_reason(exc)),
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

    def post(self, path, query=None, body=_NOT_GIVEN, **kwargs):
        return self.request("POST", path, query=query, body=body, **kwargs)

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
        raise self._http_error(response, method, path)

    def _http_error(self, response, method, path):
        status = response.status_code
        message = None
        explain = None
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            message = unescape(data.get("message"))
            explain = unescape(data.get("explain"))
        elif isinstance(data, str):
            message = unescape(data)
        if not message:
            text = (response.text or "").strip()
            message = unescape(text[:300]) if text else (response.reason or "HTTP %d" % status)
        common = dict(url=self.url, method=method, path=path, status_code=status, explain=explain)

        if status == 401:
            if self.user:
                text = ("Authentication as RAPI user '%s' failed at %s (HTTP 401): "
                        "check the credentials (rapi_user/rapi_password, or "
                        "GANETI_RAPI_USER/GANETI_RAPI_PASSWORD)" % (self.user, self.url))
            else:
                text = ("Ganeti RAPI at %s requires authentication (HTTP 401) and no "
                        "credentials were given: set rapi_user and rapi_password (or "
                        "GANETI_RAPI_USER/GANETI_RAPI_PASSWORD)" % self.url)
            return RapiError(text, kind="auth", **common)
        if status == 403:
            who = "RAPI user '%s'" % self.user if self.user else "Anonymous access"
            text = ("%s may not %s %s at %s (HTTP 403): this needs a RAPI user with write "
                    "access (the 'write' option in Ganeti's RAPI users file)"
                    % (who, method, path, self.url))
            return RapiError(text, kind="forbidden", **common)
        if status == 404:
            text = "%s not found on %s (%s %s): %s" % (
                describe_path(path), self.url, method, path, message)
            return RapiError(text, kind="not_found", **common)
        if status == 415:
            text = ("Ganeti RAPI at %s rejected the request body of %s %s (HTTP 415, "
                    "unsupported media type): %s" % (self.url, method, path, message))
            return RapiError(text, **common)
        text = "Ganeti RAPI at %s: %s %s failed with HTTP %d: %s" % (
            self.url, method, path, status, message)
        return RapiError(text, **common)

    def _tls_error(self, exc, method, path):
        if self.ca_path:
            ca_text = "CA file used: %s" % self.ca_path
        else:
            ca_text = ("no CA file was given, so the system CA bundle was used (set ca_path "
                       "or GANETI_RAPI_CA_PATH to the cluster's RAPI certificate, the "
                       "certificate part of /var/lib/ganeti/rapi.pem)")
        text = "TLS verification of Ganeti RAPI at %s failed: %s. %s." % (
            self.url, _short_reason(exc), ca_text)
        if _is_hostname_mismatch(exc):
            text += (" The certificate does not match the host name; the stock Ganeti RAPI "
                     "certificate is issued to 'ganeti.example.com'. Use a certificate issued "
                     "for the cluster name, or set verify_hostname=false "
                     "(GANETI_RAPI_VERIFY_HOSTNAME=false) to skip only the host name check "
                     "while still verifying the certificate against ca_path.")
        return RapiError(text, kind="tls", url=self.url, method=method, path=path)

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

    def get_software_version(self):
        """Ganeti software version of the cluster as a tuple, e.g. ``(3, 0, 2)``."""
        return parse_version((self.get_info() or {}).get("software_version"))

    # ------------------------------------------------------------------
    # Instances, nodes, groups

    def list_instances(self, bulk=True):
        """``GET /2/instances``; with ``bulk`` a list of dicts, else a list of ``{id, uri}``."""
        return self.get("/2/instances", query={"bulk": 1} if bulk else None) or []

    def get_instance(self, name):
        """``GET /2/instances/NAME``."""
        return self.get("/2/instances/%s" % quote_name(name))

    def list_nodes(self, bulk=True):
        """``GET /2/nodes``; with ``bulk`` a list of dicts."""
        return self.get("/2/nodes", query={"bulk": 1} if bulk else None) or []

    def get_node(self, name):
        """``GET /2/nodes/NAME``."""
        return self.get("/2/nodes/%s" % quote_name(name))

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


class JobWaiter:
    """Follows one job through ``GET /2/jobs/ID/wait`` long polls.

    Use :meth:`poll` step by step (e.g. to follow two jobs on two clusters
    at once) or :meth:`wait` to block until the job ends.
    """

    def __init__(self, client, job_id, on_log=None):
        self.client = client
        self.job_id = str(job_id)
        self.on_log = on_log
        self.status = None
        self.log = []
        self.finished = False
        self._prev_job_info = None
        self._prev_log_serial = None

    def poll(self):
        """Do one long poll; return the list of new log entries (dicts).

        Sets :attr:`status` and :attr:`finished`.  Calls ``on_log`` for every
        new entry.
        """
        if self.finished:
            return []
        started = time.monotonic()
        try:
            answer = self.client.wait_for_job_change(
                self.job_id, self._prev_job_info, self._prev_log_serial)
        except RapiError as exc:
            exc.job_id = exc.job_id or self.job_id
            exc.job_status = exc.job_status or self.status
            if not exc.log:
                exc.log = list(self.log)
            raise
        if answer is None:
            interval = self.client.min_wait_interval
            elapsed = time.monotonic() - started
            if interval and elapsed < interval:
                time.sleep(interval - elapsed)
            return []
        if not isinstance(answer, dict):
            raise RapiError(
                "Unexpected answer while waiting for job %s: %r" % (self.job_id, answer),
                kind="invalid_response", url=self.client.url, job_id=self.job_id,
                log=self.log)
        job_info = answer.get("job_info")
        if isinstance(job_info, list) and job_info:
            self._prev_job_info = job_info
            self.status = job_info[0]
        new_entries = []
        for raw in answer.get("log_entries") or []:
            entry = parse_log_entry(raw)
            serial = entry.get("serial")
            if isinstance(serial, int):
                if self._prev_log_serial is not None and serial <= self._prev_log_serial:
                    continue
                self._prev_log_serial = serial
            new_entries.append(entry)
        for entry in new_entries:
            self.log.append(entry)
            if self.on_log is not None:
                self.on_log(entry)
        if self.status in JOB_STATUS_FINALIZED and not new_entries:
            self.finished = True
        return new_entries

    def wait(self, timeout=DEFAULT_WAIT_TIMEOUT, on_poll=None):
        """Poll until the job ends, then return :meth:`result`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout_error(timeout)
            self.poll()
            if on_poll is not None:
                on_poll(self)
        return self.result()

    def _timeout_error(self, timeout):
        summary = None
        try:
            job = self.client.get_job(self.job_id) or {}
            self.status = job.get("status", self.status)
            summary = job.get("summary")
        except RapiError:
            pass
        last = ""
        if self.log:
            last = " Last log entry: %s" % _log_text(self.log[-1])
        return RapiError(
            "Timed out after %s s waiting for job %s on %s (status: %s); the job may "
            "still be running.%s" % (timeout, self.job_id, self.client.url, self.status, last),
            kind="job_timeout", url=self.client.url, job_id=self.job_id,
            job_status=self.status, summary=summary, log=self.log, timed_out=True)

    def result(self):
        """Read the finished job (``GET /2/jobs/ID``) and return its result dict.

        :raises RapiError: if the job did not succeed.
        """
        job = self.client.get_job(self.job_id) or {}
        status = job.get("status", self.status)
        self.status = status
        if not self.log and job.get("oplog"):
            for op_log in job.get("oplog") or []:
                for raw in op_log or []:
                    self.log.append(parse_log_entry(raw))
        result = dict(
            job_id=self.job_id,
            status=status,
            opstatus=job.get("opstatus"),
            opresult=job.get("opresult"),
            summary=job.get("summary"),
            log=list(self.log),
            received_ts=job.get("received_ts"),
            start_ts=job.get("start_ts"),
            end_ts=job.get("end_ts"),
        )
        if status == JOB_STATUS_SUCCESS:
            return result
        raise job_failure(self.client.url, self.job_id, job, self.log)


def job_failure(url, job_id, job, log=None):
    """Build the :class:`RapiError` for a job that did not succeed."""
    status = job.get("status")
    opstatus = job.get("opstatus") or []
    opresult = job.get("opresult") or []
    summary = job.get("summary")
    error_class = error_message = error_code = None
    failed_index = None
    for index, op_status in enumerate(opstatus):
        if op_status == JOB_STATUS_ERROR:
            failed_index = index
            break
    if failed_index is not None and failed_index < len(opresult):
        error_class, error_message, error_code = decode_op_error(opresult[failed_index])
    what = "Job %s" % job_id
    if summary:
        what += " (%s)" % ", ".join(str(s) for s in summary)
    if status in (JOB_STATUS_CANCELED, JOB_STATUS_CANCELING):
        text = "%s on %s was canceled" % (what, url)
    elif error_message is not None:
        detail = "%s: %s" % (error_class, error_message) if error_class else error_message
        if error_code:
            detail += " [%s]" % error_code
        text = "%s on %s failed: %s" % (what, url, detail)
    else:
        text = "%s on %s ended with status %s" % (what, url, status)
    return RapiError(
        text, kind="job_failed", url=url, job_id=job_id, job_status=status, summary=summary,
        opresult=opresult, error_class=error_class, error_message=error_message,
        error_code=error_code, log=log)


def _log_text(entry):
    message = entry.get("message")
    if isinstance(message, str):
        return message
    return json.dumps(message)


def quote_name(name):
    """Quote an object name or job id for use in a RAPI path."""
    return quote(str(name), safe="")


def describe_path(path):
    """Describe the object a RAPI path refers to, for messages.

    ``/2/instances/web1`` gives ``instance 'web1'``; unknown paths are
    returned as ``resource /path``.
    """
    parts = [part for part in path.split("?")[0].split("/") if part]
    if len(parts) >= 3 and parts[0] == "2" and parts[1] in _PATH_OBJECTS:
        return "%s '%s'" % (_PATH_OBJECTS[parts[1]], unquote(parts[2]))
    return "resource %s" % path


def _encode_query(query):
    if not query:
        return None
    params = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool):
                item = 1 if item else 0
            params.append((key, item))
    return params or None
