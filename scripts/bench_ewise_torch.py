"""scripts/bench_ewise_torch.py -- PyTorch's side of the element-wise
benchmark: the same work as scripts/bench_ewise.lua, the same keys.

  /usr/bin/python3 scripts/bench_ewise_torch.py [REPS]

Prints "key milliseconds", the median of REPS (default 9) timed calls after
2 untimed ones, each making its result as a new tensor.  torch.set_num_threads(2),
as scripts/bench_torch.py.  cond is a bool tensor here (PyTorch's masks are
bool); nnlua's is a float32 0/1 mask."""
import sys, time
import torch

torch.set_num_threads(2)
torch.manual_seed(1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9


def median_ms(fn):
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[(reps - 1) // 2]


N = 4096
big, row, col, rowm = torch.randn(N, N), torch.randn(N), torch.randn(N, 1), torch.randn(1, N)
n = 1 << 24
a, b = torch.randn(n), torch.randn(n)
cond = a > 0

print("bcast_row_ms %.3f" % median_ms(lambda: big + row))
print("bcast_col_ms %.3f" % median_ms(lambda: big + col))
print("bcast_outer_ms %.3f" % median_ms(lambda: col + rowm))
print("where_ms %.3f" % median_ms(lambda: torch.where(cond, a, b)))
