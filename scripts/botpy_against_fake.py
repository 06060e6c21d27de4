#!/usr/bin/env python
"""Check FakeOfficial against the official SDK, qq-botpy: log in, receive a C2C message, reply.

    python3 -m venv /tmp/botpy-venv && /tmp/botpy-venv/bin/pip install qq-botpy
    .venv-3.11/bin/python scripts/botpy_against_fake.py [/tmp/botpy-venv/bin/python]

qq-botpy has no configurable endpoints: ``_botpy_client.py`` sets its ``Route.DOMAIN`` /
``Route.SCHEME`` to the fake and rewrites the hard-coded token URL inside aiohttp.
qq-botpy runs in its own venv (never the project's). Exits 0 when the reply arrived.
"""

import os
import subprocess
import sys
import threading

from qqreliable.testing import FakeOfficial

BOTPY_PYTHON = sys.argv[1] if len(sys.argv) > 1 else "/tmp/botpy-venv/bin/python"
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_botpy_client.py")


def main() -> int:
    with FakeOfficial() as official:
        proc = subprocess.Popen([BOTPY_PYTHON, CLIENT, str(official.port), official.app_id, official.secret],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), name="botpy-output", daemon=True)
        reader.start()
        try:
            official.wait_for_ready(1, timeout=30)
            identify = [f for f in official.frames if f["op"] == 2][0]["d"]
            print("qq-botpy identified with intents", identify["intents"], "shard", identify["shard"])
            inbound = official.emit_c2c_message("user-openid-1", "ping")
            sent = official.wait_for_sent(1, timeout=20)[0]
            print("delivered:", {k: sent[k] for k in ("scene", "target", "text", "msg_seq", "passive")})
            print("passive reply to the inbound message:", sent["msg_id"] == inbound["id"])
            print("HTTP calls:", [(c["method"], c["path"]) for c in official.calls])
            return 0 if sent["text"] == "echo: ping" else 1
        finally:
            proc.kill()
            proc.wait(10)
            reader.join(5)
            print("---- qq-botpy output ----")
            print("".join(lines[-15:]))


if __name__ == "__main__":
    sys.exit(main())
