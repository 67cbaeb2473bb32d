import json

from odoo.tests import HttpCase, tagged

from .common import ATTACKER, ATTACKER6, ATTACKER6_NET, PBX_HOST, security_event


@tagged("post_install", "-at_install")
class TestFeed(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.env["asterisk_common.server"].create(
            {"name": "Fed PBX", "host": PBX_HOST, "username": "odoo", "ban_acl": False}
        )
        cls.other = cls.env["asterisk_common.server"].create(
            {"name": "Other PBX", "host": "192.0.2.11", "username": "odoo", "ban_acl": False}
        )
        events = [
            security_event("InvalidPassword", address)
            for address in (ATTACKER, ATTACKER6)
            for _ in range(10)
        ]
        for event in events:
            event["_server_id"] = cls.server.id
        cls.env["asterisk_base.security_event"].ami_security_events(events)
        cls.env["asterisk_base.ban"].create(
            {"server_id": cls.other.id, "address": "198.51.100.66", "permanent": True}
        )
        cls.server.action_generate_ban_token()
        cls.other.action_generate_ban_token()
        cls.token = cls.server.ban_feed_token

    def get(self, path, token=None, headers=None):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.url_open(path, headers=headers, allow_redirects=False)

    def assertForbidden(self, response):
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.text, "Forbidden\n")
        self.assertNotIn("Set-Cookie", response.headers)

    def test_feed_lists_the_active_bans(self):
        response = self.get(f"/asterisk/bans/{self.server.id}.txt", self.token)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text, f"{ATTACKER}\n{ATTACKER6_NET}\n")
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        self.assertNotIn("Set-Cookie", response.headers)
        only4 = self.get(f"/asterisk/bans/{self.server.id}.txt?family=4", self.token)
        self.assertEqual(only4.text, f"{ATTACKER}\n")
        only6 = self.get(f"/asterisk/bans/{self.server.id}.txt?family=ipv6", self.token)
        self.assertEqual(only6.text, f"{ATTACKER6_NET}\n")

    def test_json_feed_tells_expiry(self):
        response = self.get(f"/asterisk/bans/{self.server.id}.json", self.token)
        data = json.loads(response.text)
        self.assertEqual([b["address"] for b in data["bans"]], [ATTACKER, ATTACKER6_NET])
        self.assertTrue(all(b["expires_at"].endswith("Z") for b in data["bans"]))
        self.assertEqual(set(data), {"bans"})
        self.assertEqual(set(data["bans"][0]), {"address", "permanent", "expires_at"})

    def test_unchanged_feed_is_not_sent_again(self):
        first = self.get(f"/asterisk/bans/{self.server.id}.txt", self.token)
        again = self.get(
            f"/asterisk/bans/{self.server.id}.txt",
            self.token,
            {"If-None-Match": first.headers["ETag"]},
        )
        self.assertEqual(again.status_code, 304)
        self.env["asterisk_base.ban"].search([("address", "=", ATTACKER)]).action_lift()
        changed = self.get(
            f"/asterisk/bans/{self.server.id}.txt",
            self.token,
            {"If-None-Match": first.headers["ETag"]},
        )
        self.assertEqual(changed.text, f"{ATTACKER6_NET}\n")

    def test_wrong_or_missing_token_gets_403_and_nothing_else(self):
        path = f"/asterisk/bans/{self.server.id}.txt"
        self.assertForbidden(self.get(path))
        self.assertForbidden(self.get(path, ""))
        self.assertForbidden(self.get(path, self.token[:-1]))
        self.assertForbidden(self.get(path, self.token + "x"))
        self.assertForbidden(self.get(path, headers={"Authorization": f"Basic {self.token}"}))
        self.assertForbidden(self.get(f"{path}?token={self.token}"))
        # Another server's token does not open this feed, nor an unknown server.
        self.assertForbidden(self.get(path, self.other.ban_feed_token))
        self.assertForbidden(self.get("/asterisk/bans/999999.txt", self.token))
        self.assertForbidden(self.get(f"/asterisk/bans/{self.server.id}.json"))

    def test_feed_off_without_token(self):
        self.server.action_revoke_ban_token()
        self.assertForbidden(self.get(f"/asterisk/bans/{self.server.id}.txt", self.token))
        self.assertForbidden(self.get(f"/asterisk/bans/{self.server.id}.txt", "False"))
