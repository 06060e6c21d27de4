"""HTTP transport: JSON POSTs over one pooled ``requests.Session``, connect-only retries.

:class:`JsonHttp` posts a JSON object to a path under a base URL and returns
the decoded answer; what the answer means is the protocol's business (its
package wraps this class). This module is the one place where
``requests``/``urllib3`` errors become qqreliable errors, classified by
whether the request may have reached the server:

* refused, DNS, connect timeout, TLS handshake -> :class:`ConnectFailed`,
  after a few quick connection attempts (urllib3's ``Retry``, well under a
  second in all), with a readable message (``cannot connect to
  http://127.0.0.1:3029: connection refused``) and the original error as
  ``__cause__``. The error's ``exhausted`` attribute is True: the transport
  already retried, so repeating the call at once will not help;
* read timeout -> :class:`ApiTimeout`; aborted after sending, 5xx -> :class:`ResponseLost`;
* 401/403 -> :class:`AuthenticationError`.

A POST that may have been received is never resent here: the ``Retry`` has
``read=False`` and POST is not in its idempotent methods.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import ssl
import time
from typing import Any, Dict, Mapping, Optional

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ._json import dumps
from ..exceptions import (
    ApiTimeout,
    AuthenticationError,
    ConnectFailed,
    ProtocolError,
    ResponseLost,
)

__all__ = ["JsonHttp", "HttpAnswer", "default_http_retry", "connection_never_made"]

log = logging.getLogger(__name__)


def default_http_retry() -> Retry:
    """Retry only what never reached the server: connection setup, twice, with backoff."""
    return Retry(
        total=None,
        connect=2,
        read=False,
        redirect=False,
        status=False,
        other=0,
        backoff_factor=0.2,
        raise_on_status=False,
    )


def _connect_failure(exc: BaseException) -> bool:
    """True when ``exc`` (a requests error) happened before the request left."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return True  # the TLS handshake failed: no request bytes went out
    return connection_never_made(exc)


def connection_never_made(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause chain says the TCP connection was
    never made (refused, DNS, connect timeout). Shared with the media downloads."""
    seen = set()
    cause: Optional[BaseException] = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
            return True
        if isinstance(cause, urllib3.exceptions.MaxRetryError) and isinstance(
            cause.reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        ):
            return True
        nxt = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nxt or cause.__cause__ or cause.__context__
    return False


def _connect_reason(exc: BaseException) -> str:
    """A short, human reason for a connection that was never made."""
    seen = set()
    cause: Optional[BaseException] = exc
    innermost: Optional[BaseException] = None
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (OSError, ssl.SSLError)) and not isinstance(cause, urllib3.exceptions.HTTPError):
            innermost = cause
        reason = getattr(cause, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        cause = nxt or cause.__cause__ or cause.__context__
    if isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(innermost, socket.timeout):
        return "connect timeout"
    if isinstance(innermost, ConnectionRefusedError) or getattr(innermost, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(innermost, socket.gaierror):
        return f"name not resolved ({innermost.strerror or innermost})"
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(innermost, ssl.SSLError):
        return f"TLS handshake failed ({innermost or exc})"
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror[0].lower() + innermost.strerror[1:]
    text = str(innermost or exc)
    # urllib3 wraps everything in "<Pool(host=..., port=...)>: Max retries exceeded ...":
    # keep only what is after the last colon of its innermost message.
    return text.rsplit(": ", 1)[-1].rstrip(")\"'") or type(exc).__name__


class HttpAnswer:
    """One HTTP answer: ``status``, ``body`` (the decoded JSON, or None when the
    content is not JSON) and the raw ``content`` bytes."""

    __slots__ = ("status", "body", "content")

    def __init__(self, status: int, body: Any, content: bytes) -> None:
        self.status = status
        self.body = body
        self.content = content

    def text(self, limit: int = 200) -> str:
        return self.content[:limit].decode("utf-8", "replace")


class JsonHttp:
    """POSTs JSON to paths under one base URL. Thread-safe: one pooled session for all threads.

    Args:
        base_url: ``http://`` or ``https://`` URL the paths are appended to.
        headers: sent with every request (credentials; never logged).
        retry: the ``urllib3`` ``Retry`` (default: :func:`default_http_retry`).
        pool_size: connections kept per host (size it to the calling threads).
        connect_timeout: seconds for TCP + TLS, per attempt.
        verify: TLS verification (a CA bundle path works too).
        max_response_size: the largest answer read, in bytes.
    """

    via = "http"

    def __init__(
        self,
        base_url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        retry: Optional[Retry] = None,
        pool_size: int = 12,
        connect_timeout: float = 5.0,
        verify: Any = True,
        max_response_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_response_size = max_response_size
        self.connect_timeout = connect_timeout
        self._session = requests.Session()
        self._session.verify = verify
        self._session.trust_env = False  # a local server must not go through an env proxy
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=pool_size,
            max_retries=retry if retry is not None else default_http_retry(),
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._headers: Dict[str, str] = {"Content-Type": "application/json"}
        self._headers.update(headers or {})
        self._unreachable = False  # the last call could not connect: log again only on recovery

    def post(self, path: str, obj: Any, timeout: float, *, name: Optional[str] = None) -> HttpAnswer:
        """POST ``obj`` as JSON to ``base_url/path``; return the answer.

        ``name`` (default ``path``) prefixes error messages. Blocks for at most
        about ``timeout`` seconds once connected (plus the connect attempts).

        Raises:
            TypeError: ``obj`` is not JSON-serialisable (nothing sent).
            ConnectFailed: nothing reached the server (``exhausted`` is True).
            ApiTimeout: no answer within ``timeout`` seconds.
            ResponseLost: the request left, the answer did not come back, or
                the server answered 5xx or an empty 200.
            AuthenticationError: 401/403.
            ProtocolError: the answer is over ``max_response_size``.
        """
        name = name or path
        url = f"{self.base_url}/{path}"
        try:
            data = dumps(obj).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: parameters are not JSON-serialisable: {exc}") from exc
        deadline = time.monotonic() + timeout
        try:
            # Streamed, so that the whole answer is bound by ``timeout``: requests'
            # read timeout is per socket read, and an answer that trickles in a
            # byte at a time would otherwise never time out.
            resp = self._session.post(
                url, data=data, headers=self._headers, timeout=(self.connect_timeout, timeout), stream=True
            )
        except requests.exceptions.ReadTimeout as exc:
            raise ApiTimeout(f"{name}: no answer from {self.base_url} within {timeout:g}s") from exc
        except requests.exceptions.RequestException as exc:
            if _connect_failure(exc):
                raise self._connect_failed(name, exc) from exc
            raise ResponseLost(f"{name}: the request to {self.base_url} was cut off: {exc}") from exc
        if self._unreachable:
            self._unreachable = False
            log.info("%s answers again", self.base_url)
        with resp:
            content = self._read_body(name, resp, deadline, timeout)
        return self._answer(name, resp.status_code, content)

    def _connect_failed(self, name: str, exc: BaseException) -> ConnectFailed:
        why = _connect_reason(exc)
        error = ConnectFailed(f"{name}: cannot connect to {self.base_url}: {why}")
        error.exhausted = True  # type: ignore[attr-defined]
        level = logging.DEBUG if self._unreachable else logging.WARNING
        self._unreachable = True
        log.log(level, "cannot connect to %s: %s", self.base_url, why)
        return error

    def _read_body(self, name: str, resp: requests.Response, deadline: float, timeout: float) -> bytes:
        """The whole body, within the call's deadline and :attr:`max_response_size`.

        The deadline is checked between reads, and each socket read is bounded
        by the read timeout, so a server that stalls mid-body is given up on
        after at most twice ``timeout``. The head is read by ``http.client``
        with the per-read timeout only: a head that trickles in a byte at a
        time is not cut at the deadline (heads are a few hundred bytes).
        """
        raw = resp.raw
        # read1 (urllib3 >= 2.3) returns what has arrived; read(n) would wait for n bytes.
        read1 = getattr(raw, "read1", None)
        chunks = []
        size = 0
        try:
            while True:
                chunk = read1(65536, decode_content=True) if read1 else raw.read(4096, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_response_size:
                    raise ProtocolError(
                        f"{name}: the answer from {self.base_url} is over "
                        f"{self.max_response_size} bytes; refused"
                    )
                if time.monotonic() > deadline:
                    raise ApiTimeout(f"{name}: the answer from {self.base_url} took over {timeout:g}s")
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise ApiTimeout(f"{name}: the answer from {self.base_url} stalled past {timeout:g}s") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ResponseLost(f"{name}: the answer from {self.base_url} was cut off: {exc}") from exc
        return b"".join(chunks)

    def _answer(self, name: str, status: int, content: bytes) -> HttpAnswer:
        if status in (401, 403):
            what = "missing" if status == 401 else "rejected"
            raise AuthenticationError(
                f"{self.base_url} answered {status}: the access token is {what}", status=status
            )
        if status >= 500:
            error = ResponseLost(f"{name}: {self.base_url} answered HTTP {status}")
            error.status = status  # type: ignore[attr-defined]
            raise error
        if status == 200 and not content.strip():
            # Nothing came back (also what a head cut short looks like to
            # http.client, which takes EOF for the end of the headers): the
            # call may have run.
            raise ResponseLost(f"{name}: {self.base_url} answered an empty body")
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        return HttpAnswer(status, body, content)

    @property
    def session(self) -> requests.Session:
        """The pooled session (the media layer makes its requests cancellable)."""
        return self._session

    def close(self) -> None:
        self._session.close()
