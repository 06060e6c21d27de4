"""Send policies: immutable values that say how long, how often and how fast.

:class:`SendPolicy` decides how an ambiguous send is verified and when it may be
sent again; :class:`Pacing` decides how fast messages go out. Both are frozen
dataclasses, like :class:`~qqreliable.reliability.Backoff`: share one value between
any number of bots, derive variants with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if not TYPE_CHECKING:
    from .._frozen import frozen_dataclass as dataclass  # dataclass(frozen=True), cheaper to import
else:
    from dataclasses import dataclass

__all__ = ["SendPolicy", "Pacing", "UNDECIDABLE_RAISE", "UNDECIDABLE_ASSUME_DELIVERED"]

UNDECIDABLE_RAISE = "raise"
"""An undecidable send raises :class:`~qqreliable.SendUnconfirmed` (the default)."""
UNDECIDABLE_ASSUME_DELIVERED = "assume_delivered"
"""An undecidable send returns a :class:`~qqreliable.Receipt` with ``verified=False``
and no ``message_id`` (at most once, silently)."""


@dataclass(frozen=True)
class SendPolicy:
    """How sends whose outcome is UNKNOWN are verified and re-sent.

    A send answered with a timeout code (NapCat/LLOneBot 1200: the QQ kernel did not
    confirm in time), a read timeout, a socket lost after the request left or
    an HTTP 502/504 may or may not have been delivered. It is verified, cheapest
    first: the bot's own sent message seen on the event stream, the chat's message
    history (probed once), then a lookup by id when an id is known (whichever of
    these the protocol has). Found: a verified :class:`Receipt`. Absent
    once the implementation can no longer deliver it: sent again (at most
    ``max_attempts`` times in all, each verified). Neither: ``on_undecidable``.

    Attributes:
        settle_window: seconds after an attempt started during which the
            implementation may still deliver it (NapCat keeps trying after its
            10 s answer; Tencent's review can take ~22 s). Absence is only
            concluded after this window.
        media_settle_window: the same for messages carrying media (image,
            record, video, file, forward).
        poll_interval: seconds between history checks while waiting.
        max_attempts: attempts in all for one send (1 = never re-send).
        history_count: how many recent messages one history query asks for.
        clock_skew: seconds a message's ``time`` may precede the send's start
            and still be taken as ours (the implementation's clock may differ).
        on_undecidable: ``"raise"`` (:class:`SendUnconfirmed`) or
            ``"assume_delivered"`` (an unverified :class:`Receipt`).
        upload_rate: bytes per second assumed for media payloads; a send's
            timeout and settle window grow by ``size / upload_rate``, as
            NapCat's and LLOneBot's own (``10 s + size / 256 KB/s``).
        url_media_allowance: seconds added per media URL the implementation
            must download itself (its size is unknown here).
        verify_ok_without_id: an answer ``ok`` without a usable ``message_id``
            (Lagrange, go-cqhttp temp sessions: faults SEND-03) is verified too;
            when undecidable it is returned unverified rather than raised.
        upload_failed_attempts: attempts in all for a send answered "rich media
            transfer failed" (NapCat/LLOneBot: the upload to Tencent failed, yet the
            message sometimes lands: faults MEDIA-06). Each is verified first; the
            default allows one verified retry.
        offline_probe_interval: while the account is offline (an offline notice,
            an offline answer, a heartbeat ``online: false``), sends fail
            fast with :class:`AccountOffline`; one send per this many seconds is
            let through as a probe, and its success marks the account online.
        forward_timeout: the least time a merged-forward send is given for its
            answer, whatever ``api_timeout`` says: NapCat uploads the long message
            and looks up every node's sender first, and answers "timed out after
            20000 ms" itself (faults SEND-10).
        forward_settle_window: the settle window of merged-forward sends (they
            have been seen delivered many seconds after that answer).
    """

    settle_window: float = 30.0
    media_settle_window: float = 60.0
    poll_interval: float = 3.0
    max_attempts: int = 3
    history_count: int = 30
    clock_skew: float = 10.0
    on_undecidable: str = UNDECIDABLE_RAISE
    upload_rate: float = 256 * 1024.0
    url_media_allowance: float = 10.0
    verify_ok_without_id: bool = True
    offline_probe_interval: float = 30.0
    forward_timeout: float = 60.0
    forward_settle_window: float = 120.0
    upload_failed_attempts: int = 2

    def __post_init__(self) -> None:
        if self.settle_window < 0 or self.media_settle_window < 0:
            raise ValueError("SendPolicy settle windows must be >= 0")
        if self.poll_interval <= 0:
            raise ValueError("SendPolicy.poll_interval must be positive")
        if self.max_attempts < 1:
            raise ValueError("SendPolicy.max_attempts must be at least 1")
        if self.history_count < 1:
            raise ValueError("SendPolicy.history_count must be at least 1")
        if self.clock_skew < 0:
            raise ValueError("SendPolicy.clock_skew must be >= 0")
        if self.on_undecidable not in (UNDECIDABLE_RAISE, UNDECIDABLE_ASSUME_DELIVERED):
            raise ValueError("SendPolicy.on_undecidable must be 'raise' or 'assume_delivered'")
        if self.upload_rate <= 0:
            raise ValueError("SendPolicy.upload_rate must be positive")
        if self.offline_probe_interval < 0:
            raise ValueError("SendPolicy.offline_probe_interval must be >= 0")
        if self.upload_failed_attempts < 1:
            raise ValueError("SendPolicy.upload_failed_attempts must be at least 1")
        if self.url_media_allowance < 0:
            raise ValueError("SendPolicy.url_media_allowance must be >= 0")
        if self.forward_timeout < 0 or self.forward_settle_window < 0:
            raise ValueError("SendPolicy forward timeout and window must be >= 0")

    def allowance(self, payload_bytes: int, media_urls: int = 0) -> float:
        """Extra seconds a send of this payload needs (timeout and settle window)."""
        return payload_bytes / self.upload_rate + media_urls * self.url_media_allowance

    def window(self, has_media: bool, payload_bytes: int = 0, media_urls: int = 0) -> float:
        """Seconds after an attempt's start during which it may still be delivered."""
        base = self.media_settle_window if has_media else self.settle_window
        return base + self.allowance(payload_bytes, media_urls)


@dataclass(frozen=True)
class Pacing:
    """How fast messages go out, to stay clear of Tencent's risk control.

    Two token buckets: one per target (a group or a user) and one for the
    account. A send takes a token from both, waiting (at most ``max_wait``
    seconds, interruptible by ``stop()``) when either is empty; a send that
    would have to wait longer fails at once with :class:`RateLimited`, nothing
    sent. The defaults follow what keeps accounts out of trouble in practice
    (faults RATE-02: about 1 message/s per group, about 20/min per account,
    with room for short bursts).

    Risk-control answers (go-cqhttp's code 100 "账号可能被风控") and
    ``circuit_threshold`` consecutive ambiguous sends to one target found
    undelivered open a circuit for that target: its sends fail at once with
    :class:`RateLimited` for ``circuit_cooldown`` seconds (doubling up to
    ``circuit_max_cooldown`` while it keeps failing), then one probe send
    decides. Other targets are unaffected.

    Attributes:
        target_rate: messages per second to one target.
        target_burst: messages one target may receive back to back.
        global_rate: messages per second for the whole account.
        global_burst: messages the account may send back to back.
        max_wait: the longest a send waits for a token.
        media_concurrency: large media uploads in flight at once (None: no limit).
        large_media_bytes: a payload from this size counts as a large upload.
        circuit_threshold: consecutive undelivered ambiguous sends that open a circuit.
        circuit_cooldown: seconds a circuit stays open the first time.
        circuit_max_cooldown: the cap of the doubling cooldown.
    """

    target_rate: float = 1.0
    target_burst: int = 5
    global_rate: float = 20.0 / 60.0
    global_burst: int = 20
    max_wait: float = 60.0
    media_concurrency: Optional[int] = 2
    large_media_bytes: int = 512 * 1024
    circuit_threshold: int = 3
    circuit_cooldown: float = 300.0
    circuit_max_cooldown: float = 3600.0

    def __post_init__(self) -> None:
        if self.target_rate <= 0 or self.global_rate <= 0:
            raise ValueError("Pacing rates must be positive")
        if self.target_burst < 1 or self.global_burst < 1:
            raise ValueError("Pacing bursts must be at least 1")
        if self.max_wait < 0:
            raise ValueError("Pacing.max_wait must be >= 0")
        if self.media_concurrency is not None and self.media_concurrency < 1:
            raise ValueError("Pacing.media_concurrency must be at least 1 (or None)")
        if self.circuit_threshold < 1:
            raise ValueError("Pacing.circuit_threshold must be at least 1")
        if self.circuit_cooldown < 0 or self.circuit_max_cooldown < self.circuit_cooldown:
            raise ValueError("Pacing needs 0 <= circuit_cooldown <= circuit_max_cooldown")

    @classmethod
    def unlimited(cls) -> "Pacing":
        """No rate limit and no media limit; circuits and offline checks stay on."""
        return cls(
            target_rate=1e9,
            target_burst=1_000_000,
            global_rate=1e9,
            global_burst=1_000_000,
            media_concurrency=None,
        )
