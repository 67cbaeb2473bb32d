"""Suite-level pytest configuration.

Makes the addons of this repository importable as ``odoo.addons.<name>`` (as
Odoo itself imports them) for tests that need no database; pytest-odoo does
the same, plus the registry, for the addons' own tests.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
CAPTURES = os.path.join(SHARED, "ami-captures")

_odoo_home = os.environ.get("ODOO_HOME")
if _odoo_home and _odoo_home not in sys.path:
    sys.path.insert(0, _odoo_home)

try:
    import odoo.addons
except ImportError:  # the simulator's tests need no Odoo
    pass
else:
    if REPO not in odoo.addons.__path__:
        odoo.addons.__path__.append(REPO)


import pytest  # noqa: E402


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the item (fixtures show logs on failure)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
