"""Live status of a PBX: what its AMI status lists say now, for PBX admins.

The page asks the PBX through the worker (several actions at once, one round
trip) and is told to ask again through the bus when an event says something
changed: never polled by the browser. Only while a page is open: it says so
when it asks, and every ``WATCH_HEARTBEAT`` seconds (``asterisk_base.live_status_watch``);
with no page open the events cost one indexed read a second, and no bus message.
"""

import collections
import logging
import math
import threading
import time
from datetime import datetime

import pytz

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError
from odoo.modules.registry import Registry
from odoo.tools import LazyTranslate

from odoo.addons.asterisk_common.tools import ami_handler, events_by_server

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

BUS_TYPE = "asterisk_base.live_status"
NOTIFY_INTERVAL = 1.0  # seconds between two notifications about one server
ASK_TIMEOUT = 5.0  # seconds Asterisk has to answer each status action
# An open page says so every WATCH_HEARTBEAT seconds (live_status.js, told by
# live_status()); it is taken for closed WATCH_SECONDS after it last did: long
# enough for a browser that slows the timers of a hidden tab to once a minute.
WATCH_HEARTBEAT = 40
WATCH_SECONDS = 150
# One refresh: these actions, queued together and sent at once by the worker.
ACTIONS = (
    "CoreSettings",
    "CoreStatus",
    "CoreShowChannels",
    "SIPpeers",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "DeviceStateList",
    "QueueStatus",
    "QueueSummary",
)
# The list each action feeds (None: the system part).
SECTIONS = {
    "CoreShowChannels": "channels",
    "SIPpeers": "sip_peers",
    "PJSIPShowEndpoints": "pjsip_endpoints",
    "PJSIPShowContacts": "pjsip_contacts",
    "DeviceStateList": "devices",
    "QueueStatus": "queues",
    "QueueSummary": "queues",
}
# The module behind each list: named when Asterisk does not know the action.
MODULES = {
    "SIPpeers": "chan_sip",
    "PJSIPShowEndpoints": "res_pjsip",
    "PJSIPShowContacts": "res_pjsip",
    "DeviceStateList": "res_manager_devicestate",
    "QueueStatus": "app_queue",
    "QueueSummary": "app_queue",
}

# Device states (devicestate.c, ast_devstate_str and the numbers of
# enum ast_device_state that QueueMember's Status gives) -> (label, level).
DEVICE_STATES = {
    "UNKNOWN": (_lt("Unknown"), "muted"),
    "NOT_INUSE": (_lt("Not in use"), "success"),
    "INUSE": (_lt("In use"), "warning"),
    "BUSY": (_lt("Busy"), "warning"),
    "INVALID": (_lt("Invalid"), "danger"),
    "UNAVAILABLE": (_lt("Unavailable"), "danger"),
    "RINGING": (_lt("Ringing"), "info"),
    "RINGINUSE": (_lt("Ringing, in use"), "info"),
    "ONHOLD": (_lt("On hold"), "warning"),
}
DEVICE_STATE_NUMBERS = list(DEVICE_STATES)  # index = enum value
# ast_devstate2str, as PJSIPShowEndpoints' DeviceState gives it -> DEVICE_STATES key.
DEVICE_STATE_TEXTS = {
    "Unknown": "UNKNOWN",
    "Not in use": "NOT_INUSE",
    "In use": "INUSE",
    "Busy": "BUSY",
    "Invalid": "INVALID",
    "Unavailable": "UNAVAILABLE",
    "Ringing": "RINGING",
    "Ring+Inuse": "RINGINUSE",
    "On Hold": "ONHOLD",
}
# Channel states (ast_state2str) -> level; the others are "muted".
CHANNEL_LEVELS = {"Up": "success", "Ring": "info", "Ringing": "info", "Busy": "danger"}
# PJSIP contact statuses (pjsip_options.c status_map) -> level.
CONTACT_LEVELS = {
    "Reachable": "success",
    "Unreachable": "danger",
    "NonQualified": "muted",
    "Unknown": "muted",
    "Removed": "muted",
}


def _text(value):
    """A header's value as text: repeated headers are joined."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _int(value, default=0):
    try:
        return int(float(_text(value).strip()))
    except ValueError:
        return default


def _events(reply, name):
    return [e for e in (reply or {}).get("events") or [] if e.get("Event") == name]


def _device_state(env, state):
    """``(label, level)`` of a device state given as its name or its number."""
    state = _text(state).strip()
    if state.isdigit() and int(state) < len(DEVICE_STATE_NUMBERS):
        state = DEVICE_STATE_NUMBERS[int(state)]
    if state.upper() not in DEVICE_STATES:
        return state or "?", "muted"
    label, level = DEVICE_STATES[state.upper()]
    return env._(label), level


def _sip_peer_level(status, registered):
    """chan_sip's peer_status(): OK (n ms), LAGGED (n ms), UNREACHABLE,
    UNKNOWN, or Unmonitored when it does not qualify the peer."""
    if not registered:
        return "danger"
    head = status.split(" ", 1)[0].upper()
    return {"OK": "success", "LAGGED": "warning", "UNREACHABLE": "danger"}.get(head, "muted")


def parse_channels(reply):
    channels = []
    for event in _events(reply, "CoreShowChannel"):
        state = _text(event.get("ChannelStateDesc"))
        channels.append(
            {
                "channel": _text(event.get("Channel")),
                "uniqueid": _text(event.get("Uniqueid")),
                "linkedid": _text(event.get("Linkedid")),
                "state": state,
                "level": CHANNEL_LEVELS.get(state, "muted"),
                "caller_num": _text(event.get("CallerIDNum")),
                "caller_name": _text(event.get("CallerIDName")),
                "connected_num": _text(event.get("ConnectedLineNum")),
                "connected_name": _text(event.get("ConnectedLineName")),
                "context": _text(event.get("Context")),
                "exten": _text(event.get("Exten")),
                "application": _text(event.get("Application")),
                "data": _text(event.get("ApplicationData")),
                "duration": _text(event.get("Duration")),
                "bridged": bool(_text(event.get("BridgeId"))),
            }
        )
    return channels


def parse_sip_peers(env, reply):
    peers = []
    for event in _events(reply, "PeerEntry"):
        address = _text(event.get("IPaddress"))
        registered = address not in ("", "-none-", "(null)")
        status = _text(event.get("Status"))
        peers.append(
            {
                "name": _text(event.get("ObjectName")),
                "address": address if registered else "",
                "port": _int(event.get("IPport")) if registered else 0,
                "dynamic": _text(event.get("Dynamic")) == "yes",
                "registered": registered,
                "status": status if registered else env._("Not registered"),
                "level": _sip_peer_level(status, registered),
                "description": _text(event.get("Description")),
            }
        )
    return sorted(peers, key=lambda p: p["name"])


def parse_pjsip_contacts(reply):
    contacts = []
    for event in _events(reply, "ContactList"):
        status = _text(event.get("Status"))
        rtt = _text(event.get("RoundtripUsec"))
        contacts.append(
            {
                # ObjectName is "<aor>;@<hash of the URI>"
                "aor": _text(event.get("ObjectName")).split(";@", 1)[0],
                "endpoint": _text(event.get("Endpoint")),
                "uri": _text(event.get("Uri")),
                "user_agent": _text(event.get("UserAgent")),
                "status": status,
                "level": CONTACT_LEVELS.get(status, "muted"),
                "rtt_ms": round(_int(rtt) / 1000, 1) if rtt.isdigit() else False,
            }
        )
    return sorted(contacts, key=lambda c: (c["aor"], c["uri"]))


def parse_pjsip_endpoints(env, reply, contacts):
    """Every PJSIP endpoint, registered or not (PJSIPShowContacts lists only
    the registered contacts), with its state and its contacts: an AOR's
    static ones, and the registered ones with their reachability."""
    registered = collections.defaultdict(list)
    for contact in contacts:
        registered[contact["endpoint"] or contact["aor"]].append(contact)
    endpoints = []
    for event in _events(reply, "EndpointList"):
        name = _text(event.get("ObjectName"))
        state = _text(event.get("DeviceState"))
        label, level = _device_state(env, DEVICE_STATE_TEXTS.get(state, state))
        mine = registered.pop(name, [])
        uris = {c["uri"] for c in mine}
        static = [
            # "aor/uri," pairs
            uri.partition("/")[2]
            for uri in _text(event.get("Contacts")).split(",")
            if uri.strip() and uri.partition("/")[2] not in uris
        ]
        endpoints.append(
            {
                "name": name,
                "aor": _text(event.get("Aor")),
                "state": label,
                "level": level,
                "channels": _int(event.get("ActiveChannels")),
                "contacts": mine + [{"uri": uri, "static": True} for uri in static],
            }
        )
    # Contacts of endpoints the PBX did not list (another AOR's): shown too.
    for name, mine in registered.items():
        endpoints.append(
            {"name": name, "aor": name, "state": "", "level": "muted", "channels": 0,
             "contacts": mine}
        )  # fmt: skip
    return sorted(endpoints, key=lambda e: e["name"])


def parse_devices(env, reply):
    devices = []
    for event in _events(reply, "DeviceStateChange"):
        state = _text(event.get("State"))
        label, level = _device_state(env, state)
        devices.append(
            {"device": _text(event.get("Device")), "state": label, "level": level, "raw": state}
        )
    return sorted(devices, key=lambda d: d["device"])


def parse_queues(env, status_reply, summary_reply):
    """QueueStatus's params, members and waiting callers, with QueueSummary's
    counts (logged in, available, longest wait) when it answered."""
    queues = {}
    for event in _events(status_reply, "QueueParams"):
        name = _text(event.get("Queue"))
        queues[name] = {
            "name": name,
            "strategy": _text(event.get("Strategy")),
            "calls": _int(event.get("Calls")),
            "holdtime": _int(event.get("Holdtime")),
            "talktime": _int(event.get("TalkTime")),
            "completed": _int(event.get("Completed")),
            "abandoned": _int(event.get("Abandoned")),
            # False until QueueSummary says (not None: XML-RPC has no None)
            "logged_in": False,
            "available": False,
            "longest_hold": False,
            "members": [],
            "callers": [],
        }
    for event in _events(status_reply, "QueueMember"):
        queue = queues.get(_text(event.get("Queue")))
        if queue is None:
            continue
        label, level = _device_state(env, event.get("Status"))
        paused = _text(event.get("Paused")) == "1"
        queue["members"].append(
            {
                "name": _text(event.get("Name")),
                "interface": _text(event.get("StateInterface") or event.get("Location")),
                "membership": _text(event.get("Membership")),
                "state": label,
                "level": "warning" if paused and level == "success" else level,
                "paused": paused,
                "paused_reason": _text(event.get("PausedReason")),
                "in_call": _text(event.get("InCall")) == "1",
                "calls_taken": _int(event.get("CallsTaken")),
            }
        )
    for event in _events(status_reply, "QueueEntry"):
        queue = queues.get(_text(event.get("Queue")))
        if queue is None:
            continue
        queue["callers"].append(
            {
                "position": _int(event.get("Position")),
                "channel": _text(event.get("Channel")),
                "caller_num": _text(event.get("CallerIDNum")),
                "caller_name": _text(event.get("CallerIDName")),
                "wait": _int(event.get("Wait")),
            }
        )
    for event in _events(summary_reply, "QueueSummary"):
        queue = queues.get(_text(event.get("Queue")))
        if queue is not None:
            queue["logged_in"] = _int(event.get("LoggedIn"))
            queue["available"] = _int(event.get("Available"))
            queue["longest_hold"] = _int(event.get("LongestHoldTime"))
    for queue in queues.values():
        queue["callers"].sort(key=lambda c: c["position"])
    return sorted(queues.values(), key=lambda q: q["name"])


def _local_time(date, clock, tz):
    """Epoch of a date and time the PBX printed in its local time, or None."""
    try:
        naive = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
        return pytz.timezone(tz or "UTC").localize(naive).timestamp()
    except (ValueError, pytz.UnknownTimeZoneError):
        return None


def parse_system(settings, status, tz, now):
    """Version (CoreSettings), start and reload times and calls (CoreStatus).
    Asterisk prints the times in its own local time: ``tz`` is the PBX's."""
    settings = (settings or {}).get("response") or {}
    status = (status or {}).get("response") or {}
    started = _local_time(
        _text(status.get("CoreStartupDate")), _text(status.get("CoreStartupTime")), tz
    )
    reloaded = _local_time(
        _text(status.get("CoreReloadDate")), _text(status.get("CoreReloadTime")), tz
    )
    return {
        "version": _text(settings.get("AsteriskVersion")),
        "ami_version": _text(settings.get("AMIversion")),
        "system_name": _text(settings.get("SystemName")),
        "uptime": max(0, int(now - started)) if started else False,
        "since_reload": max(0, int(now - reloaded)) if reloaded else False,
        "current_calls": _int(status.get("CoreCurrentCalls"), False),
        "processed_calls": _int(status.get("CoreProcessedCalls"), False),
    }


def _error_kind(action, result):
    """``None`` (answered), ``"empty"``, ``"missing"`` (module not loaded) or ``"error"``."""
    if result["state"] == "done":
        return None
    error = (result.get("error") or "").lower()
    if action == "PJSIPShowContacts" and "no contacts found" in error:
        return "empty"
    if action == "PJSIPShowEndpoints" and "no endpoints found" in error:
        return "empty"
    if "invalid/unknown command" in error:
        return "missing"
    return "error"


def parse_live_status(env, results, tz="UTC", now=None):
    """The live status from ``{action: ami_action_sync-like result}``."""
    now = time.time() if now is None else now
    replies = {action: (result.get("reply") or {}) for action, result in results.items()}
    sections = {
        name: {"state": "ok", "message": ""}
        for name in (
            "channels",
            "sip_peers",
            "pjsip_endpoints",
            "pjsip_contacts",
            "devices",
            "queues",
        )
    }
    failures = {}  # error -> the actions that got it: one line for a PBX that answers nothing
    for action in ACTIONS:
        result = results.get(action) or {"state": "failed", "error": env._("Not asked.")}
        kind = _error_kind(action, result)
        section = SECTIONS.get(action)
        if kind in (None, "empty"):
            continue
        if kind == "missing":
            message = env._("%s is not loaded on this PBX.", MODULES.get(action, action))
        else:
            error = result.get("error") or env._("Asterisk answered with an error.")
            failures.setdefault(error, []).append(action)
            message = env._("%(action)s: %(error)s", action=action, error=error)
        if section and (action != "QueueSummary" or kind == "missing"):
            sections[section] = {"state": kind, "message": message}
    errors = []
    for error, actions in failures.items():
        message = env._("%(actions)s: %(error)s", actions=", ".join(actions), error=error)
        if "permission denied" in error.lower():
            message = env._(
                "%s (the AMI user lacks a write class in manager.conf: system, call or reporting).",
                message,
            )
        errors.append(message)
    contacts = parse_pjsip_contacts(replies.get("PJSIPShowContacts"))
    return {
        "system": parse_system(replies.get("CoreSettings"), replies.get("CoreStatus"), tz, now),
        "channels": parse_channels(replies.get("CoreShowChannels")),
        "sip_peers": parse_sip_peers(env, replies.get("SIPpeers")),
        "pjsip_contacts": contacts,
        "pjsip_endpoints": parse_pjsip_endpoints(env, replies.get("PJSIPShowEndpoints"), contacts),
        "devices": parse_devices(env, replies.get("DeviceStateList")),
        "queues": parse_queues(env, replies.get("QueueStatus"), replies.get("QueueSummary")),
        "sections": sections,
        "errors": errors,
    }


class Throttle:
    """At most one notification per ``interval`` per key, the last one never
    lost: a hit inside the window schedules one trailing notification at its
    end, which covers every hit until it goes. In memory: the worker process
    is the only one handling a server's events."""

    def __init__(self, interval, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = {}  # key -> clock() of the last notification
        self._pending = set()  # keys with a trailing notification scheduled

    def hit(self, key):
        """``0.0``: notify now; ``> 0``: schedule the trailing notification in
        that many seconds; ``None``: one is scheduled already."""
        with self._lock:
            if key in self._pending:
                return None
            now = self.clock()
            wait = self._last.get(key, -math.inf) + self.interval - now
            if wait <= 0:
                self._last[key] = now
                return 0.0
            self._pending.add(key)
            return wait

    def fired(self, key):
        """The trailing notification of ``key`` goes now."""
        with self._lock:
            self._pending.discard(key)
            self._last[key] = self.clock()

    def reset(self):
        with self._lock:
            self._last.clear()
            self._pending.clear()


_throttle = Throttle(NOTIFY_INTERVAL)


class WatchCache:
    """Until when each server's live status page is known to be open, so
    that the handlers read the table once per watch, not once per event.
    Only an open page is remembered: a closed one is looked up again at the
    next notification (at most one a second per server), so a page that just
    opened gets the very next change."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._until = {}
        self._lock = threading.Lock()

    def watched(self, key, seconds_left):
        """Whether ``key`` is watched; ``seconds_left()`` reads how long the
        watch still lasts (None or <= 0: not watched) when not known."""
        now = self.clock()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return True
        left = seconds_left() or 0.0
        with self._lock:
            if left > 0:
                self._until[key] = now + left
            else:
                self._until.pop(key, None)
        return left > 0

    def reset(self):
        with self._lock:
            self._until.clear()


_watches = WatchCache()


def _schedule(delay, func, *args):
    timer = threading.Timer(delay, func, args)
    timer.daemon = True
    timer.start()
    return timer


def _trailing_notify(dbname, server_id):
    threading.current_thread().dbname = dbname  # for the log lines
    _throttle.fired((dbname, server_id))
    try:
        with Registry(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["asterisk_base.live_status"]._notify_if_watched(server_id)
    except Exception:
        _logger.exception("%s: live status notification of server %s failed", dbname, server_id)


class LiveStatus(models.AbstractModel):
    """The events-map side of the live status page: events that change what
    the page shows tell PBX admins' pages to fetch it again."""

    _name = "asterisk_base.live_status"
    _description = "PBX Live Status"

    @ami_handler(batch=True, independent=True)
    def ami_live_status_events(self, events):
        """Peer, contact, device, channel and queue events: a bus message to
        PBX admins while a live status page of the server is open, at most one
        a second per server (the page fetches the status from the PBX, so
        which events came does not matter)."""
        dbname = self.env.cr.dbname
        for server, _batch in events_by_server(self.env, events):
            key = (dbname, server.id)
            wait = _throttle.hit(key)
            if wait == 0.0:
                self._notify_if_watched(server.id)
            elif wait is not None:
                try:
                    _schedule(wait, _trailing_notify, dbname, server.id)
                except Exception:
                    _throttle.fired(key)  # else this server would never be announced again
                    raise

    @api.model
    def _notify_if_watched(self, server_id):
        watch = self.env["asterisk_base.live_status_watch"]
        if _watches.watched((self.env.cr.dbname, server_id), lambda: watch._left(server_id)):
            self._notify(server_id)

    @api.model
    def _notify(self, server_id):
        # One row for every admin's tabs: the group's channel, which every
        # websocket of a member of the group subscribes to.
        group = self.env.ref("asterisk_common.group_asterisk_admin")
        self.env["bus.bus"]._sendone(group, BUS_TYPE, {"server_id": server_id})


class LiveStatusWatch(models.Model):
    """One row per server whose live status page is open somewhere: until
    when it is, as the page last said. Written with SQL by the pages (at most
    once a heartbeat per server, whatever the number of tabs), read by the
    event handlers."""

    _name = "asterisk_base.live_status_watch"
    _description = "PBX Live Status Page Open"
    _log_access = False

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, ondelete="cascade", readonly=True
    )
    watched_until = fields.Datetime(required=True, readonly=True)

    _sql_constraints = [
        ("server_uniq", "unique (server_id)", "One live status watch per server."),
    ]

    @api.model
    def _watch(self, server_id):
        """The page of ``server_id`` is open: committed at once, in its own
        transaction, so that a change the PBX reports after the page's next
        fetch finds it."""
        with self.env.registry.cursor() as cr:
            cr.execute(
                """
                INSERT INTO asterisk_base_live_status_watch (server_id, watched_until)
                VALUES (%(server)s, now() AT TIME ZONE 'UTC' + make_interval(secs => %(ttl)s))
                ON CONFLICT (server_id) DO UPDATE SET watched_until = EXCLUDED.watched_until
                WHERE asterisk_base_live_status_watch.watched_until
                    < EXCLUDED.watched_until - make_interval(secs => %(heartbeat)s)
                """,
                {"server": server_id, "ttl": WATCH_SECONDS, "heartbeat": WATCH_HEARTBEAT},
            )

    @api.model
    def _left(self, server_id):
        """Seconds the page of ``server_id`` is still taken for open, or None."""
        self.env.cr.execute(
            """
            SELECT EXTRACT(EPOCH FROM watched_until - now() AT TIME ZONE 'UTC')
              FROM asterisk_base_live_status_watch WHERE server_id = %s
            """,
            [server_id],
        )
        row = self.env.cr.fetchone()
        return float(row[0]) if row else None


class AsteriskServer(models.Model):
    _inherit = "asterisk_common.server"

    def _live_status_check(self):
        if not self.env.su and not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError(_("Only PBX administrators can see the live status of a PBX."))

    def live_status(self):
        """The PBX's status now (channels, peers, contacts, device states,
        queues, version and uptime), asked over AMI, as a JSON-able dict."""
        self._live_status_check()
        self.ensure_one()
        server = self.sudo()
        self.env["asterisk_base.live_status_watch"]._watch(server.id)
        values = {
            "server": {
                "id": server.id,
                "name": server.name,
                "state": server.state,
                "last_error": server.last_error or "",
            },
            "fetched_at": fields.Datetime.to_string(fields.Datetime.now()),
            "watch_seconds": WATCH_HEARTBEAT,  # the page's heartbeat
        }
        if server.state != "connected":
            values.update(parse_live_status(self.env, {}, server.tz))
            values["errors"] = [
                _("The worker is not connected to this PBX: %s", server.last_error)
                if server.last_error
                else _("The worker is not connected to this PBX.")
            ]
            return values
        results = self._live_status_ask([{"Action": action} for action in ACTIONS])
        values.update(
            parse_live_status(self.env, dict(zip(ACTIONS, results, strict=True)), server.tz)
        )
        return values

    def live_status_watch(self):
        """The live status page of this server is still open (its heartbeat):
        PBX events keep telling it to fetch the status again."""
        self._live_status_check()
        self.ensure_one()
        self.env["asterisk_base.live_status_watch"]._watch(self.id)
        return WATCH_HEARTBEAT

    def _live_status_ask(self, actions, timeout=ASK_TIMEOUT):
        """The outcomes of ``actions``, sent at once. Nobody is notified (a PBX
        without chan_sip fails SIPpeers on every refresh) and the rows go once
        answered: a page open all day would fill the action log."""
        self.ensure_one()
        return self.ami_actions_sync(
            actions, timeout=timeout, expire=timeout, notify=False, forget=True
        )

    def action_open_live_status(self):
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "asterisk_base.live_status",
            "name": _("Live Status: %s", self.name),
            "params": {"server_id": self.id},
        }
