from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools import (
    compile_condition,
    is_ami_handler,
    is_batch_handler,
    is_independent_handler,
)
from .asterisk_common_server import notify_worker


class AsteriskEvent(models.Model):
    """The events map: "when AMI event X arrives and condition C holds, call
    method M of model N after D seconds"."""

    _name = "asterisk_common.event"
    _description = "AMI Events Map Entry"
    _order = "sequence, name, id"

    name = fields.Char(
        string="Event",
        required=True,
        help="AMI event name as Asterisk sends it, e.g. Hangup, Cdr, OriginateResponse. "
        "For a dialplan UserEvent, map UserEvent with a condition on event['UserEvent'].",
    )
    source = fields.Selection([("AMI", "AMI")], default="AMI", required=True)
    model = fields.Char(
        required=True, help="Technical name of the model, e.g. asterisk_calls.call."
    )
    method = fields.Char(
        required=True,
        help="Method of the model called with the event. It must be declared with "
        "the @ami_handler decorator.",
    )
    condition = fields.Char(
        help="Optional Python expression over `event` (a read-only dict of the AMI "
        "message), evaluated with Odoo's safe_eval rules, e.g. "
        "event.get('Response') == 'Failure'. An expression that raises counts as false "
        "and is logged on this entry.",
    )
    delay = fields.Float(
        help="Seconds to wait before calling the method, e.g. 1.5 to let a call's "
        "last events arrive first.",
    )
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10, help="Order of the handlers of one event.")
    description = fields.Text()
    last_error = fields.Text(readonly=True, copy=False)
    last_error_date = fields.Datetime(readonly=True, copy=False)
    error_count = fields.Integer(readonly=True, copy=False)

    _sql_constraints = [
        (
            "handler_uniq",
            "unique(source, name, model, method)",
            "This event is already mapped to this method.",
        ),
        ("delay_positive", "CHECK(delay >= 0)", "The delay cannot be negative."),
    ]

    @api.constrains("model", "method")
    def _check_handler(self):
        for entry in self:
            if entry.model not in self.env:
                raise ValidationError(_("Model %s does not exist.", entry.model))
            if not is_ami_handler(self.env[entry.model], entry.method):
                raise ValidationError(
                    _(
                        "%(model)s.%(method)s is not an AMI handler: only methods "
                        "declared with @ami_handler can be called by the events map.",
                        model=entry.model,
                        method=entry.method,
                    )
                )

    @api.constrains("condition")
    def _check_condition(self):
        for entry in self.filtered("condition"):
            try:
                compile_condition(entry.condition)
            except (SyntaxError, ValueError, NameError, TypeError) as e:
                raise ValidationError(
                    _("Condition of %(name)s is refused: %(error)s", name=entry.name, error=e)
                ) from e

    @api.model_create_multi
    def create(self, vals_list):
        entries = super().create(vals_list)
        notify_worker(self.env.cr, "map")
        return entries

    def write(self, vals):
        res = super().write(vals)
        # The worker's own error bookkeeping does not change the map.
        if set(vals) - {"last_error", "last_error_date", "error_count"}:
            notify_worker(self.env.cr, "map")
        return res

    def unlink(self):
        res = super().unlink()
        notify_worker(self.env.cr, "map")
        return res

    @api.model
    def _map_for_worker(self):
        """The active map as plain data, for the worker's cache."""
        entries = self.sudo().search_read(
            [("active", "=", True), ("source", "=", "AMI")],
            ["name", "model", "method", "condition", "delay", "sequence"],
            order="sequence, id",
        )
        entries = [e for e in entries if e["model"] in self.env]
        for entry in entries:
            model = self.env[entry["model"]]
            entry["batch"] = is_batch_handler(model, entry["method"])
            entry["independent"] = is_independent_handler(model, entry["method"])
        return entries

    @api.model
    def _worker_errors(self, errors):
        """Worker: count condition errors, ``{entry_id: (count, last_error)}``."""
        for entry_id, (count, message) in errors.items():
            self.env.cr.execute(
                "UPDATE asterisk_common_event SET error_count = error_count + %s, "
                "last_error = %s, last_error_date = now() at time zone 'UTC' WHERE id = %s",
                [count, message, entry_id],
            )
        self.browse(list(errors)).invalidate_recordset(
            ["error_count", "last_error", "last_error_date"]
        )

    def action_reset_errors(self):
        self.write({"last_error": False, "last_error_date": False, "error_count": 0})
