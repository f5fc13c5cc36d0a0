"""A small client of the Open Spherical Camera (OSC) API, level 2, over HTTP.

What it sends follows the public specification (developers.google.com/streetview/
open-spherical-camera): ``GET /osc/info``; ``POST /osc/state`` (whose ``fingerprint`` changes
when the camera's state, its storage included, changes); ``POST /osc/commands/execute``
with ``camera.listFiles`` (``fileType``, ``startPosition``, ``entryCount``,
``maxThumbSize``) and ``camera.delete`` (``fileUrls``); a file is a plain ``GET`` of its
``fileUrl``. The manufacturer guide's "XSS and XSRF Prevention" asks for the header
``X-XSRF-Protected: 1`` on every request, and Insta360 cameras answer nothing without it,
so every request carries it. Insta360 cameras also must not get overlapping requests: one
lock makes every request (a download included, to its last byte) wait for the previous one.

A Ricoh Theta in client mode (on the school's network rather than its own) asks for HTTP
digest authentication (Ricoh's API reference, option ``_password``): ``httpx.DigestAuth``
answers the challenge. The password is never logged or put in a message.

Errors: a camera that cannot be reached (no Wi-Fi, switched off, out of range) raises
:class:`~ingest.sources.base.SourceOffline`; one that answers with an OSC error body (the
spec's "Error handling": ``400`` plus ``{"error": {"code", "message"}}``) raises
:class:`OscError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import SecretStr

from ingest.sources.base import SourceOffline

#: Headers of every request (the XSRF header: see the module docstring).
HEADERS: Final = {"X-XSRF-Protected": "1", "Accept": "application/json"}
#: The body type of a command, as the spec and Insta360's guide write it.
JSON_BODY: Final = {"Content-Type": "application/json;charset=utf-8"}
#: Seconds to connect, and to wait for each read: a camera on Wi-Fi answers within a second
#: or two; a read that stalls longer is a dropped link, resumed at the next scan.
TIMEOUT: Final = httpx.Timeout(10.0, connect=3.0)
#: Polls of ``/osc/commands/status`` for a command the camera reports ``inProgress``.
STATUS_POLLS: Final = 20


class OscError(Exception):
    """The camera answered a request with an OSC error (code and message are the camera's)."""

    def __init__(self, command: str, code: str, message: str, status: int) -> None:
        super().__init__(f"{command}: the camera answered {status} {code}: {message}")
        self.command, self.code, self.status = command, code, status


@dataclass(frozen=True, slots=True)
class OscFile:
    """One entry of ``camera.listFiles``."""

    name: str
    url: str  # fileUrl: absolute, downloaded with a plain GET
    size: int
    taken: str  # dateTimeZone, "YYYY:MM:DD HH:MM:SS+HH:MM"
    width: int
    height: int
    processed: bool  # isProcessed: False while the camera is still stitching it


class OscClient:
    """Talk to one camera at ``url`` (module docstring); one request at a time.

    Parameters
    ----------
    url:
        The camera's address, e.g. ``http://192.168.1.1``.
    username, password:
        Digest-auth credentials (Theta in client mode); None for a camera's own Wi-Fi.
    client:
        An ``httpx.Client`` to use (tests); by default one with :data:`TIMEOUT`.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        # httpx logs every request at INFO; a camera polled every second would flood the log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        auth = None
        if username is not None and password is not None:
            auth = httpx.DigestAuth(username, password.get_secret_value())
        self._http = client or httpx.Client(timeout=TIMEOUT, limits=httpx.Limits(max_connections=1))
        self._auth = auth
        self._one = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- the protocol -------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /osc/info``: manufacturer, model, firmware, ``apiLevel``..."""
        return self._json("GET", "/osc/info", "camera.info")

    def fingerprint(self) -> str:
        """``POST /osc/state``'s ``fingerprint``: it changes when storage changes."""
        state = self._json("POST", "/osc/state", "camera.state")
        return str(state.get("fingerprint", ""))

    def list_files(self, *, file_type: str = "all", page: int = 50) -> list[OscFile]:
        """Every file of ``file_type``, paging with ``startPosition`` until ``totalEntries``.

        A camera may answer fewer entries than asked (the spec lets it use its own
        maximum), so the next page starts after what came. Files taken while paging shift
        the newest-first list: the listing restarts (at most 3 times) when ``totalEntries``
        changes between pages. Entries are de-duplicated by ``fileUrl``.
        """
        found: dict[str, OscFile] = {}
        for _ in range(3):
            found, start, total, changed = {}, 0, None, False
            while True:
                results = self.execute(
                    "camera.listFiles",
                    {"fileType": file_type, "startPosition": start, "entryCount": page,
                     "maxThumbSize": None},
                )  # fmt: skip
                entries = results.get("entries") or []
                count = int(results.get("totalEntries", 0))
                if total is not None and count != total:
                    changed = True  # storage changed while paging: list again
                    break
                total = count
                for raw in entries:
                    entry = _entry(raw)
                    found.setdefault(entry.url, entry)
                start += len(entries)
                if not entries or start >= total:
                    break
            if not changed:
                break
        return list(found.values())  # still changing: what was read; the rest comes later

    def delete(self, urls: list[str]) -> list[str]:
        """``camera.delete`` of ``urls``; returns the URLs the camera could not delete."""
        results = self.execute("camera.delete", {"fileUrls": urls})
        return [str(u) for u in results.get("fileUrls") or []]

    def execute(self, command: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Run a command; poll ``/osc/commands/status`` while it is ``inProgress``."""
        body = self._json(
            "POST", "/osc/commands/execute", command,
            json={"name": command, "parameters": parameters},
        )  # fmt: skip
        for _ in range(STATUS_POLLS):
            if body.get("state") != "inProgress":
                break
            body = self._json("POST", "/osc/commands/status", command, json={"id": body["id"]})
        if body.get("state") != "done":
            raise OscError(command, "notDone", f"state {body.get('state')!r}", 200)
        results = body.get("results") or {}
        return results if isinstance(results, dict) else {}

    @contextmanager
    def download(self, url: str, *, offset: int = 0) -> Iterator[httpx.Response]:
        """A streamed ``GET`` of ``url``, from byte ``offset`` (``Range``) when > 0.

        The caller checks the status (``206`` resumed, ``200`` whole file, ``416`` the
        offset is past the end) and reads ``iter_bytes()``. The lock is held until the
        block ends, so nothing else is sent while the file is coming.

        Raises
        ------
        SourceOffline
            The camera cannot be reached.
        """
        headers = dict(HEADERS)
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
        with self._one, self._offline(f"downloading {url}"):
            with self._http.stream("GET", url, headers=headers, auth=self._auth) as response:
                yield response

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _offline(self, doing: str) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            raise SourceOffline(
                f"no camera answers at {self.url} ({_why(exc)}) while {doing}"
            ) from exc

    def _json(
        self, method: str, path: str, command: str, *, json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._one, self._offline(f"asking for {command}"):
            response = self._http.request(
                method,
                self.url + path,
                headers={**HEADERS, **JSON_BODY} if json is not None else HEADERS,
                json=json,
                auth=self._auth,
            )
        if response.status_code == 401:
            raise SourceOffline(
                f"the camera at {self.url} refused the username and password (HTTP digest "
                "authentication): check the source's username and password"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = (body or {}).get("error") if isinstance(body, dict) else None
            code = str((error or {}).get("code", "noJson"))
            message = str((error or {}).get("message", response.reason_phrase))[:200]
            raise OscError(command, code, message, response.status_code)
        return body


def _entry(raw: dict[str, Any]) -> OscFile:
    return OscFile(
        name=str(raw.get("name", "")),
        url=str(raw.get("fileUrl", "")),
        size=int(raw.get("size", 0)),
        taken=str(raw.get("dateTimeZone", "")),
        width=int(raw.get("width") or 0),
        height=int(raw.get("height") or 0),
        processed=bool(raw.get("isProcessed", True)),
    )


def _why(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or no route: is this machine on the camera's Wi-Fi?"
    if isinstance(exc, httpx.TimeoutException):
        return "it stopped answering"
    return f"the link dropped: {type(exc).__name__}"
