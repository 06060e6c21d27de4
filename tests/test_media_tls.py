"""TLS to NTQQ's media host: a local server configured like multimedia.nt.qq.com.cn.

The host has been reported to fail the handshake (``SSLV3_ALERT_HANDSHAKE_FAILURE``)
with requests/urllib3/aiohttp on Python >= 3.10, whose default client cipher
list offers only forward-secret suites on TLS 1.2, while the host negotiates
TLS 1.2 with plain-RSA key exchange AES-GCM suites (``AES128-GCM-SHA256``).
The server below offers exactly that; our media transport must connect to it,
with the certificate and host name still verified.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any, Callable, Iterator, List

import pytest
import requests
import trustme
import urllib3

from qqreliable import Bot
from qqreliable.reliability.media import MediaConfig
from qqreliable.testing.media import sample_png
from qqreliable.transport.download import MEDIA_CIPHERS, DownloadError, MediaHttp

NTQQ_LIKE_CIPHER = "AES128-GCM-SHA256"
PNG = sample_png(3000, seed=42)


class NtqqLikeServer:
    """HTTPS on 127.0.0.1:0, TLS 1.2 only, RSA key exchange AES-GCM only. Serves one PNG."""

    def __init__(self, ca: trustme.CA) -> None:
        cert = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_ciphers(NTQQ_LIKE_CIPHER)
        cert.configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.ciphers: List[str] = []
        self.handshake_errors: List[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-ntqq-tls", daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/download?appid=1407&fileid=abc&rkey=xyz"

    def __enter__(self) -> "NtqqLikeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    cipher = tls.cipher()
                    self.ciphers.append(cipher[0] if cipher else "")
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    head = (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
                            b"Content-Length: " + str(len(PNG)).encode() + b"\r\n\r\n")
                    tls.sendall(head + PNG)
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
                raw.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA(key_type=trustme.KeyType.RSA)


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Any) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[NtqqLikeServer]:
    with NtqqLikeServer(ca) as srv:
        yield srv


def _default_offers_rsa_kx() -> bool:
    """Whether plain requests offers the host's suite (urllib3 1.26 sets its own list)."""
    if int(urllib3.__version__.split(".")[0]) < 2:
        return True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return any(c["name"] == NTQQ_LIKE_CIPHER for c in ctx.get_ciphers())


def test_our_cipher_list_keeps_forward_secrecy_first_and_adds_rsa_gcm() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(MEDIA_CIPHERS)
    names = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert NTQQ_LIKE_CIPHER in names
    assert names[0].startswith("ECDHE-")
    assert names.index(NTQQ_LIKE_CIPHER) > max(i for i, n in enumerate(names) if n.startswith(("ECDHE-", "DHE-")))
    assert not any("NULL" in n or "MD5" in n or "RC4" in n or "3DES" in n for n in names)


def test_media_transport_connects_where_plain_requests_may_not(server: NtqqLikeServer, ca_bundle: str) -> None:
    if not _default_offers_rsa_kx():
        # Python >= 3.10 with urllib3 2: the default settings fail exactly as reported.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url, verify=ca_bundle, timeout=5)
    http = MediaHttp(verify=ca_bundle)
    try:
        with http.get(server.url, read_timeout=5) as resp:
            body = b"".join(resp.chunks())
        assert resp.status == 200 and body == PNG
    finally:
        http.close()
    assert NTQQ_LIKE_CIPHER in server.ciphers


def test_certificates_are_still_verified(server: NtqqLikeServer) -> None:
    other_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    with other_ca.cert_pem.tempfile() as wrong_bundle:
        http = MediaHttp(verify=wrong_bundle)
        try:
            with pytest.raises(DownloadError) as info:
                http.get(server.url, read_timeout=5)
        finally:
            http.close()
    assert info.value.cause == "tls"


def test_fetch_image_over_tls(
    server: NtqqLikeServer, ca_bundle: str, make_bot: Callable[..., Bot], onebot: Any
) -> None:
    bot = make_bot(onebot.url, media_cache=MediaConfig(cache=False, verify=ca_bundle))
    onebot.media.set_api_mode("never")
    media = bot.fetch_image({"type": "image", "data": {"file": "abc.image", "url": server.url}}, timeout=5)
    assert media.source == "url" and media.data == PNG
