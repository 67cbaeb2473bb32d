"""The actions Odoo queues (``asterisk_common.action``), sent on the AMI.

Woken by the ``action`` NOTIFY, and every few seconds anyway (a NOTIFY lost
with a broken control connection must not strand an action). The queue rows
are claimed in one transaction; each action then runs on its own, and its
result is stored even when the database is restarting.
"""

import asyncio
import contextlib
import logging
import random

from .ami import AmiError
from .dispatch import RETRYABLE, is_db_down

_logger = logging.getLogger(__name__)

ACTION_POLL_INTERVAL = 5.0


def _why(reply):
    """What a failed reply says (Response: Error's Message)."""
    return reply.message or "Asterisk answered with an error."


class ActionRunner:
    """``orm(func)`` runs ``func(env)`` in a committed transaction off the loop;
    ``links()`` gives the led servers' :class:`~.link.ServerLink` by id."""

    def __init__(self, dbname, loop, *, orm, links):
        self.dbname = dbname
        self.loop = loop
        self.orm = orm
        self.links = links
        self._wakeup = asyncio.Event()

    def wake(self):
        self._wakeup.set()

    async def run(self):
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), ACTION_POLL_INTERVAL)
            self._wakeup.clear()
            if not self.links():
                continue
            try:
                await self._claim_and_run()
            except Exception as e:
                if not is_db_down(e):
                    _logger.exception("%s: processing actions failed", self.dbname)

    async def _claim_and_run(self):
        links = self.links()
        connected = [i for i, link in links.items() if link.client.connected]
        disconnected = [i for i in links if i not in connected]
        errors = {i: links[i].last_error or "not connected" for i in disconnected}

        def claim(env):
            return env["asterisk_common.action"]._worker_claim(connected, disconnected, errors)

        for row in await self.orm(claim):
            self.loop.create_task(self._execute(row))

    @staticmethod
    async def _send_prelude(link, row):
        """Send the row's prelude, pipelined (written in order before the
        first reply is awaited; Asterisk runs one session's actions in
        order): one round trip, not one each. The first failure, or None."""
        prelude = row.get("prelude") or []
        if not prelude:
            return None
        replies = await asyncio.gather(
            *(link.client.send_action(dict(m), timeout=row["timeout"] or None) for m in prelude)
        )
        for message, reply in zip(prelude, replies, strict=True):
            if not reply.ok:
                return f"{message.get('Action')}: {_why(reply)}"
        return None

    async def _execute(self, row):
        link = self.links().get(row["server_id"])
        action = dict(row["payload"], ActionID=row["action_uid"])
        state, reply, error = "done", None, None
        if link is None or not link.client.connected:
            state, error = "failed", "The server disconnected before the action was sent."
        else:
            try:
                error = await self._send_prelude(link, row)
                if error:
                    state = "failed"
                else:
                    result = await link.client.send_action(action, timeout=row["timeout"] or None)
                    reply = result.to_dict()
                    if not result.ok:
                        state, error = "failed", _why(result)
            except AmiError as e:
                state, error = "failed", f"{type(e).__name__}: {e}"

        def store(env):
            env["asterisk_common.action"].browse(row["id"])._worker_done(state, reply, error)

        for attempt in range(30):  # the database may be restarting
            try:
                await self.orm(store)
                return
            except RETRYABLE:
                # A handler updated the same row meanwhile (the OriginateResponse
                # of this very action): try again on a fresh snapshot.
                await asyncio.sleep(random.uniform(0.01, 0.1))
            except Exception as e:
                if not is_db_down(e) or attempt == 29:
                    _logger.exception(
                        "%s: could not store action %s's result", self.dbname, row["id"]
                    )
                    return
                await asyncio.sleep(1)
        _logger.error("%s: action %s's result not stored: kept colliding", self.dbname, row["id"])
