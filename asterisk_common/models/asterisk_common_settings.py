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
    def _specs(self):
        """``{key: (parameter, type, default)}``; other addons add theirs."""
        return {key: (f"asterisk_common.{key}", *spec) for key, spec in SETTINGS.items()}

    @api.model
    def get(self, key):
        param, kind, default = self._specs()[key]
        raw = self.env["ir.config_parameter"].sudo().get_param(param)
        if kind is bool:
            return default if raw in (None, False, "") else raw not in ("0", "False", "false")
        try:
            return kind(raw) if raw not in (None, False, "") else default
        except ValueError:
            return default
