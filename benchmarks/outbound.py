"""Outbound media: what reaches the chat, and what preparing media costs.

    python benchmarks/outbound.py [--sends 60] [--rounds 5]

Part 1 - delivery. FakeOneBot plays an implementation in another container
(NapCat style and go-cqhttp style: ``sent_media.isolate``) that downloads URLs
itself (``sent_media.fetch_urls``). Each client sends ``--sends`` messages of a
caption plus one image, cycling through: a local file, a good URL, a URL that
answers an HTML page, a received image whose CDN URL expired (``get_image``
works). ``Bot`` prepares media (the default ``OutboundMedia()``); the baseline
is the same Bot with ``outbound_media=None`` (segments as given, what most SDKs
do). Counted: messages delivered with their image, delivered without it
(go-cqhttp silently drops a segment it cannot read), and refused (an error in
the caller, nothing sent).

Part 2 - cost on the happy path, over loopback WebSocket, rounds interleaved,
median: a text message (the preparer only looks), a 256 KiB local image (the
baseline sends the path to an implementation sharing the file system; Bot reads
and inlines it), a 256 KiB image URL (the baseline lets the implementation
download it; Bot downloads and inlines it). Part 3: the preparer alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import _common

from qqreliable import Bot, Error, MessageSegment, OutboundMedia
from qqreliable.reliability.media import MediaConfig
from qqreliable.testing import FakeOneBot
from qqreliable.testing.media import sample_png

GROUP = 1001


def _delivery(style: str, prepared: bool, sends: int, tmp: Path) -> Tuple[int, int, int]:
    with FakeOneBot(report_self_messages=True) as onebot:
        onebot.sent_media.isolate(style)
        onebot.sent_media.fetch_urls()
        onebot.media.set_api_mode("base64")
        local = tmp / f"local-{style}.png"
        local.write_bytes(sample_png(20_000, seed=1))
        good = onebot.media.add(sample_png(20_000, seed=2))
        html = onebot.media.add(mode="html")
        expired = onebot.media.add(sample_png(20_000, seed=3), mode="expired", status=200)
        images: List[Any] = [
            MessageSegment.image(local),
            MessageSegment.image(good["data"]["url"]),
            MessageSegment.image(html["data"]["url"]),
            MessageSegment("image", expired["data"]),
        ]
        options: Dict[str, Any] = dict(pacing=None, media_cache=MediaConfig(cache=False, url_attempts=1))
        if not prepared:
            options["outbound_media"] = None
        refused = 0
        with Bot(onebot.ws_url, **options) as bot:
            bot.wait_connected(10)
            for i in range(sends):
                try:
                    bot.send_group_msg(GROUP, MessageSegment.text(f"caption {i} ") + images[i % len(images)])
                except Error:
                    refused += 1
        with_image = sum(1 for m in onebot.sent_messages if any(s["type"] == "image" for s in m["message"]))
        without = len(onebot.sent_messages) - with_image
        return with_image, without, refused


def _timed(send: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        send()
    return (time.perf_counter() - started) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    _common.quiet()
    _common.header("benchmarks/outbound.py: outbound media")

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rows = []
        for style in ("napcat", "gocq"):
            for prepared in (True, False):
                ok, stripped, refused = _delivery(style, prepared, args.sends, tmp)
                name = "Bot (OutboundMedia())" if prepared else "baseline (outbound_media=None)"
                rows.append([style, name, args.sends, ok, stripped, refused])
        print(f"Part 1: {args.sends} caption+image sends to an implementation in another container; "
              "images cycle: local file, good URL, HTML URL, expired received image")
        _common.table(["implementation", "client", "sends", "with image", "image dropped", "refused"], rows)

        image = sample_png(256 * 1024, seed=4)
        path = tmp / "big.png"
        path.write_bytes(image)
        results: Dict[Tuple[str, str], List[float]] = {}
        with FakeOneBot() as onebot:
            hosted = onebot.media.add(image)
            url = hosted["data"]["url"]
            cases: List[Tuple[str, Callable[[Bot], Any]]] = [
                ("text", lambda bot: bot.send_group_msg(GROUP, "hello [CQ:face,id=1]")),
                ("256 KiB local file", lambda bot: bot.send_group_msg(GROUP, MessageSegment.image(path))),
                ("256 KiB URL", lambda bot: bot.send_group_msg(GROUP, MessageSegment.image(url))),
            ]
            for round_ in range(args.rounds):
                order = ("baseline", "Bot") if round_ % 2 == 0 else ("Bot", "baseline")
                for name in order:
                    options: Dict[str, Any] = dict(pacing=None, media_cache=MediaConfig(cache=False))
                    if name == "baseline":
                        options["outbound_media"] = None
                        onebot.sent_media.fetch_urls(True)  # the implementation downloads the URL
                    else:
                        onebot.sent_media.fetch_urls(False)
                    with Bot(onebot.ws_url, **options) as bot:
                        bot.wait_connected(10)
                        for case, send in cases:
                            send(bot)  # warm up
                            ms = _timed(lambda send=send: send(bot), args.per_round)
                            results.setdefault((case, name), []).append(ms)
        rows = []
        for case, _ in cases:
            base = _common.median(results[(case, "baseline")])
            ours = _common.median(results[(case, "Bot")])
            rows.append([case, base, ours, f"{ours / base:.2f}"])
        print(f"Part 2: ms per send over loopback WebSocket, median of {args.rounds} rounds of {args.per_round}; "
              "baseline: path / URL left to an implementation that can read them")
        _common.table(["message", "baseline ms", "Bot ms", "ratio"], rows)

        print("Part 3: the preparer's own work per send (no transport, best of 5): the rest of the cost in "
              "Part 2 is moving the base64 bytes over the socket")
        _common.table(["message", "us/send"], [
            ["text (looked at, left alone)", _own_cost({"group_id": 1, "message": "hello [CQ:face,id=1]"}, 20000)],
            ["256 KiB local file inlined", _own_cost(
                {"group_id": 1, "message": [{"type": "image", "data": {"file": path.as_uri()}}]}, 200)],
        ])


def _own_cost(params: Dict[str, Any], n: int) -> float:
    from qqreliable.onebot.media import OneBotMedia
    from qqreliable.reliability.outbound import MediaPreparer

    def unused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no I/O pool is needed for local media")

    prep = MediaPreparer(OutboundMedia(), api=OneBotMedia(unused), submit=unused)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            prep.prepare("send_group_msg", params)
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


if __name__ == "__main__":
    main()
