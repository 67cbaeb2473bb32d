"""The call tracker behind the real worker: real Odoo servers, the default
events map, the AMI simulator over TCP replaying the real captures."""

import json
import os
import socket
import time
import xmlrpc.client

import pytest

from odoo.addons.asterisk_calls.tests.expected import BURST, CAPTURE_CALLS
from odoo.addons.asterisk_common.tests.captures import OWN_CAPTURES

from .ami_simulator import SimulatorThread
from .conftest import CAPTURES
from .odoo_env import query
from .worker_env import (
    add_map_entry,
    calls,
    give_bob_carols_phone,
    point_server,
    server_health,
    wait_until,
)

pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES), reason="no ../shared/ami-captures")


def replay(sim, name, rate=0.0):
    """Serve a capture's events to the worker's AMI session."""
    session = next(s for s in sim.sessions if s.authenticated)
    sim.call(sim.sim.replay, session, os.path.join(CAPTURES, f"{name}.raw"), rate)


def ami_send(sim, action):
    """One action on a connection of its own, as an operator's script would."""
    with socket.create_connection((sim.host, sim.port), timeout=5) as conn:
        stream = conn.makefile("rb")
        stream.readline()  # banner

        def send(headers):
            conn.sendall("".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n")
            while True:  # skip the events, up to the reply
                lines = []
                while (line := stream.readline().decode()) not in ("\r\n", ""):
                    lines.append(line.strip())
                if not lines or lines[0].startswith("Response:"):
                    return "\n".join(lines)

        assert "Success" in send({"Action": "Login", "Username": "odoo", "Secret": "odoo-secret"})
        reply = send(action)
        send({"Action": "Logoff"})
        return reply


def settled(db, server_id, at_least=0):
    """Events dispatched once the worker is idle (two equal health reports)."""
    last = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = server_health(db, server_id)
        value = health["events_dispatched"] + health["events_failed"]
        if value >= at_least and not health["events_buffered"] and value == last:
            return value
        last = value
        time.sleep(3.2)  # the health report's period
    raise AssertionError("the worker did not settle")


def start(odoo, db, sim, **kwargs):
    server_id = point_server(db, sim.port)
    node = odoo(db, **kwargs)
    wait_until(
        lambda: server_health(db, server_id)["state"] == "connected", 20, message="connected"
    )
    assert sim.wait_for_sessions(1)
    return node, server_id


def ended_calls(db, count):
    """Wait for ``count`` ended calls whose origin CDR came."""
    return wait_until(
        lambda: (
            len(found := calls(db, "c.ended_at IS NOT NULL AND c.cdr_disposition IS NOT NULL"))
            >= count
            and found
        ),
        30,
        0.2,
        message=f"{count} ended calls",
    )


def check(call, expected, label):
    for key in ("status", "direction", "caller_number", "caller_name", "called_number",
                "called_name", "originated", "transferred"):  # fmt: skip
        if key in expected:
            value = call[key]
            if isinstance(expected[key], str):
                value = value or ""
            assert value == expected[key], f"{label}: {key}"
    assert call["users"] == sorted(expected["users"]), f"{label}: users"
    assert call["answered_by"] == expected["answered_by"], f"{label}: answered_by"
    assert call["missed"] == expected["missed"], f"{label}: missed"
    for key in ("ring_seconds", "talk_seconds"):
        assert abs(call[key] - expected[key]) <= 1, f"{label}: {key}"
    assert call["channels"] == expected["channels"], f"{label}: channels"
    cdr = (call["cdr_disposition"], call["cdr_duration"], call["cdr_billsec"])
    assert cdr == expected["cdr"], f"{label}: CDR"


@pytest.mark.parametrize("name", sorted(CAPTURE_CALLS))
def test_capture_through_the_worker(calls_db, sim, odoo, name):
    node, server_id = start(odoo, calls_db, sim)
    expected = CAPTURE_CALLS[name]
    replay(sim, name)
    found = ended_calls(calls_db, len(expected))
    assert len(found) == len(expected)
    for call, want in zip(found, expected, strict=True):
        check(call, want, name)
    # The same traffic again (a replay after an outage): nothing changes.
    handled = settled(calls_db, server_id)
    before = query(calls_db, "SELECT count(*) FROM asterisk_calls_channel")
    replay(sim, name)
    # The capture's events twice, the events of the worker's own login once
    # (SuccessfulAuth for protection, FullyBooted for the live status).
    settled(calls_db, server_id, at_least=2 * handled - 2)
    again = calls(calls_db)
    assert [(c["id"], c["status"], c["talk_seconds"]) for c in again] == [
        (c["id"], c["status"], c["talk_seconds"]) for c in found
    ]
    assert query(calls_db, "SELECT count(*) FROM asterisk_calls_channel") == before
    assert node.errors() == []


@pytest.mark.parametrize("capture", ["park_retrieve", "asterisk22/park_retrieve"])
def test_a_channel_changing_calls_through_the_worker(calls_db, sim, odoo, capture):
    """Real captures (Asterisk 20 and 22): carol's phone takes the parked
    alice, and her channel takes alice's linkedid. Its events before the move
    and after it are on two dispatch shards (of four): the new call's wait for
    the old one's, so no empty call is left ringing."""
    node, server_id = start(odoo, calls_db, sim, options={"asterisk_worker_threads": 4})
    session = next(s for s in sim.sessions if s.authenticated)
    sim.call(sim.sim.replay, session, os.path.join(OWN_CAPTURES, f"{capture}.raw"), 0.0)
    wait_until(lambda: calls(calls_db, "c.ended_at IS NOT NULL"), 30, 0.2, "the call ended")
    settled(calls_db, server_id)
    found = calls(calls_db)
    assert [(c["status"], c["channels"]) for c in found] == [("answered", 3)], found
    assert node.errors() == []


def test_burst_through_the_worker(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim, options={"asterisk_worker_threads": 3})
    replay(sim, "j_burst_50_originates")
    found = ended_calls(calls_db, BURST["count"])
    assert len(found) == BURST["count"]
    assert {c["status"] for c in found} == {BURST["status"]}
    assert {c["talk_seconds"] for c in found} == {BURST["talk_seconds"]}
    assert {c["channels"] for c in found} == {BURST["channels"]}
    assert sorted(c["caller_number"] for c in found) == [str(7000 + n) for n in range(50)]
    wait_until(
        lambda: (
            query(calls_db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0] == 0
            and server_health(calls_db, server_id)["events_buffered"] == 0
        ),
        10,
        message="nothing failed",
    )
    assert node.errors() == []


def test_events_without_linkedid_follow_their_call(calls_db, sim, odoo):
    """Cdr (UniqueID only), OriginateResponse (no Linkedid; on failure no id at
    all) and an Originate's DialBegin (Dest* only) are handled in their call's
    shard, in arrival order."""
    for name in ("Newchannel", "DialBegin", "DialEnd", "Hangup", "Cdr", "OriginateResponse"):
        add_map_entry(calls_db, name, method="ami_record_thread")
    node, _ = start(odoo, calls_db, sim, options={"asterisk_worker_threads": 4})
    for name in ("b_originate_busy", "c_originate_noanswer_timeout", "j_burst_50_originates"):
        replay(sim, name)
    wait_until(
        lambda: (
            query(
                calls_db,
                "SELECT count(*) FROM asterisk_worker_test_record WHERE name = 'Cdr'",
            )[0][0]
            == 2 + 2 + 100
        ),
        30,
        message="all Cdr events",
    )
    rows = query(
        calls_db,
        "SELECT name, payload, handler FROM asterisk_worker_test_record ORDER BY id",
    )
    linked_of = {p["Uniqueid"]: p["Linkedid"] for n, p, _ in rows if n == "Newchannel"}
    by_call = {}
    for name, payload, thread in rows:
        call = payload["_linkedid"]
        assert call, f"{name} not routed: {payload}"
        if name == "Cdr":
            assert call == linked_of[payload["UniqueID"]], payload
        if name == "DialBegin" and not payload.get("Channel"):
            assert call == payload["DestLinkedid"]
        by_call.setdefault(call, []).append((payload["_received"], thread, name))
    assert len(by_call) == 52
    for call, handled in by_call.items():
        assert len({thread for _, thread, _ in handled}) == 1, f"{call}: one shard"
        received = [r for r, _, _ in handled]
        assert received == sorted(received), f"{call}: arrival order"
        names = [n for _, _, n in handled]
        assert names.index("Cdr") > names.index("Newchannel")
    failures = [p for n, p, _ in rows if n == "OriginateResponse" and p["Response"] == "Failure"]
    assert {p["_linkedid"] for p in failures} == {"1795700273.4", "1795700276.6"}
    assert node.errors() == []


def test_resync_closes_calls_that_ended_while_away(calls_db, odoo):
    """And finds those that started while away: in progress at once, right
    at their end."""
    with SimulatorThread(port=0, time_scale=1.0) as sim:
        resync_drill(calls_db, odoo, sim)


def resync_drill(calls_db, odoo, sim):
    node, server_id = start(odoo, calls_db, sim)
    sim.start_call("two_users", talk_time=600.0)  # alice -> bob: ends while Odoo is down
    sim.start_call("long_call")  # Local/110, a minute: still up when Odoo comes back
    live = wait_until(
        lambda: len(found := calls(calls_db, "c.status = 'in_progress'")) == 2 and found,
        20,
        message="two calls in progress",
    )
    node.stop()
    assert node.proc.returncode == 0
    internal = next(c for c in live if c["users"])
    # An operator ends alice's call on the PBX while Odoo is down.
    reply = ami_send(sim, {"Action": "Hangup", "Channel": "/^SIP\\/alice-/"})
    assert "Success" in reply
    # A call starts (and is answered) while Odoo is down.
    before = time.time()
    started = sim.start_call("two_users", talk_time=15.0)
    after = time.time()
    time.sleep(3.0)
    node2 = odoo(calls_db)
    wait_until(lambda: server_health(calls_db, server_id)["state"] == "connected", 20)
    adopted = wait_until(
        lambda: calls(calls_db, "c.linkedid = %s", [started]), 10, message="adopted"
    )[0]
    assert adopted["status"] == "in_progress" and not adopted["ended"]
    assert (adopted["users"], adopted["answered_by"]) == (["alice", "bob"], "bob")
    assert [e["k"] for e in adopted["timeline"]].count("adopted") == 1
    [(started_at,)] = query(
        calls_db,
        "SELECT extract(epoch FROM started_at) FROM asterisk_calls_call WHERE linkedid = %s",
        [started],
    )
    # CoreShowChannel's Duration is in whole seconds: the start it gives is
    # up to one second late, never early.
    assert before - 0.1 <= float(started_at) <= after + 1.0, "its real start"
    closed = wait_until(
        lambda: (c := calls(calls_db, "c.id = %s", [internal["id"]])[0])["ended"] and c,
        20,
        message="resync closed the call",
    )
    assert closed["status"] == "answered"
    assert closed["answered_by"] == "bob"
    assert any(e["k"] == "resync" for e in closed["timeline"])
    other = next(c for c in live if c["id"] != internal["id"])
    assert calls(calls_db, "c.id = %s", [other["id"]])[0]["status"] == "in_progress"
    done = wait_until(
        lambda: (c := calls(calls_db, "c.linkedid = %s", [started])[0])["cdr_disposition"] and c,
        30,
        message="the adopted call ended",
    )
    assert (done["status"], done["answered_by"], done["ended"]) == ("answered", "bob", True)
    assert abs(done["talk_seconds"] - 15) <= 1, done["talk_seconds"]
    assert len(calls(calls_db, "c.linkedid = %s", [started])) == 1
    assert node2.errors() == []


# What the simulator's scenarios (the same calls as tests/captures) must give.
SCENARIOS = {
    "queue": ("answered", "internal", ["alice", "carol"], "carol", []),
    "queue_abandoned": ("abandoned", "internal", ["alice"], None, []),
    "attended_transfer": ("answered", "internal", ["alice", "bob"], "bob", []),
    "inbound_ring_group": ("answered", "inbound", ["bob", "carol"], "bob", []),
    "sip_noanswer": ("no_answer", "internal", ["alice", "bob"], None, ["bob"]),
    "sip_busy": ("busy", "internal", ["alice", "bob"], None, []),
    "sip_cancel": ("abandoned", "internal", ["alice", "bob"], None, ["bob"]),
    "two_users": ("answered", "internal", ["alice", "bob"], "bob", []),
}


def test_simulator_scenarios(calls_db, sim, odoo):
    """Queues, an attended transfer, a ring group from a trunk, internal calls
    and their dial outcomes, played by the simulator, all at once."""
    node, server_id = start(odoo, calls_db, sim)
    linkedids = {name: sim.start_call(name) for name in SCENARIOS}
    found = wait_until(
        lambda: len(ended := calls(calls_db, "c.ended_at IS NOT NULL")) >= len(SCENARIOS) and ended,
        60,
        0.3,
        message="every scenario's call ended",
    )
    by_linkedid = {c["linkedid"]: c for c in found}
    for name, (status, direction, users, answered_by, missed) in SCENARIOS.items():
        call = by_linkedid[linkedids[name]]
        got = (call["status"], call["direction"], call["users"], call["answered_by"])
        assert got == (status, direction, users, answered_by), name
        assert call["missed"] == missed, name
    transfer = by_linkedid[linkedids["attended_transfer"]]
    assert transfer["transferred"]
    assert by_linkedid[linkedids["queue"]]["queue"] == "support"
    inbound = by_linkedid[linkedids["inbound_ring_group"]]
    assert inbound["caller_number"] == "+33612345678"
    assert len(found) == len(SCENARIOS), "no phantom call from the Local channels"
    settled(calls_db, server_id)
    assert query(calls_db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0] == 0
    assert node.errors() == []


# -- click-to-dial end to end ---------------------------------------------------------


def notifications(db, login, kind="simple_notification"):
    """Bus messages of ``kind`` sent to a user (their partner's channel)."""
    (partner_id,) = query(db, "SELECT partner_id FROM res_users WHERE login = %s", [login])[0]
    rows = query(db, "SELECT channel, message FROM bus_bus ORDER BY id")
    found = []
    for channel, message in rows:
        channel, message = json.loads(channel), json.loads(message)
        if channel[1:] == ["res.partner", partner_id] and message["type"] == kind:
            found.append(message["payload"])
    return found


def click_to_dial(node, login, number):
    return node.rpc("asterisk_calls.call", "pbx_dial", number, login=login)


def call_of(db, call_id, done=True):
    where = "c.id = %s" + (" AND c.ended_at IS NOT NULL" if done else "")
    return wait_until(lambda: (c := calls(db, where, [call_id])) and c[0], 20, 0.2, "the call")


def test_click_to_dial_rings_my_phone_then_the_number(calls_db, sim, odoo):
    query(
        calls_db,
        "UPDATE asterisk_common_user_channel SET auto_answer = true WHERE name = 'SIP/bob'",
    )
    node, _ = start(odoo, calls_db, sim)
    sim.set_phone("carol", ("answer", 1, 2))  # rings 1 s, hangs up after 2 s of talk
    started = time.monotonic()
    result = click_to_dial(node, "bob", "203")  # carol's extension
    originate = wait_until(
        lambda: next((a for a in sim.actions_received if a.get("Action") == "Originate"), None),
        5,
        0.01,
        "the Originate at the PBX",
    )
    assert time.monotonic() - started < 5
    assert originate["Channel"] == "SIP/bob"
    assert (originate["Context"], originate["Exten"], originate["Priority"]) == ("demo", "203", "1")
    assert originate["CallerID"] == '"Call to Carol" <203>'  # the colleague's name
    assert originate["Async"] == "true"
    assert originate["Variable"] == "SIPADDHEADER01=Call-Info: <sip:127.0.0.1>;answer-after=0"
    call = call_of(calls_db, result["call_id"])
    assert originate["ChannelId"] == call["linkedid"]
    assert (call["status"], call["direction"], call["answered_by"]) == (
        "answered",
        "internal",
        "carol",
    )
    assert call["users"] == ["bob", "carol"]
    told = notifications(calls_db, "bob")
    assert [(n["type"], n["title"]) for n in told] == [("success", "Call to Carol")], told
    assert node.errors() == []


@pytest.mark.parametrize(
    "behaviour,status,reason",
    [("busy", "busy", "is busy"), ("ring", "no_answer", "did not answer"),
     ("unreachable", "failed", "could not be reached")],
)  # fmt: skip
def test_click_to_dial_my_phone_fails_and_i_am_told_why(
    calls_db, sim, odoo, behaviour, status, reason
):
    node, _ = start(odoo, calls_db, sim)
    sim.set_phone("bob", behaviour)
    query(calls_db, "UPDATE asterisk_common_server SET originate_timeout = 5")
    result = click_to_dial(node, "bob", "203")
    call = call_of(calls_db, result["call_id"])
    assert call["status"] == status, call["timeline"]
    told = wait_until(lambda: notifications(calls_db, "bob"), 20, 0.2, "bob told")
    assert any(reason in n["message"] and "SIP/bob" in n["message"] for n in told), told
    assert node.errors() == []


def test_click_to_dial_on_my_two_phones_through_odoo_dialplan(calls_db, sim, odoo):
    """bob's two phones (the captures' bob and carol): the worker adds the
    odoo-originate context when it connects and again before the Originate;
    both phones ring, each with its own auto-answer header, bob answers, then
    the number is dialled, without a header."""
    give_bob_carols_phone(calls_db, auto_answer=True)
    query(
        calls_db,
        "UPDATE asterisk_common_user_channel SET auto_answer_header = 'alert_info' "
        "WHERE name = 'SIP/carol'",
    )
    node, server_id = start(odoo, calls_db, sim)

    def dialplan_ready():
        (ready,) = query(
            calls_db,
            "SELECT originate_dialplan FROM asterisk_common_server WHERE id = %s",
            [server_id],
        )[0]
        return ready

    wait_until(dialplan_ready, 10, message="the dialplan added on connect")
    sim.set_phone("bob", ("answer", 1))
    sim.set_phone("carol", "ring")
    sim.set_phone("provider", ("answer", 1, 2))
    before = len(sim.actions_received)
    invites = len(sim.invites)
    result = click_to_dial(node, "bob", "0612345678")
    assert result["device"] == "SIP/bob, SIP/carol"
    call = call_of(calls_db, result["call_id"])
    sent = [a for a in sim.actions_received[before:] if a.get("Action") != "Ping"]
    names = [a.get("Action") for a in sent]
    assert names == ["DialplanExtensionAdd"] * 9 + ["Originate"], names
    originate = sent[-1]
    assert originate["Channel"] == "Local/ring@odoo-originate"
    assert (call["status"], call["direction"], call["users"]) == ("answered", "outbound", ["bob"])
    assert call["missed"] == []
    assert sim.invites[invites:] == [
        ("SIP/bob", ["Call-Info: <sip:127.0.0.1>;answer-after=0"]),
        ("SIP/carol", ["Alert-Info: <http://127.0.0.1>;info=alert-autoanswer;delay=0"]),
        ("SIP/provider", []),
    ]
    told = wait_until(lambda: notifications(calls_db, "bob"), 20, 0.2, "bob told")
    assert [n["type"] for n in told] == ["success"], told
    assert node.errors() == []


def test_click_to_dial_the_other_side_is_busy(calls_db, sim, odoo):
    node, _ = start(odoo, calls_db, sim)
    sim.set_phone("carol", "busy")
    result = click_to_dial(node, "bob", "203")
    call = call_of(calls_db, result["call_id"])
    assert call["status"] == "busy"
    told = wait_until(lambda: notifications(calls_db, "bob"), 20, 0.2, "bob told")
    assert any("busy" in n["message"] for n in told), told


def test_click_to_dial_pbx_down_is_refused_at_once(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim)
    sim.stop()
    wait_until(
        lambda: server_health(calls_db, server_id)["state"] != "connected", 20, message="down"
    )
    with pytest.raises(xmlrpc.client.Fault, match="is not connected"):
        click_to_dial(node, "bob", "203")


def test_park_is_offered_where_the_pbx_parks_calls(calls_db, sim, odoo):
    """The worker asks for the parking lots on every (re)connect."""

    def lots(server_id):
        return query(
            calls_db, "SELECT parking_lots FROM asterisk_common_server WHERE id = %s", [server_id]
        )[0][0]

    node, server_id = start(odoo, calls_db, sim)
    wait_until(
        lambda: any(a.get("Action") == "Parkinglots" for a in sim.actions_received),
        10,
        message="the Parkinglots probe",
    )
    time.sleep(0.5)
    assert lots(server_id) is None  # the capture PBX: no res_parking
    parking = "[general]\n\n[default]\nparkext => 700\nparkpos => 701-720\ncontext => parkedcalls\n"
    sim.call(sim.config_store.set_text, "res_parking.conf", parking)
    sim.drop_connections()
    wait_until(lambda: lots(server_id) == "default (701-720)", 20, message="the parking lots")
    assert node.errors() == []


def test_bob_parks_his_caller(calls_db, sim, odoo):
    """Park from the call, through the worker, on a PBX with a parking lot."""
    parking = "[general]\n\n[default]\nparkext => 700\nparkpos => 701-720\ncontext => parkedcalls\n"
    sim.call(sim.config_store.set_text, "res_parking.conf", parking)
    node, server_id = start(odoo, calls_db, sim)
    wait_until(
        lambda: query(calls_db, "SELECT parking_lots FROM asterisk_common_server")[0][0],
        10,
        message="the parking lots found",
    )
    sim.start_call("alice_calls_bob", phones={"bob": ("answer", 1.0)}, talk_time=40.0)
    call = wait_until(
        lambda: (c := calls(calls_db, "c.status = 'in_progress'")) and c[0], 20, 0.2, "answered"
    )
    # what bob's Park button runs
    node.rpc("asterisk_calls.call", "action_park", [call["id"]], login="bob")
    (space,) = wait_until(
        lambda: query(
            calls_db,
            "SELECT parking_space FROM asterisk_calls_call WHERE id = %s AND parking_space IS "
            "NOT NULL",
            [call["id"]],
        ),
        20,
        0.2,
        "parked",
    )[0]
    assert space == "701"
    park = next(a for a in sim.actions_received if a.get("Action") == "Park")
    assert (park["Channel"][:10], park["TimeoutChannel"][:8]) == ("SIP/alice-", "SIP/bob-")
    told = wait_until(lambda: notifications(calls_db, "bob"), 20, 0.2, "bob told")
    assert any(n["title"] == "Alice is parked in space 701" for n in told), told
    ended = call_of(calls_db, call["id"])  # alice gives up in the lot
    assert (ended["status"], ended["answered_by"]) == ("answered", "bob")
    kinds = [e["k"] for e in ended["timeline"]]
    assert "parked" in kinds and "park_giveup" in kinds, kinds
    assert node.errors() == []
