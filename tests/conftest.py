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

from .ami_simulator import SimulatorThread  # noqa: E402
from .odoo_env import copy_db, drop_db, unique_db  # noqa: E402
from .worker_env import OdooServer, create_calls_template, create_worker_template  # noqa: E402


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the item (fixtures show logs on failure)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- the worker's tests: a database, an AMI simulator, Odoo servers ----------------


@pytest.fixture(scope="session")
def worker_template():
    name = create_worker_template()
    yield name
    drop_db(name)


@pytest.fixture
def db(worker_template):
    name = unique_db("worker")
    copy_db(worker_template, name)
    yield name
    drop_db(name)


@pytest.fixture(scope="session")
def calls_template():
    name = create_calls_template()
    yield name
    drop_db(name)


@pytest.fixture
def calls_db(calls_template):
    name = unique_db("calls")
    copy_db(calls_template, name)
    yield name
    drop_db(name)


@pytest.fixture
def sim():
    with SimulatorThread(port=0, failed_login_delay=0.2, time_scale=0.05) as simulator:
        yield simulator


@pytest.fixture
def odoo(request):
    """Factory of Odoo servers, stopped (and their logs shown on failure) after the test."""
    servers = []

    def start(db, **kwargs):
        server = OdooServer(db, name=f"odoo{len(servers)}", **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for server in servers:
            log = server.log()
            # the AMI sessions' story (logins, drops, watchdog) may be older than the tail
            sessions = [line for line in log.splitlines() if ".ami.client:" in line]
            print(f"----- {server.name} AMI sessions -----\n" + "\n".join(sessions[-40:]))
            print(f"----- {server.name} log tail -----\n{log[-4000:]}")
    for server in servers:
        server.discard()
