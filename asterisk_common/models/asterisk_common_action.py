import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, LazyTranslate

from .asterisk_common_server import notify_worker

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# Asterisk's OriginateResponse Reason codes (AST_CONTROL_* of the dial result),
# said of the Originate's first channel (the user's phone for click-to-dial).
ORIGINATE_REASONS = {
    "0": _lt("could not be reached (unknown, unregistered or unavailable)"),
    "1": _lt("hung up"),
    "3": _lt("did not answer"),
    "5": _lt("is busy"),
    "8": _lt("is congested"),
}


# What the worker gets of each action it is to send (_worker_claim, and its
# RETURNING clause).
CLAIMED = ("id", "server_id", "payload", "action_uid", "timeout", "prelude")


def _check_ami_value(key, value):
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_ami_value(key, item)
        return
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise UserError(
            _("AMI header %(key)s has an unsupported value %(value)r.", key=key, value=value)
        )
    # A CR or LF would end the header and let a value inject another action;
    # Asterisk reads a NUL as the end of the value (the rest silently dropped).
    if any(c in str(value) for c in "\r\n\x00"):
        raise UserError(_("AMI header %s contains a line break or a NUL character.", key))


class AsteriskAction(models.Model):
    """An AMI action queued by Odoo and executed by the worker."""

    _name = "asterisk_common.action"
    _description = "Queued AMI Action"
    _order = "id desc"

    name = fields.Char(string="Action", required=True, readonly=True, index=True)
    server_id = fields.Many2one(
        "asterisk_common.server", required=True, readonly=True, ondelete="cascade", index=True
    )
    payload = fields.Json(readonly=True, help="The AMI message, header by header.")
    prelude = fields.Json(
        readonly=True,
        help="AMI messages sent first, in order, on the same connection; the action is sent "
        "only if each succeeded (e.g. the dialplan an Originate runs).",
    )
    user_id = fields.Many2one(
        "res.users", string="Requested By", readonly=True, default=lambda self: self.env.uid
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("sent", "Sent"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("expired", "Expired"),
        ],
        default="queued",
        required=True,
        readonly=True,
        index=True,
    )
    action_uid = fields.Char(
        string="ActionID", readonly=True, index=True, help="The ActionID sent to Asterisk."
    )
    timeout = fields.Float(readonly=True, help="Seconds to wait for the reply once sent.")
    expire_date = fields.Datetime(string="Expires", readonly=True, help="Not sent after this date.")
    wait_connected = fields.Boolean(
        readonly=True,
        help="Wait in the queue while the server is disconnected instead of failing at once.",
    )
    notify = fields.Boolean(readonly=True, help="Tell the requester the outcome.")
    sent_date = fields.Datetime(readonly=True)
    done_date = fields.Datetime(readonly=True)
    reply = fields.Json(readonly=True, help="Asterisk's reply, with the events of a list.")
    result_event = fields.Json(
        readonly=True, help="A later event about this action, e.g. OriginateResponse."
    )
    error = fields.Text(readonly=True)

    @api.model
    def _check_message(self, action):
        """The action's name, once every header is known safe to send."""
        if not isinstance(action, dict):
            raise UserError(_("An AMI action is a dict of headers."))
        name = next((v for k, v in action.items() if k.lower() == "action"), None)
        if not name or not isinstance(name, str):
            raise UserError(_("An AMI action needs an Action header."))
        for key, value in action.items():
            if not isinstance(key, str) or not key.replace("-", "").isalnum():
                raise UserError(_("AMI header name %r is not valid.", key))
            _check_ami_value(key, value)
        if any(k.lower() == "actionid" for k in action):
            raise UserError(_("The worker sets the ActionID itself."))
        return name

    @api.model
    def _enqueue(
        self,
        server,
        action,
        *,
        timeout=None,
        expire=None,
        wait_connected=False,
        notify=True,
        prelude=None,
    ):
        name = self._check_message(action)
        for message in prelude or ():
            self._check_message(message)
        if expire is None:
            expire = self.env["asterisk_common.settings"].get("action_expiry")
        queued = self.sudo().create(
            {
                "name": name,
                "server_id": server.id,
                "payload": action,
                "prelude": list(prelude) if prelude else None,
                "user_id": self.env.uid,
                "timeout": timeout or server.sudo().action_timeout,
                "expire_date": fields.Datetime.now() + timedelta(seconds=expire),
                "wait_connected": wait_connected,
                "notify": notify,
            }
        )
        queued.action_uid = f"odoo-{queued.id}"
        notify_worker(self.env.cr, "action", str(queued.id))
        return queued

    @api.model
    def _worker_claim(self, connected_ids, disconnected_ids, errors):
        """Worker: take the queued actions of the servers it leads.

        Returns the rows to send now (marked sent) for connected servers;
        expires what waited too long and fails at once what targets a
        disconnected server, unless the caller asked to wait.
        """
        server_ids = list(connected_ids) + list(disconnected_ids)
        if not server_ids:
            return []
        now = fields.Datetime.now()
        # The usual case in one statement (a click waits on it): what is due
        # for a connected server is marked sent and returned.
        self.env.cr.execute(
            SQL(
                """
            UPDATE asterisk_common_action
               SET state = 'sent', sent_date = %(now)s, write_date = %(now)s
             WHERE id IN (SELECT id FROM asterisk_common_action
                           WHERE state = 'queued' AND server_id = ANY(%(connected)s)
                             AND (expire_date IS NULL OR expire_date >= %(now)s)
                           ORDER BY id
                             FOR UPDATE SKIP LOCKED
                           LIMIT 100)
         RETURNING %(claimed)s
                """,
                now=now,
                connected=list(connected_ids),
                claimed=SQL(", ").join(SQL.identifier(column) for column in CLAIMED),
            )
        )
        sent = [dict(zip(CLAIMED, row, strict=True)) for row in sorted(self.env.cr.fetchall())]
        self.browse([row["id"] for row in sent]).invalidate_recordset()
        self.env.cr.execute(
            """
            SELECT id FROM asterisk_common_action
             WHERE state = 'queued' AND server_id = ANY(%s)
             ORDER BY id
             FOR UPDATE SKIP LOCKED
             LIMIT 100
            """,
            [server_ids],
        )
        actions = self.browse([r[0] for r in self.env.cr.fetchall()])
        expired = actions.filtered(lambda a: a.expire_date and a.expire_date < now)
        expired._worker_done("expired", None, _("Expired in the queue."))
        waiting = actions - expired
        offline = waiting.filtered(lambda a: a.server_id.id in disconnected_ids)
        for action in offline.filtered(lambda a: not a.wait_connected):
            action._worker_done(
                "failed",
                None,
                _(
                    "Server %(server)s is not connected: %(error)s",
                    server=action.server_id.name,
                    error=errors.get(action.server_id.id),
                ),
            )
        to_send = waiting - offline
        to_send.write({"state": "sent", "sent_date": now})
        return sent + to_send.read(list(CLAIMED), load=None)

    def _worker_done(self, state, reply, error):
        """Worker: store the outcome and tell the requester."""
        self.write(
            {"state": state, "reply": reply, "error": error, "done_date": fields.Datetime.now()}
        )
        for action in self:
            if action.notify and action.user_id:
                action.user_id._bus_send(
                    "asterisk_common.action",
                    {"id": action.id, "name": action.name, "state": state, "error": error},
                )
        if state != "done":
            self._notify_requester(
                _("PBX action failed"),
                _(
                    "%(action)s on %(server)s: %(error)s",
                    action=self[:1].name,
                    server=self[:1].server_id.name,
                    error=error,
                ),
                "danger",
            )

    def _notify_requester(self, title, message, kind):
        for action in self.filtered(lambda a: a.notify and a.user_id):
            action.user_id._bus_send(
                "simple_notification",
                {"type": kind, "title": title, "message": message, "sticky": kind == "danger"},
            )

    @api.model
    def _ami_originate_response(self, event):
        action = self.sudo().search([("action_uid", "=", event.get("ActionID"))], limit=1)
        if not action:
            return
        action.result_event = event
        if event.get("Response") == "Failure":
            reason = str(ORIGINATE_REASONS.get(str(event.get("Reason")), _("failed")))
            payload = action.payload or {}
            action._notify_requester(
                _("Call failed"),
                _(
                    "Calling %(exten)s: %(channel)s %(reason)s.",
                    exten=payload.get("Exten") or event.get("Exten") or "?",
                    channel=event.get("Channel") or payload.get("Channel") or "?",
                    reason=reason,
                ),
                "warning",
            )

    @api.model
    def _gc(self):
        """Cron: expire what waited too long, forget what is old."""
        now = fields.Datetime.now()
        expired = self.sudo().search([("state", "=", "queued"), ("expire_date", "<", now)])
        if expired:
            # An outcome like any other: the requester is told (a click-to-dial
            # call, waiting for its Originate, ends as well).
            expired._worker_done(
                "expired", {}, _("Expired in the queue: the AMI worker did not send it in time.")
            )
        days = self.env["asterisk_common.settings"].get("log_retention_days")
        old = now - timedelta(days=days)
        self.sudo().search(
            [("state", "in", ("done", "failed", "expired")), ("create_date", "<", old)]
        ).unlink()
        self.env["asterisk_common.dispatch_error"].sudo().search(
            [("create_date", "<", old)]
        ).unlink()
