{
    "name": "Asterisk Calls - CRM",
    "summary": "Calls linked to their open lead and logged in its chatter",
    "version": "18.0.1.0.0",
    "category": "Productivity/PBX",
    "website": "https://github.com/odoopbx/asterisk-odoo",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_calls", "crm"],
    "auto_install": True,
    "data": ["views/crm_lead_views.xml", "views/asterisk_calls_call_views.xml"],
}
