# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small HTTPS server that behaves like Ganeti RAPI, for the client tests.

It listens on 127.0.0.1 only, with certificates generated for each test
session by ``cryptography``.
"""

from __future__ import annotations

import base64
import datetime
import html
import ipaddress
import json
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


# ----------------------------------------------------------------------
# Certificates


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pem(path, *objects):
    with open(path, "wb") as handle:
        for obj in objects:
            if isinstance(obj, x509.Certificate):
                handle.write(obj.public_bytes(serialization.Encoding.PEM))
            else:
                handle.write(obj.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ))


def _make_ca(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(ca_key, ca_cert, common_name, dns_names=(), ip_addresses=()):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


class CertSet:
    """Paths of the PEM files used by the tests."""

    def __init__(self, directory):
        ca_key, ca_cert = _make_ca("Test RAPI CA")
        other_key, other_cert = _make_ca("Some other CA")
        del other_key
        self.ca = os.path.join(directory, "ca.pem")
        self.other_ca = os.path.join(directory, "other-ca.pem")
        _write_pem(self.ca, ca_cert)
        _write_pem(self.other_ca, other_cert)

        key, cert = _make_leaf(ca_key, ca_cert, "localhost", ["localhost"], ["127.0.0.1"])
        self.good = os.path.join(directory, "server-good.pem")
        _write_pem(self.good, cert, key)

        # Like Ganeti's stock RAPI certificate: issued to ganeti.example.com.
        key, cert = _make_leaf(ca_key, ca_cert, "ganeti.example.com", ["ganeti.example.com"])
        self.example = os.path.join(directory, "server-example.pem")
        _write_pem(self.example, cert, key)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return CertSet(str(tmp_path_factory.mktemp("certs")))


# ----------------------------------------------------------------------
# Fake RAPI


class FakeJob:
    """A job whose progress is scripted as a list of stages.

    Each stage is ``(status, [log messages])``, a log message being
    ``(type, message)``.  Every ``/wait`` call moves the job one stage on,
    like time passing on a real cluster.
    """

    def __init__(self, job_id, stages, final=None):
        self.job_id = job_id
        self.stages = stages
        self.position = -1
        self.serial = 0
        self.log = []
        self.final = final or {}
        self.lock = threading.Lock()

    def advance(self):
        with self.lock:
            if self.position + 1 < len(self.stages):
                self.position += 1
                messages = self.stages[self.position][1]
                for log_type, message in messages:
                    self.serial += 1
                    self.log.append([self.serial, [1700000000 + self.serial, 250000], log_type, message])

    @property
    def status(self):
        if self.position < 0:
            return "queued"
        return self.stages[self.position][0]

    def wait_answer(self, prev_info, prev_serial):
        self.advance()
        entries = [entry for entry in self.log if prev_serial is None or entry[0] > prev_serial]
        # Like luxid: a finalized job is answered at once, never "not changed".
        finalized = self.status in ("success", "error", "canceling", "canceled")
        if prev_info == [self.status] and not entries and not finalized:
            return None
        return {"job_info": [self.status], "log_entries": entries}

    def info(self):
        data = {
            "id": int(self.job_id),
            "status": self.status,
            "summary": self.final.get("summary", ["TAGS_SET(cluster)"]),
            "opstatus": self.final.get("opstatus", [self.status]),
            "opresult": self.final.get("opresult", [None]),
            "oplog": [list(self.log)],
            "received_ts": [1700000000, 0],
            "start_ts": [1700000001, 0],
            "end_ts": [1700000002, 0],
        }
        return data


class FakeRapi:
    """State of the fake server: users, routes, jobs and the request log."""

    def __init__(self):
        self.users = {"admin": ("s3cret-Pa55", "write"), "reader": ("r3ad-only", "read")}
        self.require_auth = True
        self.routes = {}
        self.jobs = {}
        self.requests = []
        self.lock = threading.Lock()

    def route(self, method, path, *responses):
        """Answer ``method path`` with the given responses in turn (the last one repeats).

        A response is ``(status, body)`` (body JSON-encoded unless bytes) or a
        callable ``f(request) -> (status, body)``.
        """
        self.routes[(method, path)] = list(responses)

    def add_job(self, job_id, stages, final=None):
        job = FakeJob(str(job_id), stages, final)
        self.jobs[str(job_id)] = job
        return job

    def count(self, method, path):
        return sum(1 for req in self.requests if req["method"] == method and req["path"] == path)


def _error(code, message, explain=""):
    # Ganeti escapes the message with html.escape, like its HTTP server does.
    return code, {"code": code, "message": html.escape(message), "explain": explain}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _send(self, status, body):
        if isinstance(body, bytes):
            payload = body
            content_type = "text/html"
        else:
            payload = json.dumps(body).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Ganeti Remote API"')
        self.end_headers()
        self.wfile.write(payload)

    def _user(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None, None
        user, dummy, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _handle(self, method):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = {
            "method": method,
            "path": parts.path,
            "query": parse_qs(parts.query),
            "headers": dict(self.headers.items()),
            "body": raw,
            "json": None,
        }
        with fake.lock:
            fake.requests.append(request)

        user, password = self._user()
        access = None
        if user is not None:
            entry = fake.users.get(user)
            if entry is None or entry[0] != password:
                return self._send(*_error(401, "Unauthorized"))
            access = entry[1]
        elif fake.require_auth:
            return self._send(*_error(401, "Unauthorized"))

        if raw:
            if self.headers.get("Content-Type") != "application/json":
                return self._send(*_error(415, "Unsupported Media Type"))
            try:
                request["json"] = json.loads(raw)
            except ValueError:
                return self._send(*_error(400, "Unable to parse JSON data"))

        needs_write = method != "GET" or parts.path.endswith("/wait")
        if needs_write and access != "write":
            return self._send(*_error(403, "Forbidden"))

        responses = fake.routes.get((method, parts.path))
        if responses:
            response = responses.pop(0) if len(responses) > 1 else responses[0]
            if callable(response):
                response = response(request)
            return self._send(*response)

        segments = [seg for seg in parts.path.split("/") if seg]
        if len(segments) >= 3 and segments[:2] == ["2", "jobs"]:
            job = fake.jobs.get(segments[2])
            if job is None:
                return self._send(*_error(404, "Not Found"))
            if len(segments) == 4 and segments[3] == "wait" and method == "GET":
                body = request["json"] or {}
                return self._send(200, job.wait_answer(body.get("previous_job_info"),
                                                       body.get("previous_log_serial")))
            if len(segments) == 3 and method == "GET":
                return self._send(200, job.info())
        return self._send(*_error(404, "Nothing matches the given URI"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RunningServer:
    def __init__(self, fake, certfile, use_tls=True):
        self.fake = fake
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.fake = fake
        if use_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_rapi():
    return FakeRapi()


@pytest.fixture
def start_server(certs):
    """Factory: ``start_server(fake, cert='good'|'example')`` returns a running server."""
    servers = []

    def start(fake, cert="good"):
        server = RunningServer(fake, getattr(certs, cert))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def rapi(fake_rapi, start_server, certs):
    """A running fake RAPI with the good certificate; returns ``(server, options)``."""
    server = start_server(fake_rapi)
    options = {
        "rapi_url": server.url,
        "rapi_user": "admin",
        "rapi_password": "s3cret-Pa55",
        "ca_path": certs.ca,
        "validate_certs": True,
        "verify_hostname": True,
        "timeout": 10,
    }
    return server, options


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 with nothing listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
