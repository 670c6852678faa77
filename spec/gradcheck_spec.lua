--- spec/gradcheck_spec.lua -- nn.gradcheck itself: what it reports, that it
-- can fail, and that it leaves the layer as it found it.
local nn = require "nn"
local H = require "spec.helpers"

-- y = 3x written in Lua, with a backward that is right or off by `factor`
local function scale_layer (factor)
  return {
    forward = function (self, x) self.output = x * 3 return self.output end,
    backward = function (_, g) return g * (3 * factor) end,
  }
end

describe("nn.gradcheck", function()
  it("passes a right layer written in Lua, and reports its worst errors", function()
    nn.manual_seed(1)
    local ok, r = nn.gradcheck(scale_layer(1), nn.tensor.randn(2, 3))
    assert.is_true(ok)
    assert.are.equal(6, r.checked)
    assert.is_true(r.max_abs < 1e-3, tostring(r))
    assert.truthy(r.where_abs:find("^input%[%d%]%[%d%]$"), r.where_abs)
    assert.truthy(tostring(r):find("^gradcheck ok: 6 entries"), tostring(r))
  end)

  it("fails a gradient 5% off, and says where and by how much", function()
    -- (1% would pass: rtol = 1e-2 leaves room for the truncation error
    -- where the third derivative is large, as log's near 0; see gradcheck.lua)
    nn.manual_seed(2)
    local ok, r = nn.gradcheck(scale_layer(1.05), nn.tensor.full(1, 2, 1))
    assert.is_false(ok)
    assert.are.equal("input[1][1]", r.failed_at)
    H.assert_close(r.failed_numeric / r.failed_analytic, 1 / 1.05, 1e-3)
    assert.truthy(tostring(r):find("FAILED", 1, true))
  end)

  it("takes its tolerances as options", function()
    nn.manual_seed(3)
    local x = nn.tensor.randn(2, 2)
    assert.is_false((nn.gradcheck(scale_layer(1.05), x)))
    assert.is_true((nn.gradcheck(scale_layer(1.05), x, {rtol = 0.1})))
  end)

  it("checks a loss against its target, and every parameter of a layer", function()
    nn.manual_seed(4)
    local _, r = nn.gradcheck(nn.MSELoss(), nn.tensor.randn(2, 3), nn.tensor.randn(2, 3))
    assert.are.equal(6, r.checked)
    local _, r2 = nn.gradcheck(nn.Linear(3, 2), nn.tensor.randn(4, 3), {h = 1e-2})
    assert.are.equal(12 + 6 + 2, r2.checked)
  end)

  it("leaves parameters, accumulated gradients and the random state as they were", function()
    nn.manual_seed(5)
    local l = nn.Linear(3, 2)
    l:forward(nn.tensor.ones(1, 3))
    l:backward(nn.tensor.ones(1, 2))                -- grad_weight = 1s, to keep
    local w, gw = l.weight:clone(), l.grad_weight:clone()
    nn.gradcheck(l, nn.tensor.randn(2, 3))
    assert.are.same(w:totable(), l.weight:totable())
    assert.are.same(gw:totable(), l.grad_weight:totable())
  end)

  it("raises for an input that is not a tensor, or an object with no backward", function()
    H.assert_error_has(function () nn.gradcheck(nn.ReLU(), {1, 2}) end,
                       {"gradcheck: input must be an nn.Tensor"})
    H.assert_error_has(function () nn.gradcheck({forward = function () end}, nn.tensor{1}) end,
                       {"gradcheck: expected a layer or a loss"})
  end)
end)
