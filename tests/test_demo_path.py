"""The living demo end to end, as tools/demo builds it: a database with the addons
and their demo data prepared by tools/demo_setup.py, its server pointed at the
simulator by tools/demo_server.sql, Odoo with the worker (and a cron thread), and
the simulator playing demo.py's PLAYLIST over TCP. What a person is told to look
at must be there: Alice's call to a customer is an outbound call with the
contact, the recorded call's audio is attached and plays from the call's form,
the SIP scanner is banned."""

import asyncio
import os
import shutil
import subprocess
import tempfile

import pytest

from .ami_simulator import SimulatorThread, demo
from .odoo_env import REPO, drop_db, odoo_cmd, query, run_odoo, unique_db
from .worker_env import server_health, wait_until

DEMO_MODULES = "asterisk_common,asterisk_base,asterisk_calls,asterisk_agent_worker"  # tools/demo
MONITOR = "/var/spool/asterisk/monitor"


@pytest.fixture
def demo_db():
    """tools/demo's database: the addons with demo data, then tools/demo_setup.py."""
    name = unique_db("demo")
    recordings = tempfile.mkdtemp(prefix="asterisk-demo-recordings-")
    try:
        code, log = run_odoo(
            "-d", name, "-i", DEMO_MODULES, "--stop-after-init", "--log-level=warn"
        )
        assert code == 0, log[-3000:]
        with open(os.path.join(REPO, "tools", "demo_setup.py")) as script:
            shell = subprocess.run(
                odoo_cmd("shell", "-d", name, "--no-http", "--log-level=warn"),
                cwd=REPO,
                stdin=script,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "ASTERISK_DEMO_RECORDINGS": recordings},
            )
        assert "demo data ready" in shell.stdout, shell.stdout[-2000:] + shell.stderr[-2000:]
        yield name, recordings
    finally:
        drop_db(name)
        shutil.rmtree(recordings, ignore_errors=True)


def point_demo_server(db, port, folder):
    """What tools/demo does at each start (tools/demo_server.sql)."""
    subprocess.run(
        ["psql", "-d", db, "-q", "-v", "ON_ERROR_STOP=1", "-v", f"port={port}",
         "-v", f"folder={folder}", "-f", os.path.join(REPO, "tools", "demo_server.sql")],
        check=True,
    )  # fmt: skip
    return query(
        db,
        "SELECT res_id FROM ir_model_data WHERE module = 'asterisk_common' "
        "AND name = 'demo_server'",
    )[0][0]


def wake_crons(db):
    """Odoo's cron threads sleep up to a minute between polls, and a trigger in
    the future (a recording is fetched 6 s after its call ended) does not wake
    them: send the wake-up Odoo itself sends for a trigger that is due."""
    query("postgres", "SELECT pg_notify('cron_trigger', %s)", [db])


def test_demo_playlist_in_odoo(demo_db, odoo):
    db, recordings = demo_db
    with SimulatorThread(port=0, time_scale=0.05, monitor_folder=recordings) as sim:
        server_id = point_demo_server(db, sim.port, recordings)
        node = odoo(db, options={"max_cron_threads": 1})
        wait_until(
            lambda: server_health(db, server_id)["state"] == "connected", 30, message="connected"
        )
        assert sim.wait_for_sessions(1)
        # one round of the playlist, a call every 0.3 s (the calls 20 times faster)
        task = sim.call(lambda: asyncio.ensure_future(demo.play(sim.sim, 0.3, loops=1)))
        calls = sum(1 for scenario, _o, _l in demo.PLAYLIST if scenario != "sip_scan")
        ended = "SELECT count(*) FROM asterisk_calls_call WHERE ended_at IS NOT NULL"
        wait_until(
            lambda: query(db, ended)[0][0] >= calls, 90, 0.5, message="the playlist's calls ended"
        )
        wait_until(task.done, 10, message="the playlist played")

        # Alice calls Marc Dupont: an outbound call, his contact found
        ((direction, status, called, partner, caller),) = query(
            db,
            """SELECT c.direction, c.status, c.called_number, p.name, u.login
                 FROM asterisk_calls_call c
                 LEFT JOIN res_partner p ON p.id = c.partner_id
                 LEFT JOIN res_users u ON u.id = c.caller_user_id
                WHERE c.called_number = '+33612345678'""",
        )
        assert (direction, status, called, partner) == (
            "outbound", "answered", "+33612345678", "Marc Dupont",
        )  # fmt: skip
        assert caller == "demo"  # the demo user's phone is alice

        # The recorded call: the file Asterisk named, written to the shared
        # folder, fetched by the cron and attached to the call's recording
        ((call_id, linkedid, filename),) = query(
            db,
            """SELECT c.id, c.linkedid, r.filename FROM asterisk_calls_recording r
                 JOIN asterisk_calls_call c ON c.id = r.call_id""",
        )
        assert filename == f"{MONITOR}/{linkedid}.wav"
        assert os.path.exists(os.path.join(recordings, f"{linkedid}.wav"))

        def fetched():
            state, attachment = query(
                db, "SELECT state, attachment_id FROM asterisk_calls_recording"
            )[0]
            if state == "waiting":
                wake_crons(db)
            return state == "fetched" and attachment

        attachment_id = wait_until(fetched, 120, 2, message="the recording fetched")
        ((res_model, mimetype, size),) = query(
            db, "SELECT res_model, mimetype, file_size FROM ir_attachment WHERE id = %s",
            [attachment_id],
        )  # fmt: skip
        assert (res_model, mimetype) == ("asterisk_calls.recording", "audio/x-wav")
        assert size > 8000, "seconds of audio"
        ((status, partner, answered_by),) = query(
            db,
            """SELECT c.status, p.name, u.login FROM asterisk_calls_call c
                 LEFT JOIN res_partner p ON p.id = c.partner_id
                 LEFT JOIN res_users u ON u.id = c.answered_by_id WHERE c.id = %s""",
            [call_id],
        )
        assert (status, partner, answered_by) == ("answered", "Marc Dupont", "admin")

        # In the call's form (Recordings tab), the admin who answered plays it
        session = node.web_session("admin")
        (call,) = node.rpc("asterisk_calls.call", "read", [call_id], ["recording_ids"])
        (player,) = node.rpc("asterisk_calls.recording", "read", call["recording_ids"], ["player"])
        assert f'src="/web/content/{attachment_id}"' in player["player"]
        audio = session.get(f"http://127.0.0.1:{node.http_port}/web/content/{attachment_id}")
        assert audio.status_code == 200
        assert audio.headers["Content-Type"].startswith("audio/")
        assert audio.content[:4] == b"RIFF" and audio.content[8:12] == b"WAVE"

        # The SIP scanner ends banned
        wait_until(
            lambda: query(
                db,
                "SELECT count(*) FROM asterisk_base_ban WHERE address LIKE %s",
                [f"{demo.SCANNER}%"],
            )[0][0],
            30,
            0.5,
            message="the scanner banned",
        )
        assert query(db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0] == 0
        assert node.errors() == []
