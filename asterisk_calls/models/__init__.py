from . import (
    asterisk_calls_call,
    asterisk_calls_call_control,
    asterisk_calls_call_dial,
    asterisk_calls_channel,
    asterisk_calls_user_report,
    asterisk_common_action,
    asterisk_common_server,
    asterisk_common_settings,
    asterisk_common_user,
    asterisk_common_user_channel,
    res_config_settings,
    res_partner,
)
