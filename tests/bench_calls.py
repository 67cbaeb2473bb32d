"""Benchmark of the call tracker (not a test): a real Odoo server with the worker
and asterisk_calls' default events map, the AMI simulator's load generator at a
fixed rate of realistic calls (the mix of the shared captures: originates
answered, busy, unanswered, SIP calls), real PostgreSQL.

    .venv/bin/python -m tests.bench_calls --calls-per-second 50 100 150 --duration 30

Reports per rate: calls started and recorded, calls completed per second
while the load ran (sustained when it keeps up with the rate), events read and
handled per second, the p50/p95/p99 latency from an event's arrival on the AMI
socket to the commit of its handler, the worker's memory, and the database
size per 1,000 calls (calls, channels, their indexes), as left by the load
(with the updates' dead rows) and after VACUUM FULL.
"""

import argparse
import os
import re
import time

from .ami_simulator import SimulatorThread
from .odoo_env import copy_db, drop_db, query, unique_db
from .worker_env import OdooServer, create_calls_template, point_server, server_health

TABLES = (
    "asterisk_calls_call",
    "asterisk_calls_channel",
    "asterisk_calls_call_user_rel",
    "asterisk_calls_call_missed_rel",
)


def ended(db):
    return query(
        db,
        "SELECT count(*) FROM asterisk_calls_call WHERE status NOT IN ('ringing', 'in_progress')",
    )[0][0]


def size_per_1000(db, calls):
    sizes = query(
        db,
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname = ANY(%s)",
        [list(TABLES)],
    )[0][0]
    return sizes / max(calls, 1) * 1000 / 1024


def run(template, rate, duration, threads, meter=None):
    """One run; ``meter(node)``, if given, returns a callable sampling CPU seconds
    (``{"odoo": s, "postgres": s}``): its use over the run is in ``cpu``."""
    db = unique_db("bench_calls")
    copy_db(template, db)
    node = None
    try:
        with SimulatorThread(port=0, time_scale=1.0) as sim:
            server_id = point_server(db, sim.port)
            query(db, "UPDATE asterisk_common_server SET ping_interval = 10, ping_timeout = 10")
            node = OdooServer(
                db,
                name="bench",
                options={
                    "log_level": "warn",
                    "log_handler": "odoo.addons.asterisk_agent_worker.dispatch:INFO",
                    "asterisk_worker_threads": threads,
                },
            ).start()
            deadline = time.monotonic() + 30
            while server_health(db, server_id)["state"] != "connected":
                assert time.monotonic() < deadline, "worker did not connect"
                time.sleep(0.2)
            rss_before = node.rss_mb()
            sample = meter(node) if meter else dict
            cpu_before = sample()
            load = sim.start_load(rate, duration)
            started = time.monotonic()
            # Completed calls per second over the second half of the load.
            time.sleep(duration / 2)
            first = (time.monotonic(), ended(db))
            time.sleep(max(0.0, started + duration - time.monotonic()))
            last = (time.monotonic(), ended(db))
            sustained = (last[1] - first[1]) / (last[0] - first[0])
            sim.wait_calls_done(120)
            calls_started = load.started
            last_count, stable = None, 0
            while stable < 2:
                time.sleep(3.2)
                health = server_health(db, server_id)
                now = (health["events_dispatched"], health["events_buffered"], ended(db))
                stable = stable + 1 if now == last_count and not health["events_buffered"] else 0
                last_count = now
            drain = time.monotonic() - started - duration - 6.4
            cpu_after = sample()
            health = server_health(db, server_id)
            total = query(db, "SELECT count(*) FROM asterisk_calls_call")[0][0]
            kb_live = size_per_1000(db, total)
            for table in TABLES:  # the size once the updates' dead rows are gone
                query(db, f'VACUUM FULL "{table}"')
            errors = query(db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0]
            rss_after = node.rss_mb()
            # The health row's percentiles are the last events' (a rolling
            # window for the admin); the worker logs the whole run's at stop.
            node.stop()
            p50, p95, p99 = whole_run_latency(node.log())  # before its folder goes
            node.discard()
            node = None
            return {
                "rate": rate,
                "started": calls_started,
                "recorded": total,
                "ended": ended(db),
                "sustained": sustained,
                "received_per_s": health["events_received"] / duration,
                "handled": health["events_dispatched"],
                "handled_per_s": health["events_dispatched"] / duration,
                "buffered": health["events_buffered"],
                "cpu": {k: cpu_after[k] - cpu_before[k] for k in cpu_after},
                "errors": errors + health["events_failed"],
                "dropped": health["events_dropped"],
                "drain_s": drain,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "rss_before_mb": rss_before,
                "rss_after_mb": rss_after,
                "kb_per_1000": kb_live,
                "kb_per_1000_vacuumed": size_per_1000(db, total),
            }
    finally:
        if node:
            node.discard()
        drop_db(db)


def whole_run_latency(log):
    """p50, p95, p99 (ms) of every event of the run, from the worker's stop line."""
    found = re.findall(r"events handled since start, latency p50 (\d+) ms, p95 (\d+) ms, "
                       r"p99 (\d+) ms", log)  # fmt: skip
    assert found, "the worker logged no latency at stop"
    return tuple(float(v) for v in found[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls-per-second", type=float, nargs="+", default=[50, 100])
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--threads", type=int, default=2, help="asterisk_worker_threads")
    args = parser.parse_args()
    template = create_calls_template("tmpl_bench_calls")
    try:
        print(f"{os.cpu_count()} cores, {args.threads} dispatch threads, {args.duration:g} s runs")
        print(
            f"{'calls/s':>7} {'started':>7} {'recorded':>8} {'ended':>6} {'ended/s':>7} "
            f"{'recv/s':>7} {'handled/s':>9} {'errors':>6} {'dropped':>7} {'drain s':>7} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'RSS MB':>11} "
            f"{'KB/1000 calls':>13} {'vacuumed':>8}"
        )
        for rate in args.calls_per_second:
            r = run(template, rate, args.duration, args.threads)
            print(
                f"{r['rate']:>7g} {r['started']:>7} {r['recorded']:>8} {r['ended']:>6} "
                f"{r['sustained']:>7.1f} {r['received_per_s']:>7.0f} {r['handled_per_s']:>9.0f} "
                f"{r['errors']:>6} {r['dropped']:>7} {r['drain_s']:>7.1f} {r['p50_ms']:>7.1f} "
                f"{r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                f"{r['rss_before_mb']:>5.0f}->{r['rss_after_mb']:<5.0f}"
                f"{r['kb_per_1000']:>13.0f} {r['kb_per_1000_vacuumed']:>8.0f}",
                flush=True,
            )
    finally:
        drop_db(template)


if __name__ == "__main__":
    main()
