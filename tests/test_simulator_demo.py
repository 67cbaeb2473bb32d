"""The demo's playlist (tests/ami_simulator/demo.py) plays on the simulator: every
entry starts and its calls end, and the scanner's failures come from its address."""

import socket
import time

from tests.ami_simulator import SimulatorThread
from tests.ami_simulator.demo import PLAYLIST, SCANNER


def read_events(conn, until, timeout=30):
    """Events read from ``conn`` until ``until(events)`` or ``timeout``."""
    conn.settimeout(0.5)
    buffer, events = b"", []
    deadline = time.monotonic() + timeout
    while not until(events) and time.monotonic() < deadline:
        try:
            buffer += conn.recv(65536)
        except TimeoutError:
            continue
        *frames, buffer = buffer.split(b"\r\n\r\n")
        for frame in frames:
            lines = [line.partition(": ") for line in frame.decode().split("\r\n")]
            events.append({key: value for key, _sep, value in lines})
    return events


def test_every_demo_scenario_plays():
    calls = sum(1 for scenario, _o, _l in PLAYLIST if scenario != "sip_scan")
    with SimulatorThread(port=0, time_scale=0.05) as sim:
        with socket.create_connection(("127.0.0.1", sim.port)) as conn:
            conn.sendall(b"Action: Login\r\nUsername: odoo\r\nSecret: odoo-secret\r\n\r\n")
            assert sim.wait_for_sessions(1)
            for scenario, overrides, _label in PLAYLIST:
                sim.start_call(scenario, **overrides)
            events = read_events(
                conn,
                lambda events: sum(e.get("Event") == "Cdr" for e in events) >= calls,
            )
    names = [e.get("Event") for e in events]
    assert names.count("Cdr") >= calls, "every call of the playlist ends"
    failures = [e for e in events if e.get("Event") == "InvalidPassword"]
    assert len(failures) == 12, "the scanner's guesses"
    assert all(f"/{SCANNER}/" in e["RemoteAddress"] for e in failures)
    callers = {e.get("CallerIDNum") for e in events if e.get("Event") == "Newchannel"}
    assert {"+33612345678", "+33798765432"} <= callers, "the known and the unknown caller"
