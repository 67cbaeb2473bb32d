from odoo import fields, models


class AsteriskCall(models.Model):
    _inherit = "asterisk_calls.call"

    employee_id = fields.Many2one(
        "hr.employee",
        string="Employee",
        index="btree_not_null",
        ondelete="set null",
        groups="hr.group_hr_user",
        help="The employee whose work phone or mobile is the outside number of this call.",
    )

    def _followup_links(self):
        super()._followup_links()
        numbers = {c.external_number for c in self if c.external_number and not c.employee_id}
        if not numbers:
            return
        employees = (
            self.env["hr.employee"]
            .sudo()
            .search(
                [
                    "|",
                    ("pbx_work_phone_e164", "in", list(numbers)),
                    ("pbx_mobile_phone_e164", "in", list(numbers)),
                ]
            )
        )
        by_number = {}
        for employee in employees:
            for number in (employee.pbx_work_phone_e164, employee.pbx_mobile_phone_e164):
                by_number.setdefault(number, employee)
        for call in self:
            if not call.employee_id and call.external_number in by_number:
                call.employee_id = by_number[call.external_number]

    def _followup_records(self):
        employee = self.sudo().employee_id
        return super()._followup_records() + ([employee] if employee else [])
