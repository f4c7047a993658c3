"""The process's heap after start-up, out of the cyclic garbage collector's way.

A started `paperbot run` holds a couple of million long-lived objects (jieba's
dictionary, the imported modules, settings, the warm search caches). CPython's full
collection walks every tracked object, so each one paused the event loop for 70–170 ms:
at 250 WeChat callbacks a second the 99th-percentile answer took 130 ms where the median
took 3 ms. Once start-up is over, one collection followed by `gc.freeze()` moves what
is alive into the permanent generation that collections skip: full collections then
walk only what was made since, and p99 fell to about 30 ms. Frozen objects are still
freed as usual when their last reference goes; only a reference cycle among them would
stay, and start-up's objects live as long as the process.

What is made since grows too (the bounded search caches fill), and with CPython's
default thresholds (700, 10, 10) a full collection came every 0.7 s at 500 callbacks/s,
each walking the caches: 6 ms at first, 35 ms after half a minute. `THRESHOLDS` let the
young generation grow to 2,000 objects and run a full collection after 50 collections
of the middle one (about every 30 s there): the collector's time fell by half and its
longest pause after start-up from 35 ms to 7 ms (bench/wechat_callbacks.py).
"""

from __future__ import annotations

import gc

#: gc.set_threshold's (young, middle, full) for a settled server (module docstring).
THRESHOLDS = (2_000, 10, 50)


def settle() -> int:
    """Collect once, freeze what survives and collect less often from now on; returns
    how many objects are frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return gc.get_freeze_count()
