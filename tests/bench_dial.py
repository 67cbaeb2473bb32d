"""Benchmark of click-to-dial (not a test): from the button's RPC to the
Originate arriving on the PBX's AMI socket, through a real Odoo server with
the worker and the AMI simulator.

    .venv/bin/python -m tests.bench_dial --clicks 200 [--two-devices]

Each click is what the phone button does: a JSON-RPC ``call_kw`` of
``asterisk_calls.call.pbx_dial`` in a logged-in web session of a PBX user; the
time is taken when the RPC starts and when the simulator has read the
Originate. A trivial RPC in the same session (``res.users.read``) is timed too,
to tell Odoo's own request cost from click-to-dial's. The user's phone answers and the
call ends quickly (time_scale 0.05), so calls do not pile up.
"""

import argparse
import time

from .ami_simulator import SimulatorThread
from .odoo_env import copy_db, drop_db, query, unique_db
from .worker_env import (
    OdooServer,
    create_calls_template,
    give_bob_carols_phone,
    point_server,
    server_health,
)


def uid_of(db, login):
    return query(db, "SELECT id FROM res_users WHERE login = %s", [login])[0][0]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between clicks")
    parser.add_argument(
        "--two-devices",
        action="store_true",
        help="bob has two phones: the Originate rings them through Odoo's odoo-originate "
        "context, added again just before it (the action's prelude)",
    )
    args = parser.parse_args()
    template = create_calls_template("tmpl_bench_dial")
    db = unique_db("bench_dial")
    copy_db(template, db)
    node = None
    try:
        with SimulatorThread(port=0, time_scale=0.05) as sim:
            server_id = point_server(db, sim.port)
            number = "203"
            if args.two_devices:
                give_bob_carols_phone(db)
                number = "0612345678"
            node = OdooServer(db, name="bench", options={"log_level": "warn"}).start()
            deadline = time.monotonic() + 30
            while server_health(db, server_id)["state"] != "connected":
                assert time.monotonic() < deadline, "worker did not connect"
                time.sleep(0.2)
            sim.set_phone("bob", ("answer", 0.2, 0.5))
            sim.set_phone("provider", ("answer", 0.2, 0.5))
            session = node.web_session("bob")
            base = f"http://127.0.0.1:{node.http_port}"

            def call_kw(model, method, args_):
                response = session.post(
                    f"{base}/web/dataset/call_kw/{model}/{method}",
                    json={"params": {"model": model, "method": method, "args": args_,
                                     "kwargs": {}}},
                ).json()  # fmt: skip
                assert "result" in response, response
                return response["result"]

            def originates():
                return sum(1 for a in sim.actions_received if a.get("Action") == "Originate")

            bob = uid_of(db, "bob")
            latencies, rpc_times, baseline = [], [], []
            for _click in range(args.clicks):
                started = time.perf_counter()
                call_kw("res.users", "read", [[bob], ["name"]])
                baseline.append(time.perf_counter() - started)
                seen = originates()
                started = time.perf_counter()
                call_kw("asterisk_calls.call", "pbx_dial", [number])
                rpc_times.append(time.perf_counter() - started)
                while originates() == seen:
                    time.sleep(0.0005)
                latencies.append(time.perf_counter() - started)
                time.sleep(args.pause)
            devices = "two phones (odoo-originate)" if args.two_devices else "one phone"
            print(f"{args.clicks} clicks on {devices}, 2 cores, Odoo threaded with the worker:")
            for label, values in (
                ("RPC -> Originate on the AMI socket", latencies),
                ("  of which the pbx_dial RPC", rpc_times),
                ("a trivial RPC (res.users.read)", baseline),
            ):
                ms = [x * 1000 for x in values]
                print(
                    f"  {label}: p50 {percentile(ms, 0.5):.1f} ms, "
                    f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
                )
            failed = query(db, "SELECT count(*) FROM asterisk_common_action WHERE state = 'failed'")
            print(f"  actions failed: {failed[0][0]}")
    finally:
        if node:
            node.discard()
        drop_db(db)
        drop_db(template)


if __name__ == "__main__":
    main()
