import time

from odoo.tests import TransactionCase, new_test_user

# Documentation ranges (RFC 5737, RFC 3849): nobody's real address.
PBX_HOST = "192.0.2.10"
ATTACKER = "203.0.113.5"
ATTACKER6 = "2001:db8::5"
ATTACKER6_NET = "2001:db8::/64"  # what the policy bans for it (Settings > PBX: /64)


def security_event(name, address, *, service="SIP", account="100", at=None, local=PBX_HOST):
    """A security event as the worker hands it over (the capture's shape)."""
    family = "IPV6" if ":" in address else "IPV4"
    local_family = "IPV6" if ":" in local else "IPV4"
    event = {
        "Event": name,
        "Privilege": "security,all",
        "EventTV": "2026-11-26T13:38:22.531+0000",
        "Severity": "Error",
        "Service": service,
        "EventVersion": "2",
        "AccountID": account,
        "SessionID": "0x7fe960002290",
        "LocalAddress": f"{local_family}/UDP/{local}/5060",
        "RemoteAddress": f"{family}/UDP/{address}/5062",
        "Challenge": "35ba39e7",
        "ReceivedChallenge": "35ba39e7",
        "ReceivedHash": "293b2d356f865f002ee81d4bc6e75eb9",
    }
    event["_received"] = at if at is not None else time.time()
    return event


class ProtectionCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.env["asterisk_common.server"].create(
            {"name": "Protected PBX", "host": PBX_HOST, "username": "odoo", "secret": "s3cr3t"}
        )
        cls.admin_user = new_test_user(
            cls.env, "pbx_boss", groups="base.group_user,asterisk_common.group_asterisk_admin"
        )
        cls.pbx_user = new_test_user(
            cls.env, "pbx_worker", groups="base.group_user,asterisk_common.group_asterisk_user"
        )
        cls.Event = cls.env["asterisk_base.security_event"]
        cls.Ban = cls.env["asterisk_base.ban"]
        cls.now = time.time()

    def feed(self, events, batch=50):
        """Hand ``events`` to the handler as the worker does, in batches."""
        for event in events:
            event["_server_id"] = self.server.id
        for i in range(0, len(events), batch):
            self.Event.ami_security_events(events[i : i + batch])
        self.env.invalidate_all()

    def attack(self, address, count, *, step=1.0, start=None, **kwargs):
        start = self.now if start is None else start
        self.feed(
            [
                security_event("InvalidPassword", address, at=start + i * step, **kwargs)
                for i in range(count)
            ]
        )

    def bans(self, address=None, state="active"):
        domain = [("server_id", "=", self.server.id), ("state", "=", state)]
        if address:
            domain.append(("address", "=", address))
        return self.Ban.search(domain)
