"""Webhook signatures: the documented vectors, round trips, refusals."""

from __future__ import annotations

import json

from qqreliable.official.webhook import WebhookKeys, handle_callback, seed_from_secret


def test_seed_vector() -> None:
    assert seed_from_secret("naOC0ocQE3shWLAfffVLB1rhYPG7") == b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
    assert WebhookKeys("naOC0ocQE3shWLAfffVLB1rhYPG7").public_bytes()[:4] == bytes([215, 195, 98, 254])


def test_op13_vector() -> None:
    keys = WebhookKeys("DG5g3B4j9X2KOErG")
    assert keys.sign_validation("1725442341", "Arq0D5A61EgUu4OxUvOp") == (
        "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
        "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
    )


def signed(keys: WebhookKeys, payload: dict, ts: str = "1700000000"):
    body = json.dumps(payload).encode()
    return {"X-Signature-Timestamp": ts, "X-Signature-Ed25519": keys.sign_callback(ts, body)}, body


def test_op13_answered() -> None:
    keys = WebhookKeys("secret")
    headers, body = signed(keys, {"op": 13, "d": {"plain_token": "pt", "event_ts": "123"}})
    result = handle_callback(keys, headers, body)
    assert result.status == 200 and result.payload is None
    assert result.body == {"plain_token": "pt", "signature": keys.sign_validation("123", "pt")}


def test_dispatch_acked_and_handed_on() -> None:
    keys = WebhookKeys("secret")
    payload = {"op": 0, "t": "C2C_MESSAGE_CREATE", "id": "e1", "d": {"id": "m"}}
    headers, body = signed(keys, payload)
    result = handle_callback(keys, headers, body)
    assert result.status == 200 and result.body == {"op": 12, "d": 0} and result.payload == payload


def test_bad_signatures_refused() -> None:
    keys = WebhookKeys("secret")
    headers, body = signed(keys, {"op": 0, "t": "X", "d": {}})
    assert handle_callback(keys, {}, body).status == 401
    assert handle_callback(keys, dict(headers, **{"X-Signature-Timestamp": "1"}), body).status == 401
    assert handle_callback(keys, headers, body + b" ").status == 401
    assert handle_callback(keys, dict(headers, **{"X-Signature-Ed25519": "zz"}), body).status == 401
    other = WebhookKeys("other-secret")
    headers2, body2 = signed(other, {"op": 0, "t": "X", "d": {}})
    result = handle_callback(keys, headers2, body2)
    assert result.status == 401 and result.payload is None
    # the high bits of the last byte must be clear
    sig = bytearray(bytes.fromhex(headers["X-Signature-Ed25519"]))
    sig[63] |= 0xE0
    assert not keys.verify(headers["X-Signature-Timestamp"], body, sig.hex())


def test_signed_garbage_is_400() -> None:
    keys = WebhookKeys("secret")
    ts = "1"
    bad_headers = {"X-Signature-Timestamp": ts, "X-Signature-Ed25519": keys.sign_callback(ts, b"nope")}
    assert handle_callback(keys, bad_headers, b"nope").status == 400


def test_core_install_does_not_need_cryptography() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "sys.modules['cryptography'] = None  # as if not installed\n"
        "import qqreliable, qqreliable.testing\n"
        "from qqreliable import OfficialBot\n"
        "OfficialBot(app_id='1', secret='s')\n"
        "try:\n"
        "    OfficialBot(app_id='1', secret='s', listen='http://127.0.0.1:0/cb').start()\n"
        "except ImportError as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'qqreliable[official]'" in out.stdout
