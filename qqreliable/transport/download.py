"""Direct media downloads (image / record / video / file URLs) over ``requests``.

This is the one place where a media download touches ``requests``/``urllib3``;
everything that decides (validation, retries, racing, caching) lives in
:mod:`qqreliable.reliability.media` and sees only :class:`MediaResponse` and
:class:`DownloadError`.

Three things here are not what a plain ``requests.get`` does:

* **Cancellable requests.** A download that lost a race, or one running when
  the bot stops, must end now, not when its read timeout fires. Every
  connection used inside :func:`cancel_scope` registers itself with that
  scope's :class:`CancelToken`; :meth:`CancelToken.cancel` shuts the sockets
  down, which wakes a thread blocked in ``connect``/``recv`` at once (also one
  still waiting for the response head, where there is no response to close).
  :func:`make_cancellable` installs the same connections on another session
  (the HTTP API's, so a losing media call to the API is abandoned too).
* **TLS that reaches NTQQ's media host.** ``multimedia.nt.qq.com.cn`` has been
  reported to fail the handshake (``SSLV3_ALERT_HANDSHAKE_FAILURE``) with the
  cipher list that Python >= 3.10 sets by default, which only offers forward
  secret (ECDHE/DHE) suites on TLS 1.2; the host negotiates TLS 1.2 with
  plain-RSA key exchange AES-GCM suites (``AES128-GCM-SHA256``). Our context
  keeps the forward-secret suites first and adds the RSA AES-GCM ones last, so
  servers that can do better still do. Certificates and host names are
  verified as usual.
* **Streaming with resume.** :meth:`MediaHttp.get` takes an ``offset`` and
  sends ``Range: bytes=<offset>-`` (with ``If-Range`` when a validator is
  known); the caller decides from the status (206 or 200) whether to append
  or restart.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Mapping, Optional, Union

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

from .._version import __version__
from ..exceptions import NetworkError
from .http import connection_never_made

__all__ = [
    "MEDIA_CIPHERS",
    "CancelToken",
    "DownloadError",
    "MediaHttp",
    "MediaResponse",
    "cancel_scope",
    "make_cancellable",
    "media_ssl_context",
]

log = logging.getLogger(__name__)

MEDIA_CIPHERS = (
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDH+AES:DHE+AES:"
    "kRSA+AESGCM:!aNULL:!eNULL:!MD5:!DSS:!SHA1:!AESCCM"
)
"""OpenSSL cipher string of media downloads: Python's defaults, then RSA-kx AES-GCM."""

_CHUNK = 64 * 1024


def media_ssl_context() -> ssl.SSLContext:
    """A client TLS context (TLS >= 1.2) that also offers :data:`MEDIA_CIPHERS`.

    CA certificates are loaded per pool by requests (``verify=``), exactly as
    for a default session.
    """
    return create_urllib3_context(ciphers=MEDIA_CIPHERS)


class DownloadError(NetworkError):
    """One direct download attempt failed in the transport.

    ``cause`` says how: ``"connect"`` (nothing reached the server; ``tls`` is
    a handshake failure), ``"timeout"`` (no byte for ``read_timeout``),
    ``"cut"`` (the connection died mid-response), ``"cancelled"`` (we
    abandoned it), ``"redirects"``, ``"bad_url"``.
    """

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.sent = cause not in ("connect", "tls", "bad_url")


# --------------------------------------------------------------------------- cancellation

_scope = threading.local()


class CancelToken:
    """Aborts the HTTP connections used inside a :func:`cancel_scope`. Thread-safe.

    Once finished (the scope's work is over), :meth:`cancel` does nothing, so
    a late cancel never touches a connection that went back to the pool and
    now serves someone else.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: List[Any] = []
        self._cancelled = False
        self._finished = False
        self._event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True (at once) when cancelled."""
        return self._event.wait(max(0.0, timeout))

    def attach(self, conn: Any) -> None:
        with self._lock:
            if self._finished:
                return
            if self._cancelled:
                _abort(conn)
                return
            if conn not in self._conns:
                self._conns.append(conn)

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            if self._cancelled or self._finished:
                self._cancelled = True
                return
            self._cancelled = True
            conns, self._conns = self._conns, []
        for conn in conns:
            _abort(conn)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._conns = []


def _abort(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        # socket.socket's own shutdown: on an SSLSocket it shuts the fd down
        # without unwrapping, which wakes a reader blocked in another thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


@contextmanager
def cancel_scope(token: CancelToken) -> Iterator[CancelToken]:
    """Register every connection this thread uses inside the block with ``token``."""
    previous = getattr(_scope, "token", None)
    _scope.token = token
    try:
        yield token
    finally:
        _scope.token = previous
        token.finish()


def _attach_current(conn: Any) -> None:
    token: Optional[CancelToken] = getattr(_scope, "token", None)
    if token is not None:
        token.attach(conn)


class _CancellableHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach_current(self)  # a pooled connection is not connected again
        super().request(*args, **kwargs)


class _CancellableHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach_current(self)
        super().request(*args, **kwargs)


class _CancellableHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CancellableHTTPConnection


class _CancellableHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CancellableHTTPSConnection


def _install(poolmanager: Any) -> None:
    poolmanager.pool_classes_by_scheme = {"http": _CancellableHTTPPool, "https": _CancellableHTTPSPool}
    poolmanager.clear()


def make_cancellable(session: requests.Session) -> None:
    """Make requests of ``session`` abortable from a :func:`cancel_scope`.

    Swaps the connection classes of the session's adapters (idle pooled
    connections are dropped). Requests made outside a scope behave as before.
    """
    for adapter in session.adapters.values():
        poolmanager = getattr(adapter, "poolmanager", None)
        if poolmanager is not None:
            _install(poolmanager)


class _MediaAdapter(HTTPAdapter):
    def __init__(self, ssl_context: Optional[ssl.SSLContext], **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._ssl_context is not None:
            pool_kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        _install(self.poolmanager)


# --------------------------------------------------------------------------- downloads


class MediaResponse:
    """An open streaming response. Close it (or use ``with``) when done.

    Attributes:
        status: the HTTP status.
        headers: case-insensitive response headers.
        url: the final URL (after redirects).
    """

    def __init__(self, resp: requests.Response, read_timeout: float) -> None:
        self._resp = resp
        self.status: int = resp.status_code
        self.headers: Mapping[str, str] = resp.headers
        self.url: str = resp.url
        self._read_timeout = read_timeout

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The body as it arrives (raw bytes, no content decoding beyond gzip).

        Raises:
            DownloadError: ``timeout`` (no byte for ``read_timeout``) or ``cut``.
        """
        raw = self._resp.raw
        # read1 hands over what has arrived (a trickle is seen byte by byte);
        # iter_content would block until a whole chunk is in.
        read1 = getattr(raw, "read1", None)
        try:
            if read1 is None:
                for chunk in self._resp.iter_content(size):
                    if chunk:
                        yield chunk
                return
            while True:
                chunk = read1(size, decode_content=True)
                if not chunk:
                    return
                yield chunk
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if _is_read_timeout(exc):
                raise DownloadError(f"no data for {self._read_timeout:g}s from {_host(self.url)}", "timeout") from exc
            raise DownloadError(f"connection to {_host(self.url)} cut mid-body: {exc}", "cut") from exc

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> "MediaResponse":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _is_read_timeout(exc: BaseException) -> bool:
    seen = set()
    cause: Optional[BaseException] = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (urllib3.exceptions.ReadTimeoutError, socket.timeout)):
            return True
        nxt = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nxt or cause.__cause__ or cause.__context__
    return False


def _host(url: str) -> str:
    try:
        return urllib3.util.parse_url(url).host or "?"
    except Exception:
        return "?"


class MediaHttp:
    """Streams media URLs. Thread-safe: one pooled session for every download.

    Args:
        verify: TLS verification (True, False or a CA bundle path).
        connect_timeout: seconds for TCP + TLS.
        pool_size: connections kept per host.
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` and ``.netrc``.
        max_redirects: redirects followed before giving up.
        user_agent: the ``User-Agent`` header.
    """

    def __init__(
        self,
        *,
        verify: Union[bool, str] = True,
        connect_timeout: float = 5.0,
        pool_size: int = 8,
        trust_env: bool = False,
        max_redirects: int = 3,
        user_agent: Optional[str] = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self._session = requests.Session()
        self._session.verify = verify
        self._session.trust_env = trust_env
        self._session.max_redirects = max_redirects
        self._session.headers["User-Agent"] = user_agent or f"qqreliable/{__version__}"
        self._session.headers["Accept-Encoding"] = "identity"  # byte offsets must mean file offsets
        adapter = _MediaAdapter(
            media_ssl_context(),
            pool_connections=4,
            pool_maxsize=pool_size,
            max_retries=Retry(total=0, connect=0, read=False, redirect=max_redirects, status=False, other=0),
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def get(
        self,
        url: str,
        *,
        read_timeout: float,
        offset: int = 0,
        if_range: Optional[str] = None,
        connect_timeout: Optional[float] = None,
    ) -> MediaResponse:
        """Send a streaming GET; return once the response head is in.

        Call inside :func:`cancel_scope` to make it abortable.

        Raises:
            DownloadError: ``connect``/``tls`` (nothing sent), ``timeout``
                (no head in ``read_timeout``), ``cut``, ``redirects``, ``bad_url``.
        """
        headers = {}
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
            if if_range:
                headers["If-Range"] = if_range
        connect = self.connect_timeout if connect_timeout is None else connect_timeout
        try:
            resp = self._session.get(
                url, headers=headers, stream=True, timeout=(max(0.001, connect), max(0.001, read_timeout))
            )
        except requests.exceptions.SSLError as exc:
            raise DownloadError(f"TLS handshake with {_host(url)} failed: {exc}", "tls") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise DownloadError(f"cannot connect to {_host(url)} in {connect:g}s", "connect") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise DownloadError(f"no answer from {_host(url)} within {read_timeout:g}s", "timeout") from exc
        except requests.exceptions.TooManyRedirects as exc:
            raise DownloadError(f"too many redirects from {_host(url)}", "redirects") from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, ValueError) as exc:
            raise DownloadError(f"not a downloadable URL: {exc}", "bad_url") from exc
        except requests.exceptions.RequestException as exc:
            if connection_never_made(exc):
                raise DownloadError(f"cannot connect to {_host(url)}: {exc}", "connect") from exc
            raise DownloadError(f"the request to {_host(url)} was cut off: {exc}", "cut") from exc
        return MediaResponse(resp, read_timeout)

    def close(self) -> None:
        self._session.close()
