--- spec/batchnorm2d_spec.lua -- nn.BatchNorm2d: per-channel statistics over the batch
-- and the image (n = B H W values each), PyTorch's semantics; against a naive Lua
-- reference, hand-computed running statistics, finite differences, every error; on a
-- GPU, the CUDA kernels against the CPU.
local nn = require "nn"
local H = require "spec.helpers"

-- Tolerance: H.ROUND, 4 ulp relative to max(1, |value|).  The layer and the
-- reference below both sum in double in the same (b, h, w) order; the layer
-- rounds to float32 a few times (the output, the saved mean and 1/std that
-- backward reads, the running estimates between steps), half an ulp each.
-- A wrong formula (a missing term, the biased variance in the running one,
-- statistics over the wrong dims) is off by 1e-2 or more.
local TOL = H.ROUND

-- The naive reference: x, g as nested tables (B, C, H, W); gamma, beta, rm,
-- rv lists of C numbers.  Training: the batch's mean and biased variance
-- over (b, h, w), the running ones moved by momentum with the unbiased
-- variance; evaluation: the running ones.  Returns y, and with g also
-- dx, dgamma, dbeta; rm, rv are updated in place.
local function reference (x, gamma, beta, rm, rv, o)
  local B, C, Hh, W = #x, #x[1], #x[1][1], #x[1][1][1]
  local n = B * Hh * W
  local y, dx, dgamma, dbeta = {}, {}, {}, {}
  for b = 1, B do
    y[b], dx[b] = {}, {}
    for c = 1, C do
      y[b][c], dx[b][c] = {}, {}
      for h = 1, Hh do y[b][c][h], dx[b][c][h] = {}, {} end
    end
  end
  local function each (c, f)
    for b = 1, B do for h = 1, Hh do for w = 1, W do f(b, h, w, x[b][c][h][w]) end end end
  end
  for c = 1, C do
    local mean, var
    if o.training then
      local s, ss = 0, 0
      each(c, function (_, _, _, v) s = s + v end)
      mean = s / n
      each(c, function (_, _, _, v) ss = ss + (v - mean) ^ 2 end)
      var = ss / n
      rm[c] = (1 - o.momentum) * rm[c] + o.momentum * mean
      rv[c] = (1 - o.momentum) * rv[c] + o.momentum * var * n / (n - 1)
    else
      mean, var = rm[c], rv[c]
    end
    local r = 1 / math.sqrt(var + o.eps)
    each(c, function (b, h, w, v) y[b][c][h][w] = gamma[c] * (v - mean) * r + beta[c] end)
    if o.g then
      local sg, sgx = 0, 0
      each(c, function (b, h, w, v)
        local gv = o.g[b][c][h][w]
        sg, sgx = sg + gv, sgx + gv * (v - mean) * r
      end)
      dgamma[c], dbeta[c] = sgx, sg
      each(c, function (b, h, w, v)
        local gv = o.g[b][c][h][w]
        if o.training then                           -- the three paths, by their sums
          dx[b][c][h][w] = gamma[c] * r / n * (n * gv - sg - (v - mean) * r * sgx)
        else
          dx[b][c][h][w] = gamma[c] * r * gv
        end
      end)
    end
  end
  return y, dx, dgamma, dbeta
end

-- (B, C, H, W) values at odd sizes, each channel spread (std of its n values
-- at least 0.5: BatchNorm's curvature ~ 1/std^2 would spoil the central
-- difference with h = 1e-2, see batchnorm_spec.lua); min_std is checked.
local function spread_input (B, C, Hh, W)
  local x = nn.tensor.randn(B, C, Hh, W) * 1.5
  local t, min_std = x:totable(), math.huge
  for c = 1, C do
    local s, ss, n = 0, 0, 0
    for b = 1, B do for h = 1, Hh do for w = 1, W do
      local v = t[b][c][h][w]
      s, ss, n = s + v, ss + v * v, n + 1
    end end end
    min_std = math.min(min_std, math.sqrt(math.max(ss / n - (s / n) ^ 2, 0)))
  end
  return x, min_std
end

-- A BatchNorm2d(3) with gamma and beta set through the live fields.
local GAMMA, BETA = { 1.5, -0.5, 2.0 }, { 0.1, 0.2, -0.3 }
local function fixed_bn (opts)
  local l = nn.BatchNorm2d(3, opts)
  l.weight:copy(nn.tensor(GAMMA))
  l.bias:copy(nn.tensor(BETA))
  return l
end

describe("nn.BatchNorm2d", function()
  it("starts with gamma = 1, beta = 0, running_mean = 0, running_var = 1", function()
    local l = nn.BatchNorm2d(4)
    H.assert_tensor(l.weight, {1, 1, 1, 1}, H.EXACT)
    H.assert_tensor(l.bias, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.running_mean, {0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(l.running_var, {1, 1, 1, 1}, H.EXACT)
    assert.are.equal("1e-05", tostring(l.eps))
    assert.are.equal(0.1, l.momentum)
    assert.are.equal("nn.BatchNorm2d(4, eps=1e-05, momentum=0.1)", tostring(l))
    assert.are.equal("nn.BatchNorm2d(3, eps=0.001, momentum=0.3, affine=false)",
                     tostring(nn.BatchNorm2d(3, {eps = 1e-3, momentum = 0.3, affine = false})))
    assert.are.same({ type = "BatchNorm2d", num_features = 4, eps = 1e-5, momentum = 0.1,
                      affine = true }, l:config())
  end)

  it("training forward and backward match the naive reference: statistics over (b, h, w)", function()
    nn.manual_seed(81)
    local l = fixed_bn()
    local x, g = nn.tensor.randn(2, 3, 3, 5) * 2 + 0.5, nn.tensor.randn(2, 3, 3, 5)
    local rm, rv = { 0, 0, 0 }, { 1, 1, 1 }
    local y, dx, dgamma, dbeta = reference(x:totable(), GAMMA, BETA, rm, rv,
      { training = true, momentum = 0.1, eps = 1e-5, g = g:totable() })
    H.assert_tensor(l:forward(x), y, TOL, "y")
    H.assert_tensor(l.running_mean, rm, TOL, "running_mean")
    H.assert_tensor(l.running_var, rv, TOL, "running_var")
    H.assert_tensor(l:backward(g), dx, TOL, "dx")
    H.assert_tensor(l.grad_weight, dgamma, TOL, "grad_weight")
    H.assert_tensor(l.grad_bias, dbeta, TOL, "grad_bias")
  end)

  it("normalises each channel to mean 0 and variance 1 over the batch and the image", function()
    nn.manual_seed(82)
    local l = nn.BatchNorm2d(4, {affine = false})
    local y = l:forward(nn.tensor.randn(3, 4, 5, 2) * 3 + 7)
    local per_channel = y:permute(2, 1, 3, 4):clone():view(4, 30)
    H.assert_tensor(per_channel:mean(2), {0, 0, 0, 0}, 1e-6, "means")
    -- the biased variance of xhat is var / (var + eps), 1 - 1e-6 here
    H.assert_tensor((per_channel * per_channel):mean(2), {1, 1, 1, 1}, 1e-5, "variances")
  end)

  it("moves running_mean and running_var (unbiased, n = B H W) as computed by hand, over two steps", function()
    -- (B, C, H, W) = (2, 2, 1, 2): 4 values per channel, n / (n - 1) = 4/3
    local l = nn.BatchNorm2d(2)
    -- channel 1: 1 3 5 7, mean 4, squares 9+1+1+9 = 20: biased 5, unbiased 20/3
    -- channel 2: 2 2 2 6, mean 3, squares 1+1+1+9 = 12: biased 3, unbiased 4
    l:forward(nn.tensor{ {{{1, 3}}, {{2, 2}}}, {{{5, 7}}, {{2, 6}}} })
    -- running_mean = 0.9 * 0 + 0.1 * mean, running_var = 0.9 * 1 + 0.1 * unbiased
    H.assert_tensor(l.running_mean, {0.4, 0.3}, TOL, "running_mean after 1 step")
    H.assert_tensor(l.running_var, {0.9 + 2 / 3, 0.9 + 0.4}, TOL, "running_var after 1 step")
    -- channel 1: 0 0 2 2, mean 1, squares 4: unbiased 4/3
    -- channel 2: -1 1 -3 3, mean 0, squares 1+1+9+9 = 20: unbiased 20/3
    local y = l:forward(nn.tensor{ {{{0, 0}}, {{-1, 1}}}, {{{2, 2}}, {{-3, 3}}} })
    H.assert_tensor(l.running_mean, {0.9 * 0.4 + 0.1 * 1, 0.9 * 0.3 + 0.1 * 0}, TOL,
                    "running_mean after 2 steps")
    H.assert_tensor(l.running_var, {0.9 * (0.9 + 2 / 3) + 0.1 * 4 / 3, 0.9 * 1.3 + 0.1 * 20 / 3},
                    TOL, "running_var after 2 steps")
    -- and y normalised with the biased variances 1 and 5
    local a, b = 1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(5 + 1e-5)
    H.assert_tensor(y, { {{{-a, -a}}, {{-b, b}}}, {{{a, a}}, {{-3 * b, 3 * b}}} }, TOL, "y of step 2")
  end)

  it("evaluation uses the running statistics, leaves them alone, and backward is g gamma r", function()
    nn.manual_seed(83)
    local l = fixed_bn()
    local rm, rv = { 0, 0, 0 }, { 1, 1, 1 }
    for _ = 1, 2 do
      local x = nn.tensor.randn(2, 3, 2, 3) * 2 - 1
      reference(x:totable(), GAMMA, BETA, rm, rv, { training = true, momentum = 0.1, eps = 1e-5 })
      l:forward(x)
    end
    l:evaluate()
    local x, g = nn.tensor.randn(1, 3, 2, 2), nn.tensor.randn(1, 3, 2, 2)
    -- the reference from the layer's own float32 running estimates
    local lrm, lrv = l.running_mean:totable(), l.running_var:totable()
    H.assert_tensor(l.running_mean, rm, TOL, "running_mean before")
    H.assert_tensor(l.running_var, rv, TOL, "running_var before")
    local y, dx, dgamma, dbeta = reference(x:totable(), GAMMA, BETA, lrm, lrv,
                                           { training = false, eps = 1e-5, g = g:totable() })
    H.assert_tensor(l:forward(x), y, TOL, "y")
    assert.are.same(lrm, l.running_mean:totable())
    assert.are.same(lrv, l.running_var:totable())
    H.assert_tensor(l:backward(g), dx, TOL, "dx")
    H.assert_tensor(l.grad_weight, dgamma, TOL, "grad_weight")
    H.assert_tensor(l.grad_bias, dbeta, TOL, "grad_bias")
    -- one value per channel is fine in evaluation
    assert.are.same({1, 3, 1, 1}, l:forward(nn.tensor.randn(1, 3, 1, 1)).shape)
  end)

  it("is BatchNorm1d on the pixels as rows, bit for bit (the same sums in the same order)", function()
    nn.manual_seed(84)
    local x, g = nn.tensor.randn(3, 4, 2, 5) * 2 + 1, nn.tensor.randn(3, 4, 2, 5)
    local rows = function (t) return t:permute(1, 3, 4, 2):clone():view(30, 4) end
    local two, one = nn.BatchNorm2d(4, {momentum = 0.3}), nn.BatchNorm1d(4, {momentum = 0.3})
    two.weight:copy(nn.tensor{1, -2, 0.5, 3}); one.weight:copy(two.weight)
    for step = 1, 2 do
      H.assert_tensor(rows(two:forward(x)), one:forward(rows(x)):totable(), H.EXACT, "y " .. step)
      H.assert_tensor(rows(two:backward(g)), one:backward(rows(g)):totable(), H.EXACT, "dx " .. step)
      for _, k in ipairs{ "running_mean", "running_var", "grad_weight", "grad_bias" } do
        H.assert_tensor(two[k], one[k]:totable(), H.EXACT, k .. " " .. step)
      end
    end
  end)

  -- odd sizes; (1, 2, 3, 3) is a batch of 1, fine in training since H W > 1;
  -- (5, 4, 1, 1) is 1x1 images, as BatchNorm1d
  for _, s in ipairs{ {2, 3, 3, 5}, {1, 2, 3, 3}, {3, 1, 2, 1}, {5, 4, 1, 1} } do
    local B, C, Hh, W = table.unpack(s)
    it(("passes gradcheck in training for input, weight and bias at (%d, %d, %d, %d)")
       :format(B, C, Hh, W), function()
      nn.manual_seed(B * 1000 + C * 100 + Hh * 10 + W)
      local l = nn.BatchNorm2d(C)
      l.weight:copy(nn.tensor.randn(C)); l.bias:copy(nn.tensor.randn(C))
      local x, min_std = spread_input(B, C, Hh, W)
      assert.is_true(min_std > 0.5, "input too narrow for h = 1e-2: std " .. min_std)
      local rm, rv = l.running_mean:clone(), l.running_var:clone()
      local r = H.assert_gradcheck(l, x)
      assert.are.equal(B * C * Hh * W + 2 * C, r.checked)
      -- gradcheck ran many training forwards and put the running stats back
      assert.are.same(rm:totable(), l.running_mean:totable())
      assert.are.same(rv:totable(), l.running_var:totable())
    end)
  end

  it("passes gradcheck in evaluation mode and with affine = false", function()
    nn.manual_seed(85)
    local l = nn.BatchNorm2d(3)
    l.weight:copy(nn.tensor.randn(3)); l.bias:copy(nn.tensor.randn(3))
    l.running_mean:copy(nn.tensor{0.5, -1, 2})
    l.running_var:copy(nn.tensor{0.25, 2, 1.5})
    l:evaluate()
    H.assert_gradcheck(l, nn.tensor.randn(2, 3, 2, 3))
    H.assert_gradcheck(l, nn.tensor.randn(1, 3, 1, 1))      -- n = 1 is fine in evaluation
    local x = spread_input(2, 3, 3, 2)
    local r = H.assert_gradcheck(nn.BatchNorm2d(3, {affine = false}), x)
    assert.are.equal(36, r.checked)                          -- the input only
  end)

  -- A Lua layer around a real BatchNorm2d whose backward drops one of the
  -- three terms of dx = (gamma r / n) (n g - sum g - xhat sum(g xhat)),
  -- the sums over (b, h, w) of each channel: "mean" drops "- sum g", "var"
  -- drops "- xhat sum(g xhat)", "dims" sums over the batch only (per
  -- position, as a BatchNorm1d on (B, C H W) would); nil keeps all, the
  -- control that shows the wrapper itself is sound.
  local function wrapped_bn (C, drop)
    local inner = nn.BatchNorm2d(C)
    local w = {}
    local function per_channel (t) return t:sum(1, true):sum(3, true):sum(4, true) end
    function w:forward (x) self.x = x return inner:forward(x) end
    function w:backward (g)
      local dx = inner:backward(g):clone()
      local n = g.shape[1] * g.shape[3] * g.shape[4]
      local r = inner.save_invstd:view(1, C, 1, 1)
      local k = inner.weight:view(1, C, 1, 1) * r / n
      local xhat = (self.x - inner.save_mean:view(1, C, 1, 1)) * r
      if drop == "mean" then
        dx = dx + per_channel(g) * k                              -- + back the sum g
      elseif drop == "var" then
        dx = dx + xhat * (per_channel(g * xhat) * k)              -- + back xhat sum(g xhat)
      elseif drop == "dims" then
        -- the terms of the whole channel swapped for those of each position (b only)
        local kb = k * (n / g.shape[1])
        dx = dx + per_channel(g) * k + xhat * (per_channel(g * xhat) * k)
                - g:sum(1, true) * kb - xhat * ((g * xhat):sum(1, true) * kb)
      end
      return dx
    end
    function w:parameters () return inner:parameters() end
    function w:buffers () return inner:buffers() end
    return w
  end

  it("gradcheck fails on a backward that drops a term or sums over the wrong dims", function()
    nn.manual_seed(86)
    local x = spread_input(2, 3, 2, 3)
    assert.is_true((nn.gradcheck(wrapped_bn(3, nil), x)), "the sound wrapper must pass")
    for _, drop in ipairs{ "mean", "var", "dims" } do
      local ok, rep = nn.gradcheck(wrapped_bn(3, drop), x)
      assert.is_false(ok, drop)
      assert.truthy(rep.failed_at:find("^input"), rep.failed_at)
    end
  end)

  it("refuses input that is not 4-D or has another C, naming the layer and the shapes", function()
    local l = nn.BatchNorm2d(3)
    local want = "BatchNorm2d(3): expected input [B x 3 x H x W], got "
    for _, shape in ipairs{ {2, 3}, {2, 3, 4}, {2, 3, 4, 4, 1}, {3} } do
      H.assert_error_has(function () l:forward(nn.tensor.randn(shape)) end,
                         {"bad argument #1 to 'forward'", want .. "[" .. table.concat(shape, "x") .. "]"})
    end
    H.assert_error_has(function () l:forward(nn.tensor.randn(2, 4, 3, 3)) end, {want .. "[2x4x3x3]"})
    H.assert_error_has(function () l:output_shape({2, 1, 3, 3}) end,
                       {"bad argument #1 to 'output_shape'", want .. "[2x1x3x3]"})
    assert.are.same({5, 3, 7, 2}, l:output_shape({5, 3, 7, 2}))
  end)

  it("refuses one value per channel in training (B H W = 1), as PyTorch, and changes nothing", function()
    local l = nn.BatchNorm2d(3)
    H.assert_error_has(function () l:forward(nn.tensor.randn(1, 3, 1, 1)) end,
                       {"bad argument #1 to 'forward'", "BatchNorm2d(3): expected more than 1 value "
                        .. "per channel when training, got input [1x3x1x1]"})
    H.assert_tensor(l.running_mean, {0, 0, 0}, H.EXACT, "running_mean untouched")
    H.assert_tensor(l.running_var, {1, 1, 1}, H.EXACT, "running_var untouched")
    -- and the pure function says so too
    H.assert_error_has(function ()
      nn.F.batch_norm(nn.tensor.randn(1, 3, 1, 1), nn.tensor.zeros(3), nn.tensor.ones(3))
    end, {"bad argument #1 to 'batch_norm'", "expected more than 1 value per channel when training"})
  end)

  it("refuses backward before a forward and after a failed one, then recovers", function()
    local l = nn.BatchNorm2d(3)
    H.assert_error_has(function () l:backward(nn.tensor.ones(2, 3, 2, 2)) end, {"BatchNorm2d"})
    l:forward(nn.tensor.randn(2, 3, 2, 2))
    assert.is_false((pcall(l.forward, l, nn.tensor.randn(1, 3, 1, 1))))
    H.assert_error_has(function () l:backward(nn.tensor.ones(2, 3, 2, 2)) end, {"BatchNorm2d"})
    l:forward(nn.tensor.randn(2, 3, 2, 2))
    H.assert_error_has(function () l:backward(nn.tensor.ones(2, 3, 2, 3)) end,
                       {"bad argument #1 to 'backward'"})
    assert.are.same({2, 3, 2, 2}, l:backward(nn.tensor.ones(2, 3, 2, 2)).shape)
  end)

  it("rejects bad sizes and options", function()
    H.assert_error_has(function () nn.BatchNorm2d(0) end, {"num_features must be a positive integer"})
    H.assert_error_has(function () nn.BatchNorm2d() end, {"num_features must be given"})
    H.assert_error_has(function () nn.BatchNorm2d(4, {eps = 0}) end, {"eps must be > 0"})
    H.assert_error_has(function () nn.BatchNorm2d(4, {momentum = -0.5}) end,
                       {"momentum must be in [0, 1]"})
    H.assert_error_has(function () nn.BatchNorm2d(4, {affline = false}) end,
                       {"BatchNorm2d has no option 'affline'"})
  end)

  it("takes an empty batch in training: empty output, running stats untouched (PyTorch)", function()
    local l = nn.BatchNorm2d(2)
    assert.are.same({0, 2, 3, 3}, l:forward(nn.tensor.zeros(0, 2, 3, 3)).shape)
    H.assert_tensor(l.running_mean, {0, 0}, H.EXACT)
    H.assert_tensor(l.running_var, {1, 1}, H.EXACT)
    assert.are.same({0, 2, 3, 3}, l:backward(nn.tensor.zeros(0, 2, 3, 3)).shape)
    H.assert_tensor(l.grad_weight, {0, 0}, H.EXACT)
  end)

  it("nn.F.batch_norm and its backward take (B, C, H, W) as the layer does", function()
    nn.manual_seed(87)
    local x, g = nn.tensor.randn(2, 3, 2, 3), nn.tensor.randn(2, 3, 2, 3)
    local l = fixed_bn()
    local rm, rv = nn.tensor.zeros(3), nn.tensor.ones(3)
    local y, sm, si = nn.F.batch_norm(x, rm, rv, { weight = l.weight, bias = l.bias })
    H.assert_tensor(y, l:forward(x):totable(), H.EXACT, "y")
    H.assert_tensor(rm, l.running_mean:totable(), H.EXACT, "running_mean")
    H.assert_tensor(rv, l.running_var:totable(), H.EXACT, "running_var")
    local dx, dw, db = nn.F.batch_norm_backward(g, x, sm, si, l.weight)
    H.assert_tensor(dx, l:backward(g):totable(), H.EXACT, "dx")
    H.assert_tensor(dw, l.grad_weight:totable(), H.EXACT, "grad_weight")
    H.assert_tensor(db, l.grad_bias:totable(), H.EXACT, "grad_bias")
  end)

  it("gives the same bits on 1, 2 and 3 threads (the channels go to the threads whole)", function()
    nn.manual_seed(88)
    -- 2 x 8 x 64 x 64 = 65536 values: the parallel loop
    local x, g = nn.tensor.randn(2, 8, 64, 64) * 3 + 1, nn.tensor.randn(2, 8, 64, 64)
    local saved, runs = nn.get_num_threads(), {}
    for i, n in ipairs{ 1, 2, 3 } do
      nn.set_num_threads(n)
      local l = nn.BatchNorm2d(8)
      local ok, err = pcall(function ()
        runs[i] = { l:forward(x):clone(), l:backward(g):clone(), l.running_var:clone(),
                    l.grad_weight:clone() }
      end)
      if not ok then nn.set_num_threads(saved); error(err, 0) end
    end
    nn.set_num_threads(saved)
    for i = 2, 3 do
      for k = 1, 4 do
        assert.are.equal(0, (runs[i][k] - runs[1][k]):abs():max(),
                         ("result %d on %d threads"):format(k, i))
      end
    end
  end)

  it("a model keeps running_mean and running_var through save and nn.load", function()
    nn.manual_seed(89)
    local x = nn.tensor.randn(12, 2, 3, 3) * 2 + 1
    local y = nn.tensor{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}
    local m = nn.Model{ nn.BatchNorm2d(2, {momentum = 0.25}), nn.Flatten(), nn.Linear(18, 3),
                        nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
    m:train(x, y, { epochs = 2, batch_size = 4, verbose = 0 })
    local bn = m.layers[1]
    -- the statistics moved: a checkpoint that dropped them would restore 0 and 1
    assert.is_true(bn.running_mean:abs():min() > 0, "running_mean moved")
    local path = os.tmpname()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    local bn2 = m2.layers[1]
    assert.are.equal("nn.BatchNorm2d(2, eps=1e-05, momentum=0.25)", tostring(bn2))
    H.assert_tensor(bn2.running_mean, bn.running_mean:totable(), H.EXACT, "running_mean")
    H.assert_tensor(bn2.running_var, bn.running_var:totable(), H.EXACT, "running_var")
    H.assert_tensor(bn2.weight, bn.weight:totable(), H.EXACT, "weight")
    H.assert_tensor(m2:predict(x), m:predict(x):totable(), H.EXACT, "predictions (evaluation)")
  end)
end)

describe("nn.BatchNorm2d on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  -- Tolerance: 1e-5 relative to max(1, |value|).  Both devices run the same
  -- per-channel function (batchnorm.h), summing in double in the same order
  -- and rounding to float32 at the same points (nvcc runs with -fmad=false);
  -- the margin is for a libm sqrt that differs.  A kernel that reads another
  -- channel or position, or drops a term, is off by 1e-2 or more.
  local CUDA_TOL = 1e-5

  local function assert_same (gpu, cpu, what) H.assert_same_layer(gpu, cpu, CUDA_TOL, what) end
  local function pair (C, opts, seed) return H.cpu_gpu_pair(nn.BatchNorm2d, C, opts, seed) end
  local step = H.step_both

  -- C = 300 spans two blocks of 256 threads; (1, 5, 2, 3) a batch of 1
  for k, s in ipairs{ {4, 300, 3, 5}, {1, 5, 2, 3} } do
    local shape = ("(%s)"):format(table.concat(s, ", "))
    it("matches the CPU in training and then evaluation at " .. shape, function()
      local cpu, gpu = pair(s[2], {}, 90 + k)
      for t = 1, 2 do
        step(cpu, gpu, nn.tensor.randn(s) * 2 + 0.5, nn.tensor.randn(s))
        assert_same(gpu, cpu, "training step " .. t)
      end
      cpu:evaluate(); gpu:evaluate()
      step(cpu, gpu, nn.tensor.randn(s) - 1, nn.tensor.randn(s))
      assert_same(gpu, cpu, "evaluation")
    end)
  end

  it("refuses one value per channel in training on CUDA too", function()
    local _, gpu = pair(3, {}, 95)
    H.assert_error_has(function () gpu:forward(nn.tensor.randn(1, 3, 1, 1):cuda()) end,
                       {"BatchNorm2d(3): expected more than 1 value per channel when training"})
  end)
end)
