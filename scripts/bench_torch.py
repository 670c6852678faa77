"""scripts/bench_torch.py -- the PyTorch reference of `make bench`: the same
work as scripts/bench_nnlua.lua, with the same arguments and output lines.

  bench_torch.py [--defaults] train BATCH EPOCHS sgd|adam [cpu|cuda]
  bench_torch.py [--defaults] cnn BATCH EPOCHS [cpu|cuda]
  bench_torch.py [--defaults] cnninfer CALLS
  bench_torch.py [--defaults] tiny STEPS
  bench_torch.py [--defaults] infer CALLS
  bench_torch.py [--defaults] record CALLS

On cuda (PyTorch CUDA), the model and the whole training set go to the GPU
first, each epoch ends with torch.cuda.synchronize(), and TF32 stays off
(PyTorch's default for matmuls), as nnlua's full-float32 cuBLAS.

Configured at its best unless --defaults: torch.set_num_threads(2) (the
caller also sets OPENBLAS_NUM_THREADS=1, so that OpenBLAS's pool does not
fight torch's OpenMP pool for the 2 cores) and torch.set_flush_denormal(True)
(denormals fill the momentum and Adam buffers and take a slow path)."""
import gzip, resource, sys, time
import numpy as np
import torch

args = sys.argv[1:]
defaults = args[:1] == ["--defaults"]
if defaults:
    args = args[1:]
else:
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
mode = args[0]
torch.manual_seed(1)


def idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def fashion(shape):
    """Fashion-MNIST (data/, as scripts/prepare_data.sh leaves it): the
    training and test images as float32 in [0, 1] of `shape`, labels int64"""
    d = "data/fashion-mnist/"
    images = lambda f: torch.tensor(idx(d + f).reshape(shape) / 255.0, dtype=torch.float32)
    labels = lambda f: torch.tensor(idx(d + f).astype(np.int64))
    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 2):
        layers += [torch.nn.Linear(sizes[i], sizes[i + 1]), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers)


def reference_cnn():
    # models/reference_cnn.lua: the numpy project's AlexNet-like net
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 4, stride=2), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(64, 128, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(2048, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))


def median_us(calls, fn):
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return sorted(times)[3]


if mode in ("train", "cnn"):
    # train: the MLP, with train's optimizer argument; cnn: the reference CNN
    # on (N, 1, 28, 28), SGD + momentum
    cnn = mode == "cnn"
    bs, epochs = int(args[1]), int(args[2])
    opt_name = "sgd" if cnn else args[3]
    rest = args[3:] if cnn else args[4:]
    dev = rest[0] if rest else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    shape = (-1, 1, 28, 28) if cnn else (-1, 784)
    x, y, xt, yt = fashion(shape)
    m = (reference_cnn() if cnn else mlp([784, 512, 1024, 10])).to(dev)
    x, y, xt, yt = x.to(dev), y.to(dev), xt.to(dev), yt.to(dev)
    opt = (torch.optim.Adam(m.parameters(), lr=1e-3) if opt_name == "adam"
           else torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9))
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0], device=dev)
        for i in range(0, x.shape[0], bs):
            j = perm[i:i + bs]
            opt.zero_grad()
            loss_fn(m(x[j]), y[j]).backward()
            opt.step()
        sync()
        seconds.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (m(xt).argmax(1) == yt).float().mean().item()
    print("epoch_s %.4f" % sorted(seconds)[(len(seconds) - 1) // 2])
    print("accuracy %.4f" % acc)
    print("rss_kb %d" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
elif mode == "ttacc":
    # bench_nnlua.lua's ttacc: models/cnn.lua (width 32) in PyTorch, the same
    # recipe: standardised images, Adam 1e-3, batch 64, no augmentation, the
    # test accuracy every quarter epoch (not timed)
    target, max_epochs = float(args[1]), int(args[2])
    x, y, xt, yt = fashion((-1, 1, 28, 28))
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (xt - mean) / std

    def conv(i, o):
        return [torch.nn.Conv2d(i, o, 3, padding=1, bias=False), torch.nn.BatchNorm2d(o),
                torch.nn.ReLU()]
    w, pool = 32, torch.nn.MaxPool2d(2)
    m = torch.nn.Sequential(*conv(1, w), pool, *conv(w, 2 * w), *conv(2 * w, 2 * w), pool,
                            *conv(2 * w, 4 * w), pool, torch.nn.Flatten(), torch.nn.Dropout(0.2),
                            torch.nn.Linear(36 * w, 256), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                            torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    every = 60000 // 64 // 4
    trained, reached, acc = 0.0, float("nan"), 0.0
    for _ in range(max_epochs):
        perm = torch.randperm(60000)
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, 60000, 64)):
            m.train()
            j = perm[i:i + 64]
            opt.zero_grad()
            loss_fn(m(x[j]), y[j]).backward()
            opt.step()
            if (k + 1) % every == 0:
                trained += time.perf_counter() - t0
                m.eval()
                with torch.no_grad():
                    acc = sum((m(xt[a:a + 256]).argmax(1) == yt[a:a + 256]).sum().item()
                              for a in range(0, 10000, 256)) / 10000
                t0 = time.perf_counter()
                if acc >= target:
                    reached = trained
                    break
        else:
            trained += time.perf_counter() - t0
            continue
        break
    print("ttacc_s %.4f" % reached)
    print("ttacc_acc %.4f" % acc)
elif mode == "record":
    # bench_nnlua.lua's record: c = a * b on (4, 4), recorded by autograd
    # (a requires grad) and not; record_us is what recording adds per op
    calls = int(args[1])
    a, b, c = torch.rand(4, 4), torch.rand(4, 4), torch.rand(4, 4, requires_grad=True)
    plain = median_us(calls, lambda: a * b)
    recorded = median_us(calls, lambda: c * b)
    print("plain_us %.3f" % plain)
    print("record_us %.3f" % (recorded - plain))
elif mode == "cnninfer":
    calls = int(args[1])
    m = reference_cnn().eval()
    x = torch.rand(1, 1, 28, 28)
    with torch.no_grad():
        for _ in range(100):
            m(x)
        print("infer_us %.2f" % median_us(calls, lambda: m(x)))
elif mode == "tiny":
    steps = int(args[1])
    m = mlp([784, 32, 10])
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.rand(1, 784), torch.tensor([2])

    def step():
        opt.zero_grad()
        loss_fn(m(x), y).backward()
        opt.step()
    for _ in range(200):
        step()
    print("step_us %.2f" % median_us(steps, step))
elif mode == "infer":
    calls = int(args[1])
    m = mlp([784, 512, 1024, 10]).eval()
    x = torch.rand(1, 784)
    with torch.no_grad():
        for _ in range(100):
            m(x)
        print("infer_us %.2f" % median_us(calls, lambda: m(x)))
else:
    sys.exit("usage: bench_torch.py [--defaults] train|cnn|cnninfer|tiny|infer ...")
