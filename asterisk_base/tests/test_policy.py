from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError

from .common import ATTACKER, ATTACKER6, PBX_HOST, ProtectionCase, security_event


class TestPolicy(ProtectionCase):
    def test_ten_sip_failures_in_a_minute_ban_for_an_hour(self):
        self.attack(ATTACKER, 9, step=5.0)
        self.assertFalse(self.bans(ATTACKER), "9 failures: below the threshold")
        self.attack(ATTACKER, 1, start=self.now + 50)
        ban = self.bans(ATTACKER)
        self.assertEqual(len(ban), 1)
        self.assertEqual(ban.origin, "policy")
        self.assertEqual(ban.policy_id, self.env.ref("asterisk_base.ban_policy_sip"))
        self.assertEqual(ban.failures, 10)
        self.assertEqual(ban.accounts, "100")
        self.assertEqual(ban.offense, 1)
        self.assertFalse(ban.permanent)
        self.assertAlmostEqual((ban.expires_at - ban.banned_at).total_seconds(), 3600, delta=1)
        # More failures do not ban twice.
        self.attack(ATTACKER, 20, start=self.now + 51, step=0.1)
        self.assertEqual(len(self.bans(ATTACKER)), 1)

    def test_slow_failures_are_not_an_attack(self):
        # 30 failures, one every 10 s: never 10 within a minute.
        self.attack(ATTACKER, 30, step=10.0)
        self.assertFalse(self.bans(ATTACKER))

    def test_ami_is_stricter(self):
        self.attack(ATTACKER, 5, service="AMI", account="admin")
        ban = self.bans(ATTACKER)
        self.assertEqual(ban.policy_id, self.env.ref("asterisk_base.ban_policy_ami"))
        self.assertIn("5 failures", ban.reason)

    def test_unknown_service_uses_the_default_policy(self):
        self.attack(ATTACKER, 10, service="IAX2")
        self.assertEqual(
            self.bans(ATTACKER).policy_id, self.env.ref("asterisk_base.ban_policy_default")
        )

    def test_repeat_offenders_are_banned_longer_then_for_good(self):
        policy = self.env.ref("asterisk_base.ban_policy_sip")
        policy.permanent_after = 4
        durations = []
        for round_ in range(4):
            start = self.now + round_ * 20000
            self.attack(ATTACKER, 10, start=start)
            ban = self.bans(ATTACKER)
            self.assertEqual(ban.offense, round_ + 1)
            durations.append(ban.permanent or (ban.expires_at - ban.banned_at).total_seconds())
            if not ban.permanent:
                ban.write({"state": "expired"})
        self.assertEqual(durations[:3], [3600, 4 * 3600, 16 * 3600])
        self.assertIs(durations[3], True)
        # Past the repeat period, an address starts again from a first ban.
        self.bans(ATTACKER).action_lift()
        self.attack(ATTACKER, 10, start=self.now + 40 * 86400)
        self.assertEqual(self.bans(ATTACKER).offense, 1)

    def test_longest_ban_is_capped(self):
        policy = self.env.ref("asterisk_base.ban_policy_sip")
        self.assertEqual(policy._duration(10), 7 * 86400)
        policy.permanent_after = 0
        self.assertEqual(policy._duration(2), 4 * 3600)

    def test_ipv6_bans_the_attackers_network(self):
        self.attack(ATTACKER6, 10)
        self.assertEqual(self.bans().mapped("address"), ["2001:db8::/64"])
        self.assertEqual(self.bans().failures, 10)

    def test_ipv6_attacker_rotating_addresses_in_its_64(self):
        """One failure per address, a new address each time: one attacker."""
        for i in range(9):
            self.attack(f"2001:db8:0:7::{i + 1:x}", 1, start=self.now + i)
        self.assertFalse(self.bans(), "9 failures")
        self.attack("2001:db8:0:7:ffff::1", 1, start=self.now + 9)
        ban = self.bans()
        self.assertEqual((ban.address, ban.failures), ("2001:db8:0:7::/64", 10))
        self.assertEqual(self.Ban._active_bans(self.server)[0]["address"], "2001:db8:0:7::/64")
        # Its other addresses are covered: no second ban.
        self.attack("2001:db8:0:7::99", 20, start=self.now + 10)
        self.assertEqual(len(self.bans()), 1)
        # Another network is another subscriber.
        self.attack("2001:db8:0:8::1", 9, start=self.now + 11)
        self.assertEqual(len(self.bans()), 1)

    def test_ipv6_per_address_and_shared_networks(self):
        self.env["ir.config_parameter"].set_param("asterisk_base.ipv6_ban_prefix", 0)
        for i in range(10):
            self.attack(f"2001:db8:0:7::{i + 1:x}", 1, start=self.now + i)
        self.assertFalse(self.bans(), "each address alone: one failure each")
        self.attack(ATTACKER6, 10, start=self.now + 20)
        self.assertEqual(self.bans().mapped("address"), [ATTACKER6])
        # A /64 that holds a trusted address (a hosting provider's shared
        # network) is never banned whole: only the attacker's address is.
        self.env["ir.config_parameter"].set_param("asterisk_base.ipv6_ban_prefix", 64)
        self.env["asterisk_base.whitelist"].create({"network": "2001:db8:0:9::10", "name": "VPS"})
        self.attack("2001:db8:0:9::66", 10, start=self.now + 40)
        self.assertIn("2001:db8:0:9::66", self.bans().mapped("address"))
        # A prefix set too wide is held at /32.
        self.env["ir.config_parameter"].set_param("asterisk_base.ipv6_ban_prefix", 8)
        self.attack("2001:db9::1", 10, start=self.now + 60)
        self.assertIn("2001:db9::/32", self.bans().mapped("address"))

    def test_never_banned(self):
        self.env["asterisk_base.whitelist"].create({"network": "198.51.100.0/24", "name": "Office"})
        learned = "198.18.0.7"  # Odoo's address as the PBX saw it log in
        login = security_event("SuccessfulAuth", learned, service="AMI", account="odoo")
        self.feed([login])
        self.assertEqual(self.server.protection_odoo_addresses, learned)
        for address in ("127.0.0.1", "::1", PBX_HOST, "198.51.100.20", learned):
            self.attack(address, 50, step=0.1)
            self.assertFalse(self.bans(address), address)
        with self.assertRaisesRegex(ValidationError, "whitelisted"):
            self.Ban.create({"server_id": self.server.id, "address": "198.51.100.0/25",
                             "permanent": True})  # fmt: skip
        with self.assertRaisesRegex(ValidationError, "PBX or of Odoo"):
            self.Ban.create({"server_id": self.server.id, "address": PBX_HOST, "permanent": True})
        with self.assertRaisesRegex(ValidationError, "loopback"):
            self.Ban.create(
                {"server_id": self.server.id, "address": "127.0.0.2", "permanent": True}
            )
        with self.assertRaisesRegex(ValidationError, "not an IP"):
            self.Ban.create({"server_id": self.server.id, "address": "pbx.example.com"})

    def test_whitelisting_lifts_the_ban(self):
        self.attack(ATTACKER, 10)
        ban = self.bans(ATTACKER)
        ban.with_user(self.admin_user).action_whitelist()
        self.assertEqual(ban.state, "lifted")
        self.assertEqual(ban.lifted_by_id, self.admin_user)
        self.attack(ATTACKER, 50, start=self.now + 100)
        self.assertFalse(self.bans(ATTACKER))

    def test_unban_and_expiry(self):
        self.attack(ATTACKER, 10)
        self.attack("203.0.113.6", 10)
        ban, other = self.bans(ATTACKER), self.bans("203.0.113.6")
        ban.with_user(self.admin_user).action_lift()
        self.assertEqual(ban.state, "lifted")
        other.expires_at = fields.Datetime.now() - timedelta(seconds=1)
        self.server.ban_acl = False  # nothing to push in this test
        self.Ban._cron_enforce()
        self.assertEqual(other.state, "expired")
        self.assertFalse(self.Ban._active_bans(self.server))

    def test_blacklist_network_covers_its_addresses(self):
        self.Ban.create(
            {"server_id": self.server.id, "address": "203.0.113.77/24", "permanent": True}
        )
        self.attack(ATTACKER, 50)
        self.assertEqual(self.bans().mapped("address"), ["203.0.113.0/24"])
        self.assertEqual(self.Ban._active_bans(self.server)[0]["address"], "203.0.113.0/24")

    def test_make_permanent_and_ban_from_events(self):
        self.attack(ATTACKER, 10)
        ban = self.bans(ATTACKER)
        ban.action_make_permanent()
        self.assertTrue(ban.permanent)
        self.assertFalse(ban.expires_at)
        self.attack("203.0.113.9", 3)
        rows = self.Event.search([("address", "=", "203.0.113.9")])
        rows.with_user(self.admin_user).action_ban_address()
        self.assertTrue(self.bans("203.0.113.9").permanent)

    def test_admins_are_told(self):
        partner = self.admin_user.partner_id
        self.attack(ATTACKER, 10)
        notices = self.env["mail.message"].search(
            [("model", "=", "asterisk_base.ban"), ("partner_ids", "in", partner.id)]
        )
        self.assertEqual(len(notices), 1)
        self.assertIn(ATTACKER, notices.body)
        self.assertIn("banned", notices.subject)
        self.env["ir.config_parameter"].set_param("asterisk_base.notify_bans", False)
        self.attack("203.0.113.6", 10)
        self.assertEqual(
            self.env["mail.message"].search_count(
                [("model", "=", "asterisk_base.ban"), ("partner_ids", "in", partner.id)]
            ),
            1,
        )

    def test_a_flood_from_many_addresses_is_one_notice(self):
        attackers = [f"203.0.113.{i}" for i in range(1, 101)]
        events = [
            security_event("InvalidPassword", address, at=self.now + i * 0.01)
            for i in range(10)
            for address in attackers
        ]
        self.feed(events, batch=200)
        self.assertEqual(len(self.bans()), 100)
        notices = self.env["mail.message"].search(
            [
                ("model", "=", "asterisk_base.ban"),
                ("partner_ids", "in", self.admin_user.partner_id.id),
            ]
        )
        # Whole batches ban together: a handful of notices, not a hundred.
        self.assertLessEqual(len(notices), 5)
        self.assertIn("addresses banned", notices[0].subject)

    def test_distributed_guessing_is_flagged(self):
        Targeted = self.env["asterisk_base.targeted_account"]
        mine = [("server_id", "=", self.server.id)]
        # Four addresses trying "alice": not yet (threshold 5).
        for i in range(4):
            self.attack(f"198.51.100.{i + 1}", 2, account="alice")
        self.assertFalse(Targeted.search(mine))
        self.attack("198.51.100.9", 1, account="alice")
        alert = Targeted.search(mine)
        self.assertEqual(len(alert), 1)
        self.assertEqual((alert.account, alert.service, alert.address_count), ("alice", "SIP", 5))
        self.assertEqual(alert.failures, 9)
        self.assertFalse(self.bans(), "none of them went past the per-address threshold")
        # More addresses update the same alert.
        self.attack("198.51.100.10", 1, account="alice")
        self.assertEqual(Targeted.search(mine).address_count, 6)
        self.assertTrue(
            self.env["mail.message"].search(
                [
                    ("model", "=", Targeted._name),
                    ("partner_ids", "in", self.admin_user.partner_id.id),
                ]
            )
        )
