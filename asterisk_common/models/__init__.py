from . import asterisk_common_server
from . import asterisk_common_event
from . import asterisk_common_user
from . import asterisk_common_action
from . import asterisk_common_dispatch_error
from . import asterisk_common_settings
from . import res_config_settings
from . import res_users
