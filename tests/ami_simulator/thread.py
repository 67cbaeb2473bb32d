"""Run an :class:`AmiSimulator` in a background thread with its own event loop.

For synchronous tests and for tests whose AMI client lives in another process
(an Odoo server): every method is a thread-safe, blocking wrapper around the
simulator running in the thread.
"""

from __future__ import annotations

import asyncio
import threading
import time

from .server import AmiSimulator


class SimulatorThread:
    """``with SimulatorThread(port=0, ...) as sim:`` -- same kwargs as AmiSimulator."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.sim: AmiSimulator | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SimulatorThread:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self.sim = AmiSimulator(**self._kwargs)
                loop.run_until_complete(self.sim.start())
            except BaseException as exc:  # report bind errors to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.sim.shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="ami-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def close(self) -> None:
        """Stop the simulator and the thread."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------
    def call(self, fn, *args, timeout: float = 30.0, **kwargs):
        """Run ``fn(*args, **kwargs)`` in the simulator loop; await it if it is a coroutine."""

        async def runner():
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout)

    # -- public API ------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.sim.port

    @property
    def host(self) -> str:
        return self.sim.host

    @property
    def actions_received(self) -> list[dict]:
        return list(self.sim.actions_received)

    @property
    def invites(self) -> list[tuple[str, list[str]]]:
        """(device, extra headers) of each INVITE sent to a phone."""
        return list(self.sim.invites)

    @property
    def sessions(self) -> list:
        return list(self.sim.sessions)

    @property
    def config_store(self):
        return self.sim.config_store

    @property
    def logged_in(self) -> int:
        """AMI sessions logged in now (not mere TCP connections)."""
        return self.call(lambda: self.sim.logged_in)

    @property
    def max_logged_in(self) -> int:
        """The most AMI sessions logged in at once since start or :meth:`reset_max_logged_in`."""
        return self.call(lambda: self.sim.max_logged_in)

    def reset_max_logged_in(self) -> int:
        """Count the maximum again from the sessions logged in now; returns the old one."""
        return self.call(self.sim.reset_max_logged_in)

    def emit(self, event) -> None:
        self.call(self.sim.emit, event)

    @property
    def phone_behaviour(self) -> dict:
        """A copy of ``AmiSimulator.phone_behaviour`` (change it with :meth:`set_phone`)."""
        return dict(self.sim.phone_behaviour)

    def set_phone(self, peer: str, behaviour=None) -> None:
        """How ``peer``'s phone reacts to being rung: ``"answer"`` (after 1 s of
        ringing, the default), ``("answer", ring_seconds)``, ``("answer",
        ring_seconds, talk_seconds)`` (then it hangs up itself), ``"busy"``,
        ``"ring"`` (never answers), ``"unreachable"``; None: the default again."""
        self.call(self.sim.set_phone, peer, behaviour)

    def add_user(self, username: str, secret: str, **options) -> None:
        """A manager.conf user (``read``, ``write``, ``acl``: see AmiSimulator.add_user)."""
        self.call(self.sim.add_user, username, secret, **options)

    def start_call(self, scenario: str, **kw) -> str:
        return self.call(self.sim.start_call, scenario, **kw)

    def set_silent(self, silent: bool = True) -> None:
        """While silent, the sessions read (and record) actions but neither run
        nor answer them, and send no event: all that is dropped, not delayed."""
        self.call(setattr, self.sim, "silent", silent)

    def drop_connections(self) -> None:
        self.call(self.sim.drop_connections)

    def stop(self) -> None:
        """Stop listening and close the sessions; the thread keeps running."""
        self.call(self.sim.stop)

    def restart(self) -> None:
        """Listen again on the same port (after :meth:`stop`, or to force a reconnect)."""
        if self.sim.listening:
            self.call(self.sim.stop)
        deadline = time.monotonic() + 5
        while True:
            try:
                self.call(self.sim.start)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def start_load(self, calls_per_second: float, duration: float | None = None, mix=None):
        return self.call(self.sim.start_load, calls_per_second, duration, mix)

    def stop_load(self) -> None:
        self.call(self.sim.stop_load)

    def wait_for_sessions(
        self, n: int = 1, timeout: float = 10.0, authenticated: bool = True
    ) -> bool:
        """Block until at least ``n`` (logged-in) sessions are connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [s for s in self.sim.sessions if s.authenticated or not authenticated]
            if len(live) >= n:
                return True
            time.sleep(0.01)
        return False

    def wait_calls_done(self, timeout: float = 10.0) -> None:
        self.call(self.sim.wait_calls_done, timeout, timeout=timeout + 5)
