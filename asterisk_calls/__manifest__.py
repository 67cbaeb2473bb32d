{
    "name": "Asterisk Calls",
    "summary": "Calls from AMI events: caller lookup, popups, click-to-dial, recordings",
    "version": "18.0.1.0.0",
    "category": "Productivity/PBX",
    "website": "https://github.com/odoopbx/asterisk-odoo",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_common"],
    "data": [],
}
