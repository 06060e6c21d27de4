"""BEFORE: a typical script that posts to OneBot with plain requests.

Problems: no timeout (hangs for ever on a stuck backend), a retry loop that
posts the message twice when NapCat answers 1200 after delivering it, success
judged by status == "ok" (Lagrange says "ok" with retcode 1), and the token
ends up in tracebacks.
"""

import time

import requests

ONEBOT = "http://127.0.0.1:3000"
TOKEN = "secret"


def send_group(group_id: int, text: str) -> int:
    for _attempt in range(3):
        try:
            r = requests.post(f"{ONEBOT}/send_group_msg",
                              json={"group_id": group_id, "message": text},
                              headers={"Authorization": f"Bearer {TOKEN}"})
            body = r.json()
            if body["status"] == "ok":
                return body["data"]["message_id"]
        except Exception:
            pass
        time.sleep(1)  # and try again: the message may already be out
    raise RuntimeError("send failed")


if __name__ == "__main__":
    print(send_group(123456, "daily report: all systems nominal"))
