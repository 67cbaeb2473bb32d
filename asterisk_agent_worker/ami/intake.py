"""What becomes of what the protocol reads, for one client across its connections.

* ``wanted(name) -> bool``: the fast drop path.  The protocol reads the event
  name straight from the raw bytes and drops unwanted events without decoding
  or parsing them; the answer is cached per name (``None`` = everything wanted).
* wanted events go to ``on_event(message, received_monotonic)``; one that
  raises is counted and logged, and the reading goes on.
* counters (the client's health) and throttled warnings: a peer sending garbage
  must not flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .message import AmiMessage

_logger = logging.getLogger(__name__)

#: event names longer than this are not cached by the fast drop path: a peer
#: sending ever-new long names would otherwise fill the cache with megabytes
_NAME_CACHE_MAX = 128


class Intake:
    """The protocol's side of the client: it asks :attr:`cache` / :meth:`learn`
    whether an event is wanted, hands the wanted ones to :meth:`deliver` and
    reports what it read; the client reads the counters."""

    #: at most one malformed-frame / on_event error log line per this many seconds
    LOG_THROTTLE = 10.0
    _WANTED_CACHE_MAX = 10_000

    def __init__(
        self,
        name: str,
        wanted: Callable[[str], bool] | None = None,
        on_event: Callable[[AmiMessage, float], None] | None = None,
    ):
        self.name = name  # labels the log lines
        self.wanted = wanted
        self.on_event = on_event
        self.last_event_rx: float | None = None
        self.events_received = 0
        self.events_dropped_unwanted = 0
        self.events_delivered = 0
        self.malformed_frames = 0
        self.undecodable_frames = 0
        self.late_replies = 0
        self.on_event_errors = 0
        self._log_times: dict[str, float] = {}

    @property
    def wanted(self) -> Callable[[str], bool] | None:
        return self._wanted

    @wanted.setter
    def wanted(self, wanted: Callable[[str], bool] | None):
        self._wanted = wanted
        self.cache: dict[bytes, bool] | None = None if wanted is None else {}

    @property
    def last_event_at(self) -> float | None:
        """Epoch time when the last event (wanted or not) was read."""
        if self.last_event_rx is None:
            return None
        return time.time() - (time.monotonic() - self.last_event_rx)

    def learn(self, name: bytes) -> bool:
        """``wanted(name)`` for a name not in :attr:`cache` yet, then cached."""
        cache = self.cache
        if len(cache) >= self._WANTED_CACHE_MAX:
            cache.clear()
        try:
            want = bool(self._wanted(name.decode("utf-8", "replace")))
        except Exception:
            _logger.exception("%s: wanted() failed for %.100r; event kept", self.name, name)
            want = True
        if len(name) <= _NAME_CACHE_MAX:
            cache[name] = want
        return want

    def deliver(self, message: AmiMessage, received: float):
        callback = self.on_event
        if callback is None:
            return
        self.events_delivered += 1
        try:
            callback(message, received)
        except Exception:
            self.on_event_errors += 1
            if not self._throttled("on_event"):
                _logger.exception("%s: on_event failed on %.100s", self.name, message.name)

    def events_read(self, received: int, dropped: int, now: float):
        self.events_received += received
        self.events_dropped_unwanted += dropped
        self.last_event_rx = now

    def undecodable(self):
        self.undecodable_frames += 1

    def malformed(self, what: str):
        self.malformed_frames += 1
        if not self._throttled("malformed"):
            _logger.warning("%s: %s (%d so far)", self.name, what, self.malformed_frames)

    def late_reply(self, message: AmiMessage):
        # A reply to an action that timed out already, or not ours.
        self.late_replies += 1
        _logger.debug("%s: reply for no pending action: %r", self.name, message)

    def _throttled(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self._log_times.get(kind, -1e9) < self.LOG_THROTTLE:
            return True
        self._log_times[kind] = now
        return False
