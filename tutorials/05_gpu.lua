-- Lesson 5: the GPU.
-- Run it:  ./nnlua tutorials/05_gpu.lua   (first: bash scripts/prepare_data.sh)
-- Or:      ./nnlua -i tutorials/05_gpu.lua   runs it, then stays at
--           the prompt with its globals (device, a, b, model, history ...)
--
-- Everything in lessons 1 to 4 runs on a CUDA GPU too: tensors, layers,
-- losses, optimizers, the Model.  This lesson shows what changes (where the
-- numbers live, and when the work happens) and what does not (the math).
-- Without a GPU it runs on the CPU, and says so: the code is the same.

function section(title) print(("\n== %s"):format(title)) end

-- 1. Is there a GPU?  is_available() also says why not.
section("the device")
ok, why = nn.cuda.is_available()
device = ok and "cuda" or "cpu"
if ok then
  print(("CUDA: %d device(s); this lesson runs on the GPU"):format(nn.cuda.device_count()))
else
  print("no GPU here (" .. why .. "): this lesson runs on the CPU instead")
end

-- 2. A tensor lives on one device.  t:to(device) (or t:cuda(), t:cpu())
-- copies it there; every op then runs where its inputs are, and its result
-- stays there.  Printing copies to the host what it shows.
section("tensors")
nn.manual_seed(1)
a = nn.tensor.randn(3, 4):to(device)
b = (a * 2):relu()                   -- computed on `device`, stays there
print(b)
-- Ops never copy between devices behind your back: mixing them is an error
-- that names both (on a CPU-only machine both are the CPU, and it works).
mixed_ok, err = pcall(function () return a + nn.tensor.ones(3, 4) end)
print(mixed_ok and "cpu + cpu: fine" or ("a " .. device .. " tensor + a cpu tensor: " .. err))

-- 3. One formula, two devices.  Each layer's math (softmax.h, losses.h,
-- optim.h ... in nn/) is written once, as a function that the CPU loop
-- calls for each row and that a CUDA kernel runs in one thread per row.
-- So the two devices agree to a rounding or two of float32.
section("the same math on both")
x = nn.tensor.randn(5, 10)
on_cpu = nn.Softmax():forward(x):clone()
on_dev = nn.Softmax():forward(x:to(device)):cpu()
print(("softmax on cpu and on %s: largest difference %.2g"):format(device,
      (on_cpu - on_dev):abs():max()))

-- 4. A model moves as a whole: parameters, gradients, buffers (BatchNorm's
-- running statistics) and the optimizer's state.  train() copies x and y to
-- the model's device once; the rest is as in lesson 4.
section("training")
data = nn.datasets.fashion_mnist{}
xs, ys = data.x_train:slice(1, 10000), data.y_train:slice(1, 10000)
nn.manual_seed(1)
model = nn.Model()
model:add(nn.Dense(784, 256, { activation = "relu" }))
model:add(nn.Dense(256, 10))
model:add(nn.Softmax())
model:set{ loss = "categorical_crossentropy", optimizer = nn.optim.Adam{ lr = 1e-3 },
           accuracy = true }
model:to(device)
print("model.device", model.device, "  its first weight:", model.layers[1].weight.device)

-- GPU ops return as soon as their kernel is queued, and the GPU works on
-- while Lua goes on.  To time GPU work, wait for it first and after:
-- nn.cuda.synchronize() (on the CPU it does nothing).
nn.cuda.synchronize()
t0 = nn.clock()
history = model:train(xs, ys, { epochs = 2, batch_size = 128, verbose = 0 })
nn.cuda.synchronize()
print(("2 epochs on 10,000 images: %.2f s; loss %.4f, accuracy %.4f")
      :format(nn.clock() - t0, history.loss[2], history.accuracy[2]))
loss, acc = model:evaluate(data.x_test, data.y_test)
print(("test: loss %.4f, accuracy %.4f"):format(loss, acc))

-- 5. GPU memory.  cudaMalloc is slow (and cudaFree waits for the whole
-- GPU), so freed blocks go to a cache that the next allocation of the same
-- size takes: after the first step a training loop allocates nothing new.
-- memory_allocated() counts the bytes in live tensors, memory_reserved()
-- those plus the cache (both 0 without a GPU).
section("memory")
print(("allocated %.1f MB, reserved %.1f MB"):format(nn.cuda.memory_allocated() / 2^20,
      nn.cuda.memory_reserved() / 2^20))
model:train(xs, ys, { epochs = 1, batch_size = 128, verbose = 0 })
print(("after one more epoch: allocated %.1f MB, reserved %.1f MB (the same blocks again)")
      :format(nn.cuda.memory_allocated() / 2^20, nn.cuda.memory_reserved() / 2^20))
-- Lua does not see those bytes: a tensor's userdata is a few bytes to the
-- collector.  nnlua tells the collector what each tensor holds, and when
-- the GPU runs out, it collects and empties the cache before it gives up.
nn.cuda.empty_cache()                      -- hand the cache back to CUDA

-- 6. Determinism: the same seed gives the same numbers, run after run, on
-- either device (no atomic additions in any sum: the order is fixed).
section("the same run twice")
function run ()
  nn.manual_seed(7)
  local m = nn.Model("basic", { 784, 32, 10 }):to(device)
  return m:step(xs:slice(1, 64), ys:slice(1, 64))
end
l1, l2 = run(), run()
print(("two runs from seed 7: loss %.9g and %.9g: %s"):format(l1, l2,
      l1 == l2 and "identical" or "DIFFERENT"))

-- At the prompt (./nnlua -i tutorials/05_gpu.lua) the lesson's globals are
-- still there.  Type, for instance (Tab completes names and fields):
--   > device
--   > b
--   > model.layers[1].weight.device
--   > nn.mem()
