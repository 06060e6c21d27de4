"""Reliability policies: pure decisions (backoff, liveness) with injectable clocks."""

from .backoff import Backoff
from .liveness import Liveness
from .sendpolicy import Pacing, SendPolicy

__all__ = ["Backoff", "Liveness", "SendPolicy", "Pacing"]
