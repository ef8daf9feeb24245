"""A readers-writer lock: one network serves inference from many threads while changes run alone."""
import threading


class ReadWriteLock:
    """Any number of readers at once, or one writer: ``with lock.read(): ...``,
    ``with lock.write(): ...``.

    Re-entrant for the writer (a writer may read or write again in the same thread); a reader
    must neither ask to write (it would wait for itself) nor read again while holding a read (a
    writer waiting in between would wait for it, and it for the writer).  Writers are preferred:
    once a writer waits, new readers wait behind it, so a stream of predictions cannot starve a
    fit.  The guards are plain objects, not generator context managers: the tutorial's loop
    takes the lock twice per step, so its cost is part of every ``forward``/``backward``.
    """

    def __init__(self):
        self._mutex = threading.Lock()  # guards the state; ``with`` on it is C code, no frames
        self._condition = threading.Condition(self._mutex)
        self._sleepers = 0   # threads waiting on the condition: nothing to notify without them
        self._readers = 0
        self._writer = None  # the thread holding the write lock
        self._depth = 0      # its re-entries
        self._writers_waiting = 0
        self._read = _ReadGuard(self)
        self._write = _WriteGuard(self)

    def read(self):
        return self._read

    def write(self):
        return self._write

    def acquire_read(self):
        """True when this read is a writer's re-entry."""
        me = threading.get_ident()
        with self._mutex:
            if self._writer == me:  # a writer reading its own state
                self._depth += 1
                return True
            while self._writer is not None or self._writers_waiting:
                self._wait()
            self._readers += 1
            return False

    def release_read(self, reentered):
        with self._mutex:
            if reentered:
                self._depth -= 1
            else:
                self._readers -= 1
                if self._readers == 0:
                    self._notify()

    def acquire_write(self):
        me = threading.get_ident()
        with self._mutex:
            if self._writer == me:
                self._depth += 1
                return
            if self._writer is None and not self._readers:  # the usual case: nobody else
                self._writer, self._depth = me, 1
                return
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._wait()
            finally:
                self._writers_waiting -= 1
                if self._writer is None:  # gave up (e.g. Ctrl-C): readers may go on
                    self._notify()
            self._writer, self._depth = me, 1

    def release_write(self):
        with self._mutex:
            self._depth -= 1
            if self._depth == 0:
                self._writer = None
                self._notify()

    def _wait(self):
        """(Holding the mutex.)  Sleep until notified."""
        self._sleepers += 1
        try:
            self._condition.wait()
        finally:
            self._sleepers -= 1

    def _notify(self):
        """(Holding the mutex.)  Wake the sleepers, if any: the usual release has none, and
        ``Condition.notify_all`` costs Python calls even then."""
        if self._sleepers:
            self._condition.notify_all()


class _ReadGuard:
    """``with lock.read():`` -- the state of each thread's read kept per thread."""

    def __init__(self, lock):
        self._lock = lock
        self._local = threading.local()

    def __enter__(self):
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(self._lock.acquire_read())

    def __exit__(self, *exc_info):
        self._lock.release_read(self._local.stack.pop())
        return False


class _WriteGuard:
    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        self._lock.acquire_write()

    def __exit__(self, *exc_info):
        self._lock.release_write()
        return False
