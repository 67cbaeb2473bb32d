{
    "name": "Asterisk AMI Worker",
    "summary": "Server-wide worker: keeps the AMI connections open and dispatches events",
    "version": "18.0.1.0.0",
    "category": "Productivity/PBX",
    "website": "https://github.com/odoopbx/asterisk-odoo",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_common"],
    "external_dependencies": {"python": ["panoramisk"]},
    "data": [],
}
