from odoo import api, models

# key: (type, value when the parameter is missing), stored as ir.config_parameter
# "asterisk_base.<key>". Settings saves delete a parameter set to False or 0,
# so "missing" must mean "off": the initial values are in data/.
PROTECTION_SETTINGS = {
    "notify_bans": (bool, False),
    "distributed_addresses": (int, 0),
    "distributed_minutes": (int, 60),
    "security_event_retention_days": (int, 0),
}


class AsteriskSettings(models.AbstractModel):
    _inherit = "asterisk_common.settings"

    @api.model
    def _specs(self):
        specs = super()._specs()
        specs.update(
            {key: (f"asterisk_base.{key}", *spec) for key, spec in PROTECTION_SETTINGS.items()}
        )
        return specs
