"""The worker's own PostgreSQL session for one database.

Autocommit, outside Odoo's pool: it LISTENs for the suite's NOTIFYs (map,
server and action changes) and holds one advisory lock per server this process
leads. The lock is the leadership: PostgreSQL releases it when the session
ends, so it dies with the process (or with this connection alone: see
:mod:`.leadership`).
"""

import asyncio
import contextlib
import logging
import time

import psycopg2
import psycopg2.extensions

from odoo.sql_db import connection_info_for

from odoo.addons.asterisk_common.models.asterisk_common_server import NOTIFY_CHANNEL

_logger = logging.getLogger(__name__)

# pg_try_advisory_lock(LOCK_CLASS, server_id): the leadership of one server.
LOCK_CLASS = 0x41535458  # "ASTX"


class ControlConnection:
    """``on_notify(kinds)`` gets the kinds of the NOTIFYs read (``map``,
    ``server``, ``action``); ``on_lost()`` is called when the session breaks.
    The lock methods raise ``psycopg2.Error``: the caller decides (usually
    :meth:`failed`)."""

    def __init__(self, dbname, node, loop, *, on_notify, on_lost):
        self.dbname = dbname
        self.node = node
        self.loop = loop
        self.on_notify = on_notify
        self.on_lost = on_lost
        self.conn = None
        self._fd = None
        self.lost_at = None  # monotonic time of the last loss
        self.lost = asyncio.Event()  # wakes whoever reconnects, at once

    @property
    def up(self):
        return self.conn is not None

    def open(self):
        """Blocking (run it in an executor): a new LISTENing session."""
        _, params = connection_info_for(self.dbname)
        params = dict(
            params,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            application_name=f"asterisk_worker {self.node}",
        )
        conn = psycopg2.connect(**params)
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with conn.cursor() as cr:
            cr.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def attach(self, conn):
        """Use ``conn`` (from :meth:`open`) from now on, in the loop."""
        self.conn, self._fd = conn, conn.fileno()
        self.lost.clear()
        self.loop.add_reader(self._fd, self._readable)

    def close(self):
        if self.conn is not None:
            # By the number registered: a broken connection's fileno() raises, and
            # a reader left behind would shadow the next connection on that number.
            self.loop.remove_reader(self._fd)
            with contextlib.suppress(psycopg2.Error):
                self.conn.close()
            self.conn = None

    def failed(self, error):
        if self.conn is not None:
            _logger.warning("%s: lost the worker's database connection: %s", self.dbname, error)
            self.lost_at = time.monotonic()
        self.close()
        self.on_lost()
        self.lost.set()

    def _readable(self):
        try:
            self.conn.poll()
        except psycopg2.Error as e:
            self.failed(e)
            return
        self._dispatch()

    def _dispatch(self):
        """Hand the NOTIFYs read so far to ``on_notify``. A lock query reads
        those that came in meanwhile along with its result: the socket is
        then drained and will not wake :meth:`_readable` for them."""
        kinds = {notify.payload.partition(":")[0] for notify in self.conn.notifies}
        self.conn.notifies.clear()
        if kinds:
            self.on_notify(kinds)

    def _query(self, sql, params):
        with self.conn.cursor() as cr:
            cr.execute(sql, params)
            rows = cr.fetchall()
        self._dispatch()
        return rows

    # -- advisory locks -------------------------------------------------------------

    def try_lock(self, server_id):
        return self._query("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, server_id])[0][0]

    def unlock(self, server_id):
        if self.conn is not None:
            try:
                self._query("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, server_id])
            except psycopg2.Error as e:
                self.failed(e)

    def held_locks(self):
        """The servers whose lock some session of this database holds or awaits."""
        rows = self._query(
            "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = %s::oid AND objsubid = 2 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            [LOCK_CLASS],
        )
        return {row[0] for row in rows}
