import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytz
from markupsafe import Markup, escape
from psycopg2.extras import Json, execute_batch, execute_values

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import create_index

from odoo.addons.asterisk_common.tools import ami_handler, events_by_server

from ..tools.numbers import to_e164
from ..tools.tracker import LIVE, Directory, Record, Tracker

_logger = logging.getLogger(__name__)

DIRECTIONS = [("inbound", "Inbound"), ("outbound", "Outbound"), ("internal", "Internal")]
STATUSES = [
    ("ringing", "Ringing"),
    ("in_progress", "In Progress"),
    ("answered", "Answered"),
    ("no_answer", "No Answer"),
    ("busy", "Busy"),
    ("failed", "Failed"),
    ("abandoned", "Abandoned"),
]
UNANSWERED = ("no_answer", "busy", "failed", "abandoned")
FOLLOWUP_EVERY = 5  # seconds between two triggers of the follow-up job, per process
_followup_triggered = {}  # dbname -> time.monotonic() of the last trigger
# How the tracker's values are written (see _tracker_save).
M2M_TABLES = {
    "user_ids": "asterisk_calls_call_user_rel",
    "missed_user_ids": "asterisk_calls_call_missed_rel",
}
JSON_COLUMNS = {"timeline", "tracking", "cdr"}
BOOLEAN_COLUMNS = {"transferred", "originated", "is_local", "active", "followup"}
MANY2ONE_COLUMNS = {
    "partner_id", "caller_user_id", "answered_by_id", "action_id", "server_id", "call_id",
    "pbx_user_id", "user_id",
}  # fmt: skip
# Tracker values that are datetimes (epoch floats in the tracker).
CALL_DATETIMES = ("started_at", "answered_at", "ended_at", "last_event_at")
CHANNEL_DATETIMES = ("started_at", "answered_at", "ended_at")
CALL_COLUMNS = (
    "id",
    "linkedid",
    "server_id",
    "direction",
    "status",
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "external_number",
    "partner_id",
    "caller_user_id",
    "answered_by_id",
    "queue",
    "started_at",
    "answered_at",
    "ended_at",
    "last_event_at",
    "ring_seconds",
    "talk_seconds",
    "transferred",
    "originated",
    "parking_space",
    "action_uid",
    "cdr_disposition",
    "cdr_duration",
    "cdr_billsec",
    "timeline",
    "tracking",
)
CHANNEL_COLUMNS = (
    "id",
    "uniqueid",
    "linkedid",
    "server_id",
    "name",
    "device",
    "is_local",
    "pbx_user_id",
    "user_id",
    "state",
    "caller_number",
    "caller_name",
    "connected_number",
    "connected_name",
    "context",
    "exten",
    "dialed_by",
    "dial_status",
    "dial_string",
    "started_at",
    "answered_at",
    "ended_at",
    "hangup_cause",
    "hangup_cause_txt",
    "bridge",
    "bridge_exten",
    "cdr",
    "cdr_disposition",
    "cdr_duration",
    "cdr_billsec",
)
# What PBX users may change on the calls they took part in (notes, activities).
USER_WRITABLE = {"note", "message_follower_ids", "activity_ids", "message_ids"}
_EPOCH = datetime(1970, 1, 1)


def to_epoch(value):
    return (value - _EPOCH).total_seconds() if value else None


def to_datetime(value):
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None) if value else False


def format_seconds(seconds):
    """1:05, 12:00, 1:02:03: durations as people read them."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class AsteriskCall(models.Model):
    _name = "asterisk_calls.call"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Call"
    _order = "started_at desc, id desc"
    _rec_names_search = ["caller_number", "caller_name", "called_number", "called_name"]

    linkedid = fields.Char(
        string="Linkedid", required=True, index=True, readonly=True, help="Asterisk's call id."
    )
    server_id = fields.Many2one(
        "asterisk_common.server", required=True, readonly=True, ondelete="cascade"
    )
    direction = fields.Selection(DIRECTIONS, required=True, default="inbound", readonly=True)
    status = fields.Selection(STATUSES, required=True, default="ringing", readonly=True)
    caller_number = fields.Char(readonly=True)
    caller_name = fields.Char(readonly=True)
    called_number = fields.Char(readonly=True)
    called_name = fields.Char(readonly=True)
    external_number = fields.Char(
        readonly=True,
        index=True,
        help="The outside party's number (E.164 when it parses): the caller of an inbound "
        "call, the number called by an outbound one.",
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Contact",
        index=True,
        ondelete="set null",
        help="The outside party's contact, found by its number.",
    )
    caller_user_id = fields.Many2one("res.users", string="Caller (User)", readonly=True)
    user_ids = fields.Many2many(
        "res.users",
        "asterisk_calls_call_user_rel",
        "call_id",
        "user_id",
        string="Users",
        readonly=True,
        help="Every user whose device rang or talked in this call.",
    )
    answered_by_id = fields.Many2one("res.users", string="Answered By", readonly=True)
    missed_user_ids = fields.Many2many(
        "res.users",
        "asterisk_calls_call_missed_rel",
        "call_id",
        "user_id",
        string="Missed By",
        readonly=True,
        help="Users whose device rang for this call, which nobody answered.",
    )
    queue = fields.Char(readonly=True)
    started_at = fields.Datetime(readonly=True, index=True)
    answered_at = fields.Datetime(readonly=True)
    ended_at = fields.Datetime(readonly=True)
    last_event_at = fields.Datetime(readonly=True)
    ring_seconds = fields.Integer(string="Ring Time", readonly=True, aggregator="avg")
    talk_seconds = fields.Integer(string="Talk Time", readonly=True, aggregator="sum")
    duration_seconds = fields.Integer(
        string="Duration", compute="_compute_duration_seconds", store=True, aggregator="sum"
    )
    hour_of_day = fields.Integer(
        compute="_compute_start_parts",
        store=True,
        aggregator=False,
        help="Hour the call started, in the PBX's time zone.",
    )
    weekday = fields.Selection(
        [
            ("0", "Monday"),
            ("1", "Tuesday"),
            ("2", "Wednesday"),
            ("3", "Thursday"),
            ("4", "Friday"),
            ("5", "Saturday"),
            ("6", "Sunday"),
        ],
        string="Day of Week",
        compute="_compute_start_parts",
        store=True,
    )
    transferred = fields.Boolean(readonly=True)
    parking_space = fields.Char(
        readonly=True, help="The parking space the call waits in: dial it to take the call."
    )
    originated = fields.Boolean(
        readonly=True, help="Started by an AMI Originate (click-to-dial, a script)."
    )
    action_uid = fields.Char(string="Originate ActionID", readonly=True)
    action_id = fields.Many2one(
        "asterisk_common.action", string="Originate Action", readonly=True, ondelete="set null"
    )
    cdr_disposition = fields.Char(string="CDR Disposition", readonly=True)
    cdr_duration = fields.Integer(string="CDR Duration", readonly=True)
    cdr_billsec = fields.Integer(string="CDR Billable Seconds", readonly=True)
    channel_ids = fields.One2many("asterisk_calls.channel", "call_id", string="Channels")
    timeline = fields.Json(string="Timeline Entries", readonly=True, copy=False)
    timeline_html = fields.Html(string="Timeline", compute="_compute_timeline_html", sanitize=False)
    tracking = fields.Json(readonly=True, copy=False, groups="base.group_no_one")
    followup = fields.Boolean(
        readonly=True, copy=False, help="Ended; the follow-up job has not run yet."
    )
    note = fields.Text()
    is_live = fields.Boolean(compute="_compute_is_live", search="_search_is_live")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("linkedid_uniq", "unique(server_id, linkedid)", "One call per Linkedid and server."),
    ]

    def init(self):
        super().init()
        # Every batch of events updates the calls in progress: few indexes on
        # what changes (partial ones where the lookups are), room for HOT updates.
        cr = self.env.cr
        create_index(
            cr,
            "asterisk_calls_call_live_idx",
            self._table,
            ["server_id", "status"],
            where="status IN ('ringing', 'in_progress')",
        )
        create_index(cr, "asterisk_calls_call_followup_idx", self._table, ["id"], where="followup")
        cr.execute(f'ALTER TABLE "{self._table}" SET (fillfactor = 70)')

    # -- computes -----------------------------------------------------------------------

    @api.depends("ring_seconds", "talk_seconds")
    def _compute_duration_seconds(self):
        for call in self:
            call.duration_seconds = (call.ring_seconds or 0) + (call.talk_seconds or 0)

    @api.depends("started_at")
    def _compute_start_parts(self):
        for call in self:
            if not call.started_at:
                call.hour_of_day, call.weekday = 0, False
                continue
            tz = pytz.timezone(call.server_id.tz or "UTC")
            local = pytz.utc.localize(call.started_at).astimezone(tz)
            call.hour_of_day, call.weekday = local.hour, str(local.weekday())

    def _compute_is_live(self):
        for call in self:
            call.is_live = call.status in LIVE

    def _search_is_live(self, operator, value):
        live = (operator == "=") == bool(value)
        return [("status", "in" if live else "not in", LIVE)]

    @api.depends("caller_number", "caller_name", "called_number", "called_name", "partner_id")
    def _compute_display_name(self):
        for call in self:
            caller = call.caller_name or call.caller_number or _("Unknown")
            if call.direction == "inbound" and call.partner_id:
                caller = call.partner_id.display_name
            called = call.called_name or call.called_number or "?"
            if call.direction == "outbound" and call.partner_id:
                called = call.partner_id.display_name
            call.display_name = f"{caller} → {called}"

    @api.depends("timeline")
    def _compute_timeline_html(self):
        for call in self:
            call.timeline_html = call._render_timeline()

    def _render_timeline(self):
        """The timeline as an HTML table; every value is escaped (a CallerID
        name comes from the caller)."""
        entries = self.timeline or []
        if not entries:
            return Markup("<p class='text-muted'>%s</p>") % _("Nothing happened yet.")
        tz = pytz.timezone(self.env.user.tz or self.server_id.tz or "UTC")
        start = entries[0]["t"]
        rows = []
        for entry in entries:
            moment = datetime.fromtimestamp(entry["t"], tz)
            rows.append(
                Markup("<tr><td class='text-nowrap'>%s</td><td>+%s</td><td>%s</td></tr>")
                % (
                    moment.strftime("%H:%M:%S"),
                    format_seconds(entry["t"] - start),
                    self._says(entry),
                )
            )
        return Markup(
            "<table class='table table-sm o_asterisk_timeline'><tbody>%s</tbody></table>"
        ) % Markup("").join(rows)

    @staticmethod
    def _device_text(entry):
        device = entry.get("device") or ""
        if entry.get("user_id"):
            return _("%(user)s (%(device)s)", user=entry.get("user"), device=device)
        if device:
            return _("%s, which no PBX user has", device)
        return entry.get("user") or "?"

    def _says(self, entry):
        """One timeline entry as a sentence (escaped by the caller's Markup)."""
        kind = entry.get("k")
        who = entry.get("user") or entry.get("device") or "?"
        texts = {
            "originate_ring": lambda: _("Originate: rang %s first", self._device_text(entry)),
            "ring": lambda: self._ring_text(entry),
            "answer": lambda: _("%s answered", who),
            "dial_end": lambda: _(
                "%(who)s did not answer: %(status)s",
                who=self._device_text(entry) if entry.get("device") else _("The call"),
                status=entry.get("status"),
            ),
            "hangup": lambda: _("%(who)s hung up (%(cause)s)", who=who, cause=entry.get("cause")),
            "transfer": lambda: self._transfer_text(entry),
            "join": lambda: _(
                "%(who)s joined from call %(call)s", who=who, call=entry.get("call") or "?"
            ),
            "moved": lambda: _("Its last channel moved to call %s", entry.get("call")),
            "queue_join": lambda: _(
                "Entered queue %(queue)s (position %(position)s)",
                queue=entry.get("queue"),
                position=entry.get("position") or "?",
            ),
            "queue_leave": lambda: _("Left queue %s", entry.get("queue")),
            "queue_abandon": lambda: _(
                "The caller hung up while waiting in queue %s", entry.get("queue")
            ),
            "agent_called": lambda: _(
                "Queue %(queue)s rang %(member)s",
                queue=entry.get("queue"),
                member=self._member_text(entry),
            ),
            "agent_noanswer": lambda: _(
                "%(member)s did not answer (queue %(queue)s)",
                member=entry.get("user") or entry.get("member"),
                queue=entry.get("queue"),
            ),
            "agent_connect": lambda: _(
                "%(member)s answered (queue %(queue)s, waited %(wait)s s)",
                member=entry.get("user") or entry.get("member"),
                queue=entry.get("queue"),
                wait=entry.get("holdtime") or "?",
            ),
            "pickup": lambda: _(
                "%(by)s picked up the call ringing on %(device)s",
                by=entry.get("by") or "?",
                device=self._device_text(entry),
            ),
            "parked": lambda: _(
                "%(by)s parked %(who)s in space %(space)s (lot %(lot)s)",
                by=entry.get("by") or "?",
                who=who,
                space=entry.get("space"),
                lot=entry.get("lot") or "?",
            ),
            "unparked": lambda: _(
                "%(by)s took %(who)s from parking space %(space)s after %(seconds)s s",
                by=entry.get("by") or "?",
                who=who,
                space=entry.get("space"),
                seconds=entry.get("seconds") or "?",
            ),
            "park_giveup": lambda: _(
                "%(who)s hung up while parked in space %(space)s (%(seconds)s s)",
                who=who,
                space=entry.get("space"),
                seconds=entry.get("seconds") or "?",
            ),
            "park_timeout": lambda: _(
                "Nobody took %(who)s from parking space %(space)s in %(seconds)s s: it rings "
                "%(parker)s again",
                who=who,
                space=entry.get("space"),
                seconds=entry.get("seconds") or "?",
                parker=entry.get("parker") or "?",
            ),
            "originate_failed": lambda: _(
                "Asterisk reports the Originate failed (reason %s)", entry.get("reason")
            ),
            "click_to_dial": lambda: _(
                "%(user)s clicked to dial %(dial)s: their phone (%(device)s) rings first",
                user=entry.get("user"),
                dial=entry.get("dial"),
                device=entry.get("device"),
            ),
            "not_placed": lambda: _("The call could not be placed: %s", entry.get("error")),
            "resync": lambda: _(
                "Ended while Odoo was not connected to the PBX: closed when it reconnected"
            ),
            "adopted": lambda: _(
                "Started while Odoo was not connected to the PBX: found in progress when it "
                "reconnected"
            ),
        }
        return texts.get(kind, lambda: kind)()

    def _ring_text(self, entry):
        text = _("Rang %s", self._device_text(entry))
        if entry.get("popup") is True:
            return _("%s: popup sent", text)
        if entry.get("popup") is False:
            return _("%s: no popup, the user turned popups off", text)
        return text

    def _member_text(self, entry):
        if entry.get("user_id"):
            return _("%(member)s: %(user)s", member=entry.get("member"), user=entry.get("user"))
        return _(
            "%(member)s (%(device)s), which no PBX user has",
            member=entry.get("member"),
            device=entry.get("device"),
        )

    @staticmethod
    def _transfer_text(entry):
        how = entry.get("how")
        if how == "blind":
            return _(
                "%(by)s transferred %(who)s to %(target)s",
                by=entry.get("by") or "?",
                who=entry.get("user") or _("the call"),
                target=entry.get("target"),
            )
        if how == "attended":
            return _(
                "%(by)s transferred the call to %(target)s (attended)",
                by=entry.get("by") or "?",
                target=entry.get("target") or "?",
            )
        return _(
            "%(who)s was redirected to %(target)s",
            who=entry.get("user") or entry.get("device"),
            target=entry.get("target"),
        )

    # -- access -------------------------------------------------------------------------

    def write(self, vals):
        if (
            not self.env.su
            and not self.env.user.has_group("asterisk_common.group_asterisk_admin")
            and set(vals) - USER_WRITABLE
        ):
            raise AccessError(_("Calls are recorded by the PBX: only their notes can be edited."))
        return super().write(vals)

    # -- the AMI handler -----------------------------------------------------------------

    @ami_handler(batch=True, independent=True)
    def ami_call_events(self, events):
        """Channels, dials, bridges, transfers, queues, hangups and CDRs of calls,
        in arrival order: they build the calls and their channels."""
        for server, server_events in events_by_server(self.env, events):
            self._track(server, server_events)

    def _track(self, server, events):
        linkedids, uniqueids = set(), set()
        for event in events:
            for key, value in event.items():
                if not value or not isinstance(value, str):
                    continue
                if key.endswith("inkedid"):  # Linkedid, DestLinkedid, _linkedid...
                    linkedids.add(value)
                elif key.lower().endswith("uniqueid"):
                    uniqueids.add(value)
        unplaced = {
            e["ActionID"]: e
            for e in events
            if e.get("Event") == "OriginateResponse"
            and not e.get("_linkedid")
            and e.get("ActionID")
        }
        if unplaced:
            # A failed Originate that created no channel: only its ActionID
            # names the call (click-to-dial creates the call beforehand).
            for call in self.search_read(
                [("server_id", "=", server.id), ("action_uid", "in", list(unplaced))],
                ["linkedid", "action_uid"],
            ):
                unplaced[call["action_uid"]]["_linkedid"] = call["linkedid"]
                linkedids.add(call["linkedid"])
        calls, channels = self._tracker_load(server.id, linkedids, uniqueids)
        tracker = Tracker(server.id, self._directory(server), calls, channels)
        for call in calls.values():  # placed by click-to-dial, now at the PBX
            if call["tracking"].pop("announce", False):
                call.touch("tracking")
                tracker.announced.append(call)
        for event in events:
            tracker.apply(event)
        self._tracker_save(server, tracker)

    @api.model
    def _directory(self, server):
        """The server's PBX users and devices, as the tracker reads them."""
        self.env.cr.execute(
            """SELECT u.id, u.user_id, p.name, u.extension, c.name, u.popup_incoming
                 FROM asterisk_common_user u
                 JOIN res_users ru ON ru.id = u.user_id
                 JOIN res_partner p ON p.id = ru.partner_id
            LEFT JOIN asterisk_common_user_channel c ON c.pbx_user_id = u.id
                WHERE u.server_id = %s AND u.active""",
            [server.id],
        )
        devices, users, no_popup = {}, {}, set()
        for pbx_user_id, user_id, name, extension, device, popup in self.env.cr.fetchall():
            users[user_id] = (name, extension)
            if device:
                devices[device] = (pbx_user_id, user_id)
            if not popup:
                no_popup.add(user_id)
        region = server._region()
        prefix = server.sudo().outside_prefix or ""

        def normalize(number):
            # Dialled with the outside-line prefix ("0" + "0612345678"): the
            # number is what follows it, when that is a valid one.
            if prefix and number.startswith(prefix) and len(number) > len(prefix):
                found = to_e164(number[len(prefix) :], region)
                if found:
                    return found
            return to_e164(number, region)

        settings = self.env["asterisk_common.settings"]
        return Directory(
            devices,
            users,
            internal_max_digits=settings.get("internal_max_digits"),
            normalize=normalize,
            no_popup=no_popup,
            tz=server.sudo().tz or "UTC",
        )

    @api.model
    def _tracker_load(self, server_id, linkedids, uniqueids):
        """The calls and channels the events name, read in a few queries."""
        self.flush_model()
        self.env["asterisk_calls.channel"].flush_model()
        where = "server_id = %s AND uniqueid = ANY(%s)"
        channel_rows = self._select(
            "asterisk_calls_channel", CHANNEL_COLUMNS, where, [server_id, list(uniqueids)]
        )
        linkedids |= {row["linkedid"] for row in channel_rows}
        where = "server_id = %s AND linkedid = ANY(%s)"
        call_rows = self._select(
            "asterisk_calls_call", CALL_COLUMNS, where, [server_id, list(linkedids)]
        )
        calls = {}
        if call_rows:
            call_ids = [row["id"] for row in call_rows]
            users = self._select_rel("asterisk_calls_call_user_rel", call_ids)
            missed = self._select_rel("asterisk_calls_call_missed_rel", call_ids)
            for row in call_rows:
                row["user_ids"] = tuple(sorted(users.get(row["id"], ())))
                row["missed_user_ids"] = tuple(sorted(missed.get(row["id"], ())))
                for key in CALL_DATETIMES:
                    row[key] = to_epoch(row[key])
                row["timeline"] = row["timeline"] or []
                row["tracking"] = row["tracking"] or {"dials": {}, "rang": [], "talked": []}
                calls[row["linkedid"]] = Record(row, row.pop("id"))
            # The other channels of these calls: "all channels ended?", bridges.
            known = {row["uniqueid"] for row in channel_rows}
            others = self._select(
                "asterisk_calls_channel", CHANNEL_COLUMNS, where, [server_id, list(calls)]
            )
            channel_rows += [row for row in others if row["uniqueid"] not in known]
        channels = {}
        for row in channel_rows:
            for key in CHANNEL_DATETIMES:
                row[key] = to_epoch(row[key])
            channels[row["uniqueid"]] = Record(row, row.pop("id"))
        return calls, channels

    def _select(self, table, columns, where, params):
        self.env.cr.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {where}",  # noqa: S608 - constants
            params,
        )
        return [dict(zip(columns, row, strict=True)) for row in self.env.cr.fetchall()]

    def _select_rel(self, table, call_ids):
        self.env.cr.execute(
            f"SELECT call_id, user_id FROM {table} WHERE call_id = ANY(%s)",  # noqa: S608
            [call_ids],
        )
        result = defaultdict(list)
        for call_id, user_id in self.env.cr.fetchall():
            result[call_id].append(user_id)
        return result

    def _tracker_save(self, server, tracker):
        """Write what the tracker changed, in a few statements: new calls and
        channels in one INSERT each, changed ones in batched UPDATEs of just
        the changed columns. Raw SQL on purpose: this runs for every batch of
        call events, and these rows belong to the tracker (their computed
        columns are filled here; the ORM cache is invalidated after)."""
        self._find_partners(tracker.calls.values())
        self._resolve_actions(tracker.calls.values())
        tz = pytz.timezone(tracker.directory.tz or "UTC")
        calls = list(tracker.calls.values())
        new_calls = [c for c in calls if c.id is None]
        tracker.created = list(new_calls)
        for call in calls:
            if call.id is not None:
                self._call_derived(call, tz)
        now = fields.Datetime.now()
        if new_calls:
            self._sql_create_calls(new_calls, tz)
        self._sql_m2m([c for c in calls if c not in new_calls])
        self._sql_update(
            "asterisk_calls_call",
            [c for c in calls if c not in new_calls],
            CALL_DATETIMES,
            {"write_date": now, "write_uid": self.env.uid},
        )
        call_ids = {linkedid: call.id for linkedid, call in tracker.calls.items()}
        channels = list(tracker.channels.values())
        for chan in channels:
            if "linkedid" in chan.changed:
                chan.values["call_id"] = call_ids.get(chan["linkedid"])
                chan.changed.add("call_id")
        new_channels = [c for c in channels if c.id is None]
        if new_channels:
            rows = [self._sql_row(c.values, CHANNEL_DATETIMES) for c in new_channels]
            for chan, record_id in zip(
                new_channels, self._sql_insert("asterisk_calls_channel", rows), strict=True
            ):
                chan.id = record_id
        self._sql_update(
            "asterisk_calls_channel",
            [c for c in channels if c not in new_channels],
            CHANNEL_DATETIMES,
        )
        for record in calls + channels:
            record.changed.clear()
        self.browse([c.id for c in calls]).invalidate_recordset()
        self.env["asterisk_calls.channel"].browse([c.id for c in channels]).invalidate_recordset()
        removed = [c.id for c in tracker.removed if c.id]
        if removed:
            self.browse(removed).unlink()
        self._after_tracking(server, tracker)

    def _sql_create_calls(self, records, tz):
        """INSERT tracker call records (their ``id`` is set), with their users."""
        now = fields.Datetime.now()
        for call in records:
            self._call_derived(call, tz)
        rows = [self._sql_row(c.values, CALL_DATETIMES) for c in records]
        for row in rows:
            row.update(active=True, followup=row.get("followup") or False)
            row.update(create_uid=self.env.uid, write_uid=self.env.uid)
            row.update(create_date=now, write_date=now)
        for call, record_id in zip(records, self._sql_insert(self._table, rows), strict=True):
            call.id = record_id
        self._sql_m2m(records)

    @staticmethod
    def _call_derived(call, tz):
        """The stored computed columns the ORM would have filled."""
        if "started_at" in call.changed and call["started_at"]:
            local = datetime.fromtimestamp(call["started_at"], tz)
            call.set("hour_of_day", local.hour)
            call.set("weekday", str(local.weekday()))
        if {"ring_seconds", "talk_seconds"} & call.changed:
            call.set("duration_seconds", (call["ring_seconds"] or 0) + (call["talk_seconds"] or 0))

    def _resolve_actions(self, calls):
        """``action_id`` of the calls an Originate answered (by its ActionID)."""
        todo = [c for c in calls if "action_uid" in c.changed and c["action_uid"]]
        if not todo:
            return
        self.env["asterisk_common.action"].flush_model(["action_uid"])
        self.env.cr.execute(
            "SELECT action_uid, id FROM asterisk_common_action WHERE action_uid = ANY(%s)",
            [[c["action_uid"] for c in todo]],
        )
        found = dict(self.env.cr.fetchall())
        for call in todo:
            call.set("action_id", found.get(call["action_uid"]))

    @staticmethod
    def _sql_row(values, datetimes, keys=None):
        """Column values of a tracker record, as psycopg2 takes them."""
        row = {}
        for key in keys if keys is not None else values:
            if key in M2M_TABLES:
                continue
            value = values.get(key)
            if key in datetimes:
                value = to_datetime(value) or None
            elif key in JSON_COLUMNS:
                value = Json(value) if value is not None else None
            elif key in MANY2ONE_COLUMNS:
                value = value or None
            elif value is False and key not in BOOLEAN_COLUMNS:
                value = None  # as the ORM stores an empty Char, not the text 'false'
            row[key] = value
        return row

    # Table and column names below are the models' own, never data.
    def _sql_insert(self, table, rows):
        columns = sorted({key for row in rows for key in row})
        names = ", ".join(f'"{c}"' for c in columns)
        result = execute_values(
            self.env.cr._obj,
            f'INSERT INTO "{table}" ({names}) VALUES %s RETURNING id',  # noqa: S608
            [tuple(row.get(c) for c in columns) for row in rows],
            fetch=True,
        )
        return [row[0] for row in result]

    def _sql_update(self, table, records, datetimes, extra=None):
        """One UPDATE per set of changed columns, sent in pages."""
        groups = defaultdict(list)
        for record in records:
            keys = tuple(sorted(k for k in record.changed if k not in M2M_TABLES))
            if keys:
                groups[keys].append(record)
        for keys, group in groups.items():
            columns = list(keys) + list(extra or ())
            assignments = ", ".join(f'"{c}" = %s' for c in columns)
            params = []
            for record in group:
                row = self._sql_row(record.values, datetimes, keys)
                params.append([row[k] for k in keys] + list((extra or {}).values()) + [record.id])
            execute_batch(
                self.env.cr._obj,
                f'UPDATE "{table}" SET {assignments} WHERE id = %s',  # noqa: S608
                params,
                page_size=200,
            )

    def _sql_m2m(self, calls):
        for field, table in M2M_TABLES.items():
            changed = [c for c in calls if field in c.changed]
            if not changed:
                continue
            self.env.cr.execute(
                f'DELETE FROM "{table}" WHERE call_id = ANY(%s)',  # noqa: S608
                [[c.id for c in changed]],
            )
            pairs = [(c.id, user_id) for c in changed for user_id in c[field] or ()]
            if pairs:
                execute_values(
                    self.env.cr._obj,
                    f'INSERT INTO "{table}" (call_id, user_id) VALUES %s '  # noqa: S608
                    "ON CONFLICT DO NOTHING",
                    pairs,
                )

    def _find_partners(self, calls):
        """The contact of each call whose outside number is new: written with
        the rest of the call, so a popup has it as soon as the call rings."""
        todo = [c for c in calls if "external_number" in c.changed]
        numbers = {c["external_number"] for c in todo if c["external_number"]}
        found = self.env["res.partner"]._pbx_find(numbers) if numbers else {}
        for call in todo:
            call.set("partner_id", found.get(call["external_number"]) or None)

    def _after_tracking(self, server, tracker):
        """Once the batch is written: the follow-up of the calls that ended."""
        calls = [c for c in tracker.calls.values() if c.id and c not in tracker.removed]
        if tracker.ended:
            self._trigger_followup()
            self.env["asterisk_calls.recording"]._calls_ended(
                self.browse([c.id for c in tracker.ended if c.id])
            )
        if tracker.answered:
            answered = [tracker.calls[linkedid].id for linkedid in tracker.answered]
            self.browse([i for i in answered if i])._auto_record()
        self._notify_calls(tracker, calls)

    def _trigger_followup(self):
        """Run the follow-up job soon. At most once per few seconds and process:
        each trigger costs a row and a NOTIFY on a new connection, and one run
        follows up every call ended meanwhile."""
        now = time.monotonic()
        dbname = self.env.cr.dbname
        if now - _followup_triggered.get(dbname, -FOLLOWUP_EVERY) < FOLLOWUP_EVERY:
            return
        _followup_triggered[dbname] = now
        self.env.ref("asterisk_calls.cron_call_followup")._trigger(
            fields.Datetime.now() + timedelta(seconds=FOLLOWUP_EVERY)
        )

    def _notify_calls(self, tracker, calls):
        """The calls of a batch changed: popups open for the users whose phone
        started ringing, and close for everyone once the call is answered or
        over; the lists of calls in progress refresh."""
        changed = {c.id for c in tracker.created + tracker.announced + tracker.ended if c.id}
        changed |= {tracker.calls[linkedid].id for linkedid in tracker.answered}
        if changed:
            self.browse(sorted(i for i in changed if i))._notify_live()
        if tracker.rings:
            self._send_popups(tracker)
        for linkedid, user_ids in tracker.stops.items():
            call = tracker.calls.get(linkedid)
            if call is not None and call.id:
                self.browse(call.id)._close_popups(sorted(user_ids))
        # Who clicked to dial hears how it went: answered, or why not.
        answered = [tracker.calls[linkedid] for linkedid in tracker.answered]
        answered = [c.id for c in answered if c.id and c["action_uid"] and c["caller_user_id"]]
        failed = [
            c.id
            for c in tracker.ended
            if c["action_uid"] and c["caller_user_id"] and c["status"] != "answered"
        ]
        if answered:
            self.browse(answered).sudo()._notify_dial_answered()
        for _linkedid, user_id, space, who in tracker.parked:
            # The Park action's reply does not say where: this event does.
            self.env["res.users"].browse(user_id)._bus_send(
                "simple_notification",
                {
                    "type": "info",
                    "title": _("%(who)s is parked in space %(space)s", who=who, space=space),
                    "message": _("Dial %s from any phone to take the call.", space),
                    "sticky": True,
                },
            )
        if failed:
            self.browse(failed).sudo()._notify_dial_outcome()

    def _notify_live(self):
        """Calls started, were answered or ended: the users in them and the
        supervisors (who see every call) refresh their lists of live calls.
        One message per batch and user, whatever the number of calls."""
        calls = self.sudo()
        for user in calls.user_ids:
            mine = calls.filtered(lambda c, u=user: u in c.user_ids)
            user._bus_send("asterisk_calls.live", {"call_ids": mine.ids})
        supervisors = self.env.ref("asterisk_calls.group_asterisk_supervisor")
        self.env["bus.bus"]._sendone(supervisors, "asterisk_calls.live", {"call_ids": calls.ids})

    @api.model
    def pbx_my_live_calls(self):
        """The current user's calls in progress, for the systray."""
        calls = self.search(
            [("user_ids", "in", [self.env.uid]), ("status", "in", LIVE)], order="started_at"
        )
        return [
            {
                "id": call.id,
                "name": call.display_name,
                "status": call.status,
                "direction": call.direction,
                "started_at": fields.Datetime.to_string(call.started_at),
                "answered_at": fields.Datetime.to_string(call.answered_at)
                if call.answered_at
                else False,
            }
            for call in calls
        ]

    def _notify_dial_answered(self):
        """Tell who clicked to dial that the other side answered."""
        for call in self:
            call.caller_user_id._bus_send(
                "simple_notification",
                {
                    "type": "success",
                    "title": _("Call to %s", call._dial_target_name()),
                    "message": _("Answered: you are connected."),
                    "sticky": False,
                },
            )

    def _dial_target_name(self):
        return self.partner_id.display_name or self.called_name or self.called_number

    def _notify_dial_outcome(self):
        """Tell who clicked to dial why the other side was not reached (their
        own phone's failures are told by the Originate's response)."""
        reasons = {
            "busy": _("the line is busy"),
            "no_answer": _("nobody answered"),
            "abandoned": _("you hung up before an answer"),
            "failed": _("the call could not be connected"),
        }
        for call in self:
            if (call.tracking or {}).get("originate_reason") not in (None, "4"):
                continue
            call.caller_user_id._bus_send(
                "simple_notification",
                {
                    "type": "warning",
                    "title": _("Call to %s", call._dial_target_name()),
                    "message": reasons.get(call.status, call.status),
                    "sticky": False,
                },
            )

    def _send_popups(self, tracker):
        users = defaultdict(list)
        for linkedid, user_id in tracker.rings:
            if user_id not in tracker.directory.no_popup:
                users[tracker.calls[linkedid].id].append(user_id)
        if not users:
            return
        prefs = {
            (p.user_id.id, p.server_id.id): p
            for p in self.env["asterisk_common.user"]
            .sudo()
            .search([("user_id", "in", [u for ids in users.values() for u in ids])])
        }
        for call in self.browse(list(users)).sudo():
            for user in self.env["res.users"].browse(users[call.id]):
                pref = prefs.get((user.id, call.server_id.id))
                user._bus_send(
                    "asterisk_calls.ring",
                    dict(
                        call._popup_payload(user),
                        sticky=bool(pref and pref.popup_sticky),
                        open_partner_on_answer=bool(pref and pref.open_partner_form),
                    ),
                )

    def _popup_payload(self, user):
        """What the incoming-call popup shows ``user``: plain values, rendered
        as text by the client (the caller's name comes from the caller)."""
        self.ensure_one()
        partner = self.partner_id
        return dict(
            {
                "call_id": self.id,
                "linkedid": self.linkedid,
                "direction": self.direction,
                "caller_number": self.caller_number or "",
                "caller_name": self.caller_name or "",
                "called_number": self.called_number or "",
                "queue": self.queue or "",
                "partner": {"id": partner.id, "name": partner.display_name} if partner else False,
            },
            **self._popup_history(user, partner, self.external_number),
        )

    @api.model
    def _popup_history(self, user, partner, external_number):
        """The caller's last calls (but this one) and the contact's open
        activities, those ``user`` may read, as the popup lists them."""
        last_calls = self.with_user(user).search(
            [
                ("id", "not in", self.ids),
                "|",
                ("partner_id", "=", partner.id) if partner else (0, "=", 1),
                ("external_number", "=", external_number or "-"),
            ],
            limit=5,
        )
        activities = self.env["mail.activity"].with_user(user)
        if partner:
            activities = activities.search(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)],
                limit=5,
                order="date_deadline",
            )
        return {
            "last_calls": [
                {
                    "id": c.id,
                    "started_at": fields.Datetime.to_string(c.started_at),
                    "direction": c.direction,
                    "status": dict(STATUSES)[c.status],
                    "answered_by": c.answered_by_id.name or "",
                }
                for c in last_calls
            ],
            "activities": [
                {
                    "id": a.id,
                    "summary": a.summary or a.activity_type_id.name or "",
                    "date_deadline": fields.Date.to_string(a.date_deadline),
                }
                for a in activities
            ],
        }

    def _close_popups(self, user_ids):
        """The call was answered or is over: its popups close (a sticky one
        stays, showing how it ended)."""
        self.ensure_one()
        call = self.sudo()
        prefs = {
            p.user_id.id: p
            for p in self.env["asterisk_common.user"]
            .sudo()
            .search([("user_id", "in", user_ids), ("server_id", "=", call.server_id.id)])
        }
        for user in self.env["res.users"].browse(user_ids):
            pref = prefs.get(user.id)
            open_partner = (
                call.partner_id.id
                if pref and pref.open_partner_form and call.answered_by_id == user
                else False
            )
            user._bus_send(
                "asterisk_calls.ring_end",
                {
                    "call_id": call.id,
                    "status": call.status,
                    "answered_by": call.answered_by_id.name or "",
                    "answered_by_me": call.answered_by_id == user,
                    "open_partner_id": open_partner,
                },
            )

    # -- after a reconnect ------------------------------------------------------------

    @api.model
    def _resync(self, server, channels, snapshot_time):
        """Close the calls whose channels the PBX no longer has; the live ones
        stay (their events keep coming); calls that started while Odoo was
        not connected and are still up are created from the channel list."""
        alive = {c.get("Uniqueid") for c in channels}
        live = self.search([("server_id", "=", server.id), ("status", "in", LIVE)])
        linkedids = set(live.mapped("linkedid")) | {
            c["Linkedid"] for c in channels if c.get("Linkedid")
        }
        if not linkedids:
            return 0
        calls, channels_ = self._tracker_load(server.id, linkedids, set())
        tracker = Tracker(server.id, self._directory(server), calls, channels_)
        closed = sum(
            1 for call in list(calls.values()) if tracker.close_stale(call, alive, snapshot_time)
        )
        adopted = tracker.adopt(channels, snapshot_time or time.time())
        self._tracker_save(server, tracker)  # popups and live lists too
        if closed or adopted:
            _logger.info(
                "%s: resync closed %d call(s), found %d that started meanwhile",
                server.name,
                closed,
                len(adopted),
            )
        return closed

    # -- follow-up of ended calls ------------------------------------------------------------

    @api.model
    def _cron_followup(self, limit=200):
        """Once per ended call, off the event path: the contact (created for
        unknown callers if asked), the missed-call to-dos, the chatter logs."""
        calls = self.search([("followup", "=", True)], limit=limit, order="id")
        if not calls:
            return
        calls._followup()
        calls.with_context(tracking_disable=True).write({"followup": False})
        if len(calls) == limit:
            self.env.ref("asterisk_calls.cron_call_followup")._trigger()

    def _followup(self):
        settings = self.env["asterisk_common.settings"]
        self._followup_partners(create=settings.get("create_unknown_partner"))
        self._followup_links()
        if settings.get("missed_call_activity"):
            self._schedule_missed_activities()
        if settings.get("log_calls"):
            for call in self:
                records = call._followup_records()
                if records:
                    body = call._chatter_body()
                    for record in records:
                        record._message_log(body=body)

    def _followup_partners(self, create=False):
        """The contact of each outside number (created for unknown callers
        when ``create``)."""
        unknown = self.filtered(lambda c: c.external_number and not c.partner_id)
        if unknown:
            found = self.env["res.partner"]._pbx_find(set(unknown.mapped("external_number")))
            for call in unknown:
                if found.get(call.external_number):
                    call.partner_id = found[call.external_number]
        if create:
            for call in self.filtered(
                lambda c: c.direction == "inbound" and c.external_number and not c.partner_id
            ):
                call.partner_id = self.env["res.partner"].create(
                    {
                        "name": call.caller_name or call.external_number,
                        "phone": call.external_number,
                        "comment": _("Created from an incoming call."),
                    }
                )

    def _followup_links(self):
        """Hook: link the calls to other records (leads, employees)."""

    def _followup_records(self):
        """The records whose chatter logs this call, a list (glue modules add
        leads, employees)."""
        self.ensure_one()
        return [self.partner_id] if self.partner_id else []

    def _schedule_missed_activities(self):
        activity_type = self.env.ref("asterisk_calls.mail_activity_type_missed_call")
        values = []
        model_id = self.env["ir.model"]._get_id(self._name)
        for call in self.filtered("missed_user_ids"):
            caller = call.partner_id.display_name or call.caller_name or call.caller_number
            for user in call.missed_user_ids:
                values.append(
                    {
                        "res_model_id": model_id,
                        "res_id": call.id,
                        "activity_type_id": activity_type.id,
                        "user_id": user.id,
                        "summary": _("Call back %s", caller or _("the caller")),
                        "date_deadline": fields.Date.context_today(call),
                        # An Html field: the caller's name is escaped, not sanitized.
                        "note": Markup("<p>%s</p>")
                        % _(
                            "Missed call from %(caller)s (%(number)s) at %(time)s.",
                            caller=caller or "?",
                            number=call.caller_number or "?",
                            time=fields.Datetime.context_timestamp(call, call.started_at).strftime(
                                "%Y-%m-%d %H:%M"
                            ),
                        ),
                    }
                )
        if values:
            self.env["mail.activity"].sudo().create(values)

    def _chatter_body(self):
        self.ensure_one()
        direction = dict(DIRECTIONS)[self.direction]
        status = dict(STATUSES)[self.status]
        who = self.answered_by_id.name or self.called_name or self.called_number or ""
        if self.direction == "outbound":
            who = self.caller_name or self.caller_number or ""
        body = _(
            "%(direction)s call, %(status)s: %(caller)s → %(called)s",
            direction=direction,
            status=status.lower(),
            caller=self.caller_name or self.caller_number or "?",
            called=self.called_name or self.called_number or "?",
        )
        if self.status == "answered":
            body = _(
                "%(body)s; talked %(talk)s with %(who)s",
                body=body,
                talk=format_seconds(self.talk_seconds),
                who=who,
            )
        return Markup("%s <a href='/odoo/action-asterisk_calls.call_action/%s'>#%s</a>") % (
            escape(body),
            self.id,
            self.id,
        )

    # -- retention --------------------------------------------------------------------------

    @api.model
    def _cron_retention(self):
        days = self.env["asterisk_common.settings"].get("call_retention_days")
        if not days:
            return
        limit = fields.Datetime.now() - timedelta(days=days)
        old = self.with_context(active_test=False).search(
            [("started_at", "<", limit), ("status", "not in", LIVE)]
        )
        if self.env["asterisk_common.settings"].get("call_retention_action") == "delete":
            # A recording someone chose to keep keeps its call.
            kept = self.env["asterisk_calls.recording"].search(
                [("call_id", "in", old.ids), ("keep", "=", True)]
            )
            old = old - kept.call_id
            old.unlink()
        else:
            old.filtered("active").with_context(tracking_disable=True).write({"active": False})
        _logger.info("call retention: %d call(s) older than %d days", len(old), days)

    # -- actions ----------------------------------------------------------------------------

    def action_view_partner(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "res.partner",
            "res_id": self.partner_id.id,
            "view_mode": "form",
        }
