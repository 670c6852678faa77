--- spec/module_spec.lua -- what every layer shares: live buffers, reuse,
-- training mode, parameters, and the errors around a pass.
local nn = require "nn"
local H = require "spec.helpers"

-- one of each layer, with an input it takes
local function each_layer ()
  return {
    { nn.Linear(4, 3), function (b) return nn.tensor.randn(b, 4) end },
    { nn.ReLU(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.LeakyReLU(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.Sigmoid(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.Tanh(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.Dropout(0.5), function (b) return nn.tensor.randn(b, 4) end },
    { nn.BatchNorm1d(4), function (b) return nn.tensor.randn(b, 4) end },
    { nn.Softmax(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.LogSoftmax(), function (b) return nn.tensor.randn(b, 4) end },
    { nn.Flatten(), function (b) return nn.tensor.randn(b, 2, 2) end },
    { nn.Identity(), function (b) return nn.tensor.randn(b, 4) end },
  }
end

describe("every layer", function()
  it("returns its live output and grad_input, the same tensors every call", function()
    for _, case in ipairs(each_layer()) do
      local m, input = case[1], case[2]
      local y = m:forward(input(3))
      assert.are.equal(m.output, y, tostring(m))
      local dx = m:backward(nn.tensor.ones(y:size()))
      assert.are.equal(m.grad_input, dx, tostring(m))
      assert.are.equal(y, m:forward(input(3)), tostring(m))
    end
  end)

  it("reuses its buffers while the batch shape stays: the memory does not move", function()
    for _, case in ipairs(each_layer()) do
      local m, input = case[1], case[2]
      if m.name ~= "Flatten" and m.name ~= "Identity" then   -- those are views of the input
        local y = m:forward(input(5))
        local dx = m:backward(nn.tensor.ones(y:size()))
        local py, pdx = y:data_ptr(), dx:data_ptr()
        for _ = 1, 3 do
          m:forward(input(5))
          m:backward(nn.tensor.ones(y:size()))
        end
        assert.are.equal(py, m.output:data_ptr(), tostring(m))
        assert.are.equal(pdx, m.grad_input:data_ptr(), tostring(m))
        -- a smaller batch fits in the same memory too
        m:forward(input(2))
        assert.are.equal(py, m.output:data_ptr(), tostring(m))
      end
    end
  end)

  it("is called as a function: layer(x) is layer:forward(x)", function()
    local m = nn.ReLU()
    assert.are.equal(m.output, m(nn.tensor{{-1, 1}}))
    assert.are.same({{0, 1}}, m.output:totable())
  end)

  it("refuses backward before forward, naming the layer", function()
    for _, case in ipairs(each_layer()) do
      local m = case[1]
      H.assert_error_has(function () m:backward(nn.tensor.ones(2, 3)) end,
                         {m.name, "backward before forward"})
    end
  end)

  it("refuses backward after a forward that failed", function()
    local m = nn.Linear(4, 3)
    m:forward(nn.tensor.randn(2, 4))
    pcall(m.forward, m, nn.tensor.randn(2, 5))
    H.assert_error_has(function () m:backward(nn.tensor.ones(2, 3)) end,
                       {"Linear: backward before forward"})
  end)

  it("refuses a grad_output that is not the output's shape, naming both", function()
    local m = nn.Linear(4, 3)
    m:forward(nn.tensor.randn(2, 4))
    H.assert_error_has(function () m:backward(nn.tensor.ones(3, 2)) end,
                       {"bad argument #1 to 'backward'", "Linear: grad_output must have the output's shape [2x3], got [3x2]"})
  end)

  it("names the argument for a value that is not a tensor", function()
    H.assert_error_has(function () nn.ReLU():forward("x") end,
                       {"bad argument #1 to 'forward'", "nn.Tensor expected, got string"})
    H.assert_error_has(function () nn.ReLU().forward(nn.tensor{1}, nn.tensor{1}) end,
                       {"nn.Module expected"})
  end)

  it("switches between training and evaluation, chainably", function()
    local m = nn.Dropout()
    assert.is_true(m.training)
    assert.are.equal(m, m:evaluate())
    assert.is_false(m.training)
    assert.is_true(m:train().training)
    assert.is_false(m:train(false).training)
    assert.is_false(m:train():eval().training)
  end)

  it("lists its live parameters and gradients, with their names", function()
    local m = nn.Linear(2, 3)
    local p, g, names = m:parameters()
    assert.are.equal(m.weight, p[1]); assert.are.equal(m.bias, p[2])
    assert.are.equal(m.grad_weight, g[1]); assert.are.equal(m.grad_bias, g[2])
    assert.are.same({"weight", "bias"}, names)
    p[1]:fill_(0.5)                              -- the very weights the layer uses
    assert.are.same({{1, 1, 1}}, m:forward(nn.tensor{{1, 1}}):totable())
  end)

  it("does not let a field be assigned: parameters change in place", function()
    local m = nn.Linear(2, 3)
    H.assert_error_has(function () m.weight = nn.tensor.zeros(3, 2) end,
                       {"Linear: field 'weight' cannot be assigned", "layer.weight:copy(t)"})
  end)

  it("shows its buffers by name", function()
    local d = nn.Dropout(0.5)
    d:forward(nn.tensor.ones(2, 2))
    assert.are.equal(d.mask, d:buffers().mask)
    assert.is_nil(next(nn.ReLU():buffers()))
  end)
end)

describe("at the prompt", function()
  it("the issue's line prints the live gradient", function()
    local base = os.tmpname()
    H.write_file(base, "l = nn.Linear(3, 2); y = l:forward(nn.tensor.randn(4, 3)); "
                 .. "l:backward(nn.tensor.ones(4, 2)); l.grad_weight\n")
    local h = io.popen(("%s -i < %s 2>&1"):format(H.shell_quote(H.NNLUA), H.shell_quote(base)))
    local out = h:read("a")
    h:close()
    os.remove(base)
    assert.truthy(out:find("nn.Tensor[2x3] float32 device=cpu", 1, true), out)
  end)
end)

describe("a layer's buffers while something views them", function()
  it("stay in place under a Flatten that views them, and under a user's view", function()
    local l, f = nn.Linear(4, 6), nn.Flatten()
    local x = nn.tensor.randn(3, 4)
    f:forward(l:forward(x))
    local seen = l.output:view(-1)           -- a user's view of the live output
    local p = l.output:data_ptr()
    for _ = 1, 3 do f:forward(l:forward(x)) end
    assert.are.equal(p, l.output:data_ptr())
    assert.are.equal(p, f.output:data_ptr())
    assert.are.equal(p, seen:data_ptr())     -- the view still follows the layer
  end)
end)
