from . import (
    test_access,
    test_captures,
    test_control,
    test_dial,
    test_followup,
    test_lookup,
    test_popup,
    test_recording,
    test_security_matrix,
    test_ui,
    test_ui_contact,
)
