"""Click-to-dial on several phones: the originated Local ``;1`` dials the number.

``Originate Channel: Local/<user's exten>@<ctx>``: ``;2`` rings the user's
phones (:class:`.originate.LocalPhonesDial`); once one answers, ``;1`` dials
the number (tests/captures, see the README there):

* its ``Context``/``Exten`` runs ``Dial(SIP/provider/<number>,30,tT)``
  (``originate_local_dial_out``, ``originate_local_dial_busy``);
* ``Application: Dial``, ``Data: Local/<number>@<ctx>/n``: a second Local
  pair (:class:`.scenarios.LocalDialLeg`) whose ``;2`` runs that dialplan
  (``originate_local_auto_answer``, ``originate_local_auto_answer_busy``).

The number answers and hangs up (its ``talk`` seconds, :func:`.pbx.phone_spec`)
or is busy; ``;1`` is hung up, then ``;2`` and the phone
(:meth:`.originate.LocalPhonesDial.chain_down`).  Not recorded: the number
ringing out or unreachable, the user's phone hanging up first.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from . import channels as ch
from . import pbx
from . import scenarios as sc
from .channels import STATE_RINGING, STATE_UP

if TYPE_CHECKING:  # pragma: no cover
    from .originate import LocalPhonesDial


class DialOut:
    """The Dials of the answered ``;1``, and of the ``;2`` of its Local leg."""

    def __init__(self, phones: LocalPhonesDial):
        self.phones = phones
        self.call, self.one = phones.call, phones.one
        self.leg: sc.LocalDialLeg | None = None
        self.bridge: ch.Bridge | None = None  # ;1 and the leg's ;1, once answered
        self.dial_start = 0.0

    async def app_dial(self, chan: ch.Channel, data: str):
        target = data.split(",")[0]
        inner = self.leg is not None and chan is self.leg.b
        if chan is self.one and target.startswith("Local/"):
            return await self.local(data)
        if (chan is self.one or inner) and sc._sip_targets(target):
            return await self.sip(chan, data)
        return await sc.Call.app_dial(self.call, chan, data)  # pragma: no cover

    def record(self, dstchannel: str, disposition: str, start: float, end=None) -> dict:
        """A CDR record of ``;1`` running the Application Dial."""
        return {
            "start": start,
            "answer": self.one.answered,
            "end": end,
            "disposition": disposition,
            "dstchannel": dstchannel,
            "lastapp": "Dial",
            "lastdata": self.one.cdr_lastdata,
        }

    async def sip(self, caller: ch.Channel, data: str):
        """``caller`` (``;1``, or the leg's ``;2``) dials the number through the trunk."""
        call = self.call
        inner = caller is not self.one
        dial = pbx.SipDial(call, caller, data, on_ringing=self.leg_ringing if inner else None)
        if await dial.run() != "ANSWER":
            return  # DIALSTATUS is set, the dialplan goes on: Hangup()
        if inner:
            self.leg_answered()
        talk = call.phone_talk(dial.peers[dial.legs.index(dial.answered)])
        if talk is None:  # pragma: no cover - up until an AMI Hangup
            await call.wait(86400.0 * 365)
            return
        await call.wait(talk)
        dial.callee_bye()  # no g option: the caller is hung up too
        if inner:
            self.leg_gone(16)
        else:
            call.emit(ch.hangup_request(self.phones.two, 16))
            self.phones.chain_down(16)
        raise sc.EndOfDialplan()

    async def local(self, data: str) -> None:
        """``;1``'s Application ``Dial(Local/<number>@<ctx>/n)``."""
        call, one = self.call, self.one
        # ;1's CDR ends where the Dial begins; the Dial's has the leg as party B
        one.cdr_records.append(self.record("", "ANSWERED", one.created, call.now()))
        self.leg = leg = sc.LocalDialLeg(call, one, data)
        leg.open()
        self.dial_start = call.now()
        b = leg.b
        with contextlib.suppress(sc.EndOfDialplan):
            await call.run_dialplan(b, leg.context, leg.exten)
        if b.alive:  # Hangup() after a failed Dial: the Dial's CDR, then its own
            cause = b.hangup_cause or 16
            call.emit(ch.soft_hangup_request(b, 16))
            call.finish_channel(b, cause, cdr=False)
            pbx.close_records(call, b)
            if b.cdr_start is not None:
                call.emit(
                    ch.cdr_record(
                        b,
                        start=b.cdr_start,
                        answer=None,
                        end=call.now(),
                        disposition=b.cdr_disposition,
                        dstchannel="",
                    )
                )
            self.leg_gone(cause)

    def leg_ringing(self) -> None:
        """The number rings: so does the leg's ``;1``, and ``;1``'s Dial says so."""
        call, one, a = self.call, self.one, self.leg.a
        call.set_state(a, STATE_RINGING)
        call.emit(
            ch.varset(one, "RINGTIME", "0"),
            ch.varset(one, "RINGTIME_MS", "1"),
            ch.dial_state(one, a, "RINGING"),
            ch.device_state(self.leg.device, "INUSE"),
        )

    def leg_answered(self) -> None:
        """The number answered the leg's ``;2``: ``;1`` and the leg's ``;1`` are bridged."""
        call, one, leg = self.call, self.one, self.leg
        a = leg.a
        call.set_state(a, STATE_UP)
        call.emit(
            ch.varset(one, "DIALSTATUS", "ANSWER"),
            ch.varset(one, "DIALEDPEERNAME", a.name),
            ch.varset(one, "DIALEDPEERNUMBER", leg.dialstring),
        )
        a.exten = ""
        call.emit(ch.dial_end(one, a, "ANSWER"))
        self.bridge = bridge = call.table.new_bridge()
        call.emit(ch.bridge_create(bridge))
        call.newexten(a, 1, "AppDial", "(Outgoing Line)")
        call.emit(ch.bridge_enter(bridge, a), ch.bridge_enter(bridge, one))
        pbx.bridge_peer_vars(call, a, one)
        call.emit(ch.device_state(leg.device, "INUSE"), ch.device_state(leg.device, "INUSE"))
        one.cdr_records.append(self.record(a.name, "ANSWERED", call.now()))

    def leg_gone(self, cause: int) -> None:
        """The leg's ``;2`` hung up: its ``;1`` follows (chan_local passes the
        DIALSTATUS and the cause on), ``;1``'s Dial returns and the Application
        ends, the chain goes down."""
        call, one, leg, bridge = self.call, self.one, self.leg, self.bridge
        a, b = leg.a, leg.b
        status = b.variables.get("DIALSTATUS", "")
        call.emit(ch.varset(a, "CHANLOCALSTATUS", status), ch.hangup_request(a, cause))
        if bridge is not None:
            pbx.clear_bridge_vars(call, a)
            pbx.clear_bridge_vars(call, one)
            call.emit(ch.bridge_leave(bridge, a))
            call.finish_channel(a, cause, cdr=False)
            call.emit(ch.bridge_leave(bridge, one), ch.bridge_destroy(bridge))
            call.table.bridges.pop(bridge.uniqueid, None)
            self.bridge = None
            for k, v in pbx.dial_times(call, one, one.created, one.answered):
                call.emit(ch.varset(one, k, v))
        else:  # the number was busy (or its dialplan ran no Dial: not recorded)
            status = status or "CANCEL"
            call.emit(ch.dial_end(one, a, status))
            disposition = "BUSY" if status == "BUSY" else "NO ANSWER"
            one.cdr_records.append(self.record(a.name, disposition, self.dial_start, call.now()))
        call.emit(ch.varset(one, "DIALSTATUS", status))
        # the Application ends: ;1 is hung up without a request
        call.emit(ch.hangup_request(self.phones.two, cause))
        call.finish_channel(one, cause, cdr=False)
        pbx.close_records(call, one)
        if a.alive:
            call.finish_channel(a, cause, cdr=False)
        self.phones.chain_down(cause)
        call.emit(
            ch.device_state(leg.device, "NOT_INUSE"), ch.device_state(leg.device, "NOT_INUSE")
        )
