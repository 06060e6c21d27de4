"""Image hosting for :class:`~qqreliable.testing.FakeOneBot`, with the faults of NTQQ's media host.

A FakeOneBot serves media under ``/media/<name>`` on its own port, the way
NTQQ hands out ``https://multimedia.nt.qq.com.cn/download?...&rkey=...``
URLs in image segments, and answers ``get_image`` / ``get_record`` /
``get_file`` for the same names. Both sides fail on demand::

    seg = onebot.media.add(png_bytes)                    # an image segment dict
    onebot.media.set_url_mode(seg["data"]["file"], "expired")
    onebot.media.set_api_mode("fail_1200", delay=0.5)
    onebot.emit_group_message(1, 2, [seg])

URL modes (:meth:`MediaHost.set_url_mode`):

* ``ok``: 200 with the bytes (``Range`` honoured unless ``ranges=False``);
* ``html``: an HTML error page (status ``status``, default 200);
* ``expired``: NTQQ's ``{"retcode":-5503007,"retmsg":"download url has expired"}``
  (status ``status``, default 400; 200 happens too);
* ``hang``: the request is read and never answered;
* ``trickle``: the bytes at ``rate`` bytes per second;
* ``cut``: the full ``Content-Length`` is announced, ``cut_at`` bytes are sent,
  then the connection is closed; ``cut_times`` responses are cut (then ``ok``);
  with ``ranges=False`` a ``Range`` request is answered with the whole file;
* ``truncated``: an honest 200 whose body is only the first ``cut_at`` bytes;
* ``404``: an HTML 404 page;
* ``busy``: ``status`` (default 503) with ``Retry-After: <retry_after>`` for
  ``busy_times`` responses, then ``ok``.

Every mode takes ``delay`` (seconds before the answer starts).

API modes (:meth:`MediaHost.set_api_mode`): ``url`` (a fresh URL that works,
plus a ``file`` path that is not readable here, as NapCat in Docker answers),
``path`` (a readable local path), ``base64``, ``fail_1200`` (NapCat's
``downloadRichMedia`` timeout), ``never`` (no answer until the server
stops), ``not_found`` (``file not found``), ``elsewhere`` (only an unreadable
path). Each takes ``delay``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

from ..transport.wsserver import RequestHead, send_http_response

__all__ = ["MediaHost", "URL_MODES", "API_MODES", "DOWNLOAD_TIMEOUT_MESSAGE", "sample_png"]

URL_MODES = ("ok", "html", "expired", "hang", "trickle", "cut", "truncated", "404", "busy")
API_MODES = ("url", "path", "base64", "fail_1200", "never", "not_found", "elsewhere")

DOWNLOAD_TIMEOUT_MESSAGE = (
    "Timeout: NTEvent serviceAndMethod:NodeIKernelMsgService/downloadRichMedia "
    "ListenerName:NodeIKernelMsgListener/onRichMediaDownloadComplete EventRet:\nundefined\n"
)
"""NapCat's answer (retcode 1200) when the QQ kernel did not finish a media download in time."""

_EXPIRED = b'{"retcode":-5503007,"retmsg":"download url has expired","retryflag":0}'
_HTML = b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>"
_PREFIX = "/media/"
_FRESH = "/media-fresh/"


def sample_png(size: int = 2048, seed: int = 0) -> bytes:
    """A valid PNG of about ``size`` bytes (a 1×1 image padded with a private chunk)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    pad = max(0, size - 8 - 25 - 12 - len(idat) - 12 - 12)
    filler = hashlib.sha256(f"{seed}".encode()).digest() * (pad // 32 + 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"quRk", filler[:pad])
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@dataclass
class _UrlMode:
    mode: str = "ok"
    delay: float = 0.0
    status: Optional[int] = None
    rate: float = 4096.0
    cut_at: Optional[int] = None
    cut_times: int = 1
    ranges: bool = True
    retry_after: str = "1"
    busy_times: int = 1


@dataclass
class _ApiMode:
    mode: str = "url"
    delay: float = 0.0


@dataclass
class _Hosted:
    name: str
    data: bytes
    content_type: str
    segment_type: str
    url_mode: _UrlMode = field(default_factory=_UrlMode)
    api_mode: Optional[_ApiMode] = None


class MediaHost:
    """The media side of one FakeOneBot. Thread-safe."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._files: Dict[str, _Hosted] = {}
        self._ids = itertools.count(1)
        self._api = _ApiMode()
        self._requests: Counter[str] = Counter()
        self._ranges: List[Tuple[str, str]] = []
        self._targets: List[str] = []
        self._tmpdir: Optional[str] = None

    # -- test API -------------------------------------------------------------

    def add(
        self,
        data: Optional[bytes] = None,
        *,
        name: Optional[str] = None,
        content_type: str = "image/png",
        segment_type: str = "image",
        mode: str = "ok",
        **options: Any,
    ) -> Dict[str, Any]:
        """Host ``data`` (a fresh PNG by default); return a message segment dict for it.

        The segment carries ``file`` (the name, as NTQQ's ``<md5>.image``), a
        ``url`` with ``&``-separated query parameters like NTQQ's, and
        ``file_size``. ``mode`` and ``options`` are as in :meth:`set_url_mode`.
        """
        n = next(self._ids)
        if data is None:
            data = sample_png(2048, seed=n + id(self) % 1000)
        if name is None:
            name = hashlib.md5(data + str(n).encode(), usedforsecurity=False).hexdigest().upper() + ".image"
        hosted = _Hosted(name, bytes(data), content_type, segment_type)
        with self._lock:
            self._files[name] = hosted
        self.set_url_mode(name, mode, **options)
        return {"type": segment_type, "data": {"file": name, "url": self.url_of(name), "file_size": str(len(data))}}

    def url_of(self, name: str) -> str:
        """The direct URL of a hosted file (query parameters as NTQQ's)."""
        return f"{self._server.url}{_PREFIX}{quote(name)}?appid=1407&fileid={quote(name)}&rkey=CAQSKAB6"

    def set_url_mode(self, name: str, mode: str, **options: Any) -> None:
        """Make the direct URL of ``name`` behave as ``mode`` (see the module doc)."""
        if mode not in URL_MODES:
            raise ValueError(f"unknown URL mode {mode!r}; one of {URL_MODES}")
        with self._lock:
            self._files[name].url_mode = _UrlMode(mode, **options)

    def set_api_mode(self, mode: str, *, delay: float = 0.0, name: Optional[str] = None) -> None:
        """Make ``get_image``/``get_record``/``get_file`` answer as ``mode`` (for ``name``, or all)."""
        if mode not in API_MODES:
            raise ValueError(f"unknown API mode {mode!r}; one of {API_MODES}")
        with self._lock:
            if name is None:
                self._api = _ApiMode(mode, delay)
            else:
                self._files[name].api_mode = _ApiMode(mode, delay)

    def url_requests(self, name: str) -> int:
        """How many GETs the direct URL of ``name`` (the segment's) received."""
        with self._lock:
            return self._requests[name]

    def fresh_requests(self, name: str) -> int:
        """How many GETs the fresh URLs handed out by ``get_image`` for ``name`` received."""
        with self._lock:
            return self._requests["fresh:" + name]

    @property
    def requests_log(self) -> List[str]:
        """The request target (path and query) of every media GET, in order."""
        with self._lock:
            return list(self._targets)

    @property
    def range_requests(self) -> List[Tuple[str, str]]:
        """``(name, Range header)`` of every request that asked for a range."""
        with self._lock:
            return list(self._ranges)

    def close(self) -> None:
        with self._lock:
            tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)

    # -- the server's hooks ---------------------------------------------------

    def handles(self, head: RequestHead) -> bool:
        return head.method in ("GET", "HEAD") and head.path.startswith((_PREFIX, _FRESH))

    def actions(self) -> Dict[str, Callable[[Dict[str, Any]], Any]]:
        return {"get_image": self._get_media, "get_record": self._get_media, "get_file": self._get_media}

    def serve(self, conn: Any, head: RequestHead) -> bool:
        """Answer one media GET on ``conn``; True when the connection stays open."""
        fresh = head.path.startswith(_FRESH)
        name = head.path[len(_FRESH if fresh else _PREFIX):]
        with self._lock:
            hosted = self._files.get(name)
            self._targets.append(head.target)
            if hosted is not None:
                self._requests[("fresh:" if fresh else "") + name] += 1
                rng = head.header("Range")
                if rng:
                    self._ranges.append((name, rng))
                mode = _UrlMode() if fresh else hosted.url_mode
                cut_now = mode.mode == "cut" and mode.cut_times > 0
                if cut_now:
                    mode.cut_times -= 1
                busy_now = mode.mode == "busy" and mode.busy_times > 0
                if busy_now:
                    mode.busy_times -= 1
        if hosted is None:
            send_http_response(conn.io, 404, _HTML, headers={"Content-Type": "text/html"}, keep_alive=head.keep_alive)
            return head.keep_alive
        if mode.delay and not self._wait(conn, mode.delay):
            return False
        kind = mode.mode
        data = hosted.data
        if kind == "hang":
            self._wait(conn, None)
            return False
        if kind in ("html", "404"):
            status = 404 if kind == "404" else (mode.status or 200)
            send_http_response(conn.io, status, _HTML, headers={"Content-Type": "text/html; charset=utf-8"},
                               keep_alive=head.keep_alive)
            return head.keep_alive
        if busy_now:
            send_http_response(conn.io, mode.status or 503, _HTML,
                               headers={"Content-Type": "text/html", "Retry-After": mode.retry_after},
                               keep_alive=head.keep_alive)
            return head.keep_alive
        if kind == "expired":
            send_http_response(conn.io, mode.status or 400, _EXPIRED,
                               headers={"Content-Type": "application/json"}, keep_alive=head.keep_alive)
            return head.keep_alive
        if kind == "truncated":
            data = data[: mode.cut_at if mode.cut_at is not None else len(data) // 2]
        headers = {"Content-Type": hosted.content_type, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
        ranges = mode.ranges and kind != "truncated"
        status, start = 200, 0
        if ranges:
            headers["Accept-Ranges"] = "bytes"
            requested = _range_start(head.header("Range"), len(data))
            if requested is not None and requested >= len(data):
                send_http_response(conn.io, 416, b"", headers={"Content-Range": f"bytes */{len(data)}"},
                                   keep_alive=head.keep_alive)
                return head.keep_alive
            if requested:
                status = 206
                headers["Content-Range"] = f"bytes {requested}-{len(data) - 1}/{len(data)}"
            start = requested or 0
        body = data[start:]
        if kind == "cut" and cut_now:
            limit = mode.cut_at if mode.cut_at is not None else len(body) // 2
            self._send_head(conn, status, headers, len(body), keep_alive=False)
            try:
                conn.io.sendall(body[:limit])
            except OSError:
                pass
            return False
        if kind == "trickle":
            self._send_head(conn, status, headers, len(body), keep_alive=head.keep_alive)
            step = max(1, int(mode.rate / 20))
            for i in range(0, len(body), step):
                try:
                    conn.io.sendall(body[i : i + step])
                except OSError:
                    return False
                if i + step < len(body) and not self._wait(conn, step / mode.rate):
                    return False
            return head.keep_alive
        self._send_head(conn, status, headers, len(body), keep_alive=head.keep_alive)
        if head.method != "HEAD":
            conn.io.sendall(body)
        return head.keep_alive

    # -- internals ------------------------------------------------------------

    def _wait(self, conn: Any, seconds: Optional[float]) -> bool:
        """Hold the answer; False when the client left or the server stops."""
        return bool(self._server._http_wait(conn, seconds))

    @staticmethod
    def _send_head(conn: Any, status: int, headers: Dict[str, str], length: int, *, keep_alive: bool) -> None:
        reason = {200: "OK", 206: "Partial Content"}.get(status, "OK")
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Content-Length: {length}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        conn.io.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _tmp(self) -> str:
        with self._lock:
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="fakeonebot-media-")
            return self._tmpdir

    def _get_media(self, params: Dict[str, Any]) -> Any:
        from .onebot import FakeActionError  # the server imports this module

        name = str(params.get("file") or params.get("file_id") or "")
        with self._lock:
            hosted = self._files.get(name)
            mode = (hosted.api_mode if hosted is not None and hosted.api_mode else None) or self._api
        if mode.delay and self._server._stop_event.wait(mode.delay):
            raise FakeActionError(1200, "server stopping")
        if mode.mode == "never":
            self._server._stop_event.wait()
            raise FakeActionError(1200, "server stopping")
        if mode.mode == "fail_1200":
            raise FakeActionError(1200, DOWNLOAD_TIMEOUT_MESSAGE)
        if hosted is None or mode.mode == "not_found":
            raise FakeActionError(1200, "file not found")
        elsewhere = f"/app/.config/QQ/NapCat/temp/{name}"
        info = {"file_name": name, "file_size": str(len(hosted.data))}
        if mode.mode == "url":
            fresh = f"{self._server.url}{_FRESH}{quote(name)}?appid=1407&rkey=FRESH"
            return dict(info, file=elsewhere, url=fresh)
        if mode.mode == "base64":
            return dict(info, file=elsewhere, url=elsewhere, base64=base64.b64encode(hosted.data).decode("ascii"))
        if mode.mode == "elsewhere":
            return dict(info, file=elsewhere, url=elsewhere)
        path = os.path.join(self._tmp(), hashlib.sha256(name.encode()).hexdigest()[:16])
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as fh:
                fh.write(hosted.data)
            os.replace(path + ".tmp", path)
        return dict(info, file=path, url=path)


def _range_start(value: Optional[str], length: int) -> Optional[int]:
    """``bytes=N-`` → N; anything else (no header, suffix or multi ranges) → None."""
    if not value or not value.startswith("bytes="):
        return None
    spec = value[6:].split(",")[0].strip()
    first, _, _ = spec.partition("-")
    try:
        return int(first) if first else None
    except ValueError:
        return None
