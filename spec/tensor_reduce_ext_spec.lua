-- outer, norm, prod, cumsum, logsumexp, softmax, log_softmax (tensor.h,
-- "more math").  Expected values: written out by hand, or computed here in
-- Lua (double) by direct loops over t:totable(), independent of the code
-- under test.  Tolerances (spec/helpers.lua): sums and products run in
-- double in C and are rounded once to float32, so a result is within half
-- an ulp of the double answer (H.ROUND covers it); those through expf,
-- logf or pow take H.LIBM.
local H = require "spec.helpers"
local has = H.assert_error_has
local T = nn.tensor
local inf, nan = math.huge, 0 / 0

-- the lines of a nested 3-D table along dim d (1..3), each as a list, and
-- a function that puts one value per line back at its place
local function lines3 (X, d)
  local n1, n2, n3 = #X, #X[1], #X[1][1]
  local out = {}
  local sizes = { n1, n2, n3 }
  local others = {}
  for k = 1, 3 do if k ~= d then others[#others + 1] = k end end
  for i = 1, sizes[others[1]] do
    for j = 1, sizes[others[2]] do
      local line, idx = {}, {}
      for k = 1, sizes[d] do
        idx[d], idx[others[1]], idx[others[2]] = k, i, j
        line[k] = X[idx[1]][idx[2]][idx[3]]
      end
      out[#out + 1] = { i = i, j = j, line = line }
    end
  end
  return out
end

local function ref_norm (line, p)
  if p == inf then
    local m = 0
    for _, v in ipairs(line) do m = math.max(m, math.abs(v)) end
    return m
  end
  local s = 0
  for _, v in ipairs(line) do s = s + math.abs(v) ^ p end
  return s ^ (1 / p)
end
local function ref_prod (line)
  local s = 1
  for _, v in ipairs(line) do s = s * v end
  return s
end
local function ref_lse (line)
  local s = 0
  for _, v in ipairs(line) do s = s + math.exp(v) end
  return math.log(s)
end

-- reduce a 3-D tensor along d with f, as nested tables of the kept dims
local function reduce3 (X, d, f)
  local want = {}
  for _, l in ipairs(lines3(X, d)) do
    want[l.i] = want[l.i] or {}
    want[l.i][l.j] = f(l.line)
  end
  return want
end

describe("outer", function()
  it("a (M) b (N)^T by hand, and as nn.outer", function()
    H.assert_tensor(T{1, 2, 3}:outer(T{4, -5}), {{4, -5}, {8, -10}, {12, -15}})
    H.assert_tensor(nn.outer(T{2}, T{0.5, 3}), {{1, 6}})
    assert.are.same({ 0, 3 }, T.zeros(0):outer(T{1, 2, 3}).shape)
  end)

  it("errors: not 1-D, not a tensor, int32", function()
    has(function() T.zeros(2, 2):outer(T{1}) end, {"calling 'outer' on bad self", "1-D"})
    has(function() nn.outer(T{1}, T.zeros(2, 2)) end, {"bad argument #2 to 'outer'", "[2x2]"})
    has(function() nn.outer(T{1}, 3) end, {"bad argument #2 to 'outer'"})
    has(function() nn.outer(T{1}:int(), T{1}) end, {"bad argument #1 to 'outer'", "int32"})
  end)
end)

describe("norm", function()
  it("over all elements: p = 2 (default), 1, inf, 3, 0.5 by hand", function()
    local t = T{{3, -4}, {0, 0}}
    assert.are.equal(5, t:norm())
    assert.are.equal(5, t:norm(2))
    assert.are.equal(7, t:norm(1))
    assert.are.equal(4, t:norm(inf))
    H.assert_close(t:norm(3), (27 + 64) ^ (1 / 3), H.LIBM)
    H.assert_close(t:norm(0.5), (math.sqrt(3) + 2) ^ 2, H.LIBM)
    assert.are.equal(5, nn.norm(t))
  end)

  it("along each dim of a 3-D tensor, keepdim, negative dims: against Lua loops", function()
    local t = T.randn(3, 4, 5)
    local X = t:totable()
    for _, p in ipairs { 2, 1, inf, 3, 1.5 } do
      for d = 1, 3 do
        local want = reduce3(X, d, function (l) return ref_norm(l, p) end)
        H.assert_tensor(t:norm(p, d), want, H.LIBM, ("p=%g dim %d"):format(p, d))
        H.assert_tensor(t:norm(p, d - 4), want, H.LIBM, ("p=%g dim %d"):format(p, d - 4))
      end
    end
    assert.are.same({ 3, 1, 5 }, t:norm(2, 2, true).shape)
    H.assert_close(t:norm(), ref_norm(H.flatten(X, {}), 2), H.ROUND)
  end)

  it("does not overflow where the answer is finite, nor lose tiny values", function()
    H.assert_close(T{3e30, 4e30}:norm(), 5e30, H.ROUND)          -- squares 1e61: past float
    H.assert_close(T{3e30, 4e30}:norm(3), (27 + 64) ^ (1 / 3) * 1e30, H.LIBM)
    H.assert_close(T{1e38, 1e38}:norm(10), 2 ^ 0.1 * 1e38, H.LIBM)  -- x^10 = 1e380: past double
    H.assert_close(T{3e-30, 4e-30}:norm(), 5e-30, H.ROUND)        -- squares 1e-59: below float
  end)

  it("inf, nan, empty: as torch.norm", function()
    assert.are.equal(inf, T{1, -inf}:norm())
    assert.are.equal(inf, T{1, -inf}:norm(3))
    assert.are.equal(inf, T{1, -inf}:norm(inf))
    local r = T{1, nan, inf}:norm(3)
    assert.is_true(r ~= r)
    r = T{1, nan}:norm(inf)
    assert.is_true(r ~= r)
    assert.are.equal(0, T.zeros(0):norm())
    assert.are.equal(0, T.zeros(0):norm(inf))
    H.assert_tensor(T.zeros(2, 0):norm(2, 2), {0, 0})
    assert.are.equal(0, T.zeros(3):norm(0.5))
  end)

  it("errors: p <= 0, nan, not a number; dim out of range; int32", function()
    for _, p in ipairs { 0, -1, -inf } do
      has(function() T{1}:norm(p) end, {"bad argument #1 to 'norm'", "p must be > 0"})
    end
    has(function() T{1}:norm(nan) end, {"bad argument #1 to 'norm'", "p must be > 0", "nan"})
    has(function() T{1}:norm("x") end, {"bad argument #1 to 'norm'", "number expected"})
    has(function() T.zeros(2, 3):norm(2, 3) end,
        {"bad argument #2 to 'norm'", "dim 3 is out of range for [2x3]"})
    has(function() T.zeros(2, 3):norm(2, -3) end, {"bad argument #2 to 'norm'", "dim -3"})
    has(function() T.zeros(2, 3):norm(2, 1.5) end, {"bad argument #2 to 'norm'"})
    has(function() nn.norm(T.zeros(2, 3):int()) end, {"bad argument #1 to 'norm'", "int32"})
  end)
end)

describe("prod", function()
  it("over all elements and along each dim, against Lua loops", function()
    assert.are.equal(-24, T{{1, 2}, {-3, 4}}:prod())
    H.assert_tensor(T{{1, 2}, {-3, 4}}:prod(1), {-3, 8})
    H.assert_tensor(T{{1, 2}, {-3, 4}}:prod(-1, true), {{2}, {-12}})
    local t = T.rand(2, 3, 4) + 0.5
    local X = t:totable()
    for d = 1, 3 do H.assert_tensor(t:prod(d), reduce3(X, d, ref_prod), H.ROUND, "dim " .. d) end
    H.assert_close(t:prod(), ref_prod(H.flatten(X, {})), H.ROUND)
  end)

  it("the empty product is 1; zero, inf and nan as IEEE", function()
    assert.are.equal(1, T.zeros(0):prod())
    H.assert_tensor(T.zeros(2, 0):prod(2), {1, 1})
    assert.are.same({ 0 }, T.zeros(0, 2):prod(2).shape)
    assert.are.equal(0, T{5, 0, 7}:prod())
    local r = T{0, inf}:prod()
    assert.is_true(r ~= r)
    -- in double: 1e30 * 1e30 * 1e-30 = 1e30, where float32 steps would give inf
    H.assert_close(T{1e30, 1e30, 1e-30}:prod(), 1e30, H.ROUND)
  end)

  it("errors: dim out of range, int32", function()
    has(function() T.zeros(2):prod(2) end, {"bad argument #1 to 'prod'", "dim 2 is out of range"})
    has(function() nn.prod(T.zeros(2), 0) end, {"bad argument #2 to 'prod'", "dim 0"})
    has(function() nn.prod(T.zeros(2):int()) end, {"bad argument #1 to 'prod'", "int32"})
  end)
end)

describe("cumsum", function()
  it("by hand, and along each dim of a 3-D tensor against Lua loops", function()
    H.assert_tensor(T{{1, 2, 3}, {4, 5, 6}}:cumsum(2), {{1, 3, 6}, {4, 9, 15}})
    H.assert_tensor(T{{1, 2, 3}, {4, 5, 6}}:cumsum(1), {{1, 2, 3}, {5, 7, 9}})
    H.assert_tensor(nn.cumsum(T{1, 2, 3}, -1), {1, 3, 6})
    local t = T.randn(3, 4, 5)
    local X = t:totable()
    for d = 1, 3 do
      local want = t:totable()
      for _, l in ipairs(lines3(X, d)) do
        local s = 0
        for k, v in ipairs(l.line) do
          s = s + v
          local idx = {}
          local others = {}
          for q = 1, 3 do if q ~= d then others[#others + 1] = q end end
          idx[d], idx[others[1]], idx[others[2]] = k, l.i, l.j
          want[idx[1]][idx[2]][idx[3]] = s
        end
      end
      H.assert_tensor(t:cumsum(d), want, H.ROUND, "dim " .. d)
    end
  end)

  it("accumulates in double: 2^24 + 1 + 1 reaches 2^24 + 2", function()
    -- float32 steps would stay at 2^24 (2^24 + 1 rounds back to 2^24)
    H.assert_tensor(T{2 ^ 24, 1, 1}:cumsum(1), {2 ^ 24, 2 ^ 24, 2 ^ 24 + 2})
  end)

  it("empty tensors keep their shape; errors", function()
    assert.are.same({ 0, 3 }, T.zeros(0, 3):cumsum(1).shape)
    has(function() T.zeros(2):cumsum() end, {"bad argument #1 to 'cumsum'"})
    has(function() T.zeros(2):cumsum(2) end, {"bad argument #1 to 'cumsum'", "out of range"})
    has(function() T.ones(3):sum(1):cumsum(1) end, {"'cumsum'", "it has 0 dims"})
  end)
end)

describe("logsumexp", function()
  it("along each dim of a 3-D tensor, keepdim: against Lua loops", function()
    local t = T.randn(3, 4, 5)
    local X = t:totable()
    for d = 1, 3 do
      H.assert_tensor(t:logsumexp(d), reduce3(X, d, ref_lse), H.LIBM, "dim " .. d)
    end
    assert.are.same({ 3, 4, 1 }, t:logsumexp(-1, true).shape)
    H.assert_tensor(nn.logsumexp(T{{0, 0}}, 2), {math.log(2)}, H.LIBM)
  end)

  it("is stable for large inputs, and -inf rows are -inf, as PyTorch", function()
    -- e^1000 is inf in double; the shift by the max keeps it exact
    H.assert_tensor(T{{1000, 1000}, {-1000, -1000}}:logsumexp(2),
                    {1000 + math.log(2), -1000 + math.log(2)}, H.LIBM)
    H.assert_tensor(T{{-inf, -inf}, {-inf, 0}, {inf, 1}}:logsumexp(2), {-inf, 0, inf})
    local r = T{{nan, 1}}:logsumexp(2):item()
    assert.is_true(r ~= r)
    H.assert_tensor(T.zeros(2, 0):logsumexp(2), {-inf, -inf})   -- log of the empty sum
  end)

  it("errors: dim missing or out of range, int32", function()
    has(function() T.zeros(2):logsumexp() end, {"bad argument #1 to 'logsumexp'"})
    has(function() nn.logsumexp(T.zeros(2), 3) end, {"bad argument #2 to 'logsumexp'", "dim 3"})
    has(function() nn.logsumexp(T.zeros(2):int(), 1) end, {"bad argument #1 to 'logsumexp'", "int32"})
  end)
end)

describe("softmax and log_softmax", function()
  it("along each dim of a 3-D tensor: against Lua loops", function()
    local t = T.randn(3, 4, 5)
    local X = t:totable()
    for d = 1, 3 do
      local want_s, want_l = t:totable(), t:totable()
      local others = {}
      for q = 1, 3 do if q ~= d then others[#others + 1] = q end end
      for _, l in ipairs(lines3(X, d)) do
        local lse = ref_lse(l.line)
        for k, v in ipairs(l.line) do
          local idx = {}
          idx[d], idx[others[1]], idx[others[2]] = k, l.i, l.j
          want_s[idx[1]][idx[2]][idx[3]] = math.exp(v - lse)
          want_l[idx[1]][idx[2]][idx[3]] = v - lse
        end
      end
      H.assert_tensor(t:softmax(d), want_s, H.LIBM, "softmax dim " .. d)
      H.assert_tensor(t:log_softmax(d - 4), want_l, H.LIBM, "log_softmax dim " .. (d - 4))
    end
  end)

  it("over the last dim gives the Softmax layer's very bits", function()
    local x = T.randn(6, 7)
    local a, b = x:softmax(2), nn.Softmax():forward(x)
    local c, e = x:log_softmax(-1), nn.LogSoftmax():forward(x)
    for i = 1, 6 do
      for j = 1, 7 do
        assert.are.equal(b:get(i, j), a:get(i, j))
        assert.are.equal(e:get(i, j), c:get(i, j))
      end
    end
  end)

  it("is stable for large inputs; a -inf row is nan, as PyTorch", function()
    H.assert_tensor(T{{1e4, -1e4}}:softmax(2), {{1, 0}})
    H.assert_tensor(T{{1e4, -1e4}}:log_softmax(2), {{0, -2e4}})
    H.assert_tensor(T{{1000}, {1000}}:softmax(1), {{0.5}, {0.5}})
    local r = T{-inf, -inf}:softmax(1):totable()
    assert.is_true(r[1] ~= r[1] and r[2] ~= r[2])
    r = T{-inf, -inf}:log_softmax(1):totable()
    assert.is_true(r[1] ~= r[1] and r[2] ~= r[2])
    H.assert_tensor(T{-inf, 0}:softmax(1), {0, 1})
    assert.are.same({ 2, 0 }, T.zeros(2, 0):softmax(2).shape)
  end)

  it("errors: dim missing or out of range, int32", function()
    has(function() T.zeros(2, 2):softmax() end, {"bad argument #1 to 'softmax'"})
    has(function() nn.log_softmax(T.zeros(2, 2), 3) end,
        {"bad argument #2 to 'log_softmax'", "dim 3 is out of range"})
    has(function() nn.softmax(T.zeros(2):int(), 1) end, {"bad argument #1 to 'softmax'", "int32"})
    has(function() T.zeros(2):softmax(math.maxinteger) end, {"'softmax'", "out of range"})
    has(function() T.zeros(2):softmax(2 ^ 53) end, {"'softmax'", "out of range"})
  end)
end)
