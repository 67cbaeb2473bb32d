"""The worker's parts one by one, each with its neighbours faked (the drills in
test_worker_drills.py prove them together): the leadership's looks at the
locks, the action runner's outcomes and retries, the health report, and the
control connection against a real PostgreSQL (NOTIFY, advisory locks, a
killed session)."""

import asyncio
import collections
import logging
import time

import psycopg2
import pytest

import odoo

from odoo.addons.asterisk_agent_worker import leadership as leadership_module
from odoo.addons.asterisk_agent_worker.actions import ActionRunner
from odoo.addons.asterisk_agent_worker.ami import AmiTimeout
from odoo.addons.asterisk_agent_worker.control import ControlConnection
from odoo.addons.asterisk_agent_worker.dispatch import ServerStats
from odoo.addons.asterisk_agent_worker.health import HealthReporter
from odoo.addons.asterisk_agent_worker.leadership import LOCK_FREE_GRACE, Leadership
from odoo.addons.asterisk_agent_worker.link import ServerLink
from odoo.addons.asterisk_common.models.asterisk_common_server import NOTIFY_CHANNEL

# The test run sets the ``odoo`` logger to CRITICAL: lowered for the worker's
# where a test reads what they say.
WORKER_LOGGER = "odoo.addons.asterisk_agent_worker"

# -- leadership ----------------------------------------------------------------------


class FakeControl:
    """The locks as the control connection would see them."""

    def __init__(self):
        self.up = True
        self.lost_at = None
        self.others = set()  # locks held by other nodes
        self.mine = set()
        self.failures = []
        self.broken = False

    def _check(self):
        if self.broken:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

    def held_locks(self):
        self._check()
        return self.others | self.mine

    def try_lock(self, server_id):
        self._check()
        if server_id in self.others:
            return False
        self.mine.add(server_id)
        return True

    def failed(self, error):
        self.failures.append(error)
        self.up = False


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(leadership_module.time, "monotonic", clock)
    return clock


def leadership(control, servers=(1, 2)):
    led, calls = {}, []

    async def lead(row):
        led[row["id"]] = row
        calls.append(("lead", row["id"]))

    async def let_go(server_id):
        led.pop(server_id)
        calls.append(("let_go", server_id))

    rows = {i: {"id": i} for i in servers}
    return (
        Leadership(
            "db", control, servers=lambda: rows, led=lambda: set(led), lead=lead, let_go=let_go
        ),
        led,
        calls,
    )


def test_a_free_lock_is_taken_at_the_second_look_only(clock):
    control = FakeControl()
    control.others = {2}
    ship, led, calls = leadership(control)
    asyncio.run(ship.tick())
    assert calls == [] and control.mine == set(), "first look: free, not taken"
    clock.now += LOCK_FREE_GRACE / 2
    asyncio.run(ship.tick())
    assert calls == [], "still within the grace"
    clock.now += LOCK_FREE_GRACE / 2
    asyncio.run(ship.tick())
    assert calls == [("lead", 1)], "free at two looks a grace apart: taken"
    # Server 2's lock is another node's, whatever the time.
    clock.now += 60
    asyncio.run(ship.tick())
    assert calls == [("lead", 1)] and 2 not in control.mine


def test_a_lock_taken_back_meanwhile_restarts_the_grace(clock):
    control = FakeControl()
    ship, _led, calls = leadership(control, servers=(1,))
    asyncio.run(ship.tick())  # free
    control.others = {1}  # its leader reconnected and took it back
    clock.now += LOCK_FREE_GRACE
    asyncio.run(ship.tick())
    control.others = set()  # free again: a first look, not a second
    clock.now += LOCK_FREE_GRACE / 2
    asyncio.run(ship.tick())
    assert calls == []
    clock.now += LOCK_FREE_GRACE
    asyncio.run(ship.tick())
    assert calls == [("lead", 1)]


def test_no_look_right_after_the_control_connection_came_back(clock):
    control = FakeControl()
    control.lost_at = clock.now
    ship, _led, calls = leadership(control, servers=(1,))
    for _ in range(3):
        asyncio.run(ship.tick())
        clock.now += LOCK_FREE_GRACE
    assert calls == [], "the previous holder gets its locks back first"
    clock.now += 3 * leadership_module.LEADERSHIP_INTERVAL
    asyncio.run(ship.tick())
    clock.now += LOCK_FREE_GRACE
    asyncio.run(ship.tick())
    assert calls == [("lead", 1)]
    control.up = False
    clock.now += 60
    asyncio.run(ship.tick())  # no connection: no look, no error
    assert control.failures == []


def test_reacquire_lets_go_what_another_node_won(clock):
    control = FakeControl()
    ship, led, calls = leadership(control)
    led.update({1: {"id": 1}, 2: {"id": 2}})
    control.others = {2}
    asyncio.run(ship.reacquire())
    assert calls == [("let_go", 2)] and control.mine == {1}
    assert set(led) == {1}


def test_a_database_error_marks_the_connection_failed(clock):
    control = FakeControl()
    ship, led, calls = leadership(control)
    led[1] = {"id": 1}
    control.broken = True
    asyncio.run(ship.reacquire())
    asyncio.run(ship.tick())
    assert len(control.failures) == 1, "reacquire failed it; the tick did not look"
    control.up = True
    asyncio.run(ship.tick())
    assert len(control.failures) == 2 and calls == [], "nothing let go on an error"


# -- the action runner --------------------------------------------------------------


class FakeResult:
    def __init__(self, ok, message=""):
        self.ok, self.message = ok, message

    def to_dict(self):
        return {"ok": self.ok, "message": self.message}


class FakeClient:
    def __init__(self, outcome, connected=True):
        self.outcome = outcome
        self.connected = connected
        self.sent = []

    async def send_action(self, action, timeout=None):
        self.sent.append((action, timeout))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeActions:
    """``asterisk_common.action`` as the runner calls it."""

    def __init__(self, failures=()):
        self.failures = list(failures)  # raised by the next stores, in order
        self.done = []
        self.claims = []
        self.rows = []

    def browse(self, action_id):
        outer = self

        class Record:
            def _worker_done(self, state, reply, error):
                if outer.failures:
                    raise outer.failures.pop(0)
                outer.done.append((action_id, state, reply, error))

        return Record()

    def _worker_claim(self, connected, disconnected, errors):
        self.claims.append((connected, disconnected, errors))
        return self.rows


def runner(links, actions):
    async def orm(func):
        return func({"asterisk_common.action": actions})

    return ActionRunner("db", asyncio.get_running_loop(), orm=orm, links=lambda: links)


def server_link(server_id, client, error=None):
    link = ServerLink({"id": server_id})
    link.client, link.last_error = client, error
    return link


ROW = {"id": 7, "server_id": 1, "payload": {"Action": "Ping"}, "action_uid": "odoo-7", "timeout": 3}


@pytest.mark.parametrize(
    ("outcome", "connected", "expected"),
    [
        (FakeResult(True), True, ("done", {"ok": True, "message": ""}, None)),
        (
            FakeResult(False, "Permission denied"),
            True,
            ("failed", {"ok": False, "message": "Permission denied"}, "Permission denied"),
        ),
        (FakeResult(False), True, ("failed", {"ok": False, "message": ""}, "Asterisk answered")),
        (AmiTimeout("no answer in 3 s"), True, ("failed", None, "AmiTimeout: no answer in 3 s")),
        (FakeResult(True), False, ("failed", None, "The server disconnected before")),
    ],
)
def test_each_outcome_is_stored(outcome, connected, expected):
    actions = FakeActions()
    client = FakeClient(outcome, connected)

    async def scenario():
        await runner({1: server_link(1, client)}, actions)._execute(ROW)

    asyncio.run(scenario())
    ((action_id, state, reply, error),) = actions.done
    assert (action_id, state, reply) == (7, *expected[:2])
    assert (error or "").startswith(expected[2] or "") and bool(error) == bool(expected[2])
    if connected:
        assert client.sent == [({"Action": "Ping", "ActionID": "odoo-7"}, 3)]
    else:
        assert client.sent == [], "never sent on a closed connection"


def test_the_result_survives_collisions_and_a_database_restart(monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr("odoo.addons.asterisk_agent_worker.actions.asyncio.sleep", sleep)
    down = psycopg2.OperationalError("the database system is shutting down")
    actions = FakeActions([psycopg2.errors.SerializationFailure(), down, down])

    async def scenario():
        await runner({1: server_link(1, FakeClient(FakeResult(True)))}, actions)._execute(ROW)

    asyncio.run(scenario())
    assert [state for _id, state, _reply, _error in actions.done] == ["done"]
    assert slept[0] < 0.2 and slept[1:] == [1, 1], "a collision retries at once, a restart waits"


def test_a_store_that_cannot_work_is_logged_not_retried(caplog):
    actions = FakeActions([ValueError("a bug")])

    async def scenario():
        await runner({1: server_link(1, FakeClient(FakeResult(True)))}, actions)._execute(ROW)

    with caplog.at_level(logging.WARNING, logger=WORKER_LOGGER):
        asyncio.run(scenario())
    assert actions.done == [] and actions.failures == []
    assert "could not store action 7's result" in caplog.text


def test_the_claim_says_which_servers_are_down_and_why():
    actions = FakeActions()
    ok = FakeClient(FakeResult(True))
    actions.rows = [dict(ROW, id=8, action_uid="odoo-8"), dict(ROW, id=9, server_id=2)]
    links = {
        1: server_link(1, ok),
        2: server_link(2, FakeClient(None, connected=False), "Connection refused"),
        3: server_link(3, FakeClient(None, connected=False)),
    }

    async def scenario():
        await runner(links, actions)._claim_and_run()
        await asyncio.sleep(0)  # the claimed actions run as tasks
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert actions.claims == [([1], [2, 3], {2: "Connection refused", 3: "not connected"})]
    assert sorted((i, state) for i, state, _r, _e in actions.done) == [(8, "done"), (9, "failed")]
    assert [action["ActionID"] for action, _t in ok.sent] == ["odoo-8"]


# -- the health report ----------------------------------------------------------------


class FakeDispatcher:
    def __init__(self, latency=(None, None, None)):
        self.stats = collections.defaultdict(ServerStats)
        self.buffered = 4
        self.latency = latency

    def latency_percentiles(self):
        return self.latency


class FakeAmiClient:
    def __init__(self, connected, last_error=None):
        self.connected, self.last_error = connected, last_error
        self.events_received, self.actions_sent = 120, 3
        self.asterisk_version, self.ami_version = "20.9.3", "9.0.0"


class Entry:
    def __init__(self, entry_id, errors, last_error=None):
        self.id, self.errors, self.last_error = entry_id, errors, last_error


class FakeEnvModel:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def _worker_health(self, server_id, values):
        self.log.append((self.name, server_id, values))

    def _worker_errors(self, errors):
        self.log.append((self.name, errors))


def reporter(links, entries=(), latency=(None, None, None), fail=None):
    log = []
    dispatcher = FakeDispatcher(latency)

    async def orm(func):
        if fail:
            raise fail
        return func(
            {
                "asterisk_common.server": FakeEnvModel(log, "server"),
                "asterisk_common.event": FakeEnvModel(log, "event"),
            }
        )

    health = HealthReporter(
        "db", "node-a", dispatcher, orm=orm, links=lambda: links, entries=lambda: list(entries)
    )
    return health, dispatcher, log


def test_the_health_of_each_led_server():
    up = server_link(1, FakeAmiClient(True))
    refused = server_link(2, FakeAmiClient(False, "Connection refused"))
    starting = server_link(3, FakeAmiClient(False))
    entries = [Entry(10, 2, "NameError: x"), Entry(11, 0)]
    links = {1: up, 2: refused, 3: starting}
    health, dispatcher, log = reporter(links, entries, latency=(0.0123, 0.05, 0.2))
    dispatcher.stats[1].dispatched, dispatcher.stats[1].failed = 100, 1
    asyncio.run(health.write())
    by_server = {server_id: values for _name, server_id, values in log[:3]}
    assert [by_server[i]["state"] for i in (1, 2, 3)] == ["connected", "disconnected", "connecting"]
    assert by_server[2]["last_error"] == "Connection refused"
    assert (by_server[1]["events_dispatched"], by_server[1]["events_failed"]) == (100, 1)
    assert (by_server[1]["latency_p50"], by_server[1]["latency_p99"]) == (12.3, 200.0)
    assert by_server[1]["leader"] == "node-a" and by_server[1]["events_buffered"] == 4
    assert by_server[1]["asterisk_version"] == "20.9.3"
    # The map's condition errors are reported once, then counted from zero.
    assert log[3] == ("event", {10: (2, "NameError: x")})
    assert [e.errors for e in entries] == [0, 0]
    log.clear()
    asyncio.run(health.write())
    assert [entry[0] for entry in log] == ["server"] * 3, "no errors: no map write"


def test_no_latency_yet_and_a_long_error_fit_the_row():
    link = server_link(1, FakeAmiClient(False, "x" * 1000))
    health, _dispatcher, log = reporter({1: link})
    asyncio.run(health.write())
    ((_name, _id, values),) = log
    assert "latency_p50" not in values
    assert len(values["last_error"]) == 250


def test_a_database_down_is_one_line_a_bug_a_traceback(caplog):
    link = server_link(1, FakeAmiClient(True))
    down, _d, _log = reporter({1: link}, fail=psycopg2.OperationalError("connection refused"))
    bug, _d, _log = reporter({1: link}, fail=KeyError("latency"))
    with caplog.at_level(logging.WARNING, logger=WORKER_LOGGER):
        asyncio.run(down.report())
        assert caplog.records == []
        asyncio.run(bug.report())
    (record,) = caplog.records
    assert record.exc_info and "health report failed" in record.getMessage()


# -- the control connection, on a real PostgreSQL --------------------------------------


@pytest.fixture
def control_db():
    return odoo.tools.config["db_name"] or "postgres"


def open_control(dbname, loop, node):
    kinds, lost = [], []
    control = ControlConnection(
        dbname, node, loop, on_notify=kinds.append, on_lost=lambda: lost.append(True)
    )
    control.attach(control.open())
    return control, kinds, lost


def admin_connection(dbname):
    conn = psycopg2.connect(**odoo.sql_db.connection_info_for(dbname)[1])
    conn.autocommit = True
    return conn


async def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_notifies_locks_and_a_killed_session(control_db):
    async def scenario():
        loop = asyncio.get_running_loop()
        one, kinds, lost = open_control(control_db, loop, "node-1")
        two, _kinds2, _lost2 = open_control(control_db, loop, "node-2")
        admin = admin_connection(control_db)
        try:
            with admin.cursor() as cr:
                # One transaction's NOTIFYs come together: one call, the kinds once.
                cr.execute("BEGIN")
                for payload in ("map:", "server:3", "server:4", "action:"):
                    cr.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])
                cr.execute("COMMIT")
            await wait_for(lambda: kinds)
            assert kinds == [{"map", "server", "action"}]

            # A server's lock is one node's; the other sees it held.
            server_id = 900000 + int(time.time()) % 1000  # no other test's
            assert one.try_lock(server_id)
            assert not two.try_lock(server_id)
            assert server_id in two.held_locks()
            one.unlock(server_id)
            assert two.try_lock(server_id)
            two.unlock(server_id)

            # The session killed from outside: noticed by the loop, reported once.
            with admin.cursor() as cr:
                cr.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    ["asterisk_worker node-1"],
                )
                assert cr.fetchall() == [(True,)]
            await wait_for(lambda: lost)
            assert (one.up, one.lost.is_set(), lost) == (False, True, [True])
            assert one.lost_at is not None
            # A new session LISTENs again.
            one.attach(one.open())
            with admin.cursor() as cr:
                cr.execute("SELECT pg_notify(%s, 'action:')", [NOTIFY_CHANNEL])
            await wait_for(lambda: len(kinds) == 2)
            assert kinds[-1] == {"action"} and not one.lost.is_set()
        finally:
            one.close()
            two.close()
            admin.close()

    asyncio.run(scenario())


def test_a_notify_read_by_a_lock_query_is_not_left_behind(control_db):
    """A NOTIFY that reaches the session while the leadership's lock query
    runs is read with the query's result: the socket is drained, so the loop
    is not woken for it. It is handed over at once all the same (it was left
    for the next NOTIFY or the 5 s poll: one click-to-dial in ~300 took 5 s)."""

    async def scenario():
        loop = asyncio.get_running_loop()
        control, kinds, _lost = open_control(control_db, loop, "node-q")
        admin = admin_connection(control_db)
        try:
            for query in (control.held_locks, lambda: control.try_lock(900999)):
                with admin.cursor() as cr:
                    cr.execute("SELECT pg_notify(%s, 'action:')", [NOTIFY_CHANNEL])
                time.sleep(0.3)  # the loop does not run: the NOTIFY waits in the socket
                query()
                await wait_for(lambda: kinds, seconds=1.0)
                assert kinds == [{"action"}]
                kinds.clear()
            control.unlock(900999)
        finally:
            control.close()
            admin.close()

    asyncio.run(scenario())
