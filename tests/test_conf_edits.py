"""The UpdateConfig edits Odoo computes for a config file (asterisk_base/tools/
conf_text.py), applied by the simulator's config store, which follows
Asterisk 20's ``handle_updates`` (last match for Update, Delete and Insert by
line, inherited lines at the head of a category, comments kept on the lines
that are not deleted). Random files and random edits: the PBX must end with
exactly what the admin wrote, and keep its comments."""

import importlib.util
import random
from pathlib import Path

import pytest

from tests.ami_simulator.configstore import ConfigStore, UpdateError

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"asterisk_base/tools/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conf_text = _load("conf_text")
config_update = _load("config_update")


class Message(dict):
    def get(self, key, default=""):
        return super().get(key, default)


def upload(store, name, edits, max_headers=128):
    for action in config_update.update_config_actions(name, edits, max_headers=max_headers):
        store.update(name, name, Message(action))


def on_pbx(store, name):
    pairs = dict(store.getconfig_lines(name, filter_=conf_text.TEMPLATES))
    return conf_text.from_getconfig(pairs)


PBX_FILE = """\
; sip.conf of the office, hand written
[general]   ; global settings
context = demo
allow = ulaw ; the codec the phones speak
allow = alaw

; the template of every desk phone
[phone](!)
type = friend
host = dynamic

[alice](phone)
secret = alice-secret  ; changed in May
callerid = "Alice" <100>

[6001]
type = endpoint
[6001]
type = aor
"""


def test_download_strips_inherited_lines():
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    cats = on_pbx(store, "sip.conf")
    alice = next(c for c in cats if c.name == "alice")
    assert alice.templates == ["phone"]
    assert alice.lines == [("secret", "alice-secret"), ("callerid", '"Alice" <100>')]
    text = conf_text.render(cats)
    assert "[phone](!)" in text and "[alice](phone)" in text
    assert conf_text.same_content(conf_text.parse(text), cats)


def test_edits_keep_the_pbx_comments():
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    wanted = conf_text.parse(
        conf_text.render(on_pbx(store, "sip.conf"))
        .replace("context = demo", "context = office")
        .replace("secret = alice-secret", "secret = n3w\\;secret")
        + "[bob](phone)\nsecret = bob-secret\n"
    )
    upload(store, "sip.conf", conf_text.config_edits(on_pbx(store, "sip.conf"), wanted))
    saved = store.text("sip.conf")
    assert conf_text.same_content(on_pbx(store, "sip.conf"), wanted)
    for comment in (
        "; sip.conf of the office, hand written",
        "[general] ; global settings",
        "allow = ulaw  ; the codec the phones speak",
        "; the template of every desk phone",
        "secret = n3w\\;secret  ; changed in May",
    ):
        assert comment in saved
    assert "[bob](phone)" in saved
    assert "type = friend" not in saved.split("[bob](phone)")[1], "inherited lines are not saved"


def test_templates_need_the_filter():
    """As Asterisk 20 answers (checked on a real PBX): without a filter,
    GetConfig and the edits do not see templates."""
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    plain = dict(store.getconfig_lines("sip.conf"))
    names = [v for k, v in plain.items() if k.startswith("Category-")]
    assert names == ["general", "alice", "6001", "6001"]
    assert not any(k.startswith("IsTemplate-") for k in plain)
    assert plain["Templates-000001"] == "phone"  # [alice] still says where it inherits from
    edit = {"Action": "UpdateConfig", "SrcFilename": "sip.conf", "DstFilename": "sip.conf",
            "Action-000000": "Append", "Cat-000000": "phone", "Var-000000": "nat",
            "Value-000000": "yes"}  # fmt: skip
    with pytest.raises(UpdateError, match="Given category does not exist"):
        store.update("sip.conf", "sip.conf", Message(edit))
    unquoted = {**edit, "Options-000000": "catfilter=TEMPLATES=include"}
    with pytest.raises(UpdateError, match="Given category does not exist"):
        store.update("sip.conf", "sip.conf", Message(unquoted))
    store.update(
        "sip.conf", "sip.conf", Message({**edit, "Options-000000": 'catfilter="TEMPLATES=include"'})
    )
    assert store.get("sip.conf", "phone", "nat") == ["yes"]
    assert store.categories("sip.conf") == ["general", "alice", "6001", "6001"]


def test_a_line_repeating_its_template_is_not_saved():
    """Asterisk drops it when saving (even where it overrode a line): Odoo
    sends no edit for it and does not see a difference."""
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    pbx = on_pbx(store, "sip.conf")
    wanted = conf_text.parse(
        conf_text.render(pbx).replace("[alice](phone)", "[alice](phone)\ntype = friend")
    )
    assert not conf_text.config_edits(pbx, wanted)
    assert conf_text.same_content(pbx, wanted)
    # Sent anyway, the PBX leaves it out.
    upload(store, "sip.conf", [("Append", "alice", "type", "friend")])
    assert conf_text.same_content(on_pbx(store, "sip.conf"), pbx)


def test_several_templates_and_templates_first():
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    pbx = on_pbx(store, "sip.conf")
    wanted = pbx + conf_text.parse("[x](!)\na=1\n[y](phone,x)\nb=2\n")
    upload(store, "sip.conf", conf_text.config_edits(pbx, wanted))
    assert conf_text.same_content(on_pbx(store, "sip.conf"), wanted)
    assert "[y](phone,x)" in store.text("sip.conf")
    with pytest.raises(conf_text.ConfError, match="not defined before"):
        conf_text.config_edits(pbx, conf_text.parse("[y](later)\n[later](!)\n"))


@pytest.mark.parametrize(
    "text, error",
    [
        ("a = 1\n", "before the first"),
        ("[x]\njunk\n", "expected name = value"),
        ("[x\n", "malformed"),
        ("#include other.conf\n", "#include"),
        ("[x]\na = >b\n", "'>'"),
        ("[x]\n;--\n--;\n", "block comments"),
    ],
)
def test_texts_asterisk_would_reject(text, error):
    with pytest.raises(conf_text.ConfError, match=error):
        conf_text.parse(text)


NAMES = ["allow", "deny", "type", "host", "exten", "same", "context", "ALLOW"]
VALUES = ["ulaw", "alaw", "1", "2", "n,Answer()", "a;b", "", "x"]


def random_category(rng, name, templates=()):
    cat = conf_text.Category(name, templates=list(templates))
    cat.lines = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randint(0, 6))]
    return cat


def random_file(rng):
    cats = [conf_text.Category("tmpl", template=True, lines=[("type", "friend")])]
    for i in range(rng.randint(1, 6)):
        name = rng.choice([f"c{i}", "dup", f"c{i}"])
        templates = ["tmpl"] if rng.random() < 0.3 else []
        cats.append(random_category(rng, name, templates))
    return cats


def mutate(rng, cats):
    cats = [conf_text.Category(c.name, c.template, list(c.templates), list(c.lines)) for c in cats]
    for _ in range(rng.randint(1, 5)):
        cat = rng.choice(cats)
        roll = rng.random()
        if roll < 0.25 and cat.lines:
            cat.lines[rng.randrange(len(cat.lines))] = (rng.choice(NAMES), rng.choice(VALUES))
        elif roll < 0.45:
            cat.lines.insert(
                rng.randint(0, len(cat.lines)), (rng.choice(NAMES), rng.choice(VALUES))
            )
        elif roll < 0.6 and cat.lines:
            del cat.lines[rng.randrange(len(cat.lines))]
        elif roll < 0.7 and cat.lines:
            cat.lines[0] = (cat.lines[0][0], rng.choice(VALUES))
        elif roll < 0.8 and cat.name != "tmpl":
            cats.remove(cat)
        elif roll < 0.9:
            cats.insert(rng.randint(1, len(cats)), random_category(rng, rng.choice(["n1", "dup"])))
        else:
            cat.lines.reverse()
    return cats


@pytest.mark.parametrize("seed", range(300))
def test_random_edits_reach_exactly_the_wanted_file(seed):
    rng = random.Random(seed)
    store = ConfigStore(seed=False)
    store.set_text("f.conf", conf_text.render(random_file(rng)))
    before = on_pbx(store, "f.conf")
    wanted = conf_text.parse(conf_text.render(mutate(rng, before)))
    # A small header budget forces several UpdateConfig messages.
    max_headers = rng.choice([128, 20])
    sent, after = conf_text.sync(
        lambda: on_pbx(store, "f.conf"),
        lambda edits: upload(store, "f.conf", edits, max_headers=max_headers),
        wanted,
    )
    assert conf_text.same_content(after, wanted), store.text("f.conf")
    assert conf_text.config_edits(after, wanted) == [], "nothing left to do"
    assert after == on_pbx(store, "f.conf")


def test_a_template_changed_in_place_leaves_no_copies_behind():
    """As a real Asterisk 20 does: [alice]'s copy of the template's old line
    is saved as her own; the second round deletes it, comments kept."""
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    before = on_pbx(store, "sip.conf")
    wanted = conf_text.parse(conf_text.render(before).replace("host = dynamic", "host = static"))
    first = conf_text.config_edits(before, wanted)
    upload(store, "sip.conf", first)
    alice = next(c for c in on_pbx(store, "sip.conf") if c.name == "alice")
    assert alice.lines[0] == ("host", "dynamic"), "the old line, now her own"
    sent, after = conf_text.sync(
        lambda: on_pbx(store, "sip.conf"), lambda e: upload(store, "sip.conf", e), wanted
    )
    assert sent == 1 and conf_text.same_content(after, wanted)
    assert "secret = alice-secret  ; changed in May" in store.text("sip.conf")
