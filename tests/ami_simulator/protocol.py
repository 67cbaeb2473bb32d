"""AMI wire format: message framing, parsing, event classes and filters.

Everything here mirrors what Asterisk 20's ``main/manager.c`` does on a TCP
manager session, so that clients are exercised against the same quirks:

* lines end with ``\\r\\n`` but a bare ``\\n`` is accepted too (``get_input``);
* a line longer than the 1024-byte input buffer is discarded and the message
  is answered with ``Failed to parse message: line too long``;
* at most 128 header lines per message, more gives ``Too many lines in message
  or allocation failure``;
* a blank line ends a message, even when it carried no header at all
  (that one is answered with ``Missing action in request``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
AMI_VERSION = "9.0.0"

# manager.c: char inbuf[1025], one byte is kept for the terminating NUL.
MAX_LINE = 1024
# manager.c: struct message { headers[AST_MAX_MANHEADERS] } with 128 slots.
MAX_HEADERS = 128

PARSE_OK = "ok"
PARSE_LINE_TOO_LONG = "line_too_long"
PARSE_TOO_MANY_HEADERS = "too_many_headers"


class Message:
    """An AMI message: an ordered list of ``(key, value)`` pairs.

    Keys are looked up case-insensitively and repeated keys are kept, exactly
    like ``astman_get_header`` / ``astman_get_variables`` see them.
    """

    __slots__ = ("pairs", "parse_error")

    def __init__(self, pairs: Iterable[tuple[str, str]] = (), parse_error: str = PARSE_OK):
        self.pairs: list[tuple[str, str]] = list(pairs)
        self.parse_error = parse_error

    @classmethod
    def from_lines(cls, lines: Iterable[str], parse_error: str = PARSE_OK) -> Message:
        pairs = []
        for line in lines:
            key, sep, value = line.partition(":")
            if not sep:
                # Asterisk keeps such a line as a header nobody will match.
                pairs.append((line, ""))
                continue
            # astman_get_header skips the blanks after the colon.
            pairs.append((key, value.lstrip(" \t")))
        return cls(pairs, parse_error)

    def get(self, key: str, default: str = "") -> str:
        """First value of ``key`` (case-insensitive), like ``astman_get_header``."""
        lkey = key.lower()
        for k, v in self.pairs:
            if k.lower() == lkey:
                return v
        return default

    def get_nonempty(self, key: str) -> str:
        """First non-empty value: ``GET_HEADER_SKIP_EMPTY``, used for ``Action``."""
        lkey = key.lower()
        for k, v in self.pairs:
            if k.lower() == lkey and v:
                return v
        return ""

    def getall(self, key: str) -> list[str]:
        lkey = key.lower()
        return [v for k, v in self.pairs if k.lower() == lkey]

    def __contains__(self, key: str) -> bool:
        lkey = key.lower()
        return any(k.lower() == lkey for k, _ in self.pairs)

    def as_dict(self) -> dict[str, str]:
        """First occurrence of every key; repeated keys are listed under ``key`` as a list."""
        out: dict = {}
        for k, v in self.pairs:
            if k in out:
                prev = out[k]
                out[k] = prev + [v] if isinstance(prev, list) else [prev, v]
            else:
                out[k] = v
        return out

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Message({self.pairs!r})"


def encode(pairs: Iterable[tuple[str, object]]) -> bytes:
    """Serialise ``(key, value)`` pairs as one AMI message (blank line included)."""
    parts = [f"{k}: {v}\r\n" for k, v in pairs]
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def normalize_pairs(event) -> list[tuple[str, str]]:
    """Accept a dict, a list of pairs or a :class:`Message`."""
    if isinstance(event, Message):
        return list(event.pairs)
    if isinstance(event, dict):
        out = []
        for k, v in event.items():
            if isinstance(v, (list, tuple)):
                out.extend((k, str(x)) for x in v)
            else:
                out.append((k, str(v)))
        return out
    return [(str(k), str(v)) for k, v in event]


class MessageParser:
    """Incremental parser with the semantics of manager.c ``get_input``/``do_message``.

    Feed raw bytes, iterate complete :class:`Message` objects.  Bytes are decoded
    as UTF-8 per *line* (never per read) so a multi-byte character split over
    two TCP segments survives; undecodable bytes become U+FFFD instead of
    killing the session.
    """

    def __init__(self, max_line: int = MAX_LINE, max_headers: int = MAX_HEADERS):
        self.max_line = max_line
        self.max_headers = max_headers
        self._buf = bytearray()
        self._lines: list[str] = []
        self._state = PARSE_OK
        self._hdr_loss = False

    @property
    def pending(self) -> bool:
        """True when a message has been started but not terminated."""
        return bool(self._lines or self._buf or self._state != PARSE_OK)

    def feed(self, data: bytes) -> Iterator[Message]:
        self._buf += data
        while True:
            # Asterisk only ever looks at a 1024-byte window of input.
            idx = self._buf.find(b"\n", 0, self.max_line)
            if idx < 0:
                if len(self._buf) < self.max_line:
                    return
                # No end of line in a full buffer: drop it but keep the last
                # byte, which may be the '\r' of a CRLF (manager.c get_input).
                del self._buf[: self.max_line - 1]
                self._state = PARSE_LINE_TOO_LONG
                continue
            raw = bytes(self._buf[:idx])
            del self._buf[: idx + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            # A NUL ends the line for the C string functions.
            raw = raw.split(b"\0", 1)[0]
            if not raw:
                yield self._finish()
                continue
            if len(self._lines) < self.max_headers:
                self._lines.append(raw.decode("utf-8", "replace"))
            else:
                self._hdr_loss = True

    def _finish(self) -> Message:
        state = self._state
        if self._hdr_loss:
            state = PARSE_TOO_MANY_HEADERS
        msg = Message.from_lines(self._lines, state)
        self._lines = []
        self._state = PARSE_OK
        self._hdr_loss = False
        return msg


# --- event classes (manager.c perms[]) ---------------------------------------

EVENT_FLAGS = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
ALL_EVENTS = 0x7FFFFFFF  # INT_MAX, the "all" entry
_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}


def privilege_string(category: int) -> str:
    """``authority_to_str``: every class whose bit is set, then ``all``."""
    labels = [name for name, bit in EVENT_FLAGS.items() if category & bit]
    labels.append("all")
    return ",".join(labels)


def strings_to_mask(value: str) -> int:
    """manager.c ``strings_to_mask``: -1 for empty, number, on/off, class list."""
    value = value.strip()
    if not value:
        return -1
    if value.isdigit():
        return int(value)
    low = value.lower()
    if low in _FALSE:
        return 0
    if low in _TRUE:
        return ALL_EVENTS
    mask = 0
    for item in low.split(","):
        item = item.strip()
        if item == "all":
            mask |= ALL_EVENTS
        elif item in EVENT_FLAGS:
            mask |= EVENT_FLAGS[item]
    return mask


def get_perm(value: str) -> int:
    """manager.c ``get_perm``: a manager.conf ``read``/``write`` line's classes.

    Items are compared whole, without trimming (``ast_instring``): ``"call, cdr"``
    gives ``call`` only, as in Asterisk.
    """
    items = (value or "").split(",")
    mask = 0
    for label, bit in [*EVENT_FLAGS.items(), ("all", ALL_EVENTS)]:
        if label in items:
            mask |= bit
    return mask


def user_authority_to_str(authority: int) -> str:
    """manager.c ``user_authority_to_str`` (``manager show user``'s perm lines)."""
    labels = [name for name, bit in EVENT_FLAGS.items() if authority & bit == bit]
    if authority & ALL_EVENTS == ALL_EVENTS:
        labels.append("all")
    return ",".join(labels) or "<none>"


def category_of_privilege(priv: str) -> int:
    """Bits of a ``Privilege:`` header value (used for replayed/emitted events)."""
    mask = 0
    for item in priv.lower().split(","):
        mask |= EVENT_FLAGS.get(item.strip(), 0)
    return mask


class EventFilter:
    """One legacy ``Filter``/``eventfilter`` entry.

    Asterisk runs the POSIX extended regex over the *whole* event text
    (``Event: X\\r\\nPrivilege: ...``), unanchored and with ``.`` matching
    newlines (no ``REG_NEWLINE``); a leading ``!`` makes it an exclude filter.
    """

    __slots__ = ("pattern", "exclude", "regex")

    def __init__(self, pattern: str):
        self.exclude = pattern.startswith("!")
        self.pattern = pattern[1:] if self.exclude else pattern
        self.regex = re.compile(self.pattern, re.DOTALL)

    def matches(self, text: str) -> bool:
        return self.regex.search(text) is not None

    def __repr__(self) -> str:  # pragma: no cover
        return f"EventFilter({'!' if self.exclude else ''}{self.pattern!r})"


def should_send(includes: list[EventFilter], excludes: list[EventFilter], text: str) -> bool:
    """manager.c ``should_send_event``."""
    if not includes and not excludes:
        return True
    if includes and not any(f.matches(text) for f in includes):
        return False
    return not any(f.matches(text) for f in excludes)


def split_stream(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a recorded AMI byte stream into (banner line, raw messages)."""
    banner, _, rest = data.partition(b"\r\n")
    msgs = [m + b"\r\n\r\n" for m in rest.split(b"\r\n\r\n") if m.strip()]
    return banner + b"\r\n", msgs


def parse_block(raw: bytes) -> Message:
    """Parse one raw message (as produced by :func:`split_stream`)."""
    lines = raw.decode("utf-8", "replace").split("\r\n")
    return Message.from_lines([ln for ln in lines if ln])
