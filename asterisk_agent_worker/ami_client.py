"""Hardened asyncio AMI client (Asterisk Manager Interface) built on panoramisk 1.4.

Pure asyncio + panoramisk + stdlib: nothing here imports Odoo, so the module is
testable alone and usable from a forked worker process.  One :class:`AmiClient`
per Asterisk server, all of them in the same event loop.

API
===

``AmiClient(host, port, username, secret, *, name=None, md5_login=True, ssl=None,
events="on", event_filters=None, wanted=None, on_event=None, on_connect=None,
on_disconnect=None, connect_timeout=5, action_timeout=10, ping_interval=5,
ping_timeout=5, backoff_initial=0.5, backoff_max=30, max_frame_size=4 MiB)``

* ``events``: ``"on"``, ``"off"`` or a list of event classes (``["call", "cdr"]``),
  sent as the ``Events`` header of ``Login``: Asterisk then only queues those
  classes for this session.
* ``event_filters``: event names; after login each one becomes
  ``Action: Filter / Operation: Add / Filter: Event: <name>``.  Asterisk runs
  the filter as an unanchored regex, so ``Event: Hangup`` also lets
  ``HangupRequest`` through: harmless, ``wanted`` drops it cheaply.  A refused
  ``Filter`` (no ``system`` write permission, old server) is not fatal: the
  reply is kept in :attr:`AmiClient.filter_status` / :attr:`AmiClient.filter_error`.
* ``wanted(name) -> bool``: the fast drop path.  The protocol reads the event
  name straight from the raw bytes and drops unwanted events without decoding
  or parsing them (the answer is cached per name; ``None`` = everything wanted).
  List items (``CoreShowChannel``...) answering one of *our* pending actions are
  never dropped.
* ``on_event(message, received_monotonic)``: sync, called in the loop for each
  wanted event that is not part of an action's reply; must be cheap.
  ``received_monotonic`` is :func:`time.monotonic` when the bytes were read.
* ``on_connect(client)``: coroutine, awaited after login + ``CoreSettings`` +
  filters, on every (re)connect; the place for a ``CoreShowChannels`` resync.
  Events keep flowing to ``on_event`` meanwhile.
* ``on_disconnect(client, reason)``: sync, when a logged-in session ends.

Methods:

* ``await start()``: starts the connect/reconnect task, returns at once.
* ``await stop()``: Logoff if connected, close, cancel; idempotent.
* ``await wait_connected(timeout)``: until logged in and ``on_connect`` done,
  else :class:`AmiTimeout`.
* ``await send_action(dict, timeout=None) -> AmiReply``: lists become repeated
  headers, ``None`` values are left out, CR/LF in values become spaces, an
  ``ActionID`` is generated unless given.
* ``update(**changes) -> set[str]``: reconfigure a running client; says what it
  does: ``"reconnect"`` (connection parameter changed, or a filter removed: AMI
  cannot remove a ``Filter`` from a session), ``"filters"`` (new filters added
  live), ``"events"`` (mask changed live with the ``Events`` action),
  ``"wanted"``.  Settings that need no live action just apply to the next
  connection.
* ``health() -> dict``: JSON-ready snapshot of the attributes below.
* ``async with AmiClient(...) as client:`` starts and stops it.

:class:`AmiReply`: ``.ok``, ``.message``, ``.action_id``, ``reply["Key"]`` /
``.get()`` on the response, ``.response`` (:class:`AmiMessage`), ``.events``
(EventList items, closing ``...Complete`` event included), ``.output``
(``Command`` lines), ``.to_dict()`` (JSON-ready, repeated keys as lists).
:class:`AmiMessage` is panoramisk's ``Message`` plus ``.name``, ``.is_event``,
``.getlist()``, ``.to_dict()``.

Errors, all :class:`AmiError`: :class:`AmiNotConnected` (nothing was sent),
:class:`AmiTimeout` (no complete reply in time; ``.partial`` holds what
arrived), :class:`AmiConnectionLost` (sent, then the connection dropped: the
outcome on the Asterisk side is unknown, do not blindly retry an Originate),
:class:`AmiInvalidAction` (no ``Action``, bad header name, ActionID already
pending).  An AMI-level error (``Response: Error``) is *not* an exception: it is
a reply with ``ok = False``, so the caller can store it like any other reply.

Health (plain attributes): ``connected``, ``connected_since`` /
``disconnected_since`` (epoch), ``last_error``, ``last_error_at``, ``banner``,
``ami_version``, ``asterisk_version``, ``filter_status`` (none / installed /
refused / partial), ``filter_error``, ``events_received``,
``events_dropped_unwanted``, ``events_delivered``, ``actions_sent``,
``actions_failed``, ``connect_attempts``, ``logins``, ``reconnects``,
``last_event_at`` (epoch), ``malformed_frames``, ``undecodable_frames``,
``late_replies``, ``on_event_errors``.

What is fixed compared with panoramisk's ``Manager``/``AMIProtocol``
====================================================================

* Framing on bytes: frames are split on ``b"\\r\\n\\r\\n"`` *before* decoding,
  so a UTF-8 character split across two reads is never lost (panoramisk
  decodes every read with ``errors="ignore"``); undecodable bytes become U+FFFD.
  Incomplete frames are buffered as a list of chunks (no quadratic
  re-concatenation), oversized ones are dropped and counted.
* ``Originate``: the ``"successfully queued"`` reply completes the action.
  Through ``Manager.send_action`` panoramisk raises ``KeyError: 'async'`` inside
  ``data_received`` when the action has no ``Async`` key (asyncio then drops the
  connection), and with ``Async: true`` it holds the action until
  ``OriginateResponse``, which it swallows instead of dispatching.  Here
  ``OriginateResponse`` is a normal event.
* Every action has a timeout; EventList actions complete on ``EventList:
  Complete`` (or a ``...Complete`` event), whatever the action's name.
* Ping watchdog: a Ping unanswered within ``ping_timeout`` while nothing else
  arrives closes the connection (panoramisk pings but never checks the answer).
  Banner and login have ``connect_timeout`` too.
* Reconnect with capped exponential backoff and jitter, never a hot loop.
  After an authentication failure the next attempt waits ``backoff_max``: each
  failure is a security event on the Asterisk side (fail2ban food).
* Actions in flight when the connection drops fail with
  :class:`AmiConnectionLost`; panoramisk *replays* them after reconnect, which
  could place an ``Originate`` twice.
* MD5 challenge login (the secret never crosses the wire), ``Events`` mask,
  ``Filter``s after every login, ``CoreSettings`` versions.
* Actions are always serialised in UTF-8 (panoramisk's protocol defaults to
  ASCII without its Manager, logs the encode error and leaves the future
  pending), CR/LF in values are replaced by spaces (no header injection), the
  secret / MD5 key are never logged or shown in ``repr``.  ``ExpectedResponse`` of
  ``ChallengeResponseFailed`` (an MD5 of someone's secret) is redacted.

Why not panoramisk's ``Manager`` itself: its reconnect (fixed delay, from
callbacks), login (no timeout), ping (no check) and action replay are exactly
the weak parts, so :class:`AmiClient` takes the Manager's role and keeps
panoramisk's wire objects: :class:`AmiProtocol` subclasses ``AMIProtocol``,
:class:`AmiMessage` subclasses ``Message`` (same case-insensitive access,
``.success``, ``.getdict()`` ...), :class:`AmiAction` subclasses ``Action``.

Cost (``tests/test_ami_client.py::test_bench_parse_and_dispatch_per_event`` on
the recorded 50-call burst): an unwanted event is dropped in about 1 us, a
wanted one is parsed and dispatched in about 6 us.

The client is not thread-safe: call it from its loop (``client.loop``), e.g.
with ``asyncio.run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message
from panoramisk.utils import CaseInsensitiveDict

_logger = logging.getLogger(__name__)

__all__ = [
    "AmiAction",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiInvalidAction",
    "AmiMessage",
    "AmiNotConnected",
    "AmiProtocol",
    "AmiReply",
    "AmiTimeout",
]

SEP = b"\r\n\r\n"
_EVENT = b"Event: "
_ACTIONID = b"\nActionID: "
_BANNER_MAX = 1024
#: event names longer than this are not cached by the fast drop path: a peer
#: sending ever-new long names would otherwise fill the cache with megabytes
_NAME_CACHE_MAX = 128
#: keys the protocol reads as one string: a frame repeating one is malformed
_SINGLE_KEYS = ("event", "response", "actionid")
_OK_RESPONSES = frozenset(("success", "follows", "goodbye"))
_SENSITIVE_KEYS = frozenset(("secret", "key"))
_REDACTED = "<redacted>"
_NO_ITEM = ("", "")


# --------------------------------------------------------------------------- errors


class AmiError(Exception):
    """Base class of the client's errors."""


class AmiNotConnected(AmiError):
    """No logged-in connection: the action was not sent."""


class AmiConnectionLost(AmiError):
    """The connection dropped after the action was sent: outcome unknown."""


class AmiInvalidAction(AmiError, ValueError):
    """The action cannot be sent as given (no ``Action``, bad header name, ActionID in use)."""


class AmiTimeout(AmiError, TimeoutError):
    """No complete reply in time.  ``partial`` is an :class:`AmiReply` of what arrived, or None."""

    def __init__(self, message, partial=None):
        super().__init__(message)
        self.partial = partial


class _AuthFailed(AmiError):
    """Login refused by Asterisk (internal: drives the backoff)."""


# --------------------------------------------------------------------------- messages


class AmiMessage(Message):
    """An AMI event or response: panoramisk's case-insensitive ``Message``, built fast.

    Repeated keys (``Output``, ``ChanVariable``) hold a list, as in panoramisk;
    :meth:`getlist` always returns a list.  A repeated ``Event``, ``Response``
    or ``ActionID`` makes the frame malformed (``from_frame`` returns None).
    Lines without ``key: value`` (the body of a legacy ``Response: Follows``)
    are kept in ``content``.
    """

    manager = None  # panoramisk sets it per instance; a class default is enough
    content = ""

    @classmethod
    def from_frame(cls, frame: bytes) -> tuple[AmiMessage | None, bool]:
        """Parse one frame (no blank line): ``(message or None, decoded_without_errors)``."""
        try:
            text = frame.decode("utf-8")
            clean = True
        except UnicodeDecodeError:
            text = frame.decode("utf-8", "replace")
            clean = False
        lines = text.split("\r\n")
        content = ""
        try:
            # Fast path, all in C: every line is "Key: value" and no key repeats.
            pairs = [line.split(": ", 1) for line in lines]
            store = {k.lower(): (k, v) for k, v in pairs}
            if len(store) != len(pairs):
                raise ValueError("repeated key")
        except ValueError:
            store, content = cls._parse_slow(lines)
            if any(isinstance(store.get(k, _NO_ITEM)[1], list) for k in _SINGLE_KEYS):
                return None, clean  # never sent by Asterisk; a list here breaks routing
        if "event" not in store and "response" not in store:
            return None, clean
        if "expectedresponse" in store:
            # ChallengeResponseFailed: the MD5 answer an attacker should have given.
            store["expectedresponse"] = (store["expectedresponse"][0], _REDACTED)
        msg = cls.__new__(cls)
        msg._store = store
        if content:
            msg.content = content
        return msg, clean

    @staticmethod
    def _parse_slow(lines: list[str]) -> tuple[dict, str]:
        store: dict = {}
        body = []
        for line in lines:
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":") and " " not in line:
                    key, value = line[:-1], ""
                else:
                    if line:
                        body.append(line)
                    continue
            lkey = key.lower()
            old = store.get(lkey)
            if old is None:
                store[lkey] = (key, value)
            elif isinstance(old[1], list):
                old[1].append(value)
            else:
                store[lkey] = (old[0], [old[1], value])  # first spelling kept
        return store, "\n".join(body)

    def __getattr__(self, attr):
        # panoramisk answers '' for any attribute; keep that for plain names but
        # not for dunders, or copy/pickle recurse forever.
        if attr.startswith("__") or attr == "_store":
            raise AttributeError(attr)
        return self.get(attr, "")

    def get(self, key, default=None):
        item = self._store.get(key.lower())
        return default if item is None else item[1]

    def getlist(self, key) -> list:
        value = self.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    @property
    def name(self) -> str:
        """Event name ('' for a response)."""
        return self.get("Event", "")

    @property
    def is_event(self) -> bool:
        return "event" in self._store

    def to_dict(self) -> dict:
        """JSON-serialisable: original key case, repeated keys as lists, body under ``content``."""
        out = {k: (list(v) if isinstance(v, list) else v) for k, v in self._store.values()}
        if self.content:
            out.setdefault("content", self.content)
        return out

    def __repr__(self):
        return f"<AmiMessage {self.to_dict()!r}>"


# --------------------------------------------------------------------------- actions


def _clean_value(value) -> str:
    value = str(value)
    if "\r" in value or "\n" in value:
        # A CR/LF in a value would end the header (or the whole action) early:
        # header injection.  Caller names, notes... are the usual culprits.
        value = value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return value


class AmiAction(Action):
    """An action being sent and the messages answering it.

    Completion (the rules panoramisk's ``Action.multi``/``completed`` get wrong):
    an error response completes; a response with ``EventList: start`` (or an
    old-style "... will follow") opens a list completed by an event carrying
    ``EventList: Complete``/``Cancelled`` or named ``...Complete``; any other
    response completes, including "Originate successfully queued".
    """

    def __init__(self, fields, action_id: str, loop: asyncio.AbstractEventLoop):
        # Not Action.__init__: it binds a Future to get_event_loop() and burns a
        # global id.  Insertion order is kept: "Action" first, as people expect.
        CaseInsensitiveDict.__init__(self, fields)
        if not self.get("Action"):
            raise AmiInvalidAction("an AMI action needs an 'Action' key")
        if not self.get("ActionID"):
            self["ActionID"] = action_id
        self.as_list = None
        self.responses: list[AmiMessage] = []
        self.future = loop.create_future()
        self.listing = False
        self.done = False

    @property
    def id(self):
        return self.get("ActionID")

    action_id = id

    @property
    def name(self) -> str:
        return str(self.get("Action"))

    @property
    def multi(self) -> bool:
        return self.listing

    @property
    def completed(self) -> bool:
        return self.done

    def add_message(self, message: AmiMessage) -> bool:
        """Record one message; True when the reply is complete."""
        self.responses.append(message)
        if message.is_event:
            status = str(message.get("EventList", "")).lower()
            if status in ("complete", "cancelled") or message.name.endswith("Complete"):
                self.done = True
        elif len(self.responses) == 1:
            response = str(message.get("Response", "")).lower()
            if response not in _OK_RESPONSES:
                self.done = True
            elif (
                str(message.get("EventList", "")).lower() == "start"
                or "will follow" in str(message.get("Message", "")).lower()
            ):
                self.listing = True
            else:
                self.done = True
        return self.done

    def encode(self) -> bytes:
        """Wire form: lists become repeated headers, ``None`` values are left out."""
        lines = []
        for key, value in self.items():
            if not key or any(c in key for c in ":\r\n"):
                raise AmiInvalidAction(f"invalid AMI header name {key!r}")
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                lines.extend(f"{key}: {_clean_value(v)}\r\n" for v in value)
            else:
                lines.append(f"{key}: {_clean_value(value)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("utf-8")

    def __str__(self):
        return self.encode().decode("utf-8")

    def redacted(self) -> dict:
        return {k: (_REDACTED if k.lower() in _SENSITIVE_KEYS else v) for k, v in self.items()}

    def __repr__(self):
        return f"<AmiAction {self.redacted()!r}>"


class AmiReply:
    """The complete answer to an action.

    ``response`` is the first message (``Response``/``Message``/``ActionID``...;
    ``reply["Message"]`` reads it), ``events`` the EventList items (the closing
    ``...Complete`` event included), ``output`` the ``Command`` output lines.
    """

    __slots__ = ("action", "response", "events")

    def __init__(self, action: str, response: AmiMessage | None, events: list[AmiMessage]):
        self.action = action
        self.response = response
        self.events = events

    @classmethod
    def from_action(cls, action: AmiAction) -> AmiReply:
        msgs = action.responses
        if msgs and not msgs[0].is_event:
            return cls(action.name, msgs[0], msgs[1:])
        return cls(action.name, None, list(msgs))

    @property
    def ok(self) -> bool:
        if self.response is None:
            return False
        return str(self.response.get("Response", "")).lower() in _OK_RESPONSES

    @property
    def message(self) -> str:
        return self.get("Message", "")

    @property
    def action_id(self) -> str:
        return self.get("ActionID", "")

    @property
    def output(self) -> list[str]:
        """``Command`` output: ``Output:`` lines (Asterisk >= 14) or a legacy ``Follows`` body."""
        if self.response is None:
            return []
        lines = self.response.getlist("Output")
        if not lines and self.response.content:
            lines = [ln for ln in self.response.content.split("\n") if ln != "--END COMMAND--"]
        return lines

    def get(self, key, default=None):
        return default if self.response is None else self.response.get(key, default)

    def __getitem__(self, key):
        if self.response is None:
            raise KeyError(key)
        return self.response[key]

    def __contains__(self, key):
        return self.response is not None and key in self.response

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "ok": self.ok,
            "response": self.response.to_dict() if self.response is not None else None,
            "events": [e.to_dict() for e in self.events],
        }

    def __repr__(self):
        return f"<AmiReply {self.action} ok={self.ok} {self.message!r} events={len(self.events)}>"


# --------------------------------------------------------------------------- protocol


class AmiProtocol(AMIProtocol):
    """Byte-level framing with a fast drop path for unwanted events.

    ``client`` is duck-typed (an :class:`AmiClient`): the protocol reads
    ``client._wanted_cache``/``client._learn_wanted`` and calls
    ``client._deliver(message, received_monotonic)``, and adds its per-read
    counters to the client's.
    """

    def __init__(self, client: AmiClient, max_frame_size: int = 4 << 20):
        self.client = client
        self.max_frame_size = max_frame_size

    def connection_made(self, transport):
        super().connection_made(transport)
        self.factory = self.client  # panoramisk's name for the owner
        self.log = _logger
        loop = asyncio.get_running_loop()
        self.banner = None
        self.banner_future = loop.create_future()
        self.closed_future = loop.create_future()
        self.close_reason = None
        self.close_is_error = False
        self.last_rx = time.monotonic()
        self.bytes_received = 0
        self._head = b""  # bytes read before the banner line is complete
        self._parts: list[bytes] = []  # chunks of the incomplete frame
        self._parts_len = 0
        self._discarding = False
        self._tail = b""

    # -- receiving ------------------------------------------------------------

    def data_received(self, data: bytes):
        now = time.monotonic()
        self.last_rx = now
        self.bytes_received += len(data)
        if self.banner is None:
            data = self._read_banner(data)
            if not data:
                return
        if self._discarding:  # skipping the rest of an oversized frame
            data = self._discard(data)
            if not data:
                return
        parts = self._parts
        if parts:
            # Most reads of a big frame have no separator: just queue them.  The
            # separator may straddle earlier reads, hence the 3-byte tail probe.
            tail = self._tail
            if SEP not in data and SEP not in tail + data[:3]:
                parts.append(data)
                self._parts_len += len(data)
                self._tail = data[-3:] if len(data) >= 3 else (tail + data)[-3:]
                if self._parts_len > self.max_frame_size:
                    self._oversized()
                return
            parts.append(data)
            data = b"".join(parts)
            parts.clear()
        frames = data.split(SEP)
        rest = frames.pop()
        if rest:
            parts.append(rest)
            self._parts_len = len(rest)
            self._tail = rest[-3:]

        client = self.client
        cache = client._wanted_cache
        pending = self.responses
        received = dropped = 0
        for frame in frames:
            if frame.startswith(_EVENT):
                received += 1
                if cache is not None:
                    end = frame.find(b"\r", 7)
                    name = frame[7:end] if end > 0 else frame[7:]
                    want = cache.get(name)
                    if want is None:
                        want = client._learn_wanted(name)
                    if not want and not (pending and self._for_pending(frame)):
                        dropped += 1
                        continue
            elif not frame or frame.startswith(b"\r\n"):
                frame = frame.lstrip(b"\r\n")  # stray blank lines
                if not frame:
                    continue
                if frame.startswith(_EVENT):
                    received += 1
            self._handle_frame(frame, now)
        if received:
            client.events_received += received
            client.events_dropped_unwanted += dropped
            client._last_event_rx = now
        if rest and self._parts_len > self.max_frame_size:
            self._oversized()

    def _read_banner(self, data: bytes) -> bytes:
        """Consume the ``Asterisk Call Manager/x.y.z`` line; return the bytes after it."""
        data = self._head + data
        line, sep, rest = data.partition(b"\r\n")
        if len(line) > _BANNER_MAX:
            self._head = b""
            self.close(f"no AMI banner (first line over {_BANNER_MAX} bytes)", error=True)
            return b""
        if not sep:
            self._head = data
            return b""
        self._head = b""
        banner = line.decode("utf-8", "replace").strip()
        if ": " in banner:  # no banner at all: it is the first header of a frame
            banner, rest = "", data
        self.banner = banner
        self.version = banner.partition("/")[2] or None  # panoramisk's attribute
        if not self.banner_future.done():
            self.banner_future.set_result(banner)
        return rest

    def _for_pending(self, frame: bytes) -> bool:
        """Does this (unwanted) event carry the ActionID of a pending action?"""
        i = frame.find(_ACTIONID)
        if i < 0:
            return False
        i += len(_ACTIONID)
        j = frame.find(b"\r", i)
        action_id = (frame[i:j] if j >= 0 else frame[i:]).decode("utf-8", "replace")
        return action_id in self.responses

    def _oversized(self):
        client = self.client
        client.malformed_frames += 1
        client._log_malformed(f"frame larger than {self.max_frame_size} bytes dropped")
        self._parts.clear()
        self._parts_len = 0
        self._discarding = True

    def _discard(self, data: bytes) -> bytes:
        probe = self._tail + data
        i = probe.find(SEP)
        if i < 0:
            self._tail = probe[-3:]
            return b""
        self._discarding = False
        self._tail = b""
        return probe[i + 4 :]

    def _handle_frame(self, frame: bytes, now: float):
        client = self.client
        msg, clean = AmiMessage.from_frame(frame)
        if not clean:
            client.undecodable_frames += 1
        if msg is None:
            client.malformed_frames += 1
            client._log_malformed(f"not an AMI message: {frame[:120]!r}")
            return
        action_id = msg.get("ActionID")
        action = self.responses.get(action_id) if action_id else None
        if action is not None:
            if action.add_message(msg):
                del self.responses[action_id]
                if not action.future.done():
                    action.future.set_result(AmiReply.from_action(action))
        elif msg.is_event:
            client._deliver(msg, now)
        else:
            # A reply to an action that timed out already, or not ours.
            client.late_replies += 1
            _logger.debug("%s: reply for no pending action: %r", client.name, msg)

    # -- sending --------------------------------------------------------------

    def send(self, data, as_list=False):
        """panoramisk's API: send a dict/action, return the future of its :class:`AmiReply`."""
        action = data if isinstance(data, AmiAction) else self.client._new_action(data)
        return self.request(action).future

    def request(self, action: AmiAction) -> AmiAction:
        """Register ``action`` as pending and write it."""
        if self.closed or self.transport.is_closing():
            raise AmiNotConnected(f"{self.client.name}: connection closing")
        action_id = action.id
        if action_id in self.responses:
            raise AmiInvalidAction(f"ActionID {action_id!r} is already pending")
        payload = action.encode()
        self.responses[action_id] = action
        self.transport.write(payload)
        return action

    def forget(self, action: AmiAction):
        if self.responses.get(action.id) is action:
            del self.responses[action.id]

    # -- closing --------------------------------------------------------------

    def close(self, reason: str = "closed by client", abort: bool = False, error: bool = False):
        """Close the connection; ``abort`` drops unsent data (dead peer); ``error``:
        the reason is a fault worth reporting as ``last_error``."""
        if self.close_reason is None:
            self.close_reason = reason
            self.close_is_error = error
        if not self.closed:
            self.closed = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def connection_lost(self, exc):
        # panoramisk re-queues pending actions for replay after reconnect; an
        # Originate replayed is a second call, so fail them instead.
        self.closed = True
        if self.close_reason is None:
            self.close_reason = f"connection lost: {exc}" if exc else "connection closed by peer"
            self.close_is_error = True
        reason = self.close_reason
        pending, self.responses = self.responses, {}
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(AmiConnectionLost(f"{action.name}: {reason}"))
        if not self.banner_future.done():
            self.banner_future.set_result(None)
        if not self.closed_future.done():
            self.closed_future.set_result(reason)


# --------------------------------------------------------------------------- client


class AmiClient:
    """One supervised AMI connection; see the module docstring."""

    #: a session that lasted this long resets the backoff
    STABLE_SESSION = 10.0
    #: at most one malformed-frame / on_event error log line per this many seconds
    LOG_THROTTLE = 10.0
    _WANTED_CACHE_MAX = 10_000

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        name: str | None = None,
        md5_login: bool = True,
        ssl=None,
        events: str | Iterable[str] = "on",
        event_filters: Iterable[str] | None = None,
        wanted: Callable[[str], bool] | None = None,
        on_event: Callable[[AmiMessage, float], None] | None = None,
        on_connect: Callable[[AmiClient], object] | None = None,
        on_disconnect: Callable[[AmiClient, str], None] | None = None,
        connect_timeout: float = 5,
        action_timeout: float = 10,
        ping_interval: float = 5,
        ping_timeout: float = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30,
        max_frame_size: int = 4 << 20,
    ):
        self.host = host
        self.port = int(port)
        self.username = username
        self.secret = secret
        self.name = name or f"{host}:{port}"
        self.md5_login = md5_login
        self.ssl = ssl
        self.events = events
        self.event_filters = list(event_filters) if event_filters else []
        self.wanted = wanted
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_frame_size = max_frame_size

        self.loop: asyncio.AbstractEventLoop | None = None
        self._protocol: AmiProtocol | None = None
        self._task: asyncio.Task | None = None
        # created in start(): an asyncio.Event binds to the loop that first waits on it
        self._ready: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._last_event_rx: float | None = None
        self._stopping = False
        self._skip_backoff = False
        self._logged_in = False
        self._installed_filters: list[str] = []
        self._ids = itertools.count(1)
        self._id_prefix = f"{(name or 'ami').replace(' ', '_')}-{secrets.token_hex(3)}-"
        self._wanted_cache: dict[bytes, bool] | None = None
        self._set_wanted(wanted)
        self._log_times: dict[str, float] = {}
        self._background: set[asyncio.Task] = set()  # strong refs: the loop keeps weak ones

        # health
        self.connected_since: float | None = None
        self.disconnected_since: float | None = time.time()
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.banner: str | None = None
        self.ami_version: str | None = None
        self.asterisk_version: str | None = None
        self.filter_status = "none"  # none | installed | refused | partial
        self.filter_error: str | None = None
        self.events_received = 0
        self.events_dropped_unwanted = 0
        self.events_delivered = 0
        self.actions_sent = 0
        self.actions_failed = 0
        self.connect_attempts = 0
        self.logins = 0
        self.malformed_frames = 0
        self.undecodable_frames = 0
        self.late_replies = 0
        self.on_event_errors = 0

    def __repr__(self):
        state = "connected" if self.connected else "disconnected"
        return f"<AmiClient {self.name} {self.username}@{self.host}:{self.port} {state}>"

    # -- health ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Logged in on a live connection."""
        return self._logged_in and self._protocol is not None and not self._protocol.closed

    @property
    def reconnects(self) -> int:
        """Successful logins after the first one."""
        return max(0, self.logins - 1)

    @property
    def last_event_at(self) -> float | None:
        """Epoch time when the last event (wanted or not) was read."""
        if self._last_event_rx is None:
            return None
        return time.time() - (time.monotonic() - self._last_event_rx)

    def health(self) -> dict:
        """JSON-serialisable snapshot for the worker's status row."""
        keys = (
            "name", "host", "port", "connected", "connected_since", "disconnected_since",
            "last_error", "last_error_at",
            "banner", "ami_version", "asterisk_version", "filter_status", "filter_error",
            "events_received", "events_dropped_unwanted", "events_delivered", "actions_sent",
            "actions_failed", "connect_attempts", "reconnects", "last_event_at",
            "malformed_frames", "undecodable_frames", "late_replies", "on_event_errors",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def _set_error(self, message: str):
        self.last_error = message
        self.last_error_at = time.time()

    def _throttled(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self._log_times.get(kind, -1e9) < self.LOG_THROTTLE:
            return True
        self._log_times[kind] = now
        return False

    def _log_malformed(self, what: str):
        if not self._throttled("malformed"):
            _logger.warning("%s: %s (%d so far)", self.name, what, self.malformed_frames)

    # -- event path -----------------------------------------------------------

    def _set_wanted(self, wanted):
        self.wanted = wanted
        self._wanted_cache = None if wanted is None else {}

    def _learn_wanted(self, name: bytes) -> bool:
        cache = self._wanted_cache
        if len(cache) >= self._WANTED_CACHE_MAX:
            cache.clear()
        try:
            want = bool(self.wanted(name.decode("utf-8", "replace")))
        except Exception:
            _logger.exception("%s: wanted() failed for %.100r; event kept", self.name, name)
            want = True
        if len(name) <= _NAME_CACHE_MAX:
            cache[name] = want
        return want

    def _deliver(self, message: AmiMessage, received: float):
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

    # -- lifecycle ------------------------------------------------------------

    async def start(self):
        """Start connecting in the background (returns at once)."""
        if self._task is not None and not self._task.done():
            return
        self.loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task = self.loop.create_task(self._run(), name=f"ami:{self.name}")

    async def stop(self):
        """Logoff if connected, close, cancel the background task.  Idempotent."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        proto = self._protocol
        if proto is not None and proto.close_reason is None:
            proto.close_reason = "client stopped"  # Asterisk closes first after Logoff
        if self.connected:
            with contextlib.suppress(AmiError):
                await self._request(proto, {"Action": "Logoff"}, min(1.0, self.action_timeout))
        if proto is not None:
            proto.close("client stopped")
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    async def wait_connected(self, timeout: float):
        """Wait until logged in and ``on_connect`` has run; AmiTimeout otherwise."""
        if self._ready is None:
            raise AmiNotConnected(f"{self.name}: not started")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(
                f"{self.name}: not connected after {timeout}s (last error: {self.last_error})"
            ) from None

    def _backoff_delay(self, attempt: int) -> float:
        # "Equal jitter": at least half the step (never a hot loop), spread so
        # that many workers do not reconnect in step after an Asterisk restart.
        step = min(self.backoff_max, self.backoff_initial * (2 ** min(attempt, 32)))
        return random.uniform(step / 2, step)

    async def _run(self):
        attempt = 0
        while not self._stopping:
            self.connect_attempts += 1
            started, logins = time.monotonic(), self.logins
            auth_failed = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, AmiError) as exc:
                auth_failed = isinstance(exc, _AuthFailed)
                error = str(exc) or exc.__class__.__name__
                # One warning per new kind of failure, not one per retry of a long outage.
                level = logging.DEBUG if error == self.last_error else logging.WARNING
                self._set_error(error)
                _logger.log(level, "%s: connection failed: %s", self.name, error)
            except Exception as exc:  # a bug, but the supervisor must survive it
                self._set_error(f"{exc.__class__.__name__}: {exc}")
                _logger.exception("%s: unexpected error in the AMI session", self.name)
            if self._stopping:
                break
            if self._skip_backoff:  # update() changed the connection parameters
                self._skip_backoff = False
                attempt = 0
                continue
            if self.logins > logins and time.monotonic() - started >= self.STABLE_SESSION:
                attempt = 0
            if auth_failed:
                attempt = max(attempt, 64)  # straight to backoff_max
            delay = self._backoff_delay(attempt)
            attempt += 1
            _logger.info("%s: reconnecting in %.2fs", self.name, delay)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)
            if self._skip_backoff:
                self._skip_backoff = False
                attempt = 0

    async def _session(self):
        """One connection: connect, banner, login, setup, then wait until it ends."""
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: AmiProtocol(self, self.max_frame_size),
                    self.host,
                    self.port,
                    ssl=self.ssl or None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise AmiTimeout(f"TCP connect to {self.host}:{self.port} timed out") from None
        self._protocol = proto
        if self._skip_backoff:  # update() ran while connecting: those were old settings
            proto.close("settings changed")
            return
        watchdog = hook = None
        try:
            try:
                await asyncio.wait_for(asyncio.shield(proto.banner_future), self.connect_timeout)
            except TimeoutError:
                raise AmiTimeout("no AMI banner (peer silent)") from None
            if proto.banner is None:
                raise AmiConnectionLost(f"before the banner: {proto.close_reason}")
            self.banner = proto.banner
            await self._login(proto)
            self._logged_in = True
            self.logins += 1
            self.connected_since, self.disconnected_since = time.time(), None
            _logger.info("%s: logged in (%s)", self.name, self.banner)
            watchdog = loop.create_task(self._watchdog(proto), name=f"ami-ping:{self.name}")
            await self._after_login(proto)
            if self.on_connect is not None:
                hook = loop.create_task(self._run_on_connect(), name=f"ami-on-connect:{self.name}")
                await asyncio.wait({hook, proto.closed_future}, return_when=asyncio.FIRST_COMPLETED)
            if not proto.closed:
                self._ready.set()
            reason = await proto.closed_future
            if proto.close_is_error:
                self._set_error(reason)
        finally:
            self._ready.clear()
            for task in (hook, watchdog):
                if task is not None and not task.done():
                    task.cancel()
            proto.close("session ended")
            was_logged_in, self._logged_in = self._logged_in, False
            if was_logged_in:
                self.connected_since, self.disconnected_since = None, time.time()
                reason = proto.close_reason or "closed"
                level = logging.WARNING if proto.close_is_error else logging.INFO
                _logger.log(level, "%s: disconnected: %s", self.name, reason)
                if self.on_disconnect is not None:
                    try:
                        self.on_disconnect(self, reason)
                    except Exception:
                        _logger.exception("%s: on_disconnect failed", self.name)

    def _event_mask(self) -> str:
        if isinstance(self.events, str):
            return self.events
        # An empty Events header means "leave the mask alone" (= all) to Asterisk.
        return ",".join(self.events) or "off"

    async def _login(self, proto: AmiProtocol):
        events = self._event_mask()
        timeout = self.connect_timeout
        if self.md5_login:
            challenge = await self._request(
                proto, {"Action": "Challenge", "AuthType": "MD5"}, timeout
            )
            if not challenge.ok or not challenge.get("Challenge"):
                raise _AuthFailed(challenge.message or "MD5 challenge refused")
            # MD5 is what AMI mandates; usedforsecurity=False keeps FIPS builds working.
            key = hashlib.md5(
                (challenge.get("Challenge") + self.secret).encode(), usedforsecurity=False
            ).hexdigest()
            login = {"Action": "Login", "AuthType": "MD5", "Username": self.username, "Key": key}
        else:
            login = {"Action": "Login", "Username": self.username, "Secret": self.secret}
        login["Events"] = events
        reply = await self._request(proto, login, timeout)
        if not reply.ok:
            raise _AuthFailed(reply.message or "Authentication failed")

    async def _after_login(self, proto: AmiProtocol):
        try:
            settings = await self._request(proto, {"Action": "CoreSettings"}, self.action_timeout)
            if settings.ok:
                self.ami_version = settings.get("AMIversion") or proto.version
                self.asterisk_version = settings.get("AsteriskVersion")
            else:
                _logger.warning("%s: CoreSettings refused: %s", self.name, settings.message)
        except AmiTimeout:
            _logger.warning("%s: CoreSettings timed out", self.name)
        if self.ami_version is None:
            self.ami_version = proto.version
        self._installed_filters = []
        self.filter_status, self.filter_error = "none", None
        if self.event_filters:
            await self._add_filters(proto, self.event_filters)

    def _filter_action(self, proto: AmiProtocol, pattern: str):
        action = {"Action": "Filter", "Operation": "Add", "Filter": pattern}
        return self._request(proto, action, self.action_timeout)

    async def _add_filters(self, proto: AmiProtocol, names: Iterable[str]):
        names = list(dict.fromkeys(names))
        # Pipelined: one round trip for the whole list, not one per name.
        replies = await asyncio.gather(
            *(self._filter_action(proto, f"Event: {n}") for n in names), return_exceptions=True
        )
        failed = None
        for name, reply in zip(names, replies, strict=True):
            if isinstance(reply, AmiReply) and reply.ok:
                self._installed_filters.append(name)
            elif failed is None:
                failed = reply
        if failed is None:
            self.filter_status = "installed"
            return
        self.filter_error = failed.message if isinstance(failed, AmiReply) else str(failed)
        if self._installed_filters:
            # Some include filters are in, others not: the session would now
            # silently miss events.  One catch-all include undoes the filtering.
            self.filter_status = "partial"
            with contextlib.suppress(AmiError):
                await self._filter_action(proto, "Event: ")
        else:
            self.filter_status = "refused"
        _logger.warning("%s: AMI Filter %s: %s (events are filtered client side)",
                        self.name, self.filter_status, self.filter_error)  # fmt: skip

    async def _run_on_connect(self):
        try:
            await self.on_connect(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._set_error(f"on_connect failed: {exc}")
            _logger.exception("%s: on_connect failed", self.name)

    async def _watchdog(self, proto: AmiProtocol):
        """Ping every ``ping_interval``.  Dead = no answer within ``ping_timeout``
        and not a byte received meanwhile (a reply stuck behind an event burst is
        not death), or no answer at all within 3 x ``ping_timeout``."""
        loop = asyncio.get_running_loop()
        while not proto.closed:
            await asyncio.sleep(self.ping_interval)
            sent = loop.time()
            try:
                action = proto.request(self._new_action({"Action": "Ping"}))
            except AmiNotConnected:
                return
            try:
                while True:
                    done, _ = await asyncio.wait({action.future}, timeout=self.ping_timeout)
                    if done:
                        if action.future.exception() is not None:  # connection lost
                            return
                        break
                    now = loop.time()
                    waited = now - sent
                    if now - proto.last_rx >= self.ping_timeout or waited >= 3 * self.ping_timeout:
                        _logger.warning("%s: Ping unanswered for %.1fs: dead", self.name, waited)
                        reason = f"Ping unanswered for {waited:.1f}s"
                        proto.close(reason, abort=True, error=True)
                        return
            finally:
                proto.forget(action)

    # -- actions --------------------------------------------------------------

    def _new_action(self, fields) -> AmiAction:
        loop = self.loop or asyncio.get_running_loop()
        return AmiAction(fields, f"{self._id_prefix}{next(self._ids)}", loop)

    async def _request(self, proto: AmiProtocol, fields, timeout: float) -> AmiReply:
        action = fields if isinstance(fields, AmiAction) else self._new_action(fields)
        proto.request(action)
        try:
            return await asyncio.wait_for(action.future, timeout)
        except TimeoutError:
            partial = AmiReply.from_action(action) if action.responses else None
            message = f"{action.name}: no complete reply within {timeout}s"
            raise AmiTimeout(message, partial) from None
        finally:
            proto.forget(action)

    async def send_action(self, action: dict, timeout: float | None = None) -> AmiReply:
        """Send ``action`` and return its complete reply (EventList items included).

        ``Response: Error`` is a reply with ``ok = False``.  Raises
        :class:`AmiNotConnected` at once when not logged in, :class:`AmiTimeout`
        after ``timeout`` (default ``action_timeout``), :class:`AmiConnectionLost`.
        A missing ``ActionID`` is generated; CR/LF in values become spaces.
        """
        proto = self._protocol
        if not self.connected:
            self.actions_failed += 1
            raise AmiNotConnected(f"{self.name}: not connected (last error: {self.last_error})")
        self.actions_sent += 1
        try:
            action = self._new_action(action)
            reply = await self._request(proto, action, timeout or self.action_timeout)
        except AmiError:
            self.actions_failed += 1
            raise
        if not reply.ok:
            self.actions_failed += 1
        return reply

    # -- reconfiguration ------------------------------------------------------

    _CONNECTION_KEYS = ("host", "port", "username", "secret", "md5_login", "ssl")
    _UPDATABLE = (
        *_CONNECTION_KEYS, "events", "event_filters", "wanted", "name", "on_event", "on_connect",
        "on_disconnect", "connect_timeout", "action_timeout", "ping_interval", "ping_timeout",
        "backoff_initial", "backoff_max",
    )  # fmt: skip

    def update(self, **changes) -> set[str]:
        """Apply new settings to a running client.  Returns what it does about them:

        ``"reconnect"`` when a connection parameter changed or a filter must go
        (AMI cannot remove a ``Filter`` from a session), ``"filters"`` when only
        new filters are added live, ``"events"`` when the event mask is changed
        live (``Events`` action), ``"wanted"`` when the drop predicate changed.
        """
        unknown = set(changes) - set(self._UPDATABLE)
        if unknown:
            raise TypeError(f"update() got unknown settings: {sorted(unknown)}")
        if "port" in changes:
            changes["port"] = int(changes["port"])
        if "event_filters" in changes:
            changes["event_filters"] = list(changes["event_filters"] or [])
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        old_filters = self.event_filters
        for key, value in changed.items():
            if key == "wanted":
                self._set_wanted(value)
            else:
                setattr(self, key, value)
        done = set()
        if "wanted" in changed:
            done.add("wanted")
        live = self.connected
        if any(k in changed for k in self._CONNECTION_KEYS):
            done.add("reconnect")
        elif "event_filters" in changed and live:
            # Without a live session the next login installs the new list anyway.
            if set(old_filters) - set(self.event_filters):
                done.add("reconnect")
            else:
                added = [n for n in self.event_filters if n not in self._installed_filters]
                if added:
                    done.add("filters")
                    self._spawn(self._live_filters(added))
        if "events" in changed and live and "reconnect" not in done:
            done.add("events")
            self._spawn(self._live_events())
        if "reconnect" in done and self._task is not None and not self._task.done():
            self._reconnect_now("settings changed")
        return done

    def _spawn(self, coro):
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reconnect_now(self, reason: str):
        self._skip_backoff = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._protocol is not None:
            self._protocol.close(reason)

    async def _live_filters(self, names):
        proto = self._protocol
        if proto is not None and self.connected:
            try:
                await self._add_filters(proto, names)
            except AmiError as exc:
                _logger.warning("%s: adding filters failed: %s", self.name, exc)

    async def _live_events(self):
        proto = self._protocol
        if proto is None or not self.connected:
            return
        action = {"Action": "Events", "EventMask": self._event_mask()}
        try:
            reply = await self._request(proto, action, self.action_timeout)
            if not reply.ok:
                _logger.warning("%s: Events refused: %s", self.name, reply.message)
        except AmiError as exc:
            _logger.warning("%s: Events failed: %s", self.name, exc)
