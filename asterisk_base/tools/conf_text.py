"""Asterisk config files as Odoo keeps them, and the UpdateConfig edits that
turn what the PBX has into what the admin wrote.

What AMI gives: ``GetConfig`` (with ``Filter: TEMPLATES=include``, else the
templates are left out) returns categories (``Category-N``, ``IsTemplate-N``,
``Templates-N``) and their ``name=value`` lines, with the lines a category
inherits from its templates listed first; it gives no comments, no ``=>``
flags and no ``#include`` lines (the categories of included files appear in
place). ``UpdateConfig`` loads the file WITH its comments, applies the edits
and writes it back: comments survive on every line that the edits do not
delete. So Odoo never rewrites a file: it sends the smallest edits, computed
here and checked by replaying them with Asterisk's own semantics
(``main/manager.c`` ``handle_updates``, ``main/config.c``).
"""

import difflib
import re
from dataclasses import dataclass, field

# GetConfig's Filter for every category: without it Asterisk leaves the
# templates out (main/config.c ``does_category_match``).
TEMPLATES = "TEMPLATES=include"
# Written "name => value" when Odoo renders a file: dialplan objects by custom.
OBJECT_NAMES = frozenset({"exten", "same", "include", "switch", "ignorepat"})
# Leaves room for the header name within Asterisk's 1024-byte line buffer.
MAX_VALUE = 900

_HEADER = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?$")


class ConfError(ValueError):
    """A text that is not a config file Asterisk would accept; ``line`` is 1-based."""

    def __init__(self, message, line=None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass
class Category:
    name: str
    template: bool = False
    templates: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # [(name, value)] without inherited ones

    @property
    def header(self):
        return (self.name, self.template, tuple(self.templates))

    def key(self):
        return (self.header, tuple(self.lines))


# -- text <-> categories ---------------------------------------------------------------


def _strip_comment(raw):
    """The line without its comment; ``\\;`` is a literal semicolon."""
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and raw[i + 1 : i + 2] == ";":
            out.append(";")
            i += 2
            continue
        if char == ";":
            break
        out.append(char)
        i += 1
    return "".join(out).strip()


def parse(text):
    """Categories of a config text; :class:`ConfError` on what Asterisk would reject
    or what AMI cannot express (``#include``/``#exec``, block comments)."""
    categories = []
    current = None
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if raw.lstrip().startswith(";--") or "--;" in raw:
            raise ConfError("block comments (;-- --;) cannot be sent over AMI", number)
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("#"):
            raise ConfError(
                "#include and #exec lines live on the PBX only: AMI shows the "
                "included categories in place and cannot write these lines",
                number,
            )
        if line.startswith("["):
            match = _HEADER.match(line)
            if not match:
                raise ConfError(f"malformed category header {line!r}", number)
            current = Category(match.group(1).strip())
            for option in (match.group(2) or "").split(","):
                option = option.strip()
                if option == "!":
                    current.template = True
                elif option == "+":
                    raise ConfError("category additions [name](+) are not supported", number)
                elif option:
                    current.templates.append(option)
            if not current.name:
                raise ConfError("empty category name", number)
            categories.append(current)
            continue
        if current is None:
            raise ConfError("a setting before the first [category]", number)
        is_object = "=>" in line and line.index("=>") <= line.index("=")
        name, sep, value = line.partition("=>" if is_object else "=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ConfError(f"expected name = value, got {line!r}", number)
        if len(value) > MAX_VALUE:
            raise ConfError(f"value longer than {MAX_VALUE} characters", number)
        if value.startswith(">"):
            raise ConfError("a value may not start with '>' (AMI reads it as '=>')", number)
        current.lines.append((name, value))
    return categories


def render(categories):
    """The text of ``categories``: what Asterisk would write, without comments."""
    out = []
    for cat in categories:
        options = (["!"] if cat.template else []) + list(cat.templates)
        out.append(f"[{cat.name}]" + (f"({','.join(options)})" if options else ""))
        for name, value in cat.lines:
            arrow = "=>" if name.lower() in OBJECT_NAMES else "="
            out.append(f"{name} {arrow} {value.replace(';', chr(92) + ';')}")
        out.append("")
    return "\n".join(out)


def from_getconfig(response):
    """Categories of a ``GetConfig`` reply (its headers as a dict), the lines
    inherited from templates left out, as Asterisk leaves them out when saving."""
    raw = []
    index = 0
    while f"Category-{index:06d}" in response:
        n = f"{index:06d}"
        lines = []
        line = 0
        while f"Line-{n}-{line:06d}" in response:
            name, _sep, value = response[f"Line-{n}-{line:06d}"].partition("=")
            lines.append((name, value))
            line += 1
        templates = [t.strip() for t in (response.get(f"Templates-{n}") or "").split(",")]
        raw.append(
            Category(
                response[f"Category-{n}"],
                template=str(response.get(f"IsTemplate-{n}", "")) == "1",
                templates=[t for t in templates if t],
                lines=lines,
            )
        )
        index += 1
    full = {}  # template name -> every line it passes on (its own inherited ones too)
    for cat in raw:
        inherited = [line for tmpl in cat.templates for line in full.get(tmpl, [])]
        if cat.lines[: len(inherited)] == inherited:
            full[cat.name] = list(cat.lines)
            cat.lines = cat.lines[len(inherited) :]
        else:
            full[cat.name] = inherited + list(cat.lines)
    return raw


def as_saved(categories):
    """The categories as Asterisk writes them: a line equal to one of the
    category's templates' lines (name ignoring case, same value) is left out
    (``ast_config_text_file_save2``), even where it overrode another line."""
    out = []
    for cat in categories:
        inherited = {(n.lower(), v) for n, v in _inherited(categories, cat)}
        lines = [(n, v) for n, v in cat.lines if (n.lower(), v) not in inherited]
        out.append(Category(cat.name, cat.template, list(cat.templates), lines))
    return out


def same_content(a, b):
    """Equal as Asterisk saves them, but for the order of categories, which
    Asterisk's modules ignore and UpdateConfig cannot change without losing
    comments."""

    def canonical(cats):
        return sorted((c.key() for c in as_saved(cats)), key=lambda k: k[0][0])

    return canonical(a) == canonical(b)


def unified_diff(old, new, old_label, new_label, context=3):
    return list(
        difflib.unified_diff(
            (old or "").splitlines(),
            (new or "").splitlines(),
            old_label,
            new_label,
            n=context,
            lineterm="",
        )
    )


# -- categories -> UpdateConfig edits ---------------------------------------------------


def _inherited(categories, cat):
    """The lines ``cat`` inherits, as the PBX holds them at the head of its list."""
    by_name = {}
    for other in categories:
        by_name.setdefault(other.name, other)

    def full(name, seen):
        tmpl = by_name.get(name)
        if tmpl is None or name in seen:
            return []
        seen = seen | {name}
        return [line for t in tmpl.templates for line in full(t, seen)] + list(tmpl.lines)

    return [line for t in cat.templates for line in full(t, {cat.name})]


def _object_value(name, value):
    return (">" + value) if name.lower() in OBJECT_NAMES else value


def _last_match(lines, name, value):
    """``ast_variable_update``: the last line of that name and value (case-insensitive)."""
    found = None
    for index, (n, v) in enumerate(lines):
        if n.lower() == name.lower() and v.lower() == value.lower():
            found = index
    return found


def _line_edits(cat_name, inherited, old, new):
    """Edits of one category's lines, replayed on a copy to be sure of them."""
    edits = []
    offset = len(inherited)
    cur = list(inherited) + list(old)

    def delete(index):
        edits.append(("Delete", cat_name, None, None, str(index)))
        del cur[index]

    def insert_at(index, items):
        if index == len(cur):
            # Insert at the end would leave Asterisk's "last" pointer behind.
            for name, value in items:
                edits.append(("Append", cat_name, name, _object_value(name, value)))
                cur.append((name, value))
            return
        for name, value in reversed(items):
            edits.append(("Insert", cat_name, name, _object_value(name, value), str(index)))
            cur.insert(index, (name, value))

    def update(index, name, value):
        old_name, old_value = cur[index]
        if old_value and _last_match(cur, old_name, old_value) == index:
            # Update keeps the line where it is, with its comments.
            # The line takes the name as sent (it is matched case-insensitively).
            edits.append(("Update", cat_name, name, value, old_value))
            cur[index] = (name, value)
        else:
            delete(index)
            insert_at(index, [(name, value)])

    # Lines are paired by name first: a changed value is an Update, not a new line.
    names = difflib.SequenceMatcher(
        None, [n.lower() for n, _v in old], [n.lower() for n, _v in new], autojunk=False
    )
    for tag, i1, i2, j1, j2 in reversed(names.get_opcodes()):
        if tag == "equal":
            for k in range(i2 - i1):
                if old[i1 + k] != new[j1 + k]:
                    update(offset + i1 + k, *new[j1 + k])
            continue
        for index in reversed(range(offset + i1, offset + i2)):
            delete(index)
        if j2 > j1:
            insert_at(offset + i1, new[j1:j2])
    if cur != list(inherited) + list(new):  # pragma: no cover - a bug here, not bad input
        raise ConfError(f"could not compute the edits of [{cat_name}]")
    return edits


def _new_category_edits(cat, before, temp_name=None):
    """NewCat and Appends of ``cat``. With ``temp_name``, it is built under that
    unique name and renamed last: UpdateConfig applies an edit to every category
    of the name, and a name shared by several would get all their lines."""
    options = []
    if cat.template:
        options.append("template")
    if cat.templates:
        # Quoted: the Options are comma-separated, "inherit=a,b" would keep only a.
        options.append(f'inherit="{",".join(cat.templates)}"')
    name = temp_name or cat.name
    edits = [("NewCat", name, ",".join(options) or None, before)]
    edits += [("Append", name, n, _object_value(n, v)) for n, v in cat.lines]
    if temp_name:
        edits.append(("RenameCat", temp_name, cat.name))
    return edits


def check_templates(categories):
    """Asterisk resolves a template when it reads the header: it must come first."""
    seen = set()
    for cat in categories:
        for tmpl in cat.templates:
            if tmpl not in seen:
                raise ConfError(f"[{cat.name}] inherits from [{tmpl}], not defined before it")
        seen.add(cat.name)


def config_edits(pbx, wanted):
    """UpdateConfig edits turning the ``pbx`` categories into ``wanted`` ones.

    Categories are matched by name. A category only the PBX has is deleted, a new
    one created (before the next category the PBX keeps, to respect the order), a
    changed one edited line by line. Recreated as a whole: a category whose
    header changed; names used by several categories (PJSIP's endpoint/aor/auth
    ``[6001]``), which UpdateConfig addresses together, when one of them changed;
    the categories inheriting from a template that is recreated or deleted
    (Asterisk's copy of them would point to the freed template when saving).
    """
    check_templates(wanted)
    wanted = as_saved(wanted)  # the PBX would drop the other lines when saving
    pbx_names = list(dict.fromkeys(c.name for c in pbx))
    wanted_names = {c.name for c in wanted}

    def group(cats, name):
        return [c for c in cats if c.name == name]

    def count(cats, name):
        return sum(c.name == name for c in cats)

    grouped = {n for n in pbx_names if max(count(pbx, n), count(wanted, n)) > 1}
    grouped |= {n for n in wanted_names if count(wanted, n) > 1}
    deleted = {n for n in pbx_names if n not in wanted_names}
    rebuilt = set()
    for name in pbx_names:
        old, new = group(pbx, name), group(wanted, name)
        changed = new and [c.key() for c in old] != [c.key() for c in new]
        if changed and (name in grouped or old[0].header != new[0].header):
            rebuilt.add(name)
    while True:
        gone = deleted | rebuilt
        more = {c.name for c in pbx if c.name not in gone and gone.intersection(c.templates)}
        if not more:
            break
        rebuilt |= more & wanted_names
        deleted |= more - wanted_names

    edits = [("DelCat", name) for name in pbx_names if name in deleted | rebuilt]
    # Last category first: a category comes after the templates it inherits from,
    # and its line numbers count the inherited lines as the file was loaded, which
    # a template's own edits change once saved (long edits take several messages).
    for name in reversed(pbx_names):
        if name not in deleted | rebuilt:
            old, new = group(pbx, name)[0], group(wanted, name)[0]
            if old.lines != new.lines:
                edits += _line_edits(name, _inherited(pbx, old), old.lines, new.lines)

    kept = {n for n in pbx_names if n not in deleted | rebuilt}
    anchors = {}
    for position, cat in enumerate(wanted):
        if cat.name in kept:
            continue
        # NewCat with Match inserts before the first category of that name; the
        # categories sharing a name all go before the same one, in their order.
        if cat.name not in anchors:
            anchors[cat.name] = next(
                (c.name for c in wanted[position + 1 :] if c.name in kept), None
            )
        before = anchors[cat.name]
        temp_name = f"~odoo{position}~{cat.name}"[:79] if cat.name in grouped else None
        edits += _new_category_edits(cat, before, temp_name)
    return edits


def sync(read, write, wanted, current=None, rounds=3):
    """Bring the PBX's file to ``wanted``: ``write`` the edits from what
    ``read`` gives, and again until nothing is left. A second round is needed
    when a template's lines are changed in place: the categories inheriting
    from it hold copies of its old lines, which Asterisk saves as their own
    (they no longer equal the template's); the next round deletes them.

    :param current: what ``read`` would give now, if just read.
    :returns: ``(number of edits sent, the categories on the PBX now)``.
    """
    sent = 0
    current = read() if current is None else current
    for _round in range(rounds):
        edits = config_edits(current, wanted)
        if not edits:
            break
        write(edits)
        sent += len(edits)
        current = read()
    return sent, current
