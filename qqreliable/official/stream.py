"""``reply_stream``: the C2C streaming state machine, with every lesson of AstrBot PR 6131.

The platform streams only in C2C (qq-official.md §6.7, §7):

1. Only C2C streams; in groups, guilds and DMs the chunks are gathered and sent
   once (a ``BREAK`` sends what was gathered so far).
2. Each chunk carries only the text new since the last one (append mode).
3. No ``stream.id`` until the first answer gave one; the id is read from a dict
   or an object (``.id``), and a missing one never crashes the stream.
4. ``index`` counts the chunks sent (from ``index_base``); chunks are throttled
   to one per ``interval`` seconds (the first goes at once).
5. The final ``state=10`` chunk is always sent and ends with ``"\\n"`` (just
   ``"\\n"`` when nothing is left); the newline refusal is retried once with the fix.
6. Markdown refused: the chunk is resent as plain text, and so are the rest.
7. A media segment is sent as its own non-stream message.
8. An error mid-stream closes the stream (a final chunk) and is raised; the
   text already shown is never resent.
9. ``BREAK`` (a tool call) closes the current stream; the next text opens a new one.

:class:`StreamSender` decides; the I/O is injected (``post_chunk``,
``post_media``, ``post_once``), each allocating its own ``msg_seq``. Pure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

from ..exceptions import Error
from ..message import Message, MessageSegment
from .codes import Kind, OfficialApiError

__all__ = ["BREAK", "StreamSender", "StreamResult", "extract_id", "STATE_GENERATING", "STATE_DONE"]

log = logging.getLogger(__name__)

STATE_GENERATING = 1
STATE_DONE = 10


class _Break:
    def __repr__(self) -> str:
        return "BREAK"


#: Put in the chunks to close the current stream segment (a tool call starts).
BREAK = _Break()


def extract_id(answer: Any) -> Optional[str]:
    """The message id of a send's answer: a dict (``["id"]``), an object (``.id``) or None."""
    if answer is None:
        return None
    value = answer.get("id") if isinstance(answer, dict) else getattr(answer, "id", None)
    if value in (None, ""):
        value = getattr(answer, "message_id", None)
    return str(value) if value not in (None, "") else None


@dataclass
class StreamResult:
    """What a streamed reply did.

    Attributes:
        message_ids: the id of each stream segment (one unless ``BREAK`` split it),
            then of each message sent apart (media, gathered text).
        chunks: stream chunks sent (final ones included).
        text: all the text sent.
        markdown: False when markdown was refused on the way.
    """

    message_ids: List[str] = field(default_factory=list)
    chunks: int = 0
    text: str = ""
    markdown: bool = True

    @property
    def message_id(self) -> Optional[str]:
        return self.message_ids[0] if self.message_ids else None


class StreamSender:
    """Streams one reply. Not thread-safe: one sender per reply.

    Args:
        post_chunk: ``post_chunk(body) -> answer``: sends one stream chunk (the
            body has ``msg_type``, ``content``/``markdown`` and ``stream``; the
            caller adds ``msg_id``/``msg_seq``). Raises on refusal.
        post_media: ``post_media(segment) -> answer``: one media message apart.
        post_once: ``post_once(message) -> answer``: a whole message, not streamed.
        streaming: False outside C2C: everything is gathered and sent once.
        interval: seconds between two chunks at least.
        markdown: send chunks as markdown (``msg_type`` 2) until refused.
        index_base: the ``index`` of the first chunk (0; §12 says some read 1).
        clock: a monotonic clock.
    """

    def __init__(
        self,
        post_chunk: Callable[[Dict[str, Any]], Any],
        *,
        post_media: Optional[Callable[[MessageSegment], Any]] = None,
        post_once: Optional[Callable[[Message], Any]] = None,
        streaming: bool = True,
        interval: float = 1.0,
        markdown: bool = True,
        index_base: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post_chunk = post_chunk
        self._post_media = post_media
        self._post_once = post_once
        self.streaming = streaming
        self.interval = max(0.0, float(interval))
        self.markdown = markdown
        self.index_base = index_base
        self._clock = clock
        self.result = StreamResult(markdown=markdown)
        self._reset()

    def _reset(self) -> None:
        self._id: Optional[str] = None
        self._index = self.index_base
        self._pending = ""
        self._opened = False  # a chunk of this segment went out
        self._last_sent: Optional[float] = None
        self._broken = False  # the first answer gave no id: the rest is gathered

    # ------------------------------------------------------------------ driving

    def run(self, chunks: Iterable[Any]) -> StreamResult:
        """Consume ``chunks`` and send them; returns once the final chunk went out.

        Items: ``str`` (new text), text :class:`MessageSegment`, media segments
        (sent apart), :data:`BREAK`, None (ignored).

        Raises:
            OfficialApiError, NetworkError: a chunk failed (the stream was closed first).
            TypeError: an item of an unsupported type.
        """
        if not self.streaming:
            return self._run_gathered(chunks)
        for item in chunks:
            if item is None:
                continue
            if item is BREAK or (isinstance(item, MessageSegment) and item.type == "break"):
                self._close_segment()
                continue
            if isinstance(item, MessageSegment) and item.type != "text":
                self._send_media(item)
                continue
            text = item.data.get("text", "") if isinstance(item, MessageSegment) else item
            if not isinstance(text, str):
                raise TypeError(f"reply_stream takes str chunks, not {type(item).__name__}")
            self._pending += text
            if self._due():
                self._send_pending()
        self._close_segment()
        return self.result

    def _run_gathered(self, chunks: Iterable[Any]) -> StreamResult:
        gathered = Message()
        for item in chunks:
            if item is None:
                continue
            if item is BREAK or (isinstance(item, MessageSegment) and item.type == "break"):
                self._send_gathered(gathered)
                gathered = Message()
                continue
            if isinstance(item, MessageSegment):
                gathered.append(item)
            elif isinstance(item, str):
                if item:
                    gathered.append(MessageSegment.text(item))
            else:
                raise TypeError(f"reply_stream takes str chunks, not {type(item).__name__}")
        self._send_gathered(gathered)
        return self.result

    def _send_gathered(self, message: Message) -> None:
        message.reduce()
        if not message or self._post_once is None:
            return
        answer = self._post_once(message)
        self.result.text += message.extract_plain_text()
        message_id = extract_id(answer)
        if message_id:
            self.result.message_ids.append(message_id)

    def _due(self) -> bool:
        if not self._pending:
            return False
        if self._last_sent is None:
            return True
        return self._clock() - self._last_sent >= self.interval

    # ------------------------------------------------------------------ chunks

    def _body(self, text: str, state: int) -> Dict[str, Any]:
        stream: Dict[str, Any] = {"state": state, "index": self._index, "reset": False}
        if self._id is not None:
            stream["id"] = self._id  # never {"id": null}: the platform rejects it
        if self.markdown:
            return {"msg_type": 2, "markdown": {"content": text}, "stream": stream}
        return {"msg_type": 0, "content": text, "stream": stream}

    def _post(self, text: str, state: int) -> Any:
        """One chunk, with the markdown and newline fixes; raises what is left."""
        newline_retried = False
        while True:
            body = self._body(text, state)
            try:
                return self._post_chunk(body)
            except OfficialApiError as exc:
                if exc.kind is Kind.MARKDOWN_REFUSED and self.markdown:
                    log.info("markdown refused in a stream (%s); sending plain text", exc)
                    self.markdown = False
                    self.result.markdown = False
                    continue
                if exc.kind is Kind.STREAM_NEWLINE and not newline_retried:
                    newline_retried = True
                    text = text if text.endswith("\n") else text + "\n"
                    continue
                raise

    def _send_pending(self) -> None:
        if self._broken:
            return
        text, self._pending = self._pending, ""
        try:
            answer = self._post(text, STATE_GENERATING)
        except (Error, OSError):
            self._pending = text + self._pending
            self._abort()
            raise
        self._after_chunk(text, answer)

    def _after_chunk(self, text: str, answer: Any) -> None:
        self._opened = True
        self._last_sent = self._clock()
        self._index += 1
        self.result.chunks += 1
        self.result.text += text
        if self._id is None:
            self._id = extract_id(answer)
            if self._id is None:
                log.warning("the first stream chunk's answer carried no id; the rest is sent as one message")
                self._broken = True
            else:
                self.result.message_ids.append(self._id)

    def _close_segment(self) -> None:
        """Send the final ``state=10`` chunk of the current segment and reset."""
        if self._broken:
            rest, self._pending = self._pending, ""
            self._reset()
            if rest.strip():
                self._send_gathered(Message(MessageSegment.text(rest)))
            return
        if not self._opened and not self._pending:
            self._reset()
            return
        text = self._pending
        if not text.endswith("\n"):
            text += "\n"  # the final chunk must end with a newline; just "\n" when nothing is left
        self._pending = ""
        try:
            answer = self._post(text, STATE_DONE)
        except (Error, OSError):
            self._abort()
            raise
        self._after_chunk(text, answer)
        self._reset()

    def _abort(self) -> None:
        """An error mid-stream: close the open stream with an empty final chunk; never
        resend the text it already shows."""
        if self._id is not None:
            try:
                self._post_chunk(self._body("\n", STATE_DONE))
                self.result.chunks += 1
            except (Error, OSError) as exc:
                log.warning("could not close the stream %s after an error: %s", self._id, exc)
        self._reset()

    def _send_media(self, segment: MessageSegment) -> None:
        if self._post_media is None:
            raise TypeError(f"this stream cannot send a {segment.type!r} segment")
        answer = self._post_media(segment)
        message_id = extract_id(answer)
        if message_id:
            self.result.message_ids.append(message_id)
