from . import (
    test_access,
    test_acl,
    test_addresses,
    test_console,
    test_feed,
    test_policy,
    test_security_events,
)
