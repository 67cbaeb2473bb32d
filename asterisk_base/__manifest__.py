{
    "name": "Asterisk PBX Management",
    "summary": "Manage Asterisk from Odoo: config files, extensions, live status, CLI, bans",
    "version": "18.0.1.0.0",
    "category": "Productivity/PBX",
    "website": "https://github.com/odoopbx/asterisk-odoo",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_common"],
    "data": [],
}
