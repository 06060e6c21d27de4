"""Time-to-image and success rate: fetch_image vs. the seed article's sequential fallback vs. URL only.

Runs FakeOneBot on 127.0.0.1 (port 0) with its media host and, per scenario,
fetches fresh images (never cached) four ways, all in this one run:

* ``fetch_image``: qqreliable, default settings except the disk cache (off);
* ``sequential``: the article's fix: ``requests.get(url, timeout=T)``; if that
  fails, ``get_image`` and download what it returns (T = 5 s here; the
  article uses 30 s, which only makes the hanging-URL rows worse);
* ``url only``: ``requests.get(url, timeout=T)``;
* ``api only``: ``get_image`` then its answer; with ``url only`` this tells the
  faster *working* path, the reference of the target.

A result counts as a success only when the bytes are the real image. Target:
wherever either path works, fetch_image succeeds every time and its median
is at most 1.2 × the faster working path's median + 50 ms.

    python benchmarks/images.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qqreliable import Bot, Error  # noqa: E402
from qqreliable.reliability.media import MediaConfig  # noqa: E402
from qqreliable.testing import FakeOneBot  # noqa: E402
from qqreliable.testing.media import sample_png  # noqa: E402

BASELINE_TIMEOUT = 5.0

# name, URL mode options, API mode options, repetitions
SCENARIOS: List[Tuple[str, Dict[str, Any], Dict[str, Any], int]] = [
    ("URL healthy", {"mode": "ok"}, {"mode": "url"}, 20),
    ("URL hangs", {"mode": "hang"}, {"mode": "url"}, 2),
    ("URL expired", {"mode": "expired"}, {"mode": "url"}, 20),
    ("API 1200 after 10 s", {"mode": "ok"}, {"mode": "fail_1200", "delay": 10.0}, 2),
    ("both slow", {"mode": "ok", "delay": 1.5}, {"mode": "url", "delay": 0.8}, 3),
]

Method = Callable[[Dict[str, Any]], Optional[bytes]]


def make_methods(onebot: FakeOneBot, bot: Bot, session: requests.Session) -> Dict[str, Method]:
    def url_only(seg: Dict[str, Any]) -> Optional[bytes]:
        try:
            resp = session.get(seg["data"]["url"], timeout=BASELINE_TIMEOUT)
        except requests.RequestException:
            return None
        return resp.content if resp.ok else None

    def api_only(seg: Dict[str, Any]) -> Optional[bytes]:
        try:
            body = session.post(f"{onebot.url}/get_image", json={"file": seg["data"]["file"]}, timeout=30).json()
        except (requests.RequestException, ValueError):
            return None
        if body.get("retcode") != 0:
            return None
        data = body.get("data") or {}
        if data.get("url", "").startswith("http"):
            try:
                resp = session.get(data["url"], timeout=BASELINE_TIMEOUT)
            except requests.RequestException:
                return None
            return resp.content if resp.ok else None
        try:
            with open(data.get("file", ""), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def sequential(seg: Dict[str, Any]) -> Optional[bytes]:
        return url_only(seg) or api_only(seg)

    def fetch_image(seg: Dict[str, Any]) -> Optional[bytes]:
        try:
            return bot.fetch_image(seg).data
        except Error:
            return None

    return {"fetch_image": fetch_image, "sequential": sequential, "url only": url_only, "api only": api_only}


def run() -> int:
    rows: List[Tuple[str, str, str, str, str, str]] = []
    all_met = True
    started = time.monotonic()
    with FakeOneBot() as onebot:
        bot = Bot(onebot.url, media_cache=MediaConfig(cache=False))
        session = requests.Session()
        session.trust_env = False
        methods = make_methods(onebot, bot, session)
        try:
            for name, url_mode, api_mode, reps in SCENARIOS:
                onebot.media.set_api_mode(api_mode["mode"], delay=api_mode.get("delay", 0.0))
                results: Dict[str, Tuple[float, float, float]] = {}
                for method, fn in methods.items():
                    times: List[float] = []
                    ok = 0
                    for i in range(reps):
                        png = sample_png(30_000, seed=hash((name, method, i)) & 0xFFFF)
                        seg = onebot.media.add(png, **url_mode)
                        t0 = time.perf_counter()
                        data = fn(seg)
                        times.append(time.perf_counter() - t0)
                        ok += data == png
                    results[method] = (ok / reps, statistics.median(times), max(times))
                working = [results[m][1] for m in ("url only", "api only") if results[m][0] == 1.0]
                best = min(working) if working else None
                for method, (rate, median, worst) in results.items():
                    target = ""
                    if method == "fetch_image" and best is not None:
                        met = rate == 1.0 and median <= 1.2 * best + 0.05
                        all_met &= met
                        target = (f"{'met' if met else 'MISSED'}: faster path {best * 1000:.0f} ms, "
                                  f"limit {(1.2 * best + 0.05) * 1000:.0f} ms")
                    rows.append((name, method, f"{rate * 100:.0f}%", f"{median * 1000:.0f}", f"{worst * 1000:.0f}",
                                 target))
        finally:
            bot.stop()
            session.close()
    header = ("scenario", "method", "success", "median ms", "max ms", "target ≤ 1.2× faster path + 50 ms")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    previous = None
    for row in rows:
        shown = row if row[0] != previous else ("",) + row[1:]
        previous = row[0]
        print(line.format(*shown))
    print(f"\nfresh 30 kB PNG per attempt; baseline URL timeout {BASELINE_TIMEOUT:g} s; "
          f"total {time.monotonic() - started:.0f} s; python {sys.version.split()[0]}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(run())
