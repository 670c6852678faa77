"""scripts/bench_ewise_torch.py -- PyTorch's side of the element-wise
benchmark: the same work as scripts/bench_ewise.lua, the same keys.

  /usr/bin/python3 scripts/bench_ewise_torch.py [REPS]

Prints "key milliseconds", the median of REPS (default 9) timed calls after
2 untimed ones, each making its result as a new tensor.  torch.set_num_threads(2),
as scripts/bench_torch.py.  cond is a bool tensor here (PyTorch's masks are
bool); nnlua's is a float32 0/1 mask."""
import sys
import torch

from bench_util import median_ms

torch.set_num_threads(2)
torch.manual_seed(1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9




N = 4096
big, row, col, rowm = torch.randn(N, N), torch.randn(N), torch.randn(N, 1), torch.randn(1, N)
n = 1 << 24
a, b = torch.randn(n), torch.randn(n)
cond = a > 0

print("bcast_row_ms %.3f" % median_ms(lambda: big + row, reps, 2))
print("bcast_col_ms %.3f" % median_ms(lambda: big + col, reps, 2))
print("bcast_outer_ms %.3f" % median_ms(lambda: col + rowm, reps, 2))
print("where_ms %.3f" % median_ms(lambda: torch.where(cond, a, b), reps, 2))
