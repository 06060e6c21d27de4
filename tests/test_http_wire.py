"""The HTTP transport's wire format and error translation (``responses``), plus
two real-socket checks that a POST which may have arrived is never resent."""

from __future__ import annotations

import json
import socket
import threading
from typing import List

import pytest
import requests
import responses

from qqreliable import (
    ActionFailed,
    AuthenticationError,
    ConnectFailed,
    ProtocolError,
    ResponseLost,
)
from qqreliable.onebot.actions import decode_response
from qqreliable.onebot.http import HttpApi
from qqreliable.transport.http import _connect_failure

BASE = "http://onebot.test:3000"
pytestmark = pytest.mark.timeout(20)


@responses.activate
def test_post_json_with_bearer_token() -> None:
    responses.post(f"{BASE}/send_group_msg", json={"status": "ok", "retcode": 0, "data": {"message_id": 5}})
    api = HttpApi(BASE + "/", access_token="tok")
    body = api.call("send_group_msg", {"group_id": 1, "message": "中文"}, timeout=3)
    assert decode_response("send_group_msg", body, via="http") == {"message_id": 5}
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"group_id": 1, "message": "中文"}


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses(status: int) -> None:
    responses.post(f"{BASE}/get_status", status=status, json={"message": "token verify failed!"})
    with pytest.raises(AuthenticationError) as info:
        HttpApi(BASE).call("get_status", {}, timeout=3)
    assert info.value.status == status


@responses.activate
def test_404_is_action_failed_1404() -> None:
    responses.post(f"{BASE}/nope", status=404, body="not found")
    body = HttpApi(BASE).call("nope", {}, timeout=3)
    with pytest.raises(ActionFailed) as info:
        decode_response("nope", body, via="http")
    assert info.value.retcode == 1404


@responses.activate
def test_404_with_onebot_body_keeps_the_body() -> None:
    responses.post(f"{BASE}/nope", status=404, json={"status": "failed", "retcode": 404, "data": None})
    body = HttpApi(BASE).call("nope", {}, timeout=3)
    assert body["retcode"] == 404


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_is_response_lost(status: int) -> None:
    responses.post(f"{BASE}/send_msg", status=status)
    with pytest.raises(ResponseLost) as info:
        HttpApi(BASE).call("send_msg", {}, timeout=3)
    assert info.value.sent is True


@responses.activate
@pytest.mark.parametrize("body", ["<html>oops</html>", "[1,2]"])
def test_non_object_body_is_protocol_error(body: str) -> None:
    responses.post(f"{BASE}/get_status", body=body, status=200)
    with pytest.raises(ProtocolError):
        HttpApi(BASE).call("get_status", {}, timeout=3)


def test_unserialisable_params_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        HttpApi(BASE).call("x", {"a": object()}, timeout=1)


def test_classification_of_requests_errors() -> None:
    import urllib3

    new_conn = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    wrapped = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", new_conn))  # type: ignore[arg-type]
    assert _connect_failure(wrapped)
    assert _connect_failure(requests.exceptions.ConnectTimeout())
    aborted = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
    )
    assert not _connect_failure(aborted)
    assert not _connect_failure(requests.exceptions.ReadTimeout())


class _OneShotServer:
    """Accepts connections, reads a request, then closes without answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: List[bytes] = []
        self.thread = threading.Thread(target=self._serve, name="test-oneshot", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.accepted.append(conn.recv(65536))
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(2)


def test_post_cut_off_after_sending_is_not_resent() -> None:
    server = _OneShotServer()
    try:
        with pytest.raises(ResponseLost) as info:
            HttpApi(f"http://127.0.0.1:{server.port}").call("send_msg", {"message": "x"}, timeout=3)
        assert not isinstance(info.value, ConnectFailed)
        assert len(server.accepted) == 1  # exactly one POST reached the server
    finally:
        server.close()


def test_refused_connection_is_retried_then_connect_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectFailed) as info:
        HttpApi(f"http://127.0.0.1:{port}", connect_timeout=1).call("send_msg", {}, timeout=1)
    assert info.value.sent is False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_message_is_readable() -> None:
    port = _closed_port()
    with pytest.raises(ConnectFailed) as info:
        HttpApi(f"http://127.0.0.1:{port}", connect_timeout=1).call("send_msg", {}, timeout=1)
    assert str(info.value) == f"send_msg: cannot connect to http://127.0.0.1:{port}: connection refused"
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert "Max retries" not in str(info.value) and "Pool" not in str(info.value)


def test_a_send_to_a_refused_port_fails_fast_not_after_api_timeout() -> None:
    """Issue 11: the send pipeline must not retry a connection the transport already
    retried for the whole api_timeout (29 s before, in silence)."""
    import time

    from qqreliable import Bot

    port = _closed_port()
    bot = Bot(f"http://127.0.0.1:{port}", api_timeout=30)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectFailed) as info:
            bot.send_group_msg(group_id=1, message="x")
    finally:
        bot.stop()
    assert f"cannot connect to http://127.0.0.1:{port}: connection refused" in str(info.value)
    assert info.value.__cause__ is not None
    assert time.monotonic() - started < 5.0
