"""The official API's facts for the shared send pipeline: :class:`OfficialSends`.

What :class:`~qqreliable.reliability.verify.SendPipeline` needs to know about one
message POST of the official QQ Bot API (qq-official.md §2, §6.4, §8):

* a send is ``(action, params)`` with ``action`` one of :data:`ACTIONS`
  (``"send_c2c"``, ``"send_group"``, ``"send_channel"``, ``"send_direct"``) and
  ``params = {"target": <openid / channel / guild>, "body": <the JSON body>}``;
* the outcome of a failed attempt (:meth:`OfficialSends.judge`): nothing left
  (:class:`~qqreliable.ConnectFailed`), or 502/503/429 and the retry codes (the
  API did not run it) → NOT_SENT, repeatable (after ``Retry-After`` when given);
  500/504, a read timeout, a lost answer → UNKNOWN; ``40054005`` on a repeat of
  the same body (same ``msg_id`` + ``msg_seq``) → DELIVERED, an earlier attempt
  landed; every other refusal → NOT_SENT (raised, never resent);
* the platform de-duplicates on (``msg_id``/``event_id``, ``msg_seq``), so a repeat
  of a *passive* message can never deliver twice (:meth:`OfficialSends.resend_safe`):
  an UNKNOWN passive send is sent again with the same ``msg_seq``; a proactive one
  has no such key and raises :class:`~qqreliable.SendUnconfirmed`;
* the platform offers no own-message events, no history and no lookup by id, so
  there is nothing else to verify with.

Pure, thread-safe (``on_duplicate`` is the bot's counter).
"""

from __future__ import annotations

import hashlib
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Hashable, Optional

from ..exceptions import ApiTimeout, ConnectFailed, Error, ResponseLost
from ..outcome import Outcome
from ..reliability.interfaces import AccountSignal, DeliveryLookup, Judgement, Payload, Target
from .codes import Kind, OfficialApiError

__all__ = ["OfficialSends", "ACTIONS", "SCENE_OF", "action_for", "target_of", "passive"]

#: The pipeline's action per scene.
ACTIONS = {"c2c": "send_c2c", "group": "send_group", "guild": "send_channel", "direct": "send_direct"}
#: The scene per action (the target kind of the pipeline).
SCENE_OF = {action: scene for scene, action in ACTIONS.items()}


def action_for(scene: str) -> str:
    """``"c2c"`` → ``"send_c2c"``; ValueError for an unknown scene."""
    try:
        return ACTIONS[scene]
    except KeyError:
        raise ValueError(f"unknown scene {scene!r}; one of {tuple(ACTIONS)}") from None


def target_of(action: str, params: Mapping[str, Any]) -> Optional[Target]:
    """``("c2c", openid)``, ``("group", group_openid)``, ``("guild", channel_id)``,
    ``("direct", guild_id)``; None when unclear."""
    scene = SCENE_OF.get(action)
    target = params.get("target")
    if scene is None or not isinstance(target, str) or not target:
        return None
    return (scene, target)


def passive(params: Mapping[str, Any]) -> bool:
    """The body is a passive reply with its ``msg_seq``: the platform drops a repeat."""
    body = params.get("body")
    if not isinstance(body, abc.Mapping):
        return False
    return bool(body.get("msg_id") or body.get("event_id")) and isinstance(body.get("msg_seq"), int)


class OfficialSends:
    """:class:`~qqreliable.reliability.interfaces.SendFacts` for the official API.

    Args:
        on_duplicate: called when a 40054005 on a repeat is taken as delivered
            (the bot's counter); any thread, must not block.
    """

    def __init__(self, on_duplicate: Optional[Callable[[], None]] = None) -> None:
        self._on_duplicate = on_duplicate
        self.lookup = DeliveryLookup()  # no own-message events, no history, no lookup by id

    def judge(self, action: str, error: Error, attempt: int) -> Judgement:
        if isinstance(error, ConnectFailed):
            return Judgement(Outcome.NOT_SENT, never_left=True)
        if isinstance(error, OfficialApiError):
            kind = error.kind
            if kind is Kind.RETRY:
                # 502/503/429 (and 11242, 20028...): the API did not run it; repeat after a wait.
                return Judgement(Outcome.NOT_SENT, never_left=True, refused=True, retry_after=error.retry_after)
            if kind is Kind.UNKNOWN:
                return Judgement(Outcome.UNKNOWN)
            if kind is Kind.DUPLICATE and attempt > 1:
                # A repeat of this very body (same msg_id + msg_seq) was refused as a
                # duplicate: an earlier attempt was delivered (§6.4).
                if self._on_duplicate is not None:
                    self._on_duplicate()
                return Judgement(Outcome.DELIVERED, confirmed=True)
            return Judgement(Outcome.NOT_SENT)
        if isinstance(error, (ApiTimeout, ResponseLost)):
            return Judgement(Outcome.UNKNOWN)
        return Judgement(Outcome.UNKNOWN if getattr(error, "sent", None) else Outcome.NOT_SENT)

    def answered_id(self, action: str, data: Any) -> Optional[Hashable]:
        """The ``id`` of the answer (``data.id`` on nested answers)."""
        if not isinstance(data, abc.Mapping):
            return None
        for holder in (data, data.get("data")):
            if isinstance(holder, abc.Mapping) and holder.get("id") not in (None, ""):
                return str(holder["id"])
        return None

    def target(self, action: str, params: Mapping[str, Any]) -> Optional[Target]:
        return target_of(action, params)

    def content(self, action: str, params: Mapping[str, Any]) -> Any:
        body = params.get("body")
        if not isinstance(body, abc.Mapping):
            return ""
        markdown = body.get("markdown")
        if isinstance(markdown, abc.Mapping) and isinstance(markdown.get("content"), str):
            return markdown["content"]
        media = body.get("media")
        if isinstance(media, abc.Mapping):
            return f"\x00media:{media.get('file_info')}\x00{body.get('content') or ''}"
        return str(body.get("content") or "")

    def fingerprint(self, content: Any) -> str:
        text = "".join(str(content).split())
        return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:20]

    def payload(self, action: str, params: Mapping[str, Any]) -> Payload:
        # Media went up before (``/files``); the message carries only its file_info.
        body = params.get("body")
        media = isinstance(body, abc.Mapping) and (body.get("msg_type") == 7 or "image" in body)
        return Payload(0, 0, bool(media))

    def slow(self, action: str) -> bool:
        return False

    def resend_safe(self, action: str, params: Mapping[str, Any]) -> bool:
        return passive(params)

    def account_signal(self, event: Mapping[str, Any]) -> Optional[AccountSignal]:
        return None
