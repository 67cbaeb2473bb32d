"""The onboarding wizard's AMI probe (asterisk_base/tools/ami_probe.py) over TCP.

Against the simulator (Asterisk 20's answers) and against sockets that are no
AMI at all.  The probe is plain Python: loaded from its file, without Odoo.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.ami_simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "onboarding_ami_probe", ROOT / "asterisk_base/tools/ami_probe.py"
)
ami_probe = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = ami_probe  # dataclasses look their module up
_spec.loader.exec_module(ami_probe)
probe = ami_probe.probe


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(port=0, failed_login_delay=0.2) as simulator:
        simulator.add_user("dialer", "pw", read="call,cdr", write="call")
        simulator.add_user("cli", "pw", read="system,call", write="command,reporting")
        simulator.add_user(
            "faraway", "pw", acl=(("deny", "0.0.0.0/0.0.0.0"), ("permit", "10.0.0.0/8"))
        )
        yield simulator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("md5", [True, False])
def test_full_rights_user(sim, md5):
    found = probe("127.0.0.1", sim.port, "odoo", "odoo-secret", md5=md5)
    assert found.ok, found
    assert found.banner == "Asterisk Call Manager/9.0.0"
    assert found.ami_version == "9.0.0"
    assert found.asterisk_version == "20.10.0"
    assert found.local_address == "127.0.0.1"
    assert found.drivers == ["chan_sip", "pjsip"]
    assert found.reads_system is True
    assert found.read_perm == set(ami_probe.CLASSES)
    assert found.write_perm == set(ami_probe.CLASSES)
    assert found.acl == []
    assert "Originate" in found.actions
    # it logged off: no session left behind
    assert sim.actions_received[-1]["Action"] == "Logoff"
    deadline = time.monotonic() + 5
    while [s for s in sim.sessions if s.username == "odoo"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [s for s in sim.sessions if s.username == "odoo"]
    login = [a for a in sim.actions_received if a.get("Action") == "Login"][-1]
    assert ("Key" in login) is md5 and ("Secret" in login) is not md5


def test_wrong_secret(sim):
    found = probe("127.0.0.1", sim.port, "odoo", "wrong", md5=True)
    assert found.failure == "auth"
    assert found.detail == "Authentication failed"
    # the address to put in a permit= line, as the PBX sees it
    assert found.local_address == "127.0.0.1"
    assert found.elapsed >= 0.2  # Asterisk waits before answering


def test_address_refused_by_permit_lines_looks_like_a_wrong_secret(sim):
    found = probe("127.0.0.1", sim.port, "faraway", "pw", md5=False)
    assert (found.failure, found.detail) == ("auth", "Authentication failed")
    assert found.local_address == "127.0.0.1"


def test_refused_port():
    found = probe("127.0.0.1", free_port(), "odoo", "x", timeout=2)
    assert found.failure == "refused"
    assert found.local_address == ""


def test_unknown_host():
    found = probe("no-such-pbx.invalid", 5038, "odoo", "x", timeout=2)
    assert found.failure == "resolve"


def test_missing_write_permission_seen_from_listcommands(sim):
    """No command class: classes are inferred from the actions Asterisk lists."""
    found = probe("127.0.0.1", sim.port, "dialer", "pw")
    assert found.ok
    assert "Originate" not in found.actions and "Command" not in found.actions
    assert found.write_state("originate") is False
    assert found.write_state("command") is False
    assert found.write_state("config") is False
    assert found.write_state("system") is False
    assert found.write_state("call") is True
    # reporting: CoreSettings (system|reporting) is not listed, system is absent
    assert found.write_state("reporting") is False
    # read classes cannot be read without the command class, except system
    assert found.read_perm is None
    assert found.read_state("call") is None
    assert found.read_state("system") is False  # no FullyBooted after the login
    assert found.asterisk_version == ""  # CoreSettings is not allowed
    assert found.drivers is None


def test_command_class_gives_exact_classes(sim):
    found = probe("127.0.0.1", sim.port, "cli", "pw")
    assert found.ok
    assert found.read_perm == {"system", "call"}
    assert found.write_perm == {"command", "reporting"}
    assert found.read_state("cdr") is False
    assert found.write_state("originate") is False
    assert found.asterisk_version == "20.10.0"  # CoreSettings through reporting
    assert found.drivers == ["chan_sip", "pjsip"]  # module show like
    assert found.reads_system is True


def test_driver_detection_follows_loaded_modules(sim):
    sim.call(sim.sim.modules.pop, "chan_sip.so")
    try:
        found = probe("127.0.0.1", sim.port, "cli", "pw")
    finally:
        sim.call(
            sim.sim.modules.__setitem__,
            "chan_sip.so",
            ("Session Initiation Protocol (SIP)", "deprecated"),
        )
    assert found.drivers == ["pjsip"]


def serve_once(reply: bytes | None):
    """A TCP server that sends ``reply`` (None: nothing) to its first client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _addr = listener.accept()
        with conn:
            if reply is not None:
                conn.sendall(reply)
            conn.settimeout(3)
            with contextlib.suppress(OSError):
                conn.recv(1024)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_silent_port_is_no_ami():
    # an HTTP server (Asterisk's own 8088, Odoo's 8069) says nothing first
    found = probe("127.0.0.1", serve_once(None), "odoo", "x", timeout=1)
    assert found.failure == "no_banner"


def test_other_service_is_no_ami():
    found = probe("127.0.0.1", serve_once(b"SSH-2.0-OpenSSH_9.2\r\n"), "odoo", "x", timeout=2)
    assert found.failure == "no_banner"
    assert found.detail == "SSH-2.0-OpenSSH_9.2"


def test_tls_to_a_plain_ami_port(sim):
    found = probe("127.0.0.1", sim.port, "odoo", "odoo-secret", tls=True, timeout=2)
    assert found.failure == "tls"


def test_infer_write_classes():
    infer = ami_probe.infer_write_classes
    # what Asterisk lists for write = call,reporting
    listed = {
        name: classes
        for name, classes in ami_probe.CORE_ACTIONS.items()
        if {"call", "reporting"} & set(classes)
    }
    listed["Ping"] = ()
    known = infer(listed)
    assert known["call"] is True
    assert known["system"] is False  # Filter (system only) is not listed
    assert known["reporting"] is True  # but CoreSettings (system|reporting) is
    assert known["config"] is False
    assert known["originate"] is False
    assert "agent" not in known  # nothing in the core tells


def test_parse_helpers():
    assert ami_probe.parse_priv("Originate a call.  (Priv: originate,all)") == ("originate",)
    assert ami_probe.parse_priv("Ping.  (Priv: <none>)") == ()
    read, write, acl = ami_probe.parse_manager_user(
        [
            "",
            "          username: odoo",
            "         read perm: call,cdr",
            "        write perm: <none>",
            "ACL: (unnamed)",
            "---------------------------------------------",
            "  0:  deny - 0.0.0.0/0.0.0.0",
        ]
    )
    assert (read, write, acl) == ({"call", "cdr"}, set(), ["0:  deny - 0.0.0.0/0.0.0.0"])
