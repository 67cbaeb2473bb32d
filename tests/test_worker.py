"""The AMI worker inside real Odoo servers, against the AMI simulator over TCP."""

import json
import time

import pytest

from .ami_simulator import SimulatorThread
from .odoo_env import query
from .worker_env import (
    LiveStream,
    add_map_entry,
    add_server,
    event,
    records,
    server_health,
    wait_until,
)


def logged_in(sim):
    return [s for s in sim.sessions if s.authenticated]


def connected(db, server_id):
    return server_health(db, server_id)["state"] == "connected"


# -- start and dispatch -----------------------------------------------------------------


def test_threaded_dispatch_conditions_delays_and_order(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    add_map_entry(db, "Hangup", condition="event.get('Cause') == '16'")
    add_map_entry(db, "DialEnd", delay=1.0, method="ami_record_other")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    health = server_health(db, server_id)
    assert health["leader"].endswith(f"/{node.proc.pid}")
    assert health["ami_version"]

    # Events the map does not name are dropped; Hangup only with Cause 16.
    emitted_at = time.monotonic()
    for call in range(20):
        linkedid = f"1700000000.{call}"
        for seq in range(10):
            sim.emit(event("Newchannel", linkedid, seq))
        sim.emit(event("VarSet", linkedid, 10))
        sim.emit(event("DialEnd", linkedid, 11))
        sim.emit(event("Hangup", linkedid, 12, Cause="16" if call % 2 else "17"))
    wait_until(lambda: len(records(db)) == 20 * 10 + 10 + 20, 30, message="all events handled")
    rows = records(db)
    assert {r[0] for r in rows} == {"Newchannel", "Hangup", "DialEnd"}
    hangups = [r for r in rows if r[0] == "Hangup"]
    assert sorted(int(r[2].split(".")[1]) % 2 for r in hangups) == [1] * 10
    # One call's events are handled in the order they arrived.
    for call in range(20):
        linkedid = f"1700000000.{call}"
        seqs = [r[3] for r in rows if r[2] == linkedid and r[0] == "Newchannel"]
        assert seqs == list(range(10))
    # The delayed entry ran after its delay.
    handled = query(
        db, "SELECT min(handled_at) FROM asterisk_worker_test_record WHERE name = 'DialEnd'"
    )[0][0]
    first = query(db, "SELECT min(handled_at) FROM asterisk_worker_test_record")[0][0]
    assert handled - first >= 0.9
    assert time.monotonic() - emitted_at >= 1.0
    wait_until(
        lambda: server_health(db, server_id)["events_dispatched"] >= 230,
        10,
        message="health counters",
    )
    assert node.errors() == []
    # A clean shutdown says so on the server.
    node.stop()
    assert node.proc.returncode == 0
    health = server_health(db, server_id)
    assert (health["state"], health["last_error"]) == ("disconnected", "worker stopped")
    assert "AMI worker" in node.log() and "stopped" in node.log().rsplit("AMI worker", 1)[1]


def test_delayed_events_handled_at_shutdown(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", delay=60.0)
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    sim.emit(event("Newchannel", "1700000013.1", 1))
    wait_until(
        lambda: server_health(db, server_id)["events_received"] >= 1, 10, message="event read"
    )
    assert records(db) == []  # still waiting for its delay
    node.stop()
    assert node.proc.returncode == 0
    assert records(db) == [("Newchannel", "ami_record", "1700000013.1", 1)]


def test_failing_handler_does_not_block_others(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    add_map_entry(db, "Hangup", method="ami_fail")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    for seq in range(5):
        sim.emit(event("Hangup", "1700000001.1", seq))
        sim.emit(event("Newchannel", "1700000001.1", seq))
    wait_until(lambda: len(records(db)) == 5, 20, message="the good events")
    assert {r[1] for r in records(db)} == {"ami_record"}
    errors = wait_until(
        lambda: query(
            db,
            "SELECT name, handler, error, traceback, event->>'Seq' "
            "FROM asterisk_common_dispatch_error ORDER BY id",
        ),
        10,
        message="dispatch errors stored",
    )
    assert len(errors) == 5
    assert errors[0][:2] == ("Hangup", "asterisk_worker_test.record.ami_fail")
    assert "on purpose" in errors[0][2] and "ValueError" in errors[0][3]
    assert [e[4] for e in errors] == ["0", "1", "2", "3", "4"]
    wait_until(
        lambda: server_health(db, server_id)["events_failed"] == 5, 10, message="failed counter"
    )
    # Five rows, but not five log lines: the first, then a count.
    sim.emit(event("Hangup", "1700000001.1", 5))
    wait_until(lambda: server_health(db, server_id)["events_failed"] == 6, 10, message="sixth")
    logged = [line for line in node.log().splitlines() if "ami_fail failed on" in line]
    assert len(logged) == 1, logged
    time.sleep(10)  # FAILURE_LOG_EVERY
    sim.emit(event("Hangup", "1700000001.1", 6))
    wait_until(
        lambda: len([x for x in node.log().splitlines() if "ami_fail failed on" in x]) == 2,
        10,
        message="the next log line",
    )
    last = [line for line in node.log().splitlines() if "ami_fail failed on" in line][-1]
    assert "(and 5 more failures of this handler since its last log line" in last


def test_batch_handler_gets_batches_and_loses_no_neighbour(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", method="ami_batch")
    add_map_entry(db, "Hangup", method="ami_record")  # another handler splits the batches
    node = odoo(db, options={"asterisk_worker_threads": 1})
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    for seq in range(60):
        extra = {"Fail": "yes"} if seq == 17 else {}
        if seq == 0:
            extra = {"Sleep": "0.5"}  # the others queue up meanwhile
        sim.emit(event("Newchannel", "1700000020.1", seq, **extra))
        if seq == 40:
            sim.emit(event("Hangup", "1700000020.1", seq))
    wait_until(lambda: len(records(db)) == 60, 30, message="59 batched events and the Hangup")
    rows = query(db, "SELECT name, handler, seq FROM asterisk_worker_test_record ORDER BY id")
    # Order kept, around the other handler too; only the failing event is missing.
    expected = [("Newchannel", s) for s in range(41) if s != 17] + [("Hangup", 40)]
    expected += [("Newchannel", s) for s in range(41, 60)]
    assert [(r[0], r[2]) for r in rows] == expected
    sizes = {int(r[1].split(":")[1]) for r in rows if r[1].startswith("batch:")}
    assert max(sizes) > 1, "events came one by one: no batch"
    errors = query(db, "SELECT name, error, event->>'Seq' FROM asterisk_common_dispatch_error")
    assert errors == [("Newchannel", "ValueError: batch failure on purpose (seq 17)", "17")]
    assert node.errors() == [] or all("on purpose" in line for line in node.errors())


def test_independent_handlers_are_gathered_and_a_barrier_keeps_order(db, sim, odoo):
    """Two independent batch handlers on interleaved events each get their
    events in one call (in order); a dependent handler's event between them
    sees everything before it handled and nothing after."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", method="ami_gather")
    add_map_entry(db, "Newstate", method="ami_gather_other")
    add_map_entry(db, "Hangup", method="ami_record")
    node = odoo(db, options={"asterisk_worker_threads": 1})
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    sim.emit(event("Newchannel", "1700000030.1", 0, Sleep="0.5"))  # the rest queue up
    for seq in range(1, 61):
        name = "Hangup" if seq == 30 else ("Newchannel", "Newstate")[seq % 2]
        extra = {"Fail": "yes"} if seq == 44 else {}
        sim.emit(event(name, "1700000030.1", seq, **extra))
    wait_until(lambda: len(records(db)) == 60, 30, message="60 events, one failing")
    rows = query(db, "SELECT id, name, handler, seq FROM asterisk_worker_test_record ORDER BY id")
    for name in ("Newchannel", "Newstate"):
        seqs = [r[3] for r in rows if r[1] == name]
        assert seqs == sorted(seqs), f"{name} out of order"
    sizes = [int(r[2].split(":")[1]) for r in rows if r[1] in ("Newchannel", "Newstate")]
    assert max(sizes) > 2, "interleaved events were not gathered"
    hangup_id = next(r[0] for r in rows if r[1] == "Hangup")
    assert all(r[0] < hangup_id for r in rows if r[3] < 30), "an earlier event after the barrier"
    assert all(r[0] > hangup_id for r in rows if r[3] > 30), "a later event before the barrier"
    assert sorted(r[3] for r in rows) == [s for s in range(61) if s != 44]
    errors = query(db, "SELECT name, error, event->>'Seq' FROM asterisk_common_dispatch_error")
    assert errors == [("Newchannel", "ValueError: gather failure on purpose (seq 44)", "44")]
    assert node.errors() == [] or all("on purpose" in line for line in node.errors())


def test_serialization_failures_are_retried(db, sim, odoo):
    """Two shards update one row at once: PostgreSQL refuses one of the two
    transactions (REPEATABLE READ); the worker retries it, nothing is lost."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", method="ami_increment")
    query(db, "INSERT INTO asterisk_worker_test_record (name, seq) VALUES ('counter', 0)")
    node = odoo(
        db,
        options={
            "asterisk_worker_threads": 2,
            "asterisk_worker_batch": 1,
            "log_handler": "odoo.addons.asterisk_agent_worker.dispatch:DEBUG",
        },
    )
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    for call in range(40):  # different calls: both shards at work
        sim.emit(event("Newchannel", f"1700000009.{call}", 0))
    wait_until(
        lambda: (
            query(db, "SELECT seq FROM asterisk_worker_test_record WHERE name = 'counter'")
            == [(40,)]
        ),
        60,
        0.2,
        message="every increment applied once",
    )
    assert query(db, "SELECT count(*) FROM asterisk_common_dispatch_error") == [(0,)]
    assert "SerializationFailure, retrying" in node.log(), "the shards never collided"
    # Odoo's cursor logs each refused UPDATE as "bad query", as for HTTP requests.
    assert [e for e in node.errors() if "odoo.sql_db: bad query" not in e] == []


def test_condition_error_logged_on_entry(db, sim, odoo):
    server_id = add_server(db, sim.port)
    entry = add_map_entry(db, "Newchannel", condition="int(event['Seq']) > 0")
    odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    sim.emit(event("Newchannel", "1700000002.1", 1))
    sim.emit(event("Newchannel", "1700000002.1", "x"))  # int('x') raises: counts as false
    sim.emit(event("Newchannel", "1700000002.1", 2))
    wait_until(lambda: len(records(db)) == 2, 20, message="events with a valid condition")
    count, error = wait_until(
        lambda: query(
            db,
            "SELECT error_count, last_error FROM asterisk_common_event "
            "WHERE id = %s AND error_count > 0",
            [entry],
        ),
        10,
        message="condition error on the entry",
    )[0]
    assert count == 1 and "ValueError" in error


def test_map_edit_reaches_worker_without_restart(db, sim, odoo):
    server_id = add_server(db, sim.port)
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    sim.emit(event("Newstate", "1700000003.1", 1))
    time.sleep(0.5)
    assert records(db) == []
    node.rpc(
        "asterisk_common.event",
        "create",
        {
            "name": "Newstate",
            "model": "asterisk_worker_test.record",
            "method": "ami_record",
        },
    )
    started = time.monotonic()
    wait_until(lambda: node.log().count("events map loaded") >= 2, 5, 0.05, message="map reloaded")
    assert time.monotonic() - started <= 1.0
    sim.emit(event("Newstate", "1700000003.1", 2))
    wait_until(lambda: records(db), 10, message="event of the new entry")
    assert records(db)[0][3] == 2
    # And the edit to a non-handler is refused by the server, as in the form.
    with pytest.raises(Exception, match="not an AMI handler"):
        node.rpc(
            "asterisk_common.event",
            "create",
            {
                "name": "Newstate",
                "model": "asterisk_worker_test.record",
                "method": "not_a_handler",
            },
        )


def test_userevent_escape_hatch(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Cdr", method="ami_record_other")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    base = {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "UserEvent": "Odoo",
        "Model": "asterisk_worker_test.record",
        "Linkedid": "1700000004.1",
    }
    sim.emit(dict(base, Method="not_a_handler", Seq="1"))
    sim.emit(dict(base, Method="unlink", Seq="2"))
    sim.emit(dict(base, Method="ami_record_other", Seq="3"))
    wait_until(lambda: records(db), 10, message="the mapped handler")
    time.sleep(0.5)
    assert records(db) == [("UserEvent", "ami_record_other", "1700000004.1", 3)]
    assert node.log().count("is not a handler of the events map") == 2


# -- actions ----------------------------------------------------------------------------


def _wait_action(db, action_id, timeout=15):
    return wait_until(
        lambda: (
            (
                row := query(
                    db,
                    "SELECT state, reply, error FROM asterisk_common_action WHERE id = %s",
                    [action_id],
                )[0]
            )[0]
            not in ("queued", "sent")
            and row
        ),
        timeout,
        0.05,
        message=f"action {action_id} finished",
    )


def test_actions_round_trip(db, sim, odoo):
    # A slow Ping watchdog, so that the silent peer below is a timeout, not a drop.
    server_id = add_server(db, sim.port, action_timeout=1.0, ping_interval=30.0, ping_timeout=10.0)
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")

    ping = node.rpc("asterisk_common.server", "ami_action", [server_id], {"Action": "Ping"})
    state, reply, error = _wait_action(db, ping)
    assert state == "done" and error is None
    assert reply["response"]["Response"] == "Success" and reply["response"]["Ping"] == "Pong"
    assert any(
        a.get("Action") == "Ping" and a.get("ActionID") == f"odoo-{ping}"
        for a in sim.actions_received
    )

    listed = node.rpc(
        "asterisk_common.server",
        "ami_action",
        [server_id],
        {"Action": "Command", "Command": "core show version"},
    )
    state, reply, _ = _wait_action(db, listed)
    assert state == "done" and reply["response"]["Output"]

    # The requester (admin) is told through the bus.
    messages = [json.loads(m) for (m,) in query(db, "SELECT message FROM bus_bus")]
    notified = [m["payload"] for m in messages if m["type"] == "asterisk_common.action"]
    assert {"id": ping, "name": "Ping", "state": "done", "error": None} in notified

    bad = node.rpc("asterisk_common.server", "ami_action", [server_id], {"Action": "NoSuchAction"})
    state, reply, error = _wait_action(db, bad)
    assert state == "failed" and "Invalid/unknown command" in error

    # A prelude goes first, in its order, on the same connection...
    def user_event(name):
        return {"Action": "UserEvent", "UserEvent": name}

    def received(prefix):
        names = (a.get("UserEvent", "") for a in sim.actions_received)
        return [name for name in names if name.startswith(prefix)]

    prelude = [user_event(f"first-{i}") for i in range(5)]
    led = node.rpc(
        "asterisk_common.server", "ami_action", [server_id], user_event("first-main"),
        prelude=prelude,
    )  # fmt: skip
    state, reply, error = _wait_action(db, led)
    assert (state, error) == ("done", None)
    assert received("first-") == [f"first-{i}" for i in range(5)] + ["first-main"]
    # ... and a failing one stops the action, saying which one failed and why.
    stopped = node.rpc(
        "asterisk_common.server", "ami_action", [server_id], user_event("second-main"),
        prelude=[user_event("second-0"), {"Action": "NoSuchAction"}],
    )  # fmt: skip
    state, reply, error = _wait_action(db, stopped)
    assert (state, reply) == ("failed", None)
    assert error.startswith("NoSuchAction: Invalid/unknown command"), error
    assert received("second-") == ["second-0"]

    # Silent peer: the action times out with a clear error.
    sim.set_silent(True)
    slow = node.rpc("asterisk_common.server", "ami_action", [server_id], {"Action": "Ping"})
    state, _, error = _wait_action(db, slow)
    assert state == "failed" and "Timeout" in error
    sim.set_silent(False)


def test_action_for_disconnected_server_fails_fast_or_waits(db, sim, odoo):
    server_id = add_server(db, sim.port)
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    sim.stop()
    wait_until(lambda: not connected(db, server_id), 20, message="server disconnected")
    started = time.monotonic()
    fast = node.rpc("asterisk_common.server", "ami_action", [server_id], {"Action": "Ping"})
    state, _, error = _wait_action(db, fast)
    assert state == "failed" and "not connected" in error
    assert time.monotonic() - started < 8
    waiting = node.rpc(
        "asterisk_common.server",
        "ami_action",
        [server_id],
        {"Action": "Ping"},
        wait_connected=True,
        expire=60,
    )
    time.sleep(1)
    assert query(db, "SELECT state FROM asterisk_common_action WHERE id = %s", [waiting]) == [
        ("queued",)
    ]
    sim.restart()
    state, reply, _ = _wait_action(db, waiting, timeout=30)
    assert state == "done" and reply["response"]["Ping"] == "Pong"


def test_sync_helper_waits_for_reply(db, sim, odoo):
    server_id = add_server(db, sim.port)
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    result = node.rpc(
        "asterisk_common.server",
        "ami_action_sync",
        [server_id],
        {"Action": "CoreSettings"},
        timeout=5,
    )
    assert result["state"] == "done"
    assert result["reply"]["response"]["AsteriskVersion"]


# -- connection faults ------------------------------------------------------------------


def test_silent_peer_watchdog_and_reconnect(db, sim, odoo):
    """Events stream through it: those the worker could read are handled
    once and in order, every one after the reconnect too."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    stream = LiveStream(sim, "1700000005.1").start()
    time.sleep(1.0)
    sim.set_silent(True)
    started = time.monotonic()
    wait_until(lambda: not connected(db, server_id), 15, message="silent peer detected")
    # ping_interval + ping_timeout = 2 s, health written every 3 s
    assert time.monotonic() - started < 8
    assert "unanswered" in (server_health(db, server_id)["last_error"] or "")
    sim.set_silent(False)
    wait_until(lambda: connected(db, server_id), 30, message="reconnected")
    time.sleep(1.0)
    counts = stream.finish(db)
    assert len([p for p in counts if p]) == 2 and counts.get(None), counts
    assert node.errors() == []


def test_reconnect_after_simulator_restart(db, sim, odoo):
    """The PBX restarts while events stream: same guarantees as above."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    stream = LiveStream(sim, "1700000006.1").start()
    time.sleep(1.0)
    sim.stop()
    wait_until(lambda: not connected(db, server_id), 15, message="disconnect seen")
    time.sleep(2)  # a few refused reconnects, with backoff
    sim.restart()
    wait_until(lambda: connected(db, server_id), 40, message="reconnected")
    time.sleep(1.0)
    counts = stream.finish(db)
    assert len([p for p in counts if p]) == 2 and counts.get(None), counts
    logins = [a for a in sim.actions_received if a.get("Action", "").lower() == "login"]
    assert len(logins) >= 2


def test_auth_failure_reported(db, sim, odoo):
    server_id = add_server(db, sim.port, secret="wrong")
    odoo(db)
    wait_until(
        lambda: "Authentication failed" in (server_health(db, server_id)["last_error"] or ""),
        20,
        message="auth failure shown",
    )
    assert server_health(db, server_id)["state"] != "connected"


def test_server_edit_and_archive_reconfigure_the_worker(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    with SimulatorThread(port=0, failed_login_delay=0.2) as other:
        node.rpc("asterisk_common.server", "write", [server_id], {"port": other.port})
        assert other.wait_for_sessions(1, timeout=10), "not reconnected to the new port"
        wait_until(lambda: not logged_in(sim), 10, message="old connection closed")
        other.emit(event("Newchannel", "1700000007.1", 1))
        wait_until(lambda: records(db), 10, message="event from the new server")
        node.rpc("asterisk_common.server", "write", [server_id], {"active": False})
        wait_until(lambda: not logged_in(other), 10, message="archived server disconnected")


def test_resync_hook_gets_live_channels(db, sim, odoo):
    server_id = add_server(db, sim.port)
    sim.start_call("alice_calls_bob")  # stays bridged
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    line = node.wait_log(r"Simulated PBX: (\d+) live channels after \(re\)connect", 10)
    assert int(line.group(1)) >= 1


def test_buffer_overflow_is_counted_not_silent(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", method="ami_slow")
    node = odoo(
        db,
        options={
            "asterisk_worker_buffer": 5,
            "asterisk_worker_threads": 1,
            "asterisk_worker_batch": 1,
        },
    )
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    for seq in range(40):
        sim.emit(event("Newchannel", "1700000008.1", seq, Sleep="0.05"))
    health = wait_until(
        lambda: (
            (h := server_health(db, server_id))["events_dropped"] and not h["events_buffered"] and h
        ),
        30,
        0.2,
        message="overflow counted and buffer drained",
    )
    handled = len(records(db))
    assert health["events_dropped"] + handled == 40
    assert health["events_dropped"] > 0 and handled >= 5
    assert "event buffer full" in node.log()
