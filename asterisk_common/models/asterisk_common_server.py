import logging
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.base.models.res_partner import _tz_get

_logger = logging.getLogger(__name__)

# The worker reconnects when one of these changes; health fields it writes
# itself must not trigger that.
CONNECTION_FIELDS = {
    "active",
    "host",
    "port",
    "username",
    "secret",
    "md5_login",
    "tls",
    "tls_verify",
    "connect_timeout",
    "action_timeout",
    "ping_interval",
    "ping_timeout",
}
# PostgreSQL channel the worker LISTENs on (in each served database).
NOTIFY_CHANNEL = "asterisk_common"
REGION_TTL = 60.0
_regions = {}  # (dbname, server id, company id) -> (ISO code, time.monotonic())


def notify_worker(cr, kind, payload=""):
    """Wake the worker; PostgreSQL delivers the NOTIFY only if ``cr`` commits."""
    cr.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, f"{kind}:{payload}"])


class AsteriskServer(models.Model):
    _name = "asterisk_common.server"
    _description = "Asterisk Server"
    _order = "name"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    host = fields.Char(
        required=True,
        default="127.0.0.1",
        help="Address of the Asterisk Manager Interface (manager.conf, [general] bindaddr).",
    )
    port = fields.Integer(default=5038, required=True, help="AMI port (5038, or 5039 with TLS).")
    username = fields.Char(
        string="AMI Username",
        required=True,
        default="odoo",
        help="The [user] section of manager.conf that Odoo logs in as.",
    )
    secret = fields.Char(
        string="AMI Secret",
        groups="asterisk_common.group_asterisk_admin",
        copy=False,
        help="The user's secret in manager.conf. Only PBX administrators can read it.",
    )
    md5_login = fields.Boolean(
        string="MD5 Login",
        default=True,
        help="Log in with a challenge (the secret never crosses the network in clear).",
    )
    tls = fields.Boolean(string="TLS", help="Connect with TLS (manager.conf [general] tlsenable).")
    tls_verify = fields.Boolean(
        string="Verify Certificate",
        default=True,
        help="Refuse a server certificate that the system's CA store does not trust.",
    )
    connect_timeout = fields.Float(default=5.0, help="Seconds to open the connection and log in.")
    action_timeout = fields.Float(default=10.0, help="Seconds to wait for the reply to an action.")
    ping_interval = fields.Float(
        default=10.0,
        help="Seconds between keep-alive Pings. A peer that answers none is declared dead "
        "and the connection is reopened.",
    )
    ping_timeout = fields.Float(default=5.0, help="Seconds to wait for a Ping's reply.")
    country_id = fields.Many2one(
        "res.country",
        string="Country",
        help="Where the PBX is: numbers without a country code are read (and dialled) "
        "as numbers of this country. Default: the company's country.",
    )
    tz = fields.Selection(
        _tz_get,
        string="Time Zone",
        default=lambda self: self.env.user.tz or "UTC",
        help="The PBX's time zone: its CDR times are local times.",
    )
    pbx_user_ids = fields.One2many("asterisk_common.user", "server_id", string="PBX Users")
    pbx_user_count = fields.Integer(compute="_compute_pbx_user_count")

    # Health, written by the worker every few seconds.
    state = fields.Selection(
        [
            ("unknown", "Unknown"),
            ("connecting", "Connecting"),
            ("connected", "Connected"),
            ("disconnected", "Disconnected"),
        ],
        default="unknown",
        readonly=True,
        copy=False,
        help="Unknown: no worker has reported on this server yet (is the worker loaded?).",
    )
    state_since = fields.Datetime(readonly=True, copy=False)
    last_error = fields.Char(readonly=True, copy=False)
    health_date = fields.Datetime(string="Last Report", readonly=True, copy=False)
    asterisk_version = fields.Char(readonly=True, copy=False)
    ami_version = fields.Char(string="AMI Version", readonly=True, copy=False)
    leader = fields.Char(
        readonly=True,
        copy=False,
        help="Node and process of the worker that holds this server's connection.",
    )
    events_received = fields.Integer(readonly=True, copy=False)
    events_dispatched = fields.Integer(readonly=True, copy=False)
    events_failed = fields.Integer(readonly=True, copy=False)
    events_buffered = fields.Integer(
        readonly=True, copy=False, help="Events waiting for the database."
    )
    events_dropped = fields.Integer(
        readonly=True,
        copy=False,
        help="Events lost because the buffer was full while the database was unavailable.",
    )
    actions_sent = fields.Integer(readonly=True, copy=False)
    latency_p50 = fields.Float(
        string="Latency p50 (ms)",
        readonly=True,
        copy=False,
        help="Median time from an event's arrival on the AMI socket to the commit of its "
        "handler, over the last 20,000 events of this database.",
    )
    latency_p95 = fields.Float(string="Latency p95 (ms)", readonly=True, copy=False)
    latency_p99 = fields.Float(string="Latency p99 (ms)", readonly=True, copy=False)

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A server with this name already exists."),
        ("port_range", "CHECK(port > 0 AND port < 65536)", "The AMI port must be 1-65535."),
    ]

    @api.depends("pbx_user_ids")
    def _compute_pbx_user_count(self):
        for server in self:
            server.pbx_user_count = len(server.pbx_user_ids)

    @api.constrains("connect_timeout", "action_timeout", "ping_interval", "ping_timeout")
    def _check_timeouts(self):
        for server in self:
            if (
                min(
                    server.connect_timeout,
                    server.action_timeout,
                    server.ping_interval,
                    server.ping_timeout,
                )
                <= 0
            ):
                raise ValidationError(_("Timeouts and the Ping interval must be positive."))

    @api.model_create_multi
    def create(self, vals_list):
        servers = super().create(vals_list)
        notify_worker(self.env.cr, "server", ",".join(map(str, servers.ids)))
        return servers

    def write(self, vals):
        if "country_id" in vals:
            _regions.clear()
        res = super().write(vals)
        if CONNECTION_FIELDS.intersection(vals):
            notify_worker(self.env.cr, "server", ",".join(map(str, self.ids)))
        return res

    def unlink(self):
        ids = ",".join(map(str, self.ids))
        res = super().unlink()
        notify_worker(self.env.cr, "server", ids)
        return res

    @api.returns("asterisk_common.action", lambda action: action.id)
    def ami_action(
        self, action, *, timeout=None, expire=None, wait_connected=False, notify=True, prelude=None
    ):
        """Queue an AMI action for this server's worker and return the queued row.

        :param dict action: the AMI message, e.g. ``{"Action": "Ping"}``; values
            may be lists for repeated keys (``Variable``).
        :param float timeout: seconds to wait for Asterisk's reply once sent
            (default: the server's action timeout).
        :param float expire: seconds the action may wait in the queue (default:
            the ``asterisk_common.action_expiry`` setting).
        :param bool wait_connected: if the server is disconnected, keep the action
            queued until it expires instead of failing it at once.
        :param bool notify: tell the requesting user the outcome through the bus.
        :param list prelude: actions sent first, in order, on the same
            connection; ``action`` is sent only if each of them succeeded.

        The row is created in the caller's transaction; the worker is woken by a
        NOTIFY that PostgreSQL delivers when that transaction commits.
        """
        self.ensure_one()
        # Any AMI action can stop the PBX (Command: core stop now): other code
        # builds its own safe action and calls this method with sudo().
        if not self.env.su and not self.env.user.has_group("asterisk_common.group_asterisk_admin"):
            raise AccessError(_("Only PBX administrators can send AMI actions."))
        if not self.active:
            raise UserError(_("Server %s is archived.", self.name))
        return self.env["asterisk_common.action"]._enqueue(
            self,
            action,
            timeout=timeout,
            expire=expire,
            wait_connected=wait_connected,
            notify=notify,
            prelude=prelude,
        )

    def ami_action_sync(self, action, *, timeout=None, expire=None, notify=True):
        """Queue ``action`` and wait for its outcome, for code that needs the reply.

        The action is queued and committed in a transaction of its own, so that
        the worker sees it at once, and the row is then read in short
        transactions: the caller's transaction stays short and unlocked.

        :param bool notify: as for :meth:`ami_action`; False for an error the
            caller expects and handles (a config file not there yet).
        :returns: the action's values ``{"state", "reply", "error"}``; ``state``
            is ``"timeout"`` if the worker did not finish within ``timeout``.
        """
        return self.ami_actions_sync([action], timeout=timeout, expire=expire, notify=notify)[0]

    def ami_actions_sync(self, actions, *, timeout=None, expire=None, notify=True, forget=False):
        """:meth:`ami_action_sync` for several actions queued at once (the worker
        sends them together: one round trip); their outcomes in order.

        :param bool forget: delete the rows once answered (status queries a page
            repeats all day would fill the action log).
        """
        self.ensure_one()
        timeout = timeout or self.sudo().action_timeout
        env_kwargs = {"user": self.env.uid, "context": self.env.context, "su": self.env.su}
        with self.env.registry.cursor() as cr:
            server = self.with_env(self.env(cr=cr, **env_kwargs))
            ids = [
                server.ami_action(
                    action,
                    timeout=timeout,
                    expire=expire if expire is not None else timeout,
                    notify=notify,
                ).id
                for action in actions
            ]
        deadline = time.monotonic() + timeout + 2  # the worker's own timeout first
        pause = 0.02
        while True:
            with self.env.registry.cursor() as cr:
                cr.execute(
                    "SELECT id, state, reply, error FROM asterisk_common_action WHERE id = ANY(%s)",
                    [ids],
                )
                rows = {row[0]: row[1:] for row in cr.fetchall()}
                waiting = [i for i in ids if rows[i][0] in ("queued", "sent")]
                if not waiting or time.monotonic() > deadline:
                    if forget:
                        answered = [i for i in ids if i not in waiting]
                        cr.execute(
                            "DELETE FROM asterisk_common_action WHERE id = ANY(%s)", [answered]
                        )
                    break
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        results = []
        for action_id in ids:
            state, reply, error = rows[action_id]
            if action_id in waiting:
                # self.env: the frame's closed "cr" would be taken for the language.
                state, reply = "timeout", None
                error = self.env._("No answer from the worker in %s s.", timeout)
            results.append(
                {"id": action_id, "state": state, "reply": reply or False, "error": error or False}
            )
        return results

    def _region(self):
        """ISO code of the country numbers are read in (server, else company).

        Asked for on every click-to-dial and batch of call events: kept a
        minute per process (a new country on the server or the company takes
        that long to apply)."""
        self.ensure_one()
        key = (self.env.cr.dbname, self.id, self.env.company.id)
        cached = _regions.get(key)
        if cached is not None and time.monotonic() - cached[1] < REGION_TTL:
            return cached[0]
        # The company's partner: res.company.country_id is computed from it.
        country = self.sudo().country_id or self.env.company.partner_id.country_id
        _regions[key] = (country.code or None, time.monotonic())
        return country.code or None

    def _ami_resync(self, channels, snapshot_time=None):
        """Hook run by the worker on every (re)connect with the live channels
        (``CoreShowChannel`` events as dicts): modules that track calls close
        here those that ended while the worker was away.

        :param float snapshot_time: epoch at which the list was asked for;
            every event read before it has been handled already.
        """
        self.ensure_one()
        _logger.info("%s: %d live channels after (re)connect", self.name, len(channels))

    def _ami_probe_actions(self):
        """Actions the worker sends on every (re)connect to learn what this PBX
        offers; modules add theirs and read the replies in :meth:`_ami_probed`."""
        return []

    def _ami_probed(self, replies):
        """The replies to :meth:`_ami_probe_actions`, in its order: each
        ``{"action", "ok", "response", "events"}``, or ``{"action", "ok":
        False, "error"}`` when none came."""
        self.ensure_one()

    @api.model
    def _worker_health(self, server_id, values):
        """Worker: store a health report without touching write_date (no NOTIFY)."""
        columns = [k for k in values if k in self._fields]
        self.browse(server_id).flush_recordset(columns)
        assignments = SQL(", ").join(SQL("%s = %s", SQL.identifier(c), values[c]) for c in columns)
        self.env.cr.execute(
            SQL(
                "UPDATE asterisk_common_server SET health_date = now() at time zone 'UTC', %s "
                "WHERE id = %s",
                assignments,
                server_id,
            )
        )
        self.browse(server_id).invalidate_recordset(columns + ["health_date"])

    def action_test_connection(self):
        """Button: queue a Ping so the admin sees the round trip in the action queue."""
        self.ensure_one()
        queued = self.ami_action({"Action": "Ping"}, expire=30)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Ping queued"),
                "message": _("Action #%s will be answered by the worker.", queued.id),
                "type": "info",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_view_pbx_users(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("PBX Users"),
            "res_model": "asterisk_common.user",
            "view_mode": "list,form",
            "domain": [("server_id", "=", self.id)],
            "context": {"default_server_id": self.id},
        }
