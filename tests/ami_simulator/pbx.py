"""Call flows recorded from the real Asterisk 20 in ``tests/captures``.

The applications a SIP call runs, as Asterisk 20 (chan_sip) publishes them:

* :class:`SipDial` -- ``Dial(SIP/a[&SIP/b...],timeout)``: the callee answers
  (now or after ringing), is busy (486), never answers (the Dial timeout:
  NOANSWER), the caller gives up while it rings (CANCEL), or a ring group
  where the first phone to answer wins and the others are cancelled
  (captures ``sip_busy``, ``sip_noanswer``, ``sip_cancel``,
  ``inbound_ring_group``, ``attended_transfer``); one ``PJSIP/`` phone
  the same way, with chan_pjsip's differences (captures ``pjsip_call_*``);
* :class:`QueueApp` -- ``Queue(name,,,,timeout)`` with the ``ringall``
  members of ``queues.conf`` (Local channels running their own dialplan),
  the member ring timeout and retry, the caller abandoning, the agent
  answering and hanging up (captures ``queue_answered``, ``queue_abandoned``);
* :class:`AttendedTransfer` -- the ``Atxfer`` action: DTMF feature code,
  consultation bridge with a Local channel, completion when the transferer
  hangs up, ``BridgeMerge`` and ``AttendedTransfer`` (capture
  ``attended_transfer``);
* :class:`RtcpReporter` -- ``RTCPSent`` every 5 s on SIP channels with media.

Real Asterisk runs each channel in its own thread, so the interleaving of two
channels' events differs from one run to the next (``tests/captures/README.md``
lists what varies).  The order here is the one of the recorded capture; the
few knobs that pick between observed interleavings are scenario keyword
arguments (``early_ringing``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import uuid
from typing import TYPE_CHECKING

from . import channels as ch
from . import gosub
from . import scenarios as sc  # module reference only: scenarios imports this module
from .channels import (
    AGENT,
    CALL,
    DTMF,
    REPORTING,
    STATE_RING,
    STATE_RINGING,
    STATE_UP,
    UNKNOWN,
    Channel,
)

if TYPE_CHECKING:  # pragma: no cover
    from .scenarios import Call

QOS_VARS = 5  # RTPAUDIOQOS, ...JITTER, ...LOSS, ...RTT, ...MES
ANSWER_MEDIA_WAIT = 0.5  # Answer() waits this long for a first voice frame
RTCP_INTERVAL = 5.0  # rtp.conf rtcpinterval default
DTMF_GAP = 0.08  # one emulated DTMF digit (AST_MIN_DTMF_DURATION + gap)


# --- how a phone reacts to being rung -------------------------------------------

DEFAULT_RING = 1.0  # seconds a phone rings before it answers, unless told otherwise
PHONE_KINDS = ("answer", "busy", "ring", "unreachable")


def phone_spec(value, default_ring: float = DEFAULT_RING) -> tuple[str, float, float | None]:
    """Normalise a phone behaviour (``AmiSimulator.phone_behaviour`` values).

    ``"answer"`` (after ``default_ring`` seconds of ringing), ``("answer", ring)``,
    ``("answer", ring, talk)`` (the phone itself hangs up -- BYE -- ``talk``
    seconds after answering), ``"busy"`` (486), ``"ring"`` (180, never
    answers), ``"unreachable"`` (no channel: an unregistered peer).  Returns
    ``(kind, seconds of ringing, seconds of talk or None)``; None means the default.
    """
    if value is None:
        return "answer", default_ring, None
    if isinstance(value, str):
        kind, ring, talk = value, (default_ring if value == "answer" else 0.0), None
    else:
        items = tuple(value)
        if not items:
            raise ValueError("empty phone behaviour")
        kind = items[0]
        ring = float(items[1]) if len(items) > 1 and items[1] is not None else default_ring
        talk = float(items[2]) if len(items) > 2 and items[2] is not None else None
    if kind not in PHONE_KINDS:
        raise ValueError(f"unknown phone behaviour {value!r}; known: {PHONE_KINDS}")
    return kind, ring, talk


def sim_phone(sim, peer: str) -> tuple[str, float, float | None]:
    """How ``peer``'s phone reacts, from ``sim.phone_behaviour`` (default: answers after 1 s)."""
    return phone_spec(getattr(sim, "phone_behaviour", {}).get(peer))


# --- small builders -------------------------------------------------------------


def sip_call_id() -> str:
    return f"{random.getrandbits(128):032x}@127.0.0.1:5060"


def peer_config(sim, peer: str) -> dict:
    """``sip.conf`` section of ``peer``: callerid (num, name) and context."""
    cfg = sim.config_store.files.get("sip.conf")
    values = {}
    for cat in cfg.find(peer) if cfg else []:
        values.update({v.name: v.value for v in cat.variables})
    known = sc.SIP_PEERS.get(peer, {})
    callerid = known.get("callerid", (peer, peer.capitalize()))
    if values.get("callerid"):
        callerid = sc.parse_callerid(values["callerid"])
    return {"callerid": callerid, "context": values.get("context", "demo")}


def pjsip_sections(sim) -> dict[str, dict[str, dict]]:
    """``{type: {name: options}}`` of the config store's pjsip*.conf files."""
    sections: dict[str, dict[str, dict]] = {}
    for name in sorted(sim.config_store.files):
        if name.startswith("pjsip") and name.endswith(".conf"):
            for cat in sim.config_store.files[name].categories:
                values = {v.name: v.value for v in cat.variables}
                sections.setdefault(values.get("type", ""), {})[cat.name] = values
    return sections


def pjsip_transport(sim) -> tuple[str, int]:
    """(address, port) of the first pjsip.conf transport (``bind``)."""
    for values in pjsip_sections(sim).get("transport", {}).values():
        host, _, port = values.get("bind", "").rpartition(":")
        if port.isdigit():
            return host or "0.0.0.0", int(port)
    return "0.0.0.0", 5060  # res_pjsip's default bind (not recorded)


# chan_pjsip's hangup_cause2sip: the SIP response for a hangup cause, for the
# causes recorded (capture pjsip_call_busy: 17 -> 486 Busy Here)
SIP_RESPONSES = {17: 486}


def endpoint_config(sim, endpoint: str) -> dict:
    """A PJSIP ``endpoint``'s callerid (num, name) and context (pjsip.conf);
    without a ``callerid`` option, the user of the phone's ``From`` for both
    (sipp's ``"erin" <sip:erin@...>``: captures pjsip_call_*)."""
    values = pjsip_sections(sim).get("endpoint", {}).get(endpoint, {})
    callerid = (endpoint, endpoint)
    if values.get("callerid"):
        callerid = sc.parse_callerid(values["callerid"])
    return {"callerid": callerid, "context": values.get("context", "demo")}


def idle_state(sim, device: str) -> str:
    """A device's state without a call: a PJSIP endpoint with no contact (no
    static one in its AOR, not registered) is UNAVAILABLE (captures
    pjsip_call_*: erin)."""
    tech, _, name = device.partition("/")
    if tech != "PJSIP":
        return "NOT_INUSE"
    sections = pjsip_sections(sim)
    aors = sections.get("endpoint", {}).get(name, {}).get("aors", "")
    for aor in (a.strip() for a in aors.split(",")):
        if sections.get("aor", {}).get(aor, {}).get("contact") or aor in sim.sip_registrations:
            return "NOT_INUSE"
    return "UNAVAILABLE"


def plain(name: str, chan: Channel) -> ch.Event:
    """An event carrying only ``chan``'s snapshot (Hold, Unhold)."""
    return CALL, [("Event", name)] + chan.snapshot()


def qos_stats(txcount: int = 0) -> list[tuple[str, str]]:
    """The five RTP statistics variables chan_sip sets when a call ends."""
    return sc.rtcp_vars(random.getrandbits(31), txcount)[:QOS_VARS]


def bye_qos(call: Call, chan: Channel, peer: Channel | None) -> None:
    """A BYE received: ``chan``'s statistics, each mirrored as ``...BRIDGED``
    on the bridged ``peer``; after chan_sip's, a SIP peer's own follow (a
    PJSIP channel's do not bring them: the SIP peer sets its own as it hangs
    up, capture pjsip_ring_group)."""
    for k, v in qos_stats(50):
        call.emit(ch.varset(chan, k, v))
        if peer is not None:
            call.emit(ch.varset(peer, k + "BRIDGED", v))
    if peer is not None and peer.tech == "SIP" and chan.tech == "SIP":
        for k, v in qos_stats(50):
            call.emit(ch.varset(peer, k, v), ch.varset(chan, k + "BRIDGED", v))


def set_bridge_vars(call: Call, chan: Channel, peer: Channel) -> None:
    """``chan``'s BRIDGEPEER / BRIDGEPVTCALLID for ``peer`` (bridge.c): a Local
    peer has no private call id, which deletes the variable (a VarSet with an
    empty value, only when it existed)."""
    call.emit(ch.varset(chan, "BRIDGEPEER", peer.name))
    if peer.tech == "SIP":
        call.emit(ch.varset(chan, "BRIDGEPVTCALLID", peer.variables.get("SIPCALLID", "")))
    elif peer.tech == "PJSIP":  # its SIP Call-ID (capture pjsip_call_answered)
        call.emit(ch.varset(chan, "BRIDGEPVTCALLID", peer.pvt_call_id))
    elif chan.variables.get("BRIDGEPVTCALLID"):
        call.emit(ch.varset(chan, "BRIDGEPVTCALLID", ""))


def bridge_peer_vars(call: Call, first: Channel, second: Channel) -> None:
    """The bridge variables of a two-party bridge, ``first`` updated first."""
    set_bridge_vars(call, first, second)
    set_bridge_vars(call, second, first)


def clear_bridge_vars(call: Call, chan: Channel) -> None:
    """``chan`` leaves a two-party bridge."""
    call.emit(ch.varset(chan, "BRIDGEPEER", ""))
    if chan.variables.get("BRIDGEPVTCALLID"):
        call.emit(ch.varset(chan, "BRIDGEPVTCALLID", ""))


def dial_times(call: Call, caller: Channel, dial_start: float, answered: float | None):
    """ANSWEREDTIME/DIALEDTIME (and _MS) as Dial/Queue set them when they return."""
    now = call.now()
    talk = now - answered if answered else 0.0
    dialed = now - dial_start
    return [
        ("ANSWEREDTIME", str(int(talk))),
        ("ANSWEREDTIME_MS", str(int(talk * 1000))),
        ("DIALEDTIME", str(int(dialed))),
        ("DIALEDTIME_MS", str(int(dialed * 1000))),
    ]


def rtcp_sent(chan: Channel, ssrc: int, packets: int, report: bool) -> ch.Event:
    """res_rtp_asterisk's ``RTCPSent`` (a sender report, with one report block
    when the channel also receives RTP)."""
    now = chan.call.now() if chan.call else 0.0
    pairs = [("Event", "RTCPSent")] + chan.snapshot()
    pairs += [
        ("To", f"127.0.0.1:{16001 if report else 17001}"),
        ("From", f"127.0.0.1:{random.randrange(10000, 30000) | 1}"),
        ("MES", "88.1" if report else "87.2"),
        ("SSRC", f"0x{ssrc:08x}"),
        ("PT", "200(SR)"),
        ("ReportCount", "1" if report else "0"),
        ("SentNTP", f"{now:.6f}"),
        ("SentRTP", str(packets * 160)),
        ("SentPackets", str(packets)),
        ("SentOctets", str(packets * 160)),
    ]
    if report:
        pairs += [
            ("Report0SourceSSRC", "0xca110000"),
            ("Report0FractionLost", "0"),
            ("Report0CumulativeLost", "0"),
            ("Report0HighestSequence", "250"),
            ("Report0SequenceNumberCycles", "0"),
            ("Report0IAJitter", "3"),
            ("Report0LSR", "0"),
            ("Report0DLSR", "0.0000"),
        ]
    return REPORTING, pairs


class RtcpReporter:
    """``RTCPSent`` on the SIP channels of a bridge whose caller sends RTP:
    every :data:`RTCP_INTERVAL` seconds after the bridge, while they live."""

    def __init__(self, call: Call, sender: Channel, others: list[Channel]):
        self.call = call
        self.channels = [(sender, True)] + [(c, False) for c in others if c.tech == "SIP"]
        self.ssrc = {c.name: random.getrandbits(32) for c, _ in self.channels}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        scale = self.call.sim.clock.time_scale
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n * RTCP_INTERVAL * scale - loop.time()))
            live = [(c, r) for c, r in self.channels if c.alive]
            if not live:
                return
            for c, report in live:
                self.call.emit(rtcp_sent(c, self.ssrc[c.name], int(n * RTCP_INTERVAL * 50), report))

    def stop(self) -> None:
        self.task.cancel()


def queue_event(name: str, caller: Channel, dest: Channel | None, extra) -> ch.Event:
    pairs = [("Event", name)] + caller.snapshot()
    if dest is not None:
        pairs += dest.snapshot("Dest")
    return AGENT, pairs + list(extra)


# --- SIP Dial -----------------------------------------------------------------------


def write_pjsip_header(chan: Channel, function: str, value: str) -> None:
    """``Set(PJSIP_HEADER(add,Name)=value)`` on a PJSIP channel not yet
    called (the function fails on another one: nothing)."""
    m = re.fullmatch(r"PJSIP_HEADER\(add,([^,()]+)\)", function.strip())
    if m and chan.tech == "PJSIP":
        chan.pjsip_headers.append(f"{m.group(1)}: {value}")


def invite(call: Call, leg: Channel) -> None:
    """``ast_call`` of a SIP or PJSIP phone: the extra headers of its INVITE
    (what the phones' ``*.sip.log`` of the captures show) go to
    ``AmiSimulator.invites``. chan_sip adds each ``SIPADDHEADERnn`` variable
    of the channel, inherited ones included (chan_sip.c ``initreqprep``);
    chan_pjsip what ``PJSIP_HEADER(add,...)`` wrote on it."""
    if leg.tech == "SIP":
        headers = [
            str(value)
            for name, value in sorted(leg.variables.items(), key=lambda kv: kv[0].lstrip("_"))
            if re.fullmatch(r"_*SIPADDHEADER\d\d", name) and value
        ]
    elif leg.tech == "PJSIP":
        headers = list(leg.pjsip_headers)
    else:
        return
    call.sim.invites.append((leg.device, headers))


def sip_leg(call: Call, caller: Channel, dialstring: str, tech: str = "SIP") -> Channel:
    """The outgoing SIP (or PJSIP) channel of a Dial, up to its first NewConnectedLine.

    ``dialstring``: ``bob``, or ``provider/0612345678`` (a number through a
    trunk: capture outbound_trunk).  A peer without a ``callerid`` gives its
    channel none: app_dial then sets the caller's extension as its caller id
    (a NewCallerid) and marks it absent, so the caller's connected line is
    not updated from it (``DIAL_CALLERID_ABSENT``, see :attr:`Channel.callerid_absent`)."""
    peer = dialstring.split("/", 1)[0]
    pjsip = tech == "PJSIP"
    info = endpoint_config(call.sim, peer) if pjsip else peer_config(call.sim, peer)
    num, name = info["callerid"]
    leg = call.new_channel(
        f"{tech}/{peer}-{call.table.next_suffix(tech)}",
        tech,
        f"{tech}/{peer}",
        info["context"],
        "s",
        cid_num=num or UNKNOWN,
        cid_name=name or UNKNOWN,
    )
    call.emit(ch.newchannel(leg))
    if pjsip:
        # chan_pjsip sets no SIPCALLID and keeps "s" (captures pjsip_call_*);
        # its Call-ID is a UUID of pjproject's
        leg.pvt_call_id = str(uuid.uuid4())
    else:
        call.emit(ch.varset(leg, "SIPCALLID", sip_call_id()))
        leg.exten = ""
    call.emit(ch.varset(leg, "DIALEDPEERNUMBER", dialstring))
    inherit_variables(call, caller, leg)
    leg.exten = caller.exten
    leg.conn_num, leg.conn_name = caller.cid_num, caller.cid_name
    leg.callerid_absent = not num
    if leg.callerid_absent:
        # the caller's extension, and the name of its connected line (captures
        # outbound_trunk: <unknown>, originate_local_dial_out: Call to Robert)
        leg.cid_num, leg.cid_name = caller.exten, caller.conn_name
    call.newexten(leg, 1, "AppDial", "(Outgoing Line)", extension=caller.exten)
    if leg.callerid_absent:
        call.emit(ch.newcallerid(leg))
    call.emit(ch.newconnectedline(leg))
    return leg


def inherit_variables(call: Call, parent: Channel, child: Channel) -> None:
    """``ast_channel_inherit_variables``: ``__VAR`` passes on as it is, ``_VAR``
    as ``VAR`` (one level), each published as a VarSet of the child (capture
    originate_local_inherited_header: ``__SIPADDHEADER01`` reaches the phones)."""
    for name, value in list(parent.variables.items()):
        if name.startswith("__"):
            call.emit(ch.varset(child, name, value))
        elif name.startswith("_"):
            call.emit(ch.varset(child, name[1:], value))


class CallerGone(Exception):
    """The caller hung up while its application ran (its channel is gone)."""


class SipDial:
    """``Dial(SIP/...)`` from ``caller``; the phones behave as the call's
    ``phone(peer)`` says: ``("answer", seconds)``, ``("busy", 0)``, ``("ring", 0)``.
    ``on_ringing()``: what the first 180 passed on to the caller shows beyond
    it (the ;1 of a Local ``caller`` rings)."""

    def __init__(self, call: Call, caller: Channel, data: str, on_ringing=None):
        self.call, self.caller, self.data = call, caller, data
        self.on_ringing = on_ringing
        args = [a.strip() for a in data.split(",")]
        # what follows SIP/ or PJSIP/ (bob, provider/0612345678), the peers they name
        targets = [t.partition("/") for t in args[0].split("&")]
        targets = [(tech.upper(), rest) for tech, _, rest in targets if rest]
        targets = [(tech, rest) for tech, rest in targets if tech in ("SIP", "PJSIP")]
        self.techs = [tech for tech, _ in targets]
        self.dialstrings = [rest for _, rest in targets]
        self.peers = [d.split("/", 1)[0] for d in self.dialstrings]
        self.timeout = float(args[1]) if len(args) > 1 and args[1] else None
        options = args[2] if len(args) > 2 else ""
        self.features = any(o in options for o in "tTkKhHwWxX")  # DTMF features in the bridge
        self.legs: list[Channel] = []
        self.answered: Channel | None = None

    async def run(self) -> str:
        """Returns DIALSTATUS; ANSWER leaves ``call.bridge`` up with both parties."""
        call, caller = self.call, self.caller
        for var in sc.DIAL_VARS:
            call.emit(ch.varset(caller, var, ""))
        self.start = call.now()
        # Requesting the channels takes time: what another thread had to say
        # (an Originate's response) comes out here (capture originate_dial_out).
        call.flush_deferred()
        # An unreachable phone (unregistered peer) gets no channel at all.
        reachable = [call.phone(p)[0] != "unreachable" for p in self.peers]
        self.peers = [p for p, ok in zip(self.peers, reachable, strict=True) if ok]
        self.dialstrings = [d for d, ok in zip(self.dialstrings, reachable, strict=True) if ok]
        self.techs = [t for t, ok in zip(self.techs, reachable, strict=True) if ok]
        if not self.peers:  # pragma: no cover - not captured (source: app_dial.c)
            call.emit(ch.varset(caller, "DIALSTATUS", "CHANUNAVAIL"))
            caller.cdr_disposition = "FAILED"
            caller.cdr_start = call.now()
            caller.cdr_dstchannel = ""
            return "CHANUNAVAIL"
        self.legs = [
            sip_leg(call, caller, dialstring, tech)
            for dialstring, tech in zip(self.dialstrings, self.techs, strict=True)
        ]
        gosub.predial_callee(call, caller, self.legs, self.data)  # Dial's b() option
        behaviour = {
            leg.name: call.phone(peer) for leg, peer in zip(self.legs, self.peers, strict=True)
        }
        single = len(self.legs) == 1
        ringing: list[Channel] = []
        if single:
            leg = self.legs[0]
            kind = behaviour[leg.name][0]
            if kind != "busy" and call.early_ringing:
                call.set_state(leg, STATE_RINGING)
            invite(call, leg)
            call.emit(ch.dial_begin(caller, leg, self.dialstrings[0]))
            # Dial with one callee passes its connected line on at once.
            if not leg.callerid_absent:
                caller.conn_num, caller.conn_name = leg.cid_num, leg.cid_name
                call.emit(ch.newconnectedline(caller))
            if kind == "busy":
                return self._failed([leg], "BUSY", cause=17)
            if not call.early_ringing:
                call.set_state(leg, STATE_RINGING)
            if leg.tech == "PJSIP":
                # chan_pjsip reports its device's state per call (captures
                # pjsip_call_answered, pjsip_call_noanswer), the caller's too
                # (in use) once the device-state engine caught up with it
                call.device_in_use(leg.device, "RINGING")
                self._first_ring()
                call.emit(ch.dial_state(caller, leg, "RINGING"))
                if caller.tech == "PJSIP":
                    call.device_in_use(caller.device, "INUSE")
                ringing = [leg]
            else:
                if behaviour[leg.name] == ("answer", 0.0):
                    call.emit(ch.device_state(leg.device, "NOT_INUSE"))  # seen twice in i1
                self._first_ring()
                call.emit(ch.dial_state(caller, leg, "RINGING"))
                call.emit(ch.device_state(leg.device, "NOT_INUSE"))
                ringing = [leg]
        else:
            # A phone's 180 may come in while Dial still calls the others
            # (AmiSimulator.races "ringing_during_dial": pjsip_ring_group)
            early = call.sim.races.get("ringing_during_dial")
            peer_of = dict(zip((leg.name for leg in self.legs), self.peers, strict=True))
            for leg, dialstring in zip(self.legs, self.dialstrings, strict=True):
                invite(call, leg)
                call.emit(ch.dial_begin(caller, leg, dialstring))
                if peer_of[leg.name] == early and behaviour[leg.name][0] != "busy":
                    call.set_state(leg, STATE_RINGING)
            # The phones' 180 Ringing race each other: the last one dialled was
            # first in inbound_ring_group, the one races "first_ringing" names
            # in pjsip_ring_group.
            order = list(reversed(self.legs))
            order.sort(key=lambda leg: peer_of[leg.name] != call.sim.races.get("first_ringing"))
            for n, leg in enumerate(order):
                if behaviour[leg.name][0] == "busy":
                    continue
                call.set_state(leg, STATE_RINGING)
                if leg.tech == "PJSIP":
                    call.device_in_use(leg.device, "RINGING")
                else:
                    call.emit(ch.device_state(leg.device, "NOT_INUSE"))
                if n == 0:
                    self._first_ring()
                call.emit(ch.dial_state(caller, leg, "RINGING"))
                if n == 0 and caller.tech == "PJSIP":
                    call.device_in_use(caller.device, "INUSE")
                ringing.append(leg)
        # whichever comes first: an answer, the Dial timeout, the caller hanging up
        answers = [
            (behaviour[leg.name][1], i, leg)
            for i, leg in enumerate(self.legs)
            if behaviour[leg.name][0] == "answer"
        ]
        t_answer, _, winner = (
            min(answers, key=lambda a: (a[0], a[1])) if answers else (None, 0, None)
        )
        candidates = [t for t in (t_answer, self.timeout, call.cancel_after) if t is not None]
        if not candidates:
            await call.wait(86400.0)
            return "NOANSWER"
        t = min(candidates)
        await call.wait(t)
        if call.cancel_after is not None and t == call.cancel_after and t != t_answer:
            self._caller_cancels()
            raise CallerGone()
        if t_answer is not None and t == t_answer:
            return self._answer(winner, single)
        return self._failed(ringing, "NOANSWER", cause=16)

    def _first_ring(self) -> None:
        self.call.emit(
            ch.varset(self.caller, "RINGTIME", "0"), ch.varset(self.caller, "RINGTIME_MS", "1")
        )
        if self.on_ringing is not None:
            self.on_ringing()

    def _record(self, leg: Channel, disposition: str) -> None:
        """The caller's CDR towards ``leg`` (published when the caller hangs up)."""
        caller = self.caller
        caller.cdr_records.append(
            {
                "start": self.start,
                "answer": None,
                "end": self.call.now(),
                "disposition": disposition,
                "dstchannel": leg.name,
                "lastapp": "Dial",
                "lastdata": self.data,
            }
        )

    def _failed(self, legs: list[Channel], status: str, cause: int) -> str:
        call, caller = self.call, self.caller
        for leg in legs:
            if leg.tech != "PJSIP":
                call.emit(ch.dial_end(caller, leg, status))
                call.finish_channel(leg, cause, cdr=False)
                continue
            if status == "BUSY":
                # chan_pjsip passes the phone's 486 on as the hangup's tech cause
                leg.tech_cause = 486
                call.emit(ch.hangup_request(leg, cause, leg.tech_cause))
            call.emit(ch.dial_end(caller, leg, status))
            # a CANCELled INVITE leaves chan_pjsip no cause (capture pjsip_call_noanswer)
            call.linger(leg, cause if status == "BUSY" else 0)
        call.emit(ch.varset(caller, "DIALSTATUS", status))
        disposition = "BUSY" if status == "BUSY" else "NO ANSWER"
        for leg in legs:
            self._record(leg, disposition)
        # What the dialplan does next is a CDR record of its own.
        caller.cdr_disposition = disposition
        caller.cdr_start = call.now()
        caller.cdr_dstchannel = ""
        caller.hangup_cause = cause
        return status

    def _caller_cancels(self) -> None:
        """The caller's CANCEL while the phones ring (capture sip_cancel)."""
        call, caller = self.call, self.caller
        call.emit(ch.hangup_request(caller, None))
        for leg in self.legs:
            if leg.alive:
                call.emit(ch.dial_end(caller, leg, "CANCEL"))
                call.finish_channel(leg, 16, cdr=False)
                self._record(leg, "NO ANSWER")
        close_records(call, caller)
        call.emit(ch.varset(caller, "DIALSTATUS", "CANCEL"), ch.soft_hangup_request(caller, 16))
        call.finish_channel(caller, 0, cdr=False)

    def _answer(self, leg: Channel, single: bool) -> str:
        call, caller = self.call, self.caller
        call.set_state(leg, STATE_UP)
        # the CDR engine keeps the records of one Dial in dial order: the
        # answered one after those of the phones dialled before it
        # (pjsip_ring_group), else first (inbound_ring_group)
        records_before = 0
        if not single:
            if not leg.callerid_absent:
                caller.conn_num, caller.conn_name = leg.cid_num, leg.cid_name
                call.emit(ch.newconnectedline(caller))
            for other in self.legs:
                if other is not leg and other.alive:
                    call.emit(ch.dial_end(caller, other, "CANCEL"))
                    if other.tech == "PJSIP":
                        call.linger(other, 26)  # ends on its own thread: below
                    else:
                        call.finish_channel(other, 26, cdr=False)
                    self._record(other, "NO ANSWER")
                    if self.legs.index(other) < self.legs.index(leg):
                        records_before = len(caller.cdr_records)
        dialstring = self.dialstrings[self.legs.index(leg)]
        call.emit(
            ch.varset(caller, "DIALSTATUS", "ANSWER"),
            ch.varset(caller, "DIALEDPEERNAME", leg.name),
            ch.varset(caller, "DIALEDPEERNUMBER", dialstring),
        )
        leg.exten = ""
        call.emit(ch.dial_end(caller, leg, "ANSWER"))
        if leg.tech == "PJSIP":
            call.device_in_use(leg.device, "INUSE")  # capture pjsip_call_answered
        call.set_state(caller, STATE_UP)
        # the PJSIP phones cancelled above end, idle at once (capture pjsip_ring_group)
        cancelled = list(call.lingering)
        call.release_lingering()
        for other in cancelled:
            call.device_idle(other.device)
        bridge = call.table.new_bridge()
        call.bridge = bridge
        call.emit(ch.bridge_create(bridge))
        call.newexten(leg, 1, "AppDial", "(Outgoing Line)")
        call.emit(ch.bridge_enter(bridge, leg), ch.bridge_enter(bridge, caller))
        recorded = call.sim.recording(caller) or call.sim.recording(leg)
        if self.features or recorded or leg.tech != "SIP" or caller.tech != "SIP":
            # DTMF features to watch, or an audiohook (MixMonitor: capture
            # recorded_inbound): the bridge stays simple_bridge
            bridge_peer_vars(call, leg, caller)
        else:
            # No DTMF feature (Dial options t/T) to watch: the smart bridge moves the
            # two SIP channels to native_rtp, publishing the peers again as it goes.
            for _ in range(3):
                bridge_peer_vars(call, caller, leg)
            bridge.technology = "native_rtp"
        caller.cdr_dstchannel = leg.name
        self.answered = leg
        self.answer_time = call.now()
        # the record with the answering phone stays open until the caller hangs up
        caller.cdr_records.insert(
            records_before,
            {
                "start": self.start,
                "answer": self.answer_time,
                "end": None,
                "disposition": "ANSWERED",
                "dstchannel": leg.name,
                "lastapp": "Dial",
                "lastdata": self.data,
            },
        )
        return "ANSWER"

    def caller_bye(self) -> None:
        """The caller hangs up the bridged call (capture inbound_ring_group)."""
        call, caller, leg, bridge = self.call, self.caller, self.answered, call_bridge(self.call)
        bye_qos(call, caller, leg)
        call.emit(ch.hangup_request(caller, 16))
        clear_bridge_vars(call, caller)
        clear_bridge_vars(call, leg)
        call.emit(ch.bridge_leave(bridge, caller))
        if call.sim.races.get("callee_first"):
            # the callee's bridge thread is hung up, and the bridge gone,
            # before the caller's Dial returns (capture pjsip_call_answered)
            call.emit(ch.bridge_leave(bridge, leg))
            self._callee_hangup(leg)
            call.emit(ch.bridge_destroy(bridge))
            call.table.bridges.pop(bridge.uniqueid, None)
            call.bridge = None
        for k, v in dial_times(call, caller, self.start, self.answer_time):
            call.emit(ch.varset(caller, k, v))
        call.emit(ch.varset(caller, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(caller, 16))
        if call.bridge is None:
            close_records(call, caller)
            call.finish_channel(caller, 16, cdr=False)
            return
        if call.sim.races.get("caller_first"):
            # the caller's channel is gone before the callee's bridge thread
            # notices (capture pjsip_ring_group)
            call.finish_channel(caller, 16, cdr=False)
            close_records(call, caller)
            call.emit(ch.bridge_leave(bridge, leg), ch.bridge_destroy(bridge))
            call.table.bridges.pop(bridge.uniqueid, None)
            call.bridge = None
            self._callee_hangup(leg)
            return
        call.emit(ch.bridge_leave(bridge, leg))
        self._callee_hangup(leg)
        call.finish_channel(caller, 16, cdr=False)
        close_records(call, caller)
        call.emit(ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None

    def _callee_hangup(self, leg: Channel) -> None:
        """The bridged callee hung up after the caller's BYE: its RTP
        statistics, chan_pjsip's five; chan_sip's first only when a SIP
        caller's BYE brought the others, else all (captures
        inbound_ring_group, pjsip_call_answered, pjsip_ring_group)."""
        if leg.tech == "PJSIP":
            stats = qos_stats(50)
        else:
            stats = sc.rtcp_vars(random.getrandbits(31), 50)
            if "RTPAUDIOQOS" in leg.variables:
                stats = stats[:1]
        for k, v in stats:
            self.call.emit(ch.varset(leg, k, v))
        self.call.finish_channel(leg, 16, cdr=False)

    def callee_bye(self) -> None:
        """The dialled phone hangs up (BYE) the bridged call; without the ``g``
        option the caller is hung up too (capture originate_dial_out)."""
        call, caller, leg, bridge = self.call, self.caller, self.answered, call_bridge(self.call)
        bye_qos(call, leg, caller)
        call.emit(ch.hangup_request(leg, 16))
        clear_bridge_vars(call, leg)
        clear_bridge_vars(call, caller)
        call.emit(ch.bridge_leave(bridge, leg))
        call.finish_channel(leg, 16, cdr=False)
        call.emit(ch.bridge_leave(bridge, caller), ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None
        # ANSWEREDTIME / DIALEDTIME: the caller channel's up time and age (app_dial.c)
        for k, v in dial_times(call, caller, caller.created, caller.answered):
            call.emit(ch.varset(caller, k, v))
        call.emit(ch.varset(caller, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(caller, 16))
        if caller.tech == "SIP":  # a Local caller has no RTP (originate_local_dial_out)
            call.emit(ch.varset(caller, *sc.rtcp_vars(random.getrandbits(31), 50)[0]))
        call.finish_channel(caller, 16, cdr=False)
        close_records(call, caller)


def call_bridge(call: Call) -> ch.Bridge:
    assert call.bridge is not None
    return call.bridge


def close_records(call: Call, chan: Channel) -> None:
    """Publish ``chan``'s CDR records (the open ones end now)."""
    now = call.now()
    for rec in chan.cdr_records:
        if rec.get("end") is None:
            rec["end"] = now
        call.emit(ch.cdr_record(chan, **rec))
    chan.cdr_records.clear()


# --- Local channels running their own dialplan -----------------------------------------


class LocalLeg:
    """A ``Local/exten@context`` pair whose ``;2`` runs the dialplan step by step.

    :meth:`advance` executes priorities until one blocks (Wait, or the media
    wait of Answer) and returns the virtual seconds to the next step, or None
    once the ``;2`` side hung up; ``hooks`` publish what Ringing, Answer and
    Hangup cause on the other side.  Known: NoOp, Ringing, Answer, Wait,
    Hangup, Goto; any other application (Dial...) is only shown (Newexten) and
    takes no time -- not modelled."""

    def __init__(self, call: Call, exten: str, context: str):
        self.call = call
        self.exten, self.context = exten, context
        self.device = f"Local/{exten}@{context}"
        base = f"{self.device}-{call.table.next_suffix('Local')}"
        self.one = call.new_channel(base + ";1", "Local", self.device, context, exten)
        self.two = call.new_channel(
            base + ";2", "Local", self.device, context, exten, state=STATE_RING
        )
        self.prio = 1
        self.media = False  # voice frames reach ;2 (no Answer media wait)
        self.rang = False

    def advance(self, hooks) -> float | None:
        call, two = self.call, self.two
        while True:
            step = call.dialplan.lookup(self.context, self.exten, self.prio)
            if step is None:
                hooks.on_leg_hangup(self)
                return None
            app, data = step
            data = sc.substitute(two, data)
            call.newexten(two, self.prio, app, data)
            self.prio += 1
            low = app.lower()
            if low == "ringing":
                self.rang = True
                hooks.on_leg_ringing(self)
            elif low == "answer":
                hooks.on_leg_answer(self)
                if not self.media:
                    return ANSWER_MEDIA_WAIT
            elif low == "wait":
                return float(data or 0)
            elif low == "hangup":
                hooks.on_leg_hangup(self)
                return None
            elif low == "goto":
                parts = [p.strip() for p in data.split(",")]
                if len(parts) == 3:
                    self.context = parts[0]
                if len(parts) >= 2:
                    self.exten = parts[-2]
                self.prio = int(parts[-1])


# --- Queue --------------------------------------------------------------------------


def queue_config(sim, name: str) -> dict:
    """``queues.conf`` settings of queue ``name`` (app_queue defaults)."""
    cfg = sim.config_store.files.get("queues.conf")
    values = {"strategy": "ringall", "timeout": "15", "retry": "5"}
    members = []
    for cat in cfg.find(name) if cfg else []:
        for v in cat.variables:
            if v.name == "member":
                parts = [p.strip() for p in v.value.split(",")]
                members.append((parts[0], parts[2] if len(parts) > 2 else parts[0]))
            else:
                values[v.name] = v.value
    return {
        "strategy": values["strategy"],
        "timeout": float(values["timeout"]),
        "retry": float(values["retry"]) if float(values["retry"]) > 0 else 5.0,
        "members": members,
    }


def member_queues(sim, interface: str) -> list[str]:
    """Every queue that has ``interface`` as a member (QueueMemberStatus goes to each)."""
    cfg = sim.config_store.files.get("queues.conf")
    out = []
    for cat in cfg.categories if cfg else []:
        for v in cat.variables:
            if v.name == "member" and v.value.split(",")[0].strip() == interface:
                out.append(cat.name)
    return out


class Member:
    """One queue member called in a ring round."""

    def __init__(self, interface: str, name: str, leg: LocalLeg):
        self.interface, self.name, self.leg = interface, name, leg
        self.resume: float | None = None  # virtual time of the next dialplan step
        self.answered_at: float | None = None


class QueueApp:
    """``Queue(name,,,,timeout)`` of an answered caller, ringall strategy."""

    def __init__(self, call: Call, caller: Channel, data: str):
        self.call, self.caller, self.data = call, caller, data
        args = [a.strip() for a in data.split(",")]
        self.name = args[0]
        self.max_wait = float(args[4]) if len(args) > 4 and args[4] else None
        self.conf = queue_config(call.sim, self.name)
        self.members: list[Member] = []  # every member leg called, in order
        self.ringing: list[Member] = []
        self.connected: Member | None = None
        self.ended = False

    # -- events --------------------------------------------------------------
    def member_keys(self, m: Member) -> list[tuple[str, str]]:
        return [("Queue", self.name), ("Interface", m.interface), ("MemberName", m.name)]

    def member_status(self, m: Member, status: int) -> None:
        sim = self.call.sim
        sim.queue_member_states[m.interface] = status
        for queue in member_queues(sim, m.interface):
            self.call.emit(
                (
                    AGENT,
                    [
                        ("Event", "QueueMemberStatus"),
                        ("Queue", queue),
                        ("MemberName", m.name),
                        ("Interface", m.interface),
                        ("StateInterface", m.interface),
                        ("Membership", "static"),
                        ("Penalty", "0"),
                        ("CallsTaken", "0"),
                        ("LastCall", "0"),
                        ("LastPause", "0"),
                        ("LoginTime", str(int(sim.started_at))),
                        ("InCall", "0"),
                        ("Status", str(status)),
                        ("Paused", "0"),
                        ("PausedReason", ""),
                        ("Ringinuse", "1"),
                        ("Wrapuptime", "0"),
                    ],
                )
            )

    def wait_vars(self) -> list[tuple[str, str]]:
        held = self.call.now() - self.joined
        return [("QUEUEWAIT", str(int(held))), ("QUEUEWAIT_MS", str(int(held * 1000)))]

    # -- flow ----------------------------------------------------------------
    async def run(self) -> None:
        call, caller = self.call, self.caller
        for var in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS"):
            call.emit(ch.varset(caller, var, ""))
        call.emit(ch.varset(caller, "QUEUEWAIT", ""), ch.varset(caller, "QUEUEWAIT_MS", ""))
        call.emit(ch.device_state(f"Queue:{self.name}", "RINGING"))
        call.emit(
            queue_event(
                "QueueCallerJoin",
                caller,
                None,
                [("Queue", self.name), ("Position", "1"), ("Count", "1")],
            )
        )
        self.joined = call.now()
        self.join_vt = call.vt
        gone = call.caller_hangup_vt()
        deadline = self.join_vt + self.max_wait if self.max_wait else None
        while True:
            self.ring_round()
            round_end = call.vt + self.conf["timeout"]
            while self.ringing and not self.connected:
                t = min(
                    [m.resume for m in self.ringing if m.resume is not None]
                    + [round_end]
                    + [x for x in (gone, deadline) if x is not None]
                )
                await call.wait(max(0.0, t - call.vt))
                if gone is not None and t == gone:
                    return self.abandon()
                due = [m for m in self.ringing if m.resume == t]
                if due:
                    for m in due:
                        self.step(m)
                        if self.connected:
                            break
                    continue
                if t == round_end:
                    for m in list(self.ringing):
                        self.ring_no_answer(m)
                    break
                if deadline is not None and t == deadline:  # pragma: no cover - not captured
                    return self.give_up()
            if self.connected:
                return await self.talk(gone)
            t = call.vt + self.conf["retry"]
            if gone is not None and gone <= t:
                await call.wait(max(0.0, gone - call.vt))
                return self.abandon()
            await call.wait(self.conf["retry"])

    def ring_round(self) -> None:
        """Call every member (ringall), then let each Local ;2 run until it blocks."""
        call, caller = self.call, self.caller
        round_members = []
        # app_queue's member container order: the second member was rung first.
        for interface, name in reversed(self.conf["members"]):
            target = interface[len("Local/") :].split("/")[0]
            exten, _, context = target.partition("@")
            leg = LocalLeg(call, exten, context or "default")
            m = Member(interface, name, leg)
            one, two = leg.one, leg.two
            call.emit(ch.newchannel(one), ch.newchannel(two))
            one.cid_num, one.cid_name = caller.exten, UNKNOWN
            call.newexten(one, 1, "AppQueue", "(Outgoing Line)")
            call.emit(ch.newcallerid(one))
            dialed = target + ("/n" if interface.endswith("/n") else "")
            call.emit(ch.varset(one, "DIALEDPEERNUMBER", dialed))
            call.emit(ch.varset(two, "DIALEDPEERNUMBER", dialed))
            two.cid_num, two.cid_name = caller.cid_num, caller.cid_name
            two.conn_num, two.conn_name = caller.exten, UNKNOWN
            call.emit(ch.newcallerid(two), ch.newconnectedline(two))
            for c in (one, two):
                c.cdr_src, c.cdr_dst, c.cdr_dcontext, c.cdr_clid = (
                    caller.cdr_src,
                    exten,
                    context,
                    caller.cdr_clid,
                )
            call.emit(ch.local_bridge(one, two, context, exten, not interface.endswith("/n")))
            # AgentCalled carries a later snapshot of ;1 than DialBegin, once app_queue
            # gave it the caller's extension and connected line.
            shown = dataclasses.replace(
                one, exten=caller.exten, conn_num=caller.cid_num, conn_name=caller.cid_name
            )
            call.emit(queue_event("AgentCalled", caller, shown, self.member_keys(m)))
            call.emit(ch.dial_begin(caller, one, interface))
            m.called_at = call.now()
            m.called_vt = call.vt
            # the caller's CDR towards this member (published when the caller hangs up)
            m.record = {
                "start": caller.created if not self.members else m.called_at,
                "answer": caller.answered,
                "end": None,
                "disposition": "NO ANSWER",
                "dstchannel": one.name,
                "lastapp": "Queue",
                "lastdata": self.data,
            }
            round_members.append(m)
            self.members.append(m)
        self.ringing = list(round_members)
        for m in round_members:
            self.step(m)
        for m in round_members:
            if m.leg.rang and not self.connected:
                call.emit(ch.dial_state(caller, m.leg.one, "RINGING"))

    def step(self, m: Member) -> None:
        wait = m.leg.advance(self)
        m.resume = None if wait is None else self.call.vt + wait

    # LocalLeg hooks
    def member_of(self, leg: LocalLeg) -> Member:
        return next(m for m in self.members if m.leg is leg)

    def on_leg_ringing(self, leg: LocalLeg) -> None:
        call, caller, one = self.call, self.caller, leg.one
        one.exten = caller.exten
        one.conn_num, one.conn_name = caller.cid_num, caller.cid_name
        call.set_state(one, STATE_RINGING)
        call.newexten(one, 1, "AppQueue", "(Outgoing Line)")
        call.emit(ch.newconnectedline(one))
        m = self.member_of(leg)
        call.emit(ch.device_state(leg.device, "INUSE"))
        self.member_status(m, 2)

    def on_leg_answer(self, leg: LocalLeg) -> None:
        """A member's ;2 ran Answer(): it takes the call, the others are cancelled."""
        call, caller = self.call, self.caller
        m = self.member_of(leg)
        if self.connected is not None:  # pragma: no cover - answered already
            return
        one, two = leg.one, leg.two
        call.set_state(two, STATE_UP)
        call.emit(ch.device_state(leg.device, "INUSE"))
        one.exten = caller.exten
        one.conn_num, one.conn_name = caller.cid_num, caller.cid_name
        call.set_state(one, STATE_UP)
        call.newexten(one, 1, "AppQueue", "(Outgoing Line)")
        call.emit(ch.newconnectedline(one))
        self.member_status(m, 2)
        call.emit(ch.dial_end(caller, one, "ANSWER"))
        others = [o for o in self.ringing if o is not m]
        for o in others:
            call.emit(ch.dial_end(caller, o.leg.one, "CANCEL"))
            call.emit(ch.dial_end(caller, o.leg.one, "CANCEL"))
            call.emit(ch.hangup_request(o.leg.two, 26))
            call.finish_channel(o.leg.one, 26, cdr=False)
        call.emit(ch.device_state(f"Queue:{self.name}", "NOT_INUSE"))
        self.leave()
        call.emit(*(ch.varset(caller, k, v) for k, v in self.wait_vars()))
        call.emit(ch.device_state(leg.device, "INUSE"))
        hold = int(call.now() - self.joined)
        ring = int(call.now() - m.called_at)
        call.emit(
            queue_event(
                "AgentConnect",
                caller,
                one,
                self.member_keys(m) + [("HoldTime", str(hold)), ("RingTime", str(ring))],
            )
        )
        self.hold = hold
        for o in others:
            call.emit(ch.device_state(o.leg.device, "NOT_INUSE"))
            self.member_status(o, 1)
            call.emit(ch.cdr_record(o.leg.two, **self.leg_record(o, "NO ANSWER")))
            call.emit(ch.soft_hangup_request(o.leg.two, 16))
            call.finish_channel(o.leg.two, 26, cdr=False)
        bridge = call.table.new_bridge()
        call.bridge = bridge
        call.emit(ch.bridge_create(bridge), ch.bridge_enter(bridge, one))
        call.emit(ch.bridge_enter(bridge, caller))
        bridge_peer_vars(call, one, caller)
        for o in others:
            call.emit(ch.device_state(o.leg.device, "NOT_INUSE"))
        self.ringing = [m]
        self.connected = m
        m.answered_at = call.now()
        m.record["disposition"] = "ANSWERED"
        for o in others:
            o.record["end"] = call.now()
        caller.cdr_records = [x.record for x in self.members]

    def on_leg_hangup(self, leg: LocalLeg) -> None:
        if self.connected is not None and leg is self.connected.leg:
            self.agent_hangup()
        else:  # pragma: no cover - a member's dialplan ending while it rings
            m = self.member_of(leg)
            self.ring_no_answer(m)

    def leg_record(self, m: Member, disposition: str) -> dict:
        return {
            "start": m.leg.two.created,
            "answer": None,
            "end": self.call.now(),
            "disposition": disposition,
            "dstchannel": "",
        }

    def leave(self) -> None:
        self.call.emit(
            queue_event(
                "QueueCallerLeave",
                self.caller,
                None,
                [("Queue", self.name), ("Position", "1"), ("Count", "0")],
            )
        )
        self.call.emit(ch.varset(self.caller, "QUEUEPOSITION", "1"))

    def ring_no_answer(self, m: Member) -> None:
        """The member rang ``timeout`` seconds: AgentRingNoAnswer, its leg is hung up."""
        call, caller, leg = self.call, self.caller, m.leg
        ring_ms = int((call.vt - m.called_vt) * 1000)
        call.emit(
            queue_event(
                "AgentRingNoAnswer",
                caller,
                leg.one,
                self.member_keys(m) + [("RingTime", str(ring_ms))],
            )
        )
        call.emit(ch.dial_end(caller, leg.one, "NOANSWER"))
        call.emit(ch.dial_end(caller, leg.one, "CANCEL"))
        call.emit(ch.hangup_request(leg.two, 0))
        call.finish_channel(leg.one, 0, cdr=False)
        call.emit(ch.soft_hangup_request(leg.two, 16))
        call.finish_channel(leg.two, 0, cdr=False)
        call.emit(ch.device_state(leg.device, "NOT_INUSE"))
        call.emit(ch.cdr_record(leg.two, **self.leg_record(m, "FAILED")))
        self.member_status(m, 1)
        call.emit(ch.device_state(leg.device, "NOT_INUSE"))
        m.record["end"] = call.now()
        self.ringing.remove(m)

    def give_up(self) -> None:  # pragma: no cover - not captured
        """The Queue() timeout expires: the caller leaves, the dialplan goes on."""
        call, caller = self.call, self.caller
        for m in self.ringing:
            call.emit(ch.dial_end(caller, m.leg.one, "CANCEL"))
            for c in (m.leg.one, m.leg.two):
                call.finish_channel(c, 16, cdr=False)
            call.emit(ch.device_state(m.leg.device, "NOT_INUSE"))
            self.member_status(m, 1)
        self.ringing = []
        call.emit(ch.device_state(f"Queue:{self.name}", "NOT_INUSE"))
        self.leave()
        call.emit(*(ch.varset(caller, k, v) for k, v in self.wait_vars()))
        call.emit(ch.varset(caller, "QUEUESTATUS", "TIMEOUT"))

    def abandon(self) -> None:
        """The caller hangs up (BYE) while waiting: QueueCallerAbandon."""
        call, caller = self.call, self.caller
        bye_qos(call, caller, None)
        call.emit(ch.hangup_request(caller, None))
        caller.cdr_records = [m.record for m in self.members]
        close_records(call, caller)
        for m in self.ringing:
            call.emit(ch.dial_end(caller, m.leg.one, "CANCEL"))
            call.emit(ch.dial_end(caller, m.leg.one, "CANCEL"))
            call.emit(ch.hangup_request(m.leg.two, 0))
            call.finish_channel(m.leg.one, 0, cdr=False)
        call.emit(*(ch.varset(caller, k, v) for k, v in self.wait_vars()))
        for k, v in dial_times(call, caller, self.joined, None):
            if k.startswith("DIALED"):
                call.emit(ch.varset(caller, k, v))
        call.emit(ch.varset(caller, "ANSWEREDTIME", "0"), ch.varset(caller, "ANSWEREDTIME_MS", "0"))
        call.emit(ch.varset(caller, "ABANDONED", "TRUE"))
        held = int(call.now() - self.joined)
        call.emit(
            queue_event(
                "QueueCallerAbandon",
                caller,
                None,
                [
                    ("Queue", self.name),
                    ("Position", "1"),
                    ("OriginalPosition", "1"),
                    ("HoldTime", str(held)),
                ],
            )
        )
        for m in self.ringing:
            call.emit(ch.device_state(m.leg.device, "NOT_INUSE"))
        call.emit(ch.device_state(f"Queue:{self.name}", "NOT_INUSE"))
        self.leave()
        for m in self.ringing:
            self.member_status(m, 1)
        call.emit(ch.soft_hangup_request(caller, 16))
        call.finish_channel(caller, 0, cdr=False)
        for m in self.ringing:
            two = m.leg.two
            call.emit(ch.soft_hangup_request(two, 16))
            call.finish_channel(two, 0, cdr=False)
            call.emit(ch.cdr_record(two, **self.leg_record(m, "FAILED")))
            call.emit(ch.device_state(m.leg.device, "NOT_INUSE"))
        self.ringing = []
        raise CallerGone()

    async def talk(self, gone: float | None) -> None:
        """Caller and agent bridged until the agent's dialplan hangs up."""
        call, m = self.call, self.connected
        assert m is not None
        while not self.ended:
            t = min(x for x in (m.resume, gone) if x is not None)
            await call.wait(max(0.0, t - call.vt))
            if m.resume == t:
                self.step(m)
            else:  # pragma: no cover - the caller hanging up first was not captured
                self.caller_hangup_in_talk()
        raise sc.EndOfDialplan()

    def agent_hangup(self) -> None:
        """The agent's ;2 ran Hangup(): AgentComplete, the caller is hung up."""
        call, caller, m = self.call, self.caller, self.connected
        leg, bridge = m.leg, call_bridge(self.call)
        one, two = leg.one, leg.two
        call.emit(ch.soft_hangup_request(two, 16), ch.hangup_request(one, 16))
        call.finish_channel(two, 16, cdr=False)
        call.emit(
            ch.cdr_record(
                two,
                start=two.created,
                answer=two.answered,
                end=call.now(),
                disposition="ANSWERED",
                dstchannel="",
            )
        )
        talk = int(call.now() - m.answered_at)
        call.emit(
            queue_event(
                "AgentComplete",
                caller,
                one,
                self.member_keys(m)
                + [("HoldTime", str(self.hold)), ("TalkTime", str(talk)), ("Reason", "agent")],
            )
        )
        clear_bridge_vars(call, one)
        clear_bridge_vars(call, caller)
        call.emit(ch.device_state(leg.device, "NOT_INUSE"))
        self.member_status(m, 1)
        call.emit(ch.bridge_leave(bridge, one))
        call.finish_channel(one, 16, cdr=False)
        call.emit(ch.device_state(leg.device, "NOT_INUSE"))
        call.emit(ch.bridge_leave(bridge, caller), ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None
        for k, v in dial_times(call, caller, self.joined, m.answered_at):
            call.emit(ch.varset(caller, k, v))
        self.ended = True

    def caller_hangup_in_talk(self) -> None:  # pragma: no cover - not captured
        call, caller, m = self.call, self.caller, self.connected
        bridge = call_bridge(call)
        bye_qos(call, caller, m.leg.one)
        call.emit(ch.hangup_request(caller, 16))
        talk = int(call.now() - m.answered_at)
        call.emit(
            queue_event(
                "AgentComplete",
                caller,
                m.leg.one,
                self.member_keys(m)
                + [("HoldTime", str(self.hold)), ("TalkTime", str(talk)), ("Reason", "caller")],
            )
        )
        for c in list(bridge.channels):
            call.emit(ch.bridge_leave(bridge, c))
        call.emit(ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None
        for c in (m.leg.one, m.leg.two):
            if c.alive:
                call.emit(ch.soft_hangup_request(c, 16))
                call.finish_channel(c, 16, cdr=False)
        call.emit(ch.soft_hangup_request(caller, 16))
        call.finish_channel(caller, 16, cdr=False)
        close_records(call, caller)
        call.emit(ch.device_state(m.leg.device, "NOT_INUSE"))
        self.ended = True


# --- attended transfer -----------------------------------------------------------------


class AttendedTransfer:
    """``Atxfer`` on ``transferer`` (bridged with ``transferee``): the ``*2``
    feature, the target extension dialled through a Local channel into a
    consultation bridge, completion when the transferer hangs up."""

    FEATURE = "*2"  # features.conf [featuremap] atxfer

    def __init__(self, call, transferer: Channel, transferee: Channel, context: str, exten: str):
        self.call = call
        self.transferer, self.transferee = transferer, transferee
        self.context, self.exten = context, exten
        self.orig = call_bridge(call)

    async def run(self, hangup_in: float | None) -> None:
        """``hangup_in``: virtual seconds from now until the transferer hangs up."""
        call, t = self.call, self.transferer
        started = call.vt
        call.emit(ch.varset(t, "TRANSFER_CONTEXT", self.context))
        dtmf = [(DTMF, [("Event", "DTMFEnd")] + t.snapshot() + self._digit(d)) for d in "*2"]
        call.emit(*dtmf)
        call.emit(plain("Hold", t))
        call.emit(
            *((DTMF, [("Event", "DTMFEnd")] + t.snapshot() + self._digit(d)) for d in self.exten)
        )
        await call.wait(DTMF_GAP * (len(self.FEATURE) + len(self.exten)))
        self.dial_target()
        wake = self.leg_resume
        end = (started + hangup_in) if hangup_in is not None else None
        while not self.failed:
            candidates = [x for x in (wake, end) if x is not None]
            if not candidates:
                await call.wait(86400.0)
                continue
            t_next = min(candidates)
            await call.wait(max(0.0, t_next - call.vt))
            if end is not None and t_next == end and not self.completed:
                self.complete()
                end = None
                continue
            wait = self.leg.advance(self)
            if wait is None:
                return
            wake = call.vt + wait

    @staticmethod
    def _digit(d: str) -> list[tuple[str, str]]:
        return [("Digit", d), ("DurationMs", "0"), ("Direction", "Received")]

    def dial_target(self) -> None:
        call, t = self.call, self.transferer
        leg = LocalLeg(call, self.exten, self.context)
        leg.media = getattr(call, "media", False)
        self.leg, self.completed, self.failed = leg, False, False
        one, two = leg.one, leg.two
        call.emit(ch.newchannel(one), ch.newchannel(two))
        call.emit(
            ch.varset(one, "TRANSFERERNAME", t.name), ch.varset(one, "ATTENDEDTRANSFER", t.name)
        )
        self.consult = call.table.new_bridge()
        call.emit(ch.bridge_create(self.consult))
        call.emit(
            ch.varset(two, "ATTENDEDTRANSFER", t.name), ch.varset(two, "TRANSFERERNAME", t.name)
        )
        two.cid_num, two.cid_name = t.cid_num, t.cid_name
        call.emit(ch.newcallerid(two))
        call.emit(ch.local_bridge(one, two, self.context, self.exten, True))
        for c in (one, two):
            c.cdr_dst, c.cdr_dcontext = self.exten, self.context
        two.cdr_src, two.cdr_clid = t.cdr_src, t.cdr_clid
        one.cdr_src, one.cdr_clid = "", '"" <>'
        wait = leg.advance(self)
        self.leg_resume = None if wait is None else call.vt + wait

    # LocalLeg hooks
    def on_leg_ringing(self, leg: LocalLeg) -> None:  # pragma: no cover - not captured
        self.call.set_state(leg.one, STATE_RINGING)

    def on_leg_answer(self, leg: LocalLeg) -> None:
        call, t, one, two = self.call, self.transferer, leg.one, leg.two
        call.set_state(two, STATE_UP)
        one.conn_num, one.conn_name = t.cid_num, t.cid_name
        call.emit(ch.newconnectedline(one), ch.bridge_enter(self.consult, one))
        call.emit(ch.varset(one, "ATTENDEDTRANSFER", ""))
        call.set_state(one, STATE_UP)
        call.emit(ch.dial_end(None, one, "ANSWER"))
        call.emit(ch.device_state(leg.device, "INUSE"), ch.device_state(leg.device, "INUSE"))
        call.emit(ch.bridge_leave(self.orig, t), ch.bridge_enter(self.consult, t))
        bridge_peer_vars(call, one, t)
        t.conn_num, t.conn_name = UNKNOWN, UNKNOWN
        call.emit(ch.newconnectedline(t))
        for rec in t.cdr_records:
            if rec["end"] is None:
                rec["end"] = call.now()
        t.cdr_records.append(
            {
                "start": call.now(),
                "answer": call.now(),
                "end": None,
                "disposition": "ANSWERED",
                "dstchannel": one.name,
                "lastapp": "Dial",
                "lastdata": t.cdr_lastdata,
            }
        )
        one.answered = call.now()

    def complete(self) -> None:
        """The transferer hangs up (BYE) in the consultation: the target joins the
        transferee's bridge (BridgeMerge), AttendedTransfer."""
        call, t, e, leg = self.call, self.transferer, self.transferee, self.leg
        one, consult, orig = leg.one, self.consult, self.orig
        bye_qos(call, t, one)
        call.emit(ch.hangup_request(t, 16))
        clear_bridge_vars(call, t)
        call.emit(ch.bridge_leave(consult, t))
        dial = getattr(call, "dial", None)
        if dial is not None and dial.answered is not None:
            start, answered = dial.start, dial.answer_time
        else:  # pragma: no cover - a transfer out of a bridge Dial did not make
            start, answered = t.created, t.answered
        for k, v in dial_times(call, t, start, answered):
            call.emit(ch.varset(t, k, v))
        call.emit(ch.varset(t, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(t, 16))
        to_snap = [("To" + k, v) for k, v in orig.snapshot()]
        from_snap = [("From" + k, v) for k, v in consult.snapshot()]
        call.emit((CALL, [("Event", "BridgeMerge")] + to_snap + from_snap))
        call.emit(ch.bridge_leave(consult, one), ch.bridge_enter(orig, one))
        bridge_peer_vars(call, e, one)
        one.conn_num, one.conn_name = e.cid_num, e.cid_name
        call.emit(ch.newconnectedline(one))
        close_records(call, t)
        pairs = [("Event", "AttendedTransfer"), ("Result", "Success")]
        pairs += t.snapshot("OrigTransferer")
        pairs += [("Orig" + k, v) for k, v in orig.snapshot()]
        pairs += t.snapshot("SecondTransferer")
        pairs += [("Second" + k, v) for k, v in consult.snapshot()]
        pairs += e.snapshot("Transferee") + one.snapshot("TransferTarget")
        pairs += [("IsExternal", "No"), ("DestType", "Bridge")]
        pairs += [("DestBridgeUniqueid", orig.uniqueid)]
        call.emit((CALL, pairs))
        call.emit(ch.bridge_destroy(consult))
        call.table.bridges.pop(consult.uniqueid, None)
        call.finish_channel(t, 16, cdr=False)
        e.conn_num, e.conn_name = UNKNOWN, UNKNOWN
        call.emit(ch.newconnectedline(e))
        self.completed = True
        self.completed_at = call.now()
        call.caller, call.callee = e, one
        # The transferee's caller id reaches ;2 through the Local pair.
        leg.two.cid_num, leg.two.cid_name = e.cid_num, e.cid_name
        leg.two.cdr_src, leg.two.cdr_clid = e.cid_num, f'"{e.cid_name}" <{e.cid_num}>'
        self.pending_callerid = True

    def on_leg_hangup(self, leg: LocalLeg) -> None:
        """The target's dialplan ends: the transferee's bridge dissolves."""
        call, e, one, two = self.call, self.transferee, leg.one, leg.two
        if getattr(self, "pending_callerid", False):
            call.emit(ch.newcallerid(two))
            self.pending_callerid = False
        call.emit(ch.soft_hangup_request(two, 16), ch.hangup_request(one, 16))
        call.finish_channel(two, 16, cdr=False)
        call.emit(
            ch.cdr_record(
                two,
                start=two.created,
                answer=two.answered,
                end=call.now(),
                disposition="ANSWERED",
                dstchannel="",
            )
        )
        if not self.completed:  # pragma: no cover - not captured: the target left first
            t, consult = self.transferer, self.consult
            if one.alive:
                if one.bridge is consult:
                    call.emit(ch.bridge_leave(consult, one))
                call.finish_channel(one, 16, cdr=False)
            if t.bridge is consult:
                call.emit(ch.bridge_leave(consult, t), ch.bridge_enter(self.orig, t))
                bridge_peer_vars(call, t, self.transferee)
            call.emit(ch.bridge_destroy(consult), plain("Unhold", t))
            call.table.bridges.pop(consult.uniqueid, None)
            self.failed = True
            return
        bridge = self.orig
        clear_bridge_vars(call, one)
        clear_bridge_vars(call, e)
        call.emit(ch.bridge_leave(bridge, one), ch.bridge_leave(bridge, e))
        for k, v in sc.rtcp_vars(random.getrandbits(31), 100):
            call.emit(ch.varset(e, k, v))
        call.finish_channel(e, 16, cdr=False)
        call.emit(ch.bridge_destroy(bridge))
        call.table.bridges.pop(bridge.uniqueid, None)
        call.bridge = None
        call.finish_channel(one, 16, cdr=False)
        call.emit(
            ch.cdr_record(
                one,
                start=one.created,
                answer=self.completed_at,
                end=call.now(),
                disposition="ANSWERED",
                dstchannel=e.name,
                lastapp="",
                lastdata="",
            )
        )
        call.emit(
            ch.device_state(leg.device, "NOT_INUSE"), ch.device_state(leg.device, "NOT_INUSE")
        )
