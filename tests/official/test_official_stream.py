"""StreamSender: every rule of AstrBot PR 6131, against a recording poster."""

from __future__ import annotations

from typing import Any, List

import pytest

from qqreliable import MessageSegment
from qqreliable.official.codes import Kind, OfficialApiError
from qqreliable.official.stream import BREAK, StreamSender, extract_id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Poster:
    def __init__(self, answers: Any = "dict") -> None:
        self.bodies: List[dict] = []
        self.answers = answers
        self.fail: List[OfficialApiError] = []
        self.media: List[MessageSegment] = []
        self.once: List[Any] = []

    def chunk(self, body: dict) -> Any:
        self.bodies.append(body)
        if self.fail:
            raise self.fail.pop(0)
        if self.answers == "dict":
            return {"id": "S1", "timestamp": 1}
        if self.answers == "object":
            return type("Msg", (), {"id": "S1"})()
        return None

    def post_media(self, seg: MessageSegment) -> Any:
        self.media.append(seg)
        return {"id": "M1"}

    def post_once(self, message: Any) -> Any:
        self.once.append(message)
        return {"id": "O1"}


def texts(bodies: List[dict]) -> List[str]:
    return [b["markdown"]["content"] if "markdown" in b else b["content"] for b in bodies]


def ticking(clock: Clock, items: List[Any], step: float):
    for item in items:
        yield item
        clock.now += step


def make(poster: Poster, clock: Clock, **kw: Any) -> StreamSender:
    return StreamSender(poster.chunk, post_media=poster.post_media, post_once=poster.post_once, clock=clock, **kw)


@pytest.mark.parametrize("answers", ["dict", "object"])
def test_chunks_carry_only_new_text_and_the_id_once_known(answers) -> None:
    clock, poster = Clock(), Poster(answers)
    result = make(poster, clock, interval=1.0).run(ticking(clock, ["Hel", "lo", " wor", "ld"], 0.6))
    streams = [b["stream"] for b in poster.bodies]
    assert "id" not in streams[0]
    assert all(s["id"] == "S1" for s in streams[1:])
    assert [s["index"] for s in streams] == list(range(len(streams)))
    assert [s["state"] for s in streams] == [1] * (len(streams) - 1) + [10]
    assert "".join(texts(poster.bodies)) == "Hello world\n"
    assert texts(poster.bodies)[0] == "Hel"
    assert texts(poster.bodies)[-1].endswith("\n")
    assert not any(t.endswith("\n") for t in texts(poster.bodies)[:-1])
    assert result.message_id == "S1" and result.chunks == len(streams)


def test_throttled_to_interval() -> None:
    clock, poster = Clock(), Poster()
    make(poster, clock, interval=1.0).run(ticking(clock, list("abcdefghij"), 0.25))
    # 10 chunks over 2.5 s: at most one per second, plus the final one.
    assert len(poster.bodies) <= 5
    assert "".join(texts(poster.bodies)) == "abcdefghij\n"


def test_final_chunk_is_just_newline_when_nothing_is_left() -> None:
    clock, poster = Clock(), Poster()
    make(poster, clock, interval=0).run(["all of it"])
    assert texts(poster.bodies) == ["all of it", "\n"]
    assert poster.bodies[-1]["stream"] == {"state": 10, "index": 1, "reset": False, "id": "S1"}


def test_nothing_sent_for_no_text() -> None:
    clock, poster = Clock(), Poster()
    make(poster, clock).run([])
    assert poster.bodies == []


def test_answer_without_id_never_crashes() -> None:
    clock, poster = Clock(), Poster(answers=None)
    result = make(poster, clock, interval=0).run(["a", "b", "c"])
    assert "id" not in poster.bodies[0]["stream"]
    assert len(poster.bodies) == 1  # the rest gathered into one message
    assert poster.once and poster.once[0].extract_plain_text() == "bc"
    assert result.message_ids == ["O1"]


def test_newline_error_retried_once_with_the_fix() -> None:
    clock, poster = Clock(), Poster()
    sender = make(poster, clock, interval=0)
    poster.fail = []
    sent = []

    def chunk(body: dict) -> Any:
        sent.append(body)
        if body["stream"]["state"] == 10 and len([b for b in sent if b["stream"]["state"] == 10]) == 1:
            raise OfficialApiError("c2c", code=1, message="流式消息md分片需要\n结束", kind=Kind.STREAM_NEWLINE)
        return {"id": "S1"}

    sender._post_chunk = chunk
    sender.run(["x"])
    finals = [b for b in sent if b["stream"]["state"] == 10]
    assert len(finals) == 2 and texts(finals)[-1].endswith("\n")


def test_markdown_refused_goes_plain_and_stays_plain() -> None:
    clock, poster = Clock(), Poster()
    poster.fail = [OfficialApiError("c2c", code=40034012, kind=Kind.MARKDOWN_REFUSED)]
    result = make(poster, clock, interval=0).run(["a", "b"])
    assert poster.bodies[0]["msg_type"] == 2
    assert all(b["msg_type"] == 0 and "content" in b and "markdown" not in b for b in poster.bodies[1:])
    assert texts(poster.bodies[1:]) == ["a", "b", "\n"]
    assert result.markdown is False


def test_media_sent_apart_without_breaking_the_stream() -> None:
    clock, poster = Clock(), Poster()
    image = MessageSegment.image("https://x/i.png")
    make(poster, clock, interval=0).run(["a", image, "b"])
    assert poster.media == [image]
    assert all("stream" in b for b in poster.bodies)
    assert [b["stream"]["id"] for b in poster.bodies[1:]] == ["S1", "S1"]


def test_error_mid_stream_closes_instead_of_resending() -> None:
    clock, poster = Clock(), Poster()
    boom = OfficialApiError("c2c", http_status=400, code=50006, kind=Kind.FAILED)

    def items():
        yield "first "
        poster.fail = [boom]
        yield "second"
        yield "third"

    with pytest.raises(OfficialApiError):
        make(poster, clock, interval=0).run(items())
    assert texts(poster.bodies) == ["first ", "second", "\n"]
    assert poster.bodies[-1]["stream"]["state"] == 10 and poster.bodies[-1]["stream"]["id"] == "S1"
    assert poster.once == []  # never resent as a whole


def test_break_closes_the_segment_and_opens_a_new_stream() -> None:
    clock, poster = Clock(), Poster()
    make(poster, clock, interval=0).run(["a", BREAK, "b"])
    streams = [b["stream"] for b in poster.bodies]
    assert [s["state"] for s in streams] == [1, 10, 1, 10]
    assert "id" not in streams[2] and streams[2]["index"] == 0
    assert texts(poster.bodies) == ["a", "\n", "b", "\n"]


def test_not_c2c_gathered_and_sent_once() -> None:
    clock, poster = Clock(), Poster()
    result = make(poster, clock, streaming=False).run(["a", "b", "c"])
    assert poster.bodies == [] and len(poster.once) == 1
    assert poster.once[0].extract_plain_text() == "abc" and result.message_id == "O1"


def test_not_c2c_break_sends_what_was_gathered() -> None:
    clock, poster = Clock(), Poster()
    make(poster, clock, streaming=False).run(["a", BREAK, "b"])
    assert [m.extract_plain_text() for m in poster.once] == ["a", "b"]


def test_bad_chunk_type() -> None:
    with pytest.raises(TypeError):
        make(Poster(), Clock()).run([42])


def test_extract_id() -> None:
    assert extract_id({"id": 5}) == "5"
    assert extract_id(type("M", (), {"id": "x"})()) == "x"
    assert extract_id(None) is None and extract_id({}) is None
