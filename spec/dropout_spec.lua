--- spec/dropout_spec.lua -- nn.Dropout: inverted scaling, seeded, identity in evaluation.
local nn = require "nn"
local H = require "spec.helpers"

describe("nn.Dropout", function()
  it("zeroes about p of the elements and scales the rest by 1/(1-p)", function()
    nn.manual_seed(1)
    local d = nn.Dropout(0.25)
    local y = d:forward(nn.tensor.ones(100, 100))
    local kept = (y:sum() * 0.75)          -- each survivor is 1 / 0.75
    -- 10,000 Bernoulli(0.75) draws: std sqrt(n p (1-p)) ~ 43; allow 5 std
    assert.is_true(math.abs(kept - 7500) < 220, "kept " .. kept)
    H.assert_close(y:max(), 1 / 0.75, H.ROUND)
    assert.are.equal(0, y:min())
  end)

  it("backward multiplies by the same mask", function()
    nn.manual_seed(2)
    local d = nn.Dropout(0.5)
    local y = d:forward(nn.tensor.ones(4, 6))
    local g = d:backward(nn.tensor.ones(4, 6))
    assert.are.same(y:totable(), g:totable())
    assert.are.same(y:totable(), d.mask:totable())
  end)

  it("draws the same mask after the same seed", function()
    nn.manual_seed(3)
    local a = nn.Dropout(0.5):forward(nn.tensor.ones(3, 8)):clone()
    nn.manual_seed(3)
    local b = nn.Dropout(0.5):forward(nn.tensor.ones(3, 8)):clone()
    assert.are.same(a:totable(), b:totable())
  end)

  it("is the identity in evaluation mode, and in backward too", function()
    local d = nn.Dropout(0.9):evaluate()
    assert.is_false(d.training)
    local x = nn.tensor{{1, 2}, {3, 4}}
    assert.are.same(x:totable(), d:forward(x):totable())
    assert.are.same({{5, 6}, {7, 8}}, d:backward(nn.tensor{{5, 6}, {7, 8}}):totable())
    assert.is_true(d:train().training)
  end)

  it("with p = 0 is the identity, and draws no random numbers", function()
    local _, before = nn.get_rng_state()
    local d = nn.Dropout(0)
    assert.are.same({{1, -2}}, d:forward(nn.tensor{{1, -2}}):totable())
    assert.are.same({{3, 4}}, d:backward(nn.tensor{{3, 4}}):totable())
    local _, after = nn.get_rng_state()
    assert.are.equal(before, after)
  end)

  it("with p = 1 outputs zeros and passes no gradient, as PyTorch", function()
    local d = nn.Dropout(1)
    assert.are.same({{0, 0, 0}}, d:forward(nn.tensor{{1, -2, 3}}):totable())
    assert.are.same({{0, 0, 0}}, d:backward(nn.tensor{{1, 1, 1}}):totable())
  end)

  it("passes gradcheck in training (one mask for every forward) and evaluation", function()
    nn.manual_seed(4)
    H.assert_gradcheck(nn.Dropout(0.5), nn.tensor.randn(4, 5))
    H.assert_gradcheck(nn.Dropout(0.3), nn.tensor.randn(1, 7))
    H.assert_gradcheck(nn.Dropout(0.5):evaluate(), nn.tensor.randn(2, 3))
  end)

  it("gradcheck fails on a backward that forgets the 1/(1-p) scale", function()
    local inner = nn.Dropout(0.5)
    local broken = {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g) return inner:backward(g) * 0.5 end,
    }
    nn.manual_seed(5)
    assert.is_false((nn.gradcheck(broken, nn.tensor.randn(4, 5))))
  end)

  it("takes p positionally or as an option, 0.5 by default, and only in [0, 1]", function()
    H.assert_close(nn.Dropout().p, 0.5, H.EXACT)
    H.assert_close(nn.Dropout{p = 0.2}.p, 0.2, H.ROUND)
    assert.are.equal("nn.Dropout(p=0.5)", tostring(nn.Dropout()))
    H.assert_error_has(function () nn.Dropout(1.5) end, {"p must be in [0, 1]"})
    H.assert_error_has(function () nn.Dropout(-0.1) end, {"p must be in [0, 1]"})
    H.assert_error_has(function () nn.Dropout(0 / 0) end, {"p must be in [0, 1]"})
  end)
end)
