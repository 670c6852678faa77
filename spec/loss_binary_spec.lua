-- Binary losses (nn/loss_binary.c): BCELoss on probabilities and
-- BCEWithLogitsLoss on logits, target of the input's shape.
--
-- Expected numbers: PyTorch 1.13 (torch.nn.functional.binary_cross_entropy
-- and binary_cross_entropy_with_logits) run in float64 on the float32 values
-- of the inputs below, gradients from its autograd.
--
-- Tolerances: the C code accumulates in double from the float32 inputs, as
-- the references did, so a loss differs only by libm (log, log1p, exp) and
-- the order of additions; a gradient is one float32 rounding of a double.
-- H.LIBM (1e-6 relative) is loose for both.
local nn = require "nn"
local H = require "spec.helpers"

local TOL = H.LIBM

-- loss and grad of crit(opts) at x, t, against want = {loss =, grad =}
local function check (ctor, opts, x, t, want, what)
  H.assert_loss(ctor(opts), x, t, want, TOL, what)
end

-- probabilities in (0.1, 0.9): x +- h of the gradient check stays inside
-- (0, 1), and away from where log x and log(1 - x) curve hardest
local function probs (...) return nn.tensor.rand(...) * 0.8 + 0.1 end

-- 0/1 labels, about half of each
local function labels (...) return nn.tensor.rand(...):sub(0.5):relu():mul(1e9):clamp(0, 1) end

describe("nn.BCELoss", function()
  before_each(function() nn.manual_seed(5) end)

  local X = { { 0.2, 0.7, 0.9 }, { 0.45, 0.05, 0.6 } }
  local T = { { 0, 1, 1 }, { 1, 0, 0.3 } }          -- 0.3: a soft label

  it("matches PyTorch, mean over all elements and sum", function()
    check(nn.BCELoss, nil, nn.tensor(X), nn.tensor(T), {
      loss = 0.38827188340799434,
      grad = { { 0.20833333410943547, -0.2380952421499759, -0.18518519009091738 },
               { -0.37037038018183477, 0.17543859662881958, 0.2083333457509684 } },
    }, "mean")
    check(nn.BCELoss, { reduction = "sum" }, nn.tensor(X), nn.tensor(T), {
      loss = 2.329631300447966,
      grad = { { 1.2500000046566129, -1.4285714528998554, -1.1111111405455043 },
               { -2.2222222810910086, 1.0526315797729175, 1.2500000745058104 } },
    }, "sum")
  end)

  it("stays finite at probabilities exactly 0 and 1 (log clamped at -100, as PyTorch)", function()
    -- wrong with certainty: 100 per element; right with certainty: 0.
    -- gradient (x - t) / max(x (1 - x), 1e-12) / n: huge but finite
    local x, t = nn.tensor{ 0, 1, 0, 1 }, nn.tensor{ 1, 0, 0, 1 }
    check(nn.BCELoss, nil, x, t,
          { loss = 50, grad = { -250000000998.9507, 250000000998.9507, 0, 0 } }, "mean")
    check(nn.BCELoss, { reduction = "sum" }, x, t,
          { loss = 200, grad = { -1000000003995.8029, 1000000003995.8029, 0, 0 } }, "sum")
  end)

  it("backward matches central differences at several shapes", function()
    local bce = nn.BCELoss()
    H.assert_gradcheck(bce, probs(1), nn.tensor{ 1 })                 -- one element
    H.assert_gradcheck(bce, probs(1, 4), labels(1, 4))                -- batch of 1
    H.assert_gradcheck(bce, probs(4, 3), labels(4, 3))
    H.assert_gradcheck(bce, probs(3, 5), nn.tensor.rand(3, 5))        -- soft labels
    H.assert_gradcheck(bce, probs(2, 3, 2), labels(2, 3, 2))          -- any shape
    H.assert_gradcheck(nn.BCELoss{ reduction = "sum" }, probs(3, 4), labels(3, 4))
  end)

  it("gradcheck rejects a backward that forgets the 1/n of the mean", function()
    local bce = nn.BCELoss()
    local wrong = {
      forward = function (_, x, t) return bce:forward(x, t) end,
      backward = function (_, x, t) return bce:backward(x, t) * x:numel() end,
    }
    local ok, report = nn.gradcheck(wrong, probs(3, 4), labels(3, 4))
    assert.is_false(ok, tostring(report))
  end)

  it("rejects an input outside [0, 1], naming the loss and the entry", function()
    local bce = nn.BCELoss()
    H.assert_error_has(function() bce:forward(nn.tensor{ 0.5, 1.5 }, nn.tensor{ 1, 1 }) end,
      { "BCELoss: input[2] = 1.5 is not a probability in [0, 1]" })
    H.assert_error_has(function()
      bce:forward(nn.tensor{ { 0.5, 0.5 }, { -0.25, 0.5 } }, nn.tensor.ones(2, 2))
    end, { "BCELoss: input[2][1] = -0.25 is not a probability in [0, 1]" })
    local nan = nn.tensor{ 0 }:div(0)
    H.assert_error_has(function() bce:forward(nan, nn.tensor{ 1 }) end,
      { "BCELoss: input[1] = ", "is not a probability" })
    H.assert_error_has(function() bce:backward(nn.tensor{ 2 }, nn.tensor{ 1 }) end,
      { "BCELoss: input[1] = 2 is not a probability" })
  end)

  it("names the loss and both shapes when input and target differ", function()
    H.assert_error_has(function() nn.BCELoss():forward(probs(2, 3), probs(3, 2)) end,
      { "bad argument #2 to 'forward'", "BCELoss", "[2x3]", "[3x2]" })
  end)
end)

describe("nn.BCEWithLogitsLoss", function()
  before_each(function() nn.manual_seed(9) end)

  local X = { { -2.0, 0.5, 3.0 }, { 1.25, -0.75, 0.0 } }
  local T = { { 0, 1, 1 }, { 0, 1, 0.5 } }

  it("matches PyTorch, mean over all elements and sum", function()
    check(nn.BCEWithLogitsLoss, nil, nn.tensor(X), nn.tensor(T), {
      loss = 0.66358993580284,
      grad = { { 0.019867153670352924, -0.0629234447996909, -0.007904312196261106 },
               { 0.1295499768624485, -0.1131964498625655, 0 } },
    }, "mean")
    check(nn.BCEWithLogitsLoss, { reduction = "sum" }, nn.tensor(X), nn.tensor(T), {
      loss = 3.9815396148170397,
      grad = { { 0.11920292202211755, -0.3775406687981454, -0.047425873177566635 },
               { 0.7772998611746911, -0.679178699175393, 0 } },
    }, "sum")
  end)

  it("stays finite for logits of +-1e4 (the stable form)", function()
    -- right with certainty: 0; wrong: |x| = 1e4 per element
    local x, t = nn.tensor{ 1e4, -1e4, 1e4, -1e4 }, nn.tensor{ 1, 0, 0, 1 }
    check(nn.BCEWithLogitsLoss, nil, x, t,
          { loss = 5000, grad = { 0, 0, 0.25, -0.25 } }, "mean")
    check(nn.BCEWithLogitsLoss, { reduction = "sum" }, x, t,
          { loss = 20000, grad = { 0, 0, 1, -1 } }, "sum")
  end)

  it("equals BCELoss of the sigmoid", function()
    local x, t = nn.tensor.randn(3, 4), nn.tensor.rand(3, 4)
    local l_logits = nn.BCEWithLogitsLoss():forward(x, t)
    -- the sigmoid is rounded to float32 before BCELoss takes its logs:
    -- a relative error of a few float32 ulp in the loss
    H.assert_close(nn.BCELoss():forward(x:sigmoid(), t), l_logits, 1e-5, "loss")
  end)

  it("backward matches central differences at several shapes", function()
    local bce = nn.BCEWithLogitsLoss()
    H.assert_gradcheck(bce, nn.tensor.randn(1) * 3, nn.tensor{ 0 })
    H.assert_gradcheck(bce, nn.tensor.randn(1, 5) * 3, labels(1, 5))
    H.assert_gradcheck(bce, nn.tensor.randn(4, 3) * 3, labels(4, 3))
    H.assert_gradcheck(bce, nn.tensor.randn(2, 2, 3) * 3, nn.tensor.rand(2, 2, 3))
    H.assert_gradcheck(nn.BCEWithLogitsLoss{ reduction = "sum" }, nn.tensor.randn(3, 4) * 3,
                       labels(3, 4))
  end)

  it("gradcheck rejects a backward that is twice the gradient", function()
    local bce = nn.BCEWithLogitsLoss()
    local wrong = {
      forward = function (_, x, t) return bce:forward(x, t) end,
      backward = function (_, x, t) return bce:backward(x, t) * 2 end,
    }
    assert.is_false((nn.gradcheck(wrong, nn.tensor.randn(3, 4) * 3, labels(3, 4))))
  end)

  it("names the loss and both shapes when input and target differ", function()
    H.assert_error_has(function()
      nn.BCEWithLogitsLoss():forward(nn.tensor.randn(4), nn.tensor.randn(4, 1))
    end, { "bad argument #2 to 'forward'", "BCEWithLogitsLoss", "[4]", "[4x1]" })
  end)
end)

-- The pure pairs, called without a module (nn/loss_binary.c through
-- nn.functional), against values by hand: Lua's math.log and math.exp in
-- double on inputs that are exact in float32.  Tolerance TOL (H.LIBM): libm
-- and one float32 rounding of each gradient entry.
describe("nn.functional binary pairs", function()
  local F = nn.functional

  local pair = H.loss_pair   -- a loss object over a pair, for nn.gradcheck

  it("bce_loss is -mean(t log x + (1 - t) log(1 - x)); bce_loss_backward s (x - t) / (x (1 - x))", function()
    -- x = 0.5 against 1, 0.25 against 0
    local x, t = nn.tensor{ 0.5, 0.25 }, nn.tensor{ 1, 0 }
    local sum = -math.log(0.5) - math.log(0.75)
    H.assert_close(F.bce_loss(x, t), sum / 2, TOL)
    H.assert_close(F.bce_loss(x, t, "sum"), sum, TOL)
    -- (0.5 - 1) / 0.25 = -2;  0.25 / 0.1875 = 4/3
    H.assert_tensor(F.bce_loss_backward(x, t), { -1, 2 / 3 }, TOL)
    H.assert_tensor(F.bce_loss_backward(x, t, "sum"), { -2, 4 / 3 }, TOL)
  end)

  it("bce_with_logits_loss is max(x,0) - x t + log(1 + e^-|x|); its backward s (sigmoid(x) - t)", function()
    local x, t = nn.tensor{ 0, 2, -1 }, nn.tensor{ 1, 0, 0.5 }
    local terms = { math.log(2), 2 + math.log(1 + math.exp(-2)), 0.5 + math.log(1 + math.exp(-1)) }
    local sum = terms[1] + terms[2] + terms[3]
    H.assert_close(F.bce_with_logits_loss(x, t), sum / 3, TOL)
    H.assert_close(F.bce_with_logits_loss(x, t, "sum"), sum, TOL)
    local function sigmoid (z) return 1 / (1 + math.exp(-z)) end
    H.assert_tensor(F.bce_with_logits_loss_backward(x, t, "sum"),
                    { 0.5 - 1, sigmoid(2), sigmoid(-1) - 0.5 }, TOL)
    H.assert_tensor(F.bce_with_logits_loss_backward(x, t),
                    { (0.5 - 1) / 3, sigmoid(2) / 3, (sigmoid(-1) - 0.5) / 3 }, TOL)
  end)

  for _, red in ipairs{ "mean", "sum" } do
    it(("backward pairs match central differences of their forward pairs, %s"):format(red), function()
      nn.manual_seed(31)
      H.assert_gradcheck(pair(F.bce_loss, F.bce_loss_backward, red), probs(4, 3), labels(4, 3))
      H.assert_gradcheck(pair(F.bce_loss, F.bce_loss_backward, red), probs(2, 5), nn.tensor.rand(2, 5))
      H.assert_gradcheck(pair(F.bce_with_logits_loss, F.bce_with_logits_loss_backward, red),
                         nn.tensor.randn(4, 3) * 3, labels(4, 3))
      H.assert_gradcheck(pair(F.bce_with_logits_loss, F.bce_with_logits_loss_backward, red),
                         nn.tensor.randn(2, 2, 3) * 3, nn.tensor.rand(2, 2, 3))
    end)
  end

  it("gradcheck rejects a pair whose backward is off by a factor", function()
    nn.manual_seed(32)
    assert.is_false((nn.gradcheck(pair(F.bce_loss, F.bce_loss_backward, "mean", 2), probs(3, 4),
                                  labels(3, 4))))
    assert.is_false((nn.gradcheck(pair(F.bce_with_logits_loss, F.bce_with_logits_loss_backward,
                                       "sum", 0.5), nn.tensor.randn(3, 4) * 3, labels(3, 4))))
  end)

  it("blame the input (#1) for a value that is not a probability, the target (#2) for its shape", function()
    H.assert_error_has(function () F.bce_loss(nn.tensor{ 0.5, 1.5 }, nn.tensor{ 1, 1 }) end,
      { "bad argument #1 to 'bce_loss'", "BCELoss: input[2] = 1.5 is not a probability in [0, 1]" })
    H.assert_error_has(function () F.bce_loss_backward(nn.tensor{ -1 }, nn.tensor{ 1 }) end,
      { "bad argument #1 to 'bce_loss_backward'", "input[1] = -1" })
    H.assert_error_has(function () F.bce_with_logits_loss(nn.tensor.randn(4), nn.tensor.randn(4, 1)) end,
      { "bad argument #2 to 'bce_with_logits_loss'", "BCEWithLogitsLoss", "[4]", "[4x1]" })
    H.assert_error_has(function () F.bce_loss(probs(2), probs(2), "max") end,
      { "bad argument #3 to 'bce_loss'", "reduction must be 'mean' or 'sum'" })
  end)

  it("the loss object's methods blame by role too: input #1, target #2", function()
    local bce = nn.BCELoss()
    H.assert_error_has(function () bce:forward(nn.tensor{ 2 }, nn.tensor{ 1 }) end,
      { "bad argument #1 to 'forward'", "BCELoss: input[1] = 2" })
    H.assert_error_has(function () bce:backward(probs(3), probs(2)) end,
      { "bad argument #2 to 'backward'", "BCELoss", "[3]", "[2]" })
  end)
end)

-- On a GPU: both losses on CUDA against the CPU on the same seeded inputs
-- (nn/cuda_losses.cu runs the element functions of nn/losses.h that the
-- CPU loop runs).  Tolerance TOL = H.LIBM (1e-6 relative): the GPU rounds
-- each element's loss to float32 before its sum (6e-8 relative; every
-- element's loss is >= 0, so no cancellation makes that grow), adds them in
-- another order, and takes log, log1p and exp from CUDA's libm (within 1-2
-- ulp of double, as glibc's); a gradient entry is one float32 rounding of a
-- double on each device.
describe("binary losses on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  it("match the CPU: both losses, several shapes, hard and soft labels, mean and sum", function()
    nn.manual_seed(41)
    -- 1000 x 3: more than one block of 256 threads
    for _, shape in ipairs{ { 1 }, { 4, 3 }, { 2, 5, 3 }, { 1000, 3 } } do
      local z = nn.tensor.randn(table.unpack(shape)) * 3
      local inputs = { BCELoss = z:sigmoid(), BCEWithLogitsLoss = z }
      for _, t in ipairs{ labels(table.unpack(shape)), nn.tensor.rand(table.unpack(shape)) } do
        for _, l in ipairs{ { "BCELoss", nn.BCELoss }, { "BCEWithLogitsLoss", nn.BCEWithLogitsLoss } } do
          for _, red in ipairs{ "mean", "sum" } do
            local what = ("%s [%s], %s"):format(l[1], table.concat(shape, "x"), red)
            local x = inputs[l[1]]
            local cpu, gpu = l[2]{ reduction = red }, l[2]{ reduction = red }
            H.assert_close(gpu:forward(x:cuda(), t:cuda()), cpu:forward(x, t), TOL, what .. ": loss")
            H.assert_tensor(gpu:backward():cpu(), cpu:backward():totable(), TOL, what .. ": grad")
          end
        end
      end
    end
  end)

  it("match the CPU at probabilities exactly 0 and 1 (the clamped logs, the huge gradients)", function()
    local x, t = nn.tensor{ 0, 1, 0, 1, 0.5 }, nn.tensor{ 1, 0, 0, 1, 0.3 }
    local cpu, gpu = nn.BCELoss(), nn.BCELoss()
    H.assert_close(gpu:forward(x:cuda(), t:cuda()), cpu:forward(x, t), TOL, "loss")
    H.assert_tensor(gpu:backward():cpu(), cpu:backward():totable(), TOL, "grad")
  end)

  it("reject an input outside [0, 1] with the CPU's message, naming the first bad entry", function()
    local nan = 0 / 0
    for _, bad in ipairs{ { { 0.5, 1.5 }, { -0.25, nan } }, { { 0.5, 0.5 }, { 0.5, -0.25 } },
                          { { nan, 2 }, { 0.5, 0.5 } } } do
      local x, t = nn.tensor(bad), nn.tensor.ones(2, 2)
      for _, pass in ipairs{ "forward", "backward" } do
        local function err (on)
          return H.error_of(function () local c = nn.BCELoss() c[pass](c, on(x), on(t)) end)
        end
        local cpu_msg = err(function (v) return v:cpu() end)
        local gpu_msg = err(function (v) return v:cuda() end)
        assert.are.equal(cpu_msg, gpu_msg)
        assert.truthy(cpu_msg:find("BCELoss: input[", 1, true), cpu_msg)
      end
    end
    H.assert_error_has(function ()
      nn.BCELoss():forward(nn.tensor{ { 0.5, 1.5 }, { -0.25, 0.5 } }:cuda(), nn.tensor.ones(2, 2):cuda())
    end, { "BCELoss: input[1][2] = 1.5 is not a probability in [0, 1]" })
  end)
end)
