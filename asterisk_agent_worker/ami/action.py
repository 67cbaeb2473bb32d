"""An action sent to Asterisk (:class:`AmiAction`) and its complete answer (:class:`AmiReply`).

Fixed compared with panoramisk's ``Action``:

* ``Originate``: the ``"successfully queued"`` reply completes the action.
  Through ``Manager.send_action`` panoramisk raises ``KeyError: 'async'`` inside
  ``data_received`` when the action has no ``Async`` key (asyncio then drops the
  connection), and with ``Async: true`` it holds the action until
  ``OriginateResponse``, which it swallows instead of dispatching.  Here
  ``OriginateResponse`` is a normal event.
* EventList actions complete on ``EventList: Complete`` (or a ``...Complete``
  event), whatever the action's name.
* Actions are always serialised in UTF-8 (panoramisk's protocol defaults to
  ASCII without its Manager, logs the encode error and leaves the future
  pending), CR/LF in values are replaced by spaces (no header injection), the
  secret / MD5 key are never logged or shown in ``repr``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Awaitable, Callable, Iterator

from panoramisk.actions import Action
from panoramisk.utils import CaseInsensitiveDict

from .errors import AmiInvalidAction
from .message import REDACTED, AmiMessage

_OK_RESPONSES = frozenset(("success", "follows", "goodbye"))
_SENSITIVE_KEYS = frozenset(("secret", "key"))


def action_ids(name: str | None) -> Iterator[str]:
    """The ActionIDs of one client: ``<name>-<random>-1``, ``-2``..."""
    prefix = f"{(name or 'ami').replace(' ', '_')}-{secrets.token_hex(3)}-"
    return (f"{prefix}{n}" for n in itertools.count(1))


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
        return {k: (REDACTED if k.lower() in _SENSITIVE_KEYS else v) for k, v in self.items()}

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


#: ``request(fields)``: sends one action on a session and returns its reply
Request = Callable[[dict], Awaitable[AmiReply]]
