"""The bounded hand-over between the preparing thread and the model thread."""

from __future__ import annotations

import threading
import time

import pytest

from lychee_rerank.runtime.prefetch import Prefetcher

from helpers import per_thread_nice, thread_nice, wait_until


def counting(n: int, produced: list[int], fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"item {i} broke")
        produced.append(i)
        yield i


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_items_arrive_in_order(depth: int):
    with Prefetcher(counting(20, []), depth) as items:
        assert list(items) == list(range(20))


def test_the_producer_runs_at_most_depth_items_ahead():
    produced: list[int] = []
    with Prefetcher(counting(100, produced), depth=3) as items:
        first = next(iter(items))
        assert wait_until(lambda: len(produced) >= 4, timeout=5)
        time.sleep(0.2)  # give an unbounded producer the time to run away
        # one handed over, three in the queue, one more made and waiting for room
        assert first == 0 and len(produced) <= 5


def test_an_exception_in_the_producer_reaches_the_consumer():
    received = []
    with pytest.raises(ValueError, match="item 3 broke"), Prefetcher(counting(10, [], fail_at=3), depth=2) as items:
        for item in items:
            received.append(item)
    assert received == [0, 1, 2]


def test_closing_early_ends_the_thread():
    produced: list[int] = []
    with Prefetcher(counting(10_000, produced), depth=2, name="prefetch-under-test") as items:
        next(iter(items))
    assert not [t for t in threading.enumerate() if t.name == "prefetch-under-test"]
    assert len(produced) < 10


def stuck_after(n: int, release: threading.Event):
    """Yields ``n`` items, then blocks (like a read from a hung share) until ``release`` is set."""
    yield from range(n)
    release.wait()
    yield n


def test_closing_never_waits_for_ever_on_a_stuck_producer():
    release = threading.Event()
    try:
        items = Prefetcher(stuck_after(1, release), depth=2, name="stuck-producer")
        assert next(iter(items)) == 0
        assert items.close(timeout=0.2) is False, "gave up on the stuck producer instead of waiting for it"
    finally:
        release.set()
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name == "stuck-producer"], timeout=30)


def test_should_stop_ends_the_wait_for_a_stuck_producer():
    release, stop = threading.Event(), threading.Event()
    try:
        with Prefetcher(stuck_after(1, release), depth=2, should_stop=stop.is_set) as items:
            received = []
            for item in items:
                received.append(item)
                stop.set()  # Stop pressed while the next item never comes
            assert received == [0] and items.stopped
            release.set()  # so that leaving the block does not wait out the stuck producer
    finally:
        release.set()


@per_thread_nice
@pytest.mark.parametrize("nice", [0, 4])
def test_the_producer_gives_way_by_nice_and_the_consumer_keeps_its_priority(nice: int):
    def priorities():
        for _ in range(3):
            yield thread_nice()

    mine = thread_nice()
    with Prefetcher(priorities(), depth=2, nice=nice) as items:
        assert list(items) == [min(mine + nice, 19)] * 3
    assert thread_nice() == mine
