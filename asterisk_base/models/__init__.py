from . import (
    asterisk_base_acl_push,
    asterisk_base_ban,
    asterisk_base_ban_policy,
    asterisk_base_conf,
    asterisk_base_console_command,
    asterisk_base_live_status,
    asterisk_base_security_event,
    asterisk_base_targeted_account,
    asterisk_base_whitelist,
    asterisk_common_server,
    asterisk_common_settings,
    res_config_settings,
)
