"""GatewaySession: Hello/Identify/Resume, heartbeats and the ACK watchdog, op 7/9,
every close code of qq-official.md §3.6, seq tracking, duplicates."""

from __future__ import annotations

import pytest

from qqreliable.official.gateway import GatewayFatal, GatewaySession, close_action


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def session(**kw) -> tuple:
    clock = Clock()
    return GatewaySession(intents=1 << 25, clock=clock, rand=lambda: 0.5, **kw), clock


def ready(gw: GatewaySession, seq: int = 1) -> None:
    gw.opened()
    gw.receive({"op": 10, "d": {"heartbeat_interval": 40000}})
    gw.hello_reply("tok")
    gw.receive({"op": 0, "s": seq, "t": "READY", "d": {"session_id": "S", "user": {"id": "B"}}})


def test_identify_then_resume() -> None:
    gw, _ = session()
    gw.opened()
    assert gw.receive({"op": 10, "d": {"heartbeat_interval": 45000}}) == [("hello", None)]
    assert gw.interval == 45.0
    identify = gw.hello_reply("tok")
    assert identify == {"op": 2, "d": {"token": "QQBot tok", "intents": 1 << 25, "shard": [0, 1],
                                      "properties": gw.properties}}
    steps = gw.receive({"op": 0, "s": 1, "t": "READY", "d": {"session_id": "S1", "user": {"id": "B"}}})
    assert steps[0][0] == "ready" and gw.session_id == "S1" and gw.bot_user == {"id": "B"}
    gw.receive({"op": 0, "s": 5, "t": "C2C_MESSAGE_CREATE", "id": "e", "d": {"id": "m1"}})
    action, delay = gw.closed(None)
    assert action.action == "resume" and delay == 0
    gw.opened()
    gw.receive({"op": 10, "d": {"heartbeat_interval": 45000}})
    assert gw.hello_reply("QQBot tok2") == {"op": 6, "d": {"token": "QQBot tok2", "session_id": "S1", "seq": 5}}
    assert gw.receive({"op": 0, "s": 6, "t": "RESUMED", "d": ""})[0][0] == "resumed"


def test_duplicates_dropped_by_d_id() -> None:
    """The session passes every dispatch on (tracking ``s``); the bot's shared Deduper,
    keyed by :func:`event_key`, drops a repeated push by ``d.id`` (whatever its envelope id)."""
    from qqreliable.official.events import event_key
    from qqreliable.reliability.dedupe import Deduper

    gw, _ = session()
    ready(gw)
    dedupe = Deduper(key=event_key)
    frame = {"op": 0, "s": 2, "t": "GROUP_AT_MESSAGE_CREATE", "id": "e1", "d": {"id": "m"}}
    repeat = dict(frame, s=3, id="e2")
    assert gw.receive(frame) == [("dispatch", frame)] and not dedupe.seen(frame)
    assert gw.receive(repeat) == [("dispatch", repeat)] and dedupe.seen(repeat)
    assert dedupe.duplicates == 1 and gw.seq == 3
    lifecycle = {"op": 0, "s": 4, "t": "FRIEND_ADD", "id": "FRIEND_ADD:x", "d": {"openid": "U"}}
    assert event_key(lifecycle) == ("official", "FRIEND_ADD", "FRIEND_ADD:x")
    assert event_key({"op": 0, "t": "X", "d": {}}) is None


def test_heartbeat_and_ack_watchdog() -> None:
    gw, clock = session()
    ready(gw, seq=4)
    assert gw.heartbeat() is None
    clock.now += 40
    assert gw.heartbeat() == {"op": 1, "d": 4}
    assert gw.heartbeat() is None
    clock.now += 30
    gw.receive({"op": 11})
    clock.now += 10
    assert gw.stale() is None
    hb = gw.heartbeat()
    assert hb is not None
    clock.now += 61  # > 1.5 intervals without an ACK
    assert "ACK" in gw.stale()


def test_silence_is_stale() -> None:
    gw, clock = session(ack_factor=100)
    ready(gw)
    clock.now += 81
    assert "no frame" in gw.stale()


def test_no_hello() -> None:
    gw, clock = session()
    gw.opened()
    clock.now += 11
    assert "Hello" in gw.stale()


def test_server_asks_for_a_heartbeat() -> None:
    gw, _ = session()
    ready(gw, seq=9)
    assert gw.receive({"op": 1}) == [("send", {"op": 1, "d": 9})]


def test_op7_resumes_and_op9_identifies() -> None:
    gw, _ = session()
    ready(gw)
    (kind, action), = gw.receive({"op": 7})
    assert kind == "reconnect" and action.action == "resume"
    (kind, action), = gw.receive({"op": 9, "d": True})
    assert action.action == "resume"
    (kind, action), = gw.receive({"op": 9, "d": False})
    assert action.action == "identify" and action.refresh_token and gw.session_id is None


@pytest.mark.parametrize("code, action", [
    (None, "resume"), (1000, "resume"), (1006, "resume"), (4000, "resume"), (4001, "identify"),
    (4002, "identify"), (4003, "identify"), (4004, "resume"), (4005, "identify"), (4006, "identify"),
    (4007, "identify"), (4008, "resume"), (4009, "resume"), (4010, "fatal"), (4011, "identify"),
    (4012, "fatal"), (4013, "fatal"), (4014, "fatal"), (4900, "identify"), (4902, "identify"),
    (4913, "identify"), (4914, "fatal"), (4915, "fatal"),
])
def test_close_codes(code, action) -> None:
    assert close_action(code).action == action


def test_close_policy_applied() -> None:
    gw, _ = session()
    ready(gw)
    action, delay = gw.closed(4008)
    assert action.action == "resume" and delay >= 60
    ready(gw)
    action, _ = gw.closed(4006)
    assert action.action == "identify" and gw.session_id is None
    ready(gw)
    action, _ = gw.closed(4004)
    assert action.refresh_token and action.action == "resume"
    ready(gw)
    with pytest.raises(GatewayFatal) as info:
        gw.closed(4014)
    assert info.value.code == 4014


def test_repeated_4004_is_fatal() -> None:
    gw, clock = session()
    for _ in range(2):
        gw.opened()
        clock.now += 10
        gw.closed(4004)
    gw.opened()
    with pytest.raises(GatewayFatal):
        gw.closed(4004)


def test_resume_falls_back_to_identify_after_three_failures() -> None:
    gw, clock = session()
    ready(gw)
    gw.closed(None)
    actions = []
    for _ in range(3):
        gw.opened()
        gw.receive({"op": 10, "d": {"heartbeat_interval": 40000}})
        gw.hello_reply("t")
        clock.now += 10
        actions.append(gw.closed(4009)[0].action)
    assert actions == ["resume", "resume", "identify"] and gw.session_id is None


def test_backoff_grows_and_resets_on_ready() -> None:
    gw, clock = session(backoff_steps=(1.0, 2.0, 5.0))
    ready(gw)
    gw.closed(None)
    delays = []
    for _ in range(4):
        gw.opened()
        clock.now += 10
        delays.append(gw.closed(None)[1])
    assert delays == [1.0, 2.0, 5.0, 5.0]
    ready(gw)
    clock.now += 10
    assert gw.closed(None)[1] == 0


def test_quick_close_storm_waits() -> None:
    gw, clock = session(storm_delay=60.0)
    delays = []
    for _ in range(3):
        ready(gw)
        clock.now += 1
        delays.append(gw.closed(None)[1])
    assert delays[-1] == 60.0


def test_malformed_frames_ignored() -> None:
    gw, _ = session()
    gw.opened()
    assert gw.receive("garbage") == [] and gw.receive({"op": 99}) == []
    gw.receive({"op": 10, "d": {"heartbeat_interval": "x"}})
    assert gw.interval == 41.25
