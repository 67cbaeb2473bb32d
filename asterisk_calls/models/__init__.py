from . import (
    asterisk_calls_call,
    asterisk_calls_channel,
    asterisk_calls_user_report,
    asterisk_common_server,
    asterisk_common_settings,
    asterisk_common_user,
    res_config_settings,
    res_partner,
)
