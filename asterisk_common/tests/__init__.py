from . import test_events_map
from . import test_access
from . import test_action_queue
