from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    asterisk_notify_bans = fields.Boolean(
        string="Tell Admins About Bans",
        config_parameter="asterisk_base.notify_bans",
        help="PBX administrators get a notice (inbox or email, as each chose) when the ban "
        "policy bans addresses and when an account is attacked from many addresses.",
    )
    asterisk_distributed_addresses = fields.Integer(
        string="Account Attacked From (addresses)",
        config_parameter="asterisk_base.distributed_addresses",
        help="An account that fails from this many different addresses within the period "
        "below is flagged to the admins: distributed guessing. 0 turns it off.",
    )
    asterisk_distributed_minutes = fields.Integer(
        string="Within (minutes)",
        config_parameter="asterisk_base.distributed_minutes",
    )
    asterisk_security_event_retention_days = fields.Integer(
        string="Keep Security Events (days)",
        config_parameter="asterisk_base.security_event_retention_days",
        help="Counted security events older than this are deleted every night (0: keep them).",
    )
    asterisk_ipv6_ban_prefix = fields.Integer(
        string="IPv6 Bans Cover a /",
        config_parameter="asterisk_base.ipv6_ban_prefix",
        help="The ban policy counts the failures of an IPv6 attacker over this network and "
        "bans it whole (64: a subscriber's network, in which they pick any address for "
        "free). 0: each address alone. Never wider than /32, nor over a trusted address.",
    )
    asterisk_console_dangerous_commands = fields.Char(
        string="Commands to Confirm",
        config_parameter="asterisk_base.console_dangerous_commands",
        help="Web console: commands starting with one of these (comma-separated, whole words) "
        "run only once the administrator confirms. Emptied, the default list applies.",
    )

    @api.model
    def get_values(self):
        res = super().get_values()
        # Shown as it applies: the default list when none is set.
        res["asterisk_console_dangerous_commands"] = self.env["asterisk_common.settings"].get(
            "console_dangerous_commands"
        )
        return res
