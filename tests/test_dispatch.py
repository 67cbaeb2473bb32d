"""The dispatcher's scheduling, without a database: how it splits a
transaction's jobs into handler calls (the order guarantees handlers rely on,
on generated job sequences), and how the resync holds the shards."""

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from odoo.addons.asterisk_agent_worker.dispatch import Dispatcher, Job, _groups

# (model, method, batch, independent)
HANDLERS = {
    "calls": ("asterisk_calls.call", "ami_call_events", True, True),
    "status": ("asterisk_base.live_status", "ami_live_status_events", True, True),
    "recording": ("asterisk_calls.recording", "ami_recording_events", True, False),
    "originate": ("asterisk_common.user", "ami_originate_response", False, False),
}


def jobs_of(names):
    jobs = []
    for index, name in enumerate(names):
        model, method, batch, independent = HANDLERS[name]
        event = {"Event": name, "index": index}
        jobs.append(Job(1, None, model, method, event, 0.0, "key", batch, independent))
    return jobs


def calls_of(names):
    return [[job.event["index"] for job in group] for group in _groups(jobs_of(names))]


def test_independent_handlers_are_gathered_across_each_other():
    names = ["calls", "status", "calls", "status", "calls"]
    assert calls_of(names) == [[0, 2, 4], [1, 3]]


def test_a_barrier_sees_everything_before_it_and_nothing_after():
    names = ["calls", "status", "calls", "recording", "calls", "status", "calls"]
    assert calls_of(names) == [[0, 2], [1], [3], [4, 6], [5]]


def test_consecutive_events_of_a_dependent_batch_handler_share_a_call():
    names = ["recording", "recording", "originate", "originate", "recording"]
    assert calls_of(names) == [[0, 1], [2], [3], [4]]


def test_an_independent_flag_without_batch_is_ignored():
    job = Job(1, None, "m", "f", {}, 0.0, "key", batch=False, independent=True)
    assert not job.independent


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(sorted(HANDLERS)), max_size=60))
def test_order_guarantees(names):
    groups = calls_of(names)
    flat = [index for group in groups for index in group]
    assert sorted(flat) == list(range(len(names))), "every job exactly once"
    position = {index: n for n, group in enumerate(groups) for index in group}
    for name in HANDLERS:
        mine = [index for index in flat if names[index] == name]
        assert mine == sorted(mine), f"{name}: its events out of arrival order"
    for group in groups:
        assert len({names[index] for index in group}) == 1, "one handler per call"
        if len(group) > 1:
            assert HANDLERS[names[group[0]]][2], "only batch handlers take several events"
    for index, name in enumerate(names):
        if HANDLERS[name][3]:
            continue
        # A dependent handler's event: a barrier.
        before = {position[i] for i in range(index)}
        after = {position[i] for i in range(index + 1, len(names))}
        here = position[index]
        assert all(p <= here for p in before) and all(p >= here for p in after)
        # Sharing its call only with consecutive events of its own handler.
        for other in groups[here]:
            assert names[other] == name
            between = range(min(index, other), max(index, other))
            assert all(names[i] == name for i in between)


class RecordingDispatcher(Dispatcher):
    """The shards run; the transaction is replaced by a note and a wait."""

    def __init__(self):
        super().__init__("nodb", shards=2)
        self.ran = []
        self.gate = threading.Event()

    def _run_jobs(self, jobs):
        self.gate.wait(10)
        self.ran.extend(job.event["index"] for job in jobs)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_held_shards_finish_their_jobs_and_take_no_new_one():
    dispatcher = RecordingDispatcher()
    dispatcher.start()
    try:
        for job in jobs_of(["calls", "status"]):
            dispatcher.submit(job)
        wait_for(lambda: dispatcher._busy == 2)  # taken, their transaction waits
        dispatcher.hold()
        assert not dispatcher.wait_idle(0.2), "idle while a transaction runs"
        dispatcher.gate.set()
        assert dispatcher.wait_idle(5)
        done = list(dispatcher.ran)
        for job in jobs_of(["calls", "calls"]):
            dispatcher.submit(job)
        time.sleep(0.3)
        assert dispatcher.ran == done, "a job was taken while held"
        dispatcher.release()
        wait_for(lambda: len(dispatcher.ran) == len(done) + 2)
    finally:
        dispatcher.gate.set()
        dispatcher.stop(timeout=2)


def test_latency_since_start_counts_every_event():
    dispatcher = Dispatcher("bench")
    dispatcher.latency_ms.update({1: 50, 2: 45, 100: 4, 900: 1})
    assert dispatcher.latency_since_start() == (100, (2, 100, 900))
    assert Dispatcher("idle").latency_since_start() == (0, (None, None, None))


class OrderDispatcher(Dispatcher):
    """Records the order of the committed jobs; jobs of ``slow`` take 0.3 s."""

    def __init__(self, shards=2):
        super().__init__("nodb", shards=shards)
        self.ran = []
        self.slow = set()

    def _run_jobs(self, jobs):
        if any(job.key in self.slow for job in jobs):
            time.sleep(0.3)
        self.ran.extend(job.event["name"] for job in jobs)


def keys_on(dispatcher, same):
    """Two call keys on different shards (or on the same one)."""
    shards = {}
    for n in range(1000):
        shards.setdefault(id(dispatcher._shard_of(f"call.{n}")), []).append(f"call.{n}")
    if same:
        return next(keys[:2] for keys in shards.values() if len(keys) > 1)
    first, second = list(shards.values())[:2]
    return first[0], second[0]


def job(key, name):
    return Job(1, None, "asterisk_calls.call", "ami_call_events", {"name": name}, 0.0, key, True)


def test_a_channel_moving_waits_for_its_old_call():
    """carol leaves call X for call Y: Y's next job runs only once X's jobs
    read before the move are committed, even on another (idle) shard."""
    for same in (False, True):
        check_move(same)


def check_move(same):
    dispatcher = OrderDispatcher()
    old, new = keys_on(dispatcher, same)
    dispatcher.slow.add(old)
    dispatcher.start()
    try:
        dispatcher.submit(job(old, "carol rings (X)"))
        dispatcher.link(1, (old,), new, 0.0)
        dispatcher.submit(job(new, "carol joins Y"))
        dispatcher.submit(job(new, "Y goes on"))
        dispatcher.submit(job(old, "X after the move"))
        wait_for(lambda: len(dispatcher.ran) == 4)
        assert dispatcher.ran.index("carol rings (X)") < dispatcher.ran.index("carol joins Y")
        assert dispatcher.ran.index("carol joins Y") < dispatcher.ran.index("Y goes on")
        assert dispatcher.buffered == 0 and not dispatcher._fences
    finally:
        dispatcher.stop(timeout=2)


def test_a_move_nobody_follows_leaves_nothing_behind():
    dispatcher = OrderDispatcher()
    old, new = keys_on(dispatcher, False)
    dispatcher.start()
    try:
        dispatcher.link(1, (old,), new, 0.0)  # no job of the new call ever comes
        wait_for(lambda: not dispatcher._fences and dispatcher.buffered == 0)
        dispatcher.submit(job(new, "later"))
        wait_for(lambda: dispatcher.ran == ["later"])
    finally:
        dispatcher.stop(timeout=2)


def test_moves_in_both_directions_do_not_deadlock():
    """X -> Y on one shard while Y -> X on the other (each waits only for
    what was read before it): everything runs."""
    dispatcher = OrderDispatcher()
    x, y = keys_on(dispatcher, False)
    dispatcher.slow.update({x, y})
    dispatcher.start()
    try:
        dispatcher.submit(job(x, "x1"))
        dispatcher.submit(job(y, "y1"))
        dispatcher.link(1, (x,), y, 0.0)
        dispatcher.submit(job(y, "y2"))
        dispatcher.link(1, (y,), x, 0.0)
        dispatcher.submit(job(x, "x2"))
        wait_for(lambda: len(dispatcher.ran) == 4, timeout=10)
        assert dispatcher.ran.index("x1") < dispatcher.ran.index("y2")
        assert dispatcher.ran.index("y2") < dispatcher.ran.index("x2")
    finally:
        dispatcher.stop(timeout=2)
