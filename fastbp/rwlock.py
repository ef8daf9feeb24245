"""A readers-writer lock: one network serves inference from many threads while changes run alone."""
import contextlib
import threading


class ReadWriteLock:
    """Any number of readers at once, or one writer.

    Re-entrant for the writer (a writer may read or write again in the same thread); a reader
    must neither ask to write (it would wait for itself) nor read again while holding a read (a
    writer waiting in between would wait for it, and it for the writer).  Writers are preferred: once a writer
    waits, new readers wait behind it, so a stream of predictions cannot starve a fit.
    """

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = None  # the thread holding the write lock
        self._depth = 0      # its re-entries
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self):
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:  # a writer reading its own state
                self._depth += 1
                reentered = True
            else:
                reentered = False
                while self._writer is not None or self._writers_waiting:
                    self._condition.wait()
                self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                if reentered:
                    self._depth -= 1
                else:
                    self._readers -= 1
                    if self._readers == 0:
                        self._condition.notify_all()

    @contextlib.contextmanager
    def write(self):
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:
                self._depth += 1
            else:
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._condition.wait()
                finally:
                    self._writers_waiting -= 1
                    if self._writer is None:  # gave up (e.g. Ctrl-C): readers may go on
                        self._condition.notify_all()
                self._writer = me
                self._depth = 1
        try:
            yield
        finally:
            with self._condition:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._condition.notify_all()
