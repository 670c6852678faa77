--- spec/nan_stop_spec.lua -- model:train{stop_on_nan}: a planted NaN or
-- Inf stops training at its batch, names the layer, the tensor and the
-- batch, and leaves every tensor as the batch left it (lua/nn/fit.lua,
-- Model:_step in lua/nn/model.lua); nn.first_nonfinite underneath.
local nn = require "nn"
local H = require "spec.helpers"
local T = nn.tensor

local function model_of(...)
  nn.manual_seed(3)
  local m = nn.Model{ ... }
  m:set{ loss = "cross_entropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
  return m
end

local function data(n)
  nn.manual_seed(4)
  return T.randn(n, 4), (T.rand(n) * 3):floor() + 1
end

-- A 4-3-3 network trained on 30 rows in batches of 10, with an overflow
-- planted in the backward of batch 2 (layer 2's grad_weight[1][2] = Inf,
-- by a hook): the model and the history.
local function train_with_planted_inf(stop_on_nan)
  local m = model_of(nn.Dense(4, 3, { activation = "relu" }), nn.Dense(3, 3))
  local x, y = data(30)
  local n = 0
  m.layers[2]:on_backward(function (layer)
    n = n + 1
    if n == 2 then layer.grad_weight[1][2] = 1 / 0 end
  end)
  return m, m:train(x, y, { batch_size = 10, shuffle = false, stop_on_nan = stop_on_nan,
                            verbose = 0 })
end

describe("nn.first_nonfinite", function()
  it("gives the position of the first tensor with a NaN, +Inf or -Inf, else nil", function()
    local a, b = T.randn(300, 1000), T.randn(7)
    assert.is_nil(nn.first_nonfinite({ a, b }))
    b[7] = 0 / 0
    assert.are.equal(2, nn.first_nonfinite({ a, b }))
    a[300][1000] = -1 / 0                         -- the very last element
    assert.are.equal(1, nn.first_nonfinite({ a, b }))
    a[300][1000] = 3.4e38                         -- the largest float is finite
    assert.are.equal(2, nn.first_nonfinite({ a, b }))
    assert.is_nil(nn.first_nonfinite({ T.zeros(0), T.ones(3):int() }))
  end)

  it("names a list entry that is not a tensor", function()
    H.assert_error_has(function () nn.first_nonfinite({ T.ones(2), "x" }) end,
                       { "entry 2 is a string, not a tensor" })
    H.assert_error_has(function () nn.first_nonfinite(3) end, { "table expected" })
  end)
end)

describe("model:train{stop_on_nan = true}", function()
  it("stops at the batch whose input holds a NaN, names the layer and leaves the weights unchanged", function()
    local m = model_of(nn.Dense(4, 6, { activation = "relu" }), nn.Dense(6, 3))
    local x, y = data(60)
    x[37][2] = 0 / 0                              -- row 37: batch 4 of batch_size 10
    local w_before
    m.layers[1]:on_forward(function (layer) w_before = layer.weight:clone() end)
    local h = m:train(x, y, { epochs = 2, batch_size = 10, shuffle = false, stop_on_nan = true,
                              verbose = 0 })
    local s = h.stopped
    assert.are.equal("nan", s.reason)
    assert.are.same({ 1, 4, 1, "output" }, { s.epoch, s.batch, s.layer, s.tensor })
    assert.truthy(s.message:find("stopped in epoch 1 at batch 4 of 6: layer 1 (nn.Linear(4 -> 6, relu)) "
                                 .. "output has 6 NaN", 1, true), s.message)
    assert.truthy(s.message:find("model.layers[1].output", 1, true))
    -- the tensors are the batch's: its NaN row is in the output, and no update ran after it
    assert.are.equal(6, m.layers[1].output:isnan():sum())
    H.assert_tensor(m.layers[1].weight, w_before:totable(), H.EXACT)
    assert.are.equal(3, m._steps)
    assert.are.equal(0, #h.loss)
  end)

  it("names a gradient when the forward is finite but the backward is not", function()
    local m, h = train_with_planted_inf(true)
    local s = h.stopped
    assert.are.same({ "nan", 2, 2, "grad_weight" }, { s.reason, s.batch, s.layer, s.tensor })
    assert.truthy(s.message:find("layer 2 (nn.Linear(3 -> 3)) grad_weight has 1 Inf", 1, true), s.message)
    assert.are.equal(1 / 0, m.layers[2].grad_weight[1][2])     -- as the batch left it
    assert.are.equal(1, m._steps)
  end)

  it("fails the spec above if the check is off: the same run trains on", function()
    local m, h = train_with_planted_inf(false)
    assert.is_nil(h.stopped)
    assert.is_true(m.layers[2].weight[1][2] ~= m.layers[2].weight[1][2]
                   or math.abs(m.layers[2].weight[1][2]) == 1 / 0)   -- the Inf reached the weight
  end)

  it("does not fire on finite numbers, and blames the loss when no tensor holds one", function()
    local m = model_of(nn.Dense(4, 3))
    local x, y = data(10)
    local _, _, bad = m:_step(x, y, m:_nan_watch())
    assert.is_nil(bad)
    local i, _, name = m:_find_nonfinite()
    assert.is_nil(i)
    assert.are.equal("loss", name)
  end)

  it("trains through a NaN when stop_on_nan is false, and rejects a non-boolean", function()
    local m = model_of(nn.Dense(4, 3))
    local x, y = data(20)
    x[1][1] = 0 / 0
    local h = m:train(x, y, { batch_size = 10, stop_on_nan = false, verbose = 0 })
    assert.is_nil(h.stopped)
    assert.are.equal(1, #h.loss)
    assert.is_true(h.loss[1] ~= h.loss[1])
    H.assert_error_has(function () m:train(x, y, { stop_on_nan = 1 }) end,
                       { "stop_on_nan", "boolean" })
  end)

  it("is off by default in a script and on at the prompt", function()
    local m = model_of(nn.Dense(4, 3))
    local x, y = data(20)
    x[1][1] = 0 / 0
    assert.is_nil(m:train(x, y, { batch_size = 10, verbose = 0 }).stopped)
    nn.at_prompt = true
    local ok, h = pcall(m.train, m, x, y, { batch_size = 10, verbose = 0 })
    nn.at_prompt = nil
    assert.is_true(ok, h)
    assert.are.equal("nan", h.stopped.reason)
  end)
end)
