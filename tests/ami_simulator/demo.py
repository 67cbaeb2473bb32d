"""The demo's PBX life (``python -m tests.ami_simulator --demo SECONDS``): a
continuous mix of calls at a pace a person can follow, from the scenarios of
``scenarios.py``, and now and then a scanner guessing SIP passwords (which the
protection bans). The numbers are those of tools/demo_setup.py's contacts.

The recorded call's file (MixMonitor) is written where ``--monitor-dir`` says:
tools/demo gives ``var/recordings``, which the demo server's recording settings
read as the PBX's monitor folder (tools/demo_setup.py)."""

import asyncio
import logging

_logger = logging.getLogger(__name__)

KNOWN_CALLER = '"Marc Dupont" <+33612345678>'  # a contact of the demo database
KNOWN_NUMBER = "0612345678"  # his number as Alice dials it (the outbound route _0XXXXXXXXX)
UNKNOWN_CALLER = "+33798765432"  # nobody's number: "create contact" in the popup
SCANNER = "203.0.113.66"  # a documentation address (RFC 5737)

# (scenario, overrides, what a person sees)
PLAYLIST = [
    ("inbound_ring_group", {"caller_id": KNOWN_CALLER}, "a customer calls, Bob answers"),
    ("two_users", {}, "Alice calls Bob (internal)"),
    ("outbound_trunk", {"exten": KNOWN_NUMBER}, "Alice calls a customer (outbound)"),
    ("answered", {}, "an originated call, answered"),
    ("inbound_ring_group", {"caller_id": UNKNOWN_CALLER}, "an unknown number calls"),
    ("sip_busy", {}, "Alice calls Bob, busy"),
    (
        "recorded_inbound",
        {"caller_id": KNOWN_CALLER, "talk_time": 8.0},
        "a customer calls the recorded sales line, Bob answers (a recording)",
    ),
    ("queue", {}, "a caller waits in the support queue, an agent answers"),
    ("sip_noanswer", {}, "Alice calls 202, nobody answers (missed)"),
    ("attended_transfer", {}, "Alice calls Bob, who transfers her"),
    ("queue_abandoned", {}, "a caller hangs up while waiting in the queue"),
    ("sip_scan", {"addresses": [SCANNER], "attempts": 12}, "a SIP scanner guesses passwords"),
]


async def play(sim, pace: float, loops: int | None = None) -> None:
    """Start the playlist's scenarios one after the other, ``pace`` seconds
    apart, for ever (cancel the task to stop), or ``loops`` times."""
    done = 0
    while loops is None or done < loops:
        done += 1
        for scenario, overrides, label in PLAYLIST:
            try:
                sim.start_call(scenario, **overrides)
                _logger.info("demo: %s", label)
            except Exception:  # a scenario's bug must not end the demo
                _logger.exception("demo: %s failed", scenario)
            await asyncio.sleep(pace)
