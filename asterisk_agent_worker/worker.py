"""The AMI worker: one asyncio loop, one AMI connection per led server.

Per served database, a :class:`DatabaseService` wires small parts together:

- :class:`~.control.ControlConnection`: its own PostgreSQL session, which
  LISTENs for the suite's NOTIFYs and holds the leadership locks;
- :class:`~.leadership.Leadership`: which servers this process leads;
- an :class:`~.ami.AmiClient` per led server (:class:`~.link.ServerLink`),
  whose events go through the compiled :class:`~.events_map.EventsMap`
  (name, condition, delay) to
- the :class:`~.dispatch.Dispatcher`, whose threads call the handlers in
  each call's order;
- :class:`~.actions.ActionRunner` (the actions Odoo queues) and
  :class:`~.health.HealthReporter` (what the server form shows);
- a small thread pool for their ORM work (map and server loading, actions,
  health), so that the loop never waits on the database.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import time

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.sql_db import connection_info_for

from odoo.addons.asterisk_common.models.asterisk_common_server import CONNECTION_FIELDS
from odoo.addons.asterisk_common.tools import eval_condition

from .actions import ActionRunner
from .ami import AmiClient, AmiError
from .control import ControlConnection
from .dispatch import WORKER_CONTEXT, Dispatcher, Job
from .events_map import EventsMap
from .health import HEALTH_INTERVAL, HealthReporter
from .leadership import Leadership
from .link import ServerLink, client_settings
from .router import ROUTING_EVENTS, CallRouter

_logger = logging.getLogger(__name__)

# The escape hatch: a dialplan UserEvent(Odoo,Model: m,Method: f,...) calls a
# handler directly, but only one that the events map already targets.
ESCAPE_USEREVENT = "Odoo"


class DatabaseService:
    """Everything the worker does for one database: the wiring of its parts,
    the map and servers reloads, and the AMI callbacks."""

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
        self.control = ControlConnection(
            dbname,
            worker.node,
            self.loop,
            on_notify=self._on_notify,
            on_lost=lambda: self.leadership.forget(),
        )
        self.leadership = Leadership(
            dbname,
            self.control,
            servers=lambda: self.servers,
            led=lambda: self.links,
            lead=self._lead,
            let_go=self._let_go,
        )
        self.actions = ActionRunner(dbname, self.loop, orm=self.orm, links=lambda: self.links)
        self.health = HealthReporter(
            dbname,
            worker.node,
            self.dispatcher,
            orm=self.orm,
            links=lambda: self.links,
            entries=lambda: self.map.entries,
        )
        self._tasks = []
        self._delayed = {}  # timer handle -> Job of the events waiting for their delay
        self._stopping = False

    def __repr__(self):
        return f"<DatabaseService {self.dbname}>"

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
            self._control_loop(),
            self.leadership.run(),
            self._health_loop(),
            self.actions.run(),
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
            await asyncio.wait_for(self.health.write(), 5)  # condition errors
        except Exception as e:
            _logger.warning("%s: could not store the condition errors at stop: %s", self.dbname, e)
        self.control.close()
        self.executor.shutdown(wait=False)

    # -- the control connection -----------------------------------------------------

    async def _control_loop(self):
        """Keep the control connection open; after each (re)connect take the
        locks back first (a standby must never find them free for long), then
        reload everything a lost NOTIFY may have changed."""
        pause = 0.5
        control = self.control
        while not self._stopping:
            if not control.up:
                try:
                    conn = await self.loop.run_in_executor(self.executor, control.open)
                except psycopg2.Error as e:
                    _logger.debug("%s: cannot connect yet: %s", self.dbname, e)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5)
                    continue
                pause = 0.5
                control.attach(conn)
                await self.leadership.reacquire()
                if not control.up:
                    continue
                try:
                    await self._reload_map()
                    await self._reload_servers()
                except Exception as e:
                    _logger.warning("%s: reload after connect failed: %s", self.dbname, e)
                    control.failed(e)
                    continue
                await self.leadership.tick()
                self.actions.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(control.lost.wait(), 1.0)

    def _on_notify(self, kinds):
        if "map" in kinds:
            self.loop.create_task(self._safe(self._reload_map()))
        if "server" in kinds:
            self.loop.create_task(self._safe(self._reload_servers()))
        if "action" in kinds:
            self.actions.wake()

    async def _safe(self, coro):
        try:
            await coro
        except Exception as e:
            _logger.warning("%s: %s", self.dbname, e)

    async def _health_loop(self):
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            self.epoch_offset = time.time() - time.monotonic()  # follow clock steps
            await self.health.report()

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

    # -- leading a server ----------------------------------------------------------

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
            on_disconnect=lambda client, reason: link.set_state("disconnected", reason),
        )
        await link.client.start()

    async def _let_go(self, server_id):
        link = self.links[server_id]
        _logger.warning(
            "%s: %s is now led by another worker: letting it go", self.dbname, link.row["name"]
        )
        await self._release(link, "leadership taken by another worker", unlock=False)

    async def _release(self, link, reason, unlock=True):
        self.links.pop(link.id, None)
        self.routers.pop(link.id, None)
        if link.client is not None:
            await link.client.stop()
        if unlock:
            self.control.unlock(link.id)
        link.state, link.last_error = "disconnected", reason
        _logger.info("%s: released server %s: %s", self.dbname, link.row["name"], reason)
        try:
            await self.health.write_link(link)
        except Exception as e:
            _logger.debug("%s: health not written: %s", self.dbname, e)

    # -- AMI callbacks ------------------------------------------------------------

    async def _on_connect(self, link):
        link.set_state("connected")
        link.last_error = None
        self.actions.wake()
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

        # Alone: a handler creating a call at the same time as the resync
        # (an event of a call that started meanwhile) would collide with it.
        self.dispatcher.hold()
        try:
            if not await self.loop.run_in_executor(None, self.dispatcher.wait_idle, 10.0):
                _logger.warning(
                    "%s: resync of %s runs beside a slow handler", self.dbname, link.row["name"]
                )
            await self._safe(self.orm(resync))
        finally:
            self.dispatcher.release()
        await self._safe(self._probe(link))

    async def _probe(self, link):
        """Ask what the PBX offers (which actions: the server model's
        ``_ami_probe_actions``, e.g. its parking lots) and hand the replies
        to ``_ami_probed``: on every (re)connect, the PBX may have changed."""
        server = link.id

        def wanted(env):
            return env["asterisk_common.server"].browse(server)._ami_probe_actions()

        replies = []
        for action in await self.orm(wanted):
            try:
                replies.append((await link.client.send_action(action)).to_dict())
            except AmiError as e:
                replies.append({"action": action.get("Action"), "ok": False, "error": str(e)})
        if replies:

            def probed(env):
                env["asterisk_common.server"].browse(server)._ami_probed(replies)

            await self.orm(probed)

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
        for earlier, later in router.follows:
            self.dispatcher.link(link.id, (earlier,), later, received)
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
                link.id, entry.id, entry.model, entry.method, event, received, key, *entry.kind
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
        kind = self.map.kinds.get((model, method))
        if kind is None:
            _logger.warning(
                "%s: UserEvent %s refused: %s.%s is not a handler of the events map",
                self.dbname,
                ESCAPE_USEREVENT,
                model,
                method,
            )
            return
        self.dispatcher.submit(
            Job(link.id, None, model, method, event, received, event["_linkedid"], *kind)
        )


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
