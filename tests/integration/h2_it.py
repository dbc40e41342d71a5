"""HTTP/2 clients for the integration suite (Debian's python3-h2, hpack and hyperframe).

- `H2Client`: a well-behaved client on h2.connection (prior knowledge, h2c), for requests and
  responses as a user sees them, including several streams on one connection.
- `RawH2`: frames as bytes (hyperframe + hpack), with no validation, for malformed requests and
  floods; it reads the server's frames back, so a test can assert RST_STREAM and GOAWAY codes.
- `Background`: a normal client that keeps requesting on its own connections while an attack
  runs, and records every failure.
"""

from __future__ import annotations

import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from turnpike_it import recv_some
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 section 7 error codes
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB


class Response:
    def __init__(self):
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.trailers: list[tuple[str, str]] = []
        self.interim: list[int] = []  # 1xx statuses received before the final one
        self.ended = False
        self.reset: int | None = None

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None


class _Conn:
    """What both clients share: a socket, a read step, waiting for the server to close."""

    sock: socket.socket
    timeout: float

    def _read_once(self, timeout: float) -> bool:  # False at EOF
        raise NotImplementedError

    def _is_closed(self) -> bool:
        raise NotImplementedError

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (EOF) within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._is_closed():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._read_once(max(0.05, left))
            except socket.timeout:
                return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class H2Client(_Conn):
    """A prior-knowledge HTTP/2 client connection driven by h2.connection."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                 window: int = 16 * 1024 * 1024, stream_window: int | None = None,
                 auto_ack: bool = True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: stream_window or window})
        self.conn.initiate_connection()
        if window > 65535:
            self.conn.increment_flow_control_window(window - 65535)
        self.auto_ack = auto_ack  # return flow-control credit for every DATA received
        self.responses: dict[int, Response] = {}
        self.goaway: GoAwayFrame | None = None  # the last GOAWAY received
        self.goaways: list[GoAwayFrame] = []
        self._inbuf = b""
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, path: str, method: str = "GET", authority: str = "h2.test",
              headers: list[tuple[str, str]] = (), body: bytes | None = None,
              end_stream: bool | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":authority", authority),
                (":path", path)] + list(headers)
        if body is not None and not any(k == "content-length" for k, _ in headers):
            hdrs.append(("content-length", str(len(body))))
        if end_stream is None:
            end_stream = body is None
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.responses[sid] = Response()
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=True)
        return sid

    def send_body(self, sid: int, body: bytes, end_stream: bool = True):
        view = memoryview(body)
        while True:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room > 0 and view:
                n = min(room, len(view))
                self.conn.send_data(sid, bytes(view[:n]))
                view = view[n:]
                self.flush()
                continue
            if not view:
                break
            self.pump()  # wait for WINDOW_UPDATE
            if self.closed or self.responses[sid].reset is not None:
                return
        if end_stream:
            self.conn.end_stream(sid)
            self.flush()

    def _read_once(self, timeout: float) -> bool:
        return self.pump(timeout)

    def _is_closed(self) -> bool:
        return self.closed

    def pump(self, timeout: float | None = None) -> bool:
        """Read once and process events; False at EOF."""
        data = recv_some(self.sock, self.timeout if timeout is None else timeout, 1 << 20)
        if not data:
            self.closed = True
            return False
        # h2 treats every GOAWAY as the end of the connection and refuses the frames that still
        # follow a graceful one (the shutdown notice, RFC 9113 6.8): GOAWAY frames are taken out
        # here and recorded, the rest goes to h2.
        self._inbuf += data
        passed = b""
        while len(self._inbuf) >= 9:
            length = int.from_bytes(self._inbuf[:3], "big")
            if len(self._inbuf) < 9 + length:
                break
            raw, self._inbuf = self._inbuf[:9 + length], self._inbuf[9 + length:]
            if raw[3] == 0x7:
                frame, _ = Frame.parse_frame_header(memoryview(raw[:9]))
                frame.parse_body(memoryview(raw[9:]))
                self.goaway = frame
                self.goaways.append(frame)
            else:
                passed += raw
        for ev in self.conn.receive_data(passed):
            r = self.responses.get(getattr(ev, "stream_id", None) or 0)
            if isinstance(ev, h2.events.ResponseReceived):
                r.status = int(dict(ev.headers)[":status"])
                r.headers = [(k, v) for k, v in ev.headers if not k.startswith(":")]
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                r.interim.append(int(dict(ev.headers)[":status"]))
            elif isinstance(ev, h2.events.DataReceived):
                r.body += ev.data
                if self.auto_ack and ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                r.trailers = list(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                r.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if r is not None:
                    r.reset = ev.error_code
        self.flush()
        return True

    def wait(self, sid: int, timeout: float | None = None) -> Response:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        r = self.responses[sid]
        while not r.ended and r.reset is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {sid} not answered")
            if not self.pump():
                raise EOFError(f"connection closed before stream {sid} ended")
        return r

    def request(self, path: str, **kw) -> Response:
        return self.wait(self.start(path, **kw))


class RawH2(_Conn):
    """Raw HTTP/2 frames over a socket: nothing is validated, so anything can be sent."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 settings: dict | None = None, send_preface: bool = True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.encoder = hpack.Encoder()
        self.buf = b""
        self.frames: list[Frame] = []
        self.eof = False
        if send_preface:
            sf = SettingsFrame(0)
            for k, v in (settings or {}).items():
                sf.settings[k] = v
            self.send(PREFACE + sf.serialize())

    def send(self, data: bytes) -> bool:
        """Send bytes; False when the server has closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def block(self, fields: list[tuple[str, str]] | list[tuple[bytes, bytes]],
              huffman: bool = False) -> bytes:
        """An HPACK block with literal fields exactly as given (no lower-casing, no checks)."""
        out = b""
        for n, v in fields:
            n = n.encode() if isinstance(n, str) else n
            v = v.encode() if isinstance(v, str) else v
            out += self.encoder.encode([(n, v)], huffman=huffman)
        return out

    def headers(self, sid: int, fields, end_stream: bool = True, end_headers: bool = True,
                max_frame: int = 16384) -> bytes:
        """HEADERS (and CONTINUATION frames when the block is larger than max_frame)."""
        block = self.block(fields)
        f = HeadersFrame(sid)
        f.data, block = block[:max_frame], block[max_frame:]
        if end_stream:
            f.flags.add("END_STREAM")
        frames = [f]
        while block:
            c = ContinuationFrame(sid)
            c.data, block = block[:max_frame], block[max_frame:]
            frames.append(c)
        if end_headers:
            frames[-1].flags.add("END_HEADERS")
        return b"".join(x.serialize() for x in frames)

    @staticmethod
    def get_fields(path: str = "/", authority: str = "h2.test", extra=()) -> list:
        return [(":method", "GET"), (":scheme", "http"), (":authority", authority),
                (":path", path)] + list(extra)

    @staticmethod
    def data(sid: int, payload: bytes = b"", end_stream: bool = False) -> bytes:
        f = DataFrame(sid)
        f.data = payload
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    @staticmethod
    def rst(sid: int, code: int = CANCEL) -> bytes:
        f = RstStreamFrame(sid)
        f.error_code = code
        return f.serialize()

    @staticmethod
    def ping(payload: bytes = b"12345678") -> bytes:
        f = PingFrame(0)
        f.opaque_data = payload
        return f.serialize()

    @staticmethod
    def settings_ack() -> bytes:
        f = SettingsFrame(0)
        f.flags.add("ACK")
        return f.serialize()

    def _parse(self):
        while len(self.buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            frame.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.frames.append(frame)

    def _read_once(self, timeout: float) -> bool:
        return self.read(timeout)

    def _is_closed(self) -> bool:
        return self.eof

    def read(self, timeout: float | None = None) -> bool:
        """Read once; False at EOF (or reset)."""
        if self.eof:
            return False
        d = recv_some(self.sock, self.timeout if timeout is None else timeout, 1 << 20)
        if not d:
            self.eof = True
            return False
        self.buf += d
        self._parse()
        return True

    def wait_for(self, pred, timeout: float | None = None):
        """Read until a frame satisfies pred (returned) or EOF/timeout (None)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = 0
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                if not self.read(timeout=left):
                    return None
            except socket.timeout:
                return None

    def goaway(self, timeout: float | None = None) -> GoAwayFrame | None:
        return self.wait_for(lambda f: isinstance(f, GoAwayFrame), timeout)

    def stream_frames(self, sid: int) -> list[Frame]:
        return [f for f in self.frames if f.stream_id == sid]


def decode_headers(frame: HeadersFrame, decoder: hpack.Decoder) -> list[tuple[str, str]]:
    return [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
            for k, v in decoder.decode(frame.data)]


class Background:
    """A normal client that keeps sending requests (new HTTP/2 connections, several streams each)
    while an attack runs; failures and latencies are recorded."""

    def __init__(self, port: int, path: str = "/bg", authority: str = "h2.test",
                 streams: int = 4):
        self.port, self.path, self.authority, self.streams = port, path, authority, streams
        self.ok = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                with H2Client(self.port, timeout=10) as c:
                    sids = [c.start(f"{self.path}?n={i}", authority=self.authority)
                            for i in range(self.streams)]
                    for sid in sids:
                        r = c.wait(sid)
                        if r.status != 200:
                            self.failures.append(f"status {r.status} reset {r.reset}")
                        else:
                            self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.failures.append(repr(e))
            self.latencies.append(time.monotonic() - t0)

    def __enter__(self):
        self._thread.start()
        # make sure the client works before the attack starts
        deadline = time.monotonic() + 10
        while self.ok == 0 and not self.failures and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._thread.join(timeout=30)
