from . import (
    asterisk_common_action,
    asterisk_common_dispatch_error,
    asterisk_common_event,
    asterisk_common_server,
    asterisk_common_settings,
    asterisk_common_user,
    res_config_settings,
    res_users,
)
