"""What a downloaded body really is: magic bytes, error bodies, truncation. Pure.

NTQQ's media host answers an expired or unsigned URL with a small JSON body
(a code -5503007 and "download url has expired"), with HTTP 400
and sometimes 200; CDNs answer with HTML error pages; a connection cut short
leaves a truncated file. None of these may ever be handed out as an image, so
a body is judged by its first bytes (and, where the format has one, its end
marker), not by the status line or the ``Content-Type`` header alone.
"""

from __future__ import annotations

import json
from typing import Dict, Optional, Tuple

__all__ = [
    "KINDS",
    "EXTENSIONS",
    "sniff",
    "looks_like_error_body",
    "judge",
    "truncated_by_format",
]

KINDS = ("image", "record", "video", "file")

# (offset, magic, mime) in the order they are tried.
_MAGIC: Tuple[Tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"\x02#!SILK_V3", "audio/silk"),  # Tencent's SILK variant
    (0, b"#!SILK_V3", "audio/silk"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"FLV\x01", "video/x-flv"),
)

_FTYP_BRANDS: Dict[bytes, str] = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"M4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
}

# Minimum plausible sizes: a 15-byte "image" is an error, not a picture.
_MIN_SIZE = {"image": 24, "record": 16, "video": 32, "file": 0}

EXTENSIONS: Dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/x-icon": "ico",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "audio/amr": "amr",
    "audio/silk": "silk",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/wav": "wav",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-msvideo": "avi",
    "video/x-flv": "flv",
}
"""File extensions of the cache, by sniffed type (a fixed table: never from the server)."""


def sniff(head: bytes) -> Optional[str]:
    """The media type the first bytes of a body announce, or None.

    Recognises PNG, JPEG, GIF, WebP, BMP, TIFF, ICO, AVIF/HEIF, AMR, SILK,
    MP3, AAC (ADTS), Ogg, FLAC, WAV, MP4/M4A/MOV, WebM/MKV, AVI and FLV.
    """
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/bmp" and len(head) >= 6 and head[2:6] == b"\x00\x00\x00\x00":
                continue  # "BM" followed by a zero size is not a bitmap
            return mime
    if head[:4] == b"RIFF" and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return "image/webp"
        if form == b"WAVE":
            return "audio/wav"
        if form == b"AVI ":
            return "video/x-msvideo"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return "audio/aac"  # ADTS sync word
        if head[1] & 0xE0 == 0xE0:
            return "audio/mpeg"  # MPEG audio frame sync
    return None


def _kind_of(mime: str) -> str:
    return {"image": "image", "audio": "record", "video": "video"}.get(mime.split("/")[0], "file")


def looks_like_error_body(head: bytes) -> Optional[str]:
    """``"expired"``, ``"json"`` or ``"html"`` when ``head`` is an error page, else None.

    ``"expired"`` is NTQQ's signed-URL refusal (a code -5503007 "download url
    has expired" or -5503010 "invalid rkey", in whichever ``*code`` field): retrying
    the same URL is pointless, a fresh one from the API is the cure.
    """
    text = head.lstrip()[:512]
    if text[:1] in (b"{", b"["):
        try:
            obj = json.loads(head.decode("utf-8", "replace"))
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            codes = {v for k, v in obj.items() if isinstance(k, str) and k.lower().endswith("code")}
            msg = str(obj.get("retmsg") or obj.get("message") or obj.get("msg") or "").lower()
            if codes & {-5503007, -5503010} or "expired" in msg or "rkey" in msg:
                return "expired"
        return "json"
    lowered = text.lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<title")):
        return "html"
    return None


def truncated_by_format(mime: str, tail: bytes, *, length_known: bool = False) -> bool:
    """True when a format with a fixed end marker does not end with it.

    PNG must end with its ``IEND`` chunk. A GIF's ``;`` trailer is only
    required when the server announced no length (some encoders pad after
    it). JPEG is not checked: files in the wild often carry bytes after EOI.
    """
    if mime == "image/png":
        return not tail.endswith(b"IEND\xaeB`\x82")
    if mime == "image/gif" and not length_known:
        return not tail.rstrip(b"\x00").endswith(b";")
    return False


def judge(
    kind: str,
    *,
    status: int,
    content_type: Optional[str],
    head: bytes,
    tail: bytes,
    size: int,
    expected_size: Optional[int],
) -> Tuple[Optional[str], Optional[str]]:
    """Decide whether a complete download is a real ``kind`` file.

    Args:
        kind: ``"image"``, ``"record"``, ``"video"`` or ``"file"``.
        status: the final HTTP status (200/206; 0 for a local file or base64).
        content_type: the ``Content-Type`` header, if any.
        head: the first bytes of the body (at least 512 when it is that long).
        tail: the last bytes of the body.
        size: bytes received.
        expected_size: what the server announced (``Content-Length`` or the
            total of ``Content-Range``), if it did.

    Returns:
        ``(mime, None)`` for a valid body (``mime`` sniffed, or the header's
        for plain files), else ``(None, cause)`` with ``cause`` one of
        ``"http_<status>"``, ``"expired"``, ``"json"``, ``"html"``, ``"empty"``,
        ``"truncated"``, ``"too_short"``, ``"not_<kind>"``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    error_body = looks_like_error_body(head)
    if status and not 200 <= status < 300:
        return None, error_body if error_body == "expired" else f"http_{status}"
    if size == 0:
        return None, "empty"
    if expected_size is not None and size < expected_size:
        return None, "truncated"
    mime = sniff(head)
    declared = (content_type or "").split(";")[0].strip().lower()
    if kind == "file":
        if error_body == "expired":
            return None, error_body
        return mime or declared or "application/octet-stream", None
    if mime is None or _kind_of(mime) != kind:
        if error_body is not None:
            return None, error_body
        if declared.startswith(("text/html", "application/json", "text/")):
            return None, "html" if "html" in declared else "json"
        return None, f"not_{kind}"
    if size < _MIN_SIZE[kind]:
        return None, "too_short"
    if truncated_by_format(mime, tail, length_known=expected_size is not None):
        return None, "truncated"
    return mime, None
