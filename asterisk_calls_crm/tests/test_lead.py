from odoo import fields
from odoo.tests import TransactionCase


class TestLeadCalls(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.country_id = cls.env.ref("base.fr")
        cls.server = cls.env["asterisk_common.server"].create({"name": "CRM PBX", "host": "x"})
        cls.partner = cls.env["res.partner"].create({"name": "Robert", "phone": "01 44 55 66 77"})
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Big deal", "phone": "+33 6 12 34 56 78", "type": "opportunity"}
        )
        cls.partner_lead = cls.env["crm.lead"].create(
            {"name": "Robert's project", "partner_id": cls.partner.id, "phone": False}
        )

    def _ended_call(self, number, linkedid):
        return self.env["asterisk_calls.call"].create(
            {
                "linkedid": linkedid,
                "server_id": self.server.id,
                "direction": "inbound",
                "status": "answered",
                "caller_number": number,
                "external_number": number,
                "started_at": fields.Datetime.now(),
                "ended_at": fields.Datetime.now(),
                "talk_seconds": 42,
                "followup": True,
            }
        )

    def test_call_linked_to_the_lead_with_its_number_and_logged(self):
        call = self._ended_call("+33612345678", "1.1")
        self.env["asterisk_calls.call"]._cron_followup()
        self.assertEqual(call.lead_id, self.lead)
        self.assertIn("0:42", self.lead.message_ids[:1].body)
        self.assertEqual(self.lead.pbx_call_count, 1)

    def test_call_linked_to_the_lead_of_its_contact(self):
        self.assertFalse(self.partner_lead.phone_sanitized)  # found by its contact only
        self.env.cr.postcommit.run()  # the partner's number is committed
        call = self._ended_call("+33144556677", "1.2")
        self.env["asterisk_calls.call"]._cron_followup()
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.lead_id, self.partner_lead)

    def test_won_and_lost_leads_are_left_alone(self):
        self.lead.action_set_lost()
        call = self._ended_call("+33612345678", "1.3")
        self.env["asterisk_calls.call"]._cron_followup()
        self.assertFalse(call.lead_id)
