"""Config files behind the real worker, against the simulator over TCP: the
files the PBX's modules use ("config list"), download, edit, upload and
reload with the PBX's comments kept, the conflict when the file changed on
the PBX meanwhile, and what a PBX user (not an admin) may not do."""

import xmlrpc.client

import pytest

from .odoo_env import query
from .test_calls_worker import start

SIP_CONF = """\
; sip.conf of the office: hand written, keep these notes
[general]
context = demo    ; where calls from phones go
allowguest = no
allow = ulaw

[phone](!)          ; every desk phone
type = friend
host = dynamic

[alice](phone)
secret = alice-secret ; changed in May
"""


def test_config_files_round_trip(calls_db, sim, odoo):
    sim.config_store.set_text("sip.conf", SIP_CONF)
    node, server_id = start(odoo, calls_db, sim)

    def call(model, method, ids, *args, **kwargs):
        return node.rpc(model, method, [ids], *args, **kwargs)

    def read(conf_id, *fields):
        return node.rpc("asterisk_base.conf", "read", [conf_id], list(fields))[0]

    # Every file a module of the PBX read, with the module to reload.
    call("asterisk_common.server", "action_conf_download_all", server_id)
    confs = node.rpc(
        "asterisk_base.conf",
        "search_read",
        [("server_id", "=", server_id)],
        ["name", "state", "reload_module"],
    )
    by_name = {c["name"]: c for c in confs}
    assert set(sim.config_store.files) <= set(by_name)
    assert by_name["sip.conf"]["reload_module"] == "chan_sip"
    assert by_name["extensions.conf"]["reload_module"] == "pbx_config"
    assert {c["state"] for c in confs} == {"synced"}
    # The admin saw it go, file by file, through the bus (committed as it went).
    progress = query(
        calls_db,
        "SELECT message FROM bus_bus WHERE message LIKE %s ORDER BY id",
        ["%asterisk_base.conf_progress%"],
    )
    assert len(progress) == len([c for c in confs if not c["name"].endswith("_odoo.conf")])
    assert '"done": 1' in progress[0][0] or '"done":1' in progress[0][0]

    sip = by_name["sip.conf"]["id"]
    content = read(sip, "content")["content"]
    assert "[alice](phone)" in content and "secret = alice-secret" in content
    assert content.count("type = friend") == 1, "inherited lines are not repeated"

    # Edit in Odoo, with a comment of Odoo's own, and upload.
    edited = (
        content.replace("context = demo", "context = office").replace(
            "allow = ulaw", "allow = ulaw\nallow = alaw ; added from Odoo"
        )
        + "\n[bob](phone)\nsecret = b0b\\;pass\n"
    )
    node.rpc("asterisk_base.conf", "write", [sip], {"content": edited})
    assert read(sip, "state")["state"] == "modified"
    reloads_before = sum(1 for a in sim.actions_received if a.get("Action") == "Reload")
    call("asterisk_base.conf", "action_upload", sip)

    saved = sim.config_store.text("sip.conf")
    for kept in (
        "; sip.conf of the office: hand written, keep these notes",
        "context = office  ; where calls from phones go",
        "[phone](!) ; every desk phone",
        "secret = alice-secret  ; changed in May",
        "[bob](phone)",
        "secret = b0b\\;pass",
        "allow = alaw",
    ):
        assert kept in saved, (kept, saved)
    assert sim.config_store.get("sip.conf", "bob", "secret") == ["b0b;pass"]
    reloads = [a for a in sim.actions_received if a.get("Action") == "Reload"]
    assert len(reloads) == reloads_before + 1 and reloads[-1]["Module"] == "chan_sip"
    after = read(sip, "state", "last_result", "content")
    assert after["state"] == "synced"
    assert "chan_sip reloaded" in after["last_result"]
    assert "; added from Odoo" in after["content"], "Odoo's comments stay in Odoo"

    # Someone changes the file on the PBX; then Odoo's next upload is refused.
    sim.config_store.set_text("sip.conf", saved.replace("allowguest = no", "allowguest = yes"))
    node.rpc(
        "asterisk_base.conf",
        "write",
        [sip],
        {"content": after["content"].replace("secret = b0b\\;pass", "secret = other")},
    )
    updates = sum(1 for a in sim.actions_received if a.get("Action") == "UpdateConfig")
    call("asterisk_base.conf", "action_upload", sip)
    assert sum(1 for a in sim.actions_received if a.get("Action") == "UpdateConfig") == updates
    conflict = read(sip, "state", "pbx_changes_html", "changes_html")
    assert conflict["state"] == "conflict"
    assert "allowguest = yes" in conflict["pbx_changes_html"]
    assert "secret = other" in conflict["changes_html"]
    assert sim.config_store.get("sip.conf", "general", "allowguest") == ["yes"]

    # The admin decides: overwrite. The PBX's other change is undone, comments still there.
    call("asterisk_base.conf", "action_overwrite", sip)
    assert sim.config_store.get("sip.conf", "general", "allowguest") == ["no"]
    assert sim.config_store.get("sip.conf", "bob", "secret") == ["other"]
    assert "; sip.conf of the office" in sim.config_store.text("sip.conf")
    assert read(sip, "state")["state"] == "synced"

    # Versions: who and what, every step.
    versions = node.rpc(
        "asterisk_base.conf_version",
        "search_read",
        [("conf_id", "=", sip)],
        ["kind", "user_id"],
        order="id",
    )
    kinds = [v["kind"] for v in versions]
    assert kinds[0] == "download" and "edit" in kinds and kinds[-1] == "upload"
    assert {v["user_id"][0] for v in versions} == {2}, "the admin who did each step"

    # A new file that the PBX does not have: created, then filled.
    new = node.rpc(
        "asterisk_base.conf",
        "create",
        {"server_id": server_id, "name": "odoo_new.conf", "content": "[odoo]\nstamp = 1\n"},
    )
    assert read(new, "state")["state"] == "new"
    call("asterisk_base.conf", "action_upload", new)
    assert sim.config_store.get("odoo_new.conf", "odoo", "stamp") == ["1"]
    assert read(new, "state")["state"] == "synced"


def test_config_files_are_for_pbx_admins_only(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim)
    # alice is an internal user and a PBX user, not a PBX admin.
    for model, method, args in (
        ("asterisk_base.conf", "search_read", [[]]),
        ("asterisk_base.conf_version", "search_read", [[]]),
        ("asterisk_base.conf", "create", [{"server_id": server_id, "name": "x.conf"}]),
        ("asterisk_common.server", "action_conf_download_all", [[server_id]]),
    ):
        with pytest.raises(xmlrpc.client.Fault, match="AccessError|not allowed|access"):
            node.rpc(model, method, *args, login="alice")
    assert not [a for a in sim.actions_received if a.get("Action") == "GetConfig"]
