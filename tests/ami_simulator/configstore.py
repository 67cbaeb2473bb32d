"""In-memory Asterisk configuration files for GetConfig/UpdateConfig & co.

The store holds parsed ``.conf`` files (categories of ``name=value`` lines).
The behaviour of the actions follows ``main/manager.c`` (``action_getconfig``,
``handle_updates``...): an UpdateConfig is applied to a copy and only saved
when every step succeeded, which is what "Asterisk rewrites the whole file"
means for a client.  The seed content of ``extensions.conf`` and ``sip.conf``
is the one of the Asterisk that recorded the reference captures.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field


@dataclass
class Variable:
    name: str
    value: str
    object: bool = False  # written "name => value" (e.g. exten => ...)
    inherited: bool = False  # copied from a template when read: listed by GetConfig
    precomments: list[str] = field(default_factory=list)
    sameline: str = ""
    trailing: list[str] = field(default_factory=list)  # comments ending the file
    lineno: int = 0  # its line in the file as read; 0: added since


@dataclass
class Category:
    name: str
    variables: list[Variable] = field(default_factory=list)
    template: bool = False
    templates: list[str] = field(default_factory=list)
    precomments: list[str] = field(default_factory=list)
    sameline: str = ""
    trailing: list[str] = field(default_factory=list)
    lineno: int = 0


@dataclass
class ConfigFile:
    categories: list[Category] = field(default_factory=list)

    def find(self, name: str) -> list[Category]:
        return [c for c in self.categories if c.name == name]

    def render(self, save_as: str = "") -> str:
        """The file as read or, with ``save_as``, as Asterisk's
        ``ast_config_text_file_save2`` writes it under that name: a ``;!`` header
        of its own instead of the last one.  The comments (blank lines too) read
        with the file are kept in place, where lines were deleted come blank
        lines (one for five or more), inherited lines are left out (when
        saved: those equal to a template's line), semicolons of values escaped."""
        out = []
        if save_as:
            out += [
                ";!",
                ";! Automatically generated configuration file",
                f";! Filename: {save_as} (/etc/asterisk/{save_as})",
                ";! Generator: Manager",
                f";! Creation Date: {time.ctime()}",
                ";!",
            ]
        next_line = 1  # of the file as read

        def comments(lines: list[str]) -> None:
            """``print_comment``: a saved file gets the header above instead of the last one."""
            out.extend(c for c in lines if not (save_as and c.startswith(";!")))

        def place(item: Category | Variable) -> None:
            """``insert_leading_blank_lines``, then the comments above ``item``."""
            nonlocal next_line
            gap = item.lineno - len(item.precomments) - next_line
            if gap >= 0:
                out.extend([""] * (gap if gap < 5 else 1))
                next_line = item.lineno + 1
            comments(item.precomments)

        for cat in self.categories:
            # Saving leaves out the lines equal to one of the templates' now
            # (name ignoring case, same value): the copies made when the file
            # was read, unless an edit changed the template since (then they
            # are written as the category's own), and any own line repeating
            # one (PreserveEffectiveContext, UpdateConfig's default).
            from_templates = {
                (v.name.lower(), v.value)
                for t in self.categories
                if save_as and t.name.lower() in {n.lower() for n in cat.templates}
                for v in t.variables
            }
            place(cat)
            head = f"[{cat.name}]"
            opts = (["!"] if cat.template else []) + cat.templates
            if opts:
                head += "(" + ",".join(opts) + ")"
            out.append(head + (f" {cat.sameline}" if cat.sameline else ""))
            comments(cat.trailing)
            for v in cat.variables:
                if (v.inherited and not save_as) or (v.name.lower(), v.value) in from_templates:
                    continue
                place(v)
                value = v.value.replace(";", "\\;")
                line = f"{v.name} {'=>' if v.object else '='} {value}"
                out.append(line + (f"  {v.sameline}" if v.sameline else ""))
                comments(v.trailing)
        return "".join(f"{line}\n" for line in out)


def _split_comment(raw: str) -> tuple[str, str]:
    """(content, comment) of a line; ``\\;`` is an escaped semicolon."""
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and raw[i + 1 : i + 2] == ";":
            i += 2
            continue
        if raw[i] == ";":
            return raw[:i], raw[i:]
        i += 1
    return raw, ""


def parse_config(text: str) -> ConfigFile:
    """A .conf text as ``ast_config_load2`` with ``CONFIG_FLAG_WITHCOMMENTS``
    reads it: categories, templates (their lines copied into the categories
    inheriting them), ``=`` and ``=>``, comments and blank lines attached to
    the next line (those ending the file to the last one), line numbers."""
    cfg = ConfigFile()
    current: Category | None = None
    last: Category | Variable | None = None
    comments: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        content, comment = _split_comment(raw)
        line = content.strip().replace("\\;", ";")
        if not line:
            comments.append(comment.rstrip())
            continue
        if line.startswith("["):
            name, _, rest = line[1:].partition("]")
            current = Category(
                name.strip(), precomments=comments, sameline=comment.rstrip(), lineno=lineno
            )
            last = current
            comments = []
            rest = rest.strip()
            if rest.startswith("(") and rest.endswith(")"):
                for opt in rest[1:-1].split(","):
                    opt = opt.strip()
                    if opt == "!":
                        current.template = True
                    elif opt:
                        current.templates.append(opt)
                        base = next(
                            (c for c in cfg.categories if c.name.lower() == opt.lower()), None
                        )
                        if base is not None:
                            current.variables += [
                                Variable(v.name, v.value, v.object, inherited=True)
                                for v in base.variables
                            ]
            cfg.categories.append(current)
            continue
        if current is None:
            continue
        is_object = "=>" in line and line.index("=>") <= line.index("=")
        name, _, value = line.partition("=>" if is_object else "=")
        last = Variable(
            name.strip(),
            value.strip(),
            is_object,
            precomments=comments,
            sameline=comment.rstrip(),
            lineno=lineno,
        )
        current.variables.append(last)
        comments = []
    if last is not None:
        last.trailing = comments
    return cfg


def strsep(text: str, sep: str) -> list[str]:
    """``ast_strsep(..., AST_STRSEP_STRIP)`` repeated: split on ``sep`` outside
    double quotes, each piece trimmed and its outer quotes removed."""
    pieces, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    out = []
    for piece in pieces:
        piece = piece.strip()
        if len(piece) >= 2 and piece[0] == piece[-1] == '"':
            piece = piece[1:-1]
        out.append(piece)
    return out


def category_matches(cat: Category, name: str, filter_: str) -> bool:
    """config.c ``does_category_match``: the name (ignoring case), then each
    ``name=value`` of the filter: ``TEMPLATES=include|restrict``, else regular
    expressions on a line's name and value. No filter: no templates."""
    if name and cat.name.lower() != name.lower():
        return False
    if not filter_:
        return not cat.template
    found = expressions = 0
    template_ok = False
    for nvp in strsep(filter_, ","):
        expressions += 1
        pieces = strsep(nvp, "=")
        if len(pieces) < 2:  # "an empty match value is OK. A NULL match value (no =) is NOT"
            break
        match_name, match_value = pieces[0], pieces[1]
        if match_name == "TEMPLATES":
            if match_value.lower() == "include":
                template_ok = template_ok or cat.template
                found += 1
            elif match_value.lower() == "restrict":
                if not cat.template:
                    break
                found += 1
                template_ok = True
            continue
        try:
            names, values = re.compile(match_name), re.compile(match_value)
        except re.error:
            return False
        if any(names.search(v.name) and values.search(v.value) for v in cat.variables):
            found += 1
    return found == expressions and (not cat.template or template_ok)


def _option(options: list[str], prefix: str) -> str:
    """handle_updates: the second "="-separated piece of the option, "" if none."""
    for o in options:
        if o.startswith(prefix):
            pieces = strsep(o, "=")
            return pieces[1] if len(pieces) > 1 else ""
    return ""


def _matches(v: Variable, name: str, match: str) -> bool:
    """config.c compares names and values with strcasecmp."""
    return v.name.lower() == name.lower() and (not match or v.value.lower() == match.lower())


class UpdateError(Exception):
    """``enum error_type`` of manager.c, carrying the text Asterisk answers."""


ERR_UNKNOWN_ACTION = "Unknown action command"
ERR_UNKNOWN_CATEGORY = "Given category does not exist"
ERR_UNSPECIFIED_CATEGORY = "Category not specified"
ERR_UNSPECIFIED_ARGUMENT = "Problem with category, value, or line (if required)"
ERR_FAILURE_NEWCAT = "Create category did not complete successfully"
ERR_FAILURE_UPDATE = "Update did not complete successfully"
ERR_FAILURE_TEMPLATE = "Template category not found"


class ConfigStore:
    """Named config files; ``files`` maps a file name to a :class:`ConfigFile`."""

    def __init__(self, seed: bool = True):
        self.files: dict[str, ConfigFile] = {}
        self.saves: list[str] = []  # names written by UpdateConfig, for assertions
        if seed:
            for name, text in SEED_FILES.items():
                self.files[name] = parse_config(text)

    # -- plain API for tests ---------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name in self.files

    def __getitem__(self, name: str) -> ConfigFile:
        return self.files[name]

    def set_text(self, name: str, text: str) -> None:
        self.files[name] = parse_config(text)

    def text(self, name: str) -> str:
        return self.files[name].render()

    def get(self, name: str, category: str, variable: str) -> list[str]:
        """All values of ``variable`` in the categories called ``category``."""
        return [
            v.value
            for c in self.files[name].find(category)
            for v in c.variables
            if v.name == variable
        ]

    # -- AMI actions -----------------------------------------------------
    def getconfig_lines(
        self, name: str, category: str = "", filter_: str = ""
    ) -> list[tuple[str, str]]:
        cfg = self.files[name]
        pairs: list[tuple[str, str]] = []
        catcount = 0
        for cat in cfg.categories:
            if not category_matches(cat, category, filter_):
                continue
            pairs.append((f"Category-{catcount:06d}", cat.name))
            if cat.template:
                pairs.append((f"IsTemplate-{catcount:06d}", "1"))
            if cat.templates:
                pairs.append((f"Templates-{catcount:06d}", ",".join(cat.templates)))
            for lineno, v in enumerate(cat.variables):
                pairs.append((f"Line-{catcount:06d}-{lineno:06d}", f"{v.name}={v.value}"))
            catcount += 1
        return pairs

    def getconfig_json(self, name: str, category: str = "", filter_: str = "") -> str:
        def esc(s: str) -> str:
            # manager.c json_escape() only escapes backslash and double quote.
            return s.replace("\\", "\\\\").replace('"', '\\"')

        parts = []
        for cat in self.files[name].categories:
            if not category_matches(cat, category, filter_):
                continue
            items = []
            if cat.template:
                items.append('"istemplate":1')
            if cat.templates:
                items.append(f'"templates":"{",".join(cat.templates)}"')
            items += [f'"{esc(v.name)}":"{esc(v.value)}"' for v in cat.variables]
            parts.append(f'"{esc(cat.name)}":{{{",".join(items)}}}')
        return "{" + ",".join(parts) + "}"

    def categories(self, name: str) -> list[str]:
        """ListCategories: the templates are not listed."""
        return [c.name for c in self.files[name].categories if not c.template]

    def create(self, name: str) -> bool:
        """CreateConfig opens the file with O_EXCL: False if it exists."""
        if name in self.files:
            return False
        self.files[name] = ConfigFile()
        return True

    def update(self, src: str, dst: str, msg) -> None:
        """Apply the ``Action-NNNNNN`` steps of an UpdateConfig message atomically."""
        cfg = copy.deepcopy(self.files[src])
        for x in range(100000):
            action = msg.get(f"Action-{x:06d}")
            if not action:
                break
            cat = msg.get(f"Cat-{x:06d}")
            if not cat:
                raise UpdateError(ERR_UNSPECIFIED_CATEGORY)
            var = msg.get(f"Var-{x:06d}")
            value = msg.get(f"Value-{x:06d}")
            is_object = value.startswith(">")
            if is_object:
                value = value[1:]
            match = msg.get(f"Match-{x:06d}")
            line = msg.get(f"Line-{x:06d}")
            raw_options = msg.get(f"Options-{x:06d}")
            options = [o for o in strsep(raw_options, ",") if o] if raw_options else []
            allowdups = "allowdups" in (o.lower() for o in options)
            ignoreerror = "ignoreerror" in (o.lower() for o in options)
            istemplate = "template" in (o.lower() for o in options)

            inherit, catfilter = _option(options, "inherit"), _option(options, "catfilter")
            action = action.lower()
            cats = [c for c in cfg.categories if category_matches(c, cat, catfilter)]
            if action == "newcat":
                exists = any(category_matches(c, cat, "TEMPLATES=include") for c in cfg.categories)
                if exists and not allowdups:
                    if ignoreerror:
                        continue
                    raise UpdateError(ERR_FAILURE_NEWCAT)
                new = Category(cat, template=istemplate)
                for tmpl in filter(None, strsep(inherit, ",")):
                    base = next(
                        (
                            c
                            for c in cfg.categories
                            if category_matches(c, tmpl, "TEMPLATES=restrict")
                        ),
                        None,
                    )
                    if base is None:
                        raise UpdateError(ERR_FAILURE_TEMPLATE)
                    new.templates.append(base.name)
                    new.variables += [
                        Variable(v.name, v.value, v.object, inherited=True) for v in base.variables
                    ]
                if match:
                    idx = next(
                        (
                            i
                            for i, c in enumerate(cfg.categories)
                            if c.name.lower() == match.lower()
                        ),
                        None,
                    )
                    if idx is None:
                        raise UpdateError(ERR_FAILURE_NEWCAT)
                    cfg.categories.insert(idx, new)
                else:
                    cfg.categories.append(new)
                continue
            if action not in (
                "renamecat",
                "delcat",
                "emptycat",
                "update",
                "delete",
                "append",
                "insert",
            ):
                raise UpdateError(ERR_UNKNOWN_ACTION)
            if not cats:
                if action == "delcat" and ignoreerror:
                    continue
                if action in ("update", "delete", "append", "insert") and not var and not line:
                    raise UpdateError(ERR_UNSPECIFIED_ARGUMENT)
                raise UpdateError(ERR_UNKNOWN_CATEGORY)
            if action == "renamecat":
                if not value:
                    raise UpdateError(ERR_UNSPECIFIED_ARGUMENT)
                for c in cats:
                    c.name = value
            elif action == "delcat":
                cfg.categories = [c for c in cfg.categories if c not in cats]
            elif action == "emptycat":
                for c in cats:
                    c.variables.clear()
            elif action == "update":
                if not var:
                    raise UpdateError(ERR_UNSPECIFIED_ARGUMENT)
                found = False
                for c in cats:
                    # ast_variable_update: the LAST match; the new line takes the
                    # old one's place and comments (ast_variable_move).
                    hits = [v for v in c.variables if _matches(v, var, match)]
                    if hits:
                        v = hits[-1]
                        v.name, v.value, v.inherited = var, value, False
                        v.object = v.object or is_object
                        found = True
                if not found:
                    raise UpdateError(ERR_FAILURE_UPDATE)
            elif action == "delete":
                if not var and not line:
                    raise UpdateError(ERR_UNSPECIFIED_ARGUMENT)
                found = False
                for c in cats:
                    keep = []
                    for i, v in enumerate(c.variables):
                        hit = (str(i) == line) if line else _matches(v, var, match)
                        found = found or hit
                        if not hit:
                            keep.append(v)
                    c.variables = keep
                if not found and not ignoreerror:
                    raise UpdateError(ERR_FAILURE_UPDATE)
            elif action in ("append", "insert"):
                if not var or (action == "insert" and not line):
                    raise UpdateError(ERR_UNSPECIFIED_ARGUMENT)
                for c in cats:
                    # Insert strips a leading '>' but, unlike Append, sets no object flag.
                    is_obj = action == "append" and (is_object or match.lower() == "object")
                    new_var = Variable(var, value, is_obj)
                    if action == "append":
                        c.variables.append(new_var)
                    else:
                        c.variables.insert(
                            int(line) if line.isdigit() else len(c.variables), new_var
                        )
        # Saved, then read again by the next action (as Asterisk loads the file
        # for each one): inherited lines follow their template's new content.
        self.files[dst] = parse_config(cfg.render(save_as=dst))
        self.saves.append(dst)

    def dump_json(self) -> str:  # pragma: no cover - debugging aid
        return json.dumps({k: v.render() for k, v in self.files.items()}, indent=1)


# The dialplan the shared reference captures were recorded with (see GetConfig
# in capture h; extensions.conf as it was on disk, with its comments: "dialplan
# show" gives line numbers), plus the usual companions of an Odoo <-> Asterisk setup.
BASE_FILES = {
    "extensions.conf": """\
[general]
static = yes
writeprotect = no
clearglobalvars = no

[globals]

[demo]
; 100: answer, wait 2s, play a prompt, hang up
exten => 100,1,NoOp(ext 100 answer+playback)
same => n,Answer()
same => n,Wait(2)
same => n,Playback(hello-world)
same => n,Hangup()

; 101: answer, milliwatt tone for 5 s
exten => 101,1,NoOp(ext 101 milliwatt)
same => n,Answer()
same => n,Set(TIMEOUT(absolute)=5)
same => n,Milliwatt()
same => n,Hangup()

; 102: answer, echo test for up to 10 s
exten => 102,1,NoOp(ext 102 echo)
same => n,Answer()
same => n,Set(TIMEOUT(absolute)=10)
same => n,Echo()
same => n,Hangup()

; 110: long call (answer, wait 60 s) - for CoreShowChannels / transfers
exten => 110,1,NoOp(ext 110 long call)
same => n,Answer()
same => n,Wait(60)
same => n,Hangup()

; 150: answer, wait 1 s, hang up - burst target
exten => 150,1,Answer()
same => n,Wait(1)
same => n,Hangup()

; busy
exten => busy,1,NoOp(busy)
same => n,Busy(5)
exten => 103,1,Goto(busy,1)

; never answers: ringing, wait 30 s, hang up
exten => noanswer,1,NoOp(noanswer)
same => n,Ringing()
same => n,Wait(30)
same => n,Hangup()
exten => 104,1,Goto(noanswer,1)

; SIP peers
exten => alice,1,Dial(SIP/alice,20,tT)
same => n,Hangup()
exten => bob,1,Dial(SIP/bob,20,tT)
same => n,Hangup()
exten => 200,1,Goto(bob,1)
exten => 201,1,Goto(alice,1)

; dial a Local "callee" (for bridge/transfer tests)
exten => 300,1,NoOp(bridge to 110)
same => n,Dial(Local/110@demo/n,30)
same => n,Hangup()

; queue
exten => 600,1,NoOp(queue support)
same => n,Answer()
same => n,Queue(support,,,,30)
same => n,Hangup()
exten => queue,1,Goto(600,1)

; queue agents (Local channel members)
exten => agent1,1,NoOp(agent1)
same => n,Wait(1)
same => n,Answer()
same => n,Wait(4)
same => n,Hangup()
exten => agent2,1,NoOp(agent2)
same => n,Ringing()
same => n,Wait(20)
same => n,Hangup()

""",
    "sip.conf": """\
[general]
context=demo
allowguest=no
alwaysauthreject=yes
udpbindaddr=127.0.0.1:5060
tcpenable=no
transport=udp
srvlookup=no
directmedia=no
disallow=all
allow=ulaw
allow=alaw
rtptimeout=0
qualify=no

[alice]
type=friend
secret=alice-secret
host=dynamic
context=demo
callerid="Alice" <alice>
disallow=all
allow=ulaw

[bob]
type=friend
secret=bob-secret
host=127.0.0.1
port=5070
context=demo
callerid="Bob" <bob>
disallow=all
allow=ulaw
""",
    "manager.conf": """\
[general]
enabled=yes
port=5038
bindaddr=127.0.0.1
displayconnects=yes
timestampevents=no

[odoo]
secret=odoo-secret
deny=0.0.0.0/0.0.0.0
permit=127.0.0.1/255.255.255.255
read=all
write=all
""",
    "queues.conf": """\
[general]
persistentmembers=no
monitor-type=MixMonitor
shared_lastcall=yes

[support]
strategy=ringall
timeout=15
retry=2
wrapuptime=0
maxlen=0
joinempty=yes
leavewhenempty=no
ringinuse=yes
announce-frequency=0
member => Local/agent1@demo/n,0,Agent One
member => Local/agent2@demo/n,0,Agent Two
""",
    "cdr_manager.conf": """\
[general]
enabled=yes
""",
    "odoo_test.conf": "",
}

# What tests/captures added to the real Asterisk's configuration, appended to
# the files as there (new extensions in [demo], a new context, new peers, a new
# queue; tests/captures/README.md).  Keep both in step.
CAPTURE_ADDITIONS = {
    "extensions.conf": """\
exten => 601,1,NoOp(queue nobody)
same => n,Answer()
same => n,Queue(nobody,,,,30)
same => n,Hangup()
exten => 202,1,Dial(SIP/bob,5,tT)
same => n,Hangup()
exten => carol,1,Dial(SIP/carol,20,tT)
same => n,Hangup()
exten => 203,1,Goto(carol,1)
exten => 111,1,NoOp(ext 111 transfer target)
same => n,Answer()
same => n,Wait(6)
same => n,Hangup()
exten => bobcarol,1,Dial(SIP/bob&SIP/carol,20)
same => n,Hangup()
; PJSIP phones: dave (static contact 127.0.0.1:5072); erin calls from 127.0.0.1:5064
exten => dave,1,Dial(PJSIP/dave,20,tT)
same => n,Hangup()
exten => 204,1,Dial(PJSIP/dave,5,tT)
same => n,Hangup()
; davebob: a ring group of a PJSIP phone and a chan_sip one
exten => davebob,1,Dial(PJSIP/dave&SIP/bob,20)
same => n,Hangup()
exten => _0XXXXXXXXX,1,NoOp(outbound ${EXTEN})
same => n,Dial(SIP/provider/${EXTEN},30,tT)
same => n,Hangup()

[from-trunk]
exten => 0155512345,1,NoOp(DID 0155512345 ring group)
same => n,Dial(SIP/bob&SIP/carol,20)
same => n,Hangup()
exten => 0155512346,1,NoOp(DID 0155512346 recorded)
same => n,MixMonitor(${UNIQUEID}.wav,b)
same => n,Dial(SIP/bob,20)
same => n,Hangup()
""",
    "sip.conf": """\

[carol]
type=friend
secret=carol-secret
host=127.0.0.1
port=5090
context=demo
callerid="Carol" <carol>
disallow=all
allow=ulaw

[provider]
type=peer
host=127.0.0.1
port=5080
insecure=invite
context=from-trunk
disallow=all
allow=ulaw
allow=alaw
""",
    "queues.conf": """\

[nobody]
strategy=ringall
timeout=2
retry=1
wrapuptime=0
maxlen=0
joinempty=yes
leavewhenempty=no
ringinuse=yes
announce-frequency=0
member => Local/agent2@demo/n,0,Agent Two
""",
}

# The configuration of the running Asterisk today.
SEED_FILES = {name: text + CAPTURE_ADDITIONS.get(name, "") for name, text in BASE_FILES.items()}
