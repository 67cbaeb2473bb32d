"""Protection behind the real worker: security events from the AMI simulator
over TCP, bans decided in Odoo, pushed back to the simulated PBX's acl.conf and
served to a firewall by the feed; a scanner's flood next to a call."""

import os
import shutil
import statistics
import subprocess
import time
import urllib.request

import pytest

from .conftest import CAPTURES, REPO
from .odoo_env import query
from .test_calls_worker import replay, settled, start
from .worker_env import calls, wait_until

pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES), reason="no ../shared/ami-captures")

ATTACKER = "198.51.100.7"


def security_counts(db):
    return {
        (event, service, address or "", account or ""): count
        for event, service, address, account, count in query(
            db,
            "SELECT event, service, address, account, sum(count) FROM asterisk_base_security_event "
            "GROUP BY event, service, address, account",
        )
    }


def acl_lines(sim):
    store = sim.config_store
    if "acl.conf" not in store:
        return None
    category = store.files["acl.conf"].find("odoo_bans")
    return [f"{v.name}={v.value}" for v in category[0].variables] if category else None


def feed(node, server_id, token):
    request = urllib.request.Request(
        f"http://127.0.0.1:{node.http_port}/asterisk/bans/{server_id}.txt",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://
        return response.read().decode()


def firewall_sync(node, server_id, token, tmp_path):
    """tools/firewall/odoo-bans-sync against the live feed; a stand-in for nft prints the
    transaction it is given."""
    conf = tmp_path / "odoo-bans.conf"
    nft = tmp_path / "nft"
    nft.write_text('#!/bin/sh\n[ "$1" = -f ] || exit 2\ncat "$2"\n')
    nft.chmod(0o755)
    conf.write_text(
        f"URL=http://127.0.0.1:{node.http_port}/asterisk/bans/{server_id}.txt\nTOKEN={token}\n"
    )
    return subprocess.run(
        ["sh", os.path.join(REPO, "tools", "firewall", "odoo-bans-sync")],
        env={
            **os.environ,
            "ODOO_BANS_CONF": str(conf),
            "ODOO_BANS_STATE": str(tmp_path),
            "NFT": str(nft),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_security_captures_through_the_worker(calls_db, sim, odoo):
    node, server_id = start(odoo, calls_db, sim)
    replay(sim, "e_failed_ami_logins_watcher")
    replay(sim, "f_failed_sip_register")
    settled(calls_db, server_id)
    counts = security_counts(calls_db)
    expected = {
        ("InvalidPassword", "AMI", "127.0.0.1", "odoo"): 3,
        ("ChallengeResponseFailed", "AMI", "127.0.0.1", ""): 1,
        ("InvalidAccountID", "AMI", "127.0.0.1", "mallory"): 1,
        ("ChallengeSent", "SIP", "", ""): 2,
        ("InvalidPassword", "SIP", "127.0.0.1", "alice"): 1,
        ("InvalidPassword", "SIP", "127.0.0.1", "mallory"): 1,
    }
    assert {k: v for k, v in counts.items() if k[0] != "SuccessfulAuth"} == expected
    # Two logins replayed, plus the worker's own (the simulator's event).
    assert counts[("SuccessfulAuth", "AMI", "", "")] == 3
    assert query(calls_db, "SELECT count(*) FROM asterisk_base_ban")[0][0] == 0, "loopback"
    assert node.errors() == []


def test_attack_is_banned_pushed_to_the_pbx_and_fed_to_the_firewall(calls_db, sim, odoo, tmp_path):
    node, server_id = start(odoo, calls_db, sim, options={"max_cron_threads": 1})
    node.rpc("asterisk_common.server", "action_generate_ban_token", [server_id])
    (token,) = node.rpc("asterisk_common.server", "read", [server_id], ["ban_feed_token"])
    token = token["ban_feed_token"]
    assert feed(node, server_id, token) == ""

    started = time.monotonic()
    sim.start_call("sip_scan", addresses=[ATTACKER], attempts=12)
    ban_id = wait_until(
        lambda: query(calls_db, "SELECT id FROM asterisk_base_ban WHERE address = %s", [ATTACKER]),
        20,
        0.1,
        "the ban",
    )[0][0]
    banned_after = time.monotonic() - started
    # The ACL reaches the PBX: UpdateConfig of acl.conf, then "reload acl".
    wait_until(lambda: acl_lines(sim) and f"deny={ATTACKER}/32" in acl_lines(sim), 30, 0.2, "ACL")
    pushed_after = time.monotonic() - started
    assert acl_lines(sim) == ["permit=0.0.0.0/0.0.0.0", "permit=::/0", f"deny={ATTACKER}/32"]
    updates = [a for a in sim.actions_received if a.get("Action") == "UpdateConfig"]
    assert updates[-1]["Reload"] == "acl"
    assert any(a.get("Action") == "CreateConfig" for a in sim.actions_received)
    assert feed(node, server_id, token) == f"{ATTACKER}\n"
    if shutil.which("curl"):  # the README's nftables script, on the real feed
        sync = firewall_sync(node, server_id, token, tmp_path)
        assert sync.returncode == 0, sync.stderr
        assert sync.stdout.splitlines() == [
            "flush set inet odoo_bans ban4",
            "flush set inet odoo_bans ban6",
            f"add element inet odoo_bans ban4 {{ {ATTACKER} }}",
        ]
        refused = firewall_sync(node, server_id, "not-the-token", tmp_path)
        assert refused.returncode != 0 and "403" in refused.stderr
    print(
        f"\nbanned {banned_after:.2f} s after the attack, ACL on the PBX after {pushed_after:.2f} s"
    )

    # An admin unbans: the ACL follows within seconds, the feed at once.
    node.rpc("asterisk_base.ban", "action_lift", [ban_id])
    assert feed(node, server_id, token) == ""
    wait_until(
        lambda: acl_lines(sim) == ["permit=0.0.0.0/0.0.0.0", "permit=::/0"], 30, 0.2, "unban"
    )
    assert node.errors() == []


def _call_time(sim, db):
    """Seconds from a simulated call's start to its record ended in Odoo (about one
    second of it is the call itself)."""
    started = time.monotonic()
    linkedid = sim.start_call("alice_calls_bob", phones={"bob": ("answer", 0.5)}, talk_time=0.5)
    wait_until(
        lambda: calls(db, "c.linkedid = %s AND c.ended_at IS NOT NULL", [linkedid]),
        60,
        0.02,
        f"call {linkedid}",
    )
    return time.monotonic() - started, linkedid


def test_scanner_flood_does_not_hold_up_calls(calls_db, sim, odoo):
    """10,000 security events from 1,000 addresses while calls go on: the
    calls' records come about as fast as without the flood, and the flood
    leaves one row per address, window and account, not one per event."""
    node, server_id = start(odoo, calls_db, sim)
    quiet = [_call_time(sim, calls_db)[0] for _ in range(3)]

    addresses = [f"198.51.{100 + i // 250}.{i % 250 + 1}" for i in range(1000)]
    flood_started = time.monotonic()
    sim.start_call("sip_scan", addresses=addresses, attempts=5)  # 2 events per attempt
    during, linkedid = _call_time(sim, calls_db)
    wait_until(
        lambda: (
            query(
                calls_db,
                "SELECT sum(count) FROM asterisk_base_security_event "
                "WHERE event = 'InvalidPassword' AND address LIKE '198.51.%%'",
            )[0][0]
            == 5000
        ),
        120,
        0.1,
        "the flood counted",
    )
    flood_handled = time.monotonic() - flood_started
    rows = query(
        calls_db, "SELECT count(*) FROM asterisk_base_security_event WHERE address LIKE '198.51.%%'"
    )[0][0]
    windows = query(
        calls_db,
        "SELECT count(DISTINCT window_start) FROM asterisk_base_security_event "
        "WHERE address LIKE '198.51.%%'",
    )[0][0]
    print(
        f"\ncall alone {statistics.median(quiet):.2f} s (max {max(quiet):.2f}), "
        f"during the flood {during:.2f} s; 10,000 events handled in {flood_handled:.2f} s "
        f"into {rows} rows over {windows} windows"
    )
    assert rows <= len(addresses) * windows * 3  # one per address, window and account tried
    (call,) = calls(calls_db, "c.linkedid = %s", [linkedid])
    assert (call["status"], call["answered_by"]) == ("answered", "bob")
    # Five failures each: nobody went past the policy, but three accounts were
    # tried from a thousand addresses: distributed guessing, flagged once each.
    assert query(calls_db, "SELECT count(*) FROM asterisk_base_ban")[0][0] == 0
    assert sorted(
        query(calls_db, "SELECT account, address_count FROM asterisk_base_targeted_account")
    ) == [("100", 1000), ("101", 1000), ("admin", 1000)]
    # The flood waits in the same queue as the call's events only briefly.
    assert during < max(quiet) + 5.0, (quiet, during)
    settled(calls_db, server_id)
    assert query(calls_db, "SELECT count(*) FROM asterisk_common_dispatch_error")[0][0] == 0
    assert node.errors() == []
