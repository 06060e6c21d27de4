"""Voice for the official API: SILK, and nothing else (qq-official.md §6.8).

The platform takes voice (``file_type`` 3) only as SILK. :func:`to_silk` passes a
SILK file through unchanged, converts a WAV file (PCM, 8 or 16 bit, mono or stereo,
at one of the encoder's sample rates) with the optional encoder ``silk-python``
(``pip install 'qqreliable[official]'``; imported only when a WAV needs it), and
refuses everything else with :class:`VoiceNotSilk` naming the problem: a voice in
another format is never uploaded as if it were SILK.

Pure (CPU only, no I/O); thread-safe.
"""

from __future__ import annotations

import array
import io
import sys
import wave
from typing import Any, Tuple

from ..exceptions import MediaRejected
from ..reliability.sniff import sniff

__all__ = ["to_silk", "is_silk", "VoiceNotSilk", "ENCODER_RATES", "SILK_HEADS"]

#: The first bytes of a SILK file (Tencent's variant starts with 0x02).
SILK_HEADS: Tuple[bytes, ...] = (b"\x02#!SILK_V3", b"#!SILK_V3")
#: Sample rates the SILK encoder takes as input.
ENCODER_RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000)
_BIT_RATE = 24000


class VoiceNotSilk(MediaRejected):
    """A voice segment is not SILK and could not be converted here; nothing was sent.

    Attributes:
        reason: ``"format"`` (not SILK, not WAV), ``"wav"`` (a WAV the encoder cannot
            take: its encoding, sample width or rate), or ``"encoder_missing"``
            (a WAV, and ``silk-python`` is not installed).
    """

    def __init__(self, message: str, *, reason: str, hint: str = "") -> None:
        super().__init__("upload voice", 0, message, message, category="bad_request", hint=hint)
        self.reason = reason
        self.args = (f"{message}: {hint}" if hint else message,)

    def __reduce__(self) -> Any:
        return (_rebuild, (self.message, self.reason, self.hint))


def _rebuild(message: str, reason: str, hint: str) -> "VoiceNotSilk":
    return VoiceNotSilk(message, reason=reason, hint=hint)


def is_silk(data: bytes) -> bool:
    """True when ``data`` starts like a SILK file."""
    return data.startswith(SILK_HEADS)


def to_silk(data: bytes) -> bytes:
    """``data`` as SILK: unchanged when it is SILK, encoded when it is a WAV file.

    Raises:
        VoiceNotSilk: another format, a WAV the encoder cannot take, or a WAV and no
            encoder installed. Nothing is sent.
    """
    if is_silk(data):
        return data
    kind = sniff(data[:64])
    if kind != "audio/wav":
        what = kind or "an unrecognised format"
        raise VoiceNotSilk(
            f"a voice message must be SILK; this one is {what} ({len(data)} bytes)",
            reason="format",
            hint="convert it to SILK (or to a 16-bit PCM WAV, which is converted here with silk-python)",
        )
    pcm, rate = _wav_pcm(data)
    try:
        import pysilk  # the optional encoder: pip install 'qqreliable[official]'
    except ImportError:
        raise VoiceNotSilk(
            "a voice message must be SILK; this one is a WAV, and the SILK encoder (silk-python) is not "
            "installed", reason="encoder_missing", hint="pip install 'qqreliable[official]', or send a SILK file",
        ) from None
    out = io.BytesIO()
    try:
        pysilk.encode(io.BytesIO(pcm), out, rate, _BIT_RATE, tencent=True)
    except Exception as exc:  # the encoder's own error type varies by backend
        raise VoiceNotSilk(f"the SILK encoder refused this WAV: {exc}", reason="wav") from exc
    silk = out.getvalue()
    if not is_silk(silk):  # pragma: no cover - an encoder that writes something else
        raise VoiceNotSilk("the SILK encoder did not produce a SILK file", reason="wav")
    return silk


def _wav_pcm(data: bytes) -> Tuple[bytes, int]:
    """16-bit little-endian mono PCM and its rate, from a WAV file."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise VoiceNotSilk(f"this WAV cannot be read ({exc})", reason="wav",
                           hint="only PCM WAV files are converted; convert it to SILK first") from None
    if rate not in ENCODER_RATES:
        raise VoiceNotSilk(f"this WAV is sampled at {rate} Hz; the SILK encoder takes "
                           f"{', '.join(map(str, ENCODER_RATES))} Hz", reason="wav",
                           hint="resample it (e.g. to 24000 Hz) or send SILK")
    if channels not in (1, 2) or width not in (1, 2):
        raise VoiceNotSilk(f"this WAV has {channels} channel(s) of {8 * width}-bit samples; "
                           "8- or 16-bit mono or stereo PCM is converted", reason="wav",
                           hint="convert it to 16-bit PCM or to SILK")
    samples = array.array("h")
    if width == 1:  # unsigned 8-bit -> signed 16-bit
        samples.extend((b - 128) << 8 for b in frames)
    else:
        samples.frombytes(frames[: len(frames) // 2 * 2])
        if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
            samples.byteswap()
    if channels == 2:
        samples = array.array("h", ((samples[i] + samples[i + 1]) // 2 for i in range(0, len(samples) - 1, 2)))
    if sys.byteorder == "big":  # pragma: no cover
        samples.byteswap()
    return samples.tobytes(), rate
