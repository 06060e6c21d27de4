"""Reverse WebSocket: the implementation dials the bot (Bot(listen="ws://…"))."""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any, Callable, Dict, List

import pytest

from qqreliable import ApiNotAvailable, Bot, Event
from qqreliable.exceptions import ListenFailed
from qqreliable.testing import FakeOneBot
from qqreliable.onebot.listen import check_token
from qqreliable.transport.server import parse_listen
from qqreliable.transport.wsserver import RequestHead

from .helpers import eventually, qq_threads

pytestmark = pytest.mark.timeout(30)

PATH = "/onebot/v11/ws"


@pytest.fixture
def listen_bot(make_bot: Callable[..., Bot]) -> Callable[..., Bot]:
    """Bots listening on 127.0.0.1, port 0 (conftest's make_bot stops them)."""

    def make(path: str = PATH, scheme: str = "ws", **kwargs: Any) -> Bot:
        return make_bot(listen=f"{scheme}://127.0.0.1:0{path}", **kwargs)

    return make


def test_reply_goes_back_over_the_same_socket(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot()
    connected: List[int] = []

    @bot.on_connect
    def hello(self_id: int) -> None:
        connected.append(self_id)

    @bot.on_message("group")
    def echo(event: Event) -> None:
        if event.plain_text == "ping":
            event.reply("pong")

    with bot:
        link = onebot.connect_reverse(bot.listen_url)
        assert bot.wait_connected(5) == onebot.self_id
        link.wait_connects(1)  # the fake has seen its 101 too: events now reach the bot
        onebot.emit_group_message(100, 200, "ping")
        call = onebot.wait_for_call("send_group_msg")
        assert call["transport"] == "ws" and call["params"]["group_id"] == 100
        eventually(lambda: [m["raw_message"] for m in onebot.sent_messages] == ["pong"], what="delivery")
        assert link.connects == 1 and onebot.total_connections == 1  # one socket carried both ways
        eventually(lambda: connected == [onebot.self_id], what="on_connect")
        assert bot.call_action("get_status")["online"] is True


def test_two_accounts_at_once_calls_routed_by_self_id(
    onebot_factory: Callable[..., FakeOneBot], listen_bot: Callable[..., Bot]
) -> None:
    a = onebot_factory(self_id=111)
    b = onebot_factory(self_id=222)
    bot = listen_bot(access_token="tok")
    seen: List[Any] = []
    connected: List[int] = []
    bot.on_connect(connected.append)

    @bot.on_message("private")
    def reply(event: Event) -> None:
        seen.append(event.self_id)
        event.reply(f"hi from {event.self_id}")

    with bot:
        la = a.connect_reverse(bot.listen_url, access_token="tok")
        lb = b.connect_reverse(bot.listen_url, access_token="tok", auth_scheme="Token")  # go-cqhttp's scheme
        la.wait_connects(1)
        lb.wait_connects(1)
        eventually(lambda: sorted(bot.self_ids) == [111, 222], what="both accounts")
        eventually(lambda: sorted(connected) == [111, 222], what="on_connect per account")
        a.emit_private_message(5, "x")
        b.emit_private_message(6, "y")
        eventually(lambda: len(a.sent_messages) == 1 and len(b.sent_messages) == 1, what="replies")
        assert a.sent_messages[0]["raw_message"] == "hi from 111" and a.sent_messages[0]["user_id"] == 5
        assert b.sent_messages[0]["raw_message"] == "hi from 222" and b.sent_messages[0]["user_id"] == 6
        assert bot.call_action("get_login_info", self_id=222)["user_id"] == 222
        assert bot.call_action("get_login_info", self_id=111)["user_id"] == 111
        assert bot.get_login_info(self_id=222)["user_id"] == 222  # the typed methods route too
        bot.send_private_msg(7, "from 111 on purpose", self_id=111)
        eventually(lambda: len(a.sent_messages) == 2, what="the routed send")
        assert a.sent_messages[1]["user_id"] == 7 and len(b.sent_messages) == 1
        with pytest.raises(ApiNotAvailable, match="self_id"):
            bot.call_action("get_login_info")  # ambiguous: never guess the account


def test_roles_api_and_event_case_insensitive(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot()
    got = threading.Event()

    @bot.on_message()
    def handler(event: Event) -> None:
        event.reply("ok")
        got.set()

    with bot:
        onebot.connect_reverse(bot.listen_url, role="Api")  # Lagrange's spelling
        onebot.connect_reverse(bot.listen_url, role="event").wait_connects(1)
        assert bot.wait_connected(5) == onebot.self_id
        onebot.emit_private_message(9, "hi")
        assert got.wait(5)
        onebot.wait_for_call("send_private_msg")
        assert len(onebot.calls) == 1  # nothing on the Event socket was run as an API call
        stats = bot.stats()["listener"]
        assert sorted(c["role"] for c in stats["connections"]) == ["api", "event"]


def test_missing_and_wrong_tokens_are_rejected(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot(access_token="right")
    with bot:
        missing = onebot.connect_reverse(bot.listen_url)
        wrong = onebot.connect_reverse(bot.listen_url, access_token="wrong")
        missing.wait_refusals(1)
        wrong.wait_refusals(1)
        assert set(missing.refusals) == {401}
        assert set(wrong.refusals) == {403}
        missing.stop()
        wrong.stop()
        assert bot.self_ids == [] and missing.connects == 0 and wrong.connects == 0
        query = onebot.connect_reverse(bot.listen_url, access_token="right", auth_scheme="query")
        assert bot.wait_connected(5) == onebot.self_id
        query.wait_connects(1)
        assert bot.stats()["listener"]["rejected"]["401"] >= 1


def test_check_token_schemes() -> None:
    def head(**headers: str) -> RequestHead:
        return RequestHead("GET", headers.pop("target", "/"), "HTTP/1.1", list(headers.items()))

    assert check_token(head(), None) == 0
    assert check_token(head(), "t") == 401
    assert check_token(head(Authorization="Bearer t"), "t") == 0
    assert check_token(head(Authorization="Token t"), "t") == 0
    assert check_token(head(Authorization="bearer t"), "t") == 0
    assert check_token(head(Authorization="Bearer "), "t") == 401  # NapCat with an empty token
    assert check_token(head(Authorization="Bearer x"), "t") == 403
    assert check_token(head(target="/?access_token=t"), "t") == 0
    assert check_token(head(target="/?access_token=x"), "t") == 403


def test_second_connection_replaces_the_first(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot()
    got: List[int] = []
    bot.on_message("group")(lambda e: got.append(e.message_id))
    with bot:
        first = onebot.connect_reverse(bot.listen_url)
        first.wait_connects(1)
        bot.wait_connected(5)
        second = onebot.connect_reverse(bot.listen_url)
        second.wait_connects(1)
        eventually(lambda: first.close_codes == [1000], what="the older link closed with 1000")
        first.stop()
        assert bot.stats()["listener"]["replaced"] == 1
        onebot.emit_group_message(1, 2, "x")
        eventually(lambda: len(got) == 1, what="event")
        assert bot.call_action("get_login_info")["user_id"] == onebot.self_id
        assert bot.self_ids == [onebot.self_id]


def test_missing_self_id_is_learnt_from_the_first_event(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot()
    with bot:
        onebot.connect_reverse(bot.listen_url, self_id=None).wait_connects(1)
        # No X-Self-ID: the account is learnt from the first event (here the lifecycle event).
        assert bot.wait_connected(5) == onebot.self_id
        assert [c["self_id"] for c in bot.stats()["listener"]["connections"]] == [onebot.self_id]
        assert bot.call_action("get_login_info", self_id=onebot.self_id)["user_id"] == onebot.self_id


def test_reconnects_and_pending_calls_fail_fast(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    from qqreliable import ResponseLost

    bot = listen_bot()
    disconnects: List[str] = []
    bot.on_disconnect(disconnects.append)
    with bot:
        link = onebot.connect_reverse(bot.listen_url)
        bot.wait_connected(5)
        onebot.stall("set_group_card")
        errors: List[BaseException] = []

        def call() -> None:
            try:
                bot.call_action("set_group_card", group_id=1, user_id=2, card="x", api_timeout=20)
            except BaseException as exc:  # noqa: B902 - the test inspects it
                errors.append(exc)

        t = threading.Thread(target=call)
        t.start()
        onebot.wait_for_call("set_group_card")
        onebot.drop_connections()
        t.join(5)
        assert not t.is_alive() and isinstance(errors[0], ResponseLost)
        link.wait_connects(2)
        eventually(lambda: bot.self_ids == [onebot.self_id], what="reconnected")
        assert disconnects
        onebot.reset_faults()
        assert bot.call_action("get_status")["online"] is True


def test_port_in_use_raises_from_start_and_run(listen_bot: Callable[..., Bot]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        bot = Bot(listen=f"ws://127.0.0.1:{port}/ws", shutdown_grace=1.0)
        with pytest.raises(ListenFailed) as info:
            bot.start()
        assert info.value.errno == errno.EADDRINUSE and isinstance(info.value, OSError)
        assert qq_threads() == []  # nothing left running
        bot2 = Bot(listen=f"http://127.0.0.1:{port}/", shutdown_grace=1.0)
        with pytest.raises(ListenFailed):
            bot2.run()
    finally:
        taken.close()
    bot.start()  # the port is free again: a failed start() can be retried
    bot.stop()


def test_parse_listen() -> None:
    a = parse_listen("ws://0.0.0.0:8080/onebot/v11/ws")
    assert (a.kind, a.host, a.port, a.path) == ("ws", "0.0.0.0", 8080, "/onebot/v11/ws")
    assert parse_listen("http://127.0.0.1:5701").path == "/"
    for bad in ("wss://h:1/", "ftp://h:1/", "ws://:80/", "ws://h:99999/"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    with pytest.raises(ValueError):
        Bot(listen="tcp://127.0.0.1:1/")


def test_wrong_path_and_plain_http_refused(listen_bot: Callable[..., Bot]) -> None:
    import http.client

    bot = listen_bot()
    with bot:
        port = int(bot.listen_url.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/elsewhere")
        assert conn.getresponse().status == 404
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", PATH)
        assert conn.getresponse().status == 426
        conn.close()


def test_bad_frames_are_counted_not_fatal(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot()
    got: List[Dict[str, Any]] = []
    bot.on_message()(got.append)
    with bot:
        onebot.connect_reverse(bot.listen_url).wait_connects(1)
        bot.wait_connected(5)
        onebot.send_garbage("not json{")
        onebot.send_garbage("[1, 2]")
        onebot.emit_private_message(3, "fine")
        eventually(lambda: len(got) == 1, what="the good event")
        assert bot.stats()["bad_frames"] == 2


def test_silent_reverse_link_is_detected_and_replaced(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = listen_bot(ping_interval=0.2, pong_timeout=0.3)
    with bot:
        link = onebot.connect_reverse(bot.listen_url)
        link.wait_connects(1)
        bot.wait_connected(5)
        onebot.half_open()  # TCP stays up, nothing is answered (not even pings)
        eventually(lambda: bot.self_ids == [], what="the dead link noticed")
        link.wait_connects(2)  # the implementation dials again
        assert bot.wait_connected(5) == onebot.self_id
        assert bot.call_action("get_status")["online"] is True


def test_a_peer_that_stops_reading_cannot_hang_a_call(listen_bot: Callable[..., Bot]) -> None:
    import time

    import websocket

    from qqreliable import ConnectFailed

    bot = listen_bot(io_timeout=0.3)
    with bot:
        peer = websocket.create_connection(bot.listen_url, header=["X-Self-ID: 42"], timeout=5)
        try:
            bot.wait_connected(5)
            started = time.monotonic()
            with pytest.raises(ConnectFailed):  # the frame never fully left: not received
                bot.call_action("set_group_card", group_id=1, user_id=2, card="x" * 30_000_000, api_timeout=20)
            assert time.monotonic() - started < 5
            eventually(lambda: bot.self_ids == [], what="the stuck connection dropped")
        finally:
            peer.shutdown()


def test_reverse_events_with_the_api_over_http(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    bot = Bot(onebot.url, listen="ws://127.0.0.1:0/ws", shutdown_grace=2.0)
    got = threading.Event()

    @bot.on_message()
    def handler(event: Event) -> None:
        event.reply("via http")
        got.set()

    try:
        with bot:
            onebot.connect_reverse(bot.listen_url, role="Event").wait_connects(1)
            eventually(lambda: bot.self_ids == [onebot.self_id], what="event-only account up")
            onebot.emit_private_message(4, "hi")
            assert got.wait(5)
            assert onebot.wait_for_call("send_private_msg")["transport"] == "http"
    finally:
        bot.stop()


def test_quick_operation_over_websocket_uses_handle_quick_operation(
    onebot: FakeOneBot, listen_bot: Callable[..., Bot]
) -> None:
    bot = listen_bot()
    onebot.set_action(".handle_quick_operation", lambda params: None)
    bot.quick_operation("message.private")(lambda event: {"reply": "quick"})
    with bot:
        onebot.connect_reverse(bot.listen_url).wait_connects(1)
        bot.wait_connected(5)
        sent = onebot.emit_private_message(8, "hi")
        call = onebot.wait_for_call(".handle_quick_operation")
        assert call["params"]["operation"] == {"reply": "quick"}
        assert call["params"]["context"]["message_id"] == sent["message_id"]


def test_zombie_reverse_link_is_replaced(
    onebot_factory: Callable[..., FakeOneBot], listen_bot: Callable[..., Bot]
) -> None:
    onebot = onebot_factory(heartbeat_interval=0.1)
    bot = listen_bot(ping_interval=0.05, pong_timeout=1.0)
    with bot:
        link = onebot.connect_reverse(bot.listen_url)
        link.wait_connects(1)
        bot.wait_connected(5)
        eventually(lambda: bot.stats()["listener"]["events"] >= 2, what="heartbeats")
        onebot.mute_events()  # pings and calls answered, no event or heartbeat any more
        link.wait_connects(2)  # the bot closed the zombie; the implementation dialled again
        assert bot.wait_connected(5) == onebot.self_id


def test_ambiguous_send_is_verified_through_its_own_account(
    onebot_factory: Callable[..., FakeOneBot], listen_bot: Callable[..., Bot]
) -> None:
    """Exactly-once sends (issue 4) in reverse mode: the attempt and its verification
    (message_sent, history) go through the account the send was routed to."""
    a = onebot_factory(self_id=111, report_self_messages=True)
    b = onebot_factory(self_id=222, report_self_messages=True)
    bot = listen_bot()
    with bot:
        a.connect_reverse(bot.listen_url).wait_connects(1)
        b.connect_reverse(bot.listen_url).wait_connects(1)
        eventually(lambda: sorted(bot.self_ids) == [111, 222], what="both accounts")
        b.script("send_group_msg", ["deliver_fail"])  # delivered, then answered 1200
        receipt = bot.send_group_msg(5, "exactly once", self_id=222)
        assert receipt.verified
        assert [m["raw_message"] for m in b.sent_messages] == ["exactly once"]
        assert a.sent_messages == [] and a.calls == []


def test_lone_surrogates_are_replaced_over_reverse_ws(onebot: FakeOneBot, listen_bot: Callable[..., Bot]) -> None:
    """Reverse WS encodes calls like forward WS and HTTP do (faults RECV-06): a lone
    surrogate becomes U+FFFD instead of a UnicodeEncodeError, and no call is left
    behind in the pending table."""
    bot = listen_bot()
    with bot:
        onebot.connect_reverse(bot.listen_url)
        bot.wait_connected(5)
        bot.send_group_msg(group_id=1, message="cut \ud83d end")
        assert onebot.sent_messages[-1]["raw_message"] == "cut \ufffd end"
        assert [c["pending"] for c in bot.stats()["listener"]["connections"]] == [0]
        assert bot.self_ids == [onebot.self_id]


def test_a_peer_that_stops_reading_does_not_delay_the_others_liveness(listen_bot: Callable[..., Bot]) -> None:
    """One account's socket is full (its implementation stopped reading while a large
    call was being written to it); the watchdog must still notice, on time, that
    another account's link died. It never waits on a socket: the stalled write
    ends by itself after io_timeout."""
    import websocket

    from qqreliable import Error

    bot = listen_bot(ping_interval=2.0, pong_timeout=1.0, io_timeout=8.0, api_timeout=20.0)
    peers: List[Any] = []
    errors: List[BaseException] = []
    with bot:

        def dial(self_id: int) -> None:
            headers = [f"X-Self-ID: {self_id}", "X-Client-Role: Universal"]
            peers.append(websocket.create_connection(bot.listen_url, header=headers, timeout=5))

        try:
            dial(111)  # reads nothing from now on: never answers a ping, never drains
            eventually(lambda: bot.self_ids == [111], what="account 111 up")

            def write_big() -> None:
                try:
                    bot.call_action("upload_blob", self_id=111, blob="x" * (24 << 20))
                except Error as exc:
                    errors.append(exc)

            writer = threading.Thread(target=write_big, name="test-writer", daemon=True)
            writer.start()
            eventually(
                lambda: [c["pending"] for c in bot.stats()["listener"]["connections"]] == [1],
                what="the large call being written",
            )
            dial(222)  # answers nothing either: its link must be found dead in about 3 s
            eventually(lambda: 222 in bot.self_ids, what="account 222 up")
            # ping after 2 s, pong deadline 1 s later. Before the fix the watchdog sat
            # behind account 111's write until io_timeout (8 s from its start).
            eventually(lambda: 222 not in bot.self_ids, timeout=4.5, what="account 222's dead link noticed")
            writer.join(15)  # the stalled write gives up after io_timeout
            assert not writer.is_alive()
            assert errors and isinstance(errors[0], Error)
        finally:
            for peer in peers:
                peer.shutdown()
