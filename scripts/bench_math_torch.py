#!/usr/bin/python3
"""bench_math_torch.py -- PyTorch's side of scripts/bench_math.lua.

Usage: /usr/bin/python3 scripts/bench_math_torch.py [reps]
Prints "key ms": the median time of one torch.bmm(a, b) (a new output per
call), in milliseconds, over `reps` calls after two warm-up calls, with the
keys of scripts/bench_math.lua.  torch.set_num_threads(2), as
scripts/bench_torch.py runs PyTorch at its best on this 2-core machine.
"""
import sys

import torch

from bench_util import median_ms

torch.set_num_threads(2)
torch.set_flush_denormal(True)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 30




for B, M, K, N in ((16, 256, 64, 256), (64, 128, 32, 128)):
    a, b = torch.randn(B, M, K), torch.randn(B, K, N)
    print("bmm_%dx%dx%dx%d %.4f" % (B, M, K, N, median_ms(lambda: torch.bmm(a, b), reps, 2)))
