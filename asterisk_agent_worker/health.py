"""The health the server form shows: state, counters, latency, map errors.

Written every few seconds by the leader of each server (the ``leader`` field
says which node), and once more when it lets a server go.
"""

import logging
from datetime import UTC, datetime

from odoo import fields

from .dispatch import is_db_down

_logger = logging.getLogger(__name__)

HEALTH_INTERVAL = 3.0


class HealthReporter:
    """``links()`` gives the led servers' :class:`~.link.ServerLink` by id,
    ``entries()`` the compiled events map's entries (their condition errors
    are reported, then counted again from zero)."""

    def __init__(self, dbname, node, dispatcher, *, orm, links, entries):
        self.dbname = dbname
        self.node = node
        self.dispatcher = dispatcher
        self.orm = orm
        self.links = links
        self.entries = entries

    async def report(self):
        """Write every led server's health; a database down is not worth a traceback."""
        try:
            await self.write()
        except Exception as e:
            if not is_db_down(e):
                _logger.exception("%s: health report failed", self.dbname)

    def values(self, link, latency):
        """The server's health row; ``latency`` is the dispatcher's (p50, p95, p99)."""
        client, stats = link.client, self.dispatcher.stats[link.id]
        if client is not None and link.id in self.links():
            # Failures before login (refused, auth) never reach on_disconnect.
            if client.connected:
                link.set_state("connected")
            else:
                link.set_state(
                    "disconnected" if client.last_error else "connecting", client.last_error
                )
        values = {
            "state": link.state,
            "state_since": fields.Datetime.to_string(
                datetime.fromtimestamp(link.state_since, UTC).replace(tzinfo=None)
            ),
            "last_error": (link.last_error or "")[:250] or None,
            "leader": self.node,
            "events_dispatched": stats.dispatched,
            "events_failed": stats.failed,
            "events_dropped": stats.dropped,
            "events_buffered": self.dispatcher.buffered,
        }
        if latency[0] is not None:
            p50, p95, p99 = (round(seconds * 1000, 1) for seconds in latency)
            values.update(latency_p50=p50, latency_p95=p95, latency_p99=p99)
        if client is not None:
            values.update(
                events_received=client.events_received,
                actions_sent=client.actions_sent,
                asterisk_version=client.asterisk_version,
                ami_version=client.ami_version,
            )
        return values

    async def write_link(self, link):
        values = self.values(link, self.dispatcher.latency_percentiles())
        await self.orm(lambda env: env["asterisk_common.server"]._worker_health(link.id, values))

    async def write(self):
        latency = self.dispatcher.latency_percentiles()  # sorts the samples: once
        per_server = {link.id: self.values(link, latency) for link in self.links().values()}
        entries = self.entries()
        map_errors = {e.id: (e.errors, e.last_error) for e in entries if e.errors}
        for entry in entries:
            entry.errors = 0

        def write(env):
            for server_id, values in per_server.items():
                env["asterisk_common.server"]._worker_health(server_id, values)
            if map_errors:
                env["asterisk_common.event"]._worker_errors(map_errors)

        await self.orm(write)
