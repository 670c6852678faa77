--- spec/fit_options_spec.lua -- every option of train, evaluate and predict,
--- of the callbacks and of the optimizers is checked by type and range, with
--- a message that names it (lua/nn/check.lua); training on no rows is an
--- error, never a NaN loss.
local nn = require "nn"
local H = require "spec.helpers"

local function data(n)
  nn.manual_seed(3)
  return nn.tensor.randn(n, 4), nn.tensor.ones(n)
end

local function model()
  nn.manual_seed(3)
  return nn.Model("basic", { 4, 6, 2 })
end

-- the message, and the line it blames: this file's (level 2 of the caller)
local function raises(fn, parts)
  local msg = H.assert_error_has(fn, parts)
  assert.is_truthy(msg:find("fit_options_spec.lua:%d+:"), "the caller's line is not blamed: " .. msg)
end

describe("nn.check", function()
  local check = require "nn.check"
  it("returns the value or the default, and names what a bad one must be", function()
    assert.are.equal(5, check.value(2, "f", "n", 5, "positive integer", 1))
    assert.are.equal(1, check.value(2, "f", "n", nil, "positive integer", 1))
    assert.are.equal(2, check.value(2, "f", "v", 2, { 0, 1, 2 }))
    H.assert_error_has(function () check.value(2, "f", "n", "x", "positive integer") end,
                       { "f: n must be a positive integer, got 'x'" })
    H.assert_error_has(function () check.value(2, "f", "v", 3, { 0, 1, 2 }) end,
                       { "f: v must be one of 0, 1, 2, got 3" })
    H.assert_error_has(function () check.value(2, "f", "p", 0 / 0, "fraction") end,
                       { "f: p must be a number in [0, 1), got nan" })
    H.assert_error_has(function () check.keys(2, "f", { a = 1, c = 2 }, { "a", "b" }) end,
                       { "f: unknown option 'c' (options: a, b)" })
  end)
end)

describe("model:train options", function()
  local x, y = data(20)

  it("each bad option is named, with what it must be and what it got", function()
    local m = model()
    local cases = {
      { { epochs = -1 }, "model:train: epochs must be a non-negative integer, got -1" },
      { { epochs = 2.5 }, "model:train: epochs must be a non-negative integer, got 2.5" },
      { { initial_epoch = "3" }, "model:train: initial_epoch must be a non-negative integer, got '3'" },
      { { batch_size = "x" }, "model:train: batch_size must be a positive integer, got 'x'" },
      { { batch_size = 0 }, "model:train: batch_size must be a positive integer, got 0" },
      { { shuffle = 1 }, "model:train: shuffle must be a boolean (true or false), got 1" },
      { { drop_last = "yes" }, "model:train: drop_last must be a boolean (true or false), got 'yes'" },
      { { verbose = "x" }, "model:train: verbose must be one of 0, 1, 2, got 'x'" },
      { { verbose = 3 }, "model:train: verbose must be one of 0, 1, 2, got 3" },
      { { validation_split = 0 / 0 }, "model:train: validation_split must be a number in [0, 1), got nan" },
      { { validation_split = "0.1" }, "model:train: validation_split must be a number in [0, 1), got '0.1'" },
      { { validation_data = 5 }, "model:train: validation_data must be {x_val, y_val}, two tensors, got 5" },
      { { validation_data = { x, y:slice(1, 3) } }, "validation_data: x_val has 20 rows but y_val has 3" },
      { { callbacks = 5 }, "model:train: callbacks must be a list of callbacks, got 5" },
      { { callbacks = { 5 } }, "model:train: callbacks[1] must be a callback" },
      { { callbacks = { a = {} } }, "model:train: callbacks must be a list {cb1, cb2, ...}, got the key 'a'" },
      { { epoch = 3 }, "model:train: unknown option 'epoch'" },
    }
    for _, case in ipairs(cases) do
      raises(function () m:train(x, y, case[1]) end, { case[2] })
    end
    raises(function () m:train(x, y, 5) end, { "model:train: options must be a table, got 5" })
  end)

  it("a huge batch_size is one batch, not an overflowed batch count and a NaN loss", function()
    local m = model()
    local h = m:train(x, y, { batch_size = math.maxinteger, verbose = 0 })
    assert.is_true(h.loss[1] == h.loss[1] and h.loss[1] > 0, tostring(h.loss[1]))
    assert.are.equal(1, #nn.data.DataLoader(x, y, { batch_size = math.maxinteger }))
    assert.are.equal(0, #nn.data.DataLoader(x, y, { batch_size = math.maxinteger, drop_last = true }))
  end)

  it("training on no rows is an error naming why, never a NaN loss", function()
    local m = model()
    raises(function () m:train(x, y, { validation_split = 0.99, verbose = 0 }) end,
           { "model:train: validation_split = 0.99 leaves 0 of the 20 rows to train on" })
    raises(function () m:train(x:slice(1, 0), y:slice(1, 0), { verbose = 0 }) end,
           { "model:train: x has no rows to train on" })
    raises(function () m:train(x, y, { drop_last = true, batch_size = 32, verbose = 0 }) end,
           { "drop_last with batch_size 32 and 20 rows to train on leaves no batch" })
    raises(function () m:train(x, y, { validation_data = { x:slice(1, 0), y:slice(1, 0) } }) end,
           { "model:train: validation_data has no rows" })
  end)
end)

describe("model:evaluate and model:predict options", function()
  local x, y = data(8)
  it("name a bad batch_size, an unknown option, and refuse a loss over no rows", function()
    local m = model()
    raises(function () m:evaluate(x, y, { batch_size = -2 }) end,
           { "model:evaluate: batch_size must be a positive integer, got -2" })
    raises(function () m:evaluate(x, y, { batchsize = 2 }) end, { "model:evaluate: unknown option 'batchsize'" })
    raises(function () m:evaluate(x:slice(1, 0), y:slice(1, 0)) end, { "model:evaluate: x has no rows" })
    raises(function () m:predict(x, { batch_size = "x" }) end,
           { "model:predict: batch_size must be a positive integer, got 'x'" })
    raises(function () m:predict(x, 3) end, { "model:predict: options must be a table, got 3" })
  end)
end)

describe("the callbacks' and optimizers' constructors", function()
  it("name each bad option", function()
    local cases = {
      { function () nn.callbacks.EarlyStopping{ patience = -1 } end,
        "EarlyStopping: patience must be a non-negative integer, got -1" },
      { function () nn.callbacks.EarlyStopping{ monitor = 3 } end,
        "EarlyStopping: monitor must be a string, got 3" },
      { function () nn.callbacks.EarlyStopping{ min_delta = "x" } end,
        "EarlyStopping: min_delta must be a number >= 0, got 'x'" },
      { function () nn.callbacks.EarlyStopping{ restore_best_weights = 1 } end,
        "EarlyStopping: restore_best_weights must be a boolean (true or false), got 1" },
      { function () nn.callbacks.EarlyStopping{ mode = "up" } end,
        "EarlyStopping: mode must be one of 'auto', 'min', 'max', got 'up'" },
      { function () nn.callbacks.EarlyStopping(5) end, "EarlyStopping: options must be a table, got 5" },
      { function () nn.callbacks.ModelCheckpoint{ path = 5 } end,
        "ModelCheckpoint: path must be a string, got 5" },
      { function () nn.callbacks.ModelCheckpoint{ path = "p", save_best_only = "yes" } end,
        "ModelCheckpoint: save_best_only must be a boolean (true or false), got 'yes'" },
      { function () nn.callbacks.CSVLogger{ path = "p", separator = 1 } end,
        "CSVLogger: separator must be a string, got 1" },
      { function () nn.callbacks.LearningRateScheduler(5) end, "LearningRateScheduler: " },
      { function () nn.optim.SGD{ lr = "x" } end, "SGD: lr" },
      { function () nn.optim.Adam{ lrr = 1 } end, "Adam has no option 'lrr'" },
      { function () nn.optim.StepLR(nn.optim.SGD{}, { step_size = 0 }) end,
        "StepLR: step_size must be a positive integer, got 0" },
      { function () nn.optim.CosineAnnealingLR(nn.optim.SGD{}, { T_max = "x" }) end,
        "CosineAnnealingLR: T_max must be a positive integer, got 'x'" },
    }
    for _, case in ipairs(cases) do raises(case[1], { case[2] }) end
  end)
end)

describe("model:train{transforms}", function()
  local function setup()
    nn.manual_seed(1)
    local m = nn.Model{ nn.Flatten(), nn.Dense(16, 3) }
    m:set{ loss = "cross_entropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
    return m, nn.tensor.rand(40, 1, 4, 4), (nn.tensor.rand(40) * 3):floor() + 1
  end

  it("applies them in order to every training batch, not to the validation data", function()
    local m, x, y = setup()
    local log = {}
    local function tag(name)
      return function (xb) log[#log + 1] = name .. xb:size(1); return xb end
    end
    m:train(x, y, { batch_size = 16, verbose = 0, shuffle = false, validation_split = 0.2,
                    transforms = { tag("a"), tag("b") } })
    assert.are.same({ "a16", "b16", "a16", "b16" }, log)     -- 32 training rows, 8 held out
  end)

  it("trains on what they give: a flip of every image changes the result", function()
    local m1, x, y = setup()
    m1:train(x, y, { batch_size = 8, verbose = 0, shuffle = false })
    local m2 = setup()
    m2:train(x, y, { batch_size = 8, verbose = 0, shuffle = false,
                     transforms = { nn.data.RandomHorizontalFlip(1) } })
    assert.is_true((m1.layers[2].weight - m2.layers[2].weight):abs():max() > 1e-3)
  end)

  it("names a bad transform at the caller", function()
    local m, x, y = setup()
    H.assert_error_has(function () m:train(x, y, { verbose = 0, transforms = { 3 } }) end,
                       { "model:train: DataLoader: transforms[1] must be a transform" })
    H.assert_error_has(function ()
      m:train(x, y, { verbose = 0, transforms = { nn.data.RandomCrop(6) } })
    end, { "model:train:", "RandomCrop" })
  end)
end)
