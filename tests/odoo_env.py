"""Driving real Odoo processes and PostgreSQL databases from pytest."""

import os
import re
import subprocess
import sys
import uuid

import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDONS = ("asterisk_common", "asterisk_base", "asterisk_calls", "asterisk_agent_worker")
# What every install needs from Odoo; the template databases hold it.
ODOO_DEPENDS = "base,mail,bus,phone_validation"
DB_PREFIX = "asterisk_test_"


def odoo_home():
    import odoo

    return os.path.dirname(os.path.dirname(os.path.abspath(odoo.__file__)))


TEST_ADDONS = os.path.join(REPO, "tests", "addons")


def addons_path(with_test_addons=False):
    home = odoo_home()
    path = f"{home}/addons,{home}/odoo/addons,{REPO}"
    return f"{path},{TEST_ADDONS}" if with_test_addons else path


def odoo_cmd(*args, with_test_addons=False):
    return [
        sys.executable,
        os.path.join(odoo_home(), "odoo-bin"),
        f"--addons-path={addons_path(with_test_addons)}",
        *args,
    ]


def run_odoo(*args, timeout=900, with_test_addons=False):
    """Run odoo-bin to completion; return (returncode, log)."""
    proc = subprocess.run(
        odoo_cmd(*args, with_test_addons=with_test_addons),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    return proc.returncode, proc.stdout + proc.stderr


_LOG_LINE = re.compile(r"^\S+ \S+ \d+ (?P<level>[A-Z]+) (?P<db>\S+) (?P<logger>\S+): ", re.M)


def problems(log, *, our_warnings_only=True):
    """ERROR/CRITICAL lines from anyone, WARNING lines from the suite's modules."""
    bad = []
    for line in log.splitlines():
        m = _LOG_LINE.match(line)
        if not m:
            continue
        level, logger = m["level"], m["logger"]
        if (
            level in ("ERROR", "CRITICAL")
            or level == "WARNING"
            and (not our_warnings_only or "asterisk" in logger or "asterisk" in line)
        ):
            bad.append(line)
    return bad


def unique_db(tag):
    return f"{DB_PREFIX}{tag}_{uuid.uuid4().hex[:8]}"


def psql_connect(dbname="postgres", autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def drop_db(name):
    query(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
        [name],
    )
    query("postgres", f'DROP DATABASE IF EXISTS "{name}"')


def copy_db(template, name):
    query("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def query(dbname, sql, params=()):
    conn = psql_connect(dbname)
    try:
        with conn.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def installed_modules(dbname):
    return {
        name
        for (name,) in query(dbname, "SELECT name FROM ir_module_module WHERE state = 'installed'")
    }
