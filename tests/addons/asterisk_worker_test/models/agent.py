from odoo import api, models
from odoo.exceptions import AccessError

from odoo.addons.asterisk_common.tools import is_batch_handler
from odoo.addons.asterisk_common.tools.condition import compile_condition, eval_condition


class ExternalAgent(models.AbstractModel):
    """The design the worker replaces, for the benchmark (tests/bench_paths.py):
    an agent outside Odoo that sends each mapped event by JSON-RPC."""

    _name = "asterisk_worker_test.agent"
    _description = "External AMI agent entry point (benchmark only)"

    @api.model
    def events_map(self):
        """What the agent subscribes to: the mapped events' names."""
        self._check_admin()
        return sorted(set(self.env["asterisk_common.event"].search([]).mapped("name")))

    @api.model
    def dispatch(self, event):
        """One event, one request: the events map's handlers of ``event``, each
        in a savepoint, in this request's transaction (as the old agent's
        per-event ``execute_kw`` did)."""
        self._check_admin()
        entries = self.env["asterisk_common.event"].search(
            [("name", "=", event.get("Event"))], order="sequence, id"
        )
        for entry in entries:
            if entry.condition and not eval_condition(compile_condition(entry.condition), event):
                continue
            model = self.env[entry.model].sudo()
            method = getattr(model, entry.method)
            with self.env.cr.savepoint():
                method([event] if is_batch_handler(model, entry.method) else event)
        return True

    def _check_admin(self):
        if not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError("benchmark entry point: PBX administrators only")
