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

describe("nn.gradcheck on a function of tensors (the autograd engine's gradients)", function()
  it("checks every input that requires grad, and only those", function()
    nn.manual_seed(6)
    local x = nn.tensor.randn(3, 2):requires_grad_()
    local w = nn.tensor.randn(2, 4):requires_grad_()
    local c = nn.tensor.randn(3, 4)                          -- a constant
    local ok, r = nn.gradcheck(function (a, b, k) return a:matmul(b):tanh() * k end, { x, w, c })
    assert.is_true(ok, tostring(r))
    assert.are.equal(6 + 8, r.checked)
    assert.truthy(r.where_abs:find("^input [12]%[%d%]%[%d%]$"), r.where_abs)
  end)

  it("runs fn once for the engine's gradient and twice per entry for the differences", function()
    local x = nn.tensor{ 0.5, -1, 2 }:requires_grad_()
    local calls = 0
    local ok = nn.gradcheck(function (a) calls = calls + 1; return a:exp() end, { x })
    assert.is_true(ok)
    assert.are.equal(1 + 2 * 3, calls)
  end)

  it("fails a formula whose recorded op has a wrong derivative, naming the input", function()
    nn.manual_seed(7)
    local D = nn.autograd.derivatives
    local right = D.sin
    D.sin = function (n, g, s) return right(n, g, s) * 0.9 end
    local ok, passed, r = pcall(nn.gradcheck, function (a) return a:sin() end,
                                { nn.tensor.full(1, 2, 0.5):requires_grad_() })
    D.sin = right
    assert.is_true(ok, tostring(passed))
    assert.is_false(passed)
    assert.truthy(r.failed_at:find("^input 1%[1%]%[[12]%]$"), r.failed_at)
    H.assert_close(r.failed_analytic / r.failed_numeric, 0.9, 1e-3)
  end)

  it("leaves the inputs' grad and values as they were", function()
    nn.manual_seed(8)
    local x = nn.tensor.randn(2, 2):requires_grad_()
    x.grad = nn.tensor.ones(2, 2)
    local before = x:detach():clone()
    nn.gradcheck(function (a) return a:exp() end, { x })
    assert.are.same({ { 1, 1 }, { 1, 1 } }, x.grad:totable())
    assert.are.same(before:totable(), x:detach():totable())
  end)

  it("raises for inputs that are not a list of tensors, none requiring grad, or no recorded output", function()
    local f = function (a) return a * 2 end
    H.assert_error_has(function () nn.gradcheck(f, nn.tensor{ 1 }) end,
                       { "gradcheck: for a function, inputs must be a list of tensors {x, w, ...}, got a tensor (write {x})" })
    H.assert_error_has(function () nn.gradcheck(f, { 3 }) end,
                       { "gradcheck: input 1 must be a tensor, got number" })
    H.assert_error_has(function () nn.gradcheck(f, { nn.tensor{ 1 } }) end,
                       { "gradcheck: no input requires grad" })
    H.assert_error_has(function () nn.gradcheck(function () return 3 end, { nn.tensor{ 1 }:requires_grad_() }) end,
                       { "gradcheck: fn must return a tensor made by recorded ops from its inputs, got number" })
    H.assert_error_has(function () nn.gradcheck(f, { nn.tensor{ 1 }:requires_grad_() }, 5) end,
                       { "gradcheck: opts must be a table {h, atol, rtol}, got number" })
  end)
end)
