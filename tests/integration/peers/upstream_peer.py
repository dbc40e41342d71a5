#!/usr/bin/python3
"""An upstream server for the upstream-protocol tests: HTTP/2 (python3-h2) and HTTP/1.1
(python3-h11), in cleartext or over TLS, reporting what it saw.

    upstream_peer.py [--tls CERT KEY] [--client-ca FILE] [--alpn h2,http/1.1]
                     [--min-tls 1.2] [--max-tls 1.3] [--max-streams N] [--name NAME]

Prints `listening <port>` once it accepts connections (127.0.0.1, kernel-chosen port). The
protocol of a connection is chosen by ALPN over TLS ("h2" -> HTTP/2, anything else -> HTTP/1.1)
and, in cleartext, by the first bytes (the HTTP/2 preface -> HTTP/2 with prior knowledge).

Behaviour by path (both protocols unless noted):
  default            200, JSON echo: protocol, method, path, authority, headers, body length and
                     sha256, request trailers, conn_id, stream_id (HTTP/2), tls {version, sni,
                     alpn, client_subject, resumed}
  /bytes/N           N bytes of the pattern (byte i = i % 251), with content-length
  /echo-body         the request body as the response body
  /delay/MS          wait MS milliseconds, then the echo
  /trailers          body "ok" and the trailers x-trailer-one: 1, x-trailer-two: 2 (HTTP/1.1:
                     chunked with a trailer section)
  /ws                HTTP/1.1 only: 101 Switching Protocols, then every byte echoed back
  /_stats            JSON counters: connections, open, max_streams_per_conn, refused, goaways
  /refuse-once       HTTP/2: the first such request is reset with REFUSED_STREAM, later ones echo
  /goaway-refuse-once HTTP/2: the first such request gets a GOAWAY whose last_stream_id is below
                     it (so it is not processed), later ones echo
  /goaway            HTTP/2: GOAWAY(last_stream_id = this stream), then the echo; the connection
                     closes once its streams are done
  /freeze            HTTP/2: the echo, then the connection stops reading and writing (a dead
                     peer for the PING health check)
  /early             HTTP/2: answers "early" as soon as the request head arrives, without
                     waiting for the request body (then resets the stream with NO_ERROR)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import ssl
import sys

import h11
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from hyperframe.frame import GoAwayFrame

PATTERN = bytes(range(251))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def pattern(n: int) -> bytes:
    return (PATTERN * (n // 251 + 1))[:n]


class Stats:
    def __init__(self):
        self.connections = 0
        self.open = 0
        self.max_streams_per_conn = 0
        self.refused = 0
        self.goaways = 0
        self.refuse_once_done = False
        self.goaway_refuse_done = False

    def json(self) -> bytes:
        return json.dumps({k: v for k, v in vars(self).items() if not k.endswith("_done")}).encode()


STATS = Stats()


def tls_info(transport) -> dict | None:
    sslobj = transport.get_extra_info("ssl_object")
    if sslobj is None:
        return None
    subject = None
    cert = sslobj.getpeercert()
    if cert:
        subject = dict(x[0] for x in cert.get("subject", ()))
    return {
        "version": sslobj.version(),
        "cipher": sslobj.cipher()[0],
        "sni": SNI.get(id(sslobj)),
        "alpn": sslobj.selected_alpn_protocol(),
        "client_subject": subject,
        "resumed": sslobj.session_reused,
    }


SNI: dict[int, str] = {}


def echo_json(protocol, method, path, authority, headers, body, trailers, conn, stream_id=None):
    return json.dumps({
        "protocol": protocol,
        "method": method,
        "path": path,
        "authority": authority,
        "headers": headers,
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "trailers": trailers,
        "conn_id": conn.conn_id,
        "stream_id": stream_id,
        "tls": conn.tls,
        "name": conn.name,
    }).encode()


def delay_of(path: str) -> float:
    parts = path.split("?")[0].split("/")
    if "delay" in parts:
        i = parts.index("delay")
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            return int(parts[i + 1]) / 1000
    return 0.0


def bytes_of(path: str) -> int | None:
    parts = path.split("?")[0].split("/")
    if "bytes" in parts:
        i = parts.index("bytes")
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


class Connection(asyncio.Protocol):
    """One accepted connection; becomes an HTTP/2 or HTTP/1.1 handler on its first bytes."""

    def __init__(self, args):
        self.args = args
        self.name = args.name
        self.handler = None
        self.transport = None
        self.pending = b""

    def connection_made(self, transport):
        STATS.connections += 1
        STATS.open += 1
        self.conn_id = STATS.connections
        self.transport = transport
        self.tls = tls_info(transport)
        if self.tls is not None:
            if self.tls["alpn"] == "h2":
                self.handler = H2Handler(self)
            else:
                self.handler = H1Handler(self)

    def data_received(self, data):
        if self.handler is None:
            self.pending += data
            if len(self.pending) < len(PREFACE) and PREFACE.startswith(self.pending):
                return
            self.handler = H2Handler(self) if self.pending.startswith(PREFACE) else H1Handler(self)
            data, self.pending = self.pending, b""
        self.handler.data_received(data)

    def connection_lost(self, exc):
        STATS.open -= 1
        if self.handler is not None:
            self.handler.connection_lost()


class H2Handler:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.transport = conn.transport
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                      validate_inbound_headers=True))
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: conn.args.max_streams}
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.h2.initiate_connection()
        self.streams: dict[int, dict] = {}
        self.sending: dict[int, tuple[bytes, list | None]] = {}
        self.active = 0
        self.goaway_last: int | None = None
        self.frozen = False
        self.flush()

    def flush(self):
        if not self.frozen:
            data = self.h2.data_to_send()
            if data:
                self.transport.write(data)

    def data_received(self, data):
        if self.frozen:
            return
        try:
            events = self.h2.receive_data(data)
        except Exception:  # protocol error: h2 queued a GOAWAY
            self.flush()
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                if self.goaway_last is not None and ev.stream_id > self.goaway_last:
                    continue  # above our GOAWAY: not processed
                self.active += 1
                STATS.max_streams_per_conn = max(STATS.max_streams_per_conn, self.active)
                self.streams[ev.stream_id] = {"headers": ev.headers, "body": bytearray(),
                                              "trailers": []}
                if dict(ev.headers).get(":path", "").endswith("/early") and not ev.stream_ended:
                    self.answer_early(ev.stream_id)
            elif isinstance(ev, h2.events.DataReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st["body"] += ev.data
                if ev.flow_controlled_length:
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st["trailers"] = [[k, v] for k, v in ev.headers]
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in self.streams:
                    asyncio.ensure_future(self.respond(ev.stream_id))
            elif isinstance(ev, h2.events.StreamReset):
                self.done(ev.stream_id)
            elif isinstance(ev, h2.events.WindowUpdated):
                self.pump()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                # The client's GOAWAY: finish the streams in flight, then close.
                if ev.error_code or not self.streams:
                    self.flush()
                    self.transport.close()
                else:
                    self.goaway_last = max(self.streams)  # done() closes after the last
        self.flush()

    def answer_early(self, sid):
        self.h2.send_headers(sid, [(":status", "200"), ("content-length", "5")])
        self.h2.send_data(sid, b"early", end_stream=True)
        self.h2.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)  # RFC 9113 8.1: stop sending
        self.done(sid)

    def done(self, stream_id):
        if self.streams.pop(stream_id, None) is not None:
            self.active -= 1
        self.sending.pop(stream_id, None)
        if self.goaway_last is not None and not self.streams:
            self.flush()
            self.transport.close()

    async def respond(self, sid):
        st = self.streams[sid]
        headers = dict(st["headers"])
        path = headers.get(":path", "/")
        bare = path.split("?")[0]
        if bare.endswith("/refuse-once") and not STATS.refuse_once_done:
            STATS.refuse_once_done = True
            STATS.refused += 1
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.done(sid)
            self.flush()
            return
        if bare.endswith("/goaway-refuse-once") and not STATS.goaway_refuse_done:
            STATS.goaway_refuse_done = True
            STATS.goaways += 1
            self.goaway_last = sid - 2
            self.streams.pop(sid, None)
            self.active -= 1
            self.flush()
            self.transport.write(GoAwayFrame(0, last_stream_id=max(sid - 2, 0)).serialize())
            if not self.streams:
                self.transport.close()
            return
        if bare.endswith("/goaway"):
            STATS.goaways += 1
            self.goaway_last = sid
            self.flush()
            self.transport.write(GoAwayFrame(0, last_stream_id=sid).serialize())
        d = delay_of(path)
        if d:
            await asyncio.sleep(d)
        if sid not in self.streams:
            return
        if bare == "/_stats":
            body, extra = STATS.json(), [("content-type", "application/json")]
        elif bare.endswith("/echo-body"):
            body, extra = bytes(st["body"]), []
        elif (n := bytes_of(path)) is not None:
            body, extra = pattern(n), []
        elif bare.endswith("/trailers"):
            self.send(sid, 200, b"ok", [("content-type", "text/plain")],
                      trailers=[("x-trailer-one", "1"), ("x-trailer-two", "2")])
            return
        else:
            body = echo_json("HTTP/2", headers.get(":method"), path, headers.get(":authority"),
                             [[k, v] for k, v in st["headers"]], bytes(st["body"]),
                             st["trailers"], self.conn, sid)
            extra = [("content-type", "application/json")]
        head_only = headers.get(":method") == "HEAD"
        self.send(sid, 200, b"" if head_only else body,
                  extra + [("content-length", str(len(body)))])
        if bare.endswith("/freeze"):
            self.flush()
            self.frozen = True
            self.transport.pause_reading()

    def send(self, sid, status, body, headers, trailers=None):
        self.h2.send_headers(sid, [(":status", str(status)), ("x-upstream-name", self.conn.name),
                                   ("x-conn-id", str(self.conn.conn_id))] + headers)
        self.sending[sid] = (body, trailers)
        self.pump()
        self.flush()

    def pump(self):
        for sid in list(self.sending):
            body, trailers = self.sending[sid]
            while body:
                window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if window <= 0:
                    break
                self.h2.send_data(sid, body[:window])
                body = body[window:]
            if body:
                self.sending[sid] = (body, trailers)
                continue
            if trailers:
                self.h2.send_headers(sid, trailers, end_stream=True)
            else:
                self.h2.end_stream(sid)
            self.done(sid)
        self.flush()

    def connection_lost(self):
        pass


class H1Handler:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.transport = conn.transport
        self.h11 = h11.Connection(h11.SERVER)
        self.request = None
        self.body = bytearray()
        self.tunnel = False
        self.busy = False
        self.queue = bytearray()

    def data_received(self, data):
        if self.tunnel:
            self.transport.write(data)  # WebSocket (or any upgraded protocol): echo
            return
        self.h11.receive_data(data)
        self.process()

    def process(self):
        while not self.busy:
            try:
                ev = self.h11.next_event()
            except h11.RemoteProtocolError:
                self.transport.close()
                return
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                return
            if isinstance(ev, h11.Request):
                self.request = ev
                self.body = bytearray()
                self.trailers = []
                target = ev.target.decode()
                if target.split("?")[0].endswith("/ws"):
                    key = dict(ev.headers).get(b"sec-websocket-key", b"")
                    accept = __import__("base64").b64encode(hashlib.sha1(
                        key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                    self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                                         b"\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                                         accept + b"\r\n\r\n")
                    self.tunnel = True
                    rest, _ = self.h11.trailing_data
                    if rest:
                        self.transport.write(rest)
                    return
            elif isinstance(ev, h11.Data):
                self.body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                self.trailers = [[k.decode(), v.decode()] for k, v in ev.headers]
                self.busy = True
                asyncio.ensure_future(self.respond())
                return
            elif isinstance(ev, h11.ConnectionClosed):
                self.transport.close()
                return

    async def respond(self):
        req = self.request
        path = req.target.decode()
        bare = path.split("?")[0]
        headers = [[k.decode(), v.decode()] for k, v in req.headers]
        d = delay_of(path)
        if d:
            await asyncio.sleep(d)
        common = [("x-upstream-name", self.conn.name), ("x-conn-id", str(self.conn.conn_id))]
        trailers = None
        if bare == "/_stats":
            body, extra = STATS.json(), [("content-type", "application/json")]
        elif bare.endswith("/echo-body"):
            body, extra = bytes(self.body), []
        elif (n := bytes_of(path)) is not None:
            body, extra = pattern(n), []
        elif bare.endswith("/trailers"):
            body, extra = b"ok", [("content-type", "text/plain"),
                                  ("transfer-encoding", "chunked")]
            trailers = [("x-trailer-one", "1"), ("x-trailer-two", "2")]
        else:
            host = dict(req.headers).get(b"host", b"").decode()
            body = echo_json("HTTP/1.1", req.method.decode(), path, host, headers,
                             bytes(self.body), self.trailers, self.conn)
            extra = [("content-type", "application/json")]
        if trailers is None:
            extra.append(("content-length", str(len(body))))
        out = self.h11.send(h11.Response(status_code=200, headers=common + extra))
        out += self.h11.send(h11.Data(data=body))
        out += self.h11.send(h11.EndOfMessage(headers=trailers or []))
        self.transport.write(out)
        if self.h11.our_state is h11.MUST_CLOSE:
            self.transport.close()
            return
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            self.transport.close()
            return
        self.busy = False
        self.process()

    def connection_lost(self):
        pass


def tls_context(args) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])
    ctx.set_alpn_protocols(args.alpn.split(","))
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if args.min_tls:
        ctx.minimum_version = versions[args.min_tls]
    if args.max_tls:
        ctx.maximum_version = versions[args.max_tls]
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

    def on_sni(sslobj, name, _ctx):
        SNI[id(sslobj)] = name  # looked up by tls_info() for the connection's SSL object
    ctx.sni_callback = on_sni
    return ctx


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--client-ca")
    p.add_argument("--alpn", default="h2,http/1.1")
    p.add_argument("--min-tls")
    p.add_argument("--max-tls")
    p.add_argument("--max-streams", type=int, default=100)
    p.add_argument("--name", default="peer")
    args = p.parse_args()
    ctx = tls_context(args) if args.tls else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(args), "127.0.0.1", 0, ssl=ctx,
                                      backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
