"""Asterisk 20 Manager Interface (AMI) simulator for tests, benchmarks and the demo.

Reference behaviour: the recordings of a real Asterisk 20 in
``/work/shared/ami-captures`` and ``tests/captures`` (queues, SIP busy / no
answer / cancel, a trunk's ring group, an attended transfer, click-to-dial
originates of a phone and of a Local channel's devices, with Odoo's own
dialplan context and its pre-dial handler), and ``main/manager.c``.

Control API::

    from tests.ami_simulator import AmiSimulator, SimulatorThread

    sim = AmiSimulator(host="127.0.0.1", port=0, username="odoo",
                       secret="odoo-secret", failed_login_delay=1.0,
                       time_scale=1.0)          # <1.0 plays calls faster
    await sim.start(); sim.port; await sim.stop()
    await sim.emit({"Event": "Foo", "Privilege": "call,all", ...})
    linkedid = sim.start_call("answered")     # see scenarios.SCENARIOS
    sim.silent = True; await sim.drop_connections()
    sim.sessions, sim.actions_received, sim.config_store
    sim.logged_in; sim.max_logged_in; sim.reset_max_logged_in()   # AMI logins, not TCP
    sim.start_load(calls_per_second, duration=None, mix=None); sim.stop_load()
    # how a phone reacts when an Originate or a Dial rings it (default: answers
    # after 1 s); the Originate action itself drives the call (ChannelId,
    # OtherChannelId, Variable, CallerID, Timeout: tests/captures originate_*)
    sim.set_phone("bob", "busy")   # "answer" | ("answer", ring[, talk]) | "busy"
    sim.phone_behaviour            #   | "ring" | "unreachable"; None: default
    sim.races["first_ringing"] = "carol"   # which way a recorded thread race goes
    # the dialplan is extensions.conf plus what DialplanExtensionAdd/Remove
    # changed (Odoo's odoo-originate context; a dialplan reload forgets it)
    sim.dialplan_changes

    with SimulatorThread(port=0, time_scale=0.05) as sim:   # same kwargs
        sim.port; sim.emit(...); sim.start_call(...); sim.set_silent(True)
        sim.drop_connections(); sim.stop(); sim.restart()
        sim.actions_received; sim.wait_for_sessions(1, timeout=5)
        sim.max_logged_in; sim.reset_max_logged_in()
        sim.set_phone("carol", ("answer", 1.0, 2.0)); sim.phone_behaviour

CLI: ``python -m tests.ami_simulator --help``.
"""

from .protocol import Message, MessageParser
from .scenarios import EVENT_SCENARIOS, SCENARIOS
from .server import AmiSimulator, Session
from .thread import SimulatorThread

__all__ = [
    "EVENT_SCENARIOS",
    "SCENARIOS",
    "AmiSimulator",
    "Message",
    "MessageParser",
    "Session",
    "SimulatorThread",
]
