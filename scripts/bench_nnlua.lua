-- scripts/bench_nnlua.lua -- nnlua's side of `make bench` (scripts/bench runs it,
-- and scripts/bench_torch.py on the same work, in turn).
--   nnlua scripts/bench_nnlua.lua train BATCH EPOCHS sgd|adam [cpu|cuda]
--       the MLP 784-512-1024-10 (ReLU, cross-entropy on logits) on
--       Fashion-MNIST: prints "epoch_s S", "accuracy A" (test set), "rss_kb K";
--       on cuda the model is moved there and train copies the data once
--   nnlua scripts/bench_nnlua.lua nancost BATCH PAIRS
--       the same MLP and data, epochs alternating stop_on_nan = false and
--       true (PAIRS of each, after one warm-up epoch; threads fixed at
--       nn.get_num_threads() so both arms run alike): "off_s S" and
--       "on_s S", the median epoch of each
--   nnlua scripts/bench_nnlua.lua cnn BATCH EPOCHS [cpu|cuda]
--       the reference CNN (models/reference_cnn.lua) on Fashion-MNIST as
--       (N, 1, 28, 28) in [0, 1], SGD lr 0.01 momentum 0.9, cross-entropy on
--       the logits, no augmentation: "epoch_s S" (median epoch), "accuracy A"
--   nnlua scripts/bench_nnlua.lua cnninfer CALLS
--       one image (1, 1, 28, 28) through the untrained reference CNN with
--       model:predict: "infer_us U"
--   nnlua scripts/bench_nnlua.lua ttacc TARGET MAX_EPOCHS
--       models/cnn.lua (width 32) on standardised Fashion-MNIST, Adam 1e-3,
--       batch 64, no augmentation, the test accuracy measured every quarter
--       epoch (its time not counted): "ttacc_s S", the training seconds until
--       the test accuracy first reached TARGET (a fraction; nan if never),
--       and "ttacc_acc A", the accuracy then (or the last)
--   nnlua scripts/bench_nnlua.lua tiny STEPS
--       the MLP 784-32-10 at batch 1: "step_us U" per training step
--   nnlua scripts/bench_nnlua.lua infer CALLS
--       one image through the (untrained) MLP with model:predict: "infer_us U"
--   nnlua scripts/bench_nnlua.lua ways BATCH ROUNDS
--       the MLP 784-512-1024-10 trained by one plain loop (as
--       bench_torch.py's train) four ways, alternating an epoch each per
--       round in one process: the hand-written layers, the autograd engine
--       over nn.F's pairs, the same with backward{accumulate = false}, and
--       the engine over raw tensor ops: "layers_s S", "engine_s S",
--       "engine_set_s S", "ops_s S", the median epochs (see the mode)
--   nnlua scripts/bench_nnlua.lua record CALLS
--       the engine's cost of recording one op: "plain_us U" (a * b on 4x4
--       tensors, not recorded) and "record_us U" (what recording adds)
--   nnlua scripts/bench_nnlua.lua churn N
--       N zeros(4, 4), then N MSELoss(), made and dropped (no explicit
--       collection): "churn_rss_mb M" (the peak RSS) and "churn_s S"
-- Times are wall-clock medians (nn.clock); warm-up calls are not timed.
local mode = arg[1]

local function peak_rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

local function mlp(sizes)
  local m = nn.Model()
  for i = 1, #sizes - 2 do m:add(nn.Dense(sizes[i], sizes[i + 1], { activation = "relu" })) end
  m:add(nn.Dense(sizes[#sizes - 1], sizes[#sizes]))
  return m
end

local function median_us(calls, fn)
  local times = {}
  for r = 1, 7 do
    local t0 = nn.clock()
    for _ = 1, calls do fn() end
    times[r] = (nn.clock() - t0) / calls * 1e6
  end
  table.sort(times)
  return times[4]
end

-- train model m (on `device`) on Fashion-MNIST (flat rows, or images when
-- `images`) and print the median epoch, the test accuracy and the peak RSS
local function train_and_report(m, images, bs, epochs, device, optimizer)
  local data = nn.datasets.fashion_mnist{ flatten = not images }
  m:set{ loss = nn.CrossEntropyLoss(), accuracy = true, optimizer = optimizer }
  m:to(device)
  local h = m:train(data.x_train, data.y_train, { epochs = epochs, batch_size = bs, verbose = 0 })
  local seconds = {}
  for i, s in ipairs(h.seconds) do seconds[i] = s end
  table.sort(seconds)
  local _, acc = m:evaluate(data.x_test, data.y_test)
  print(("epoch_s %.4f"):format(seconds[(#seconds + 1) // 2]))
  print(("accuracy %.4f"):format(acc))
  print(("rss_kb %d"):format(peak_rss_kb()))
end

nn.manual_seed(1)
if mode == "train" then
  local bs, epochs, opt, device = tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5] or "cpu"
  train_and_report(mlp{ 784, 512, 1024, 10 }, false, bs, epochs, device,
                   opt == "adam" and nn.optim.Adam{ lr = 1e-3 }
                   or nn.optim.SGD{ lr = 0.01, momentum = 0.9 })
elseif mode == "cnn" then
  local bs, epochs, device = tonumber(arg[2]), tonumber(arg[3]), arg[4] or "cpu"
  train_and_report(dofile("models/reference_cnn.lua")(), true, bs, epochs, device,
                   nn.optim.SGD{ lr = 0.01, momentum = 0.9 })
elseif mode == "cnninfer" then
  local calls = tonumber(arg[2]) or 500
  local m = dofile("models/reference_cnn.lua")()
  local x = nn.tensor.rand(1, 1, 28, 28)
  for _ = 1, 20 do m:predict(x) end
  print(("infer_us %.2f"):format(median_us(calls, function () m:predict(x) end)))
elseif mode == "ttacc" then
  local target, max_epochs = tonumber(arg[2]), tonumber(arg[3])
  local data = nn.datasets.fashion_mnist{ flatten = false }
  local mean, std = data.x_train:mean(), data.x_train:std()
  nn.data.normalize(data.x_train, mean, std)
  nn.data.normalize(data.x_test, mean, std)
  local m = dofile("models/cnn.lua")(32)
  m:set{ loss = "cross_entropy", optimizer = nn.optim.Adam{ lr = 1e-3 }, accuracy = true }
  local every = 60000 // 64 // 4
  local excluded, reached, acc = 0, nil, 0
  local t0 = nn.clock()
  local check = { on_batch_end = function (_, model, batch)
    if batch % every ~= 0 then return end
    local t = nn.clock()
    _, acc = model:evaluate(data.x_test, data.y_test)
    model:set_training(true)
    excluded = excluded + nn.clock() - t
    if acc >= target then reached = t - t0 - excluded; model.stop_training = true end
  end }
  m:train(data.x_train, data.y_train, { epochs = max_epochs, batch_size = 64, verbose = 0,
                                        callbacks = { check } })
  print(("ttacc_s %.4f"):format(reached or 0 / 0))
  print(("ttacc_acc %.4f"):format(acc))
elseif mode == "nancost" then
  local bs, pairs_n = tonumber(arg[2]), tonumber(arg[3])
  local data = nn.datasets.fashion_mnist{}
  local m = mlp{ 784, 512, 1024, 10 }
  m:set{ loss = nn.CrossEntropyLoss(), optimizer = nn.optim.SGD{ lr = 0.01, momentum = 0.9 } }
  local threads = nn.get_num_threads()
  local function epoch(check)
    local h = m:train(data.x_train, data.y_train, { epochs = 1, batch_size = bs, verbose = 0,
                                                    stop_on_nan = check, threads = threads })
    assert(h.stopped == nil, "a NaN in the benchmark")
    return h.seconds[1]
  end
  epoch(false)
  local off, on = {}, {}
  for i = 1, pairs_n do
    if i % 2 == 1 then off[i] = epoch(false); on[i] = epoch(true)
    else on[i] = epoch(true); off[i] = epoch(false) end
  end
  table.sort(off); table.sort(on)
  print(("off_s %.4f"):format(off[(pairs_n + 1) // 2]))
  print(("on_s %.4f"):format(on[(pairs_n + 1) // 2]))
  -- the check alone beside the step it guards, each the median of 7 runs
  -- of 20 calls on one batch: what the check adds to every step, without
  -- the epoch-to-epoch noise of a shared machine (which the A/B above has)
  local x, y = data.x_train:slice(1, bs), data.y_train:slice(1, bs)
  local watch = m:_nan_watch()
  print(("step_us %.2f"):format(median_us(20, function () m:_step(x, y) end)))
  print(("check_us %.2f"):format(median_us(20, function () nn.first_nonfinite(watch) end)))
elseif mode == "tiny" then
  local steps = tonumber(arg[2]) or 2000
  local m = mlp{ 784, 32, 10 }
  m:set{ loss = nn.CrossEntropyLoss(), optimizer = nn.optim.SGD{ lr = 0.01, momentum = 0.9 } }
  local x, y = nn.tensor.rand(1, 784), nn.tensor{ 3 }
  for _ = 1, 200 do m:step(x, y) end
  print(("step_us %.2f"):format(median_us(steps, function () m:step(x, y) end)))
elseif mode == "infer" then
  local calls = tonumber(arg[2]) or 1000
  local m = mlp{ 784, 512, 1024, 10 }
  local x = nn.tensor.rand(1, 784)
  for _ = 1, 100 do m:predict(x) end
  print(("infer_us %.2f"):format(median_us(calls, function () m:predict(x) end)))
elseif mode == "ways" then
  -- one plain loop (shuffle, gather a batch, step), as bench_torch.py's
  -- train, for four ways to train the MLP from the same initial weights:
  --   layers      nn.Dense + model:step (the hand-written passes)
  --   engine      the autograd engine over nn.F.linear + nn.F.cross_entropy
  --               (each a recorded node whose backward is the C pair), the
  --               leaves' .grad set to nil each step (PyTorch's set_to_none)
  --   engine_set  the same with backward(nil, {accumulate = false})
  --   ops         the engine over raw tensor ops (matmul, +, relu,
  --               log_softmax, gather, mean); x W^T as matmul's transpose
  --               flag, h:matmul(W, false, true), since W:t() is a copy in
  --               nnlua (a view in PyTorch): the flag is nnlua's spelling
  -- The four alternate, an epoch each per round, in this one process, so
  -- that each sees the same machine (a shared one drifts by 10-20% between
  -- runs); a warm-up epoch each first, and a full collection between
  -- epochs (not timed), so no arm pays for another's garbage.
  local bs, rounds = tonumber(arg[2]), tonumber(arg[3])
  local data = nn.datasets.fashion_mnist{ flatten = true }
  local x, y, n = data.x_train, data.y_train, data.x_train:size(1)
  local sizes, names = { 784, 512, 1024, 10 }, { "layers", "engine", "engine_set", "ops" }
  local steps = {}
  local m = mlp(sizes)
  m:set{ loss = nn.CrossEntropyLoss(), optimizer = nn.optim.SGD{ lr = 0.01, momentum = 0.9 } }
  local start = m:get_weights()
  steps.layers = function (xb, yb) m:step(xb, yb) end
  local function engine_step(way)
    local params = {}
    for i, w in ipairs(start) do params[i] = w:clone():requires_grad_() end
    local opt = nn.optim.SGD{ lr = 0.01, momentum = 0.9 }
    local grads, last = {}, #params - 1
    local function forward(xb, yb)
      local h = xb
      if way ~= "ops" then
        for i = 1, last, 2 do
          h = nn.F.linear(h, params[i], params[i + 1], i < last and "relu" or nil)
        end
        return nn.F.cross_entropy(h, yb)
      end
      for i = 1, last, 2 do
        h = h:matmul(params[i], false, true) + params[i + 1]    -- x W^T: a flag, no copy
        if i < last then h = h:relu() end
      end
      return -h:log_softmax(2):gather(2, yb:view(yb:size(1), 1)):mean()
    end
    local set, fused = way == "engine_set", { accumulate = false }
    return function (xb, yb)
      if set then
        forward(xb, yb):backward(nil, fused)
      else
        for _, p in ipairs(params) do p.grad = nil end
        forward(xb, yb):backward()
      end
      for i, p in ipairs(params) do grads[i] = p.grad end
      nn.no_grad(function () opt:step(params, grads) end)
    end
  end
  for _, way in ipairs{ "engine", "engine_set", "ops" } do steps[way] = engine_step(way) end
  local function epoch(step)
    collectgarbage()
    local t0 = nn.clock()
    local perm = nn.randperm(n)
    for i = 1, n, bs do
      local idx = perm:slice(i, math.min(i + bs - 1, n))
      step(x:index_select(1, idx), y:index_select(1, idx))
    end
    return nn.clock() - t0
  end
  local seconds = {}
  for _, way in ipairs(names) do epoch(steps[way]); seconds[way] = {} end      -- warm-up
  for r = 1, rounds do
    for _, way in ipairs(names) do seconds[way][r] = epoch(steps[way]) end
  end
  for _, way in ipairs(names) do
    local list = seconds[way]
    table.sort(list)
    print(("%s_s %.4f"):format(way, list[(#list + 1) // 2]))
  end
elseif mode == "record" then
  -- the engine's cost per recorded op: CALLS of c = a * b on (4, 4)
  -- tensors, recorded (a requires grad) and not; "record_us" is the
  -- difference per call, "plain_us" the unrecorded op
  local calls = tonumber(arg[2]) or 20000
  local a, b, c = nn.tensor.rand(4, 4), nn.tensor.rand(4, 4), nn.tensor.rand(4, 4)
  local plain = median_us(calls, function () local d = a * b end)   -- luacheck: ignore d
  c:requires_grad_()
  local recorded = median_us(calls, function () local d = c * b end)   -- luacheck: ignore d
  print(("plain_us %.3f"):format(plain))
  print(("record_us %.3f"):format(recorded - plain))
elseif mode == "churn" then
  local n = tonumber(arg[2]) or 10000000
  local t0 = nn.clock()
  for _ = 1, n do local t = nn.tensor.zeros(4, 4) end      -- luacheck: ignore t
  for _ = 1, n do local c = nn.MSELoss() end               -- luacheck: ignore c
  print(("churn_s %.3f"):format(nn.clock() - t0))
  print(("churn_rss_mb %.1f"):format(peak_rss_kb() / 1024))
else
  io.stderr:write("usage: nnlua scripts/bench_nnlua.lua train|tiny|infer|churn ...\n")
  os.exit(2)
end
