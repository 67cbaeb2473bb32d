from odoo.tests import BaseCase

from odoo.addons.asterisk_base.tools import (
    MAX_HEADERS,
    acl_rule,
    ban_key,
    is_never_banned,
    network_of,
    normalize_network,
    parse_ami_address,
    update_config_actions,
)


class TestAddresses(BaseCase):
    def test_remote_addresses_as_asterisk_writes_them(self):
        self.assertEqual(parse_ami_address("IPV4/UDP/203.0.113.5/5060"), "203.0.113.5")
        self.assertEqual(parse_ami_address("IPV4/TCP/127.0.0.1/33328"), "127.0.0.1")
        self.assertEqual(parse_ami_address("IPV6/UDP/2001:db8::5/5060"), "2001:db8::5")
        self.assertEqual(parse_ami_address("IPV6/UDP/[2001:DB8:0::5]/5060"), "2001:db8::5")
        self.assertEqual(parse_ami_address("IPV6/UDP/::ffff:203.0.113.5/5060"), "203.0.113.5")
        self.assertEqual(parse_ami_address("IPV6/UDP/fe80::1%eth0/5060"), "fe80::1")
        for garbage in (None, "", "IPV4/UDP", "IPV4/UDP/not-an-ip/5060", "UDP/1.2.3.4/5060", 42):
            self.assertIsNone(parse_ami_address(garbage), garbage)

    def test_what_a_policy_ban_covers(self):
        self.assertEqual(ban_key("203.0.113.5", 64), "203.0.113.5")
        self.assertEqual(ban_key("2001:db8:0:7:a:b:c:d", 64), "2001:db8:0:7::/64")
        self.assertEqual(ban_key("2001:db8:0:7:a:b:c:d", 48), "2001:db8::/48")
        self.assertEqual(ban_key("2001:db8::5", 0), "2001:db8::5")
        self.assertEqual(ban_key("2001:db8::5", 128), "2001:db8::5")
        self.assertEqual(ban_key("2001:db8::5", 1), "2001:db8::/32")  # never wider
        trusted = [network_of("2001:db8::10")]
        self.assertEqual(ban_key("2001:db8::5", 64, trusted), "2001:db8::5")

    def test_networks(self):
        self.assertEqual(normalize_network(" 203.0.113.5 "), "203.0.113.5")
        self.assertEqual(normalize_network("203.0.113.5/32"), "203.0.113.5")
        self.assertEqual(normalize_network("203.0.113.77/24"), "203.0.113.0/24")
        self.assertEqual(normalize_network("2001:DB8::/32"), "2001:db8::/32")
        self.assertEqual(normalize_network("::ffff:203.0.113.5"), "203.0.113.5")
        self.assertEqual(acl_rule("203.0.113.5"), "203.0.113.5/32")
        self.assertEqual(acl_rule("2001:db8::5"), "2001:db8::5/128")
        with self.assertRaises(ValueError):
            network_of("203.0.113.300")

    def test_never_banned(self):
        for address in ("127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "fe80::1", "169.254.1.1"):  # noqa: S104
            self.assertTrue(is_never_banned(address), address)
        self.assertFalse(is_never_banned("203.0.113.5"))
        office = [network_of("198.51.100.0/24")]
        self.assertTrue(is_never_banned("198.51.100.20", office))
        self.assertFalse(is_never_banned("198.51.101.20", office))
        # A ban wider than a trusted address would ban it too.
        self.assertTrue(is_never_banned("198.51.0.0/16", office))
        self.assertFalse(is_never_banned("2001:db8::5", office))
        self.assertTrue(is_never_banned("not an address"))

    def test_update_config_messages_stay_under_asterisk_header_limit(self):
        edits = [("DelCat", "odoo_bans"), ("NewCat", "odoo_bans")] + [
            ("Append", "odoo_bans", "deny", f"203.0.113.{i}/32") for i in range(100)
        ]
        actions = update_config_actions("acl.conf", edits, reload="acl")
        self.assertGreater(len(actions), 3)
        appended = []
        for index, action in enumerate(actions):
            # ActionID is added when sent: it must fit too.
            self.assertLess(len(action) + 1, MAX_HEADERS)
            self.assertEqual(action["SrcFilename"], "acl.conf")
            self.assertEqual("Reload" in action, index == len(actions) - 1)
            numbers = sorted(k[len("Action-") :] for k in action if k.startswith("Action-"))
            self.assertEqual(numbers, [f"{i:06d}" for i in range(len(numbers))])
            appended += [action[f"Value-{n}"] for n in numbers if action[f"Action-{n}"] == "Append"]
        self.assertEqual(appended, [f"203.0.113.{i}/32" for i in range(100)])
        self.assertEqual(actions[0]["Action-000000"], "DelCat")
        self.assertEqual(actions[-1]["Reload"], "acl")
        with self.assertRaises(ValueError):
            update_config_actions("acl.conf", [("Drop", "x")])
