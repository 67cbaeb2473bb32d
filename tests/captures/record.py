"""Record one AMI session around a real call on a real Asterisk (stdlib + asyncio only).

Usage (from the repository root, Asterisk running with the config described in
``tests/captures/README.md``, ``sipp`` installed)::

    python tests/captures/record.py NAME [NAME...]      # or: all
    python tests/captures/record.py --list

For each scenario it logs in to the AMI (``Events: on``), starts the SIP
phones (sipp, scenarios in ``tests/captures/sipp/``) and the AMI actions the
scenario needs (the ``originate_*`` ones: the Originate of Odoo's
click-to-dial), reads until every channel of the call has hung up and no event
came for ``--quiet`` seconds (so the last ``Cdr`` events are in; an Originate
that creates no channel: its ``OriginateResponse``), then sends ``Logoff`` and
reads until Asterisk closes the connection.  It writes, next to
this file (or in ``--out``):

* ``NAME.raw``          the exact bytes received (banner ... ``Goodbye``);
* ``NAME.sent``         the exact bytes sent;
* ``NAME.summary.json`` message counts per event name;
* ``NAME.timing.txt``   when each message arrived (seconds after the login reply);
* ``NAME.ROLE.sip.log`` the SIP trace of each sipp (``-trace_msg``).

See README.md next to this file for the Asterisk configuration it expects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The phones' channel driver: SIP (chan_sip, the captures' Asterisk 20) or PJSIP
# (``--tech PJSIP``: the same phones as PJSIP endpoints, on Asterisk 21+).
TECH = "SIP"


def dev(name: str) -> str:
    """The device of phone ``name`` with the driver recorded."""
    return f"{TECH}/{name}"


SIPP_DIR = HERE / "sipp"
ASTERISK = "127.0.0.1"


def parse_block(block: bytes) -> list[tuple[str, str]]:
    pairs = []
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


class Message:
    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    @property
    def kind(self) -> tuple[str, str]:
        return self.pairs[0] if self.pairs else ("", "")

    def get(self, key: str, default: str = "") -> str:
        key = key.lower()
        return next((v for k, v in self.pairs if k.lower() == key), default)

    def is_event(self, name: str) -> bool:
        return self.kind == ("Event", name)


class Recorder:
    """One AMI session whose every byte in and out is kept."""

    def __init__(self, name: str, host: str, port: int, user: str, secret: str):
        self.name = name
        self.host, self.port = host, port
        self.user, self.secret = user, secret
        self.raw = bytearray()
        self.sent = bytearray()
        self.messages: list[Message] = []
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self.live: set[str] = set()
        self.seen_channels: list[str] = []
        self.last_event_at = 0.0
        self.originate_responses = 0  # a failed Originate may create no channel at all
        self.arrivals: list[float] = []  # loop time each message arrived
        self._n = 0

    # -- connection ---------------------------------------------------------
    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.task = asyncio.create_task(self._read())
        await self.action("Login", Username=self.user, Secret=self.secret, Events="on")

    async def _read(self) -> None:
        buf = b""
        banner = True
        loop = asyncio.get_running_loop()
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                break
            self.raw += chunk
            buf += chunk
            if banner and b"\r\n" in buf:
                buf = buf.split(b"\r\n", 1)[1]
                banner = False
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                msg = Message(parse_block(block))
                self.messages.append(msg)
                self.last_event_at = loop.time()
                self.arrivals.append(self.last_event_at)
                self._track(msg)
            self.changed.set()
        self.closed.set()
        self.changed.set()

    def _track(self, msg: Message) -> None:
        if msg.is_event("Newchannel"):
            self.live.add(msg.get("Channel"))
            self.seen_channels.append(msg.get("Channel"))
        elif msg.is_event("Hangup"):
            self.live.discard(msg.get("Channel"))
        elif msg.is_event("OriginateResponse"):
            self.originate_responses += 1

    async def send(self, data: bytes) -> None:
        self.sent += data
        self.writer.write(data)
        await self.writer.drain()

    async def action(self, action: str, wait: bool = True, **headers) -> Message | None:
        """Send an action (ActionID ``NAME-n``; a list value repeats its
        header); return its response."""
        self._n += 1
        aid = f"{self.name}-{self._n}"
        lines = [f"Action: {action}", f"ActionID: {aid}"]
        for k, v in headers.items():
            lines += [f"{k}: {x}" for x in (v if isinstance(v, list) else [v])]
        start = len(self.messages)
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        if not wait:
            return None
        return await self.wait_for(
            lambda m: m.kind[0] == "Response" and m.get("ActionID") == aid, start=start
        )

    async def wait_for(self, pred, start: int = 0, timeout: float = 60.0) -> Message:
        """The first message from index ``start`` on that matches ``pred``."""

        async def scan():
            i = start
            while True:
                while i < len(self.messages):
                    if pred(self.messages[i]):
                        return self.messages[i]
                    i += 1
                if self.closed.is_set():
                    raise ConnectionError("AMI connection closed")
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_call_over(self, quiet: float, timeout: float = 180.0) -> None:
        """Every channel seen has hung up and nothing came for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            idle = loop.time() - self.last_event_at
            started = self.seen_channels or self.originate_responses
            if started and not self.live and idle >= quiet:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"call not over; live channels: {sorted(self.live)}")

    async def logoff(self) -> None:
        await self.action("Logoff", wait=False)
        await asyncio.wait_for(self.closed.wait(), 10)

    # -- results ------------------------------------------------------------
    def save(self, out: Path, note: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.name}.raw").write_bytes(bytes(self.raw))
        (out / f"{self.name}.sent").write_bytes(bytes(self.sent))
        counts: dict[str, int] = {}
        for m in self.messages:
            if m.kind[0] == "Event":
                counts[m.kind[1]] = counts.get(m.kind[1], 0) + 1
        summary = {
            "name": self.name,
            "note": note,
            "bytes": len(self.raw),
            "messages": len(self.messages),
            "responses": sum(m.kind[0] == "Response" for m in self.messages),
            "events": sum(counts.values()),
            "event_counts": counts,
        }
        (out / f"{self.name}.summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        # When each message arrived (seconds after the login response): the
        # delays a simulator scenario has to reproduce.
        t0 = self.arrivals[0] if self.arrivals else 0.0
        lines = []
        for m, t in zip(self.messages, self.arrivals, strict=True):
            what = m.get("Channel") or m.get("DestChannel") or m.get("Device") or m.get("Queue")
            lines.append(f"{t - t0:8.3f} {m.kind[0]}: {m.kind[1]} {what}".rstrip())
        (out / f"{self.name}.timing.txt").write_text("\n".join(lines) + "\n")


class Sipp:
    """A sipp process; its message trace goes to ``NAME.ROLE.sip.log``."""

    def __init__(self, rec: Recorder, out: Path, role: str, args: list[str]):
        self.role = role
        self.log = out / f"{rec.name}.{role}.sip.log"
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Sipp:
        self.log.unlink(missing_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="sipp-")
        self.proc = await asyncio.create_subprocess_exec(
            "sipp",
            *self.args,
            "-m",
            "1",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.log),
            "-trace_err",
            "-error_file",
            os.path.join(self.tmp, "errors.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=SIPP_DIR,  # rtp_stream files are relative to the working directory
        )
        return self

    async def wait(self, timeout: float = 120.0) -> int:
        assert self.proc is not None
        try:
            _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            raise
        if self.proc.returncode:
            errors = Path(self.tmp, "errors.log")
            text = errors.read_text(errors="replace") if errors.exists() else ""
            print(f"sipp {self.role} rc={self.proc.returncode}: {err.decode()}{text}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.proc.returncode


def uac_alice(service: str, mode: str, ms: int = 0) -> list[str]:
    """alice (digest auth) from 127.0.0.1:5063 calls ``service``; ``mode`` is one of
    bye (hangs up ``ms`` after the answer), bye_rtp (the same, sending RTP meanwhile),
    wait (for Asterisk's BYE), cancel
    (``ms`` after the 180), reject (expects a 4xx-6xx)."""
    return _uac("alice", 5060, 5063, 16000, service, mode, ms)


def _uac(phone, asterisk_port, port, media, service, mode, ms):
    """sipp calling ``service`` with ``sipp/uac_{phone}_{mode}.xml``."""
    return [
        f"{ASTERISK}:{asterisk_port}",
        "-sf",
        str(SIPP_DIR / f"uac_{phone}_{mode}.xml"),
        "-s",
        service,
        "-d",
        str(ms),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media),
    ]


def uas(port: int, mode: str, ms: int = 0, media: int = 17000) -> list[str]:
    """A phone Asterisk calls (bob 5070, carol 5090); ``mode``: busy (486), ring
    (180, never answers), answer (180, 200 OK ``ms`` later, waits for BYE),
    answer_bye (the same, then sends the BYE itself 2 s after the answer)."""
    return [
        "-sf",
        str(SIPP_DIR / f"uas_{mode}.xml"),
        "-d",
        str(ms),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media),
    ]


def uac_erin(service: str, mode: str, ms: int = 0) -> list[str]:
    """erin, a PJSIP endpoint (digest auth, transport 127.0.0.1:5062), calls
    ``service`` from 127.0.0.1:5064; ``mode``: bye or reject (as uac_alice)."""
    return _uac("erin", 5062, 5064, 16200, service, mode, ms)


def uac_trunk(did: str, ms: int) -> list[str]:
    """The provider trunk (127.0.0.1:5080) sends an outside call to ``did``."""
    return [
        f"{ASTERISK}:5060",
        "-sf",
        str(SIPP_DIR / "uac_trunk.xml"),
        "-s",
        did,
        "-d",
        str(ms),
        "-i",
        "127.0.0.1",
        "-p",
        "5080",
        "-mp",
        "18000",
    ]


# --- scenarios ----------------------------------------------------------------
# Each one: (note, coroutine(rec, out) -> list of sipp processes to wait for).


async def run_phones(rec: Recorder, out: Path, uas_args: dict, uac_role: str, uac_args) -> list:
    phones = [await Sipp(rec, out, role, args).start() for role, args in uas_args.items()]
    await asyncio.sleep(0.5)  # the UAS sockets are bound
    phones.append(await Sipp(rec, out, uac_role, uac_args).start())
    return phones


async def sc_queue_answered(rec, out):
    return await run_phones(rec, out, {}, "alice", uac_alice("600", "wait"))


async def sc_queue_abandoned(rec, out):
    return await run_phones(rec, out, {}, "alice", uac_alice("601", "bye", 4000))


async def sc_sip_busy(rec, out):
    return await run_phones(
        rec, out, {"bob": uas(5070, "busy")}, "alice", uac_alice("bob", "reject")
    )


async def sc_sip_noanswer(rec, out):
    return await run_phones(
        rec, out, {"bob": uas(5070, "ring")}, "alice", uac_alice("202", "reject")
    )


async def sc_sip_cancel(rec, out):
    return await run_phones(
        rec, out, {"bob": uas(5070, "ring")}, "alice", uac_alice("bob", "cancel", 2000)
    )


async def sc_inbound_ring_group(rec, out):
    return await run_phones(
        rec,
        out,
        {"bob": uas(5070, "answer", 2000), "carol": uas(5090, "ring", media=17100)},
        "provider",
        uac_trunk("0155512345", 4000),
    )


async def sc_inbound_followme_voicemail(rec, out):
    return await run_phones(
        rec, out, {"bob": uas(5070, "ring")}, "provider", uac_trunk("0155512347", 1000)
    )


async def sc_attended_transfer(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec, out, {"bob": uas(5070, "answer", 1000)}, "alice", uac_alice("bob", "bye_rtp", 7000)
    )
    enter = await rec.wait_for(
        lambda m: m.is_event("BridgeEnter") and m.get("Channel").startswith(dev("alice") + "-"),
        start=start,
    )
    await asyncio.sleep(2.0)
    await rec.action("Atxfer", Channel=enter.get("Channel"), Exten="111", Context="demo")
    return phones


async def sc_outbound_trunk(rec, out):
    return await run_phones(
        rec,
        out,
        {"provider": uas(5080, "answer", 1000, media=18000)},
        "alice",
        uac_alice("0612345678", "bye", 4000),
    )


async def sc_recorded_inbound(rec, out):
    return await run_phones(
        rec, out, {"bob": uas(5070, "answer", 1000)}, "provider", uac_trunk("0155512346", 4000)
    )


async def sc_mixmonitor_action(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec, out, {"bob": uas(5070, "answer", 1000)}, "alice", uac_alice("bob", "bye", 6000)
    )
    enter = await rec.wait_for(
        lambda m: m.is_event("BridgeEnter") and m.get("Channel").startswith(dev("alice") + "-"),
        start=start,
    )
    await asyncio.sleep(1.0)
    # what Odoo's Record button sends (asterisk_calls: _start_recording)
    await rec.action(
        "MixMonitor", Channel=enter.get("Channel"), File="odoo-recording-test.wav", Options="b"
    )
    await asyncio.sleep(2.0)
    await rec.action("StopMixMonitor", Channel=enter.get("Channel"))
    return phones


async def sc_pjsip_call_answered(rec, out):
    return await run_phones(
        rec, out, {"dave": uas(5072, "answer", 1000, media=17200)}, "erin",
        uac_erin("dave", "bye", 3000),
    )  # fmt: skip


async def sc_pjsip_call_busy(rec, out):
    return await run_phones(
        rec, out, {"dave": uas(5072, "busy", media=17200)}, "erin", uac_erin("dave", "reject")
    )


async def sc_pjsip_call_noanswer(rec, out):
    return await run_phones(
        rec, out, {"dave": uas(5072, "ring", media=17200)}, "erin", uac_erin("204", "reject")
    )


async def sc_pjsip_ring_group(rec, out):
    return await run_phones(
        rec,
        out,
        {"dave": uas(5072, "ring", media=17200), "bob": uas(5070, "answer", 2000)},
        "erin",
        uac_erin("davebob", "bye", 3000),
    )


async def sc_pickup_ringing(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec,
        out,
        {"bob": uas(5070, "ring"), "carol": uas(5090, "answer", 1000, media=17100)},
        "alice",
        uac_alice("bob", "bye", 4000),
    )
    await rec.wait_for(lambda m: m.is_event("DialState"), start=start)
    await asyncio.sleep(2.0)
    # carol's phone picks up the call ringing on bob's (directed pickup of
    # the extension alice dialled)
    await carol_takes(
        rec, "odoo-4b5c6d7e8f90", '"Pickup" <bob>', Application="Pickup", Data="bob@demo"
    )
    return phones


async def carol_takes(rec, channel_id, callerid, **target):
    """carol's phone takes a call waiting elsewhere: an Originate of her phone
    running ``target`` (Context/Exten/Priority or Application/Data)."""
    await rec.action(
        "Originate",
        Channel=dev("carol"),
        **target,
        CallerID=callerid,
        Timeout="30000",
        Async="true",
        ChannelId=channel_id,
    )


async def park_after_bridge(rec, start, **headers):
    """1 s after alice and bob are bridged, what Odoo's Park button sends when
    bob parks his caller (action_park); ``headers`` add to it."""
    alice = await rec.wait_for(
        lambda m: m.is_event("BridgeEnter") and m.get("Channel").startswith(dev("alice") + "-"),
        start=start,
    )
    bob = await rec.wait_for(
        lambda m: m.is_event("BridgeEnter") and m.get("Channel").startswith(dev("bob") + "-"),
        start=start,
    )
    await asyncio.sleep(1.0)
    await rec.action(
        "Park", Channel=alice.get("Channel"), TimeoutChannel=bob.get("Channel"), **headers
    )


async def sc_park_caller(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec, out, {"bob": uas(5070, "answer", 1000)}, "alice", uac_alice("bob", "bye", 6000)
    )
    await park_after_bridge(rec, start)
    return phones


class Ended:
    """A sipp already waited for: its exit code."""

    def __init__(self, rc):
        self.rc = rc

    async def wait(self):
        return self.rc


async def sc_park_timeout(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec, out, {"bob": uas(5070, "answer", 1000)}, "alice", uac_alice("bob", "bye", 10000)
    )
    await park_after_bridge(rec, start, Timeout="4000")
    # bob's phone hangs up once alice is parked; the same phone takes the
    # call that comes back to it (res_parking's comebacktoorigin).
    bob_rc = await phones[0].wait()
    callback = await Sipp(rec, out, "bob_callback", uas(5070, "answer", 1000)).start()
    return [Ended(bob_rc), phones[1], callback]


async def sc_park_retrieve(rec, out):
    start = len(rec.messages)
    phones = await run_phones(
        rec,
        out,
        {"bob": uas(5070, "answer", 1000), "carol": uas(5090, "answer", 1000, media=17100)},
        "alice",
        uac_alice("bob", "bye", 9000),
    )
    await park_after_bridge(rec, start)
    await rec.wait_for(lambda m: m.is_event("ParkedCall"), start=start)
    await asyncio.sleep(2.0)
    # carol takes the call from its space (what a click-to-dial to 701 sends
    # when the context reaches parkedcalls)
    await carol_takes(
        rec,
        "odoo-9a8b7c6d5e4f",
        '"Parked call" <701>',
        Context="parkedcalls",
        Exten="701",
        Priority="1",
    )
    return phones


# --- Originate (click-to-dial) -----------------------------------------------------
# What Odoo sends: the user's own phone rings first (Channel), shows CallerID,
# then the dialled number runs in the user's context (Context/Exten/Priority).

ORIGINATE_CALLERID = '"Call to Robert" <0612345678>'
AUTO_ANSWER = "SIPADDHEADER01=Call-Info: <sip:127.0.0.1>;answer-after=0"
AUTO_ANSWER_HEADER = ("Call-Info", "<sip:127.0.0.1>;answer-after=0")
ALERT_INFO_HEADER = ("Alert-Info", "<http://127.0.0.1>;info=alert-autoanswer;delay=0")


async def start_uas(rec: Recorder, out: Path, uas_args: dict) -> list:
    phones = [await Sipp(rec, out, role, args).start() for role, args in uas_args.items()]
    if phones:
        await asyncio.sleep(0.5)  # the UAS sockets are bound
    return phones


async def click_to_dial(
    rec: Recorder,
    channel: str,
    exten: str,
    channel_id: str,
    timeout: int = 30000,
    other_channel_id: str | None = None,
    variable: str | list[str] = AUTO_ANSWER,
) -> None:
    """The Originate action of Odoo's click-to-dial (async, ChannelId, auto-answer)."""
    headers = {
        "Channel": channel,
        "Context": "demo",
        "Exten": exten,
        "Priority": "1",
        "CallerID": ORIGINATE_CALLERID,
        "Timeout": str(timeout),
        "Async": "true",
        "ChannelId": channel_id,
    }
    if other_channel_id:
        headers["OtherChannelId"] = other_channel_id
    if variable:
        headers["Variable"] = variable
    await rec.action("Originate", **headers)


async def sc_originate_answered(rec, out):
    phones = await start_uas(rec, out, {"bob": uas(5070, "answer", 1000)})
    await click_to_dial(rec, dev("bob"), "100", "odoo-3f2a9c1e7b4d")
    return phones


async def sc_originate_dial_out(rec, out):
    phones = await start_uas(
        rec,
        out,
        {"bob": uas(5070, "answer", 1000), "carol": uas(5090, "answer_bye", 1000, media=17100)},
    )
    await click_to_dial(rec, dev("bob"), "carol", "odoo-5e6f7a8b9c0d")
    return phones


async def sc_originate_phone_busy(rec, out):
    phones = await start_uas(rec, out, {"bob": uas(5070, "busy")})
    await click_to_dial(rec, dev("bob"), "100", "odoo-1c2d3e4f5a6b")
    return phones


async def sc_originate_phone_noanswer(rec, out):
    phones = await start_uas(rec, out, {"bob": uas(5070, "ring")})
    await click_to_dial(rec, dev("bob"), "100", "odoo-7d8e9f0a1b2c", timeout=5000)
    return phones


async def sc_originate_unreachable(rec, out):
    await click_to_dial(rec, dev("alice"), "100", "odoo-9a8b7c6d5e4f")
    return []


async def sc_originate_local_two_devices(rec, out):
    phones = await start_uas(
        rec, out, {"bob": uas(5070, "answer", 1000), "carol": uas(5090, "ring", media=17100)}
    )
    await click_to_dial(
        rec,
        "Local/bobcarol@demo",
        "100",
        "odoo-2b3c4d5e6f7a",
        other_channel_id="odoo-2b3c4d5e6f7a-2",
    )
    return phones


async def two_phones_and_provider(rec, out, provider):
    """bob answers after 1 s, carol rings (bob's two phones); the provider as given."""
    return await start_uas(
        rec,
        out,
        {
            "bob": uas(5070, "answer", 1000),
            "carol": uas(5090, "ring", media=17100),
            "provider": uas(5080, *provider, media=17200),
        },
    )


async def originate_local_dial(rec, out, provider, channel_id):
    """Odoo's click-to-dial on two phones (no auto-answer): ;1 dials the number."""
    phones = await two_phones_and_provider(rec, out, provider)
    await click_to_dial(
        rec,
        "Local/bobcarol@demo",
        "0612345678",
        channel_id,
        other_channel_id=f"{channel_id}-2",
        variable="",
    )
    return phones


async def sc_originate_local_dial_out(rec, out):
    return await originate_local_dial(rec, out, ("answer_bye", 1000), "odoo-7c8d9e0f1a2b")


async def sc_originate_local_dial_busy(rec, out):
    return await originate_local_dial(rec, out, ("busy",), "odoo-8d9e0f1a2b3c")


async def originate_auto_answer(rec, out, provider, channel_id):
    phones = await two_phones_and_provider(rec, out, provider)
    # "_": inherited one level, by the phones ;2 dials and by the Local
    # channel ;1 dials, which passes it on to nobody.
    await rec.action(
        "Originate",
        Channel="Local/bobcarol@demo",
        Application="Dial",
        Data="Local/0612345678@demo/n",
        CallerID=ORIGINATE_CALLERID,
        Timeout="30000",
        Async="true",
        ChannelId=channel_id,
        OtherChannelId=f"{channel_id}-2",
        Variable="_" + AUTO_ANSWER,
    )
    return phones


async def sc_originate_local_auto_answer(rec, out):
    return await originate_auto_answer(rec, out, ("answer_bye", 1000), "odoo-9e0f1a2b3c4d")


async def sc_originate_local_auto_answer_busy(rec, out):
    return await originate_auto_answer(rec, out, ("busy",), "odoo-0f1a2b3c4d5e")


def odoo_originate():
    """Odoo's own module of the ``odoo-originate`` context (pure Python)."""
    path = HERE.parent.parent / "asterisk_calls" / "tools" / "originate.py"
    spec = importlib.util.spec_from_file_location("odoo_originate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def ring_two_phones(
    rec, out, provider, channel_id, header=AUTO_ANSWER_HEADER, carol_header=AUTO_ANSWER_HEADER
):
    """Odoo's click-to-dial on two phones through its ``odoo-originate``
    context (installed first, as the worker does on connect), each with its
    header: bob answers after 1 s, carol rings; then ;1 dials the number (the
    provider as given)."""
    originate = odoo_originate()
    phones = await two_phones_and_provider(rec, out, provider)
    for action in originate.dialplan_actions():
        await rec.action(action.pop("Action"), **action)
    await click_to_dial(
        rec,
        originate.ring_channel(),
        "0612345678",
        channel_id,
        timeout=35000,
        other_channel_id=f"{channel_id}-2",
        variable=originate.ring_variables([(dev("bob"), header), (dev("carol"), carol_header)], 30),
    )
    return phones


async def sc_originate_ring_auto_answer(rec, out):
    return await ring_two_phones(rec, out, ("answer_bye", 1000), "odoo-5d6e7f8a9b0c")


async def sc_originate_ring_auto_answer_busy(rec, out):
    return await ring_two_phones(rec, out, ("busy",), "odoo-6e7f8a9b0c1d")


async def sc_originate_ring_no_header(rec, out):
    return await ring_two_phones(rec, out, ("answer_bye", 1000), "odoo-7f8a9b0c1d2e", None, None)


async def sc_originate_ring_two_headers(rec, out):
    return await ring_two_phones(
        rec, out, ("answer_bye", 1000), "odoo-8a9b0c1d2e3f", carol_header=ALERT_INFO_HEADER
    )


async def sc_originate_pjsip_auto_answer(rec, out):
    phones = await start_uas(rec, out, {"dave": uas(5072, "answer", 1000, media=17300)})
    # what Odoo's click-to-dial sends for a PJSIP device with auto-answer
    await click_to_dial(
        rec,
        "PJSIP/dave",
        "100",
        "odoo-1a2b3c4d5e6f",
        variable="PJSIP_HEADER(add,Call-Info)=<sip:127.0.0.1>;answer-after=0",
    )
    return phones


async def sc_pjsip_endpoints(rec, out):
    await rec.action("PJSIPShowEndpoints")
    await rec.action("PJSIPShowContacts")
    return


async def sc_originate_local_inherited_header(rec, out):
    phones = await start_uas(
        rec, out, {"bob": uas(5070, "answer", 1000), "carol": uas(5090, "ring", media=17100)}
    )
    # "__": the variable is inherited by the channels ;2 dials, so the phones get the header
    await click_to_dial(
        rec, "Local/bobcarol@demo", "100", "odoo-6a7b8c9d0e1f", variable="__" + AUTO_ANSWER
    )
    return phones


async def sc_originate_hangup_ringing(rec, out):
    phones = await start_uas(rec, out, {"bob": uas(5070, "ring")})
    start = len(rec.messages)
    await click_to_dial(rec, dev("bob"), "100", "odoo-0f1e2d3c4b5a")
    ringing = await rec.wait_for(lambda m: m.is_event("DialState"), start=start)
    await asyncio.sleep(1.0)  # the user gives up while the phone rings
    await rec.action("Hangup", Channel=ringing.get("DestChannel"))
    return phones


SCENARIOS = {
    "queue_answered": (
        "sipp UAC alice -> 600 (Answer, Queue support: ringall Local/agent1@demo/n + "
        "Local/agent2@demo/n); agent1 answers after 1 s, its dialplan hangs up 4 s later",
        sc_queue_answered,
    ),
    "queue_abandoned": (
        "sipp UAC alice -> 601 (Answer, Queue nobody: only Local/agent2@demo/n, timeout 2, "
        "retry 1); alice hangs up (BYE) 4 s after the answer",
        sc_queue_abandoned,
    ),
    "sip_busy": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)); sipp UAS bob answers 486 Busy Here",
        sc_sip_busy,
    ),
    "sip_noanswer": (
        "sipp UAC alice -> 202 (Dial(SIP/bob,5,tT)); sipp UAS bob rings (180) and never "
        "answers; Asterisk CANCELs bob after 5 s",
        sc_sip_noanswer,
    ),
    "sip_cancel": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)); bob rings (180); alice CANCELs 2 s "
        "after the 180",
        sc_sip_cancel,
    ),
    "inbound_ring_group": (
        "sipp UAC provider (127.0.0.1:5080, From +33612345678) -> DID 0155512345 "
        "(from-trunk: Dial(SIP/bob&SIP/carol,20)); bob answers after 2 s of ringing, carol "
        "rings and is cancelled; the outside caller hangs up (BYE) 4 s after the answer",
        sc_inbound_ring_group,
    ),
    "inbound_followme_voicemail": (
        "sipp UAC provider (From +33612345678) -> DID 0155512347 (from-trunk: "
        "Dial(Local/bob@followme,20); followme: Dial(SIP/bob,3), then Answer, Wait(2)); bob "
        "rings and is cancelled after 3 s (NOANSWER), the Local channel answers; the outside "
        "caller hangs up (BYE) 1 s after the answer",
        sc_inbound_followme_voicemail,
    ),
    "attended_transfer": (
        "sipp UAC alice (sending RTP) -> bob (Dial(SIP/bob,20,tT)), bob answers after 1 s; "
        "2 s after the bridge, AMI Atxfer Channel=SIP/alice-... Exten=111 Context=demo (111: "
        "Answer, Wait(6), Hangup); alice hangs up (BYE) 7 s after her answer, which completes "
        "the transfer (bob <-> Local/111@demo;1); 111 hangs up, then bob",
        sc_attended_transfer,
    ),
    "outbound_trunk": (
        "sipp UAC alice -> 0612345678 (demo _0XXXXXXXXX: Dial(SIP/provider/${EXTEN},30,tT)); "
        "sipp UAS provider (127.0.0.1:5080) answers after 1 s of ringing; alice hangs up (BYE) "
        "4 s after the answer",
        sc_outbound_trunk,
    ),
    "recorded_inbound": (
        "sipp UAC provider (From +33612345678) -> DID 0155512346 (from-trunk: "
        "MixMonitor(${UNIQUEID}.wav,b), Dial(SIP/bob,20)); bob answers after 1 s of ringing; "
        "the outside caller hangs up (BYE) 4 s after the answer",
        sc_recorded_inbound,
    ),
    "mixmonitor_action": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)), bob answers after 1 s; 1 s after the "
        "bridge, AMI MixMonitor Channel=SIP/alice-... File=odoo-recording-test.wav Options=b, "
        "2 s later AMI StopMixMonitor; alice hangs up (BYE) 6 s after the answer",
        sc_mixmonitor_action,
    ),
    "park_caller": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)), bob answers after 1 s; 1 s after the "
        "bridge, AMI Park Channel=SIP/alice-... TimeoutChannel=SIP/bob-... (res_parking.conf: "
        "lot default, 701-720); alice, parked, hangs up (BYE) 6 s after her answer",
        sc_park_caller,
    ),
    "pjsip_call_answered": (
        "sipp UAC erin (PJSIP endpoint, digest auth, 127.0.0.1:5064 -> transport 5062) -> dave "
        "(Dial(PJSIP/dave,20,tT)); sipp UAS dave (static contact 127.0.0.1:5072) answers after "
        "1 s of ringing; erin hangs up (BYE) 3 s after the answer",
        sc_pjsip_call_answered,
    ),
    "pjsip_call_busy": (
        "sipp UAC erin (PJSIP) -> dave (Dial(PJSIP/dave,20,tT)); sipp UAS dave answers 486 Busy",
        sc_pjsip_call_busy,
    ),
    "pjsip_call_noanswer": (
        "sipp UAC erin (PJSIP) -> 204 (Dial(PJSIP/dave,5,tT)); sipp UAS dave rings (180) and "
        "never answers; Asterisk CANCELs dave after 5 s",
        sc_pjsip_call_noanswer,
    ),
    "pjsip_ring_group": (
        "sipp UAC erin (PJSIP) -> davebob (Dial(PJSIP/dave&SIP/bob,20)); dave (PJSIP) rings and "
        "is cancelled, bob (chan_sip) answers after 2 s of ringing; erin hangs up (BYE) 3 s "
        "after the answer",
        sc_pjsip_ring_group,
    ),
    "pickup_ringing": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)); bob rings and never answers; 2 s after "
        "DialState, AMI Originate (async) Channel=SIP/carol Application=Pickup Data=bob@demo "
        "ChannelId odoo-4b5c6d7e8f90; carol answers after 1 s and takes the call ringing on "
        "bob's phone (bob is cancelled); alice hangs up (BYE) 4 s after the pickup",
        sc_pickup_ringing,
    ),
    "park_timeout": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)), bob answers after 1 s; 1 s after the "
        "bridge, AMI Park Channel=SIP/alice-... TimeoutChannel=SIP/bob-... Timeout=4000; bob's "
        "channel hangs up; 4 s later the parking times out and the call comes back to SIP/bob "
        "(comebacktoorigin), which answers after 1 s; alice hangs up (BYE) 10 s after her answer",
        sc_park_timeout,
    ),
    "park_retrieve": (
        "sipp UAC alice -> bob (Dial(SIP/bob,20,tT)), bob answers after 1 s; 1 s after the "
        "bridge, AMI Park Channel=SIP/alice-... TimeoutChannel=SIP/bob-...; 2 s after "
        "ParkedCall, AMI Originate (async) Channel=SIP/carol Context=parkedcalls Exten=701; "
        "carol answers after 1 s and takes alice from space 701; alice hangs up (BYE) 9 s "
        "after her answer",
        sc_park_retrieve,
    ),
    "originate_answered": (
        "AMI Originate (async) Channel=SIP/bob Context=demo Exten=100 Priority=1, CallerID "
        '"Call to Robert" <0612345678>, Timeout 30000, ChannelId odoo-3f2a9c1e7b4d, Variable '
        "SIPADDHEADER01 (Call-Info answer-after=0); sipp UAS bob answers after 1 s of ringing; "
        "100 answers, waits 2 s, plays hello-world, hangs up",
        sc_originate_answered,
    ),
    "originate_dial_out": (
        "AMI Originate (async) Channel=SIP/bob Context=demo Exten=carol (Dial(SIP/carol,20,tT)), "
        "ChannelId odoo-5e6f7a8b9c0d, Variable SIPADDHEADER01; bob answers after 1 s, then carol "
        "rings 1 s, answers, talks 2 s and hangs up (BYE)",
        sc_originate_dial_out,
    ),
    "originate_phone_busy": (
        "AMI Originate (async) Channel=SIP/bob Context=demo Exten=100, ChannelId "
        "odoo-1c2d3e4f5a6b, Variable SIPADDHEADER01; sipp UAS bob answers 486 Busy Here",
        sc_originate_phone_busy,
    ),
    "originate_phone_noanswer": (
        "AMI Originate (async) Channel=SIP/bob Context=demo Exten=100 Timeout=5000, ChannelId "
        "odoo-7d8e9f0a1b2c, Variable SIPADDHEADER01; bob rings (180) and never answers; "
        "Asterisk CANCELs bob after 5 s",
        sc_originate_phone_noanswer,
    ),
    "originate_unreachable": (
        "AMI Originate (async) Channel=SIP/alice (dynamic peer, not registered) Context=demo "
        "Exten=100, ChannelId odoo-9a8b7c6d5e4f, Variable SIPADDHEADER01; no phone",
        sc_originate_unreachable,
    ),
    "originate_local_two_devices": (
        "AMI Originate (async) Channel=Local/bobcarol@demo (Dial(SIP/bob&SIP/carol,20)) "
        "Context=demo Exten=100, ChannelId odoo-2b3c4d5e6f7a, OtherChannelId "
        "odoo-2b3c4d5e6f7a-2, Variable SIPADDHEADER01; bob answers after 1 s, carol rings and "
        "is cancelled; 100 answers, waits 2 s, plays hello-world, hangs up",
        sc_originate_local_two_devices,
    ),
    "originate_local_dial_out": (
        "AMI Originate (async) Channel=Local/bobcarol@demo (the two phones of one user) "
        "Context=demo Exten=0612345678 (Dial(SIP/provider/${EXTEN},30,tT)), ChannelId "
        "odoo-7c8d9e0f1a2b, OtherChannelId odoo-7c8d9e0f1a2b-2, no Variable; bob answers after "
        "1 s, carol rings and is cancelled; the provider rings 1 s, answers, talks 2 s and hangs "
        "up (BYE)",
        sc_originate_local_dial_out,
    ),
    "originate_local_dial_busy": (
        "AMI Originate (async) Channel=Local/bobcarol@demo Context=demo Exten=0612345678, "
        "ChannelId odoo-8d9e0f1a2b3c, OtherChannelId odoo-8d9e0f1a2b3c-2, no Variable; bob "
        "answers after 1 s, carol rings and is cancelled; the provider answers 486 Busy Here",
        sc_originate_local_dial_busy,
    ),
    "originate_local_auto_answer": (
        "AMI Originate (async) Channel=Local/bobcarol@demo Application=Dial "
        "Data=Local/0612345678@demo/n, ChannelId odoo-9e0f1a2b3c4d, OtherChannelId "
        "odoo-9e0f1a2b3c4d-2, Variable _SIPADDHEADER01 (inherited one level); bob answers after "
        "1 s, carol rings and is cancelled; the provider rings 1 s, answers, talks 2 s and hangs "
        "up (BYE)",
        sc_originate_local_auto_answer,
    ),
    "originate_local_auto_answer_busy": (
        "AMI Originate (async) Channel=Local/bobcarol@demo Application=Dial "
        "Data=Local/0612345678@demo/n, ChannelId odoo-0f1a2b3c4d5e, OtherChannelId "
        "odoo-0f1a2b3c4d5e-2, Variable _SIPADDHEADER01; bob answers after 1 s, carol rings and "
        "is cancelled; the provider answers 486 Busy Here",
        sc_originate_local_auto_answer_busy,
    ),
    "originate_ring_auto_answer": (
        "Odoo's odoo-originate context installed (DialplanExtensionAdd x9), then AMI Originate "
        "(async) Channel=Local/ring@odoo-originate (Dial(${ODOO_DEVICES},${ODOO_RING},"
        "${ODOO_DIAL_OPTIONS}): bob and carol with a pre-dial handler adding Call-Info) "
        "Context=demo Exten=0612345678, ChannelId odoo-5d6e7f8a9b0c, OtherChannelId "
        "odoo-5d6e7f8a9b0c-2; bob answers after 1 s, carol rings and is cancelled; the "
        "provider rings 1 s, answers, talks 2 s and hangs up (BYE)",
        sc_originate_ring_auto_answer,
    ),
    "originate_ring_auto_answer_busy": (
        "As originate_ring_auto_answer, ChannelId odoo-6e7f8a9b0c1d; the provider answers "
        "486 Busy Here",
        sc_originate_ring_auto_answer_busy,
    ),
    "originate_ring_no_header": (
        "As originate_ring_auto_answer without a header (empty ODOO_DIAL_OPTIONS), ChannelId "
        "odoo-7f8a9b0c1d2e",
        sc_originate_ring_no_header,
    ),
    "originate_ring_two_headers": (
        "As originate_ring_auto_answer, ChannelId odoo-8a9b0c1d2e3f, each phone with its own "
        "header: bob Call-Info, carol Alert-Info (info=alert-autoanswer)",
        sc_originate_ring_two_headers,
    ),
    "originate_pjsip_auto_answer": (
        "AMI Originate (async) Channel=PJSIP/dave Context=demo Exten=100, ChannelId "
        "odoo-1a2b3c4d5e6f, Variable PJSIP_HEADER(add,Call-Info)=<sip:127.0.0.1>;answer-after=0 "
        "(PJSIP endpoint dave, static contact 127.0.0.1:5072); dave answers after 1 s; 100 "
        "answers, waits 2 s, plays hello-world, hangs up",
        sc_originate_pjsip_auto_answer,
    ),
    "pjsip_endpoints": (
        "AMI PJSIPShowEndpoints and PJSIPShowContacts (asterisk_config_additions_pjsip.diff: "
        "dave with a static contact, erin never registered); no call",
        sc_pjsip_endpoints,
    ),
    "originate_local_inherited_header": (
        "AMI Originate (async) Channel=Local/bobcarol@demo Context=demo Exten=100, ChannelId "
        "odoo-6a7b8c9d0e1f (no OtherChannelId), Variable __SIPADDHEADER01 (inherited); bob "
        "answers after 1 s, carol rings and is cancelled; 100 answers, waits 2 s, plays "
        "hello-world, hangs up",
        sc_originate_local_inherited_header,
    ),
    "originate_hangup_ringing": (
        "AMI Originate (async) Channel=SIP/bob Context=demo Exten=100, ChannelId "
        "odoo-0f1e2d3c4b5a, Variable SIPADDHEADER01; bob rings (180) and never answers; 1 s "
        "after its DialState RINGING, AMI Hangup Channel=SIP/bob-... (Asterisk CANCELs bob)",
        sc_originate_hangup_ringing,
    ),
}


async def record(name: str, args) -> None:
    note, scenario = SCENARIOS[name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(name, args.host, args.port, args.user, args.secret)
    await rec.connect()
    await asyncio.sleep(0.5)
    phones = await scenario(rec, out)
    rcs = [await p.wait() for p in phones or []]
    if phones is not None:  # None: actions only, no call
        with contextlib.suppress(TimeoutError):  # a call without phones (Originate to nowhere)
            await rec.wait_for(
                lambda m: m.is_event("Newchannel") or m.is_event("OriginateResponse"), timeout=40
            )
        if not rec.seen_channels and not rec.originate_responses:
            await rec.logoff()
            raise RuntimeError(f"{name}: no channel was created (sipp rc={rcs})")
        await rec.wait_call_over(args.quiet)
    await rec.logoff()
    with contextlib.suppress(Exception):
        rec.writer.close()
    if TECH != "SIP":
        note += f"; the phones are {TECH} endpoints (SIP/x in this note is {TECH}/x)"
    rec.save(out, note + (f"; sipp rc={','.join(map(str, rcs))}" if rcs else "; no sipp"))
    print(f"{name}: {len(rec.messages)} messages, {len(rec.raw)} bytes, sipp rc={rcs}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="scenario names, or 'all'")
    p.add_argument("--list", action="store_true")
    p.add_argument("--out", default=str(HERE))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038)
    p.add_argument("--user", default="odoo")
    p.add_argument("--secret", default="odoo-secret")
    p.add_argument("--quiet", type=float, default=3.0, help="seconds without events at the end")
    p.add_argument(
        "--tech",
        choices=("SIP", "PJSIP"),
        default="SIP",
        help="the phones' driver (PJSIP: the Asterisk 22 configuration of README.md)",
    )
    args = p.parse_args()
    global TECH
    TECH = args.tech
    if args.list or not args.names:
        for name, (note, _) in SCENARIOS.items():
            print(f"{name}: {note}")
        return 0
    names = list(SCENARIOS) if args.names == ["all"] else args.names
    for name in names:
        if name not in SCENARIOS:
            p.error(f"unknown scenario {name}")
    for name in names:
        asyncio.run(record(name, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
