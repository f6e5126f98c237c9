"""Breakpoint predicates and the safe evaluator, over real recordings.

Every match set is checked against a brute-force filter written out here
over the same recording, so the tests hold whatever the interleaving was
and fail when a predicate matches one event too many or too few.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chronodbg.errors import ChronoError, UsageError
from chronodbg.logfile import Event, Recording, read_log
from chronodbg.replay.evaluator import (
    ConditionError,
    EvaluationError,
    Opaque,
    compile_expr,
    from_summary,
)
from chronodbg.replay.predicates import And, Match, Not, Or, Predicate, event_names, parse_breakpoint
from replay_tests.conftest import PROGRAMS, record

LEDGER = '''
"""Two workers deposit into one account under its lock and report each deposit on a queue."""

import collections
import queue
import threading

import chronodbg


class Account:
    def __init__(self, name, balance):
        self.name = name
        self.balance = balance
        self.lock = threading.Lock()

    def deposit(self, amount):
        with self.lock:
            self.balance += amount


def worker(account, amounts, out):
    password = "hunter2"
    meta = {"api_key": "k", "n": 1}
    note = "x" * 300
    blob = b"\\x00" * 200
    huge = 1 << 100
    history = list(range(20))
    nested = [[1, [2, 3]]]
    tags = frozenset({"x"})
    pending = collections.deque([7, 8])
    size = 99
    kind = "mine"
    for amount in amounts:
        account.deposit(amount)
        out.put((account.name, amount))
    chronodbg.mark("done", n=len(amounts))


def boom():
    raise KeyError("missing")


def main():
    out = queue.Queue()
    account = Account("a", 0)
    workers = [
        threading.Thread(target=worker, args=(account, [1, 2, 3], out), name="w1"),
        threading.Thread(target=worker, args=(account, [-5, 4], out), name="w2"),
        threading.Thread(target=boom, name="boom"),
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    while not out.empty():
        out.get()
    print("balance", account.balance)


main()
'''
DEPOSIT_LINE = LEDGER.splitlines().index("        with self.lock:") + 1
PUT_LINE = LEDGER.splitlines().index("        out.put((account.name, amount))") + 1


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    tmp = tmp_path_factory.mktemp("ledger")
    program = tmp / "ledger.py"
    program.write_text(LEDGER)
    run = record(tmp, program)
    assert run.returncode == 0, run.stderr
    return read_log(str(run.path))


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    run = record(tmp_path_factory.mktemp("bank"), PROGRAMS / "bank.py", "20")
    assert run.returncode == 0, run.stderr
    return read_log(str(run.path))


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    run = record(tmp_path_factory.mktemp("aio"), PROGRAMS / "aio_lock.py")
    assert run.returncode == 0, run.stderr
    return read_log(str(run.path))


def hits(rec: Recording, predicate: Predicate | str) -> list[int]:
    if isinstance(predicate, str):
        predicate = parse_breakpoint(rec, predicate)
    return [event.seq for event in rec.events if predicate(rec, event)]


def where(rec: Recording, test: Callable[[Event], bool]) -> list[int]:
    """The brute-force answer; never empty and never everything, so a test can fail both ways."""
    seqs = [event.seq for event in rec.events if test(event)]
    assert 0 < len(seqs) < len(rec.events)
    return seqs


def local(event: Event, name: str) -> Any:
    return dict(event.locals or ()).get(name)


def thread_id(rec: Recording, name: str) -> int:
    return next(t.id for t in rec.threads.values() if t.name == name)


def func_of(rec: Recording, event: Event) -> str | None:
    site = rec.site_of(event)
    return site.func if site else None


# -- kinds and filters ---------------------------------------------------------


def test_kinds_exact_glob_and_list(bank: Recording) -> None:
    assert hits(bank, "lock.acquire") == where(bank, lambda e: e.kind == "lock.acquire")
    assert hits(bank, "lock.*") == where(bank, lambda e: e.kind.startswith("lock."))
    assert hits(bank, "thread.start") == where(bank, lambda e: e.kind == "thread.start")
    assert hits(bank, "output") == where(bank, lambda e: e.kind == "output")
    assert hits(bank, "lock.release,event.*") == where(
        bank, lambda e: e.kind == "lock.release" or e.kind.startswith("event.")
    )
    assert hits(bank, "*.wa?t") == where(bank, lambda e: e.kind.endswith(".wait"))


def test_kinds_of_asyncio_exceptions_and_marks(aio: Recording, ledger: Recording) -> None:
    assert hits(aio, "task.done") == where(aio, lambda e: e.kind == "task.done")
    assert hits(ledger, "exception") == where(ledger, lambda e: e.kind == "exception")
    assert hits(ledger, "mark") == where(ledger, lambda e: e.kind == "mark")


def test_thread_filter_by_id_name_and_t_prefix(bank: Recording) -> None:
    alice, bob = thread_id(bank, "alice"), thread_id(bank, "bob")
    expected = where(bank, lambda e: e.kind.startswith("lock.") and e.thread == alice)
    assert hits(bank, "lock.* thread=alice") == expected
    assert hits(bank, f"lock.* thread={alice}") == expected
    assert hits(bank, f"lock.* thread=T{alice}") == expected
    # A filter given twice accepts either value.
    assert hits(bank, "lock.* thread=alice thread=bob") == where(
        bank, lambda e: e.kind.startswith("lock.") and e.thread in (alice, bob)
    )
    # Filters alone, with no kind: any event of the thread.
    assert hits(bank, "thread=bob") == where(bank, lambda e: e.thread == bob)


def test_task_filter_by_id_and_name(aio: Recording) -> None:
    task = next(t for t in aio.tasks.values() if t.name == "Task-3")
    expected = where(aio, lambda e: e.kind == "lock.acquire" and e.task == task.id)
    assert len(expected) == 3  # three rounds under the lock
    assert hits(aio, "lock.acquire task=Task-3") == expected
    assert hits(aio, f"lock.acquire task={task.id}") == expected


def test_obj_filter_by_label_and_id(bank: Recording) -> None:
    lock = next(o for o in bank.objects.values() if o.label == "Lock#2")
    expected = where(bank, lambda e: e.kind == "lock.acquire" and e.obj == lock.id)
    assert hits(bank, "lock.acquire obj=Lock#2") == expected
    assert hits(bank, f"lock.acquire obj={lock.id}") == expected


def at_line(rec: Recording, event: Event, line: int, file: str = "/ledger.py") -> bool:
    site = rec.site_of(event)
    return site is not None and site.line == line and site.file.endswith(file)


def test_at_filter_and_file_line_form(ledger: Recording) -> None:
    expected = where(ledger, lambda e: at_line(ledger, e, DEPOSIT_LINE))
    assert {ledger.events[seq - 1].kind for seq in expected} == {"lock.acquire", "lock.release"}
    path = next(s.file for s in ledger.sites.values() if s.file.endswith("/ledger.py"))
    suffix = "/".join(path.split("/")[-2:])
    for location in (f"ledger.py:{DEPOSIT_LINE}", f"{suffix}:{DEPOSIT_LINE}", f"{path}:{DEPOSIT_LINE}"):
        assert hits(ledger, location) == expected
        assert hits(ledger, f"at={location}") == expected
    assert hits(ledger, f"lock.release at=ledger.py:{DEPOSIT_LINE}") == where(
        ledger, lambda e: e.kind == "lock.release" and at_line(ledger, e, DEPOSIT_LINE)
    )


def test_func_filter_and_function_form(ledger: Recording, bank: Recording) -> None:
    in_deposit = where(ledger, lambda e: func_of(ledger, e) == "Account.deposit")
    # The qualified name or its last part.
    assert hits(ledger, "Account.deposit") == hits(ledger, "deposit") == in_deposit
    assert hits(ledger, "func=deposit") == in_deposit
    assert hits(ledger, "queue.put func=worker") == where(
        ledger, lambda e: e.kind == "queue.put" and func_of(ledger, e) == "worker"
    )
    assert hits(bank, "<module>") == where(bank, lambda e: func_of(bank, e) == "<module>")


def test_every_filter_at_once_is_their_conjunction(ledger: Recording) -> None:
    w1 = thread_id(ledger, "w1")
    lock = next(o.id for o in ledger.objects.values() if o.label.startswith("Lock#"))
    text = f"lock.acquire thread=w1 obj={lock} at=ledger.py:{DEPOSIT_LINE} func=deposit"
    assert hits(ledger, text) == where(
        ledger,
        lambda e: e.kind == "lock.acquire" and e.thread == w1 and e.obj == lock and at_line(ledger, e, DEPOSIT_LINE),
    )
    # Sites that exclude each other match nothing.
    assert hits(ledger, f"at=ledger.py:{PUT_LINE} func=deposit") == []


def test_composition_with_and_or_not(bank: Recording) -> None:
    alice = thread_id(bank, "alice")
    locks, alices = parse_breakpoint(bank, "lock.*"), parse_breakpoint(bank, "thread=alice")
    events = parse_breakpoint(bank, "event.*")
    assert hits(bank, locks & alices) == where(bank, lambda e: e.kind.startswith("lock.") and e.thread == alice)
    assert hits(bank, locks | events) == where(bank, lambda e: e.kind.startswith(("lock.", "event.")))
    assert hits(bank, ~locks) == where(bank, lambda e: not e.kind.startswith("lock."))
    assert hits(bank, alices & ~locks) == where(bank, lambda e: e.thread == alice and not e.kind.startswith("lock."))
    assert ~~locks is locks
    both = locks & alices & events
    assert isinstance(both, And) and len(both.parts) == 3  # flattened
    assert hits(bank, both) == []
    either = locks | events | alices
    assert isinstance(either, Or) and len(either.parts) == 3
    assert isinstance(~locks, Not)


def test_readable_text_for_info_breakpoints(bank: Recording) -> None:
    bp = parse_breakpoint(bank, "  lock.*   thread=2   if  amount <  0 ")
    assert str(bp) == "lock.* thread=2 if amount <  0"
    assert str(parse_breakpoint(bank, "bank.py:17")) == "bank.py:17"
    locks, events = parse_breakpoint(bank, "lock.* thread=alice"), parse_breakpoint(bank, "event.set")
    assert str(locks | events) == "(lock.* thread=alice) | event.set"
    assert str(~locks & events) == "~(lock.* thread=alice) & event.set"
    assert str(parse_breakpoint(bank, "if amount > 3")) == "if amount > 3"


# -- conditions ----------------------------------------------------------------


def test_condition_over_data_fields(ledger: Recording, bank: Recording) -> None:
    fields = ledger.fields["queue.put"]
    assert hits(ledger, "queue.put if item[1] < 0") == where(
        ledger, lambda e: e.kind == "queue.put" and e.data[fields.index("item")][2][1] < 0
    )
    assert len(hits(ledger, "queue.put if item[1] < 0")) == 1
    assert hits(ledger, "mark if data['n'] == 3 and name == 'done'") == where(
        ledger, lambda e: e.kind == "mark" and e.data[1] == ("dict", 1, (("n", 3),))
    )
    assert hits(bank, "lock.* if depth == 0 or waited_ns is None") == where(bank, lambda e: e.kind == "lock.release")


def test_condition_over_locals(ledger: Recording, bank: Recording) -> None:
    assert hits(ledger, "lock.acquire if amount > 1") == where(
        ledger, lambda e: e.kind == "lock.acquire" and local(e, "amount") > 1
    )
    assert hits(bank, "transfer if amount == 5 and thread_name == 'bob'") == where(
        bank,
        lambda e: func_of(bank, e) == "transfer" and local(e, "amount") == 5 and e.thread == thread_id(bank, "bob"),
    )
    # Opaque locals answer what their summaries prove.
    assert hits(ledger, "queue.put if len(history) == 20 and history[3] == 3 and 7 in history") == where(
        ledger, lambda e: e.kind == "queue.put"
    )
    assert hits(ledger, "queue.put if note == 'x'") == []  # a 300-char note is not 'x'
    assert hits(ledger, "queue.put if len(note) == 300 and len(blob) == 200") == where(
        ledger, lambda e: e.kind == "queue.put"
    )
    assert hits(ledger, "queue.put if len(nested[0][1]) == 2 and 'x' in tags and pending[1] == 8") == where(
        ledger, lambda e: e.kind == "queue.put"
    )
    assert hits(ledger, "queue.put if account == account and out == out") == where(
        ledger, lambda e: e.kind == "queue.put"
    )


def test_names_resolve_fields_then_specials_then_locals(ledger: Recording) -> None:
    put = next(e for e in ledger.events if e.kind == "queue.put")
    assert local(put, "size") == 99 and local(put, "kind") == "mine"
    names = event_names(ledger, put)
    assert names["size"] == put.data[ledger.fields["queue.put"].index("size")] != 99  # the field wins
    assert names["kind"] == "queue.put"  # the special name wins over the local
    assert names["amount"] == local(put, "amount")  # a local nothing hides
    assert event_names(ledger, put, ["size", "kind", "amount", "nosuch"]) == {
        "size": names["size"],
        "kind": "queue.put",
        "amount": names["amount"],
    }
    assert hits(ledger, "queue.put if size == 99") == []
    assert hits(ledger, "mark if size == 99") == where(ledger, lambda e: e.kind == "mark")  # no size field: the local
    assert hits(ledger, "if kind == 'mine'") == []
    # thread.start's `thread` field is the started thread; main's local `thread` and the event's thread are hidden.
    w2 = thread_id(ledger, "w2")
    assert hits(ledger, f"thread.start if thread == {w2}") == where(
        ledger, lambda e: e.kind == "thread.start" and e.data[0] == w2
    )
    main = thread_id(ledger, "MainThread")
    assert hits(ledger, f"queue.get if thread == {main}") == where(ledger, lambda e: e.kind == "queue.get")


def test_special_names(ledger: Recording, aio: Recording) -> None:
    assert hits(ledger, "if thread_name == 'w1' and func == 'worker'") == where(
        ledger, lambda e: e.thread == thread_id(ledger, "w1") and func_of(ledger, e) == "worker"
    )
    assert hits(ledger, f"if line == {PUT_LINE} and obj == 'Queue#1' and len(file) > 9") == where(
        ledger, lambda e: at_line(ledger, e, PUT_LINE)
    )
    assert hits(ledger, "if seq == 3 or seq == 5") == [3, 5]
    assert hits(ledger, "if task is not None") == []
    assert hits(aio, "lock.acquire if task_name == 'Task-2'") == where(
        aio, lambda e: e.kind == "lock.acquire" and e.task is not None and aio.tasks[e.task].name == "Task-2"
    )


def test_conditions_that_cannot_be_evaluated_do_not_hold(ledger: Recording) -> None:
    assert hits(ledger, "queue.put if nosuch > 1") == []
    assert hits(ledger, "queue.put if amount < 'x'") == []
    assert hits(ledger, "queue.put if not (nosuch > 1)") == []  # an error is not false: `not` does not turn it true
    assert hits(ledger, "queue.put if account < account") == []
    put = next(e for e in ledger.events if e.kind == "queue.put")
    expr = compile_expr("nosuch > 1")
    assert not expr.holds(event_names(ledger, put, expr.names))
    with pytest.raises(EvaluationError, match=r"^no local or field named 'nosuch' here$"):
        expr.evaluate(event_names(ledger, put, expr.names))


def test_redacted_values_never_compare_and_never_leak(ledger: Recording) -> None:
    puts = where(ledger, lambda e: e.kind == "queue.put")
    for condition in (
        "password == 'hunter2'",
        "password != 'hunter2'",
        "password == password",
        "password is None",
        "password is not None",
        "len(password) > 0",
        "password",
        "meta == meta",
        "meta['api_key'] == 'k'",
        "'k' in [meta['api_key']]",
    ):
        assert hits(ledger, f"queue.put if {condition}") == [], condition
    assert hits(ledger, "queue.put if meta['n'] == 1") == puts  # the rest of the dict still answers
    put = ledger.events[puts[0] - 1]
    names = event_names(ledger, put)
    for text in ("password == 'hunter2'", "meta", "password"):
        try:
            shown = repr(compile_expr(text).evaluate(names))
        except EvaluationError as exc:
            shown = str(exc)
        assert "<redacted>" in shown or "redacted" in shown
        assert "hunter2" not in shown and "'k'" not in shown


# -- the evaluator on its own ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "cannot use a function call other than len() in a condition"),
        ("open('/etc/passwd')", "a function call other than len()"),
        ("().__class__", "cannot use attribute access (.__class__) in a condition"),
        ("x.__class__.__bases__", "attribute access"),
        ("len.__self__", "attribute access (.__self__)"),
        ("'a' * 10**9", "cannot use the ** operator"),
        ("10**10**10", "the ** operator"),
        ("lambda: 1", "a lambda"),
        ("[i for i in x]", "a comprehension"),
        ("{k: 1 for k in x}", "a comprehension"),
        ("any(i for i in x)", "a function call other than len()"),
        ("(i for i in x)", "a generator expression"),
        ("f'{x}'", "an f-string"),
        ("(y := 1)", "an assignment (:=)"),
        ("[*x]", "a starred expression"),
        ("a if b else c", "a conditional expression"),
        ("x[1:2]", "a slice"),
        ("{1, 2}", "a set display"),
        ("{'a': 1}", "a dict display"),
        ("x is 1", "`is` other than `is None`"),
        ("x @ y", "the @ operator"),
        ("x << 1", "the << operator"),
        ("x | y", "the | operator"),
        ("~x", "the ~ operator"),
        ("1j", "a complex number"),
        ("...", "an ellipsis"),
        ("len(x, y)", "len() takes exactly one argument"),
        ("len(x=1)", "len() takes exactly one argument"),
        ("x = 1", "invalid condition"),
        ("", "empty condition"),
        ("a" * 1001, "too long"),
        ("-" * 500 + "1", "too deeply nested"),
        ("(" * 300 + "1" + ")" * 300, "invalid condition"),
        ("[" * 100 + "]" * 100, "nested"),
        ("a+" * 450 + "a", "too"),
    ],
)
def test_forbidden_constructs_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        compile_expr(text)
    assert isinstance(info.value, UsageError)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_forbidden_condition_fails_the_breakpoint(bank: Recording) -> None:
    with pytest.raises(UsageError, match=r"^cannot use attribute access \(\.__class__\) in a condition$"):
        parse_breakpoint(bank, "lock.* if ().__class__")


def test_work_is_bounded() -> None:
    for text in ("'a' * 1000000000", "[0] * 99999 * 99999", "'ab' * 60000", "b'x' * 50001 + b'y' * 50000"):
        with pytest.raises(EvaluationError, match="too large"):
            compile_expr(text).evaluate({})
        assert not compile_expr(text).holds({})
    with pytest.raises(EvaluationError, match="% formatting"):
        compile_expr("'%999999999d' % 1").evaluate({})
    assert compile_expr("len('ab' * 50000)").evaluate({}) == 100000
    assert compile_expr(" and ".join(["a"] * 150)).evaluate({"a": 1}) == 1


def test_names_and_plain_arithmetic() -> None:
    expr = compile_expr("a + len(b) > c[0] - -d % 4 // 1 / 2 and not e or (f, [g])")
    assert expr.names == {"a", "b", "c", "d", "e", "f", "g"}
    assert compile_expr("0 < x <= 3 < y").evaluate({"x": 3, "y": 4}) is True
    assert compile_expr("0 < x <= 3 < y").evaluate({"x": 4, "y": 5}) is False
    assert compile_expr("x or y").evaluate({"x": 0, "y": "b"}) == "b"
    assert compile_expr("x and y").evaluate({"x": 0, "y": "b"}) == 0
    assert compile_expr("x and nosuch").evaluate({"x": 0}) == 0  # short-circuits like Python
    assert compile_expr("x not in (1, 2) and x is not None").evaluate({"x": 3}) is True
    assert compile_expr("d['k'][1]").evaluate({"d": ("dict", 1, (("k", ("list", 2, (5, 6))),))}) == 6
    for text, problem in (("1 / 0", "division by zero"), ("x + 'a'", "cannot compute"), ("x[5]", "has no item")):
        with pytest.raises(EvaluationError, match=problem):
            compile_expr(text).evaluate({"x": ("list", 1, (1,))})


def test_summaries_convert_faithfully_or_stay_opaque() -> None:
    assert from_summary(("tuple", 2, (1, ("str", "ab", 9)))) == (1, from_summary(("str", "ab", 9)))
    assert from_summary(("dict", 1, (("k", None),))) == {"k": None}
    assert from_summary(("set", 2, (1, 2))) == {1, 2}
    assert from_summary(("frozenset", 1, ("a",))) == frozenset({"a"})
    assert list(from_summary(("deque", 2, (1, 2)))) == [1, 2]
    for crafted in (
        ("list", 5, (1,)),
        ("list", 1, (1, 2)),
        ("list", -1, ()),
        {"a": 1},
        ("ext", 3),
        (),
        ("obj",),
        ("set", 1, (("list", 0, ()),)),
        ("set", 2, (("redacted",), ("redacted",))),
    ):
        value = from_summary(crafted)
        assert isinstance(value, Opaque)
        assert isinstance(repr(value), str)
    nested: Any = 1
    for _ in range(100):
        nested = ("list", 1, (nested,))
    assert isinstance(repr(from_summary(nested)), str)


OPAQUE_NAMES: dict[str, Any] = {
    "s": ("str", "abc", 500),
    "b": ("bytes", b"ab", 300),
    "big": ("int", 100),
    "o": ("obj", "Account", 7),
    "same": ("obj", "Account", 7),
    "other": ("obj", "Account", 8),
    "part": ("list", 10, (1, 2, 3)),
    "shallow": ("dict", 4, None),
    "pdict": ("dict", 5, (("a", 1),)),
    "err": ("error", "RuntimeError"),
    "secret": ("redacted",),
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("len(s) == 500 and len(b) == 300 and len(part) == 10 and len(shallow) == 4", True),
        ("s == 'abc'", False),  # another length
        ("s == 'x' * 500", False),  # another prefix
        ("b != b'ab'", True),
        ("big == 5", False),  # 5 has 3 bits, not 100
        ("big == 'x'", False),
        ("o == same and o != other and o != None", True),
        ("part[0] + part[2]", 4),
        ("2 in part and 'b' in s and b'a' in b", True),
        ("pdict['a']", 1),
        ("part == [1, 2, 3]", False),  # another length
        ("part == (1,) * 10", False),  # a list never equals a tuple
        ("not not (part and s and shallow and big)", True),  # truth by length, big ints are nonzero
    ],
)
def test_opaque_values_answer_what_the_summary_proves(text: str, value: Any) -> None:
    assert compile_expr(text).evaluate(OPAQUE_NAMES) == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("s == 'abc' + 'x' * 497", "only its first 3 of 500 chars were recorded"),
        ("s < 'b'", "cannot order"),
        ("big == 633825300114114700748351602688", "only its size (100 bits)"),  # 2**99 has 100 bits
        ("big + 1", "cannot compute + with"),
        ("o == 1", "only its type and id were recorded"),  # an IntEnum could equal 1
        ("o < other", "cannot order"),
        ("-o", "unary -"),
        ("not o", "truth"),
        ("len(o)", "len()"),
        ("part[5]", "only its first 3 of 10 items were recorded"),
        ("part[10]", "out of range"),
        ("99 in part", "only its first 3 of 10"),
        ("part == [1, 2, 3] + [0] * 7", "cannot tell"),
        ("shallow['k']", "only its length was recorded"),
        ("pdict['zz']", "only its first 1 of 5 items"),
        ("err == 1", "it could not be recorded"),
        ("secret == secret", "redacted"),
        ("secret != 1", "redacted"),
        ("len(secret)", "redacted"),
        ("secret is None", "redacted"),
        ("[secret] == [secret]", "redacted"),
        ("secret in [secret]", "redacted"),
        ("'abc' in s + 'x'", "cannot compute"),
        ("'x' in o", "cannot tell whether"),
    ],
)
def test_opaque_values_raise_where_the_summary_cannot_tell(text: str, problem: str) -> None:
    expr = compile_expr(text)
    with pytest.raises(EvaluationError) as info:
        expr.evaluate(OPAQUE_NAMES)
    assert problem in str(info.value)
    assert isinstance(info.value, ChronoError) and not isinstance(info.value, UsageError)
    assert expr.holds(OPAQUE_NAMES) is False


def test_opaque_rendering_is_the_summary_text() -> None:
    assert repr(compile_expr("(s, secret, o)").evaluate(OPAQUE_NAMES)) == (
        "('abc'…(500 chars), <redacted>, <Account object #7>)"
    )
    assert hash(from_summary(("obj", "A", 1))) == hash(from_summary(("obj", "A", 1)))


# -- one-line errors for what the recording does not have -----------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lokc.*", "no event kind matches 'lokc.*' (kinds: thread.*, lock.*"),
        ("queue.putt", "no event kind matches 'queue.putt'"),
        ("lock.acquire,queue.putt", "no event kind matches 'queue.putt'"),
        ("frobnicate", "no function named 'frobnicate' in the recording, nor an event kind"),
        ("lock.* func=frobnicate", "no function named 'frobnicate' in the recording"),
        ("lock.* thread=nobody", "no thread 'nobody' in the recording (threads: 1 MainThread"),
        ("lock.* thread=99", "no thread '99'"),
        ("lock.* task=1", "no task '1' in the recording (tasks: none)"),
        ("lock.* obj=Lock#99", "no object 'Lock#99' in the recording (objects: Lock#1"),
        ("nosuchfile.py:3", "no file matching 'nosuchfile.py' in the recording"),
        ("bank.py:9999", "nothing recorded at bank.py:9999 (recorded lines: "),
        ("lock.* at=bank.py", "at= takes FILE:LINE, not 'bank.py'"),
        ("lock.* at=other/bank.py:17", "no file matching 'other/bank.py'"),
        ("ank.py:17", "no file matching 'ank.py'"),  # a basename or a path suffix, not any string suffix
        ("lock.* color=red", "unknown filter 'color=' (filters: thread=, task=, obj=, at=, func=)"),
        ("lock.* thread=", "thread= needs a value"),
        ("lock.* alice", "unexpected 'alice'"),
        ("lock.* thread='alice", "cannot read"),
        ("   ", "say what to stop at"),
        ("lock.* if", "empty condition"),
        ("lock.* thread='x if y'", "no thread 'x if y'"),  # `if` inside quotes is not the condition
    ],
)
def test_what_the_recording_lacks_is_a_one_line_error(bank: Recording, text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_breakpoint(bank, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_match_exposes_resolved_ids(bank: Recording) -> None:
    bp = parse_breakpoint(bank, "lock.acquire thread=alice obj=Lock#1 func=transfer if amount > 1")
    assert isinstance(bp, Match)
    assert bp.kinds == {"lock.acquire"}
    assert bp.threads == {thread_id(bank, "alice")}
    assert bp.objects == {o.id for o in bank.objects.values() if o.label == "Lock#1"}
    assert bp.sites == {sid for sid, site in bank.sites.items() if site.func == "transfer"}
    assert bp.tasks is None and bp.condition is not None and bp.condition.names == {"amount"}
