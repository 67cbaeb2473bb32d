"""Fault drills: what breaks in production, done on purpose, counted.

Each drill counts the events sent against those handled (nothing lost, nothing
twice) and keeps each call's order. The PostgreSQL restart and the two-node
failover are in test_worker_processes.py; the PBX connection dropped and the
silent peer in test_worker.py.
"""

import random
import time

from .ami_simulator import SimulatorThread
from .odoo_env import query
from .test_calls_worker import start
from .test_worker import connected
from .test_worker_processes import ConsumerWatch, leader_pid
from .worker_env import (
    add_map_entry,
    add_server,
    calls,
    event,
    records,
    server_health,
    stream_events,
    wait_until,
)


def kill_lock_connection(db, server_id):
    """Terminate the leader's own PostgreSQL session (LISTEN + advisory locks),
    as a network blip or an admin's pg_terminate_backend would."""
    leader = server_health(db, server_id)["leader"]
    killed = query(
        db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        [f"asterisk_worker {leader}"],
    )
    names = query(db, "SELECT application_name FROM pg_stat_activity WHERE datname = %s", [db])
    assert killed == [(True,)], f"the lock connection of {leader} not among {names}"


def per_call_order(rows, prefix, calls, per_call):
    for call in range(calls):
        seqs = [r[3] for r in rows if r[2] == f"{prefix}.{call}"]
        assert seqs == list(range(per_call)), f"call {call}: {seqs}"


def test_leader_lock_connection_killed_keeps_one_consumer(db, sim, odoo):
    """Only the leader's lock connection dies: the advisory lock is free until
    the leader takes it back, milliseconds later; the standby must not win it
    meanwhile (it waits to see a lock free twice, a second apart)."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    sim.reset_max_logged_in()
    watch = ConsumerWatch(sim)
    watch.start()
    try:
        nodes = [odoo(db), odoo(db)]
        wait_until(lambda: connected(db, server_id), 30, message="server connected")
        time.sleep(3)  # the standby looks at the lock meanwhile
        leader = leader_pid(db, server_id)
        assert leader in {n.proc.pid for n in nodes}
        calls, per_call = 20, 30
        streamer = stream_events(sim, "1700000020", calls, per_call)  # 100 events/s for 6 s
        for _ in range(3):
            time.sleep(1.5)
            kill_lock_connection(db, server_id)
        streamer.join()
        wait_until(lambda: len(records(db)) >= calls * per_call, 30, message="every event handled")
        time.sleep(1)  # a second consumer's copies would land now
    finally:
        watch.stop()
    rows = records(db)
    assert len(rows) == calls * per_call, "events handled twice"
    per_call_order(rows, "1700000020", calls, per_call)
    assert watch.most == 1, "two AMI consumers were logged in at once (sampled)"
    assert sim.max_logged_in == 1, "two AMI consumers were logged in at once"
    wait_until(lambda: connected(db, server_id), 10, message="health after the drill")
    assert leader_pid(db, server_id) == leader, "the leadership moved"
    leader_node = next(n for n in nodes if n.proc.pid == leader)
    log = leader_node.log()
    assert log.count("lost the worker's database connection") == 3
    # The new lock connection LISTENs too (it once got the closed one's file
    # number, and the loop kept watching the old registration: no NOTIFY heard).
    loaded = log.count("events map loaded")
    leader_node.rpc(
        "asterisk_common.event",
        "create",
        {"name": "Hangup", "model": "asterisk_worker_test.record", "method": "ami_record"},
    )
    wait_until(
        lambda: leader_node.log().count("events map loaded") > loaded,
        1.5,
        0.05,
        message="the map edit heard by the leader",
    )
    for node in nodes:
        assert "letting it go" not in node.log()
        assert node.errors() == []


def test_handler_raising_one_event_in_a_thousand(db, sim, odoo):
    """A batch handler whose every thousandth event raises: each failure is
    stored with its event, its neighbours in the batch are all kept."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel", method="ami_batch")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    calls, per_call = 50, 100
    failing = set(random.Random(11).sample(range(calls * per_call), 5))

    def burst(simulator):
        for index in range(calls * per_call):
            seq, call = divmod(index, calls)
            extra = {"Fail": "1"} if index in failing else {}
            simulator.emit_nowait(event("Newchannel", f"1700000021.{call}", seq, **extra))

    sim.call(burst, sim.sim)
    expected = calls * per_call - len(failing)
    wait_until(lambda: len(records(db)) >= expected, 60, 0.2, message="the good events")
    errors = wait_until(
        lambda: (
            len(
                found := query(
                    db,
                    "SELECT event->>'Linkedid', (event->>'Seq')::int, error "
                    "FROM asterisk_common_dispatch_error",
                )
            )
            == len(failing)
            and found
        ),
        20,
        message="the failures stored",
    )
    assert {(f"1700000021.{i % calls}", i // calls) for i in failing} == {e[:2] for e in errors}
    assert all("on purpose" in e[2] for e in errors)
    rows = records(db)
    assert len(rows) == expected
    assert any(int(r[1].split(":")[1]) > 1 for r in rows), "no batch was formed"
    for call in range(calls):
        lost = {i // calls for i in failing if i % calls == call}
        seqs = [r[3] for r in rows if r[2] == f"1700000021.{call}"]
        assert seqs == [s for s in range(per_call) if s not in lost], f"call {call}"
    health = wait_until(
        lambda: (h := server_health(db, server_id))["events_failed"] == len(failing) and h,
        10,
        message="failures counted",
    )
    assert health["events_dispatched"] == expected
    assert node.errors() == [] or all("on purpose" in line for line in node.errors())
    # Logged once per handler per 10 s, with the count of the others.
    logged = [line for line in node.log().splitlines() if "ami_batch failed on" in line]
    assert 1 <= len(logged) < len(failing), logged
    if len(logged) == 1:
        assert "more failures" not in logged[0]


def test_burst_far_above_the_sustained_rate(db, sim, odoo):
    """20,000 events written at once (the simulator's loop writes them in one
    go), over 10x the rate a handler of one row per event drains them at:
    memory stays bounded, the backlog drains, nothing is dropped, each call
    keeps its order."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 20, message="server connected")
    calls = 100

    def send(simulator, prefix, per_call):
        for seq in range(per_call):
            for call in range(calls):
                simulator.emit_nowait(event("Newchannel", f"{prefix}.{call}", seq))

    def handled(prefix):
        return records(db, "linkedid LIKE %s", [f"{prefix}.%"])

    # Warm up (caches, registry, the first batches): memory is measured from here.
    sim.call(send, sim.sim, "1700000022", 20)
    wait_until(lambda: len(handled("1700000022")) == 2000, 60, message="warm-up")
    rss_before = node.rss_mb()

    per_call = 200
    at = time.monotonic()
    sim.call(send, sim.sim, "1700000030", per_call, timeout=120)
    written = time.monotonic() - at
    peak, total = rss_before, 0
    while total < calls * per_call and time.monotonic() - at < 180:
        peak = max(peak, node.rss_mb())
        time.sleep(0.2)
        total = len(handled("1700000030"))
    drained = time.monotonic() - at
    assert total == calls * per_call, "the backlog did not drain"
    burst_rate, drain_rate = total / max(written, 1e-3), total / drained
    print(
        f"burst of {total} events written in {written:.2f} s ({burst_rate:.0f} events/s), "
        f"drained in {drained:.1f} s ({drain_rate:.0f} events/s, {burst_rate / drain_rate:.0f}x "
        f"slower); RSS {rss_before:.0f} MB -> peak {peak:.0f} MB"
    )
    assert burst_rate >= 10 * drain_rate
    assert server_health(db, server_id)["events_dropped"] == 0
    p50, p95, p99 = wait_until(
        lambda: (
            (
                row := query(
                    db,
                    "SELECT latency_p50, latency_p95, latency_p99 FROM asterisk_common_server "
                    "WHERE id = %s",
                    [server_id],
                )[0]
            )[2]
            and row
        ),
        10,
        message="latency reported",
    )
    assert 0 < p50 <= p95 <= p99, (p50, p95, p99)
    # The backlog is held as event dicts (a few hundred bytes each) bounded by
    # asterisk_worker_buffer: 20k of them fit in tens of MB.
    assert peak - rss_before < 150, f"memory grew by {peak - rss_before:.0f} MB"
    per_call_order(handled("1700000030"), "1700000030", calls, per_call)
    assert node.errors() == []


def test_odoo_killed_mid_call_then_restarted(calls_db, odoo):
    """SIGKILL of the whole Odoo server while five calls talk; two of them end
    while it is down. After the restart, the resync closes those two, the
    three others end from their own events: five calls, each once, none left
    open. What a SIGKILL loses is what was only in memory: the events read
    but not yet committed (milliseconds of traffic), those waiting for an
    events-map delay, and everything Asterisk sent while no Odoo was there
    (AMI keeps no backlog); the resync is what makes the calls right again."""
    with SimulatorThread(port=0, time_scale=1.0) as sim:
        node, server_id = start(odoo, calls_db, sim)
        short = [sim.start_call("two_users", talk_time=3.0) for _ in range(2)]
        long = [sim.start_call("two_users", talk_time=20.0) for _ in range(2)]
        long.append(sim.start_call("inbound_ring_group", talk_time=20.0))
        wait_until(
            lambda: len(calls(calls_db, "c.status = 'in_progress'")) == 5,
            20,
            message="five calls in progress",
        )
        node.kill()
        killed_at = time.monotonic()
        time.sleep(max(0.0, 5.0 - (time.monotonic() - killed_at)))  # the short ones end
        node2 = odoo(calls_db)
        wait_until(lambda: server_health(calls_db, server_id)["state"] == "connected", 20)
        print(f"down for {time.monotonic() - killed_at:.1f} s")
        found = wait_until(
            lambda: (
                len(done := calls(calls_db, "c.ended_at IS NOT NULL")) == 5
                # and the long calls' own last event, their CDR
                and all(c["cdr_disposition"] for c in done if c["linkedid"] in long)
                and done
            ),
            40,
            0.5,
            message="the five calls ended",
        )
    by_id = {c["linkedid"]: c for c in found}
    assert sorted(by_id) == sorted(short + long)
    assert len(calls(calls_db)) == 5, "a call recorded twice, or a phantom"
    for linkedid in short:
        call = by_id[linkedid]
        assert call["status"] == "answered" and call["answered_by"] == "bob"
        assert any(e["k"] == "resync" for e in call["timeline"]), "not closed by the resync"
    for linkedid in long:
        call = by_id[linkedid]
        assert call["status"] == "answered"
        assert not any(e["k"] == "resync" for e in call["timeline"])
        assert abs(call["talk_seconds"] - 20) <= 1
    assert node2.errors() == []
