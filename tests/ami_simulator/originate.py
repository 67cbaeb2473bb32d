"""Originate of a phone: what Asterisk 20 publishes for a click-to-dial.

Recorded in ``tests/captures`` (``originate_*``, see the README there):

* :class:`PhoneOriginateCall` -- ``Originate Channel: SIP/<peer>`` (or
  ``PJSIP/<endpoint>``, same flow, not recorded): the phone rings and answers
  (``originate_answered``, then runs ``Context``/``Exten``/``Priority``;
  ``originate_dial_out`` when that extension Dials another phone), is busy
  (``originate_phone_busy``: Reason 5), never answers before the Originate
  ``Timeout`` (``originate_phone_noanswer``: Reason 3) or cannot be reached at
  all (``originate_unreachable``: Reason 0, no channel);
* :class:`LocalPhonesDial` -- ``Originate Channel: Local/<exten>@<context>``
  whose ``;2`` runs ``Dial(SIP/a&SIP/b,...)``: the devices of one user ring
  together, the first to answer wins (``originate_local_two_devices``).

How each phone reacts is ``AmiSimulator.phone_behaviour`` (see
:func:`.pbx.phone_spec`).  ``ChannelId`` becomes the Uniqueid (and so the
Linkedid) of the originated channel, ``OtherChannelId`` the Uniqueid of a Local
``;2`` (default ``<ChannelId>;2``).

The ``OriginateResponse`` comes from the originating thread while the answered
channel's own thread runs its dialplan, so its position among that channel's
events varies from one real run to the next.  The simulator publishes it when
that dialplan first blocks (a ``Wait``, a ``Playback``, ``Dial`` requesting its
channels), which is where ``originate_answered``, ``originate_dial_out`` and
``originate_local_two_devices`` have it (other runs had it earlier).

Not recorded, modelled from the recorded pieces (see the README): a phone that
hangs up itself (``("answer", ring, talk)``) before the other party, the
Originate Timeout or the Dial timeout while the devices of a Local channel
ring, a busy device among them, PJSIP, an Application instead of an extension.
"""

from __future__ import annotations

import random

from . import channels as ch
from . import gosub, pbx
from . import scenarios as sc
from .channels import STATE_RINGING, STATE_UP, UNKNOWN, Channel
from .dialout import DialOut


def sip_peer_options(sim, peer: str) -> dict | None:
    """``sip.conf`` options of ``peer``, None when there is no such peer."""
    cfg = sim.config_store.files.get("sip.conf")
    cats = [c for c in (cfg.find(peer) if cfg else []) if c.name != "general"]
    if not cats:
        return None
    values: dict = {}
    for cat in cats:
        values.update({v.name: v.value for v in cat.variables})
    return values


def dial_targets(data: str) -> list[str] | None:
    """The SIP peers of ``Dial(SIP/a&SIP/b,...)``; None if any target is not SIP."""
    targets = [t.strip() for t in data.split(",")[0].split("&") if t.strip()]
    if not targets or any(t[:4].upper() != "SIP/" for t in targets):
        return None
    return [t[4:] for t in targets]


class PhoneOriginateCall(sc.Call):
    """``Originate Channel: SIP/<peer>`` (or ``PJSIP/...``): the phone rings first,
    then, answered, runs the Application or ``Context``/``Exten``/``Priority``."""

    kind = "originate_phone"
    early_ringing = sc.LocalOriginateCall.early_ringing  # pbx.SipDial of its extension

    def __init__(
        self,
        sim,
        tech: str,
        data: str,
        app: str = "",
        appdata: str = "",
        cid: tuple[str, str] = ("", ""),
        timeout: float = 30.0,
        action_id: str = "",
        context: str = "",
        exten: str = "",
        priority: int = 1,
        variables: list | None = None,
        result=None,
        emit_response: bool = True,
        channel_id: str = "",
        account: str = "",
    ):
        super().__init__(sim)
        self.tech, self.data = tech, data
        target = data.split("/")[0]
        self.peer = target.rpartition("@")[2] or target  # SIP/100@bob dials peer bob
        self.app, self.appdata = app, appdata
        self.cid_num, self.cid_name = cid
        self.timeout = timeout
        self.action_id = action_id
        self.dial_context, self.dial_exten, self.dial_priority = context, exten, priority
        self.variables = variables or []
        self.result = result
        self.emit_response = emit_response
        self.channel_id = channel_id
        self.account = account
        self.spec = pbx.sim_phone(sim, self.peer)
        self.chan: Channel | None = None
        self.answer_vt: float | None = None
        self.dial: pbx.SipDial | None = None
        self.playing = None

    @property
    def requested(self) -> str:
        return f"{self.tech}/{self.data}"

    send_response = sc.LocalOriginateCall.send_response

    def reachable(self) -> bool:
        """chan_sip creates no channel for an unknown or unregistered peer."""
        if self.spec[0] == "unreachable":
            return False
        if self.channel_id and self.table.by_uniqueid(self.channel_id):
            return False  # "Channel Unique ID already in use" (checked on the real one)
        if self.tech != "SIP":
            return True  # PJSIP endpoints: only phone_behaviour says (not recorded)
        opts = sip_peer_options(self.sim, self.peer)
        if opts is None:
            return False
        if opts.get("host") == "dynamic":
            return self.peer in self.sim.sip_registrations
        return True

    def setup(self) -> None:
        if not self.reachable():
            self.linkedid = self.channel_id
            return
        info = pbx.peer_config(self.sim, self.peer)
        num, name = info["callerid"]
        c = self.new_channel(
            f"{self.tech}/{self.peer}-{self.table.next_suffix(self.tech)}",
            self.tech,
            f"{self.tech}/{self.peer}",
            info["context"],
            "s",
            cid_num=num or UNKNOWN,
            cid_name=name or UNKNOWN,
            uniqueid=self.channel_id or None,
        )
        self.chan = c
        self.emit(ch.newchannel(c))
        if self.tech == "SIP":
            self.emit(ch.varset(c, "SIPCALLID", pbx.sip_call_id()))
            c.exten = ""  # chan_sip empties it; chan_pjsip keeps "s"
        self.newexten(c, 1, "AppDial2", "(Outgoing Line)")
        self.set_variables(c, self.variables)
        c.accountcode = self.account or c.accountcode
        if self.cid_num or self.cid_name:
            # pbx.c: the CallerID the phone shows; a part not given stays as it was
            c.cid_num = self.cid_num or c.cid_num
            c.cid_name = self.cid_name or c.cid_name
            self.emit(ch.newcallerid(c))
            c.conn_num = self.cid_num or UNKNOWN
            c.conn_name = self.cid_name or UNKNOWN
            self.emit(ch.newconnectedline(c))
        cnum = self.cid_num or (num if c.cid_num != UNKNOWN else "")
        cname = c.cid_name if c.cid_name != UNKNOWN else ""
        c.cdr_src, c.cdr_clid = cnum, ch.cdr_clid(cnum, cname)
        c.cdr_dst, c.cdr_dcontext = "", c.context
        pbx.invite(self, c)
        self.emit(ch.dial_begin(None, c, self.data))

    async def run(self) -> None:
        c = self.chan
        if c is None:
            self.send_response("Failure", sc.REASON_FAILED)
            return
        kind, ring, _talk = self.spec
        if kind == "busy":  # 486 at once
            self.emit(ch.dial_end(None, c, "BUSY"))
            c.cdr_disposition = "BUSY"
            self.emit(ch.cdr(c, self.now()))
            self.send_response("Failure", sc.REASON_BUSY)
            self.finish_channel(c, 17, cdr=False)
            return
        self.set_state(c, STATE_RINGING)
        # chan_pjsip reports its device's state per call; a chan_sip peer
        # without call-limit stays NOT_INUSE (captures originate_pjsip_auto_answer,
        # originate_answered)
        pjsip = self.tech == "PJSIP"
        self.emit(
            ch.device_state(c.device, "RINGING" if pjsip else "NOT_INUSE"),
            ch.dial_state(None, c, "RINGING"),
        )
        if kind != "answer" or ring >= self.timeout:
            # the Originate Timeout: no DialEnd, the phone gets a CANCEL
            await self.wait(self.timeout)
            self.send_response("Failure", sc.REASON_NO_ANSWER)
            c.cdr_disposition = "NO ANSWER"
            self.emit(ch.cdr(c, self.now()))
            self.finish_channel(c, 19, cdr=False)
            return
        await self.wait(ring)
        self.set_state(c, STATE_UP)
        self.answer_vt = self.vt
        if pjsip:
            self.emit(ch.device_state(c.device, "INUSE"))
        self.emit(ch.dial_end(None, c, "ANSWER"))
        self.defer_until_block(
            lambda: self.send_response("Success", sc.REASON_ANSWERED, c.name, c.uniqueid)
        )
        gone = False
        try:
            if self.app:
                c.set_app(self.app, self.appdata)
                await self.dp_wait(c, sc.app_duration(self.app, self.appdata))
            else:
                c.cdr_dst, c.cdr_dcontext = self.dial_exten, self.dial_context
                await self.run_dialplan(c, self.dial_context, self.dial_exten, self.dial_priority)
        except (sc.EndOfDialplan, pbx.CallerGone):
            pass
        except sc.HangupNow as stop:
            gone = stop.reason == "phone_bye"
        self.flush_deferred()
        if not c.alive:
            return
        if gone:
            self.phone_bye(c)
        else:
            self.sip_hangup(c, c.hangup_cause or 16)
        if pjsip:
            self.emit(ch.device_state(c.device, "NOT_INUSE"))

    sip_hangup = sc.SipInboundCall.sip_hangup

    def deadline(self, chan):
        talk = self.spec[2]
        if chan is self.chan and talk is not None and self.answer_vt is not None:
            return (self.answer_vt + talk, "phone_bye")
        return None

    def phone_bye(self, c: Channel) -> None:  # pragma: no cover - not recorded
        """The phone hangs up (BYE) while its dialplan runs an application."""
        pbx.bye_qos(self, c, None)
        self.emit(ch.hangup_request(c, None), ch.soft_hangup_request(c, 16))
        self.finish_channel(c, 16, cdr=not c.cdr_records)
        pbx.close_records(self, c)

    # Dial(SIP/carol,20,tT) in the extension the answered phone runs
    async def app_dial(self, chan: Channel, data: str):
        if chan is not self.chan or dial_targets(data) is None:
            return await super().app_dial(chan, data)
        own_talk = self.spec[2]
        if own_talk is not None and self.answer_vt is not None:
            # the phone hangs up while the other one still rings (not recorded)
            self.cancel_after = max(0.0, self.answer_vt + own_talk - self.vt)
        dial = pbx.SipDial(self, chan, data)
        self.dial = dial
        status = await dial.run()
        self.cancel_after = None
        if status != "ANSWER":
            return None  # DIALSTATUS is set, the dialplan goes on
        # the phone's CDR runs from its creation and answer, B party the callee
        rec = chan.cdr_records[0]
        rec["start"], rec["answer"] = chan.created, chan.answered
        callee = dial.answered
        callee_talk = self.phone_talk(dial.peers[dial.legs.index(callee)])
        ends = []
        if callee_talk is not None:
            ends.append((self.vt + callee_talk, 0, dial.callee_bye))
        if own_talk is not None and self.answer_vt is not None:
            ends.append((self.answer_vt + own_talk, 1, dial.caller_bye))
        if not ends:  # up until an AMI Hangup
            await self.wait(86400.0 * 365)
            return None
        t, _, bye = min(ends, key=lambda e: (e[0], e[1]))
        await self.wait(max(0.0, t - self.vt))
        bye()
        raise sc.EndOfDialplan()

    def ami_hangup(self, chan: Channel, cause: int) -> None:
        if chan is self.chan and self.answer_vt is None:
            # AMI Hangup of the phone while it rings (capture originate_hangup_ringing):
            # DialEnd NOANSWER, the Originate fails with Reason 0, no HangupRequest
            self.interrupt()
            self.emit(ch.dial_end(None, chan, "NOANSWER"))
            self.send_response("Failure", sc.REASON_FAILED)
            chan.cdr_disposition = "NO ANSWER"
            self.finish_channel(chan, cause or 16)
            return
        self.flush_deferred()
        super().ami_hangup(chan, cause)


class LocalPhonesDial:
    """``;2`` of ``Originate Local/X@ctx`` runs ``Dial(SIP/a&SIP/b...,timeout)``:
    the phones of one user ring together (capture originate_local_two_devices).

    :meth:`run` rings them until one answers (returns ``"ANSWER"``, the phone
    bridged with ``;2``, ``;1`` answered), the Dial times out or every phone
    fails; :meth:`connected` then runs ``;1``'s Application or
    ``Context``/``Exten`` (a Dial of the number: :mod:`.dialout`) and tears the
    chain down when it ends or when the phone hangs up (its ``talk`` seconds,
    see :func:`.pbx.phone_spec`)."""

    def __init__(self, call: sc.LocalOriginateCall, data: str):
        self.call, self.data = call, data
        self.one, self.two = call.one, call.two
        args = [a.strip() for a in data.split(",")]
        self.peers = dial_targets(data) or []
        self.timeout = float(args[1]) if len(args) > 1 and args[1] else None
        self.legs: list[Channel] = []
        self.leg_peer: dict[str, str] = {}
        self.answered: Channel | None = None
        self.bridge: ch.Bridge | None = None
        self.bye_vt: float | None = None
        self.late_join = None  # ;2 joining the phone's bridge, held until the chain ends
        self.dial_out = DialOut(self)

    def spec(self, peer: str) -> tuple[str, float, float | None]:
        return pbx.sim_phone(self.call.sim, peer)

    def _record(self, leg: Channel, disposition: str, answer=None, end=None) -> dict:
        return {
            "start": self.two.created,
            "answer": answer,
            "end": end,
            "disposition": disposition,
            "dstchannel": leg.name,
            "lastapp": "Dial",
            "lastdata": self.data,
        }

    async def run(self) -> str:
        call, one, two = self.call, self.one, self.two
        for var in sc.DIAL_VARS:
            call.emit(ch.varset(two, var, ""))
        call.flush_deferred()
        peers = [p for p in self.peers if self.spec(p)[0] != "unreachable"]
        if not peers:  # pragma: no cover - not recorded
            call.emit(ch.varset(two, "DIALSTATUS", "CHANUNAVAIL"))
            return "CHANUNAVAIL"
        for peer in peers:
            leg = pbx.sip_leg(call, two, peer)
            self.legs.append(leg)
            self.leg_peer[leg.name] = peer
        # Dial's b() option: each phone's channel runs it before any is called
        # (capture originate_ring_auto_answer)
        gosub.predial_callee(call, two, self.legs, self.data)
        # app_dial.c calls each phone, then publishes its DialBegin: a phone's
        # 180 may come in between (AmiSimulator.races "early_ringing_phone")
        early = call.sim.races.get("early_ringing_phone")
        for leg in self.legs:
            peer = self.leg_peer[leg.name]
            if peer == early and self.spec(peer)[0] != "busy":
                call.set_state(leg, STATE_RINGING)
            pbx.invite(call, leg)
            call.emit(ch.dial_begin(two, leg, peer))
        ringing = []
        for leg in self.legs:
            if self.spec(self.leg_peer[leg.name])[0] == "busy":  # pragma: no cover
                call.emit(ch.dial_end(two, leg, "BUSY"))
                call.finish_channel(leg, 17, cdr=False)
                two.cdr_records.append(self._record(leg, "BUSY", end=call.now()))
            else:
                ringing.append(leg)
        if not ringing:  # pragma: no cover - not recorded
            call.emit(ch.varset(two, "DIALSTATUS", "BUSY"))
            return "BUSY"
        # The phones' 180s race: in dial order unless AmiSimulator.races says
        # which came first; the first one is passed on to ;1.
        first = call.sim.races.get("first_ringing")
        ringing.sort(key=lambda leg: self.leg_peer[leg.name] != first)
        for n, leg in enumerate(ringing):
            call.set_state(leg, STATE_RINGING)
            call.emit(ch.device_state(leg.device, "NOT_INUSE"))
            if n == 0:
                call.set_state(one, STATE_RINGING)
                call.emit(ch.varset(two, "RINGTIME", "0"), ch.varset(two, "RINGTIME_MS", "1"))
                call.emit(ch.dial_state(None, one, "RINGING"))
                call.emit(ch.device_state(call.requested, "INUSE"))
            call.emit(ch.dial_state(two, leg, "RINGING"))
        # whichever comes first: an answer, the Dial timeout, the Originate timeout
        answers = [
            (self.spec(self.leg_peer[leg.name])[1], i, leg)
            for i, leg in enumerate(ringing)
            if self.spec(self.leg_peer[leg.name])[0] == "answer"
        ]
        t_answer, _, winner = min(answers, key=lambda a: a[:2]) if answers else (None, 0, None)
        t_originate = max(0.0, call.timeout - call.vt)
        candidates = [t for t in (t_answer, self.timeout, t_originate) if t is not None]
        t = min(candidates)
        await call.wait(t)
        if t_answer is not None and t == t_answer and t_answer < t_originate:
            return self._answer(winner, ringing)
        if t == t_originate:  # pragma: no cover - not recorded
            self._originate_timeout(ringing)
            raise sc.HangupNow("phones_done")
        return self._dial_timeout(ringing)  # pragma: no cover - not recorded

    def _answer(self, leg: Channel, ringing: list[Channel]) -> str:
        call, one, two = self.call, self.one, self.two
        call.set_state(leg, STATE_UP)
        two.conn_num, two.conn_name = leg.cid_num, leg.cid_name
        call.emit(ch.newconnectedline(two))
        lost = []
        for other in ringing:
            if other is not leg and other.alive:
                call.emit(ch.dial_end(two, other, "CANCEL"))
                call.finish_channel(other, 26, cdr=False)  # "Answered elsewhere"
                lost.append(self._record(other, "NO ANSWER", end=call.now()))
        call.emit(
            ch.varset(two, "DIALSTATUS", "ANSWER"),
            ch.varset(two, "DIALEDPEERNAME", leg.name),
            ch.varset(two, "DIALEDPEERNUMBER", self.leg_peer[leg.name]),
        )
        leg.exten = ""
        call.emit(ch.dial_end(two, leg, "ANSWER"))
        # the answer reaches ;1 with the phone's caller id
        one.cid_num, one.cid_name = leg.cid_num, leg.cid_name
        one.cdr_src = leg.cid_num if leg.cid_num != UNKNOWN else ""
        one.cdr_clid = ch.cdr_clid(one.cdr_src, leg.cid_name if leg.cid_name != UNKNOWN else "")
        call.set_state(one, STATE_UP)
        call.emit(ch.newcallerid(one))
        call.answered = True
        call.set_state(two, STATE_UP)
        bridge = call.table.new_bridge()
        self.bridge = bridge
        call.emit(ch.bridge_create(bridge))
        call.newexten(leg, 1, "AppDial", "(Outgoing Line)")
        call.emit(ch.bridge_enter(bridge, leg))
        call.emit(ch.dial_end(None, one, "ANSWER"))

        def response():  # the originating thread
            call.send_response("Success", sc.REASON_ANSWERED, one.name, one.uniqueid)
            call.emit(
                ch.device_state(call.requested, "INUSE"), ch.device_state(call.requested, "INUSE")
            )

        def join():  # ;2's thread
            call.emit(ch.bridge_enter(bridge, two))
            pbx.bridge_peer_vars(call, leg, two)

        call.defer_until_block(response)
        if call.sim.races.get("late_bridge"):
            self.late_join = join
        else:
            call.defer_until_block(join)
        two.cdr_records = [self._record(leg, "ANSWERED", answer=call.now())] + lost
        two.cdr_dstchannel = leg.name
        self.answered = leg
        talk = self.spec(self.leg_peer[leg.name])[2]
        self.bye_vt = call.vt + talk if talk is not None else None
        return "ANSWER"

    async def connected(self) -> None:
        """``;1`` runs what the Originate asked for; the chain ends with it (or
        with the phone's BYE)."""
        call, one = self.call, self.one
        reason = ""
        try:
            if call.app:
                one.set_app(call.app, call.appdata)
                if call.app.lower() == "dial":
                    await call.app_dial(one, call.appdata)
                else:
                    await call.dp_wait(one, sc.app_duration(call.app, call.appdata))
            elif call.dial_exten:
                one.cdr_dst, one.cdr_dcontext = call.dial_exten, call.dial_context
                await call.run_dialplan(one, call.dial_context, call.dial_exten, call.dial_priority)
        except sc.EndOfDialplan:
            pass
        except sc.HangupNow as stop:
            reason = stop.reason
        call.flush_deferred()
        if reason == "phone_bye":
            self.phone_bye()  # pragma: no cover - not recorded
        elif one.alive:
            self.one_hangs_up()

    def one_hangs_up(self) -> None:
        """``;1``'s dialplan ran Hangup(): the chain ;1 -> ;2 -> phone ends (with
        the cause of a failed Dial: 17 in originate_local_dial_busy)."""
        call, one, two = self.call, self.one, self.two
        cause = one.hangup_cause or 16
        call.emit(ch.soft_hangup_request(one, 16), ch.hangup_request(two, cause))
        call.finish_channel(one, cause, cdr=False)
        pbx.close_records(call, one)  # a failed Dial's
        start = one.cdr_start if one.cdr_start is not None else one.created
        call.emit(
            ch.cdr_record(
                one, start=start, answer=one.answered, end=call.now(), disposition="ANSWERED"
            )
        )
        self.chain_down(cause)

    def chain_down(self, cause: int = 16) -> None:
        """``;1`` is gone (``;2``'s HangupRequest is out): ``;2`` and the phone follow."""
        call, two, leg, bridge = self.call, self.two, self.answered, self.bridge
        self.catch_up()
        pbx.clear_bridge_vars(call, two)
        pbx.clear_bridge_vars(call, leg)
        call.emit(ch.bridge_leave(bridge, two))
        for k, v in pbx.dial_times(call, two, two.created, two.answered):
            call.emit(ch.varset(two, k, v))
        call.emit(ch.varset(two, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(two, 16))
        call.finish_channel(two, cause, cdr=False)
        call.emit(ch.bridge_leave(bridge, leg))
        for k, v in sc.rtcp_vars(random.getrandbits(31), 71):
            call.emit(ch.varset(leg, k, v))
        call.emit(
            ch.device_state(call.requested, "NOT_INUSE"),
            ch.device_state(call.requested, "NOT_INUSE"),
        )
        call.finish_channel(leg, 16, cdr=False)
        pbx.close_records(call, two)
        self._destroy_bridge()

    def catch_up(self) -> None:
        """What the other threads still owed: the OriginateResponse, ;2 joining."""
        self.call.flush_deferred()
        if self.late_join is not None:
            self.late_join()
            self.late_join = None

    def phone_bye(self) -> None:  # pragma: no cover - not recorded
        """The answering phone hangs up (BYE): ;2's Dial returns, ;1 is hung up."""
        call, one, two, leg, bridge = self.call, self.one, self.two, self.answered, self.bridge
        self.catch_up()
        pbx.bye_qos(call, leg, two)
        call.emit(ch.hangup_request(leg, 16))
        pbx.clear_bridge_vars(call, leg)
        pbx.clear_bridge_vars(call, two)
        call.emit(ch.bridge_leave(bridge, leg))
        call.finish_channel(leg, 16, cdr=False)
        call.emit(ch.bridge_leave(bridge, two))
        self._destroy_bridge()
        for k, v in pbx.dial_times(call, two, two.created, two.answered):
            call.emit(ch.varset(two, k, v))
        call.emit(ch.varset(two, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(two, 16))
        call.emit(ch.hangup_request(one, 16))
        call.finish_channel(two, 16, cdr=False)
        if one.alive:
            call.finish_channel(one, 16)
        pbx.close_records(call, two)
        call.emit(
            ch.device_state(call.requested, "NOT_INUSE"),
            ch.device_state(call.requested, "NOT_INUSE"),
        )

    def _destroy_bridge(self) -> None:
        if self.bridge is not None:
            self.call.emit(ch.bridge_destroy(self.bridge))
            self.call.table.bridges.pop(self.bridge.uniqueid, None)
            self.bridge = None

    def _dial_timeout(self, ringing: list[Channel]) -> str:  # pragma: no cover
        """Dial's own timeout: NOANSWER, ;2's dialplan goes on (then ;1 fails)."""
        call, two = self.call, self.two
        for leg in ringing:
            if leg.alive:
                call.emit(ch.dial_end(two, leg, "NOANSWER"))
                call.finish_channel(leg, 16, cdr=False)
                two.cdr_records.append(self._record(leg, "NO ANSWER", end=call.now()))
        call.emit(ch.varset(two, "DIALSTATUS", "NOANSWER"))
        two.cdr_disposition = "NO ANSWER"
        return "NOANSWER"

    def _originate_timeout(self, ringing: list[Channel]) -> None:  # pragma: no cover
        """The Originate Timeout while the phones ring: everything is hung up, Reason 3."""
        call, one, two = self.call, self.one, self.two
        call.emit(ch.hangup_request(two, 19))
        for leg in ringing:
            if leg.alive:
                call.emit(ch.dial_end(two, leg, "CANCEL"))
                call.finish_channel(leg, 16, cdr=False)
                two.cdr_records.append(self._record(leg, "NO ANSWER", end=call.now()))
        call.emit(ch.varset(two, "DIALSTATUS", "CANCEL"), ch.soft_hangup_request(two, 16))
        call.finish_channel(two, 19, cdr=False)
        pbx.close_records(call, two)
        call.send_response("Failure", sc.REASON_NO_ANSWER)
        call.finish_channel(one, 19, cdr=False)
        one.cdr_disposition = "NO ANSWER"
        call.emit(ch.cdr(one, call.now()))
        call.emit(
            ch.device_state(call.requested, "NOT_INUSE"),
            ch.device_state(call.requested, "NOT_INUSE"),
        )
