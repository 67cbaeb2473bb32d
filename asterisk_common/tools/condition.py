"""Events map conditions, checked exactly as ``safe_eval`` checks them.

``safe_eval`` recompiles its expression at every call, which is too slow for
the per-event path; here the expression is compiled once by the same
``test_expr`` with the same opcode whitelist, and evaluated with the same
restricted builtins. ``event`` is exposed read-only.
"""

import dis
from types import CodeType, MappingProxyType

from odoo.tools.safe_eval import _BUILTINS, _SAFE_OPCODES, test_expr, unsafe_eval

_KNOWN_NAMES = frozenset(_BUILTINS) | {"event"}
_NAME_OPS = frozenset({"LOAD_NAME", "LOAD_GLOBAL"})
# Beyond safe_eval's rules: str.format/format_map walk attributes and items
# named in the format string ("{0.__self__...}".format(len)), which the dunder
# check on the code's names cannot see: they reach any module's globals (the
# server's configuration included). No condition needs a private name either.
_FORBIDDEN_NAMES = frozenset({"format", "format_map"})
# Operators whose result grows exponentially with an operand: 10**10**10 would
# freeze the worker's event loop (constants are folded before this check).
_FORBIDDEN_OPERATORS = frozenset({"**", "<<", "**=", "<<="})


def _free_names(code):
    for ins in dis.get_instructions(code):
        if ins.opname in _NAME_OPS:
            yield ins.argval
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _free_names(const)


def _check_names_and_operators(code):
    for name in code.co_names:
        if name.startswith("_") or name in _FORBIDDEN_NAMES:
            raise NameError(f"access to {name!r} is not allowed in a condition")
    for ins in dis.get_instructions(code):
        if ins.opname == "BINARY_OP" and ins.argrepr in _FORBIDDEN_OPERATORS:
            raise ValueError(f"operator {ins.argrepr} is not allowed in a condition")
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _check_names_and_operators(const)


def compile_condition(expr):
    """Return the code object of ``expr``.

    :raises SyntaxError, ValueError, NameError, TypeError: as ``safe_eval``
        does for a forbidden or invalid expression; NameError also for a name
        that would only fail at evaluation (neither ``event`` nor a builtin),
        a private name or ``format``/``format_map``; ValueError also for the
        ``**`` and ``<<`` operators.
    """
    code = test_expr(expr, _SAFE_OPCODES, mode="eval", filename="<ami condition>")
    _check_names_and_operators(code)
    unknown = sorted(set(_free_names(code)) - _KNOWN_NAMES)
    if unknown:
        raise NameError(f"unknown name(s) {', '.join(unknown)}: use event and safe builtins")
    return code


def eval_condition(code, event):
    """Evaluate a compiled condition against ``event`` (a dict) as a bool."""
    scope = {"__builtins__": dict(_BUILTINS), "event": MappingProxyType(event)}
    return bool(unsafe_eval(code, scope))
