from . import asterisk_calls_call, hr_employee
