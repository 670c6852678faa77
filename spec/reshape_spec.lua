--- spec/reshape_spec.lua -- nn.Flatten and nn.Identity: views, no copies.
local nn = require "nn"
local H = require "spec.helpers"

describe("nn.Flatten", function()
  it("turns (B, d1, d2, ...) into (B, d1*d2*...) sharing the input's storage", function()
    local x = nn.tensor.arange(0, 24):view(2, 3, 4)
    local f = nn.Flatten()
    local y = f:forward(x)
    assert.are.same({2, 12}, y:size())
    assert.are.equal(13, y:get(2, 2))
    x:set(2, 1, 2, 100)                 -- the same memory
    assert.are.equal(100, y:get(2, 2))
  end)

  it("gives grad_input in the input's shape", function()
    local f = nn.Flatten()
    f:forward(nn.tensor.zeros(2, 1, 3))
    local g = f:backward(nn.tensor{{1, 2, 3}, {4, 5, 6}})
    assert.are.same({{{1, 2, 3}}, {{4, 5, 6}}}, g:totable())
  end)

  it("makes a 1-D input (B) into (B, 1)", function()
    assert.are.same({3, 1}, nn.Flatten():forward(nn.tensor{1, 2, 3}):size())
  end)

  it("passes gradcheck", function()
    nn.manual_seed(31)
    H.assert_gradcheck(nn.Flatten(), nn.tensor.randn(2, 3, 2))
    H.assert_gradcheck(nn.Flatten(), nn.tensor.randn(1, 4, 1, 2))
  end)

  it("keeps the same output tensor across calls, whatever it views", function()
    local f = nn.Flatten()
    local y = f:forward(nn.tensor.zeros(2, 3, 4))
    assert.are.equal(y, f:forward(nn.tensor.ones(5, 2, 2)))
    assert.are.same({5, 4}, y:size())   -- the Lua value follows the layer
  end)

  it("rejects a scalar, naming the layer", function()
    H.assert_error_has(function () nn.Flatten():forward(nn.tensor.ones(2):sum(1, true):view()) end,
                       {"Flatten"})
  end)
end)

describe("nn.Identity", function()
  it("returns its input and passes the gradient through", function()
    local m = nn.Identity()
    assert.are.same({{1, 2}}, m:forward(nn.tensor{{1, 2}}):totable())
    assert.are.same({{3, 4}}, m:backward(nn.tensor{{3, 4}}):totable())
    nn.manual_seed(32)
    H.assert_gradcheck(m, nn.tensor.randn(3, 2))
    assert.are.equal("nn.Identity", tostring(m))
  end)
end)

describe("nn.Flatten of an empty batch", function()
  it("keeps the features: [0x3x4] -> [0x12], not [0x0] (issue 13)", function()
    local f = nn.Flatten()
    assert.are.same({ 0, 12 }, f:forward(nn.tensor.zeros(0, 3, 4)):size())
    assert.are.same({ 0, 3, 4 }, f:backward(nn.tensor.zeros(0, 12)):size())
  end)
end)
