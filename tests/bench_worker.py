"""Quick benchmark of the AMI worker (not a test): a real Odoo server with the
worker loaded, the AMI simulator's load generator, a realistic events map.

    .venv/bin/python -m tests.bench_worker --calls-per-second 50 100 --duration 20

For each rate and handler (``ami_noop``: dispatch alone; ``ami_record``: one
row inserted per mapped event) it reports the events received and handled per
second, the p50/p99 latency from the event's arrival on the AMI socket to the
commit of its handler, and the worker process's memory. Needs PostgreSQL and
the virtualenv (tools/test sets both up); ODOO_HOME is found from ``odoo``.
"""

import argparse
import os
import time

from .ami_simulator import SimulatorThread
from .odoo_env import copy_db, drop_db, query, unique_db
from .worker_env import (
    OdooServer,
    add_map_entry,
    add_server,
    create_worker_template,
    server_health,
)

# What a calls module maps: a call's state changes, not its VarSet/Newexten noise.
MAPPED = ["Newchannel", "Newstate", "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave",
          "Hangup", "Cdr", "OriginateResponse"]  # fmt: skip


def run(template, rate, duration, handler):
    db = unique_db("bench")
    copy_db(template, db)
    node = None
    try:
        with SimulatorThread(port=0, time_scale=1.0) as sim:
            server_id = add_server(db, sim.port, ping_interval=10.0, ping_timeout=10.0)
            for name in MAPPED:
                add_map_entry(db, name, method=handler)
            node = OdooServer(db, name="bench", options={"log_level": "warn"}).start()
            deadline = time.monotonic() + 30
            while server_health(db, server_id)["state"] != "connected":
                assert time.monotonic() < deadline, "worker did not connect"
                time.sleep(0.2)
            rss_before = node.rss_mb()
            sim.start_load(rate, duration)
            started = time.monotonic()
            time.sleep(duration)
            sim.wait_calls_done(60)
            # Drained when the health report stops moving.
            last, stable = None, 0
            while stable < 2:
                time.sleep(3.2)
                health = server_health(db, server_id)
                now = (health["events_dispatched"], health["events_buffered"])
                stable = stable + 1 if now == last and not health["events_buffered"] else 0
                last = now
            elapsed = time.monotonic() - started
            health = server_health(db, server_id)
            p50, p99 = query(
                db,
                "SELECT latency_p50, latency_p99 FROM asterisk_common_server WHERE id = %s",
                [server_id],
            )[0]
            return {
                "rate": rate,
                "handler": handler,
                "received": health["events_received"],
                "handled": health["events_dispatched"],
                "failed": health["events_failed"],
                "dropped": health["events_dropped"],
                "received_per_s": health["events_received"] / duration,
                "handled_per_s": health["events_dispatched"] / duration,
                "drain_s": elapsed - duration - 6.4,
                "p50_ms": p50,
                "p99_ms": p99,
                "rss_before_mb": rss_before,
                "rss_after_mb": node.rss_mb(),
            }
    finally:
        if node:
            node.discard()
        drop_db(db)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls-per-second", type=float, nargs="+", default=[50, 100])
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--handlers", nargs="+", default=["ami_noop", "ami_record"])
    args = parser.parse_args()
    template = create_worker_template("tmpl_bench")
    try:
        print(f"{os.cpu_count()} cores; mapped events: {', '.join(MAPPED)}")
        print(
            f"{'calls/s':>7} {'handler':>10} {'recv/s':>8} {'handled/s':>9} {'failed':>6} "
            f"{'dropped':>7} {'drain s':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>13}"
        )
        for rate in args.calls_per_second:
            for handler in args.handlers:
                r = run(template, rate, args.duration, handler)
                print(
                    f"{r['rate']:>7g} {r['handler']:>10} {r['received_per_s']:>8.0f} "
                    f"{r['handled_per_s']:>9.0f} {r['failed']:>6} {r['dropped']:>7} "
                    f"{r['drain_s']:>7.1f} "
                    f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                    f"{r['rss_before_mb']:>5.0f}->{r['rss_after_mb']:<5.0f}",
                    flush=True,
                )
    finally:
        drop_db(template)


if __name__ == "__main__":
    main()
