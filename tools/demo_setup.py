# ruff: noqa: F821 - `env` is given by odoo-bin shell
# Run once by tools/demo in `odoo-bin shell` on the demo database: what the demo's
# simulated PBX needs to make sense in Odoo (tests/ami_simulator/demo.py's callers
# and phones). Plain demo data would not do: the test suites use the same addons'
# demo data and expect it as it is.
import os

server = env.ref("asterisk_common.demo_server")
server.write({"country_id": env.ref("base.fr").id, "tz": "Europe/Paris"})

# The recordings: the simulated PBX writes them (MixMonitor, as Asterisk does in
# /var/spool/asterisk/monitor) into the checkout's var/recordings, which tools/demo
# gives as ASTERISK_DEMO_RECORDINGS (and sets again at each start, should the
# checkout move): Odoo reads them there as from the PBX's monitor folder mounted on
# its host, and attaches each to its call once the call ended.
server.write(
    {
        "recording_source": "folder",
        "recording_pbx_path": "/var/spool/asterisk/monitor",
        "recording_folder": os.environ.get("ASTERISK_DEMO_RECORDINGS")
        or os.path.abspath(os.path.join("var", "recordings")),
    }
)

# The admin's desk phone is the simulated PBX's "bob" (it rings for the ring group
# and the transfers), the demo user's is "alice" (demo data already).
admin = env.ref("asterisk_common.demo_user_admin")
if not admin.channel_ids.filtered(lambda c: c.name == "SIP/bob"):
    admin.channel_ids = [(0, 0, {"name": "SIP/bob", "originate": False, "sequence": 5})]

# The customer who calls in (a known contact: the popup shows them) and their company.
Partner = env["res.partner"]
company = Partner.search([("name", "=", "Azure Interior")], limit=1) or Partner.create(
    {"name": "Azure Interior", "is_company": True}
)
if not Partner.search([("phone", "=", "+33 6 12 34 56 78")]):
    Partner.create(
        {
            "name": "Marc Dupont",
            "parent_id": company.id,
            "phone": "+33 6 12 34 56 78",
            "email": "marc.dupont@example.com",
            "function": "Purchasing manager",
        }
    )
env.cr.commit()
print("demo data ready")
