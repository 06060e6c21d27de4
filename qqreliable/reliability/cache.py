"""The on-disk media cache: keyed by file id, content-addressed, LRU by bytes.

Layout under the cache directory::

    blobs/<h[:2]>/<h>.<ext>   the bytes; h = sha256 of the content, ext from a fixed table
    keys/<k[:2]>/<k>          one line "<h>.<ext> <content type>"; k = sha256 of the key
    tmp/                      downloads in progress (deleted on the way out)

No name is ever taken from the server: blob names are hashes of the bytes,
key names are hashes of the key, extensions come from
:data:`~qqreliable.reliability.sniff.EXTENSIONS`, and a key file read back
from disk is checked against a strict pattern before it is used. Every write
is a temp file renamed into place (atomic on POSIX and Windows), so a reader
never sees half a file, even from another process. The total size of blobs is
capped; the least recently used go first. Thread-safe.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import re
import tempfile
import threading
from typing import BinaryIO, Dict, Optional, Tuple

from .sniff import EXTENSIONS

__all__ = ["MediaCache", "CacheEntry", "key_name", "blob_name"]

log = logging.getLogger(__name__)

_BLOB = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{1,5}$")
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+\-]*/[a-z0-9][a-z0-9.+\-]*$")


def key_name(key: str) -> str:
    """The file name of a cache key: its sha256, hex (never a path)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def blob_name(digest: str, content_type: str) -> str:
    """The file name of a blob: content hash plus an extension from a fixed table."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("digest must be a sha256 hex string")
    return f"{digest}.{EXTENSIONS.get(content_type, 'bin')}"


class CacheEntry:
    """A cached file: ``path``, ``size`` and ``content_type``."""

    __slots__ = ("path", "size", "content_type")

    def __init__(self, path: str, size: int, content_type: str) -> None:
        self.path = path
        self.size = size
        self.content_type = content_type


class MediaCache:
    """Media files on disk, capped at ``max_bytes`` in total (LRU).

    Args:
        root: the cache directory (created on first use).
        max_bytes: the cap on the total size of cached files.
    """

    def __init__(self, root: str, max_bytes: int = 512 * 1024 * 1024) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = os.path.abspath(os.fspath(root))
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._lru: "collections.OrderedDict[str, int]" = collections.OrderedDict()  # blob → size
        self._total = 0
        self._loaded = False
        self.evictions = 0

    # -- paths --------------------------------------------------------------

    def _blob_path(self, blob: str) -> str:
        return os.path.join(self.root, "blobs", blob[:2], blob)

    def _key_path(self, key: str) -> str:
        name = key_name(key)
        return os.path.join(self.root, "keys", name[:2], name)

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.root, "tmp")

    def _load(self) -> None:
        """Build the LRU order from the blobs on disk (oldest mtime first). Under the lock."""
        if self._loaded:
            return
        os.makedirs(self.tmp_dir, exist_ok=True)
        found = []
        blobs = os.path.join(self.root, "blobs")
        if os.path.isdir(blobs):
            for sub in os.listdir(blobs):
                subdir = os.path.join(blobs, sub)
                if not os.path.isdir(subdir):
                    continue
                for name in os.listdir(subdir):
                    if not _BLOB.match(name):
                        continue
                    try:
                        st = os.stat(os.path.join(subdir, name))
                    except OSError:
                        continue
                    found.append((st.st_mtime, name, st.st_size))
        for _, name, size in sorted(found):
            self._lru[name] = size
            self._total += size
        self._loaded = True
        self._evict(keep=None)

    # -- API ----------------------------------------------------------------

    def new_temp(self) -> Tuple[BinaryIO, str]:
        """An open temp file in the cache's own directory (so a rename is atomic)."""
        with self._lock:
            self._load()
        fd, path = tempfile.mkstemp(prefix="dl-", suffix=".part", dir=self.tmp_dir)
        return os.fdopen(fd, "w+b"), path

    def get(self, key: str) -> Optional[CacheEntry]:
        """The entry for ``key`` (and mark it used), or None."""
        key_path = self._key_path(key)
        with self._lock:
            self._load()
            try:
                with open(key_path, "r", encoding="ascii") as fh:
                    line = fh.read(200)
            except (OSError, UnicodeDecodeError):
                return None
            blob, _, content_type = line.strip().partition(" ")
            if not _BLOB.match(blob) or not _MIME.match(content_type):
                log.warning("ignoring a malformed media cache index file %s", key_path)
                _remove(key_path)
                return None
            path = self._blob_path(blob)
            size = self._lru.get(blob)
            if size is None or not os.path.exists(path):
                self._forget(blob)
                _remove(key_path)  # the blob was evicted
                return None
            self._lru.move_to_end(blob)
        try:
            os.utime(path)  # the LRU order survives a restart
        except OSError:
            pass
        return CacheEntry(path, size, content_type)

    def put(self, key: str, temp_path: str, digest: str, size: int, content_type: str) -> CacheEntry:
        """Move a finished download into the cache under ``key``; return its entry.

        ``digest`` is the sha256 of the file's bytes. The temp file is consumed.
        """
        if not _MIME.match(content_type):
            content_type = "application/octet-stream"
        blob = blob_name(digest, content_type)
        path = self._blob_path(blob)
        key_path = self._key_path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.makedirs(os.path.dirname(key_path), exist_ok=True)
        fd, key_tmp = tempfile.mkstemp(prefix="key-", dir=self.tmp_dir)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{blob} {content_type}\n")
        with self._lock:
            self._load()
            if blob in self._lru and os.path.exists(path):
                _remove(temp_path)  # same bytes already cached under another key
                self._lru.move_to_end(blob)
            else:
                os.replace(temp_path, path)
                self._forget(blob)
                self._lru[blob] = size
                self._total += size
            os.replace(key_tmp, key_path)
            self._evict(keep=blob)
        return CacheEntry(path, size, content_type)

    def _forget(self, blob: str) -> None:
        size = self._lru.pop(blob, None)
        if size is not None:
            self._total -= size

    def _evict(self, keep: Optional[str]) -> None:
        while self._total > self.max_bytes and self._lru:
            blob = next(iter(self._lru))
            if blob == keep:
                if len(self._lru) == 1:
                    break
                self._lru.move_to_end(blob)
                continue
            self._forget(blob)
            _remove(self._blob_path(blob))
            self.evictions += 1

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def stats(self) -> Dict[str, object]:
        with self._lock:
            return {"dir": self.root, "bytes": self._total, "files": len(self._lru),
                    "max_bytes": self.max_bytes, "evictions": self.evictions}


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
