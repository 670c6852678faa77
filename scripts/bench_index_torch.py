# scripts/bench_index_torch.py -- the PyTorch side of scripts/bench_index.lua:
# the same keys, `key milliseconds`, median of 7 after 2 warm-ups, CPU.
#   /usr/bin/python3 scripts/bench_index_torch.py
import torch

from bench_util import median_ms

torch.set_num_threads(2)
torch.manual_seed(0)
x = torch.randn(1024, 1024)
idx = torch.randint(0, 1024, (1024, 1024))
src = torch.randn(1024, 1024)
probs = torch.rand(1024, 100)




cases = [
    ("sort_1024x1024_rows", lambda: torch.sort(x, dim=1, stable=True)),
    ("topk10_1024x1024_rows", lambda: torch.topk(x, 10, 1)),
    ("argmax_1024x1024_rows", lambda: torch.argmax(x, 1)),
    ("gather_1024x1024", lambda: torch.gather(x, 1, idx)),
    ("scatter_add_1024x1024", lambda: torch.zeros(1024, 1024).scatter_add_(1, idx, src)),
    ("multinomial_1024x100_n10", lambda: torch.multinomial(probs, 10, True)),
    ("bernoulli_1024x1024", lambda: torch.bernoulli(x.clamp(0, 1))),
]
for key, f in cases:
    print("%s %.3f" % (key, median_ms(f, 7, 2)))
