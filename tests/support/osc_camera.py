"""A simulated Wi-Fi 360° camera speaking the Open Spherical Camera (OSC) API, level 2.

Written from the public specification (developers.google.com/streetview/open-spherical-camera:
"OSC Protocol" Info, State, Commands/Execute, Commands/Status, Error handling, "XSS and XSRF
Prevention"; "API Commands" camera.listFiles and camera.delete), not from panodock's client,
so a test proves the client against what a camera does. Like libgphoto2's ``disk:`` driver
for PTP, it stands in for hardware the tests cannot have. A real HTTP server on loopback
(stdlib ``http.server``, one thread per connection) serving the bytes it is given.

What it does, and the rules it enforces on its clients:

- ``GET /osc/info``, ``POST /osc/state`` (``fingerprint`` changes whenever storage changes),
  ``POST /osc/commands/execute`` with ``camera.listFiles`` (newest first, at most
  ``max_entries`` per page whatever ``entryCount`` asks: the spec lets a camera answer with
  its own maximum) and ``camera.delete`` (``fileUrls``; an unknown URL fails the whole
  command with ``invalidParameterValue`` and deletes nothing), ``POST /osc/commands/status``;
  files by a plain ``GET`` of their ``fileUrl``, with ``Range: bytes=N-`` answered ``206``
  (or, with ``ranges=False``, ignored with a ``200`` and the whole file, as RFC 9110 allows).
- **No overlapping requests** (Insta360 cameras must not get them): a request that arrives
  while another is being answered (from its arrival until the last write of its answer
  begins, or its connection is cut) is refused with ``503`` and counted in ``overlaps``.
- **XSRF**: in ``insta360`` mode (or ``require_xsrf``) a request without
  ``X-XSRF-Protected: 1`` is refused with ``403`` and counted in ``xsrf_refused``.
- A command body must be sent as ``Content-Type: application/json`` (``400`` otherwise).
- **Digest auth** (Theta X in client mode) when ``credentials`` are given: RFC 7616 with
  MD5 and ``qop="auth"``; anything else gets ``401`` and a challenge.
- Faults a test asks for: :meth:`cut_next_download` (the connection drops after N bytes of a
  file, as a Wi-Fi drop does), :meth:`vanish_during_download` (the whole camera goes away
  after N bytes: from that moment no request is answered and the port closes, until
  :meth:`come_back`), :meth:`vanish` / :meth:`come_back`.
- ``taken_while_listing``: files stored right after a first page of ``camera.listFiles``
  is answered (a shot taken while a client pages; newest first, so the pages shift).
- ``file_host``: ``fileUrl`` names another host than the one the test connects to (a
  camera in client mode seen through a router's port forward).
- ``on_delete(files)`` is called with the files ``camera.delete`` is about to remove, so a
  test can check, at that moment, that each is already archived.

Every request is logged in ``requests`` as ``(method, path, range header)``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from workers.service.redis_server import free_port


@dataclass
class CameraFile:
    """One file on the simulated camera's storage."""

    folder: str  # e.g. "100RICOH"
    name: str
    data: bytes
    taken: str  # dateTimeZone, "YYYY:MM:DD HH:MM:SS+HH:MM"
    width: int = 0
    height: int = 0
    processed: bool = True  # False while the camera is still stitching it
    listed_size: int | None = None  # a size the listing gives instead of the real one

    @property
    def path(self) -> str:
        return f"/files/{self.folder}/{self.name}"


@dataclass
class _Faults:
    cut: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before the cut
    vanish: dict[str, int] = field(default_factory=dict)


class OscCamera:
    """The simulated camera (module docstring). Use as a context manager, or start/stop."""

    def __init__(
        self,
        *,
        model: str = "RICOH THETA X",
        manufacturer: str = "RICOH",
        insta360: bool = False,
        require_xsrf: bool = False,
        credentials: tuple[str, str] | None = None,
        max_entries: int = 3,
        api_level: tuple[int, ...] = (2,),
        chunk: int = 64 * 1024,
        seconds_per_chunk: float = 0.0,
        on_delete: Callable[[list[CameraFile]], None] | None = None,
        ranges: bool = True,
        file_host: str | None = None,
    ) -> None:
        self.model = model
        self.manufacturer = manufacturer
        self.require_xsrf = require_xsrf or insta360
        self.credentials = credentials
        self.max_entries = max_entries
        self.api_level = list(api_level)
        self.chunk = chunk
        self.seconds_per_chunk = seconds_per_chunk  # > 0: a slow link (Wi-Fi) while sending
        self.on_delete = on_delete
        self.ranges = ranges  # False: ignore Range and send the whole file (as HTTP allows)
        self.file_host = file_host  # fileUrls name this host (a camera behind a router's NAT)
        self.taken_while_listing: list[CameraFile] = []  # each stored after a first page
        self.bytes_sent = 0  # file bytes written to clients, all downloads together
        self.port = free_port()
        self.files: list[CameraFile] = []  # in capture order (oldest first)
        self.requests: list[tuple[str, str, str | None]] = []
        self.overlaps = 0
        self.xsrf_refused = 0
        self.auth_refused = 0
        self.refused_bodies = 0  # a command body sent without a JSON Content-Type
        self.deleted: list[str] = []
        self._storage_version = 0
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._busy: object | None = None  # the request being answered
        self._gone = False  # vanished: answer nothing until come_back()
        self._vanishing: threading.Thread | None = None
        self._nonces: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def file_base(self) -> str:
        """What each ``fileUrl`` starts with: the camera's own address as it knows it."""
        return self.file_host or self.url

    def __enter__(self) -> OscCamera:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        camera = self

        class Handler(_Handler):
            owner = camera

        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:  # kept-alive connections die with the camera's Wi-Fi
            try:
                conn.shutdown(2)
            except OSError:
                pass

    def vanish(self) -> None:
        """The camera leaves the Wi-Fi (switched off, out of range): its port closes."""
        self._gone = True
        self.stop()

    def come_back(self) -> None:
        """The camera is back on the same address."""
        if self._vanishing is not None:  # a vanish during a download is still closing up
            self._vanishing.join()
            self._vanishing = None
        self._gone = False
        if self._server is None:
            self.start()

    @property
    def online(self) -> bool:
        return self._server is not None

    def add(self, folder: str, name: str, data: bytes, taken: str, **kw: Any) -> CameraFile:
        """Store a new file (as taking a picture does); the state fingerprint changes."""
        with self._lock:
            f = CameraFile(folder, name, data, taken, **kw)
            self.files.append(f)
            self._storage_version += 1
            return f

    def fix_size(self, name: str) -> None:
        """The listing gives the real size of ``name`` again; the fingerprint changes."""
        with self._lock:
            for f in self.files:
                if f.name == name:
                    f.listed_size = None
            self._storage_version += 1

    def finish_processing(self, name: str) -> None:
        with self._lock:
            for f in self.files:
                if f.name == name:
                    f.processed = True
            self._storage_version += 1

    def cut_next_download(self, name: str, after_bytes: int) -> None:
        """The next download of ``name`` drops its connection after ``after_bytes``."""
        self._faults.cut[name] = after_bytes

    def vanish_during_download(self, name: str, after_bytes: int) -> None:
        """During the next download of ``name`` the camera goes away after ``after_bytes``."""
        self._faults.vanish[name] = after_bytes

    def downloads(self, name: str) -> list[str | None]:
        """The Range header of every GET of ``name`` (None: the whole file)."""
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name)]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]

    # -- the API ------------------------------------------------------------------------

    def fingerprint(self) -> str:
        return f"FIG_{self._storage_version:04d}"

    def info(self) -> dict[str, Any]:
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serialNumber": "10100001",
            "firmwareVersion": "2.40.0",
            "supportUrl": "https://example.invalid/support",
            "gps": False,
            "gyro": True,
            "uptime": 600,
            "api": [
                "/osc/info",
                "/osc/state",
                "/osc/commands/execute",
                "/osc/commands/status",
            ],
            "endpoints": {"httpPort": self.port, "httpUpdatesPort": self.port},
            "apiLevel": self.api_level,
        }

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint(),
            "state": {"batteryLevel": 0.8, "storageUri": "SD1", "_apiVersion": 2},
        }

    def execute(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("name")
        params = body.get("parameters") or {}
        if name == "camera.listFiles":
            return self._list_files(params)
        if name == "camera.delete":
            return self._delete(params)
        return 400, _error(str(name), "unknownCommand", f"command {name} is not supported")

    def _entry(self, f: CameraFile) -> dict[str, Any]:
        return {
            "name": f.name,
            "fileUrl": self.file_base + f.path,
            "size": len(f.data) if f.listed_size is None else f.listed_size,
            "dateTimeZone": f.taken,
            "width": f.width,
            "height": f.height,
            "isProcessed": f.processed,
            "previewUrl": "",
        }

    def _list_files(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for required in ("fileType", "entryCount", "maxThumbSize"):
            if required not in params:
                return 400, _error("camera.listFiles", "missingParameter", f"{required} missing")
        unknown = set(params) - {"fileType", "startPosition", "entryCount", "maxThumbSize"}
        if unknown:
            return 400, _error("camera.listFiles", "invalidParameterName", f"{sorted(unknown)}")
        kind, count = params["fileType"], params["entryCount"]
        start = params.get("startPosition", 0)
        if kind not in ("all", "image", "video") or not isinstance(count, int) or count < 0:
            return 400, _error("camera.listFiles", "invalidParameterValue", "bad value")
        with self._lock:
            chosen = [
                f for f in reversed(self.files) if kind == "all" or _file_type(f.name) == kind
            ]  # newest first
            page = chosen[start : start + min(count, self.max_entries)]
            entries = [self._entry(f) for f in page]
            total = len(chosen)
            if start == 0 and self.taken_while_listing:  # a shot lands between two pages
                self.files.append(self.taken_while_listing.pop(0))
                self._storage_version += 1
        return 200, {
            "name": "camera.listFiles",
            "state": "done",
            "results": {"entries": entries, "totalEntries": total},
        }

    def _delete(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        urls = params.get("fileUrls")
        if not isinstance(urls, list):
            return 400, _error("camera.delete", "missingParameter", "fileUrls missing")
        with self._lock:
            by_url = {self.file_base + f.path: f for f in self.files}
            if any(u not in by_url for u in urls):
                return 400, _error("camera.delete", "invalidParameterValue", "unknown fileUrl")
            doomed = [by_url[u] for u in urls]
        if self.on_delete is not None:
            self.on_delete(doomed)  # may raise: the test's check failed, nothing is deleted
        with self._lock:
            for u in urls:
                if by_url[u] not in self.files:
                    continue
                self.files.remove(by_url[u])
                self.deleted.append(by_url[u].name)
            self._storage_version += 1
        return 200, {"name": "camera.delete", "state": "done", "results": {"fileUrls": []}}

    def file_for(self, path: str) -> CameraFile | None:
        with self._lock:
            return next((f for f in self.files if f.path == path), None)

    # -- request discipline -------------------------------------------------------------

    def enter(self, request: object) -> bool:
        """Start answering ``request``; False when another one is being answered."""
        with self._lock:
            if self._busy is not None:
                self.overlaps += 1
                return False
            self._busy = request
            return True

    def leave(self, request: object) -> None:
        """``request`` is answered (or about to be, by its last write); only its own mark goes."""
        with self._lock:
            if self._busy is request:
                self._busy = None

    def challenge(self) -> str:
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        return f'Digest realm="OSC camera", qop="auth", nonce="{nonce}", algorithm=MD5'

    def authorised(self, method: str, header: str | None) -> bool:
        """RFC 7616 digest check (MD5, qop=auth) of an Authorization header."""
        if self.credentials is None:
            return True
        if not header or not header.startswith("Digest "):
            return False
        fields = _parse_digest(header[len("Digest ") :])
        user, password = self.credentials
        if fields.get("username") != user or fields.get("nonce") not in self._nonces:
            return False
        ha1 = _md5(f"{user}:{fields.get('realm')}:{password}")
        ha2 = _md5(f"{method}:{fields.get('uri')}")
        expected = _md5(
            f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}"
        )
        return fields.get("qop") == "auth" and secrets.compare_digest(
            expected, fields.get("response", "")
        )


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-file (or the link the test cut) is no error here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: OscCamera
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._conns.add(self.connection)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _drop(self) -> None:
        """Hang up without an answer (the camera's Wi-Fi is gone)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self, method: str) -> None:
        cam = self.owner
        if cam._gone:
            self._drop()
            return
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        cam.requests.append((method, path, self.headers.get("Range")))
        if not cam.enter(self):
            self._json(503, _error("camera", "serviceUnavailable", "busy with another request"))
            return
        try:
            if cam.require_xsrf and self.headers.get("X-XSRF-Protected") != "1":
                cam.xsrf_refused += 1
                self._json(403, _error("camera", "forbidden", "X-XSRF-Protected: 1 missing"))
                return
            kind = self.headers.get("Content-Type", "")
            if raw and not kind.replace(" ", "").startswith("application/json"):
                cam.refused_bodies += 1
                self._json(400, _error("camera", "invalidParameterValue", "body is not JSON"))
                return
            if not cam.authorised(method, self.headers.get("Authorization")):
                cam.auth_refused += 1
                self._json(
                    401,
                    _error("camera", "unauthorized", "digest authentication required"),
                    extra={"WWW-Authenticate": cam.challenge()},
                )
                return
            self._route(method, path, raw)
        finally:
            cam.leave(self)

    def _route(self, method: str, path: str, raw: bytes) -> None:
        cam = self.owner
        if method == "GET" and path == "/osc/info":
            self._json(200, cam.info())
        elif method == "POST" and path == "/osc/state":
            self._json(200, cam.state())
        elif method == "POST" and path == "/osc/commands/execute":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, _error("camera", "invalidParameterValue", "body is not JSON"))
                return
            self._json(*cam.execute(body))
        elif method == "POST" and path == "/osc/commands/status":
            self._json(400, _error("camera.commands.status", "invalidParameterValue", "no id"))
        elif method == "GET" and (f := cam.file_for(path)) is not None:
            self._file(f)
        else:
            self._json(404, _error("camera", "notFound", f"no {path}"))

    def _file(self, f: CameraFile) -> None:
        cam = self.owner
        start = 0
        spec = self.headers.get("Range") if cam.ranges else None
        if spec:
            first = spec.removeprefix("bytes=").split("-")[0]
            start = int(first) if first.isdigit() else -1
            if not 0 <= start < len(f.data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(f.data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = f.data[start:]
        self.send_response(206 if spec else 200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if spec:
            self.send_header("Content-Range", f"bytes {start}-{len(f.data) - 1}/{len(f.data)}")
        self.end_headers()
        cut = cam._faults.cut.pop(f.name, None)
        vanish = cam._faults.vanish.pop(f.name, None)
        stop_at = min(x for x in (cut, vanish, len(body)) if x is not None)
        sent = 0
        while sent < stop_at:
            piece = body[sent : min(stop_at, sent + cam.chunk)]
            if sent + len(piece) >= len(body):
                cam.leave(self)  # the last write: the client may ask again once it has it
            self.wfile.write(piece)
            sent += len(piece)
            cam.bytes_sent += len(piece)
            if cam.seconds_per_chunk:
                time.sleep(cam.seconds_per_chunk)
        if sent < len(body):  # the Wi-Fi drops: the connection dies mid-file
            if vanish is not None:
                cam._gone = True  # before the client can notice and ask again
            cam.leave(self)
            self._drop()
            if vanish is not None:
                cam._vanishing = threading.Thread(target=cam.vanish, daemon=True)
                cam._vanishing.start()

    def _json(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.owner.leave(self)  # the last write: the client may ask again once it has it
        self.wfile.write(data)


def _error(name: str, code: str, message: str) -> dict[str, Any]:
    return {"name": name, "state": "error", "error": {"code": code, "message": message}}


def _file_type(name: str) -> str:
    return "video" if name.lower().endswith((".mp4", ".insv", ".mov")) else "image"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _parse_digest(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in _split_commas(text):
        key, _, value = part.strip().partition("=")
        fields[key.strip()] = value.strip().strip('"')
    return fields


def _split_commas(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]
