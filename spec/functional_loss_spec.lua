--- spec/functional_loss_spec.lua -- what every loss type shares: nn.functional
-- (nn.F), the self-description of each type (doc, options with kinds,
-- defaults and ranges), the generic constructor's checks, crit:config() and
-- nn.core.loss_types.  The math of each pair is in spec/loss_*_spec.lua.
local nn = require "nn"
local H = require "spec.helpers"
local core = require "nn.core"     -- the C core itself (init.lua drops it from package.loaded)

local TYPES = { "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
                "NLLLoss", "CategoricalCrossentropy" }

-- an input and a target each loss takes
local function data_for (name)
  nn.manual_seed(3)
  if name == "MSELoss" or name == "L1Loss" then return nn.tensor.randn(3, 4), nn.tensor.randn(3, 4) end
  if name == "BCELoss" then return nn.tensor.rand(3, 4) * 0.8 + 0.1, nn.tensor.rand(3, 4) end
  if name == "BCEWithLogitsLoss" then return nn.tensor.randn(3, 4), nn.tensor.rand(3, 4) end
  if name == "CategoricalCrossentropy" then return nn.tensor.rand(3, 4) + 0.1, nn.tensor{ 1, 4, 2 } end
  return nn.tensor.randn(3, 4), nn.tensor{ 1, 4, 2 }
end

describe("nn.functional", function()
  it("is nn.F, and holds a forward and a backward for every loss", function()
    assert.are.equal(nn.functional, nn.F)
    assert.are.equal(core.functional, nn.functional)
    for _, f in ipairs{ "mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss", "cross_entropy",
                        "nll_loss", "categorical_crossentropy" } do
      assert.are.equal("function", type(nn.F[f]), f)
      assert.are.equal("function", type(nn.F[f .. "_backward"]), f .. "_backward")
    end
  end)

  it("gives what the loss objects give, bit for bit", function()
    local pairs_of = { MSELoss = "mse_loss", L1Loss = "l1_loss", BCELoss = "bce_loss",
                       BCEWithLogitsLoss = "bce_with_logits_loss", CrossEntropyLoss = "cross_entropy",
                       NLLLoss = "nll_loss", CategoricalCrossentropy = "categorical_crossentropy" }
    for _, name in ipairs(TYPES) do
      local x, t = data_for(name)
      local f, extra = pairs_of[name], name == "CategoricalCrossentropy" and { 1e-7 } or {}
      for _, red in ipairs{ "mean", "sum" } do
        local args = { table.unpack(extra) }
        args[#args + 1] = red
        local crit = nn[name]{ reduction = red }
        assert.are.equal(crit:forward(x, t), nn.F[f](x, t, table.unpack(args)), name .. " " .. red)
        H.assert_tensor(nn.F[f .. "_backward"](x, t, table.unpack(args)), crit:backward():totable(),
                        H.EXACT, name .. " " .. red)
      end
    end
  end)
end)

describe("loss types describe themselves", function()
  it("nn.core.loss_types lists every loss, by the constructor nn.<Name>", function()
    local n = 0
    for name, ctor in pairs(core.loss_types) do
      n = n + 1
      assert.are.equal(nn[name], ctor, name)
    end
    assert.are.equal(#TYPES, n)
    for _, name in ipairs(TYPES) do assert.is_function(core.loss_types[name], name) end
  end)

  it("each says in one line what it takes", function()
    local takes = { MSELoss = "values", L1Loss = "values", BCELoss = "probabilities",
                    BCEWithLogitsLoss = "logits", CrossEntropyLoss = "logits",
                    NLLLoss = "log-probabilities", CategoricalCrossentropy = "probabilities" }
    for _, name in ipairs(TYPES) do
      local doc = nn[name]().doc
      assert.is_string(doc, name)
      assert.truthy(doc:find(takes[name], 1, true), name .. ": " .. doc)
      assert.truthy(doc:find("target", 1, true) or doc:find("indices", 1, true), name .. ": " .. doc)
      assert.is_nil(doc:find("\n", 1, true), name)
    end
  end)

  it("reads its options generically: reduction everywhere, eps on CategoricalCrossentropy", function()
    for _, name in ipairs(TYPES) do
      assert.are.equal("mean", nn[name]().reduction, name)
      assert.are.equal("sum", nn[name]{ reduction = "sum" }.reduction, name)
      if name ~= "CategoricalCrossentropy" then assert.is_nil(nn[name]().eps, name) end
    end
    -- stored as a double: the default prints as it was written
    assert.are.equal(1e-07, nn.CategoricalCrossentropy().eps)
    assert.are.equal("1e-07", tostring(nn.CategoricalCrossentropy().eps))
    assert.are.equal(0.1, nn.CategoricalCrossentropy{ eps = 0.1 }.eps)
    assert.are.equal(0, nn.CategoricalCrossentropy{ eps = 0 }.eps)
    assert.are.equal("nn.CategoricalCrossentropy(reduction=sum, eps=0.25)",
                     tostring(nn.CategoricalCrossentropy{ reduction = "sum", eps = 0.25 }))
  end)

  it("config() is {type, options...}, and nn.core.loss_types[cfg.type](cfg) rebuilds the loss", function()
    assert.are.same({ type = "CategoricalCrossentropy", reduction = "mean", eps = 1e-07 },
                    nn.CategoricalCrossentropy():config())
    assert.are.same({ type = "MSELoss", reduction = "sum" }, nn.MSELoss{ reduction = "sum" }:config())
    for _, name in ipairs(TYPES) do
      for _, opts in ipairs{ {}, { reduction = "sum" } } do
        if name == "CategoricalCrossentropy" then opts.eps = 0.125 end
        local crit = nn[name](opts)
        local cfg = crit:config()
        local again = core.loss_types[cfg.type](cfg)
        assert.are.same(cfg, again:config())
        assert.are.equal(tostring(crit), tostring(again))
        local x, t = data_for(name)
        assert.are.equal(crit:forward(x, t), again:forward(x, t), name)
      end
    end
  end)
end)

describe("the loss constructors check their options against the description", function()
  it("reject an unknown option, naming the loss and its options", function()
    H.assert_error_has(function () nn.L1Loss{ reduce = "sum" } end,
      { "bad argument #1 to 'L1Loss'", "L1Loss has no option 'reduce' (options: reduction)" })
    H.assert_error_has(function () nn.CategoricalCrossentropy{ epsilon = 1e-3 } end,
      { "CategoricalCrossentropy has no option 'epsilon' (options: reduction, eps)" })
    H.assert_error_has(function () nn.MSELoss{ "sum" } end, { "MSELoss has no option '1'" })
  end)

  it("reject a value of the wrong type, saying what the option takes", function()
    H.assert_error_has(function () nn.CategoricalCrossentropy{ eps = "tiny" } end,
      { "bad argument #1 to 'CategoricalCrossentropy'",
        "CategoricalCrossentropy: eps must be a number, got string" })
    H.assert_error_has(function () nn.NLLLoss{ reduction = 1 } end,
      { "bad argument #1 to 'NLLLoss'", "NLLLoss: reduction must be 'mean' or 'sum', got number" })
    H.assert_error_has(function () nn.BCELoss{ reduction = "none" } end,
      { "BCELoss: reduction must be 'mean' or 'sum', got 'none'" })
    H.assert_error_has(function () nn.CrossEntropyLoss("sum") end,
      { "bad argument #1 to 'CrossEntropyLoss'", "table expected, got string" })
  end)

  it("reject a number out of its range, giving the range", function()
    for _, eps in ipairs{ 0.5, 1, -1e-9, 0 / 0 } do
      H.assert_error_has(function () nn.CategoricalCrossentropy{ eps = eps } end,
        { "bad argument #1 to 'CategoricalCrossentropy'",
          "CategoricalCrossentropy: eps must be in [0, 0.5), got" })
    end
    -- the bounds: 0 is in, just below 0.5 is in
    assert.are.equal(0.499, nn.CategoricalCrossentropy{ eps = 0.499 }.eps)
  end)

  it("take a config's type only when it is their own", function()
    H.assert_error_has(function () nn.MSELoss{ type = "L1Loss" } end,
      { "bad argument #1 to 'MSELoss'", "MSELoss: the config is of type L1Loss" })
    assert.are.equal("sum", nn.MSELoss{ type = "MSELoss", reduction = "sum" }.reduction)
  end)

  it("keep the options read-only", function()
    local cce = nn.CategoricalCrossentropy()
    H.assert_error_has(function () cce.eps = 0.1 end, { "field 'eps' cannot be assigned" })
    assert.is_nil(cce.no_such_field)
  end)
end)

-- On a GPU: x sets the device, so a target elsewhere is blamed (#2); the
-- pairs called without a module make their own scratch on the device.
describe("nn.functional on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  it("blames a target on another device, by role", function()
    local x, t = nn.tensor.randn(2, 3), nn.tensor.randn(2, 3)
    H.assert_error_has(function () nn.F.mse_loss(x:cuda(), t) end,
      { "bad argument #2 to 'mse_loss'", "MSELoss: input is on cuda, target on cpu" })
    H.assert_error_has(function () nn.CrossEntropyLoss():forward(x:cuda(), nn.tensor{ 1, 2 }) end,
      { "bad argument #2 to 'forward'", "CrossEntropyLoss: input is on cuda, target on cpu" })
  end)

  it("gives the CPU's loss and gradient (H.LIBM: see spec/loss_*_spec.lua)", function()
    local x, t = nn.tensor.randn(40, 5), nn.tensor.rand(40, 5)
    H.assert_close(nn.F.bce_with_logits_loss(x:cuda(), t:cuda()), nn.F.bce_with_logits_loss(x, t),
                   H.LIBM)
    H.assert_tensor(nn.F.cross_entropy_backward(x:cuda(), t:cuda()):cpu(),
                    nn.F.cross_entropy_backward(x, t):totable(), H.LIBM)
  end)
end)
