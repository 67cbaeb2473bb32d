"""The dialplan Odoo adds to a PBX to ring several phones of one user.

A click-to-dial on several phones must ring exactly the devices marked for it,
each with its auto-answer header. PJSIP sets a header only on the channel
that sends the INVITE (``PJSIP_HEADER`` written in a pre-dial handler of
that very channel: nothing inherited reaches it), and an Originate has no
pre-dial handler of its own. So Odoo keeps a small context on the PBX,
installed over AMI (``DialplanExtensionAdd``, on every connect and after each
``dialplan reload``), that the Originate's Local channel runs::

    [odoo-originate]
    exten => ring,1,Dial(${ODOO_DEVICES},${ODOO_RING},${ODOO_DIAL_OPTIONS})
    exten => aa,1,GotoIf($["${CHANNEL(channeltype)}" = "PJSIP"]?4)
    exten => aa,2,SIPAddHeader(${ARG1}: ${ARG2})
    exten => aa,3,Return()
    exten => aa,4,Set(PJSIP_HEADER(add,${ARG1})=${ARG2})
    exten => aa,5,Return()

The variables are the Originate's, copied by chan_local to the ``;2`` that
runs ``ring`` and inherited by nobody: the number ``;1`` dials afterwards
gets no header. Pure Python: the capture recorder sends the same actions.
"""

CONTEXT = "odoo-originate"

_DIALPLAN = (
    ("ring", 1, "Dial", "${ODOO_DEVICES},${ODOO_RING},${ODOO_DIAL_OPTIONS}"),
    ("aa", 1, "GotoIf", '$["${CHANNEL(channeltype)}" = "PJSIP"]?4'),
    ("aa", 2, "SIPAddHeader", "${ARG1}: ${ARG2}"),
    ("aa", 3, "Return", ""),
    ("aa", 4, "Set", "PJSIP_HEADER(add,${ARG1})=${ARG2}"),
    ("aa", 5, "Return", ""),
)


def dialplan_actions():
    """The AMI actions that (re)install the context; ``Replace`` makes them
    idempotent (a second connect rewrites the same priorities)."""
    return [
        {
            "Action": "DialplanExtensionAdd",
            "Context": CONTEXT,
            "Extension": exten,
            "Priority": str(priority),
            "Application": app,
            "ApplicationData": data,
            "Replace": "yes",
        }
        for exten, priority, app, data in _DIALPLAN
    ]


def ring_channel():
    """The Originate's ``Channel``: its ``;2`` rings the devices."""
    return f"Local/ring@{CONTEXT}"


def ring_variables(devices, seconds, header=None):
    """The Originate's ``Variable`` list for ``ring``.

    :param devices: the dial strings (``PJSIP/alice``, ``SIP/bob``).
    :param int seconds: how long they ring.
    :param header: ``(name, value)`` of the auto-answer header, or None.
        Neither may hold ``^``, ``(``, ``)`` or ``,`` (Dial's option syntax):
        they come from the code's own table, never from a user.
    """
    options = ""
    if header:
        name, value = header
        if any(c in name + value for c in "^(),"):
            raise ValueError(f"unusable auto-answer header {name}: {value}")
        options = f"b({CONTEXT}^aa^1({name}^{value}))"
    return [
        f"ODOO_DEVICES={'&'.join(devices)}",
        f"ODOO_RING={int(seconds)}",
        f"ODOO_DIAL_OPTIONS={options}",
    ]
