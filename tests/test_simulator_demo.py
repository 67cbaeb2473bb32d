"""The demo's playlist (tests/ami_simulator/demo.py) plays on the simulator: every
entry starts and its calls end, the scanner's failures come from its address,
Alice's call to a customer leaves through the trunk, and the recorded call's
file is written where the demo's Odoo reads the PBX's recordings."""

import os
import socket
import subprocess
import sys
import time
import wave

from tests.ami_simulator import SimulatorThread
from tests.ami_simulator.demo import KNOWN_NUMBER, PLAYLIST, SCANNER
from tests.ami_simulator.recording import MONITOR_DIR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def login(port):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"Action: Login\r\nUsername: odoo\r\nSecret: odoo-secret\r\n\r\n")
    return conn


def all_ended(events, calls):
    """Every channel of at least ``calls`` calls hung up, their CDRs came."""
    channels = {e["Channel"] for e in events if e.get("Event") == "Newchannel"}
    linkedids = {e["Linkedid"] for e in events if e.get("Event") == "Newchannel"}
    hung_up = {e["Channel"] for e in events if e.get("Event") == "Hangup"}
    cdrs = sum(e.get("Event") == "Cdr" for e in events)
    return len(linkedids) >= calls and channels <= hung_up and cdrs >= calls


def recorded_file(events):
    """The recorded call's file as Asterisk names it, once its channel hung up."""
    named = [e for e in events if e.get("Variable") == "MIXMONITOR_FILENAME"]
    hung_up = {e.get("Channel") for e in events if e.get("Event") == "Hangup"}
    return named and named[0]["Channel"] in hung_up and named[0]["Value"]


def check_wav(path, at_least):
    """A file Asterisk writes for a .wav: 16-bit signed linear, mono, 8 kHz."""
    with wave.open(path) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 8000)
        assert audio.getnframes() / 8000 >= at_least
        assert audio.readframes(audio.getnframes()).strip(b"\x00"), "not silence"


def test_every_demo_scenario_plays(tmp_path):
    calls = sum(1 for scenario, _o, _l in PLAYLIST if scenario != "sip_scan")
    with SimulatorThread(port=0, time_scale=0.05, monitor_folder=str(tmp_path)) as sim:
        with login(sim.port) as conn:
            assert sim.wait_for_sessions(1)
            for scenario, overrides, _label in PLAYLIST:
                sim.start_call(scenario, **overrides)
            events = read_events(conn, lambda events: all_ended(events, calls))
    assert all_ended(events, calls), "every call of the playlist ends"
    failures = [e for e in events if e.get("Event") == "InvalidPassword"]
    assert len(failures) == 12, "the scanner's guesses"
    assert all(f"/{SCANNER}/" in e["RemoteAddress"] for e in failures)
    callers = {e.get("CallerIDNum") for e in events if e.get("Event") == "Newchannel"}
    assert {"+33612345678", "+33798765432"} <= callers, "the known and the unknown caller"

    # Alice dials the customer's number: her dialplan sends it to the trunk, he answers
    dials = [e for e in events if e.get("Event") in ("DialBegin", "DialEnd")]
    (dial,) = [e for e in dials if e["Event"] == "DialBegin" and e.get("Exten") == KNOWN_NUMBER]
    assert dial["Channel"].startswith("SIP/alice-")
    assert dial["DestChannel"].startswith("SIP/provider-")
    assert dial["DialString"] == f"provider/{KNOWN_NUMBER}"
    assert any(
        e["Event"] == "DialEnd"
        and e["DestChannel"] == dial["DestChannel"]
        and e["DialStatus"] == "ANSWER"
        for e in dials
    ), "he answers"

    # The recorded call: MixMonitor in the dialplan, its file in the monitor folder
    started = [e for e in events if e.get("Event") == "MixMonitorStart"]
    assert len(started) == 1 and started[0]["Context"] == "from-trunk"
    path = recorded_file(events)
    assert path == f"{MONITOR_DIR}/{started[0]['Uniqueid']}.wav"
    check_wav(os.path.join(tmp_path, os.path.basename(path)), at_least=8)


def test_demo_command_writes_the_recordings(tmp_path):
    """The simulator as tools/demo starts it (--demo, --monitor-dir): the recorded
    call's file lands in the folder Odoo reads as the PBX's monitor folder."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ami_simulator", "--port", "0", "--demo", "0.2",
         "--time-scale", "0.05", "--monitor-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        listening = proc.stdout.readline()  # AMI simulator listening on HOST:PORT
        with login(int(listening.rsplit(":", 1)[1])) as conn:
            events = read_events(conn, recorded_file)
        path = recorded_file(events)
        assert path and path.startswith(MONITOR_DIR + "/"), "the recorded call played"
        check_wav(os.path.join(tmp_path, os.path.basename(path)), at_least=8)
    finally:
        proc.terminate()
        proc.wait(10)
