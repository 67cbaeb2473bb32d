"""The supervisor of one AMI connection: :class:`AmiClient`.

``AmiClient(host, port, username, secret, *, name=None, md5_login=True, ssl=None,
events="on", event_filters=None, wanted=None, on_event=None, on_connect=None,
on_disconnect=None, connect_timeout=5, action_timeout=10, ping_interval=5,
ping_timeout=5, backoff_initial=0.5, backoff_max=30, max_frame_size=4 MiB)``

* ``events`` / ``event_filters``: what Asterisk sends (see ``filters``).  A
  refused ``Filter`` is not fatal: see :attr:`AmiClient.filter_status` /
  :attr:`AmiClient.filter_error`.
* ``wanted(name) -> bool``: the fast drop path (see ``intake``).  List items
  (``CoreShowChannel``...) answering one of *our* pending actions are never
  dropped.
* ``on_event(message, received_monotonic)``: sync, called in the loop for each
  wanted event that is not part of an action's reply; must be cheap.
  ``received_monotonic`` is :func:`time.monotonic` when the bytes were read.
* ``on_connect(client)``: coroutine, awaited after login + ``CoreSettings`` +
  filters, on every (re)connect; the place for a ``CoreShowChannels`` resync.
  Events keep flowing to ``on_event`` meanwhile.
* ``on_disconnect(client, reason)``: sync, when a logged-in session ends.

Methods:

* ``await start()``: starts the connect/reconnect task, returns at once.
* ``await stop()``: Logoff if connected, close, cancel; idempotent.
* ``await wait_connected(timeout)``: until logged in and ``on_connect`` done,
  else :class:`AmiTimeout`.
* ``await send_action(dict, timeout=None) -> AmiReply``: lists become repeated
  headers, ``None`` values are left out, CR/LF in values become spaces, an
  ``ActionID`` is generated unless given.
* ``update(**changes) -> set[str]``: reconfigure a running client; says what it
  does: ``"reconnect"`` (connection parameter changed, or a filter removed: AMI
  cannot remove a ``Filter`` from a session), ``"filters"`` (new filters added
  live), ``"events"`` (mask changed live with the ``Events`` action),
  ``"wanted"``.  Settings that need no live action just apply to the next
  connection.
* ``health() -> dict``: JSON-ready snapshot of the attributes below.
* ``async with AmiClient(...) as client:`` starts and stops it.

Health (plain attributes): ``connected``, ``connected_since`` /
``disconnected_since`` (epoch), ``last_error``, ``last_error_at``, ``banner``,
``ami_version``, ``asterisk_version``, ``filter_status`` (none / installed /
refused / partial), ``filter_error``, ``events_received``,
``events_dropped_unwanted``, ``events_delivered``, ``actions_sent``,
``actions_failed``, ``connect_attempts``, ``logins``, ``reconnects``,
``last_event_at`` (epoch), ``malformed_frames``, ``undecodable_frames``,
``late_replies``, ``on_event_errors``.

Fixed compared with panoramisk's ``Manager``:

* Every action has a timeout.
* Ping watchdog: a Ping unanswered within ``ping_timeout`` while nothing else
  arrives closes the connection (panoramisk pings but never checks the answer).
  Banner and login have ``connect_timeout`` too.
* Reconnect with capped exponential backoff and jitter, never a hot loop.
  After an authentication failure the next attempt waits ``backoff_max``: each
  failure is a security event on the Asterisk side (fail2ban food).
* ``Events`` mask, ``Filter``s after every login, ``CoreSettings`` versions.

The client is not thread-safe: call it from its loop (``client.loop``), e.g.
with ``asyncio.run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable

from .action import AmiAction, AmiReply, action_ids
from .errors import AmiConnectionLost, AmiError, AmiNotConnected, AmiTimeout, AuthFailed
from .filters import ServerFilters, event_mask
from .intake import Intake
from .login import login
from .message import AmiMessage
from .protocol import AmiProtocol

_logger = logging.getLogger(__name__)


class _Kept:
    """A client attribute kept by one of its parts: ``client.x`` is ``client.<part>.x``."""

    def __init__(self, part: str, attr: str | None = None):
        self.part, self.attr = part, attr

    def __set_name__(self, owner, name):
        self.attr = self.attr or name

    def __get__(self, client, owner=None):
        if client is None:
            return self
        return getattr(getattr(client, self.part), self.attr)

    def __set__(self, client, value):
        setattr(getattr(client, self.part), self.attr, value)


class AmiClient:
    """One supervised AMI connection; see the module docstring."""

    #: a session that lasted this long resets the backoff
    STABLE_SESSION = 10.0

    # Kept by the intake, which the protocol of each connection feeds.
    name = _Kept("_intake")
    wanted = _Kept("_intake")
    on_event = _Kept("_intake")
    events_received = _Kept("_intake")
    events_dropped_unwanted = _Kept("_intake")
    events_delivered = _Kept("_intake")
    last_event_at = _Kept("_intake")
    malformed_frames = _Kept("_intake")
    undecodable_frames = _Kept("_intake")
    late_replies = _Kept("_intake")
    on_event_errors = _Kept("_intake")
    # Kept by the filters of the current session.
    filter_status = _Kept("_filters", "status")
    filter_error = _Kept("_filters", "error")

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        name: str | None = None,
        md5_login: bool = True,
        ssl=None,
        events: str | Iterable[str] = "on",
        event_filters: Iterable[str] | None = None,
        wanted: Callable[[str], bool] | None = None,
        on_event: Callable[[AmiMessage, float], None] | None = None,
        on_connect: Callable[[AmiClient], object] | None = None,
        on_disconnect: Callable[[AmiClient, str], None] | None = None,
        connect_timeout: float = 5,
        action_timeout: float = 10,
        ping_interval: float = 5,
        ping_timeout: float = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30,
        max_frame_size: int = 4 << 20,
    ):
        self._intake = Intake(name or f"{host}:{port}", wanted, on_event)
        self._filters = ServerFilters()
        self.host = host
        self.port = int(port)
        self.username = username
        self.secret = secret
        self.md5_login = md5_login
        self.ssl = ssl
        self.events = events
        self.event_filters = list(event_filters) if event_filters else []
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_frame_size = max_frame_size

        self.loop: asyncio.AbstractEventLoop | None = None
        self._protocol: AmiProtocol | None = None
        self._task: asyncio.Task | None = None
        # created in start(): an asyncio.Event binds to the loop that first waits on it
        self._ready: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._skip_backoff = False
        self._logged_in = False
        self._ids = action_ids(name)
        self._background: set[asyncio.Task] = set()  # strong refs: the loop keeps weak ones

        # health
        self.connected_since: float | None = None
        self.disconnected_since: float | None = time.time()
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.banner: str | None = None
        self.ami_version: str | None = None
        self.asterisk_version: str | None = None
        self.actions_sent = 0
        self.actions_failed = 0
        self.connect_attempts = 0
        self.logins = 0

    def __repr__(self):
        state = "connected" if self.connected else "disconnected"
        return f"<AmiClient {self.name} {self.username}@{self.host}:{self.port} {state}>"

    # -- health ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Logged in on a live connection."""
        return self._logged_in and self._protocol is not None and not self._protocol.closed

    @property
    def reconnects(self) -> int:
        """Successful logins after the first one."""
        return max(0, self.logins - 1)

    def health(self) -> dict:
        """JSON-serialisable snapshot for the worker's status row."""
        keys = (
            "name", "host", "port", "connected", "connected_since", "disconnected_since",
            "last_error", "last_error_at",
            "banner", "ami_version", "asterisk_version", "filter_status", "filter_error",
            "events_received", "events_dropped_unwanted", "events_delivered", "actions_sent",
            "actions_failed", "connect_attempts", "reconnects", "last_event_at",
            "malformed_frames", "undecodable_frames", "late_replies", "on_event_errors",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def _set_error(self, message: str):
        self.last_error = message
        self.last_error_at = time.time()

    # -- lifecycle ------------------------------------------------------------

    async def start(self):
        """Start connecting in the background (returns at once)."""
        if self._task is not None and not self._task.done():
            return
        self.loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task = self.loop.create_task(self._run(), name=f"ami:{self.name}")

    async def stop(self):
        """Logoff if connected, close, cancel the background task.  Idempotent."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        proto = self._protocol
        if proto is not None and proto.close_reason is None:
            proto.close_reason = "client stopped"  # Asterisk closes first after Logoff
        if self.connected:
            with contextlib.suppress(AmiError):
                await self._request(proto, {"Action": "Logoff"}, min(1.0, self.action_timeout))
        if proto is not None:
            proto.close("client stopped")
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    async def wait_connected(self, timeout: float):
        """Wait until logged in and ``on_connect`` has run; AmiTimeout otherwise."""
        if self._ready is None:
            raise AmiNotConnected(f"{self.name}: not started")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(
                f"{self.name}: not connected after {timeout}s (last error: {self.last_error})"
            ) from None

    def _backoff_delay(self, attempt: int) -> float:
        # "Equal jitter": at least half the step (never a hot loop), spread so
        # that many workers do not reconnect in step after an Asterisk restart.
        step = min(self.backoff_max, self.backoff_initial * (2 ** min(attempt, 32)))
        return random.uniform(step / 2, step)

    async def _run(self):
        attempt = 0
        while not self._stopping:
            self.connect_attempts += 1
            started, logins = time.monotonic(), self.logins
            auth_failed = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, AmiError) as exc:
                auth_failed = isinstance(exc, AuthFailed)
                error = str(exc) or exc.__class__.__name__
                # One warning per new kind of failure, not one per retry of a long outage.
                level = logging.DEBUG if error == self.last_error else logging.WARNING
                self._set_error(error)
                _logger.log(level, "%s: connection failed: %s", self.name, error)
            except Exception as exc:  # a bug, but the supervisor must survive it
                self._set_error(f"{exc.__class__.__name__}: {exc}")
                _logger.exception("%s: unexpected error in the AMI session", self.name)
            if self._stopping:
                break
            if self._skip_backoff:  # update() changed the connection parameters
                self._skip_backoff = False
                attempt = 0
                continue
            if self.logins > logins and time.monotonic() - started >= self.STABLE_SESSION:
                attempt = 0
            if auth_failed:
                attempt = max(attempt, 64)  # straight to backoff_max
            delay = self._backoff_delay(attempt)
            attempt += 1
            _logger.info("%s: reconnecting in %.2fs", self.name, delay)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)
            if self._skip_backoff:
                self._skip_backoff = False
                attempt = 0

    async def _session(self):
        """One connection: connect, banner, login, setup, then wait until it ends."""
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: AmiProtocol(self._intake, self.max_frame_size, self._ids),
                    self.host,
                    self.port,
                    ssl=self.ssl or None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise AmiTimeout(f"TCP connect to {self.host}:{self.port} timed out") from None
        self._protocol = proto
        if self._skip_backoff:  # update() ran while connecting: those were old settings
            proto.close("settings changed")
            return
        watchdog = hook = None
        try:
            try:
                await asyncio.wait_for(asyncio.shield(proto.banner_future), self.connect_timeout)
            except TimeoutError:
                raise AmiTimeout("no AMI banner (peer silent)") from None
            if proto.banner is None:
                raise AmiConnectionLost(f"before the banner: {proto.close_reason}")
            self.banner = proto.banner
            await self._login(proto)
            self._logged_in = True
            self.logins += 1
            self.connected_since, self.disconnected_since = time.time(), None
            _logger.info("%s: logged in (%s)", self.name, self.banner)
            watchdog = loop.create_task(self._watchdog(proto), name=f"ami-ping:{self.name}")
            await self._after_login(proto)
            if self.on_connect is not None:
                hook = loop.create_task(self._run_on_connect(), name=f"ami-on-connect:{self.name}")
                await asyncio.wait({hook, proto.closed_future}, return_when=asyncio.FIRST_COMPLETED)
            if not proto.closed:
                self._ready.set()
            reason = await proto.closed_future
            if proto.close_is_error:
                self._set_error(reason)
        finally:
            self._ready.clear()
            for task in (hook, watchdog):
                if task is not None and not task.done():
                    task.cancel()
            proto.close("session ended")
            was_logged_in, self._logged_in = self._logged_in, False
            if was_logged_in:
                self.connected_since, self.disconnected_since = None, time.time()
                reason = proto.close_reason or "closed"
                level = logging.WARNING if proto.close_is_error else logging.INFO
                _logger.log(level, "%s: disconnected: %s", self.name, reason)
                if self.on_disconnect is not None:
                    try:
                        self.on_disconnect(self, reason)
                    except Exception:
                        _logger.exception("%s: on_disconnect failed", self.name)

    async def _login(self, proto: AmiProtocol):
        timeout = self.connect_timeout
        await login(
            lambda fields: self._request(proto, fields, timeout),
            self.username,
            self.secret,
            md5=self.md5_login,
            events=event_mask(self.events),
        )

    async def _after_login(self, proto: AmiProtocol):
        try:
            settings = await self._request(proto, {"Action": "CoreSettings"}, self.action_timeout)
            if settings.ok:
                self.ami_version = settings.get("AMIversion") or proto.version
                self.asterisk_version = settings.get("AsteriskVersion")
            else:
                _logger.warning("%s: CoreSettings refused: %s", self.name, settings.message)
        except AmiTimeout:
            _logger.warning("%s: CoreSettings timed out", self.name)
        if self.ami_version is None:
            self.ami_version = proto.version
        self._filters.reset()
        if self.event_filters:
            await self._add_filters(proto, self.event_filters)

    async def _add_filters(self, proto: AmiProtocol, names: Iterable[str]):
        def request(fields):
            return self._request(proto, fields, self.action_timeout)

        if not await self._filters.add(request, names):
            _logger.warning("%s: AMI Filter %s: %s (events are filtered client side)",
                            self.name, self.filter_status, self.filter_error)  # fmt: skip

    async def _run_on_connect(self):
        try:
            await self.on_connect(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._set_error(f"on_connect failed: {exc}")
            _logger.exception("%s: on_connect failed", self.name)

    async def _watchdog(self, proto: AmiProtocol):
        """Ping every ``ping_interval``.  Dead = no answer within ``ping_timeout``
        and not a byte received meanwhile (a reply stuck behind an event burst is
        not death), or no answer at all within 3 x ``ping_timeout``."""
        loop = asyncio.get_running_loop()
        while not proto.closed:
            await asyncio.sleep(self.ping_interval)
            sent = loop.time()
            try:
                action = proto.request(self._new_action({"Action": "Ping"}))
            except AmiNotConnected:
                return
            try:
                while True:
                    done, _ = await asyncio.wait({action.future}, timeout=self.ping_timeout)
                    if done:
                        if action.future.exception() is not None:  # connection lost
                            return
                        break
                    now = loop.time()
                    waited = now - sent
                    if now - proto.last_rx >= self.ping_timeout or waited >= 3 * self.ping_timeout:
                        _logger.warning("%s: Ping unanswered for %.1fs: dead", self.name, waited)
                        reason = f"Ping unanswered for {waited:.1f}s"
                        proto.close(reason, abort=True, error=True)
                        return
            finally:
                proto.forget(action)

    # -- actions --------------------------------------------------------------

    def _new_action(self, fields) -> AmiAction:
        loop = self.loop or asyncio.get_running_loop()
        return AmiAction(fields, next(self._ids), loop)

    async def _request(self, proto: AmiProtocol, fields, timeout: float) -> AmiReply:
        action = fields if isinstance(fields, AmiAction) else self._new_action(fields)
        proto.request(action)
        try:
            return await asyncio.wait_for(action.future, timeout)
        except TimeoutError:
            partial = AmiReply.from_action(action) if action.responses else None
            message = f"{action.name}: no complete reply within {timeout}s"
            raise AmiTimeout(message, partial) from None
        finally:
            proto.forget(action)

    async def send_action(self, action: dict, timeout: float | None = None) -> AmiReply:
        """Send ``action`` and return its complete reply (EventList items included).

        ``Response: Error`` is a reply with ``ok = False``.  Raises
        :class:`AmiNotConnected` at once when not logged in, :class:`AmiTimeout`
        after ``timeout`` (default ``action_timeout``), :class:`AmiConnectionLost`.
        A missing ``ActionID`` is generated; CR/LF in values become spaces.
        """
        proto = self._protocol
        if not self.connected:
            self.actions_failed += 1
            raise AmiNotConnected(f"{self.name}: not connected (last error: {self.last_error})")
        self.actions_sent += 1
        try:
            action = self._new_action(action)
            reply = await self._request(proto, action, timeout or self.action_timeout)
        except AmiError:
            self.actions_failed += 1
            raise
        if not reply.ok:
            self.actions_failed += 1
        return reply

    # -- reconfiguration ------------------------------------------------------

    _CONNECTION_KEYS = ("host", "port", "username", "secret", "md5_login", "ssl")
    _UPDATABLE = (
        *_CONNECTION_KEYS, "events", "event_filters", "wanted", "name", "on_event", "on_connect",
        "on_disconnect", "connect_timeout", "action_timeout", "ping_interval", "ping_timeout",
        "backoff_initial", "backoff_max",
    )  # fmt: skip

    def update(self, **changes) -> set[str]:
        """Apply new settings to a running client.  Returns what it does about them:

        ``"reconnect"`` when a connection parameter changed or a filter must go
        (AMI cannot remove a ``Filter`` from a session), ``"filters"`` when only
        new filters are added live, ``"events"`` when the event mask is changed
        live (``Events`` action), ``"wanted"`` when the drop predicate changed.
        """
        unknown = set(changes) - set(self._UPDATABLE)
        if unknown:
            raise TypeError(f"update() got unknown settings: {sorted(unknown)}")
        if "port" in changes:
            changes["port"] = int(changes["port"])
        if "event_filters" in changes:
            changes["event_filters"] = list(changes["event_filters"] or [])
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        old_filters = self.event_filters
        for key, value in changed.items():
            setattr(self, key, value)  # a new wanted() starts with an empty cache
        done = set()
        if "wanted" in changed:
            done.add("wanted")
        live = self.connected
        if any(k in changed for k in self._CONNECTION_KEYS):
            done.add("reconnect")
        elif "event_filters" in changed and live:
            # Without a live session the next login installs the new list anyway.
            if set(old_filters) - set(self.event_filters):
                done.add("reconnect")
            else:
                added = self._filters.missing(self.event_filters)
                if added:
                    done.add("filters")
                    self._spawn(self._live_filters(added))
        if "events" in changed and live and "reconnect" not in done:
            done.add("events")
            self._spawn(self._live_events())
        if "reconnect" in done and self._task is not None and not self._task.done():
            self._reconnect_now("settings changed")
        return done

    def _spawn(self, coro):
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reconnect_now(self, reason: str):
        self._skip_backoff = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._protocol is not None:
            self._protocol.close(reason)

    async def _live_filters(self, names):
        proto = self._protocol
        if proto is not None and self.connected:
            try:
                await self._add_filters(proto, names)
            except AmiError as exc:
                _logger.warning("%s: adding filters failed: %s", self.name, exc)

    async def _live_events(self):
        proto = self._protocol
        if proto is None or not self.connected:
            return
        action = {"Action": "Events", "EventMask": event_mask(self.events)}
        try:
            reply = await self._request(proto, action, self.action_timeout)
            if not reply.ok:
                _logger.warning("%s: Events refused: %s", self.name, reply.message)
        except AmiError as exc:
            _logger.warning("%s: Events failed: %s", self.name, exc)
