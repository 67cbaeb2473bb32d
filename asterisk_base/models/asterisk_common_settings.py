from odoo import api, models

# CLI commands that stop the PBX, drop calls or change it at run time.
DANGEROUS_COMMANDS = [
    "core stop",
    "core restart",
    "module unload",
    "module load",
    "module reload",
    "core reload",
    "reload",
    "channel request hangup",
    "database del",
    "database deltree",
    "database put",
    "dialplan remove",
    "dialplan save",
    "queue reset",
    "sip prune",
    # Calls and dialplan changed at run time; the first two, with System(),
    # run commands on the PBX host.
    "channel originate",
    "dialplan add",
    "channel redirect",
    "module refresh",
]

# key: (type, value when the parameter is missing), stored as ir.config_parameter
# "asterisk_base.<key>". Settings saves delete a parameter set to False or 0,
# so "missing" must mean "off": the initial values are in data/.
SETTINGS = {
    "notify_bans": (bool, False),
    "distributed_addresses": (int, 0),
    "distributed_minutes": (int, 60),
    "security_event_retention_days": (int, 0),
    # IPv6 policy bans cover the attacker's /N network; 0 (or 128): the address.
    "ipv6_ban_prefix": (int, 0),
    # Web console: commands (word prefixes, comma-separated) that need a
    # confirmation. Missing or emptied: the default list, never none.
    "console_dangerous_commands": (str, ", ".join(DANGEROUS_COMMANDS)),
}


class AsteriskSettings(models.AbstractModel):
    _inherit = "asterisk_common.settings"

    @api.model
    def _specs(self):
        specs = super()._specs()
        specs.update({key: (f"asterisk_base.{key}", *spec) for key, spec in SETTINGS.items()})
        return specs
