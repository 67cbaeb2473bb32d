from datetime import timedelta

from markupsafe import Markup

from odoo import fields

from .common import CallsCase


class TestFollowup(CallsCase):
    """What happens once per ended call, off the event path."""

    def _call(self, **vals):
        values = {
            "linkedid": f"17000.{self.Call.with_context(active_test=False).search_count([])}",
            "server_id": self.server.id,
            "direction": "inbound",
            "status": "no_answer",
            "caller_number": "+33612345678",
            "caller_name": "Robert",
            "called_number": "201",
            "external_number": "+33612345678",
            "started_at": fields.Datetime.now(),
            "ended_at": fields.Datetime.now(),
            "followup": True,
        }
        values.update(vals)
        return self.Call.create(values)

    def test_missed_call_gives_a_callback_todo(self):
        call = self._call(
            user_ids=[(6, 0, [self.alice.id])], missed_user_ids=[(6, 0, [self.alice.id])]
        )
        self.Call._cron_followup()
        activity = call.activity_ids
        self.assertEqual(activity.user_id, self.alice)
        self.assertEqual(
            activity.activity_type_id, self.env.ref("asterisk_calls.mail_activity_type_missed_call")
        )
        self.assertIn("Call back Robert", activity.summary)
        self.assertFalse(call.followup)
        # The user can mark it done (write access to their own call's activity).
        activity.with_user(self.alice).action_feedback(feedback="called back")
        self.assertFalse(call.activity_ids)

    def test_setting_off_no_todo(self):
        self.env["ir.config_parameter"].set_param("asterisk_calls.missed_call_activity", False)
        call = self._call(missed_user_ids=[(6, 0, [self.alice.id])])
        self.Call._cron_followup()
        self.assertFalse(call.activity_ids)

    def test_contact_found_and_call_logged_in_its_chatter(self):
        partner = self.env["res.partner"].create(
            {"name": "Robert Martin", "mobile": "06 12 34 56 78"}
        )
        self.env.cr.postcommit.run()
        call = self._call(status="answered", answered_by_id=self.alice.id, talk_seconds=75)
        self.Call._cron_followup()
        self.assertEqual(call.partner_id, partner)
        message = partner.message_ids[:1]
        self.assertIn("Inbound call, answered", message.body)
        self.assertIn("1:15", message.body)

    def test_unknown_caller_contact_created_when_asked(self):
        call = self._call(caller_name="<b>Evil</b>", external_number="+33699999999")
        self.Call._cron_followup()
        self.assertFalse(call.partner_id)  # off by default
        self.env["ir.config_parameter"].set_param("asterisk_calls.create_unknown_partner", True)
        call2 = self._call(caller_name="<b>Evil</b>", external_number="+33699999999")
        self.Call._cron_followup()
        self.assertEqual(call2.partner_id.name, "<b>Evil</b>")  # a name, kept as text
        self.assertEqual(call2.partner_id.phone, "+33699999999")

    def test_hostile_caller_name_is_escaped_everywhere(self):
        hostile = "<img src=x onerror=alert(1)>"
        call = self._call(caller_name=hostile, status="answered", talk_seconds=3)
        partner = self.env["res.partner"].create({"name": "Target", "phone": "+33612345678"})
        call.partner_id = partner
        body = call._chatter_body()
        self.assertIsInstance(body, Markup)
        self.assertNotIn("<img", body)
        self.assertIn("&lt;img", body)
        call.timeline = [{"t": 1.0, "k": "answer", "key": "a", "user": hostile, "device": "SIP/x"}]
        self.assertNotIn("<img", str(call.timeline_html))
        # The missed-call to-do's note is Html: escaped, not sanitized (a
        # sanitizer keeps <img src=https://...>, a beacon).
        beacon = '<img src="https://evil.example/x.png">'
        missed = self._call(
            caller_name=beacon,
            caller_number="+33699999999",
            external_number="+33699999999",
            missed_user_ids=[(6, 0, [self.alice.id])],
        )
        self.Call._cron_followup()
        self.assertNotIn("<img", str(missed.activity_ids.note))
        self.assertIn("&lt;img", str(missed.activity_ids.note))

    def test_retention_archives_or_deletes_old_calls(self):
        old = self._call(status="answered", started_at=fields.Datetime.now() - timedelta(days=40))
        recent = self._call(status="answered")
        self.Call._cron_retention()
        self.assertTrue(old.active, "retention is off by default")
        self.env["ir.config_parameter"].set_param("asterisk_calls.call_retention_days", 30)
        self.Call._cron_retention()
        self.assertFalse(old.active)
        self.assertTrue(recent.active)
        self.env["ir.config_parameter"].set_param("asterisk_calls.call_retention_action", "delete")
        # Deleted with their recordings' audio; a recording kept keeps its call.
        heard = self._recording(old)
        audio = heard.attachment_id
        kept = self._call(status="answered", started_at=old.started_at)
        self._recording(kept).keep = True
        self.Call._cron_retention()
        self.assertFalse(old.exists())
        self.assertFalse(heard.exists() or audio.exists())
        self.assertTrue(recent.exists())
        self.assertTrue(kept.exists())

    def _recording(self, call):
        recording = self.env["asterisk_calls.recording"].create(
            {"call_id": call.id, "channel": "SIP/alice-1", "filename": "call.wav"}
        )
        recording.attachment_id = self.env["ir.attachment"].create(
            {
                "name": "call.wav",
                "raw": b"RIFF",
                "res_model": recording._name,
                "res_id": recording.id,
            }
        )
        return recording
