"""The web console behind the real worker: CLI commands over AMI ``Command``
to the simulator over TCP, completion from the PBX, the confirmation of
dangerous commands and the audit log."""

import xmlrpc.client

import pytest

from .odoo_env import query
from .test_calls_worker import start


def test_console_runs_commands_on_the_pbx(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim)

    def console(method, *args, login="admin"):
        return node.rpc("asterisk_common.server", method, [server_id], *args, login=login)

    version = console("console_run", "core show version")
    assert version["state"] == "done"
    assert version["output"].startswith("Asterisk 20")
    wrong = console("console_run", "core show vers")
    assert wrong["state"] == "failed"
    assert wrong["output"] == (
        "No such command 'core show vers' (type 'core show help core show vers' "
        "for other possible commands)"
    )
    # Completion is the PBX's (the remote console's "_command matchesarray").
    assert console("console_complete", "core sh") == ["show"]
    assert console("console_complete", "core show ") == ["channels", "uptime", "version"]
    assert console("console_complete", "nothing here") == []

    # Dangerous: nothing is sent before the confirmation.
    sent = len(sim.actions_received)
    asked = console("console_run", "module reload chan_sip.so")
    assert (asked["state"], asked["confirm"]) == ("confirm", "module reload")
    assert not [a for a in sim.actions_received[sent:] if a.get("Action") == "Command"]
    done = console("console_run", "module reload chan_sip.so", True)
    assert done["state"] == "done"
    commands = [a["Command"] for a in sim.actions_received if a.get("Action") == "Command"]
    assert commands[-1] == "module reload chan_sip.so"

    log = query(
        calls_db,
        """SELECT c.command, c.state, c.dangerous, u.login
             FROM asterisk_base_console_command c JOIN res_users u ON u.id = c.user_id
            ORDER BY c.id""",
    )
    assert log == [
        ("core show version", "done", None, "admin"),
        ("core show vers", "failed", None, "admin"),
        ("module reload chan_sip.so", "done", "module reload", "admin"),
    ]

    # A PBX user has no console.
    with pytest.raises(xmlrpc.client.Fault, match="Only PBX administrators"):
        console("console_run", "core show version", login="alice")
    with pytest.raises(xmlrpc.client.Fault, match="Only PBX administrators"):
        console("console_complete", "core", login="alice")
    assert node.errors() == []
