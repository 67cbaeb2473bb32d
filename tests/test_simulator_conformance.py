"""Replay the client side of every reference capture against the simulator and
compare the answer with what Asterisk 20 really sent.

Two sets of captures: the shared ones (``/work/shared/ami-captures``) and the
project's own (``tests/captures``: queues, SIP busy/no answer/cancel, an
inbound ring group, an attended transfer, PJSIP calls; see the README there).

Comparison: same message types (Response:/Event: name) in the same order and
the same keys per message; then the values: for the shared captures, the
originates and the PJSIP calls every value but the volatile ones
(compare_every_value: times, memory addresses, random call ids and digests;
generated ids only have to correspond one to one), for the other captures of
tests/captures what a call tracker reads (compare_values).

DeviceStateChange and Cdr events are produced by Asterisk's asynchronous
device-state and CDR engines, so their position relative to channel events
varies between runs of the *real* Asterisk (compare captures a and j, i1 and
i2); so do QueueMemberStatus (app_queue's device-state callback) and the
RTCP reports (a timer).  They are compared as their own ordered sub-stream, in
which a repeated identical device state is counted once (i1 has it twice, i2
once).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.ami_simulator import AmiSimulator
from tests.ami_simulator.configstore import BASE_FILES
from tests.ami_simulator.protocol import parse_block, split_stream

CAPTURES = Path("/work/shared/ami-captures")
OWN_CAPTURES = Path(__file__).parent / "captures"
ASYNC_EVENTS = {"DeviceStateChange", "Cdr", "QueueMemberStatus", "RTCPSent", "RTCPReceived"}
TIME_SCALE = 0.01

shared = pytest.mark.skipif(not CAPTURES.is_dir(), reason="reference captures not available")


def capture(name: str, ext: str) -> Path:
    own = OWN_CAPTURES / f"{name}.{ext}"
    return own if own.exists() else CAPTURES / f"{name}.{ext}"


def recorded(name: str):
    return [parse_block(b) for b in split_stream(capture(name, "raw").read_bytes())[1]]


def sent_blocks(name: str) -> list[bytes]:
    data = capture(name, "sent").read_bytes()
    return [b + b"\r\n\r\n" for b in data.split(b"\r\n\r\n") if b.strip()]


def shape(msg) -> tuple[str, str, tuple[str, ...]]:
    kind, name = msg.pairs[0]
    keys = tuple(dict.fromkeys(k for k, _ in msg.pairs[1:]))
    return kind, name, keys


def describe(msg) -> str:
    kind, name, keys = shape(msg)
    return f"{kind}: {name} keys={list(keys)}"


def split(msgs):
    """(main stream, asynchronous stream: DeviceStateChange, Cdr, ...)."""
    main = [m for m in msgs if not (m.pairs[0][0] == "Event" and m.pairs[0][1] in ASYNC_EVENTS)]
    side, last_state = [], None
    for m in msgs:
        if m.pairs[0][0] == "Event" and m.pairs[0][1] in ASYNC_EVENTS:
            # The device-state engine may publish an unchanged state twice.
            state = (
                (m.get("Device"), m.get("State")) if m.pairs[0][1] == "DeviceStateChange" else None
            )
            if state is None or state != last_state:
                side.append(m)
            last_state = state
    return main, side


def device_changes(side):
    """``side`` without the states a device published again unchanged,
    whatever came between (split() only drops back-to-back ones)."""
    last: dict[str, str] = {}
    changes = []
    for m in side:
        if m.pairs[0][1] == "DeviceStateChange":
            if last.get(m.get("Device")) == m.get("State"):
                continue
            last[m.get("Device")] = m.get("State")
        changes.append(m)
    return changes


def counted(msgs, by_device: bool = False) -> int:
    """How many messages ``msgs`` are for :func:`compare` (``by_device``: for
    :func:`compare_per_channel`)."""
    main, side = split(msgs)
    return len(main) + len(device_changes(side) if by_device else side)


def compare(expected, actual) -> None:
    """Assert same shapes in the same order; the message lists the first difference."""
    for label, exp, act in zip(
        ("main stream", "DeviceStateChange/Cdr stream"),
        split(expected),
        split(actual),
        strict=False,
    ):
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            if shape(e) != shape(a):
                ctx = "\n".join(f"    {describe(m)}" for m in act[max(0, i - 3) : i])
                pytest.fail(
                    f"{label}: first difference at message #{i}\n  expected {describe(e)}\n"
                    f"  got      {describe(a)}\n  preceded by:\n{ctx}"
                )
        if len(exp) != len(act):
            extra = (exp if len(exp) > len(act) else act)[min(len(exp), len(act))]
            pytest.fail(
                f"{label}: expected {len(exp)} messages, got {len(act)}; "
                f"first unmatched: {describe(extra)}"
            )


class Client:
    """Raw AMI client collecting every message it receives."""

    def __init__(self):
        self.messages = []
        self.banner = b""
        self.closed = asyncio.Event()

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.banner = await self.reader.readline()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        buf = b""
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                break
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                self.messages.append(parse_block(block + b"\r\n\r\n"))
        self.closed.set()

    async def wait_count(self, n: int, timeout: float = 10.0, count=len) -> None:
        """Until ``count(messages)`` reaches ``n``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while count(self.messages) < n and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)

    async def send(self, block: bytes) -> None:
        self.writer.write(block)
        await self.writer.drain()


def action_id(block: bytes) -> str:
    m = re.search(rb"^ActionID: (.*)$", block, re.M | re.I)
    return m.group(1).decode().strip() if m else ""


async def drive(sim: AmiSimulator, name: str, hooks=None, rewrite=None) -> Client:
    """Send the capture's actions; each one only once the simulator has sent as
    many messages as Asterisk had sent before answering it in the capture
    (counted as :func:`compare` counts them: an unchanged device state that the
    device-state engine published twice is one)."""
    hooks = hooks or {}
    expected = recorded(name)
    blocks = sent_blocks(name)

    def count(msgs) -> int:
        return counted(msgs, by_device=name in ORDER_VARIES)

    client = Client()
    await client.connect(sim.port)
    prev_idx = -1
    for k, block in enumerate(blocks):
        if k in hooks:
            await client.wait_count(count(expected[: prev_idx + 1]), count=count)
            result = hooks[k](sim)
            if asyncio.iscoroutine(result):
                await result
        aid = action_id(block)
        idx = next(
            (
                i
                for i, m in enumerate(expected)
                if m.pairs[0][0] == "Response" and m.get("ActionID") == aid
            ),
            None,
        )
        if idx is not None:
            await client.wait_count(count(expected[:idx]), count=count)
            prev_idx = idx
        if rewrite:
            block = rewrite(sim, block)
        await client.send(block)
    await asyncio.wait_for(client.closed.wait(), 15)
    return client


def run(coro_fn, shared_day: bool = False):
    """Run ``coro_fn(sim)`` against a fresh simulator.  ``shared_day``: with the
    configuration the shared captures were recorded with (capture h lists it,
    l lists its SIP peers), i.e. without tests/captures' additions."""

    async def main():
        sim = AmiSimulator(time_scale=TIME_SCALE, failed_login_delay=0.02)
        if shared_day:
            for name, text in BASE_FILES.items():
                sim.config_store.set_text(name, text)
        await sim.start()
        try:
            return await coro_fn(sim)
        finally:
            await sim.shutdown()

    return asyncio.run(main())


def live_channel(sim: AmiSimulator, prefix: str) -> str:
    return next(n for n in sim.table.channels if n.startswith(prefix))


def _rewrite(recorded_name: str, prefix: str):
    def rewrite(sim, block: bytes) -> bytes:
        if recorded_name.encode() in block:
            block = block.replace(recorded_name.encode(), live_channel(sim, prefix).encode())
        return block

    return rewrite


def _rewrites(*pairs):
    rewrites = [_rewrite(*pair) for pair in pairs]

    def rewrite(sim, block: bytes) -> bytes:
        for one in rewrites:
            block = one(sim, block)
        return block

    return rewrite


def history(local_pairs: int, pbxes: int):
    """A hook giving the simulator the past of the Asterisk that recorded the
    shared captures: the Local channel pairs and the PBXes it had started
    (captures a, b, c, d and one more call before them).  The names decide the
    order of the channel lists; "core show channels" counts the PBXes."""

    def hook(sim):
        sim.table.set_next_suffix("Local", local_pairs)
        sim.table.calls_processed = pbxes

    return hook


# capture -> (hooks before action k, rewrite of recorded channel names)
PLANS = {
    "a_originate_answered": ({}, None),
    "b_originate_busy": ({}, None),
    "c_originate_noanswer_timeout": ({}, None),
    "d_sip_call_alice_to_100": ({1: lambda sim: sim.start_call("sip_call")}, None),
    "f_failed_sip_register": (
        {
            1: lambda sim: (
                sim.start_call("sip_register_failed", peer="alice"),
                sim.start_call("sip_register_failed", peer="mallory"),
            )
        },
        None,
    ),
    "g_command_coreshowchannels_active_call": ({1: history(local_pairs=4, pbxes=5)}, None),
    "h_getconfig_updateconfig": ({}, None),
    "i1_redirect_bridged_channel": (
        {1: lambda sim: sim.start_call("alice_calls_bob")},
        _rewrite("SIP/bob-00000002", "SIP/bob-"),
    ),
    "i2_blindtransfer": (
        {1: lambda sim: sim.start_call("alice_calls_bob")},
        _rewrite("SIP/alice-00000003", "SIP/alice-"),
    ),
    "l_sip_register_ok_and_unregister": (
        {
            1: lambda sim: sim.start_call("sip_register"),
            3: lambda sim: sim.start_call("sip_unregister"),
        },
        None,
    ),
}


async def call_then_pause(sim: AmiSimulator, scenario: str, seconds: float, **kw) -> None:
    """Start ``scenario``, wait until its two parties are bridged, then ``seconds``
    (virtual) more: the time the recording client waited before its action."""
    call = sim.calls[sim.start_call(scenario, **kw)]
    while call.bridge is None or len(call.bridge.channels) < 2:
        await asyncio.sleep(0.001)
    await asyncio.sleep(sim.clock.real_delay(seconds))


def phones(**behaviour):
    """A hook setting how the phones react (``AmiSimulator.set_phone``)."""

    def hook(sim):
        for peer, spec in behaviour.items():
            sim.set_phone(peer, spec)

    return hook


def races(**outcome):
    """A hook saying which way a race between Asterisk threads went in the
    capture (``AmiSimulator.races``)."""

    def hook(sim):
        sim.races.update(outcome)

    return hook


def new_file_of(diff_name: str, conf: str):
    """A hook giving the simulator ``conf`` as a configuration diff of
    tests/captures creates it (a new file: its added lines)."""

    def hook(sim):
        diff = (OWN_CAPTURES / diff_name).read_text().splitlines()
        text = "".join(line[1:] + "\n" for line in diff if line[:1] == "+" and line[:3] != "+++")
        sim.config_store.set_text(conf, text)

    return hook


parked_lot = new_file_of("asterisk_config_additions_parking.diff", "res_parking.conf")
pjsip_conf = new_file_of("asterisk_config_additions_pjsip.diff", "pjsip.conf")


# tests/captures: the call starts once the client has logged in
OWN_PLANS = {
    "queue_answered": ({1: lambda sim: sim.start_call("queue")}, None),
    "queue_abandoned": ({1: lambda sim: sim.start_call("queue_abandoned")}, None),
    "sip_busy": ({1: lambda sim: sim.start_call("sip_busy")}, None),
    "sip_noanswer": ({1: lambda sim: sim.start_call("sip_noanswer")}, None),
    "sip_cancel": ({1: lambda sim: sim.start_call("sip_cancel")}, None),
    "inbound_ring_group": ({1: lambda sim: sim.start_call("inbound_ring_group")}, None),
    # the Atxfer comes from the capture's client, 2 s after the bridge
    "attended_transfer": (
        {1: lambda sim: call_then_pause(sim, "attended_transfer", 2.0, atxfer=None)},
        _rewrite("SIP/alice-00000025", "SIP/alice-"),
    ),
    # Originate (click-to-dial): the capture's own action drives the simulator;
    # only how the phones react is set (bob answers after 1 s by default).
    "originate_answered": ({}, None),
    "originate_pjsip_auto_answer": ({}, None),
    "pjsip_endpoints": ({1: pjsip_conf}, None),
    "originate_dial_out": ({1: phones(carol=("answer", 1.0, 2.0))}, None),
    "originate_phone_busy": ({1: phones(bob="busy")}, None),
    "originate_phone_noanswer": ({1: phones(bob="ring")}, None),
    "originate_unreachable": ({1: phones(alice="unreachable")}, None),
    "originate_local_two_devices": ({1: phones(carol="ring")}, None),
    "originate_local_inherited_header": ({1: phones(carol="ring")}, None),
    # ;1 dials the number once bob answered: its extension (Context/Exten) or
    # Application Dial(Local/<number>@demo/n); the provider answers after 1 s
    # and hangs up 2 s later, or is busy. carol's 180 came first in two of them.
    "originate_local_dial_out": (
        {
            1: lambda sim: (
                phones(carol="ring", provider=("answer", 1.0, 2.0))(sim),
                races(first_ringing="carol", early_ringing=True)(sim),
            )
        },
        None,
    ),
    "originate_local_dial_busy": ({1: phones(carol="ring", provider="busy")}, None),
    "originate_local_auto_answer": (
        {1: phones(carol="ring", provider=("answer", 1.0, 2.0))},
        None,
    ),
    "originate_local_auto_answer_busy": (
        {
            1: lambda sim: (
                phones(carol="ring", provider="busy")(sim),
                races(first_ringing="carol", late_bridge=True)(sim),
            )
        },
        None,
    ),
    # The same calls through Odoo's odoo-originate context, installed by the
    # capture's DialplanExtensionAdd actions: ;2 runs Dial(${ODOO_DEVICES},...)
    # with a pre-dial handler (b()) adding the auto-answer header on each phone,
    # or none (empty ODOO_DIAL_OPTIONS). carol's 180 came first in two of them.
    "originate_ring_auto_answer": (
        {
            1: lambda sim: (
                phones(carol="ring", provider=("answer", 1.0, 2.0))(sim),
                races(first_ringing="carol", early_ringing_phone="carol")(sim),
            )
        },
        None,
    ),
    "originate_ring_auto_answer_busy": (
        {
            1: lambda sim: (
                phones(carol="ring", provider="busy")(sim),
                races(first_ringing="carol")(sim),
            )
        },
        None,
    ),
    "originate_ring_no_header": (
        {1: phones(carol="ring", provider=("answer", 1.0, 2.0))},
        None,
    ),
    # each phone its own header: bob Call-Info, carol Alert-Info
    "originate_ring_two_headers": (
        {
            1: lambda sim: (
                phones(carol="ring", provider=("answer", 1.0, 2.0))(sim),
                races(first_ringing="carol")(sim),
            )
        },
        None,
    ),
    "originate_hangup_ringing": (
        {1: phones(bob="ring")},
        _rewrite("SIP/bob-0000005d", "SIP/bob-"),
    ),
    # erin (PJSIP) calls dave (PJSIP), pjsip.conf as recorded; the Dial's
    # channel ended after erin in the busy call, the callee's bridge thread
    # before erin's Dial returned in the answered one
    "pjsip_call_answered": (
        {
            1: lambda sim: (
                pjsip_conf(sim),
                races(callee_first=True)(sim),
                sim.start_call("pjsip_call_answered"),
            )
        },
        None,
    ),
    "pjsip_call_busy": (
        {
            1: lambda sim: (
                pjsip_conf(sim),
                races(late_leg_hangup=True)(sim),
                sim.start_call("pjsip_call_busy"),
            )
        },
        None,
    ),
    "pjsip_call_noanswer": (
        {1: lambda sim: (pjsip_conf(sim), sim.start_call("pjsip_call_noanswer"))},
        None,
    ),
    # erin calls davebob (PJSIP/dave&SIP/bob): dave's 180 came before bob was
    # called, bob answers; dave's channel ends on its own thread, later; when
    # erin hangs up, her channel is gone before bob's bridge thread notices
    "pjsip_ring_group": (
        {
            1: lambda sim: (
                pjsip_conf(sim),
                races(first_ringing="dave", ringing_during_dial="dave", caller_first=True)(sim),
                sim.start_call("pjsip_ring_group"),
            )
        },
        None,
    ),
    "outbound_trunk": ({1: lambda sim: sim.start_call("outbound_trunk")}, None),
    "recorded_inbound": ({1: lambda sim: sim.start_call("recorded_inbound")}, None),
    # the MixMonitor and StopMixMonitor come from the capture's client, 1 s after the bridge
    # the Park comes from the capture's client, 1 s after the bridge
    "park_caller": (
        {
            1: lambda sim: (
                parked_lot(sim)
                or call_then_pause(
                    sim,
                    "alice_calls_bob",
                    1.0,
                    phones={"bob": ("answer", 1.0)},
                    early_ringing=True,
                    talk_time=7.0,
                    device_event=True,
                )
            )
        },
        _rewrites(("SIP/alice-00000012", "SIP/alice-"), ("SIP/bob-00000013", "SIP/bob-")),
    ),
    "mixmonitor_action": (
        {
            1: lambda sim: call_then_pause(
                sim,
                "alice_calls_bob",
                1.0,
                phones={"bob": ("answer", 1.0)},
                early_ringing=True,
                talk_time=6.0,
            )
        },
        _rewrite("SIP/alice-00000004", "SIP/alice-"),
    ),
}


# What a call tracker reads: these values must be the recorded ones too.
TRACKED = (
    "Channel",
    "DestChannel",
    "ChannelState",
    "Context",
    "Exten",
    "CallerIDNum",
    "ConnectedLineNum",
    "Application",
    "AppData",
    "DialStatus",
    "Cause",
    "Queue",
    "MemberName",
    "Interface",
    "Position",
    "Count",
    "Reason",
    "Result",
    "IsExternal",
    "DestType",
    "Variable",
)
TRACKED_VARIABLES = {"DIALSTATUS", "DIALEDPEERNUMBER", "ABANDONED", "QUEUEPOSITION"}


def compare_values(expected, actual) -> None:
    """The main streams (same shapes, see compare) carry the same tracked values,
    and the same Uniqueid/Linkedid relations (ids mapped one to one)."""

    def main(msgs):
        return [m for m in msgs if m.pairs[0][1] not in ASYNC_EVENTS]

    def norm(value: str) -> str:  # channel numbers differ: SIP/bob-00000026 -> SIP/bob-N
        return re.sub(r"-[0-9a-f]{8}(?=;|$)", "-N", value)

    ids: dict[str, str] = {}
    for i, (e, a) in enumerate(zip(main(expected), main(actual), strict=True)):
        what = f"message #{i} {e.pairs[0][1]}"
        for key in TRACKED:
            assert norm(e.get(key)) == norm(a.get(key)), f"{what}: {key}"
        if e.get("Variable") in TRACKED_VARIABLES:
            assert e.get("Value") == a.get("Value"), f"{what}: {e.get('Variable')}"
        for key, value in e.pairs:
            if key.endswith(("Uniqueid", "Linkedid")):
                assert ids.setdefault(value, a.get(key)) == a.get(key), f"{what}: {key}"


# Values that differ from run to run: times, a session's memory address (even
# reused by the next session), RTP statistics, SIP call ids, and the MD5 digests
# computed from a random challenge (the SIP phone's, the one AMI expected).
# Everything else must be the recorded value, up to normalize() and IdMap.
VOLATILE_KEYS = re.compile(
    r"(StartTime|AnswerTime|EndTime|Duration|BillableSeconds|Seconds|EventTV|SessionTV|"
    r"Uptime|LastReload|SessionID|ReceivedHash|ExpectedResponse)$"
)
# (SIPURI: the calling phone's address, its port the phone's choice)
VOLATILE_VARIABLES = re.compile(
    r"^(SIPCALLID|SIPURI|BRIDGEPVTCALLID|RTPAUDIOQOS.*|ANSWEREDTIME.*|DIALEDTIME.*|RINGTIME.*)$"
)
# Ids Asterisk generates: Uniqueids (<epoch>.<n>), bridge UUIDs, and (whole
# values) the random challenges of chan_sip and of AMI's Challenge action; each
# recorded one stands for one simulated one.
GENERATED = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b\d{10}\.\d+\b"
)
GENERATED_KEYS = {"Challenge", "ReceivedChallenge"}


OTHER_PARTY = re.compile(
    r"^(Dest|LocalOne|LocalTwo)(?!Channel$|Uniqueid$|Linkedid$)"
    r"(ChannelState|ChannelStateDesc|CallerIDNum|CallerIDName|ConnectedLineNum|"
    r"ConnectedLineName|Exten|Context|Priority)$"
)


def normalize(name: str, value: str) -> str:
    """What depends on the Asterisk's past or on the network, not on the call:
    channel numbers, the ports of the AMI connections (the client's, the
    listener's) and of the SIP phones (sipp's: ``name`` is the key, or the
    variable of a VarSet's Value), a channel's age in ``core show channels
    concise``."""
    value = re.sub(r"-[0-9a-f]{8}(?=;|!|$)", "-N", value)  # SIP/bob-00000036 -> SIP/bob-N
    if name in ("RemoteAddress", "SIPURI") or "/TCP/" in value:
        value = re.sub(r"^(IPV[46]/(?:TCP|UDP)/[^/]+/|sip:[^@]+@[^:]+:)\d+$", r"\1<port>", value)
    fields = value.split("!")
    if name == "Output" and len(fields) == 14:
        fields[11] = "<seconds>"
    return "!".join(fields)


class IdMap:
    """The one-to-one correspondence between the generated ids of two runs."""

    WHOLE = re.compile(r"^.+$")

    def __init__(self):
        self.recorded: dict[str, str] = {}  # simulated -> recorded
        self.simulated: dict[str, str] = {}  # recorded -> simulated

    def translate(self, recorded: str, simulated: str, whole: bool) -> str:
        """``simulated`` with its ids (or itself, ``whole``) replaced by the
        recorded ones they stand for, bound on first sight."""
        pattern = self.WHOLE if whole else GENERATED
        for rec, sim in zip(pattern.findall(recorded), pattern.findall(simulated), strict=False):
            if self.simulated.setdefault(rec, sim) == sim:
                self.recorded.setdefault(sim, rec)
        return pattern.sub(lambda m: self.recorded.get(m.group(), m.group()), simulated)


def compare_every_value(
    expected, actual, split_streams: bool = True, other_party: bool = True
) -> None:
    """Both streams carry the recorded values (all of a repeated key) up to
    ``normalize``, except the volatile ones; a generated id (GENERATED,
    GENERATED_KEYS) may differ but stands for the same thing throughout, while
    an assigned one (an Originate's ChannelId) must be the same."""
    ids = IdMap()
    pairs = (
        zip(split(expected), split(actual), strict=True) if split_streams else [(expected, actual)]
    )
    for exp, act in pairs:
        for i, (e, a) in enumerate(zip(exp, act, strict=True)):
            volatile_value = VOLATILE_VARIABLES.match(e.get("Variable")) is not None
            for key in dict.fromkeys(k for k, _ in e.pairs):
                if VOLATILE_KEYS.search(key) or (key == "Value" and volatile_value):
                    continue
                if not other_party and OTHER_PARTY.match(key):
                    continue
                what = f"message #{i} {e.pairs[0][1]} {e.get('Channel') or e.get('DestChannel')}"
                name = e.get("Variable") if key == "Value" else key
                recorded = [normalize(name, v) for v in e.getall(key)]
                simulated = [normalize(name, v) for v in a.getall(key)]
                if len(simulated) == len(recorded):
                    whole = key in GENERATED_KEYS
                    simulated = [
                        ids.translate(r, v, whole) for r, v in zip(recorded, simulated, strict=True)
                    ]
                assert recorded == simulated, f"{what}: {key}"


# Captures whose channels' events interleave differently in every real run (ten
# recordings of originate_local_inherited_header, ten orders): each channel's own
# events are compared in order, the interleaving between channels is not (nor
# that of the device states among the other asynchronous events).
ORDER_VARIES = {
    "originate_local_inherited_header",
    # the same call dialling out: each recording has an order of its own
    "originate_local_dial_out",
    "originate_local_dial_busy",
    "originate_local_auto_answer",
    "originate_local_auto_answer_busy",
    "originate_ring_auto_answer",
    "originate_ring_auto_answer_busy",
    "originate_ring_no_header",
    "originate_ring_two_headers",
    # the end of a bridged call: the caller's thread and the callee's race (six
    # recordings of each, as many orders; tests/captures/README.md)
    "outbound_trunk",
    "recorded_inbound",
    "mixmonitor_action",
}
CHANNEL_KEYS = ("Channel", "DestChannel", "LocalOneChannel", "LocalTwoChannel")


def channel_streams(msgs) -> dict[str, list]:
    """The main stream per channel: an event goes to every channel it names
    (a Dial* event to the caller's and the callee's), a bridge event to its
    bridge too; action responses and OriginateResponse (published by another
    thread) to a stream of their own; the asynchronous events to one sorted
    by what they are about."""
    main, side = split(msgs)
    bridges: dict[str, str] = {}
    streams: dict[str, list] = {}
    for m in main:
        keys = []
        if m.pairs[0][0] == "Event" and m.pairs[0][1] != "OriginateResponse":
            keys = [
                re.sub(r"-[0-9a-f]{8}(?=;|$)", "-N", m.get(k)) for k in CHANNEL_KEYS if m.get(k)
            ]
            if m.get("BridgeUniqueid"):
                keys.append(bridges.setdefault(m.get("BridgeUniqueid"), f"bridge{len(bridges)}"))
        for key in keys or ["(none)"]:
            streams.setdefault(key, []).append(m)
    # Sorted, this stream loses what came between two identical states of a
    # device, which decided whether split() kept the second one: count it once.
    streams["(async)"] = sorted(
        device_changes(side),
        key=lambda m: (m.pairs[0][1], m.get("Device"), m.get("Channel"), m.get("State")),
    )
    return streams


def compare_per_channel(expected, actual) -> None:
    """Same streams per channel, same shapes in each; the values as in
    compare_every_value except the snapshot of the *other* party of a Dial*
    or LocalBridge event, taken whenever that party's thread got there."""
    exp, act = channel_streams(expected), channel_streams(actual)
    assert sorted(exp) == sorted(act)
    for key in exp:
        assert [shape(m) for m in exp[key]] == [shape(m) for m in act[key]], key
        compare_every_value(exp[key], act[key], split_streams=False, other_party=False)


AUTO_ANSWER_HEADER = re.compile(r"^(Call-Info|Alert-Info|Answer-Mode|P-Auto-Answer):.*$", re.M)


def headers_received(name: str) -> dict[str, set[str]]:
    """Per phone of a capture (its ``NAME.ROLE.sip.log``, ROLE the peer's
    name): the auto-answer headers of the INVITEs it received."""
    got = {}
    for log in OWN_CAPTURES.glob(f"{name}.*.sip.log"):
        role = log.name[len(name) + 1 : -len(".sip.log")]
        messages = re.split(r"^-{20,}.*$", log.read_text(errors="replace"), flags=re.M)
        invites = [m for m in messages if re.search(r"received.*\n\s*INVITE ", m)]
        got[role] = {h.group().strip() for m in invites for h in AUTO_ANSWER_HEADER.finditer(m)}
    return got


def headers_sent(invites: list[tuple[str, list[str]]]) -> dict[str, set[str]]:
    """The same from the simulator's record of its INVITEs (pbx.invite)."""
    got: dict[str, set[str]] = {}
    for device, headers in invites:
        role = device.split("/", 1)[1]
        got.setdefault(role, set()).update(h for h in headers if AUTO_ANSWER_HEADER.match(h))
    return got


def check_plan(name: str, plans: dict) -> None:
    hooks, rewrite = plans[name]

    async def scenario(sim):
        client = await drive(sim, name, hooks, rewrite)
        assert client.banner == b"Asterisk Call Manager/9.0.0\r\n"
        return client.messages, sim.invites

    got, invites = run(scenario, shared_day=plans is PLANS)
    if plans is OWN_PLANS:
        # each phone got the auto-answer headers its sipp log shows, and no other
        sent = headers_sent(invites)
        for role, headers in headers_received(name).items():
            assert sent.get(role, set()) == headers, role
    if name in ORDER_VARIES:
        compare_per_channel(recorded(name), got)
        return
    compare(recorded(name), got)
    if plans is OWN_PLANS:
        compare_values(recorded(name), got)
    if plans is PLANS or name.startswith(("originate_", "pjsip_")):
        compare_every_value(recorded(name), got)


@shared
@pytest.mark.parametrize("name", sorted(PLANS))
def test_capture_conformance(name):
    check_plan(name, PLANS)


@pytest.mark.parametrize("name", sorted(OWN_PLANS))
def test_own_capture_conformance(name):
    check_plan(name, OWN_PLANS)


# Recorded for the call tracking only (replayed into Odoo by asterisk_calls'
# tests); the simulator has no scenario for them.
NOT_SIMULATED = {
    "inbound_followme_voicemail": "a follow-me through a Local channel answering itself",
    "park_timeout": "the parking timeout calling the parker back (replayed into Odoo)",
    "park_retrieve": "a parked call taken from its space (replayed into Odoo)",
    "pickup_ringing": "a call pickup (Pickup()) from another phone (replayed into Odoo)",
}


def test_own_captures_all_checked():
    """Every capture recorded in tests/captures has a plan above, or says why not."""
    names = {p.name.removesuffix(".raw") for p in OWN_CAPTURES.glob("*.raw")}
    assert names == set(OWN_PLANS) | set(NOT_SIMULATED)
    assert not set(OWN_PLANS) & set(NOT_SIMULATED)


def test_dialplan_extension_add_and_remove():
    """pbx_config.c's DialplanExtensionAdd / DialplanExtensionRemove: their
    replies and errors, what ``dialplan show`` lists, a ``dialplan reload``
    emptying a context they created, and the ``system`` write class both need
    (the Odoo context comes from capture originate_ring_auto_answer)."""
    ring = {"Context": "odoo-originate", "Extension": "ring", "Application": "NoOp"}

    def action(aid: str, **headers) -> bytes:
        lines = [f"ActionID: {aid}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def add(aid: str, **headers) -> bytes:
        return action(aid, Action="DialplanExtensionAdd", **headers)

    def remove(aid: str, **headers) -> bytes:
        return action(aid, Action="DialplanExtensionRemove", **headers)

    def login(user: str, secret: str) -> bytes:
        return action("login", Action="Login", Username=user, Secret=secret, Events="off")

    async def scenario(sim):
        sim.add_user("dialer", "pw", read="all", write="call,originate")
        replies = {}

        async def session(blocks: list[bytes]) -> None:
            client = Client()
            await client.connect(sim.port)
            for block in blocks:
                await client.send(block)
                aid = action_id(block)

                def answered(msgs, aid=aid) -> int:
                    return sum(m.get("ActionID") == aid for m in msgs)

                await client.wait_count(1, count=answered)
                replies[aid] = next(m for m in client.messages if m.get("ActionID") == aid)

        odoo = sent_blocks("originate_ring_auto_answer")[1:10]  # its nine DialplanExtensionAdd
        await session(
            [
                login("odoo", "odoo-secret"),
                *odoo,
                add("again", **ring, Priority="1"),
                add("replace", **ring, Priority="1", Replace="yes"),
                add("hint", **{**ring, "Priority": "hint", "Application": "SIP/${EXTEN}"}),
                add("noapp", Context="odoo-originate", Extension="ring", Priority="2"),
                add("badprio", **ring, Priority="first"),
                add("negative", **ring, Priority="-1"),
                action("show", Action="Command", Command="dialplan show odoo-originate"),
            ]
        )
        shown = sim._cli("dialplan show odoo-originate")
        await session(
            [
                login("odoo", "odoo-secret"),
                remove("noexten", Context="odoo-originate"),
                remove("zero", Context="odoo-originate", Extension="aa", Priority="0"),
                remove("prio", Context="odoo-originate", Extension="aa", Priority="8"),
                remove("prio2", Context="odoo-originate", Extension="aa", Priority="8"),
                remove("whole", Context="odoo-originate", Extension="ring"),
                remove("nocontext", Context="nowhere", Extension="ring"),
                action("reload", Action="Command", Command="dialplan reload"),
                action("show2", Action="Command", Command="dialplan show odoo-originate"),
            ]
        )
        await session(
            [login("dialer", "pw"), add("denied", **ring, Priority="1"), remove("denied2", **ring)]
        )
        return replies, shown

    replies, shown = run(scenario)

    def reply(aid: str) -> tuple[str, str]:
        return replies[aid].get("Response"), replies[aid].get("Message")

    for n in range(2, 11):
        assert reply(f"originate_ring_auto_answer-{n}") == ("Success", "Added requested extension")
    assert reply("again") == ("Error", "That extension and priority already exist at that context")
    assert reply("replace") == reply("hint") == ("Success", "Added requested extension")
    assert reply("noapp") == (
        "Error",
        "Context, Extension, Priority, and Application must be defined for DialplanExtensionAdd.",
    )
    assert reply("badprio") == reply("negative") == ("Error", "The priority specified was invalid.")
    # pbx.c show_dialplan_helper(): "  %-17s %-45s [%s]", the registrar for
    # what has no file; the extensions sorted, a hint before priority 1
    assert shown == (
        True,
        [
            "[ Context 'odoo-originate' created by 'pbx_config' ]",
            "  'aa' =>           1. Set(ODOO_DEVICE_NO=${FIELDNUM(ARG1,&,${CHANNEL:0:-9})})"
            " [pbx_config]",
            '                    2. GotoIf($["${ODOO_DEVICE_NO}" = "0"]?8)     [pbx_config]',
            '                    3. GotoIf($["${CUT(ARG2,&,${ODOO_DEVICE_NO})}" = ""]?8)'
            " [pbx_config]",
            '                    4. GotoIf($["${CHANNEL(channeltype)}" = "PJSIP"]?7) [pbx_config]',
            "                    5. SIPAddHeader(${CUT(ARG2,&,${ODOO_DEVICE_NO})}:"
            " ${CUT(ARG3,&,${ODOO_DEVICE_NO})}) [pbx_config]",
            "                    6. Return()                                   [pbx_config]",
            "                    7. Set(PJSIP_HEADER(add,${CUT(ARG2,&,${ODOO_DEVICE_NO})})="
            "${CUT(ARG3,&,${ODOO_DEVICE_NO})}) [pbx_config]",
            "                    8. Return()                                   [pbx_config]",
            "  'ring' =>         hint: SIP/ring                                [pbx_config]",
            "                    1. NoOp()                                     [pbx_config]",
            "",
            "-= 2 extensions (10 priorities) in 1 context. =-",
        ],
    )
    assert replies["show"].getall("Output") == [line.lstrip(" ") for line in shown[1]]
    assert reply("noexten") == (
        "Error",
        "Context and Extension must be provided for DialplanExtensionRemove",
    )
    assert reply("zero") == ("Error", "The priority specified was invalid.")
    assert reply("prio") == ("Success", "Removed the requested priority from the extension")
    assert reply("prio2") == reply("nocontext") == ("Error", "Failed to remove requested extension")
    assert reply("whole") == ("Success", "Removed the requested extension")
    # the context stays (the actions asked for it more than once), empty
    assert replies["reload"].getall("Output") == ["Dialplan reloaded."]
    assert replies["show2"].getall("Output") == [
        "[ Context 'odoo-originate' created by 'pbx_config' ]",
        "",
        "-= 0 extensions (0 priorities) in 1 context. =-",
    ]
    # write = call,originate: not the system class both actions need
    assert reply("denied") == reply("denied2") == ("Error", "Permission denied")


@shared
def test_capture_conformance_failed_logins_watcher_and_attackers():
    """Capture e: a logged-in watcher sees the security events of five failed logins."""
    attackers = [f"e_failed_ami_logins_attacker_conn{i}" for i in range(1, 6)]

    async def attack(sim):
        for name in attackers:
            client = await drive(sim, name)
            compare(recorded(name), client.messages)
            compare_every_value(recorded(name), client.messages)

    async def scenario(sim):
        return (await drive(sim, "e_failed_ami_logins_watcher", {1: attack})).messages

    got = run(scenario)
    compare(recorded("e_failed_ami_logins_watcher"), got)
    compare_every_value(recorded("e_failed_ami_logins_watcher"), got)


@shared
def test_capture_conformance_burst_50_originates():
    """Capture j: 50 back-to-back async Originates. Real Asterisk interleaves the
    calls' events nondeterministically, so compare per-event counts and keys."""
    name = "j_burst_50_originates"
    summary = json.loads(capture(name, "summary.json").read_text())
    expected = recorded(name)

    async def scenario(sim):
        client = Client()
        await client.connect(sim.port)
        blocks = sent_blocks(name)
        await client.send(blocks[0])
        await client.wait_count(3)
        await client.send(b"".join(blocks[1:-1]))
        await client.wait_count(len(expected) - 1, timeout=20)
        await client.send(blocks[-1])
        await asyncio.wait_for(client.closed.wait(), 10)
        return client.messages

    got = run(scenario)
    counts: dict[str, int] = {}
    for m in got:
        if m.pairs[0][0] == "Event":
            counts[m.pairs[0][1]] = counts.get(m.pairs[0][1], 0) + 1
    assert counts == summary["event_counts"]
    assert [m.pairs[0] for m in got if m.pairs[0][0] == "Response"] == [
        m.pairs[0] for m in expected if m.pairs[0][0] == "Response"
    ]
    expected_shapes = {shape(m) for m in expected}
    unexpected = [describe(m) for m in got if shape(m) not in expected_shapes]
    assert not unexpected, unexpected[:3]


def test_dialplan_substitution():
    """pbx_variables.c and the functions Odoo's pre-dial handler calls, as
    the real Asterisk 20 showed them in ``Newexten AppData`` (capture
    originate_ring_two_headers): nested names, ``${VAR:offset:length}``
    (pbx_variables.c ``substring``), FIELDNUM without case, CUT's fields."""
    from tests.ami_simulator.channels import Channel
    from tests.ami_simulator.scenarios import substitute

    chan = Channel("PJSIP/carol-desk-0000002a", "1.1", "1.1", "PJSIP", "PJSIP/carol-desk", "d", "s")
    chan.variables.update(
        {"ARG1": "SIP/bob&pjsip/CAROL-desk", "ARG2": "Call-Info&", "N": "2", "X2": "two"}
    )
    cases = {
        "${CHANNEL:0:-9}": "PJSIP/carol-desk",
        "${CHANNEL:-8}": "0000002a",
        "${CHANNEL:6:5}": "carol",
        "${CHANNEL:99}": "",
        "${CHANNEL:0:-99}": "",
        "${FIELDNUM(ARG1,&,${CHANNEL:0:-9})}": "2",
        "${FIELDNUM(ARG1,&,SIP/carol)}": "0",
        "${FIELDNUM(NOPE,&,x)}": "0",
        "${CUT(ARG2,&,1)}": "Call-Info",
        "${CUT(ARG2,&,${N})}": "",
        "${CUT(ARG2,&,0)}": "",
        "${X${N}}": "two",
        '$["${CUT(ARG2,&,${N})}" = ""]?8': "1?8",
        "${CHANNEL(channeltype)}/${UNKNOWNFUNC(a)}": "PJSIP/",
        "${unclosed": "${unclosed",
    }
    assert {text: substitute(chan, text) for text in cases} == cases
