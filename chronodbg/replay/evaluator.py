"""A small, safe expression language over recorded value summaries.

Breakpoint conditions (`break lock.acquire if amount > 3`) and `print` both
evaluate user expressions against what the recorder kept of a frame: value
summaries (chronodbg/values.py), never live objects. Python's eval is out of
the question, even on a recording we made ourselves: a recording can come
from a stranger, and an expression typed at a prompt must not be able to
reach the file system. So the text is parsed with `ast.parse` and walked over
a whitelist: names, constants, unary `-`/`+`/`not`, binary `+ - * / // %`,
comparisons (`is` only with None), `and`/`or`, `len(x)`, subscripts `x[k]`,
tuple and list literals. Everything else is refused when the expression is
compiled, with a one-line `ConditionError` naming the construct.

The work is bounded, so an expression cannot hang the debugger: the text is
at most MAX_TEXT characters, its tree at most MAX_NODES nodes and MAX_DEPTH
deep, `**` is refused (it alone turns a short text into a huge number),
repetition and concatenation of sequences are capped at MAX_SEQUENCE items,
and `%` formats numbers only (`"%999999999d" % 1` would be huge).

Summaries become plain Python values where that is faithful: scalars as they
are, containers whose items were all recorded as lists, tuples, dicts, sets
and deques of converted items. Everything else (truncated text, an int too
large to store, an object kept as type and id, a container kept as its
length or its first items, an unreadable value, a redacted one) becomes an
`Opaque`, which answers only what its summary proves:

- `==` between two opaque values is summary equality (for objects: the same
  type and id, that is the same object); against a plain value it is False
  when the summary proves the two differ (another length, another prefix)
  and an `EvaluationError` when it cannot tell.
- `len()` works when the length was recorded (containers, truncated text),
  and so do `x[i]` and `in` when the answer lies in the recorded prefix.
- ordering, arithmetic and truth of objects raise `EvaluationError`.
- a redacted value raises `EvaluationError` for every operation, equality
  included: it never compares equal to anything, and no answer about it (not
  even `is None`) can leak what it held. Each use of a name converts its
  summary afresh, so not even Python's identity shortcut in container
  comparisons sees the same redacted object twice.

Errors at evaluation time (an unknown name, a type error, an opaque value
that cannot answer) raise `EvaluationError` from `Expr.evaluate`, which is
what `print` wants to report; a breakpoint condition uses `Expr.holds`, for
which such an error means "does not hold" — an event where the condition
cannot even be evaluated is not one the user asked to stop at.
"""

from __future__ import annotations

import ast
import collections
import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

from chronodbg import values as V
from chronodbg.errors import ChronoError, UsageError

MAX_TEXT: Final = 1000
MAX_NODES: Final = 400
MAX_DEPTH: Final = 40
MAX_SEQUENCE: Final = 100_000
#: Nesting beyond what the recorder ever writes: deeper summaries stay opaque.
_MAX_SUMMARY_DEPTH: Final = 16

_PLAIN_TYPES: Final = frozenset({bool, int, float, str, bytes})
_SEQUENCES: Final = (str, bytes, list, tuple, collections.deque)
_TEXT_TAGS: Final = {V.TAG_STR: str, V.TAG_BYTES: bytes}
_CONTAINERS: Final = (list, tuple, collections.deque, set, frozenset, dict)
#: The Python types a plain value must have to possibly equal a container of a tag.
_CONTAINER_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "list": (list,),
    "tuple": (tuple,),
    "deque": (collections.deque,),
    "set": (set, frozenset),
    "frozenset": (set, frozenset),
    "dict": (dict,),
}
_MAKERS: Final[dict[str, Callable[[list[Any]], Any]]] = {
    "list": list,
    "tuple": tuple,
    "deque": collections.deque,
    "set": set,
    "frozenset": frozenset,
}


class ConditionError(UsageError):
    """An expression is not allowed (a forbidden construct, too long, a syntax error)."""


class EvaluationError(ChronoError):
    """An expression could not be evaluated at this event (unknown name, type error, opaque value)."""


class Opaque:
    """A value known only by its summary; it answers what the summary proves, raises otherwise."""

    __slots__ = ("summary", "tag", "_length", "_items", "_pairs", "_bits")

    def __init__(self, summary: V.Summary, depth: int = 0) -> None:
        self.summary = summary
        self.tag = "malformed"
        self._length: int | None = None
        #: The recorded first items (sequences, sets) or text prefix, converted.
        self._items: list[Any] | str | bytes | None = None
        self._pairs: list[tuple[Any, Any]] | None = None
        self._bits = 0
        if not (isinstance(summary, tuple) and summary and isinstance(summary[0], str)):
            return
        tag, rest = summary[0], summary[1:]
        if tag in _TEXT_TAGS:
            if len(rest) == 2 and isinstance(rest[0], _TEXT_TAGS[tag]) and _is_count(rest[1]):
                self.tag, self._items, self._length = tag, rest[0], rest[1]
        elif tag in V.CONTAINER_TAGS:
            if len(rest) == 2 and _is_count(rest[0]) and (rest[1] is None or isinstance(rest[1], tuple)):
                self.tag, self._length = tag, rest[0]
                if rest[1] is not None and depth < _MAX_SUMMARY_DEPTH:
                    self._convert_items(tag, rest[1], depth + 1)
        elif tag == V.TAG_INT:
            if len(rest) == 1 and _is_count(rest[0]):
                self.tag, self._bits = tag, rest[0]
        elif tag in (V.TAG_OBJ, V.TAG_REDACTED, V.TAG_ERROR):
            self.tag = tag

    def _convert_items(self, tag: str, items: tuple[Any, ...], depth: int) -> None:
        if tag == "dict":
            if all(isinstance(pair, tuple) and len(pair) == 2 for pair in items):
                self._pairs = [(from_summary(k, depth), from_summary(v, depth)) for k, v in items]
        else:
            self._items = [from_summary(item, depth) for item in items]

    def why(self) -> str:
        """Why this value cannot answer: what the recorder kept of it."""
        tag = self.tag
        if tag == V.TAG_REDACTED:
            return "its name looks secret, so it was not recorded"
        if tag == V.TAG_OBJ:
            return "only its type and id were recorded"
        if tag == V.TAG_INT:
            return f"only its size ({self._bits} bits) was recorded"
        if tag in _TEXT_TAGS:
            unit = "chars" if tag == V.TAG_STR else "bytes"
            return f"only its first {len(self._prefix())} of {self._length} {unit} were recorded"
        if tag == V.TAG_ERROR:
            return "it could not be recorded"
        if tag in V.CONTAINER_TAGS:
            known = self._items if self._items is not None else self._pairs
            if known is None:
                return "only its length was recorded"
            return f"only its first {len(known)} of {self._length} items were recorded"
        return "its summary is malformed"

    def _fail(self, what: str) -> EvaluationError:
        if self.tag == V.TAG_REDACTED:
            return EvaluationError(f"cannot {what}: the value is redacted ({self.why()})")
        return EvaluationError(f"cannot {what} {self!r}: {self.why()}")

    def _prefix(self) -> str | bytes:
        assert isinstance(self._items, (str, bytes))
        return self._items

    def __repr__(self) -> str:
        return V.to_text(self.summary)

    __str__ = __repr__

    def __hash__(self) -> int:
        # Coarse, so values with equal summaries (1 and True inside) hash alike.
        return hash((Opaque, self.tag, self._length))

    def __eq__(self, other: object) -> bool:
        if self.tag == V.TAG_REDACTED or (isinstance(other, Opaque) and other.tag == V.TAG_REDACTED):
            raise EvaluationError(f"cannot compare: the value is redacted ({V.REDACTED_TEXT})")
        if isinstance(other, Opaque):
            try:
                return bool(self.summary == other.summary)
            except Exception:
                return False
        if self._differs(other):
            return False
        raise self._fail(f"tell whether {describe(other)} equals")

    def _differs(self, other: object) -> bool:
        """True when the summary proves `other` is not the value it stands for."""
        tag = self.tag
        if tag == V.TAG_OBJ:
            # A subclass of a builtin (an IntEnum, a str subclass) may equal a
            # plain value; only None, which is always recorded as itself, cannot.
            return other is None
        if tag == V.TAG_INT:
            if isinstance(other, int):
                return other.bit_length() != self._bits
            return not isinstance(other, float)
        if tag in _TEXT_TAGS:
            prefix = self._prefix()
            if isinstance(prefix, str) and isinstance(other, str):
                return len(other) != self._length or not other.startswith(prefix)
            if isinstance(prefix, bytes) and isinstance(other, bytes):
                return len(other) != self._length or not other.startswith(prefix)
            return True
        if tag in _CONTAINER_TYPES:
            if not isinstance(other, _CONTAINERS) or not isinstance(other, _CONTAINER_TYPES[tag]):
                return True
            if len(other) != self._length:
                return True
            if isinstance(self._items, list) and isinstance(other, (list, tuple, collections.deque)):
                return any(_proven_unequal(mine, theirs) for mine, theirs in zip(self._items, other, strict=False))
            if self._pairs is not None and isinstance(other, dict):
                return any(_hashable(k) and (k not in other or _proven_unequal(v, other[k])) for k, v in self._pairs)
        return False

    def _unordered(self, other: object) -> bool:
        raise self._fail("order")

    __lt__ = __le__ = __gt__ = __ge__ = _unordered

    def truth(self) -> bool:
        """Truth where the summary tells it: by length for text and containers, nonzero for a big int."""
        if self.tag in _TEXT_TAGS or self.tag in V.CONTAINER_TAGS:
            assert self._length is not None
            return self._length > 0
        if self.tag == V.TAG_INT:
            return True  # too large to store, so not zero
        raise self._fail("tell the truth of")

    __bool__ = truth

    def length(self) -> int:
        if self._length is None or self.tag == V.TAG_REDACTED:
            raise self._fail("take len() of")
        return self._length

    def item(self, key: Any) -> Any:
        """`self[key]` when the recorded prefix holds the answer."""
        if self._pairs is not None:
            for k, v in self._pairs:
                if _proven_equal(k, key):
                    return v
            raise self._fail(f"find key {describe(key)} in")
        known = self._items
        if known is not None and isinstance(key, int) and not isinstance(key, bool):
            assert self._length is not None
            index = key if key >= 0 else self._length + key
            if not 0 <= index < self._length:
                raise EvaluationError(f"index {key} out of range of {self!r} (len {self._length})")
            if index < len(known):
                return known[index]
        raise self._fail(f"take item {describe(key)} of")

    def contains(self, needle: Any) -> bool:
        """`needle in self` when the recorded prefix holds it (text, items, dict keys)."""
        if isinstance(self._items, str):
            if isinstance(needle, str) and needle in self._items:
                return True
        elif isinstance(self._items, bytes):
            if isinstance(needle, bytes) and needle in self._items:
                return True
        elif self._items is not None or self._pairs is not None:
            known = self._items if self._items is not None else [k for k, _ in self._pairs or ()]
            if any(_proven_equal(item, needle) for item in known):
                return True
        raise self._fail(f"tell whether {describe(needle)} is in")


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _proven_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except EvaluationError:
        return False


def _proven_unequal(a: Any, b: Any) -> bool:
    try:
        return not (a == b)
    except EvaluationError:
        return False


def from_summary(summary: V.Summary, depth: int = 0) -> Any:
    """The plain Python value a summary stands for, or an `Opaque` where that would not be faithful."""
    if summary is None or type(summary) in _PLAIN_TYPES:
        return summary
    if (
        type(summary) is tuple
        and len(summary) == 3
        and summary[0] in V.CONTAINER_TAGS
        and _is_count(summary[1])
        and type(summary[2]) is tuple
        and len(summary[2]) == summary[1]
        and depth < _MAX_SUMMARY_DEPTH
    ):
        tag, items = summary[0], summary[2]
        try:
            if tag == "dict":
                if all(type(pair) is tuple and len(pair) == 2 for pair in items):
                    return {from_summary(k, depth + 1): from_summary(v, depth + 1) for k, v in items}
            else:
                return _MAKERS[tag]([from_summary(item, depth + 1) for item in items])
        except (TypeError, EvaluationError):  # an unhashable or redacted item in a set or as a key
            pass
    return Opaque(summary, depth)


def describe(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for error messages (redacted values stay redacted)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _truth(value: Any) -> bool:
    return value.truth() if isinstance(value, Opaque) else bool(value)


def _length(value: Any) -> int:
    if isinstance(value, Opaque):
        return value.length()
    try:
        return len(value)
    except TypeError:
        raise EvaluationError(f"len() of {describe(value)}: a {type(value).__name__} has no length") from None


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes)):
        # Format widths would let a short text build a huge string.
        raise EvaluationError("cannot use % formatting (only numbers take %)")
    return left % right


_BINARY: Final[dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", _mod),
}
_ORDER: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_COMPARE_OPS: Final = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_OPERATOR_SYMBOLS: Final[dict[type[ast.AST], str]] = {
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
}
_CONSTRUCTS: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment (:=)",
    ast.Starred: "a starred expression (*x)",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.Slice: "a slice (x[a:b])",
    ast.Set: "a set display",
    ast.Dict: "a dict display",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class Expr:
    """A validated expression; `names` are the free names it reads."""

    __slots__ = ("text", "names", "_run")

    def __init__(self, text: str, body: ast.expr, names: frozenset[str]) -> None:
        self.text = text
        self.names = names
        self._run = _compile(body)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def evaluate(self, names: Mapping[str, V.Summary]) -> Any:
        """The value (plain or `Opaque`; `repr()` renders either), or `EvaluationError`."""
        return self._run(names)

    def holds(self, names: Mapping[str, V.Summary]) -> bool:
        """Whether the expression is true here; False when it cannot be evaluated here."""
        try:
            return _truth(self.evaluate(names))
        except EvaluationError:
            return False


def compile_expr(text: str, what: str = "condition") -> Expr:
    """Parse and validate `text`; `what` ("condition", "expression") words the error messages."""
    source = text.strip()
    if not source:
        raise ConditionError(f"empty {what}")
    if len(source) > MAX_TEXT:
        raise ConditionError(f"{what} too long ({len(source)} characters, at most {MAX_TEXT})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. an invalid escape: the engine never prints
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"invalid {what} {describe(source)}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; nesting the parser gives up on
        raise ConditionError(f"invalid {what} {describe(source)}: too deeply nested") from None
    _measure(tree, what)
    names: set[str] = set()
    _validate(tree.body, what, names)
    return Expr(source, tree.body, frozenset(names))


def _measure(tree: ast.AST, what: str) -> None:
    """Bound the tree's size and depth iteratively, before anything recurses over it."""
    stack = [(tree, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConditionError(f"{what} too complex (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ConditionError(f"{what} too deeply nested (more than {MAX_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _refuse(construct: str, what: str) -> ConditionError:
    return ConditionError(f"cannot use {construct} in a {what}")


def _validate(node: ast.AST, what: str, names: set[str]) -> None:
    """Accept only the whitelisted constructs; collect the free names."""
    if isinstance(node, ast.Name):
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if node.value is not None and type(node.value) not in _PLAIN_TYPES:
            raise _refuse("a complex number" if isinstance(node.value, complex) else "an ellipsis (...)", what)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise _refuse(f"the {_OPERATOR_SYMBOLS.get(type(node.op), '?')} operator", what)
        _validate(node.operand, what, names)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _refuse(f"the {_OPERATOR_SYMBOLS.get(type(node.op), '?')} operator", what)
        _validate(node.left, what, names)
        _validate(node.right, what, names)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _validate(value, what, names)
    elif isinstance(node, ast.Compare):
        for op, right in zip(node.ops, node.comparators, strict=True):
            if not isinstance(op, _COMPARE_OPS):
                raise _refuse(f"the {type(op).__name__} comparison", what)
            if isinstance(op, (ast.Is, ast.IsNot)) and not (isinstance(right, ast.Constant) and right.value is None):
                raise _refuse("`is` other than `is None` / `is not None`", what)
        for part in (node.left, *node.comparators):
            _validate(part, what, names)
    elif isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id == "len"):
            raise _refuse("a function call other than len()", what)
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
            raise ConditionError(f"len() takes exactly one argument in a {what}")
        _validate(node.args[0], what, names)
    elif isinstance(node, ast.Subscript):
        _validate(node.value, what, names)
        _validate(node.slice, what, names)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            _validate(element, what, names)
    else:
        construct = _CONSTRUCTS.get(type(node), f"a {type(node).__name__} expression")
        if isinstance(node, ast.Attribute):
            construct += f" (.{node.attr})"
        raise _refuse(construct, what)


Run = Callable[[Mapping[str, V.Summary]], Any]


def _compile(node: ast.expr) -> Run:
    """The node as a closure over its children's closures, made once per expression.

    A breakpoint condition is evaluated at every candidate of a `continue`
    (hundreds of thousands of events): walking the tree with an isinstance
    chain per node each time cost more than the rest of the test. Each Name
    still converts its summary afresh at every evaluation.
    """
    if isinstance(node, ast.Name):
        name = node.id

        def read(names: Mapping[str, V.Summary]) -> Any:
            try:
                summary = names[name]
            except KeyError:
                raise EvaluationError(f"no local or field named {name!r} here") from None
            return from_summary(summary)

        return read
    if isinstance(node, ast.Constant):
        constant = node.value
        return lambda names: constant
    if isinstance(node, ast.Compare):
        first = _compile(node.left)
        rest = [(op, _compile(right)) for op, right in zip(node.ops, node.comparators, strict=True)]

        def compare(names: Mapping[str, V.Summary]) -> bool:
            left = first(names)
            for op, run in rest:
                right = run(names)
                if not _compare(op, left, right):
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.BoolOp):
        head, tail, stop_on = _compile(node.values[0]), [_compile(v) for v in node.values[1:]], isinstance(node.op, ast.Or)

        def boolean(names: Mapping[str, V.Summary]) -> Any:
            value = head(names)
            for operand in tail:
                if _truth(value) == stop_on:
                    return value
                value = operand(names)
            return value

        return boolean
    if isinstance(node, ast.BinOp):
        symbol, function = _BINARY[type(node.op)]
        left_run, right_run = _compile(node.left), _compile(node.right)
        return lambda names: _binary(symbol, function, left_run(names), right_run(names))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda names: not _truth(operand(names))
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return lambda names: _unary(sign, operand(names))
    if isinstance(node, ast.Call):
        argument = _compile(node.args[0])
        return lambda names: _length(argument(names))
    if isinstance(node, ast.Subscript):
        container, key = _compile(node.value), _compile(node.slice)
        return lambda names: _subscript(container(names), key(names))
    if isinstance(node, ast.Tuple):
        elements = [_compile(element) for element in node.elts]
        return lambda names: tuple(element(names) for element in elements)
    if isinstance(node, ast.List):
        items = [_compile(element) for element in node.elts]
        return lambda names: [item(names) for item in items]
    kind = type(node).__name__

    def refuse(names: Mapping[str, V.Summary]) -> Any:
        raise EvaluationError(f"cannot evaluate {kind}")  # compile_expr let it through: a bug

    return refuse


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, (ast.Is, ast.IsNot)):
        if isinstance(left, Opaque) and left.tag == V.TAG_REDACTED:
            raise EvaluationError("cannot tell whether a redacted value is None")
        return (left is None) == isinstance(op, ast.Is)
    if isinstance(op, (ast.In, ast.NotIn)):
        return _contains(right, left) == isinstance(op, ast.In)
    if isinstance(op, ast.Eq):
        return bool(left == right)
    if isinstance(op, ast.NotEq):
        return bool(left != right)
    for value in (left, right):
        if isinstance(value, Opaque):
            raise value._fail("order")
    try:
        return bool(_ORDER[type(op)](left, right))
    except TypeError as exc:
        raise EvaluationError(f"cannot order {describe(left)} and {describe(right)}: {exc}") from None


def _contains(container: Any, needle: Any) -> bool:
    if isinstance(container, Opaque):
        return container.contains(needle)
    if isinstance(needle, Opaque) and isinstance(container, (str, bytes)):
        raise needle._fail(f"tell whether {describe(container)} contains")
    try:
        return needle in container
    except TypeError as exc:
        raise EvaluationError(f"cannot tell whether {describe(needle)} is in {describe(container)}: {exc}") from None


def _subscript(container: Any, key: Any) -> Any:
    if isinstance(container, Opaque):
        return container.item(key)
    if isinstance(key, Opaque) and not isinstance(container, dict):
        raise key._fail(f"index {describe(container)} with")
    try:
        return container[key]
    except LookupError:
        raise EvaluationError(f"{describe(container)} has no item {describe(key)}") from None
    except TypeError as exc:
        raise EvaluationError(f"cannot take item {describe(key)} of {describe(container)}: {exc}") from None


def _unary(symbol: str, operand: Any) -> Any:
    if isinstance(operand, Opaque):
        raise operand._fail(f"apply unary {symbol} to")
    try:
        return -operand if symbol == "-" else +operand
    except TypeError as exc:
        raise EvaluationError(f"cannot apply unary {symbol} to {describe(operand)}: {exc}") from None


def _binary(symbol: str, function: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    for value in (left, right):
        if isinstance(value, Opaque):
            raise value._fail(f"compute {symbol} with")
    _check_size(symbol, left, right)
    try:
        return function(left, right)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise EvaluationError(f"cannot compute {describe(left)} {symbol} {describe(right)}: {exc}") from None


def _check_size(symbol: str, left: Any, right: Any) -> None:
    """Refuse to build a sequence longer than MAX_SEQUENCE (`"a" * 10**9` would exhaust memory)."""
    size = 0
    if symbol == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, _SEQUENCES) and isinstance(count, int):
                size = len(seq) * count
    elif symbol == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        size = len(left) + len(right)
    if size > MAX_SEQUENCE:
        raise EvaluationError(f"result too large ({size} items, at most {MAX_SEQUENCE})")
