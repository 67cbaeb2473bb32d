import threading
import time

from odoo import _, api, fields, models
from odoo.sql_db import db_connect
from odoo.tools import SQL, create_index

from ..tools.numbers import digits, searchable

# The numbers -> partner cache of this process, per database. Entries are
# valid for one value of the numbers version, a PostgreSQL sequence bumped
# after each commit that changed a partner's numbers; a stale entry also
# expires after CACHE_TTL seconds (a process killed between its commit and
# the bump).
CACHE_TTL = 600
CACHE_SIZE = 50000
_cache_lock = threading.Lock()
_caches = {}  # dbname -> {"version": int, "entries": {number: (partner_id, time)}}
NUMBER_FIELDS = {"phone", "mobile", "country_id", "parent_id", "active", "company_id"}


class ResPartner(models.Model):
    _inherit = "res.partner"

    pbx_phone_e164 = fields.Char(
        string="Phone (E.164)",
        compute="_compute_pbx_numbers",
        store=True,
        index=True,
        help="The phone in E.164 form (else its digits): what incoming calls are matched on.",
    )
    pbx_mobile_e164 = fields.Char(
        string="Mobile (E.164)", compute="_compute_pbx_numbers", store=True, index=True
    )
    pbx_call_count = fields.Integer(string="Calls", compute="_compute_pbx_call_count")

    def init(self):
        super().init()
        # Suffix search ("numbers dialled without their prefixes") reads the
        # reversed number by prefix.
        for column in ("pbx_phone_e164", "pbx_mobile_e164"):
            create_index(
                self.env.cr,
                f"res_partner_{column}_reverse_idx",
                "res_partner",
                [f"reverse({column}) text_pattern_ops"],
                where=f"{column} IS NOT NULL",
            )
        self.env.cr.execute("CREATE SEQUENCE IF NOT EXISTS asterisk_calls_numbers_version")

    @api.depends("phone", "mobile", "country_id", "parent_id.country_id", "company_id")
    def _compute_pbx_numbers(self):
        for partner in self:
            country = (
                partner.country_id
                or partner.parent_id.country_id
                or partner.company_id.country_id
                or self.env.company.country_id
            )
            region = country.code or None
            partner.pbx_phone_e164 = searchable(partner.phone, region) if partner.phone else False
            partner.pbx_mobile_e164 = (
                searchable(partner.mobile, region) if partner.mobile else False
            )

    @api.depends_context("uid")
    def _compute_pbx_call_count(self):
        Call = self.env["asterisk_calls.call"]
        for partner in self:
            if not partner.id:
                partner.pbx_call_count = 0
                continue
            partner.pbx_call_count = Call.search_count(
                [("partner_id", "child_of", partner.commercial_partner_id.id)]
                if partner.is_company
                else [("partner_id", "=", partner.id)]
            )

    # -- keeping the cache right ------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        if any(vals.get("phone") or vals.get("mobile") for vals in vals_list):
            self._pbx_numbers_changed()
        return partners

    def write(self, vals):
        result = super().write(vals)
        if NUMBER_FIELDS.intersection(vals):
            self._pbx_numbers_changed()
        return result

    def unlink(self):
        numbered = any(p.phone or p.mobile for p in self)
        result = super().unlink()
        if numbered:
            self._pbx_numbers_changed()
        return result

    def _pbx_numbers_changed(self):
        """Bump the numbers version once this transaction commits: every
        process then drops its cache before its next lookup. After the commit,
        not before: a lookup in between would cache the old numbers under the
        new version."""
        cr = self.env.cr
        if cr.postcommit.data.get("asterisk_calls.numbers"):
            return
        cr.postcommit.data["asterisk_calls.numbers"] = True
        dbname = cr.dbname

        def bump():
            with db_connect(dbname).cursor() as bump_cr:
                bump_cr.execute("SELECT nextval('asterisk_calls_numbers_version')")

        cr.postcommit.add(bump)

    # -- lookup ---------------------------------------------------------------------

    @api.model
    def _pbx_numbers_version(self):
        self.env.cr.execute("SELECT last_value FROM asterisk_calls_numbers_version")
        return self.env.cr.fetchone()[0]

    @api.model
    def _pbx_find(self, numbers, suffix_digits=None):
        """``{number: partner_id or False}`` for numbers stored as
        :func:`~..tools.numbers.searchable` gives them: exact match on phone or
        mobile first, then on the last ``suffix_digits`` digits."""
        numbers = {n for n in numbers if n}
        if not numbers:
            return {}
        if suffix_digits is None:
            suffix_digits = self.env["asterisk_common.settings"].get("lookup_suffix_digits")
        dbname = self.env.cr.dbname
        version = self._pbx_numbers_version()
        now = time.monotonic()
        found, missing = {}, set()
        with _cache_lock:
            cache = _caches.get(dbname)
            if cache is None or cache["version"] != version:
                cache = _caches[dbname] = {"version": version, "entries": {}}
            entries = cache["entries"]
            for number in numbers:
                hit = entries.get(number)
                if hit is not None and now - hit[1] < CACHE_TTL:
                    found[number] = hit[0]
                else:
                    missing.add(number)
        if missing:
            looked_up = self._pbx_search(missing, suffix_digits)
            found.update(looked_up)
            # What this transaction changed may yet be rolled back: not cached.
            if self.env.cr.postcommit.data.get("asterisk_calls.numbers"):
                return found
            with _cache_lock:
                if cache["version"] == version:
                    if len(entries) + len(looked_up) > CACHE_SIZE:
                        entries.clear()
                    entries.update((n, (pid, now)) for n, pid in looked_up.items())
        return found

    @api.model
    def _pbx_search(self, numbers, suffix_digits):
        self.flush_model(["active", "pbx_phone_e164", "pbx_mobile_e164", "commercial_partner_id"])
        cr = self.env.cr
        matches = {n: [] for n in numbers}
        cr.execute(
            SQL(
                """SELECT id, pbx_phone_e164, pbx_mobile_e164, commercial_partner_id
                     FROM res_partner
                    WHERE active AND (pbx_phone_e164 = ANY(%(n)s) OR pbx_mobile_e164 = ANY(%(n)s))
                    ORDER BY id""",
                n=list(numbers),
            )
        )
        for pid, phone, mobile, commercial in cr.fetchall():
            for number in {phone, mobile} & numbers:
                matches[number].append((pid, commercial))
        if suffix_digits:
            for number in [n for n, found in matches.items() if not found]:
                tail = digits(number)[-suffix_digits:]
                if len(tail) < suffix_digits:
                    continue
                pattern = tail[::-1] + "%"
                cr.execute(
                    SQL(
                        """SELECT id, commercial_partner_id FROM res_partner
                            WHERE active AND (reverse(pbx_phone_e164) LIKE %(p)s
                                              OR reverse(pbx_mobile_e164) LIKE %(p)s)
                            ORDER BY id LIMIT 20""",
                        p=pattern,
                    )
                )
                matches[number] = cr.fetchall()
        return {number: self._pbx_best(found) for number, found in matches.items()}

    @staticmethod
    def _pbx_best(found):
        """One partner for a number: the only one; the company when the number
        is shared inside one company (a switchboard); else the oldest."""
        if not found:
            return False
        if len(found) == 1:
            return found[0][0]
        commercials = {commercial for _pid, commercial in found}
        if len(commercials) == 1:
            return commercials.pop()
        return found[0][0]

    def action_view_pbx_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("asterisk_calls.call_action")
        if self.is_company:
            domain = [("partner_id", "child_of", self.commercial_partner_id.id)]
        else:
            domain = [("partner_id", "=", self.id)]
        action.update(
            domain=domain,
            context={"search_default_group_by_day": 0},
            # display_name is what Odoo 18's breadcrumb shows.
            name=_("Calls of %s", self.display_name),
            display_name=_("Calls of %s", self.display_name),
        )
        return action
