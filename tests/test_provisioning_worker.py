"""Extensions provisioning behind the real worker, against the simulator over
TCP: three PBX users' PJSIP endpoints and their hints written into Odoo's own
files, uploaded, reloaded, read back from the PBX; a second apply sends only
what changed; each user reads their own password, and only theirs."""

from tests.ami_simulator.configstore import parse_config

from .test_calls_worker import start


def test_provisioning_apply(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim)
    users = node.rpc("asterisk_common.user", "search_read", [], ["id", "user_id", "extension"])
    by_login = {}
    for user in users:
        login = user["user_id"][1].lower()
        by_login[login] = user
        node.rpc(
            "asterisk_common.user_channel",
            "create",
            {"pbx_user_id": user["id"], "name": f"PJSIP/{login}", "provision": True},
        )
    node.rpc(
        "asterisk_common.server",
        "write",
        [server_id],
        {"provision_driver": "pjsip", "provision_context": "demo"},
    )

    reloads = len([a for a in sim.actions_received if a.get("Action") == "Reload"])
    node.rpc("asterisk_common.server", "action_provision_apply", [server_id])
    result = node.rpc("asterisk_common.server", "read", [server_id], ["provision_result"])[0][
        "provision_result"
    ]
    assert "pjsip_odoo.conf: " in result and "res_pjsip reloaded" in result
    assert "pbx_config reloaded" in result
    for login in ("alice", "bob", "carol"):
        assert f"  + {login}" in result
    # The simulator has no #tryinclude in pjsip.conf/extensions.conf: the admin is told.
    assert "'#tryinclude pjsip_odoo.conf'" in result
    assert "'#tryinclude extensions_odoo.conf'" in result
    modules = [a["Module"] for a in sim.actions_received if a.get("Action") == "Reload"]
    assert sorted(modules[reloads:]) == ["pbx_config", "res_pjsip"]

    # What the PBX holds now parses back as Asterisk reads it: three endpoints.
    pbx = parse_config(sim.config_store.text("pjsip_odoo.conf"))
    kinds = [
        (c.name, next(v.value for v in c.variables if v.name == "type")) for c in pbx.categories
    ]
    assert kinds == [
        (login, kind) for login in ("alice", "bob", "carol") for kind in ("endpoint", "auth", "aor")
    ]
    assert sim.config_store.get("extensions_odoo.conf", "odoo-hints", "exten") == [
        "201,hint,SIP/alice&PJSIP/alice",
        "202,hint,SIP/bob&PJSIP/bob",
        "203,hint,SIP/carol&PJSIP/carol",
    ]
    passwords = sim.config_store.get("pjsip_odoo.conf", "alice", "password")
    assert len(passwords) == 1 and len(passwords[0]) >= 24

    # Each user reads their own password in their preferences, nobody else's.
    own = node.rpc(
        "res.users",
        "read",
        [by_login["alice"]["user_id"][0]],
        ["asterisk_sip_credentials"],
        login="alice",
    )[0]["asterisk_sip_credentials"]
    assert f"Password: {passwords[0]}" in own
    other = node.rpc(
        "res.users",
        "read",
        [by_login["alice"]["user_id"][0]],
        ["asterisk_sip_credentials"],
        login="bob",
    )[0]["asterisk_sip_credentials"]
    assert not other

    # Nothing changed: nothing sent. A new password for bob: only bob's endpoint.
    updates = len([a for a in sim.actions_received if a.get("Action") == "UpdateConfig"])
    node.rpc("asterisk_common.server", "action_provision_apply", [server_id])
    assert len([a for a in sim.actions_received if a.get("Action") == "UpdateConfig"]) == updates
    # A hand edit of a file Odoo owns, on the PBX host: the next apply takes it away.
    edited = sim.config_store.text("pjsip_odoo.conf") + "\n[intruder]\ntype = endpoint\n"
    sim.config_store.set_text("pjsip_odoo.conf", edited)
    node.rpc("asterisk_common.server", "action_provision_apply", [server_id])
    assert "intruder" not in sim.config_store.categories("pjsip_odoo.conf")
    updates = len([a for a in sim.actions_received if a.get("Action") == "UpdateConfig"])
    bob_phone = node.rpc("asterisk_common.user_channel", "search", [("name", "=", "PJSIP/bob")])
    node.rpc("asterisk_common.user_channel", "action_new_secret", bob_phone)
    node.rpc("asterisk_common.server", "action_provision_apply", [server_id])
    result = node.rpc("asterisk_common.server", "read", [server_id], ["provision_result"])[0][
        "provision_result"
    ]
    assert "  ~ bob" in result and "  ~ alice" not in result
    assert "extensions_odoo.conf: no change" in result
    assert sim.config_store.get("pjsip_odoo.conf", "alice", "password") == passwords
