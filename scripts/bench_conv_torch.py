"""The reference for scripts/bench_conv.lua: the same keys, from PyTorch.

  /usr/bin/python3 scripts/bench_conv_torch.py [reps]

Forward + backward of one torch.nn.Conv2d (padding 1, 3x3 kernel, batch
64) at three shapes: the median in milliseconds of one iteration over
`reps` (21) timed ones after 3 warm-ups, two threads as nnlua's OpenMP has
here.  The input requires its gradient, as the nnlua layer computes dL/dx.
"""
import sys
import torch

from bench_util import median_ms

torch.set_num_threads(2)
WARM, REPS = 3, int(sys.argv[1]) if len(sys.argv) > 1 else 21
B = 64
SHAPES = [
    ("conv_28x28x1_to_32", 1, 32, 28),
    ("conv_14x14x32_to_64", 32, 64, 14),
    ("conv_7x7x64_to_128", 64, 128, 7),
]




torch.manual_seed(1)
for name, cin, cout, hw in SHAPES:
    layer = torch.nn.Conv2d(cin, cout, 3, padding=1)
    x = torch.randn(B, cin, hw, hw, requires_grad=True)
    g = torch.randn(B, cout, hw, hw)

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).backward(g)

    ms = median_ms(step, REPS, WARM)
    gflop = 3 * 2 * B * hw * hw * cout * cin * 9 / 1e9
    print("%s_ms %.3f" % (name, ms))
    print("# %s: %.1f GFLOP/s" % (name, gflop / ms * 1e3))
