"""The garbage collector's settings for a serving process.

CPython's cyclic collector runs a young-generation pass every 700 container
allocations, and now and then a full pass over every object the process holds.
A worker holds ~100k long-lived objects (the GraphQL schema, the libraries, the
pools), and a 1,000-event batch allocates tens of thousands of short-lived
containers that reference counting frees (they are almost never in cycles):
measured under /v1/batch load, collection took 40 % of a worker's CPU. So once
the process has started, what it holds is frozen (never scanned again) and a
young pass runs every 50,000 allocations instead of 700. Cycles are still
collected, a little later. Request garbage that is in cycles (GraphQL execution
contexts hold a whole batch's variables) would wait for the rarer older passes:
those run every 2 young passes instead of 10, which kept a worker under batch
load at ~120 MB instead of 250 MB (and the frozen heap keeps them cheap)."""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
OLDER_EVERY = 2  # young passes per middle pass, and middle passes per full pass


def settle_after_startup() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_EVERY, OLDER_EVERY)
