from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    asterisk_action_expiry = fields.Float(
        string="AMI Action Expiry",
        config_parameter="asterisk_common.action_expiry",
        default=60.0,
        help="Seconds a queued AMI action may wait for the worker before it expires.",
    )
    asterisk_log_retention_days = fields.Integer(
        string="Keep Logs (days)",
        config_parameter="asterisk_common.log_retention_days",
        default=30,
        help="Finished actions and dispatch errors older than this are deleted.",
    )
