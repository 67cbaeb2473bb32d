"""The AMI worker: one asyncio loop, one AMI connection per led server.

Layout, per served database (:class:`DatabaseService`):

- a dedicated PostgreSQL connection (autocommit, outside Odoo's pool) that
  LISTENs for the suite's NOTIFYs (map, server and action changes) and holds
  one advisory lock per server this process leads: the lock is the leadership,
  and it is released by PostgreSQL itself when the process dies;
- an :class:`~.ami.AmiClient` per led server;
- a :class:`~.dispatch.Dispatcher` whose threads call the handlers;
- a small thread pool for the rest of the ORM work (map and server loading,
  actions, health), so that the loop never waits on the database.
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import os
import random
import socket
import ssl
import threading
import time
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.sql_db import connection_info_for

from odoo.addons.asterisk_common.models.asterisk_common_server import (
    CONNECTION_FIELDS,
    NOTIFY_CHANNEL,
)
from odoo.addons.asterisk_common.tools import compile_condition, eval_condition

from .ami import AmiClient, AmiError
from .dispatch import RETRYABLE, WORKER_CONTEXT, Dispatcher, Job, is_db_down
from .router import ROUTING_EVENTS, CallRouter

_logger = logging.getLogger(__name__)

# pg_try_advisory_lock(LOCK_CLASS, server_id): the leadership of one server.
LOCK_CLASS = 0x41535458  # "ASTX"
# The escape hatch: a dialplan UserEvent(Odoo,Model: m,Method: f,...) calls a
# handler directly, but only one that the events map already targets.
ESCAPE_USEREVENT = "Odoo"
# AMI event classes (manager.conf read=) of the events that maps name; an
# unknown name makes the worker subscribe to every class.
EVENT_CLASSES = {
    "call": {
        "Newchannel",
        "Newstate",
        "Hangup",
        "HangupRequest",
        "SoftHangupRequest",
        "DialBegin",
        "DialEnd",
        "DialState",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeMerge",
        "BlindTransfer",
        "AttendedTransfer",
        "NewCallerid",
        "NewConnectedLine",
        "NewAccountCode",
        "Hold",
        "Unhold",
        "OriginateResponse",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "LocalBridge",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "Rename",
        "MixMonitorStart",
        "MixMonitorStop",
        "MixMonitorMute",
        "DTMFBegin",
        "DTMFEnd",
        "Pickup",
        "ChanSpyStart",
        "ChanSpyStop",
    },
    "dialplan": {"Newexten", "VarSet"},
    "cdr": {"Cdr"},
    "cel": {"CEL"},
    "security": {
        "InvalidPassword",
        "ChallengeResponseFailed",
        "InvalidAccountID",
        "FailedACL",
        "UnexpectedAddress",
        "ChallengeSent",
        "SuccessfulAuth",
        "RequestBadFormat",
        "RequestNotAllowed",
        "AuthMethodNotAllowed",
        "SessionLimit",
        "MemoryLimit",
        "LoadAverageLimit",
        "RequestNotSupported",
        "AuthRequestNotSupported",
        "InvalidTransport",
    },
    "system": {
        "PeerStatus",
        "ContactStatus",
        "Registry",
        "Reload",
        "Shutdown",
        "FullyBooted",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStatus",
    },
    "agent": {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentDump",
        "AgentRingNoAnswer",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "QueueMemberRinginuse",
        "QueueMemberPenalty",
    },
    "user": {"UserEvent"},
}
_CLASS_OF = {name: cls for cls, names in EVENT_CLASSES.items() for name in names}

HEALTH_INTERVAL = 3.0
LEADERSHIP_INTERVAL = 2.0
# How long a standby must see a lock free before taking it: a leader that only
# lost its lock connection takes its locks back in milliseconds.
LOCK_FREE_GRACE = 1.0
ACTION_POLL_INTERVAL = 5.0


class Entry:
    """A compiled events map entry."""

    __slots__ = ("id", "name", "model", "method", "batch", "code", "delay", "errors", "last_error")

    def __init__(self, row):
        self.id = row["id"]
        self.name = row["name"]
        self.model = row["model"]
        self.method = row["method"]
        self.batch = bool(row.get("batch"))
        self.delay = row["delay"] or 0.0
        self.errors = 0
        self.last_error = None
        self.code = None
        if row["condition"]:
            try:
                self.code = compile_condition(row["condition"])
            except Exception as e:  # saved before a stricter check: never matches
                self.code = False
                self.last_error = f"condition refused: {e}"
                self.errors = 1


class EventsMap:
    def __init__(self, rows=()):
        self.by_name = collections.defaultdict(list)
        self.handlers = set()
        self.batch_handlers = set()
        self.entries = []
        for row in rows:
            entry = Entry(row)
            self.entries.append(entry)
            self.by_name[entry.name].append(entry)
            self.handlers.add((entry.model, entry.method))
            if entry.batch:
                self.batch_handlers.add((entry.model, entry.method))
        self.by_name = dict(self.by_name)
        # The router reads the channel events too, to place the events that
        # carry no Linkedid (Cdr, OriginateResponse...) in their call.
        self._wanted = frozenset(self.by_name) | {"UserEvent"}
        if self.by_name:
            self._wanted |= ROUTING_EVENTS
        self.names = sorted(self._wanted)

    def wanted(self, name):
        return name in self._wanted

    def event_classes(self):
        classes = {_CLASS_OF.get(name) for name in self.names}
        if None in classes:
            return "on"
        return sorted(classes)


class ServerLink:
    """A server this process leads: its settings and its AMI client."""

    def __init__(self, row):
        self.id = row["id"]
        self.row = row
        self.client = None
        self.state = "connecting"
        self.state_since = time.time()
        self.last_error = None


_SSL_CONTEXTS = {}


def _ssl_context(verify):
    # One context per kind: AmiClient.update() compares settings, and a new
    # SSLContext never equals the previous one (a needless reconnect).
    if verify not in _SSL_CONTEXTS:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _SSL_CONTEXTS[verify] = ctx
    return _SSL_CONTEXTS[verify]


def client_settings(row):
    """AmiClient keyword arguments from a server row."""
    ctx = _ssl_context(bool(row["tls_verify"])) if row["tls"] else None
    return {
        "host": row["host"],
        "port": row["port"],
        "username": row["username"],
        "secret": row["secret"] or "",
        "md5_login": row["md5_login"],
        "ssl": ctx,
        "connect_timeout": row["connect_timeout"],
        "action_timeout": row["action_timeout"],
        "ping_interval": row["ping_interval"],
        "ping_timeout": row["ping_timeout"],
    }


class DatabaseService:
    """Everything the worker does for one database."""

    def __init__(self, worker, dbname):
        self.worker = worker
        self.dbname = dbname
        self.loop = worker.loop
        settings = worker.settings
        self.dispatcher = Dispatcher(
            dbname,
            shards=settings["threads"],
            batch=settings["batch"],
            buffer=settings["buffer"],
        )
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix=f"asterisk.db.{dbname}"
        )
        self.map = EventsMap()
        self.servers = {}  # id -> row of every active server
        self.links = {}  # id -> ServerLink of the servers we lead
        self.routers = {}  # server id -> CallRouter of its AMI stream
        # Wall clock = monotonic + offset: the events' epochs keep their order.
        self.epoch_offset = time.time() - time.monotonic()
        self.conn = None  # LISTEN + advisory locks
        self._conn_fd = None
        self.conn_lost_at = None
        self._conn_lost = asyncio.Event()  # wakes the listen loop at once
        self._free_since = {}  # server id -> when a standby first saw its lock free
        self._tasks = []
        self._wakeup_actions = asyncio.Event()
        self._delayed = {}  # timer handle -> Job of the events waiting for their delay
        self._stopping = False

    def __repr__(self):
        return f"<DatabaseService {self.dbname}>"

    # -- plumbing -----------------------------------------------------------------

    async def orm(self, func, *args):
        """Run ``func(env, *args)`` in a committed transaction, off the loop."""

        def job():
            threading.current_thread().dbname = self.dbname
            registry = Registry(self.dbname).check_signaling()
            with registry.cursor() as cr:
                # A named env, flushed here: the commit flushes only the envs still
                # alive (a WeakSet), and a write nothing flushed would be lost.
                env = api.Environment(cr, SUPERUSER_ID, WORKER_CONTEXT)
                result = func(env, *args)
                env.flush_all()
            registry.signal_changes()
            return result

        return await self.loop.run_in_executor(self.executor, job)

    async def start(self):
        self.dispatcher.start()
        for coro in (
            self._listen_loop(),
            self._leadership_loop(),
            self._health_loop(),
            self._actions_loop(),
        ):
            self._tasks.append(self.loop.create_task(coro))

    async def stop(self):
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        links = list(self.links.values())
        for link in links:  # no new events...
            await link.client.stop()
        for handle, job in self._delayed.items():  # delays are cut short, not lost
            handle.cancel()
            self.dispatcher.submit(job)
        self._delayed.clear()
        await self.loop.run_in_executor(None, self.dispatcher.stop)  # ...handle the buffered
        for link in links:  # final health, then the lock
            await self._release(link, "worker stopped")
        try:
            await asyncio.wait_for(self._write_health(), 5)  # condition errors
        except Exception as e:
            _logger.warning("%s: could not store the condition errors at stop: %s", self.dbname, e)
        self._close_conn()
        self.executor.shutdown(wait=False)

    # -- the dedicated connection -------------------------------------------------

    def _connect(self):
        _, params = connection_info_for(self.dbname)
        params = dict(
            params,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            application_name=f"asterisk_worker {self.worker.node}",
        )
        conn = psycopg2.connect(**params)
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with conn.cursor() as cr:
            cr.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def _close_conn(self):
        if self.conn is not None:
            # By the number registered: a broken connection's fileno() raises, and
            # a reader left behind would shadow the next connection on that number.
            self.loop.remove_reader(self._conn_fd)
            with contextlib.suppress(psycopg2.Error):
                self.conn.close()
            self.conn = None

    def _conn_failed(self, error):
        if self.conn is not None:
            _logger.warning("%s: lost the worker's database connection: %s", self.dbname, error)
            self.conn_lost_at = time.monotonic()
        self._close_conn()
        self._free_since.clear()
        self._conn_lost.set()

    async def _listen_loop(self):
        """Keep the dedicated connection open; reload everything after each (re)connect."""
        pause = 0.5
        while not self._stopping:
            if self.conn is None:
                try:
                    conn = await self.loop.run_in_executor(self.executor, self._connect)
                except psycopg2.Error as e:
                    _logger.debug("%s: cannot connect yet: %s", self.dbname, e)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5)
                    continue
                pause = 0.5
                self.conn, self._conn_fd = conn, conn.fileno()
                self._conn_lost.clear()
                self.loop.add_reader(self._conn_fd, self._on_notify)
                # Locks first: a standby must never find them free for long.
                await self._reacquire()
                if self.conn is None:
                    continue
                try:
                    await self._reload_map()
                    await self._reload_servers()
                except Exception as e:
                    _logger.warning("%s: reload after connect failed: %s", self.dbname, e)
                    self._conn_failed(e)
                    continue
                await self._leadership_tick()
                self._wakeup_actions.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._conn_lost.wait(), 1.0)

    def _on_notify(self):
        try:
            self.conn.poll()
        except psycopg2.Error as e:
            self._conn_failed(e)
            return
        kinds = {notify.payload.partition(":")[0] for notify in self.conn.notifies}
        self.conn.notifies.clear()
        if "map" in kinds:
            self.loop.create_task(self._safe(self._reload_map()))
        if "server" in kinds:
            self.loop.create_task(self._safe(self._reload_servers()))
        if "action" in kinds:
            self._wakeup_actions.set()

    async def _safe(self, coro):
        try:
            await coro
        except Exception as e:
            _logger.warning("%s: %s", self.dbname, e)

    # -- map and servers ----------------------------------------------------------

    async def _reload_map(self):
        def load(env):
            return env["asterisk_common.event"]._map_for_worker()

        rows = await self.orm(load)
        self.map = EventsMap(rows)
        _logger.info(
            "%s: events map loaded: %d entries for %s",
            self.dbname,
            len(self.map.entries),
            ", ".join(self.map.names),
        )
        for link in self.links.values():
            if link.client:
                link.client.update(
                    wanted=self.map.wanted,
                    event_filters=self.map.names,
                    events=self.map.event_classes(),
                )

    async def _reload_servers(self):
        def load(env):
            servers = env["asterisk_common.server"].sudo().search([("active", "=", True)])
            return servers.read(["name", *sorted(CONNECTION_FIELDS - {"active"})])

        rows = {row["id"]: row for row in await self.orm(load)}
        self.servers = rows
        for server_id, link in list(self.links.items()):
            row = rows.get(server_id)
            if row is None:
                await self._release(link, "server archived or deleted")
            elif row != link.row:
                link.row = row
                link.client.update(**client_settings(row))
                _logger.info("%s: server %s reconfigured", self.dbname, row["name"])

    # -- leadership ---------------------------------------------------------------

    def _try_lock(self, server_id):
        with self.conn.cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, server_id])
            return cr.fetchone()[0]

    def _unlock(self, server_id):
        if self.conn is not None:
            try:
                with self.conn.cursor() as cr:
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, server_id])
            except psycopg2.Error as e:
                self._conn_failed(e)

    async def _reacquire(self):
        """After a new connection: take our servers' locks back at once.

        While the database was unreachable nobody could take them, so this
        process kept its AMI connections (and buffered the events). If
        another node won a lock meanwhile, that server is let go."""
        for link in list(self.links.values()):
            try:
                held = self._try_lock(link.id)
            except psycopg2.Error as e:
                self._conn_failed(e)
                return
            if not held:
                _logger.warning(
                    "%s: %s is now led by another worker: letting it go",
                    self.dbname,
                    link.row["name"],
                )
                await self._release(link, "leadership taken by another worker", unlock=False)

    def _held_locks(self):
        """The servers whose lock some session of this database holds or awaits."""
        with self.conn.cursor() as cr:
            cr.execute(
                "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = %s::oid AND objsubid = 2 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                [LOCK_CLASS],
            )
            return {row[0] for row in cr.fetchall()}

    async def _leadership_tick(self):
        """Lead the servers whose lock was free at two looks LOCK_FREE_GRACE apart.

        A leader whose lock connection dies takes its locks back within
        milliseconds (:meth:`_listen_loop`); a standby taking a lock at the
        first free look could win that race and run a second AMI consumer
        until the old leader noticed. A dead leader costs one look more."""
        if self.conn is None or self._stopping:
            return
        # A standby that just reconnected waits, so that the previous
        # holder, also reconnecting, gets its locks back first.
        if self.conn_lost_at and time.monotonic() - self.conn_lost_at < 3 * LEADERSHIP_INTERVAL:
            return
        try:
            held = self._held_locks()
            now = time.monotonic()
            for server_id, row in list(self.servers.items()):
                if server_id in self.links or server_id in held:
                    self._free_since.pop(server_id, None)
                    continue
                first_seen = self._free_since.setdefault(server_id, now)
                if now - first_seen >= LOCK_FREE_GRACE and self._try_lock(server_id):
                    self._free_since.pop(server_id, None)
                    await self._lead(row)
        except psycopg2.Error as e:
            self._conn_failed(e)

    async def _leadership_loop(self):
        while not self._stopping:
            await asyncio.sleep(LEADERSHIP_INTERVAL)
            await self._leadership_tick()

    async def _lead(self, row):
        link = ServerLink(row)
        self.links[row["id"]] = link
        _logger.info(
            "%s: leading server %s (%s:%s) as %s",
            self.dbname,
            row["name"],
            row["host"],
            row["port"],
            self.worker.node,
        )
        link.client = AmiClient(
            **client_settings(row),
            name=f"{self.dbname}/{row['name']}",
            events=self.map.event_classes(),
            event_filters=self.map.names,
            wanted=self.map.wanted,
            on_event=lambda message, received: self._on_event(link, message, received),
            on_connect=lambda client: self._on_connect(link),
            on_disconnect=lambda client, reason: self._on_disconnect(link, reason),
        )
        await link.client.start()

    async def _release(self, link, reason, unlock=True):
        self.links.pop(link.id, None)
        self.routers.pop(link.id, None)
        if link.client is not None:
            await link.client.stop()
        if unlock:
            self._unlock(link.id)
        link.state, link.last_error = "disconnected", reason
        _logger.info("%s: released server %s: %s", self.dbname, link.row["name"], reason)
        try:
            await self._write_link_health(link)
        except Exception as e:
            _logger.debug("%s: health not written: %s", self.dbname, e)

    # -- AMI callbacks ------------------------------------------------------------

    def _set_state(self, link, state, error=None):
        if link.state != state:
            link.state, link.state_since = state, time.time()
        if error:
            link.last_error = error

    async def _on_connect(self, link):
        self._set_state(link, "connected")
        link.last_error = None
        self._wakeup_actions.set()
        snapshot_at, snapshot_time = time.monotonic(), time.time()
        try:
            reply = await link.client.send_action({"Action": "CoreShowChannels"})
        except AmiError as e:
            _logger.warning("%s: resync of %s failed: %s", self.dbname, link.row["name"], e)
            return
        channels = [e.to_dict() for e in reply.events if e.name == "CoreShowChannel"]
        router = self.routers.setdefault(link.id, CallRouter())
        for channel in channels:
            router.route(channel)
        # Events read before the snapshot are handled first: a call whose
        # Newchannel still waits in a shard must not escape the resync.
        await self.dispatcher.wait_handled(snapshot_at, timeout=30.0)

        def resync(env):
            env["asterisk_common.server"].browse(link.id)._ami_resync(
                channels, snapshot_time=snapshot_time
            )

        await self._safe(self.orm(resync))

    def _on_disconnect(self, link, reason):
        self._set_state(link, "disconnected", reason)

    def _event_dict(self, link, message, received):
        """The event as handlers get it: the AMI keys, plus the worker's
        ``_server_id``, ``_received`` (epoch of the read) and ``_linkedid``
        (the call the event belongs to, also for events that do not say it)."""
        event = message.to_dict()
        router = self.routers.get(link.id)
        if router is None:
            router = self.routers[link.id] = CallRouter()
        event["_server_id"] = link.id
        event["_received"] = received + self.epoch_offset
        event["_linkedid"] = router.route(event, received)
        return event

    def _on_event(self, link, message, received):
        name = message.name
        entries = self.map.by_name.get(name)
        escape = name == "UserEvent" and message.get("UserEvent") == ESCAPE_USEREVENT
        if not (entries or escape or name in ROUTING_EVENTS):
            return
        event = self._event_dict(link, message, received)
        if escape:
            self._escape_hatch(link, event, received)
        if not entries:
            return
        key = event["_linkedid"]
        for entry in entries:
            if entry.code is False:
                continue
            if entry.code is not None:
                try:
                    if not eval_condition(entry.code, event):
                        continue
                except Exception as e:
                    entry.errors += 1
                    entry.last_error = f"{type(e).__name__}: {e}\nEvent: {event}"
                    continue
            job = Job(
                link.id, entry.id, entry.model, entry.method, event, received, key, entry.batch
            )
            if entry.delay:
                self._submit_later(entry.delay, job)
            else:
                self.dispatcher.submit(job)

    def _submit_later(self, delay, job):
        def fire():
            del self._delayed[handle]
            self.dispatcher.submit(job)

        handle = self.loop.call_later(delay, fire)
        self._delayed[handle] = job

    def _escape_hatch(self, link, event, received):
        model, method = event.get("Model"), event.get("Method")
        if (model, method) not in self.map.handlers:
            _logger.warning(
                "%s: UserEvent %s refused: %s.%s is not a handler of the events map",
                self.dbname,
                ESCAPE_USEREVENT,
                model,
                method,
            )
            return
        batch = (model, method) in self.map.batch_handlers
        self.dispatcher.submit(
            Job(link.id, None, model, method, event, received, event["_linkedid"], batch)
        )

    # -- actions --------------------------------------------------------------------

    async def _actions_loop(self):
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup_actions.wait(), ACTION_POLL_INTERVAL)
            self._wakeup_actions.clear()
            if not self.links:
                continue
            try:
                await self._process_actions()
            except Exception as e:
                if not is_db_down(e):
                    _logger.exception("%s: processing actions failed", self.dbname)

    async def _process_actions(self):
        connected = [i for i, link in self.links.items() if link.client.connected]
        disconnected = [i for i in self.links if i not in connected]
        errors = {i: self.links[i].last_error or "not connected" for i in disconnected}

        def claim(env):
            return env["asterisk_common.action"]._worker_claim(connected, disconnected, errors)

        for row in await self.orm(claim):
            self.loop.create_task(self._execute(row))

    async def _execute(self, row):
        link = self.links.get(row["server_id"])
        action = dict(row["payload"], ActionID=row["action_uid"])
        state, reply, error = "done", None, None
        if link is None or not link.client.connected:
            state, error = "failed", "The server disconnected before the action was sent."
        else:
            try:
                result = await link.client.send_action(action, timeout=row["timeout"] or None)
                reply = result.to_dict()
                if not result.ok:
                    state, error = "failed", result.message or "Asterisk answered with an error."
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

    # -- health -----------------------------------------------------------------------

    async def _health_loop(self):
        while not self._stopping:
            await asyncio.sleep(HEALTH_INTERVAL)
            self.epoch_offset = time.time() - time.monotonic()  # follow clock steps
            try:
                await self._write_health()
            except Exception as e:
                if not is_db_down(e):
                    _logger.exception("%s: health report failed", self.dbname)

    def _health_values(self, link, latency):
        """The server's health row; ``latency`` is the dispatcher's (p50, p99)."""
        client, stats = link.client, self.dispatcher.stats[link.id]
        if client is not None and link.id in self.links:
            # Failures before login (refused, auth) never reach on_disconnect.
            if client.connected:
                self._set_state(link, "connected")
            else:
                self._set_state(
                    link, "disconnected" if client.last_error else "connecting", client.last_error
                )
        values = {
            "state": link.state,
            "state_since": fields.Datetime.to_string(
                datetime.fromtimestamp(link.state_since, UTC).replace(tzinfo=None)
            ),
            "last_error": (link.last_error or "")[:250] or None,
            "leader": self.worker.node,
            "events_dispatched": stats.dispatched,
            "events_failed": stats.failed,
            "events_dropped": stats.dropped,
            "events_buffered": self.dispatcher.buffered,
        }
        p50, p99 = latency
        if p50 is not None:
            values.update(latency_p50=round(p50 * 1000, 1), latency_p99=round(p99 * 1000, 1))
        if client is not None:
            values.update(
                events_received=client.events_received,
                actions_sent=client.actions_sent,
                asterisk_version=client.asterisk_version,
                ami_version=client.ami_version,
            )
        return values

    async def _write_link_health(self, link):
        values = self._health_values(link, self.dispatcher.latency_percentiles())
        await self.orm(lambda env: env["asterisk_common.server"]._worker_health(link.id, values))

    async def _write_health(self):
        latency = self.dispatcher.latency_percentiles()  # sorts the samples: once
        per_server = {link.id: self._health_values(link, latency) for link in self.links.values()}
        map_errors = {e.id: (e.errors, e.last_error) for e in self.map.entries if e.errors}
        for entry in self.map.entries:
            entry.errors = 0

        def write(env):
            for server_id, values in per_server.items():
                env["asterisk_common.server"]._worker_health(server_id, values)
            if map_errors:
                env["asterisk_common.event"]._worker_errors(map_errors)

        await self.orm(write)


class AmiWorker:
    """The worker of one Odoo process: serves several databases in one loop."""

    def __init__(self, settings):
        self.settings = settings
        self.node = f"{socket.gethostname()}/{os.getpid()}"
        self.loop = None
        self.services = {}
        self._thread = None
        self._stop_event = None
        self._started = threading.Event()

    # -- thread API ---------------------------------------------------------------

    def start_thread(self):
        self._thread = threading.Thread(target=self.run, name="asterisk.worker", daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self._thread

    def run(self):
        """Blocking: run the loop until :meth:`stop`."""
        threading.current_thread().dbname = None
        try:
            asyncio.run(self._main())
        except Exception:
            _logger.exception("AMI worker crashed")
            raise

    def stop(self, timeout=10.0):
        """Thread-safe: stop the loop and wait for it."""
        loop = self.loop
        if loop is not None and not loop.is_closed() and self._stop_event is not None:
            loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    # -- loop -----------------------------------------------------------------------

    async def _main(self):
        self.loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._started.set()
        _logger.info("AMI worker %s started", self.node)
        while not self._stop_event.is_set():
            try:
                await self._refresh_databases()
            except Exception:
                _logger.exception("AMI worker: listing databases failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), 60)
        for service in list(self.services.values()):
            await service.stop()
        _logger.info("AMI worker %s stopped", self.node)

    async def _refresh_databases(self):
        wanted = await self.loop.run_in_executor(None, self._databases)
        for dbname in wanted - set(self.services):
            service = DatabaseService(self, dbname)
            self.services[dbname] = service
            await service.start()
            _logger.info("AMI worker serving database %s", dbname)
        for dbname in set(self.services) - wanted:
            await self.services.pop(dbname).stop()

    def _databases(self):
        """The configured databases, else those where asterisk_common is installed."""
        if self.settings["databases"]:
            return set(self.settings["databases"])
        found = set()
        for dbname in odoo.service.db.list_dbs(True):
            try:
                conn = psycopg2.connect(**connection_info_for(dbname)[1])
            except psycopg2.Error:
                continue
            try:
                with conn.cursor() as cr:
                    cr.execute(
                        "SELECT 1 FROM ir_module_module WHERE name = 'asterisk_common' "
                        "AND state = 'installed'"
                    )
                    if cr.fetchone():
                        found.add(dbname)
            except psycopg2.Error:
                pass  # not an Odoo database
            finally:
                conn.close()
        return found
