-- Classification losses (nn/loss_classification.c): CrossEntropyLoss, NLLLoss,
-- CategoricalCrossentropy, with (B) 1-based class indices or (B, C)
-- probability targets.
--
-- Expected numbers: PyTorch 1.13 (torch.nn.functional.cross_entropy and
-- nll_loss) run in float64 on the float32 values of the inputs below; for
-- CategoricalCrossentropy, the Keras formula (renormalise, clip to
-- [eps, 1 - eps], -sum t log q, mean over the batch) written out in float64
-- torch, with its gradient from torch's autograd (clamp passes the gradient
-- at the bounds, as tf.clip_by_value).  NLLLoss with probability targets,
-- which PyTorch lacks, is -sum(t * x) / B by hand.
--
-- Tolerances: the C code accumulates in double from the float32 inputs, as
-- the references did, so a loss differs only by libm (exp, log) and the
-- order of additions: H.LIBM (1e-6 relative) is loose for it.  A gradient
-- is one float32 rounding of a double (plus, for CrossEntropyLoss, the
-- exponentials kept in float32 in between): H.LIBM again.
local nn = require "nn"
local H = require "spec.helpers"
local F = nn.functional

local TOL = H.LIBM

-- loss and grad of crit(opts) at x, t, against want = {loss =, grad =}
local function check (ctor, opts, x, t, want, what)
  H.assert_loss(ctor(opts), x, t, want, TOL, what)
end

-- (B, C) one-hot rows of the 1-based indices in the table idx
local function one_hot (idx, C)
  local rows = {}
  for b, k in ipairs(idx) do
    rows[b] = {}
    for c = 1, C do rows[b][c] = (c == k) and 1 or 0 end
  end
  return nn.tensor(rows)
end

-- (B) indices 1..C, spread over the classes
local function indices (B, C)
  local t = {}
  for b = 1, B do t[b] = (3 * b + 1) % C + 1 end
  return nn.tensor(t)
end

-- (B, C) soft labels: positive rows that sum to 1
local function soft_labels (B, C)
  local t = nn.tensor.rand(B, C) + 0.1
  local rows = t:totable()
  for b = 1, B do
    local s = 0
    for c = 1, C do s = s + rows[b][c] end
    for c = 1, C do rows[b][c] = rows[b][c] / s end
  end
  return nn.tensor(rows)
end

-- a loss whose backward is twice the true gradient: gradcheck must reject it
local function doubled (crit)
  return {
    forward = function (_, x, t) return crit:forward(x, t) end,
    backward = function (_, x, t) return crit:backward(x, t) * 2 end,
  }
end

local X = { { 0.5, -1.25, 2.0, 0.75 }, { -0.5, 0.25, 1.5, -2.0 }, { 3.0, 1.0, -1.0, 0.0 } }
local IDX = { 3, 1, 4 }
-- the last row sums to 1.5: its gradient carries the factor sum_c t_c
local SOFT = { { 0.1, 0.2, 0.6, 0.1 }, { 0.7, 0.1, 0.1, 0.1 }, { 0.5, 0.5, 0.25, 0.25 } }

describe("nn.CrossEntropyLoss", function()
  before_each(function() nn.manual_seed(7) end)

  it("matches PyTorch with class-index targets, mean and sum", function()
    check(nn.CrossEntropyLoss, nil, nn.tensor(X), nn.tensor(IDX), {
      loss = 1.9984594095363934,
      grad = { { 0.048034280433328275, 0.008347106331704011, -0.11805862371373244, 0.061677236948700156 },
               { -0.3022654289491453, 0.06577075409744693, 0.22956248837097842, 0.006932186480719967 },
               { 0.2769842201813171, 0.03748573789031085, 0.005073142954718644, -0.3195431010263466 } },
    }, "mean")
    check(nn.CrossEntropyLoss, { reduction = "sum" }, nn.tensor(X), nn.tensor(IDX), {
      loss = 5.99537822860918,
      grad = { { 0.14410284129998482, 0.025041318995112034, -0.3541758711411973, 0.18503171084610048 },
               { -0.9067962868474361, 0.19731226229234078, 0.6886874651129353, 0.0207965594421599 },
               { 0.8309526605439513, 0.11245721367093256, 0.015219428864155931, -0.9586293030790398 } },
    }, "sum")
  end)

  it("matches PyTorch with soft-label targets (divided by B, not B*C), mean and sum", function()
    check(nn.CrossEntropyLoss, nil, nn.tensor(X), nn.tensor(SOFT), {
      loss = 2.2126564873941463,
      grad = { { 0.014700948034822681, -0.05831956107961024, 0.015274708088001245, 0.028343904956786358 },
               { -0.2022654252069763, 0.03243741977737792, 0.19622915283056594, -0.02640114740096755 },
               { 0.24880966360530896, -0.11043805983120038, -0.07572361890125537, -0.06264798487285325 } },
    }, "mean")
    check(nn.CrossEntropyLoss, { reduction = "sum" }, nn.tensor(X), nn.tensor(SOFT), {
      loss = 6.637969462182439,
      grad = { { 0.04410284410446804, -0.17495868323883074, 0.045824124264003674, 0.08503171487035906 },
               { -0.6067962756209289, 0.09731225933213375, 0.5886874584916978, -0.07920344220290267 },
               { 0.746428990815927, -0.33131417949360115, -0.2271708567037661, -0.18794395461855978 } },
    }, "sum")
  end)

  it("gives one-hot targets the loss and gradient of the index targets", function()
    local ce = nn.CrossEntropyLoss()
    local x = nn.tensor.randn(5, 7)
    local idx = { 2, 7, 1, 4, 4 }
    local l_idx = ce:forward(x, nn.tensor(idx))
    local g_idx = ce:backward():clone()
    local l_hot = ce:forward(x, one_hot(idx, 7))
    -- the same sums in another order: a few ulp of the double loss; the
    -- gradient is computed by the same float operations
    H.assert_close(l_hot, l_idx, 1e-12, "loss")
    H.assert_tensor(ce:backward(), g_idx:totable(), H.ROUND, "grad")
  end)

  it("stays finite for logits of +-1e4 (the row max is subtracted)", function()
    local x = nn.tensor{ { 1e4, -1e4, 0 }, { -1e4, 1e4, 0 } }
    -- row 1 is right with certainty (loss 0), row 2 wrong by 2e4
    check(nn.CrossEntropyLoss, nil, x, nn.tensor{ 1, 1 },
          { loss = 1e4, grad = { { 0, 0, 0 }, { -0.5, 0.5, 0 } } }, "mean")
    check(nn.CrossEntropyLoss, { reduction = "sum" }, x, one_hot({ 1, 1 }, 3),
          { loss = 2e4, grad = { { 0, 0, 0 }, { -1, 1, 0 } } }, "sum, one-hot")
  end)

  it("backward matches central differences at several shapes", function()
    local ce, ce_sum = nn.CrossEntropyLoss(), nn.CrossEntropyLoss{ reduction = "sum" }
    H.assert_gradcheck(ce, nn.tensor.randn(1, 5), nn.tensor{ 2 })          -- batch of 1
    H.assert_gradcheck(ce, nn.tensor.randn(1, 1), nn.tensor{ 1 })          -- one class
    H.assert_gradcheck(ce, nn.tensor.randn(4, 3), indices(4, 3))
    H.assert_gradcheck(ce, nn.tensor.randn(6, 10), indices(6, 10))
    H.assert_gradcheck(ce_sum, nn.tensor.randn(3, 6), indices(3, 6))
    H.assert_gradcheck(ce, nn.tensor.randn(3, 4), soft_labels(3, 4))
    H.assert_gradcheck(ce, nn.tensor.randn(1, 4), soft_labels(1, 4))
    -- unnormalised soft labels: the T_b = sum_c t_bc factor
    H.assert_gradcheck(ce_sum, nn.tensor.randn(3, 4), nn.tensor(SOFT))
  end)

  it("gradcheck rejects a backward that is twice the gradient", function()
    local ok, report = nn.gradcheck(doubled(nn.CrossEntropyLoss()), nn.tensor.randn(4, 3),
                                    indices(4, 3))
    assert.is_false(ok, tostring(report))
  end)

  it("writes every backward into its one grad_input tensor", function()
    local ce = nn.CrossEntropyLoss()
    ce:forward(nn.tensor(X), nn.tensor(IDX))
    local g = ce:backward()
    ce:forward(nn.tensor{ { 1, 2 } }, nn.tensor{ 2 })
    assert.is_true(rawequal(g, ce:backward()))
    assert.are.same({ 1, 2 }, g.shape)
  end)

  it("names the loss and both shapes for a target of the wrong shape", function()
    local ce = nn.CrossEntropyLoss()
    local x = nn.tensor.randn(4, 3)
    H.assert_error_has(function() ce:forward(x, nn.tensor.zeros(3)) end,
      { "bad argument #2 to 'forward'", "CrossEntropyLoss", "[4x3]", "[3]" })
    H.assert_error_has(function() ce:forward(x, nn.tensor.zeros(4, 2)) end,
      { "CrossEntropyLoss", "[4x3]", "[4x2]" })
    H.assert_error_has(function() ce:backward(x, nn.tensor.zeros(4, 3, 1)) end,
      { "CrossEntropyLoss", "[4x3]", "[4x3x1]" })
  end)

  it("wants a 2-D input (B, C)", function()
    local ce = nn.CrossEntropyLoss()
    H.assert_error_has(function() ce:forward(nn.tensor{ 1, 2, 3 }, nn.tensor{ 1 }) end,
      { "bad argument #1 to 'forward'", "CrossEntropyLoss", "(B, C)", "[3]", "[1]" })
    H.assert_error_has(function() ce:forward(nn.tensor.zeros(2, 3, 4), nn.tensor{ 1, 1 }) end,
      { "CrossEntropyLoss", "[2x3x4]", "[2]" })
  end)

  it("rejects class index 0, C + 1 and 1.5, saying indices are 1-based", function()
    local ce = nn.CrossEntropyLoss()
    local x = nn.tensor.randn(3, 10)
    H.assert_error_has(function() ce:forward(x, nn.tensor{ 1, 2, 0 }) end,
      { "bad argument #2 to 'forward'",
        "CrossEntropyLoss: target[3] = 0 is not a class index in 1..10 (class indices are 1-based)" })
    H.assert_error_has(function() ce:forward(x, nn.tensor{ 11, 2, 3 }) end,
      { "CrossEntropyLoss: target[1] = 11 is not a class index in 1..10" })
    H.assert_error_has(function() ce:forward(x, nn.tensor{ 1, 1.5, 3 }) end,
      { "CrossEntropyLoss: target[2] = 1.5 is not a class index in 1..10" })
    H.assert_error_has(function() ce:forward(x, nn.tensor{ 1, -2, 3 }) end,
      { "target[2] = -2 is not a class index" })
    -- backward checks its target too
    H.assert_error_has(function() ce:backward(x, nn.tensor{ 1, 2, 0 }) end,
      { "bad argument #2 to 'backward'", "target[3] = 0" })
  end)
end)

describe("nn.NLLLoss", function()
  before_each(function() nn.manual_seed(11) end)

  local XN = { { -1.2, -0.3, -2.5 }, { -0.05, -3.0, -4.5 } }

  it("matches PyTorch with class-index targets, mean and sum", function()
    check(nn.NLLLoss, nil, nn.tensor(XN), nn.tensor{ 2, 1 },
          { loss = 0.1750000063329935, grad = { { 0, -0.5, 0 }, { -0.5, 0, 0 } } }, "mean")
    check(nn.NLLLoss, { reduction = "sum" }, nn.tensor(XN), nn.tensor{ 2, 1 },
          { loss = 0.350000012665987, grad = { { 0, -1, 0 }, { -1, 0, 0 } } }, "sum")
  end)

  it("takes probability targets: -sum(t * x) / B", function()
    local t = nn.tensor{ { 0.2, 0.8, 0 }, { 0.5, 0.25, 0.25 } }
    check(nn.NLLLoss, nil, nn.tensor(XN), t, {
      loss = 1.1900000132992865,
      grad = { { -0.10000000149011612, -0.4000000059604645, 0 }, { -0.25, -0.125, -0.125 } },
    }, "mean")
    check(nn.NLLLoss, { reduction = "sum" }, nn.tensor(XN), t, {
      loss = 2.380000026598573,
      grad = { { -0.20000000298023224, -0.800000011920929, 0 }, { -0.5, -0.25, -0.25 } },
    }, "sum")
  end)

  it("backward matches central differences at several shapes", function()
    local nll = nn.NLLLoss()
    H.assert_gradcheck(nll, nn.tensor.randn(1, 4), nn.tensor{ 4 })
    H.assert_gradcheck(nll, nn.tensor.randn(5, 3), indices(5, 3))
    H.assert_gradcheck(nn.NLLLoss{ reduction = "sum" }, nn.tensor.randn(3, 4), indices(3, 4))
    H.assert_gradcheck(nll, nn.tensor.randn(2, 5), soft_labels(2, 5))
  end)

  it("gradcheck rejects a backward that is twice the gradient", function()
    assert.is_false((nn.gradcheck(doubled(nn.NLLLoss()), nn.tensor.randn(3, 4), indices(3, 4))))
  end)

  it("rejects bad class indices and shapes, naming NLLLoss", function()
    local nll = nn.NLLLoss()
    H.assert_error_has(function() nll:forward(nn.tensor(XN), nn.tensor{ 0, 1 }) end,
      { "NLLLoss: target[1] = 0 is not a class index in 1..3 (class indices are 1-based)" })
    H.assert_error_has(function() nll:forward(nn.tensor(XN), nn.tensor{ 1, 4 }) end,
      { "NLLLoss: target[2] = 4 is not a class index in 1..3" })
    H.assert_error_has(function() nll:forward(nn.tensor(XN), nn.tensor{ 1, 2.5 }) end,
      { "NLLLoss: target[2] = 2.5 is not a class index" })
    H.assert_error_has(function() nll:forward(nn.tensor(XN), nn.tensor{ 1, 2, 3 }) end,
      { "NLLLoss", "[2x3]", "[3]" })
  end)
end)

describe("nn.CategoricalCrossentropy", function()
  before_each(function() nn.manual_seed(13) end)

  -- the last row sums to 4: Keras renormalises it to (0.25, 0.5, 0.25)
  local XC = { { 0.2, 0.5, 0.3 }, { 0.05, 0.15, 0.8 }, { 0.6, 0.3, 0.1 }, { 1, 2, 1 } }
  local TC = { { 0.1, 0.8, 0.1 }, { 0, 0.3, 0.7 }, { 1, 0, 0 }, { 0.2, 0.2, 0.6 } }

  it("matches the Keras formula with class-index targets, mean and sum", function()
    check(nn.CategoricalCrossentropy, nil, nn.tensor(XC), nn.tensor{ 2, 3, 1, 2 }, {
      loss = 0.5300658880857538,
      grad = { { 0.24999999627470976, -0.25000000372529024, 0.24999999627470976 },
               { 0.2499999953433872, 0.2499999953433872, -0.06250000000000003 },
               { -0.1666666594230469, 0.24999999068677461, 0.24999999068677461 },
               { 0.0625, -0.0625, 0.0625 } },
    }, "mean")
    check(nn.CategoricalCrossentropy, { reduction = "sum" }, nn.tensor(XC),
          nn.tensor{ 2, 3, 1, 2 }, {
      loss = 2.1202635523430153,
      grad = { { 0.999999985098839, -1.000000014901161, 0.999999985098839 },
               { 0.9999999813735488, 0.9999999813735488, -0.2500000000000001 },
               { -0.6666666376921876, 0.9999999627470985, 0.9999999627470985 },
               { 0.25, -0.25, 0.25 } },
    }, "sum")
  end)

  it("matches the Keras formula with soft-label targets, mean and sum", function()
    check(nn.CategoricalCrossentropy, nil, nn.tensor(XC), nn.tensor(TC), {
      loss = 0.8299214802929552,
      grad = { { 0.125, -0.15000000596046448, 0.16666666873627228 },
               { 0.2499999953433872, -0.25000000465661276, 0.03125000232830638 },
               { -0.1666666594230469, 0.24999999068677461, 0.24999999068677461 },
               { 0.01250000111758709, 0.03750000149011612, -0.08750000409781933 } },
    }, "mean")
    check(nn.CategoricalCrossentropy, { reduction = "sum" }, nn.tensor(XC), nn.tensor(TC), {
      loss = 3.319685921171821,
      grad = { { 0.5, -0.6000000238418579, 0.6666666749450891 },
               { 0.9999999813735488, -1.000000018626451, 0.12500000931322552 },
               { -0.6666666376921876, 0.9999999627470985, 0.9999999627470985 },
               { 0.05000000447034836, 0.15000000596046448, -0.3500000163912773 } },
    }, "sum")
  end)

  it("clips to [eps, 1 - eps]: a finite loss, and no gradient through a clipped entry", function()
    -- row 1: p = 0 for the target, clipped to eps: loss -log(eps) = 16.118...
    -- row 2: p = 1 for the target, clipped to 1 - eps: loss ~1e-7
    local x = nn.tensor{ { 0, 1, 0 }, { 0, 1, 0 } }
    check(nn.CategoricalCrossentropy, nil, x, nn.tensor{ 1, 2 },
          { loss = 8.059047869636114, grad = { { 0, 0, 0 }, { 0, 0, 0 } } }, "mean")
    check(nn.CategoricalCrossentropy, { reduction = "sum" }, x, one_hot({ 1, 2 }, 3),
          { loss = 16.118095739272228, grad = { { 0, 0, 0 }, { 0, 0, 0 } } }, "sum")
  end)

  it("takes eps as an option", function()
    -- p = 0.05 is clipped up to eps = 0.1 (float32 0.1: one rounding)
    local cce = nn.CategoricalCrossentropy{ eps = 0.1 }
    H.assert_close(cce:forward(nn.tensor{ { 0.05, 0.95 } }, nn.tensor{ 1 }), -math.log(0.1),
                   H.LIBM, "loss")
    H.assert_tensor(cce:backward(), { { 0, 0 } }, H.EXACT, "grad")
    H.assert_error_has(function() nn.CategoricalCrossentropy{ eps = 0.5 } end,
      { "CategoricalCrossentropy", "eps" })
  end)

  it("gives one-hot targets the loss and gradient of the index targets", function()
    local cce = nn.CategoricalCrossentropy()
    local x = nn.tensor.rand(4, 5) + 0.05
    local idx = { 5, 1, 3, 3 }
    local l_idx = cce:forward(x, nn.tensor(idx))
    local g_idx = cce:backward():clone()
    H.assert_close(cce:forward(x, one_hot(idx, 5)), l_idx, 1e-12, "loss")
    H.assert_tensor(cce:backward(), g_idx:totable(), H.ROUND, "grad")
  end)

  it("backward matches central differences at several shapes", function()
    -- x in [0.5, 1.5): rows far from the clip bounds, and not summing to 1,
    -- so the renormalisation's share of the gradient is checked as well
    local function probs (B, C) return nn.tensor.rand(B, C) + 0.5 end
    local cce = nn.CategoricalCrossentropy()
    H.assert_gradcheck(cce, probs(1, 3), nn.tensor{ 2 })
    H.assert_gradcheck(cce, probs(5, 4), indices(5, 4))
    H.assert_gradcheck(nn.CategoricalCrossentropy{ reduction = "sum" }, probs(3, 6), indices(3, 6))
    H.assert_gradcheck(cce, probs(4, 3), soft_labels(4, 3))
    H.assert_gradcheck(cce, probs(1, 5), soft_labels(1, 5))
  end)

  it("gradcheck rejects a backward that is twice the gradient", function()
    local x = nn.tensor.rand(4, 3) + 0.5
    assert.is_false((nn.gradcheck(doubled(nn.CategoricalCrossentropy()), x, indices(4, 3))))
  end)

  it("rejects bad class indices and shapes, naming CategoricalCrossentropy", function()
    local cce = nn.CategoricalCrossentropy()
    local x = nn.tensor(XC)
    H.assert_error_has(function() cce:forward(x, nn.tensor{ 1, 0, 1, 1 }) end,
      { "CategoricalCrossentropy: target[2] = 0 is not a class index in 1..3 (class indices are 1-based)" })
    H.assert_error_has(function() cce:forward(x, nn.tensor{ 1, 1, 1, 4 }) end,
      { "target[4] = 4 is not a class index in 1..3" })
    H.assert_error_has(function() cce:forward(x, nn.tensor{ 1, 1, 1.5, 1 }) end,
      { "target[3] = 1.5 is not a class index" })
    H.assert_error_has(function() cce:forward(x, nn.tensor.zeros(3, 3)) end,
      { "CategoricalCrossentropy", "[4x3]", "[3x3]" })
  end)
end)

-- The pure pairs, called without a module (nn/loss_classification.c
-- through nn.functional), against values by hand: Lua's math.exp and
-- math.log in double on inputs exact in float32.  Tolerance TOL (H.LIBM):
-- libm, and one float32 rounding of each gradient entry.
describe("nn.functional classification pairs", function()
  before_each(function() nn.manual_seed(17) end)

  -- a loss object over a pair, for nn.gradcheck; `scale` makes it wrong
  local function pair (fwd, bwd, scale, ...)
    local opts = table.pack(...)
    return {
      forward = function (_, x, t) return fwd(x, t, table.unpack(opts, 1, opts.n)) end,
      backward = function (_, x, t) return bwd(x, t, table.unpack(opts, 1, opts.n)) * scale end,
    }
  end

  -- softmax of a Lua row, in double
  local function softmax (row)
    local z, p = 0, {}
    for _, v in ipairs(row) do z = z + math.exp(v) end
    for j, v in ipairs(row) do p[j] = math.exp(v) / z end
    return p, math.log(z)
  end

  it("cross_entropy is lse - x[target]; its backward the fused s (softmax(x) - t)", function()
    local rows = { { 1, 2, 3 }, { 0, 0, 0 } }
    local p1, lse1 = softmax(rows[1])
    local p2, lse2 = softmax(rows[2])
    local x, t = nn.tensor(rows), nn.tensor{ 3, 1 }
    local sum = (lse1 - 3) + (lse2 - 0)
    H.assert_close(F.cross_entropy(x, t), sum / 2, TOL)
    H.assert_close(F.cross_entropy(x, t, "sum"), sum, TOL)
    H.assert_tensor(F.cross_entropy_backward(x, t, "sum"),
                    { { p1[1], p1[2], p1[3] - 1 }, { p2[1] - 1, p2[2], p2[3] } }, TOL)
    H.assert_tensor(F.cross_entropy_backward(x, one_hot({ 3, 1 }, 3)),
                    { { p1[1] / 2, p1[2] / 2, (p1[3] - 1) / 2 },
                      { (p2[1] - 1) / 2, p2[2] / 2, p2[3] / 2 } }, TOL)
  end)

  it("cross_entropy_backward is the fused gradient of a Softmax then CategoricalCrossentropy", function()
    local z, t = nn.tensor.randn(5, 4) * 3, indices(5, 4)
    local fused = F.softmax_cross_entropy_backward(nn.Softmax():forward(z), t)
    H.assert_tensor(F.cross_entropy_backward(z, t), fused:totable(), 1e-5)
    -- stable: logits of +-1e4 give a gradient in [-1, 1], no nan
    local g = F.cross_entropy_backward(nn.tensor{ { 1e4, -1e4 } }, nn.tensor{ 2 })
    H.assert_tensor(g, { { 1, -1 } }, H.EXACT)
  end)

  it("nll_loss is -mean x[target] (or -sum t x / B); its backward -s t", function()
    local x = nn.tensor{ { -1, -2, -0.5 }, { -0.25, -3, -1 } }
    H.assert_close(F.nll_loss(x, nn.tensor{ 2, 1 }), 1.125, H.EXACT)
    H.assert_close(F.nll_loss(x, nn.tensor{ 2, 1 }, "sum"), 2.25, H.EXACT)
    H.assert_close(F.nll_loss(x, nn.tensor{ { 0.5, 0.5, 0 }, { 0, 0, 1 } }), 1.25, H.EXACT)
    H.assert_tensor(F.nll_loss_backward(x, nn.tensor{ 2, 1 }), { { 0, -0.5, 0 }, { -0.5, 0, 0 } },
                    H.EXACT)
    H.assert_tensor(F.nll_loss_backward(x, nn.tensor{ { 0.5, 0.5, 0 }, { 0, 0, 1 } }, "sum"),
                    { { -0.5, -0.5, 0 }, { 0, 0, -1 } }, H.EXACT)
  end)

  it("categorical_crossentropy renormalises and clips; its backward (s / S) (g - sum g p)", function()
    -- the row (1, 1, 2) sums to S = 4: p = (1/4, 1/4, 1/2); against class 3
    -- g = (0, 0, -2), sum g p = -1, dx = (1/4) (1, 1, -1)
    local x = nn.tensor{ { 1, 1, 2 } }
    H.assert_close(F.categorical_crossentropy(x, nn.tensor{ 3 }), -math.log(0.5), TOL)
    H.assert_close(F.categorical_crossentropy(x, nn.tensor{ 3 }, 1e-7, "sum"), -math.log(0.5), TOL)
    H.assert_tensor(F.categorical_crossentropy_backward(x, nn.tensor{ 3 }), { { 0.25, 0.25, -0.25 } },
                    H.EXACT)
    -- eps = 0.1 clips p = 0.05 up to 0.1: the loss -log(0.1), no gradient
    local y = nn.tensor{ { 0.05, 0.95 } }
    H.assert_close(F.categorical_crossentropy(y, nn.tensor{ 1 }, 0.1), -math.log(0.1), TOL)
    H.assert_tensor(F.categorical_crossentropy_backward(y, nn.tensor{ 1 }, 0.1), { { 0, 0 } },
                    H.EXACT)
    -- the default eps is the loss object's: the same loss as nn.CategoricalCrossentropy()
    local z, t = nn.tensor.rand(4, 3) + 0.1, soft_labels(4, 3)
    assert.are.equal(nn.CategoricalCrossentropy():forward(z, t), F.categorical_crossentropy(z, t))
  end)

  for _, red in ipairs{ "mean", "sum" } do
    it(("backward pairs match central differences of their forward pairs, %s"):format(red), function()
      local function probs (B, C) return nn.tensor.rand(B, C) + 0.5 end
      H.assert_gradcheck(pair(F.cross_entropy, F.cross_entropy_backward, 1, red),
                         nn.tensor.randn(5, 4) * 2, indices(5, 4))
      H.assert_gradcheck(pair(F.cross_entropy, F.cross_entropy_backward, 1, red),
                         nn.tensor.randn(3, 5) * 2, soft_labels(3, 5))
      H.assert_gradcheck(pair(F.nll_loss, F.nll_loss_backward, 1, red),
                         nn.tensor.randn(4, 3), indices(4, 3))
      H.assert_gradcheck(pair(F.nll_loss, F.nll_loss_backward, 1, red),
                         nn.tensor.randn(4, 3), soft_labels(4, 3))
      H.assert_gradcheck(pair(F.categorical_crossentropy, F.categorical_crossentropy_backward, 1,
                              1e-7, red), probs(5, 4), indices(5, 4))
      H.assert_gradcheck(pair(F.categorical_crossentropy, F.categorical_crossentropy_backward, 1,
                              0.01, red), probs(3, 4), soft_labels(3, 4))
    end)
  end

  it("gradcheck rejects a pair whose backward is off by a factor", function()
    local x, t = nn.tensor.randn(4, 3) * 2, indices(4, 3)
    assert.is_false((nn.gradcheck(pair(F.cross_entropy, F.cross_entropy_backward, 2), x, t)))
    assert.is_false((nn.gradcheck(pair(F.nll_loss, F.nll_loss_backward, 0.5, "sum"), x, t)))
    assert.is_false((nn.gradcheck(pair(F.categorical_crossentropy,
                                       F.categorical_crossentropy_backward, 2),
                                  nn.tensor.rand(4, 3) + 0.5, t)))
  end)

  it("blame the input (#1) for its shape, the target (#2) for its shape and its indices", function()
    local x = nn.tensor.randn(3, 4)
    H.assert_error_has(function () F.cross_entropy(nn.tensor{ 1, 2, 3 }, nn.tensor{ 1 }) end,
      { "bad argument #1 to 'cross_entropy'", "CrossEntropyLoss: input must be (B, C)" })
    H.assert_error_has(function () F.nll_loss(x, nn.tensor.zeros(2)) end,
      { "bad argument #2 to 'nll_loss'", "NLLLoss", "[3x4]", "[2]" })
    H.assert_error_has(function () F.cross_entropy_backward(x, nn.tensor{ 1, 5, 2 }) end,
      { "bad argument #2 to 'cross_entropy_backward'", "target[2] = 5 is not a class index in 1..4" })
    H.assert_error_has(function () F.categorical_crossentropy(x:abs(), nn.tensor{ 0, 1, 1 }) end,
      { "bad argument #2 to 'categorical_crossentropy'", "target[1] = 0" })
  end)

  it("categorical_crossentropy checks eps (#3) and the reduction (#4)", function()
    local x, t = nn.tensor.rand(2, 3) + 0.1, nn.tensor{ 1, 2 }
    H.assert_error_has(function () F.categorical_crossentropy(x, t, 0.5) end,
      { "bad argument #3 to 'categorical_crossentropy'", "eps must be in [0, 0.5), got 0.5" })
    H.assert_error_has(function () F.categorical_crossentropy_backward(x, t, -1e-9) end,
      { "bad argument #3 to 'categorical_crossentropy_backward'", "eps must be in [0, 0.5)" })
    H.assert_error_has(function () F.categorical_crossentropy(x, t, "small") end,
      { "bad argument #3 to 'categorical_crossentropy'", "eps must be a number, got string" })
    H.assert_error_has(function () F.categorical_crossentropy(x, t, nil, "avg") end,
      { "bad argument #4 to 'categorical_crossentropy'", "reduction must be 'mean' or 'sum', got 'avg'" })
    -- nil takes the default eps
    assert.are.equal(F.categorical_crossentropy(x, t), F.categorical_crossentropy(x, t, nil, "mean"))
  end)
end)

-- On a GPU: each loss, and the fused gradient, on CUDA against the CPU on
-- the same seeded inputs (nn/cuda_losses.cu runs the row functions of
-- nn/losses.h that the CPU loop runs).  Tolerance H.LIBM (1e-6 relative):
-- the GPU rounds each row's loss to float32 before its sum (6e-8 relative;
-- every row's loss is >= 0 here, so no cancellation makes that grow), adds
-- the rows in another order, and takes exp and log from CUDA's libm (within
-- 1-2 ulp of double, as glibc's); a gradient entry is one float32 rounding
-- of a double on each device (with an e^x kept in float32 in between, for
-- CrossEntropyLoss): a few float32 ulp apart at most.
describe("classification losses on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  local LOSSES = { { "CrossEntropyLoss", nn.CrossEntropyLoss }, { "NLLLoss", nn.NLLLoss },
                   { "CategoricalCrossentropy", nn.CategoricalCrossentropy } }
  -- 300 rows: more than one block of 256 threads
  local SHAPES = { { 1, 1 }, { 3, 4 }, { 64, 10 }, { 300, 33 } }

  -- what each loss takes: logits, log-probabilities, probabilities
  local function input_for (name, B, C)
    local z = nn.tensor.randn(B, C) * 3
    if name == "NLLLoss" then return nn.LogSoftmax():forward(z):clone() end
    if name == "CategoricalCrossentropy" then return nn.tensor.rand(B, C) + 0.05 end
    return z
  end

  local function kind (t) return #t.shape == 1 and "index" or "probability" end

  it("match the CPU: every loss, index and probability targets, mean and sum", function()
    nn.manual_seed(31)
    for _, l in ipairs(LOSSES) do
      for _, s in ipairs(SHAPES) do
        local B, C = s[1], s[2]
        local x = input_for(l[1], B, C)
        for _, t in ipairs{ indices(B, C), soft_labels(B, C) } do
          for _, red in ipairs{ "mean", "sum" } do
            local what = ("%s [%dx%d], %s target, %s"):format(l[1], B, C, kind(t), red)
            local cpu, gpu = l[2]{ reduction = red }, l[2]{ reduction = red }
            local want = cpu:forward(x, t)
            H.assert_close(gpu:forward(x:cuda(), t:cuda()), want, TOL, what .. ": loss")
            local g = gpu:backward()
            assert.are.equal("cuda", g.device, what)
            H.assert_tensor(g:cpu(), cpu:backward():totable(), TOL, what .. ": grad")
          end
        end
      end
    end
  end)

  it("give the fused Softmax + cross-entropy gradient of the CPU", function()
    nn.manual_seed(32)
    local PAIRS = { { "Softmax", nn.Softmax, nn.CategoricalCrossentropy, false },
                    { "LogSoftmax", nn.LogSoftmax, nn.NLLLoss, true } }
    for _, s in ipairs(SHAPES) do
      local B, C = s[1], s[2]
      local z = nn.tensor.randn(B, C) * 3
      for _, p in ipairs(PAIRS) do
        local y = p[2]():forward(z):clone()
        for _, t in ipairs{ indices(B, C), soft_labels(B, C) } do
          for _, red in ipairs{ "mean", "sum" } do
            local what = ("%s [%dx%d], %s target, %s"):format(p[1], B, C, kind(t), red)
            local want = F.softmax_cross_entropy_backward(y, t, { log = p[4], reduction = red }):totable()
            local got = F.softmax_cross_entropy_backward(y:cuda(), t:cuda(),
                                                         { log = p[4], reduction = red })
            H.assert_tensor(got:cpu(), want, TOL, what)
          end
        end
      end
    end
  end)

  -- the error of f(dev) on each device: a whole message, the same on both
  local function errors (f)
    return H.error_of(function () f(function (t) return t:cpu() end) end),
           H.error_of(function () f(function (t) return t:cuda() end) end)
  end

  it("reject a bad class index with the CPU's message, naming the first bad row", function()
    nn.manual_seed(33)
    local x, y = nn.tensor.rand(5, 4) + 0.05, nn.Softmax():forward(nn.tensor.randn(5, 4))
    local BAD = { { 1, 0, 9, 2.5, 1 }, { 1, 2, 3, 4, 5 }, { 4, 4, 4, 4, -1 }, { 1, 1, 0 / 0, 1, 0 } }
    for _, l in ipairs(LOSSES) do
      for _, bad in ipairs(BAD) do
        local t = nn.tensor(bad)
        local cpu_msg, gpu_msg = errors(function (on) l[2]():forward(on(x), on(t)) end)
        assert.are.equal(cpu_msg, gpu_msg)
        assert.truthy(cpu_msg:find(l[1] .. ": target%[%d%] = "), cpu_msg)
        cpu_msg, gpu_msg = errors(function (on) l[2]():backward(on(x), on(t)) end)
        assert.are.equal(cpu_msg, gpu_msg)
        assert.truthy(cpu_msg:find("is not a class index in 1..4", 1, true), cpu_msg)
      end
    end
    -- the lowest bad row, whatever the order the threads ran in
    local _, msg = errors(function (on) nn.NLLLoss():forward(on(x), on(nn.tensor(BAD[1]))) end)
    assert.truthy(msg:find("target[2] = 0", 1, true), msg)
    for _, bad in ipairs(BAD) do
      local t = nn.tensor(bad)
      local cpu_msg, gpu_msg = errors(function (on)
        F.softmax_cross_entropy_backward(on(y), on(t))
      end)
      assert.are.equal(cpu_msg, gpu_msg)
      assert.truthy(cpu_msg:find("CategoricalCrossentropy: target[", 1, true), cpu_msg)
    end
  end)

  it("wants input and target on one device for the fused gradient", function()
    local y = nn.Softmax():forward(nn.tensor.randn(2, 3))
    H.assert_error_has(function ()
      F.softmax_cross_entropy_backward(y:cuda(), nn.tensor{ 1, 2 })
    end, { "CategoricalCrossentropy: input is on cuda, target on cpu" })
  end)
end)
