"""Lock-order inversions: cycles in the graph of "took B while holding A", whether or not this run deadlocked.

The graph is built while the recording is replayed once (`LockOrder.wants`,
`acquired` and `released`, fed by analysis.report); `inversions()` then finds
its cycles.
A cycle is a potential deadlock only if its edges can be taken at the same
time by different threads or tasks, each one holding its edge's first lock
and wanting the second. Two refinements keep it honest:

- the edges of a cycle must be assignable to distinct actors (one thread
  alone cannot deadlock with itself, and one thread cannot stand on two
  edges of the cycle at once);
- a *gate lock*, held on every occurrence of every edge of the cycle, lets
  only one of them run at a time: the cycle is reported with its gates, as
  harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronodbg.replay.state import Actor

#: Cycles longer than this are not looked for: real lock hierarchies are
#: shallow, and the search is exponential in the length.
MAX_CYCLE_LENGTH = 8
#: At most this many cycles are listed (the report says when there were more).
MAX_CYCLES = 100
#: The search gives up after this many steps (a dense graph has very many paths).
MAX_STEPS = 200_000


@dataclass
class Witness:
    """The first time one actor took an edge's order, and how often it did."""

    actor: Actor
    #: The seq and site of the acquisition of the held lock (the edge's source).
    held_seq: int
    held_site: int | None
    #: The seq and site of the acquisition made while holding it (the edge's target).
    seq: int
    site: int | None
    count: int = 1


@dataclass
class EdgeInfo:
    """Everything known of one edge A -> B: who took that order, and what else was always held."""

    #: By actor, in the order the actors first took this order.
    witnesses: dict[Actor, Witness] = field(default_factory=dict)
    #: The locks held (besides A) on every occurrence; None before the first.
    gates: set[int] | None = None


@dataclass
class Cycle:
    """A cycle of locks and, per edge (locks[i] -> locks[i+1], wrapping), the witness chosen for it."""

    locks: list[int]
    witnesses: list[Witness]
    #: Locks held on every occurrence of every edge: the cycle cannot deadlock.
    gates: list[int]


class LockOrder:
    """The lock-order graph, fed acquisition by acquisition in seq order."""

    def __init__(self) -> None:
        #: actor -> the locks it holds, each with the (seq, site) it was taken at, in order.
        self.held: dict[Actor, dict[int, tuple[int, int | None]]] = {}
        self.edges: dict[tuple[int, int], EdgeInfo] = {}
        #: Set when the search stopped at MAX_CYCLES.
        self.truncated = False

    def wants(self, actor: Actor, lock: int, seq: int, site: int | None) -> None:
        """`actor` asks for `lock` (not holding it): an edge from every lock it holds.

        Called when the request begins (a lock.wait, or an acquire that did not
        wait): a real deadlock never completes the second acquisition.
        """
        held = self.held.get(actor)
        if not held:
            return
        edges = self.edges
        for other, (held_seq, held_site) in held.items():
            if other == lock:
                continue
            info = edges.get((other, lock))
            if info is None:
                info = edges[(other, lock)] = EdgeInfo()
            witness = info.witnesses.get(actor)
            if witness is None:
                info.witnesses[actor] = Witness(actor, held_seq, held_site, seq, site)
            else:
                witness.count += 1
            if info.gates is None:
                info.gates = {gate for gate in held if gate != other}
            elif info.gates:
                info.gates.intersection_update(held)
                info.gates.discard(other)

    def acquired(self, actor: Actor, lock: int, seq: int, site: int | None) -> None:
        """`actor` took `lock`, not holding it already (a re-entry is no new order)."""
        held = self.held.get(actor)
        if held is None:
            held = self.held[actor] = {}
        held[lock] = (seq, site)

    def released(self, actor: Actor, lock: int) -> None:
        """`lock`, held by `actor`, is free again (whoever released it: a Lock may be released by another thread)."""
        held = self.held.get(actor)
        if held is not None:
            held.pop(lock, None)

    # -- cycles ----------------------------------------------------------------

    def inversions(self) -> list[Cycle]:
        """Every cycle (up to MAX_CYCLES) whose edges distinct actors can take, gated ones included."""
        successors: dict[int, list[int]] = {}
        for a, b in self.edges:
            successors.setdefault(a, []).append(b)
        for targets in successors.values():
            targets.sort()
        found: list[Cycle] = []
        for component in _components(successors):
            if len(component) < 2:
                continue
            locks_found, complete = _cycles(successors, component)
            self.truncated = self.truncated or not complete
            for locks in locks_found:
                if len(found) >= MAX_CYCLES:
                    self.truncated = True
                    return found
                cycle = self._cycle(locks)
                if cycle is not None:
                    found.append(cycle)
        return found

    def _cycle(self, locks: list[int]) -> Cycle | None:
        infos = [self.edges[(locks[i], locks[(i + 1) % len(locks)])] for i in range(len(locks))]
        chosen = _distinct_actors([list(info.witnesses.values()) for info in infos])
        if chosen is None:
            return None
        gates: set[int] | None = None
        for info in infos:
            edge_gates = info.gates or set()
            gates = set(edge_gates) if gates is None else gates & edge_gates
        return Cycle(locks, chosen, sorted(gates or ()))


def _distinct_actors(options: list[list[Witness]]) -> list[Witness] | None:
    """One witness per edge, all of different actors, earliest first where there is a choice; None if impossible.

    A bipartite matching of edges to actors (augmenting paths): polynomial,
    where trying combinations would not be with hundreds of threads per edge.
    """
    ordered = [sorted(witnesses, key=lambda w: w.seq) for witnesses in options]
    chosen: list[Witness | None] = [None] * len(ordered)
    edge_of: dict[Actor, int] = {}

    def augment(i: int, seen: set[Actor]) -> bool:
        for witness in ordered[i]:
            if witness.actor in seen:
                continue
            seen.add(witness.actor)
            other = edge_of.get(witness.actor)
            if other is None or augment(other, seen):
                edge_of[witness.actor] = i
                chosen[i] = witness
                return True
        return False

    for i in range(len(ordered)):
        if not augment(i, set()):
            return None
    return [witness for witness in chosen if witness is not None]


def _components(successors: dict[int, list[int]]) -> list[list[int]]:
    """Strongly connected components (Tarjan, iterative: lock graphs from stress tests can be deep)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    counter = 0
    for root in sorted(successors):
        if root in index:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = successors.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycles(successors: dict[int, list[int]], component: list[int]) -> tuple[list[list[int]], bool]:
    """The simple cycles inside one component, each once, starting at its smallest lock, shortest first; and whether that is all of them."""
    members = set(component)
    cycles: list[list[int]] = []
    steps = 0
    for start in component:
        path = [start]
        on_path = {start}
        # Depth-first over locks greater than the start: each cycle is found
        # only from its smallest lock.
        work: list[list[int]] = [[t for t in successors.get(start, []) if t in members and t >= start]]
        while work:
            steps += 1
            if len(cycles) > MAX_CYCLES or steps > MAX_STEPS:
                cycles.sort(key=lambda c: (len(c), c))
                return cycles, False
            if not work[-1]:
                work.pop()
                on_path.discard(path.pop())
                continue
            target = work[-1].pop(0)
            if target == start:
                cycles.append(list(path))
            elif target not in on_path and len(path) < MAX_CYCLE_LENGTH:
                path.append(target)
                on_path.add(target)
                work.append([t for t in successors.get(target, []) if t in members and t >= start])
    cycles.sort(key=lambda c: (len(c), c))
    return cycles, True
