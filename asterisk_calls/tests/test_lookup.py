from unittest.mock import patch

from odoo.addons.asterisk_calls.models import res_partner

from ..tools.numbers import readable, to_e164
from .common import CallsCase


class TestLookup(CallsCase):
    """Caller lookup: numbers in E.164, exact match first, then the last
    digits; the cache follows the partners' numbers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.company = Partner.create(
            {"name": "Dupont SA", "is_company": True, "phone": "01 55 51 23 45",
             "country_id": cls.env.ref("base.fr").id}
        )  # fmt: skip
        cls.contact = Partner.create(
            {"name": "Marie Dupont", "parent_id": cls.company.id, "mobile": "06 12 34 56 78"}
        )
        cls.colleague = Partner.create(
            {"name": "Paul Dupont", "parent_id": cls.company.id, "phone": "+33 1 55 51 23 45"}
        )
        cls.us = Partner.create(
            {"name": "Acme Inc", "is_company": True, "phone": "(415) 555-0132",
             "country_id": cls.env.ref("base.us").id}
        )  # fmt: skip

    def find(self, number, region="FR"):
        e164 = to_e164(number, region) or number
        return self.env["res.partner"].browse(self.env["res.partner"]._pbx_find({e164})[e164])

    def test_outside_line_prefix_is_not_part_of_the_number(self):
        self.server.sudo().write({"outside_prefix": "0", "country_id": self.env.ref("base.fr").id})
        directory = self.env["asterisk_calls.call"]._directory(self.server)
        self.assertEqual(directory.outside("00612345678"), "+33612345678")
        self.assertEqual(directory.outside("0612345678"), "+33612345678")  # without it
        self.assertEqual(directory.outside("0033612345678"), "+33612345678")
        self.server.sudo().outside_prefix = "9"
        directory = self.env["asterisk_calls.call"]._directory(self.server)
        self.assertEqual(directory.outside("90612345678"), "+33612345678")
        self.assertEqual(directory.outside("0612345678"), "+33612345678")

    def test_numbers_are_stored_in_e164(self):
        self.assertEqual(self.contact.pbx_mobile_e164, "+33612345678")  # the company's country
        self.assertEqual(self.company.pbx_phone_e164, "+33155512345")
        self.assertEqual(self.us.pbx_phone_e164, "+14155550132")

    def test_formats_find_the_same_contact(self):
        for number in ("0612345678", "06 12 34 56 78", "+33612345678", "0033612345678"):
            with self.subTest(number=number):
                self.assertEqual(self.find(number), self.contact)
        self.assertEqual(self.find("+1 415 555 0132"), self.us)
        self.assertEqual(self.find("4155550132", region="US"), self.us)

    def test_national_number_without_trunk_prefix(self):
        self.assertEqual(self.find("612345678"), self.contact)

    def test_suffix_match_for_numbers_without_prefix(self):
        # A trunk that sends a foreign caller's number without its country code.
        self.assertEqual(self.find("4155550132"), self.us)
        self.env["ir.config_parameter"].set_param("asterisk_calls.lookup_suffix_digits", "0")
        res_partner._caches.clear()
        self.assertFalse(self.find("4155550132"))

    def test_short_numbers_do_not_match_by_suffix(self):
        self.assertFalse(self.find("5678"))

    def test_shared_switchboard_number_gives_the_company(self):
        self.assertEqual(self.find("0155512345"), self.company)

    def test_archived_contacts_are_not_found(self):
        self.contact.active = False
        res_partner._caches.clear()
        self.assertFalse(self.find("0612345678"))

    def test_cache_dropped_when_numbers_change(self):
        Partner = self.env["res.partner"]
        self.env.cr.postcommit.clear()  # as if setUpClass had committed
        self.assertFalse(self.find("0698765432"))
        queries = []
        with patch.object(type(Partner), "_pbx_search", lambda self, n, s: queries.append(n) or {}):
            self.assertFalse(self.find("0698765432"))  # cached: no query
        self.assertEqual(queries, [])
        newcomer = Partner.create({"name": "Newcomer", "mobile": "06 98 76 54 32"})
        self.assertTrue(self.env.cr.postcommit.data.get("asterisk_calls.numbers"))
        self.env.cr.postcommit.run()  # what a commit does: bump the version
        self.assertEqual(self.find("0698765432"), newcomer)
        newcomer.mobile = "06 00 00 00 01"
        self.env.cr.postcommit.run()
        self.assertFalse(self.find("0698765432"))

    def test_uncommitted_numbers_are_not_cached(self):
        Partner = self.env["res.partner"]
        self.env.cr.postcommit.clear()
        Partner.create({"name": "Maybe", "mobile": "06 11 11 11 11"})
        self.assertTrue(self.find("0611111111"))
        self.assertNotIn("+33611111111", res_partner._caches[self.env.cr.dbname]["entries"])

    def test_unrelated_writes_keep_the_cache(self):
        self.env.cr.postcommit.clear()
        self.contact.comment = "likes calls"
        self.assertFalse(self.env.cr.postcommit.data.get("asterisk_calls.numbers"))

    def test_readable_numbers(self):
        self.assertEqual(readable("+33612345678", "FR"), "06 12 34 56 78")
        self.assertEqual(readable("+14155550132", "FR"), "+1 415-555-0132")
        self.assertEqual(readable("201", "FR"), "201")

    def test_invalid_numbers_keep_their_digits(self):
        partner = self.env["res.partner"].create({"name": "Odd", "phone": "ext. 4412"})
        self.assertEqual(partner.pbx_phone_e164, "4412")
