from . import asterisk_calls_transfer
