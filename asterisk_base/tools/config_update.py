"""AMI ``UpdateConfig`` messages for a list of edits of one config file.

Asterisk reads at most 128 header lines of a message and refuses a longer one
("Too many lines in message", ``AST_MAX_MANHEADERS`` in ``manager.h``), and
each edit costs up to six headers (``Action-``, ``Cat-``, ``Var-``, ``Value-``,
``Match-``, ``Options-``). Long edit lists are therefore split into several
messages, numbered from 0 each, and only the last one asks for the reload: the
running PBX sees the whole change at once, and a failure half way leaves the
new file unloaded.
"""

MAX_HEADERS = 128
# Action, SrcFilename, DstFilename, Reload, ActionID, and one spare line.
FIXED_HEADERS = 6
# An edit finds a template (``[name](!)``) only with this filter: without one,
# ``does_category_match`` (main/config.c) skips templates. Quoted, or the
# option parser cuts the value at its "=".
CATEGORY_FILTER = 'catfilter="TEMPLATES=include"'

# Edit -> the header names after Action-NNNNNN, in the order of the edit's values.
EDITS = {
    "NewCat": ("Cat", "Options", "Match"),
    "RenameCat": ("Cat", "Value"),
    "DelCat": ("Cat",),
    "EmptyCat": ("Cat",),
    "Update": ("Cat", "Var", "Value", "Match"),
    "Delete": ("Cat", "Var", "Match", "Line"),
    "Append": ("Cat", "Var", "Value"),
    "Insert": ("Cat", "Var", "Value", "Line"),
}


def update_config_actions(filename, edits, reload=None, max_headers=MAX_HEADERS):
    """``[{"Action": "UpdateConfig", ...}, ...]`` applying ``edits`` to ``filename``.

    :param edits: tuples ``(edit, cat, ...)`` with the values of ``EDITS[edit]``,
        e.g. ``("Append", "odoo_bans", "deny", "203.0.113.5/32")``; a value None
        sends no header (``("Delete", "cat", None, None, "3")`` deletes line 3).
    :param reload: the module to reload after the last message (``"acl"``), or None.
    """
    budget = max_headers - FIXED_HEADERS
    actions, current, used = [], {}, 0

    def flush():
        nonlocal current, used
        if current:
            actions.append(
                {"Action": "UpdateConfig", "SrcFilename": filename, "DstFilename": filename}
                | current
            )
        current, used = {}, 0

    for edit in edits:
        name, values = edit[0], edit[1:]
        headers = EDITS.get(name)
        if headers is None:
            raise ValueError(f"unknown UpdateConfig edit {name!r}")
        if len(values) > len(headers):
            raise ValueError(f"{name} takes {len(headers)} values, got {len(values)}")
        values = dict(zip(headers, values, strict=False))
        values = {header: value for header, value in values.items() if value is not None}
        if name != "NewCat":
            values["Options"] = CATEGORY_FILTER
        cost = 1 + len(values)
        if used + cost > budget:
            flush()
        index = f"{sum(key.startswith('Action-') for key in current):06d}"
        current[f"Action-{index}"] = name
        for header, value in values.items():
            current[f"{header}-{index}"] = value
        used += cost
    flush()
    if reload and actions:
        actions[-1]["Reload"] = reload
    return actions
