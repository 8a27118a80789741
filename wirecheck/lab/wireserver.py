"""The WireServer simulator: `?comp=versions` on TCP 80, a silent listener on 32526, and IMDS.

Run inside the lab's host namespace as `python -m wirecheck.lab.wireserver`. What it
answers is decided by the pure functions `wire_reply` and `imds_reply`; the servers
around them only move bytes and log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wirecheck.lab.scenarios import WireMode
from wirecheck.lab.service import Log, serve_until_signalled, write_ready

# What the platform serves today (tests/fixtures/versions.xml): "2010-28-10" is real.
VERSIONS_XML = b"""\
<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2012-09-15</Version>
    <Version>2012-05-15</Version>
    <Version>2011-12-31</Version>
    <Version>2011-10-15</Version>
    <Version>2011-08-31</Version>
    <Version>2011-04-07</Version>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>
"""
XML = "text/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"
HUGE_BYTES = 4 * 1024 * 1024
SLOW_BYTE_INTERVAL_S = 0.25  # ~700 bytes at this pace: minutes, far past any deadline
GARBAGE = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 this is not HTTP \xff\xfe\r\n\r\n"
# The GuestProxyAgent's own refusal, as its local listener sends it: no body,
# `connection: close`, and no x-ms-azure-host-authorization header (which only what it
# forwards from the host carries). The lab does not redirect connects as its eBPF program
# does: in this mode the simulator itself answers like the agent's listener.
GPA_FORBIDDEN = (
    b"HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n"
    b"date: Fri, 02 Oct 2026 09:20:13 GMT\r\n\r\n"
)
# How long an idle connection (a traceroute probe, a client gone quiet) is kept.
IDLE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    body: bytes = b""
    content_type: str = XML
    raw: bytes | None = None  # sent as-is instead of an HTTP response (garbage)
    byte_interval_s: float = 0.0  # > 0: the body is trickled one byte at a time


def _error_xml(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()


def versions_reply(mode: WireMode) -> Reply:
    """The answer to `GET /?comp=versions` in each mode."""
    if mode is WireMode.HTTP_500:
        return Reply(
            500,
            "Internal Server Error",
            _error_xml("InternalError", "The server encountered an internal error."),
        )
    if mode is WireMode.MALFORMED:
        return Reply(200, "OK", VERSIONS_XML[: len(VERSIONS_XML) // 2])
    if mode is WireMode.GARBAGE:
        return Reply(0, "", raw=GARBAGE)
    if mode is WireMode.SLOW:
        return Reply(200, "OK", VERSIONS_XML, byte_interval_s=SLOW_BYTE_INTERVAL_S)
    if mode is WireMode.HUGE:
        head, tail = VERSIONS_XML.split(b"<Versions>", 1)
        padding = b"<!-- " + b"x" * HUGE_BYTES + b" -->"
        return Reply(200, "OK", head + b"<Versions>" + padding + tail)
    return Reply(200, "OK", VERSIONS_XML)


def wire_reply(mode: WireMode, method: str, target: str) -> Reply:
    """WireServer's answer to one request line.

    `/?comp=versions` answers per mode; `/` with another or no `comp` is a 400 (as the
    real one answers), any other path a 404. In garbage mode everything is garbage: what
    listens on port 80 is not an HTTP server at all; in gpa-403 mode every request gets the
    GuestProxyAgent's refusal.
    """
    if mode is WireMode.GARBAGE:
        return Reply(0, "", raw=GARBAGE)
    if mode is WireMode.GPA_403:
        return Reply(403, "Forbidden", raw=GPA_FORBIDDEN)
    if method not in ("GET", "HEAD"):
        return Reply(405, "Method Not Allowed", _error_xml("MethodNotAllowed", method))
    parts = urlsplit(target)
    if parts.path != "/":
        return Reply(404, "Not Found", _error_xml("ResourceNotFound", parts.path))
    comp = parse_qs(parts.query).get("comp", [])
    if comp == ["versions"]:
        return versions_reply(mode)
    return Reply(400, "Bad Request", _error_xml("InvalidQueryParameterValue", "comp"))


def imds_reply(
    method: str, target: str, headers: Mapping[str, str], network: Mapping[str, Any]
) -> Reply:
    """IMDS's answer: needs `Metadata: true` and an api-version; refuses proxied requests."""

    def error(status: int, reason: str, message: str) -> Reply:
        return Reply(status, reason, json.dumps({"error": message}).encode(), JSON)

    lowered = {k.lower(): v for k, v in headers.items()}
    if "x-forwarded-for" in lowered:
        return error(403, "Forbidden", "Request was proxied; IMDS only answers direct requests.")
    if lowered.get("metadata", "").lower() != "true":
        return error(400, "Bad Request", "Bad request. Required metadata header not specified")
    if method != "GET":
        return error(405, "Method Not Allowed", f"{method} is not supported")
    parts = urlsplit(target)
    if not parse_qs(parts.query).get("api-version"):
        return error(400, "Bad Request", "Bad request. api-version was not specified")
    path = parts.path.rstrip("/")
    if path == "/metadata/instance/network":
        return Reply(200, "OK", json.dumps(network).encode(), JSON)
    if path == "/metadata/instance":
        document = {
            "compute": {"azEnvironment": "AzurePublicCloud", "location": "wirecheck-lab"},
            "network": network,
        }
        return Reply(200, "OK", json.dumps(document).encode(), JSON)
    return error(404, "Not Found", f"{parts.path} is not an IMDS path")


Route = Callable[[str, str, Mapping[str, str]], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], route: Route, log: Log, label: str) -> None:
        super().__init__(address, _Handler)
        self.route, self.log, self.label = route, log, label

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, not a traceback: probes that reset or vanish are normal here."""
        error = sys.exc_info()[1]
        self.log(f"{self.label} {client_address[0]}:{client_address[1]} ended: {error!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S  # frees handlers of connections that never send a request
    server: _Server

    def version_string(self) -> str:
        return "Microsoft-IIS/10.0"

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_POST(self) -> None:
        self._answer()

    def _answer(self, head: bool = False) -> None:
        reply = self.server.route(self.command, self.path, dict(self.headers.items()))
        self.close_connection = True
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        self.server.log(
            f"{self.server.label} {client} {self.command} {self.path} -> {reply.status or 'raw'}"
        )
        try:
            if reply.raw is not None:
                self.wfile.write(reply.raw)
                return
            self.send_response(reply.status, reply.reason)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if head:
                return
            if reply.byte_interval_s <= 0:
                self.wfile.write(reply.body)
                return
            for index in range(len(reply.body)):
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()
                time.sleep(reply.byte_interval_s)
        except OSError as exc:  # the client left (our probes stop at their deadline)
            self.server.log(f"{self.server.label} {client} left mid-answer: {exc.strerror or exc}")

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(f"{self.server.label} {format % args}")


class _SilentListener:
    """Accepts TCP connections and never answers, like the host agent plugin on 32526."""

    def __init__(self, address: tuple[str, int], log: Log) -> None:
        self._sock = socket.create_server(address, reuse_port=False)
        self._log = log
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return  # closed by stop()
            self._log(f"plugin {peer[0]}:{peer[1]} connected")
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    @staticmethod
    def _hold(conn: socket.socket) -> None:
        """Read and discard until the client closes or stays idle too long."""
        conn.settimeout(IDLE_TIMEOUT_S)
        with conn, contextlib.suppress(OSError):
            while conn.recv(4096):
                pass

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


@dataclass(frozen=True)
class WireConfig:
    address: str
    mode: WireMode = WireMode.NORMAL
    http_port: int = 80
    plugin_port: int = 32526
    imds_address: str | None = None
    imds_port: int = 80
    imds_network: Mapping[str, Any] | None = None


class WireSimulator:
    """WireServer, the plugin listener and (optionally) IMDS, each serving in its threads."""

    def __init__(self, config: WireConfig, log: Log) -> None:
        self._config, self._log = config, log
        self._http: list[_Server] = []
        self._plugin: _SilentListener | None = None

    def start(self) -> dict[str, int]:
        """Bind and serve; returns the ports really bound (tests ask for port 0)."""
        cfg = self._config
        wire = _Server(
            (cfg.address, cfg.http_port),
            lambda m, t, _h: wire_reply(cfg.mode, m, t),
            self._log,
            f"wireserver[{cfg.mode.value}]",
        )
        self._http.append(wire)
        self._plugin = _SilentListener((cfg.address, cfg.plugin_port), self._log)
        ports = {"http": wire.server_address[1], "plugin": self._plugin.port}
        if cfg.imds_address:
            network = dict(cfg.imds_network or {})
            imds = _Server(
                (cfg.imds_address, cfg.imds_port),
                lambda m, t, h: imds_reply(m, t, h, network),
                self._log,
                "imds",
            )
            self._http.append(imds)
            ports["imds"] = imds.server_address[1]
        for server in self._http:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self._plugin.start()
        return ports

    def stop(self) -> None:
        for server in self._http:
            server.shutdown()
            server.server_close()
        if self._plugin:
            self._plugin.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wirecheck.lab.wireserver")
    parser.add_argument("--address", required=True)
    parser.add_argument("--mode", type=WireMode, choices=list(WireMode), default=WireMode.NORMAL)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--plugin-port", type=int, default=32526)
    parser.add_argument("--imds-address")
    parser.add_argument("--imds-port", type=int, default=80)
    parser.add_argument("--imds-network-file", type=Path)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    network = (
        json.loads(args.imds_network_file.read_text(encoding="utf-8"))
        if args.imds_network_file
        else None
    )
    log = Log(name="wireserver")
    simulator = WireSimulator(
        WireConfig(
            args.address,
            args.mode,
            args.http_port,
            args.plugin_port,
            args.imds_address,
            args.imds_port,
            network,
        ),
        log,
    )
    ports = simulator.start()
    log(f"listening on {args.address} {ports} in mode {args.mode.value}")
    write_ready(args.ready_file, ports)
    serve_until_signalled(simulator.stop, log)


if __name__ == "__main__":
    main()
