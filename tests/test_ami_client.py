"""Tests of ``asterisk_agent_worker.ami`` (no Odoo needed).

Two kinds:

* wire-level tests feed the protocol real Asterisk 20 bytes (``ami-captures``)
  through ``data_received``, chopped into reads of any size: replies, EventLists,
  ``Command`` output, UTF-8 split across reads, malformed frames, and the
  per-event cost micro-benchmark;
* end-to-end tests talk TCP to the AMI simulator (``tests/ami_simulator``).

Plain sync tests with ``asyncio.run`` (no pytest-asyncio); every timeout is small.
"""

import asyncio
import os
import pickle
import time

import pytest

from asterisk_agent_worker.ami import (
    AmiAction,
    AmiClient,
    AmiConnectionLost,
    AmiInvalidAction,
    AmiMessage,
    AmiNotConnected,
    AmiProtocol,
    AmiTimeout,
)


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """Overrides pytest-odoo's session fixture of that name: these tests need no database."""
    yield


CAPTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "shared",
    "ami-captures",
)


def capture(name):
    with open(os.path.join(CAPTURES, name), "rb") as f:
        return f.read()


def sent_actions(name):
    """The actions of a ``.sent`` capture, as ordered dicts."""
    out = []
    for block in capture(name).split(b"\r\n\r\n"):
        if block.strip():
            out.append(dict(line.split(": ", 1) for line in block.decode().split("\r\n")))
    return out


class _Transport(asyncio.Transport):
    """Collects what the protocol writes (wire-level tests only)."""

    def __init__(self):
        super().__init__()
        self.written = []
        self.closing = False

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    def abort(self):
        self.closing = True


def wire(wanted=None, **kw):
    """A protocol attached to a (not started) client; must run inside a loop."""
    events = []
    client = AmiClient(
        "127.0.0.1",
        5038,
        "odoo",
        "odoo-secret",
        wanted=wanted,
        on_event=lambda m, t: events.append((m, t)),
        **kw,
    )
    client.loop = asyncio.get_running_loop()
    proto = AmiProtocol(client._intake, client.max_frame_size)
    proto.connection_made(_Transport())
    return client, proto, events


def feed(proto, data, size):
    for i in range(0, len(data), size):
        proto.data_received(data[i : i + size])


# --------------------------------------------------------------------------- wire level


@pytest.mark.parametrize("read_size", [1, 7, 1460, 1 << 20])
def test_capture_replies_eventlists_and_command_output(read_size):
    """The g_ capture (Originate, Command x2, CoreShowChannels, Status, BridgeList,
    Hangup by regex, Logoff) replayed with the capture's ActionIDs pending."""

    async def main():
        client, proto, events = wire()
        actions = [
            proto.request(AmiAction(a, "unused", client.loop))
            for a in sent_actions("g_command_coreshowchannels_active_call.sent")
        ]
        feed(proto, capture("g_command_coreshowchannels_active_call.raw"), read_size)
        assert proto.banner == "Asterisk Call Manager/9.0.0" and proto.version == "9.0.0"
        assert all(a.future.done() for a in actions)
        login, originate, command, concise, channels, status, bridges, hangup, logoff = (
            a.future.result() for a in actions
        )
        assert login.ok and login.message == "Authentication accepted"
        # the panoramisk KeyError('async') case: complete at once, no events
        assert originate.ok and originate.message == "Originate successfully queued"
        assert originate.events == []
        assert (
            command.output[0].startswith("Channel ") and command.output[-1] == "7 calls processed"
        )
        assert len(command.output) == 8 and len(concise.output) == 4
        assert [e.name for e in channels.events] == ["CoreShowChannel"] * 4 + [
            "CoreShowChannelsComplete"
        ]
        assert channels.events[2]["Channel"] == "Local/300@demo-00000004;1"
        # Status items carry their ActionID as the *last* header
        assert [e.name for e in status.events][-1] == "StatusComplete" and len(status.events) == 5
        assert [e.name for e in bridges.events] == ["BridgeListItem", "BridgeListComplete"]
        assert [e.name for e in hangup.events] == ["ChannelHungup", "ChannelsHungupListComplete"]
        assert logoff.ok and logoff["Response"] == "Goodbye"
        # list items go to their action, everything else (OriginateResponse too) to on_event
        names = [m.name for m, _ in events]
        assert len(events) == 97 - 14 and "CoreShowChannel" not in names
        orig = next(m for m, _ in events if m.name == "OriginateResponse")
        assert orig["ActionID"] == originate.action_id and orig["Response"] == "Success"
        assert client.events_received == 97 and client.events_delivered == 83
        assert client.malformed_frames == client.undecodable_frames == client.late_replies == 0
        assert proto.responses == {}

    asyncio.run(main())


def test_reply_to_dict_is_json_ready():
    import json

    async def main():
        client, proto, _ = wire()
        action = proto.request(
            AmiAction(
                {"Action": "Command", "Command": "dialplan show 999@demo"},
                "h_getconfig_updateconfig-10",
                client.loop,
            )
        )
        missing = proto.request(
            AmiAction(
                {"Action": "GetConfig", "Filename": "does_not_exist.conf"},
                "h_getconfig_updateconfig-8",
                client.loop,
            )
        )
        feed(proto, capture("h_getconfig_updateconfig.raw"), 512)
        reply = action.future.result()
        data = json.loads(json.dumps(reply.to_dict()))
        assert data["ok"] is True and data["action"] == "Command"
        assert data["response"]["Output"][2] == ""  # the blank "Output: " line survives
        assert reply.output == data["response"]["Output"] and len(reply.output) == 4
        error = missing.future.result()
        assert not error.ok and error.message == "Config file not found"
        assert client.late_replies == 9  # the capture's other replies: nobody waits for them

    asyncio.run(main())


def test_utf8_split_across_reads_and_bad_bytes():
    name = "Zoë Œuvre 北京 🎉"
    frame = (
        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: SIP/alice-00000001\r\n"
        f"CallerIDNum: 201\r\nCallerIDName: {name}\r\nUniqueid: 1.1\r\n\r\n"
    ).encode()

    async def main():
        for cut in range(1, len(frame)):  # every split point, multi-byte ones included
            client, proto, events = wire()
            proto.data_received(b"Asterisk Call Manager/9.0.0\r\n" + frame[:cut])
            proto.data_received(frame[cut:])
            assert [m["CallerIDName"] for m, _ in events] == [name], cut
        # bytes that are not UTF-8 (a Latin-1 SIP display name): replaced, counted, no crash
        client, proto, events = wire()
        proto.data_received(
            b"Asterisk Call Manager/9.0.0\r\nEvent: Newchannel\r\nCallerIDName: Jos\xe9\r\n\r\n"
        )
        assert events[0][0]["CallerIDName"] == "Jos\ufffd" and client.undecodable_frames == 1

    asyncio.run(main())


def test_malformed_and_oversized_frames_are_counted_not_fatal():
    async def main():
        client, proto, events = wire(max_frame_size=4096)
        proto.data_received(b"Asterisk Call Manager/9.0.0\r\n")
        proto.data_received(b"garbage without headers\r\n\r\n\r\n\r\nEvent: A\r\nX: 1\r\n\r\n")
        big = b"Event: Huge\r\n" + b"Line: " + b"x" * 10_000 + b"\r\n\r\n"
        feed(proto, big + b"Event: B\r\nY: 2\r\n\r\n", 1000)
        assert [m.name for m, _ in events] == ["A", "B"]
        assert client.malformed_frames == 2  # the garbage and the oversized one

    asyncio.run(main())


def test_wanted_fast_path_keeps_list_items_of_pending_actions():
    async def main():
        client, proto, events = wire(wanted=lambda name: name == "Hangup")
        channels = proto.request(
            AmiAction(
                {"Action": "CoreShowChannels"},
                "g_command_coreshowchannels_active_call-5",
                client.loop,
            )
        )
        feed(proto, capture("g_command_coreshowchannels_active_call.raw"), 4096)
        assert {m.name for m, _ in events} == {"Hangup"} and len(events) == 4
        assert len(channels.future.result().events) == 5  # CoreShowChannel is unwanted, but ours
        assert client.events_dropped_unwanted == 97 - 4 - 5

    asyncio.run(main())


def test_action_serialisation_and_secrets():
    async def main():
        loop = asyncio.get_running_loop()
        act = AmiAction(
            {
                "Action": "Originate",
                "Channel": "Local/100@demo",
                "Async": "true",
                "CallerID": '"Evil\r\n\r\nAction: Command" <1>',
                "Variable": ["A=1", "B=2"],
            },
            "x-1",
            loop,
        )
        wire_text = act.encode().decode()
        assert wire_text.startswith("Action: Originate\r\n") and wire_text.endswith("\r\n\r\n")
        assert (
            wire_text.count("\r\n\r\n") == 1 and "Variable: A=1\r\nVariable: B=2\r\n" in wire_text
        )
        assert "ActionID: x-1\r\n" in wire_text
        login = AmiAction(
            {"Action": "Login", "Username": "odoo", "Secret": "odoo-secret"}, "x-2", loop
        )
        assert "odoo-secret" not in repr(login)
        with pytest.raises(AmiInvalidAction):
            AmiAction({"Action": "Ping", "Bad\r\nKey": "1"}, "x-3", loop).encode()
        with pytest.raises(AmiInvalidAction):
            AmiAction({"Channel": "SIP/alice"}, "x-4", loop)

    asyncio.run(main())


def test_message_api_redaction_and_pickle():
    async def main():
        client, proto, events = wire()
        feed(proto, capture("e_failed_ami_logins_watcher.raw"), 100)
        failed = next(m for m, _ in events if m.name == "ChallengeResponseFailed")
        assert failed["ExpectedResponse"] == "<redacted>" and failed.challenge == "199114530"
        assert failed.get("expectedresponse") == "<redacted>"  # case-insensitive, panoramisk style
        client, proto, events = wire()
        feed(proto, capture("f_failed_sip_register.raw"), 100)
        invalid = [m for m, _ in events if m.name == "InvalidPassword" and "ReceivedHash" in m]
        assert invalid and {m["ReceivedHash"] for m in invalid} == {"<redacted>"}
        copy = pickle.loads(pickle.dumps(failed))  # noqa: S301 (our own bytes)
        assert copy.to_dict() == failed.to_dict() and copy.name == "ChallengeResponseFailed"
        msg, _ = AmiMessage.from_frame(b"Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2")
        assert (
            msg.getlist("chanvariable") == ["A=1", "B=2"]
            and msg.getdict("ChanVariable")["b"] == "2"
        )

    asyncio.run(main())


def test_bench_parse_and_dispatch_per_event():
    """Micro-benchmark on the recorded 50-call burst (1,300 call events, 9 KB/call).

    Prints the costs; asserts only that dropping an unwanted event is much
    cheaper than parsing and dispatching a wanted one."""
    data = capture("j_burst_50_originates.raw")
    n_events = data.count(b"\r\n\r\nEvent: ")
    # 5,500-byte reads: about the 82 reads the capture was received in
    chunks = [data[i : i + 5500] for i in range(0, len(data), 5500)]

    def best_cost(wanted, rounds=7):
        async def run():
            client, proto, events = wire(wanted=wanted)
            client.on_event = lambda message, received: None
            t0 = time.perf_counter()
            for chunk in chunks:
                proto.data_received(chunk)
            return time.perf_counter() - t0, client

        best = None
        for _ in range(rounds):
            elapsed, client = asyncio.run(run())
            best = elapsed if best is None else min(best, elapsed)
        assert client.events_received == n_events
        return best / n_events * 1e6, client

    wanted_us, client_all = best_cost(None)
    unwanted_us, client_none = best_cost(lambda name: False)
    assert (
        client_all.events_delivered == n_events and client_none.events_dropped_unwanted == n_events
    )
    print(
        f"\nAMI client, {n_events} events of j_burst_50_originates in {len(chunks)} reads: "
        f"wanted {wanted_us:.2f} us/event (parse + dispatch), unwanted {unwanted_us:.2f} us/event "
        f"(fast drop), ratio {wanted_us / unwanted_us:.1f}x"
    )
    assert unwanted_us * 3 < wanted_us


# --------------------------------------------------------------------------- against the simulator

FAST = {
    "connect_timeout": 1.0,
    "action_timeout": 2.0,
    "ping_interval": 0.5,
    "ping_timeout": 0.5,
    "backoff_initial": 0.05,
    "backoff_max": 0.4,
}


def sim_test(coro_fn, sim_kw=None, sim_attrs=None, **client_kw):
    """Run ``coro_fn(sim, client, events)`` with a simulator and a started client.

    ``sim_kw``: AmiSimulator arguments; ``sim_attrs``: attributes set before the
    client connects (``replay_file``...); the rest are AmiClient arguments."""
    from tests.ami_simulator import AmiSimulator

    async def main():
        sim = AmiSimulator(
            host="127.0.0.1",
            port=0,
            username="odoo",
            secret="odoo-secret",
            **{"failed_login_delay": 0.2, **(sim_kw or {})},
        )
        for key, value in (sim_attrs or {}).items():
            setattr(sim, key, value)
        await sim.start()
        events = []
        kw = {**FAST, "on_event": lambda m, t: events.append((m, t)), **client_kw}
        client = AmiClient(
            "127.0.0.1", sim.port, "odoo", kw.pop("secret", "odoo-secret"), name="sim", **kw
        )
        await client.start()
        try:
            await coro_fn(sim, client, events)
        finally:
            await client.stop()
            await sim.shutdown()

    asyncio.run(main())


async def until(predicate, timeout=3.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def actions_named(sim, name):
    return [a for a in sim.actions_received if str(a.get("Action", "")).lower() == name.lower()]


@pytest.mark.parametrize("md5", [True, False], ids=["md5", "plain"])
def test_login_versions_and_health(md5):
    async def check(sim, client, events):
        await client.wait_connected(3)
        assert client.connected and client.connected_since <= time.time()
        assert client.banner == "Asterisk Call Manager/9.0.0" and client.ami_version == "9.0.0"
        assert client.asterisk_version.startswith("20.")
        (login,) = actions_named(sim, "Login")
        if md5:
            assert actions_named(sim, "Challenge") and login["AuthType"].lower() == "md5"
            assert "Secret" not in login and len(login["Key"]) == 32
        else:
            assert login["Secret"] == "odoo-secret" and not actions_named(sim, "Challenge")
        health = client.health()
        assert (
            health["connected"] is True
            and health["reconnects"] == 0
            and health["last_error"] is None
        )
        assert "odoo-secret" not in repr(client) + repr(health)
        await client.stop()  # Logoff first; sim_test stops it again (idempotent)
        assert actions_named(sim, "Logoff") and not client.connected
        assert client.health()["disconnected_since"] and client.last_error is None

    sim_test(check, md5_login=md5)


def test_events_delivered_wanted_and_dropped():
    async def check(sim, client, events):
        await client.wait_connected(3)
        base_received = client.events_received
        before = time.monotonic()
        await sim.emit(
            {
                "Event": "Newchannel",
                "Channel": "SIP/alice-00000001",
                "CallerIDName": "Zoë 北京",
                "Uniqueid": "1.1",
            }
        )
        for i in range(20):
            await sim.emit(
                {
                    "Event": "VarSet",
                    "Channel": "SIP/alice-00000001",
                    "Variable": f"V{i}",
                    "Value": "x",
                }
            )
        await sim.emit({"Event": "Hangup", "Channel": "SIP/alice-00000001", "Uniqueid": "1.1"})
        await until(lambda: client.events_received >= base_received + 22, what="22 events")
        got = [(m.name, t) for m, t in events if m.name != "SuccessfulAuth"]
        assert [n for n, _ in got] == ["Newchannel", "Hangup"]
        assert all(before <= t <= time.monotonic() for _, t in got)
        assert events[-2][0]["CallerIDName"] == "Zoë 北京"
        assert client.events_dropped_unwanted >= 20 and client.last_event_at <= time.time()

    sim_test(check, wanted=lambda name: name in ("Newchannel", "Hangup", "SuccessfulAuth"))


def test_filters_installed_after_login_and_applied_by_asterisk():
    async def check(sim, client, events):
        await client.wait_connected(3)
        filters = [a["Filter"] for a in actions_named(sim, "Filter")]
        assert filters == ["Event: Newchannel", "Event: Hangup"]
        assert actions_named(sim, "Filter")[0]["Operation"] == "Add"
        assert client.filter_status == "installed"
        received = client.events_received
        await sim.emit({"Event": "VarSet", "Channel": "SIP/a-1", "Variable": "X", "Value": "1"})
        await sim.emit({"Event": "Hangup", "Channel": "SIP/a-1"})
        await until(lambda: [m.name for m, _ in events] == ["Hangup"], what="Hangup")
        assert client.events_received == received + 1  # VarSet never crossed the wire

    sim_test(check, event_filters=["Newchannel", "Hangup"], events=["call"])


def test_action_timeout_and_not_connected():
    async def check(sim, client, events):
        await client.wait_connected(3)
        sim.silent = True
        t0 = time.monotonic()
        with pytest.raises(AmiTimeout) as err:
            await client.send_action({"Action": "Ping"}, timeout=0.3)
        assert 0.3 <= time.monotonic() - t0 < 1.0 and "Ping" in str(err.value)
        assert client.actions_failed == 1 and client.connected  # a slow reply is not a dead link

    sim_test(check, ping_interval=30)

    async def not_connected():
        client = AmiClient("127.0.0.1", 9, "odoo", "x", **FAST)  # discard port: refused
        with pytest.raises(AmiNotConnected):
            await client.send_action({"Action": "Ping"})
        await client.start()
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        with pytest.raises(AmiNotConnected):
            await client.send_action({"Action": "Ping"})
        assert time.monotonic() - t0 < 0.05
        assert "refused" in client.last_error.lower() or "connect" in client.last_error.lower()
        await client.stop()
        await client.stop()  # idempotent

    asyncio.run(not_connected())


def test_async_originate_reply_then_originate_response_event():
    async def check(sim, client, events):
        await client.wait_connected(3)
        reply = await client.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/100@demo",
                "Application": "Wait",
                "Data": "1",
                "Async": "true",
                "CallerID": '"Odoo" <9000>',
                "Timeout": "30000",
            }
        )
        assert reply.ok and reply.message == "Originate successfully queued" and reply.events == []
        await until(
            lambda: any(m.name == "OriginateResponse" for m, _ in events), 5, "OriginateResponse"
        )
        orig = next(m for m, _ in events if m.name == "OriginateResponse")
        assert (
            orig["ActionID"] == reply.action_id
            and orig["Response"] == "Success"
            and orig["Reason"] == "4"
        )
        # Async without the key at all: panoramisk's KeyError('async') case
        reply = await client.send_action(
            {"Action": "Originate", "Channel": "Local/100@demo", "Application": "Wait", "Data": "1"}
        )
        assert reply.ok

    sim_test(check, sim_kw={"time_scale": 0.1})


def test_eventlists_and_command_during_a_call():
    async def check(sim, client, events):
        await client.wait_connected(3)
        sim.start_call("long_call")
        await until(lambda: len(sim.table.channels) >= 2, 5, "the call's channels")
        reply = await client.send_action({"Action": "CoreShowChannels"})
        assert reply.ok and reply["EventList"].lower() == "start"
        items = [e for e in reply.events if e.name == "CoreShowChannel"]
        assert (
            len(items) == len(sim.table.channels)
            and reply.events[-1].name == "CoreShowChannelsComplete"
        )
        assert int(reply.events[-1]["ListItems"]) == len(items)
        assert not any(m.name == "CoreShowChannel" for m, _ in events)
        status = await client.send_action({"Action": "Status"})
        assert status.events[-1].name == "StatusComplete" and len(status.events) == len(items) + 1
        command = await client.send_action({"Action": "Command", "Command": "core show channels"})
        assert command.ok and command.output[0].startswith("Channel")
        assert any("active call" in line for line in command.output)
        assert command.to_dict()["response"]["Output"] == command.output

    sim_test(check, sim_kw={"time_scale": 0.1})


def test_watchdog_detects_silent_peer_and_reconnects():
    async def check(sim, client, events):
        await client.wait_connected(3)
        sim.silent = True
        t0 = time.monotonic()
        await until(lambda: not client.connected, 3, "the watchdog")
        detected = time.monotonic() - t0
        assert detected <= client.ping_interval + client.ping_timeout + 0.3, detected
        await until(lambda: disconnects, what="on_disconnect")
        assert "Ping unanswered" in disconnects[0]
        await asyncio.sleep(0.5)  # silent: the new connections see no banner and give up
        assert not client.connected and client.connect_attempts >= 2
        sim.silent = False
        await client.wait_connected(3)
        assert client.reconnects == 1

    disconnects = []
    sim_test(
        check,
        on_disconnect=lambda client, reason: disconnects.append(reason),
        connect_timeout=0.3,
        ping_interval=0.3,
        ping_timeout=0.3,
    )


def test_reconnect_after_restart_with_bounded_backoff():
    async def check(sim, client, events):
        await client.wait_connected(3)
        attempts = client.connect_attempts
        await sim.stop()  # port closed: every attempt is refused
        await asyncio.sleep(2.0)
        tries = client.connect_attempts - attempts
        # backoff 0.05 -> 0.4 s capped, with jitter: about 7-13 tries in 2 s, never a hot loop
        assert 3 <= tries <= 16, tries
        assert not client.connected and client.last_error
        await sim.start()  # same port
        await client.wait_connected(3)
        assert client.reconnects == 1 and connects == [1, 2]

    connects = []

    async def on_connect(client):
        connects.append(client.logins)

    sim_test(check, on_connect=on_connect)


def test_auth_failure_reported_and_backed_off():
    async def check(sim, client, events):
        await until(lambda: client.last_error is not None, 3, "the login answer")
        assert client.last_error == "Authentication failed" and not client.connected
        await asyncio.sleep(0.5)
        # straight to backoff_max after a refused login: no second try yet
        assert client.connect_attempts == 1
        with pytest.raises(AmiTimeout):
            await client.wait_connected(0.1)

    sim_test(check, secret="wrong", backoff_max=5)


def test_login_that_never_completes_times_out():
    async def check(sim, client, events):
        await until(lambda: client.last_error is not None, 3, "the login timeout")
        assert client.last_error == "Login: no complete reply within 0.3s"
        assert not client.connected

    # a wrong secret makes the simulator sit on the Login for 5 s, like a stuck Asterisk
    sim_test(check, sim_kw={"failed_login_delay": 5}, secret="wrong", connect_timeout=0.3)


def test_on_connect_resync_and_in_flight_actions_fail_on_drop():
    async def check(sim, client, events):
        sim.start_call("long_call")
        await until(lambda: len(sim.table.channels) >= 2, 5, "the call's channels")
        await client.wait_connected(3)
        await sim.drop_connections()  # force a reconnect: the resync runs again
        await until(lambda: len(snapshots) == 2, 5, "a second resync")
        assert all(len(s) == len(sim.table.channels) for s in snapshots)
        sim.silent = True
        pending = asyncio.ensure_future(client.send_action({"Action": "Ping"}, timeout=5))
        await asyncio.sleep(0.05)
        await sim.drop_connections()
        with pytest.raises(AmiConnectionLost):
            await pending

    snapshots = []

    async def resync(client):
        reply = await client.send_action({"Action": "CoreShowChannels"})
        snapshots.append([e["Channel"] for e in reply.events if e.name == "CoreShowChannel"])

    sim_test(check, sim_kw={"time_scale": 0.1}, on_connect=resync, ping_interval=30)


def test_update_refilters_or_reconnects():
    from tests.ami_simulator import AmiSimulator

    async def check(sim, client, events):
        await client.wait_connected(3)
        assert client.update(event_filters=["Newchannel", "Hangup"]) == {"filters"}
        await until(lambda: len(actions_named(sim, "Filter")) == 2, what="the added Filter")
        assert actions_named(sim, "Filter")[1]["Filter"] == "Event: Hangup" and client.logins == 1
        assert client.update(events=["call", "cdr"]) == {"events"}
        await until(lambda: actions_named(sim, "Events"), what="the Events action")
        assert actions_named(sim, "Events")[0]["EventMask"] == "call,cdr"
        # a filter cannot be removed from a session: reconnect, with the new list only
        assert client.update(event_filters=["Hangup"]) == {"reconnect"}
        await until(lambda: client.logins == 2 and client.connected, what="the reconnect")
        assert [a["Filter"] for a in actions_named(sim, "Filter")][-1] == "Event: Hangup"
        assert client.update(wanted=lambda name: False) == {"wanted"}
        # new server
        other = AmiSimulator(host="127.0.0.1", port=0, username="odoo", secret="odoo-secret")
        await other.start()
        try:
            assert client.update(port=other.port) == {"reconnect"}
            await until(lambda: client.logins == 3 and client.connected, what="the move")
            assert actions_named(other, "Login") and len(other.sessions) == 1
        finally:
            await client.stop()
            await other.shutdown()

    sim_test(check, event_filters=["Newchannel"])


def test_utf8_split_inside_a_character_over_tcp(tmp_path):
    """The simulator replays events cut inside a multi-byte character, in two TCP
    segments with a pause between: nothing may be lost or replaced."""
    names = ["Zoë Ærøskøbing", "Łukasz Żółć", "北京 办公室", "Ümit 🎧"]
    # The simulator writes its replies to our CoreSettings/Filter actions in the
    # pause *inside* a split event (real Asterisk never interleaves): ASCII
    # fillers at 20 events/s let those replies pass before the split events.
    fillers = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: X\r\nValue: 1\r\n\r\n" * 10
    raw = (
        b"Asterisk Call Manager/9.0.0\r\n"
        + fillers
        + b"".join(
            f"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: SIP/alice-0000000{i}\r\n"
            f"CallerIDNum: 20{i}\r\nCallerIDName: {name}\r\nUniqueid: 1.{i}\r\n\r\n".encode()
            for i, name in enumerate(names)
        )
    )
    path = tmp_path / "utf8.raw"
    path.write_bytes(raw)

    async def check(sim, client, events):
        await until(lambda: len(events) == len(names), 5, "the replayed events")
        assert [m["CallerIDName"] for m, _ in events] == names
        assert client.undecodable_frames == 0

    sim_test(
        check,
        sim_attrs={"replay_file": str(path), "replay_split_utf8": True, "replay_rate": 20},
        wanted=lambda name: name == "Newchannel",
        ping_interval=30,
    )


def test_recorded_burst_over_tcp():
    """The 50-call burst of capture j at socket speed: every event arrives, the
    mapped ones are delivered, the rest dropped on the fast path."""
    mapped = {"Newchannel", "Hangup", "OriginateResponse", "Cdr"}
    path = os.path.join(CAPTURES, "j_burst_50_originates.raw")

    async def check(sim, client, events):
        await until(lambda: len(events) >= 350, 10, "the burst")
        span = events[-1][1] - events[0][1]  # read times of the first and last mapped events
        counts = {}
        for message, _ in events:
            counts[message.name] = counts.get(message.name, 0) + 1
        assert counts == {"Newchannel": 100, "Hangup": 100, "OriginateResponse": 50, "Cdr": 100}
        assert client.events_dropped_unwanted >= 1302 - 350
        assert client.malformed_frames == 0 and client.undecodable_frames == 0
        print(f"\nburst over TCP: {client.events_received} events read in ~{span:.3f}s")

    sim_test(check, sim_attrs={"replay_file": path}, wanted=mapped.__contains__)
