from . import test_access, test_action_queue, test_events_map, test_ui
