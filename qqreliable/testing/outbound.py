"""Media the bot sends, as :class:`~qqreliable.testing.FakeOneBot` receives it.

``onebot.sent_media`` records the form in which every media segment of a send
arrived (``base64``, ``file``, ``path``, ``url``, ``id``…) and reproduces the
implementation-side media faults of ``reference/faults.md``::

    onebot.sent_media.isolate("gocq")          # another container: no shared files
    onebot.sent_media.fetch_urls()             # download URLs itself, as NapCat does
    onebot.sent_media.fail_records()           # ffmpeg missing: 语音转换失败
    onebot.sent_media.fail_rich_media(deliver=True)   # first media send: rich media transfer failed
    onebot.sent_media.limit_requests(1 << 20)  # WS close 1009 / HTTP 413 or reset above 1 MiB
    ...
    assert onebot.sent_media.forms() == ["base64"]

Faults, each with the exact answer of the implementation it imitates:

* :meth:`SentMedia.isolate` (MEDIA-04): a ``file://`` URI or a path the
  implementation cannot see. NapCat (``style="napcat"``) answers retcode 1200
  (WS) / 200 (HTTP) ``文件下载失败识别URL失败, uri= <path>``; go-cqhttp
  (``"gocq"``) logs ``转换CQ码到MiraiGo Element时出现错误: stat <path>: no such
  file or directory 将忽略本段CQ码.``, drops the segment, sends what is left, and
  answers retcode 100 ``EMPTY_MSG_ERROR`` / ``消息为空`` when nothing is.
* :meth:`SentMedia.fetch_urls` (MEDIA-03): ``http(s)`` media is downloaded by the
  fake and checked by magic bytes (NapCat style: a segment's ``url`` first, so a
  re-sent received image with an expired URL fails). NapCat: an HTTP error answers ``文件下载失败<url>
  下载失败,Error: 下载文件失败: <reason>``, a body that is not media ``文件下载失败
  未知文件类型``; go-cqhttp: an HTTP error drops the segment (``消息为空`` when
  nothing is left), HTML answers retcode 100 ``SEND_MSG_API_ERROR`` ``empty message``.
* :meth:`SentMedia.fail_records` (MEDIA-07): every ``record`` segment fails with
  retcode 1200 / 200 ``语音转换失败, 请检查语音文件是否正常``; nothing delivered.
* :meth:`SentMedia.fail_rich_media` (MEDIA-06): the next sends carrying an image,
  video or file answer NapCat's ``EventChecker Failed … "errMsg": "rich media
  transfer failed"`` (1200 / 200), after ``delay``, delivered or not.
* :meth:`SentMedia.limit_requests` (MEDIA-05): a WebSocket message over the limit
  closes the connection with 1009 (set it before the bot connects); an HTTP body
  over it is answered 413 (SnowLuma since its fix) or the socket is reset.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
import struct
import threading
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlsplit

from ..reliability.sniff import looks_like_error_body, sniff

__all__ = [
    "SentMedia",
    "RICH_MEDIA_FAILED_MESSAGE",
    "VOICE_CONVERSION_MESSAGE",
    "STYLES",
]

log = logging.getLogger(__name__)

STYLES = ("napcat", "gocq")

RICH_MEDIA_FAILED_MESSAGE = (
    "EventChecker Failed: NTEvent serviceAndMethod:NodeIKernelMsgService/sendMsg "
    "ListenerName:NodeIKernelMsgListener/onMsgInfoListUpdate "
    'EventRet: {"result": -1, "errMsg": "rich media transfer failed"}'
)
"""NapCat/LLOneBot's answer (retcode 1200 WS / 200 HTTP) when the upload to Tencent failed."""

VOICE_CONVERSION_MESSAGE = "语音转换失败, 请检查语音文件是否正常"
"""NapCat's answer (retcode 1200 WS / 200 HTTP) when ffmpeg could not convert a voice file."""

_MEDIA = ("image", "record", "video", "file")
_UPLOADS = ("image", "video", "file")
_KIND_OF_MIME = {"image": "image", "audio": "record", "video": "video"}
_FETCH_TIMEOUT = 5.0
_FETCH_MAX = 64 * 1024 * 1024


def _form(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "id"
    head = value[:16].lower()
    if head.startswith("base64://"):
        return "base64"
    if head.startswith("data:"):
        return "data"
    if head.startswith(("http://", "https://")):
        return "url"
    if head.startswith("file://"):
        return "file"
    if value.startswith(("/", "\\")) or (len(value) > 2 and value[1] == ":" and value[2] in "\\/"):
        return "path"
    return "id"


def _path_of(value: str) -> str:
    if value[:7].lower() == "file://":
        path = unquote(urlsplit(value).path)
        if len(path) > 2 and path[0] == "/" and path[2] == ":":
            path = path[1:]
        return path
    return value


def _top_segments(message: Any) -> List[Dict[str, Any]]:
    """Array-form segments of a ``message`` value (CQ strings parsed)."""
    from .onebot import parse_cq  # the server imports this module

    if isinstance(message, str):
        if "[CQ:" not in message:
            return []
        items: List[Any] = parse_cq(message)
    elif isinstance(message, dict):
        items = [message]
    elif isinstance(message, list):
        items = message
    else:
        return []
    return [seg for seg in items if isinstance(seg, dict)]


def _all_segments(top: List[Dict[str, Any]], depth: int = 0) -> List[Dict[str, Any]]:
    """``top`` and the segments of forward nodes inside it."""
    out: List[Dict[str, Any]] = []
    for seg in top:
        out.append(seg)
        data = seg.get("data")
        if depth < 16 and seg.get("type") == "node" and isinstance(data, dict) and data.get("content") is not None:
            out.extend(_all_segments(_top_segments(data.get("content")), depth + 1))
    return out


class SentMedia:
    """The implementation's side of media the bot sends. Thread-safe."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._forms: List[Dict[str, Any]] = []
        self._style: Optional[str] = None  # None: shares the bot's file system
        self._visible: Tuple[str, ...] = ()
        self._fetch = False
        self._style_for_urls: Optional[str] = None
        self._records: Optional[int] = 0  # record failures left; None: all
        self._rich: List[Tuple[bool, float]] = []  # (deliver, delay) per failing media send
        self.max_message_size: int = 64 * 1024 * 1024
        """Largest WebSocket message accepted (close 1009 above); read when a connection opens."""
        self._http_limit: Optional[int] = None
        self._http_mode = "413"
        self.refused = 0
        """HTTP requests refused by :meth:`limit_requests`."""

    # -- test API -------------------------------------------------------------

    def isolate(self, style: str = "napcat", *, visible: Sequence[str] = ()) -> None:
        """Behave like an implementation on another host (Docker): local paths and
        ``file://`` URIs outside ``visible`` directories are not found, and answered
        as ``style`` (``"napcat"`` or ``"gocq"``) does."""
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {style!r}")
        with self._lock:
            self._style = style
            self._visible = tuple(os.path.abspath(v) for v in visible)

    def share(self) -> None:
        """Undo :meth:`isolate`: every path is readable again."""
        with self._lock:
            self._style = None
            self._visible = ()

    def fetch_urls(self, enabled: bool = True, *, style: Optional[str] = None) -> None:
        """Download ``http(s)`` media as the implementation would, and refuse what is
        not media (answers as ``style``; default: the :meth:`isolate` style, else NapCat)."""
        with self._lock:
            self._fetch = enabled
            if style is not None:
                if style not in STYLES:
                    raise ValueError(f"style must be one of {STYLES}, not {style!r}")
                self._style_for_urls = style

    def fail_records(self, times: Optional[int] = None) -> None:
        """Answer sends with a ``record`` segment with NapCat's voice conversion failure
        (``times`` sends; None: until :meth:`reset`)."""
        with self._lock:
            self._records = times

    def fail_rich_media(self, times: int = 1, *, deliver: bool = False, delay: float = 0.0) -> None:
        """Answer the next ``times`` sends that carry an image, video or file with
        "rich media transfer failed", after ``delay`` seconds; ``deliver``: the message
        lands anyway (NapCat: "sometimes the message still lands in history")."""
        with self._lock:
            self._rich.extend([(deliver, float(delay))] * times)

    def limit_requests(self, max_bytes: int, *, http: str = "413") -> None:
        """Refuse requests over ``max_bytes``: WebSocket messages close the connection
        with 1009 (connections opened from now on); HTTP bodies are answered 413
        (``http="413"``) or the socket is reset (``"reset"``, SnowLuma before its fix)."""
        if http not in ("413", "reset"):
            raise ValueError("http must be '413' or 'reset'")
        with self._lock:
            self.max_message_size = int(max_bytes)
            self._http_limit = int(max_bytes)
            self._http_mode = http

    def reset(self) -> None:
        """Back to a well-behaved local implementation; the record of forms is kept."""
        with self._lock:
            self._style = None
            self._visible = ()
            self._fetch = False
            self._records = 0
            self._rich.clear()
            self.max_message_size = 64 * 1024 * 1024
            self._http_limit = None

    def forms(self, kind: Optional[str] = None) -> List[str]:
        """The form of every media segment received in sends, in order: ``"base64"``,
        ``"data"``, ``"url"``, ``"file"`` (``file://``), ``"path"``, ``"id"``."""
        with self._lock:
            return [r["form"] for r in self._forms if kind is None or r["type"] == kind]

    @property
    def received(self) -> List[Dict[str, Any]]:
        """One record per media segment received: ``action``, ``type``, ``form``,
        ``size`` (decoded bytes of base64, else None), ``file`` (at most 200 chars),
        ``transport``."""
        with self._lock:
            return [dict(r) for r in self._forms]

    # -- the server's hooks ---------------------------------------------------

    def refuse_body(self, conn: Any, length: int, buffered: int = 0) -> bool:
        """HTTP: True when a body of ``length`` was refused (and the connection is done);
        ``buffered`` bytes of it were already read with the head."""
        with self._lock:
            limit, mode = self._http_limit, self._http_mode
        if limit is None or length <= limit:
            return False
        with self._lock:
            self.refused += 1
        from ..transport.wsserver import send_http_response

        if mode == "reset":
            try:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            conn.abort()
            return True
        # Read the body first, so the client is not cut off while it still writes.
        remaining = length - buffered
        try:
            conn.io.settimeout(10.0)
            while remaining > 0:
                chunk = conn.io.recv(min(1 << 20, remaining))
                if not chunk:
                    return True
                remaining -= len(chunk)
            send_http_response(conn.io, 413, "Payload Too Large")
        except OSError:
            pass
        return True

    def check(self, plan: Any) -> Optional[Tuple[int, Dict[str, Any]]]:
        """Record the media of a send and apply the faults; an answer, or None to run it.

        May replace ``plan.params["message"]`` (go-cqhttp drops segments it cannot use).
        """
        if not plan.action.startswith("send_"):
            return None
        ws = plan.transport == "ws"
        key = "messages" if "messages" in plan.params else "message"
        top = _top_segments(plan.params.get(key))
        segments = _all_segments(top)
        media = [s for s in segments if s.get("type") in _MEDIA and isinstance(s.get("data"), dict)]
        self._record(plan, media)
        if not media:
            return None
        with self._lock:
            style = self._style
            visible = self._visible
            fetch = self._fetch
            url_style = self._style_for_urls or style or "napcat"
            record_fail = any(s["type"] == "record" for s in media) and (self._records is None or self._records > 0)
            if record_fail and self._records is not None:
                self._records -= 1
            rich = None
            if not record_fail and self._rich and any(s["type"] in _UPLOADS for s in media):
                rich = self._rich.pop(0)
        if record_fail:
            return 200, _failed(1200 if ws else 200, VOICE_CONVERSION_MESSAGE)
        dropped: List[int] = []
        for seg in media:
            value = seg["data"].get("file") or seg["data"].get("url")
            url = seg["data"].get("url")
            if fetch and url_style == "napcat" and _form(url) == "url":
                value = url  # NapCat tries a segment's url before its file
            form = _form(value)
            if form in ("file", "path") and style is not None:
                path = _path_of(str(value))
                if not self._visible_path(path, visible):
                    if style == "napcat":
                        return 200, _failed(1200 if ws else 200, f"文件下载失败识别URL失败, uri= {path}")
                    log.warning("转换CQ码到MiraiGo Element时出现错误: "
                                "stat %s: no such file or directory 将忽略本段CQ码.", path)
                    dropped.append(id(seg))
            elif form == "url" and fetch:
                problem = self._download(str(value), str(seg.get("type")))
                if problem is not None:
                    status, reason = problem
                    if url_style == "napcat":
                        if status:
                            text = f"文件下载失败{value}下载失败,Error: 下载文件失败: {reason}"
                        else:
                            text = "文件下载失败 未知文件类型"
                        return 200, _failed(1200 if ws else 200, text)
                    if not status:  # downloaded, but HTML: image type error
                        log.warning("图片上传失败: image type error: %s", reason)
                        return 200, _gocq_failed("SEND_MSG_API_ERROR", "empty message")
                    dropped.append(id(seg))
        if dropped:
            if key == "message":
                left = [s for s in top if id(s) not in dropped]
                if not left:
                    return 200, _gocq_failed("EMPTY_MSG_ERROR", "消息为空")
                plan.params = dict(plan.params, message=left)
            else:
                return 200, _gocq_failed("EMPTY_MSG_ERROR", "消息为空")
        if rich is not None:
            deliver, delay = rich
            if deliver:
                self._run_handler(plan)
            if delay > 0:
                self._server._stop_event.wait(delay)
            return 200, _failed(1200 if ws else 200, RICH_MEDIA_FAILED_MESSAGE)
        return None

    # -- internals ------------------------------------------------------------

    def _record(self, plan: Any, media: List[Dict[str, Any]]) -> None:
        records = []
        for seg in media:
            value = seg["data"].get("file") or seg["data"].get("url")
            form = _form(value)
            size: Optional[int] = None
            if form == "base64":
                try:
                    size = len(base64.b64decode(str(value)[9:], validate=False))
                except (binascii.Error, ValueError):
                    size = -1
            text = value if isinstance(value, str) else repr(value)
            records.append({"action": plan.action, "type": seg.get("type"), "form": form, "size": size,
                            "file": text[:200], "transport": plan.transport})
        if records:
            with self._lock:
                self._forms.extend(records)

    @staticmethod
    def _visible_path(path: str, visible: Tuple[str, ...]) -> bool:
        full = os.path.abspath(path)
        return any(full == v or full.startswith(v.rstrip(os.sep) + os.sep) for v in visible)

    def _download(self, url: str, kind: str) -> Optional[Tuple[int, str]]:
        """None when ``url`` gives a valid ``kind``; else (HTTP status or 0, reason)."""
        request = urllib.request.Request(url, headers={"User-Agent": "FakeOneBot"})
        try:
            with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT) as resp:  # noqa: S310 - test server
                body = resp.read(_FETCH_MAX)
                content_type = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.reason if isinstance(exc.reason, str) else str(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            return 502, str(exc)
        mime = sniff(body[:512])
        if kind != "file" and (mime is None or _KIND_OF_MIME.get(mime.split("/")[0]) != kind or len(body) < 24):
            return 0, content_type or (looks_like_error_body(body[:512]) or "unknown")
        return None

    def _run_handler(self, plan: Any) -> None:
        server = self._server
        with server._lock:
            handler = server._faults.handler(plan.action) or server._builtin.get(plan.action)
        if handler is not None:
            try:
                handler(dict(plan.params))
            except Exception:  # the answer is the failure anyway
                log.debug("delivering before the rich-media failure raised", exc_info=True)


def _failed(retcode: int, message: str) -> Dict[str, Any]:
    return {"status": "failed", "retcode": retcode, "data": None, "message": message, "wording": message}


def _gocq_failed(msg: str, wording: str) -> Dict[str, Any]:
    return {"status": "failed", "retcode": 100, "data": None, "msg": msg, "wording": wording, "message": wording}
