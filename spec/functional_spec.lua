--- spec/functional_spec.lua -- the layers' pure pairs called directly, with
-- no module: nn.functional (nn.F), as a learner or the autograd engine calls
-- them.  Values by hand, and every backward pair against central differences
-- of its forward pair (nn.gradcheck through a two-line wrapper), with the
-- check shown to fail on a wrong gradient.
local nn = require "nn"
local H = require "spec.helpers"
local F = nn.functional

local TOL = { h = 1e-2, atol = 1e-3, rtol = 1e-2 }

-- {forward, backward} over a pair: forward(x) keeps x and y for backward(g)
local function pair (fwd, bwd)
  local p = {}
  function p:forward (x) self.x = x; self.y = fwd(x); return self.y end
  function p:backward (g) return bwd(g, self.x, self.y) end
  return p
end

describe("nn.functional: the pure pairs without a module", function()
  it("linear computes act(x W^T + b) by hand", function()
    local x = nn.tensor{{1, 2}, {3, 4}}
    local w = nn.tensor{{1, 0}, {0, 1}, {1, 1}}
    local b = nn.tensor{0.5, 0, -8}
    H.assert_tensor(F.linear(x, w, b), {{1.5, 2, -5}, {3.5, 4, -1}}, H.EXACT)
    H.assert_tensor(F.linear(x, w, b, "relu"), {{1.5, 2, 0}, {3.5, 4, 0}}, H.EXACT)
    H.assert_tensor(F.linear(x, w), {{1, 2, 3}, {3, 4, 7}}, H.EXACT)
  end)

  it("linear_backward: dx = g W, dW = g^T x, db = 1^T g (equations 4-6)", function()
    local x = nn.tensor{{1, 2}, {3, 4}}
    local w = nn.tensor{{1, 0}, {0, 1}, {1, 1}}
    local g = nn.tensor{{1, 0, 1}, {0, 2, 0}}
    local gx, gw, gb = F.linear_backward(g, x, w)
    H.assert_tensor(gx, {{2, 1}, {0, 2}}, H.EXACT)
    H.assert_tensor(gw, {{1, 2}, {6, 8}, {1, 2}}, H.EXACT)
    H.assert_tensor(gb, {1, 2, 1}, H.EXACT)
    local none, gw2, nob = F.linear_backward(g, x, w, { grad_input = false, bias = false })
    assert.is_nil(none); assert.is_nil(nob)
    H.assert_tensor(gw2, gw:totable(), H.EXACT)
  end)

  it("linear's pair passes gradcheck in x, and fails when dx misses a factor", function()
    nn.manual_seed(21)
    local w, b = nn.tensor.randn(3, 4), nn.tensor.randn(3)
    local ok, report = nn.gradcheck(pair(function (x) return F.linear(x, w, b, "tanh") end,
      function (g, x, y) return (F.linear_backward(F.activation_backward(g, y, "tanh"), x, w)) end),
      nn.tensor.randn(2, 4), TOL)
    assert.is_true(ok, tostring(report))
    assert.is_false((nn.gradcheck(pair(function (x) return F.linear(x, w, b) end,
      function (g, x) return F.linear_backward(g, x, w) * 0.9 end), nn.tensor.randn(2, 4), TOL)))
  end)

  it("every activation's pair passes gradcheck, from the output y (LeakyReLU from x)", function()
    nn.manual_seed(22)
    local x = nn.tensor.randn(3, 5)
    for _, act in ipairs{ "sigmoid", "tanh", "softmax", "log_softmax" } do
      local ok, report = nn.gradcheck(pair(function (t) return F.activation(t, act) end,
        function (g, _, y) return F.activation_backward(g, y, act) end), x, TOL)
      assert.is_true(ok, act .. ": " .. tostring(report))
    end
    local ok, report = nn.gradcheck(pair(function (t) return F.leaky_relu(t, 0.2) end,
      function (g, t) return F.leaky_relu_backward(g, t, 0.2) end), x, TOL)
    assert.is_true(ok, tostring(report))
    assert.is_false((nn.gradcheck(pair(function (t) return F.sigmoid(t) end,
      function (g, _, y) return F.activation_backward(g, y, "tanh") end), x, TOL)))
  end)

  it("dropout's pair: y = x * mask, dx = g * mask; the identity in evaluation", function()
    nn.manual_seed(23)
    local x = nn.tensor.ones(4, 50)
    local y, mask = F.dropout(x, 0.5)
    H.assert_tensor(y, mask:totable(), H.EXACT)
    for _, v in ipairs(H.flatten(mask:totable(), {})) do assert.is_true(v == 0 or v == 2) end
    H.assert_tensor(F.dropout_backward(nn.tensor.ones(4, 50) * 3, mask), (mask * 3):totable(), H.EXACT)
    local ye, me = F.dropout(x, 0.5, false)
    H.assert_tensor(ye, x:totable(), H.EXACT)
    assert.are.equal(0, me:numel())
  end)

  it("batch_norm's pair matches the layer, and its backward passes gradcheck", function()
    nn.manual_seed(24)
    local x = nn.tensor.randn(5, 3)
    local layer = nn.BatchNorm1d(3)
    local y, sm, si = F.batch_norm(x, nn.tensor.zeros(3), nn.tensor.ones(3),
                                   { weight = layer.weight, bias = layer.bias })
    H.assert_tensor(y, layer:forward(x):totable(), H.ROUND)
    H.assert_tensor(sm, layer.save_mean:totable(), H.ROUND)
    local gamma, saved_mean, saved_invstd = nn.tensor{1.5, -0.5, 2}, nil, nil
    local ok, report = nn.gradcheck(pair(
      function (t)
        local out
        out, saved_mean, saved_invstd = F.batch_norm(t, nn.tensor.zeros(3), nn.tensor.ones(3),
                                                     { weight = gamma })
        return out
      end,
      function (g, t) return (F.batch_norm_backward(g, t, saved_mean, saved_invstd, gamma)) end),
      x, TOL)
    assert.is_true(ok, tostring(report))
  end)

  it("add and concat pairs, and their backwards", function()
    local a, b = nn.tensor{{1, 2}, {3, 4}}, nn.tensor{10, 20}
    H.assert_tensor(F.add(a, b), {{11, 22}, {13, 24}}, H.EXACT)
    local ga, gb = F.add_backward(nn.tensor{{1, 2}, {3, 4}}, a, b)
    H.assert_tensor(ga, {{1, 2}, {3, 4}}, H.EXACT)
    H.assert_tensor(gb, {4, 6}, H.EXACT)
    H.assert_tensor(F.concat({a, nn.tensor{{5, 6}}}, 1), {{1, 2}, {3, 4}, {5, 6}}, H.EXACT)
    local gs = F.concat_backward(nn.tensor{{1, 2, 3}, {4, 5, 6}}, {nn.tensor.ones(2, 1), a}, 2)
    H.assert_tensor(gs[1], {{1}, {4}}, H.EXACT)
    H.assert_tensor(gs[2], {{2, 3}, {5, 6}}, H.EXACT)
  end)

  it("names the argument at fault", function()
    local x, w = nn.tensor.ones(2, 3), nn.tensor.ones(4, 5)
    H.assert_error_has(function () F.linear(x, w) end,
                       {"bad argument #1 to 'linear'", "x [2x3] does not fit weight [4x5]"})
    H.assert_error_has(function () F.linear(nn.tensor.ones(2, 5), w, nn.tensor.ones(3)) end,
                       {"bad argument #3 to 'linear'", "bias must be [4], got [3]"})
    H.assert_error_has(function () F.linear_backward(nn.tensor.ones(2, 3), nn.tensor.ones(2, 5), w) end,
                       {"bad argument #1 to 'linear_backward'", "grad_y must be [2x4]"})
    H.assert_error_has(function () F.add(nn.tensor.ones(2, 3), nn.tensor.ones(2)) end,
                       {"bad argument #2 to 'add'", "do not broadcast"})
  end)
end)
