"""From a mapped AMI event to ``env[model].method(event)`` in a transaction.

The asyncio thread only decides (name, condition, delay) and appends to a
shard; each shard is a thread that runs batches of events in one transaction,
each handler call in its own savepoint (a batch handler's call takes many
events: see ``_groups``). The shard of an event is chosen by its call
(``Linkedid``), so one call's events are handled in order while other calls
proceed on the other shards. An event that concerns two calls (a channel that
moves to an older call, a transfer, a parked call taken) waits until the other
call's jobs read before it are committed (:meth:`Dispatcher.link`). The shards
are also the buffer that holds events while the database is unavailable:
bounded, with overflow counted.
"""

import asyncio
import collections
import logging
import random
import threading
import time
import traceback

import psycopg2
import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

_logger = logging.getLogger(__name__)

# Errors that a retry of the same transaction can cure.
RETRYABLE = (
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.DeadlockDetected,
    psycopg2.errors.LockNotAvailable,
)
MAX_TRIES = 10
# Handlers can tell they run in the worker (and not from a user's request).
WORKER_CONTEXT = {"asterisk_worker": True}
LATENCY_SAMPLES = 20000
# A handler failing on every event must not write a log line per event: one
# per handler in this many seconds, with the count of those not logged (every
# failure is still a dispatch error row and counted on the server).
FAILURE_LOG_EVERY = 10.0


def is_db_down(error):
    """A lost connection or a server that refuses to work, not a query's fault."""
    code = getattr(error, "pgcode", None)
    return isinstance(error, psycopg2.OperationalError) and (
        code is None or code.startswith("08") or code in ("57P01", "57P02", "57P03")
    )


class Job:
    """One handler call to make."""

    __slots__ = (
        "server_id",
        "entry_id",
        "model",
        "method",
        "event",
        "received",
        "key",
        "batch",
        "independent",
        "waits",
    )

    def __init__(
        self,
        server_id,
        entry_id,
        model,
        method,
        event,
        received,
        key,
        batch=False,
        independent=False,
    ):
        self.server_id = server_id
        self.entry_id = entry_id
        self.model = model
        self.method = method
        self.event = event
        self.received = received
        self.key = key
        self.batch = batch  # the handler takes a list of events
        self.independent = batch and independent  # may be gathered across others
        self.waits = ()  # fences to be open before it runs (Dispatcher.link)

    @property
    def handler(self):
        return self.model, self.method

    @property
    def blocked(self):
        return any(not fence.open for fence in self.waits)


class Fence:
    """Open once the jobs of ``from_key`` submitted before it are committed;
    the next job of ``to_key`` waits for it."""

    __slots__ = ("to_key", "open")

    def __init__(self, to_key):
        self.to_key = to_key
        self.open = False


class Marker(Job):
    """A place in a shard, not a handler call: its fence opens when the batch
    it is taken in commits."""

    __slots__ = ("fence",)

    def __init__(self, server_id, key, fence, received):
        super().__init__(server_id, None, None, None, None, received, key)
        self.fence = fence


def _groups(jobs):
    """The handler calls to make for ``jobs``, in order, each a list of jobs.

    An independent batch handler's jobs are gathered into one call per
    handler until a barrier; a barrier is a job of any other handler: it runs
    after every earlier job and before every later one (consecutive jobs of
    one batch handler still share a call). Each handler gets its jobs in
    arrival order.
    """
    gathered = {}  # handler -> its jobs since the last barrier
    run = []  # consecutive barrier jobs of one handler
    for job in jobs:
        if job.independent:
            if run:
                yield run
                run = []
            gathered.setdefault(job.handler, []).append(job)
            continue
        if gathered:
            yield from gathered.values()
            gathered = {}
        if run and not (job.batch and run[0].batch and job.handler == run[0].handler):
            yield run
            run = []
        run.append(job)
    if run:
        yield run
    yield from gathered.values()


class ServerStats:
    __slots__ = ("dispatched", "failed", "dropped")

    def __init__(self):
        self.dispatched = self.failed = self.dropped = 0


class Dispatcher:
    """Shard threads calling handlers for one database."""

    def __init__(self, dbname, *, shards=2, batch=200, buffer=100000):
        self.dbname = dbname
        self.batch = batch
        self.capacity = buffer
        self.stats = collections.defaultdict(ServerStats)
        self.latencies = collections.deque(maxlen=LATENCY_SAMPLES)
        # Every event since start, per millisecond (a few thousand keys at
        # most): the whole run's percentiles, logged at stop.
        self.latency_ms = collections.Counter()
        self.db_down_since = None
        self._shards = [collections.deque() for _ in range(max(1, shards))]
        self._cond = threading.Condition()
        self._busy = 0  # jobs taken by a shard, not yet committed
        self._held = 0  # hold() calls not yet released: shards take no job
        self._taken = {}  # shard index -> its jobs being handled
        self._stopping = False
        self._threads = []
        self._drop_logged = 0.0
        self._failure_logs = {}  # handler -> [last logged (monotonic), failures not logged]
        self._failure_log_lock = threading.Lock()
        self._fences = {}  # key -> fences its next job waits for

    # -- producer side (asyncio thread) ---------------------------------------

    @property
    def buffered(self):
        return sum(map(len, self._shards)) + self._busy

    def submit(self, job):
        with self._cond:
            if sum(map(len, self._shards)) >= self.capacity:
                self.stats[job.server_id].dropped += 1
                now = time.monotonic()
                if now - self._drop_logged > 10:
                    self._drop_logged = now
                    _logger.error(
                        "%s: event buffer full (%d events): dropping %s events",
                        self.dbname,
                        self.capacity,
                        job.event.get("Event"),
                    )
                return False
            job.waits = self._fences.pop(job.key, ())
            self._shard_of(job.key).append(job)
            self._cond.notify_all()
        return True

    def _shard_of(self, key):
        return self._shards[hash(key) % len(self._shards)]

    def link(self, server_id, from_keys, to_key, received):
        """The next job of ``to_key`` concerns the calls ``from_keys`` too: it
        runs once every job of theirs submitted so far is committed (the
        tracker then finds their channels as the PBX left them)."""
        with self._cond:
            target = self._shard_of(to_key)
            for key in from_keys:
                shard = self._shard_of(key)
                if shard is target:  # one thread: in order already
                    continue
                fence = Fence(to_key)
                shard.append(Marker(server_id, key, fence, received))
                self._fences.setdefault(to_key, []).append(fence)
            self._cond.notify_all()

    def _open(self, markers):
        """The batch holding ``markers`` committed (called with the lock held)."""
        for marker in markers:
            fence = marker.fence
            fence.open = True
            pending = self._fences.get(fence.to_key)
            if pending and fence in pending:  # no job of to_key came yet
                pending.remove(fence)
                if not pending:
                    del self._fences[fence.to_key]

    def oldest_pending(self):
        """Monotonic read time of the oldest event not yet committed, or None."""
        with self._cond:
            heads = [shard[0].received for shard in self._shards if shard]
            heads += [jobs[0].received for jobs in self._taken.values() if jobs]
        return min(heads, default=None)

    async def wait_handled(self, until, timeout):
        """Wait (without blocking the loop) until every event read before the
        monotonic time ``until`` is committed, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            oldest = self.oldest_pending()
            if oldest is None or oldest > until:
                return True
            await asyncio.sleep(0.05)
        return False

    def hold(self):
        """Hand out no more jobs until :meth:`release`, so that work which must
        not interleave with the handlers (the resync after a reconnect) can
        run alone once :meth:`wait_idle` says so. Events keep being buffered."""
        with self._cond:
            self._held += 1

    def wait_idle(self, timeout):
        """Wait (blocking) until the shards have committed the jobs they took;
        False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def release(self):
        with self._cond:
            self._held -= 1
            self._cond.notify_all()

    def start(self):
        for index, shard in enumerate(self._shards):
            thread = threading.Thread(
                target=self._run_shard,
                args=(index, shard),
                name=f"asterisk.dispatch.{self.dbname}.{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout=5.0):
        """Finish what is buffered (within ``timeout``), then stop the shards."""
        deadline = time.monotonic() + timeout
        while self.buffered and self.db_down_since is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        if self.buffered:
            _logger.warning("%s: %d events not handled at stop", self.dbname, self.buffered)
        count, (p50, p95, p99) = self.latency_since_start()
        if count:
            _logger.info(
                "%s: %d events handled since start, latency p50 %d ms, p95 %d ms, p99 %d ms",
                self.dbname,
                count,
                p50,
                p95,
                p99,
            )

    def latency_since_start(self):
        """``(events, (p50, p95, p99) in whole ms)`` of every event handled."""
        count = sum(self.latency_ms.values())
        picks, seen = [], 0
        wanted = [q * count for q in (0.50, 0.95, 0.99)]
        for ms in sorted(self.latency_ms):
            seen += self.latency_ms[ms]
            while wanted and seen > wanted[0]:
                picks.append(ms)
                wanted.pop(0)
        return count, tuple(picks) if count else (None, None, None)

    # -- shard threads ---------------------------------------------------------

    def _take(self, index, shard):
        with self._cond:
            while (not shard or self._held or shard[0].blocked) and not self._stopping:
                self._cond.wait(1.0)
            if self._stopping:
                return None
            jobs = []  # up to the first job whose fences are not all open
            while shard and len(jobs) < self.batch and not shard[0].blocked:
                jobs.append(shard.popleft())
            self._busy += len(jobs)
            self._taken[index] = jobs
            return jobs

    def _run_shard(self, index, shard):
        threading.current_thread().dbname = self.dbname
        pause = 0.5
        while True:
            jobs = self._take(index, shard)
            if jobs is None:
                return
            markers = [job for job in jobs if type(job) is Marker]
            try:
                if len(markers) < len(jobs):
                    self._run_jobs([job for job in jobs if type(job) is not Marker])
                pause = 0.5
                if self.db_down_since is not None:
                    _logger.info("%s: database is back, events flow again", self.dbname)
                    self.db_down_since = None
            except Exception as e:  # database down: keep the jobs, in order
                with self._cond:
                    shard.extendleft(reversed(jobs))
                    self._busy -= len(jobs)
                    self._taken.pop(index, None)
                    self._cond.notify_all()
                if self.db_down_since is None:
                    self.db_down_since = time.time()
                    _logger.error("%s: database unavailable, buffering events: %s", self.dbname, e)
                time.sleep(pause * random.uniform(0.8, 1.2))
                pause = min(pause * 2, 5.0)
                continue
            with self._cond:
                self._open(markers)
                self._busy -= len(jobs)
                self._taken.pop(index, None)
                self._cond.notify_all()

    def _run_jobs(self, jobs):
        """Handle ``jobs`` in one transaction; retry it on concurrency errors,
        then one job per transaction so that one conflict does not block all."""
        last_traceback = None
        for attempt in range(MAX_TRIES):
            try:
                self._transaction(jobs)
                return
            except RETRYABLE as e:
                last_traceback = traceback.format_exc()
                _logger.debug(
                    "%s: %s, retrying %d events", self.dbname, type(e).__name__, len(jobs)
                )
                # Jittered and capped: the other transaction is a handler, short.
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
            except psycopg2.Error as e:
                if is_db_down(e):
                    raise
                last_traceback = traceback.format_exc()
                _logger.exception("%s: batch failed", self.dbname)
                break
        if len(jobs) > 1:
            for job in jobs:
                self._run_jobs([job])
        else:
            self._record_failures([(jobs[0], "transaction kept failing", last_traceback)])

    def _transaction(self, jobs):
        registry = Registry(self.dbname).check_signaling()
        failures = []
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, WORKER_CONTEXT)
            for group in _groups(jobs):
                if len(group) > 1 and self._call(cr, env, group) is None:
                    continue
                # Alone, or a batch that failed: one savepoint per event.
                for job in group:
                    failure = self._call(cr, env, [job])
                    if failure is not None:
                        failures.append((job, *failure))
            if failures:
                self._store_failures(env, failures)
        registry.signal_changes()
        done = time.monotonic()
        failed = {id(job) for job, _, _ in failures}
        for job in jobs:
            if id(job) in failed:
                self.stats[job.server_id].failed += 1
            else:
                self.stats[job.server_id].dispatched += 1
                self.latencies.append(done - job.received)
                self.latency_ms[int((done - job.received) * 1000)] += 1

    @staticmethod
    def _call(cr, env, group):
        """Call the handler of ``group`` in a savepoint; (error, traceback) on failure."""
        job = group[0]
        method = getattr(env[job.model], job.method)
        try:
            with cr.savepoint():
                method([j.event for j in group] if job.batch else job.event)
        except RETRYABLE:
            raise
        except psycopg2.Error as e:
            if is_db_down(e):
                raise
            return str(e), traceback.format_exc()
        except Exception as e:  # a handler's bug must not stop the others
            return f"{type(e).__name__}: {e}", traceback.format_exc()
        return None

    def _record_failures(self, failures):
        registry = Registry(self.dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self._store_failures(env, failures)
            env.flush_all()  # see Worker.orm()
        for job, _, _ in failures:
            self.stats[job.server_id].failed += 1

    def _log_failure(self, job, error):
        handler = f"{job.model}.{job.method}"
        now = time.monotonic()
        with self._failure_log_lock:
            state = self._failure_logs.setdefault(handler, [-FAILURE_LOG_EVERY, 0])
            if now - state[0] < FAILURE_LOG_EVERY:
                state[1] += 1
                return
            quiet, state[:] = state[1], [now, 0]
        _logger.error(
            "%s: %s failed on %s: %s%s",
            self.dbname,
            handler,
            job.event.get("Event"),
            error,
            f" (and {quiet} more failures of this handler since its last log line: "
            "see PBX > Monitoring > Dispatch Errors)"
            if quiet
            else "",
        )

    def _store_failures(self, env, failures):
        for job, error, _tb in failures:
            self._log_failure(job, error)
        env["asterisk_common.dispatch_error"].sudo().create(
            [
                {
                    "server_id": job.server_id,
                    "event_map_id": job.entry_id,
                    "name": job.event.get("Event"),
                    "handler": f"{job.model}.{job.method}",
                    "event": job.event,
                    "error": error[:250],
                    "traceback": tb,
                }
                for job, error, tb in failures
            ]
        )

    def latency_percentiles(self):
        samples = sorted(self.latencies)
        if not samples:
            return None, None, None

        def pick(q):
            return samples[min(len(samples) - 1, int(q * len(samples)))]

        return pick(0.50), pick(0.95), pick(0.99)
