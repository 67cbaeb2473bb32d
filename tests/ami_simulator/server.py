"""The AMI server: TCP sessions, authentication, event routing and actions.

Behaviour follows Asterisk 20 ``main/manager.c`` (texts of every response
are the ones of that file) and the reference captures.  One
:class:`AmiSimulator` is one simulated Asterisk: its channel table, config
store, calls and connected sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable

from . import channels as ch
from . import originate as orig
from . import pbx
from . import recording as rec
from . import scenarios as sc
from .channels import ChannelTable, Clock, format_duration
from .configstore import ConfigStore, UpdateError
from .protocol import (
    ALL_EVENTS,
    AMI_VERSION,
    BANNER,
    EVENT_FLAGS,
    PARSE_LINE_TOO_LONG,
    PARSE_TOO_MANY_HEADERS,
    EventFilter,
    Message,
    MessageParser,
    category_of_privilege,
    encode,
    get_perm,
    normalize_pairs,
    privilege_string,
    should_send,
    strings_to_mask,
    user_authority_to_str,
)
from .scenarios import separate_args

log = logging.getLogger("ami_simulator")

ASTERISK_VERSION = "20.10.0"
MAX_PUBLIC_UNIQUEID = 149  # channel.h AST_MAX_PUBLIC_UNIQUEID
TRUE_VALUES = {"yes", "true", "y", "t", "1", "on"}


def is_true(value: str) -> bool:
    return value.strip().lower() in TRUE_VALUES


class Session:
    """One TCP manager session (``struct mansession_session``)."""

    def __init__(
        self, sim: AmiSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.sim = sim
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        sock = writer.get_extra_info("sockname") or ("0.0.0.0", 0)
        self.remote = (peer[0], peer[1])
        self.local = (sock[0], sock[1])
        self.authenticated = False
        self.username = ""
        self.readperm = ALL_EVENTS
        self.writeperm = ALL_EVENTS
        self.send_events = 0
        self.includes: list[EventFilter] = []
        self.excludes: list[EventFilter] = []
        self.challenge = ""
        self.session_id = sc.fake_pointer()
        self.started = time.time()
        self.closed = False
        self.actions: list[Message] = []
        self.task: asyncio.Task | None = None
        # A message written in parts (write_parts) holds the session's output:
        # whatever else is written meanwhile waits in _held, in order, so that
        # messages are never interleaved (Asterisk serialises them per session).
        self._parts_lock = asyncio.Lock()
        self._held: list[bytes] | None = None

    # -- introspection helpers for tests -----------------------------------
    @property
    def filters(self) -> list[str]:
        return [f.pattern for f in self.includes] + ["!" + f.pattern for f in self.excludes]

    @property
    def event_mask(self) -> int:
        return self.send_events

    @property
    def remote_address(self) -> str:
        return f"IPV4/TCP/{self.remote[0]}/{self.remote[1]}"

    @property
    def local_address(self) -> str:
        return f"IPV4/TCP/{self.local[0]}/{self.local[1]}"

    def __repr__(self) -> str:  # pragma: no cover
        return f"<Session {self.username or '-'} {self.remote} mask={self.send_events:#x}>"

    # -- output --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write one whole message (queued while another is written in parts)."""
        if self._held is not None:
            self._held.append(data)
        else:
            self._write_now(data)

    def _write_now(self, data: bytes) -> None:
        if self.closed or self.sim.silent:
            return
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def write_parts(self, parts: list[bytes], pause: float = 0.0) -> None:
        """Write one message as several TCP writes, with a drain and ``pause`` between.

        The message stays whole on the wire: messages written meanwhile (action
        replies, events) are held and follow it; another ``write_parts`` waits.
        """
        async with self._parts_lock:
            self._held = []
            try:
                for i, part in enumerate(parts):
                    if i:
                        if not self.closed:
                            await self.writer.drain()
                        await asyncio.sleep(pause)
                    self._write_now(part)
            finally:
                held, self._held = self._held, None
                for data in held:
                    self._write_now(data)

    def send(self, pairs) -> None:
        self.write(encode(pairs))

    def response(self, m: Message, response: str, message: str | None = None, extra=()) -> None:
        """``astman_send_response_full``: Response, ActionID, Message, extras."""
        pairs = [("Response", response)]
        aid = m.get("ActionID")
        if aid:
            pairs.append(("ActionID", aid))
        if message is not None:
            pairs.append(("Message", message))
        pairs.extend(extra)
        self.send(pairs)

    def ack(self, m: Message, message: str | None = None, extra=()) -> None:
        self.response(m, "Success", message, extra)

    def error(self, m: Message, message: str) -> None:
        self.response(m, "Error", message)

    def listack(self, m: Message, message: str) -> None:
        pairs = [("Response", "Success")]
        aid = m.get("ActionID")
        if aid:
            pairs.append(("ActionID", aid))
        pairs += [("EventList", "start"), ("Message", message)]
        self.send(pairs)

    def list_item(self, m: Message, event: str, fields, actionid_last: bool = False) -> None:
        aid = m.get("ActionID")
        pairs = [("Event", event)]
        if aid and not actionid_last:
            pairs.append(("ActionID", aid))
        pairs.extend(fields)
        if aid and actionid_last:
            pairs.append(("ActionID", aid))
        self.send(pairs)

    def list_complete(self, m: Message, event: str, count: int, extra=()) -> None:
        pairs = [("Event", event)]
        aid = m.get("ActionID")
        if aid:
            pairs.append(("ActionID", aid))
        pairs += [("EventList", "Complete"), ("ListItems", str(count))]
        pairs.extend(extra)
        self.send(pairs)

    def wants(self, category: int, text_fn: Callable[[], str]) -> bool:
        if not self.authenticated or not (self.send_events & category):
            return False
        if self.includes or self.excludes:
            return should_send(self.includes, self.excludes, text_fn())
        return True

    async def close(self) -> None:
        if self.closed:
            return
        if self._parts_lock.locked():
            # let a message being written in parts end, and what it held go out
            # (e.g. the Goodbye of a Logoff) - unless the client stopped reading.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._parts_lock.acquire(), 2.0)
                self._parts_lock.release()
            if self.closed:
                return
        self.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.writer.drain()
        self.writer.close()


class AmiSimulator:
    """A simulated Asterisk 20 manager interface (see the package docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "odoo",
        secret: str = "odoo-secret",  # noqa: S107 - the test suite's AMI user
        failed_login_delay: float = 1.0,
        time_scale: float = 1.0,
        auth_timeout: float = 30.0,
        users: dict[str, str] | None = None,
        uptime: int = 23,
        seed_configs: bool = True,
        monitor_folder: str | None = None,
    ):
        self.host = host
        self.port = port
        self.users = dict(users or {})
        self.users.setdefault(username, secret)
        self.failed_login_delay = failed_login_delay
        self.auth_timeout = auth_timeout
        self.clock = Clock(time_scale)
        self.table = ChannelTable(self.clock, uniqueid_start=1)
        self.config_store = ConfigStore(seed=seed_configs)
        # what DialplanExtensionAdd/Remove changed since the dialplan was loaded
        self.dialplan_changes = sc.DialplanChanges()
        self.sessions: list[Session] = []
        # the most sessions logged in at once since start or reset_max_logged_in()
        self.max_logged_in = 0
        self.actions_received: list[dict] = []
        self.calls: dict[str, sc.Call] = {}
        # How each SIP peer's phone reacts when it is rung (by an Originate or a
        # Dial): peer -> "answer" | ("answer", ring_seconds[, talk_seconds]) |
        # "busy" | "ring" | "unreachable"; default: answers after 1 s of ringing.
        self.phone_behaviour: dict[str, object] = {}
        # Which way a race between two Asterisk threads goes, where recordings of
        # one call show both (tests/captures/README.md); default: the first way.
        # "first_ringing": the phone whose 180 Dial handles first when several
        # ring together (default: the first dialled); "early_ringing": a phone an
        # originated channel dials shows its 180 before the DialBegin;
        # "early_ringing_phone": the same for one phone among those an
        # originated Local channel's Dial rings (originate_ring_auto_answer);
        # "ringing_during_dial": a phone of a Dial of several whose 180 comes
        # right after its DialBegin, before the next one is called
        # (pjsip_ring_group, where "first_ringing" names it too);
        # "late_bridge": the ;2 a phone answered joins their bridge only when the
        # call ends (the number was busy at once: originate_local_auto_answer_busy);
        # "late_leg_hangup": a Dial's PJSIP channel it gave up ends after its
        # caller (pjsip_call_busy; default before it: pjsip_call_noanswer);
        # "callee_first": when the caller hangs up a bridged call, the callee's
        # bridge thread ends before the caller's Dial returns (pjsip_call_answered);
        # "caller_first": the caller's channel ends before the callee's bridge
        # thread notices (pjsip_ring_group).
        self.races: dict[str, object] = {}
        # (device, [extra header lines]) of each INVITE sent to a SIP or PJSIP
        # phone, in call order (pbx.invite): what the captures' sipp logs show
        self.invites: list[tuple[str, list[str]]] = []
        # res_parking: each lot's holding bridge, kept once created; spaces taken
        self.parking_bridges: dict[str, ch.Bridge] = {}
        self.parked_spaces: dict[str, set[str]] = {}
        self.silent = False
        self.log = log
        self.sip_registrations: dict[str, int] = {"alice": 5061}
        # the device state cache (devicestate.c): the last state published per
        # device, what DeviceStateList lists
        self.device_states: dict[str, str] = {}
        # queue member interface -> its device state number (QueueMemberStatus)
        self.queue_member_states: dict[str, int] = {}
        # manager.conf options of the users added with add_user(); the others
        # have read = all, write = all and no permit/deny lines.
        self.user_options: dict[str, dict] = {}
        # what "module show like" lists: file -> (description, support level)
        self.modules: dict[str, tuple[str, str]] = dict(LOADED_MODULES)
        # channel name -> its running MixMonitor; the files go to monitor_folder
        # (the PBX's monitor folder as a shared folder), if given
        self.mixmonitors: dict[str, rec.MixMonitor] = {}
        self.monitor_folder = monitor_folder
        self.started_at = time.time() - uptime
        self.reloaded_at = self.started_at
        self._server: asyncio.base_events.Server | None = None
        self._load = None
        self._tasks: set[asyncio.Task] = set()
        # --replay: events served to every session right after its login
        self.replay_file: str | None = None
        self.replay_rate = 0.0
        self.replay_split_utf8 = False
        self.replay_split_pause = 0.05
        self.events_published = 0

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every session (calls keep their state)."""
        self.stop_load()
        if self._server is not None:
            self._server.close()
            await self.drop_connections()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def shutdown(self) -> None:
        """stop() and cancel every call task."""
        await self.stop()
        for call in list(self.calls.values()):
            if call.task:
                call.task.cancel()
        self.calls.clear()

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def logged_in(self) -> int:
        """Sessions logged in now: authenticated and not closed (TCP
        connections that have not logged in do not count)."""
        return sum(1 for s in self.sessions if s.authenticated and not s.closed)

    def reset_max_logged_in(self) -> int:
        """Count the maximum again from the sessions logged in now; returns the old one."""
        previous, self.max_logged_in = self.max_logged_in, self.logged_in
        return previous

    async def drop_connections(self) -> None:
        for s in list(self.sessions):
            s.closed = True
            with contextlib.suppress(RuntimeError):
                s.writer.close()
            if s.task and s.task is not asyncio.current_task():
                s.task.cancel()
        self.sessions.clear()

    # -- event routing -----------------------------------------------------
    def publish(self, event) -> None:
        """Broadcast an ``(category, pairs)`` event, honouring masks and filters."""
        category, pairs = event
        name = pairs[0][1]
        body = pairs[1:]
        data = encode([("Event", name), ("Privilege", privilege_string(category))] + body)
        self.events_published += 1
        if name == "DeviceStateChange":
            fields = dict(body)
            self.device_states[fields.get("Device", "")] = fields.get("State", "")
        text: list[str] = []

        def text_fn() -> str:
            if not text:
                text.append(data.decode("utf-8", "replace"))
            return text[0]

        for s in self.sessions:
            if s.wants(category, text_fn):
                s.write(data)

    async def emit(self, event) -> None:
        """Public API: broadcast a dict / list of pairs as an event.

        ``Event`` must be given; ``Privilege`` is optional (default ``call``)
        and decides the event class used for ``Events:`` masks.
        """
        self.emit_nowait(event)
        await asyncio.sleep(0)

    def emit_nowait(self, event) -> None:
        pairs = normalize_pairs(event)
        name = next((v for k, v in pairs if k.lower() == "event"), None)
        if name is None:
            raise ValueError("an event needs an 'Event' key")
        priv = next((v for k, v in pairs if k.lower() == "privilege"), "call,all")
        body = [(k, v) for k, v in pairs if k.lower() not in ("event", "privilege")]
        self.publish((category_of_privilege(priv) or ch.CALL, [("Event", name)] + body))

    def event_tv(self, ts: float | None = None) -> str:
        ts = time.time() if ts is None else ts
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}+0000"
        )

    # -- scenarios -----------------------------------------------------------
    def start_call(self, scenario: str, **kw) -> str:
        """Start a named scenario (see ``scenarios.SCENARIOS``); returns its Linkedid.

        Must be called from the simulator's event loop.  Event-only scenarios
        (``sip_register``...) return an empty string.
        """
        if scenario in sc.EVENT_SCENARIOS:
            sc.EVENT_SCENARIOS[scenario](self, **kw)
            return ""
        try:
            factory = sc.SCENARIOS[scenario]
        except KeyError:
            raise ValueError(
                f"unknown scenario {scenario!r}; known: "
                f"{sorted(sc.SCENARIOS) + sorted(sc.EVENT_SCENARIOS)}"
            ) from None
        call = factory(self, **kw)
        return call.start()

    async def wait_calls_done(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.calls and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    def queue_members(self, queue: str) -> list[dict]:
        cfg = self.config_store.files.get("queues.conf")
        out = []
        for cat in cfg.find(queue) if cfg else []:
            for v in cat.variables:
                if v.name == "member":
                    parts = [p.strip() for p in v.value.split(",")]
                    out.append(
                        {"interface": parts[0], "name": parts[2] if len(parts) > 2 else parts[0]}
                    )
        return out

    def start_mixmonitor(self, chan: ch.Channel, filename: str, options: str = "") -> None:
        """MixMonitor (the application or the action) on ``chan``: its file's full
        path, MixMonitorStart; a two-party bridge the channel is in publishes its
        peers again (it re-evaluates its technology for the audiohook: capture
        mixmonitor_action)."""
        path = rec.full_path(filename)
        self.mixmonitors[chan.name] = rec.MixMonitor(path, self.clock.now(), options)
        self.publish(ch.varset(chan, "MIXMONITOR_FILENAME", path))
        self.publish(sc.ev_plain("MixMonitorStart", chan))
        bridge = chan.bridge
        if bridge is not None and len(bridge.channels) == 2 and chan.call is not None:
            bridge.technology = "simple_bridge"  # no native RTP with an audiohook
            pbx.bridge_peer_vars(chan.call, *bridge.channels)

    def recording(self, chan: ch.Channel) -> rec.MixMonitor | None:
        return self.mixmonitors.get(chan.name)

    def end_mixmonitor(self, chan: ch.Channel) -> rec.MixMonitor | None:
        """The recording of ``chan`` ends (StopMixMonitor, or the channel hung
        up): Asterisk closes its file."""
        recording = self.mixmonitors.pop(chan.name, None)
        if recording is not None and self.monitor_folder:
            try:
                written = rec.write(self.monitor_folder, recording, self.clock.now())
            except OSError:
                self.log.exception("recording %s not written", recording.path)
            else:
                if written:
                    self.log.info("recording %s written to %s", recording.path, written)
        return recording

    # -- load generator / replay (implemented in their own modules) ----------
    def start_load(self, calls_per_second: float, duration: float | None = None, mix=None):
        from .loadgen import LoadGenerator

        self.stop_load()
        self._load = LoadGenerator(self, calls_per_second, duration, mix)
        self._load.start()
        return self._load

    def stop_load(self) -> None:
        if self._load is not None:
            self._load.stop()
            self._load = None

    # -- connection handling -------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        session.task = asyncio.current_task()
        self.sessions.append(session)
        try:
            session.write(BANNER)
            await self._serve(session)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # never let one client take the server down
            log.exception("session %s crashed", session.remote)
        finally:
            if session in self.sessions:
                self.sessions.remove(session)
            session.closed = True
            with contextlib.suppress(RuntimeError):
                writer.close()

    async def _serve(self, s: Session) -> None:
        parser = MessageParser()
        while not s.closed:
            timeout = None
            if not s.authenticated:
                # manager.c drops sessions that do not log in within authtimeout.
                timeout = max(0.0, s.started + self.auth_timeout - time.time())
            try:
                data = await asyncio.wait_for(s.reader.read(65536), timeout)
            except TimeoutError:
                return
            if not data:
                return
            for m in parser.feed(data):
                if s.closed:
                    return
                if not await self._process(s, m):
                    await s.close()
                    return
                if not s.closed and not self.silent:
                    await s.writer.drain()

    async def _process(self, s: Session, m: Message) -> bool:
        if m.parse_error == PARSE_LINE_TOO_LONG:
            s.error(m, "Failed to parse message: line too long")
            return True
        if m.parse_error == PARSE_TOO_MANY_HEADERS:
            s.error(m, "Too many lines in message or allocation failure")
            return True
        action = m.get_nonempty("Action")
        record = m.as_dict()
        record["_session"] = id(s)
        if m.pairs:
            self.actions_received.append(record)
            s.actions.append(m)
        if self.silent:
            return True
        if not action:
            s.error(m, "Missing action in request")
            return True
        low = action.lower()
        if not s.authenticated and low not in ("login", "logoff", "challenge"):
            s.error(m, "Permission denied")
            return True
        handler = ACTIONS.get(low)
        if handler is None or (low in PARKING_ACTIONS and self._parking_lots() is None):
            s.error(
                m,
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands.",
            )
            return True
        authority = ACTION_INFO.get(low, (0, ""))[0]
        if authority and not s.writeperm & authority:
            # process_message(): the user's write classes do not cover it.
            self._security(
                s,
                "RequestNotAllowed",
                1,
                {
                    "AccountID": s.username,
                    "RequestType": f"Action: {action}",
                    "SessionTV": self.event_tv(s.started),
                },
            )
            s.error(m, "Permission denied")
            return True
        result = handler(self, s, m)
        if asyncio.iscoroutine(result):
            result = await result
        return result is not False

    # -- authentication ------------------------------------------------------
    def add_user(
        self,
        username: str,
        secret: str,
        *,
        read: str = "all",
        write: str = "all",
        acl: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """A manager.conf user: ``read``/``write`` as written there (``"call,cdr"``),
        ``acl`` its ``permit``/``deny`` lines in order (``("deny", "0.0.0.0/0")``)."""
        for sense, network in acl:
            if sense not in ("permit", "deny"):
                raise ValueError(f"not an ACL line: {sense!r}")
            ipaddress.ip_network(network, strict=False)
        self.users[username] = secret
        self.user_options[username] = {"read": read, "write": write, "acl": tuple(acl)}

    def user_perms(self, username: str) -> tuple[int, int]:
        """(readperm, writeperm) of a user: manager.c ``get_perm`` of its lines."""
        opts = self.user_options.get(username)
        if opts is None:
            return ALL_EVENTS, ALL_EVENTS
        return get_perm(opts["read"]), get_perm(opts["write"])

    def acl_denies(self, username: str, address: str) -> bool:
        """``ast_apply_acl``: allowed by default, the last matching line decides."""
        acl = self.user_options.get(username, {}).get("acl", ())
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return bool(acl)
        allowed = True
        for sense, network in acl:
            net = ipaddress.ip_network(network, strict=False)
            if addr.version == net.version and addr in net:
                allowed = sense == "permit"
        return not allowed

    def _security(
        self, s: Session, name: str, version: int, fields, severity: str = "Error"
    ) -> None:
        self.publish(
            sc.security_event(
                self,
                name,
                severity,
                version,
                [
                    ("AccountID", fields.pop("AccountID", "")),
                    ("SessionID", s.session_id),
                    ("LocalAddress", s.local_address),
                    ("RemoteAddress", s.remote_address),
                ]
                + list(fields.items()),
            )
        )

    async def act_login(self, s: Session, m: Message):
        if s.authenticated:
            s.ack(m, "Already authenticated")
            return True
        username = m.get("Username")
        ok = False
        if username:
            secret = self.users.get(username)
            if secret is None:
                self._security(
                    s,
                    "InvalidAccountID",
                    1,
                    {"AccountID": username, "SessionTV": "1970-01-01T00:00:00.000+0000"},
                )
            elif self.acl_denies(username, s.remote[0]):
                # authenticate(): checked before the secret, same answer.
                self._security(
                    s,
                    "FailedACL",
                    1,
                    {"AccountID": username, "SessionTV": "1970-01-01T00:00:00.000+0000"},
                )
            elif m.get("AuthType").lower() == "md5":
                key = m.get("Key")
                if key and s.challenge:
                    expected = hashlib.md5(
                        (s.challenge + secret).encode(), usedforsecurity=False
                    ).hexdigest()
                    if key == expected:
                        ok = True
                    else:
                        # Asterisk 20 leaves AccountID empty in this event (capture e).
                        self._security(
                            s,
                            "ChallengeResponseFailed",
                            1,
                            {
                                "AccountID": "",
                                "Challenge": s.challenge,
                                "Response": key,
                                "ExpectedResponse": expected,
                                "SessionTV": "1970-01-01T00:00:00.000+0000",
                            },
                        )
            elif m.get("Secret") == secret:
                ok = True
            else:
                self._security(
                    s,
                    "InvalidPassword",
                    2,
                    {"AccountID": username, "SessionTV": "1970-01-01T00:00:00.000+0000"},
                )
        if not ok:
            # manager.c: sleep(1) before answering, then drop the connection.
            await asyncio.sleep(self.failed_login_delay)
            s.error(m, "Authentication failed")
            return False
        s.authenticated = True
        # logins are the only place the number grows: the maximum is exact
        self.max_logged_in = max(self.max_logged_in, self.logged_in)
        s.username = username
        s.readperm, s.writeperm = self.user_perms(username)
        s.started = time.time()
        events = m.get("Events")
        mask = strings_to_mask(events) if events else -1
        s.send_events = s.readperm & mask if mask >= 0 else s.readperm
        s.ack(m, "Authentication accepted")
        if s.send_events & ch.SYSTEM:
            now = time.time()
            s.send(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", privilege_string(ch.SYSTEM)),
                    ("Uptime", str(int(now - self.started_at))),
                    ("LastReload", str(int(now - self.reloaded_at))),
                    ("Status", "Fully Booted"),
                ]
            )
        self._security(
            s,
            "SuccessfulAuth",
            1,
            {"AccountID": username, "UsingPassword": "0", "SessionTV": self.event_tv(s.started)},
            severity="Informational",
        )
        if self.replay_file:
            self.replay(
                s,
                self.replay_file,
                self.replay_rate,
                self.replay_split_utf8,
                self.replay_split_pause,
            )
        return True

    def replay(
        self,
        session: Session,
        path: str,
        rate: float = 0.0,
        split_utf8: bool = False,
        pause: float = 0.05,
    ) -> asyncio.Task:
        """Serve the events of capture ``path`` to ``session`` (see replay.py)."""
        from .replay import load_events, replay_to

        task = asyncio.create_task(replay_to(session, load_events(path), rate, split_utf8, pause))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def act_challenge(self, s: Session, m: Message):
        if m.get("AuthType").lower() != "md5":
            s.error(m, "Must specify AuthType")
            return True
        if not s.challenge:
            s.challenge = str(random.randrange(0, 2**31))
        s.ack(m, None, [("Challenge", s.challenge)])
        return True

    def act_logoff(self, s: Session, m: Message):
        s.response(m, "Goodbye", "Thanks for all the fish.")
        return False

    def act_ping(self, s: Session, m: Message):
        now = time.time()
        s.ack(m, None, [("Ping", "Pong"), ("Timestamp", f"{int(now)}.{int(now % 1 * 1e6):06d}")])
        return True

    def act_events(self, s: Session, m: Message):
        mask = strings_to_mask(m.get("EventMask"))
        if mask >= 0:
            s.send_events = s.readperm & mask
        aid = m.get("ActionID")
        head = [("Response", "Success")] + ([("ActionID", aid)] if aid else [])
        if mask > 0:
            s.send(head + [("Events", "On")])
        elif mask == 0:
            s.send(head + [("Events", "Off")])
        else:
            s.error(m, "Invalid event mask")
        return True

    def act_filter(self, s: Session, m: Message):
        if m.get("Operation").lower() != "add":
            s.error(m, "Unknown operation")
            return True
        pattern = m.get("Filter")
        if not pattern or pattern == "!":
            s.error(m, "Filter was formatted incorrectly.  Check the syntax of the filter given.")
            return True
        try:
            f = EventFilter(pattern)
        except re.error:
            s.error(m, "Filter did not compile.  Check the syntax of the filter given.")
            return True
        (s.excludes if f.exclude else s.includes).append(f)
        s.ack(m, "Success")
        return True

    # -- calls -----------------------------------------------------------------
    def set_phone(self, peer: str, behaviour=None) -> None:
        """How ``peer``'s phone reacts to being rung (see ``phone_behaviour``);
        None: back to the default (answers after 1 s)."""
        if behaviour is None:
            self.phone_behaviour.pop(peer, None)
            return
        pbx.phone_spec(behaviour)  # ValueError for an unknown behaviour
        self.phone_behaviour[peer] = behaviour

    async def act_originate(self, s: Session, m: Message):
        channel_id, other_id = m.get("ChannelId"), m.get("OtherChannelId")
        if len(channel_id) > MAX_PUBLIC_UNIQUEID or len(other_id) > MAX_PUBLIC_UNIQUEID:
            s.error(m, f"Uniqueid length exceeds maximum of {MAX_PUBLIC_UNIQUEID}")
            return True
        channel = self._header(s, m, "Channel", "Channel not specified")
        if channel is None:
            return True
        tech, sep, data = channel.partition("/")
        if not sep or not data:
            s.error(m, "Invalid channel")
            return True
        timeout_hdr = m.get("Timeout")
        try:
            timeout = int(timeout_hdr) / 1000.0 if timeout_hdr else 30.0
        except ValueError:
            s.error(m, "Invalid timeout")
            return True
        priority = m.get("Priority")
        if priority and not priority.isdigit():
            s.error(m, "Invalid priority")
            return True
        app, appdata = m.get("Application"), m.get("Data")
        context, exten = m.get("Context"), m.get("Exten")
        if not app and not (exten and context and priority) and exten:
            s.error(m, "Originate with 'Exten' requires 'Context' and 'Priority'")
            return True
        cid = sc.parse_callerid(m.get("CallerID"))
        variables = []
        for v in m.getall("Variable"):
            for item in separate_args(v.lstrip()):
                k, _, val = item.partition("=")
                if k:
                    variables.append((k.strip(), val))
        # astman_get_variables() prepends each one: the channel gets them last
        # first (capture originate_ring_auto_answer, three Variable headers)
        variables.reverse()
        is_async = is_true(m.get("Async"))
        loop = asyncio.get_running_loop()
        result = None if is_async else loop.create_future()
        # the arguments both kinds of originated call take
        common = {
            "app": app,
            "appdata": appdata,
            "cid": cid,
            "timeout": timeout,
            "action_id": m.get("ActionID"),
            "variables": variables,
            "result": result,
            "emit_response": is_async,
        }
        if tech.lower() == "local":
            target = data.split("/")[0]
            dexten, _, dcontext = target.partition("@")
            in_use = [i for i in (channel_id, channel_id and other_id) if i]
            if any(self.table.by_uniqueid(i) for i in in_use):
                # "Channel Unique ID already in use": no channel, Reason 0
                call = orig.PhoneOriginateCall(
                    self,
                    "Local",
                    data,
                    context=context,
                    exten=exten,
                    channel_id=channel_id,
                    **common,
                )
                call.spec = ("unreachable", 0.0, None)
            else:
                call = sc.LocalOriginateCall(
                    self,
                    dexten,
                    dcontext or "default",
                    dial_context=context,
                    dial_exten=exten,
                    dial_priority=int(priority or 1),
                    optimize="/n" not in data,
                    account=m.get("Account"),
                    channel_id=channel_id,
                    other_channel_id=other_id,
                    **common,
                )
        elif tech.upper() in ("SIP", "PJSIP"):
            call = orig.PhoneOriginateCall(
                self,
                tech.upper(),
                data,
                context=context,
                exten=exten,
                priority=int(priority or 1),
                channel_id=channel_id,
                account=m.get("Account"),
                **common,
            )
        else:
            s.error(m, "Originate failed")
            return True
        if is_async:
            s.ack(m, "Originate successfully queued")
            call.start()
            return True
        call.start()
        reason = await result
        if reason == sc.REASON_ANSWERED:
            s.ack(m, "Originate successfully queued")
        else:
            s.error(m, "Originate failed")
        return True

    def _match_channels(self, name_or_regex: str) -> list[ch.Channel] | str:
        if name_or_regex.startswith("/"):
            if len(name_or_regex) < 2 or not name_or_regex.endswith("/"):
                return "Regex format invalid, Channel param should be /regex/"
            try:
                rx = re.compile(name_or_regex[1:-1])
            except re.error:
                return f"Regex compile failed on: {name_or_regex}"
            return [c for c in self.table.ordered() if rx.search(c.name)]
        chan = self.table.get(name_or_regex)
        return [chan] if chan else []

    # -- shared validation: each sends the error and returns None on failure --
    @staticmethod
    def _header(s: Session, m: Message, header: str, missing: str) -> str | None:
        """The value of a mandatory header; ``missing`` is the error when it is empty."""
        value = m.get(header)
        if not value:
            s.error(m, missing)
            return None
        return value

    def _required(self, s: Session, m: Message, *headers: tuple[str, str]) -> list[str] | None:
        """The values of ``headers`` (``(header, missing)`` pairs, checked in order)."""
        values = []
        for header, missing in headers:
            value = self._header(s, m, header, missing)
            if value is None:
                return None
            values.append(value)
        return values

    def _existing_channel(self, s: Session, m: Message) -> ch.Channel | None:
        """The channel named by ``Channel:`` (MixMonitor, StopMixMonitor)."""
        name = self._header(s, m, "Channel", "No channel specified")
        if name is None:
            return None
        chan = self.table.get(name)
        if chan is None:
            s.error(m, "No such channel")
        return chan

    def _transfer_request(self, s: Session, m: Message) -> tuple[ch.Channel, str] | None:
        """The channel (in a call) and the ``Exten:`` of BlindTransfer / Atxfer."""
        required = self._required(
            s, m, ("Channel", "No channel specified"), ("Exten", "No extension specified")
        )
        if not required:
            return None
        name, exten = required
        chan = self.table.get(name)
        if chan is None or chan.call is None:
            s.error(m, "Channel specified does not exist")
            return None
        return chan, exten

    def _variable_request(self, s: Session, m: Message) -> tuple[str, ch.Channel | None] | None:
        """The ``Variable:`` and the optional ``Channel:`` of Getvar / Setvar."""
        var = self._header(s, m, "Variable", "No variable specified")
        if var is None:
            return None
        name = m.get("Channel")
        chan = self.table.get(name) if name else None
        if name and chan is None:
            s.error(m, "No such channel")
            return None
        return var, chan

    def act_hangup(self, s: Session, m: Message):
        name = self._header(s, m, "Channel", "No channel specified")
        if name is None:
            return True
        cause_hdr = m.get("Cause")
        cause = int(cause_hdr) if cause_hdr.isdigit() and int(cause_hdr) <= 127 else 0
        found = self._match_channels(name)
        if isinstance(found, str):
            s.error(m, found)
            return True
        if not name.startswith("/"):
            if not found:
                s.error(m, "No such channel")
                return True
            s.ack(m, "Channel Hungup")
        else:
            s.listack(m, "Channels hung up will follow")
            aid = m.get("ActionID")
            for c in found:
                s.send(
                    [("Event", "ChannelHungup"), ("Channel", c.name)]
                    + ([("ActionID", aid)] if aid else [])
                )
            s.list_complete(m, "ChannelsHungupListComplete", len(found))
        for c in found:
            if c.alive and c.call is not None:
                c.call.ami_hangup(c, cause)
        return True

    def _redirect_leg(
        self, s: Session, m: Message, prefix: str, name: str, prio: str
    ) -> ch.Channel | None:
        """A Redirect leg (``prefix`` "" or "Extra"): a numeric priority, an existing channel."""
        if not prio.isdigit():
            s.error(m, f"{prefix}Priority is invalid")
            return None
        chan = self.table.get(name)
        if chan is None:
            s.error(m, f"{prefix}Channel does not exist: {name}")
        return chan

    def act_redirect(self, s: Session, m: Message):
        required = self._required(
            s,
            m,
            ("Channel", "Channel not specified"),
            ("Context", "Context not specified"),
            ("Exten", "Exten not specified"),
            ("Priority", "Priority not specified"),
        )
        if not required:
            return True
        name, context, exten, prio = required
        extra_name = m.get("ExtraChannel")
        chan = self._redirect_leg(s, m, "", name, prio)
        if chan is None:
            return True
        extra = extra_target = None
        if extra_name:
            e_exten = m.get("ExtraExten") or exten
            e_ctx = m.get("ExtraContext") or context
            e_prio = m.get("ExtraPriority") or prio
            extra = self._redirect_leg(s, m, "Extra", extra_name, e_prio)
            if extra is None:
                return True
            extra_target = (e_ctx, e_exten, int(e_prio))
            s.ack(m, "Dual Redirect successful")
        else:
            s.ack(m, "Redirect successful")
        if chan.call is not None:
            chan.call.redirect(chan, context, exten, int(prio), extra, extra_target)
        return True

    def act_blindtransfer(self, s: Session, m: Message):
        request = self._transfer_request(s, m)
        if request is None:
            return True
        chan, exten = request
        # The response is written before the transfer events (capture i2).
        problem = chan.call.blind_transfer_error(chan, m.get("Context"), exten)
        if problem:
            s.error(m, problem)
            return True
        s.ack(m, "Transfer succeeded")
        chan.call.blind_transfer(chan, m.get("Context"), exten)
        return True

    def act_atxfer(self, s: Session, m: Message):
        request = self._transfer_request(s, m)
        if request is None:
            return True
        chan, exten = request
        if getattr(chan.call, "bridge", None) is None:
            s.error(m, "No attended transfer feature code found")
            return True
        s.ack(m, "Atxfer successfully queued")
        chan.call.atxfer(chan, m.get("Context"), exten)
        return True

    def act_playdtmf(self, s: Session, m: Message):
        name = m.get("Channel")
        chan = self.table.get(name) if name else None
        if chan is None:
            s.error(m, "Channel not found")
            return True
        digit = self._header(s, m, "Digit", "No digit specified")
        if digit is None:
            return True
        s.ack(m, "DTMF successfully queued")
        duration = m.get("Duration") or "250"
        for begin, end in (("Yes", "No"), ("No", "Yes")):
            extra = [("Digit", digit[0]), ("Direction", "Sent")]
            if end == "Yes":
                extra.insert(1, ("DurationMs", duration))
            self.publish(
                (
                    EVENT_FLAGS["dtmf"],
                    [("Event", "DTMFBegin" if begin == "Yes" else "DTMFEnd")]
                    + chan.snapshot()
                    + extra,
                )
            )
        return True

    def act_mixmonitor(self, s: Session, m: Message):
        chan = self._existing_channel(s, m)
        if chan is None:
            return True
        filename = m.get("File") or f"{chan.uniqueid}.wav"
        s.ack(m, None)
        self.start_mixmonitor(chan, filename, m.get("Options") or "")
        return True

    def act_stopmixmonitor(self, s: Session, m: Message):
        chan = self._existing_channel(s, m)
        if chan is None:
            return True
        if self.end_mixmonitor(chan) is None:
            s.error(m, "Could not stop MixMonitor")
            return True
        s.ack(m, None)
        self.publish(sc.ev_plain("MixMonitorStop", chan))
        return True

    # -- status lists ----------------------------------------------------------
    def act_coreshowchannels(self, s: Session, m: Message):
        s.listack(m, "Channels will follow")
        now = self.clock.now()
        chans = self.table.ordered()
        for c in chans:
            s.list_item(
                m,
                "CoreShowChannel",
                c.snapshot()
                + [
                    ("Application", c.appl),
                    ("ApplicationData", c.data),
                    ("Duration", format_duration(now - c.created)),
                    ("BridgeId", c.bridge.uniqueid if c.bridge else ""),
                ],
            )
        s.list_complete(m, "CoreShowChannelsComplete", len(chans))
        return True

    def act_status(self, s: Session, m: Message):
        name = m.get("Channel")
        if name:
            c = self.table.get(name)
            if c is None:
                s.error(m, "No such channel")
                return True
            chans = [c]
        else:
            chans = self.table.ordered()
        s.listack(m, "Channel status will follow")
        now = self.clock.now()
        wanted_vars = [v.strip() for v in m.get("Variables").split(",") if v.strip()]
        for c in chans:
            fmt = "(slin)" if c.tech == "Local" else "(ulaw)"
            raw = "slin" if c.tech == "Local" else "ulaw"
            fields = (
                [("Privilege", "Call")]
                + c.snapshot()
                + [
                    ("Type", c.tech),
                    ("DNID", ""),
                    ("EffectiveConnectedLineNum", c.conn_num),
                    ("EffectiveConnectedLineName", c.conn_name),
                    ("TimeToHangup", "0"),
                    ("BridgeID", c.bridge.uniqueid if c.bridge else ""),
                    ("Application", c.appl),
                    ("Data", c.data),
                    ("Nativeformats", fmt),
                    ("Readformat", raw),
                    ("Readtrans", ""),
                    ("Writeformat", raw),
                    ("Writetrans", ""),
                    ("Callgroup", "0"),
                    ("Pickupgroup", "0"),
                    ("Seconds", str(int(now - c.created))),
                ]
            )
            fields += [("Variable", f"{v}={c.variables.get(v, '')}") for v in wanted_vars]
            s.list_item(m, "Status", fields, actionid_last=True)
        s.list_complete(m, "StatusComplete", len(chans), [("Items", str(len(chans)))])
        return True

    def act_bridgelist(self, s: Session, m: Message):
        s.listack(m, "Bridge listing will follow")
        btype = m.get("BridgeType")
        bridges = [b for b in self.table.bridges.values() if not btype or b.bridge_type == btype]
        for b in bridges:
            s.list_item(m, "BridgeListItem", b.snapshot())
        s.list_complete(m, "BridgeListComplete", len(bridges))
        return True

    def act_bridgeinfo(self, s: Session, m: Message):
        bid = self._header(s, m, "BridgeUniqueid", "BridgeUniqueid must be provided")
        if bid is None:
            return True
        b = self.table.bridges.get(bid)
        if b is None:
            s.error(m, f"Bridge {bid} not found")
            return True
        s.listack(m, "Bridge channel listing will follow")
        for c in b.channels:
            s.list_item(m, "BridgeInfoChannel", c.snapshot())
        s.list_complete(m, "BridgeInfoComplete", len(b.channels), b.snapshot())
        return True

    def act_queuestatus(self, s: Session, m: Message):
        s.listack(m, "Queue status will follow")
        count = 0
        for queue in self._queues(m.get("Queue")):
            members = self.queue_members(queue)
            callers = self._queue_callers(queue)
            s.list_item(
                m,
                "QueueParams",
                [
                    ("Queue", queue),
                    ("Max", "0"),
                    ("Strategy", "ringall"),
                    ("Calls", str(len(callers))),
                    ("Holdtime", "0"),
                    ("TalkTime", "0"),
                    ("Completed", "0"),
                    ("Abandoned", "0"),
                    ("ServiceLevel", "0"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                ],
            )
            count += 1
            for mem in members:
                s.list_item(
                    m,
                    "QueueMember",
                    [
                        ("Queue", queue),
                        ("Name", mem["name"]),
                        ("Location", mem["interface"]),
                        ("StateInterface", mem["interface"]),
                        ("Membership", "static"),
                        ("Penalty", "0"),
                        ("CallsTaken", "0"),
                        ("LastCall", "0"),
                        ("LastPause", "0"),
                        ("LoginTime", str(int(self.started_at))),
                        ("InCall", "0"),
                        ("Status", str(self.queue_member_states.get(mem["interface"], 1))),
                        ("Paused", "0"),
                        ("PausedReason", ""),
                        ("Wrapuptime", "0"),
                    ],
                )
                count += 1
            for pos, c in enumerate(callers, 1):
                s.list_item(
                    m,
                    "QueueEntry",
                    [
                        ("Queue", queue),
                        ("Position", str(pos)),
                        ("Channel", c.name),
                        ("Uniqueid", c.uniqueid),
                        ("CallerIDNum", c.cid_num),
                        ("CallerIDName", c.cid_name),
                        ("ConnectedLineNum", c.conn_num),
                        ("ConnectedLineName", c.conn_name),
                        ("Wait", str(int(self.clock.now() - c.created))),
                        ("Priority", "0"),
                    ],
                )
                count += 1
        s.list_complete(m, "QueueStatusComplete", count)
        return True

    def act_queuesummary(self, s: Session, m: Message):
        """app_queue.c manager_queues_summary: members neither unavailable nor
        invalid are logged in, those not in use (or unknown) available; the
        callers are those waiting (a caller connected to a member left)."""
        s.listack(m, "Queue summary will follow")
        queues = self._queues(m.get("Queue"))
        now = self.clock.now()
        for queue in queues:
            states = [
                self.queue_member_states.get(mem["interface"], 1)
                for mem in self.queue_members(queue)
            ]
            callers = self._queue_callers(queue)
            longest = max((int(now - c.created) for c in callers), default=0)
            s.list_item(
                m,
                "QueueSummary",
                [
                    ("Queue", queue),
                    ("LoggedIn", str(sum(1 for st in states if st not in (4, 5)))),
                    ("Available", str(sum(1 for st in states if st in (0, 1)))),
                    ("Callers", str(len(callers))),
                    ("HoldTime", "0"),
                    ("TalkTime", "0"),
                    ("LongestHoldTime", str(longest)),
                ],
                actionid_last=True,
            )
        s.list_complete(m, "QueueSummaryComplete", len(queues))
        return True

    def _queue_callers(self, queue: str) -> list[ch.Channel]:
        """The callers waiting in ``queue`` (its queue_ent list), in order."""
        return [
            c
            for c in self.table.channels.values()
            if c.appl == "Queue" and c.data.split(",")[0] == queue and c.bridge is None
        ]

    def _queues(self, only: str) -> list[str]:
        cfg = self.config_store.files.get("queues.conf")
        names = [c.name for c in cfg.categories if c.name != "general"] if cfg else []
        return [q for q in names if not only or q == only]

    def _sip_peers(self) -> list[tuple[str, dict]]:
        cfg = self.config_store.files.get("sip.conf")
        out = []
        for cat in cfg.categories if cfg else []:
            if cat.name == "general":
                continue
            out.append((cat.name, {v.name: v.value for v in cat.variables}))
        return out

    def act_sippeers(self, s: Session, m: Message):
        s.listack(m, "Peer status list will follow")
        peers = self._sip_peers()
        for name, opts in peers:
            dynamic = opts.get("host") == "dynamic"
            port = self.sip_registrations.get(name) if dynamic else opts.get("port", "5060")
            ip = "127.0.0.1" if (not dynamic or port) else "-none-"
            s.list_item(
                m,
                "PeerEntry",
                [
                    ("Channeltype", "SIP"),
                    ("ObjectName", name),
                    ("ChanObjectType", "peer"),
                    ("IPaddress", ip),
                    ("IPport", str(port or 0)),
                    ("Dynamic", "yes" if dynamic else "no"),
                    ("AutoForcerport", "yes"),
                    ("Forcerport", "no"),
                    ("AutoComedia", "no"),
                    ("Comedia", "no"),
                    ("VideoSupport", "no"),
                    ("TextSupport", "no"),
                    ("ACL", "no"),
                    ("Status", "Unmonitored"),
                    ("RealtimeDevice", "no"),
                    ("Description", ""),
                    ("Accountcode", ""),
                ],
            )
        s.list_complete(m, "PeerlistComplete", len(peers))
        return True

    def act_sipshowpeer(self, s: Session, m: Message):
        peer = self._header(s, m, "Peer", "Peer: <name> missing.")
        if peer is None:
            return True
        opts = dict(self._sip_peers()).get(peer)
        if opts is None:
            s.error(m, "Peer not found")
            return True
        dynamic = opts.get("host") == "dynamic"
        port = self.sip_registrations.get(peer, 0) if dynamic else opts.get("port", "5060")
        s.ack(m, None, _sipshowpeer_fields(peer, opts, dynamic, port))
        return True

    def _pjsip_sections(self) -> dict[str, dict[str, dict]]:
        """``{type: {name: options}}`` of the store's pjsip*.conf files."""
        return pbx.pjsip_sections(self)

    def act_pjsipshowcontacts(self, s: Session, m: Message):
        # Only the contacts registered to a PJSIP AOR (a static contact is no
        # object of its own: "No Contacts found", checked on Asterisk 20).
        aors = self._pjsip_sections().get("aor", {})
        contacts = [(n, p) for n, p in self.sip_registrations.items() if n in aors]
        if not contacts:
            s.error(m, "No Contacts found\n")
            return True
        s.listack(m, "A listing of Contacts follows, presented as ContactList events")
        for name, port in contacts:
            uri = f"sip:{name}@127.0.0.1:{port}"
            qualify = aors[name].get("qualify_frequency", "0")
            s.list_item(
                m,
                "ContactList",
                [
                    ("ObjectType", "contact"),
                    (
                        "ObjectName",
                        f"{name};@{hashlib.md5(uri.encode(), usedforsecurity=False).hexdigest()}",
                    ),
                    ("ViaAddr", "127.0.0.1"),
                    ("QualifyTimeout", "3.000000"),
                    ("Qualify2xxOnly", "false"),
                    ("CallId", f"{name}-reg"),
                    ("RegServer", ""),
                    ("PruneOnBoot", "no"),
                    ("Path", ""),
                    ("Endpoint", name),
                    ("ViaPort", str(port)),
                    ("AuthenticateQualify", "no"),
                    ("Uri", uri),
                    ("QualifyFrequency", qualify),
                    ("UserAgent", "sipp"),
                    ("ExpirationTime", str(int(time.time()) + 3600)),
                    ("OutboundProxy", ""),
                    # as checked on Asterisk 20; a qualified one: until its first OPTIONS
                    ("Status", "NonQualified" if qualify == "0" else "Unknown"),
                    ("RoundtripUsec", "N/A"),
                ],
            )
        s.list_complete(m, "ContactListComplete", len(contacts))
        return True

    def act_pjsipshowendpoints(self, s: Session, m: Message):
        """pjsip_configuration.c ami_show_endpoints over the type=endpoint
        sections of the store's pjsip*.conf (checked on Asterisk 20: the
        static contacts of an AOR are listed, ``aor/uri,`` each)."""
        sections = self._pjsip_sections()
        endpoints = sections.get("endpoint", {})
        if not endpoints:
            s.error(m, "No endpoints found\n")
            return True
        s.listack(m, "A listing of Endpoints follows, presented as EndpointList events")
        static = {name: aor.get("contact") for name, aor in sections.get("aor", {}).items()}
        for name, values in sorted(endpoints.items()):
            aors = [a.strip() for a in values.get("aors", "").split(",") if a.strip()]
            contacts = "".join(f"{aor}/{static[aor]}," for aor in aors if static.get(aor))
            state = self.device_states.get(
                f"PJSIP/{name}", "NOT_INUSE" if contacts else "UNAVAILABLE"
            )
            s.list_item(
                m,
                "EndpointList",
                [
                    ("ObjectType", "endpoint"),
                    ("ObjectName", name),
                    ("Transport", values.get("transport", "")),
                    ("Aor", values.get("aors", "")),
                    ("Auths", values.get("auth", "")),
                    ("OutboundAuths", values.get("outbound_auth", "")),
                    ("Contacts", contacts),
                    ("DeviceState", DEVSTATE_TEXT.get(state, "Unknown")),
                    ("ActiveChannels", "0"),
                ],
            )
        s.list_complete(m, "EndpointListComplete", len(endpoints))
        return True

    def act_devicestatelist(self, s: Session, m: Message):
        """res_manager_devicestate.c: the cache's aggregate states, as
        DeviceStateChange events without Privilege."""
        s.listack(m, "Device State Changes will follow")
        states = list(self.device_states.items())
        for device, state in states:
            s.list_item(m, "DeviceStateChange", [("Device", device), ("State", state)])
        s.list_complete(m, "DeviceStateListComplete", len(states))
        return True

    # -- config ----------------------------------------------------------------
    def _config_file(self, s: Session, m: Message, header: str = "Filename") -> str | None:
        fn = self._header(s, m, header, "Filename not specified")
        if fn is None:
            return None
        if fn not in self.config_store:
            s.error(m, "Config file not found")
            return None
        return fn

    def act_getconfig(self, s: Session, m: Message):
        fn = self._config_file(s, m)
        if fn is None:
            return True
        category = m.get("Category")
        pairs = self.config_store.getconfig_lines(fn, category, m.get("Filter"))
        if category and not pairs:
            pairs = [("No categories found", "")]
        s.ack(m, None, pairs)
        return True

    def act_getconfigjson(self, s: Session, m: Message):
        fn = self._config_file(s, m)
        if fn is None:
            return True
        store = self.config_store
        s.ack(m, None, [("JSON", store.getconfig_json(fn, m.get("Category"), m.get("Filter")))])
        return True

    def act_listcategories(self, s: Session, m: Message):
        fn = self._config_file(s, m)
        if fn is None:
            return True
        cats = self.config_store.categories(fn)
        pairs = [(f"Category-{i:06d}", c) for i, c in enumerate(cats)] or [
            ("Error", "no categories found")
        ]
        s.ack(m, None, pairs)
        return True

    def act_updateconfig(self, s: Session, m: Message):
        src, dst = m.get("SrcFilename"), m.get("DstFilename")
        if not src or not dst:
            s.error(m, "Filename not specified")
            return True
        if src not in self.config_store:
            s.error(m, "Config file not found")
            return True
        try:
            self.config_store.update(src, dst, m)
        except UpdateError as exc:
            s.error(m, str(exc))
            return True
        s.ack(m, None)
        reload = m.get("Reload")
        if reload and reload.lower() not in ("no", "false", "0", "off"):
            self._reload(None if is_true(reload) else reload)
        return True

    def act_createconfig(self, s: Session, m: Message):
        fn = self._header(s, m, "Filename", "Filename not specified")
        if fn is None:
            return True
        if "/" in fn or fn.startswith("."):
            s.error(m, "Filename is invalid")
            return True
        if not self.config_store.create(fn):
            s.error(m, "File exists")  # strerror(EEXIST) of open(O_CREAT | O_EXCL)
            return True
        s.ack(m, "New configuration file created successfully")
        return True

    # -- pbx_config.c: the dialplan's extensions ------------------------------
    def act_dialplanextensionadd(self, s: Session, m: Message):
        """manager_dialplan_extension_add (capture originate_ring_auto_answer:
        Odoo's odoo-originate context, nine priorities with ``Replace: yes``)."""
        context, extension = m.get("Context"), m.get("Extension")
        priority, app = m.get("Priority"), m.get("Application")
        if not (context and extension and priority and app):
            s.error(
                m,
                "Context, Extension, Priority, and Application must be defined "
                "for DialplanExtensionAdd.",
            )
            return True
        prio = extension_priority(priority)
        if prio is None or (prio < 0 and priority != "hint"):
            s.error(m, "The priority specified was invalid.")
            return True
        failed = self.dialplan_changes.add(
            self.config_store,
            context,
            extension,
            prio,
            app,
            m.get("ApplicationData"),
            is_true(m.get("Replace")),
        )
        if failed is None:
            s.ack(m, "Added requested extension")
        elif failed == "EEXIST":
            s.error(m, "That extension and priority already exist at that context")
        else:  # no errno of its own: whatever the thread had, most likely none of the listed
            s.error(m, "Failed to add extension")
        return True

    def act_dialplanextensionremove(self, s: Session, m: Message):
        """manager_dialplan_extension_remove: a priority, or the whole extension
        without ``Priority``."""
        context, extension = m.get("Context"), m.get("Extension")
        priority = m.get("Priority")
        if not (context and extension):
            s.error(m, "Context and Extension must be provided for DialplanExtensionRemove")
            return True
        prio = extension_priority(priority) if priority else 0
        if prio is None or (priority and priority != "hint" and prio <= 0):
            s.error(m, "The priority specified was invalid.")
            return True
        # an empty caller id ("100/") is none here
        exten, _, cid = extension.partition("/")
        key = f"{exten}/{cid}" if cid else exten
        if not self.dialplan_changes.remove(self.config_store, context, key, prio):
            s.error(m, "Failed to remove requested extension")
        elif prio:
            s.ack(m, "Removed the requested priority from the extension")
        else:
            s.ack(m, "Removed the requested extension")
        return True

    def _reload(self, module: str | None) -> None:
        self.reloaded_at = time.time()
        if module is None or module.removesuffix(".so") == "pbx_config":
            self.dialplan_changes.reload()
        self.publish(
            (ch.SYSTEM, [("Event", "Reload"), ("Module", module or "All"), ("Status", "0")])
        )

    def act_reload(self, s: Session, m: Message):
        module = m.get("Module")
        known = {
            "acl",  # a reload class of the core (loader.c), as "cdr" or "http"
            "pbx_config",
            "chan_sip",
            "app_queue",
            "res_pjsip",
            "manager",
            "cdr",
            "cdr_manager",
            "res_musiconhold",
            "features",
            "extconfig",
            "logger",
            "dnsmgr",
            "http",
        }
        if module and module.removesuffix(".so") not in known:
            s.error(m, "No such module")
            return True
        s.ack(m, "Module Reloaded")
        self._reload(module.removesuffix(".so") if module else None)
        return True

    def act_coresettings(self, s: Session, m: Message):
        s.ack(
            m,
            None,
            [
                ("AMIversion", AMI_VERSION),
                ("AsteriskVersion", ASTERISK_VERSION),
                ("SystemName", ""),
                ("CoreMaxCalls", "0"),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", "asterisk"),
                ("CoreRunGroup", "asterisk"),
                ("CoreMaxFilehandles", "0"),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "Yes"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            ],
        )
        return True

    def act_corestatus(self, s: Session, m: Message):
        st, rl = time.localtime(self.started_at), time.localtime(self.reloaded_at)
        s.ack(
            m,
            None,
            [
                ("CoreStartupDate", time.strftime("%Y-%m-%d", st)),
                ("CoreStartupTime", time.strftime("%H:%M:%S", st)),
                ("CoreReloadDate", time.strftime("%Y-%m-%d", rl)),
                ("CoreReloadTime", time.strftime("%H:%M:%S", rl)),
                ("CoreCurrentCalls", str(len(self.table.channels))),
                ("CoreProcessedCalls", str(self.table.calls_processed)),
            ],
        )
        return True

    def _parking_lots(self) -> list[tuple[str, str, str, str]] | None:
        """res_parking.conf's lots, (name, first space, last space, timeout);
        None without the file: res_parking does not load, its actions do not
        exist (the capture PBX: "Invalid/unknown command: Parkinglots")."""
        cfg = self.config_store.files.get("res_parking.conf")
        if cfg is None:
            return None
        lots = []
        for cat in cfg.categories:
            if cat.name == "general":
                continue
            values = {v.name: v.value for v in cat.variables}
            start, _, stop = values.get("parkpos", "701-750").partition("-")
            lots.append(
                (
                    cat.name,
                    start,
                    stop or start,
                    values.get("parkingtime", "45"),
                    values.get("context", "parkedcalls"),
                )
            )
        return lots

    def parking_bridge(self, lot: tuple) -> tuple[ch.Bridge, bool]:
        """The lot's holding bridge, and whether it was created now."""
        bridge = self.parking_bridges.get(lot[0])
        if bridge is not None:
            return bridge, False
        bridge = ch.Bridge(
            str(uuid.uuid4()), "parking", "holding_bridge", creator="Parking", name=lot[0]
        )
        self.parking_bridges[lot[0]] = bridge
        self.table.bridges[bridge.uniqueid] = bridge
        return bridge, True

    def parking_space(self, lot: tuple) -> str:
        """The first free space of the lot (res_parking's default ``findslot``)."""
        taken = self.parked_spaces.setdefault(lot[0], set())
        space = next(
            (n for n in range(int(lot[1]), int(lot[2]) + 1) if str(n) not in taken), int(lot[1])
        )
        taken.add(str(space))
        return str(space)

    def parking_release(self, lot: tuple, space: str) -> None:
        self.parked_spaces.get(lot[0], set()).discard(space)

    def act_parkinglots(self, s: Session, m: Message):
        """res_parking's manager_parking_lot_list (checked on Asterisk 20)."""
        lots = self._parking_lots() or []
        s.listack(m, "Parking lots will follow")
        for name, start, stop, timeout, _context in lots:
            s.list_item(
                m,
                "Parkinglot",
                [("Name", name), ("StartSpace", start), ("StopSpace", stop), ("Timeout", timeout)],
            )
        s.list_complete(m, "ParkinglotsComplete", len(lots))
        return True

    def act_park(self, s: Session, m: Message):
        """res_parking's manager_park (parking_manager.c): parks ``Channel`` in
        ``Parkinglot`` (the first lot by default); modelled for the caller of
        a bridged SIP call (capture park_caller)."""
        name = m.get("Channel")
        if not name:
            s.error(m, "Channel not specified")
            return True
        chan = self.table.get(name)
        if chan is None:
            s.error(m, f"Channel does not exist: {name}")
            return True
        lots = self._parking_lots() or []
        wanted = m.get("Parkinglot")
        lot = next((lot for lot in lots if not wanted or lot[0] == wanted), None)
        call = chan.call
        if lot is None or call is None or not call.can_park(chan):
            s.error(m, "Park failed")  # pragma: no cover - not modelled
            return True
        timeout_name = m.get("TimeoutChannel") or m.get("Channel2")
        s.ack(m, "Park successful")
        call.park(chan, self.table.get(timeout_name) if timeout_name else None, lot)
        return True

    def act_listcommands(self, s: Session, m: Message):
        # Only the actions the user's write classes allow, as Asterisk lists
        # them: sorted case-insensitively, the synopsis then its classes.
        pairs = []
        parking = self._parking_lots() is not None
        for name in sorted(ACTION_NAMES, key=str.lower):
            if name.lower() in PARKING_ACTIONS and not parking:
                continue
            authority, synopsis = ACTION_INFO.get(name.lower(), (0, name))
            if authority and not s.writeperm & authority:
                continue
            priv = privilege_string(authority) if authority else "<none>"
            pairs.append((name, f"{synopsis}  (Priv: {priv})"))
        s.ack(m, None, pairs)
        return True

    def act_command(self, s: Session, m: Message):
        cmd = self._header(s, m, "Command", "No command provided")
        if cmd is None:
            return True
        ok, lines = self._cli(cmd.strip())
        s.response(
            m,
            "Success" if ok else "Error",
            "Command output follows",
            [("Output", line) for line in lines],
        )
        return True

    def _cli(self, cmd: str) -> tuple[bool, list[str]]:
        words = cmd.split()
        low = " ".join(words).lower()
        if low in (
            "core show channels",
            "core show channels concise",
            "core show channels verbose",
        ):
            return True, self._cli_channels(concise=low.endswith("concise"))
        if low.startswith("dialplan show"):
            if len(words) > 3:  # CLI_SHOWUSAGE
                return False, ["Usage: dialplan show [[exten@]context]", "       Show dialplan"]
            dialplan = sc.Dialplan(self.config_store, self.dialplan_changes)
            return dialplan.show(words[2] if len(words) > 2 else "")
        if low.startswith("manager show user ") and len(words) == 4:
            return True, self._cli_manager_user(words[3])
        if low.startswith("module show like ") and len(words) == 4:
            return True, self._cli_modules(words[3])
        if low == "config list":
            return True, self._cli_config_list()
        if low == "core show version":
            return True, [
                f"Asterisk {ASTERISK_VERSION} built by simulator on a x86_64 running Linux"
            ]
        if low == "core show uptime":
            up = int(time.time() - self.started_at)
            return True, [
                f"System uptime: {up} seconds",
                f"Last reload: {int(time.time() - self.reloaded_at)} seconds",
            ]
        if low == "dialplan reload":
            # pbx_config.c handle_cli_dialplan_reload: loads extensions.conf
            # again, no Reload event (that is the module loader's)
            self.dialplan_changes.reload()
            return True, ["Dialplan reloaded."]
        if low.startswith("module reload") or low == "reload":
            self._reload(words[2] if len(words) > 2 else None)
            return True, [""]
        if low == "sip show peers":
            peers = self._sip_peers()
            lines = [
                f"{'Name/username':<25} {'Host':<39} {'Dyn':<3} {'Forcerport':<10} {'Comedia':<10} "
                f"{'ACL':<3} {'Port':<5} {'Status':<11} Description"
            ]
            for name, opts in peers:
                dyn = opts.get("host") == "dynamic"
                lines.append(
                    f"{name + '/' + name:<25} {'127.0.0.1':<39} {'D' if dyn else '':<3} "
                    f"{'Auto (No)':<10} {'No':<10} {'':<3} "
                    f"{str(self.sip_registrations.get(name, opts.get('port', 0))):<5} "
                    f"{'Unmonitored':<11} "
                )
            lines.append(
                f"{len(peers)} sip peers [Monitored: 0 online, 0 offline Unmonitored: "
                f"{len(peers)} online, 0 offline]"
            )
            return True, lines
        if low.startswith("_command matchesarray"):
            return True, [self._cli_matches(cmd)]
        # As Asterisk 20 answers "core show vers" or "nosuch thing" (cli.c, find_best()).
        return False, [
            f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
        ]

    # Who loads which file, as "config list" of the Asterisk that recorded the captures says.
    CONFIG_OWNERS = {
        "asterisk.conf": "core",
        "cdr.conf": "cdr_csv",
        "extensions.conf": "pbx_config",
        "features.conf": "core",
        "manager.conf": "manager",
        "queues.conf": "app_queue",
        "sip.conf": "chan_sip",
        "acl.conf": "core",
        "pjsip.conf": "res_pjsip",
    }

    def _cli_config_list(self) -> list[str]:
        """config.c handle_cli_config_list(): "%-20.20s %-50s" per file a module read."""
        return [
            f"{self.CONFIG_OWNERS.get(name, 'core'):<20.20} {'/etc/asterisk/' + name:<50}"
            for name in self.config_store.files
        ]

    # The commands _cli() knows, for the console's completion.
    CLI_COMMANDS = (
        "config list",
        "core show channels concise",
        "core show channels verbose",
        "core show uptime",
        "core show version",
        "dialplan reload",
        "dialplan show",
        "module reload",
        "reload",
        "sip show peers",
    )

    def _cli_matches(self, cmd: str) -> str:
        """cli.c's hidden ``_command matchesarray "<line>" "<word>"`` (what the
        remote console's Tab sends): the common prefix of the candidates for
        the line's last word, the candidates, then ``_EOF_``, space-separated."""
        quoted = re.findall(r'"([^"]*)"', cmd)
        line = quoted[0] if quoted else ""
        typed = line.lower().split()
        word = ""
        if typed and not line.endswith(" "):
            word = typed.pop()
        found = sorted(
            {
                known[len(typed)]
                for known in (c.split() for c in self.CLI_COMMANDS)
                if known[: len(typed)] == typed
                and len(known) > len(typed)
                and known[len(typed)].startswith(word)
            }
        )
        if not found:
            return "_EOF_"
        return " ".join([os.path.commonprefix(found), *found, "_EOF_"])

    def _cli_manager_user(self, name: str) -> list[str]:
        """manager.c ``handle_showmanager`` (checked against the real output)."""
        user = next((u for u in self.users if u.lower() == name.lower()), None)
        if user is None:
            return [f"There is no manager called {name}"]
        readperm, writeperm = self.user_perms(user)
        acl = self.user_options.get(user, {}).get("acl", ())
        lines = [
            "",
            f"          username: {user}",
            f"            secret: {'<Set>' if self.users[user] else '(N/A)'}",
            f"               ACL: {'yes' if acl else 'no'}",
            f"         read perm: {user_authority_to_str(readperm)}",
            f"        write perm: {user_authority_to_str(writeperm)}",
            "   displayconnects: yes",
            "allowmultiplelogin: yes",
            "         Variables: ",
        ]
        if acl:
            lines += ["ACL: (unnamed)", "-" * 45]
            for i, (sense, network) in enumerate(acl):
                net = ipaddress.ip_network(network, strict=False)
                lines.append(
                    f"{i:3d}: {'allow' if sense == 'permit' else ' deny'} - "
                    f"{net.network_address}/{net.netmask}"
                )
        return lines

    def _cli_modules(self, like: str) -> list[str]:
        """cli.c ``handle_modlist`` for ``module show like <word>``."""
        found = sorted(f for f in self.modules if like.lower() in f.lower())
        lines = [
            f"{'Module':<30} {'Description':<40.40} {'Use Count':<10} {'Status':<11} "
            f"{'Support Level':>13}"
        ]
        for f in found:
            description, support = self.modules[f]
            lines.append(f"{f:<30} {description:<40.40} {0:<10d} {'Running':<11} {support:>13}")
        lines.append(f"{len(found)} modules loaded")
        return lines

    def _cli_channels(self, concise: bool) -> list[str]:
        chans = self.table.ordered()
        now = self.clock.now()
        if concise:
            return [
                "!".join(
                    [
                        c.name,
                        c.context,
                        c.exten,
                        str(c.priority),
                        c.state_desc,
                        c.appl,
                        c.data,
                        c.cid_num if c.cid_num != ch.UNKNOWN else "",
                        c.accountcode,
                        "",
                        "3",
                        str(int(now - c.created)),
                        c.bridge.uniqueid if c.bridge else "",
                        c.uniqueid,
                    ]
                )
                for c in chans
            ]
        lines = [
            f"{'Channel':<64.64} {'Location':<32.32} {'State':<7.7} {'Application(Data)':<30.30}"
        ]
        for c in chans:
            loc = f"{c.exten}@{c.context}:{c.priority}" if c.exten else "(None)"
            app = f"{c.appl}({c.data})"
            lines.append(f"{c.name:<64.64} {loc:<32.32} {c.state_desc:<7.7} {app:<30.30}")
        n = len(chans)
        calls = self.table.active_calls()
        lines.append(f"{n} active channel{'s' if n != 1 else ''}")
        lines.append(f"{calls} active call{'s' if calls != 1 else ''}")
        done = self.table.calls_processed
        lines.append(f"{done} call{'s' if done != 1 else ''} processed")
        return lines

    # -- misc ----------------------------------------------------------------
    def act_getvar(self, s: Session, m: Message):
        request = self._variable_request(s, m)
        if request is None:
            return True
        var, chan = request
        value = chan.variables.get(var, "") if chan else ""
        s.ack(m, None, [("Variable", var), ("Value", value)])
        return True

    def act_setvar(self, s: Session, m: Message):
        request = self._variable_request(s, m)
        if request is None:
            return True
        var, chan = request
        if chan is not None:
            self.publish(ch.varset(chan, var, m.get("Value")))
        s.ack(m, "Variable Set")
        return True

    def act_userevent(self, s: Session, m: Message):
        name = m.get("UserEvent")
        body = [(k, v) for k, v in m.pairs if k.lower() not in ("action", "actionid", "userevent")]
        self.publish((EVENT_FLAGS["user"], [("Event", "UserEvent"), ("UserEvent", name)] + body))
        s.ack(m, "Event Sent")
        return True

    def act_waitevent(self, s: Session, m: Message):
        s.ack(m, "Waiting for Event completed.")
        return True


def _sipshowpeer_fields(peer: str, opts: dict, dynamic: bool, port) -> list[tuple[str, str]]:
    """chan_sip ``SIPshowpeer`` (capture l)."""
    cid = opts.get("callerid", "")
    return [
        ("Channeltype", "SIP"),
        ("ObjectName", peer),
        ("ChanObjectType", "peer"),
        ("SecretExist", "Y" if opts.get("secret") else "N"),
        ("RemoteSecretExist", "N"),
        ("MD5SecretExist", "N"),
        ("Context", opts.get("context", "default")),
        ("Language", ""),
        ("ToneZone", "<Not set>"),
        ("AMAflags", "Unknown"),
        ("CID-CallingPres", "Presentation Allowed, Not Screened"),
        ("Callgroup", ""),
        ("Pickupgroup", ""),
        ("Named Callgroup", ""),
        ("Named Pickupgroup", ""),
        ("MOHSuggest", ""),
        ("VoiceMailbox", ""),
        ("TransferMode", "open"),
        ("LastMsgsSent", "0"),
        ("Maxforwards", "0"),
        ("Call-limit", "0"),
        ("Busy-level", "0"),
        ("MaxCallBR", "384 kbps"),
        ("Dynamic", "Y" if dynamic else "N"),
        ("Callerid", cid),
        ("RegExpire", "3609 seconds" if dynamic and port else "-1 seconds"),
        ("SIP-AuthInsecure", "no"),
        ("SIP-Forcerport", "a"),
        ("SIP-Comedia", "N"),
        ("ACL", "N"),
        ("SIP-CanReinvite", "N"),
        ("SIP-DirectMedia", "N"),
        ("SIP-PromiscRedir", "N"),
        ("SIP-UserPhone", "N"),
        ("SIP-VideoSupport", "N"),
        ("SIP-TextSupport", "N"),
        ("SIP-T.38Support", "N"),
        ("SIP-T.38EC", "Unknown"),
        ("SIP-T.38MaxDtgrm", "4294967295"),
        ("SIP-Sess-Timers", "Accept"),
        ("SIP-Sess-Refresh", "uas"),
        ("SIP-Sess-Expires", "1800"),
        ("SIP-Sess-Min", "90"),
        ("SIP-RTP-Engine", "asterisk"),
        ("SIP-Encryption", "N"),
        ("SIP-RTCP-Mux", "N"),
        ("SIP-DTMFmode", "rfc2833"),
        ("ToHost", ""),
        ("Address-IP", "127.0.0.1" if port else "(null)"),
        ("Address-Port", str(port or 0)),
        ("Default-addr-IP", "(null)"),
        ("Default-addr-port", "0"),
        ("Default-Username", peer),
        ("Codecs", "(ulaw)"),
        ("Status", "Unmonitored"),
        ("SIP-Useragent", "sipp-register" if port else ""),
        ("Reg-Contact", f"sip:{peer}@127.0.0.1:{port}" if port else ""),
        ("QualifyFreq", "60000 ms"),
        ("Parkinglot", ""),
        ("SIP-Use-Reason-Header", "N"),
        ("Description", ""),
    ]


# ast_devstate2str: what PJSIPShowEndpoints' DeviceState says.
DEVSTATE_TEXT = {
    "UNKNOWN": "Unknown",
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "BUSY": "Busy",
    "INVALID": "Invalid",
    "UNAVAILABLE": "Unavailable",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "ONHOLD": "On Hold",
}


def extension_priority(text: str) -> int | None:
    """pbx_config.c: ``hint``, else ``sscanf("%30d")`` (a number, then anything)."""
    if text == "hint":
        return sc.PRIORITY_HINT
    m = re.match(r"\s*([+-]?\d{1,30})", text)
    return int(m.group(1)) if m else None


ACTIONS: dict[str, Callable] = {}
for _name in dir(AmiSimulator):
    if _name.startswith("act_"):
        ACTIONS[_name[4:]] = getattr(AmiSimulator, _name)
ACTION_NAMES = {
    "login": "Login",
    "challenge": "Challenge",
    "logoff": "Logoff",
    "ping": "Ping",
    "events": "Events",
    "filter": "Filter",
    "originate": "Originate",
    "hangup": "Hangup",
    "redirect": "Redirect",
    "blindtransfer": "BlindTransfer",
    "atxfer": "Atxfer",
    "playdtmf": "PlayDTMF",
    "mixmonitor": "MixMonitor",
    "stopmixmonitor": "StopMixMonitor",
    "coreshowchannels": "CoreShowChannels",
    "status": "Status",
    "bridgelist": "BridgeList",
    "bridgeinfo": "BridgeInfo",
    "queuestatus": "QueueStatus",
    "queuesummary": "QueueSummary",
    "sippeers": "SIPpeers",
    "sipshowpeer": "SIPshowpeer",
    "pjsipshowcontacts": "PJSIPShowContacts",
    "pjsipshowendpoints": "PJSIPShowEndpoints",
    "devicestatelist": "DeviceStateList",
    "getconfig": "GetConfig",
    "getconfigjson": "GetConfigJSON",
    "listcategories": "ListCategories",
    "updateconfig": "UpdateConfig",
    "createconfig": "CreateConfig",
    "dialplanextensionadd": "DialplanExtensionAdd",
    "dialplanextensionremove": "DialplanExtensionRemove",
    "reload": "Reload",
    "coresettings": "CoreSettings",
    "corestatus": "CoreStatus",
    "listcommands": "ListCommands",
    "command": "Command",
    "getvar": "Getvar",
    "setvar": "Setvar",
    "userevent": "UserEvent",
    "waitevent": "WaitEvent",
    "parkinglots": "Parkinglots",
    "park": "Park",
}
ACTION_NAMES = set(ACTION_NAMES.values())
# res_parking's, only there when it loaded (it needs res_parking.conf)
PARKING_ACTIONS = {"parkinglots", "park"}

_F = EVENT_FLAGS
# The write classes each action needs (any one of them) and its synopsis, as
# Asterisk 20 registers them (manager.c, chan_sip.c, app_mixmonitor.c,
# app_senddtmf.c, manager_bridges.c, app_queue.c, pjsip_options.c,
# pbx_config.c) and lists them in ListCommands; 0: every logged-in user.
ACTION_INFO: dict[str, tuple[int, str]] = {
    "login": (0, "Login Manager."),
    "challenge": (0, "Generate Challenge for MD5 Auth."),
    "logoff": (0, "Logoff Manager."),
    "ping": (0, "Keepalive command."),
    "events": (0, "Control Event Flow."),
    "filter": (_F["system"], "Dynamically add filters for the current manager session."),
    "originate": (_F["originate"], "Originate a call."),
    "hangup": (_F["system"] | _F["call"], "Hangup channel."),
    "redirect": (_F["call"], "Redirect (transfer) a call."),
    "blindtransfer": (_F["call"], "Blind transfer channel(s) to the given destination"),
    "atxfer": (_F["call"], "Attended transfer."),
    "playdtmf": (_F["call"], "Play DTMF signal on a specific channel."),
    "mixmonitor": (
        _F["system"],
        "Record a call and mix the audio during the recording.  Use of StopMixMonitor is "
        "required to guarantee the audio file is available for processing during dialplan "
        "execution.",
    ),
    "stopmixmonitor": (
        _F["system"] | _F["call"],
        "Stop recording a call through MixMonitor, and free the recording's file handle.",
    ),
    "coreshowchannels": (_F["system"] | _F["reporting"], "List currently active channels."),
    "status": (_F["system"] | _F["call"] | _F["reporting"], "List channel status."),
    "bridgelist": (0, "Get a list of bridges in the system."),
    "bridgeinfo": (0, "Get information about a bridge."),
    "queuestatus": (0, "Show queue status."),
    "queuesummary": (0, "Show queue summary."),
    "sippeers": (_F["system"] | _F["reporting"], "List SIP peers (text format)."),
    "sipshowpeer": (_F["system"] | _F["reporting"], "show SIP peer (text format)."),
    "pjsipshowcontacts": (_F["system"], "Lists PJSIP Contacts."),
    "pjsipshowendpoints": (_F["system"], "Lists PJSIP endpoints."),
    "devicestatelist": (_F["call"] | _F["reporting"], "List the current known device states."),
    "getconfig": (_F["system"] | _F["config"], "Retrieve configuration."),
    "getconfigjson": (_F["system"] | _F["config"], "Retrieve configuration (JSON format)."),
    "listcategories": (_F["config"], "List categories in configuration file."),
    "updateconfig": (_F["config"], "Update basic configuration."),
    "createconfig": (_F["config"], "Creates an empty file in the configuration directory."),
    "dialplanextensionadd": (_F["system"], "Add an extension to the dialplan"),
    "dialplanextensionremove": (_F["system"], "Remove an extension from the dialplan"),
    "reload": (_F["system"] | _F["config"], "Send a reload event."),
    "coresettings": (_F["system"] | _F["reporting"], "Show PBX core settings (version etc)."),
    "corestatus": (_F["system"] | _F["reporting"], "Show PBX core status variables."),
    "listcommands": (0, "List available manager commands."),
    "command": (_F["command"], "Execute Asterisk CLI Command."),
    "getvar": (_F["call"] | _F["reporting"], "Gets a channel variable or function value."),
    "setvar": (_F["call"], "Sets a channel variable or function value."),
    "userevent": (_F["user"], "Send an arbitrary event."),
    "waitevent": (0, "Wait for an event to occur."),
    "parkinglots": (_F["call"], "Get a list of parking lots"),
    "park": (_F["call"], "Park a channel."),
}
# What "module show like" finds: the channel drivers behind the SIP actions above.
LOADED_MODULES = {
    "chan_sip.so": ("Session Initiation Protocol (SIP)", "deprecated"),
    "res_pjsip.so": ("Basic SIP resource", "core"),
}
