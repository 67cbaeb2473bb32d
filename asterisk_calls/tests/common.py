import json
import os

from odoo.tests import TransactionCase, new_test_user

from odoo.addons.asterisk_agent_worker.router import CallRouter
from odoo.addons.asterisk_calls.models import res_partner
from odoo.addons.asterisk_common.tests.captures import OWN_CAPTURES, capture_path, parse_capture

__all__ = ["ASTERISK_VERSIONS", "CallsCase", "capture_path", "parse_capture"]

# The suite's own captures were recorded on Asterisk 20 (chan_sip phones) and
# again on Asterisk 22 and 23, which have no chan_sip: the same phones as PJSIP
# endpoints (tests/captures/asterisk22/README.md, asterisk23/README.md).
ASTERISK_VERSIONS = ("20", "22", "23")
TECHS = {"20": "SIP", "22": "PJSIP", "23": "PJSIP"}  # the phones' driver on each
CAPTURE_FOLDERS = {
    "20": OWN_CAPTURES,
    "22": os.path.join(OWN_CAPTURES, "asterisk22"),
    "23": os.path.join(OWN_CAPTURES, "asterisk23"),
}
PHONES = ("alice", "bob", "carol")  # chan_sip peers on 20, PJSIP endpoints after


class CallsCase(TransactionCase):
    """A server with two PBX users, Alice (SIP/alice, 201) and Bob (SIP/bob,
    202), as in the captures' sip.conf."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param("asterisk_calls.lookup_suffix_digits", "8")
        cls.env["ir.config_parameter"].set_param("asterisk_calls.internal_max_digits", "6")
        cls.server = cls.env["asterisk_common.server"].create(
            {
                "name": "Capture PBX",
                "host": "127.0.0.1",
                "username": "odoo",
                "secret": "odoo-secret",
                "country_id": cls.env.ref("base.fr").id,
                "tz": "Europe/Paris",
            }
        )
        groups = "base.group_user,asterisk_common.group_asterisk_user"
        cls.alice = new_test_user(cls.env, "alice", name="Alice", groups=groups)
        cls.bob = new_test_user(cls.env, "bob", name="Bob", groups=groups)
        cls.carol = new_test_user(cls.env, "carol", name="Carol", groups=groups)
        cls.admin_user = new_test_user(
            cls.env, "pbx_boss", groups="base.group_user,asterisk_common.group_asterisk_admin"
        )
        PbxUser = cls.env["asterisk_common.user"]
        cls.pbx_alice = PbxUser.create(
            {
                "user_id": cls.alice.id,
                "server_id": cls.server.id,
                "extension": "201",
                "channel_ids": [(0, 0, {"name": "SIP/alice"})],
            }
        )
        cls.pbx_bob = PbxUser.create(
            {
                "user_id": cls.bob.id,
                "server_id": cls.server.id,
                "extension": "202",
                "channel_ids": [(0, 0, {"name": "SIP/bob"})],
            }
        )
        cls.pbx_carol = PbxUser.create(
            {
                "user_id": cls.carol.id,
                "server_id": cls.server.id,
                "extension": "203",
                "channel_ids": [
                    (0, 0, {"name": "SIP/carol"}),
                    (0, 0, {"name": "Local/agent1@demo", "originate": False}),
                ],
            }
        )
        cls.Call = cls.env["asterisk_calls.call"]

    def setUp(self):
        super().setUp()
        # Lookups cache partner ids per process: none may outlive a test's rollback.
        res_partner._caches.clear()
        self.addCleanup(res_partner._caches.clear)
        self.asterisk = "20"

    def use_asterisk(self, version):
        """Replay the captures recorded on Asterisk ``version`` from now on,
        the users' phones named as that PBX names them."""
        self.asterisk = version
        tech = TECHS[version]
        other = next(t for t in TECHS.values() if t != tech)
        channels = self.env["asterisk_common.user_channel"].search(
            [("name", "in", [f"{other}/{phone}" for phone in PHONES])]
        )
        for channel in channels:
            channel.name = f"{tech}/{channel.name.partition('/')[2]}"
        self.Call.search([]).unlink()

    def dev(self, phone):
        """The device of ``phone`` on the PBX replayed."""
        return f"{TECHS[self.asterisk]}/{phone}"

    def replay(self, events, batch=7, start=1795700000.0, step=0.05, router=None):
        """Feed ``events`` to the tracker as the worker does: routed, stamped,
        in batches of ``batch``. Returns the router (to continue a stream)."""
        router = router or CallRouter()
        stamped = []
        for index, event in enumerate(events):
            event = dict(event)
            received = start + event.pop("_t", index * step)
            event["_server_id"] = self.server.id
            event["_received"] = received
            event["_linkedid"] = router.route(event, received)
            stamped.append(event)
        wanted = {r.name for r in self.env["asterisk_common.event"].search(
            [("model", "=", "asterisk_calls.call"), ("active", "=", True)]
        )}  # fmt: skip
        stamped = [e for e in stamped if e["Event"] in wanted]
        for i in range(0, len(stamped), batch):
            self.Call.ami_call_events(stamped[i : i + batch])
        self.env.invalidate_all()
        return router

    def capture_events(self, name):
        """The events of capture ``name`` as recorded on the Asterisk in use."""
        if self.asterisk == "20":
            path = capture_path(name)
        else:
            path = os.path.join(CAPTURE_FOLDERS[self.asterisk], f"{name}.raw")
        if path is None:
            self.skipTest(f"capture {name} not found (../shared/ami-captures)")
        return parse_capture(path)

    def capture_file(self, filename):
        """A file recorded beside the own captures of the Asterisk in use (a
        phone's SIP log), as text."""
        with open(os.path.join(CAPTURE_FOLDERS[self.asterisk], filename), encoding="utf-8") as f:
            return f.read()

    def replay_capture(self, name, **kwargs):
        return self.replay(self.capture_events(name), **kwargs)

    def notices_to(self, user):
        """The notifications (``simple_notification``) this transaction sends ``user``."""
        return [
            message["payload"]
            for channel, message in (
                (json.loads(v["channel"]), json.loads(v["message"]))
                for v in self.env.cr.precommit.data.get("bus.bus.values", [])
            )
            if channel[1:] == ["res.partner", user.partner_id.id]
            and message["type"] == "simple_notification"
        ]

    def calls(self):
        return self.Call.search([("server_id", "=", self.server.id)], order="id")
