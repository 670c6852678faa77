--- spec/join_spec.lua -- nn.Add and nn.Concat: layers of several inputs,
-- their values, their gradients (each input checked by central differences
-- through a one-input view of the layer), and their errors.
local nn = require "nn"
local H = require "spec.helpers"

local TOL = { h = 1e-2, atol = 1e-3, rtol = 1e-2 }

-- The layer seen as a function of input k alone, the others fixed, so that
-- nn.gradcheck (one input) checks dL/dx_k.  `scale` breaks the backward on
-- purpose (1: the real one).
local function one_input (layer, inputs, k, scale)
  local view = {}
  function view:forward (x)
    local args = {}
    for i, t in ipairs(inputs) do args[i] = i == k and x or t end
    return layer:forward(table.unpack(args))
  end
  function view:backward (g)
    local grads = { layer:backward(g) }
    return grads[k] * (scale or 1)
  end
  return view
end

describe("nn.Add", function()
  it("adds two tensors of one shape, and a row broadcast over the leading dims, either way round", function()
    local add = nn.Add()
    H.assert_tensor(add:forward(nn.tensor{{1, 2}, {3, 4}}, nn.tensor{{10, 20}, {30, 40}}),
                    {{11, 22}, {33, 44}}, H.EXACT)
    H.assert_tensor(add:forward(nn.tensor{{1, 2}, {3, 4}}, nn.tensor{10, 20}),
                    {{11, 22}, {13, 24}}, H.EXACT)
    H.assert_tensor(add:forward(nn.tensor{10, 20}, nn.tensor{{1, 2}, {3, 4}}),
                    {{11, 22}, {13, 24}}, H.EXACT)
    local y = add:forward(nn.tensor.ones(2, 3, 4), nn.tensor.ones(3, 4))
    assert.are.same({2, 3, 4}, y:size())
  end)

  it("backward: dL/da = g, and dL/db sums g over the dims b was repeated along", function()
    local add = nn.Add()
    add:forward(nn.tensor.ones(2, 3), nn.tensor.ones(3))
    local ga, gb = add:backward(nn.tensor{{1, 2, 3}, {4, 5, 6}})
    H.assert_tensor(ga, {{1, 2, 3}, {4, 5, 6}}, H.EXACT)
    H.assert_tensor(gb, {5, 7, 9}, H.EXACT)
    assert.are.equal(gb, add.grad_input2)           -- the live buffer of input 2
  end)

  it("passes gradcheck for each input, broadcast or not, and the check fails on a wrong gradient", function()
    nn.manual_seed(11)
    for _, shapes in ipairs{ {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{4}, {2, 3, 4}} } do
      local inputs = { nn.tensor.randn(shapes[1]), nn.tensor.randn(shapes[2]) }
      for k = 1, 2 do
        local ok, report = nn.gradcheck(one_input(nn.Add(), inputs, k), inputs[k], TOL)
        assert.is_true(ok, tostring(report))
      end
    end
    local inputs = { nn.tensor.randn(3, 4), nn.tensor.randn(4) }
    assert.is_false((nn.gradcheck(one_input(nn.Add(), inputs, 2, 1.5), inputs[2], TOL)))
  end)

  it("names the inputs that do not broadcast, and wants two inputs", function()
    local add = nn.Add()
    H.assert_error_has(function () add:forward(nn.tensor.ones(2, 3), nn.tensor.ones(2)) end,
                       {"bad argument #2 to 'forward'", "[2x3] and [2] do not broadcast"})
    H.assert_error_has(function () add:forward(nn.tensor.ones(2, 3)) end,
                       {"Add takes 2 inputs, got 1"})
  end)
end)

describe("nn.Concat", function()
  it("joins along dim 1, 2 or -1 (the last)", function()
    local a, b = nn.tensor{{1, 2}, {3, 4}}, nn.tensor{{5, 6}}
    H.assert_tensor(nn.Concat(1):forward(a, b), {{1, 2}, {3, 4}, {5, 6}}, H.EXACT)
    H.assert_tensor(nn.Concat(2):forward(a, nn.tensor{{7}, {8}}), {{1, 2, 7}, {3, 4, 8}}, H.EXACT)
    H.assert_tensor(nn.Concat(-1):forward(a, a, a), {{1, 2, 1, 2, 1, 2}, {3, 4, 3, 4, 3, 4}}, H.EXACT)
    local y = nn.Concat(2):forward(nn.tensor.ones(2, 1, 3), nn.tensor.zeros(2, 2, 3))
    assert.are.same({2, 3, 3}, y:size())
    assert.are.equal(6, y:sum())
  end)

  it("backward cuts grad_output back into one piece per input", function()
    local c = nn.Concat(2)
    c:forward(nn.tensor.ones(2, 1), nn.tensor.ones(2, 2))
    local g1, g2 = c:backward(nn.tensor{{1, 2, 3}, {4, 5, 6}})
    H.assert_tensor(g1, {{1}, {4}}, H.EXACT)
    H.assert_tensor(g2, {{2, 3}, {5, 6}}, H.EXACT)
  end)

  it("passes gradcheck for each input along a middle dim, and fails on a wrong gradient", function()
    nn.manual_seed(12)
    local inputs = { nn.tensor.randn(2, 1, 3), nn.tensor.randn(2, 2, 3), nn.tensor.randn(2, 3, 3) }
    for k = 1, 3 do
      local ok, report = nn.gradcheck(one_input(nn.Concat(2), inputs, k), inputs[k], TOL)
      assert.is_true(ok, tostring(report))
    end
    assert.is_false((nn.gradcheck(one_input(nn.Concat(2), inputs, 2, -1), inputs[2], TOL)))
  end)

  it("names the input that does not fit, and a dim out of range", function()
    H.assert_error_has(function () nn.Concat(2):forward(nn.tensor.ones(2, 3), nn.tensor.ones(3, 1)) end,
                       {"bad argument #2 to 'forward'", "input 2 [3x1] does not fit input 1 [2x3]"})
    H.assert_error_has(function () nn.Concat(3):forward(nn.tensor.ones(2, 3), nn.tensor.ones(2, 3)) end,
                       {"dim 3 is out of range for a 2-D input"})
    H.assert_error_has(function () nn.Concat(0) end, {"Concat: dim must not be 0"})
  end)
end)
