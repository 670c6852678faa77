--- spec/batchnorm_spec.lua -- nn.BatchNorm1d: batch statistics in training, running
-- ones in evaluation, PyTorch's numbers, and the three-term backward by finite differences;
-- on a GPU, the CUDA kernels against the CPU.
local nn = require "nn"
local H = require "spec.helpers"

-- A BatchNorm1d(3) with gamma and beta set in place through the live fields.
local function fixed_bn (opts)
  local l = nn.BatchNorm1d(3, opts)
  l.weight:copy(nn.tensor{1.5, -0.5, 2.0})
  l.bias:copy(nn.tensor{0.1, 0.2, -0.3})
  return l
end

local X1 = {{0.5, -1.2, 3.0}, {1.5, 0.3, 2.5}, {-0.7, 0.9, 4.1}, {2.2, -0.4, 3.6}}
local X2 = {{1.0, 2.0, -1.0}, {0.0, 1.5, -2.5}, {3.0, 0.5, 0.5}, {2.0, -1.0, 1.5}}
local X3 = {{0.25, 0.75, 3.5}, {-1.0, 1.25, 2.0}}
local G1 = {{0.3, -1.0, 0.5}, {1.2, 0.4, -0.8}, {-0.6, 0.9, 0.1}, {0.7, -0.2, 1.1}}
local G3 = {{0.5, -1.5, 2.0}, {1.0, 0.25, -0.75}}

-- Computed with PyTorch 1.13 (/usr/bin/python3): torch.nn.BatchNorm1d(3) with
-- the weight and bias above, the inputs converted to float32 first (as
-- nn.tensor does) and then run in float64, so these are the exact answers for
-- our float32 inputs.  Forward on X1 in training (with y:backward(G1)), a
-- second training forward on X2, then m.eval() and forward on X3 (with
-- y:backward(G3)).
local REF = {
  y_train1 = { { -0.415235005, 0.901328695, -1.29311339 }, { 0.958724958, -0.0550286233, -2.94830261 },
               { -2.06398695, -0.437571513, 2.34830259 }, { 1.920497, 0.391271452, 0.693113364 } },
  dx_train1 = { { 0.133863376, 0.0206147295, 1.52253052 }, { 0.647069117, -0.00894529003, -1.76066724 },
                { -0.234670719, 0.0174849796, -2.04626802 }, { -0.546261774, -0.0291544191, 2.28440475 } },
  dw_train1 = { 2.29909305, 2.83081757, 1.48967021 },
  db_train1 = { 1.60000002, 0.0999999791, 0.900000013 },
  rm1 = { 0.0875000015, -0.0100000016, 0.329999995 },
  rv1 = { 1.05891667, 0.982000002, 0.94866666 },
  y_train2 = { { -0.570817708, -0.345542644, -1.12478432 }, { -1.91245313, -0.127325585, -3.10426664 },
               { 2.11245313, 0.309108532, 0.854698013 }, { 0.770817711, 0.963759709, 2.1743529 } },
  rm2 = { 0.228750001, 0.0659999985, 0.259499996 },
  rv2 = { 1.11969167, 1.0588, 1.16004999 },
  y_eval = { { 0.130123056, -0.132366379, 5.71730183 }, { -1.64182142, -0.37532426, 2.93194378 } },
  dx_eval = { { 0.708777791, 0.728873643, 3.71381073 }, { 1.41755558, -0.12147894, -1.39267902 } },
  dw_eval = { -1.15117326, -0.709437014, 4.80532292 },
  db_eval = { 1.5, -1.25, 1.25 },
  -- torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.3, affine=False): training
  -- forward on X1, its running stats, then eval forward on X3
  y_noaffine = { { -0.343347439, -1.4015298, -0.49588466 }, { 0.572245695, 0.50964722, -1.32235923 },
                 { -1.44205919, 1.27411795, 1.32235923 }, { 1.21316093, -0.382235375, 0.49588466 } },
  rm_m03 = { 0.262500004, -0.0300000049, 0.989999986 },
  rv_m03 = { 1.17675001, 0.946000007, 0.845999979 },
  y_noaffine_eval = { { -0.0115181733, 0.801529691, 2.72729442 }, { -1.1633351, 1.31533077, 1.09743721 } },
}
-- Tolerance: H.ROUND, 4 ulp (4.8e-7) relative to max(1, |value|).  We sum
-- in double and round to float32 only a few times (the output, the saved
-- mean and 1/std that backward reads, the running estimates between steps),
-- half an ulp each: measured worst 1.0e-7 (0.84 ulp, in dx).  A wrong formula
-- (the biased variance in the running estimate, a missing term) is off by
-- 1e-2 or more.  (PyTorch's own float32 run is off from these numbers by up
-- to 8e-7, 7 ulp: it sums in float32.  We are closer to the exact answer.)
local TOL = H.ROUND

-- (B, C) input for a gradient check, each feature spread over the batch.
-- BatchNorm's xhat has curvature ~ 1/std^2 of its feature: when the B values
-- of a feature lie within ~0.1 of each other, the central difference with
-- h = 1e-2 is itself wrong (plain randn(2, 3) failed 30 seeds in 200, and
-- a shift of 2b still 2 in 300).  Row b is shifted by 3b, noise std 0.5, so
-- two rows come within 0.1 with odds ~1e-5; min_std reports the narrowest
-- feature, and the specs check it.
local function spread_input (B, C)
  local x = nn.tensor.randn(B, C) * 0.5
  local min_std = math.huge
  for c = 1, C do
    local s, ss = 0, 0
    for b = 1, B do
      local v = x:get(b, c) + 3 * b
      x:set(b, c, v)
      s = s + v
      ss = ss + v * v
    end
    min_std = math.min(min_std, math.sqrt(math.max(ss / B - (s / B) ^ 2, 0)))
  end
  return x, min_std
end

-- A Lua layer around a real BatchNorm1d whose backward drops one of the
-- three terms of dx = (gamma invstd / B) (B g - sum g - xhat sum(g xhat)):
-- "mean" drops "- sum g" (the path through the mean), "var" drops
-- "- xhat sum(g xhat)" (the path through the variance); nil keeps both, the
-- control that shows the wrapper itself is sound.
local function wrapped_bn (C, drop)
  local inner = nn.BatchNorm1d(C)
  local w = {}
  function w:forward (x) self.x = x return inner:forward(x) end
  function w:backward (g)
    local dx = inner:backward(g):clone()
    local k = inner.weight * inner.save_invstd / g.shape[1]          -- (C)
    if drop == "mean" then
      dx = dx + g:sum(1) * k                                          -- + back the sum g
    elseif drop == "var" then
      local xhat = (self.x - inner.save_mean) * inner.save_invstd
      dx = dx + xhat * ((g * xhat):sum(1) * k)                        -- + back xhat sum(g xhat)
    end
    return dx
  end
  function w:parameters () return inner:parameters() end
  function w:buffers () return inner:buffers() end
  return w, inner
end

describe("nn.BatchNorm1d", function()
  it("starts with gamma = 1, beta = 0, running_mean = 0, running_var = 1", function()
    local l = nn.BatchNorm1d(4)
    H.assert_tensor(l.weight, {1, 1, 1, 1}, H.EXACT)
    H.assert_tensor(l.bias, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.grad_weight, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.grad_bias, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.running_mean, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.running_var, {1, 1, 1, 1}, H.EXACT)
    H.assert_close(l.eps, 1e-5, H.ROUND)
    H.assert_close(l.momentum, 0.1, H.ROUND)
    local _, _, names = l:parameters()
    assert.are.same({"weight", "bias"}, names)
  end)

  it("shows its size, eps and momentum", function()
    assert.are.equal("nn.BatchNorm1d(4, eps=1e-05, momentum=0.1)", tostring(nn.BatchNorm1d(4)))
    assert.are.equal("nn.BatchNorm1d(3, eps=0.001, momentum=0.3, affine=false)",
                     tostring(nn.BatchNorm1d(3, {eps = 1e-3, momentum = 0.3, affine = false})))
  end)

  it("training forward normalises with the batch's mean and biased variance (PyTorch)", function()
    local l = fixed_bn()
    H.assert_tensor(l:forward(nn.tensor(X1)), REF.y_train1, TOL)
  end)

  it("updates running_mean and running_var (unbiased) by momentum, over two steps (PyTorch)", function()
    local l = fixed_bn()
    l:forward(nn.tensor(X1))
    H.assert_tensor(l.running_mean, REF.rm1, TOL, "running_mean after 1 step")
    H.assert_tensor(l.running_var, REF.rv1, TOL, "running_var after 1 step")
    H.assert_tensor(l:forward(nn.tensor(X2)), REF.y_train2, TOL, "y of step 2")
    H.assert_tensor(l.running_mean, REF.rm2, TOL, "running_mean after 2 steps")
    H.assert_tensor(l.running_var, REF.rv2, TOL, "running_var after 2 steps")
  end)

  it("evaluation forward uses the running statistics and leaves them alone (PyTorch)", function()
    local l = fixed_bn()
    l:forward(nn.tensor(X1)); l:forward(nn.tensor(X2))
    l:evaluate()
    H.assert_tensor(l:forward(nn.tensor(X3)), REF.y_eval, TOL)
    H.assert_tensor(l.running_mean, REF.rm2, TOL, "running_mean")
    H.assert_tensor(l.running_var, REF.rv2, TOL, "running_var")
  end)

  it("training backward: the three-term dx, dgamma = sum g xhat, dbeta = sum g (PyTorch)", function()
    local l = fixed_bn()
    l:forward(nn.tensor(X1))
    H.assert_tensor(l:backward(nn.tensor(G1)), REF.dx_train1, TOL, "dx")
    H.assert_tensor(l.grad_weight, REF.dw_train1, TOL, "grad_weight")
    H.assert_tensor(l.grad_bias, REF.db_train1, TOL, "grad_bias")
  end)

  it("evaluation backward: dx = g gamma / sqrt(running_var + eps) (PyTorch)", function()
    local l = fixed_bn()
    l:forward(nn.tensor(X1)); l:forward(nn.tensor(X2))
    l:evaluate()
    l:forward(nn.tensor(X3))
    H.assert_tensor(l:backward(nn.tensor(G3)), REF.dx_eval, TOL, "dx")
    H.assert_tensor(l.grad_weight, REF.dw_eval, TOL, "grad_weight")
    H.assert_tensor(l.grad_bias, REF.db_eval, TOL, "grad_bias")
  end)

  it("backward follows the mode of the forward that made the output", function()
    -- training forward, then evaluate(): still the training formula
    local l = fixed_bn()
    l:forward(nn.tensor(X1))
    l:evaluate()
    H.assert_tensor(l:backward(nn.tensor(G1)), REF.dx_train1, TOL, "train forward, eval backward")
    -- evaluation forward, then train(): still the evaluation formula
    local e = fixed_bn()
    e:forward(nn.tensor(X1)); e:forward(nn.tensor(X2))
    e:evaluate()
    e:forward(nn.tensor(X3))
    e:train()
    H.assert_tensor(e:backward(nn.tensor(G3)), REF.dx_eval, TOL, "eval forward, train backward")
  end)

  it("with affine = false has no parameters and other eps and momentum (PyTorch)", function()
    local l = nn.BatchNorm1d(3, {eps = 1e-3, momentum = 0.3, affine = false})
    assert.is_nil(l.weight); assert.is_nil(l.bias)
    assert.is_nil(l.grad_weight); assert.is_nil(l.grad_bias)
    local p, g = l:parameters()
    assert.are.equal(0, #p); assert.are.equal(0, #g)
    H.assert_tensor(l:forward(nn.tensor(X1)), REF.y_noaffine, TOL, "y")
    H.assert_tensor(l.running_mean, REF.rm_m03, TOL, "running_mean")
    H.assert_tensor(l.running_var, REF.rv_m03, TOL, "running_var")
    l:zero_grad()                                    -- nothing to zero: no error
    l:evaluate()
    H.assert_tensor(l:forward(nn.tensor(X3)), REF.y_noaffine_eval, TOL, "eval y")
  end)

  for _, shape in ipairs{ {2, 3}, {5, 4}, {16, 1} } do
    local B, C = table.unpack(shape)
    it(("passes gradcheck in training for input, weight and bias at (%d, %d)"):format(B, C), function()
      nn.manual_seed(B * 100 + C)
      local l = nn.BatchNorm1d(C)
      l.weight:copy(nn.tensor.randn(C)); l.bias:copy(nn.tensor.randn(C))
      local x, min_std = spread_input(B, C)
      assert.is_true(min_std > 0.3, "input too narrow for h = 1e-2: std " .. min_std)
      local rm, rv = l.running_mean:clone(), l.running_var:clone()
      local r = H.assert_gradcheck(l, x)
      assert.are.equal(B * C + 2 * C, r.checked)
      -- gradcheck ran many training forwards and put the running stats back
      assert.are.same(rm:totable(), l.running_mean:totable())
      assert.are.same(rv:totable(), l.running_var:totable())
    end)
  end

  it("passes gradcheck in evaluation mode, with running statistics not 0 and 1", function()
    nn.manual_seed(11)
    local l = nn.BatchNorm1d(4)
    l.weight:copy(nn.tensor.randn(4)); l.bias:copy(nn.tensor.randn(4))
    l.running_mean:copy(nn.tensor{0.5, -1, 2, 0})
    l.running_var:copy(nn.tensor{0.25, 2, 1.5, 4})
    l:evaluate()
    H.assert_gradcheck(l, nn.tensor.randn(5, 4))
    H.assert_gradcheck(l, nn.tensor.randn(1, 4))       -- batch 1 is fine in evaluation
  end)

  it("passes gradcheck with affine = false", function()
    nn.manual_seed(12)
    local x = spread_input(6, 3)
    local r = H.assert_gradcheck(nn.BatchNorm1d(3, {affine = false}), x)
    assert.are.equal(18, r.checked)                   -- the input only
  end)

  it("gradcheck fails on a backward that drops the mean term or the variance term", function()
    nn.manual_seed(13)
    local x = spread_input(5, 4)
    assert.is_true((nn.gradcheck((wrapped_bn(4, nil)), x)), "the sound wrapper must pass")
    local ok_mean, rep_mean = nn.gradcheck((wrapped_bn(4, "mean")), x)
    assert.is_false(ok_mean)
    assert.truthy(rep_mean.failed_at:find("^input"), rep_mean.failed_at)
    local ok_var, rep_var = nn.gradcheck((wrapped_bn(4, "var")), x)
    assert.is_false(ok_var)
    assert.truthy(rep_var.failed_at:find("^input"), rep_var.failed_at)
  end)

  it("refuses a batch of 1 in training, as PyTorch, and takes it in evaluation", function()
    local l = nn.BatchNorm1d(4)
    local x = nn.tensor{{2, 4, 6, 8}}
    H.assert_error_has(function () l:forward(x) end,
                       {"bad argument #1 to 'forward'", "BatchNorm1d(4): expected more than 1 "
                        .. "value per channel when training, got input [1x4]"})
    H.assert_tensor(l.running_mean, {0, 0, 0, 0}, H.EXACT, "running_mean untouched")
    l.running_mean:copy(nn.tensor{1, 2, 3, 4})
    l.running_var:copy(nn.tensor{3, 15, 8, 0.25})
    l.weight:copy(nn.tensor{1, 2, -1, 0.5}); l.bias:copy(nn.tensor{0, 1, 0, -1})
    l:evaluate()
    local want = {}
    for c, v in ipairs{2, 4, 6, 8} do
      local rm, rv = ({1, 2, 3, 4})[c], ({3, 15, 8, 0.25})[c]
      local gam, bet = ({1, 2, -1, 0.5})[c], ({0, 1, 0, -1})[c]
      want[c] = gam * (v - rm) / math.sqrt(rv + 1e-5) + bet
    end
    H.assert_tensor(l:forward(x), {want}, TOL)
  end)

  it("refuses backward after a failed forward, not reading the refused input", function()
    local l = nn.BatchNorm1d(4)
    l:forward(nn.tensor.randn(3, 4))
    assert.is_false((pcall(l.forward, l, nn.tensor.randn(3, 5))))
    H.assert_error_has(function () l:backward(nn.tensor.ones(3, 4)) end,
                       {"BatchNorm1d", "backward before forward"})
    l:forward(nn.tensor.randn(3, 4))                  -- and recovers
    assert.are.same({3, 4}, l:backward(nn.tensor.ones(3, 4)).shape)
  end)

  it("takes an empty batch in training: empty output, running stats untouched (PyTorch)", function()
    local l = nn.BatchNorm1d(4)
    assert.are.same({0, 4}, l:forward(nn.tensor.zeros(0, 4)).shape)
    H.assert_tensor(l.running_mean, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.running_var, {1, 1, 1, 1}, H.EXACT)
    assert.are.same({0, 4}, l:backward(nn.tensor.zeros(0, 4)).shape)
    H.assert_tensor(l.grad_weight, {0, 0, 0, 0}, H.EXACT)
  end)

  it("names the layer and both shapes for a wrong input size", function()
    local l = nn.BatchNorm1d(4)
    local want = "BatchNorm1d(4): expected input [B x 4] or [B x 4 x L], got "
    H.assert_error_has(function () l:forward(nn.tensor.randn(3, 5)) end,
                       {"bad argument #1 to 'forward'", want .. "[3x5]"})
    H.assert_error_has(function () l:forward(nn.tensor.randn(4)) end, {want .. "[4]"})
    H.assert_error_has(function () l:forward(nn.tensor.randn(2, 5, 3)) end, {want .. "[2x5x3]"})
    H.assert_error_has(function () l:forward(nn.tensor.randn(2, 4, 3, 1)) end,
                       {want .. "[2x4x3x1]"})
  end)

  it("rejects bad sizes and options", function()
    H.assert_error_has(function () nn.BatchNorm1d(0) end, {"num_features must be a positive integer"})
    H.assert_error_has(function () nn.BatchNorm1d(4, {eps = 0}) end, {"eps must be > 0"})
    H.assert_error_has(function () nn.BatchNorm1d(4, {momentum = 1.5}) end,
                       {"momentum must be in [0, 1]"})
    H.assert_error_has(function () nn.BatchNorm1d(4, {affline = false}) end,
                       {"BatchNorm1d has no option 'affline'"})
  end)

  it("shows live fields: running_mean, weight and grad_weight are the tensors it computes in", function()
    local l = fixed_bn()
    local rm, rv = l.running_mean, l.running_var
    local w, gw = l.weight, l.grad_weight
    l:forward(nn.tensor(X1))
    assert.are.equal(rm, l.running_mean); assert.are.equal(rv, l.running_var)
    H.assert_tensor(rm, REF.rm1, TOL, "held running_mean after a forward")
    H.assert_tensor(rv, REF.rv1, TOL, "held running_var after a forward")
    assert.are.equal(rm, l:buffers().running_mean)
    assert.are.equal(rv, l:buffers().running_var)
    assert.are.equal(w, l.weight); assert.are.equal(gw, l.grad_weight)
    l:backward(nn.tensor(G1))
    H.assert_tensor(gw, REF.dw_train1, TOL, "held grad_weight after a backward")
    -- a change to the held weight is what the next forward uses
    w:copy(nn.tensor{1, 1, 1}); l.bias:zero_()
    local y = l:forward(nn.tensor(X1))
    -- 4 values |y| < 2, each rounded to float32: |sum| < 4 * 2 * 6e-8 < 1e-6
    H.assert_tensor(y:sum(1), {0, 0, 0}, 1e-6, "gamma = 1, beta = 0: each column sums to 0")
  end)

  it("accumulates parameter gradients over backward calls until zero_grad", function()
    local l = fixed_bn()
    l:forward(nn.tensor(X1)); l:backward(nn.tensor(G1))
    l:forward(nn.tensor(X1)); l:backward(nn.tensor(G1))
    local two_dw, two_db = {}, {}
    for c = 1, 3 do two_dw[c], two_db[c] = 2 * REF.dw_train1[c], 2 * REF.db_train1[c] end
    H.assert_tensor(l.grad_weight, two_dw, TOL, "grad_weight")
    H.assert_tensor(l.grad_bias, two_db, TOL, "grad_bias")
    l:zero_grad()
    H.assert_tensor(l.grad_weight, {0, 0, 0}, H.EXACT)
    H.assert_tensor(l.grad_bias, {0, 0, 0}, H.EXACT)
  end)

  it("reuses its buffers while the batch shape stays: the memory does not move", function()
    local l = nn.BatchNorm1d(4)
    l:forward(nn.tensor.randn(8, 4)); l:backward(nn.tensor.randn(8, 4))
    local ptr = { output = l.output:data_ptr(), grad_input = l.grad_input:data_ptr() }
    for name, t in pairs(l:buffers()) do ptr[name] = t:data_ptr() end
    for _ = 1, 3 do
      l:forward(nn.tensor.randn(8, 4)); l:backward(nn.tensor.randn(8, 4))
    end
    l:evaluate()
    l:forward(nn.tensor.randn(8, 4)); l:backward(nn.tensor.randn(8, 4))
    assert.are.equal(ptr.output, l.output:data_ptr(), "output")
    assert.are.equal(ptr.grad_input, l.grad_input:data_ptr(), "grad_input")
    for name, t in pairs(l:buffers()) do assert.are.equal(ptr[name], t:data_ptr(), name) end
    assert.are.same({"running_mean", "running_var", "save_invstd", "save_mean"},
                    (function () local n = {} for k in pairs(l:buffers()) do n[#n + 1] = k end
                       table.sort(n) return n end)())
  end)
end)

describe("nn.BatchNorm1d on (B, C, L), as PyTorch's", function()
  -- x (B, C, L): channel c is normalised over its B L values, as
  -- BatchNorm2d on (B, C, L, 1) and as BatchNorm1d on the (B L, C) rows
  -- x:permute(1, 3, 2) gives; the sums run in the same order, so the same bits.
  it("is BatchNorm1d on the rows (b, l) and BatchNorm2d on (B, C, L, 1), bit for bit", function()
    nn.manual_seed(71)
    local x, g = nn.tensor.randn(3, 4, 5) * 2 + 1, nn.tensor.randn(3, 4, 5)
    local rows = function (t) return t:permute(1, 3, 2):clone():view(15, 4) end
    local l, r, q = nn.BatchNorm1d(4), nn.BatchNorm1d(4), nn.BatchNorm2d(4)
    for _, m in ipairs{ l, r, q } do
      nn.manual_seed(72)
      m.weight:copy(nn.tensor.randn(4)); m.bias:copy(nn.tensor.randn(4))
    end
    for step = 1, 2 do
      local y = l:forward(x)
      local dx = l:backward(g)
      assert.are.same({3, 4, 5}, y.shape)
      H.assert_tensor(rows(y), r:forward(rows(x)):totable(), H.EXACT, "y, step " .. step)
      H.assert_tensor(rows(dx), r:backward(rows(g)):totable(), H.EXACT, "dx, step " .. step)
      H.assert_tensor(y:view(3, 4, 5, 1), q:forward(x:view(3, 4, 5, 1)):totable(), H.EXACT)
      for _, k in ipairs{ "running_mean", "running_var", "grad_weight", "grad_bias" } do
        H.assert_tensor(l[k], r[k]:totable(), H.EXACT, k .. ", step " .. step)
      end
    end
  end)

  it("takes a batch of 1 in training when L > 1, and refuses B L = 1", function()
    local l = nn.BatchNorm1d(2)
    local y = l:forward(nn.tensor{{{1, 3}, {2, 6}}})              -- (1, 2, 2)
    H.assert_tensor(y, {{{-1, 1}, {-1, 1}}}, 1e-4, "(x - mean) / sqrt(var + eps), var = 1 and 4")
    H.assert_error_has(function () l:forward(nn.tensor.zeros(1, 2, 1)) end,
                       {"BatchNorm1d(2): expected more than 1 value per channel when training, "
                        .. "got input [1x2x1]"})
  end)

  it("passes gradcheck in training at (2, 3, 4)", function()
    nn.manual_seed(73)
    local l = nn.BatchNorm1d(3)
    l.weight:copy(nn.tensor.randn(3)); l.bias:copy(nn.tensor.randn(3))
    local r = H.assert_gradcheck(l, nn.tensor.randn(2, 3, 4) * 1.5)
    assert.are.equal(24 + 6, r.checked)
  end)
end)

describe("nn.BatchNorm1d on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  -- Tolerance: 1e-5 relative to max(1, |value|).  Both devices run the same
  -- per-channel function (batchnorm.h), summing in double in the same order
  -- and rounding to float32 at the same points, but nvcc contracts a * b + c
  -- into one fma: a value may round the other way, about 1 ulp (1.2e-7).  A
  -- kernel that reads another channel or drops a term is off by 1e-2 or more.
  local CUDA_TOL = 1e-5

  local function assert_same (gpu, cpu, what) H.assert_same_layer(gpu, cpu, CUDA_TOL, what) end
  local function pair (C, opts, seed) return H.cpu_gpu_pair(nn.BatchNorm1d, C, opts, seed) end
  local step = H.step_both

  -- C = 300 spans two blocks of 256 threads; C = 5 leaves most of one idle
  local SIZES = { { B = 16, C = 300 }, { B = 2, C = 5 } }
  local OPTS = {
    { name = "affine", opts = {} },
    { name = "affine = false", opts = { affine = false, eps = 1e-3, momentum = 0.3 } },
  }

  for _, o in ipairs(OPTS) do
    for k, sz in ipairs(SIZES) do
      local B, C = sz.B, sz.C
      it(("matches the CPU in training, %s, B = %d, C = %d: output, grad_input, statistics, "
          .. "gradients"):format(o.name, B, C), function()
        local cpu, gpu = pair(C, o.opts, 20 + k)
        -- two steps: the running statistics move twice, the gradients accumulate
        for t = 1, 2 do
          step(cpu, gpu, nn.tensor.randn(B, C) * 2 + 0.5, nn.tensor.randn(B, C))
          assert_same(gpu, cpu, "training step " .. t)
        end
      end)

      it(("matches the CPU in evaluation, %s, B = %d, C = %d"):format(o.name, B, C), function()
        local cpu, gpu = pair(C, o.opts, 30 + k)
        step(cpu, gpu, nn.tensor.randn(B, C) * 2 + 0.5, nn.tensor.randn(B, C))
        cpu:evaluate(); gpu:evaluate()
        step(cpu, gpu, nn.tensor.randn(B, C) - 1, nn.tensor.randn(B, C))
        assert_same(gpu, cpu, "evaluation")
        -- a batch of 1 is fine in evaluation
        step(cpu, gpu, nn.tensor.randn(1, C), nn.tensor.randn(1, C))
        assert_same(gpu, cpu, "evaluation, batch of 1")
      end)
    end
  end

  it("the comparison can fail: training and evaluation outputs differ by more than it allows",
     function()
    local cpu, gpu = pair(300, {}, 40)
    local x = nn.tensor.randn(16, 300) * 2 + 0.5
    cpu:evaluate()
    local y_eval = cpu:forward(x):totable()
    local ok = pcall(H.assert_tensor, gpu:forward(x:cuda()):cpu(), y_eval, CUDA_TOL)
    assert.is_false(ok)
  end)

  it("is deterministic: the same steps give the same bits", function()
    local _, a = pair(300, {}, 50)
    local _, b = pair(300, {}, 50)
    local x, g = (nn.tensor.randn(16, 300) * 2):cuda(), nn.tensor.randn(16, 300):cuda()
    for _ = 1, 2 do a:forward(x); a:backward(g); b:forward(x); b:backward(g) end
    for name, t in pairs(H.layer_fields(a)) do
      assert.are.same(t:cpu():totable(), H.layer_fields(b)[name]:cpu():totable(), name)
    end
  end)

  it("takes an empty batch in training: empty output, running stats untouched", function()
    local _, gpu = pair(4, {}, 60)
    assert.are.same({0, 4}, gpu:forward(nn.tensor.zeros(0, 4):cuda()).shape)
    H.assert_tensor(gpu.running_mean:cpu(), {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(gpu.running_var:cpu(), {1, 1, 1, 1}, H.EXACT)
    assert.are.same({0, 4}, gpu:backward(nn.tensor.zeros(0, 4):cuda()).shape)
  end)
end)
