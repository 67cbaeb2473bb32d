"""AMI simulator: manager.conf users' read/write classes and permit/deny lines.

Expected texts are Asterisk 20's (main/manager.c, main/cli.c, main/acl.c), checked
against the real Asterisk of ../shared/asterisk (user odoo, read = all, write = all,
deny 0.0.0.0/0.0.0.0, permit 127.0.0.1).
"""

from __future__ import annotations

import pytest

from tests.ami_simulator.protocol import ALL_EVENTS, EVENT_FLAGS, get_perm, user_authority_to_str
from tests.test_simulator_protocol import Raw, with_sim

ALL_LABELS = (
    "system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,"
    "originate,agi,cc,aoc,test,security,message,all"
)


async def login(c: Raw, user: str, secret: str, events: str = "off"):
    await c.action(Action="Login", ActionID="l", Username=user, Secret=secret, Events=events)
    return await c.read()


async def command(c: Raw, cli: str, aid: str = "c"):
    await c.action(Action="Command", ActionID=aid, Command=cli)
    reply, _seen = await c.read_until(lambda m: m.get("ActionID") == aid)
    return reply


def test_get_perm_and_authority_strings_as_manager_c():
    assert get_perm("all") == ALL_EVENTS
    assert get_perm("call,cdr") == EVENT_FLAGS["call"] | EVENT_FLAGS["cdr"]
    # ast_instring compares whole items without trimming
    assert get_perm("call, cdr") == EVENT_FLAGS["call"]
    assert get_perm("") == 0
    assert user_authority_to_str(ALL_EVENTS) == ALL_LABELS
    assert user_authority_to_str(0) == "<none>"
    assert user_authority_to_str(get_perm("cdr,call")) == "call,cdr"


def test_listcommands_lists_only_the_users_write_classes():
    async def go(sim):
        sim.add_user("dialer", "pw", read="call", write="originate")
        c = await Raw.open(sim.port)
        assert (await login(c, "dialer", "pw")).get("Message") == "Authentication accepted"
        await c.action(Action="ListCommands", ActionID="lc")
        reply = await c.read()
        listed = dict(reply.pairs[2:])
        assert listed["Originate"] == "Originate a call.  (Priv: originate,all)"
        assert listed["Ping"] == "Keepalive command.  (Priv: <none>)"
        assert "Command" not in listed and "Hangup" not in listed and "Filter" not in listed
        assert list(listed) == sorted(listed, key=str.lower)

        admin = await Raw.open(sim.port)
        await login(admin, "odoo", "odoo-secret")
        await admin.action(Action="ListCommands", ActionID="lc")
        full = dict((await admin.read()).pairs[2:])
        assert full["Hangup"] == "Hangup channel.  (Priv: system,call,all)"
        assert (
            full["CoreSettings"]
            == "Show PBX core settings (version etc).  (Priv: system,reporting,all)"
        )

    with_sim(go)


def test_action_outside_write_classes_is_denied_with_a_security_event():
    async def go(sim):
        sim.add_user("caller", "pw", read="call", write="call")
        watcher = await Raw.open(sim.port)
        await login(watcher, "odoo", "odoo-secret", events="security")
        await watcher.drain_events()
        c = await Raw.open(sim.port)
        await login(c, "caller", "pw")
        await c.action(Action="Command", ActionID="x", Command="core show version")
        reply = await c.read()
        assert reply.pairs == [
            ("Response", "Error"),
            ("ActionID", "x"),
            ("Message", "Permission denied"),
        ]
        # any one of the action's classes is enough: Hangup is system|call
        await c.action(Action="Hangup", ActionID="h", Channel="SIP/none-0001")
        assert (await c.read()).get("Message") != "Permission denied"
        event, _seen = await watcher.read_until(lambda m: m.get("Event") == "RequestNotAllowed")
        assert event.get("AccountID") == "caller"
        assert event.get("RequestType") == "Action: Command"
        assert event.get("Service") == "AMI"

    with_sim(go)


def test_read_classes_limit_the_events_sent():
    async def go(sim):
        sim.add_user("cdronly", "pw", read="cdr", write="")
        c = await Raw.open(sim.port)
        # Events: on, but FullyBooted (system) is not for a user without read system
        reply = await login(c, "cdronly", "pw", events="on")
        assert reply.get("Message") == "Authentication accepted"
        await sim.emit({"Event": "Reload", "Privilege": "system,all", "Module": "x"})
        await sim.emit({"Event": "Cdr", "Privilege": "cdr,all", "Source": "100"})
        got = await c.drain_events(0.2)
        assert [m.get("Event") for m in got] == ["Cdr"]

    with_sim(go)


# What the real Asterisk printed (only the user's name and classes differ).
SHOW_USER_LIMITED = [
    "",
    "          username: limited",
    "            secret: <Set>",
    "               ACL: yes",
    "         read perm: call,cdr",
    "        write perm: command,originate",
    "   displayconnects: yes",
    "allowmultiplelogin: yes",
    "         Variables: ",
    "ACL: (unnamed)",
    "---------------------------------------------",
    "  0:  deny - 0.0.0.0/0.0.0.0",
    "  1: allow - 127.0.0.1/255.255.255.255",
]


def test_manager_show_user_like_asterisk_20():
    async def go(sim):
        sim.add_user(
            "limited",
            "pw",
            read="call,cdr",
            write="originate,command",
            acl=(("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/32")),
        )
        c = await Raw.open(sim.port)
        await login(c, "limited", "pw")
        await c.action(Action="Command", ActionID="c", Command="manager show user limited")
        raw = b""
        while raw.count(b"\r\n\r\n") < 1:
            raw += await c.reader.read(65536)
        # the blanks after "Output: " are the CLI's alignment, kept on the wire
        assert raw.decode() == (
            "Response: Success\r\nActionID: c\r\nMessage: Command output follows\r\n"
            + "".join(f"Output: {line}\r\n" for line in SHOW_USER_LIMITED)
            + "\r\n"
        )
        odoo = (await command(c, "manager show user ODOO", "c2")).getall("Output")
        assert f"read perm: {ALL_LABELS}" in odoo  # (the parser drops leading blanks)
        assert "ACL: no" in odoo
        missing = await command(c, "manager show user nobody", "c3")
        assert missing.getall("Output") == ["There is no manager called nobody"]

    with_sim(go)


def test_module_show_like():
    async def go(sim):
        c = await Raw.open(sim.port)
        await login(c, "odoo", "odoo-secret")
        out = (await command(c, "module show like chan_sip")).getall("Output")
        assert out == [
            "Module                         Description                              "
            "Use Count  Status      Support Level",
            "chan_sip.so                    Session Initiation Protocol (SIP)        "
            "0          Running        deprecated",
            "1 modules loaded",
        ]
        sim.modules.pop("res_pjsip.so")
        out = (await command(c, "module show like res_pjsip", "c2")).getall("Output")
        assert out[1:] == ["0 modules loaded"]

    with_sim(go)


@pytest.mark.parametrize(
    ("acl", "allowed"),
    [
        ((("deny", "0.0.0.0/0"), ("permit", "127.0.0.1/32")), True),
        ((("deny", "0.0.0.0/0"), ("permit", "10.0.0.0/8")), False),
        # the last matching line wins
        ((("permit", "127.0.0.0/8"), ("deny", "127.0.0.1/32")), False),
        ((("deny", "::/0"),), True),  # another family never matches
    ],
)
def test_permit_deny_lines(acl, allowed):
    async def go(sim):
        sim.add_user("acl", "pw", acl=acl)
        watcher = await Raw.open(sim.port)
        await login(watcher, "odoo", "odoo-secret", events="security")
        await watcher.drain_events()
        c = await Raw.open(sim.port)
        reply = await login(c, "acl", "pw")
        if allowed:
            assert reply.get("Message") == "Authentication accepted"
            return
        # the same answer as a wrong secret, then the connection is closed
        assert reply.pairs == [
            ("Response", "Error"),
            ("ActionID", "l"),
            ("Message", "Authentication failed"),
        ]
        assert await c.read() is None
        event, _seen = await watcher.read_until(lambda m: m.get("Event") == "FailedACL")
        assert event.get("AccountID") == "acl"
        assert event.get("RemoteAddress").startswith("IPV4/TCP/127.0.0.1/")

    with_sim(go)


def test_add_user_refuses_bad_acl_lines():
    async def go(sim):
        with pytest.raises(ValueError):
            sim.add_user("x", "pw", acl=(("allow", "10.0.0.0/8"),))
        with pytest.raises(ValueError):
            sim.add_user("x", "pw", acl=(("permit", "not-a-network"),))
        assert "x" not in sim.users

    with_sim(go)
