"""What Asterisk sends a session: the ``Events`` class mask and the ``Filter``s.

* ``events``: ``"on"``, ``"off"`` or a list of event classes (``["call", "cdr"]``),
  sent as the ``Events`` header of ``Login`` (or later in an ``Events`` action):
  Asterisk then only queues those classes for this session.
* event names become, after login, ``Action: Filter / Operation: Add /
  Filter: Event: <name>``.  Asterisk runs the filter as an unanchored regex, so
  ``Event: Hangup`` also lets ``HangupRequest`` through: harmless, the client's
  ``wanted`` drops it cheaply.  AMI cannot remove a ``Filter`` from a session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable

from .action import AmiReply, Request
from .errors import AmiError


def event_mask(events: str | Iterable[str]) -> str:
    if isinstance(events, str):
        return events
    # An empty Events header means "leave the mask alone" (= all) to Asterisk.
    return ",".join(events) or "off"


class ServerFilters:
    """The ``Filter``s installed on the current session.

    A refused ``Filter`` (no ``system`` write permission, old server) is not
    fatal: events are then filtered client side, and :attr:`status` /
    :attr:`error` say so.
    """

    def __init__(self):
        self.installed: list[str] = []
        self.status = "none"  # none | installed | refused | partial
        self.error: str | None = None

    def reset(self):
        """A new session has no filters."""
        self.installed = []
        self.status, self.error = "none", None

    def missing(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n not in self.installed]

    async def add(self, request: Request, names: Iterable[str]) -> bool:
        """Install a filter per event name; False when one was refused."""
        names = list(dict.fromkeys(names))
        # Pipelined: one round trip for the whole list, not one per name.
        replies = await asyncio.gather(
            *(_add(request, f"Event: {n}") for n in names), return_exceptions=True
        )
        failed = None
        for name, reply in zip(names, replies, strict=True):
            if isinstance(reply, AmiReply) and reply.ok:
                self.installed.append(name)
            elif failed is None:
                failed = reply
        if failed is None:
            self.status = "installed"
            return True
        self.error = failed.message if isinstance(failed, AmiReply) else str(failed)
        if self.installed:
            # Some include filters are in, others not: the session would now
            # silently miss events.  One catch-all include undoes the filtering.
            self.status = "partial"
            with contextlib.suppress(AmiError):
                await _add(request, "Event: ")
        else:
            self.status = "refused"
        return False


def _add(request: Request, pattern: str) -> Awaitable[AmiReply]:
    return request({"Action": "Filter", "Operation": "Add", "Filter": pattern})
