{
    "name": "Asterisk Calls - Employees",
    "summary": "Calls from and to employees' numbers, logged in the employee's chatter",
    "version": "18.0.1.0.0",
    "category": "Productivity/PBX",
    "website": "https://github.com/odoopbx/asterisk-odoo",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_calls", "hr"],
    "auto_install": True,
    "data": ["views/hr_employee_views.xml", "views/asterisk_calls_call_views.xml"],
}
