"""Benchmark (not a test): the in-Odoo worker against the design it replaces,
side by side in one run, on the same workload and the same database template.

- Path 1, this suite: Odoo with the AMI worker (``--load=...asterisk_agent_worker``),
  asterisk_calls' default events map.
- Path 2, the external agent: a process outside Odoo reads the same AMI stream
  and sends each mapped event to Odoo by JSON-RPC (``execute_kw``, one request
  per event, as the old agent did), to the same handlers of the same map
  (``asterisk_worker_test.agent.dispatch``), against Odoo in prefork with
  ``--workers`` workers, with ``--clients`` concurrent clients (each call's events
  go to one client, in order).

    .venv/bin/python -m tests.bench_paths --calls-per-second 10 50 100 200 --duration 30

For each rate and path: calls recorded and completed per second (sustained over
the second half of the load), events handled per second, p50/p95/p99 latency
from the event's arrival on the AMI socket to its handler's commit, CPU seconds
of Odoo, of PostgreSQL and of the agent per 1,000 events, and the ratio
path 1 / path 2 of each figure. The workload is the simulator's load generator:
the call mix of the shared captures (originates answered, busy, unanswered, SIP
calls). Needs PostgreSQL and the virtualenv (tools/test sets both up).
"""

import argparse
import collections
import http.client
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time

from . import bench_calls
from .ami_simulator import SimulatorThread
from .bench_calls import ended
from .odoo_env import REPO, copy_db, drop_db, query, unique_db
from .worker_env import OdooServer, create_calls_template, point_server


def _load_router():
    # The worker's own router (pure Python), loaded by path: the agent must give
    # the handlers the same ``_linkedid`` the worker gives them.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_router", os.path.join(REPO, "asterisk_agent_worker", "router.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROUTER = _load_router()
DRAIN_MAX = 90  # seconds a path may take to catch up once the load stopped


# -- CPU accounting -------------------------------------------------------------------


def _cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime: fields 14-17 of stat (11-14 after the name)
            total += sum(int(x) for x in fields[11:15]) / tick
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def _pids(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class CpuMeter:
    """CPU seconds of Odoo (master and prefork workers) and of PostgreSQL."""

    def __init__(self, node):
        self.node = node

    def sample(self):
        odoo = [self.node.proc.pid, *self.node.children()]
        return {"odoo": _cpu_seconds(odoo), "postgres": _cpu_seconds(_pids("postgres"))}


# -- path 2: the external agent -------------------------------------------------------


class Agent:
    """Reads AMI events from the simulator and sends each mapped one by JSON-RPC."""

    def __init__(self, sim_port, http_port, db, server_id, mapped, clients):
        self.sim_port, self.http_port, self.db = sim_port, http_port, db
        self.server_id = server_id
        self.mapped = set(mapped)
        self.wanted = self.mapped | ROUTER.ROUTING_EVENTS
        self.router = ROUTER.CallRouter()
        self.queues = [queue.Queue() for _ in range(clients)]
        self.latencies = []
        self.sent = self.done = self.failed = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.local = threading.local()
        self.uid = None

    def _rpc(self, service, method, *args):
        # One keep-alive HTTP connection per thread, as a client library keeps.
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.http_port, 60)
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"service": service, "method": method, "args": list(args)},
            }
        )
        conn.request("POST", "/jsonrpc", body, {"Content-Type": "application/json"})
        reply = json.loads(conn.getresponse().read())
        if "error" in reply:
            raise RuntimeError(reply["error"]["data"]["message"])
        return reply["result"]

    def execute(self, model, method, *args):
        return self._rpc(
            "object", "execute_kw", self.db, self.uid, "admin", model, method, list(args)
        )

    def start(self):
        self.uid = self._rpc("common", "login", self.db, "admin", "admin")
        self.mapped = set(self.execute("asterisk_worker_test.agent", "events_map"))
        self.wanted = self.mapped | ROUTER.ROUTING_EVENTS
        self.threads = [threading.Thread(target=self._read, daemon=True)]
        self.threads += [
            threading.Thread(target=self._send, args=(q,), daemon=True) for q in self.queues
        ]
        self.sock = socket.create_connection(("127.0.0.1", self.sim_port))
        self.sock.sendall(b"Action: Login\r\nUsername: odoo\r\nSecret: odoo-secret\r\n\r\n")
        for thread in self.threads:
            thread.start()

    def _read(self):
        buffer = b""
        self.sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            if not chunk:
                return
            received = time.time()
            buffer += chunk
            *frames, buffer = buffer.split(b"\r\n\r\n")
            for frame in frames:
                event = {}
                for line in frame.decode("utf-8", "replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        event[key] = value
                name = event.get("Event")
                if name not in self.wanted:
                    continue
                event["_server_id"] = self.server_id
                event["_received"] = received
                event["_linkedid"] = self.router.route(event, time.monotonic())
                if name not in self.mapped:
                    continue
                shard = hash(event["_linkedid"] or event.get("Uniqueid") or "") % len(self.queues)
                with self.lock:
                    self.sent += 1
                self.queues[shard].put(event)

    def _send(self, events):
        while True:
            event = events.get()
            try:
                self.execute("asterisk_worker_test.agent", "dispatch", event)
                ok = True
            except Exception:  # counted: the old agent logged and went on
                ok = False
            latency = (time.time() - event["_received"]) * 1000
            with self.lock:
                self.done += 1
                self.failed += not ok
                self.latencies.append(latency)
            events.task_done()

    def backlog(self):
        with self.lock:
            return self.sent - self.done

    def close(self):
        self.stop.set()
        self.sock.close()


# -- one run --------------------------------------------------------------------------


def _percentiles(values):
    if not values:
        return 0.0, 0.0, 0.0
    cuts = statistics.quantiles(values, n=100)
    return statistics.median(values), cuts[94], cuts[98]


def _sustained(db, started, duration):
    time.sleep(duration / 2)
    first = (time.monotonic(), ended(db))
    time.sleep(max(0.0, started + duration - time.monotonic()))
    last = (time.monotonic(), ended(db))
    return (last[1] - first[1]) / (last[0] - first[0])


def run_worker(template, rate, duration, threads):
    r = bench_calls.run(template, rate, duration, threads, meter=lambda node: CpuMeter(node).sample)
    handled = r["handled"]
    return {
        "path": "worker",
        "rate": rate,
        "started": r["started"],
        "recorded": r["recorded"],
        "ended": r["ended"],
        "sustained": r["sustained"],
        "events": handled,
        "events_per_s": handled / (duration + max(r["drain_s"], 0.0)),
        "failed": r["errors"],
        "left": r["buffered"],
        "drain_s": r["drain_s"],
        "p50": r["p50_ms"],
        "p95": r["p95_ms"],
        "p99": r["p99_ms"],
        "cpu_odoo": r["cpu"]["odoo"] / max(handled, 1) * 1000,
        "cpu_pg": r["cpu"]["postgres"] / max(handled, 1) * 1000,
        "cpu_agent": 0.0,
        "rss": f"{r['rss_before_mb']:.0f}->{r['rss_after_mb']:.0f}",
    }


def run_agent(template, rate, duration, workers, clients):
    db = unique_db("bench_p2")
    copy_db(template, db)
    node = agent = None
    try:
        with SimulatorThread(port=0, time_scale=1.0) as sim:
            server_id = point_server(db, sim.port)
            # The worker stays out of it: an archived server is not connected.
            query(db, "UPDATE asterisk_common_server SET active = false")
            node = OdooServer(
                db,
                name="bench_p2",
                workers=workers,
                options={"log_level": "warn", "limit_time_real": 600, "db_maxconn": 64},
            ).start()
            agent = Agent(sim.port, node.http_port, db, server_id, (), clients)
            agent.start()
            time.sleep(1.0)
            cpu = CpuMeter(node)
            before = cpu.sample()
            agent_before = time.process_time()
            load = sim.start_load(rate, duration)
            started = time.monotonic()
            sustained = _sustained(db, started, duration)
            sim.wait_calls_done(120)
            # Past its capacity the agent's backlog would take minutes: what is left
            # after DRAIN_MAX seconds is reported, not waited for.
            deadline = time.monotonic() + DRAIN_MAX
            while agent.backlog() and time.monotonic() < deadline:
                time.sleep(0.2)
            left = agent.backlog()
            drain = time.monotonic() - started - duration
            after = cpu.sample()
            agent_cpu = time.process_time() - agent_before
            p50, p95, p99 = _percentiles(agent.latencies)
            return {
                "path": "agent",
                "rate": rate,
                "started": load.started,
                "recorded": query(db, "SELECT count(*) FROM asterisk_calls_call")[0][0],
                "ended": ended(db),
                "sustained": sustained,
                "events": agent.done,
                "events_per_s": agent.done / (duration + max(drain, 0.0)),
                "failed": agent.failed,
                "left": left,
                "drain_s": drain,
                "p50": p50,
                "p95": p95,
                "p99": p99,
                "cpu_odoo": (after["odoo"] - before["odoo"]) / max(agent.done, 1) * 1000,
                "cpu_pg": (after["postgres"] - before["postgres"]) / max(agent.done, 1) * 1000,
                "cpu_agent": agent_cpu / max(agent.done, 1) * 1000,
                "rss": "",
            }
    finally:
        if agent:
            agent.close()
        if node:
            node.discard()
        drop_db(db)


COLUMNS = (  # key, title, width, format
    ("path", "path", 6, ""),
    ("rate", "calls/s", 7, "g"),
    ("started", "started", 7, ""),
    ("recorded", "recorded", 8, ""),
    ("ended", "ended", 6, ""),
    ("sustained", "ended/s", 7, ".1f"),
    ("events_per_s", "events/s", 8, ".0f"),
    ("failed", "failed", 6, ""),
    ("left", "left", 6, ""),
    ("drain_s", "drain s", 7, ".1f"),
    ("p50", "p50 ms", 8, ".1f"),
    ("p95", "p95 ms", 8, ".1f"),
    ("p99", "p99 ms", 8, ".1f"),
    ("cpu_odoo", "odoo s/1k", 9, ".2f"),
    ("cpu_pg", "pg s/1k", 7, ".2f"),
    ("cpu_agent", "agent s/1k", 10, ".2f"),
    ("rss", "RSS MB", 9, ""),
)


def _row(result):
    cells = []
    for key, _title, width, spec in COLUMNS:
        value = result[key]
        cells.append(f"{'-' if value is None else format(value, spec):>{width}}")
    return " ".join(cells)


def cpu_of(result):
    """CPU seconds per 1,000 events of the whole path: Odoo, PostgreSQL, the agent."""
    return result["cpu_odoo"] + result["cpu_pg"] + result["cpu_agent"]


def _ratio(a, b):
    # Three significant digits: a latency ratio is often 0.00x.
    return f"{a / b:.3g}" if b else "-"


def machine():
    """What the figures were measured on, for the results file."""
    model = ""
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "")
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 2**20, 1),
        "postgresql": query("postgres", "SHOW server_version")[0][0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls-per-second", type=float, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--threads", type=int, default=2, help="path 1: asterisk_worker_threads")
    parser.add_argument("--workers", type=int, default=4, help="path 2: Odoo prefork workers")
    parser.add_argument("--clients", type=int, default=4, help="path 2: concurrent RPC clients")
    parser.add_argument("--paths", nargs="+", default=["worker", "agent"])
    parser.add_argument("--output", help="also write the results (and the machine) as JSON here")
    args = parser.parse_args()
    template = create_calls_template("tmpl_bench_paths")
    best = collections.defaultdict(float)
    runs = []
    try:
        print(
            f"{os.cpu_count()} cores, {args.duration:g} s per run; path 1: {args.threads} "
            f"dispatch threads; path 2: {args.workers} prefork workers, {args.clients} clients"
        )
        print(" ".join(f"{title:>{width}}" for _key, title, width, _spec in COLUMNS))
        for rate in args.calls_per_second:
            results = {}
            if "worker" in args.paths:
                results["worker"] = run_worker(template, rate, args.duration, args.threads)
                print(_row(results["worker"]), flush=True)
            if "agent" in args.paths:
                results["agent"] = run_agent(
                    template, rate, args.duration, args.workers, args.clients
                )
                print(_row(results["agent"]), flush=True)
            for path, r in results.items():
                best[path] = max(best[path], r["sustained"])
                runs.append({"path": path, **r})
            if len(results) == 2:
                w, a = results["worker"], results["agent"]
                print(
                    f"  ratio worker/agent at {rate:g} calls/s: ended/s "
                    f"{_ratio(w['sustained'], a['sustained'])}, events/s "
                    f"{_ratio(w['events_per_s'], a['events_per_s'])}, p50 "
                    f"{_ratio(w['p50'], a['p50'])}, p95 {_ratio(w['p95'], a['p95'])}, "
                    f"p99 {_ratio(w['p99'], a['p99'])}, "
                    f"CPU per event {_ratio(cpu_of(w), cpu_of(a))}",
                    flush=True,
                )
        print("maximum sustained calls/s: " + ", ".join(f"{p} {v:.1f}" for p, v in best.items()))
        if len(best) == 2 and best["agent"]:
            ratio = best["worker"] / best["agent"]
            print(f"ratio worker/agent of the maximum sustained rate: {ratio:.1f}")
        if args.output:
            with open(args.output, "w") as f:
                results = {
                    "command": "python -m tests.bench_paths " + " ".join(sys.argv[1:]),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": machine(),
                    "runs": runs,
                    "max_sustained": best,
                }
                json.dump(results, f, indent=1, default=str)
    finally:
        drop_db(template)


if __name__ == "__main__":
    main()
