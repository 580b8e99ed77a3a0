"""Stamp pairing of side messages with images."""

from types import SimpleNamespace as NS

from mveq_ros.sync import StampCache, stamp_seconds


def _msg(sec, nanosec=0, tag=""):
    return NS(header=NS(stamp=NS(sec=sec, nanosec=nanosec)), tag=tag)


def test_stamp_cache_matches_the_nearest_within_tolerance():
    cache = StampCache(size=3)
    assert cache.latest() is None and cache.match(_msg(1).header, 0.1) is None
    for k, (sec, ns) in enumerate([(10, 0), (10, 500_000_000), (11, 0), (12, 0)]):
        cache.add(_msg(sec, ns, tag=str(k)))
    assert len(cache) == 3  # the oldest was evicted
    assert cache.match(_msg(10, 0).header, 0.1) is None
    assert cache.match(_msg(10, 520_000_000).header, 0.05).tag == "1"
    assert cache.match(_msg(11, 30_000_000).header, 0.05).tag == "2"
    assert cache.match(_msg(11, 600_000_000).header, 0.05) is None
    assert cache.latest().tag == "3"
    assert stamp_seconds(_msg(3, 250_000_000).header) == 3.25
