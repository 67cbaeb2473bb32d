"""The config files Odoo writes for the devices of its PBX users: chan_sip
peers or PJSIP endpoint/auth/aor triples, and the dialplan hints of their
extensions. Plain data in, :class:`~.conf_text.Category` lists out."""

import re

from .conf_text import Category

# What may name a peer/endpoint and a hint: it becomes a [category] and a dial string.
DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")
HINT_EXTENSION = re.compile(r"^[0-9A-Za-z*#+][0-9A-Za-z*#+-]{0,39}$")
# Technologies a hint can watch (Local channels have no device state of their own).
HINT_TECHS = ("SIP", "PJSIP", "IAX2", "DAHDI")

FILES = {"sip": "sip_odoo.conf", "pjsip": "pjsip_odoo.conf"}
HINTS_FILE = "extensions_odoo.conf"
TECH = {"sip": "SIP", "pjsip": "PJSIP"}


def callerid(name, number):
    """``"Name" <number>`` with what would break the syntax taken out."""
    name = re.sub(r'["<>\\;\r\n]', "", name or "").strip()[:60]
    number = re.sub(r"[^0-9A-Za-z*#+]", "", number or "")
    return f'"{name}" <{number}>' if number else f'"{name}"'


def sip_peers(devices, settings):
    """sip.conf peers: one ``type = friend`` per device."""
    cats = []
    for dev in devices:
        lines = [
            ("type", "friend"),
            ("host", "dynamic"),
            ("secret", dev["secret"]),
            ("context", settings["context"]),
            ("callerid", callerid(dev["user"], dev["extension"])),
            ("disallow", "all"),
            ("allow", settings["codecs"]),
            ("qualify", "yes"),
        ]
        cats.append(Category(dev["name"], lines=lines))
    return cats


def pjsip_endpoints(devices, settings):
    """pjsip.conf: an endpoint, its auth and its aor per device, one name."""
    cats = []
    for dev in devices:
        endpoint = [
            ("type", "endpoint"),
            ("context", settings["context"]),
            ("disallow", "all"),
            ("allow", settings["codecs"]),
            ("auth", dev["name"]),
            ("aors", dev["name"]),
            ("callerid", callerid(dev["user"], dev["extension"])),
        ]
        if settings.get("transport"):
            endpoint.insert(1, ("transport", settings["transport"]))
        cats += [
            Category(dev["name"], lines=endpoint),
            Category(
                dev["name"],
                lines=[
                    ("type", "auth"),
                    ("auth_type", "userpass"),
                    ("username", dev["name"]),
                    ("password", dev["secret"]),
                ],
            ),
            Category(
                dev["name"],
                lines=[
                    ("type", "aor"),
                    ("max_contacts", "1"),
                    ("remove_existing", "yes"),
                    ("qualify_frequency", "60"),
                ],
            ),
        ]
    return cats


def hints(users, context):
    """extensions.conf: ``exten => 101,hint,PJSIP/alice&SIP/alice-desk`` per user."""
    lines = []
    for user in users:
        channels = [c for c in user["channels"] if c.split("/", 1)[0].upper() in HINT_TECHS]
        if channels and HINT_EXTENSION.fullmatch(user["extension"] or ""):
            lines.append(("exten", f"{user['extension']},hint,{'&'.join(channels)}"))
    return [Category(context, lines=lines)] if lines else []
