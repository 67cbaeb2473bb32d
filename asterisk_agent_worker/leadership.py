"""Which servers this process leads: one AMI consumer per server, cluster-wide.

The leadership of a server is its advisory lock on the control connection
(:mod:`.control`). A standby takes a free lock only after seeing it free at
two looks ``LOCK_FREE_GRACE`` apart: a leader that only lost its control
connection takes its locks back within milliseconds, and a standby taking a
lock at the first free look could win that race and run a second consumer
until the old leader noticed. A dead leader costs one look more.
"""

import asyncio
import logging
import time

import psycopg2

_logger = logging.getLogger(__name__)

LEADERSHIP_INTERVAL = 2.0
LOCK_FREE_GRACE = 1.0


class Leadership:
    """``lead(row)`` (coroutine) starts consuming a server whose lock was just
    taken; ``let_go(server_id)`` (coroutine) stops one whose lock another node
    won. ``servers()`` gives the active servers' rows by id, ``led()`` the ids
    this process leads."""

    def __init__(self, dbname, control, *, servers, led, lead, let_go):
        self.dbname = dbname
        self.control = control
        self.servers = servers
        self.led = led
        self.lead = lead
        self.let_go = let_go
        self._free_since = {}  # server id -> when its lock was first seen free

    def forget(self):
        """The control connection broke: what was seen through it is stale."""
        self._free_since.clear()

    async def reacquire(self):
        """After a new control connection: take our locks back at once.

        While the database was unreachable nobody could take them, so this
        process kept its AMI connections (and buffered the events). If
        another node won a lock meanwhile, that server is let go."""
        for server_id in list(self.led()):
            try:
                held = self.control.try_lock(server_id)
            except psycopg2.Error as e:
                self.control.failed(e)
                return
            if not held:
                await self.let_go(server_id)

    async def tick(self):
        """One look: lead the servers whose lock stayed free since the last one."""
        control = self.control
        if not control.up:
            return
        # A standby that just reconnected waits, so that the previous
        # holder, also reconnecting, gets its locks back first.
        if control.lost_at and time.monotonic() - control.lost_at < 3 * LEADERSHIP_INTERVAL:
            return
        try:
            held = control.held_locks()
            now = time.monotonic()
            for server_id, row in list(self.servers().items()):
                if server_id in self.led() or server_id in held:
                    self._free_since.pop(server_id, None)
                    continue
                first_seen = self._free_since.setdefault(server_id, now)
                if now - first_seen >= LOCK_FREE_GRACE and control.try_lock(server_id):
                    self._free_since.pop(server_id, None)
                    await self.lead(row)
        except psycopg2.Error as e:
            control.failed(e)

    async def run(self):
        while True:
            await asyncio.sleep(LEADERSHIP_INTERVAL)
            await self.tick()
