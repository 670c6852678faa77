--- spec/dropout2d_spec.lua -- nn.Dropout2d: whole channels dropped, the rest
--- scaled by 1/(1-p), seeded, identity in evaluation, gradient g * mask.
local nn = require "nn"
local H = require "spec.helpers"

-- the value of every element of plane (b, c) of y if the plane is constant,
-- else nil
local function plane_value (y, b, c)
  local plane = y:narrow(1, b, 1):narrow(2, c, 1):clone():view(-1)
  local v = plane:get(1)
  for i = 2, plane:numel() do
    if plane:get(i) ~= v then return nil end
  end
  return v
end

describe("nn.Dropout2d", function()
  it("zeroes whole channels and scales the kept ones by exactly 1/(1-p)", function()
    nn.manual_seed(1)
    local d = nn.Dropout2d(0.25)
    local y = d:forward(nn.tensor.ones(6, 5, 3, 4))
    -- 1/(1-p) as a float32 (1/0.75 is no float32: the nearest one)
    local scale = nn.tensor{ 1 / (1 - 0.25) }:get(1)
    local dropped, kept = 0, 0
    for b = 1, 6 do
      for c = 1, 5 do
        local v = plane_value(y, b, c)
        assert.is_not_nil(v, ("plane (%d, %d) is not constant"):format(b, c))
        if v == 0 then dropped = dropped + 1
        else
          H.assert_close(v, scale, H.EXACT, "a kept plane")
          kept = kept + 1
        end
      end
    end
    assert.is_true(dropped > 0 and kept > 0, ("dropped %d, kept %d"):format(dropped, kept))
    -- the mask: one value per (b, c), broadcast over the plane
    assert.are.same({6, 5, 1, 1}, d.mask:size())
    for b = 1, 6 do
      for c = 1, 5 do assert.are.equal(plane_value(y, b, c), d.mask:get(b, c, 1, 1)) end
    end
  end)

  it("keeps the input's values within a kept plane: y = x / (1 - p)", function()
    nn.manual_seed(2)
    local x = nn.tensor.randn(2, 3, 4, 5)
    local d = nn.Dropout2d(0.5)
    local y = d:forward(x)
    for b = 1, 2 do
      for c = 1, 3 do
        local m = d.mask:get(b, c, 1, 1)
        local want = x:narrow(1, b, 1):narrow(2, c, 1) * m
        H.assert_tensor(y:narrow(1, b, 1):narrow(2, c, 1), want:totable(), H.EXACT)
      end
    end
  end)

  it("drops a fraction of the channels near p on a large input (seeded)", function()
    for _, p in ipairs{ 0.2, 0.5, 0.8 } do
      nn.manual_seed(3)
      local d = nn.Dropout2d(p)
      d:forward(nn.tensor.ones(64, 128, 2, 2))
      local n = 64 * 128
      local dropped = n - d.mask:ne(0):sum()
      -- n Bernoulli(p) draws: std sqrt(n p (1-p)) <= 45; allow 5 std
      local sd = math.sqrt(n * p * (1 - p))
      assert.is_true(math.abs(dropped - n * p) < 5 * sd,
                     ("p = %g: dropped %d of %d"):format(p, dropped, n))
    end
  end)

  it("draws the same channels after the same seed, and others after another", function()
    nn.manual_seed(4)
    local a = nn.Dropout2d(0.5):forward(nn.tensor.ones(4, 8, 2, 2)):clone()
    nn.manual_seed(4)
    local b = nn.Dropout2d(0.5):forward(nn.tensor.ones(4, 8, 2, 2)):clone()
    nn.manual_seed(5)
    local c = nn.Dropout2d(0.5):forward(nn.tensor.ones(4, 8, 2, 2)):clone()
    assert.are.same(a:totable(), b:totable())
    assert.are_not.same(a:totable(), c:totable())
  end)

  it("backward is g * mask, the channel's factor over its whole plane", function()
    nn.manual_seed(6)
    local d = nn.Dropout2d(0.4)
    d:forward(nn.tensor.randn(3, 4, 2, 3))
    local g = nn.tensor.randn(3, 4, 2, 3)
    local dx = d:backward(g)
    for b = 1, 3 do
      for c = 1, 4 do
        local want = g:narrow(1, b, 1):narrow(2, c, 1) * d.mask:get(b, c, 1, 1)
        H.assert_tensor(dx:narrow(1, b, 1):narrow(2, c, 1), want:totable(), H.EXACT)
      end
    end
  end)

  it("is the identity in evaluation, forward and backward, and draws nothing", function()
    local d = nn.Dropout2d(0.9):evaluate()
    local x = nn.tensor.randn(2, 3, 2, 2)
    local _, before = nn.get_rng_state()
    H.assert_tensor(d:forward(x), x:totable(), H.EXACT)
    local _, after = nn.get_rng_state()
    assert.are.equal(before, after)
    local g = nn.tensor.randn(2, 3, 2, 2)
    H.assert_tensor(d:backward(g), g:totable(), H.EXACT)
    assert.are.equal(0, d.mask:numel())
  end)

  it("p = 0 is the identity; p = 1 zeroes everything and passes no gradient", function()
    local x = nn.tensor.randn(2, 2, 2, 2)
    H.assert_tensor(nn.Dropout2d(0):forward(x), x:totable(), H.EXACT)
    local d = nn.Dropout2d(1)
    assert.are.equal(0, d:forward(x):abs():sum())
    assert.are.equal(0, d:backward(nn.tensor.ones(2, 2, 2, 2)):abs():sum())
  end)

  it("passes gradcheck in training (one mask for every forward) and evaluation", function()
    nn.manual_seed(7)
    H.assert_gradcheck(nn.Dropout2d(0.5), nn.tensor.randn(2, 3, 2, 2))
    H.assert_gradcheck(nn.Dropout2d(0.5):evaluate(), nn.tensor.randn(1, 2, 2, 3))
  end)

  it("gradcheck fails on a backward that drops elements, not channels", function()
    nn.manual_seed(8)
    local inner = nn.Dropout2d(0.5)
    local elementwise = nn.Dropout(0.5)
    local wrong = {
      forward = function (_, x) elementwise:forward(x) return inner:forward(x) end,
      backward = function (_, g) return elementwise:backward(g) end,
    }
    assert.is_false((nn.gradcheck(wrong, nn.tensor.randn(2, 3, 2, 2))))
  end)

  it("takes p positionally or by name, 0.5 by default, only in [0, 1]; prints and rebuilds", function()
    H.assert_close(nn.Dropout2d().p, 0.5, H.EXACT)
    H.assert_close(nn.Dropout2d{p = 0.2}.p, 0.2, H.ROUND)
    assert.are.equal("nn.Dropout2d(p=0.5)", tostring(nn.Dropout2d()))
    assert.are.same({ type = "Dropout2d", p = 0.25 }, nn.Dropout2d(0.25):config())
    H.assert_error_has(function () nn.Dropout2d(1.5) end, {"Dropout2d: p must be in [0, 1], got 1.5"})
    H.assert_error_has(function () nn.Dropout2d(-0.1) end, {"p must be in [0, 1]"})
    H.assert_error_has(function () nn.Dropout2d(0 / 0) end, {"p must be in [0, 1]"})
  end)

  it("refuses input that is not 4-D, naming the layer and the shape", function()
    local d = nn.Dropout2d(0.5)
    H.assert_error_has(function () d:forward(nn.tensor.ones(3, 4)) end,
                       {"bad argument #1 to 'forward'", "Dropout2d: expected input [B x C x H x W], got [3x4]"})
    H.assert_error_has(function () d:forward(nn.tensor.ones(3, 4, 5)) end,
                       {"got [3x4x5]", "add the batch dim"})
    H.assert_error_has(function () d:forward(nn.tensor.ones(1, 3, 4, 5, 6)) end, {"got [1x3x4x5x6]"})
    H.assert_error_has(function () d:output_shape({3, 4}) end, {"Dropout2d: expected input"})
    H.assert_error_has(function () nn.Dropout2d():backward(nn.tensor.ones(1, 1, 2, 2)) end,
                       {"Dropout2d", "backward before forward"})
  end)
end)
