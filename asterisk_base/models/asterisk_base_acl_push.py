from odoo import api, fields, models


class AclPush(models.Model):
    """How the ACL of a server was last pushed. Apart from the server's row,
    which the worker's health reports rewrite every few seconds: a push
    (seconds of AMI round trips) would collide with them."""

    _name = "asterisk_base.acl_push"
    _description = "PBX ACL Push"

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade"
    )
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Up to Date"), ("failed", "Failed")],
        default="pending",
        required=True,
    )
    error = fields.Char()
    pushed_at = fields.Datetime()
    entries = fields.Integer()
    digest = fields.Char(help="What was pushed, to push only changes.")

    _sql_constraints = [("server_unique", "UNIQUE (server_id)", "One push state per server.")]

    @api.model
    def _of(self, server):
        return self.search([("server_id", "=", server.id)]) or self.create({"server_id": server.id})
