"""Load generator: N new calls per second of a realistic mix.

Each generated call is a real scenario (an async ``Originate`` of
``Local/100@demo`` with ``Wait(1)`` produces the 26 events / ~9 KB of capture
j), so the benchmark sees the same bytes a busy Asterisk would send.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random

from . import scenarios as sc

# (weight, scenario factory kwargs) -- mostly short answered calls, like j.
DEFAULT_MIX = {
    "answered": 0.7,
    "busy": 0.1,
    "noanswer": 0.1,
    "sip_call": 0.1,
}


class LoadGenerator:
    def __init__(
        self,
        sim,
        calls_per_second: float,
        duration: float | None = None,
        mix: dict[str, float] | None = None,
    ):
        self.sim = sim
        self.rate = float(calls_per_second)
        self.duration = duration
        self.mix = mix or DEFAULT_MIX
        self.started = 0
        self.task: asyncio.Task | None = None
        self._ids = itertools.count()
        self._rng = random.Random(42)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self.task and not self.task.done():
            self.task.cancel()

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def _one(self) -> None:
        names, weights = zip(*self.mix.items(), strict=False)
        name = self._rng.choices(names, weights)[0]
        n = next(self._ids)
        if name == "answered":
            # exactly the calls of capture j: Wait(1) on ;1 against ext 100
            call = sc.LocalOriginateCall(
                self.sim,
                "100",
                "demo",
                app="Wait",
                appdata="1",
                cid=(f"{7000 + n % 1000}", f"Load {n}"),
                action_id=f"load-{n}",
            )
            call.start()
        elif name in sc.SCENARIOS and name in ("busy", "noanswer", "long_call", "bridged_local"):
            self.sim.start_call(
                name, action_id=f"load-{n}", cid=(f"{7000 + n % 1000}", f"Load {n}")
            )
        else:
            self.sim.start_call(name)
        self.started += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        # the calls due within the duration, all started even when the loop
        # wakes up late at its end
        total = None if self.duration is None else math.ceil(self.duration * self.rate)
        while total is None or self.started < total:
            # Start as many calls as the schedule says by now: steady rate
            # even when the loop is late (the simulator is the bottleneck).
            due = int((loop.time() - t0) * self.rate) + 1
            if total is not None:
                due = min(due, total)
            while self.started < due:
                self._one()
            await asyncio.sleep(max(0.0, t0 + due / self.rate - loop.time()))
