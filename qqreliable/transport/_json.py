"""JSON for the wire: what both transports send.

Python strings may hold lone UTF-16 surrogates (from ``surrogateescape``
decoding, or text cut in the middle of an emoji). Encoded as UTF-8 they raise
``UnicodeEncodeError``, and a WebSocket write that fails midway kills the
connection (faults.md RECV-06). They are replaced with U+FFFD before
encoding, as implementations written in Go do on their side anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Union

from ..exceptions import ProtocolError

__all__ = ["dumps", "parse_frame"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# json.dumps(obj, ensure_ascii=False) builds a JSONEncoder per call; one serves all
# (encode() keeps no state between calls).
_encode = json.JSONEncoder(ensure_ascii=False).encode


def dumps(obj: Any) -> str:
    """``obj`` as compact-enough JSON text that always encodes to valid UTF-8.

    Raises:
        TypeError: ``obj`` holds something that is not JSON-serialisable.
    """
    try:
        text = _encode(obj)
    except ValueError as exc:  # circular references, NaN with allow_nan off
        raise TypeError(str(exc)) from exc
    return _LONE_SURROGATE.sub("\ufffd", text)


# The C scanner; it holds the GIL throughout. ``scan_once`` is set in JSONDecoder.__init__
# and missing from typeshed's stub, hence the ignore.
_scan_once = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_trailing_space = re.compile(r"[ \t\n\r]*").match


def _loads_object(data: Union[bytes, str]) -> Any:
    """``json.loads`` for the usual frame, a UTF-8 text starting with ``{``:
    decoded with ``surrogatepass`` (as ``json.loads`` decodes bytes) and scanned
    without the encoding detection and the two Python-level calls around the
    scanner. Anything else goes to ``json.loads`` itself."""
    if isinstance(data, (bytes, bytearray)):
        if not data or data[0] != 0x7B:  # "{": no BOM, not UTF-16/32
            return json.loads(data)
        text = data.decode("utf-8", "surrogatepass")
    elif data[:1] == "{":
        text = data
    else:
        return json.loads(data)
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)  # raises the usual JSONDecodeError (the scanner's has no message)
    # The pattern matches the empty string, so the match is never None.
    if end != len(text) and _trailing_space(text, end).end() != len(text):  # type: ignore[union-attr]
        return json.loads(text)  # extra data: the usual error
    return obj


def parse_frame(data: Union[bytes, str], *, loads: Callable[[Any], Any] = _loads_object) -> dict:  # type: ignore[type-arg]
    """Decode one inbound frame to a JSON object.

    Raises:
        ProtocolError: the frame is not UTF-8 JSON, or not a JSON object.
    """
    try:
        obj = loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"frame is a JSON {type(obj).__name__}, not an object")
    return obj
