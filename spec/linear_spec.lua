--- spec/linear_spec.lua -- nn.Linear (nn.Dense): y = x W^T + b, by hand and by finite differences.
local nn = require "nn"
local H = require "spec.helpers"

-- A Linear(3, 2) with the weights below, set in place through the live fields.
local function fixed_linear ()
  local l = nn.Linear(3, 2)
  l.weight:copy(nn.tensor{{0.1, -0.2, 0.3}, {0.5, 0.25, -1}})
  l.bias:copy(nn.tensor{0.5, -1})
  return l
end

-- The values below were computed by PyTorch 1.13 (x @ W.T + b and autograd)
-- from the same decimals.  Each output is a dot product of 3 terms plus the
-- bias: a few float32 roundings of decimal inputs, well inside 4 ulp
-- (H.ROUND) relative to max(1, |value|).
describe("nn.Linear", function()
  it("forward computes x W^T + b", function()
    local l = fixed_linear()
    local y = l:forward(nn.tensor{{1, 2, 3}, {-1, 0.5, 2}})
    H.assert_tensor(y, {{1.1, -3.0}, {0.9, -3.375}}, H.ROUND)
  end)

  it("backward gives dx = g W, dW = g^T x, db = sum of g over the batch", function()
    local l = fixed_linear()
    l:forward(nn.tensor{{1, 2, 3}, {-1, 0.5, 2}})
    local dx = l:backward(nn.tensor{{1, -2}, {0.5, 3}})
    H.assert_tensor(dx, {{-0.9, -0.7, 2.3}, {1.55, 0.65, -2.85}}, H.ROUND)
    H.assert_tensor(l.grad_weight, {{0.5, 2.25, 4.0}, {-5.0, -2.5, 0.0}}, H.ROUND)
    H.assert_tensor(l.grad_bias, {1.5, 1.0}, H.ROUND)
  end)

  it("accumulates parameter gradients over backward calls until zero_grad", function()
    local l = fixed_linear()
    local x, g = nn.tensor{{1, 2, 3}}, nn.tensor{{1, 1}}
    l:forward(x); l:backward(g)
    l:forward(x); l:backward(g)
    H.assert_tensor(l.grad_weight, {{2, 4, 6}, {2, 4, 6}}, H.EXACT)
    H.assert_tensor(l.grad_bias, {2, 2}, H.EXACT)
    l:zero_grad()
    H.assert_tensor(l.grad_weight, {{0, 0, 0}, {0, 0, 0}}, H.EXACT)
    H.assert_tensor(l.grad_bias, {0, 0}, H.EXACT)
  end)

  for _, shape in ipairs{ {1, 5, 3}, {4, 5, 3}, {7, 2, 6} } do
    local b, nin, nout = table.unpack(shape)
    it(("passes gradcheck for input, weight and bias at batch %d, %d -> %d"):format(b, nin, nout), function()
      nn.manual_seed(b * 100 + nin)
      local r = H.assert_gradcheck(nn.Linear(nin, nout), nn.tensor.randn(b, nin))
      assert.are.equal(b * nin + nout * nin + nout, r.checked)
    end)
  end

  it("passes gradcheck without a bias", function()
    nn.manual_seed(3)
    local l = nn.Linear(4, 2, {bias = false})
    assert.is_nil(l.bias)
    assert.is_nil(l.grad_bias)
    H.assert_gradcheck(l, nn.tensor.randn(3, 4))
  end)

  it("gradcheck fails on a grad_weight that misses the batch sum", function()
    -- a Lua layer around a real Linear whose grad_weight keeps only the
    -- first example's share: right at batch 1, wrong at batch 3
    local inner = nn.Linear(4, 2)
    local broken = {}
    function broken:forward (x) self.x = x return inner:forward(x) end
    function broken:backward (g)
      local dx = inner:backward(g)
      inner.grad_weight:zero_()
      inner.grad_weight:add_(g:narrow(1, 1, 1):matmul(self.x:narrow(1, 1, 1), true, false))
      return dx
    end
    function broken:parameters () return { inner.weight }, { inner.grad_weight } end
    nn.manual_seed(5)
    local ok1 = nn.gradcheck(broken, nn.tensor.randn(1, 4))
    local ok3, report = nn.gradcheck(broken, nn.tensor.randn(3, 4))
    assert.is_true(ok1)
    assert.is_false(ok3)
    assert.truthy(report.failed_at:find("^parameter 1"), report.failed_at)
  end)

  it("starts from Glorot uniform: |W| <= sqrt(6 / (in + out)), bias 0", function()
    nn.manual_seed(7)
    local l = nn.Linear(300, 100)
    local a = math.sqrt(6 / 400)
    assert.is_true(l.weight:abs():max() <= a)
    assert.is_true(l.weight:abs():max() > 0.95 * a)      -- the range is used
    -- U(-a, a) has variance a^2 / 3: within 5% over 30,000 draws
    H.assert_close(l.weight:var(), a * a / 3, 0.05 * a * a / 3)
    assert.are.equal(0, l.bias:abs():max())
  end)

  it("takes He normal: std sqrt(2 / in)", function()
    nn.manual_seed(8)
    local l = nn.Linear(200, 150, {init = "he_normal"})
    H.assert_close(l.weight:std(), math.sqrt(2 / 200), 0.03 * math.sqrt(2 / 200))
    local k = nn.Linear(200, 150, {init = "kaiming_uniform"})
    assert.is_true(k.weight:abs():max() <= math.sqrt(6 / 200))
  end)

  it("is seeded by nn.manual_seed", function()
    nn.manual_seed(42)
    local a = nn.Linear(4, 3).weight:clone()
    nn.manual_seed(42)
    local b = nn.Linear(4, 3).weight:clone()
    assert.are.same(a:totable(), b:totable())
  end)

  it("is also called Dense", function()
    assert.are.equal("nn.Linear(3 -> 2)", tostring(nn.Dense(3, 2)))
    assert.are.equal("nn.Linear(3 -> 2, no bias)", tostring(nn.Linear(3, 2, {bias = false})))
  end)

  it("names the layer and both shapes for a wrong input size", function()
    local l = nn.Linear(3, 2)
    H.assert_error_has(function () l:forward(nn.tensor.randn(4, 5)) end,
                       {"bad argument #1 to 'forward'", "Linear(3 -> 2)", "[B x 3]", "[4x5]"})
    H.assert_error_has(function () l:forward(nn.tensor.randn(3)) end, {"Linear(3 -> 2)", "[3]"})
  end)

  it("rejects bad sizes and options", function()
    H.assert_error_has(function () nn.Linear(0, 2) end, {"in_features must be a positive integer"})
    H.assert_error_has(function () nn.Linear(3, 2.5) end, {"out_features must be a positive integer"})
    H.assert_error_has(function () nn.Linear(3, 2, {biass = false}) end,
                       {"Linear has no option 'biass'", "bias, init"})
    H.assert_error_has(function () nn.Linear(3, 2, {init = "zeros"}) end,
                       {"init must be glorot_uniform"})
    H.assert_error_has(function () nn.Linear(3, 2, {bias = 1}) end, {"'bias' must be a boolean"})
  end)
end)

describe("nn.Dense with a fused activation", function()
  for _, act in ipairs{ "relu", "sigmoid", "tanh", "softmax", "log_softmax" } do
    it(("activation = '%s' passes gradcheck for input, weight and bias"):format(act), function()
      nn.manual_seed(7)
      -- relu: inputs kept away from the kink by the margin of randn_away
      H.assert_gradcheck(nn.Dense(5, 4, { activation = act }), H.randn_away(0.05, 3, 5))
    end)
  end

  it("computes f(x W^T + b) in its own output, as a Dense then the activation layer", function()
    nn.manual_seed(3)
    local x = nn.tensor.randn(4, 6)
    for act, layer in pairs{ relu = nn.ReLU(), tanh = nn.Tanh(), softmax = nn.Softmax() } do
      local fused = nn.Dense(6, 3, { activation = act })
      local plain = nn.Dense(6, 3)
      plain.weight:copy(fused.weight)
      local want = layer:forward(plain:forward(x))
      H.assert_tensor(fused:forward(x), want:totable(), H.ROUND, act)
      assert.are.equal(act, fused.activation)
    end
    assert.are.equal("linear", nn.Dense(2, 2).activation)   -- Keras's name for none
  end)

  it("forward{activation = false} leaves the activation out: the output is z, and the backward the gradient at z", function()
    nn.manual_seed(4)
    local x, g = nn.tensor.randn(3, 5), nn.tensor.randn(3, 2)
    local fused, plain = nn.Dense(5, 2, { activation = "tanh" }), nn.Dense(5, 2)
    plain.weight:copy(fused.weight)
    H.assert_tensor(fused:forward(x, { activation = false }), plain:forward(x):totable(), H.ROUND)
    H.assert_tensor(fused:backward(g), plain:backward(g):totable(), H.ROUND)
    H.assert_tensor(fused.grad_weight, plain.grad_weight:totable(), H.ROUND)
    -- and the next plain forward applies it again
    local z = fused:forward(x, { activation = false }):clone()
    H.assert_tensor(fused:forward(x), z:tanh():totable(), H.ROUND)
  end)

  it("rejects an unknown activation, and an unknown forward option", function()
    H.assert_error_has(function () nn.Dense(3, 2, { activation = "elu" }) end,
                       { "bad argument #3", "activation must be linear, relu, sigmoid" })
    local l = nn.Dense(3, 2)
    H.assert_error_has(function () l:forward(nn.tensor.randn(1, 3), { activaton = false }) end,
                       { "forward has no option 'activaton'" })
  end)

  it("describes itself with its activation", function()
    assert.are.equal("nn.Linear(3 -> 2, relu)", tostring(nn.Dense(3, 2, { activation = "relu" })))
  end)
end)

describe("nn.Linear backward without grad_input", function()
  it("computes the same parameter gradients, returns nothing, and leaves grad_input alone", function()
    nn.manual_seed(9)
    local x, g = nn.tensor.randn(4, 5), nn.tensor.randn(4, 3)
    local a, b = nn.Dense(5, 3, { activation = "tanh" }), nn.Dense(5, 3, { activation = "tanh" })
    b.weight:copy(a.weight)
    a:forward(x); b:forward(x)
    a:backward(g)
    local before = b.grad_input:clone()
    assert.is_nil(b:backward(g, { grad_input = false }))
    H.assert_tensor(b.grad_weight, a.grad_weight:totable(), H.EXACT)
    H.assert_tensor(b.grad_bias, a.grad_bias:totable(), H.EXACT)
    H.assert_tensor(b.grad_input, before:totable(), H.EXACT)
  end)
end)

describe("backward with accumulate = false", function()
  it("sets grad_weight and grad_bias to this backward's: zero_grad fused in", function()
    nn.manual_seed(10)
    local x, g = nn.tensor.randn(4, 5), nn.tensor.randn(4, 3)
    local l = nn.Dense(5, 3)
    l:forward(x)
    l:backward(g); l:backward(g)                  -- accumulated twice
    l:backward(g, { accumulate = false })                    -- then set once
    local once = nn.Dense(5, 3)
    once.weight:copy(l.weight)
    once:forward(x); once:backward(g)
    H.assert_tensor(l.grad_weight, once.grad_weight:totable(), H.EXACT)
    H.assert_tensor(l.grad_bias, once.grad_bias:totable(), H.EXACT)
  end)

  it("a layer that cannot overwrite (BatchNorm1d) is zeroed first, to the same effect", function()
    nn.manual_seed(11)
    local x, g = nn.tensor.randn(6, 4), nn.tensor.randn(6, 4)
    local bn = nn.BatchNorm1d(4)
    bn:forward(x); bn:backward(g); bn:backward(g)
    local twice = bn.grad_weight:clone()
    bn:backward(g, { accumulate = false })
    H.assert_tensor(bn.grad_weight, (twice / 2):totable(), H.ROUND)
  end)
end)
