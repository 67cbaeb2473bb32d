from odoo import _, api, fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    pbx_call_count = fields.Integer(string="Calls", compute="_compute_pbx_call_count")

    @api.depends_context("uid")
    def _compute_pbx_call_count(self):
        if not self.env.user.has_group("asterisk_common.group_asterisk_user"):
            self.pbx_call_count = 0
            return
        counts = dict(
            self.env["asterisk_calls.call"]._read_group(
                [("lead_id", "in", self.ids)], ["lead_id"], ["__count"]
            )
        )
        for lead in self:
            lead.pbx_call_count = counts.get(lead, 0)

    def action_view_pbx_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action")
        action.update(domain=[("lead_id", "=", self.id)], name=_("Calls"), context={})
        return action
