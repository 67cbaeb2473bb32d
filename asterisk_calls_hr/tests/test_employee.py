from odoo import fields
from odoo.tests import TransactionCase


class TestEmployeeCalls(TransactionCase):
    def test_call_from_an_employee_mobile_is_linked_and_logged(self):
        self.env.company.country_id = self.env.ref("base.be")
        server = self.env["asterisk_common.server"].create({"name": "HR PBX", "host": "x"})
        employee = self.env["hr.employee"].create(
            {"name": "Jeanne", "mobile_phone": "0470 12 34 56", "work_phone": "+32 2 555 12 12"}
        )
        self.assertEqual(employee.pbx_mobile_phone_e164, "+32470123456")
        call = self.env["asterisk_calls.call"].create(
            {
                "linkedid": "2.1",
                "server_id": server.id,
                "direction": "inbound",
                "status": "no_answer",
                "caller_number": "+32470123456",
                "external_number": "+32470123456",
                "started_at": fields.Datetime.now(),
                "ended_at": fields.Datetime.now(),
                "followup": True,
            }
        )
        self.env["asterisk_calls.call"]._cron_followup()
        self.assertEqual(call.employee_id, employee)
        self.assertIn("Inbound call, no answer", employee.message_ids[:1].body)
