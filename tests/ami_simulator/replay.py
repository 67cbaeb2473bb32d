"""Serve the events of a recorded ``.raw`` capture to a client after login.

Only the ``Event:`` messages are replayed, in their recorded order and with
their recorded bytes.  ``rate`` limits events per second (0: as fast as the
socket takes them).  ``split_utf8`` writes every event that contains a
multi-byte UTF-8 character in two TCP segments cut *inside* that character,
with a drain and a pause between, to exercise clients that decode each read
on its own; the event stays whole on the wire (replies and other events
written meanwhile follow it, see ``Session.write_parts``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .protocol import split_stream


def load_events(path: str | Path) -> list[bytes]:
    _, msgs = split_stream(Path(path).read_bytes())
    return [m for m in msgs if m.startswith(b"Event:")]


def utf8_split_point(data: bytes) -> int | None:
    """Index inside the first multi-byte UTF-8 sequence, or None."""
    for i, byte in enumerate(data):
        if byte >= 0xC0:  # lead byte of a multi-byte sequence
            return i + 1
    return None


async def replay_to(
    session, events: list[bytes], rate: float = 0.0, split_utf8: bool = False, pause: float = 0.05
) -> int:
    sent = 0
    for data in events:
        if session.closed:
            break
        cut = utf8_split_point(data) if split_utf8 else None
        if cut:
            await session.write_parts([data[:cut], data[cut:]], pause)
        else:
            session.write(data)
        await session.writer.drain()
        sent += 1
        if rate:
            await asyncio.sleep(1.0 / rate)
    return sent
