from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError

from .common import AsteriskCommonCase


class TestActionQueue(AsteriskCommonCase):
    def test_queue_row(self):
        before = fields.Datetime.now()
        action = (
            self.server.with_user(self.pbx_user)
            .sudo()
            .ami_action(
                {"Action": "Originate", "Channel": "SIP/201", "Variable": ["A=1", "B=2"]},
                timeout=7,
            )
        )
        self.assertEqual(action.name, "Originate")
        self.assertEqual(action.state, "queued")
        self.assertEqual(action.user_id, self.pbx_user)
        self.assertEqual(action.payload["Variable"], ["A=1", "B=2"])
        self.assertEqual(action.timeout, 7)
        self.assertEqual(action.action_uid, f"odoo-{action.id}")
        self.assertGreaterEqual(action.expire_date, before + timedelta(seconds=59))

    def test_only_admins_or_trusted_code_queue_actions(self):
        # "Command: core stop now" is one action away: users go through code
        # that builds a safe action and calls ami_action with sudo().
        with self.assertRaises(AccessError):
            self.server.with_user(self.pbx_user).ami_action({"Action": "Ping"})
        action = self.server.with_user(self.pbx_admin).ami_action({"Action": "Ping"})
        self.assertEqual(action.user_id, self.pbx_admin)

    def test_default_timeout_and_expiry(self):
        self.env["ir.config_parameter"].set_param("asterisk_common.action_expiry", "5")
        self.server.action_timeout = 3
        action = self.server.ami_action({"Action": "Ping"})
        self.assertEqual(action.timeout, 3)
        self.assertLessEqual(action.expire_date, fields.Datetime.now() + timedelta(seconds=6))

    def test_header_injection_refused(self):
        bad = [
            {"Action": "Command", "Command": "core show version\r\nAction: Logoff"},
            {"Action": "Ping\nAction: Logoff"},
            {"Action": "Ping", "Bad Key": "x"},
            {"Action": "Ping", "ActionID": "mine"},
            {"Channel": "SIP/201"},
            {"Action": "Ping", "X": {"nested": 1}},
            ["Action", "Ping"],
        ]
        for action in bad:
            with self.subTest(action=action), self.assertRaises(UserError):
                self.server.ami_action(action)

    def test_archived_server_refused(self):
        self.server.active = False
        with self.assertRaises(UserError):
            self.server.ami_action({"Action": "Ping"})

    def test_gc_expires_and_purges(self):
        action = self.server.with_user(self.pbx_user).sudo().ami_action({"Action": "Ping"})
        self.env["bus.bus"].search([]).unlink()
        action.expire_date = fields.Datetime.now() - timedelta(seconds=1)
        old = self.server.ami_action({"Action": "Ping"})
        old.state = "done"
        self.env.cr.execute(
            "UPDATE asterisk_common_action SET create_date = now() - interval '40 days' "
            "WHERE id = %s",
            [old.id],
        )
        old.invalidate_recordset()
        self.env["asterisk_common.action"]._gc()
        self.assertEqual(action.state, "expired")
        self.assertFalse(old.exists())
        self.env.cr.precommit.run()  # bus rows are written at flush/commit
        (told,) = self.env["bus.bus"].search([("message", "like", "simple_notification")])
        self.assertIn("did not send it in time", told.message)
        self.assertIn(str(self.pbx_user.partner_id.id), told.channel)

    def test_originate_failure_notifies_requester(self):
        action = (
            self.server.with_user(self.pbx_user)
            .sudo()
            .ami_action({"Action": "Originate", "Channel": "SIP/201", "Exten": "103"})
        )
        self.env["bus.bus"].search([]).unlink()
        self.env["asterisk_common.user"].ami_originate_response(
            {
                "Event": "OriginateResponse",
                "ActionID": action.action_uid,
                "Response": "Failure",
                "Reason": "5",
                "Exten": "103",
            }
        )
        self.assertEqual(action.result_event["Reason"], "5")
        self.env.cr.precommit.run()  # bus rows are written at flush/commit
        notes = self.env["bus.bus"].search([("message", "like", "simple_notification")])
        self.assertEqual(len(notes), 1)
        self.assertIn("busy", notes.message)
        self.assertIn(str(self.pbx_user.partner_id.id), notes.channel)

    def test_timeouts_must_be_positive(self):
        with self.assertRaises(ValidationError):
            self.server.ping_interval = 0

    def test_channel_format(self):
        Channel = self.env["asterisk_common.user_channel"]
        for good in ("SIP/101", "PJSIP/alice", "IAX2/trunk_1", "Local/100@from-internal"):
            Channel.create({"name": good, "pbx_user_id": self.ext_user.id})
        for bad in ("101", "SIP/", "SIP/10 1", "/alice", "SIP/a/b", "SIP/1&SIP/2"):
            with self.subTest(bad=bad), self.assertRaises(ValidationError):
                Channel.create({"name": bad, "pbx_user_id": self.ext_user.id})
