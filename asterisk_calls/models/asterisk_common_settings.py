from odoo import api, models

# key: (type, value when the parameter is missing), stored as ir.config_parameter
# "asterisk_calls.<key>". Settings saves delete a parameter set to False or 0,
# so "missing" must mean "off": the initial values are in data/.
CALL_SETTINGS = {
    "lookup_suffix_digits": (int, 0),
    "internal_max_digits": (int, 0),
    "create_unknown_partner": (bool, False),
    "missed_call_activity": (bool, False),
    "log_calls": (bool, False),
    "call_retention_days": (int, 0),
    "call_retention_action": (str, "archive"),
    "recording_retention_days": (int, 0),
}


class AsteriskSettings(models.AbstractModel):
    _inherit = "asterisk_common.settings"

    @api.model
    def _specs(self):
        specs = super()._specs()
        specs.update({key: (f"asterisk_calls.{key}", *spec) for key, spec in CALL_SETTINGS.items()})
        return specs
