{
    "name": "Asterisk Worker Test Handlers",
    "summary": "Test-only handlers for the AMI worker's tests (not for production)",
    "version": "18.0.1.0.0",
    "category": "Hidden/Tests",
    "author": "OdooPBX contributors",
    "license": "LGPL-3",
    "depends": ["asterisk_common"],
    "data": ["security/ir.model.access.csv"],
    "installable": True,
}
