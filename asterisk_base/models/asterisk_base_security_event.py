import collections
import logging
import time
from datetime import UTC, datetime

from psycopg2.extras import execute_values

from odoo import api, fields, models
from odoo.tools import create_index

from odoo.addons.asterisk_common.tools import ami_handler, events_by_server

from ..tools import parse_ami_address

_logger = logging.getLogger(__name__)

# Asterisk's security events (res_security_log, security_events.c) that tell
# of a refused request, and those of normal traffic.
FAILURES = [
    ("InvalidPassword", "Wrong Password"),
    ("ChallengeResponseFailed", "Wrong Challenge Response"),
    ("InvalidAccountID", "Unknown Account"),
    ("FailedACL", "Refused by an ACL"),
    ("UnexpectedAddress", "Unexpected Address"),
    ("RequestNotAllowed", "Request Not Allowed"),
    ("RequestBadFormat", "Malformed Request"),
    ("AuthMethodNotAllowed", "Authentication Method Not Allowed"),
]
NORMAL = [("ChallengeSent", "Challenge Sent"), ("SuccessfulAuth", "Successful Login")]
FAILURE_NAMES = frozenset(name for name, _label in FAILURES)
NORMAL_NAMES = frozenset(name for name, _label in NORMAL)

# Failures are counted per address in windows of WINDOW seconds; normal
# traffic (every phone's REGISTER) per hour, without address nor account.
WINDOW = 10
NORMAL_WINDOW = 3600
# A scanner tries hundreds of accounts from one address: past this many in a
# window, the others are counted under OTHER_ACCOUNTS (rows stay bounded).
MAX_ACCOUNTS = 10
OTHER_ACCOUNTS = "…"
ACCOUNT_SIZE = 80
# (dbname, server id, address, window) -> accounts seen, for MAX_ACCOUNTS. One
# worker process handles a server's events, so this memory is enough.
_accounts_seen = collections.OrderedDict()
ACCOUNTS_SEEN_SIZE = 50000


def _window(epoch, length):
    return datetime.fromtimestamp(epoch - epoch % length, UTC).replace(tzinfo=None)


class SecurityEvent(models.Model):
    """Security events of a PBX, counted: one row per address, service, kind
    and account in each 10-second window (normal traffic: per hour)."""

    _name = "asterisk_base.security_event"
    _description = "PBX Security Events"
    _order = "window_start desc, id desc"
    _log_access = False

    server_id = fields.Many2one(
        "asterisk_common.server", required=True, index=True, ondelete="cascade", readonly=True
    )
    window_start = fields.Datetime(
        string="Time", required=True, index=True, readonly=True, help="Start of the window counted."
    )
    event = fields.Selection(FAILURES + NORMAL, required=True, readonly=True)
    failure = fields.Boolean(
        readonly=True, help="A refused request (an attack, or a device with a wrong password)."
    )
    service = fields.Char(readonly=True, help="SIP, PJSIP, IAX2, AMI...")
    account = fields.Char(
        readonly=True,
        help="The account the request named (attacker-chosen text). '…' counts the accounts "
        "tried past the ten first of a window.",
    )
    address = fields.Char(string="Remote Address", index=True, readonly=True)
    count = fields.Integer(readonly=True, aggregator="sum")
    first_at = fields.Datetime(string="First", readonly=True)
    last_at = fields.Datetime(string="Last", readonly=True)

    _sql_constraints = [
        (
            "window_key_unique",
            "UNIQUE (server_id, window_start, address, service, event, account)",
            "One row per window, address, service, event and account.",
        ),
    ]

    def init(self):
        create_index(
            self.env.cr,
            "asterisk_base_security_event_failures_idx",
            self._table,
            ["server_id", "address", "window_start"],
            where="failure",
        )

    @api.depends("event", "service", "address")
    def _compute_display_name(self):
        labels = dict(self._fields["event"]._description_selection(self.env))
        for rec in self:
            rec.display_name = " ".join(
                filter(None, [labels.get(rec.event), rec.service, rec.address])
            )

    # -- the AMI handler -----------------------------------------------------------

    @ami_handler(batch=True, independent=True)
    def ami_security_events(self, events):
        """Security events (failed and successful logins, refused requests):
        counted, then the ban policy looks at the addresses that failed."""
        for server, server_events in events_by_server(self.env, events):
            self._count(server, server_events)

    def _count(self, server, events):
        rows = {}  # key -> [count, first, last]
        failed = collections.defaultdict(set)  # address -> services
        accounts = collections.defaultdict(set)  # service -> accounts that failed
        pbx_addresses, odoo_addresses = set(), set()
        latest = 0.0
        for event in events:
            name = event.get("Event")
            if name not in FAILURE_NAMES and name not in NORMAL_NAMES:
                _logger.debug("security event %s not counted", name)
                continue
            received = float(event.get("_received") or time.time())
            latest = max(latest, received)
            service = (event.get("Service") or "").upper()[:32]
            remote = parse_ami_address(event.get("RemoteAddress"))
            local = parse_ami_address(event.get("LocalAddress"))
            pbx_addresses.add(local or "")
            account = (event.get("AccountID") or "")[:ACCOUNT_SIZE]
            if name in NORMAL_NAMES:
                # Odoo's own AMI login, as the PBX sees it.
                if name == "SuccessfulAuth" and service == "AMI" and account == server.username:
                    odoo_addresses.add(remote or "")
                key = (_window(received, NORMAL_WINDOW), "", service, name, "")
            else:
                window = _window(received, WINDOW)
                address = remote or ""
                account = self._cap_accounts(server.id, address, window, account)
                key = (window, address, service, name, account)
                if address:
                    failed[address].add(service)
                if account and account != OTHER_ACCOUNTS:
                    accounts[service].add(account)
            at = datetime.fromtimestamp(received, UTC).replace(tzinfo=None)
            row = rows.get(key)
            if row is None:
                rows[key] = [1, at, at]
            else:
                row[0] += 1
                row[1], row[2] = min(row[1], at), max(row[2], at)
        if not rows:
            return
        self._upsert(server, rows)
        server._protection_learn(pbx_addresses - {""}, odoo_addresses - {""})
        if failed:
            now = datetime.fromtimestamp(latest, UTC).replace(tzinfo=None)
            self.env["asterisk_base.ban"]._apply_policy(server, failed, now)
            self.env["asterisk_base.targeted_account"]._check(server, accounts, now)

    def _cap_accounts(self, server_id, address, window, account):
        key = (self.env.cr.dbname, server_id, address, window)
        seen = _accounts_seen.get(key)
        if seen is None:
            seen = _accounts_seen[key] = set()
            while len(_accounts_seen) > ACCOUNTS_SEEN_SIZE:
                _accounts_seen.popitem(last=False)
        if account in seen:
            return account
        if len(seen) >= MAX_ACCOUNTS:
            return OTHER_ACCOUNTS
        seen.add(account)
        return account

    def _upsert(self, server, rows):
        """One statement for the batch: the counts add up to the rows already there."""
        self.flush_model()
        execute_values(
            self.env.cr._obj,
            """INSERT INTO asterisk_base_security_event AS t (server_id, window_start,
                    address, service, event, account, failure, count, first_at, last_at)
                VALUES %s
                ON CONFLICT (server_id, window_start, address, service, event, account)
                DO UPDATE SET count = t.count + EXCLUDED.count,
                              first_at = LEAST(t.first_at, EXCLUDED.first_at),
                              last_at = GREATEST(t.last_at, EXCLUDED.last_at)""",
            [
                (
                    server.id,
                    window,
                    address,
                    service,
                    event,
                    account,
                    event in FAILURE_NAMES,
                    count,
                    first,
                    last,
                )  # fmt: skip
                for (window, address, service, event, account), (count, first, last) in sorted(
                    rows.items()
                )
            ],
            page_size=1000,
        )
        self.invalidate_model()

    # -- reports and housekeeping -------------------------------------------------

    @api.model
    def _cron_retention(self):
        days = self.env["asterisk_common.settings"].get("security_event_retention_days")
        if days > 0:
            self.env.cr.execute(
                "DELETE FROM asterisk_base_security_event "
                "WHERE window_start < now() at time zone 'UTC' - make_interval(days => %s)",
                [days],
            )
            _logger.info("deleted %d security event rows (%d days)", self.env.cr.rowcount, days)

    def action_ban_address(self):
        """Ban the addresses of the selected rows for good (a manual ban)."""
        pairs = sorted({(rec.server_id.id, rec.address) for rec in self if rec.address})
        if not pairs:
            return False
        return self.env["asterisk_base.ban"]._ban_manually(pairs)._open()
