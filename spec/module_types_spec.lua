--- spec/module_types_spec.lua -- what every registered layer type says of
-- itself (nn.module_types), and what the generic code built on it does:
-- constructors that check options by the description, config() that
-- rebuilds the same layer, output_shape, and the guarantee a kept input
-- gives backward (its shape at forward), tried on every layer.
local nn = require "nn"
local H = require "spec.helpers"

-- one instance of each type, and an input it takes (and its second, for Add)
local cases = {
  Linear = { make = function () return nn.Linear(4, 3) end, shape = {2, 4} },
  ReLU = { make = function () return nn.ReLU() end, shape = {2, 4} },
  LeakyReLU = { make = function () return nn.LeakyReLU(0.2) end, shape = {2, 4} },
  Sigmoid = { make = function () return nn.Sigmoid() end, shape = {2, 4} },
  Tanh = { make = function () return nn.Tanh() end, shape = {2, 4} },
  Softmax = { make = function () return nn.Softmax() end, shape = {2, 4} },
  LogSoftmax = { make = function () return nn.LogSoftmax() end, shape = {2, 4} },
  Dropout = { make = function () return nn.Dropout(0.3) end, shape = {2, 4} },
  BatchNorm1d = { make = function () return nn.BatchNorm1d(4) end, shape = {2, 4} },
  BatchNorm2d = { make = function () return nn.BatchNorm2d(3) end, shape = {2, 3, 2, 2} },
  Flatten = { make = function () return nn.Flatten() end, shape = {2, 2, 2} },
  Identity = { make = function () return nn.Identity() end, shape = {2, 4} },
  Add = { make = function () return nn.Add() end, shape = {2, 4}, second = {4} },
  Concat = { make = function () return nn.Concat(2) end, shape = {2, 4}, second = {2, 1} },
  Conv2d = { make = function () return nn.Conv2d(2, 3, 3, {padding = 1}) end, shape = {2, 2, 4, 5} },
  MaxPool2d = { make = function () return nn.MaxPool2d(3, {stride = 2, padding = 1}) end,
                shape = {2, 3, 5, 4} },
  AvgPool2d = { make = function () return nn.AvgPool2d({2, 1}, {ceil_mode = true}) end,
                shape = {2, 3, 5, 4} },
  AdaptiveAvgPool2d = { make = function () return nn.AdaptiveAvgPool2d({2, 3}) end,
                        shape = {2, 3, 5, 4} },
  Dropout2d = { make = function () return nn.Dropout2d(0.3) end, shape = {2, 3, 5, 4} },
}

local function inputs_of (case, rows)
  local shape = { table.unpack(case.shape) }
  shape[1] = rows or shape[1]
  local xs = { nn.tensor.randn(shape) }
  if case.second then
    local s = { table.unpack(case.second) }
    if #s == #shape then s[1] = shape[1] end
    xs[2] = nn.tensor.randn(s)
  end
  return xs
end

describe("layer types describe themselves", function()
  it("every registered type has a case here, a doc line and a constructor", function()
    for name, t in pairs(nn.module_types) do
      assert.is_not_nil(cases[name], "no case for " .. name)
      assert.is_true(#t.doc > 0, name .. " has no doc")
      assert.are.equal(nn[name], t.new)
    end
  end)

  it("options print as given: nn.BatchNorm1d(4).eps is 1e-05, and defaults come from the description", function()
    assert.are.equal("1e-05", tostring(nn.BatchNorm1d(4).eps))
    assert.are.equal(0.1, nn.BatchNorm1d(4).momentum)
    assert.are.equal(0.01, nn.LeakyReLU().negative_slope)
    assert.are.equal(4, nn.Linear(4, 3).in_features)
    local opt = nn.module_types.BatchNorm1d.options
    assert.are.equal("eps", opt[2].name)
    assert.are.equal(1e-5, opt[2].default)
    assert.is_true(opt[2].min_excluded)
  end)

  it("config() rebuilds the same layer: nn[config.type](config)", function()
    for name, case in pairs(cases) do
      local layer = case.make()
      local cfg = layer:config()
      assert.are.equal(name, cfg.type)
      local again = nn[cfg.type](cfg)
      assert.are.same(cfg, again:config())
      assert.are.equal(tostring(layer), tostring(again))
    end
    local l = nn.Linear(3, 2, { bias = false, activation = "relu", init = "he_normal" })
    assert.are.same({ type = "Linear", in_features = 3, out_features = 2, bias = false,
                      activation = "relu", init = "he_normal" }, l:config())
  end)

  it("output_shape agrees with what forward gives", function()
    nn.manual_seed(31)
    for name, case in pairs(cases) do
      local layer = case.make()
      local xs = inputs_of(case)
      local shapes = {}
      for i, x in ipairs(xs) do shapes[i] = x:size() end
      assert.are.same(layer:forward(table.unpack(xs)):size(),
                      layer:output_shape(table.unpack(shapes)), name)
    end
  end)

  it("output_shape refuses shapes no tensor could have, before any arithmetic on them", function()
    -- the Lua-API fuzzer's finding 1: 2^62 sizes overflowed int64 (UBSan)
    H.assert_error_has(function () nn.Flatten():output_shape({1, 3, 2^62}) end,
                       {"bad argument #1 to 'output_shape'", "above the limit of 2^40"})
    H.assert_error_has(function () nn.Concat(2):output_shape({1, 2^62}, {1, 2^62}) end,
                       {"bad argument #1 to 'output_shape'"})
    H.assert_error_has(function () nn.Add():output_shape({2, 3}, {2^62}) end,
                       {"bad argument #2 to 'output_shape'"})
    H.assert_error_has(function () nn.Concat(2):output_shape({1, 2^39}, {1, 2^39}, {1, 2^39}) end,
                       {"above the limit of 2^40"})
  end)

  it("constructors check options by the description, naming the option and its range", function()
    H.assert_error_has(function () nn.Dropout{p = 2} end, {"bad argument #1 to 'Dropout'", "p must be in [0, 1], got 2"})
    H.assert_error_has(function () nn.BatchNorm1d(4, {eps = -1}) end, {"eps must be > 0"})
    H.assert_error_has(function () nn.Linear(3) end, {"out_features must be given"})
    H.assert_error_has(function () nn.Linear(3, 2, {in_features = 3}) end, {"given twice"})
    H.assert_error_has(function () nn.ReLU(3) end, {"ReLU takes no options"})
    H.assert_error_has(function () nn.Linear{type = "Dropout", in_features = 1, out_features = 1} end,
                       {"Linear has no option 'type'"})
  end)
end)

describe("what a kept input guarantees", function()
  it("every layer refuses a backward after its kept input was resized by someone else", function()
    nn.manual_seed(32)
    for name, case in pairs(cases) do
      local layer = case.make()
      local xs = inputs_of(case, 2)
      -- the input is another layer's output buffer (a live view, here of
      -- Identity); that layer then runs on a batch of 300
      local feeder = nn.Identity()
      local x = feeder:forward(xs[1])
      local y = layer:forward(x, table.unpack(xs, 2))
      local g = nn.tensor.ones(y:size())
      local shape = xs[1]:size()
      shape[1] = 300
      feeder:forward(nn.tensor.randn(shape))
      assert.are.equal(300, x:size(1))
      H.assert_error_has(function () layer:backward(g) end,
                         {name, "was resized", "run forward again"})
    end
  end)

  it("BatchNorm1d's backward after its input grew no longer reads past the gradient (issue 13's reproducer)", function()
    local l1, bn = nn.Linear(4, 4), nn.BatchNorm1d(4)
    bn:forward(l1:forward(nn.tensor.randn(2, 4)))
    l1:forward(nn.tensor.randn(300, 4))
    H.assert_error_has(function () bn:backward(nn.tensor.ones(2, 4)) end,
                       {"BatchNorm1d: input 1 was resized to [300x4] since the forward"})
  end)
end)

describe("a layer fed its own output", function()
  it("l(l(x)) computes as on a copy of the first output, for every layer that writes its own output", function()
    nn.manual_seed(33)
    local makers = {
      function () return nn.Linear(3, 3) end, function () return nn.ReLU() end,
      function () return nn.LeakyReLU(0.2) end, function () return nn.Sigmoid() end,
      function () return nn.Tanh() end, function () return nn.Softmax() end,
      function () return nn.LogSoftmax() end, function () return nn.BatchNorm1d(3) end,
      function () return nn.Dropout(0.5):evaluate() end,
    }
    -- (the pooling layers and Dropout2d take (B, C, H, W): below)
    for _, make in ipairs(makers) do
      local x = nn.tensor.randn(4, 3)
      local l = make()
      local want = l:forward(l:forward(x):clone()):clone()
      local got = l(l(x))
      H.assert_tensor(got, want:totable(), H.EXACT, tostring(l))
    end
  end)

  it("BatchNorm2d fed its own output computes as on a copy", function()
    nn.manual_seed(34)
    local x, l = nn.tensor.randn(2, 3, 2, 2), nn.BatchNorm2d(3)
    local want = l:forward(l:forward(x):clone()):clone()
    H.assert_tensor(l(l(x)), want:totable(), H.EXACT)
  end)

  it("the pooling layers and Dropout2d fed their own output", function()
    nn.manual_seed(34)
    for _, make in ipairs{ function () return nn.MaxPool2d(3, {stride = 1, padding = 1}) end,
                           function () return nn.AvgPool2d(3, {stride = 1, padding = 1}) end,
                           function () return nn.AdaptiveAvgPool2d({5, 4}) end,
                           function () return nn.Dropout2d(0.5):evaluate() end } do
      local x = nn.tensor.randn(2, 3, 5, 4)
      local l = make()
      local want = l:forward(l:forward(x):clone()):clone()
      H.assert_tensor(l(l(x)), want:totable(), H.EXACT, tostring(l))
    end
  end)

  it("Add fed its own output as one input", function()
    local add = nn.Add()
    local y = add:forward(nn.tensor{{1, 2}}, nn.tensor{10, 20})
    H.assert_tensor(add:forward(y, nn.tensor{100, 200}), {{111, 222}}, H.EXACT)
  end)
end)
