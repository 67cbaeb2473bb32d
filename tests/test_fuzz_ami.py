"""Fuzzing the AMI reading path of ``asterisk_agent_worker.ami`` (no Odoo needed).

* ``test_fuzz_from_frame`` / ``test_fuzz_frame_roundtrip``: the frame parser
  (:meth:`AmiMessage.from_frame`) on generated frames: nothing escapes, the
  result is a message of ``str`` (repeated keys as lists of ``str``) no bigger
  than its frame, or ``None`` for what is not an AMI message.
* ``test_fuzz_stream``: the protocol (framing + parser + EventLists + the
  ``wanted`` fast path) fed streams mixing good events and garbage (truncated
  frames, oversized frames, invalid UTF-8, missing separators, huge key counts,
  repeated keys, binary), cut into reads of random sizes.  No exception; the
  buffered bytes never exceed ``max_frame_size``; every good event that starts
  on a frame boundary is delivered, in order; garbage is counted.
* over TCP, against a tiny fake Asterisk: a 10 MB line, 100,000 keys... between
  good events on one connection (kept, nothing good lost, a log line, the
  counters), and a peer sending garbage for a banner then garbage forever
  (the client closes, reconnects and recovers).

Budget: ``FUZZ_EXAMPLES`` is the number of frames each property test generates
(the round trip: a quarter of it); default 4,000, about 10 s in all.  The long
run, documented in the README::

    FUZZ_EXAMPLES=1000000 .venv/bin/python -m pytest -p no:odoo tests/test_fuzz_ami.py -s -k stream
"""

import asyncio
import json
import logging
import os
import random
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asterisk_agent_worker import ami
from asterisk_agent_worker.ami import AmiAction, AmiClient, AmiMessage, AmiProtocol, AmiReply
from asterisk_agent_worker.ami import intake as ami_intake
from asterisk_agent_worker.ami.message import _HASHES as HASHES
from asterisk_agent_worker.ami.message import REDACTED


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """Overrides pytest-odoo's session fixture of that name: these tests need no database."""
    yield


FUZZ_FRAMES = int(os.environ.get("FUZZ_EXAMPLES", "4000"))
FRAMES_PER_EXAMPLE = 20  # a stream example holds 20 to 40 frames
MAX_FRAME = 2048  # the protocol's max_frame_size here: oversized frames stay cheap to make
SEP = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"
PENDING = "fuzz-1"  # ActionID of the action pending while a stream is read


def fuzz_settings(examples):
    return settings(
        max_examples=max(1, examples),
        deadline=None,
        database=None,  # no .hypothesis/ directory in the checkout
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- checks


def check_message(msg, size_bound):
    """A parsed message is made of str, repeated keys are lists of str, and it is bounded."""
    assert isinstance(msg, AmiMessage)
    size = len(msg.content)
    for lkey, (key, value) in msg._store.items():
        assert isinstance(key, str) and lkey == key.lower()
        assert "\r\n" not in key
        if isinstance(value, list):
            assert len(value) >= 2 and all(isinstance(v, str) for v in value)
            size += sum(map(len, value)) + len(key) * len(value)
        else:
            assert isinstance(value, str)
            # a redacted hash is a fixed text, whatever the caller sent
            size += (0 if lkey in HASHES else len(value)) + len(key)
    assert size <= size_bound, (size, size_bound)
    assert isinstance(msg.name, str) and isinstance(msg.is_event, bool)
    assert msg.is_event or isinstance(msg.get("Response"), str)
    assert msg.get("ActionID") is None or isinstance(msg.get("ActionID"), str)
    json.dumps(msg.to_dict())
    repr(msg)


def check_reply(reply):
    assert isinstance(reply, AmiReply)
    assert isinstance(reply.ok, bool) and all(isinstance(line, str) for line in reply.output)
    json.dumps(reply.to_dict())
    repr(reply)


# --------------------------------------------------------------------------- frames


@dataclass
class Unit:
    """A piece of the stream: a frame (good or not), maybe without its blank line."""

    kind: str
    data: bytes
    terminated: bool  # ends with CRLF CRLF: what follows starts on a frame boundary
    good: bool = False  # an "Event: FuzzGood" with a "Seq: #" to number

    def __repr__(self):
        data = self.data if len(self.data) <= 80 else self.data[:60] + b"..." + self.data[-12:]
        return f"Unit({self.kind}, {data!r}, len={len(self.data)})"


def _utf8(text):
    return text.encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8 too


short_text = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=24
)
any_text = st.text(max_size=40)
seed = st.integers(0, 2**32 - 1)
BAD_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe9",
]
REPLY_KEYS = ["Variable", "Output", "ChanVariable", "Event", "ActionID", "Response", "EventList"]


@st.composite
def good_unit(draw):
    channel, name = draw(short_text), draw(short_text)
    frame = f"Event: FuzzGood\r\nSeq: #\r\nChannel: {channel}\r\nCallerIDName: {name}\r\n\r\n"
    return Unit("good", _utf8(frame), True, True)


@st.composite
def bad_utf8_unit(draw):
    """A good event whose caller name is not UTF-8: delivered with U+FFFD, counted."""
    junk = draw(st.binary(max_size=8)).replace(b"\r", b"").replace(b"\n", b"")
    bad = draw(st.sampled_from(BAD_UTF8))
    frame = b"Event: FuzzGood\r\nSeq: #\r\nCallerIDName: " + junk + bad + b"\r\n\r\n"
    return Unit("bad_utf8", frame, True, True)


@st.composite
def truncated_unit(draw):
    frame = draw(good_unit()).data.replace(b"FuzzGood", b"Trunc")
    cut = draw(st.integers(1, len(frame) - 1))
    return Unit("truncated", frame[:cut], False)


@st.composite
def oversized_unit(draw):
    size = draw(st.integers(MAX_FRAME, 3 * MAX_FRAME))
    terminated = draw(st.booleans())
    body = b"Event: Big\r\nData: " + b"x" * size
    return Unit("oversized", body + (SEP if terminated else b""), terminated)


@st.composite
def no_separator_unit(draw):
    """Lines or frames not separated by CRLF / CRLF CRLF."""
    variant = draw(st.sampled_from(["lf", "cr", "none", "glued", "half"]))
    value = draw(short_text)
    if variant == "glued":  # two events, the blank line between them missing
        frame = f"Event: A\r\nX: {value}\r\nEvent: B\r\nY: 2\r\n\r\n"
        return Unit("glued", _utf8(frame), True)
    if variant == "half":  # ends with a single CRLF
        return Unit("half", _utf8(f"Event: Half\r\nX: {value}\r\n"), False)
    eol = {"lf": "\n", "cr": "\r", "none": ""}[variant]
    frame = f"Event: NoSep{eol}X: {value}{eol}{eol}"
    return Unit("no_separator", _utf8(frame), False)


@st.composite
def no_colon_unit(draw):
    text = draw(
        st.text(
            st.characters(blacklist_characters=":\r\n", blacklist_categories=("Cs",)),
            min_size=1,
            max_size=60,
        )
    )
    return Unit("no_colon", _utf8(text + "\r\n" + text) + SEP, True)


@st.composite
def many_keys_unit(draw):
    count = draw(st.integers(0, 400))
    frame = "Event: Many\r\n" + "".join(f"K{i}: {i}\r\n" for i in range(count)) + "\r\n"
    return Unit("many_keys", frame.encode(), True)


@st.composite
def repeated_keys_unit(draw):
    key = draw(st.sampled_from(REPLY_KEYS))
    count = draw(st.integers(2, 200))
    value = draw(short_text)
    frame = "Event: Rep\r\n" + f"{key}: {value}\r\n" * count + "\r\n"
    kind = "repeated_single" if key.lower() in ("event", "actionid") else "repeated"
    return Unit(kind, _utf8(frame), True)


@st.composite
def binary_unit(draw):
    if draw(st.booleans()):
        data = draw(st.binary(max_size=300))
    else:
        data = random.Random(draw(seed)).randbytes(draw(st.integers(0, 3 * MAX_FRAME)))
    terminated = draw(st.booleans())
    return Unit("binary", data + SEP if terminated else data, terminated)


@st.composite
def random_headers_unit(draw):
    pairs = draw(st.lists(st.tuples(any_text, any_text), max_size=8))
    first = draw(st.sampled_from(["Event: ", "Response: ", ""])) + draw(any_text)
    text = "\r\n".join([first, *(f"{k}: {v}" for k, v in pairs)])
    return Unit("random_headers", _utf8(text) + SEP, True)


@st.composite
def reply_unit(draw):
    """Pieces of replies to the pending action: EventLists, Command output, errors."""
    a, b = draw(short_text), draw(short_text)
    action_id = draw(st.sampled_from([PENDING, PENDING, "other-7", ""]))
    frame = draw(
        st.sampled_from(
            [
                "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n"
                "Message: Channels will follow\r\n",
                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: {a}\r\n",
                "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n"
                "ListItems: 3\r\n",
                "Event: StatusComplete\r\nActionID: {id}\r\n",
                "Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\n"
                "Output: {a}\r\nOutput: {b}\r\n",
                "Response: Follows\r\nActionID: {id}\r\nPrivilege: Command\r\n{a}\r\n{b}\r\n"
                "--END COMMAND--\r\n",
                "Response: Error\r\nActionID: {id}\r\nMessage: {a}\r\n",
                "Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n",
                "Response: Goodbye\r\nActionID: {id}\r\nMessage: {a}\r\n",
            ]
        )
    )
    return Unit("reply", _utf8(frame.format(id=action_id, a=a, b=b) + "\r\n"), True)


@st.composite
def empty_unit(draw):
    return Unit("empty", b"\r\n" * draw(st.integers(0, 3)) + SEP, True)


UNIT = st.one_of(
    good_unit(),
    good_unit(),
    bad_utf8_unit(),
    truncated_unit(),
    oversized_unit(),
    no_separator_unit(),
    no_colon_unit(),
    many_keys_unit(),
    repeated_keys_unit(),
    binary_unit(),
    random_headers_unit(),
    reply_unit(),
    empty_unit(),
)


def numbered(units):
    """The stream's bytes, the good units numbered by position."""
    out = []
    for i, unit in enumerate(units):
        out.append(unit.data.replace(b"Seq: #", b"Seq: %d" % i, 1) if unit.good else unit.data)
    return out


# --------------------------------------------------------------------------- the parser


@given(st.one_of(UNIT.map(lambda u: u.data), st.binary(max_size=2000)))
@fuzz_settings(FUZZ_FRAMES)
def test_fuzz_from_frame(data):
    """Every piece the framing can hand to the parser: a bounded message of str, or None."""
    for frame in data.split(SEP):
        msg, clean = AmiMessage.from_frame(frame)
        try:
            frame.decode("utf-8")
            assert clean
        except UnicodeDecodeError:
            assert not clean
        if msg is not None:
            check_message(msg, len(frame))


header_key = st.text(
    st.characters(blacklist_characters="\r\n:", blacklist_categories=("Cs",)), max_size=12
)
header_value = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)))


@given(
    st.sampled_from(["Event", "Response"]),
    st.lists(st.tuples(header_key, header_value), max_size=30),
)
@example("Event", [("Var", "1"), ("VAR", "2"), ("var", "3")])  # regression: first spelling kept
@example("Event", [("RECEIVEDHASH", "")])  # regression: every hash header is redacted
@fuzz_settings(FUZZ_FRAMES // 4)
def test_fuzz_frame_roundtrip(first, headers):
    """Well-formed headers come back exactly: repeated keys grouped (case-insensitively)
    into lists under their first spelling; a repeated Event/Response/ActionID is malformed."""
    headers = [(first, "X"), *headers]
    frame = "\r\n".join(f"{k}: {v}" for k, v in headers).encode()
    msg, clean = AmiMessage.from_frame(frame)
    assert clean
    expected = {}
    for key, value in headers:
        old = expected.get(key.lower())
        if old is None:
            expected[key.lower()] = (key, value)
        else:
            values = old[1] if isinstance(old[1], list) else [old[1]]
            expected[key.lower()] = (old[0], [*values, value])
    if any(
        isinstance(expected.get(k, ("", ""))[1], list) for k in ("event", "response", "actionid")
    ):
        assert msg is None
        return
    for key in HASHES.intersection(expected):  # a caller's hash is never kept
        expected[key] = (expected[key][0], REDACTED)
    assert msg is not None and msg._store == expected
    check_message(msg, len(frame))


def test_huge_frames_parse_in_linear_time():
    """100,000 keys, 100,000 repeats of one key: parsed, and fast."""
    many = b"Event: Many\r\n" + b"".join(b"K%d: %d\r\n" % (i, i) for i in range(100_000))
    repeated = b"Event: Rep\r\n" + b"Variable: x=1\r\n" * 100_000
    started = time.perf_counter()
    msg, _ = AmiMessage.from_frame(many.rstrip(b"\r\n"))
    assert len(msg._store) == 100_001 and msg["K99999"] == "99999"
    msg, _ = AmiMessage.from_frame(repeated.rstrip(b"\r\n"))
    assert len(msg.getlist("Variable")) == 100_000
    assert time.perf_counter() - started < 2.0


# --------------------------------------------------------------------------- the protocol


class _Transport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.closing = False

    def write(self, data):
        pass

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    abort = close


STATS = {"frames": 0, "bytes": 0, "examples": 0}


@st.composite
def streams(draw):
    units = draw(st.lists(UNIT, min_size=FRAMES_PER_EXAMPLE, max_size=2 * FRAMES_PER_EXAMPLE))
    banner = draw(st.sampled_from(["normal"] * 6 + ["odd", "none", "long"]))
    max_read = draw(st.sampled_from([1, 3, 7, 100, 1460, 4096, 65536, 1 << 20]))
    wanted = draw(st.sampled_from([None, "set", "raising"]))
    return units, banner, max_read, wanted, draw(seed)


def _wanted(mode):
    if mode == "set":
        return {"FuzzGood", "Many", "Rep", "Big"}.__contains__
    if mode == "raising":

        def wanted(name):
            if "x" in name:
                raise ValueError(name)
            return not name.startswith("N")

        return wanted
    return None


async def _read_stream(units, banner, max_read, wanted, rnd_seed):
    delivered = []

    def on_event(message, received):
        delivered.append(message)
        if message.name == "Rep":
            raise RuntimeError("a failing on_event must not stop the reading")

    client = AmiClient("fuzz", 5038, "u", "s", wanted=_wanted(wanted), on_event=on_event)
    client.loop = asyncio.get_running_loop()
    client._intake.LOG_THROTTLE = 1e9  # one log line per client: keep the run quiet
    proto = AmiProtocol(client._intake, MAX_FRAME)
    transport = _Transport()
    proto.connection_made(transport)
    pending = proto.request(AmiAction({"Action": "CoreShowChannels"}, PENDING, client.loop))

    head = {
        "normal": BANNER,
        "odd": b"\x00\xff garbage banner\r\n",  # taken as the banner, whatever it says
        "none": b"",
        "long": b"B" * 1500,
    }[banner]
    parts = numbered(units)
    data = head + b"".join(parts)
    rnd = random.Random(rnd_seed)
    i = 0
    while i < len(data) and not transport.closing:
        n = 1 + int(rnd.random() * max_read)
        proto.data_received(data[i : i + n])
        i += n
        if proto._parts:  # the incomplete frame held in memory: bounded
            assert proto._parts_len <= MAX_FRAME, proto._parts_len
            if rnd.random() < 0.02:
                assert sum(map(len, proto._parts)) == proto._parts_len
    STATS["frames"] += len(units)
    STATS["bytes"] += len(data)
    STATS["examples"] += 1

    if banner == "long" or (banner == "none" and transport.closing):
        # no banner line: the first line of the stream is one, if it is short enough
        assert transport.closing and proto.close_reason.startswith("no AMI banner")
        assert not delivered
        return
    assert not transport.closing
    assert proto.banner is not None

    # What must have happened, given where each unit starts.
    on_boundary = banner in ("normal", "odd")  # "none": the first line is eaten as banner
    expected_good, must_be_malformed, must_be_undecodable = [], 0, 0
    for i, unit in enumerate(units):
        if on_boundary:
            if unit.good:
                expected_good.append(i)
                must_be_undecodable += unit.kind == "bad_utf8"
            elif (
                unit.kind in ("no_colon", "repeated_single")
                # "Event: A" unwanted: dropped unparsed on the fast path, rightly
                or (unit.kind == "glued" and wanted != "set")
                # too big to arrive in one read: buffered, then dropped
                or (unit.kind == "oversized" and len(unit.data) > MAX_FRAME + max_read + 4)
            ):
                must_be_malformed += 1
        on_boundary = unit.terminated

    bound = MAX_FRAME + max_read
    for msg in delivered:
        check_message(msg, bound)
    seqs = [
        int(m["Seq"])
        for m in delivered
        if m.name == "FuzzGood" and isinstance(m.get("Seq"), str) and m["Seq"].isdigit()
    ]
    assert set(expected_good) <= set(seqs), sorted(set(expected_good) - set(seqs))
    assert seqs == sorted(seqs)  # order kept
    assert client.malformed_frames >= must_be_malformed
    assert client.undecodable_frames >= must_be_undecodable
    if pending.future.done():
        check_reply(pending.future.result())
    if client._intake.cache is not None:
        assert all(len(k) <= ami_intake._NAME_CACHE_MAX for k in client._intake.cache)


class _Sink(logging.Handler):
    """Formats and counts the client's log records (the fuzz run writes thousands)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        assert record.getMessage()
        self.count += 1


def test_fuzz_stream():
    """The reading path on >= FUZZ_EXAMPLES generated frames (20 to 40 per stream)."""

    @given(streams())
    @fuzz_settings(FUZZ_FRAMES // FRAMES_PER_EXAMPLE)
    def run(example):
        with asyncio.Runner() as runner:
            runner.run(_read_stream(*example))

    for key in STATS:
        STATS[key] = 0
    logger, sink = logging.getLogger(ami.__name__), _Sink()
    logger.addHandler(sink)
    logger.propagate = False
    started = time.perf_counter()
    try:
        run()
    finally:
        logger.removeHandler(sink)
        logger.propagate = True
    elapsed = time.perf_counter() - started
    print(
        f"\nfuzz stream: {STATS['frames']:,} frames, {STATS['bytes'] / 1e6:,.1f} MB in "
        f"{STATS['examples']:,} streams, {elapsed:.1f} s, {STATS['frames'] / elapsed:,.0f} "
        f"frames/s, {sink.count:,} log records"
    )
    assert STATS["frames"] >= FUZZ_FRAMES and sink.count > 0


# --------------------------------------------------------------------------- regressions


def _wire(**kw):
    client = AmiClient("fuzz", 5038, "u", "s", **kw)
    client.loop = asyncio.get_running_loop()
    proto = AmiProtocol(client._intake, client.max_frame_size)
    proto.connection_made(_Transport())
    proto.data_received(BANNER)
    return client, proto


def test_repeated_actionid_or_event_is_malformed_not_fatal():
    """Regression: a frame repeating ActionID raised ``TypeError: unhashable type:
    'list'`` in ``data_received`` (asyncio then dropped the connection), and one
    repeating Event for a pending action raised ``AttributeError``."""

    async def main():
        events = []
        client, proto = _wire(on_event=lambda m, t: events.append(m))
        action = proto.request(AmiAction({"Action": "Status"}, "p1", client.loop))
        proto.data_received(
            b"Event: A\r\nActionID: 1\r\nActionID: 2\r\n\r\n"
            b"Event: Status\r\nevent: StatusComplete\r\nActionID: p1\r\n\r\n"
            b"Response: Success\r\nRESPONSE: Error\r\nActionID: p1\r\n\r\n"
            b"Event: Good\r\n\r\n"
        )
        assert [m.name for m in events] == ["Good"] and client.malformed_frames == 3
        assert not action.future.done()

    asyncio.run(main())


def test_long_event_names_are_not_cached():
    """Regression: the fast drop path cached every event name read, up to 10,000
    of them of any length: a peer sending ever-new long names (up to
    ``max_frame_size`` each) could make it hold gigabytes."""

    async def main():
        client, proto = _wire(wanted=lambda name: name == "Hangup")
        for i in range(200):
            proto.data_received(b"Event: %d%s\r\nX: 1\r\n\r\n" % (i, b"n" * 50_000))
        proto.data_received(b"Event: Hangup\r\n\r\nEvent: Newchannel\r\n\r\n")
        assert client.events_dropped_unwanted == 201
        assert set(client._intake.cache) == {b"Hangup", b"Newchannel"}

    asyncio.run(main())


def test_banner_line_is_bounded():
    """Regression: a first line over 1,024 bytes was taken whole as the banner
    (and logged) when its CRLF came in the same read; now the connection is closed."""

    async def main():
        client = AmiClient("fuzz", 5038, "u", "s")
        client.loop = asyncio.get_running_loop()
        proto = AmiProtocol(client._intake)
        transport = _Transport()
        proto.connection_made(transport)
        proto.data_received(b"A" * 100_000 + b"\r\nEvent: X\r\n\r\n")
        assert transport.closing and proto.banner is None
        assert proto.close_reason == "no AMI banner (first line over 1024 bytes)"

    asyncio.run(main())


# --------------------------------------------------------------------------- over TCP


class FakeAsterisk:
    """A minimal AMI peer over TCP: each connection runs the next script (the last
    one repeats).  Scripts get the connection; ``answer()`` starts replying
    ``Success`` to every action (``CoreSettings`` with versions)."""

    def __init__(self, *scripts):
        self.scripts = scripts
        self.connections = 0
        self._conns = set()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        for conn in list(self._conns):
            conn.writer.close()
        await self.server.wait_closed()

    async def _handle(self, reader, writer):
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        conn = _Conn(reader, writer)
        self._conns.add(conn)
        try:
            await script(conn)
            await conn.closed()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(conn)
            if conn.answering is not None:
                conn.answering.cancel()
            writer.close()


class _Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()
        self.logged_in = asyncio.Event()
        self.answering = None
        self.replies = True

    async def write(self, data):
        async with self.lock:
            self.writer.write(data)
            await self.writer.drain()

    def answer(self):
        self.answering = asyncio.get_running_loop().create_task(self._answer())

    async def _answer(self):
        while True:
            block = await self.reader.readuntil(SEP)
            action = dict(
                line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line
            )
            name, action_id = action.get("Action", "").lower(), action.get("ActionID", "")
            extra = ""
            if name == "coresettings":
                extra = "AMIversion: 9.0.0\r\nAsteriskVersion: 20.5.0\r\n"
            if self.replies:
                await self.write(
                    f"Response: Success\r\nActionID: {action_id}\r\n{extra}\r\n".encode()
                )
            if name == "coresettings":
                self.logged_in.set()

    async def closed(self):
        """Until the client closes the connection."""
        while not self.writer.is_closing():
            if self.answering is not None and self.answering.done():
                return
            await asyncio.sleep(0.02)


def good(seq):
    return b"Event: FuzzGood\r\nSeq: %d\r\nChannel: PJSIP/201-0000000%d\r\n\r\n" % (seq, seq)


async def _until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


TCP_CLIENT = {
    "md5_login": False,
    "connect_timeout": 2.0,
    "action_timeout": 2.0,
    "backoff_initial": 0.05,
    "backoff_max": 0.2,
}


def test_tcp_garbage_between_good_events(caplog):
    """One connection carries good events and every kind of garbage: the client
    keeps it, logs the first malformed frame with its count, counts them all and
    delivers every good event that starts on a frame boundary."""
    rnd = random.Random(11)
    binary = rnd.randbytes(200_000).replace(b"\r", b"")
    stream = [
        good(0),
        b"Event: Trunc\r\nChannel: SIP/al",  # truncated: swallows good(1)
        good(1),
        good(2),
        b"Event: Huge\r\nData: " + b"x" * 10_000_000 + SEP,  # a 10 MB line: dropped
        good(3),
        b"y" * 10_000_000,  # 10 MB, no CRLF at all, no end: swallows good(4)
        good(4),
        good(5),
        b"Event: FuzzGood\r\nSeq: 6\r\nCallerIDName: Jos\xe9 \xff\xfe \xc0\xaf \xed\xa0\x80\r\n"
        b"\r\n",  # invalid UTF-8: delivered with U+FFFD
        binary + SEP,
        good(7),
        b"Event: ManyKeys\r\n"
        + b"".join(b"K%d: %d\r\n" % (i, i) for i in range(100_000))
        + b"\r\n",
        good(8),
        b"Event: Repeated\r\n" + b"Variable: x=1\r\n" * 100_000 + b"\r\n",
        b"Event: FuzzGood\r\nSeq: 99\r\nActionID: a\r\nActionID: b\r\n\r\n",  # malformed
        good(9),
        b"Event: LfOnly\nSeq: x\n\n",  # LF only: swallows good(10)
        good(10),
        good(11),
        b"this is not\r\nan AMI frame\r\n\r\n",
        b"\r\n\r\n\r\n\r\n\r\n",
        good(12),
        good(13),
        good(14),
    ]
    expected = [0, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14]

    async def script(conn):
        await conn.write(BANNER)
        conn.answer()
        await conn.logged_in.wait()
        for unit in stream:
            await conn.write(unit)

    async def main():
        events = []
        async with FakeAsterisk(script) as pbx:
            client = AmiClient(
                "127.0.0.1",
                pbx.port,
                "u",
                "s",
                name="fuzz-tcp",
                on_event=lambda m, t: events.append(m),
                ping_interval=30,
                **TCP_CLIENT,
            )
            started = time.monotonic()
            async with client:
                await client.wait_connected(5)
                await _until(
                    lambda: any(m.get("Seq") == "14" for m in events), 20, "the last good event"
                )
                elapsed = time.monotonic() - started
                seqs = [int(m["Seq"]) for m in events if m.name == "FuzzGood"]
                assert seqs == expected
                by_name = {m.name: m for m in events}
                assert len(by_name["ManyKeys"]._store) == 100_001
                assert len(by_name["Repeated"].getlist("Variable")) == 100_000
                assert by_name["FuzzGood"] is not None
                six = next(m for m in events if m.get("Seq") == "6")
                assert "\ufffd" in six["CallerIDName"]
                # the 10 MB line, the binary, the repeated ActionID, the text: at least
                assert client.malformed_frames >= 4 and client.undecodable_frames >= 1
                assert client.connected and client.logins == 1 and client.connect_attempts == 1
        records = [r.getMessage() for r in caplog.records if r.name.startswith(ami.__name__)]
        assert any(
            "fuzz-tcp: frame larger than 4194304 bytes dropped (1 so far)" in r for r in records
        ), records
        print(
            f"\nTCP garbage stream ({sum(map(len, stream)) / 1e6:.1f} MB) read in {elapsed:.2f} s"
        )

    with caplog.at_level(logging.INFO):
        asyncio.run(main())


def test_tcp_garbage_banner_then_endless_garbage_then_recovers(caplog):
    """A peer that sends 4 KB of garbage instead of a banner, then one that sends
    garbage forever after login: the client closes each, reconnects and, on the
    third connection, reads events normally."""

    async def garbage_banner(conn):
        await conn.write(random.Random(1).randbytes(4096).replace(b"\n", b""))

    async def endless(conn):
        await conn.write(BANNER)
        conn.answer()
        await conn.logged_in.wait()
        conn.replies = False  # the Pings go unanswered
        chunk = b"z" * 65536
        while not conn.writer.is_closing():
            await conn.write(chunk)
            await asyncio.sleep(0.005)

    async def healthy(conn):
        await conn.write(BANNER)
        conn.answer()
        await conn.logged_in.wait()
        for seq in range(5):
            await conn.write(good(seq))

    async def main():
        events = []
        async with FakeAsterisk(garbage_banner, endless, healthy) as pbx:
            client = AmiClient(
                "127.0.0.1",
                pbx.port,
                "u",
                "s",
                name="fuzz-tcp",
                on_event=lambda m, t: events.append(m),
                ping_interval=0.2,
                ping_timeout=0.2,
                **TCP_CLIENT,
            )
            async with client:
                await _until(lambda: len(events) == 5, 10, "the events after recovery")
                assert [int(m["Seq"]) for m in events] == list(range(5))
                assert client.connected and client.logins == 2 and pbx.connections == 3
                assert client.malformed_frames >= 1  # the endless frame, oversized
        records = [r.getMessage() for r in caplog.records if r.name.startswith(ami.__name__)]
        text = "\n".join(records)
        assert "connection failed: before the banner: no AMI banner" in text, text
        assert "Ping unanswered" in text and "disconnected: Ping unanswered" in text, text

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
