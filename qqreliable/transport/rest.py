"""HTTP requests beyond a JSON POST: GET with a query, multipart uploads, per-call headers.

:class:`RestHttp` extends :class:`~.http.JsonHttp` (same pooled session, same
connect-only retries, same error classification: :class:`ConnectFailed` when
nothing reached the server, :class:`ApiTimeout` / :class:`ResponseLost` when it
may have) with :meth:`RestHttp.request`, for HTTP APIs that use methods, query
strings and ``multipart/form-data`` (mirai-api-http's HTTP adapter). What the
answer means stays the protocol's business.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Tuple

import requests

from ._json import dumps
from .http import HttpAnswer, JsonHttp, _connect_failure
from ..exceptions import ApiTimeout, ResponseLost

__all__ = ["RestHttp", "FileField"]

#: A multipart file field: ``(filename, content, content type)``.
FileField = Tuple[str, bytes, str]


class RestHttp(JsonHttp):
    """:class:`~.http.JsonHttp` plus :meth:`request`. Thread-safe."""

    def request(
        self,
        method: str,
        path: str,
        timeout: float,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json_body: Any = None,
        form: Optional[Mapping[str, str]] = None,
        files: Optional[Mapping[str, FileField]] = None,
        headers: Optional[Mapping[str, str]] = None,
        name: Optional[str] = None,
    ) -> HttpAnswer:
        """One request to ``base_url/path``; return the answer.

        ``params`` go in the query string, ``json_body`` as a JSON body,
        ``form`` and ``files`` as ``multipart/form-data``. ``headers`` are
        added to the session's for this request (never logged).

        Raises:
            TypeError: ``json_body`` is not JSON-serialisable (nothing sent).
            ConnectFailed: nothing reached the server.
            ApiTimeout: no answer within ``timeout`` seconds.
            ResponseLost: the request left and the answer did not come back
                (or was a 5xx or an empty 200).
            AuthenticationError: 401/403.
            ProtocolError: the answer is over ``max_response_size``.
        """
        name = name or path
        url = f"{self.base_url}/{path.lstrip('/')}"
        all_headers: Dict[str, str] = {k: v for k, v in self._headers.items() if k.lower() != "content-type"}
        all_headers.update(headers or {})
        data: Any = None
        if json_body is not None:
            try:
                data = dumps(json_body).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: parameters are not JSON-serialisable: {exc}") from exc
            all_headers["Content-Type"] = "application/json"
        elif form is not None and not files:
            files = {}
        multipart: Optional[Dict[str, Any]] = None
        if files is not None:
            multipart = {key: (None, str(value)) for key, value in (form or {}).items()}
            multipart.update(files)
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
        return self._answer(name, resp.status_code, content)
