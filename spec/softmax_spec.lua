--- spec/softmax_spec.lua -- nn.Softmax and nn.LogSoftmax, along the last dim.
local nn = require "nn"
local H = require "spec.helpers"

-- Every input below is a dyadic fraction (exact in float32), so the
-- references, computed by PyTorch 1.13 in float64 on the same numbers
-- (torch.softmax / torch.log_softmax, dim = -1), are the true values to ~1e-16.
-- Our float32 result goes through expf (1-2 ulp), one float32 rounding of
-- x - max (exact here), a double sum and one rounding to float32: H.LIBM
-- (8 ulp, relative to max(1, |want|)) covers that.  Row 3 is row 1 + 1000:
-- softmax is shift invariant, and a naive e^x overflows there (e^1000 = inf).
local X = {{1, 2, 3, 4}, {-1, 0, 0.5, 3}, {1000, 1001, 1002, 1003}}
local SOFTMAX_X = {
  {0.03205860328008499, 0.08714431874203257, 0.23688281808991016, 0.6439142598879724},
  {0.015924043349701, 0.04328603767308634, 0.07136661103594454, 0.8694233079412681},
  {0.03205860328008499, 0.08714431874203257, 0.23688281808991016, 0.6439142598879724},
}
local LOG_SOFTMAX_X = {
  {-3.4401896985611953, -2.4401896985611953, -1.4401896985611953, -0.44018969856119533},
  {-4.139925151560595, -3.139925151560595, -2.639925151560595, -0.139925151560595},
  {-3.4401896985611953, -2.4401896985611953, -1.4401896985611953, -0.44018969856119533},
}

-- A (2,2,3) input: the last dim is the one normalised, whatever the ndim.
local X3 = {{{0.25, -1.5, 2}, {3, 3, -0.75}}, {{-2, 0, 1}, {0.125, 0.5, -4}}}
local SOFTMAX_X3 = {
  {{0.1443339551132098, 0.025081480553822005, 0.8305845643329681},
   {0.49418889557450846, 0.49418889557450846, 0.011622208850983114}},
  {{0.03511902695933972, 0.2594964603424191, 0.7053845126982411},
   {0.4046690866179485, 0.5887900467905043, 0.006540866591547238}},
}
local LOG_SOFTMAX_X3 = {
  {{-1.935625531713319, -3.685625531713319, -0.1856255317133191},
   {-0.7048374551772203, -0.7048374551772203, -4.45483745517722}},
  {{-3.3490122167681866, -1.3490122167681866, -0.3490122167681865},
   {-0.9046856159384324, -0.5296856159384324, -5.029685615938432}},
}

-- A 1-D input is one row.
local X1 = {0.5, -0.25, 1.75}
local SOFTMAX_X1 = {0.20150282782905096, 0.09518319614917502, 0.703313976021774}
local LOG_SOFTMAX_X1 = {-1.6019518638028016, -2.3519518638028014, -0.35195186380280163}

-- Backward on rows 1-2 of X with this g: x.grad after y.backward(G) in
-- PyTorch, float64.  Our y is stored in float32 (rounding up to 2.4e-7 at
-- |y| ~ 4, which exp turns into a relative 2.4e-7), and it is multiplied by
-- row sums of g as large as 2.75: 1e-6 (relative to max(1, |want|)) covers
-- that with room; a wrong formula is off by 1e-2 or more.
local G = {{0.5, -1, 2, 0.25}, {1, 1, -3, 0.5}}
local SOFTMAX_DX = {
  {-0.0020398627684887973, -0.1362614000091821, 0.3402515667043815, -0.20195030392671065},
  {0.011468147253879119, 0.031173656286312117, -0.23406977393904058, 0.19142797039884932},
}
local LOG_SOFTMAX_DX = {
  {0.4438974442598513, -1.152502557798557, 1.5854550683426571, -0.8768499548039517},
  {1.0079620216748506, 1.021643018836543, -2.9643166944820276, 0.934711653970634},
}
local BACKWARD_TOL = 1e-6

-- true when every element of t is a finite number (not nan, not +-inf)
local function all_finite (t)
  for _, v in ipairs(H.flatten(t:totable(), {})) do
    if v ~= v or v == math.huge or v == -math.huge then return false end
  end
  return true
end

-- the sum of each row of a 2-D tensor, in a Lua table
local function row_sums (t)
  local s = nn.sum(t, 2)
  local out = {}
  for i = 1, s:numel() do out[i] = s:get(i) end
  return out
end

local CASES = {
  { name = "Softmax", make = function () return nn.Softmax() end,
    want = SOFTMAX_X, want3 = SOFTMAX_X3, want1 = SOFTMAX_X1, dx = SOFTMAX_DX },
  { name = "LogSoftmax", make = function () return nn.LogSoftmax() end,
    want = LOG_SOFTMAX_X, want3 = LOG_SOFTMAX_X3, want1 = LOG_SOFTMAX_X1, dx = LOG_SOFTMAX_DX },
}

for _, c in ipairs(CASES) do
  describe("nn." .. c.name, function()
    it("forward matches PyTorch's values, also 1000 above (shift invariance)", function()
      H.assert_tensor(c.make():forward(nn.tensor(X)), c.want, H.LIBM)
    end)

    it("forward normalises the last dim of a 3-D input, and a 1-D input as one row", function()
      H.assert_tensor(c.make():forward(nn.tensor(X3)), c.want3, H.LIBM)
      H.assert_tensor(c.make():forward(nn.tensor(X1)), c.want1, H.LIBM)
    end)

    it("backward matches PyTorch's gradient", function()
      local m = c.make()
      m:forward(nn.tensor{X[1], X[2]})
      H.assert_tensor(m:backward(nn.tensor(G)), c.dx, BACKWARD_TOL)
    end)

    for _, shape in ipairs{ {4, 5}, {1, 5}, {1, 1}, {7}, {2, 3, 4} } do
      it(("passes gradcheck at [%s]"):format(table.concat(shape, "x")), function()
        -- smooth everywhere: no kinks to keep away from, plain randn inputs
        nn.manual_seed(100 + #shape * 10 + shape[1])
        H.assert_gradcheck(c.make(), nn.tensor.randn(table.unpack(shape)))
      end)
    end

    it("keeps its output and grad_input tensors across passes, resized in place", function()
      local m = c.make()
      nn.manual_seed(5)
      local y = m:forward(nn.tensor.randn(2, 5))
      assert.are.equal(m.output, y)
      -- a second forward of the same shape writes into the tensor we hold
      assert.are.equal(y, m:forward(nn.tensor{X[1], X[2]}))
      H.assert_tensor(y, {c.want[1], c.want[2]}, H.LIBM)
      local dx = m:backward(nn.tensor(G))
      assert.are.equal(m.grad_input, dx)
      assert.are.equal(dx, m:backward(nn.tensor(G)))
      -- another batch size: the same tensor, with the new shape
      assert.are.equal(y, m:forward(nn.tensor(X3)))
      assert.are.same({2, 2, 3}, y:size())
      H.assert_tensor(y, c.want3, H.LIBM)
    end)

    it("names itself and the shape when given a 0-dim input", function()
      local scalar = nn.tensor{5}:view()
      assert.are.equal(0, scalar:dim())
      H.assert_error_has(function () c.make():forward(scalar) end,
        {("bad argument #1 to 'forward' (%s: expected input [... x C], got [])"):format(c.name)})
    end)

    it("has no parameters", function()
      local p, g = c.make():parameters()
      assert.are.same({}, p)
      assert.are.same({}, g)
    end)
  end)
end

describe("nn.Softmax", function()
  it("rows sum to 1 and lie in (0, 1]", function()
    nn.manual_seed(7)
    local y = nn.Softmax():forward(nn.tensor.randn(6, 13) * 5)
    -- 13 terms, each rounded once to float32 (half an ulp, 6e-8) after a
    -- sum in double: the row sums are 1 within 13 * 6e-8 < 1e-6
    for i, s in ipairs(row_sums(y)) do H.assert_close(s, 1, 1e-6, "row " .. i) end
    assert.is_true(y:min() > 0 and y:max() <= 1)
  end)

  it("a single class gives probability 1 and gradient 0", function()
    local m = nn.Softmax()
    H.assert_tensor(m:forward(nn.tensor{{-3}, {7.5}}), {{1}, {1}}, H.EXACT)
    H.assert_tensor(m:backward(nn.tensor{{2}, {-1}}), {{0}, {0}}, H.EXACT)
  end)
end)

describe("Softmax and LogSoftmax over many classes", function()
  it("rows of 100000 classes still sum to 1 (the sum is kept in double)", function()
    nn.manual_seed(8)
    local x = nn.tensor.randn(2, 100000)
    -- each y_i is rounded once (half an ulp, relative; for LogSoftmax, e^y
    -- adds expf's 1-2 ulp); those errors mostly cancel, and nn.sum adds in
    -- double: the sums are 1 to ~1e-8.  A float32 running sum of 100000
    -- terms drifts by ~1e-5 and fails this.
    for i, s in ipairs(row_sums(nn.Softmax():forward(x))) do
      H.assert_close(s, 1, 1e-6, "Softmax row " .. i)
    end
    for i, s in ipairs(row_sums(nn.LogSoftmax():forward(x):exp())) do
      H.assert_close(s, 1, 1e-6, "LogSoftmax row " .. i)
    end
  end)
end)

describe("Softmax and LogSoftmax at extreme logits", function()
  it("LogSoftmax of [1e4, -1e4] is [0, -2e4], its gradient finite", function()
    local m = nn.LogSoftmax()
    -- m - log(1 + e^{-2e4}) = 0 and -2e4 exactly: e^{-2e4} is 0 in any float
    H.assert_tensor(m:forward(nn.tensor{{1e4, -1e4}}), {{0, -2e4}}, H.EXACT)
    -- dx = g - e^y sum(g) = [3 - (3 - 0.5), -0.5 - 0]
    H.assert_tensor(m:backward(nn.tensor{{3, -0.5}}), {{0.5, -0.5}}, H.EXACT)
  end)

  it("Softmax of [1e4, -1e4] is [1, 0], with gradient 0", function()
    local m = nn.Softmax()
    H.assert_tensor(m:forward(nn.tensor{{1e4, -1e4}, {1e4, 1e4}}), {{1, 0}, {0.5, 0.5}}, H.EXACT)
    -- row 1 saturated: y (g - g.y) = [1 (3 - 3), 0] ; row 2: 0.5 (g - 0.5 (1 + 2))
    H.assert_tensor(m:backward(nn.tensor{{3, -0.5}, {1, 2}}), {{0, 0}, {-0.25, 0.25}}, H.EXACT)
  end)

  it("logits of size 1e4 give finite outputs and gradients, rows summing to 1", function()
    nn.manual_seed(3)
    local x = nn.tensor.randn(5, 8) * 1e4
    for _, m in ipairs{ nn.Softmax(), nn.LogSoftmax() } do
      local y = m:forward(x)
      assert.is_true(all_finite(y), tostring(m) .. " output")
      assert.is_true(all_finite(m:backward(nn.tensor.randn(5, 8))), tostring(m) .. " grad")
    end
    for i, s in ipairs(row_sums(nn.Softmax():forward(x))) do
      H.assert_close(s, 1, 1e-6, "row " .. i)
    end
  end)
end)

describe("gradcheck of a softmax", function()
  -- A layer written in Lua around nn.Softmax, with a backward of our choice
  -- (nn.gradcheck takes any table with forward and backward).
  local function wrapped (make, backward)
    local inner = make()
    return {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g) return backward(inner, g) end,
    }
  end

  it("passes the wrapper when it delegates backward (the protocol works)", function()
    nn.manual_seed(21)
    local good = wrapped(nn.Softmax, function (inner, g) return inner:backward(g) end)
    H.assert_gradcheck(good, nn.tensor.randn(3, 4))
  end)

  it("fails on a Softmax backward that forgets the - sum(g y) term", function()
    nn.manual_seed(21)
    -- g y: the diagonal of the Jacobian only, not y (g - sum_j g_j y_j)
    local broken = wrapped(nn.Softmax, function (inner, g) return g * inner.output end)
    local ok, report = nn.gradcheck(broken, nn.tensor.randn(3, 4))
    assert.is_false(ok)
    assert.truthy(report.failed_at:find("^input%["), report.failed_at)
  end)

  it("fails on a LogSoftmax backward that forgets the - e^y sum(g) term", function()
    nn.manual_seed(22)
    -- the identity's gradient, as if log sum e^x were a constant
    local broken = wrapped(nn.LogSoftmax, function (_, g) return g:clone() end)
    local ok, report = nn.gradcheck(broken, nn.tensor.randn(3, 4))
    assert.is_false(ok)
    assert.truthy(report.failed_at:find("^input%["), report.failed_at)
  end)
end)

describe("nn.Softmax on CUDA", function()
  if not nn.cuda.is_available() then
    pending("no CUDA device: CUDA specs skipped")
    return
  end
  it("gives the CPU's output and gradient (the parity suite runs every case)", function()
    for _, c in ipairs(CASES) do
      local x, g = nn.tensor.randn(4, 7), nn.tensor.randn(4, 7)
      local cpu, gpu = c.make(), c.make()
      local y, dx = cpu:forward(x):clone(), cpu:backward(g):clone()
      local yc, dxc = gpu:forward(x:cuda()):cpu(), gpu:backward(g:cuda()):cpu()
      for i = 1, 28 do
        assert.is_true(H.close(yc:view(-1):get(i), y:view(-1):get(i), H.LIBM), c.name .. " y")
        assert.is_true(H.close(dxc:view(-1):get(i), dx:view(-1):get(i), H.LIBM), c.name .. " dx")
      end
    end
  end)
end)
