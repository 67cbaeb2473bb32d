from odoo import api, models

# key: (type, default). Stored as ir.config_parameter "asterisk_common.<key>".
SETTINGS = {
    "action_expiry": (float, 60.0),
    "log_retention_days": (int, 30),
}


class AsteriskSettings(models.AbstractModel):
    """Typed access to the suite's settings (edited in Settings > PBX)."""

    _name = "asterisk_common.settings"
    _description = "PBX Settings"

    @api.model
    def get(self, key):
        kind, default = SETTINGS[key]
        raw = self.env["ir.config_parameter"].sudo().get_param(f"asterisk_common.{key}")
        try:
            return kind(raw) if raw not in (None, False, "") else default
        except ValueError:
            return default
