"""The call tracker: AMI call events in, changes to calls and channels out.

Pure Python, no ORM: :class:`Tracker` applies events in order to
:class:`Record` objects (one per call, grouped by ``Linkedid``, and one per
channel, keyed by ``Uniqueid``) that the model loads before and saves after a
batch. Everything it decides comes from what Asterisk reports:

- a call is answered when a dialled party answers (``DialEnd`` ANSWER), a
  queue member connects (``AgentConnect``) or a user's device enters a bridge;
  only a call that never dialled anyone is "answered" by the dialplan itself
  (an IVR, voicemail, an application);
- otherwise its status comes, in this order, from the queue (abandoned or
  timed out), the dial results (``DialStatus``), the Originate's response
  (``Reason``), and whether the PBX signalled ringing;
- ``Local`` channels are plumbing unless a PBX user owns the device (a queue
  member such as ``Local/agent1@demo``): they never become parties;
- a channel belongs to the call of its current ``Linkedid``: Asterisk moves
  it to the oldest linkedid of a bridge it joins (attended transfers).

Handlers may see an event twice (replays after an outage): a known channel is
not created again, timeline entries are keyed, and a finished call ignores
everything but its ``Cdr`` and ``OriginateResponse``.
"""

import re
import time
from datetime import datetime

LIVE = ("ringing", "in_progress")
UNKNOWN = ("", "<unknown>", "<Unknown>", None)
# The caller chooses their CallerID: control characters (a NUL cannot even be
# stored) become blanks, and a name or number longer than any phone shows is cut.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
CALLERID_MAX = 128
# DialStatus -> call status, when no dialled party answered.
DIAL_STATUS = {
    "CANCEL": "abandoned",
    "NOANSWER": "no_answer",
    "BUSY": "busy",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
    "DONTCALL": "failed",
    "TORTURE": "failed",
    "INVALIDARGS": "failed",
}
# What a withheld caller ID looks like (empty once cleaned of "<unknown>").
WITHHELD = frozenset({"", "anonymous", "restricted", "private", "unavailable", "withheld"})
# OriginateResponse Reason -> call status (AST_CONTROL_* of the dial result).
ORIGINATE_REASON = {"0": "failed", "1": "failed", "3": "no_answer", "5": "busy", "8": "failed"}
ORIGINATE_DIAL = "originate"  # dialed_by of a channel an Originate rang


def clean(value):
    """A CallerID/ConnectedLine value as a person reads it ("" for unknown)."""
    if value in UNKNOWN or not isinstance(value, str):
        return ""
    return _CONTROL.sub(" ", value).strip()[:CALLERID_MAX].strip()


def device_of(channel):
    """``SIP/alice-0000000a`` -> ``SIP/alice``; ``Local/100@demo-00000001;2`` ->
    ``Local/100@demo``; a queue interface ``Local/agent1@demo/n`` ->
    ``Local/agent1@demo``; a name without a sequence suffix is kept."""
    if not channel:
        return ""
    base, sep, side = channel.rpartition(";")
    if sep and side.isdigit():
        channel = base
    if channel.startswith("Local/") and channel.count("/") > 1:
        channel = channel.rsplit("/", 1)[0]
    head, sep, tail = channel.rpartition("-")
    if sep and "/" in head and tail and all(c in "0123456789abcdefABCDEF" for c in tail):
        return head
    return channel


def event_time(event):
    """When the event happened: Asterisk's ``Timestamp`` (timestampevents=yes),
    else when the worker read it, else now."""
    for key in ("Timestamp", "_received"):
        value = event.get(key)
        if value:
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    return time.time()


class Record:
    """A row being tracked: its values, and which of them changed."""

    __slots__ = ("id", "values", "changed")

    def __init__(self, values, record_id=None):
        self.id = record_id
        self.values = values
        self.changed = set(values) if record_id is None else set()

    def __getitem__(self, key):
        return self.values.get(key)

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value):
        if self.values.get(key) != value:
            self.values[key] = value
            self.changed.add(key)

    def touch(self, key):
        """Mark a mutable value (list, dict) as changed in place."""
        self.changed.add(key)

    def __repr__(self):
        return f"<Record {self.id} {self.values.get('linkedid') or self.values.get('uniqueid')}>"


class Directory:
    """What the tracker knows of one server's PBX users.

    :param devices: ``{device: (pbx_user_id, user_id)}`` ("SIP/alice"),
        compared without case;
    :param users: ``{user_id: (name, extension)}``;
    :param internal_max_digits: numbers up to this many digits (and names
        such as "alice") are internal extensions, not outside numbers;
    :param normalize: ``number -> E.164 or None`` for outside numbers;
    :param no_popup: users who turned incoming-call popups off;
    :param tz: the PBX's time zone.
    """

    def __init__(
        self,
        devices=None,
        users=None,
        internal_max_digits=6,
        normalize=None,
        no_popup=(),
        tz="UTC",
    ):
        self.devices = {d.lower(): v for d, v in (devices or {}).items()}
        self.users = users or {}
        self.no_popup = set(no_popup)
        self.tz = tz
        self.extensions = {ext: uid for uid, (_name, ext) in self.users.items() if ext}
        self.internal_max_digits = internal_max_digits
        self.normalize = normalize or (lambda number: None)

    def owner(self, device):
        """``(pbx_user_id, user_id)`` of a device, or ``(None, None)``."""
        return self.devices.get(device.lower(), (None, None))

    def user_name(self, user_id):
        return self.users.get(user_id, ("", ""))[0]

    def user_extension(self, user_id):
        return self.users.get(user_id, ("", ""))[1]

    def is_internal_number(self, number):
        number = clean(number)
        if not number or number in self.extensions:
            return True
        digits = number.lstrip("+")
        if not digits.isdigit():
            return True  # a SIP peer name, "s", "anonymous"...
        return len(digits) <= self.internal_max_digits

    def outside(self, number):
        """An outside number as people read it: E.164 when it parses."""
        number = clean(number)
        return (self.normalize(number) or number) if number else ""


class Tracker:
    """Applies the AMI events of one server to calls and channels.

    ``calls`` maps linkedid -> call :class:`Record`, ``channels`` maps
    uniqueid -> channel :class:`Record`; the caller fills both with what the
    database holds for the batch's events, and saves what changed. The
    channel record's ``linkedid`` is the call it belongs to.
    """

    def __init__(self, server_id, directory, calls=None, channels=None):
        self.server_id = server_id
        self.directory = directory
        self.calls = calls if calls is not None else {}
        self.channels = channels if channels is not None else {}
        self.ended = []  # calls finished by this batch
        self.removed = []  # calls left with no channel (all moved away)
        self.rings = []  # (linkedid, user_id): a user's phone started ringing
        self.stops = {}  # linkedid -> users whose popup closes (answered, ended, rang out)
        self.answered = []  # linkedids answered by this batch
        self.parked = []  # (linkedid, user_id of who parked it, space, who is parked)
        self.created = []  # calls new in this batch (set when saved)
        self.announced = []  # calls placed by Odoo that the PBX started now

    # -- entry point ----------------------------------------------------------------

    def apply(self, event):
        handler = getattr(self, "on_" + str(event.get("Event")), None)
        if handler is None:
            return
        handler(event, event_time(event))

    # -- records --------------------------------------------------------------------

    def call(self, linkedid, t, create=True):
        call = self.calls.get(linkedid)
        if call is None and create and linkedid:
            call = self.calls[linkedid] = Record(
                {
                    "linkedid": linkedid,
                    "server_id": self.server_id,
                    "status": "ringing",
                    "direction": "inbound",
                    "started_at": t,
                    "last_event_at": t,
                    "timeline": [],
                    "tracking": {"dials": {}, "rang": [], "talked": []},
                    "user_ids": (),
                    "missed_user_ids": (),
                    "transferred": False,
                    "originated": False,
                    "ring_seconds": 0,
                    "talk_seconds": 0,
                }
            )
        return call

    @staticmethod
    def live(call):
        return call is not None and call["status"] in LIVE

    def channel(self, event, t, prefix=""):
        """The channel an event's snapshot describes (``prefix`` "Dest",
        "Transferer"...), created if the tracker did not see its Newchannel
        (the worker started mid-call), moved if its Linkedid changed."""
        uniqueid = event.get(prefix + "Uniqueid")
        if not uniqueid or uniqueid in UNKNOWN:
            return None
        linkedid = event.get(prefix + "Linkedid") or event.get("_linkedid")
        chan = self.channels.get(uniqueid)
        if chan is None:
            name = event.get(prefix + "Channel")
            if not name or not linkedid:
                return None
            call = self.call(linkedid, t)
            if not self.live(call):
                return None
            chan = self._new_channel(call, event, prefix, uniqueid, linkedid, name, t)
        elif linkedid and chan["linkedid"] != linkedid and not chan["ended_at"]:
            # (a channel that hung up moves no more: an event naming its old
            # call is one replayed after an outage)
            self._move(chan, linkedid, t)
        return chan

    def _new_channel(self, call, event, prefix, uniqueid, linkedid, name, t):
        device = device_of(name)
        pbx_user_id, user_id = self.directory.owner(device)
        chan = self.channels[uniqueid] = Record(
            {
                "uniqueid": uniqueid,
                "linkedid": linkedid,
                "server_id": self.server_id,
                "name": name,
                "device": device,
                "is_local": name.startswith("Local/"),
                "pbx_user_id": pbx_user_id,
                "user_id": user_id,
                "state": event.get(prefix + "ChannelStateDesc") or "Down",
                "caller_number": clean(event.get(prefix + "CallerIDNum")),
                "caller_name": clean(event.get(prefix + "CallerIDName")),
                "connected_number": clean(event.get(prefix + "ConnectedLineNum")),
                "connected_name": clean(event.get(prefix + "ConnectedLineName")),
                "context": event.get(prefix + "Context") or "",
                "exten": event.get(prefix + "Exten") or "",
                "started_at": t,
            }
        )
        if uniqueid == linkedid and not call["tracking"].get("origin"):
            self._set_origin(call, chan)
        if user_id:
            self._add_user(call, "user_ids", user_id)
        return chan

    def _set_origin(self, call, chan):
        call["tracking"]["origin"] = chan["uniqueid"]
        call.touch("tracking")
        if chan["user_id"]:
            call.set("caller_user_id", chan["user_id"])
        self._update_caller(call, chan)
        if chan["exten"] != "s":
            self._set_called(call, chan["exten"])

    def _move(self, chan, linkedid, t):
        """Asterisk gave the channel another linkedid (it joined a bridge with
        an older call): it now belongs to that call."""
        old = self.calls.get(chan["linkedid"])
        new = self.call(linkedid, t)
        chan.set("linkedid", linkedid)
        if chan["user_id"]:
            self._add_user(new, "user_ids", chan["user_id"])
        self._log(
            new,
            t,
            "join",
            f"join:{chan['uniqueid']}",
            device=chan["device"],
            user_id=chan["user_id"],
            user=self._who(chan),
            call=old["linkedid"] if old else "",
        )
        if old is not None and self.live(old):
            remaining = self._channels_of(old)
            if not remaining:
                self._log(old, t, "moved", f"moved:{chan['uniqueid']}", call=linkedid)
                self._finish(old, t)
            elif all(c["ended_at"] for c in remaining):
                self._finish(old, t)

    def _channels_of(self, call):
        linkedid = call["linkedid"]
        return [c for c in self.channels.values() if c["linkedid"] == linkedid]

    def origin(self, call):
        return self.channels.get(call["tracking"].get("origin"))

    @staticmethod
    def is_party(chan):
        """A channel people talk on: not Local plumbing (unless a user's)."""
        return bool(chan["user_id"]) or not chan["is_local"]

    def _who(self, chan):
        """A channel's party as people name it: the user, the outside caller,
        the extension behind a Local channel, else the device."""
        if chan["user_id"]:
            return self.directory.user_name(chan["user_id"])
        call = self.calls.get(chan["linkedid"])
        if call is not None and chan["uniqueid"] == call["tracking"].get("origin"):
            return call["caller_name"] or call["caller_number"] or chan["device"]
        if chan["is_local"]:
            return chan["device"][len("Local/") :].split("@")[0]
        return chan["device"]

    @staticmethod
    def _add_user(call, field, user_id):
        if user_id and user_id not in call[field]:
            call.set(field, tuple(sorted((*call[field], user_id))))

    def _remember(self, call, key, user_id):
        lst = call["tracking"].setdefault(key, [])
        if user_id and user_id not in lst:
            lst.append(user_id)
            call.touch("tracking")
            return True
        return False

    def _ring(self, call, user_id):
        """A user's device rings for this call: one popup per user at a time
        (a second device of theirs, no; a queue ringing them again, yes)."""
        closed = call["tracking"].setdefault("closed", [])
        # Again only before an answer (a queue's next round): once answered, a
        # ring seen again is an event replayed after an outage.
        again = user_id in closed and not call["answered_at"]
        if (self._remember(call, "rang", user_id) or again) and self.live(call):
            if again:
                closed.remove(user_id)
                call.touch("tracking")
            self.rings.append((call["linkedid"], user_id))

    def _stop(self, call, users=None):
        """Popups close: every one when the call is answered or over, a user's
        own when their phone stopped ringing (``users``)."""
        tracking = call["tracking"]
        closed = tracking.setdefault("closed", [])
        targets = [u for u in (users or tracking.get("rang", [])) if u and u not in closed]
        targets = [u for u in targets if u in tracking.get("rang", [])]
        if targets:
            closed.extend(targets)
            call.touch("tracking")
            self.stops.setdefault(call["linkedid"], set()).update(targets)

    def _popup(self, user_id):
        """For the timeline: whether the user gets a popup (None: no user)."""
        return None if not user_id else user_id not in self.directory.no_popup

    def _log(self, call, t, kind_, key, /, **params):
        """Add a timeline entry once (``key`` makes replays harmless).
        Positional-only: an entry may have a ``call`` (the other call's linkedid)."""
        timeline = call["timeline"]
        if any(entry.get("key") == key for entry in timeline):
            return
        timeline.append({"t": round(t, 3), "k": kind_, "key": key, **params})
        call.touch("timeline")

    def _log_chan(self, call, t, kind_, key, chan, /, **params):
        """A timeline entry about one channel: its device and whose it is."""
        self._log(
            call,
            t,
            kind_,
            key,
            device=chan["device"],
            user_id=chan["user_id"],
            user=self._who(chan),
            **params,
        )

    def _touch(self, call, t):
        if t > (call["last_event_at"] or 0):
            call.set("last_event_at", t)

    # -- caller and called parties ------------------------------------------------------

    def _update_caller(self, call, chan):
        directory = self.directory
        if chan["user_id"]:
            call.set("caller_number", directory.user_extension(chan["user_id"]) or chan["device"])
            call.set("caller_name", directory.user_name(chan["user_id"]))
            return
        number = chan["caller_number"]
        if number and not directory.is_internal_number(number):
            number = directory.outside(number)
        call.set("caller_number", number)
        name = chan["caller_name"]
        call.set("caller_name", "" if name == chan["caller_number"] else name)

    def _set_called(self, call, number, name=""):
        number = clean(number)
        if number and not call["called_number"]:
            if not self.directory.is_internal_number(number):
                number = self.directory.outside(number)
            call.set("called_number", number)
        if name and not call["called_name"]:
            call.set("called_name", name)

    def _withheld(self, call):
        """A caller on a real line (a trunk, a phone no user has) whose number
        is withheld: someone outside, not an extension."""
        origin = self.origin(call)
        return (
            origin is not None
            and not origin["is_local"]
            and clean(call["caller_number"]).lower() in WITHHELD
        )

    def _direction(self, call):
        """Internal when both sides are PBX users or internal numbers; inbound
        when only the called side is; outbound when only the caller is."""
        directory = self.directory
        tracking = call["tracking"]
        caller_internal = bool(call["caller_user_id"]) or (
            directory.is_internal_number(call["caller_number"]) and not self._withheld(call)
        )
        callee_internal = bool(tracking.get("rang")) or directory.is_internal_number(
            call["called_number"]
        )
        if caller_internal and callee_internal:
            direction = "internal"
        elif caller_internal:
            direction = "outbound"
        elif callee_internal:
            direction = "inbound"
        else:
            direction = "outbound" if call["originated"] else "inbound"
        call.set("direction", direction)
        external = ""
        if direction == "inbound":
            external = call["caller_number"]
        elif direction == "outbound":
            external = call["called_number"]
        if external and directory.is_internal_number(external):
            external = ""
        call.set("external_number", external)

    # -- events ---------------------------------------------------------------------

    def on_Newchannel(self, event, t):
        uniqueid = event.get("Uniqueid")
        if uniqueid in self.channels:
            self.channel(event, t)  # a replay; or a move
            return
        linkedid = event.get("Linkedid") or event.get("_linkedid")
        call = self.call(linkedid, t)
        if not self.live(call):
            return
        self.channel(event, t)
        self._touch(call, t)
        self._direction(call)

    def _chan_and_call(self, event, t, prefix=""):
        chan = self.channel(event, t, prefix)
        if chan is None:
            return None, None
        call = self.calls.get(chan["linkedid"])
        if not self.live(call):
            return chan, None
        self._touch(call, t)
        return chan, call

    def on_Newstate(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None or chan["ended_at"]:
            return
        state = event.get("ChannelStateDesc") or chan["state"]
        chan.set("state", state)
        tracking = call["tracking"]
        if state == "Up" and not chan["answered_at"]:
            chan.set("answered_at", t)
            if chan["uniqueid"] == tracking.get("origin") and not tracking["dials"]:
                # Answered by the dialplan before anyone was dialled (an
                # application, an IVR, a queue's Answer()).
                self._pbx_answered(call, t)
        elif state == "Ringing" and chan["uniqueid"] == tracking.get("origin"):
            tracking["ring_indicated"] = True
            call.touch("tracking")
        if call["status"] == "ringing" and (tracking.get("pbx_answered_at") or call["answered_at"]):
            call.set("status", "in_progress")

    def on_NewCallerid(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        chan.set("caller_number", clean(event.get("CallerIDNum")))
        chan.set("caller_name", clean(event.get("CallerIDName")))
        if chan["uniqueid"] == call["tracking"].get("origin"):
            self._update_caller(call, chan)
            self._direction(call)

    def on_NewConnectedLine(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        chan.set("connected_number", clean(event.get("ConnectedLineNum")))
        chan.set("connected_name", clean(event.get("ConnectedLineName")))

    def on_DialBegin(self, event, t):
        dest, call = self._chan_and_call(event, t, "Dest")
        if call is None:
            return
        caller = self.channel(event, t) if event.get("Channel") else None
        dest.set("dial_string", event.get("DialString") or "")
        tracking = call["tracking"]
        origin = tracking.get("origin")
        if caller is None:
            # An Originate rings its first channel: that channel is where the
            # call comes from (a user's phone for click-to-dial).
            dest.set("dialed_by", ORIGINATE_DIAL)
            call.set("originated", True)
            if not origin:
                self._set_origin(call, dest)
            self._log_chan(call, t, "originate_ring", f"oring:{dest['uniqueid']}", dest)
            self._direction(call)
            return
        dest.set("dialed_by", caller["uniqueid"])
        if self._own_phone(call, dest):
            # The caller's extension rings their other devices (click-to-dial
            # on several phones): not someone the call reaches.
            self._log_chan(call, t, "originate_ring", f"oring:{dest['uniqueid']}", dest)
            return
        tracking["dials"].setdefault(dest["uniqueid"], "")
        call.touch("tracking")
        if caller["uniqueid"] == origin or not call["called_number"]:
            self._set_called(call, event.get("Exten"))
        if self.is_party(dest):
            name = clean(event.get("DestCallerIDName"))
            # Not a name: the number again, or the CallerID of Odoo's Originate
            # that a trunk channel without one of its own repeats.
            ignored = (clean(event.get("DestCallerIDNum")), tracking.get("label"))
            self._rings(call, dest, t, "" if name in ignored else name)
        self._direction(call)

    def _rings(self, call, dest, t, name=""):
        """A party's device was dialled: its user's popup, and the timeline
        says which user (if any) the device matched."""
        user_id = dest["user_id"]
        if user_id and user_id != call["caller_user_id"]:
            self._ring(call, user_id)
            self._set_called(call, "", self.directory.user_name(user_id))
        elif not user_id and name:
            self._set_called(call, "", name)
        self._log(
            call,
            t,
            "ring",
            f"ring:{dest['uniqueid']}",
            device=dest["device"],
            channel=dest["name"],
            user_id=user_id,
            user=self._who(dest),
            popup=self._popup(user_id if user_id != call["caller_user_id"] else None),
        )

    def on_DialEnd(self, event, t):
        dest, call = self._chan_and_call(event, t, "Dest")
        if call is None:
            return
        status = event.get("DialStatus") or ""
        dest.set("dial_status", status)
        if status == "ANSWER" and not dest["answered_at"]:
            dest.set("answered_at", t)
        if not event.get("Channel"):  # the Originate's own dial
            tracking = call["tracking"]
            tracking["originate_dial"] = status
            call.touch("tracking")
            if status == "ANSWER" and not dest["user_id"] and not call["caller_user_id"]:
                # A Local channel answered: what runs behind it answered (unless
                # it is a user's extension ringing their own phones).
                self._answered(call, dest, t, by_party=False)
            elif status != "ANSWER":
                self._log(call, t, "dial_end", f"oend:{dest['uniqueid']}", status=status)
            return
        if self._own_phone(call, dest):
            if status != "ANSWER":
                self._log_dial_end(call, t, dest, f"oend:{dest['uniqueid']}", status)
            return
        call["tracking"]["dials"][dest["uniqueid"]] = status
        call.touch("tracking")
        if status == "ANSWER" and not self.is_party(dest):
            # A Local channel no user has answered: the dialplan behind it did,
            # a person (their own DialEnd, a bridge) or an application such as
            # VoiceMail after the phones rang out. Not an answer by itself.
            if not call["answered_at"]:
                self._pbx_answered(call, t)
        elif status == "ANSWER":
            self._answered(call, dest, t, by_party=True)
            self._stop(call)  # also after a transfer: whoever still rings
        else:
            self._stop(call, [dest["user_id"]])
        if status != "ANSWER" and self.is_party(dest):
            self._log_dial_end(call, t, dest, f"end:{dest['uniqueid']}", status)

    def _log_dial_end(self, call, t, dest, key, status):
        self._log_chan(call, t, "dial_end", key, dest, status=status)

    @staticmethod
    def _own_phone(call, dest):
        """A device of the user who placed the call: their picking up is not
        an answer, their phone ringing is not a missed call."""
        return bool(dest["user_id"]) and dest["user_id"] == call["caller_user_id"]

    @staticmethod
    def _pbx_answered(call, t):
        tracking = call["tracking"]
        if not tracking.get("pbx_answered_at"):
            tracking["pbx_answered_at"] = t
            call.touch("tracking")
        if call["status"] == "ringing":
            call.set("status", "in_progress")

    def _first_answer(self, call, t):
        """Someone answered: the call is in progress; the first time, its
        popups close and its answer time is kept."""
        if not call["answered_at"]:
            call.set("answered_at", t)
            self._stop(call)
            self.answered.append(call["linkedid"])
        call.set("status", "in_progress")

    def _answered(self, call, chan, t, by_party):
        self._first_answer(call, t)
        user_id = chan["user_id"]
        if user_id and user_id != call["caller_user_id"]:
            if not call["answered_by_id"]:
                call.set("answered_by_id", user_id)
                call.set("called_name", self.directory.user_name(user_id))
            self._remember(call, "talked", user_id)
            self._add_user(call, "user_ids", user_id)
        if by_party and self.is_party(chan):
            self._log(
                call,
                t,
                "answer",
                f"answer:{chan['uniqueid']}",
                device=chan["device"],
                user_id=user_id,
                user=self._who(chan),
            )

    def on_BridgeEnter(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        bridge = event.get("BridgeUniqueid") or ""
        chan.set("bridge", bridge)
        chan.set("bridge_exten", event.get("Exten") or "")
        members = [c for c in self.channels.values() if c["bridge"] == bridge]
        if len(members) < 2:
            return
        for member in members:
            user_id = member["user_id"]
            if not user_id:
                continue
            self._remember(call, "talked", user_id)
            self._add_user(call, "user_ids", user_id)
            # A user's device bridged with the caller without being dialled
            # (a pickup, a transfer target) answered the call.
            if (
                user_id != call["caller_user_id"]
                and member["uniqueid"] != call["tracking"].get("origin")
                and not call["answered_by_id"]
            ):
                self._answered(call, member, t, by_party=True)

    def on_BridgeLeave(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        exten, context = event.get("Exten") or "", event.get("Context") or ""
        if exten and exten != (chan["bridge_exten"] or "") and exten != chan["exten"]:
            # Sent back to the dialplan elsewhere while bridged: a Redirect
            # (or the tail of a blind transfer, logged once under its key).
            call.set("transferred", True)
            self._log(
                call,
                t,
                "transfer",
                f"transfer:{chan['uniqueid']}:{exten}",
                how="redirect",
                device=chan["device"],
                user_id=chan["user_id"],
                user=self._who(chan),
                target=f"{exten}@{context}" if context else exten,
            )
        chan.set("bridge", "")
        chan.set("exten", exten or chan["exten"])
        chan.set("context", context or chan["context"])

    def on_BlindTransfer(self, event, t):
        if event.get("Result") != "Success":
            return
        transferer = self.channel(event, t, "Transferer")
        transferee = self.channel(event, t, "Transferee")
        chan = transferee or transferer
        call = self.calls.get(chan["linkedid"]) if chan else None
        if not self.live(call):
            return
        self._touch(call, t)
        exten = event.get("Extension") or ""
        call.set("transferred", True)
        self._log(
            call,
            t,
            "transfer",
            f"transfer:{transferee['uniqueid'] if transferee else ''}:{exten}",
            how="blind",
            by=self._who(transferer) if transferer else "",
            by_user_id=transferer["user_id"] if transferer else None,
            user=self._who(transferee) if transferee else "",
            target=exten,
        )

    def on_AttendedTransfer(self, event, t):
        if event.get("Result") != "Success":
            return
        transferer = self.channel(event, t, "OrigTransferer")
        target = self.channel(event, t, "TransferTarget")
        transferee = self.channel(event, t, "Transferee")
        calls = {c["linkedid"] for c in (transferer, target, transferee) if c}
        target_name = ""
        if target is not None:
            target_name = self._who(target)
        else:
            target_name = clean(event.get("SecondTransfererConnectedLineName")) or clean(
                event.get("SecondTransfererConnectedLineNum")
            )
        for linkedid in calls:
            call = self.calls.get(linkedid)
            if not self.live(call):
                continue
            self._touch(call, t)
            call.set("transferred", True)
            self._log(
                call,
                t,
                "transfer",
                f"atransfer:{event.get('OrigTransfererUniqueid')}",
                how="attended",
                by=self._who(transferer) if transferer else "",
                by_user_id=transferer["user_id"] if transferer else None,
                target=target_name,
                target_user_id=target["user_id"] if target else None,
            )
            if target is not None and target["user_id"]:
                self._add_user(call, "user_ids", target["user_id"])

    def on_Hangup(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if chan is None or chan["ended_at"]:
            return
        chan.set("ended_at", t)
        chan.set("state", "Down")
        chan.set("bridge", "")
        try:
            chan.set("hangup_cause", int(event.get("Cause") or 0))
        except ValueError:
            chan.set("hangup_cause", 0)
        chan.set("hangup_cause_txt", event.get("Cause-txt") or "")
        if call is None:
            return
        # The second half of a user's Local device is the same party: once.
        second_half = chan["is_local"] and chan["name"].endswith(";2")
        if (
            self.is_party(chan)
            and not second_half
            and (chan["answered_at"] or not chan["dialed_by"])
        ):
            self._log(
                call,
                t,
                "hangup",
                f"hangup:{chan['uniqueid']}",
                device=chan["device"],
                user_id=chan["user_id"],
                user=self._who(chan),
                cause=chan["hangup_cause_txt"],
            )
        if all(c["ended_at"] for c in self._channels_of(call)):
            self._finish(call, t)

    def on_Cdr(self, event, t):
        """A channel gets one CDR per party it dialled (and per segment after a
        transfer): all are kept, and summed up on the channel and the call."""
        chan = self.channels.get(event.get("UniqueID") or event.get("Uniqueid"))
        if chan is None:
            return
        cdr = {k: v for k, v in event.items() if not k.startswith("_") and k != "Privilege"}
        cdrs = list(chan["cdr"] or [])
        if cdr in cdrs:
            return  # a replay
        cdrs.append(cdr)
        chan.set("cdr", cdrs)
        disposition, duration, billsec = cdr_summary(cdrs)
        chan.set("cdr_disposition", disposition)
        chan.set("cdr_duration", duration)
        chan.set("cdr_billsec", billsec)
        call = self.calls.get(chan["linkedid"])
        if call is None:
            return
        if chan["uniqueid"] == call["tracking"].get("origin"):
            call.set("cdr_disposition", disposition)
            call.set("cdr_duration", duration)
            call.set("cdr_billsec", billsec)
        if not self.live(call):
            self._durations(call)

    def on_OriginateResponse(self, event, t):
        linkedid = event.get("_linkedid")
        # Under load Asterisk may answer an Originate before the channel's
        # Newchannel: a response naming its channel starts the call.
        known = clean(event.get("Uniqueid"))
        if known and event.get("Response") == "Success":
            chan = self.channels.get(known)
            if known != linkedid or (chan is not None and chan["linkedid"] != linkedid):
                # The Originate's channel is another call's: it took the place
                # of another phone's (a pickup: Asterisk 20 answers with the
                # channel picked up, capture pickup_ringing), or it joined an
                # older call, whose call was not originated.
                return
        call = self.call(linkedid, t, create=bool(known))
        if call is None:
            return
        call.set("originated", True)
        reason = str(event.get("Reason") or "")
        tracking = call["tracking"]
        if tracking.get("originate_reason") != reason:
            tracking["originate_reason"] = reason
            call.touch("tracking")
        if event.get("ActionID"):
            call.set("action_uid", event["ActionID"])
        if event.get("Response") != "Success":
            self._log(call, t, "originate_failed", "originate_failed", reason=reason)
            alive = [c for c in self._channels_of(call) if not c["ended_at"]]
            if not self.live(call):
                self._finish(call, call["ended_at"] or t, again=True)
            elif not alive:  # nothing was ever created (an unreachable phone)
                self._finish(call, t, again=True)

    def on_QueueCallerJoin(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        queue = event.get("Queue") or ""
        call.set("queue", queue)
        tracking = call["tracking"]
        tracking.setdefault("queue_outcome", "waiting")
        call.touch("tracking")
        self._set_called(call, "", queue)
        key = f"qjoin:{chan['uniqueid']}:{queue}"
        self._log(call, t, "queue_join", key, queue=queue, position=event.get("Position") or "")

    def _queue_outcome(self, event, t, outcome, kind):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        tracking = call["tracking"]
        # The caller leaves after being connected, or after abandoning.
        if tracking.get("queue_outcome") in (None, "waiting") or outcome == "abandoned":
            tracking["queue_outcome"] = outcome
            call.touch("tracking")
        queue = event.get("Queue") or ""
        self._log(call, t, kind, f"{kind}:{chan['uniqueid']}:{queue}", queue=queue)

    def on_QueueCallerAbandon(self, event, t):
        self._queue_outcome(event, t, "abandoned", "queue_abandon")

    def on_QueueCallerLeave(self, event, t):
        self._queue_outcome(event, t, "left", "queue_leave")

    def _member(self, event, t):
        """The queue member's channel and user (its device or its interface)."""
        member = self.channel(event, t, "Dest")
        user_id = member["user_id"] if member else None
        if not user_id:
            for key in ("Interface", "StateInterface"):
                if event.get(key):
                    user_id = self.directory.owner(device_of(event[key]))[1]
                    if user_id:
                        break
        return member, user_id

    def on_AgentCalled(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        member, user_id = self._member(event, t)
        if user_id and user_id != call["caller_user_id"]:
            self._ring(call, user_id)
            self._add_user(call, "user_ids", user_id)
        self._agent_log(
            call,
            t,
            "agent_called",
            event,
            user_id,
            device=device_of(event.get("Interface") or event.get("DestChannel") or ""),
            popup=self._popup(user_id),
        )
        self._direction(call)

    def on_AgentRingNoAnswer(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        _member, user_id = self._member(event, t)
        self._stop(call, [user_id])
        ringtime = event.get("RingTime") or ""
        self._agent_log(call, t, "agent_noanswer", event, user_id, ringtime=ringtime)

    def on_AgentConnect(self, event, t):
        chan, call = self._chan_and_call(event, t)
        if call is None:
            return
        member, user_id = self._member(event, t)
        tracking = call["tracking"]
        tracking["queue_outcome"] = "connected"
        call.touch("tracking")
        self._first_answer(call, t)
        name = event.get("MemberName") or event.get("Interface") or ""
        if user_id:
            if not call["answered_by_id"]:
                call.set("answered_by_id", user_id)
            self._remember(call, "talked", user_id)
            self._add_user(call, "user_ids", user_id)
            name = self.directory.user_name(user_id)
        if not call["called_name"] or call["called_name"] == call["queue"]:
            call.set("called_name", name)
        holdtime = event.get("HoldTime") or ""
        self._agent_log(call, t, "agent_connect", event, user_id, holdtime=holdtime)

    def _agent_log(self, call, t, kind, event, user_id, **extra):
        """A queue member's timeline entry, keyed by the member's channel."""
        self._log(
            call,
            t,
            kind,
            f"{kind}:{event.get('DestUniqueid') or event.get('Interface')}",
            queue=event.get("Queue") or "",
            member=event.get("MemberName") or event.get("Interface") or "",
            user_id=user_id,
            user=self.directory.user_name(user_id) if user_id else "",
            **extra,
        )

    # -- call pickup ------------------------------------------------------------------

    def on_Pickup(self, event, t):
        """A phone took the call ringing on another (Pickup(), a pickup
        group's code): the picker answers it (its channel joins the call)."""
        target, call = self._chan_and_call(event, t, "Target")
        if call is None:
            return
        picker = self.channel(event, t)
        if picker is not None and picker["user_id"]:
            self._add_user(call, "user_ids", picker["user_id"])
        self._log_chan(
            call,
            t,
            "pickup",
            f"pickup:{event.get('Uniqueid')}",
            target,
            by=self._who(picker) if picker else clean(event.get("Channel")),
            by_user_id=picker["user_id"] if picker else None,
        )

    # -- parking (res_parking) -------------------------------------------------------

    def on_ParkedCall(self, event, t):
        """A party waits in a parking space: anyone dials it to take the call."""
        chan, call = self._chan_and_call(event, t, "Parkee")
        if call is None:
            return
        space = clean(event.get("ParkingSpace"))
        parker = device_of(clean(event.get("ParkerDialString")))
        parker_user = self.directory.owner(parker)[1] if parker else None
        if parker_user and call["parking_space"] != space:
            self.parked.append((call["linkedid"], parker_user, space, self._who(chan)))
        call.set("parking_space", space)
        self._park_log(
            call,
            t,
            "parked",
            chan,
            event,
            by=self.directory.user_name(parker_user) if parker_user else parker,
            by_user_id=parker_user,
            lot=clean(event.get("Parkinglot")),
        )

    def on_UnParkedCall(self, event, t):
        chan, call = self._chan_and_call(event, t, "Parkee")
        if call is None:
            return
        call.set("parking_space", False)
        retriever = self.channel(event, t, "Retriever")
        self._park_log(
            call,
            t,
            "unparked",
            chan,
            event,
            by=self._who(retriever) if retriever else "",
            by_user_id=retriever["user_id"] if retriever else None,
        )

    def on_ParkedCallGiveUp(self, event, t):
        self._park_end(event, t, "park_giveup")

    def on_ParkedCallTimeOut(self, event, t):
        self._park_end(event, t, "park_timeout")

    def _park_end(self, event, t, kind):
        chan, call = self._chan_and_call(event, t, "Parkee")
        if call is None:
            return
        call.set("parking_space", False)
        self._park_log(call, t, kind, chan, event, parker=clean(event.get("ParkerDialString")))

    def _park_log(self, call, t, kind, chan, event, **params):
        space = clean(event.get("ParkingSpace"))
        self._log_chan(
            call,
            t,
            kind,
            f"{kind}:{chan['uniqueid']}:{space}",
            chan,
            space=space,
            seconds=clean(event.get("ParkingDuration")),
            **params,
        )

    # -- the end of a call ----------------------------------------------------------

    def status(self, call):
        """The final status, from what Asterisk reported (see the module doc)."""
        tracking = call["tracking"]
        if call["answered_at"]:
            return "answered"
        queue = tracking.get("queue_outcome")
        if queue == "abandoned":
            return "abandoned"
        if queue:
            return "no_answer"
        results = [s for s in tracking["dials"].values() if s and s != "ANSWER"]
        if not results and tracking.get("originate_dial") not in (None, "", "ANSWER"):
            results = [tracking["originate_dial"]]
        if results:
            statuses = {DIAL_STATUS.get(s, "failed") for s in results}
            for status in ("abandoned", "no_answer", "busy", "failed"):
                if status in statuses:
                    return status
        reason = tracking.get("originate_reason")
        if reason and reason != "4":
            return ORIGINATE_REASON.get(reason, "failed")
        if tracking.get("pbx_answered_at"):
            return "answered"
        if tracking["dials"] or tracking.get("ring_indicated"):
            return "no_answer"
        return "failed"

    def _finish(self, call, t, again=False):
        """All the call's channels are gone: its final status and numbers."""
        channels = self._channels_of(call)
        if not channels and not again:
            self.removed.append(call)
            call.set("status", "failed")
            call.set("ended_at", t)
            return
        ended = max((c["ended_at"] or t for c in channels), default=t)
        call.set("ended_at", ended)
        status = self.status(call)
        tracking = call["tracking"]
        if status == "answered" and not call["answered_at"]:
            call.set("answered_at", tracking.get("pbx_answered_at") or ended)
        call.set("status", status)
        call.set("missed_user_ids", () if status == "answered" else self._missed(call, channels))
        self._direction(call)
        self._durations(call)
        call.set("followup", True)
        self._stop(call)
        if call not in self.ended:
            self.ended.append(call)

    def _missed(self, call, channels):
        """Users whose device rang (dialled, or called by a queue) and who did
        not pick up; a device that was busy or unreachable did not ring."""
        rang = set(call["tracking"].get("rang", [])) - {call["caller_user_id"]}
        unreachable, reached = set(), set()
        dials = call["tracking"]["dials"]
        for chan in channels:
            status = dials.get(chan["uniqueid"])
            if status is None or not chan["user_id"]:
                continue
            if status in ("BUSY", "CHANUNAVAIL", "CONGESTION"):
                unreachable.add(chan["user_id"])
            else:
                reached.add(chan["user_id"])
        return tuple(sorted(rang - (unreachable - reached)))

    def _durations(self, call):
        """Ring and talk seconds, from the call's CDRs when they came (Asterisk's
        own accounting, transfers included), else from the events' times. When
        the dialplan answered before a person did (a queue, an IVR), the CDRs
        count that wait as talk, so the events' times are kept."""
        started, ended = call["started_at"], call["ended_at"] or call["started_at"]
        answered = call["answered_at"]
        pbx_first = call["tracking"].get("pbx_answered_at") and call["answered_by_id"]
        span = None if pbx_first else _cdr_span(self._channels_of(call))
        if span is not None:
            started, ended, cdr_answered = span
            answered = cdr_answered if call["status"] == "answered" else None
        if answered:
            ring, talk = answered - started, ended - answered
        else:
            ring, talk = ended - started, 0.0
        call.set("ring_seconds", max(0, round(ring)))
        call.set("talk_seconds", max(0, round(talk)))
        if call["tracking"].get("adopted") and span is not None and answered and call["ended_at"]:
            # Found in progress at a reconnect: its answer time was only known
            # to be before then; the CDRs tell it.
            call.set("answered_at", call["ended_at"] - call["talk_seconds"])

    # -- after a reconnect --------------------------------------------------------------

    def close_stale(self, call, alive, snapshot_time):
        """The PBX no longer has some of the call's channels (they ended while
        the connection was down): end them, and the call if none is left."""
        if not self.live(call) or (call["last_event_at"] or 0) > snapshot_time:
            return False
        if call["action_uid"] and not self._channels_of(call):
            # Placed by click-to-dial, not at the PBX yet: its Originate's
            # outcome (a failure, its expiry, its channels) decides.
            return False
        t = call["last_event_at"] or snapshot_time
        closed = False
        for chan in self._channels_of(call):
            if not chan["ended_at"] and chan["uniqueid"] not in alive:
                chan.set("ended_at", t)
                chan.set("state", "Down")
                chan.set("hangup_cause_txt", "ended while Odoo was not connected")
                closed = True
        if all(c["ended_at"] for c in self._channels_of(call)):
            self._log(call, t, "resync", "resync")
            self._finish(call, t)
            return True
        return closed

    def adopt(self, channels, snapshot_time):
        """Calls the PBX has and Odoo never saw start (they began while the
        connection was down), from the channel list of the resync
        (``CoreShowChannel`` entries): each channel as if its ``Newchannel``
        had come when it started (``Duration`` before the snapshot), in its
        state then, and bridged channels entering their bridge at the
        snapshot (who answered, at the latest then). Their own events then
        go on from there; the CDRs at the end give the answer time and the
        durations. Returns the calls adopted."""
        adopted = {}
        for entry in sorted(channels, key=_creation_order):
            linkedid = entry.get("Linkedid")
            if not linkedid or not entry.get("Uniqueid"):
                continue
            if linkedid not in adopted and linkedid in self.calls:
                continue  # known: its own events keep it right
            start = snapshot_time - _hms(entry.get("Duration"))
            event = {k: v for k, v in entry.items() if k not in ("Event", "ActionID")}
            self.on_Newchannel({**event, "Event": "Newchannel"}, start)
            call = self.calls.get(linkedid)
            if call is None:
                continue
            if linkedid not in adopted:
                adopted[linkedid] = call
                call["tracking"]["adopted"] = True
                call.touch("tracking")
                self._log(call, snapshot_time, "adopted", "adopted")
            if entry.get("ChannelStateDesc") not in (None, "", "Down"):
                self.on_Newstate({**event, "Event": "Newstate"}, start)
            if entry.get("Application") == "AppDial" and entry.get("ChannelStateDesc") == "Ringing":
                self._adopt_ring(call, entry["Uniqueid"], snapshot_time)
        for entry in channels:
            if entry.get("BridgeId") and entry.get("Linkedid") in adopted:
                bridged = {**entry, "Event": "BridgeEnter", "BridgeUniqueid": entry["BridgeId"]}
                self.on_BridgeEnter(bridged, snapshot_time)
        for call in adopted.values():
            if call["answered_by_id"]:
                # Its caller's channel was up because a person answered, not
                # the dialplan: the CDRs will say when (see _durations).
                call["tracking"].pop("pbx_answered_at", None)
        return list(adopted.values())

    def _adopt_ring(self, call, uniqueid, t):
        """A device some Dial is ringing now (``AppDial``; an Originate's first
        leg is ``AppDial2``): the user gets their popup as if it just began."""
        dest = self.channels.get(uniqueid)
        if dest is None or dest["uniqueid"] == call["tracking"].get("origin"):
            return
        call["tracking"]["dials"].setdefault(uniqueid, "")
        call.touch("tracking")
        if self.is_party(dest):
            self._rings(call, dest, t)
        self._direction(call)


def _creation_order(entry):
    """Asterisk numbers its channels "<start epoch>.<counter>": their order of creation."""
    try:
        return tuple(int(part) for part in entry.get("Uniqueid", "").split("."))
    except ValueError:
        return (float("inf"),)


def _hms(value):
    """Seconds of an AMI ``Duration`` ("01:02:03"), 0 when absent or odd."""
    try:
        hours, minutes, seconds = (int(part) for part in (value or "").split(":"))
    except ValueError:
        return 0
    return hours * 3600 + minutes * 60 + seconds


_EPOCH = datetime(1970, 1, 1)


def _cdr_time(value):
    """A CDR time ("2026-11-26 13:37:47", the PBX's local time) as seconds;
    only differences between them are used, so the time zone does not matter."""
    try:
        return (datetime.strptime(value, "%Y-%m-%d %H:%M:%S") - _EPOCH).total_seconds()
    except (TypeError, ValueError):
        return None


# When CDRs of one channel disagree, the first of these wins (as cdr.c ranks them).
DISPOSITIONS = ("ANSWERED", "BUSY", "NO ANSWER", "CONGESTION", "FAILED")


def _cdr_interval(cdr):
    """(start, answer, end) of a CDR in seconds: Duration and BillableSeconds
    are rounded from Asterisk's own clock, the times are truncated."""
    start = _cdr_time(cdr.get("StartTime"))
    if start is None:
        return None
    duration = _int(cdr.get("Duration"))
    end = start + duration if duration is not None else _cdr_time(cdr.get("EndTime"))
    if end is None:
        return None
    answer = None
    if cdr.get("Disposition") == "ANSWERED":
        billsec = _int(cdr.get("BillableSeconds"))
        answer = end - billsec if billsec is not None else _cdr_time(cdr.get("AnswerTime"))
    return start, answer, end


def cdr_summary(cdrs):
    """(disposition, duration, billable seconds) of a list of CDRs: the best
    disposition, the span they cover, the time answered (overlaps once)."""
    disposition = min(
        (c.get("Disposition") or "" for c in cdrs),
        key=lambda d: DISPOSITIONS.index(d) if d in DISPOSITIONS else len(DISPOSITIONS),
    )
    intervals = [i for i in map(_cdr_interval, cdrs) if i]
    if not intervals:
        return disposition, _int(cdrs[-1].get("Duration")), _int(cdrs[-1].get("BillableSeconds"))
    duration = max(end for _, _, end in intervals) - min(start for start, _, _ in intervals)
    billsec, reach = 0, None
    for answer, end in sorted((a, e) for _, a, e in intervals if a is not None):
        if reach is not None and answer < reach:
            answer = reach
        if end > answer:
            billsec += end - answer
            reach = end
    return disposition, round(duration), round(billsec)


def _cdr_span(channels):
    """(start, end, first answer) over the CDRs of a call's channels, or None."""
    intervals = [i for chan in channels for i in map(_cdr_interval, chan["cdr"] or [])]
    intervals = [i for i in intervals if i]
    if not intervals:
        return None
    answers = [answer for _, answer, _ in intervals if answer is not None]
    return (
        min(start for start, _, _ in intervals),
        max(end for _, _, end in intervals),
        min(answers) if answers else None,
    )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
