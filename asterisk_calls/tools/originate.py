"""The dialplan Odoo adds to a PBX to ring several phones of one user.

A click-to-dial on several phones must ring exactly the devices marked for it,
each with its own auto-answer header (a desk phone and a softphone rarely
want the same one). PJSIP sets a header only on the channel that sends the
INVITE (``PJSIP_HEADER`` written in a pre-dial handler of that very channel:
nothing inherited reaches it), and an Originate has no pre-dial handler of
its own. So Odoo keeps a small context on the PBX, installed over AMI
(``DialplanExtensionAdd``, on every connect and after each ``dialplan
reload``), that the Originate's Local channel runs::

    [odoo-originate]
    exten => ring,1,Dial(${ODOO_DEVICES},${ODOO_RING},${ODOO_DIAL_OPTIONS})
    ; the pre-dial handler of each dialled device: ARG1 lists the devices,
    ; ARG2 and ARG3 their headers' names and values, in the same order;
    ; NAME and VALUE below stand for ${CUT(ARG2,&,${ODOO_DEVICE_NO})} and
    ; ${CUT(ARG3,&,${ODOO_DEVICE_NO})}, this device's own header
    exten => aa,1,Set(ODOO_DEVICE_NO=${FIELDNUM(ARG1,&,${CHANNEL:0:-9})})
    exten => aa,2,GotoIf($["${ODOO_DEVICE_NO}" = "0"]?8)
    exten => aa,3,GotoIf($["NAME" = ""]?8)
    exten => aa,4,GotoIf($["${CHANNEL(channeltype)}" = "PJSIP"]?7)
    exten => aa,5,SIPAddHeader(NAME: VALUE)
    exten => aa,6,Return()
    exten => aa,7,Set(PJSIP_HEADER(add,NAME)=VALUE)
    exten => aa,8,Return()

A dialled channel finds itself in the list by its name without the sequence
number (``PJSIP/bob-0000002a`` -> ``PJSIP/bob``: chan_sip and chan_pjsip both
end their names with ``-%08x``). The variables are the Originate's, copied
by chan_local to the ``;2`` that runs ``ring`` and inherited by nobody: the
number ``;1`` dials afterwards gets no header. Pure Python: the capture
recorder sends the same actions.
"""

CONTEXT = "odoo-originate"
_NO = "${ODOO_DEVICE_NO}"
_NAME = "${CUT(ARG2,&,%s)}" % _NO
_VALUE = "${CUT(ARG3,&,%s)}" % _NO

_DIALPLAN = (
    ("ring", 1, "Dial", "${ODOO_DEVICES},${ODOO_RING},${ODOO_DIAL_OPTIONS}"),
    ("aa", 1, "Set", "ODOO_DEVICE_NO=${FIELDNUM(ARG1,&,${CHANNEL:0:-9})}"),
    ("aa", 2, "GotoIf", f'$["{_NO}" = "0"]?8'),
    ("aa", 3, "GotoIf", f'$["{_NAME}" = ""]?8'),
    ("aa", 4, "GotoIf", '$["${CHANNEL(channeltype)}" = "PJSIP"]?7'),
    ("aa", 5, "SIPAddHeader", f"{_NAME}: {_VALUE}"),
    ("aa", 6, "Return", ""),
    ("aa", 7, "Set", f"PJSIP_HEADER(add,{_NAME})={_VALUE}"),
    ("aa", 8, "Return", ""),
)
# What Dial's b() option, Gosub's arguments and CUT's list would split on.
_RESERVED = "^(),&"


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


def ring_variables(devices, seconds):
    """The Originate's ``Variable`` list for ``ring``.

    :param devices: ``[(dial string, header)]``: ``PJSIP/alice``,
        ``SIP/bob``..., each with ``(name, value)`` of its auto-answer header
        or None. The headers come from the code's own table, never from a
        user; none may hold a character of ``_RESERVED``.
    :param int seconds: how long they ring.
    """
    names, values = [], []
    for _device, header in devices:
        name, value = header or ("", "")
        if any(c in name + value for c in _RESERVED):
            raise ValueError(f"unusable auto-answer header {name}: {value}")
        names.append(name)
        values.append(value)
    dial = "&".join(device for device, _header in devices)
    options = ""
    if any(names):
        options = f"b({CONTEXT}^aa^1({dial}^{'&'.join(names)}^{'&'.join(values)}))"
    return [
        f"ODOO_DEVICES={dial}",
        f"ODOO_RING={int(seconds)}",
        f"ODOO_DIAL_OPTIONS={options}",
    ]
