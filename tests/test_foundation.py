"""The four addons install and upgrade cleanly on real Odoo 18 and PostgreSQL."""

import select
import time

import pytest

from .odoo_env import (
    ADDONS,
    ODOO_DEPENDS,
    copy_db,
    drop_db,
    installed_modules,
    problems,
    psql_connect,
    query,
    run_odoo,
    unique_db,
)


@pytest.fixture(scope="module")
def templates():
    """Databases holding Odoo's own dependencies, with and without demo data;
    each test copies one (CREATE DATABASE ... TEMPLATE) instead of reinstalling."""
    made = {}
    for demo in (True, False):
        name = unique_db("tmpl_demo" if demo else "tmpl_nodemo")
        args = ["-d", name, "-i", ODOO_DEPENDS, "--stop-after-init", "--log-level=warn"]
        if not demo:
            args.append("--without-demo=all")
        code, log = run_odoo(*args)
        assert code == 0, log[-3000:]
        made[demo] = name
    yield made
    for name in made.values():
        drop_db(name)


@pytest.fixture
def fresh_db(templates):
    created = []

    def make(demo):
        name = unique_db("install")
        copy_db(templates[demo], name)
        created.append(name)
        return name

    yield make
    for name in created:
        drop_db(name)


def install(db, modules, demo):
    args = ["-d", db, "-i", modules, "--stop-after-init", "--log-level=info"]
    if not demo:
        args.append("--without-demo=all")
    return run_odoo(*args)


@pytest.mark.parametrize("demo", [True, False], ids=["demo", "nodemo"])
@pytest.mark.parametrize("addon", ADDONS)
def test_install_alone(fresh_db, addon, demo):
    db = fresh_db(demo)
    code, log = install(db, addon, demo)
    assert code == 0, log[-3000:]
    assert problems(log) == []
    assert {"asterisk_common", addon} <= installed_modules(db)
    others = set(ADDONS) - {"asterisk_common", addon}
    assert not others & installed_modules(db)


@pytest.mark.parametrize("demo", [True, False], ids=["demo", "nodemo"])
def test_install_all_then_upgrade_all(fresh_db, demo):
    db = fresh_db(demo)
    code, log = install(db, ",".join(ADDONS), demo)
    assert code == 0, log[-3000:]
    assert problems(log) == []
    assert set(ADDONS) <= installed_modules(db)
    demo_servers = query(db, "SELECT count(*) FROM asterisk_common_server")[0][0]
    assert demo_servers == (1 if demo else 0)

    code, log = run_odoo("-d", db, "-u", "all", "--stop-after-init", "--log-level=info")
    assert code == 0, log[-3000:]
    assert problems(log) == []


def test_upgrade_keeps_admin_edit(fresh_db):
    db = fresh_db(False)
    code, log = install(db, "asterisk_common", False)
    assert code == 0, log[-3000:]
    entry = """
        SELECT e.id FROM asterisk_common_event e JOIN ir_model_data d
        ON d.res_id = e.id AND d.model = 'asterisk_common.event'
        WHERE d.module = 'asterisk_common' AND d.name = 'event_originate_response_failure'
    """
    (entry_id,) = query(db, entry)[0]
    # What an admin does in the form: tighten the condition, add a delay, reorder.
    query(
        db,
        "UPDATE asterisk_common_event SET condition = %s, delay = 2.5, sequence = 99 WHERE id = %s",
        ["event.get('Response') == 'Failure' and event.get('Reason') == '5'", entry_id],
    )
    code, log = run_odoo("-d", db, "-u", "asterisk_common", "--stop-after-init")
    assert code == 0, log[-3000:]
    assert problems(log) == []
    row = query(
        db,
        "SELECT condition, delay, sequence FROM asterisk_common_event WHERE id = %s",
        [entry_id],
    )[0]
    assert row == ("event.get('Response') == 'Failure' and event.get('Reason') == '5'", 2.5, 99)


def _payloads(conn, seconds, until=None):
    """NOTIFY payloads received on ``conn`` within ``seconds`` (or up to ``until``)."""
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and (until is None or until not in got):
        if select.select([conn], [], [], 0.1)[0]:
            conn.poll()
            got += [n.payload for n in conn.notifies]
            conn.notifies.clear()
    return got


def test_ami_action_notifies_on_commit():
    """ami_action() queues a row; a second connection LISTENing sees the NOTIFY
    only once the requester's transaction commits."""
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry
    from odoo.tools import config

    db = config["db_name"]
    if isinstance(db, list):  # Odoo 18 may keep db_name as a list
        db = db[0]
    listener = psql_connect(db)
    listener.cursor().execute("LISTEN asterisk_common")
    try:
        with Registry(db).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            server = env["asterisk_common.server"].create(
                {"name": "notify-test", "host": "127.0.0.1", "username": "odoo", "secret": "x"}
            )
            cr.commit()
            assert f"server:{server.id}" in _payloads(listener, 5, until=f"server:{server.id}")
            action_id = server.ami_action({"Action": "Ping"}).id
            cr.flush()
            assert _payloads(listener, 0.5) == []  # not committed yet
        # The cursor committed on leaving the block.
        assert f"action:{action_id}" in _payloads(listener, 5, until=f"action:{action_id}")
        state = query(
            db, "SELECT state, name FROM asterisk_common_action WHERE id = %s", [action_id]
        )
        assert state == [("queued", "Ping")]
    finally:
        listener.close()
        query(db, "DELETE FROM asterisk_common_server WHERE name = 'notify-test'")
