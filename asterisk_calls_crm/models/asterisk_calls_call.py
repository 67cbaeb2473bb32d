from odoo import fields, models


class AsteriskCall(models.Model):
    _inherit = "asterisk_calls.call"

    lead_id = fields.Many2one(
        "crm.lead",
        string="Lead",
        index="btree_not_null",
        ondelete="set null",
        groups="sales_team.group_sale_salesman",
        help="The open lead or opportunity of the outside party, found when the call ended.",
    )

    def _followup_links(self):
        super()._followup_links()
        for call in self.filtered(lambda c: not c.lead_id and c.external_number):
            call.lead_id = call._find_lead()

    def _find_lead(self):
        """The most recently updated open lead of the caller: by its number,
        else by its contact."""
        self.ensure_one()
        Lead = self.env["crm.lead"].sudo()
        open_leads = [("active", "=", True), ("stage_id.is_won", "=", False)]
        lead = Lead.search(
            [*open_leads, ("phone_sanitized", "=", self.external_number)],
            order="write_date desc",
            limit=1,
        )
        if not lead and self.partner_id:
            lead = Lead.search(
                [*open_leads, ("partner_id", "child_of", self.partner_id.commercial_partner_id.id)],
                order="write_date desc",
                limit=1,
            )
        return lead

    def _followup_records(self):
        return super()._followup_records() + ([self.lead_id] if self.lead_id else [])
