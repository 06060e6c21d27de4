"""Reliability policies: pure decisions (backoff, liveness) with injectable clocks."""

from .backoff import Backoff
from .liveness import Liveness

__all__ = ["Backoff", "Liveness"]
