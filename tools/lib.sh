# Shared by tools/demo, tools/test and .ci/run: find Odoo, install what the
# suite needs, start PostgreSQL. Source it; every function is idempotent.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
export PGHOST="${PGHOST:-}" PGPORT="${PGPORT:-5432}"

log() { printf '\033[1m[asterisk]\033[0m %s\n' "$*" >&2; }
die() { printf '[asterisk] ERROR: %s\n' "$*" >&2; exit 1; }

# An Odoo 18.0 source tree: $ODOO_HOME, else the usual places ($ODOO_SEARCH, which the
# tests empty), else a shallow clone beside the repo (see fetch_odoo).
ODOO_SEARCH="${ODOO_SEARCH-/opt/odoo18 /opt/odoo-18.0 /opt/odoo /usr/src/odoo}"
ODOO_GIT_URL="${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}"

is_odoo18() {
    [ -f "$1/odoo/release.py" ] && [ -f "$1/odoo-bin" ] &&
        grep -q "^version_info = (18, 0" "$1/odoo/release.py"
}

find_odoo() {
    local c
    # shellcheck disable=SC2086  # ODOO_SEARCH is a list of folders
    for c in "${ODOO_HOME:-}" "$REPO/../odoo" $ODOO_SEARCH; do
        [ -n "$c" ] && is_odoo18 "$c" || continue
        ODOO_HOME="$(cd "$c" && pwd)"
        export ODOO_HOME
        return 0
    done
    [ -z "${ODOO_HOME:-}" ] || die "ODOO_HOME=$ODOO_HOME is not an Odoo 18.0 source tree (no odoo-bin, or odoo/release.py is not 18.0)"
    fetch_odoo
}

# No tree found: clone Odoo 18.0 into ../odoo, after asking on a terminal, without asking
# with ODOO_FETCH=1 (or --yes); otherwise say how to point ODOO_HOME at an existing one.
fetch_odoo() {
    local dest how answer=""
    dest="$(cd "$REPO/.." && pwd)/odoo"
    how="set ODOO_HOME=/path/to/odoo (a checkout of $ODOO_GIT_URL branch 18.0, the folder holding odoo-bin)"
    [ ! -e "$dest" ] || die "$dest exists but is not an Odoo 18.0 source tree; it is left untouched: $how, or move it away"
    [ "${ODOO_FETCH:-}" = 1 ] || [ -t 0 ] ||
        die "no Odoo 18.0 source tree found: $how, or rerun with ODOO_FETCH=1 (or --yes) to clone it into $dest"
    command -v git >/dev/null || die "git is not installed: sudo apt-get install git, or $how"
    if [ "${ODOO_FETCH:-}" != 1 ]; then
        log "no Odoo 18.0 source tree found; to use an existing one instead, answer N and $how"
        read -r -p "No Odoo 18.0 source tree found. Clone Odoo 18.0 (shallow, over 1 GB on disk) into $dest now? [y/N] " answer || true
        [[ "$answer" == [yY]* ]] || die "no Odoo 18.0 source tree: $how, or rerun and answer y"
    fi
    log "cloning Odoo 18.0 from $ODOO_GIT_URL into $dest"
    if ! GIT_TERMINAL_PROMPT=0 git clone --branch 18.0 --depth 1 "$ODOO_GIT_URL" "$dest"; then
        rm -rf "$dest"
        die "cloning $ODOO_GIT_URL failed (no network?): check the connection and rerun, or $how"
    fi
    is_odoo18 "$dest" || die "$dest, cloned from $ODOO_GIT_URL, is not an Odoo 18.0 source tree: $how"
    ODOO_HOME="$dest"
    export ODOO_HOME
}

# --yes among a script's arguments means ODOO_FETCH=1; the other arguments are left in ARGS.
strip_yes() {
    ARGS=()
    local a
    for a in "$@"; do
        if [ "$a" = --yes ]; then export ODOO_FETCH=1; else ARGS+=("$a"); fi
    done
}

addons_path() { echo "$ODOO_HOME/addons,$ODOO_HOME/odoo/addons,$REPO"; }

# Debian packages: PostgreSQL, python-ldap's headers, chromium for browser tests, curl for
# the firewall script's test.
ensure_system_packages() {
    local missing=() p
    for p in postgresql libldap2-dev libsasl2-dev libpq-dev chromium curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A running cluster and a PostgreSQL role for the current user.
ensure_postgres() {
    if ! pg_isready -q 2>/dev/null; then
        local ver
        ver="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1" "$2}')"
        [ -n "$ver" ] || die "no PostgreSQL cluster (pg_lsclusters is empty)"
        log "starting PostgreSQL cluster $ver"
        # shellcheck disable=SC2086
        pg_ctlcluster $ver start
        STARTED_POSTGRES="$ver"  # the demo stops what it started
        for _ in $(seq 30); do pg_isready -q && break; sleep 0.5; done
        pg_isready -q || die "PostgreSQL did not start"
    fi
    local me
    me="$(id -un)"
    if ! psql -d postgres -Atc "select 1" >/dev/null 2>&1; then
        [ "$(id -u)" -eq 0 ] || die "PostgreSQL has no role '$me': createuser -s $me (as postgres)"
        log "creating PostgreSQL role $me"
        su postgres -c "createuser --superuser '$me'"
    fi
}

# The virtualenv with Odoo's and the suite's requirements; rebuilt only when
# either requirements file changes.
ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(cat "$ODOO_HOME/requirements.txt" "$REPO/requirements.txt" "$REPO/tools/constraints-build.txt" | sha256sum | cut -d' ' -f1)"
    if [ -x "$PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        link_odoo
        return 0
    fi
    log "creating virtualenv $VENV (Odoo's requirements take a few minutes)"
    python3 -m venv "$VENV"
    local pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
    # PIP_CONSTRAINT reaches the isolated build environments too (cbor2).
    export PIP_CONSTRAINT="$REPO/tools/constraints-build.txt"
    "${pip[@]}" "setuptools<70" wheel
    "${pip[@]}" -r "$ODOO_HOME/requirements.txt"
    "${pip[@]}" -r "$REPO/requirements.txt"
    unset PIP_CONSTRAINT
    echo "$want" >"$stamp"
    link_odoo
}

# `import odoo` in the virtualenv (pytest-odoo needs it at import time).
link_odoo() {
    local site
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$ODOO_HOME" >"$site/odoo-home.pth"
}

odoo_bin() { "$PY" "$ODOO_HOME/odoo-bin" --addons-path="$(addons_path)" "$@"; }

setup_all() {
    find_odoo
    ensure_system_packages
    ensure_postgres
    ensure_venv
}
