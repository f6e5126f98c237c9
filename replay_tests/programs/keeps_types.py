"""What type(), isinstance(), issubclass(), __name__ / __module__, copy and pickle say about locks and queues."""

import _thread
import asyncio
import copy
import pickle
import queue
import threading

lock = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
q = queue.Queue()
event = threading.Event()


def show(label, thunk):
    try:
        print(label, "->", thunk())
    except Exception as exc:
        print(label, "-> raises", type(exc).__name__, exc)


show("type(Lock()).__name__", lambda: type(lock).__name__)
show("type(Lock()).__module__", lambda: type(lock).__module__)
show("type(Lock()) is _thread.LockType", lambda: type(lock) is _thread.LockType)
show("type(Lock()) is type(_thread.allocate_lock())", lambda: type(lock) is type(_thread.allocate_lock()))
show("isinstance(lock, type(Lock()))", lambda: isinstance(lock, type(threading.Lock())))
show("isinstance(lock, _thread.LockType)", lambda: isinstance(lock, _thread.LockType))
show("isinstance(allocate_lock(), type(Lock()))", lambda: isinstance(_thread.allocate_lock(), type(threading.Lock())))
show("threading.Lock is _thread.allocate_lock", lambda: threading.Lock is _thread.allocate_lock)
show("threading.Lock is _thread.LockType", lambda: threading.Lock is _thread.LockType)
show("threading.Lock.__name__", lambda: threading.Lock.__name__)
show("threading.Lock.__module__", lambda: threading.Lock.__module__)
show("threading.Lock.__qualname__", lambda: threading.Lock.__qualname__)
show("repr(threading.Lock)", lambda: repr(threading.Lock))
show("type(threading.Lock).__name__", lambda: type(threading.Lock).__name__)
show("repr(threading.RLock)", lambda: repr(threading.RLock).split(" at 0x")[0])
show("threading.RLock.__qualname__", lambda: threading.RLock.__qualname__)
show("pickle round trip of threading.Lock", lambda: pickle.loads(pickle.dumps(threading.Lock)).__name__)
show("pickle round trip of threading.RLock", lambda: pickle.loads(pickle.dumps(threading.RLock)).__qualname__)
show("copy.copy(threading.Lock) is threading.Lock", lambda: copy.copy(threading.Lock) is threading.Lock)
show("callable(threading.Lock)", lambda: callable(threading.Lock))
show("isinstance(threading.Lock, type)", lambda: isinstance(threading.Lock, type))
show("isinstance(lock, threading.Lock)", lambda: isinstance(lock, threading.Lock))
show("type(Lock())()", lambda: type(type(lock)()).__name__)
show("type(RLock()).__name__", lambda: type(rlock).__name__)
show("type(RLock()).__module__", lambda: type(rlock).__module__)
show("type(RLock()) is _thread.RLock", lambda: type(rlock) is _thread.RLock)
show("isinstance(rlock, type(RLock()))", lambda: isinstance(rlock, type(threading.RLock())))
show("isinstance(_thread.RLock(), type(RLock()))", lambda: isinstance(_thread.RLock(), type(threading.RLock())))
show("isinstance(threading.RLock, type)", lambda: isinstance(threading.RLock, type))
show("threading.RLock.__name__", lambda: threading.RLock.__name__)
show("threading.RLock.__module__", lambda: threading.RLock.__module__)
show("type(RLock())() usable", lambda: type(rlock)().acquire())
show("isinstance(q, queue.Queue)", lambda: isinstance(q, queue.Queue))
show("type(q) is queue.Queue", lambda: type(q) is queue.Queue)
show("issubclass(queue.PriorityQueue, queue.Queue)", lambda: issubclass(queue.PriorityQueue, queue.Queue))
show("issubclass(type(Lock()), type(Lock()))", lambda: issubclass(type(lock), type(threading.Lock())))
show("isinstance(SimpleQueue(), queue.SimpleQueue)", lambda: isinstance(queue.SimpleQueue(), queue.SimpleQueue))
show("type(SimpleQueue()).__name__", lambda: type(queue.SimpleQueue()).__name__)
show("type(SimpleQueue()) is queue.SimpleQueue", lambda: type(queue.SimpleQueue()) is queue.SimpleQueue)
show("isinstance(event, threading.Event)", lambda: isinstance(event, threading.Event))
show("type(cond) is threading.Condition", lambda: type(cond) is threading.Condition)
show("threading.Condition.__init__.__name__", lambda: threading.Condition.__init__.__name__)
show("Condition(lock)._lock is lock", lambda: threading.Condition(lock)._lock is lock)
show("repr(Lock()) kind", lambda: repr(threading.Lock()).split(" object at")[0])
show("repr(RLock()) kind", lambda: repr(threading.RLock()).split(" object at")[0].split(" owner")[0])
show("lock.locked()", lambda: lock.locked())
show("dir(lock) public", lambda: sorted(n for n in dir(lock) if not n.startswith("_")))
show("dir(rlock) public", lambda: sorted(n for n in dir(rlock) if not n.startswith("_")))
show("lock.acquire(timeout=-2)", lambda: lock.acquire(timeout=-2))
show("lock.acquire(False, 1)", lambda: lock.acquire(False, 1))
show("lock.release() unheld", lambda: lock.release())
show("rlock.release() unheld", lambda: rlock.release())
show("Lock(1)", lambda: threading.Lock(1))
show("weakref to lock", lambda: __import__("weakref").ref(lock)() is lock)
show("hash(lock) == id-based", lambda: hash(lock) == hash(lock))

for name, obj in [
    ("Lock", lock),
    ("RLock", rlock),
    ("Condition", cond),
    ("Semaphore", threading.Semaphore()),
    ("Event", event),
    ("Barrier", threading.Barrier(1)),
    ("Queue", q),
    ("SimpleQueue", queue.SimpleQueue()),
    ("asyncio.Lock", asyncio.Lock()),
    ("asyncio.Event", asyncio.Event()),
    ("asyncio.Queue", asyncio.Queue()),
]:
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        show(f"pickle.dumps({name}, {proto})", lambda obj=obj, proto=proto: type(pickle.loads(pickle.dumps(obj, proto))).__name__)
    show(f"copy.copy({name})", lambda obj=obj: type(copy.copy(obj)).__name__)
    show(f"copy.deepcopy({name})", lambda obj=obj: type(copy.deepcopy(obj)).__name__)
