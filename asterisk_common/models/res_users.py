from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    asterisk_user_ids = fields.One2many(
        "asterisk_common.user",
        "user_id",
        string="PBX Extensions",
        groups="asterisk_common.group_asterisk_user",
    )
