"""fastbp.rwlock: readers share, a writer runs alone, waiting threads are woken, writers first."""
import threading
import time

from fastbp.rwlock import ReadWriteLock

WAIT = 5.0     # long enough for any thread that should get through
BLOCKED = 0.2  # how long a thread that should wait is watched


def _in_thread(target):
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_readers_hold_the_lock_together():
    lock = ReadWriteLock()
    both_inside = threading.Barrier(2, timeout=WAIT)

    def reader():
        with lock.read():
            both_inside.wait()  # raises BrokenBarrierError if the readers excluded each other

    threads = [_in_thread(reader) for _ in range(2)]
    for thread in threads:
        thread.join(WAIT)
    assert not both_inside.broken


def test_a_reader_waits_for_the_writer_and_is_woken_by_its_release():
    lock = ReadWriteLock()
    read = threading.Event()

    def reader():
        with lock.read():
            read.set()

    with lock.write():
        thread = _in_thread(reader)
        assert not read.wait(BLOCKED)
    assert read.wait(WAIT)
    thread.join(WAIT)


def test_a_writer_waits_for_readers_and_later_readers_wait_behind_it():
    lock = ReadWriteLock()
    order = []
    first_reader_in, release_first_reader = threading.Event(), threading.Event()

    def first_reader():
        with lock.read():
            first_reader_in.set()
            release_first_reader.wait(WAIT)
            order.append("first reader")

    def writer():
        with lock.write():
            order.append("writer")

    def late_reader():
        with lock.read():
            order.append("late reader")

    threads = [_in_thread(first_reader)]
    assert first_reader_in.wait(WAIT)
    threads.append(_in_thread(writer))
    deadline = time.monotonic() + WAIT
    while lock._writers_waiting == 0 and time.monotonic() < deadline:  # the writer queued
        time.sleep(0.001)
    threads.append(_in_thread(late_reader))
    time.sleep(BLOCKED)
    assert order == []  # the writer waits for the reader, the late reader for the writer
    release_first_reader.set()
    for thread in threads:
        thread.join(WAIT)
    assert order == ["first reader", "writer", "late reader"]


def test_the_writer_may_write_and_read_again_in_its_thread():
    lock = ReadWriteLock()
    with lock.write():
        with lock.write():
            with lock.read():
                pass
        other_got_in = threading.Event()
        thread = _in_thread(lambda: lock.write().__enter__() or other_got_in.set())
        assert not other_got_in.wait(BLOCKED)  # still held after the inner releases
    assert other_got_in.wait(WAIT)
    thread.join(WAIT)


def test_many_threads_alternating_reads_and_writes_never_overlap():
    lock = ReadWriteLock()
    state = {"readers": 0, "writers": 0, "bad": 0}
    guard = threading.Lock()

    def work(writes):
        for i in range(300):
            if (i % 3 == 0) == writes:
                with lock.write():
                    with guard:
                        state["writers"] += 1
                        state["bad"] += state["readers"] > 0 or state["writers"] > 1
                    with guard:
                        state["writers"] -= 1
            else:
                with lock.read():
                    with guard:
                        state["readers"] += 1
                        state["bad"] += state["writers"] > 0
                    with guard:
                        state["readers"] -= 1

    threads = [_in_thread(lambda w=w: work(w)) for w in (True, False, True, False)]
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert state == {"readers": 0, "writers": 0, "bad": 0}
