from odoo import api, fields, models

from odoo.addons.asterisk_calls.tools.numbers import searchable


class HrEmployee(models.Model):
    _name = "hr.employee"
    _inherit = ["hr.employee", "asterisk_calls.linked.mixin"]
    _pbx_call_field = "employee_id"

    pbx_work_phone_e164 = fields.Char(
        compute="_compute_pbx_numbers",
        store=True,
        index="btree_not_null",
        groups="hr.group_hr_user",
    )
    pbx_mobile_phone_e164 = fields.Char(
        compute="_compute_pbx_numbers",
        store=True,
        index="btree_not_null",
        groups="hr.group_hr_user",
    )

    @api.depends("work_phone", "mobile_phone", "company_id.country_id")
    def _compute_pbx_numbers(self):
        for employee in self:
            region = (employee.company_id.country_id or self.env.company.country_id).code
            employee.pbx_work_phone_e164 = searchable(employee.work_phone, region)
            employee.pbx_mobile_phone_e164 = searchable(employee.mobile_phone, region)
