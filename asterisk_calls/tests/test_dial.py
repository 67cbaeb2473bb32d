import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user

from ..tools.dial import callerid_name, dial_string
from .common import ASTERISK_VERSIONS, CallsCase


class TestDialString(CallsCase):
    def test_dial_rules(self):
        cases = [
            # number, region, outside prefix, e164 -> dialled
            ("+33 6 12 34 56 78", "FR", "", False, "0612345678"),
            ("06 12 34 56 78", "FR", "0", False, "00612345678"),
            ("+1 415 555 0132", "FR", "", False, "0014155550132"),
            ("+33 6 12 34 56 78", "US", "9", False, "901133612345678"),
            ("+33 6 12 34 56 78", "FR", "", True, "+33612345678"),
            ("201", "FR", "0", False, "201"),  # an extension
            ("*97", "FR", "", False, "*97"),
            ("not a number", "FR", "", False, ""),
        ]
        for number, region, prefix, e164, expected in cases:
            with self.subTest(number=number, region=region):
                self.assertEqual(dial_string(number, region, prefix, e164), expected)

    def test_callerid_name_is_safe(self):
        self.assertEqual(
            callerid_name('Call to "Bob" <x>\r\nAction: Hangup'), "Call to Bob xAction: Hangup"
        )


class TestClickToDial(CallsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.write({"state": "connected", "outside_prefix": "0"})
        cls.robert = cls.env["res.partner"].create({"name": "Robert", "mobile": "06 12 34 56 78"})

    def test_originate_rings_my_phone_then_dials(self):
        self.pbx_alice.channel_ids.write({"auto_answer": True, "auto_answer_header": "call_info"})
        result = self.Call.with_user(self.alice).pbx_dial(
            "06 12 34 56 78", "res.partner", self.robert.id
        )
        self.assertEqual(result["dial"], "00612345678")
        self.assertEqual(result["device"], "SIP/alice")
        call = self.Call.browse(result["call_id"])
        action = call.action_id
        self.assertEqual(action.user_id, self.alice)
        payload = action.payload
        self.assertEqual(payload["Channel"], "SIP/alice")
        self.assertEqual(payload["Context"], self.pbx_alice.originate_context)
        self.assertEqual(payload["Exten"], "00612345678")
        self.assertEqual(payload["CallerID"], '"Call to Robert" <00612345678>')
        self.assertEqual(payload["ChannelId"], call.linkedid)
        self.assertEqual(
            payload["Variable"], ["SIPADDHEADER01=Call-Info: <sip:127.0.0.1>;answer-after=0"]
        )
        self.assertEqual(
            (call.status, call.direction, call.partner_id, call.caller_user_id, call.user_ids),
            ("ringing", "outbound", self.robert, self.alice, self.alice),
        )
        self.assertEqual(call.called_number, "+33612345678")

    def test_preview_of_what_is_dialled(self):
        self.assertEqual(
            self.Call.with_user(self.alice).pbx_dial_preview("+33 6 12 34 56 78"), "00612345678"
        )
        outsider = new_test_user(self.env, "nopbx", groups="base.group_user")
        self.assertFalse(self.Call.with_user(outsider).pbx_dial_preview("0612345678"))

    def test_several_devices_ring_through_the_extension(self):
        self.pbx_carol.channel_ids.write({"originate": True, "auto_answer": True})
        result = self.Call.with_user(self.carol).pbx_dial("201")
        payload = self.Call.browse(result["call_id"]).action_id.payload
        self.assertEqual(payload["Channel"], "Local/203@from-internal")
        self.assertEqual(payload["OtherChannelId"], payload["ChannelId"] + "-2")
        self.assertEqual(payload["Exten"], "201")
        # No auto-answer: it cannot reach Local/agent1@demo's phone.
        self.assertNotIn("Variable", payload)
        self.assertEqual(payload["Context"], "from-internal")

    def test_several_devices_ring_through_odoo_dialplan(self):
        """With the odoo-originate context (the worker added it): exactly the
        devices marked for click-to-dial ring, each with the header, PJSIP too."""
        self.server.originate_dialplan = True
        self.server.originate_timeout = 20
        carol_devices = self.pbx_carol.channel_ids
        carol_devices.write({"originate": True, "auto_answer": True})
        carol_devices[0].originate = False
        carol_devices |= self.env["asterisk_common.user_channel"].create(
            {"pbx_user_id": self.pbx_carol.id, "name": "PJSIP/carol-desk", "originate": True}
        )
        carol_devices.auto_answer = True
        ringing = carol_devices.filtered("originate")
        self.assertEqual(len(ringing), 2)
        result = self.Call.with_user(self.carol).pbx_dial("201")
        self.assertEqual(result["device"], ", ".join(ringing.mapped("name")))
        action = self.Call.browse(result["call_id"]).action_id
        payload = action.payload
        self.assertEqual(
            (payload["Channel"], payload["Context"], payload["Exten"], payload["Timeout"]),
            ("Local/ring@odoo-originate", "from-internal", "201", 25000),
        )
        self.assertEqual(payload["OtherChannelId"], payload["ChannelId"] + "-2")
        devices = "&".join(ringing.mapped("name"))
        call_info = "<sip:127.0.0.1>;answer-after=0"
        self.assertEqual(
            payload["Variable"],
            [
                f"ODOO_DEVICES={devices}",
                "ODOO_RING=20",
                f"ODOO_DIAL_OPTIONS=b(odoo-originate^aa^1({devices}"
                f"^Call-Info&Call-Info^{call_info}&{call_info}))",
            ],
        )
        # added again before each Originate: a "dialplan reload" empties it
        self.assertEqual(
            [(m["Action"], m["Extension"], m["Priority"]) for m in action.prelude],
            [("DialplanExtensionAdd", "ring", "1")]
            + [("DialplanExtensionAdd", "aa", str(p)) for p in range(1, 9)],
        )
        # each device its own header, or none
        ringing[0].auto_answer_header = "alert_info"
        ringing[1].auto_answer = False
        result = self.Call.with_user(self.carol).pbx_dial("201")
        variables = self.Call.browse(result["call_id"]).action_id.payload["Variable"]
        self.assertEqual(
            variables[2],
            f"ODOO_DIAL_OPTIONS=b(odoo-originate^aa^1({devices}"
            "^Alert-Info&^<http://127.0.0.1>;info=alert-autoanswer;delay=0&))",
        )
        # none at all: no pre-dial handler
        ringing.auto_answer = False
        result = self.Call.with_user(self.carol).pbx_dial("201")
        variables = self.Call.browse(result["call_id"]).action_id.payload["Variable"]
        self.assertEqual(variables[2], "ODOO_DIAL_OPTIONS=")

    def test_the_worker_adds_odoo_dialplan_when_it_connects(self):
        """The probe of every (re)connect adds the context; a refusal (no
        write = system) leaves click-to-dial on the extension's way."""
        actions = self.server._ami_probe_actions()
        added = [a for a in actions if a["Action"] == "DialplanExtensionAdd"]
        self.assertEqual(len(added), 9)
        self.assertTrue(all(a["Context"] == "odoo-originate" for a in added))

        def replies(ok):
            response = (
                {"Response": "Success", "Message": "Added requested extension"}
                if ok
                else {"Response": "Error", "Message": "Permission denied"}
            )
            return [
                {"action": a["Action"], "ok": ok, "response": response, "events": []} for a in added
            ]

        self.server._ami_probed(replies(True))
        self.assertTrue(self.server.originate_dialplan)
        with self.assertLogs("odoo.addons.asterisk_calls", "WARNING") as logs:
            self.server._ami_probed(replies(False))
        self.assertFalse(self.server.originate_dialplan)
        self.assertIn("Permission denied", logs.output[0])
        self.pbx_carol.channel_ids.originate = True
        result = self.Call.with_user(self.carol).pbx_dial("201")
        self.assertEqual(
            self.Call.browse(result["call_id"]).action_id.payload["Channel"],
            "Local/203@from-internal",
        )

    def dial_on_two_phones(self, capture, channel_id, contact=True):
        """Bob clicks to dial Robert; his two phones ring (the captures' bob
        and carol: through his extension, or through Odoo's odoo-originate
        context for the ``originate_ring_*`` captures), and Asterisk does what
        ``capture`` recorded for an Originate with that ``ChannelId``."""
        self.pbx_carol.channel_ids.filtered(lambda c: c.name == self.dev("carol")).write(
            {"pbx_user_id": self.pbx_bob.id}
        )
        self.pbx_bob.channel_ids.originate = True
        self.server.originate_dialplan = capture.startswith("originate_ring_")
        if contact:
            result = self.Call.with_user(self.bob).pbx_dial(
                "06 12 34 56 78", "res.partner", self.robert.id
            )
        else:
            result = self.Call.with_user(self.bob).pbx_dial("06 98 76 54 32")
        call = self.Call.browse(result["call_id"])
        expected = "Local/ring@" if self.server.originate_dialplan else "Local/202@"
        self.assertTrue(call.action_id.payload["Channel"].startswith(expected))
        call.linkedid = channel_id
        self.env.flush_all()
        self.env.cr.precommit.data.pop("bus.bus.values", None)
        self.replay_capture(capture, start=time.time())
        return call

    def test_two_phones_my_answer_is_not_the_answer(self):
        call = self.dial_on_two_phones("originate_local_dial_out", "odoo-7c8d9e0f1a2b")
        self.assertEqual(self.calls(), call)
        self.assertEqual(
            (call.status, call.direction, call.caller_user_id, call.partner_id),
            ("answered", "outbound", self.bob, self.robert),
        )

        self.assertEqual(
            (call.user_ids, call.missed_user_ids), (self.bob, self.Call.env["res.users"])
        )
        self.assertFalse(call.answered_by_id)  # the provider's side, no PBX user
        # bob picked up after 1 s, the number answered 1 s later and talked 2 s
        self.assertAlmostEqual(call.ring_seconds, 2, delta=1)
        self.assertAlmostEqual(call.talk_seconds, 2, delta=1)
        notices = self.notices_to(self.bob)
        self.assertEqual([n["type"] for n in notices], ["success"], notices)
        self.assertEqual(notices[0]["title"], "Call to Robert")

    def test_two_phones_answer_by_themselves(self):
        (self.pbx_bob | self.pbx_carol).channel_ids.filtered(
            lambda c: c.name.startswith("SIP/")
        ).write({"auto_answer": True, "auto_answer_header": "call_info"})
        call = self.dial_on_two_phones("originate_local_auto_answer", "odoo-9e0f1a2b3c4d")
        payload = call.action_id.payload
        # Inherited one level: by the phones the extension rings, and by the
        # Local channel that dials the number, which passes it on to nobody.
        self.assertEqual(
            (payload["Application"], payload["Data"], payload["Variable"]),
            (
                "Dial",
                "Local/00612345678@from-internal/n",
                ["_SIPADDHEADER01=Call-Info: <sip:127.0.0.1>;answer-after=0"],
            ),
        )
        self.assertNotIn("Exten", payload)
        self.assertEqual(self.calls(), call)
        self.assertEqual(
            (call.status, call.direction, call.user_ids, call.called_number),
            ("answered", "outbound", self.bob, "+33612345678"),
        )
        self.assertFalse(call.missed_user_ids)
        self.assertAlmostEqual(call.talk_seconds, 2, delta=1)
        self.assertEqual([n["type"] for n in self.notices_to(self.bob)], ["success"])

    def test_the_trunk_repeats_my_callerid_which_is_not_the_called_name(self):
        """The provider's channel has no CallerID of its own: it shows the
        Originate's (the capture's: "Call to Robert"), which names nobody."""
        self.server.originate_callerid = "Call to Robert"  # what the recorded Originate showed
        call = self.dial_on_two_phones("originate_local_dial_busy", "odoo-8d9e0f1a2b3c", False)
        self.assertEqual(call.action_id.payload["CallerID"], '"Call to Robert" <00698765432>')
        self.assertFalse(call.partner_id)
        self.assertFalse(call.called_name, "not the trunk's copy of our own CallerID")
        (notice,) = self.notices_to(self.bob)
        self.assertEqual(notice["title"], "Call to +33698765432")

    def test_two_phones_answer_by_themselves_the_number_is_busy(self):
        (self.pbx_bob | self.pbx_carol).channel_ids.write({"auto_answer": True})
        call = self.dial_on_two_phones("originate_local_auto_answer_busy", "odoo-0f1a2b3c4d5e")
        self.assertEqual(call.action_id.payload["Application"], "Dial")
        self.assertEqual((call.status, call.answered_at, call.user_ids), ("busy", False, self.bob))
        self.assertFalse(call.missed_user_ids)
        notices = self.notices_to(self.bob)
        self.assertEqual(
            [(n["type"], n["message"]) for n in notices], [("warning", "the line is busy")]
        )

    def test_two_phones_the_number_is_busy(self):
        call = self.dial_on_two_phones("originate_local_dial_busy", "odoo-8d9e0f1a2b3c")
        self.assertEqual((call.status, call.answered_at), ("busy", False))
        self.assertFalse(call.missed_user_ids, "bob's own phones rang: nobody missed the call")
        notices = self.notices_to(self.bob)
        self.assertEqual(
            [(n["type"], n["message"]) for n in notices], [("warning", "the line is busy")]
        )
        timeline = str(call.timeline_html)
        self.assertIn("Originate: rang Bob (SIP/carol) first", timeline)
        self.assertIn("Bob (SIP/carol) did not answer: CANCEL", timeline)

    def test_two_phones_through_odoo_dialplan(self):
        """Recorded on Asterisk 20 (chan_sip phones, SIPAddHeader in the
        pre-dial handler) and 22 (PJSIP phones, PJSIP_HEADER): each phone got
        its own header, the number none (the phones' SIP logs), and the calls
        are those of the extension's way."""
        call_info = "Call-Info: <sip:127.0.0.1>;answer-after=0"
        alert_info = "Alert-Info: <http://127.0.0.1>;info=alert-autoanswer;delay=0"
        both = {"bob": "call_info", "carol": "call_info"}
        cases = [
            ("originate_ring_auto_answer", "odoo-5d6e7f8a9b0c", "answered", "success", both),
            ("originate_ring_auto_answer_busy", "odoo-6e7f8a9b0c1d", "busy", "warning", both),
            ("originate_ring_no_header", "odoo-7f8a9b0c1d2e", "answered", "success", {}),
            (
                "originate_ring_two_headers",
                "odoo-8a9b0c1d2e3f",
                "answered",
                "success",
                {"bob": "call_info", "carol": "alert_info"},
            ),
        ]
        for version in ASTERISK_VERSIONS:
            self.use_asterisk(version)
            for capture, channel_id, status, notice, headers in cases:
                with self.subTest(version=version, capture=capture):
                    self.Call.search([]).unlink()
                    for phone in ("bob", "carol"):
                        device = (self.pbx_bob | self.pbx_carol).channel_ids.filtered(
                            lambda c, phone=phone: c.name == self.dev(phone)
                        )
                        device.write(
                            {
                                "auto_answer": phone in headers,
                                "auto_answer_header": headers.get(phone, "call_info"),
                            }
                        )
                    call = self.dial_on_two_phones(capture, channel_id)
                    options = call.action_id.payload["Variable"][2]
                    self.assertEqual("^aa^" in options, bool(headers))
                    self.assertEqual(self.calls(), call)
                    self.assertEqual(
                        (call.status, call.direction, call.user_ids, call.called_number),
                        (status, "outbound", self.bob, "+33612345678"),
                    )
                    self.assertFalse(call.missed_user_ids)
                    self.assertEqual([n["type"] for n in self.notices_to(self.bob)], [notice])
                    for phone in ("bob", "carol", "provider"):
                        log = self.capture_file(f"{capture}.{phone}.sip.log")
                        got = [h for h in (call_info, alert_info) if h in log]
                        wanted = {"call_info": [call_info], "alert_info": [alert_info]}
                        self.assertEqual(got, wanted.get(headers.get(phone), []), phone)
                    timeline = str(call.timeline_html)
                    self.assertIn(f"Originate: rang Bob ({self.dev('bob')})", timeline)
                    self.assertNotIn("odoo-originate", str(call.user_ids.mapped("name")))

    def test_two_phones_on_asterisk_22(self):
        """The same click-to-dials recorded on Asterisk 22, whose phones are
        PJSIP endpoints: the same calls and the same notices."""
        self.use_asterisk("22")
        cases = [
            ("originate_local_dial_out", "odoo-7c8d9e0f1a2b", "answered", "success"),
            ("originate_local_dial_busy", "odoo-8d9e0f1a2b3c", "busy", "warning"),
            ("originate_local_auto_answer", "odoo-9e0f1a2b3c4d", "answered", "success"),
            ("originate_local_auto_answer_busy", "odoo-0f1a2b3c4d5e", "busy", "warning"),
        ]
        for capture, channel_id, status, notice in cases:
            with self.subTest(capture=capture):
                self.Call.search([]).unlink()
                call = self.dial_on_two_phones(capture, channel_id)
                self.assertEqual(self.calls(), call)
                self.assertEqual(
                    (call.status, call.direction, call.user_ids), (status, "outbound", self.bob)
                )
                self.assertFalse(call.missed_user_ids)
                self.assertEqual([n["type"] for n in self.notices_to(self.bob)], [notice])
        timeline = str(call.timeline_html)
        self.assertIn("Originate: rang Bob (PJSIP/carol) first", timeline)

    def test_why_no_call(self):
        Call = self.Call.with_user(self.alice)
        self.server.state = "disconnected"
        with self.assertRaisesRegex(UserError, "is not connected"):
            Call.pbx_dial("0612345678")
        self.server.state = "connected"
        self.pbx_alice.channel_ids.originate = False
        with self.assertRaisesRegex(UserError, "None of your devices"):
            Call.pbx_dial("0612345678")
        with self.assertRaisesRegex(UserError, "no extension"):
            self.Call.with_user(self.admin_user).pbx_dial("0612345678")
        with self.assertRaisesRegex(UserError, "no number to dial"):
            self.Call.with_user(self.bob).pbx_dial("hello")

    def test_only_pbx_users_dial_and_only_what_they_can_read(self):
        outsider = new_test_user(self.env, "out", groups="base.group_portal")
        with self.assertRaises(UserError):
            self.Call.with_user(outsider).pbx_dial("0612345678")
        event = self.env.ref("asterisk_calls.event_call_hangup")
        with self.assertRaises(AccessError):  # bob may not read the events map
            self.Call.with_user(self.bob).pbx_dial("0612345678", "asterisk_common.event", event.id)

    def test_unplaced_call_ends_when_the_action_fails(self):
        result = self.Call.with_user(self.bob).pbx_dial("0698765432")
        call = self.Call.browse(result["call_id"])
        self.assertIs(call.called_name, False, "no contact: no name (not the text 'false')")
        call.action_id._worker_done("failed", None, "Server Capture PBX is not connected")
        self.assertEqual(call.status, "failed")
        self.assertIn(
            "could not be placed: Server Capture PBX is not connected", str(call.timeline_html)
        )

    def test_a_reconnect_before_the_originate_keeps_the_call_until_it_expires(self):
        result = self.Call.with_user(self.bob).pbx_dial("0612345678")
        call = self.Call.browse(result["call_id"])
        self.Call._resync(self.server, [], time.time() + 5)  # no channel of it yet
        self.assertTrue(call.exists())
        self.assertEqual(call.status, "ringing")
        call.action_id.expire_date = fields.Datetime.now() - timedelta(seconds=1)
        self.env["asterisk_common.action"]._gc()  # never sent: it ends, bob is told
        self.assertEqual(call.status, "failed")
        self.assertIn("did not send it in time", str(call.timeline_html))

    def test_call_back_from_a_missed_call(self):
        self.replay_capture("inbound_ring_group")
        call = self.calls()
        action = call.with_user(self.bob).action_call_back()
        self.assertEqual(action["tag"], "display_notification")
        dialled = self.Call.search(
            [("caller_user_id", "=", self.bob.id), ("originated", "=", True)]
        )
        self.assertEqual(dialled.action_id.payload["Exten"], "00612345678")
