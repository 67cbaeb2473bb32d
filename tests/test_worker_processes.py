"""Where the worker runs: prefork, several nodes, one-shot commands, database restarts."""

import os
import signal
import subprocess
import threading
import time

import pytest

from .odoo_env import REPO, odoo_cmd, query
from .test_worker import connected, logged_in
from .worker_env import (
    LiveStream,
    OdooServer,
    add_map_entry,
    add_server,
    event,
    records,
    server_health,
    stream_events,
    wait_until,
)


class ConsumerWatch(threading.Thread):
    """Samples the simulator's logged-in sessions: there must never be two."""

    def __init__(self, sim):
        super().__init__(daemon=True)
        self.sim = sim
        self.most = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.most = max(self.most, len(logged_in(self.sim)))
            self.samples += 1
            time.sleep(0.02)

    def stop(self):
        self._done.set()
        self.join()


def leader_pid(db, server_id):
    leader = server_health(db, server_id)["leader"] or ""
    return int(leader.rsplit("/", 1)[1]) if "/" in leader else None


def test_prefork_dedicated_process_respawned(db, sim, odoo):
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    node = odoo(db, workers=2)
    wait_until(lambda: connected(db, server_id), 30, message="server connected")
    worker_pid = leader_pid(db, server_id)
    assert worker_pid in node.children(), "the worker must be a child of the prefork master"
    with open(f"/proc/{worker_pid}/cmdline", "rb") as f:
        assert b"asterisk" in f.read()
    # HTTP workers and the gevent process do not connect: one AMI session only.
    time.sleep(2)
    assert len(logged_in(sim)) == 1
    sim.emit(event("Newchannel", "1700000010.1", 1))
    wait_until(lambda: len(records(db)) == 1, 15, message="event in prefork")

    os.kill(worker_pid, signal.SIGKILL)
    wait_until(
        lambda: (
            (pid := leader_pid(db, server_id)) and pid != worker_pid and connected(db, server_id)
        ),
        40,
        message="respawned worker connected",
    )
    assert leader_pid(db, server_id) in node.children()
    sim.emit(event("Newchannel", "1700000010.1", 2))
    wait_until(lambda: len(records(db)) == 2, 15, message="event after respawn")
    assert len(logged_in(sim)) == 1


def test_two_nodes_one_consumer_and_failover(db, sim, odoo):
    """Events keep coming while the leader is killed: those sent to a live
    consumer are handled once, those sent while nobody was logged in are lost
    (AMI keeps no backlog: the resync is what repairs the calls)."""
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    sim.reset_max_logged_in()
    watch = ConsumerWatch(sim)
    watch.start()
    stream = LiveStream(sim, "1700000011.1")
    try:
        nodes = [odoo(db), odoo(db)]
        wait_until(lambda: connected(db, server_id), 30, message="server connected")
        time.sleep(3)  # the standby tries the lock meanwhile
        pid = leader_pid(db, server_id)
        leader = next(n for n in nodes if n.proc.pid == pid)
        standby = next(n for n in nodes if n is not leader)
        stream.start()
        time.sleep(1.0)
        leader.kill()
        killed_at = time.monotonic()
        wait_until(
            lambda: leader_pid(db, server_id) == standby.proc.pid and connected(db, server_id),
            20,
            0.1,
            message="standby took over",
        )
        takeover = time.monotonic() - killed_at
        time.sleep(1.0)
        sent = stream.stop()  # (seq, the port of the session logged in then, or None)
        sessions = [port for _, port in sent if port]
        old_port, new_port = sessions[0], sessions[-1]
        to_new = [seq for seq, port in sent if port == new_port]
        wait_until(
            lambda: {r[3] for r in records(db)} >= set(to_new), 15, message="events after failover"
        )
        time.sleep(0.5)
    finally:
        stream.stop()
        watch.stop()
    handled = [r[3] for r in records(db)]
    to_old = [seq for seq, port in sent if port == old_port]
    nobody = [seq for seq, port in sent if port is None]
    lost_in_flight = sorted(set(to_old) - set(handled))
    print(
        f"failover took {takeover:.1f} s; {len(sent)} events sent: {len(to_old)} to the "
        f"old leader ({len(lost_in_flight)} read but not committed at the SIGKILL), "
        f"{len(nobody)} while no consumer was logged in, {len(to_new)} to the new one"
    )
    what = f"sent {sent}, handled {handled}"
    assert old_port != new_port and len(to_old) > 10 and len(to_new) > 10, what
    assert takeover <= 10
    assert handled == sorted(set(handled)), f"an event handled twice or out of order: {what}"
    assert set(handled) <= set(to_old) | set(to_new), what
    assert set(to_new) <= set(handled), what
    # What the killed process had read but not committed: its last moments only.
    assert all(seq >= to_old[-1] - 10 for seq in lost_in_flight)
    assert watch.samples > 100
    assert watch.most == 1, "two AMI consumers were logged in at once (sampled)"
    assert sim.max_logged_in == 1, "two AMI consumers were logged in at once"


def test_not_started_by_one_shot_commands(db, sim, request):
    server_id = add_server(db, sim.port)
    conf = OdooServer(db, name="oneshot")  # only for its configuration file
    request.addfinalizer(conf.discard)
    base = ["-c", conf.conf_path, "--load=base,web,asterisk_agent_worker"]
    upgrade = subprocess.run(
        odoo_cmd(*base, "-u", "asterisk_common", "--stop-after-init", with_test_addons=True),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    shell = subprocess.run(
        odoo_cmd("shell", *base, "--no-http", with_test_addons=True),
        cwd=REPO,
        input="print('shell ran', env['asterisk_common.server'].search_count([]))\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "shell ran 1" in shell.stdout, shell.stderr[-2000:]
    tests = subprocess.run(
        odoo_cmd(
            *base,
            "--test-tags",
            "/asterisk_common:TestEventsMap.test_valid_entry",
            "--stop-after-init",
            "--http-port",
            "0",
            with_test_addons=True,
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stderr[-2000:]
    assert sim.actions_received == []
    assert server_health(db, server_id)["state"] == "unknown"
    assert "AMI worker" not in conf.log()


def test_not_started_in_the_pytest_process():
    """pytest-odoo --odoo-http starts a ThreadedServer here, with our hooks imported."""
    from odoo.service import server

    if server.server is None:
        pytest.skip("pytest-odoo started no server (run without --odoo-http)")
    assert getattr(server.server, "asterisk_worker", None) is None


def _cluster():
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    version, name = out.split()[:2]
    return version, name


def test_postgres_restart_mid_stream_loses_nothing(db, sim, odoo):
    """Runs last in this file: it restarts the PostgreSQL cluster under every test."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL restart drill: run .ci/run as root")
        pytest.skip("restarting PostgreSQL needs root")
    server_id = add_server(db, sim.port)
    add_map_entry(db, "Newchannel")
    node = odoo(db)
    wait_until(lambda: connected(db, server_id), 30, message="server connected")
    calls, per_call = 30, 20
    streamer = stream_events(sim, "1700000012", calls, per_call)  # 150 events/s for 4 s
    time.sleep(1.0)
    version, name = _cluster()
    subprocess.run(
        ["pg_ctlcluster", version, name, "restart", "-m", "fast"], check=True, timeout=120
    )
    streamer.join()
    expected = {(f"1700000012.{c}", s) for c in range(calls) for s in range(per_call)}
    wait_until(
        lambda: {(r[2], r[3]) for r in records(db)} >= expected,
        90,
        0.5,
        message="every event handled after the restart",
    )
    rows = records(db)
    duplicates = len(rows) - len(expected)
    print(
        f"{len(expected)} events, {duplicates} handled twice (a batch replayed after an "
        "interrupted commit)"
    )
    # At least once: a transaction whose COMMIT was cut off is handled again
    # (the real handlers are idempotent), at most a batch per dispatch thread.
    assert duplicates <= 2 * 200, duplicates
    for call in range(calls):
        seqs = [r[3] for r in rows if r[2] == f"1700000012.{call}"]
        firsts = list(dict.fromkeys(seqs))
        assert firsts == list(range(per_call)), f"call {call} out of order: {seqs}"
    assert "database unavailable, buffering events" in node.log()
    wait_until(lambda: connected(db, server_id), 30, message="health after restart")
    assert query(db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0] == 0
