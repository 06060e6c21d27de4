"""Voice for the official API is SILK: passed through, converted from WAV with the real
encoder (silk-python, the ``official`` extra), or refused with a typed error -- never
uploaded as voice in another format. Against FakeOfficial on real sockets."""

from __future__ import annotations

import base64
import http.server
import io
import math
import struct
import sys
import threading
import wave
from typing import Any, Iterator, List

import pytest

from qqreliable import MessageSegment, OfficialBot
from qqreliable.official import VoiceNotSilk
from qqreliable.official.voice import to_silk
from qqreliable.testing import FakeOfficial

SILK = b"\x02#!SILK_V3" + bytes(range(64))


def wav(rate: int = 16000, seconds: float = 0.3, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            value = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            sample = struct.pack("<h", value) if width == 2 else bytes([(value >> 8) + 128])
            frames += sample * channels
        w.writeframes(bytes(frames))
    return out.getvalue()


def uploaded(official: FakeOfficial) -> List[bytes]:
    return [base64.b64decode(c["json"]["file_data"]) for c in official.calls
            if c["route"] == "c2c_files" and "file_data" in c["json"]]


def test_silk_is_passed_through(official: FakeOfficial, bot: OfficialBot) -> None:
    receipt = bot.send_c2c_message("U1", MessageSegment.record(SILK))
    assert uploaded(official) == [SILK]
    (upload,) = official.uploads
    assert upload["file_type"] == 3 and upload["silk"] is True
    assert official.sent_messages[-1]["msg_type"] == 7 and receipt.message_id


def test_wav_is_converted_with_the_real_encoder(official: FakeOfficial, bot: OfficialBot) -> None:
    import pysilk

    bot.send_c2c_message("U1", MessageSegment.record(wav(rate=24000, channels=2)))
    (data,) = uploaded(official)
    assert data.startswith(b"\x02#!SILK_V3") and official.uploads[0]["silk"] is True
    pcm = io.BytesIO()
    pysilk.decode(io.BytesIO(data), pcm, 24000)
    assert abs(len(pcm.getvalue()) - 2 * int(24000 * 0.3)) <= 2 * 24000 * 0.05  # ~0.3 s came back


def test_8_bit_mono_wav_is_converted() -> None:
    assert to_silk(wav(rate=8000, width=1)).startswith(b"\x02#!SILK_V3")


def test_mp3_is_refused_and_nothing_is_uploaded(official: FakeOfficial, bot: OfficialBot) -> None:
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
    with pytest.raises(VoiceNotSilk) as info:
        bot.send_c2c_message("U1", MessageSegment.record(mp3))
    assert info.value.reason == "format" and "audio/mpeg" in str(info.value)
    assert not [c for c in official.calls if c["route"] in ("c2c_files", "c2c")]


def test_a_wav_at_an_unsupported_rate_is_refused_by_name() -> None:
    import pickle

    with pytest.raises(VoiceNotSilk, match="22050 Hz") as info:
        to_silk(wav(rate=22050))
    assert info.value.reason == "wav"
    again = pickle.loads(pickle.dumps(info.value))  # crosses to queue workers intact
    assert isinstance(again, VoiceNotSilk) and again.reason == "wav" and str(again) == str(info.value)


def test_without_the_encoder_a_wav_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pysilk", None)  # import pysilk -> ImportError
    with pytest.raises(VoiceNotSilk, match="silk-python") as info:
        to_silk(wav())
    assert info.value.reason == "encoder_missing"
    assert to_silk(SILK) == SILK  # SILK needs no encoder


@pytest.fixture
def audio_host() -> Iterator[str]:
    bodies = {"/v.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64, "audio/mpeg"),
              "/v.wav": (wav(), "audio/wav")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="qqreliable:test-audio-host", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_voice_urls(official: FakeOfficial, bot: OfficialBot, audio_host: str) -> None:
    bot.send_c2c_message("U1", MessageSegment.record("https://example.invalid/hello.silk"))
    assert official.uploads[-1]["url"] == "https://example.invalid/hello.silk"  # says SILK: the platform fetches it
    bot.send_c2c_message("U1", MessageSegment.record(f"{audio_host}/v.wav"))  # fetched here, converted
    assert official.uploads[-1]["url"] is None and official.uploads[-1]["silk"] is True
    with pytest.raises(VoiceNotSilk):
        bot.send_c2c_message("U1", MessageSegment.record(f"{audio_host}/v.mp3"))
    assert len(official.uploads) == 2
