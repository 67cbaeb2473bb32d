"""The live status page behind the real worker: the PBX's status lists over
AMI from the simulator over TCP, and the bus message that events from the PBX
send to PBX admins while a page is open (throttled)."""

import json
import time
import xmlrpc.client

import pytest

from .ami_simulator import SimulatorThread
from .odoo_env import query
from .test_calls_worker import start
from .worker_env import wait_until

LIVE_ACTIONS = {
    "CoreSettings",
    "CoreStatus",
    "CoreShowChannels",
    "SIPpeers",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "DeviceStateList",
    "QueueStatus",
    "QueueSummary",
}


@pytest.fixture
def live_sim():
    # Real time: a caller waits in a queue long enough to be seen.
    with SimulatorThread(port=0, failed_login_delay=0.2, time_scale=1.0) as simulator:
        yield simulator


def admins_channel(db):
    group_id = query(
        db,
        "SELECT res_id FROM ir_model_data "
        "WHERE module = 'asterisk_common' AND name = 'group_asterisk_admin'",
    )[0][0]
    return [db, "res.groups", group_id]


def live_messages(db, after_id):
    """``(id, channel, payload, create_date)`` of the live status messages in bus_bus."""
    rows = query(
        db, "SELECT id, channel, message, create_date FROM bus_bus WHERE id > %s ORDER BY id",
        [after_id],
    )  # fmt: skip
    found = []
    for row_id, channel, message, created in rows:
        message = json.loads(message)
        if message["type"] == "asterisk_base.live_status":
            found.append((row_id, json.loads(channel), message["payload"], created))
    return found


def last_bus_id(db):
    return query(db, "SELECT coalesce(max(id), 0) FROM bus_bus")[0][0]


def db_now(db):
    return query(db, "SELECT now() at time zone 'UTC'")[0][0]


def peer_status(peer, status):
    return {"Event": "PeerStatus", "Privilege": "system,all", "ChannelType": "SIP",
            "Peer": f"SIP/{peer}", "PeerStatus": status}  # fmt: skip


def test_status_lists_of_a_busy_pbx(calls_db, live_sim, odoo):
    node, server_id = start(odoo, calls_db, live_sim)

    def live_status(login="admin"):
        return node.rpc("asterisk_common.server", "live_status", [server_id], login=login)

    idle = live_status()
    assert idle["errors"] == []
    assert idle["system"]["version"].startswith("20.")
    assert idle["system"]["uptime"] >= 20  # the simulator started 23 s ago
    assert idle["channels"] == []
    assert {p["name"] for p in idle["sip_peers"]} == {"alice", "bob", "carol", "provider"}
    # chan_sip only: "No Contacts found", "No endpoints found": empty, no error.
    assert (idle["pjsip_contacts"], idle["pjsip_endpoints"]) == ([], [])
    assert idle["sections"]["pjsip_endpoints"]["state"] == "ok"
    queues = {q["name"]: q for q in idle["queues"]}
    assert [m["name"] for m in queues["support"]["members"]] == ["Agent One", "Agent Two"]
    assert (queues["support"]["logged_in"], queues["support"]["available"]) == (2, 2)
    assert queues["nobody"]["callers"] == []
    asked = [a["Action"] for a in live_sim.actions_received]
    assert set(asked) >= LIVE_ACTIONS

    # A long call (Local/110@demo waits 60 s) and bob waiting in a queue
    # nobody answers.
    live_sim.start_call("long_call")
    live_sim.start_call("sip_call", peer="bob", exten="601", device_event=False)

    def busy():
        found = live_status()
        queue = next(q for q in found["queues"] if q["name"] == "nobody")
        return found if queue["callers"] and len(found["channels"]) >= 3 else None

    status = wait_until(busy, 15, 0.3, "the call and the queue caller in the live status")
    assert status["errors"] == []
    by_name = {c["channel"]: c for c in status["channels"]}
    waits = [c for c in by_name.values() if c["application"] == "Wait" and c["exten"] == "110"]
    assert waits and waits[0]["state"] == "Up" and waits[0]["level"] == "success"
    (bob,) = [c for c in by_name.values() if c["channel"].startswith("SIP/bob-")]
    assert (bob["application"], bob["caller_num"], bob["caller_name"]) == ("Queue", "bob", "Bob")
    nobody = next(q for q in status["queues"] if q["name"] == "nobody")
    (caller,) = nobody["callers"]
    assert (caller["position"], caller["channel"], caller["caller_name"]) == (
        1,
        bob["channel"],
        "Bob",
    )
    assert nobody["calls"] == 1
    assert status["system"]["current_calls"] >= 3
    # Device states come from the PBX's cache (DeviceStateList).
    devices = {d["device"]: d for d in status["devices"]}
    assert devices["Queue:nobody"]["raw"] == "RINGING"
    assert status["sections"]["devices"] == {"state": "ok", "message": ""}
    # The status queries do not stay in the action log.
    left = query(
        calls_db,
        "SELECT count(*) FROM asterisk_common_action WHERE name = ANY(%s)",
        [sorted(LIVE_ACTIONS)],
    )[0][0]
    assert left == 0

    # A PBX user sees nothing of it.
    with pytest.raises(xmlrpc.client.Fault, match="Only PBX administrators"):
        live_status(login="alice")
    assert node.errors() == []


def test_pbx_events_tell_admins_on_the_bus(calls_db, live_sim, odoo):
    node, server_id = start(odoo, calls_db, live_sim)
    admins = admins_channel(calls_db)
    time.sleep(1.5)  # FullyBooted's event, and the throttle's window, are behind us
    # No live status page open: a change is told to nobody.
    last = last_bus_id(calls_db)
    live_sim.emit(peer_status("carol", "Lagged"))
    time.sleep(2.5)  # past the throttle's trailing message
    assert live_messages(calls_db, last) == [], "no page open, no message"
    assert node.errors() == []

    # A page opens (its heartbeat says so): the next change is told.
    assert node.rpc("asterisk_common.server", "live_status_watch", [server_id]) == 40
    last = last_bus_id(calls_db)

    # alice's phone registers: PeerStatus (and DeviceStateChange).
    live_sim.start_call("sip_register", peer="alice", port=5061)
    messages = wait_until(
        lambda: live_messages(calls_db, last), 10, 0.1, "a live status message on the bus"
    )
    _id, channel, payload, _created = messages[0]
    assert channel == admins, "to PBX admins"
    assert payload == {"server_id": server_id}

    # A burst of changes: at most one message a second, and none lost: one
    # comes after the last change.
    time.sleep(1.5)
    last = last_bus_id(calls_db)
    for i in range(30):
        if i == 29:
            before_last = db_now(calls_db)
        live_sim.emit(peer_status("bob", "Reachable" if i % 2 else "Lagged"))
    time.sleep(2.5)
    burst = live_messages(calls_db, last)
    assert burst, "the burst was announced"
    times = [m[3] for m in burst]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    # create_date is the transaction's start, a little before the send: some slack
    assert all(gap >= 0.8 for gap in gaps), gaps
    assert len(burst) <= 3, burst
    assert burst[-1][3] >= before_last, "the last change was announced"
    assert {m[2]["server_id"] for m in burst} == {server_id}
    assert node.errors() == []
