"""Real Odoo servers running the AMI worker, for the worker's tests.

Each test gets a database copied from a template holding asterisk_common,
asterisk_agent_worker and the test handlers (tests/addons/asterisk_worker_test),
an AMI simulator over TCP, and one or more ``odoo-bin`` processes started with
``--load=base,web,asterisk_agent_worker``.
"""

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import xmlrpc.client

import requests

from .odoo_env import REPO, odoo_cmd, query, run_odoo, unique_db

WORKER_MODULES = "asterisk_common,asterisk_agent_worker,asterisk_worker_test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class OdooServer:
    """An ``odoo-bin`` process serving ``db`` with the worker loaded."""

    def __init__(self, db, *, workers=0, options=None, name="odoo"):
        self.db = db
        self.workers = workers
        self.http_port = free_port()
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"asterisk-{name}-")
        self.log_path = os.path.join(self.dir, "odoo.log")
        self.conf_path = os.path.join(self.dir, "odoo.conf")
        opts = {
            "db_name": db,
            "http_port": self.http_port,
            "http_interface": "127.0.0.1",
            "gevent_port": free_port(),
            "workers": workers,
            "max_cron_threads": 0,
            "log_level": "info",
            "logfile": self.log_path,
            "asterisk_worker_databases": db,
            "data_dir": os.path.join(self.dir, "data"),
            "list_db": "False",
        }
        opts.update(options or {})
        with open(self.conf_path, "w") as f:
            f.write("[options]\n")
            for key, value in opts.items():
                f.write(f"{key} = {value}\n")
        self.proc = None

    def start(self, wait_http=True):
        self.proc = subprocess.Popen(
            odoo_cmd(
                "-c", self.conf_path, "--load=base,web,asterisk_agent_worker", with_test_addons=True
            ),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr.log"), "w"),  # noqa: SIM115
            start_new_session=True,
        )
        if wait_http:
            wait_until(self._http_up, 60, 0.2, f"{self.name} HTTP on {self.http_port}")
        return self

    def _http_up(self):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.proc.returncode}:\n{self.log()[-3000:]}"
            )
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.http_port)) == 0

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30):
        regex = re.compile(pattern)
        return wait_until(lambda: regex.search(self.log()), timeout, 0.2, f"log /{pattern}/")

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def discard(self):
        """Stop it and remove its folder (configuration, log, filestore)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self):
        """SIGKILL the whole process group (the master and its children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def children(self):
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    # -- RPC as the admin, the way an integrator's script would --------------------

    def rpc(self, model, method, *args, login="admin", password=None, **kwargs):
        password = password or login
        common = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.http_port}/xmlrpc/2/common")
        uid = common.authenticate(self.db, login, password, {})
        obj = xmlrpc.client.ServerProxy(
            f"http://127.0.0.1:{self.http_port}/xmlrpc/2/object", allow_none=True
        )
        return obj.execute_kw(self.db, uid, password, model, method, list(args), kwargs)

    def web_session(self, login, password=None):
        """A requests session logged in as ``login``, as the web client's."""
        session = requests.Session()
        reply = session.post(
            f"http://127.0.0.1:{self.http_port}/web/session/authenticate",
            json={
                "jsonrpc": "2.0",
                "params": {"db": self.db, "login": login, "password": password or login},
            },
            timeout=30,
        )
        assert reply.json().get("result", {}).get("uid"), reply.text[:500]
        return session

    def rss_mb(self):
        """The server process's resident memory (the worker's, when threaded)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def errors(self):
        """ERROR/CRITICAL lines of the log, but the tracebacks of failing test
        handlers and the "bad query" line Odoo's cursor logs for a serialization
        failure that the worker then retries."""
        lines = self.log().splitlines()
        found = []
        for index, line in enumerate(lines):
            if not re.search(r"\d (ERROR|CRITICAL) ", line) or "on purpose" in line:
                continue
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if "bad query" in line and "could not serialize access" in following:
                continue
            found.append(line)
        return found


# -- database setup ------------------------------------------------------------------


def create_worker_template(tag="tmpl_worker"):
    """A database with the worker's modules and the test handlers, to copy per test."""
    name = unique_db(tag)
    code, log = run_odoo(
        "-d",
        name,
        "-i",
        WORKER_MODULES,
        "--stop-after-init",
        "--without-demo=all",
        "--log-level=warn",
        with_test_addons=True,
    )
    assert code == 0, log[-3000:]
    return name


def add_server(db, port, name="Simulated PBX", **values):
    row = {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "username": "odoo",
        "secret": "odoo-secret",
        "md5_login": True,
        "tls": False,
        "tls_verify": True,
        "connect_timeout": 3.0,
        "action_timeout": 3.0,
        "ping_interval": 1.0,
        "ping_timeout": 1.0,
        "active": True,
        "state": "unknown",
        "events_received": 0,
        "events_dispatched": 0,
        "events_failed": 0,
        "events_buffered": 0,
        "events_dropped": 0,
        "actions_sent": 0,
    }
    row.update(values)
    cols = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join(["%s"] * len(row))
    return query(
        db,
        f"INSERT INTO asterisk_common_server ({cols}) VALUES ({marks}) RETURNING id",
        list(row.values()),
    )[0][0]


def add_map_entry(db, name, method="ami_record", condition=None, delay=0.0, sequence=10):
    return query(
        db,
        "INSERT INTO asterisk_common_event (name, source, model, method, condition, delay, "
        "active, sequence, error_count) VALUES (%s, 'AMI', 'asterisk_worker_test.record', %s, "
        "%s, %s, true, %s, 0) RETURNING id",
        [name, method, condition, delay, sequence],
    )[0][0]


def records(db, where="true", params=()):
    return query(
        db,
        f"SELECT name, handler, linkedid, seq FROM asterisk_worker_test_record WHERE {where} "
        "ORDER BY id",
        params,
    )


def server_health(db, server_id):
    rows = query(
        db,
        "SELECT state, leader, last_error, events_received, events_dispatched, events_failed, "
        "events_buffered, events_dropped, actions_sent, asterisk_version, ami_version "
        "FROM asterisk_common_server WHERE id = %s",
        [server_id],
    )
    keys = (
        "state",
        "leader",
        "last_error",
        "events_received",
        "events_dispatched",
        "events_failed",
        "events_buffered",
        "events_dropped",
        "actions_sent",
        "asterisk_version",
        "ami_version",
    )
    return dict(zip(keys, rows[0], strict=True))


def event(name, linkedid, seq, **extra):
    return {
        "Event": name,
        "Privilege": "call,all",
        "Linkedid": linkedid,
        "Uniqueid": linkedid,
        "Seq": str(seq),
        **extra,
    }


def stream_events(sim, prefix, calls, per_call, pause=0.2):
    """Start a thread sending ``per_call`` rounds of one Newchannel for each of
    ``calls`` calls (Linkedid ``<prefix>.<call>``, Seq the round), ``pause`` apart."""

    def run():
        for seq in range(per_call):
            for call in range(calls):
                sim.emit(event("Newchannel", f"{prefix}.{call}", seq))
            time.sleep(pause)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class LiveStream:
    """Newchannel events of one call (``Seq`` 0, 1, 2...) sent every ``pause``
    seconds through a fault: each noted with the port of the AMI session that
    would read it then, or None (nobody logged in, or the PBX gone silent)."""

    def __init__(self, sim, linkedid, pause=0.02):
        self.sim, self.linkedid, self.pause = sim, linkedid, pause
        self.sent = []  # (seq, port or None)
        self.crowded = []  # (seq, ports) when several sessions were logged in
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _emit(self, simulator, seq):
        simulator.emit_nowait(event("Newchannel", self.linkedid, seq))
        if simulator.silent:
            return None
        live = [s for s in simulator.sessions if s.authenticated and not s.closed]
        if len(live) > 1:  # never expected: one consumer; said if a check fails
            self.crowded.append((seq, [s.remote[1] for s in live]))
        return live[0].remote[1] if live else None

    def _run(self):
        seq = 0
        while not self._done.is_set():
            self.sent.append((seq, self.sim.call(self._emit, self.sim.sim, seq)))
            seq += 1
            time.sleep(self.pause)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._done.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)
        return self.sent

    def finish(self, db, timeout=15):
        """Stop; once every event sent to the last session is handled (the
        test handler's records of ``db``), :meth:`check` them all."""
        sent = self.stop()
        last_port = [port for _, port in sent if port][-1]
        after = {seq for seq, port in sent if port == last_port}
        try:
            wait_until(lambda: {r[3] for r in records(db)} >= after, timeout)
        except AssertionError:
            handled = {r[3] for r in records(db)}
            raise AssertionError(
                f"after {timeout}s, of the events sent to the last session ({last_port}) "
                f"{sorted(after - handled)} not handled; sent {sent}, handled {sorted(handled)}, "
                f"several sessions logged in: {self.crowded}"
            ) from None
        return self.check([r[3] for r in records(db)])

    def check(self, handled):
        """Each event read by a session handled once and in order; every one
        sent to the last session handled; of the others, only the last moments
        of a session may be missing (written, not yet read, when it ended).
        Returns ``{port: count sent}``."""
        what = f"sent {self.sent}, handled {handled}"
        assert handled == sorted(set(handled)), f"handled twice or out of order: {what}"
        by_port = collections.defaultdict(list)
        for seq, port in self.sent:
            by_port[port].append(seq)
        assert set(handled) <= {seq for seq, port in self.sent if port}, what
        ports = [port for _, port in self.sent if port]
        assert ports, what
        last = by_port[ports[-1]]
        assert set(last) <= set(handled), what
        for port, seqs in by_port.items():
            if port is not None:
                missing = set(seqs) - set(handled)
                assert all(seq >= seqs[-1] - 10 for seq in missing), what
        return {port: len(seqs) for port, seqs in by_port.items()}


# -- the call tracker's tests: asterisk_calls and PBX users ------------------------

CALLS_MODULES = (
    "asterisk_common,asterisk_base,asterisk_calls,asterisk_agent_worker,asterisk_worker_test"
)
# PBX users of the captures' sip.conf: Alice (SIP/alice), Bob (SIP/bob), Carol
# (SIP/carol and the queue member Local/agent1@demo).
CALLS_SETUP = """
server = env['asterisk_common.server'].create({
    'name': 'Simulated PBX', 'host': '127.0.0.1', 'port': 1, 'username': 'odoo',
    'secret': 'odoo-secret', 'connect_timeout': 3.0, 'action_timeout': 3.0,
    'ping_interval': 1.0, 'ping_timeout': 1.0, 'country_id': env.ref('base.fr').id,
    'tz': 'Europe/Paris'})
group = env.ref('asterisk_common.group_asterisk_user')
for login, ext, devices in [('alice', '201', ['SIP/alice']), ('bob', '202', ['SIP/bob']),
                            ('carol', '203', ['SIP/carol', 'Local/agent1@demo'])]:
    user = env['res.users'].create({'name': login.capitalize(), 'login': login,
        'password': login, 'groups_id': [(4, group.id)]})
    env['asterisk_common.user'].create({'user_id': user.id, 'server_id': server.id,
        'extension': ext, 'originate_context': 'demo',
        'channel_ids': [(0, 0, {'name': d, 'originate': not d.startswith('Local/')})
                        for d in devices]})
env.cr.commit()
print('calls template ready', server.id)
"""


def create_calls_template(tag="tmpl_calls"):
    """A database with the call tracker, its default events map and three PBX users."""
    name = unique_db(tag)
    code, log = run_odoo(
        "-d",
        name,
        "-i",
        CALLS_MODULES,
        "--stop-after-init",
        "--without-demo=all",
        "--log-level=warn",
        with_test_addons=True,
    )
    assert code == 0, log[-3000:]
    shell = subprocess.run(
        odoo_cmd("shell", "-d", name, "--no-http", "--log-level=warn", with_test_addons=True),
        cwd=REPO,
        input=CALLS_SETUP,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "calls template ready" in shell.stdout, shell.stdout[-2000:] + shell.stderr[-2000:]
    return name


def point_server(db, port, name="Simulated PBX"):
    """Aim the template's server at this test's simulator; return its id."""
    return query(
        db,
        "UPDATE asterisk_common_server SET port = %s WHERE name = %s RETURNING id",
        [port, name],
    )[0][0]


def give_bob_carols_phone(db, auto_answer=False):
    """The template's carol phone (SIP/carol) as bob's second one, both rung
    by his click-to-dial (through Odoo's odoo-originate context)."""
    query(
        db,
        "UPDATE asterisk_common_user_channel SET originate = true, auto_answer = %s, "
        "pbx_user_id = (SELECT pbx_user_id FROM asterisk_common_user_channel "
        "WHERE name = 'SIP/bob') WHERE name IN ('SIP/bob', 'SIP/carol')",
        [auto_answer],
    )


def calls(db, where="true", params=()):
    """The calls as dicts, oldest first, with their users' logins."""
    rows = query(
        db,
        f"""SELECT c.id, c.linkedid, c.status, c.direction, c.caller_number, c.caller_name,
                   c.called_number, c.called_name, c.originated, c.transferred,
                   c.ring_seconds, c.talk_seconds, c.cdr_disposition, c.cdr_duration,
                   c.cdr_billsec, c.queue, ab.login,
                   (SELECT array_agg(u.login ORDER BY u.login) FROM asterisk_calls_call_user_rel r
                      JOIN res_users u ON u.id = r.user_id WHERE r.call_id = c.id),
                   (SELECT array_agg(u.login ORDER BY u.login)
                      FROM asterisk_calls_call_missed_rel r
                      JOIN res_users u ON u.id = r.user_id WHERE r.call_id = c.id),
                   (SELECT count(*) FROM asterisk_calls_channel ch WHERE ch.call_id = c.id),
                   c.ended_at IS NOT NULL, c.timeline
              FROM asterisk_calls_call c LEFT JOIN res_users ab ON ab.id = c.answered_by_id
             WHERE {where} ORDER BY c.id""",
        params,
    )
    keys = [
        "id",
        "linkedid",
        "status",
        "direction",
        "caller_number",
        "caller_name",
        "called_number",
        "called_name",
        "originated",
        "transferred",
        "ring_seconds",
        "talk_seconds",
        "cdr_disposition",
        "cdr_duration",
        "cdr_billsec",
        "queue",
        "answered_by",
        "users",
        "missed",
        "channels",
        "ended",
        "timeline",
    ]
    result = []
    for row in rows:
        call = dict(zip(keys, row, strict=True))
        call["users"] = call["users"] or []
        call["missed"] = call["missed"] or []
        result.append(call)
    return result
