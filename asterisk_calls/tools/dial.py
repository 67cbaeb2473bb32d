"""What a PBX dials for a number a user clicked."""

import re

import phonenumbers

from .numbers import to_e164

# What a CallerID name may hold: no quote, angle bracket or line break (they
# would end the value or the AMI header).
_CALLERID_UNSAFE = re.compile(r'[\x00-\x1f"<>\\]')


def dial_string(number, region, outside_prefix="", e164=False, internal_max_digits=6):
    """The digits to dial for ``number`` from a PBX in ``region`` (ISO code).

    Internal numbers (up to ``internal_max_digits`` digits, no ``+``) are
    dialled as they are. Outside numbers are read as E.164 and dialled as
    ``region`` dials them (national numbers with their national prefix,
    others with the international prefix), after ``outside_prefix``; with
    ``e164`` the trunk takes ``+<country><number>``.

    :returns: the dial string (digits, ``*``, ``#`` and a leading ``+`` only)
        or "" when there is nothing to dial.
    """
    number = (number or "").strip()
    kept = "".join(c for c in number if c.isdigit() or c in "*#")
    if not kept:
        return ""
    if not number.startswith("+") and len(kept) <= internal_max_digits:
        return kept
    parsed_e164 = to_e164(number, region)
    if not parsed_e164:
        return outside_prefix + ("+" if number.startswith("+") else "") + kept
    if e164:
        return outside_prefix + parsed_e164
    parsed = phonenumbers.parse(parsed_e164)
    formatted = phonenumbers.format_out_of_country_calling_number(parsed, region or "ZZ")
    digits = "".join(c for c in formatted if c.isdigit())
    if formatted.startswith("+"):  # the region has no international prefix known
        return outside_prefix + "+" + digits
    return outside_prefix + digits


def callerid_name(text, limit=40):
    """``text`` made safe for the name part of an AMI CallerID."""
    return _CALLERID_UNSAFE.sub("", text or "").strip()[:limit]
