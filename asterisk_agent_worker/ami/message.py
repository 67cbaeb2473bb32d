"""One AMI frame (the bytes between two blank lines) as a message.

The frame is split on bytes before it is decoded (see ``protocol``), so a UTF-8
character is never cut; undecodable bytes become U+FFFD and are counted.
"""

from __future__ import annotations

from panoramisk.message import Message

#: keys the protocol reads as one string: a frame repeating one is malformed
_SINGLE_KEYS = ("event", "response", "actionid")
_NO_ITEM = ("", "")
REDACTED = "<redacted>"
_HASHES = frozenset({"expectedresponse", "receivedhash"})


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
        for key in _HASHES.intersection(store):
            # ChallengeResponseFailed's ExpectedResponse: the MD5 answer to the
            # challenge from the real secret; InvalidPassword's ReceivedHash:
            # the caller's. Never kept, not even in an error's copy of the event.
            store[key] = (store[key][0], REDACTED)
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
