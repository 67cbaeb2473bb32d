from odoo import models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "asterisk_calls.linked.mixin"]
    _pbx_call_field = "lead_id"
