"""A REST client: any method, per-request headers, the answer whatever its status.

For APIs that put the real reason in the body of a 4xx/5xx answer (the official
QQ Bot API answers ``500`` with ``{"code": 22009}``, ``401`` with ``11244``):
:meth:`RestClient.request` returns every answer, with its headers
(``Retry-After``, trace ids), and raises only when no answer came. The protocol
package decides what a status means.

Built on :class:`~.http.JsonHttp`'s pooled session and its bounded body read;
errors are classified by whether the request may have reached the server:

* refused, DNS, connect timeout, TLS handshake -> :class:`ConnectFailed`;
* read timeout -> :class:`ApiTimeout`; cut off after sending -> :class:`ResponseLost`.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Mapping, Optional

import requests

from ..exceptions import ApiTimeout, ResponseLost
from ._json import dumps
from .http import JsonHttp, _connect_failure

__all__ = ["RestClient", "RestAnswer"]


class RestAnswer:
    """One answer: ``status``, ``body`` (decoded JSON, None when not JSON), ``headers``, ``content``."""

    __slots__ = ("status", "body", "headers", "content")

    def __init__(self, status: int, body: Any, headers: Dict[str, str], content: bytes) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:
        return f"<RestAnswer {self.status} {self.content[:80]!r}>"


class RestClient(JsonHttp):
    """Requests to paths under one base URL (or absolute URLs). Thread-safe."""

    def request(
        self,
        method: str,
        path: str,
        obj: Any = None,
        *,
        timeout: float,
        headers: Optional[Mapping[str, str]] = None,
        name: Optional[str] = None,
        raw: Optional[bytes] = None,
    ) -> RestAnswer:
        """Send one request (``obj`` as a JSON body unless None, or ``raw`` bytes as
        ``application/octet-stream``); return the answer.

        ``path`` starting with ``http://`` or ``https://`` is used as is.
        Blocks for at most about ``timeout`` seconds once connected.

        Raises:
            TypeError: ``obj`` is not JSON-serialisable (nothing sent).
            ConnectFailed: nothing reached the server.
            ApiTimeout: no answer within ``timeout`` seconds (it may have run).
            ResponseLost: the answer was cut off (it may have run).
            ProtocolError: the answer is over ``max_response_size``.
        """
        name = name or f"{method} {path}"
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        data = None
        if obj is not None:
            try:
                data = dumps(obj).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: the body is not JSON-serialisable: {exc}") from exc
        all_headers = dict(self._headers)
        if raw is not None:
            data = bytes(raw)
            all_headers["Content-Type"] = "application/octet-stream"
        all_headers.update(headers or {})
        deadline = time.monotonic() + timeout
        try:
            resp = self._session.request(
                method, url, data=data, headers=all_headers, timeout=(self.connect_timeout, timeout), stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.ReadTimeout as exc:
            raise ApiTimeout(f"{name}: no answer from {self.base_url} within {timeout:g}s") from exc
        except requests.exceptions.RequestException as exc:
            if _connect_failure(exc):
                raise self._connect_failed(name, exc) from exc
            raise ResponseLost(f"{name}: the request to {self.base_url} was cut off: {exc}") from exc
        with resp:
            content = self._read_body(name, resp, deadline, timeout)
            resp_headers = dict(resp.headers)
        try:
            body = json.loads(content) if content.strip() else None
        except ValueError:
            body = None
        return RestAnswer(resp.status_code, body, resp_headers, content)
