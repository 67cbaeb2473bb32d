"""res_parking's ``Park`` action on the caller of a bridged SIP call (capture
park_caller, see tests/captures/README.md "Call parking").

The caller leaves the basic bridge for the lot's holding bridge (created the
first time the lot parks someone, then kept), ``ParkedCall`` names the space;
the other party is hung up.  When the parked caller hangs up:
``ParkedCallGiveUp``, and two CDR records (the call up to the park, then
``Park``).  Not modelled: the parking timeout (the call coming back to the
``TimeoutChannel``'s device) and taking the call from its space.
"""

from __future__ import annotations

import random

from . import channels as ch
from . import pbx
from . import scenarios as sc
from .channels import Channel


def parked_event(name: str, parked: ParkedCaller, now: float) -> ch.Event:
    """``ParkedCall``/``ParkedCallGiveUp``: the parkee's snapshot (``Parkee``
    prefix), then the parking (res_parking's manager_build_parked_call_string)."""
    lot, _first, _last, timeout, _context = parked.lot
    elapsed = int(now - parked.since)
    return ch.ev(
        name,
        ch.CALL,
        parked.call.caller.snapshot("Parkee"),
        [
            ("ParkerDialString", parked.parker),
            ("Parkinglot", lot),
            ("ParkingSpace", parked.space),
            ("ParkingTimeout", str(max(0, int(timeout) - elapsed))),
            ("ParkingDuration", str(elapsed)),
        ],
    )


class ParkedCaller:
    """The caller of a :class:`.scenarios.SipInboundCall`, parked."""

    def __init__(self, call: sc.SipInboundCall, parker: Channel | None, lot: tuple):
        self.call, self.lot = call, lot
        caller, callee, basic = call.caller, call.callee, call.bridge
        self.parker = (parker or callee).device  # ParkerDialString: the TimeoutChannel's
        self.bridge, created = call.sim.parking_bridge(lot)
        self.space = call.sim.parking_space(lot)
        self.since = call.now()
        self.device = f"park:{self.space}@{lot[4]}"
        # the Park action transfers the caller (blind, to the lot)
        call.emit(ch.varset(caller, "BLINDTRANSFER", callee.name))
        if created:
            call.emit(ch.bridge_create(self.bridge))
        call.emit(ch.varset(caller, "BLINDTRANSFER", callee.name))
        call.emit(ch.bridge_leave(basic, caller))
        call.emit(parked_event("ParkedCall", self, self.since))
        call.emit(ch.device_state(self.device, "INUSE"))
        call.emit(ch.bridge_enter(self.bridge, caller))
        call.emit(ch.varset(caller, "BLINDTRANSFER", ""))
        pbx.clear_bridge_vars(call, caller)
        pbx.clear_bridge_vars(call, callee)
        call.emit(ch.bridge_leave(basic, callee), ch.bridge_destroy(basic))
        call.table.bridges.pop(basic.uniqueid, None)
        call.bridge = None
        # the other party is hung up at once: statistics, Hangup, no request
        for k, v in sc.rtcp_vars(random.getrandbits(31), 50):
            call.emit(ch.varset(callee, k, v))
        call.finish_channel(callee, 16, cdr=False)
        # the caller's CDR: the call so far ends here; the next is the parking
        record = caller.cdr_records[0]
        record["end"] = self.since
        caller.cdr_records.append(
            {
                "start": self.since,
                "answer": self.since,
                "end": None,
                "disposition": "ANSWERED",
                "dstchannel": "",
                "lastapp": "Park",
                "lastdata": f"{lot[0]}:{self.space}",
            }
        )

    def caller_bye(self) -> None:
        """The parked caller hangs up (BYE)."""
        call, caller, dial = self.call, self.call.caller, self.call.dial
        for k, v in pbx.qos_stats(50):
            call.emit(ch.varset(caller, k, v))
        call.emit(ch.hangup_request(caller, 16))
        call.emit(parked_event("ParkedCallGiveUp", self, call.now()))
        call.emit(ch.cdr_record(caller, **caller.cdr_records.pop(0)))
        call.emit(ch.device_state(self.device, "NOT_INUSE"))
        call.emit(ch.bridge_leave(self.bridge, caller))
        call.sim.parking_release(self.lot, self.space)
        for k, v in pbx.dial_times(call, caller, dial.start, dial.answer_time):
            call.emit(ch.varset(caller, k, v))
        call.emit(ch.varset(caller, "DIALSTATUS", "ANSWER"), ch.soft_hangup_request(caller, 16))
        call.finish_channel(caller, 16, cdr=False)
        pbx.close_records(call, caller)
        call.parking = None
