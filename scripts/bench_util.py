"""scripts/bench_util.py -- what the PyTorch benchmark scripts share, as
scripts/bench_util.lua for nnlua's (they run from the repository root as
/usr/bin/python3 scripts/X.py, so this file's folder is on sys.path):

  from bench_util import median_ms
  median_ms(f, reps, warm) -> the median wall time of one call of f, in
  milliseconds, over `reps` timed calls after `warm` untimed ones (the lower
  median for an even reps, as bench_util.lua's).
"""
import time


def median_ms(f, reps, warm):
    for _ in range(warm):
        f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[(reps + 1) // 2 - 1]
