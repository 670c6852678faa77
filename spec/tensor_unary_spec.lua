--- spec/tensor_unary_spec.lua -- sin cos erf rsqrt floor round sign (and
-- their _ forms), pow as ^, floor_divide as //, remainder as %.
--
-- Expected values: Lua's own math (math.sin, math.cos, math.sqrt, math.floor,
-- computed in double) within H.LIBM (8 ulp: the C library's float functions
-- are within 1-2 ulp); erf at a few points from its table (Abramowitz &
-- Stegun, table 7.1; Python's math.erf gives the same digits); floor, round,
-- sign, //, % of numbers that float32 holds exactly, written by hand: exact.
local H = require "spec.helpers"
local NAN = 0 / 0

local xs = { -3.5, -1, -0.25, 0, 0.5, 1, 2.75, 10 }

local function map (f, t)
  local r = {}
  for i, v in ipairs(t) do r[i] = f(v) end
  return r
end

describe("sin cos erf rsqrt", function()
  it("sin and cos against Lua's math", function()
    local t = nn.tensor(xs)
    H.assert_tensor(t:sin(), map(math.sin, xs), H.LIBM)
    H.assert_tensor(t:cos(), map(math.cos, xs), H.LIBM)
    H.assert_tensor(nn.sin(t), map(math.sin, xs), H.LIBM)
  end)

  it("erf at tabulated points, odd, and 1 at infinity", function()
    local t = nn.tensor{0, 0.5, 1, 2, -1, math.huge, -math.huge}
    H.assert_tensor(t:erf(), {0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527,
                              -0.8427007929497149, 1, -1}, H.LIBM)
  end)

  it("rsqrt = 1 / sqrt(x); rsqrt(0) = inf, of a negative nan", function()
    local pos = { 0.25, 1, 2, 100 }
    H.assert_tensor(nn.tensor(pos):rsqrt(), map(function (v) return 1 / math.sqrt(v) end, pos),
                    H.ROUND)
    local r = nn.tensor{0, -1}:rsqrt()
    assert.are.equal(math.huge, r:get(1))
    assert.is_true(r:get(2) ~= r:get(2))
  end)

  it("the _ forms write into t and return t", function()
    for _, name in ipairs{ "sin", "cos", "erf", "rsqrt", "floor", "round", "sign" } do
      local t = nn.tensor{0.25, 1.5, 4}
      local want = t[name](t):totable()
      assert.is_true(rawequal(t, t[name .. "_"](t)), name .. "_ returns t")
      H.assert_tensor(t, want, H.EXACT, name .. "_")
    end
  end)
end)

describe("floor round sign", function()
  it("floor rounds down, negatives too", function()
    H.assert_tensor(nn.tensor(xs):floor(), map(math.floor, xs), H.EXACT)
    H.assert_tensor(nn.tensor{-0.5, 1e30, -2}:floor(), {-1, 1e30, -2}, H.ROUND)
  end)

  it("round: half to even, as torch.round", function()
    H.assert_tensor(nn.tensor{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 2.51}:round(),
                    {0, 2, 2, 0, -2, -2, 0, 3}, H.EXACT)
    local z = nn.tensor{-0.4}:round():get(1)
    assert.are.equal("-0.0", ("%.1f"):format(z))     -- the sign of zero is kept, as rint
  end)

  it("sign: -1, 0, 1; sign(0) = 0 and sign(nan) = nan", function()
    local s = nn.tensor{-3, -0.0, 0, 2.5, math.huge, -math.huge, NAN}:sign()
    H.assert_tensor(s:narrow(1, 1, 6), {-1, 0, 0, 1, 1, -1}, H.EXACT)
    assert.is_true(s:get(7) ~= s:get(7))
  end)

  it("nan and inf pass through floor and round", function()
    local r = nn.tensor{NAN, math.huge, -math.huge}:round()
    assert.is_true(r:get(1) ~= r:get(1))
    H.assert_tensor(r:narrow(1, 2, 2), {math.huge, -math.huge}, H.EXACT)
  end)

  it("empty tensors, and int32 refused", function()
    assert.are.same({0, 2}, nn.tensor.zeros(0, 2):sin().shape)
    H.assert_error_has(function () nn.tensor{1}:int():round() end,
      {"calling 'round' on bad self", "float32 tensor expected, got int32"})
    H.assert_error_has(function () nn.erf("x") end, {"bad argument #1 to 'erf'"})
  end)
end)

describe("pow and ^", function()
  it("tensor ^ number, number ^ tensor, tensor ^ tensor (broadcast)", function()
    local t = nn.tensor{1, 2, 3}
    H.assert_tensor(t ^ 2, {1, 4, 9}, H.LIBM)
    H.assert_tensor(2 ^ t, {2, 4, 8}, H.LIBM)
    H.assert_tensor(t ^ nn.tensor{{1}, {0.5}}, {{1, 2, 3}, {1, math.sqrt(2), math.sqrt(3)}}, H.LIBM)
    H.assert_tensor(t:pow(3), {1, 8, 27}, H.LIBM)
    H.assert_tensor(t:pow(nn.tensor{2, 1, 0}), {1, 2, 1}, H.LIBM)
    H.assert_tensor(nn.pow(2, t), {2, 4, 8}, H.LIBM)
    local u = nn.tensor{4, 9}
    assert.is_true(rawequal(u, u:pow_(0.5)))
    H.assert_tensor(u, {2, 3}, H.LIBM)
  end)

  it("C99's special cases: x ^ 0 = 1 (nan too), a negative base to a fraction is nan", function()
    H.assert_tensor(nn.tensor{NAN, 0, -2} ^ 0, {1, 1, 1}, H.EXACT)
    local r = nn.tensor{-8} ^ (1 / 3)
    assert.is_true(r:get(1) ~= r:get(1))
    H.assert_tensor(nn.tensor{0} ^ -1, {math.huge}, H.EXACT)
  end)
end)

describe("floor_divide (//) and remainder (%)", function()
  -- Python: 7 // 2 = 3, -7 // 2 = -4, 7 // -2 = -4, -7 // -2 = 3
  --         7 % 2 = 1,  -7 % 2 = 1,   7 % -2 = -1,  -7 % -2 = -1
  local a = nn.tensor{7, -7, 7, -7, 7.5, -7.5, 0, 6}
  local b = nn.tensor{2, 2, -2, -2, 2, 2, 3, 3}

  it("floor division and remainder with the divisor's sign, as Python and PyTorch", function()
    H.assert_tensor(a // b, {3, -4, -4, 3, 3, -4, 0, 2}, H.EXACT)
    H.assert_tensor(a % b, {1, 1, -1, -1, 1.5, 0.5, 0, 0}, H.EXACT)
    H.assert_tensor(a:floor_divide(b), {3, -4, -4, 3, 3, -4, 0, 2}, H.EXACT)
    H.assert_tensor(a:remainder(b), {1, 1, -1, -1, 1.5, 0.5, 0, 0}, H.EXACT)
  end)

  it("agrees with Lua's own // and % on numbers", function()
    local fa, fb = a:totable(), b:totable()
    local q, r = (a // b):totable(), (a % b):totable()
    for i = 1, #fa do
      assert.are.equal(fa[i] // fb[i], q[i], ("%g // %g"):format(fa[i], fb[i]))
      assert.are.equal(fa[i] % fb[i], r[i], ("%g %% %g"):format(fa[i], fb[i]))
    end
  end)

  it("scalar forms on either side, and in place", function()
    H.assert_tensor(nn.tensor{7, -7} // 2, {3, -4}, H.EXACT)
    H.assert_tensor(7 // nn.tensor{2, -2}, {3, -4}, H.EXACT)
    H.assert_tensor(nn.tensor{7, -7} % 3, {1, 2}, H.EXACT)
    H.assert_tensor(-7 % nn.tensor{3, -3}, {2, -1}, H.EXACT)
    local t = nn.tensor{9, -9}
    assert.is_true(rawequal(t, t:floor_divide_(4)))
    H.assert_tensor(t, {2, -3}, H.EXACT)
    t:remainder_(nn.tensor{2})
    H.assert_tensor(t, {0, 1}, H.EXACT)
  end)

  it("by zero: x // 0 = +-inf (0 // 0 = nan), x % 0 = nan", function()
    local q = nn.tensor{1, -1, 0} // 0
    H.assert_tensor(q:narrow(1, 1, 2), {math.huge, -math.huge}, H.EXACT)
    assert.is_true(q:get(3) ~= q:get(3))
    local r = nn.tensor{1} % 0
    assert.is_true(r:get(1) ~= r:get(1))
  end)
end)
