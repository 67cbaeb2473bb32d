from .addresses import (
    acl_rule,
    ban_key,
    checked_network,
    covered_by,
    is_never_banned,
    network_of,
    normalize_network,
    parse_ami_address,
)
from .config_update import MAX_HEADERS, update_config_actions

__all__ = [
    "MAX_HEADERS",
    "acl_rule",
    "ban_key",
    "checked_network",
    "covered_by",
    "is_never_banned",
    "network_of",
    "normalize_network",
    "parse_ami_address",
    "update_config_actions",
]
