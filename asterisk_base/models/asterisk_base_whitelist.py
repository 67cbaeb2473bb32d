from odoo import api, fields, models

from ..tools import checked_network, covered_by, network_of


class Whitelist(models.Model):
    """Addresses and networks never banned: offices, providers, remote workers."""

    _name = "asterisk_base.whitelist"
    _description = "PBX Ban Whitelist"
    _order = "network"
    _rec_name = "network"

    network = fields.Char(
        string="Address or Network",
        required=True,
        help="An IPv4 or IPv6 address, or a network in CIDR notation "
        "(192.0.2.0/24, 2001:db8::/32).",
    )
    name = fields.Char(string="Note", help="Who or what this is (office, SIP provider...).")
    server_id = fields.Many2one(
        "asterisk_common.server",
        ondelete="cascade",
        help="Empty: never banned on any server.",
    )
    active = fields.Boolean(default=True)

    @api.model
    def _normalize(self, vals):
        if vals.get("network"):
            vals["network"] = checked_network(vals["network"])
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create([self._normalize(vals) for vals in vals_list])
        records._lift_covered_bans()
        return records

    def write(self, vals):
        res = super().write(self._normalize(vals))
        if {"network", "server_id", "active"} & set(vals):
            self._lift_covered_bans()
        return res

    def _lift_covered_bans(self):
        """Whitelisting an address lifts its bans at once."""
        Ban = self.env["asterisk_base.ban"]
        for rec in self.filtered("active"):
            network = network_of(rec.network)
            domain = [("state", "=", "active")]
            if rec.server_id:
                domain.append(("server_id", "=", rec.server_id.id))
            bans = Ban.search(domain).filtered(lambda b, n=network: covered_by(b.address, [n]))
            bans.action_lift()

    @api.model
    def _of_server(self, server):
        """The entries that apply on ``server``: its own and those of every server."""
        return self.sudo().search(["|", ("server_id", "=", False), ("server_id", "=", server.id)])

    @api.model
    def _networks(self, server):
        return [network_of(rec.network) for rec in self._of_server(server)]

    @api.model
    def _covering(self, server, address):
        """The first entry that covers ``address`` on ``server``, if any."""
        for rec in self._of_server(server):
            if covered_by(address, [network_of(rec.network)]):
                return rec
        return self.browse()
