"""OneBot v11's HTTP API: one action is one POST to ``/<action>``.

The transport (:class:`~qqreliable.transport.http.JsonHttp`) posts and
returns the decoded answer; here the answer becomes a OneBot response body:
a non-200 answer without a OneBot body is mapped by
:func:`~qqreliable.onebot.actions.http_status_body` (404 → retcode 1404 …),
and anything but a JSON object is a :class:`ProtocolError`.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..exceptions import ProtocolError
from ..transport.http import JsonHttp
from .actions import http_status_body

__all__ = ["HttpApi"]


class HttpApi(JsonHttp):
    """Calls OneBot actions over HTTP. Thread-safe.

    Args:
        base_url: the implementation's HTTP API URL.
        access_token: sent as ``Authorization: Bearer …``; never logged.
        **options: see :class:`~qqreliable.transport.http.JsonHttp`.
    """

    via = "http"

    def __init__(self, base_url: str, *, access_token: Optional[str] = None, **options: Any) -> None:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        super().__init__(base_url, headers=headers, **options)

    def call(self, action: str, params: Mapping[str, Any], timeout: float) -> Dict[str, Any]:
        """POST one action; return the response body (not yet decoded by retcode).

        Raises:
            ConnectFailed: nothing reached the implementation.
            ApiTimeout: no answer within ``timeout`` seconds.
            ResponseLost: the request left, the answer did not come back.
            AuthenticationError: 401/403.
            ProtocolError: the body is not a JSON object.
            TypeError: ``params`` is not JSON-serialisable.
        """
        answer = self.post(action, dict(params), timeout, name=action)
        body = answer.body
        if answer.status != 200 and not (isinstance(body, dict) and "retcode" in body):
            return http_status_body(answer.status, answer.text())
        if not isinstance(body, dict):
            raise ProtocolError(f"{action}: {self.base_url} answered a body that is not a JSON object")
        return body
