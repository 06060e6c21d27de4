"""Tests for qqreliable.message: escaping, CQ-code parsing and rendering, factories."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qqreliable.message import Message, MessageSegment, escape, to_wire, unescape

Seg = MessageSegment


def text(s: str) -> MessageSegment:
    return MessageSegment("text", {"text": s})


# -- the reference implementation of onebot11.md §5.5, for differential tests --------

_REF_CQ = re.compile(r"\[CQ:([A-Za-z0-9_.\-]+)((?:,[A-Za-z0-9_.\-]+=[^,\]]*)*),?\]")


def ref_parse(msg: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    pos = 0
    for m in _REF_CQ.finditer(msg):
        if m.start() > pos:
            out.append({"type": "text", "data": {"text": unescape(msg[pos : m.start()])}})
        data = {}
        for part in filter(None, m.group(2).split(",")):
            k, _, v = part.partition("=")
            data[k] = unescape(v)
        out.append({"type": m.group(1), "data": data})
        pos = m.end()
    if pos < len(msg):
        out.append({"type": "text", "data": {"text": unescape(msg[pos:])}})
    return out


def normalised(segments: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Merge adjacent text, drop empty text, read [CQ:text,...] as text: what Message does."""
    out: List[Dict[str, Any]] = []
    for seg in segments:
        if seg["type"] == "text":
            t = seg["data"].get("text", "")
            if not t:
                continue
            if out and out[-1]["type"] == "text":
                out[-1] = {"type": "text", "data": {"text": out[-1]["data"]["text"] + t}}
                continue
            seg = {"type": "text", "data": {"text": t}}
        out.append(seg)
    return out


# -- escape / unescape ---------------------------------------------------------------


class TestEscape:
    def test_text_keeps_commas(self) -> None:
        assert escape("- [x] use &data", escape_comma=False) == "- &#91;x&#93; use &amp;data"
        assert escape("1,2,3", escape_comma=False) == "1,2,3"

    def test_param_escapes_commas_by_default(self) -> None:
        assert escape("Shock, really?") == "Shock&#44; really?"
        assert escape("a,b", True) == "a&#44;b"

    def test_ampersand_first(self) -> None:
        assert escape("&#91;") == "&amp;#91;"
        assert escape("[&]") == "&#91;&amp;&#93;"

    def test_unescape_amp_last(self) -> None:
        # §5.6 example 4: a literal "&#91;" typed by a user survives a round trip.
        assert unescape("&amp;#91;") == "&#91;"
        assert unescape("&amp;#44;&amp;#93;&amp;amp;") == "&#44;&#93;&amp;"
        assert unescape("&#91;&#93;&#44;&amp;") == "[],&"

    def test_unknown_entities_untouched(self) -> None:
        assert unescape("&lt;&#92;&") == "&lt;&#92;&"

    @given(st.text())
    def test_round_trip_with_commas(self, s: str) -> None:
        escaped = escape(s)
        assert unescape(escaped) == s
        assert not set(escaped) & set(",[]")

    @given(st.text())
    def test_round_trip_without_commas(self, s: str) -> None:
        escaped = escape(s, escape_comma=False)
        assert unescape(escaped) == s
        assert not set(escaped) & set("[]")

    @given(st.text(alphabet="&#;19234[],amp"))
    def test_round_trip_entity_soup(self, s: str) -> None:
        assert unescape(escape(s)) == s
        assert unescape(escape(s, False)) == s


# -- worked examples, onebot11.md §5.6 -----------------------------------------------


class TestWorkedExamples:
    def test_1_text_with_brackets_and_ampersand(self) -> None:
        m = Message(text("- [x] use &data"))
        assert str(m) == "- &#91;x&#93; use &amp;data"
        assert Message("- &#91;x&#93; use &amp;data") == [text("- [x] use &data")]
        assert str(Message(text("1,2,3"))) == "1,2,3"
        assert Message("1,2,3") == [text("1,2,3")]

    def test_2_param_with_comma_and_ampersand(self) -> None:
        cq = "[CQ:share,title=Shock&#44; really?,url=http://e.com/?a=1&amp;b=2]"
        seg = Seg("share", {"title": "Shock, really?", "url": "http://e.com/?a=1&b=2"})
        assert str(seg) == cq
        assert Message(cq) == [seg]
        assert Message(cq)[0].data["url"] == "http://e.com/?a=1&b=2"

    def test_3_image_url_amp_trap(self) -> None:
        raw = (
            "[CQ:image,file=ABC.jpg,url=https://multimedia.nt.qq.com.cn/download?appid=1407"
            "&amp;fileid=Cg&amp;spec=0&amp;rkey=CAQ,file_size=208075]"
        )
        (seg,) = Message(raw)
        assert seg.type == "image"
        assert seg.data == {
            "file": "ABC.jpg",
            "url": "https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=Cg&spec=0&rkey=CAQ",
            "file_size": "208075",
        }
        assert "&amp;" not in seg.data["url"]
        assert str(seg) == raw

    def test_4_literal_entity_typed_by_user(self) -> None:
        seg = MessageSegment.text("&#91;")
        assert str(seg) == "&amp;#91;"
        assert Message("&amp;#91;") == [text("&#91;")]
        assert Message("&amp;#91;").extract_plain_text() == "&#91;"

    def test_5_cq_looking_text_is_not_injected(self) -> None:
        seg = MessageSegment.text("[CQ:at,qq=all]")
        assert str(seg) == "&#91;CQ:at,qq=all&#93;"
        assert Message(str(seg)) == [seg]
        # whereas a plain str is CQ code:
        assert Message("[CQ:at,qq=all]") == [MessageSegment.at("all")]

    def test_6_value_containing_equals(self) -> None:
        assert Message("[CQ:image,file=base64://QUJD==]") == [Seg("image", {"file": "base64://QUJD=="})]
        assert Message("[CQ:share,title=a=b,url=u]")[0].data == {"title": "a=b", "url": "u"}

    def test_7_empty_value_and_no_params(self) -> None:
        assert Message("[CQ:image,file=]") == [Seg("image", {"file": ""})]
        assert Message("[CQ:shake]") == [Seg("shake")]
        assert Message("[CQ:shake,]") == [Seg("shake")]
        assert str(Seg("image", {"file": ""})) == "[CQ:image,file=]"
        assert str(MessageSegment.shake()) == "[CQ:shake]"

    def test_8_unterminated_code_is_text(self) -> None:
        assert Message("hello [CQ:face,id=1") == [text("hello [CQ:face,id=1")]
        assert str(Message("hello [CQ:face,id=1")) == "hello &#91;CQ:face,id=1"

    def test_9_nested_brackets_in_json(self) -> None:
        seg = MessageSegment.json('{"a":[1,2]}')
        cq = '[CQ:json,data={"a":&#91;1&#44;2&#93;}]'
        assert str(seg) == cq
        assert Message(cq) == [seg]
        assert MessageSegment.json({"a": [1, 2]}) == seg
        # unescaped, the first "]" would end the code: it does not parse as intended
        assert Message('[CQ:json,data={"a":[1,2]}]') != [seg]

    def test_10_forward_node_content_string(self) -> None:
        seg = MessageSegment.node_custom(10001000, "someone", "[CQ:face,id=123]hello")
        assert str(seg) == (
            "[CQ:node,user_id=10001000,nickname=someone,content=&#91;CQ:face&#44;id=123&#93;hello]"
        )
        (back,) = Message(str(seg))
        assert Message(back.data["content"]) == [MessageSegment.face(123), text("hello")]


# -- parsing -----------------------------------------------------------------------------


class TestParse:
    def test_empty_and_none(self) -> None:
        assert Message("") == []
        assert Message(None) == []
        assert Message() == []

    def test_mixed(self) -> None:
        m = Message("hi [CQ:face,id=1] there[CQ:at,qq=10]")
        assert m == [text("hi "), MessageSegment.face(1), text(" there"), MessageSegment.at(10)]

    def test_adjacent_codes_make_no_empty_text(self) -> None:
        assert Message("[CQ:face,id=1][CQ:face,id=2]") == [MessageSegment.face(1), MessageSegment.face(2)]

    def test_failed_code_merges_with_surrounding_text(self) -> None:
        assert Message("a[CQ:face, id=1]b") == [text("a[CQ:face, id=1]b")]
        assert Message("a[CQ:face,id]b") == [text("a[CQ:face,id]b")]
        assert Message("a[CQ:,id=1]b") == [text("a[CQ:,id=1]b")]
        assert Message("a[CQ:face,,id=1]b") == [text("a[CQ:face,,id=1]b")]
        assert Message("a[CQ:face,id=1,,]b") == [text("a[CQ:face,id=1,,]b")]
        assert Message("[cq:face,id=1]") == [text("[cq:face,id=1]")]

    def test_text_code_reads_as_text(self) -> None:
        assert Message("a[CQ:text,text=b&#44;c]d") == [text("ab,cd")]
        assert Message("[CQ:text]") == []

    def test_leftmost_code_wins_like_the_regex(self) -> None:
        s = "[CQ:a,b=[CQ:c]"
        assert Message(s) == [Seg("a", {"b": "[CQ:c"})]
        s = "[CQ:a b[CQ:c,d=e]"
        assert Message(s) == [text("[CQ:a b"), Seg("c", {"d": "e"})]

    def test_names_and_values(self) -> None:
        m = Message("[CQ:my.type-1_x,k.e-y_2=v a\nl=ue]")
        assert m == [Seg("my.type-1_x", {"k.e-y_2": "v a\nl=ue"})]

    def test_duplicate_key_last_wins(self) -> None:
        assert Message("[CQ:face,id=1,id=2]") == [Seg("face", {"id": "2"})]

    def test_entities_in_text(self) -> None:
        assert Message("&amp;&#91;&#93;&#44;") == [text("&[],")]

    def test_from_cq(self) -> None:
        assert Message.from_cq("[CQ:face,id=1]") == [MessageSegment.face(1)]
        with pytest.raises(TypeError):
            Message.from_cq(1)  # type: ignore[arg-type]

    def test_hostile_input_is_linear(self) -> None:
        # The §5.5 regex takes ~30 s on 160 kB of this; the parser must not.
        hostile = "[CQ:a,b=" * 50_000 + ",y]"
        started = time.perf_counter()
        assert Message(hostile) == [text(hostile)]
        assert Message("[CQ:a" * 50_000 + "]")[-1] == Seg("a")
        assert time.perf_counter() - started < 5

    @given(st.text())
    def test_any_text_parses(self, s: str) -> None:
        m = Message(s)
        assert all(isinstance(seg, MessageSegment) for seg in m)
        assert all(seg.data["text"] for seg in m if seg.type == "text")

    @given(
        st.lists(
            st.sampled_from(
                ["[CQ:", "]", ",", "=", "a", "b.c", "text", "[", "&#91;", "&amp;", "&#44;", " ", "k=v", "é"]
            )
        ).map("".join)
    )
    @settings(max_examples=500)
    def test_same_as_reference_regex(self, s: str) -> None:
        assert Message(s).to_list() == normalised(ref_parse(s))

    @given(st.text())
    def test_parse_render_parse_is_stable(self, s: str) -> None:
        m = Message(s)
        assert Message(str(m)) == m


# -- rendering -----------------------------------------------------------------------------


class TestRender:
    def test_text_never_a_cq_code(self) -> None:
        assert str(Seg("text", {"text": "a,b"})) == "a,b"
        assert str(Seg("text")) == ""
        assert str(Seg("text", {"text": 5})) == "5"

    def test_none_omitted_bool_and_numbers(self) -> None:
        seg = Seg("image", {"file": "f", "cache": False, "proxy": True, "timeout": 3, "url": None})
        assert str(seg) == "[CQ:image,file=f,cache=0,proxy=1,timeout=3]"

    def test_nested_values_as_compact_json(self) -> None:
        seg = MessageSegment.node_custom(1, "n", Message("[CQ:face,id=1]x"))
        assert seg.data["content"] == [
            {"type": "face", "data": {"id": "1"}},
            {"type": "text", "data": {"text": "x"}},
        ]
        (back,) = Message(str(seg))
        # only the code's own brackets stay raw; the JSON's are escaped
        assert str(seg).count("[") == 1 and str(seg).count("]") == 1
        assert back.data["content"] == (
            '[{"type":"face","data":{"id":"1"}},{"type":"text","data":{"text":"x"}}]'
        )

    def test_message_value_rendered(self) -> None:
        seg = Seg("node", {"content": Message("[CQ:face,id=1]")})
        assert str(seg) == "[CQ:node,content=&#91;{\"type\":\"face\"&#44;\"data\":{\"id\":\"1\"}}&#93;]"
        assert seg.to_dict() == {"type": "node", "data": {"content": [{"type": "face", "data": {"id": "1"}}]}}

    def test_message_str(self) -> None:
        m = Message([text("a&b, "), MessageSegment.face(1), MessageSegment.at("all")])
        assert str(m) == "a&amp;b, [CQ:face,id=1][CQ:at,qq=all]"


# -- segments -------------------------------------------------------------------------------


class TestSegment:
    def test_attributes_and_repr(self) -> None:
        seg = Seg("face", {"id": "1"})
        assert seg.type == "face" and seg.data == {"id": "1"}
        assert repr(seg) == "MessageSegment(type='face', data={'id': '1'})"
        assert eval(repr(seg), {"MessageSegment": MessageSegment}) == seg

    def test_equality(self) -> None:
        assert Seg("face", {"id": "1"}) == Seg("face", {"id": "1"})
        assert Seg("face", {"id": "1"}) != Seg("face", {"id": 1})
        assert Seg("face", {"id": "1"}) != Seg("dice", {"id": "1"})
        assert Seg("face") != "face"
        with pytest.raises(TypeError):
            hash(Seg("face"))

    def test_data_is_copied(self) -> None:
        data = {"id": "1"}
        seg = Seg("face", data)
        data["id"] = "2"
        assert seg.data == {"id": "1"}

    def test_bad_constructor_args(self) -> None:
        with pytest.raises(TypeError):
            Seg(1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            Seg("")
        with pytest.raises(TypeError):
            Seg("face", [("id", "1")])  # type: ignore[arg-type]

    def test_to_dict_from_dict(self) -> None:
        seg = Seg("image", {"file": "a", "sub_type": 0, "x": None})
        assert seg.to_dict() == {"type": "image", "data": {"file": "a", "sub_type": 0}}
        assert MessageSegment.from_dict({"type": "face", "data": {"id": 1}}) == Seg("face", {"id": 1})
        assert MessageSegment.from_dict({"type": "shake"}) == Seg("shake")
        assert MessageSegment.from_dict({"type": "shake", "data": None}) == Seg("shake")
        d = {"type": "onlinefile", "data": {"isDir": False, "fileSize": 12}}
        assert MessageSegment.from_dict(d).to_dict() == d
        assert MessageSegment.from_dict(d).to_dict() is not d

    def test_from_dict_errors(self) -> None:
        with pytest.raises(ValueError, match="type"):
            MessageSegment.from_dict({"data": {"text": "x"}})
        with pytest.raises(ValueError, match="type"):
            MessageSegment.from_dict({"type": 3})
        with pytest.raises(ValueError, match="data"):
            MessageSegment.from_dict({"type": "face", "data": "id=1"})
        with pytest.raises(TypeError):
            MessageSegment.from_dict("face")  # type: ignore[arg-type]

    def test_segment_plus(self) -> None:
        face = MessageSegment.face(1)
        assert face + face == Message([face, face])
        assert isinstance(face + face, Message)
        assert face + "hi" == [face, text("hi")]
        assert "hi" + face == [text("hi"), face]
        assert face + "[CQ:dice]" == [face, MessageSegment.dice()]
        assert face + {"type": "dice"} == [face, MessageSegment.dice()]
        assert {"type": "dice"} + face == [MessageSegment.dice(), face]
        assert face + Message("x") == [face, text("x")]
        with pytest.raises(TypeError):
            face + 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            1 + face  # type: ignore[operator]


# -- factories --------------------------------------------------------------------------------


class TestFactories:
    @pytest.mark.parametrize(
        "seg, expected",
        [
            (MessageSegment.text("a"), ("text", {"text": "a"})),
            (MessageSegment.face(178), ("face", {"id": "178"})),
            (MessageSegment.at(10001), ("at", {"qq": "10001"})),
            (MessageSegment.at("all"), ("at", {"qq": "all"})),
            (MessageSegment.at(1, name="Bob"), ("at", {"qq": "1", "name": "Bob"})),
            (MessageSegment.rps(), ("rps", {})),
            (MessageSegment.dice(), ("dice", {})),
            (MessageSegment.shake(), ("shake", {})),
            (MessageSegment.poke(126, 2003), ("poke", {"type": "126", "id": "2003"})),
            (MessageSegment.anonymous(), ("anonymous", {})),
            (MessageSegment.anonymous(ignore=True), ("anonymous", {"ignore": "1"})),
            (MessageSegment.share("http://u", "T"), ("share", {"url": "http://u", "title": "T"})),
            (
                MessageSegment.share("http://u", "T", content="c", image="http://i"),
                ("share", {"url": "http://u", "title": "T", "content": "c", "image": "http://i"}),
            ),
            (MessageSegment.contact("qq", 1), ("contact", {"type": "qq", "id": "1"})),
            (MessageSegment.contact_user(1), ("contact", {"type": "qq", "id": "1"})),
            (MessageSegment.contact_group(2), ("contact", {"type": "group", "id": "2"})),
            (MessageSegment.location(39.8, 116.4), ("location", {"lat": "39.8", "lon": "116.4"})),
            (
                MessageSegment.location(1, 2, title="t", content="c"),
                ("location", {"lat": "1", "lon": "2", "title": "t", "content": "c"}),
            ),
            (MessageSegment.music("163", 28949129), ("music", {"type": "163", "id": "28949129"})),
            (
                MessageSegment.music_custom("http://u", "http://a.mp3", "T", image="http://i"),
                (
                    "music",
                    {"type": "custom", "url": "http://u", "audio": "http://a.mp3", "title": "T", "image": "http://i"},
                ),
            ),
            (MessageSegment.reply(-123), ("reply", {"id": "-123"})),
            (MessageSegment.forward("abc"), ("forward", {"id": "abc"})),
            (MessageSegment.node(5), ("node", {"id": "5"})),
            (MessageSegment.xml("<x/>"), ("xml", {"data": "<x/>"})),
            (MessageSegment.json('{"a":1}'), ("json", {"data": '{"a":1}'})),
            (MessageSegment.json({"a": "é"}), ("json", {"data": '{"a":"é"}'})),
            (
                MessageSegment.mface(1, "e", "k", "[s]"),
                ("mface", {"emoji_package_id": "1", "emoji_id": "e", "key": "k", "summary": "[s]"}),
            ),
            (MessageSegment.markdown("# hi"), ("markdown", {"content": "# hi"})),
            (MessageSegment.file("abc-id", name="a.txt"), ("file", {"file": "abc-id", "name": "a.txt"})),
        ],
    )
    def test_factory(self, seg: MessageSegment, expected: Any) -> None:
        assert (seg.type, seg.data) == expected

    def test_factory_round_trips_through_cq(self) -> None:
        segs = [
            MessageSegment.face(1),
            MessageSegment.at("all"),
            MessageSegment.share("http://e.com/?a=1&b=2", "x, [y]"),
            MessageSegment.music_custom("u", "a", "t", content="c,d"),
            MessageSegment.image("https://e.com/a.png?x=1&y=2", type="flash", cache=False, timeout=5),
            MessageSegment.reply(7),
        ]
        assert Message(str(Message(segs))) == segs

    def test_node_custom(self) -> None:
        seg = MessageSegment.node_custom(1, "n", MessageSegment.face(2) + "hi")
        assert seg.to_dict() == {
            "type": "node",
            "data": {
                "user_id": "1",
                "nickname": "n",
                "content": [{"type": "face", "data": {"id": "2"}}, {"type": "text", "data": {"text": "hi"}}],
            },
        }
        assert MessageSegment.node_custom(1, "n", "x").data["content"] == "x"
        with pytest.raises(TypeError):
            MessageSegment.node_custom(1, "n", 5)


class TestMediaFile:
    def test_bytes(self) -> None:
        seg = MessageSegment.image(b"\x89PNG")
        assert seg.data == {"file": "base64://" + base64.b64encode(b"\x89PNG").decode()}
        assert MessageSegment.image(bytearray(b"ab")).data["file"] == "base64://YWI="

    def test_path_object(self, tmp_path: Path) -> None:
        f = tmp_path / "a b.png"
        f.write_bytes(b"x")
        assert MessageSegment.image(f).data["file"] == f.resolve().as_uri()
        assert MessageSegment.image(f).data["file"].startswith("file:///")
        # A Path is taken as a path even when it does not exist here.
        missing = tmp_path / "missing.png"
        assert MessageSegment.record(missing).data["file"] == missing.resolve().as_uri()

    def test_existing_path_string(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        f = tmp_path / "v.mp4"
        f.write_bytes(b"x")
        assert MessageSegment.video(str(f)).data["file"] == f.resolve().as_uri()
        monkeypatch.chdir(tmp_path)
        assert MessageSegment.video("v.mp4").data["file"] == f.resolve().as_uri()

    @pytest.mark.parametrize(
        "file",
        [
            "http://e.com/a.png",
            "https://e.com/a.png?a=1&b=2",
            "HTTPS://E.COM/A.PNG",
            "file:///home/bot/a.png",
            "file:///C:/pics/a.png",
            "base64://iVBORw0KGgo=",
            "6B4DE3DFD1BD271E3297859D41C530F5.jpg",
            "/definitely/not/here.png",
            "",
        ],
    )
    def test_strings_kept(self, file: str) -> None:
        for factory in (MessageSegment.image, MessageSegment.record, MessageSegment.video):
            assert factory(file).data["file"] == file

    def test_options(self) -> None:
        seg = MessageSegment.image("f", type="flash", cache=True, proxy=False, timeout=10)
        assert seg.data == {"file": "f", "type": "flash", "cache": "1", "proxy": "0", "timeout": "10"}
        assert MessageSegment.record("f", magic=True).data == {"file": "f", "magic": "1"}
        assert MessageSegment.video("f", timeout=1.5).data == {"file": "f", "timeout": "1.5"}

    def test_bad_type(self) -> None:
        with pytest.raises(TypeError, match="file"):
            MessageSegment.image(123)  # type: ignore[arg-type]


# -- Message ----------------------------------------------------------------------------------


class TestMessage:
    def test_constructors(self) -> None:
        face = MessageSegment.face(1)
        assert Message(face) == [face]
        assert Message({"type": "face", "data": {"id": "1"}}) == [face]
        assert Message([face, {"type": "face", "data": {"id": "1"}}]) == [face, face]
        assert Message((face,)) == [face]
        m = Message([face])
        copy = Message(m)
        assert copy == m and copy is not m
        assert Message(iter([face])) == [face]

    def test_list_items_are_not_merged(self) -> None:
        m = Message([text("a"), text("b"), text("")])
        assert len(m) == 3
        assert str(m) == "ab"
        m.reduce()
        assert m == [text("ab")]

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError):
            Message(1)
        with pytest.raises(TypeError):
            Message(b"[CQ:face,id=1]")
        with pytest.raises(TypeError, match="int"):
            Message([MessageSegment.face(1), 2])
        with pytest.raises(TypeError):
            Message(["text"])
        with pytest.raises(ValueError):
            Message([{"data": {}}])

    def test_equality(self) -> None:
        assert Message("a[CQ:face,id=1]") == Message([text("a"), MessageSegment.face(1)])
        assert Message("a[CQ:face,id=1]") == [text("a"), MessageSegment.face(1)]
        assert Message("a") != Message("b")
        assert Message("a") != "a"

    def test_repr(self) -> None:
        assert repr(Message("[CQ:dice]")) == "Message([MessageSegment(type='dice', data={})])"

    def test_iteration_and_indexing(self) -> None:
        m = Message("a[CQ:face,id=1]b")
        assert [seg.type for seg in m] == ["text", "face", "text"]
        assert m[1] == MessageSegment.face(1)
        assert isinstance(m[1:], Message)
        assert m[1:] == [MessageSegment.face(1), text("b")]
        assert isinstance(m.copy(), Message)

    def test_extract_plain_text(self) -> None:
        m = Message("a &amp; b,[CQ:face,id=1] c&#91;d&#93;")
        assert m.extract_plain_text() == "a & b, c[d]"
        assert Message("[CQ:face,id=1]").extract_plain_text() == ""

    def test_add(self) -> None:
        face = MessageSegment.face(1)
        m = Message("a")
        assert m + face == [text("a"), face]
        assert m + "[CQ:face,id=1]b" == [text("a"), face, text("b")]
        assert m + {"type": "face", "data": {"id": "1"}} == [text("a"), face]
        assert m + [face] == [text("a"), face]
        assert m + Message("b") == [text("a"), text("b")]
        assert isinstance(m + face, Message)
        assert m == [text("a")]  # unchanged

    def test_radd(self) -> None:
        face = MessageSegment.face(1)
        m = Message(face)
        assert "x[CQ:dice]" + m == [text("x"), MessageSegment.dice(), face]
        assert isinstance("x" + m, Message)
        result = [MessageSegment.dice()] + m
        assert isinstance(result, Message)
        assert result == [MessageSegment.dice(), face]
        assert [{"type": "dice"}] + m == [MessageSegment.dice(), face]
        assert (MessageSegment.dice(),) + m == [MessageSegment.dice(), face]
        assert {"type": "dice"} + m == [MessageSegment.dice(), face]

    def test_add_bad(self) -> None:
        m = Message("a")
        with pytest.raises(TypeError):
            m + 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            1 + m  # type: ignore[operator]
        with pytest.raises(TypeError):
            m += 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            m + [1]

    def test_iadd_in_place(self) -> None:
        m = Message("a")
        alias = m
        m += "[CQ:face,id=1]"
        m += MessageSegment.dice()
        m += {"type": "shake"}
        m += [MessageSegment.rps()]
        assert m is alias
        assert m == [text("a"), MessageSegment.face(1), MessageSegment.dice(), Seg("shake"), Seg("rps")]

    def test_list_mutators_convert(self) -> None:
        m = Message()
        m.append({"type": "dice"})
        m.extend("x[CQ:rps]")
        m.insert(0, {"type": "shake"})
        m[1] = {"type": "face", "data": {"id": "2"}}
        assert m == [Seg("shake"), MessageSegment.face(2), text("x"), Seg("rps")]
        m[1:3] = "[CQ:dice]"
        assert m == [Seg("shake"), Seg("dice"), Seg("rps")]
        with pytest.raises(TypeError):
            m.append("x")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            m[0] = 1  # type: ignore[call-overload]

    def test_to_list(self) -> None:
        m = Message("a[CQ:face,id=1]")
        assert m.to_list() == [{"type": "text", "data": {"text": "a"}}, {"type": "face", "data": {"id": "1"}}]
        assert Message(m.to_list()) == m


class TestToWire:
    def test_str_sent_as_is(self) -> None:
        assert to_wire("hi [CQ:face,id=1] &amp;") == "hi [CQ:face,id=1] &amp;"

    def test_array_forms(self) -> None:
        face = {"type": "face", "data": {"id": "1"}}
        assert to_wire(Message("[CQ:face,id=1]")) == [face]
        assert to_wire(MessageSegment.face(1)) == [face]
        assert to_wire(face) == [face]
        assert to_wire([face, MessageSegment.text("x")]) == [face, {"type": "text", "data": {"text": "x"}}]
        assert to_wire((MessageSegment.face(1),)) == [face]
        assert to_wire([]) == []
        assert to_wire({"type": "shake", "data": None}) == [{"type": "shake", "data": {}}]

    def test_bad(self) -> None:
        for bad in (None, 1, b"x", object()):
            with pytest.raises(TypeError, match="message must be"):
                to_wire(bad)
        with pytest.raises(TypeError):
            to_wire(["text"])
        with pytest.raises(ValueError):
            to_wire([{"data": {}}])


# -- property-based round trip -------------------------------------------------------------------

_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
names = st.text(alphabet=_NAME_ALPHABET, min_size=1, max_size=8)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
awkward = st.text(alphabet="[]&#;,=:CQ 19ampx\n")

code_segments = st.builds(
    MessageSegment,
    names.filter(lambda n: n != "text"),
    st.dictionaries(names, st.one_of(values, awkward), max_size=4),
)
text_segments = st.one_of(values, awkward).filter(bool).map(MessageSegment.text)


def _merge_texts(segments: List[MessageSegment]) -> Message:
    m = Message(segments)
    m.reduce()
    return m


messages = st.lists(st.one_of(code_segments, text_segments), max_size=8).map(_merge_texts)


class TestRoundTrip:
    @given(messages)
    @settings(max_examples=300)
    def test_message_str_round_trip(self, m: Message) -> None:
        assert Message(str(m)) == m

    @given(messages)
    def test_array_round_trip(self, m: Message) -> None:
        assert Message(m.to_list()) == m
        assert Message(to_wire(m)) == m

    @given(messages)
    def test_plain_text_survives(self, m: Message) -> None:
        assert Message(str(m)).extract_plain_text() == m.extract_plain_text()


class TestSegmentListForms:
    """A plain list off the wire takes a shortcut; every other form the general path:
    both accept and refuse the same things."""

    def test_plain_list_tuple_and_message_agree(self) -> None:
        import collections

        items: List[Any] = [{"type": "text", "data": {"text": "a"}}, MessageSegment.face(1),
                            collections.OrderedDict(type="at", data=collections.OrderedDict(qq="1")),
                            {"type": "image", "data": None}]
        expected = [MessageSegment.text("a"), MessageSegment.face(1), MessageSegment.at(1), MessageSegment("image")]
        assert Message(items) == Message(tuple(items)) == Message(iter(items)) == Message(Message(items)) == expected

    @pytest.mark.parametrize("bad, error", [
        (["text"], TypeError), ([1], TypeError), ([{"data": {}}], ValueError), ([{"type": ""}], ValueError),
        ([{"type": "text", "data": "x"}], ValueError), ([{"type": 5, "data": {}}], ValueError),
    ])
    def test_bad_items_are_refused_the_same_either_way(self, bad: List[Any], error: type) -> None:
        with pytest.raises(error):
            Message(bad)
        with pytest.raises(error):
            Message(tuple(bad))

    def test_segment_data_must_be_a_mapping(self) -> None:
        with pytest.raises(TypeError, match="segment data must be a dict or None, not list"):
            MessageSegment("text", [("text", "x")])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="segment type must be a str, not int"):
            MessageSegment(5)  # type: ignore[arg-type]
        class Str(str):
            pass
        assert MessageSegment(Str("text"), {"text": "x"}).type == "text"
