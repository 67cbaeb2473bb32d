from . import (
    test_access,
    test_acl,
    test_addresses,
    test_conf,
    test_console,
    test_feed,
    test_live_status,
    test_policy,
    test_provisioning,
    test_security_events,
    test_server_wizard,
    test_tours_admin,
)
