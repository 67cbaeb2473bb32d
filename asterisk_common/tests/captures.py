"""The captures of AMI traffic the tests replay: the shared reference captures
of a real Asterisk, and the suite's own (tests/captures)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURES = os.path.join(os.path.dirname(REPO), "shared", "ami-captures")
OWN_CAPTURES = os.path.join(REPO, "tests", "captures")


def capture_timings(path):
    """Seconds at which each message of a capture arrived (NAME.timing.txt of
    the suite's own captures), or None."""
    timing = path[: -len(".raw")] + ".timing.txt"
    if not os.path.exists(timing):
        return None
    with open(timing) as f:
        return [float(line.split()[0]) for line in f if line.strip()]


def parse_capture(path):
    """The events of a .raw capture as the worker hands them over: dicts of
    the AMI keys, repeated keys as lists; ``_t`` is when it arrived, when the
    capture's timing is known."""
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    blocks = [b for b in data.split("\r\n\r\n") if ": " in b]
    timings = capture_timings(path)
    if timings is not None and len(timings) != len(blocks):
        timings = None
    events = []
    for index, block in enumerate(blocks):
        event = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if not sep:
                continue
            if key in event:
                previous = event[key]
                event[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                event[key] = value
        if "Event" in event:
            if timings is not None:
                event["_t"] = timings[index]
            events.append(event)
    return events


def capture_path(name):
    for folder in (CAPTURES, OWN_CAPTURES):
        path = os.path.join(folder, f"{name}.raw")
        if os.path.exists(path):
            return path
    return None
