"""Recorded queue.Queue (and LifoQueue, PriorityQueue), SimpleQueue and futures.

A put or get is recorded inside the queue's own critical section (in `_put`
/ `_get`, which run under `Queue.mutex`), so the log order of puts and gets
is the order the items really moved. A wait is recorded when the queue's
`not_full` / `not_empty` Condition is about to block, which is exactly when
the put or get has to wait.

Errors leave every wrapper by a bare `raise` after dropping the wrapper's own
traceback entry (see recorder.locks): tracebacks read as unrecorded.
"""

from __future__ import annotations

import _queue
import _thread
import os
import queue
import sys
import time
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches, traced, untraced
from chronodbg.recorder.sync import LIBRARY_QSIZES, creator, queue_size

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
FUTURE_SET = Kind.FUTURE_SET
FUTURE_WAIT = Kind.FUTURE_WAIT
FUTURE_WAKE = Kind.FUTURE_WAKE
QUEUE_EMPTY = Kind.QUEUE_EMPTY
QUEUE_FULL = Kind.QUEUE_FULL
QUEUE_GET = Kind.QUEUE_GET
QUEUE_JOIN = Kind.QUEUE_JOIN
QUEUE_JOINED = Kind.QUEUE_JOINED
QUEUE_PUT = Kind.QUEUE_PUT
QUEUE_TASK_DONE = Kind.QUEUE_TASK_DONE
QUEUE_WAIT = Kind.QUEUE_WAIT

_getframe = sys._getframe
_get_ident = _thread.get_ident
_now = time.monotonic_ns
_FUTURES_BASE = "concurrent.futures._base"
#: Where concurrent.futures lives, found without importing it (see install).
_FUTURES_DIR = os.path.join(os.path.dirname(queue.__file__), "concurrent", "futures", "")


def storage_hooks_in_c(rec: Recorder, patches: Patches, cls: type, threading_queue: bool) -> bool:
    """Wrap the class's own `_put` / `_get` with the C StorageHook where built; False: the Python wrappers' turn.

    queue.Queue's shape (`threading_queue`): the guard against a subclass's
    `_put` calling its wrapped base's, the size as `sync.queue_size` gives it;
    asyncio.Queue's: no guard, the size from `len(self._queue)`.
    """
    if rec.hooks is None:
        return False
    own = cls.__dict__
    for name, kind, gets in (("_put", QUEUE_PUT, False), ("_get", QUEUE_GET, True)):
        if name in own and not getattr(own[name], "_cgr", False):
            sizes = LIBRARY_QSIZES if threading_queue else None
            patches.set(cls, name, rec.hooks.StorageHook(own[name], rec, kind, gets, threading_queue, sizes))
    return True


def _wrap_storage(rec: Recorder, patches: Patches, cls: type) -> None:
    """Record puts and gets in this class's own `_put` / `_get`, once per queue operation."""
    if storage_hooks_in_c(rec, patches, cls, threading_queue=True):
        return
    own = cls.__dict__
    if "_put" in own and not getattr(own["_put"], "_cgr", False):
        original_put = own["_put"]

        def _put(self: Any, item: Any) -> None:
            oid = self.__dict__.get("_cgr_oid")
            if not oid or self.__dict__.get("_cgr_in") or not rec.active:
                original_put(self, item)
                return
            self._cgr_in = True
            try:
                original_put(self, item)
            finally:
                self._cgr_in = False
            rec.emit(QUEUE_PUT, oid, (rec.summariser.safe_value(item), queue_size(self)), _getframe().f_back)

        _put._cgr = True  # type: ignore[attr-defined]
        patches.set(cls, "_put", _put)
    if "_get" in own and not getattr(own["_get"], "_cgr", False):
        original_get = own["_get"]

        def _get(self: Any) -> Any:
            oid = self.__dict__.get("_cgr_oid")
            if not oid or self.__dict__.get("_cgr_in") or not rec.active:
                return original_get(self)
            self._cgr_in = True
            try:
                item = original_get(self)
            finally:
                self._cgr_in = False
            rec.emit(QUEUE_GET, oid, (rec.summariser.safe_value(item), queue_size(self)), _getframe().f_back)
            return item

        _get._cgr = True  # type: ignore[attr-defined]
        patches.set(cls, "_get", _get)


def install_queue(rec: Recorder, patches: Patches, module: Any = queue) -> None:
    Queue: type[queue.Queue[Any]] = module.Queue
    Full = module.Full
    Empty = module.Empty
    original_init = Queue.__init__
    # Traced: a subclass's own _put or _get is the program's code.
    original_put = traced(rec, Queue.put)
    original_get = traced(rec, Queue.get)
    original_task_done = traced(rec, Queue.task_done)
    original_join = traced(rec, Queue.join)
    wrapped_classes: set[type] = set()
    LIBRARY_QSIZES.update(klass.__dict__["_qsize"] for klass in (Queue, module.LifoQueue, module.PriorityQueue) if "_qsize" in klass.__dict__)

    def __init__(self: Any, maxsize: int = 0) -> None:
        original_init(self, maxsize)
        if not rec.active:
            return
        frame = creator(rec, self, _getframe().f_back)
        if not rec.creator_is_user(frame):
            self._cgr_oid = 0
            return
        cls = type(self)
        if cls not in wrapped_classes:
            # A user subclass with its own storage records through its own methods.
            for klass in cls.__mro__:
                if klass is Queue:
                    break
                _wrap_storage(rec, patches, klass)
            wrapped_classes.add(cls)
        oid = self._cgr_oid = rec.register_object(cls.__name__, frame)
        self.not_full._cgr_queue = (self, "put", oid)
        self.not_empty._cgr_queue = (self, "get", oid)

    def put(self: Any, item: Any, block: bool = True, timeout: float | None = None) -> None:
        try:
            try:
                return original_put(self, item, block, timeout)
            except Full:
                oid = self.__dict__.get("_cgr_oid")
                if oid and rec.active:
                    rec.emit(QUEUE_FULL, oid, (queue_size(self), self.maxsize), _getframe().f_back)
                raise
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def get(self: Any, block: bool = True, timeout: float | None = None) -> Any:
        try:
            try:
                return original_get(self, block, timeout)
            except Empty:
                oid = self.__dict__.get("_cgr_oid")
                if oid and rec.active:
                    rec.emit(QUEUE_EMPTY, oid, (queue_size(self),), _getframe().f_back)
                raise
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def task_done(self: Any) -> None:
        try:
            oid = self.__dict__.get("_cgr_oid")
            if oid and rec.active and self.unfinished_tasks > 0:
                rec.emit(QUEUE_TASK_DONE, oid, (self.unfinished_tasks - 1,), _getframe().f_back)
            original_task_done(self)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def join(self: Any) -> None:
        try:
            oid = self.__dict__.get("_cgr_oid")
            if not oid or not rec.active:
                return original_join(self)
            frame = _getframe().f_back
            rec.emit(QUEUE_JOIN, oid, (self.unfinished_tasks,), frame)
            start = _now()
            original_join(self)
            if rec.active:
                rec.emit(QUEUE_JOINED, oid, (_now() - start,), frame)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Queue, "__init__", __init__)
    patches.set(Queue, "put", untraced(rec, put))
    patches.set(Queue, "get", untraced(rec, get))
    patches.set(Queue, "task_done", untraced(rec, task_done))
    patches.set(Queue, "join", untraced(rec, join))
    for cls in (Queue, module.LifoQueue, module.PriorityQueue):
        _wrap_storage(rec, patches, cls)
        wrapped_classes.add(cls)


def install_simple_queue(rec: Recorder, patches: Patches, module: Any = queue) -> None:
    Raw = _queue.SimpleQueue if module is queue else module.SimpleQueue
    Empty = module.Empty

    class SimpleQueueMeta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            return type.__instancecheck__(cls, instance) or (cls is SimpleQueue and isinstance(instance, Raw))

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            frame = _getframe().f_back
            user = rec.active and (
                rec.creator_is_user(frame)
                # ThreadPoolExecutor's work queue: how submitted work reaches the workers.
                or (frame is not None and frame.f_code.co_filename.startswith(_FUTURES_DIR))
            )
            if cls is SimpleQueue and not user:
                return Raw(*args, **kwargs)
            instance = type.__call__(cls, *args, **kwargs)
            instance._cgr_oid = rec.register_object(cls.__name__, frame) if user else 0
            return instance

    #: thread -> the SimpleQueue its put is recording; (thread, id(queue)) ->
    #: the items put to it re-entrantly meanwhile, with their callers' frames.
    putting: dict[int, Any] = {}
    deferred: dict[tuple[int, int], list[tuple[Any, Any]]] = {}

    class SimpleQueue(Raw, metaclass=SimpleQueueMeta):  # type: ignore[misc, valid-type]
        __doc__ = Raw.__doc__

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            # The C put is atomic for the GC; recording allocates, so the GC
            # may run a __del__ that puts to this queue (bpo-14976) before
            # the item is in. Such a put goes in after it, as if the GC had
            # run just after this put. Mark the put before allocating anything.
            try:
                me = _get_ident()
                outer = putting.get(me)
                if outer is self:
                    deferred.setdefault((me, id(self)), []).append((item, _getframe().f_back))
                    return None
                oid = self.__dict__.get("_cgr_oid")
                if not oid or not rec.active:
                    Raw.put(self, item, block, timeout)
                    return None
                putting[me] = self
                todo = [(item, _getframe().f_back)]
                try:
                    while todo:
                        item, frame = todo.pop(0)
                        if rec.active:
                            # Before the put: a get of this item must come after it in the log.
                            rec.emit(QUEUE_PUT, oid, (rec.summariser.safe_value(item), Raw.qsize(self) + 1), frame)
                        # A SimpleQueue never blocks: block and timeout only pass the C checks.
                        Raw.put(self, item, block, timeout)
                        todo.extend(deferred.pop((me, id(self)), ()))
                finally:
                    if outer is None:
                        del putting[me]
                    else:
                        putting[me] = outer
                return None
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        def put_nowait(self, item: Any) -> None:
            try:
                self.put(item, False)
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            try:
                oid = self.__dict__.get("_cgr_oid")
                if not oid or not rec.active:
                    return Raw.get(self, block, timeout)
                frame = _getframe().f_back
                if block and timeout is not None:
                    # Reject a bad timeout as the C get does before it looks at
                    # the queue, with its own checks: on a queue that has an item.
                    probe: Any = Raw()
                    Raw.put(probe, None)
                    Raw.get(probe, True, timeout)
                try:
                    item: Any = Raw.get(self, False)
                except Empty:
                    if not block:
                        rec.emit(QUEUE_EMPTY, oid, (0,), frame)
                        raise
                    rec.emit(QUEUE_WAIT, oid, ("get", 0, 0, timeout), frame)
                    try:
                        item = Raw.get(self, True, timeout)
                    except Empty:
                        if rec.active:
                            rec.emit(QUEUE_EMPTY, oid, (0,), frame)
                        raise
                if rec.active:
                    rec.emit(QUEUE_GET, oid, (rec.summariser.safe_value(item), Raw.qsize(self)), frame)
                return item
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        def get_nowait(self) -> Any:
            try:
                return self.get(False)
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        def __reduce_ex__(self, protocol: Any) -> Any:
            # Pickling (and copy) fails as for the C type, named as it names itself.
            name = f"{Raw.__module__}.{Raw.__name__}" if type(self) is SimpleQueue else type(self).__name__
            raise TypeError(f"cannot pickle '{name}' object")

    SimpleQueue.__module__ = "queue"
    SimpleQueue.__qualname__ = SimpleQueue.__name__ = "SimpleQueue"
    patches.set(module, "SimpleQueue", SimpleQueue)


def install_futures(rec: Recorder, patches: Patches, module: Any) -> None:
    Future = module.Future
    # Traced: a done-callback, run by set_result, is the program's code.
    original_init = traced(rec, Future.__init__)
    original_result = traced(rec, Future.result)
    original_exception = traced(rec, Future.exception)
    original_set_result = traced(rec, Future.set_result)
    original_set_exception = traced(rec, Future.set_exception)

    def __init__(self: Any) -> None:
        original_init(self)
        # Futures reach the user whoever created them: always recorded.
        self._cgr_oid = rec.register_object("Future", _getframe().f_back) if rec.active else 0

    def _waiting(original: Any) -> Any:
        def wait(self: Any, timeout: float | None = None) -> Any:
            try:
                oid = self.__dict__.get("_cgr_oid")
                if not oid or not rec.active or self.done():
                    return original(self, timeout)
                frame = _getframe().f_back
                rec.emit(FUTURE_WAIT, oid, (timeout,), frame)
                start = _now()
                try:
                    return original(self, timeout)
                finally:
                    if rec.active:
                        rec.emit(FUTURE_WAKE, oid, (self._state, _now() - start), frame)
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        return wait

    def set_result(self: Any, result: Any) -> None:
        try:
            oid = self.__dict__.get("_cgr_oid")
            if oid and rec.active and not self.done():
                rec.emit(FUTURE_SET, oid, ("FINISHED", rec.summariser.safe_value(result)), _getframe().f_back)
            original_set_result(self, result)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def set_exception(self: Any, exception: BaseException | None) -> None:
        try:
            oid = self.__dict__.get("_cgr_oid")
            if oid and rec.active and not self.done():
                name = rec.summariser.type_name(type(exception))
                rec.emit(FUTURE_SET, oid, ("EXCEPTION", name), _getframe().f_back)
            original_set_exception(self, exception)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Future, "__init__", untraced(rec, __init__))
    patches.set(Future, "result", untraced(rec, _waiting(original_result)))
    patches.set(Future, "exception", untraced(rec, _waiting(original_exception)))
    patches.set(Future, "set_result", untraced(rec, set_result))
    patches.set(Future, "set_exception", untraced(rec, set_exception))


def install(rec: Recorder, patches: Patches) -> None:
    install_queue(rec, patches)
    install_simple_queue(rec, patches)
    # concurrent.futures is patched when the program imports it (asyncio
    # does too): importing it here, with the logging it imports, cost every
    # recorded program about 4 ms at start.
    futures = sys.modules.get(_FUTURES_BASE)
    if futures is not None:
        install_futures(rec, patches, futures)
    patches.after_import(_FUTURES_BASE, lambda: rec.active, lambda module: install_futures(rec, patches, module))

    def patch_fresh_queue(module: Any) -> None:
        # `importlib.reload(queue)` and test.support's
        # `import_fresh_module('queue')` (CPython's own queue tests) run
        # queue.py anew: new classes the patches above never saw.
        install_queue(rec, patches, module)
        simple = getattr(module, "SimpleQueue", None)
        # The pure-Python fallback (no _queue) is left as it is.
        if isinstance(simple, type) and simple is not getattr(module, "_PySimpleQueue", None):
            install_simple_queue(rec, patches, module)

    patches.after_import("queue", lambda: rec.active, patch_fresh_queue)
