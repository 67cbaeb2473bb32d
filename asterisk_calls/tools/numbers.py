"""Phone numbers as the suite stores and looks them up.

Outside numbers are kept in E.164 (``+33612345678``) when they parse as valid
numbers of their region (``phone_validation``'s rules); a number that does
not parse keeps its digits, so that it can still be matched by its last
digits.
"""

import functools

import phonenumbers

from odoo.exceptions import UserError

from odoo.addons.phone_validation.tools import phone_validation


@functools.lru_cache(maxsize=50000)
def to_e164(number, region):
    """``number`` read in ``region`` (ISO country code) as E.164, or None."""
    number = (number or "").strip()
    if not number or not any(c.isdigit() for c in number):
        return None
    try:
        parsed = phone_validation.phone_parse(number, region or None)
    except UserError:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def digits(number):
    return "".join(c for c in number or "" if c.isdigit())


def searchable(number, region):
    """What a stored number is searched by: E.164, else its digits (3 or more)."""
    e164 = to_e164(number, region)
    if e164:
        return e164
    found = digits(number)
    return found if len(found) >= 3 else False


def readable(number, region):
    """A number as a person reads it in ``region``: national format for
    numbers of that country, international for the others."""
    e164 = to_e164(number, region)
    if not e164:
        return number or ""
    parsed = phonenumbers.parse(e164)
    if region and phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
