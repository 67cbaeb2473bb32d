import time

from odoo.addons.asterisk_common.tests.captures import capture_path, parse_capture

from .common import ATTACKER, ProtectionCase, security_event


class TestSecurityEvents(ProtectionCase):
    def replay(self, name, start=None):
        events = parse_capture(capture_path(name))
        start = self.now if start is None else start
        for index, event in enumerate(events):
            event["_received"] = start + index * 0.5
        mapped = set(
            self.env["asterisk_common.event"]
            .search([("model", "=", "asterisk_base.security_event")])
            .mapped("name")
        )
        self.feed([e for e in events if e["Event"] in mapped])

    def rows(self):
        """Counts per kind (a capture may straddle two windows)."""
        counts = {}
        for r in self.Event.search([("server_id", "=", self.server.id)]):
            key = (r.event, r.service, r.address or "", r.account or "")
            counts[key] = counts.get(key, 0) + r.count
        return counts

    def test_failed_ami_logins_capture(self):
        """Capture e: 3 wrong secrets, 1 wrong MD5 answer, 1 unknown user (and
        the watcher's own login), all from the PBX host itself."""
        self.replay("e_failed_ami_logins_watcher")
        self.assertEqual(
            self.rows(),
            {
                ("SuccessfulAuth", "AMI", "", ""): 1,
                ("InvalidPassword", "AMI", "127.0.0.1", "odoo"): 3,
                ("ChallengeResponseFailed", "AMI", "127.0.0.1", ""): 1,
                ("InvalidAccountID", "AMI", "127.0.0.1", "mallory"): 1,
            },
        )
        failures = self.Event.search([("server_id", "=", self.server.id), ("failure", "=", True)])
        self.assertEqual(sum(failures.mapped("count")), 5)
        # Loopback is never banned, however often it fails.
        self.assertFalse(self.Ban.search([("server_id", "=", self.server.id)]))
        self.assertEqual(self.server.protection_pbx_addresses, "127.0.0.1")
        self.assertEqual(self.server.protection_odoo_addresses, "127.0.0.1")

    def test_failed_sip_registrations_capture(self):
        """Capture f: alice with a wrong password, then an unknown user."""
        self.replay("f_failed_sip_register")
        self.assertEqual(
            self.rows(),
            {
                ("SuccessfulAuth", "AMI", "", ""): 1,
                ("ChallengeSent", "SIP", "", ""): 2,
                ("InvalidPassword", "SIP", "127.0.0.1", "alice"): 1,
                ("InvalidPassword", "SIP", "127.0.0.1", "mallory"): 1,
            },
        )

    def test_challenge_hashes_are_never_stored(self):
        self.replay("f_failed_sip_register")
        self.replay("e_failed_ami_logins_watcher")
        self.env.cr.execute("SELECT row_to_json(e)::text FROM asterisk_base_security_event e")
        stored = " ".join(row for (row,) in self.env.cr.fetchall())
        for secret in ("293b2d356f865f002ee81d4bc6e75eb9", "35ba39e7", "0123456789abcdef",
                       "81ef1d96b1fa060e17fb409872de1fc4", "0x7fe9"):  # fmt: skip
            self.assertNotIn(secret, stored)

    def test_counts_add_up_across_batches_and_windows(self):
        # 30 failures, one a second: three 10-second windows (at most four if
        # the start is not on a window boundary), however the batches fall.
        start = self.now - self.now % 10
        events = [security_event("InvalidAccountID", ATTACKER, at=start + i) for i in range(30)]
        for event in events:
            event["_server_id"] = self.server.id
        for chunk in (events[:7], events[7:8], events[8:30]):
            self.Event.ami_security_events(chunk)
        rows = self.Event.search([("address", "=", ATTACKER)])
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows.mapped("count"), [10, 10, 10])
        # The same events again (a replay after an outage) count again: they are counts.
        self.assertEqual(sum(rows.mapped("count")), 30)

    def test_accounts_tried_by_one_address_stay_bounded(self):
        """A scanner trying 500 extensions in a window leaves 11 rows, not 500."""
        start = self.now - self.now % 10
        self.feed(
            [
                security_event(
                    "InvalidAccountID", "198.51.100.9", account=str(i), at=start + i / 100
                )
                for i in range(500)
            ],
            batch=200,
        )
        rows = self.Event.search([("address", "=", "198.51.100.9")])
        self.assertEqual(len(rows), 11)
        self.assertEqual(sum(rows.mapped("count")), 500)
        self.assertEqual(rows.filtered(lambda r: r.account == "…").count, 490)

    def test_ipv6_and_unparsable_addresses(self):
        events = [
            security_event("InvalidPassword", "2001:db8::7"),
            security_event("InvalidPassword", "::ffff:203.0.113.8"),
        ]
        broken = security_event("InvalidPassword", ATTACKER)
        broken["RemoteAddress"] = "garbage"
        self.feed(events + [broken])
        self.assertEqual(
            sorted(self.Event.search([("server_id", "=", self.server.id)]).mapped("address")),
            ["", "2001:db8::7", "203.0.113.8"],
        )

    def test_only_the_worker_may_call_the_handler(self):
        event = security_event("InvalidPassword", ATTACKER)
        event["_server_id"] = self.server.id
        with self.assertRaises(Exception):  # noqa: B017 - AccessError
            self.Event.with_user(self.admin_user).ami_security_events([event])

    def test_retention(self):
        self.attack(ATTACKER, 2, start=time.time() - 40 * 86400)
        self.attack("203.0.113.6", 2)
        self.Event._cron_retention()
        kept = self.Event.search([("address", "in", [ATTACKER, "203.0.113.6"])])
        self.assertEqual(set(kept.mapped("address")), {"203.0.113.6"})
