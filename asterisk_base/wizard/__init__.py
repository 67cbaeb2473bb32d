from . import asterisk_base_server_wizard
