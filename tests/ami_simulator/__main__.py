"""``python -m tests.ami_simulator``: run the AMI simulator from the command line.

Prints ``AMI simulator listening on HOST:PORT`` (flushed) once it accepts
connections, so a parent process can wait for that line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from . import demo, pbx
from .scenarios import EVENT_SCENARIOS, SCENARIOS
from .server import AmiSimulator


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.ami_simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038, help="0 picks a free port")
    p.add_argument("--user", default="odoo")
    p.add_argument("--secret", default="odoo-secret")
    p.add_argument(
        "--failed-login-delay",
        type=float,
        default=1.0,
        help="seconds before 'Authentication failed' (Asterisk: 1)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per simulated second (0.1 plays calls 10x faster)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS) + sorted(EVENT_SCENARIOS),
        help="start this call once the first client has logged in",
    )
    mode.add_argument(
        "--calls-per-second", type=float, help="generate load once a client is logged in"
    )
    mode.add_argument(
        "--replay", metavar="FILE", help="serve the events of a .raw capture after login"
    )
    mode.add_argument(
        "--demo",
        type=float,
        metavar="SECONDS",
        help="the demo's mix of calls (and a scanner), one every SECONDS, once a client is in",
    )
    p.add_argument(
        "--repeat", type=float, default=0.0, help="with --scenario: start it again every N seconds"
    )
    p.add_argument("--duration", type=float, help="with --calls-per-second: stop after N seconds")
    p.add_argument(
        "--replay-rate", type=float, default=0.0, help="events/s for --replay (0 = unthrottled)"
    )
    p.add_argument(
        "--split-utf8",
        action="store_true",
        help="with --replay: cut multi-byte characters across two TCP writes",
    )
    p.add_argument(
        "--phone",
        action="append",
        default=[],
        metavar="PEER=BEHAVIOUR",
        type=phone_arg,
        help="how a phone reacts when rung (Originate, Dial): answer, answer:RING[:TALK] "
        "(seconds), busy, ring (never answers), unreachable; default answer after 1 s",
    )
    p.add_argument(
        "--monitor-dir",
        metavar="DIR",
        help="the PBX's monitor folder (/var/spool/asterisk/monitor) as shared with Odoo: "
        "the files of the recordings (MixMonitor) are written there",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def phone_arg(text: str) -> tuple[str, object]:
    """``bob=busy``, ``carol=answer:1:2`` -> (peer, phone_behaviour value)."""
    peer, sep, spec = text.partition("=")
    if not sep or not peer:
        raise argparse.ArgumentTypeError("expected PEER=BEHAVIOUR")
    kind, *numbers = spec.split(":")
    try:
        value = (kind, *(float(n) for n in numbers)) if numbers else kind
        pbx.phone_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return peer, value


async def main(args: argparse.Namespace) -> None:
    sim = AmiSimulator(
        host=args.host,
        port=args.port,
        username=args.user,
        secret=args.secret,
        failed_login_delay=args.failed_login_delay,
        time_scale=args.time_scale,
        monitor_folder=args.monitor_dir,
    )
    for peer, behaviour in args.phone:
        sim.set_phone(peer, behaviour)
    if args.replay:
        sim.replay_file = args.replay
        sim.replay_rate = args.replay_rate
        sim.replay_split_utf8 = args.split_utf8
    await sim.start()
    print(f"AMI simulator listening on {sim.host}:{sim.port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)

    async def driver():
        if not (args.scenario or args.calls_per_second or args.demo):
            return
        while not any(s.authenticated for s in sim.sessions):
            await asyncio.sleep(0.05)
        if args.demo:
            await demo.play(sim, args.demo)
            return
        if args.calls_per_second:
            sim.start_load(args.calls_per_second, args.duration)
            return
        while True:
            linkedid = sim.start_call(args.scenario)
            logging.info("started %s %s", args.scenario, linkedid)
            if not args.repeat:
                return
            await asyncio.sleep(args.repeat)

    task = asyncio.create_task(driver())
    await stop.wait()
    task.cancel()
    await sim.shutdown()


if __name__ == "__main__":
    ns = parse_args()
    logging.basicConfig(level=logging.INFO if ns.verbose else logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(ns))
