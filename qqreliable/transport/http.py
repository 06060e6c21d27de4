"""OneBot v11 HTTP API transport: one ``requests.Session``, connect-only retries.

This module is the one place where ``requests``/``urllib3`` errors become
qqreliable errors, classified by whether the request may have reached OneBot:

* refused, DNS, connect timeout, TLS handshake → :class:`ConnectFailed`
  (urllib3's ``Retry`` already retried it; nothing was sent);
* read timeout → :class:`ApiTimeout`; aborted after sending, 5xx → :class:`ResponseLost`.

A POST that may have been received is never resent here: the ``Retry`` has
``read=False`` and POST is not in its idempotent methods.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, Mapping, Optional

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..onebot.actions import http_status_body
from ._json import dumps
from ..exceptions import (
    ApiTimeout,
    AuthenticationError,
    ConnectFailed,
    ProtocolError,
    ResponseLost,
)

__all__ = ["HttpApi", "default_http_retry"]

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


class HttpApi:
    """Calls OneBot actions over HTTP. Thread-safe: one pooled session for all threads."""

    via = "http"

    def __init__(
        self,
        base_url: str,
        *,
        access_token: Optional[str] = None,
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
        self._session.trust_env = False  # a local OneBot must not go through an env proxy
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=pool_size,
            max_retries=retry if retry is not None else default_http_retry(),
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._headers: Dict[str, str] = {"Content-Type": "application/json"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def call(self, action: str, params: Mapping[str, Any], timeout: float) -> Dict[str, Any]:
        """POST one action; return the response body (not yet decoded by retcode).

        Raises:
            ConnectFailed: nothing reached the server.
            ApiTimeout: no answer within ``timeout`` seconds.
            ResponseLost: the request left, the answer did not come back.
            AuthenticationError: 401/403.
            ProtocolError: the body is not a JSON object.
        """
        url = f"{self.base_url}/{action}"
        try:
            body = dumps(dict(params)).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{action}: parameters are not JSON-serialisable: {exc}") from exc
        deadline = time.monotonic() + timeout
        try:
            # Streamed, so that the whole answer is bound by ``timeout``: requests'
            # read timeout is per socket read, and an answer that trickles in a
            # byte at a time would otherwise never time out.
            resp = self._session.post(
                url, data=body, headers=self._headers, timeout=(self.connect_timeout, timeout), stream=True
            )
        except requests.exceptions.ReadTimeout as exc:
            raise ApiTimeout(f"{action}: no answer from {self.base_url} within {timeout:g}s") from exc
        except requests.exceptions.RequestException as exc:
            if _connect_failure(exc):
                raise ConnectFailed(f"{action}: cannot reach {self.base_url}: {exc}") from exc
            raise ResponseLost(f"{action}: the request to {self.base_url} was cut off: {exc}") from exc
        with resp:
            content = self._read_body(action, resp, deadline, timeout)
            return self._decode_http(action, resp, content)

    def _read_body(self, action: str, resp: requests.Response, deadline: float, timeout: float) -> bytes:
        """The whole body, within the call's deadline and :attr:`max_response_size`.

        The deadline is checked between reads, and each socket read is bounded
        by the read timeout, so a server that stalls mid-body is given up on
        after at most twice ``timeout``. The head is read by ``http.client``
        with the per-read timeout only: a head that trickles in a byte at a
        time is not cut at the deadline (OneBot heads are a few hundred bytes).
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
                        f"{action}: the answer from {self.base_url} is over "
                        f"{self.max_response_size} bytes; refused"
                    )
                if time.monotonic() > deadline:
                    raise ApiTimeout(f"{action}: the answer from {self.base_url} took over {timeout:g}s")
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise ApiTimeout(f"{action}: the answer from {self.base_url} stalled past {timeout:g}s") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ResponseLost(f"{action}: the answer from {self.base_url} was cut off: {exc}") from exc
        return b"".join(chunks)

    def _decode_http(self, action: str, resp: requests.Response, content: bytes) -> Dict[str, Any]:
        status = resp.status_code
        if status in (401, 403):
            what = "missing" if status == 401 else "rejected"
            raise AuthenticationError(
                f"{self.base_url} answered {status}: the access token is {what}", status=status
            )
        if status >= 500:
            error = ResponseLost(f"{action}: {self.base_url} answered HTTP {status}")
            error.status = status  # type: ignore[attr-defined]
            raise error
        if status == 200 and not content.strip():
            # Nothing came back (also what a head cut short looks like to
            # http.client, which takes EOF for the end of the headers): the
            # action may have run.
            raise ResponseLost(f"{action}: {self.base_url} answered an empty body")
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if status != 200 and not (isinstance(body, dict) and "retcode" in body):
            return http_status_body(status, content[:200].decode("utf-8", "replace"))
        if not isinstance(body, dict):
            raise ProtocolError(f"{action}: {self.base_url} answered a body that is not a JSON object")
        return body

    @property
    def session(self) -> requests.Session:
        """The pooled session (the media layer makes its requests cancellable)."""
        return self._session

    def close(self) -> None:
        self._session.close()

