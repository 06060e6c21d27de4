"""HTTP beyond a JSON POST: any method, query strings, multipart uploads, raw bodies, per-call headers.

:class:`RestClient` extends :class:`~.http.JsonHttp` (same pooled session, same
connect-only retries, same bounded body read, same error classification):

* refused, DNS, connect timeout, TLS handshake -> :class:`ConnectFailed`
  (nothing reached the server);
* read timeout -> :class:`ApiTimeout`; cut off after sending -> :class:`ResponseLost`.

Two ways to get the answer, for the two kinds of HTTP API the protocols have:

* :meth:`RestClient.request` returns every answer as a :class:`RestAnswer`
  (status, decoded body, headers), for APIs that put the real reason in the
  body of a 4xx/5xx (the official QQ Bot API answers ``500`` with
  ``{"code": 22009}``); the protocol package decides what a status means.
* :meth:`RestClient.checked` applies :class:`JsonHttp`'s status rules (401/403
  -> :class:`AuthenticationError`, 5xx or an empty 200 -> :class:`ResponseLost`)
  and returns an :class:`~.http.HttpAnswer` (mirai-api-http's HTTP adapter).
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Mapping, Optional, Tuple

import requests

from ..exceptions import ApiTimeout, ResponseLost
from ._json import dumps
from .http import HttpAnswer, JsonHttp, _connect_failure

__all__ = ["RestClient", "RestAnswer", "FileField"]

#: A multipart file field: ``(filename, content, content type)``.
FileField = Tuple[str, bytes, str]


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
        params: Optional[Mapping[str, Any]] = None,
        form: Optional[Mapping[str, str]] = None,
        files: Optional[Mapping[str, FileField]] = None,
        raw: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        name: Optional[str] = None,
    ) -> RestAnswer:
        """Send one request; return the answer, whatever its status.

        The body is ``obj`` as JSON, or ``raw`` bytes (``application/octet-stream``),
        or ``form`` and ``files`` as ``multipart/form-data``; ``params`` go in the
        query string; ``headers`` are added for this request only (never logged).
        A ``path`` starting with ``http://`` or ``https://`` is used as is. Blocks
        for at most about ``timeout`` seconds once connected.

        Raises:
            TypeError: ``obj`` is not JSON-serialisable (nothing sent).
            ConnectFailed: nothing reached the server.
            ApiTimeout: no answer within ``timeout`` seconds (it may have run).
            ResponseLost: the answer was cut off (it may have run).
            ProtocolError: the answer is over ``max_response_size``.
        """
        name = name or f"{method} {path}"
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        all_headers: Dict[str, str] = {k: v for k, v in self._headers.items() if k.lower() != "content-type"}
        data: Any = None
        multipart: Optional[Dict[str, Any]] = None
        if obj is not None:
            try:
                data = dumps(obj).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: the body is not JSON-serialisable: {exc}") from exc
            all_headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = bytes(raw)
            all_headers["Content-Type"] = "application/octet-stream"
        elif form is not None or files is not None:
            multipart = {key: (None, str(value)) for key, value in (form or {}).items()}
            multipart.update(files or {})
        all_headers.update(headers or {})
        deadline = time.monotonic() + timeout
        try:
            resp = self._session.request(
                method,
                url,
                params=dict(params) if params else None,
                data=data,
                files=multipart,
                headers=all_headers,
                timeout=(self.connect_timeout, timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.ReadTimeout as exc:
            raise ApiTimeout(f"{name}: no answer from {self.base_url} within {timeout:g}s") from exc
        except requests.exceptions.RequestException as exc:
            if _connect_failure(exc):
                raise self._connect_failed(name, exc) from exc
            raise ResponseLost(f"{name}: the request to {self.base_url} was cut off: {exc}") from exc
        if self._unreachable:
            self._unreachable = False
        with resp:
            content = self._read_body(name, resp, deadline, timeout)
            resp_headers = dict(resp.headers)
        try:
            body = json.loads(content) if content.strip() else None
        except ValueError:
            body = None
        return RestAnswer(resp.status_code, body, resp_headers, content)

    def checked(self, method: str, path: str, obj: Any = None, *, timeout: float, **options: Any) -> HttpAnswer:
        """:meth:`request` with the JSON-API status rules applied.

        Raises what :meth:`request` raises, and:
            AuthenticationError: 401/403.
            ResponseLost: a 5xx or an empty 200 (the request may have run).
        """
        name = options.get("name") or path
        answer = self.request(method, path, obj, timeout=timeout, **options)
        return self._answer(name, answer.status, answer.content)
