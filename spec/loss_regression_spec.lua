--- spec/loss_regression_spec.lua -- nn.MSELoss and nn.L1Loss.
local nn = require "nn"
local H = require "spec.helpers"

local X = {{1, 2, 3}, {-1, 0.5, 2}}
local T = {{0.5, 2, 5}, {1, -0.5, 2.5}}

-- Values from PyTorch 1.13 (F.mse_loss, F.l1_loss and autograd) on the same
-- numbers, which are dyadic (exact in float32); the losses are summed in
-- double, so only the final division rounds: H.ROUND.
describe("nn.MSELoss", function()
  it("forward is the mean of squared differences over all elements, or their sum", function()
    H.assert_close(nn.MSELoss():forward(nn.tensor(X), nn.tensor(T)), 1.5833333730697632, H.ROUND)
    H.assert_close(nn.MSELoss{reduction = "sum"}:forward(nn.tensor(X), nn.tensor(T)), 9.5, H.EXACT)
  end)

  it("backward is 2 (x - t) / n", function()
    local c = nn.MSELoss()
    c:forward(nn.tensor(X), nn.tensor(T))
    H.assert_tensor(c:backward(), {{0.1666666716337204, 0, -0.6666666865348816},
                                   {-0.6666666865348816, 0.3333333432674408, -0.1666666716337204}},
                    H.ROUND)
  end)

  for _, shape in ipairs{ {1, 1}, {4, 3}, {2, 3, 2} } do
    for _, reduction in ipairs{ "mean", "sum" } do
      it(("passes gradcheck at [%s], reduction %s"):format(table.concat(shape, "x"), reduction), function()
        nn.manual_seed(#shape + shape[1])
        H.assert_gradcheck(nn.MSELoss{reduction = reduction}, nn.tensor.randn(table.unpack(shape)),
                           nn.tensor.randn(table.unpack(shape)))
      end)
    end
  end
end)

describe("nn.L1Loss", function()
  it("forward is the mean absolute error, or its sum", function()
    H.assert_close(nn.L1Loss():forward(nn.tensor(X), nn.tensor(T)), 1.0, H.EXACT)
    H.assert_close(nn.L1Loss{reduction = "sum"}:forward(nn.tensor(X), nn.tensor(T)), 6.0, H.EXACT)
  end)

  it("backward is sign(x - t) / n, and 0 where x == t", function()
    local c = nn.L1Loss()
    c:forward(nn.tensor(X), nn.tensor(T))
    local s = 1 / 6
    H.assert_tensor(c:backward(), {{s, 0, -s}, {-s, s, -s}}, H.ROUND)
  end)

  it("passes gradcheck away from the kink at x = t", function()
    nn.manual_seed(21)
    local t = nn.tensor.randn(3, 4)
    H.assert_gradcheck(nn.L1Loss(), t + H.randn_away(0.1, 3, 4), t)
    H.assert_gradcheck(nn.L1Loss{reduction = "sum"}, t + H.randn_away(0.1, 3, 4), t)
  end)
end)

describe("regression losses", function()
  it("gradcheck fails on an MSE gradient that misses the factor 2", function()
    local mse = nn.MSELoss()
    local broken = {
      forward = function (_, x, t) return mse:forward(x, t) end,
      backward = function (_, x, t) return mse:backward(x, t) * 0.5 end,
    }
    nn.manual_seed(22)
    assert.is_false((nn.gradcheck(broken, nn.tensor.randn(2, 3), nn.tensor.randn(2, 3))))
  end)

  -- the input sets the shape; a target of another shape is at fault (#2)
  it("name the loss and both shapes when input and target differ", function()
    for _, c in ipairs{ nn.MSELoss(), nn.L1Loss() } do
      H.assert_error_has(function () c:forward(nn.tensor.randn(2, 3), nn.tensor.randn(3, 2)) end,
                         {"bad argument #2 to 'forward'", c.name, "[2x3]", "[3x2]"})
    end
  end)

  it("backward() without arguments needs a forward first", function()
    H.assert_error_has(function () nn.MSELoss():backward() end,
                       {"MSELoss: backward() before forward()"})
  end)

  it("keeps one live grad_input, reused across calls", function()
    local c = nn.MSELoss()
    c:forward(nn.tensor.randn(2, 3), nn.tensor.randn(2, 3))
    local g = c:backward()
    assert.are.equal(g, c.grad_input)
    c:forward(nn.tensor.randn(2, 3), nn.tensor.randn(2, 3))
    assert.are.equal(g, c:backward())
    assert.are.equal(c.loss, c.output)
  end)

  it("rejects an unknown reduction or option", function()
    H.assert_error_has(function () nn.MSELoss{reduction = "none"} end,
                       {"reduction must be 'mean' or 'sum'"})
    H.assert_error_has(function () nn.L1Loss{reduce = "sum"} end, {"L1Loss has no option 'reduce'"})
    assert.are.equal("nn.MSELoss(reduction=sum)", tostring(nn.MSELoss{reduction = "sum"}))
  end)
end)

-- The pure pairs, called without a module (nn/loss_regression.c through
-- nn.functional).  The numbers are X and T above, by hand: differences
-- 0.5, 0, -2, -2, 1, -0.5; their squares sum to 9.5 and their absolute
-- values to 6, all dyadic, so only the division by n = 6 rounds.
describe("nn.functional regression pairs", function()
  local F = nn.functional

  local pair = H.loss_pair   -- a loss object over a pair, for nn.gradcheck

  it("mse_loss is the mean (or sum) of squared differences; mse_loss_backward 2 s (x - t)", function()
    local x, t = nn.tensor(X), nn.tensor(T)
    H.assert_close(F.mse_loss(x, t), 9.5 / 6, H.ROUND)
    H.assert_close(F.mse_loss(x, t, "sum"), 9.5, H.EXACT)
    H.assert_tensor(F.mse_loss_backward(x, t), {{1 / 6, 0, -2 / 3}, {-2 / 3, 1 / 3, -1 / 6}}, H.ROUND)
    H.assert_tensor(F.mse_loss_backward(x, t, "sum"), {{1, 0, -4}, {-4, 2, -1}}, H.EXACT)
  end)

  it("l1_loss is the mean (or sum) of |x - t|; l1_loss_backward s sign(x - t), 0 at x == t", function()
    local x, t = nn.tensor(X), nn.tensor(T)
    H.assert_close(F.l1_loss(x, t), 1.0, H.EXACT)
    H.assert_close(F.l1_loss(x, t, "sum"), 6.0, H.EXACT)
    H.assert_tensor(F.l1_loss_backward(x, t), {{1 / 6, 0, -1 / 6}, {-1 / 6, 1 / 6, -1 / 6}}, H.ROUND)
    H.assert_tensor(F.l1_loss_backward(x, t, "sum"), {{1, 0, -1}, {-1, 1, -1}}, H.EXACT)
  end)

  it("backward pairs return a new tensor each call, of x's shape", function()
    local x, t = nn.tensor(X), nn.tensor(T)
    local g1, g2 = F.mse_loss_backward(x, t), F.mse_loss_backward(x, t)
    assert.are_not.equal(g1, g2)
    assert.are.same({2, 3}, g1.shape)
  end)

  for _, red in ipairs{ "mean", "sum" } do
    it(("backward pairs match central differences of their forward pairs, %s"):format(red), function()
      nn.manual_seed(23)
      H.assert_gradcheck(pair(F.mse_loss, F.mse_loss_backward, red), nn.tensor.randn(3, 4),
                         nn.tensor.randn(3, 4))
      H.assert_gradcheck(pair(F.mse_loss, F.mse_loss_backward, red), nn.tensor.randn(2, 2, 3),
                         nn.tensor.randn(2, 2, 3))
      local t = nn.tensor.randn(3, 4)
      H.assert_gradcheck(pair(F.l1_loss, F.l1_loss_backward, red), t + H.randn_away(0.1, 3, 4), t)
    end)
  end

  it("gradcheck rejects a pair whose backward is off by a factor", function()
    nn.manual_seed(24)
    local x, t = nn.tensor.randn(3, 4), nn.tensor.randn(3, 4)
    assert.is_false((nn.gradcheck(pair(F.mse_loss, F.mse_loss_backward, "mean", 0.5), x, t)))
    assert.is_false((nn.gradcheck(pair(F.l1_loss, F.l1_loss_backward, "sum", 2), x + H.randn_away(0.1, 3, 4), x)))
  end)

  it("blame the target (#2) for a shape that is not x's, and a bad reduction (#3)", function()
    local x = nn.tensor.randn(2, 3)
    H.assert_error_has(function () F.mse_loss(x, nn.tensor.randn(3, 2)) end,
                       {"bad argument #2 to 'mse_loss'", "MSELoss", "[2x3]", "[3x2]"})
    H.assert_error_has(function () F.l1_loss_backward(x, nn.tensor.randn(6)) end,
                       {"bad argument #2 to 'l1_loss_backward'", "L1Loss", "[6]"})
    H.assert_error_has(function () F.mse_loss(x, x, "none") end,
                       {"bad argument #3 to 'mse_loss'", "reduction must be 'mean' or 'sum', got 'none'"})
    H.assert_error_has(function () F.l1_loss(x, x, 1) end,
                       {"bad argument #3 to 'l1_loss'", "got number"})
    H.assert_error_has(function () F.mse_loss(x, {}) end, {"bad argument #2 to 'mse_loss'"})
  end)
end)

-- On a GPU: both losses on CUDA against the CPU on the same seeded inputs
-- (nn/cuda_losses.cu runs the element functions of nn/losses.h that the
-- CPU loop runs).  Tolerance H.LIBM (1e-6 relative): the GPU rounds each
-- element's loss to float32 before its sum (6e-8 relative; every term is
-- >= 0, so no cancellation makes that grow) and adds them in another order;
-- the gradients are the same float32 operations on both devices (H.ROUND
-- would do; LIBM keeps one tolerance for the file's CUDA block).
describe("regression losses on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  it("match the CPU: both losses, several shapes, mean and sum", function()
    nn.manual_seed(51)
    -- 1000 x 3: more than one block of 256 threads
    for _, shape in ipairs{ { 1 }, { 4, 3 }, { 2, 5, 3 }, { 1000, 3 } } do
      local x, t = nn.tensor.randn(table.unpack(shape)), nn.tensor.randn(table.unpack(shape))
      for _, l in ipairs{ { "MSELoss", nn.MSELoss }, { "L1Loss", nn.L1Loss } } do
        for _, red in ipairs{ "mean", "sum" } do
          -- x == t as well: L1's kink, where both devices give 0
          for _, target in ipairs{ t, x:clone() } do
            local what = ("%s [%s], %s"):format(l[1], table.concat(shape, "x"), red)
            local cpu, gpu = l[2]{ reduction = red }, l[2]{ reduction = red }
            H.assert_close(gpu:forward(x:cuda(), target:cuda()), cpu:forward(x, target), H.LIBM,
                           what .. ": loss")
            H.assert_tensor(gpu:backward():cpu(), cpu:backward():totable(), H.LIBM,
                            what .. ": grad")
          end
        end
      end
    end
  end)
end)
