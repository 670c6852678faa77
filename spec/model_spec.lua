--- spec/model_spec.lua -- nn.Model: building, one step, the fused gradient,
--- train/evaluate/predict, callbacks, checkpoints, and a real training run.
local nn = require "nn"
local H = require "spec.helpers"

local NNLUA = os.getenv("NNLUA") or "./nnlua"

-- a small classification problem: 3 classes, the class is the argmax of
-- three fixed linear scores of x (learnable exactly by a linear layer)
local function toy(n, seed)
  nn.manual_seed(seed or 1)
  local x = nn.tensor.randn(n, 4)
  local scores = x:matmul(nn.tensor{{1, 0, -1}, {0, 1, 1}, {1, -1, 0}, {0, 0, 1}})
  local y = scores:argmax(2)            -- 1-based class indices, (n)
  return x, y
end

local function small_model(opts)
  opts = opts or {}
  local m = nn.Model()
  m:add(nn.Dense(4, 6, { activation = opts.activation or "tanh" }))
  m:add(nn.Dense(6, 3))
  m:add(nn.Softmax())
  m:set{ loss = "categorical_crossentropy", optimizer = opts.optimizer or nn.optim.SGD{ lr = 0.5 },
         accuracy = true }
  return m
end

local function copy_list(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t:clone() end
  return out
end

-- quiet: train's per-epoch lines go through print
local function silently(fn, ...)
  local saved = _G.print
  _G.print = function () end
  local ok, a, b = pcall(fn, ...)
  _G.print = saved
  if not ok then error(a, 0) end
  return a, b
end

describe("nn.Model: building", function()
  it("add appends layers; trainable_layers holds those with parameters", function()
    local m = nn.Model()
    assert.are.equal(m, m:add(nn.Dense(4, 3)))
    m:add(nn.ReLU()):add(nn.Dense(3, 2))
    assert.are.equal(3, #m.layers)
    assert.are.equal(2, #m.trainable_layers)
    assert.are.equal(m.layers[3], m.trainable_layers[2])
  end)

  it("a layer added joins the model's mode", function()
    local m = nn.Model():add(nn.Dense(2, 2)):set_training(false)
    m:add(nn.Dropout(0.5))
    assert.is_false(m.layers[2].training)
  end)

  it("the 'basic' template: Dense + ReLU, a Softmax output, cross-entropy, Adam", function()
    local m = nn.Model("basic", { 784, 128, 64, 10 })
    assert.are.equal(4, #m.layers)
    assert.are.equal("relu", m.layers[1].activation)
    assert.are.equal("relu", m.layers[2].activation)
    assert.are.equal("linear", m.layers[3].activation)
    assert.are.equal("Softmax", m.layers[4].name)
    assert.are.equal("CategoricalCrossentropy", m.loss.name)
    assert.are.equal("Adam", m.optimizer:config().name)
    assert.are.equal("accuracy", m.metric.name)
    -- any part replaced
    m:set{ optimizer = nn.optim.SGD{ lr = 0.1 } }
    assert.are.equal("SGD", m.optimizer:config().name)
    assert.are.equal(0.1, m.optimizer.lr)
    assert.are.equal("CategoricalCrossentropy", m.loss.name)
  end)

  it("set takes Keras's names, compile is the same, metrics = {'accuracy'} works", function()
    local m = nn.Model():add(nn.Dense(2, 2))
    m:compile{ loss = "mse", optimizer = "sgd", metrics = { "accuracy" } }
    assert.are.equal("MSELoss", m.loss.name)
    assert.are.equal("SGD", m.optimizer:config().name)
    assert.are.equal("accuracy", m.metric.name)
    m:set{ accuracy = false }
    assert.is_nil(m.metric)
  end)

  it("summary lists each layer's output shape and parameter count, and the totals", function()
    local m = nn.Model("basic", { 784, 128, 10 })
    m:add(nn.BatchNorm1d(10))
    local text = silently(m.summary, m)
    assert.is_truthy(text:find("Linear(784 -> 128, relu)", 1, true))
    assert.is_truthy(text:find("(B, 128)", 1, true))
    assert.is_truthy(text:find("100,480", 1, true))          -- 784 * 128 + 128
    assert.is_truthy(text:find("Trainable params: 101,790", 1, true))  -- + 1290 + 20
    assert.is_truthy(text:find("Non-trainable params: 20", 1, true))   -- running stats
    assert.is_truthy(tostring(m):find("nn.Model: 4 layers", 1, true))
  end)

  it("summary takes one sample's shape, or the one model:train last saw, for a CNN", function()
    local m = nn.Model{ nn.Conv2d(1, 4, 3, { stride = 2 }), nn.ReLU(), nn.Flatten(), nn.Dense(144, 2) }
    local text = silently(m.summary, m)                  -- a Conv2d does not know H and W
    assert.is_falsy(text:find("(B, 4, 6, 6)", 1, true), text)
    assert.is_truthy(text:find(" ?", 1, true), text)
    text = silently(m.summary, m, { 1, 13, 13 })
    assert.is_truthy(text:find("(B, 4, 6, 6)", 1, true), text)
    assert.is_truthy(text:find("(B, 144)", 1, true), text)
    for line in text:gmatch("[^\n]+") do assert.is_true(#line <= 79, line) end
    m:set{ loss = "cross_entropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
    m:train(nn.tensor.rand(4, 1, 13, 13), nn.tensor{ 1, 2, 1, 2 }, { verbose = 0 })
    assert.are.same({ 1, 13, 13 }, m.input_shape)
    assert.is_truthy(silently(m.summary, m):find("(B, 144)", 1, true))
    H.assert_error_has(function () m:summary({ 0, 3 }) end,
                       { "model:summary: input_shape must be a list of positive sizes" })
    H.assert_error_has(function () m:summary("x") end, { "input_shape" })
  end)

  it("raises clear errors for what is not a layer, an unknown option or name", function()
    local m = nn.Model()
    H.assert_error_has(function () m:add(42) end, { "model:add", "expected a layer" })
    H.assert_error_has(function () m:set{ lossy = 1 } end, { "unknown option 'lossy'" })
    H.assert_error_has(function () m:set{ loss = "hinge" } end, { "unknown loss 'hinge'", "mse" })
    H.assert_error_has(function () m:set{ optimizer = "lbfgs" } end, { "unknown optimizer 'lbfgs'" })
    H.assert_error_has(function () nn.Model("fancy") end, { "unknown template" })
    H.assert_error_has(function () nn.Model("basic", { 784, 0 }) end, { "sizes[2]" })
    H.assert_error_has(function () m:step(nn.tensor.randn(2, 2), nn.tensor{1, 2}) end, { "no layers" })
    m:add(nn.Dense(2, 2))
    H.assert_error_has(function () m:step(nn.tensor.randn(2, 2), nn.tensor{1, 2}) end, { "no loss" })
    m:set{ loss = "mse" }
    H.assert_error_has(function () m:step(nn.tensor.randn(2, 2), nn.tensor{1, 2}) end, { "no optimizer" })
  end)

  it("a forward error is the layer's own, naming the layer and 'forward', never '?'", function()
    local m = nn.Model():add(nn.Dense(4, 3)):add(nn.Dense(5, 2))
    local msg = H.assert_error_has(function () m:forward(nn.tensor.randn(2, 4)) end,
                                   { "to 'forward'", "Linear(5 -> 2)", "expected input [B x 5]" })
    assert.is_nil(msg:find("'?'", 1, true), msg)
  end)

  it("a wrong-shaped x through train, step, evaluate, predict names 'forward', never '?'", function()
    local m = nn.Model{ nn.Dense(4, 3), nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = "sgd", accuracy = true }
    local x, y = nn.tensor.randn(6, 5), nn.tensor{ 1, 2, 3, 1, 2, 3 }
    local calls = {
      train = function () m:train(x, y, { verbose = 0, batch_size = 4 }) end,
      step = function () m:step(x, y) end,
      evaluate = function () m:evaluate(x, y) end,
      predict = function () m:predict(x) end,
      predict_batches = function () m:predict(x, { batch_size = 4 }) end,
    }
    for name, call in pairs(calls) do
      local msg = H.assert_error_has(call, { "to 'forward'", "Linear(4 -> 3)", "got [" })
      assert.is_nil(msg:find("'?'", 1, true), name .. ": " .. msg)
    end
  end)

  it("a wrong-shaped grad_output through model:backward names 'backward', never '?'", function()
    local m = nn.Model{ nn.Dense(4, 3), nn.Softmax() }
    m:forward(nn.tensor.randn(2, 4))
    local msg = H.assert_error_has(function () m:backward(nn.tensor.randn(2, 7)) end,
                                   { "to 'backward'", "Softmax", "[2x3]" })
    assert.is_nil(msg:find("'?'", 1, true), msg)
  end)
end)

describe("nn.Model: one step", function()
  it("step returns the loss and zeroes gradients once per step (never twice, never forgotten)", function()
    local x, y = toy(16)
    local m = small_model{ optimizer = nn.optim.SGD{ lr = 0 } }     -- weights stay put
    local l1 = m:step(x:slice(1, 8), y:slice(1, 8))
    assert.is_true(l1 > 0)
    m:step(x:slice(9, 16), y:slice(9, 16))
    local after = copy_list(select(2, m:parameters()))
    -- the gradient of the second batch alone, computed by hand
    m:zero_grad()
    m:forward(x:slice(9, 16))
    m:compute_loss(y:slice(9, 16))
    m:backward()
    local want = select(2, m:parameters())
    -- the step's gradient comes from the fused Softmax + cross-entropy pair,
    -- the by-hand one through the Softmax's Jacobian: the same numbers but
    -- for float32 rounding (a few ulp); a doubled or stale gradient is off
    -- by 100% or more
    for i = 1, #want do
      H.assert_tensor(after[i], want[i]:totable(), 1e-5, "grad " .. i)
      assert.is_true(want[i]:abs():sum() > 0, "a zero gradient: zeroed after backward?")
    end
  end)

  it("step changes the weights by the optimizer's rule: SGD w -= lr * g", function()
    local x, y = toy(8)
    local m = small_model{ optimizer = nn.optim.SGD{ lr = 0.1 } }
    local w0 = m.layers[2].weight:clone()
    m:step(x, y)
    local want = w0 - m.layers[2].grad_weight * 0.1
    H.assert_tensor(m.layers[2].weight, want:totable(), H.ROUND)
  end)

  it("the reported loss is the cross-entropy of the logits, that of the probabilities but for rounding", function()
    local x, y = toy(8)
    local m = small_model{ optimizer = nn.optim.SGD{ lr = 0 } }
    local loss = m:step(x, y)
    local logits = m.layers[#m.layers - 1].output      -- live from the step's forward
    assert.are.equal(nn.CrossEntropyLoss():forward(logits, y), loss)
    assert.is_true(H.close(nn.CategoricalCrossentropy():forward(m:predict(x), y), loss, 1e-6))
  end)
end)

-- Finite differences of the model's loss against every parameter entry:
-- analytic vs (L(w + h) - L(w - h)) / 2h.  The analytic gradient is a
-- step's (with lr 0: the fused Softmax + cross-entropy where the model's
-- plan has it) or, by_hand, model:backward()'s (the plain chain rule).
local function model_gradcheck(m, x, y, by_hand)
  local h, worst = 1e-2, 0
  m:set_training(true)
  if by_hand then
    m:zero_grad()
    m:forward(x)
    m:compute_loss(y)
    m:backward()
  else
    m.optimizer = nn.optim.SGD{ lr = 0 }      -- (a field: set would plan the loss anew)
    m:step(x, y)
  end
  local params, grads = m:parameters()
  for k, param in ipairs(params) do
    local p, g = param:view(-1), grads[k]:clone():view(-1)     -- flat views: get(i)
    for i = 1, p:numel() do
      local v = p:get(i)
      p:set(i, v + h); local lp = m.loss:forward(m:forward(x), y)
      p:set(i, v - h); local lm = m.loss:forward(m:forward(x), y)
      p:set(i, v)
      local num, ana = (lp - lm) / (2 * h), g:get(i)
      local err = math.abs(num - ana) / (1e-3 + 1e-2 * math.abs(num))
      worst = math.max(worst, err)
    end
  end
  return worst <= 1, worst
end

describe("nn.Model: the fused Softmax + cross-entropy gradient", function()
  it("is planned where a Softmax output meets categorical cross-entropy: CrossEntropyLoss on the logits", function()
    local m = small_model()
    assert.is_truthy(m._plan and not m._plan.fused)
    assert.are.equal("CrossEntropyLoss", m._plan.loss.name)
    local d = nn.Model():add(nn.Dense(4, 3, { activation = "softmax" }))
    d:set{ loss = "categorical_crossentropy" }
    assert.is_truthy(d._plan and d._plan.fused)
    local l = nn.Model():add(nn.Dense(4, 3)):add(nn.LogSoftmax()):set{ loss = "nll" }
    assert.is_truthy(l._plan)
    assert.is_nil(nn.Model():add(nn.Dense(4, 3)):add(nn.LogSoftmax())
                    :set{ loss = "categorical_crossentropy" }._plan)
    assert.is_nil(nn.Model():add(nn.Dense(4, 3)):add(nn.Softmax()):set{ loss = "mse" }._plan)
    local s = nn.Model():add(nn.Dense(4, 3)):add(nn.Softmax()):set{ loss = nn.CategoricalCrossentropy{ reduction = "sum" } }
    assert.are.equal("sum", s._plan.loss.reduction)
  end)

  it("the step's forward leaves a fused softmax out, and predict puts it back", function()
    nn.manual_seed(6)
    local x, y = toy(5, 3)
    local d = nn.Model():add(nn.Dense(4, 3, { activation = "softmax" }))
    d:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0 } }
    d:step(x, y)
    local z = d.layers[1].output:clone()                -- the logits
    H.assert_tensor(d:predict(x), nn.F.softmax(z):totable(), H.ROUND)
    assert.is_true(z:min() < 0)                          -- not probabilities
  end)

  it("the whole model's gradient matches finite differences", function()
    local x, y = toy(5, 3)
    for _, build in ipairs{
      function () return small_model() end,
      function ()        -- Softmax fused into the Dense
        return nn.Model():add(nn.Dense(4, 5, { activation = "tanh" }))
                 :add(nn.Dense(5, 3, { activation = "softmax" })):set{ loss = "categorical_crossentropy" }
      end,
      function ()        -- LogSoftmax + NLLLoss, one-hot targets
        return nn.Model():add(nn.Dense(4, 3)):add(nn.LogSoftmax()):set{ loss = "nll" }
      end,
    } do
      nn.manual_seed(5)
      local m = build()
      local target = y
      if m.loss.name == "NLLLoss" then target = nn.data.one_hot(y, 3) end
      for _, by_hand in ipairs{ false, true } do
        local ok, worst = model_gradcheck(m, x, target, by_hand)
        assert.is_true(ok, ("worst scaled error %.3g"):format(worst))
      end
    end
  end)

  it("the check fails on a wrong fused gradient (planted: the 1/B of the mean left out)", function()
    local x, y = toy(5, 3)
    nn.manual_seed(5)
    local m = small_model()
    assert.is_true((model_gradcheck(m, x, y)))
    m._plan.loss = nn.CrossEntropyLoss{ reduction = "sum" }
    assert.is_false((model_gradcheck(m, x, y)))
  end)

  it("stays finite where the probabilities underflow to 0", function()
    local m = nn.Model():add(nn.Dense(2, 3)):add(nn.Softmax()):set{ loss = "categorical_crossentropy" }
    m.layers[1].weight:copy(nn.tensor{{300, 0}, {0, 300}, {-300, 0}})
    m:set{ optimizer = nn.optim.SGD{ lr = 0 } }
    -- p = (1, e^-300, e^-600) = (1, 0, 0) in float
    local loss = m:step(nn.tensor{{1, 0}}, nn.tensor{3})
    assert.are.equal(600, loss)                       -- -log p_3 = 600, from the logits
    -- dL/dz = p - onehot(3) = (1, 0, -1)
    H.assert_tensor(m.layers[1].grad_bias, {1, 0, -1}, H.EXACT)
  end)
end)

describe("nn.Model: train, evaluate, predict", function()
  it("train learns the toy problem and returns the history", function()
    local x, y = toy(512)
    local m = small_model()
    local history = m:train(x, y, { epochs = 8, batch_size = 32, verbose = 0 })
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, history.epoch)
    assert.is_true(history.loss[8] < history.loss[1])
    assert.is_true(history.accuracy[8] > 0.9, "accuracy " .. history.accuracy[8])
    assert.are.equal(8, #history.seconds)
    assert.are.equal(8, m.epoch)
    local loss, acc = m:evaluate(x, y)
    assert.is_true(acc > 0.9)
    assert.is_true(math.abs(loss - history.loss[8]) < 0.2)
  end)

  it("evaluate gives the mean loss over all samples and the accuracy", function()
    local x, y = toy(10)
    local m = small_model()
    local loss, acc = m:evaluate(x, y, { batch_size = 3 })     -- batches 3, 3, 3, 1
    local p = m:predict(x)
    H.assert_close(loss, nn.CategoricalCrossentropy():forward(p, y), 1e-6)
    local hits = nn.metric_class_hits(p, y)
    assert.are.equal(hits / 10, acc)
  end)

  it("predict runs in evaluation mode batch by batch, and restores the mode", function()
    local m = nn.Model():add(nn.Dense(4, 4)):add(nn.Dropout(0.5))
    local x = nn.tensor.randn(7, 4)
    local p = m:predict(x, { batch_size = 2 })
    assert.are.same({ 7, 4 }, p:size())
    m:set_training(false)
    -- no dropout in predict (a one-row batch goes through gemv: a few ulp apart)
    H.assert_tensor(p, m:forward(x):totable(), H.ROUND)
    m:set_training(true)
    m:predict(x)
    assert.is_true(m.layers[2].training)
  end)

  it("predict of one batch returns a new tensor, not the live output", function()
    local m = nn.Model():add(nn.Dense(4, 3))
    local x = nn.tensor.randn(2, 4)
    local p = m:predict(x)                     -- 2 rows <= batch_size: one forward
    local want = p:totable()
    m:forward(nn.tensor.randn(2, 4))           -- overwrites the layer's output buffer
    H.assert_tensor(p, want, H.EXACT)
    H.assert_tensor(p, m:predict(x):totable(), H.EXACT)
  end)

  it("validation_split holds out the last rows; validation_data is reported too", function()
    local x, y = toy(100)
    local m = small_model()
    local h = m:train(x, y, { epochs = 2, validation_split = 0.2, verbose = 0 })
    assert.are.equal(2, #h.val_loss)
    local m2 = small_model()
    local h2 = m2:train(x:slice(1, 80), y:slice(1, 80), { epochs = 1, verbose = 0,
                        validation_data = { x:slice(81, 100), y:slice(81, 100) } })
    assert.is_number(h2.val_accuracy[1])
  end)

  it("the same seed gives the same training, bit for bit", function()
    local x, y = toy(64)
    local function run()
      nn.manual_seed(11)
      local m = small_model()
      m:add(nn.Dropout(0.1))       -- random masks too
      return m:train(x, y, { epochs = 3, batch_size = 16, verbose = 0 }).loss
    end
    assert.are.same(run(), run())
  end)

  it("prints one line per epoch when not on a terminal, nothing with verbose = 0", function()
    local x, y = toy(32)
    local lines, saved = {}, _G.print
    _G.print = function (s) lines[#lines + 1] = s end
    local ok, err = pcall(function ()
      small_model():train(x, y, { epochs = 2, verbose = 2, validation_split = 0.25 })
      small_model():train(x, y, { epochs = 2, verbose = 0 })
    end)
    _G.print = saved
    assert(ok, err)
    assert.are.equal(2, #lines)
    assert.is_truthy(lines[2]:find("^Epoch 2/2  loss [%d.]+ acc [%d.]+  val_loss [%d.]+ val_acc [%d.]+  "
                                   .. "[%d.]+s [%d.]+[kM]?/s$"), lines[2])
    assert.is_true(#lines[2] <= 80, "the line with every metric fits 80 columns: " .. lines[2])
  end)

  it("raises clear errors for bad data and options", function()
    local x, y = toy(10)
    local m = small_model()
    H.assert_error_has(function () m:train(x, y:slice(1, 5)) end, { "x has 10 rows but y has 5" })
    H.assert_error_has(function () m:train(x, y, { epoch = 3 }) end, { "unknown option 'epoch'" })
    H.assert_error_has(function () m:train(x, y, { batch_size = 0 }) end, { "batch_size must be a positive integer" })
    H.assert_error_has(function () m:train(x, y, { validation_split = 1 }) end, { "validation_split" })
    H.assert_error_has(function () m:train(x, y, { validation_data = { x } }) end, { "validation_data" })
    H.assert_error_has(function () m:train("x", y) end, { "x must be a tensor" })
    H.assert_error_has(function () m:evaluate(x, y:slice(1, 3)) end, { "x has 10 rows but y has 3" })
  end)
end)

describe("nn.callbacks", function()
  local x, y = toy(64)

  it("a plain function runs after each epoch with (epoch, logs, model)", function()
    local seen = {}
    local m = small_model()
    m:train(x, y, { epochs = 3, verbose = 0, callbacks = { function (epoch, logs, model)
      seen[#seen + 1] = epoch
      assert.are.equal(m, model)
      assert.is_number(logs.loss)
    end } })
    assert.are.same({ 1, 2, 3 }, seen)
  end)

  it("LambdaCallback's on_batch_end runs once per batch", function()
    local batches = 0
    small_model():train(x, y, { epochs = 2, batch_size = 16, verbose = 0, callbacks = {
      nn.callbacks.LambdaCallback{ on_batch_end = function (_, logs) batches = batches + 1; assert.is_number(logs.loss) end } } })
    assert.are.equal(8, batches)
  end)

  it("EarlyStopping stops after `patience` epochs without improvement", function()
    local m = small_model{ optimizer = nn.optim.SGD{ lr = 0 } }     -- the loss never improves
    local es = nn.callbacks.EarlyStopping{ monitor = "loss", patience = 2, min_delta = 1e-6 }
    local h = m:train(x, y, { epochs = 10, verbose = 0, callbacks = { es } })
    assert.are.equal(3, #h.epoch)                   -- best at 1, then 2 epochs of waiting
    assert.are.equal(3, es.stopped_epoch)
  end)

  it("EarlyStopping with restore_best_weights ends with the best epoch's weights", function()
    local m = small_model()
    local es = nn.callbacks.EarlyStopping{ monitor = "val_loss", patience = 1, restore_best_weights = true }
    -- a made-up history: the best val_loss is at epoch 2
    es:on_train_begin(m)
    es:on_epoch_end(m, 1, { val_loss = 1.0 })
    es:on_epoch_end(m, 2, { val_loss = 0.5 })
    local best = m.layers[1].weight:clone()
    m.layers[1].weight:fill_(7)
    m.epoch = 3
    es:on_epoch_end(m, 3, { val_loss = 0.9 })
    assert.is_true(m.stop_training)
    es:on_train_end(m)
    H.assert_tensor(m.layers[1].weight, best:totable(), H.EXACT)
  end)

  it("EarlyStopping names a monitored value that the logs lack", function()
    H.assert_error_has(function ()
      small_model():train(x, y, { epochs = 1, verbose = 0, callbacks = { nn.callbacks.EarlyStopping{} } })
    end, { "'val_loss' is not in the epoch's logs", "validation_split" })
    H.assert_error_has(function () nn.callbacks.EarlyStopping{ patiense = 1 } end, { "unknown option 'patiense'" })
  end)

  it("LearningRateScheduler sets the lr before each epoch; a scheduler steps after", function()
    local m = small_model{ optimizer = nn.optim.SGD{ lr = 0.4 } }
    local h = m:train(x, y, { epochs = 3, verbose = 0, callbacks = {
      nn.callbacks.LearningRateScheduler(function (epoch, lr) return epoch == 1 and lr or lr / 2 end) } })
    assert.are.same({ 0.4, 0.2, 0.1 }, h.lr)
    local m2 = small_model{ optimizer = nn.optim.SGD{ lr = 1 } }
    local sched = nn.optim.StepLR(m2.optimizer, { step_size = 1, gamma = 0.5 })
    local h2 = m2:train(x, y, { epochs = 3, verbose = 0, callbacks = { nn.callbacks.LearningRateScheduler(sched) } })
    assert.are.same({ 1, 0.5, 0.25 }, h2.lr)
    H.assert_error_has(function () nn.callbacks.LearningRateScheduler(3) end, { "expected a function" })
  end)

  it("CSVLogger writes a header and one row per epoch", function()
    local path = os.tmpname()
    small_model():train(x, y, { epochs = 2, verbose = 0, callbacks = { nn.callbacks.CSVLogger{ path = path } } })
    local text = H.read_file(path)
    os.remove(path)
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines)
    assert.are.equal("epoch,accuracy,loss,lr,samples,seconds", lines[1])
    assert.is_truthy(lines[3]:find("^2,[%d.]+,[%d.]+,"))
  end)

  it("TerminateOnNaN stops at the first batch with a NaN loss", function()
    local t = nn.callbacks.TerminateOnNaN()
    local m = small_model()
    m.layers[2].weight:fill_(0 / 0)                 -- a diverged model
    local h = silently(m.train, m, x, y,
                       { epochs = 3, batch_size = 16, shuffle = false, verbose = 0, callbacks = { t } })
    assert.are.equal(1, t.stopped_batch)
    assert.are.equal(1, #h.epoch)
  end)

  it("ModelCheckpoint saves each epoch, or only improvements, with {epoch} in the path", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local m = small_model()
    m:train(x, y, { epochs = 2, verbose = 0, callbacks = {
      nn.callbacks.ModelCheckpoint{ path = dir .. "/e{epoch}.safetensors" } } })
    assert.is_truthy(io.open(dir .. "/e1.safetensors"))
    assert.is_truthy(io.open(dir .. "/e2.safetensors"))
    local best = nn.callbacks.ModelCheckpoint{ path = dir .. "/best.safetensors", monitor = "loss",
                                               save_best_only = true }
    best:on_train_begin(m)
    best:on_epoch_end(m, 1, { loss = 1 })
    assert.are.equal(dir .. "/best.safetensors", best.last_saved)
    best.last_saved = nil
    best:on_epoch_end(m, 2, { loss = 2 })             -- worse: not saved
    assert.is_nil(best.last_saved)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("nn.Model: checkpoints", function()
  local x, y = toy(96)

  local function tmpfile()
    local p = os.tmpname()
    return p
  end

  it("save then nn.load gives the same model, bit for bit", function()
    local m = small_model{ optimizer = nn.optim.Adam{ lr = 0.01 } }
    m:add(nn.BatchNorm1d(3))
    m:train(x, y, { epochs = 1, verbose = 0 })
    local path = tmpfile()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    assert.are.equal(#m.layers, #m2.layers)
    assert.are.equal(1, m2.epoch)
    local w1, w2 = m:get_weights(), m2:get_weights()
    for i = 1, #w1 do H.assert_tensor(w2[i], w1[i]:totable(), H.EXACT) end
    H.assert_tensor(m2:predict(x), m:predict(x):totable(), H.EXACT)
    assert.are.equal(tostring(m.optimizer), tostring(m2.optimizer))
    assert.are.equal("CategoricalCrossentropy", m2.loss.name)
  end)

  -- an unbroken run of 4 epochs against 2 + save + nn.load + 2, bit for bit,
  -- with each scheduler and the callbacks that keep state
  local schedulers = {
    none = false,
    StepLR = function (opt) return nn.optim.StepLR(opt, { step_size = 1, gamma = 0.5 }) end,
    ExponentialLR = function (opt) return nn.optim.ExponentialLR(opt, { gamma = 0.7 }) end,
    CosineAnnealingLR = function (opt) return nn.optim.CosineAnnealingLR(opt, { T_max = 4 }) end,
  }
  for name, make_sched in pairs(schedulers) do
    it("training resumed from a checkpoint continues exactly as if it had not stopped (scheduler: "
       .. name .. ")", function()
      local function fresh()
        nn.manual_seed(21)
        local m = nn.Model():add(nn.Dense(4, 6, { activation = "tanh" }))
        m:add(nn.Dropout(0.2))                        -- draws from the generator too
        m:add(nn.Dense(6, 3)):add(nn.Softmax())
        return m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.Adam{ lr = 0.01 },
                      accuracy = true }
      end
      -- the callbacks, made anew for each run as a script would; the
      -- scheduler comes before ModelCheckpoint so its save sees the step
      local function callbacks(m, path)
        local list = { nn.callbacks.EarlyStopping{ monitor = "loss", patience = 3 },
                       nn.callbacks.ModelCheckpoint{ path = path or os.tmpname(), monitor = "loss",
                                                     save_best_only = true } }
        if make_sched then table.insert(list, 1, nn.callbacks.LearningRateScheduler(make_sched(m.optimizer))) end
        return list
      end
      local m0 = fresh()
      local cbs0 = callbacks(m0)
      local straight = m0:train(x, y, { epochs = 4, batch_size = 16, verbose = 0, callbacks = cbs0 })
      os.remove(cbs0[#cbs0].path)
      local m = fresh()
      local path = tmpfile()
      local first = m:train(x, y, { epochs = 2, batch_size = 16, verbose = 0, callbacks = callbacks(m, path) })
      nn.manual_seed(999)                             -- whatever happens in between
      local resumed = nn.load(path)                   -- ModelCheckpoint's file of epoch 2
      local cbs = callbacks(resumed, path)
      local rest = resumed:train(x, y, { epochs = 4, initial_epoch = resumed.epoch, batch_size = 16,
                                         verbose = 0, callbacks = cbs })
      os.remove(path)
      assert.are.same({ 3, 4 }, rest.epoch)
      assert.are.same(straight.loss, { first.loss[1], first.loss[2], rest.loss[1], rest.loss[2] })
      assert.are.same(straight.lr, { first.lr[1], first.lr[2], rest.lr[1], rest.lr[2] })
      -- the callbacks end where the unbroken run's ended
      for i, cb in ipairs(cbs) do
        assert.are.same(cbs0[i]:state_dict(), cb:state_dict(), tostring(cb))
      end
    end)
  end

  it("a callback's state round-trips, and a bad one is refused naming it", function()
    local es = nn.callbacks.EarlyStopping{ monitor = "loss" }
    es:on_train_begin()
    assert.are.same({ wait = 0 }, es:state_dict())          -- +inf: nothing seen yet
    es:load_state_dict{ best = 0.5, wait = 2, best_epoch = 3 }
    assert.are.same({ best = 0.5, wait = 2, best_epoch = 3 }, es:state_dict())
    H.assert_error_has(function () es:load_state_dict{ wait = -1 } end,
                       { "EarlyStopping:load_state_dict: wait must be an integer >= 0, got -1" })
    local sched = nn.optim.StepLR(nn.optim.SGD{ lr = 1 }, { step_size = 1 })
    local lrs = nn.callbacks.LearningRateScheduler(sched)
    H.assert_error_has(function () lrs:load_state_dict{} end, { "the state holds no scheduler" })
  end)

  it("keeps every option of every layer and of the loss: each one's config(), not a list by name", function()
    local m = nn.Sequential{ nn.Dense(4, 5, { activation = "tanh", init = "he_normal" }),
                             nn.BatchNorm1d(5, { eps = 1e-3, momentum = 0.25 }),
                             nn.LeakyReLU(0.3), nn.Dropout(0.125),
                             nn.Dense(5, 3, { bias = false }), nn.LogSoftmax() }
    m:set{ loss = nn.CategoricalCrossentropy{ eps = 1e-4, reduction = "sum" },
           optimizer = nn.optim.SGD{ lr = 0.1 } }
    local path = tmpfile()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    for i, layer in ipairs(m.layers) do
      assert.are.same(layer:config(), m2.layers[i]:config(), "layer " .. i)
    end
    assert.are.same({ type = "CategoricalCrossentropy", eps = 1e-4, reduction = "sum" },
                    m2.loss:config())
  end)

  it("loading a truncated or corrupt file raises and changes nothing", function()
    local m = small_model()
    local path = tmpfile()
    m:save(path)
    local bytes = H.read_file(path)
    local seed, offset = nn.get_rng_state()
    for _, cut in ipairs{ 0, 7, 8, 100, #bytes // 2, #bytes - 1 } do
      H.write_file(path, bytes:sub(1, cut))
      assert.has_error(function () nn.load(path) end)
    end
    H.write_file(path, bytes:sub(1, 8) .. ("x"):rep(#bytes - 8))
    assert.has_error(function () nn.load(path) end)
    local s2, o2 = nn.get_rng_state()
    assert.are.same({ seed, offset }, { s2, o2 })
    os.remove(path)
    H.assert_error_has(function () nn.load("/nonexistent/model.safetensors") end, { "/nonexistent/model.safetensors" })
  end)

  it("a file whose tensors do not fit its architecture, or not a model, is refused", function()
    local m = small_model()
    local path = tmpfile()
    m:save(path)
    local tensors, meta = nn.safetensors.load(path)
    tensors["layers.1.weight"] = nn.tensor.zeros(6, 5)
    nn.safetensors.save(path, tensors, meta)
    H.assert_error_has(function () nn.load(path) end, { "layers.1.weight", "[6x5]", "[6x4]" })
    tensors["layers.1.weight"] = nil
    tensors["layers.1.bias"] = nil
    nn.safetensors.save(path, tensors, meta)
    H.assert_error_has(function () nn.load(path) end, { "missing" })
    nn.safetensors.save(path, { w = nn.tensor{1} }, {})
    H.assert_error_has(function () nn.load(path) end, { "not an nnlua model checkpoint" })
    os.remove(path)
  end)

  it("refuses an architecture whose layers are an object, not a list", function()
    local m = small_model()
    local path = tmpfile()
    m:save(path)
    local tensors, meta = nn.safetensors.load(path)
    meta.architecture = '{"layers": {"a": {"type": "Linear", "in_features": 4, "out_features": 6}}}'
    nn.safetensors.save(path, tensors, meta)
    H.assert_error_has(function () nn.load(path) end, { "layers must be a list", "'a'" })
    os.remove(path)
  end)

  it("a small file describing a huge layer is refused before the layer is built", function()
    local m = small_model()
    local path = tmpfile()
    m:save(path)
    local tensors, meta = nn.safetensors.load(path)
    local json = nn.safetensors.json
    local arch = json.decode(meta.architecture)
    arch.layers[1].in_features, arch.layers[1].out_features = 30000, 30000   -- 3.6 GB of weight
    meta.architecture = json.encode(arch)
    nn.safetensors.save(path, tensors, meta)
    -- built, the layer would take gigabytes before check_against found the
    -- shape wrong; this message comes from the check made before building
    H.assert_error_has(function () nn.load(path) end,
                       { "layer 1 (Linear)", "in_features = 30000", "needs at least 900000000", "holds 30" })
    -- and a layer whose tensors are all missing is refused by name, unbuilt
    tensors["layers.1.weight"], tensors["layers.1.bias"] = nil, nil
    nn.safetensors.save(path, tensors, meta)
    H.assert_error_has(function () nn.load(path) end, { "tensor 'layers.1.weight' is missing" })
    os.remove(path)
  end)
end)

describe("nn.Model: Ctrl-C", function()
  -- nn.interrupt() is one Ctrl-C press delivered through the host's own SIGINT
  -- handler at an exact point of the code: no real signal, no delay, no timing.
  local x, y = toy(64, 4)

  local function trained_until(batch, how)
    nn.manual_seed(5)
    local m = small_model()
    local h = silently(m.train, m, x, y, { epochs = 3, batch_size = 16, shuffle = false, verbose = 1,
      callbacks = { { on_batch_end = function (_, model, b)
        if b == batch then
          if how == "press" then nn.interrupt() else model.stop_training = true end
        end
      end } } })
    return m, h
  end

  it("stops train at a batch boundary and returns, the model intact", function()
    local m, h = trained_until(3, "press")
    assert.is_true(h.interrupted)
    assert.are.same({}, h.epoch)                    -- the epoch did not finish
    -- the same weights as three batches and a clean stop: nothing half-applied
    local ref = trained_until(3, "stop")
    local w, wr = m:get_weights(), ref:get_weights()
    for i = 1, #w do H.assert_tensor(w[i], wr[i]:totable(), H.EXACT) end
    assert.is_true(m:evaluate(x, y) >= 0)           -- and it still works
    -- and the press was used up: the next train runs all its epochs
    local again = m:train(x, y, { epochs = 2, verbose = 0 })
    assert.are.same({ 1, 2 }, again.epoch)
    assert.is_nil(again.interrupted)
  end)

  it("a press after the last batch does not cancel the next train", function()
    for _, hook in ipairs{ "on_epoch_end", "on_train_end" } do
      nn.manual_seed(5)
      local m = small_model()
      m:train(x, y, { epochs = 2, verbose = 0, callbacks = { { [hook] = function (_, _, e)
        if hook == "on_train_end" or e == 2 then nn.interrupt() end
      end } } })
      local h = m:train(x, y, { epochs = 2, verbose = 0 })
      assert.are.same({ 1, 2 }, h.epoch, hook)
      assert.is_nil(h.interrupted, hook)
    end
  end)

  it("a press during an epoch's validation or callbacks stops before the next epoch", function()
    nn.manual_seed(5)
    local m = small_model()
    local h = silently(m.train, m, x, y, { epochs = 5, verbose = 2, validation_split = 0.25,
                       callbacks = { function (e) if e == 2 then nn.interrupt() end end } })
    assert.are.same({ 1, 2 }, h.epoch)
    assert.is_true(h.interrupted)
  end)
end)

describe("nn.Model: the progress bar", function()
  it("redraws one line per epoch on a terminal: batch, loss, accuracy, samples/s, ETA", function()
    local script = os.tmpname()
    H.write_file(script, [[
      nn.manual_seed(1)
      local m = nn.Model("basic", {8, 16, 2})
      m:train(nn.tensor.randn(512, 8), nn.tensor.ones(512), {epochs = 2, batch_size = 32})
    ]])
    -- `script` gives nnlua a terminal (as the prompt specs do)
    local p = assert(io.popen(("SHELL=/bin/sh script -qc %s /dev/null"):format(
      H.shell_quote(H.NNLUA .. " " .. script))))
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.is_truthy(out:find("\rEpoch 1/2 16/16 %[=+%] loss [%d.]+  acc [%d.]+  +[%d.]+[kM]? samples/s  ETA %d+s\27%[K"), out)
    assert.is_truthy(out:find("Epoch 2/2  loss", 1, true), out)
  end)
end)

describe("nn.Model on Fashion-MNIST", function()
  local ok, data = H.fashion_mnist()
  if not ok then
    pending("Fashion-MNIST is not installed (bash scripts/setup.sh): " .. tostring(data))
    return
  end

  it("an MLP trained on 2,000 images beats 75% on 1,000 test images", function()
    nn.manual_seed(1)
    local m = nn.Model("basic", { 784, 128, 10 })
    m:train(data.x_train:slice(1, 2000), data.y_train:slice(1, 2000),
            { epochs = 5, batch_size = 32, verbose = 0 })
    local _, acc = m:evaluate(data.x_test:slice(1, 1000), data.y_test:slice(1, 1000))
    assert.is_true(acc > 0.75, ("test accuracy %.3f"):format(acc))
  end)
end)
