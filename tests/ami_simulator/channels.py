"""Live channel / bridge model and the AMI events built from it.

Field names and their order come from the Asterisk 20 captures in
``/work/shared/ami-captures`` (``ast_manager_build_channel_state_string`` and
``ast_manager_build_bridge_state_string`` output).  The simulator keeps a
table of the channels and bridges that exist right now, so that
``CoreShowChannels``, ``Status``, ``BridgeList``, ``Hangup`` and ``Redirect``
see the calls in progress.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field

from .protocol import EVENT_FLAGS

CALL = EVENT_FLAGS["call"]
DIALPLAN = EVENT_FLAGS["dialplan"]
CDR = EVENT_FLAGS["cdr"]
SYSTEM = EVENT_FLAGS["system"]
SECURITY = EVENT_FLAGS["security"]
AGENT = EVENT_FLAGS["agent"]
DTMF = EVENT_FLAGS["dtmf"]
REPORTING = EVENT_FLAGS["reporting"]

# ast_state2str()
STATE_DOWN, STATE_RING, STATE_RINGING, STATE_UP, STATE_BUSY = 0, 4, 5, 6, 7
STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}

# ast_cause2str() for the causes the scenarios use.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
    127: "Interworking, unspecified",
}

UNKNOWN = "<unknown>"
CDR_FIELD = 80  # AST_MAX_EXTENSION: the size of struct ast_cdr's texts

# Event = (category bit, [(key, value), ...]); "Event" and "Privilege" are
# added when the server serialises it.
Event = tuple[int, list[tuple[str, str]]]


class Clock:
    """Virtual clock: scenario delays are divided by ``time_scale`` in real time,
    while every timestamp the simulator shows (Uniqueid, Cdr times, Duration)
    advances as if the call had taken its full, unscaled time."""

    def __init__(self, time_scale: float = 1.0):
        self.time_scale = time_scale
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) / self.time_scale

    def real_delay(self, seconds: float) -> float:
        return seconds * self.time_scale


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    tech: str
    device: str  # DeviceStateChange "Device:", e.g. Local/100@demo or SIP/alice
    context: str
    exten: str
    state: int = STATE_DOWN
    priority: int = 1
    cid_num: str = UNKNOWN
    cid_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    language: str = "en"
    accountcode: str = ""
    appl: str = ""
    data: str = ""
    created: float = 0.0
    answered: float | None = None
    bridge: Bridge | None = None
    variables: dict = field(default_factory=dict)
    call: object = None  # the scenario Call owning the channel
    # CDR bookkeeping
    cdr_src: str = ""
    cdr_dst: str = ""
    cdr_dcontext: str = ""
    cdr_clid: str = ""
    cdr_dstchannel: str = ""
    cdr_lastapp: str = ""
    cdr_lastdata: str = ""
    cdr_disposition: str = ""
    cdr_start: float | None = None  # set when a new CDR record starts after a failed Dial
    cdr_records: list = field(default_factory=list)  # finished/open records (pbx.py)
    hangup_cause: int | None = None  # cause the channel ends with, when already known
    # the SIP response code behind the cause (chan_pjsip sets it, chan_sip
    # does not: Hangup/HangupRequest TechCause, capture pjsip_call_busy)
    tech_cause: int | None = None
    # the SIP Call-ID of a PJSIP channel: no SIPCALLID variable, only its
    # bridge peer's BRIDGEPVTCALLID shows it (capture pjsip_call_answered)
    pvt_call_id: str = ""
    # headers PJSIP_HEADER(add,...) wrote on a PJSIP channel before it was
    # called: they go into its INVITE (AmiSimulator.invites)
    pjsip_headers: list = field(default_factory=list)
    # a dialled channel whose caller id app_dial made up (its peer has none):
    # the caller's connected line is not taken from it (DIAL_CALLERID_ABSENT)
    callerid_absent: bool = False
    alive: bool = True
    pbx: bool = False  # runs the dialplan (a PBX thread), not only an application
    # (context, exten, priority) of the last snapshot published, while the
    # channel's own location moved without publishing one (a Gosub returning:
    # app_stack.c sets it back silently); the events that only reuse the
    # cached snapshot (VarSet, Dial*) show it, the next new snapshot is
    # followed by a Newexten (capture originate_ring_auto_answer)
    shown_location: tuple[str, str, int] | None = None

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def snapshot(self, prefix: str = "") -> list[tuple[str, str]]:
        """``ast_manager_build_channel_state_string_prefix``."""
        context, exten, priority = self.shown_location or (self.context, self.exten, self.priority)
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", self.state_desc),
            (prefix + "CallerIDNum", self.cid_num),
            (prefix + "CallerIDName", self.cid_name),
            (prefix + "ConnectedLineNum", self.conn_num),
            (prefix + "ConnectedLineName", self.conn_name),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", context),
            (prefix + "Exten", exten),
            (prefix + "Priority", str(priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]

    def set_app(self, app: str, data: str) -> None:
        self.appl, self.data = app, data
        # The CDR keeps the last application that is not an internal one.
        self.cdr_lastapp, self.cdr_lastdata = app, data


@dataclass(eq=False)
class Bridge:
    uniqueid: str
    bridge_type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = UNKNOWN
    name: str = UNKNOWN
    video_source_mode: str = "none"
    channels: list = field(default_factory=list)

    def snapshot(self) -> list[tuple[str, str]]:
        """``ast_manager_build_bridge_state_string``."""
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", self.bridge_type),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", self.creator),
            ("BridgeName", self.name),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", self.video_source_mode),
        ]


class ChannelTable:
    """Every channel and bridge alive in the simulated Asterisk."""

    def __init__(self, clock: Clock, uniqueid_start: int = 1):
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self._uid = itertools.count(uniqueid_start)
        # chan_local and chan_sip each number their channels independently.
        self._suffix = {"Local": itertools.count(1), "SIP": itertools.count(0)}
        self.calls_processed = 0  # ast_processed_calls: PBXes started

    def next_uniqueid(self) -> str:
        return f"{int(self.clock.now())}.{next(self._uid)}"

    def next_suffix(self, tech: str) -> str:
        counter = self._suffix.setdefault(tech, itertools.count(1))
        return f"{next(counter):08x}"

    def set_next_suffix(self, tech: str, number: int) -> None:
        """Number the next ``tech`` channel ``number``, as an Asterisk that has
        created channels before (names decide the order of channel lists)."""
        self._suffix[tech] = itertools.count(number)

    def new_channel(
        self,
        name: str,
        tech: str,
        device: str,
        context: str,
        exten: str,
        linkedid: str | None = None,
        uniqueid: str | None = None,
        **kw,
    ) -> Channel:
        """``uniqueid``: the id an Originate assigned (``ChannelId``/``OtherChannelId``)."""
        uid = uniqueid or self.next_uniqueid()
        chan = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            tech=tech,
            device=device,
            context=context,
            exten=exten,
            created=self.clock.now(),
            **kw,
        )
        self.channels[name] = chan
        return chan

    def new_bridge(self) -> Bridge:
        bridge = Bridge(uniqueid=str(uuid.uuid4()))
        self.bridges[bridge.uniqueid] = bridge
        return bridge

    def remove(self, chan: Channel) -> None:
        chan.alive = False
        self.channels.pop(chan.name, None)

    def by_uniqueid(self, uniqueid: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.uniqueid == uniqueid), None)

    def get(self, name: str) -> Channel | None:
        chan = self.channels.get(name)
        if chan is None:
            # ast_channel_get_by_name is case-insensitive.
            low = name.lower()
            chan = next((c for n, c in self.channels.items() if n.lower() == low), None)
        return chan

    def ordered(self) -> list[Channel]:
        """Channel container iteration order: bucket by bucket (capture g)."""
        return sorted(self.channels.values(), key=lambda c: channel_bucket(c.name))

    def active_calls(self) -> int:
        """``ast_active_calls``: the PBX threads running (capture g: the two ;2)."""
        return sum(1 for c in self.channels.values() if c.pbx)

    def start_pbx(self, chan: Channel) -> None:
        """``increase_call_count``: ``chan`` starts running the dialplan."""
        if not chan.pbx:
            chan.pbx = True
            self.calls_processed += 1


# AST_NUM_CHANNEL_BUCKETS: the channel storage and the snapshot cache that
# Status, CoreShowChannels, "core show channels" and a Hangup by regex iterate
# are hash tables of that many buckets, keyed by the channel's name.
CHANNEL_BUCKETS = 1567


def channel_bucket(name: str) -> int:
    """``ast_str_case_hash(name) % AST_NUM_CHANNEL_BUCKETS`` (strings.h, astobj2_hash.c)."""
    h = 5381
    for byte in name.encode().lower():
        h = ((h * 33) & 0xFFFFFFFF) ^ byte
    return (h & 0x7FFFFFFF) % CHANNEL_BUCKETS


# --- event builders -----------------------------------------------------------


def ev(name: str, category: int, *parts) -> Event:
    pairs: list[tuple[str, str]] = [("Event", name)]
    for part in parts:
        pairs.extend(part)
    return category, pairs


def fresh(c: Channel) -> list[tuple[str, str]]:
    """The snapshot of an event that publishes a new one (a state, the
    dialplan location, the caller id... changed): the channel as it is now."""
    c.shown_location = None
    return c.snapshot()


def newchannel(c: Channel) -> Event:
    return ev("Newchannel", CALL, fresh(c))


def newstate(c: Channel) -> Event:
    return ev("Newstate", CALL, fresh(c))


def newexten(c: Channel, app: str, data: str, extension: str | None = None) -> Event:
    return ev(
        "Newexten",
        DIALPLAN,
        fresh(c),
        [
            ("Extension", c.exten if extension is None else extension),
            ("Application", app),
            ("AppData", data),
        ],
    )


def newcallerid(c: Channel) -> Event:
    return ev(
        "NewCallerid",
        CALL,
        fresh(c),
        [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
    )


def newconnectedline(c: Channel) -> Event:
    return ev("NewConnectedLine", CALL, fresh(c))


def varset(c: Channel, variable: str, value: str) -> Event:
    c.variables[variable] = value
    return ev("VarSet", DIALPLAN, c.snapshot(), [("Variable", variable), ("Value", value)])


def hangup_request(c: Channel, cause: int | None, tech_cause: int | None = None) -> Event:
    """``HangupRequest``; chan_sip queues a BYE/CANCEL without a cause: no ``Cause`` key;
    chan_pjsip adds the SIP response (``TechCause: 486``, capture pjsip_call_busy)."""
    extra = [] if cause is None else [("Cause", str(cause))]
    if tech_cause is not None:
        extra.append(("TechCause", str(tech_cause)))
    return ev("HangupRequest", CALL, c.snapshot(), extra)


def soft_hangup_request(c: Channel, cause: int = 16) -> Event:
    return ev("SoftHangupRequest", CALL, c.snapshot(), [("Cause", str(cause))])


def hangup(c: Channel, cause: int) -> Event:
    extra = [("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))]
    if c.tech_cause is not None:  # chan_pjsip's (capture pjsip_call_busy)
        extra.append(("TechCause", str(c.tech_cause)))
    return ev("Hangup", CALL, fresh(c), extra)


def device_state(device: str, state: str) -> Event:
    return ev("DeviceStateChange", CALL, [("Device", device), ("State", state)])


def local_bridge(one: Channel, two: Channel, context: str, exten: str, optimize: bool) -> Event:
    return ev(
        "LocalBridge",
        CALL,
        one.snapshot("LocalOne"),
        two.snapshot("LocalTwo"),
        [
            ("Context", context),
            ("Exten", exten),
            ("LocalOptimization", "Yes" if optimize else "No"),
        ],
    )


def _dial(name: str, caller: Channel | None, dest: Channel, extra: list) -> Event:
    """A Dial* event: the caller's snapshot (none for an originate), the Dest one."""
    return ev(name, CALL, caller.snapshot() if caller else [], dest.snapshot("Dest"), extra)


def dial_begin(caller: Channel | None, dest: Channel, dialstring: str) -> Event:
    return _dial("DialBegin", caller, dest, [("DialString", dialstring)])


def dial_state(caller: Channel | None, dest: Channel, status: str) -> Event:
    return _dial("DialState", caller, dest, [("DialStatus", status)])


def dial_end(caller: Channel | None, dest: Channel, status: str) -> Event:
    return _dial("DialEnd", caller, dest, [("DialStatus", status)])


def bridge_create(b: Bridge) -> Event:
    return ev("BridgeCreate", CALL, b.snapshot())


def bridge_destroy(b: Bridge) -> Event:
    return ev("BridgeDestroy", CALL, b.snapshot())


def bridge_enter(b: Bridge, c: Channel) -> Event:
    b.channels.append(c)
    c.bridge = b
    return ev("BridgeEnter", CALL, b.snapshot(), c.snapshot())


def bridge_leave(b: Bridge, c: Channel) -> Event:
    if c in b.channels:
        b.channels.remove(c)
    c.bridge = None
    return ev("BridgeLeave", CALL, b.snapshot(), c.snapshot())


def cdr_clid(num: str, name: str) -> str:
    """A CDR's CallerID: ``"name" <num>``, ``"" <num>`` without a name (checked on
    the real Asterisk), the name alone without a number."""
    if num:
        return f'"{name}" <{num}>'
    return f'"{name}"' if name else ""


def fmt_cdr_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def cdr(c: Channel, end: float) -> Event:
    """cdr_manager's ``Cdr`` event for one channel's CDR."""
    disposition = c.cdr_disposition or ("ANSWERED" if c.answered else "NO ANSWER")
    return cdr_record(c, start=c.created, answer=c.answered, end=end, disposition=disposition)


def cdr_record(
    c: Channel,
    *,
    start: float,
    answer: float | None,
    end: float,
    disposition: str,
    dstchannel: str | None = None,
    lastapp: str | None = None,
    lastdata: str | None = None,
    src: str | None = None,
    dst: str | None = None,
    clid: str | None = None,
) -> Event:
    """One CDR record of ``c`` (a channel may have several: one per party dialled,
    one for what its dialplan does after a failed Dial); unset fields come from
    the channel's CDR bookkeeping. Its texts are ``char[AST_MAX_EXTENSION]``
    of struct ast_cdr: 79 characters at most (a Dial's long options are cut:
    capture originate_ring_auto_answer)."""

    def text(value: str) -> str:
        return value[: CDR_FIELD - 1]

    return ev(
        "Cdr",
        CDR,
        [
            ("AccountCode", c.accountcode),
            ("Source", text(c.cdr_src if src is None else src)),
            ("Destination", text(c.cdr_dst if dst is None else dst)),
            ("DestinationContext", text(c.cdr_dcontext)),
            ("CallerID", text(c.cdr_clid if clid is None else clid)),
            ("Channel", text(c.name)),
            ("DestinationChannel", text(c.cdr_dstchannel if dstchannel is None else dstchannel)),
            ("LastApplication", text(c.cdr_lastapp if lastapp is None else lastapp)),
            ("LastData", text(c.cdr_lastdata if lastdata is None else lastdata)),
            ("StartTime", fmt_cdr_time(start)),
            ("AnswerTime", fmt_cdr_time(answer)),
            ("EndTime", fmt_cdr_time(end)),
            ("Duration", str(int(end - start))),
            ("BillableSeconds", str(int(end - answer) if answer else 0)),
            ("Disposition", disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", c.uniqueid),
            ("UserField", ""),
        ],
    )


def format_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
