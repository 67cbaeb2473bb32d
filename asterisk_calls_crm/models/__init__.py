from . import asterisk_calls_call, crm_lead
