from odoo import _, api, fields, models


class AsteriskCallsLinkedMixin(models.AbstractModel):
    """A record calls are linked to (a lead, an employee): its Calls button.
    The inheriting model names the call's Many2one to it in ``_pbx_call_field``."""

    _name = "asterisk_calls.linked.mixin"
    _description = "Record with Calls"
    _pbx_call_field = None

    pbx_call_count = fields.Integer(string="Calls", compute="_compute_pbx_call_count")

    @api.depends_context("uid")
    def _compute_pbx_call_count(self):
        if not self.env.user.has_group("asterisk_common.group_asterisk_user"):
            self.pbx_call_count = 0
            return
        counts = dict(
            self.env["asterisk_calls.call"]._read_group(
                [(self._pbx_call_field, "in", self.ids)], [self._pbx_call_field], ["__count"]
            )
        )
        for record in self:
            record.pbx_call_count = counts.get(record, 0)

    def action_view_pbx_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action")
        action.update(
            domain=[(self._pbx_call_field, "=", self.id)],
            # display_name is what Odoo 18's breadcrumb shows.
            name=_("Calls of %s", self.display_name),
            display_name=_("Calls of %s", self.display_name),
            context={},
        )
        return action
