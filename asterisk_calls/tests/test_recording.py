import base64
import io
import os
import shutil
import struct
import tempfile
import threading
import wave
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo import fields
from odoo.exceptions import AccessError, UserError

from .common import CallsCase, capture_path, parse_capture


def wav_bytes(seconds=1.0, rate=8000):
    """A real (audible) WAV file: a 440 Hz square wave."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        period = rate // 440
        frames = b"".join(
            struct.pack("<h", 8000 if (i % period) < period // 2 else -8000)
            for i in range(int(rate * seconds))
        )
        out.writeframes(frames)
    return buffer.getvalue()


class RecordingServer(BaseHTTPRequestHandler):
    """The PBX host's web server: /recordings/<path>, basic auth pbx:secret."""

    files = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        expected = "Basic " + base64.b64encode(b"pbx:secret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class TestRecordings(CallsCase):
    def setUp(self):
        super().setUp()
        events = parse_capture(capture_path("i2_blindtransfer"))
        bridged = max(i for i, e in enumerate(events) if e["Event"] == "BridgeEnter")
        self.rest = events[bridged + 1 :]
        self.router = self.replay(events[: bridged + 1])  # alice and bob talking
        self.call = self.calls()
        self.folder = tempfile.mkdtemp(prefix="pbx-monitor-")
        self.addCleanup(
            lambda: [os.remove(os.path.join(self.folder, f)) for f in os.listdir(self.folder)]
        )

    def last_action(self):
        return self.env["asterisk_common.action"].search([], limit=1).payload

    def event(self, **values):
        return {
            "_server_id": self.server.id,
            "_received": 1795700010.0,
            "_linkedid": self.call.linkedid,
            "Linkedid": self.call.linkedid,
            **values,
        }

    def test_record_on_demand(self):
        self.call.with_user(self.alice).action_record_start()
        payload = self.last_action()
        self.assertEqual(
            (payload["Action"], payload["Channel"]), ("MixMonitor", "SIP/alice-00000003")
        )
        self.assertRegex(payload["File"], r"^odoo-1795700328\.15-\d+\.wav$")
        recording = self.call.recording_ids
        self.assertEqual((recording.state, recording.filename), ("recording", payload["File"]))
        self.assertTrue(self.call.is_recording)
        # Asterisk names the file with its full path.
        full = f"/var/spool/asterisk/monitor/{payload['File']}"
        self.env["asterisk_calls.recording"].ami_recording_events(
            [self.event(Event="VarSet", Channel="SIP/alice-00000003",
                        Variable="MIXMONITOR_FILENAME", Value=full)]
        )  # fmt: skip
        self.assertEqual(recording.filename, full)
        self.call.with_user(self.alice).action_record_stop()
        self.assertEqual(
            self.last_action(), {"Action": "StopMixMonitor", "Channel": "SIP/alice-00000003"}
        )
        # The call ends: the file is fetched soon.
        self.replay(self.rest, router=self.router, start=1795700020.0)
        self.assertEqual(recording.state, "waiting")

    def test_recorded_users_and_queues(self):
        self.pbx_carol.record_calls = True
        self.Call.search([]).unlink()
        self.replay_capture("queue_answered")
        call = self.calls()
        self.assertEqual(call.recording_ids.channel[:17], "Local/agent1@demo")
        mix = self.env["asterisk_common.action"].search([("name", "=", "MixMonitor")])
        self.assertEqual(len(mix), 1)

    def _ended_recording(self, filename):
        recording = self.env["asterisk_calls.recording"].create(
            {"call_id": self.call.id, "channel": "SIP/alice-00000003", "filename": filename}
        )
        recording._calls_ended(self.call)
        return recording

    def test_fetch_from_a_shared_folder(self):
        self.server.write({"recording_source": "folder", "recording_folder": self.folder})
        recording = self._ended_recording("/var/spool/asterisk/monitor/x.wav")
        self.assertFalse(recording._fetch())  # not there yet
        self.assertEqual((recording.state, recording.fetch_attempts), ("waiting", 1))
        self.assertIn("is not there", recording.last_error)
        audio = wav_bytes()
        with open(os.path.join(self.folder, "x.wav"), "wb") as f:
            f.write(audio)
        self.assertTrue(recording._fetch())
        self.assertEqual(recording.state, "fetched")
        self.assertEqual(recording.attachment_id.raw, audio)
        self.assertEqual(recording.attachment_id.mimetype, "audio/x-wav")
        self.assertIn(f'src="/web/content/{recording.attachment_id.id}"', str(recording.player))

    def test_fetch_over_http_with_auth(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), RecordingServer)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.shutdown)
        RecordingServer.files = {"/recordings/2026/y.wav": wav_bytes(0.5)}
        self.server.write(
            {
                "recording_source": "http",
                "recording_url": f"http://127.0.0.1:{httpd.server_port}/recordings/{{path}}",
                "recording_http_user": "pbx",
                "recording_http_password": "wrong",
            }
        )
        recording = self._ended_recording("/var/spool/asterisk/monitor/2026/y.wav")
        self.assertFalse(recording._fetch())
        self.assertIn("HTTP 401", recording.last_error)
        self.server.recording_http_password = "secret"
        self.assertTrue(recording._fetch())
        self.assertEqual(recording.size, len(RecordingServer.files["/recordings/2026/y.wav"]))

    def test_retries_then_gives_up_and_says_why(self):
        self.server.write({"recording_source": "folder", "recording_folder": self.folder})
        recording = self._ended_recording("gone.wav")
        for _attempt in range(12):
            recording._fetch()
        self.assertEqual(recording.state, "failed")
        self.assertIn("is not there", recording.last_error)
        self.assertEqual(self.call.status, "in_progress", "the call is untouched")

    def test_file_names_cannot_leave_the_recordings_folder(self):
        self.server.write({"recording_source": "folder", "recording_folder": self.folder})
        for name in ("/etc/passwd", "/var/spool/asterisk/monitor/../../../etc/passwd", "../x.wav"):
            with self.subTest(name=name):
                recording = self._ended_recording(name)
                self.assertFalse(recording._fetch())
                self.assertRegex(recording.last_error, "not in the PBX's recordings folder|Unsafe")

    def test_cron_fetches_and_retention_deletes(self):
        self.server.write({"recording_source": "folder", "recording_folder": self.folder})
        with open(os.path.join(self.folder, "old.wav"), "wb") as f:
            f.write(wav_bytes(0.1))
        recording = self._ended_recording("old.wav")
        kept = self._ended_recording("old.wav")
        kept.keep = True
        (recording | kept).sudo().write({"next_fetch_at": fields.Datetime.now()})
        self.env["asterisk_calls.recording"]._cron_fetch()
        self.assertEqual((recording | kept).mapped("state"), ["fetched", "fetched"])
        (recording | kept).sudo().write({"started_at": fields.Datetime.now() - timedelta(days=40)})
        self.env["ir.config_parameter"].set_param("asterisk_calls.recording_retention_days", 30)
        self.env["asterisk_calls.recording"]._cron_retention()
        self.assertEqual((recording.state, bool(recording.attachment_id)), ("deleted", False))
        self.assertEqual(kept.state, "fetched")

    def test_only_participants_hear_them(self):
        self.server.write({"recording_source": "folder", "recording_folder": self.folder})
        with open(os.path.join(self.folder, "p.wav"), "wb") as f:
            f.write(wav_bytes(0.1))
        recording = self._ended_recording("p.wav")
        recording._fetch()
        self.assertEqual(recording.with_user(self.bob).attachment_id.raw[:4], b"RIFF")
        with self.assertRaises(AccessError):
            recording.with_user(self.carol).read(["filename"])
        with self.assertRaises(AccessError):
            recording.attachment_id.with_user(self.carol).read(["raw"])
        with self.assertRaisesRegex(UserError, "only Keep"):
            recording.with_user(self.bob).write({"filename": "/etc/passwd"})
        # Retention is the company's rule: a participant cannot opt out of it.
        with self.assertRaisesRegex(AccessError, "supervisors"):
            recording.with_user(self.bob).keep = True
        self.bob.groups_id += self.env.ref("asterisk_calls.group_asterisk_supervisor")
        recording.with_user(self.bob).keep = True
        self.assertTrue(recording.keep)


class TestDialplanRecording(CallsCase):
    """A call the dialplan records (capture recorded_inbound: the trunk's line
    runs MixMonitor(${UNIQUEID}.wav,b) before Dial(SIP/bob,20)): Odoo learns the
    file from the real events and, once the call ended, attaches its audio."""

    def test_recorded_call_gets_its_audio(self):
        folder = tempfile.mkdtemp(prefix="pbx-monitor-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.server.write({"recording_source": "folder", "recording_folder": folder})
        events = parse_capture(capture_path("recorded_inbound"))
        named = next(i for i, e in enumerate(events) if e.get("Variable") == "MIXMONITOR_FILENAME")
        # as the worker hands them over, in order: the call's events, the
        # recording's (its events map entry), the call's again
        router = self.replay(events[:named])
        varset = dict(events[named])
        received = 1795700000.0 + varset.pop("_t")
        varset.update(
            _server_id=self.server.id,
            _received=received,
            _linkedid=router.route(varset, received),
        )
        self.env["asterisk_calls.recording"].ami_recording_events([varset])
        self.replay(events[named + 1 :], router=router)
        call = self.calls()
        self.assertEqual(
            (call.status, call.direction, call.answered_by_id), ("answered", "inbound", self.bob)
        )
        recording = call.recording_ids
        self.assertEqual(recording.filename, f"/var/spool/asterisk/monitor/{call.linkedid}.wav")
        self.assertEqual(recording.channel, varset["Channel"])  # the caller's: SIP/provider-...
        self.assertEqual(recording.state, "waiting", "the call ended: to fetch")
        # the PBX closed the file in its monitor folder, which Odoo's host mounts
        audio = wav_bytes(4.0)
        with open(os.path.join(folder, f"{call.linkedid}.wav"), "wb") as f:
            f.write(audio)
        recording.sudo().write({"next_fetch_at": fields.Datetime.now()})
        self.env["asterisk_calls.recording"]._cron_fetch()
        self.assertEqual(recording.state, "fetched")
        self.assertEqual(recording.attachment_id.raw, audio)
        self.assertIn(f'src="/web/content/{recording.attachment_id.id}"', str(recording.player))
        # Bob, who answered, hears it; Alice, not in the call, does not
        self.assertEqual(recording.with_user(self.bob).attachment_id.raw[:4], b"RIFF")
        with self.assertRaises(AccessError):
            recording.with_user(self.alice).read(["filename"])
