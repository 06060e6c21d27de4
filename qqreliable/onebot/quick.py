"""Quick operations: a handler's returned dict becomes the event's answer (OneBot v11).

A quick operation (``reply``, ``at_sender``, ``delete``, ``kick``, ``ban``,
``approve`` …) is the spec's way to act on an event without an API call. Over
HTTP POST it is the body of the answer to the POST, so the answer has to wait
for the handler; over WebSocket it is applied with the hidden
``.handle_quick_operation`` action.

Only events that have a quick-operation handler ever wait, and at most
``timeout`` seconds (below go-cqhttp's 5 s webhook timeout, so it never
re-posts): every other event is answered 204 at once. A handler that is late
still counts: its operation is then applied with ``.handle_quick_operation``.
The handlers run on the handler pool, as internal jobs (never dropped).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..runtime.dispatcher import Dispatcher
from .events import Event

if TYPE_CHECKING:
    import concurrent.futures

__all__ = ["QuickOperations"]

log = logging.getLogger(__name__)

Operation = Dict[str, Any]


def _reraise(exc: BaseException) -> None:
    raise exc


class QuickOperations:
    """The quick-operation handlers of one bot. Thread-safe.

    Args:
        dispatcher: runs the handlers (and their errors go to its ``on_error`` hooks).
        apply: ``apply(event, operation)`` applies an operation over the API
            (WebSocket events, and HTTP POST answers that came too late).
        timeout: seconds an HTTP POST answer waits for the handlers.
    """

    def __init__(self, dispatcher: Dispatcher, apply: Callable[[Event, Operation], None], timeout: float) -> None:
        self._dispatcher = dispatcher
        self._apply = apply
        self.timeout = timeout
        self._lock = threading.Lock()
        self._handlers: Dict[str, List[Callable[[Event], Any]]] = {}
        #: Any handler registered: the reader skips quick operations altogether while False.
        self.registered = False
        self.timeouts = 0
        self.dropped = 0

    def add(self, name: str, handler: Callable[[Event], Any]) -> None:
        if not callable(handler):
            raise TypeError("a quick-operation handler must be callable")
        with self._lock:
            self._handlers.setdefault(name.strip("."), []).append(handler)
            self.registered = True

    def handlers_for(self, name: str) -> List[Callable[[Event], Any]]:
        """Most specific first, as for ordinary handlers."""
        if not self._handlers:  # the usual case: no lock taken on the reader thread
            return []
        parts = name.split(".") if name else []
        with self._lock:
            return [h for i in range(len(parts), 0, -1) for h in self._handlers.get(".".join(parts[:i]), ())]

    def answer(self, event: Event) -> Optional[Operation]:
        """HTTP POST: run the event's handlers and wait (at most ``timeout``) for the operation."""
        handlers = self.handlers_for(event.name)
        if not handlers or self._overloaded(event):
            return None
        import concurrent.futures  # here: only HTTP POST quick operations wait on a future

        future: concurrent.futures.Future[Optional[Operation]] = concurrent.futures.Future()
        self._dispatcher.submit_job(self._run, handlers, event, future)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            self.timeouts += 1
            future.cancel()  # the late result goes to apply() instead
            log.warning(
                "quick-operation handlers for %s took over %gs: answered 204; "
                "their result will be applied with .handle_quick_operation",
                event.name,
                self.timeout,
            )
            return None

    def schedule(self, event: Event) -> None:
        """WebSocket: run the event's handlers; their operation is applied over the API."""
        handlers = self.handlers_for(event.name)
        if handlers and not self._overloaded(event):
            self._dispatcher.submit_job(self._run, handlers, event, None)

    def _overloaded(self, event: Event) -> bool:
        """The handler queue is full: the quick operation is dropped like an event would be
        (internal jobs are otherwise never dropped, so a flood must not queue them unbounded)."""
        if self._dispatcher.queued < self._dispatcher.queue_size:
            return False
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning("handler queue full: quick operation for %s dropped (%d so far)", event.name, self.dropped)
        return True

    def _run(
        self,
        handlers: List[Callable[[Event], Any]],
        event: Event,
        future: "Optional[concurrent.futures.Future[Optional[Operation]]]",
    ) -> None:
        operation: Operation = {}
        for handler in handlers:
            try:
                value = handler(event)
            except Exception as exc:  # logged, counted and sent to on_error like any handler's
                self._dispatcher._guarded(_reraise, event, exc)
                continue
            if isinstance(value, Mapping):
                operation.update(value)
        if future is not None and future.set_running_or_notify_cancel():
            future.set_result(operation or None)
            return
        if operation:
            self._apply(event, operation)
