from odoo import _, api, fields, models

from odoo.addons.asterisk_calls.tools.numbers import searchable


class HrEmployee(models.Model):
    _inherit = "hr.employee"

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
    pbx_call_count = fields.Integer(string="Calls", compute="_compute_pbx_call_count")

    @api.depends("work_phone", "mobile_phone", "company_id.country_id")
    def _compute_pbx_numbers(self):
        for employee in self:
            region = (employee.company_id.country_id or self.env.company.country_id).code
            employee.pbx_work_phone_e164 = searchable(employee.work_phone, region)
            employee.pbx_mobile_phone_e164 = searchable(employee.mobile_phone, region)

    @api.depends_context("uid")
    def _compute_pbx_call_count(self):
        if not self.env.user.has_group("asterisk_common.group_asterisk_user"):
            self.pbx_call_count = 0
            return
        counts = dict(
            self.env["asterisk_calls.call"]._read_group(
                [("employee_id", "in", self.ids)], ["employee_id"], ["__count"]
            )
        )
        for employee in self:
            employee.pbx_call_count = counts.get(employee, 0)

    def action_view_pbx_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action")
        action.update(domain=[("employee_id", "=", self.id)], name=_("Calls"), context={})
        return action
