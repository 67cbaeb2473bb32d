from odoo import fields, models, tools

from .asterisk_calls_call import DIRECTIONS, STATUSES


class AsteriskCallUserReport(models.Model):
    """One row per call and user who took part in it: who calls, who answers,
    who misses, per user, hour and day."""

    _name = "asterisk_calls.user_report"
    _description = "Calls per User"
    _auto = False
    _order = "started_at desc"

    call_id = fields.Many2one("asterisk_calls.call", readonly=True)
    user_id = fields.Many2one("res.users", readonly=True)
    role = fields.Selection(
        [
            ("caller", "Called Out"),
            ("answered", "Answered"),
            ("missed", "Missed"),
            ("other", "Rang, Answered by Another"),
        ],
        readonly=True,
    )
    server_id = fields.Many2one("asterisk_common.server", readonly=True)
    direction = fields.Selection(DIRECTIONS, readonly=True)
    status = fields.Selection(STATUSES, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    queue = fields.Char(readonly=True)
    started_at = fields.Datetime(readonly=True)
    hour_of_day = fields.Integer(readonly=True, aggregator=False)
    weekday = fields.Selection(
        lambda self: self.env["asterisk_calls.call"]._fields["weekday"].selection,
        string="Day of Week",
        readonly=True,
    )
    ring_seconds = fields.Integer(string="Ring Time", readonly=True, aggregator="avg")
    talk_seconds = fields.Integer(string="Talk Time", readonly=True, aggregator="sum")
    call_count = fields.Integer(string="Calls", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            f"""
            CREATE VIEW {self._table} AS (
                SELECT row_number() OVER (ORDER BY c.id, r.user_id) AS id,
                       c.id AS call_id,
                       r.user_id,
                       CASE WHEN r.user_id = c.caller_user_id THEN 'caller'
                            WHEN r.user_id = c.answered_by_id THEN 'answered'
                            WHEN m.user_id IS NOT NULL THEN 'missed'
                            ELSE 'other' END AS role,
                       c.server_id, c.direction, c.status, c.partner_id, c.queue,
                       c.started_at, c.hour_of_day, c.weekday, c.ring_seconds,
                       CASE WHEN r.user_id IN (c.caller_user_id, c.answered_by_id)
                            THEN c.talk_seconds ELSE 0 END AS talk_seconds,
                       1 AS call_count
                  FROM asterisk_calls_call c
                  JOIN asterisk_calls_call_user_rel r ON r.call_id = c.id
             LEFT JOIN asterisk_calls_call_missed_rel m
                       ON m.call_id = c.id AND m.user_id = r.user_id
                 WHERE c.active
            )"""  # noqa: S608 - the table name is the model's
        )
