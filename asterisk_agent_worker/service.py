"""Where the worker runs: hooks on Odoo's servers, installed at import.

``--load=base,web,asterisk_agent_worker`` imports this module before Odoo
builds its server object (as OCA queue_job does), so the hooks are in place:

- threaded server (``--workers=0``): a thread of the server process, started
  after the HTTP server and stopped with it;
- prefork server (``--workers=N``): one dedicated worker process, spawned and
  respawned by the master like the cron workers;
- never in the gevent process, in ``odoo-bin shell``, with
  ``--stop-after-init`` (installs, upgrades, test runs) or while tests run,
  unless the ``asterisk_worker_in_tests`` option asks for it.

Options (``[options]`` of the configuration file):

``asterisk_worker`` (True)
    False disables the worker on this node (it then only serves HTTP).
``asterisk_worker_databases`` (empty)
    Comma-separated databases to serve; default: those where
    ``asterisk_common`` is installed (or ``db_name`` when it is set).
``asterisk_worker_threads`` (2), ``asterisk_worker_batch`` (200),
``asterisk_worker_buffer`` (100000)
    Dispatch threads per database, events per transaction, events kept in
    memory while the database is unavailable.
"""

import logging
import os
import sys
import time

import odoo
from odoo.service import server as odoo_server
from odoo.tools import config

from .worker import AmiWorker

_logger = logging.getLogger(__name__)


def _bool(value):
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


def worker_settings():
    db_name = config.get("db_name") or ""
    if isinstance(db_name, list | tuple):
        db_name = ",".join(db_name)
    databases = config.get("asterisk_worker_databases") or db_name
    return {
        "databases": [d.strip() for d in str(databases).split(",") if d.strip()],
        "threads": int(config.get("asterisk_worker_threads") or 2),
        "batch": int(config.get("asterisk_worker_batch") or 200),
        "buffer": int(config.get("asterisk_worker_buffer") or 100000),
    }


def worker_enabled(stop=False):
    """Whether this process may run the worker (see the module docstring)."""
    if odoo.evented or stop or config.get("stop_after_init"):
        return False
    if not _bool(config.get("asterisk_worker", True)):
        return False
    if "shell" in sys.argv[1:3]:
        return False
    # Test runs: Odoo's (test_enable) and pytest-odoo's, which starts a
    # ThreadedServer in the pytest process for HttpCase tests.
    in_tests = config.get("test_enable") or "pytest" in sys.modules
    return not in_tests or _bool(config.get("asterisk_worker_in_tests", False))


# -- threaded server -----------------------------------------------------------------

_orig_threaded_start = odoo_server.ThreadedServer.start
_orig_threaded_stop = odoo_server.ThreadedServer.stop


def _threaded_start(self, *args, **kwargs):
    result = _orig_threaded_start(self, *args, **kwargs)
    stop = kwargs.get("stop", args[0] if args else False)
    if worker_enabled(stop):
        self.asterisk_worker = AmiWorker(worker_settings())
        self.asterisk_worker.start_thread()
    return result


def _threaded_stop(self):
    worker = getattr(self, "asterisk_worker", None)
    if worker is not None:
        worker.stop()
    return _orig_threaded_stop(self)


odoo_server.ThreadedServer.start = _threaded_start
odoo_server.ThreadedServer.stop = _threaded_stop


# -- prefork server ------------------------------------------------------------------


class WorkerAsterisk(odoo_server.Worker):
    """The prefork process that runs the AMI worker.

    Odoo's worker loop keeps running around it: the master's watchdog is pinged,
    memory and CPU limits are checked, and the process exits (and is respawned)
    when the AMI worker thread dies.
    """

    def __init__(self, multi):
        super().__init__(multi)
        self.ami_worker = None

    def start(self):
        super().start()
        if self.multi.socket:
            self.multi.socket.close()
        self.setproctitle("asterisk")
        self.ami_worker = AmiWorker(worker_settings())
        self.ami_worker.start_thread()

    def sleep(self):
        # Nothing to accept: wake up every second to ping the master's watchdog
        # and check the limits; signals are handled by the main thread.
        time.sleep(1.0)

    def process_work(self):
        if not self.ami_worker.alive:
            _logger.error("AMI worker thread died: restarting the process")
            self.alive = False

    def stop(self):
        if self.ami_worker is not None:
            self.ami_worker.stop()
        super().stop()


_orig_prefork_init = odoo_server.PreforkServer.__init__
_orig_process_spawn = odoo_server.PreforkServer.process_spawn
_orig_worker_pop = odoo_server.PreforkServer.worker_pop


def _prefork_init(self, *args, **kwargs):
    _orig_prefork_init(self, *args, **kwargs)
    self.workers_asterisk = {}


def _process_spawn(self):
    _orig_process_spawn(self)
    # No registry of ours: the module was imported late (installed but not
    # loaded server-wide), so this server was not meant to run the worker.
    if getattr(self, "workers_asterisk", None) == {} and worker_enabled():
        self.worker_spawn(WorkerAsterisk, self.workers_asterisk)


def _worker_pop(self, pid):
    getattr(self, "workers_asterisk", {}).pop(pid, None)
    return _orig_worker_pop(self, pid)


odoo_server.PreforkServer.__init__ = _prefork_init
odoo_server.PreforkServer.process_spawn = _process_spawn
odoo_server.PreforkServer.worker_pop = _worker_pop

_logger.debug("asterisk_agent_worker hooks installed in process %s", os.getpid())
