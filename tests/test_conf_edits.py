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

from tests.ami_simulator.configstore import ConfigStore

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
    pairs = dict(store.getconfig_lines(name))
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


def test_one_template_only_and_templates_first():
    store = ConfigStore(seed=False)
    store.set_text("sip.conf", PBX_FILE)
    pbx = on_pbx(store, "sip.conf")
    with pytest.raises(conf_text.ConfError, match="several templates"):
        conf_text.config_edits(pbx, pbx + conf_text.parse("[x](!)\na=1\n[y](phone,x)\nb=2\n"))
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
    edits = conf_text.config_edits(before, wanted)
    # A small header budget forces several UpdateConfig messages.
    upload(store, "f.conf", edits, max_headers=rng.choice([128, 20]))
    after = on_pbx(store, "f.conf")
    assert conf_text.same_content(after, wanted), (edits, store.text("f.conf"))
    assert conf_text.config_edits(after, wanted) == [], "nothing left to do"
