from .ami_handler import (
    ami_handler,
    events_by_server,
    is_ami_handler,
    is_batch_handler,
    is_independent_handler,
)
from .condition import compile_condition, eval_condition
