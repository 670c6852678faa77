"""The reference for scripts/bench_shape.lua: the same keys, from PyTorch.

  /usr/bin/python3 scripts/bench_shape_torch.py

x.t().contiguous() of a 2048x2048 float32 tensor against x.clone() (the
memcpy yardstick); medians in milliseconds of 31 calls after 5 warm-ups,
two threads as nnlua's OpenMP has here.
"""
import torch

from bench_util import median_ms

torch.set_num_threads(2)
N, WARM, REPS = 2048, 5, 31
x = torch.randn(N, N)




copy_ms = median_ms(lambda: x.clone(), REPS, WARM)
t_ms = median_ms(lambda: x.t().contiguous(), REPS, WARM)
copy_ms = min(copy_ms, median_ms(lambda: x.clone(), REPS, WARM))
nbytes = 2 * N * N * 4
print("clone_2048_ms %.3f" % copy_ms)
print("transpose_2048_ms %.3f" % t_ms)
print("# clone %.1f GB/s, transpose %.1f GB/s: %.0f%% of the copy's bandwidth"
      % (nbytes / copy_ms / 1e6, nbytes / t_ms / 1e6, 100 * copy_ms / t_ms))
