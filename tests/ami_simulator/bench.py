"""Measure the load generator's steady rate while a client reads every byte.

``python -m tests.ami_simulator.bench 500 1000 2000`` offers each rate for a few
seconds (calls are capture j's ``Local/100@demo`` + ``Wait(1)``, time-scaled)
and prints calls/s, events/s and bytes per call actually delivered.  The rate
is steady while bytes/call stays ~9 KB; above the limit the event loop falls
behind and the client's backlog grows.
"""

from __future__ import annotations

import asyncio
import sys
import time

from .server import AmiSimulator


async def measure(rate: float, duration: float = 3.0, time_scale: float = 0.05) -> dict:
    sim = AmiSimulator(time_scale=time_scale)
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"Action: Login\r\nUsername: odoo\r\nSecret: odoo-secret\r\n\r\n")
    await writer.drain()
    total = {"bytes": 0, "events": 0}

    async def read():
        while chunk := await reader.read(1 << 20):
            total["bytes"] += len(chunk)
            total["events"] += chunk.count(b"Event: ")

    task = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    base = dict(total)
    t0 = time.monotonic()
    load = sim.start_load(rate, duration=duration, mix={"answered": 1.0})
    await asyncio.sleep(duration)
    await sim.wait_calls_done(30)
    await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    calls = load.started
    task.cancel()
    writer.close()
    await sim.shutdown()
    return {
        "offered": rate,
        "calls_per_s": calls / elapsed,
        "events_per_s": (total["events"] - base["events"]) / elapsed,
        "bytes_per_call": (total["bytes"] - base["bytes"]) / max(calls, 1),
        "events_per_call": (total["events"] - base["events"]) / max(calls, 1),
    }


def main(argv: list[str]) -> None:
    for rate in map(float, argv or ["500", "1000", "2000"]):
        r = asyncio.run(measure(rate))
        print(
            f"offered {r['offered']:.0f}/s: {r['calls_per_s']:.0f} calls/s, "
            f"{r['events_per_s']:.0f} events/s, {r['events_per_call']:.1f} events/call, "
            f"{r['bytes_per_call']:.0f} bytes/call",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
