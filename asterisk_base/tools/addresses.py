"""Addresses as Asterisk's security events give them, and networks as admins
write them (whitelist, manual bans)."""

import ipaddress

from odoo import _
from odoo.exceptions import ValidationError


def parse_ami_address(value):
    """The IP address of a security event's ``RemoteAddress``/``LocalAddress``.

    Asterisk writes ``IPV4/UDP/203.0.113.5/5060`` and ``IPV6/TCP/2001:db8::1/5061``
    (no brackets, see ``security_events.c``). An IPv4-mapped IPv6 address is
    returned as the IPv4 address it is. ``None`` when nothing parses.
    """
    if not value or not isinstance(value, str):
        return None
    parts = value.strip().split("/")
    if len(parts) < 3 or not parts[0].upper().startswith("IPV"):
        return None
    host = parts[2].strip("[]").split("%", 1)[0]  # a zone index is no part of the address
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def network_of(text):
    """``ipaddress`` network of an address or CIDR text (host bits ignored);
    raises ``ValueError`` for anything else."""
    network = ipaddress.ip_network(text.strip(), strict=False)
    if network.version == 6 and network.prefixlen >= 96 and network.network_address.ipv4_mapped:
        mapped = network.network_address.ipv4_mapped
        network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


def checked_network(value):
    """:func:`normalize_network` for a value typed in a form: a clear error."""
    try:
        return normalize_network(value)
    except ValueError as e:
        raise ValidationError(_("%s is not an IP address or network.", value)) from e


def normalize_network(text):
    """Canonical text: ``203.0.113.5`` for one address, ``203.0.113.0/24`` for a
    network, IPv6 compressed."""
    network = network_of(text)
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def acl_rule(text):
    """The value of a ``deny=`` line of acl.conf: Asterisk wants ``address/mask``."""
    network = network_of(text)
    return f"{network.network_address}/{network.prefixlen}"


def covered_by(address, networks):
    """True if ``address`` (or network) overlaps one of ``networks``: a ban
    wider than a trusted address would ban it too."""
    try:
        network = network_of(address)
    except ValueError:
        return False
    return any(
        other.version == network.version and (network.subnet_of(other) or other.subnet_of(network))
        for other in networks
    )


def is_never_banned(address, exempt_networks=()):
    """Loopback, unspecified and link-local addresses, and any address inside
    ``exempt_networks`` (the whitelist, the PBX's and Odoo's own addresses)."""
    try:
        first = network_of(address).network_address
    except ValueError:
        return True  # what is not an address cannot be banned
    if first.is_loopback or first.is_unspecified or first.is_link_local:
        return True
    return covered_by(address, exempt_networks)


# The widest IPv6 network a policy ban may cover (a mistyped setting of 8 must
# not ban a continent).
MIN_IPV6_PREFIX = 32


def ban_key(address, ipv6_prefix, exempt_networks=()):
    """What the ban policy counts and bans for ``address``: the address, or
    for IPv6 its /``ipv6_prefix`` network (0 or 128: the address alone). A
    subscriber gets a /64 or more and picks any address in it for free: per
    address, one attacker would never reach a threshold. Not when that network
    holds a trusted address (a hosting provider's shared /64)."""
    network = network_of(address)
    if network.version != 6 or not 0 < ipv6_prefix < 128:
        return address
    wider = network.supernet(new_prefix=max(ipv6_prefix, MIN_IPV6_PREFIX))
    if is_never_banned(str(wider), exempt_networks):
        return address
    return str(wider)
