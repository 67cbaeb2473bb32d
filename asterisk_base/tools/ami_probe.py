"""A small blocking AMI client that finds out what an AMI user can do.

The onboarding wizard runs it from the Odoo process itself: it must work
before the worker ever connected (a new server, or a worker that is not
loaded), so it cannot go through ``ami_action``.  Nothing here imports Odoo:
:func:`probe` returns facts (:class:`ProbeResult`), the wizard words them.

What Asterisk 20 tells, and how (``main/manager.c``):

* the banner ``Asterisk Call Manager/<AMI version>`` is sent at once;
* a refused login is always ``Authentication failed`` after one second, for a
  wrong user, a wrong secret or an address that the user's ``permit``/``deny``
  lines refuse (``authenticate()``), then the connection is closed;
* ``ListCommands`` lists exactly the actions whose write classes (any one of
  them) the user has (``action_listcommands``), each with ``(Priv: ...)``;
* ``Command: manager show user <name>`` (write ``command``) prints the user's
  ``read perm:`` and ``write perm:`` lines and ACL (``handle_showmanager``);
* ``FullyBooted`` follows the login only if the user reads ``system``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import socket
import ssl
import time
from dataclasses import dataclass, field

BANNER_PREFIX = "Asterisk Call Manager/"
MAX_FRAME = 1 << 20

# manager.c perms[], in Asterisk's order.
CLASSES = (
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
)

# Write classes of the actions registered by Asterisk 20's core (manager.c):
# always there, so an action missing from ListCommands is a missing class.
CORE_ACTIONS = {
    "Filter": ("system",),
    "ModuleCheck": ("system",),
    "ModuleLoad": ("system",),
    "Originate": ("originate",),
    "Command": ("command",),
    "Redirect": ("call",),
    "Setvar": ("call",),
    "Atxfer": ("call",),
    "BlindTransfer": ("call",),
    "SendText": ("call",),
    "UpdateConfig": ("config",),
    "CreateConfig": ("config",),
    "ListCategories": ("config",),
    "UserEvent": ("user",),
    "AOCMessage": ("aoc",),
    "Hangup": ("system", "call"),
    "AbsoluteTimeout": ("system", "call"),
    "GetConfig": ("system", "config"),
    "Reload": ("system", "config"),
    "CoreSettings": ("system", "reporting"),
    "CoreStatus": ("system", "reporting"),
    "CoreShowChannels": ("system", "reporting"),
    "LoggerRotate": ("system", "reporting"),
    "Getvar": ("call", "reporting"),
    "ExtensionState": ("call", "reporting"),
    "Status": ("system", "call", "reporting"),
}

# Actions a channel driver registers (all need write = system).
DRIVER_ACTIONS = {
    "chan_sip": {"SIPpeers", "SIPshowpeer"},
    "pjsip": {"PJSIPShowEndpoints", "PJSIPShowContacts"},
}

# What each part of the suite needs in manager.conf.  ``model``: the part is
# checked only when that model exists (its addon is installed).
REQUIREMENTS = (
    # key, model, read classes, write classes, level when missing
    ("worker", None, ("system",), ("system",), "warning"),
    ("user_events", None, ("user",), (), "warning"),
    ("calls", "asterisk_calls.call", ("call", "cdr", "dialplan"), (), "error"),
    ("queues", "asterisk_calls.call", ("agent",), (), "warning"),
    ("click_to_dial", "asterisk_calls.call", ("call",), ("originate", "call"), "error"),
    # DialplanExtensionAdd of the odoo-originate context
    ("click_to_dial_devices", "asterisk_calls.call", (), ("system",), "warning"),
    ("call_actions", "asterisk_calls.call", (), ("call", "system"), "warning"),
    ("protection", "asterisk_base.ban", ("security",), ("config",), "warning"),
    ("config_files", "asterisk_base.conf", (), ("config",), "warning"),
    ("console", "asterisk_base.console_command", (), ("command",), "warning"),
)


@dataclass
class ProbeResult:
    """What the probe found.  ``failure`` is empty when it logged in.

    ``failure``: ``resolve`` (unknown host name), ``refused``, ``timeout``,
    ``unreachable``, ``tls`` (handshake failed), ``tls_verify`` (certificate
    refused), ``no_banner`` (connected, but not to an AMI), ``auth`` (the
    login was refused), ``in_use`` (the user allows one session only and has
    one), ``closed`` (the peer closed the connection), ``error``.
    """

    host: str
    port: int
    failure: str = ""
    detail: str = ""
    local_address: str = ""
    remote_address: str = ""
    banner: str = ""
    ami_version: str = ""
    asterisk_version: str = ""
    # ListCommands: action -> its write classes, as Asterisk lists them
    actions: dict[str, tuple[str, ...]] | None = None
    # from "manager show user" (None: not known, no write = command)
    read_perm: set[str] | None = None
    write_perm: set[str] | None = None
    acl: list[str] = field(default_factory=list)
    # read "system": FullyBooted followed the login (None: not known)
    reads_system: bool | None = None
    drivers: list[str] | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failure

    def write_state(self, klass: str) -> bool | None:
        """Whether the user has write class ``klass``: True, False or None (unknown)."""
        if self.write_perm is not None:
            return klass in self.write_perm
        if self.actions is None:
            return None
        return infer_write_classes(self.actions).get(klass)

    def read_state(self, klass: str) -> bool | None:
        if self.read_perm is not None:
            return klass in self.read_perm
        if klass == "system" and self.reads_system is not None:
            return self.reads_system
        return None


def infer_write_classes(actions: dict[str, tuple[str, ...]]) -> dict[str, bool]:
    """Write classes known from ListCommands alone (absent keys: unknown).

    An action is listed when the user has any one of its classes: a listed
    action with a single class proves that class, a missing core action
    disproves all of its classes, and a listed action whose other classes are
    all disproved proves the remaining one.
    """
    known: dict[str, bool] = {}
    for name, classes in CORE_ACTIONS.items():
        if name not in actions:
            for klass in classes:
                known[klass] = False
    for classes in actions.values():
        if len(classes) == 1:
            known[classes[0]] = True
    for classes in actions.values():
        unknown = [c for c in classes if known.get(c) is not False]
        if len(unknown) == 1 and unknown[0] not in known:
            known[unknown[0]] = True
    return known


def parse_priv(value: str) -> tuple[str, ...]:
    """``"Originate a call.  (Priv: originate,all)"`` -> ``("originate",)``."""
    _head, sep, tail = value.rpartition("(Priv: ")
    if not sep:
        return ()
    return tuple(c for c in tail.rstrip(")").split(",") if c in CLASSES)


def parse_manager_user(lines: list[str]) -> tuple[set[str] | None, set[str] | None, list[str]]:
    """``manager show user`` output -> (read classes, write classes, ACL lines)."""
    read = write = None
    acl: list[str] = []
    in_acl = False
    for line in lines:
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key == "read perm":
            read = {c for c in value.strip().split(",") if c in CLASSES}
        elif sep and key == "write perm":
            write = {c for c in value.strip().split(",") if c in CLASSES}
        elif line.startswith("ACL: "):
            in_acl = True
        elif in_acl and line.strip() and not line.startswith("---"):
            acl.append(line.strip())
    return read, write, acl


class Message(list):
    """An AMI message: ``(key, value)`` pairs, keys compared case-insensitively."""

    def get(self, key: str, default: str = "") -> str:
        low = key.lower()
        return next((v for k, v in self if k.lower() == low), default)

    def getall(self, key: str) -> list[str]:
        low = key.lower()
        return [v for k, v in self if k.lower() == low]

    @classmethod
    def parse(cls, frame: bytes) -> Message:
        msg = cls()
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                msg.append((key.strip(), value[1:] if value.startswith(" ") else value))
        return msg


class ProbeError(Exception):
    def __init__(self, failure: str, detail: str = ""):
        super().__init__(failure, detail)
        self.failure = failure
        self.detail = detail


class BlockingAmi:
    """Just enough AMI for :func:`probe`: one socket, a timeout on every read."""

    def __init__(self, sock: socket.socket, timeout: float):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.events: list[Message] = []
        self._ids = 0

    def read_line(self, limit: int = 512) -> bytes:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf and len(self.buf) < limit:
            self._recv(deadline)
        line, _sep, self.buf = self.buf.partition(b"\n")
        return line

    def _recv(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise ProbeError("closed")
        self.buf += data
        if len(self.buf) > MAX_FRAME:
            raise ProbeError("error", "reply too large")

    def read_message(self, deadline: float) -> Message:
        while True:
            frame, sep, rest = self.buf.partition(b"\r\n\r\n")
            if sep:
                self.buf = rest
                msg = Message.parse(frame)
                if msg:
                    return msg
                continue
            self._recv(deadline)

    def send(self, action: dict) -> str:
        self._ids += 1
        action_id = f"odoo-probe-{self._ids}"
        lines = [
            f"{k}: {str(v).replace(chr(13), ' ').replace(chr(10), ' ')}" for k, v in action.items()
        ]
        lines.append(f"ActionID: {action_id}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def request(self, action: dict) -> Message:
        """Send ``action``; its response (events meanwhile are kept in ``events``)."""
        action_id = self.send(action)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self.read_message(deadline)
            if msg.get("Response") and msg.get("ActionID") == action_id:
                return msg
            if msg.get("Event"):
                self.events.append(msg)


def route_address(host: str, port: int) -> str:
    """The address this host would connect to ``host`` from ('' if unknown).

    For the manager.conf snippet when no connection was made: connecting a UDP
    socket sends nothing, it only picks the route.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return ""
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as udp:
            try:
                udp.connect(address)
                return udp.getsockname()[0]
            except OSError:
                continue
    return ""


def _connect(host, port, timeout, tls, tls_verify):
    try:
        sock = socket.create_connection((host, port), timeout)
    except socket.gaierror as exc:
        raise ProbeError("resolve", str(exc)) from exc
    except ConnectionRefusedError as exc:
        raise ProbeError("refused", str(exc)) from exc
    except TimeoutError as exc:
        raise ProbeError("timeout", str(exc)) from exc
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            raise ProbeError("unreachable", str(exc)) from exc
        raise ProbeError("error", str(exc)) from exc
    if not tls:
        return sock
    context = ssl.create_default_context()
    if not tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    sock.settimeout(timeout)
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ProbeError("tls_verify", exc.verify_message or str(exc)) from exc
    except (ssl.SSLError, ConnectionError) as exc:
        sock.close()
        raise ProbeError("tls", str(exc)) from exc
    except TimeoutError as exc:
        sock.close()
        raise ProbeError("tls", "no TLS handshake") from exc


def probe(
    host: str,
    port: int,
    username: str,
    secret: str,
    *,
    md5: bool = True,
    tls: bool = False,
    tls_verify: bool = True,
    timeout: float = 5.0,
) -> ProbeResult:
    """Connect, log in as ``username`` and find what it may do.  Never raises."""
    result = ProbeResult(host=host, port=port)
    started = time.monotonic()
    sock = None
    try:
        sock = _connect(host, port, timeout, tls, tls_verify)
        local = sock.getsockname()
        result.local_address = local[0]
        result.remote_address = sock.getpeername()[0]
        ami = BlockingAmi(sock, timeout)
        _session(ami, result, username, secret, md5)
    except ProbeError as exc:
        result.failure, result.detail = exc.failure, exc.detail
    except TimeoutError:
        # connected, then silence: the banner (or a reply) never came
        result.failure = "no_banner" if not result.banner else "timeout"
        result.detail = "no answer within %gs" % timeout
    except ssl.SSLError as exc:
        result.failure, result.detail = "tls", str(exc)
    except OSError as exc:
        result.failure = "closed" if isinstance(exc, ConnectionError) else "error"
        result.detail = str(exc)
    finally:
        if sock is not None:
            sock.close()
        result.elapsed = time.monotonic() - started
    return result


def _session(ami: BlockingAmi, result: ProbeResult, username: str, secret: str, md5: bool):
    try:
        raw = ami.read_line()
    except ProbeError as exc:
        raise ProbeError("no_banner", "connection closed without a banner") from exc
    banner = raw.decode("utf-8", "replace").strip()
    if not banner.startswith(BANNER_PREFIX):
        raise ProbeError("no_banner", banner[:80])
    result.banner = banner
    result.ami_version = banner[len(BANNER_PREFIX) :]

    # "Events: system": FullyBooted follows the login only if the user reads
    # system, the one read class visible without the command class.
    if md5:
        challenge = ami.request({"Action": "Challenge", "AuthType": "MD5"}).get("Challenge")
        if not challenge:
            raise ProbeError("error", "no MD5 challenge")
        key = hashlib.md5((challenge + secret).encode(), usedforsecurity=False).hexdigest()
        login = {"Action": "Login", "AuthType": "MD5", "Username": username, "Key": key}
    else:
        login = {"Action": "Login", "Username": username, "Secret": secret}
    login["Events"] = "system"
    try:
        reply = ami.request(login)
    except ProbeError as exc:
        raise ProbeError("auth", "connection closed") from exc
    if reply.get("Response") != "Success":
        message = reply.get("Message")
        raise ProbeError("in_use" if "In Use" in message else "auth", message)
    # Events' reply comes after whatever the login queued (FullyBooted).
    ami.request({"Action": "Events", "EventMask": "off"})
    result.reads_system = any(e.get("Event") == "FullyBooted" for e in ami.events)

    listed = ami.request({"Action": "ListCommands"})
    result.actions = {
        k: parse_priv(v) for k, v in listed if k.lower() not in ("response", "actionid", "message")
    }
    can_command = "Command" in result.actions

    def command(cli):
        reply = ami.request({"Action": "Command", "Command": cli})
        return reply.getall("Output") if reply.get("Response") == "Success" else None

    if "CoreSettings" in result.actions:
        result.asterisk_version = ami.request({"Action": "CoreSettings"}).get("AsteriskVersion")
    elif can_command:
        for line in command("core show version") or []:
            if line.startswith("Asterisk "):
                result.asterisk_version = line.split()[1]
                break
    if can_command:
        lines = command(f"manager show user {username}") or []
        result.read_perm, result.write_perm, result.acl = parse_manager_user(lines)
        drivers = []
        for driver, module in (("chan_sip", "chan_sip.so"), ("pjsip", "res_pjsip.so")):
            word = module.removesuffix(".so")
            if any(
                line.split()[:1] == [module] for line in command(f"module show like {word}") or []
            ):
                drivers.append(driver)
        result.drivers = drivers
    else:
        # Their list actions need write = system: without it, nothing is known.
        drivers = [d for d, actions in DRIVER_ACTIONS.items() if actions & result.actions.keys()]
        if drivers or result.write_state("system"):
            result.drivers = drivers
    # Asterisk closes as soon as it said Goodbye
    with contextlib.suppress(ProbeError, OSError):
        ami.request({"Action": "Logoff"})
