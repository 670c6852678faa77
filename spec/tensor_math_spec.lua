-- Element-wise math (api.md: Math).  Expected values are written out by hand;
-- the transcendental ones were computed in double precision (Python's math
-- module) and are compared within H.LIBM (8 ulp, see spec/helpers.lua).
local H = require "spec.helpers"

local function x () return nn.tensor{{1, -2}, {0.5, 4}} end
local function y () return nn.tensor{{10, 20}, {30, 40}} end

describe("binary ops with a tensor of the same shape", function()
  it("add, sub, mul", function()
    H.assert_tensor(x():add(y()), {{11, 18}, {30.5, 44}})
    H.assert_tensor(x():sub(y()), {{-9, -22}, {-29.5, -36}})
    H.assert_tensor(x():mul(y()), {{10, -40}, {15, 160}})
  end)

  it("div", function()
    -- 1/10 and 0.5/30 are not float32 numbers: one rounding
    H.assert_tensor(x():div(y()), {{0.1, -0.1}, {0.5 / 30, 0.1}}, H.ROUND)
    H.assert_tensor(y():div(nn.tensor{{4, 8}, {-2, 0.5}}), {{2.5, 2.5}, {-15, 80}})
  end)

  it("out-of-place ops return a new tensor and leave both inputs alone", function()
    local a, b = x(), y()
    local c = a:add(b)
    assert.is_false(rawequal(a, c))
    H.assert_tensor(a, {{1, -2}, {0.5, 4}})
    H.assert_tensor(b, {{10, 20}, {30, 40}})
    c:fill_(0)                               -- and share no storage with them
    H.assert_tensor(a, {{1, -2}, {0.5, 4}})
  end)
end)

describe("binary ops with a number", function()
  it("add, sub, mul, div", function()
    H.assert_tensor(x():add(1), {{2, -1}, {1.5, 5}})
    H.assert_tensor(x():sub(0.5), {{0.5, -2.5}, {0, 3.5}})
    H.assert_tensor(x():mul(-3), {{-3, 6}, {-1.5, -12}})
    H.assert_tensor(x():div(2), {{0.5, -1}, {0.25, 2}})
  end)

  it("division by zero follows IEEE 754, as PyTorch", function()
    local r = nn.tensor{1, -1, 0}:div(0)
    assert.are.equal(math.huge, r:get(1))
    assert.are.equal(-math.huge, r:get(2))
    local z = r:get(3)
    assert.is_true(z ~= z, "0/0 should be nan, got " .. tostring(z))
  end)
end)

describe("binary ops with a row: the bias broadcast", function()
  local function b () return nn.tensor{{1, 2, 3}, {4, 5, 6}} end

  it("a row of shape (N) is applied to every row of (B,N)", function()
    H.assert_tensor(b():add(nn.tensor{10, 20, 30}), {{11, 22, 33}, {14, 25, 36}})
    H.assert_tensor(b():sub(nn.tensor{1, 1, 1}), {{0, 1, 2}, {3, 4, 5}})
    H.assert_tensor(b():mul(nn.tensor{1, 0, -1}), {{1, 0, -3}, {4, 0, -6}})
    H.assert_tensor(b():div(nn.tensor{1, 2, 4}), {{1, 1, 0.75}, {4, 2.5, 1.5}})
  end)

  it("a row of shape (1,N) does the same", function()
    H.assert_tensor(b():add(nn.tensor{{10, 20, 30}}), {{11, 22, 33}, {14, 25, 36}})
    H.assert_tensor(b():mul_(nn.tensor{{2, 3, 4}}), {{2, 6, 12}, {8, 15, 24}})
  end)

  it("a batch of one row is just the same shape", function()
    H.assert_tensor(nn.tensor{{1, 2}}:add(nn.tensor{5, 6}), {{6, 8}})
  end)
end)

describe("in-place binary ops", function()
  it("add_, sub_, mul_, div_ write into t and return t", function()
    local t = x()
    assert.is_true(rawequal(t, t:add_(y())))
    H.assert_tensor(t, {{11, 18}, {30.5, 44}})
    assert.is_true(rawequal(t, t:sub_(1)))
    H.assert_tensor(t, {{10, 17}, {29.5, 43}})
    assert.is_true(rawequal(t, t:mul_(2)))
    H.assert_tensor(t, {{20, 34}, {59, 86}})
    assert.is_true(rawequal(t, t:div_(nn.tensor{{4, 2}, {1, 0.5}})))
    H.assert_tensor(t, {{5, 17}, {59, 172}})
  end)

  it("the other operand may be t itself", function()
    local t = x()
    t:add_(t)
    H.assert_tensor(t, {{2, -4}, {1, 8}})
    t:mul_(t)
    H.assert_tensor(t, {{4, 16}, {1, 64}})
  end)

  it("write through a view into its base", function()
    local t = nn.tensor.zeros(3, 2)
    t:narrow(1, 2, 1):add_(nn.tensor{7, 8})
    H.assert_tensor(t, {{0, 0}, {7, 8}, {0, 0}})
  end)
end)

describe("unary ops", function()
  it("exp", function()
    H.assert_tensor(nn.tensor{0, 1, -1, 2}:exp(),
                    {1, 2.718281828459045, 0.36787944117144233, 7.38905609893065}, H.LIBM)
  end)

  it("log, with log(0) = -inf and log(-1) = nan", function()
    H.assert_tensor(nn.tensor{1, 2, 0.5, 10}:log(),
                    {0, 0.6931471805599453, -0.6931471805599453, 2.302585092994046}, H.LIBM)
    local r = nn.tensor{0, -1}:log()
    assert.are.equal(-math.huge, r:get(1))
    assert.is_true(r:get(2) ~= r:get(2))
  end)

  it("sqrt", function()
    H.assert_tensor(nn.tensor{0, 1, 4, 2}:sqrt(), {0, 1, 2, 1.4142135623730951}, H.LIBM)
  end)

  it("abs and neg", function()
    H.assert_tensor(nn.tensor{-1.5, 0, 2}:abs(), {1.5, 0, 2})
    H.assert_tensor(nn.tensor{1, -2, 0}:neg(), {-1, 2, 0})
  end)

  it("relu: max(x, 0)", function()
    H.assert_tensor(nn.tensor{{-1, 0, 2.5}, {-0.001, 3, -7}}:relu(), {{0, 0, 2.5}, {0, 3, 0}})
  end)

  it("sigmoid", function()
    H.assert_tensor(nn.tensor{0, 1, -1, 100}:sigmoid(),
                    {0.5, 0.7310585786300049, 0.2689414213699951, 1}, H.LIBM)
  end)

  it("sigmoid of a large negative number is a tiny non-negative number, not nan", function()
    -- true value 3.7e-44: a float32 subnormal, or 0 with flush-to-zero
    local v = nn.tensor{-100}:sigmoid():item()
    assert.is_true(v >= 0 and v < 1e-30, "sigmoid(-100) = " .. tostring(v))
  end)

  it("tanh", function()
    H.assert_tensor(nn.tensor{0, 0.5, -2, 20}:tanh(),
                    {0, 0.46211715726000974, -0.9640275800758169, 1}, H.LIBM)
  end)

  it("pow(p)", function()
    H.assert_tensor(nn.tensor{1, 2, -3, 0.5}:pow(2), {1, 4, 9, 0.25})
    H.assert_tensor(nn.tensor{4, 2}:pow(0.5), {2, 1.4142135623730951}, H.LIBM)
    H.assert_tensor(nn.tensor{2, 4}:pow(-1), {0.5, 0.25})
    H.assert_tensor(nn.tensor{2, -2}:pow(3), {8, -8})
  end)

  it("clamp(lo, hi)", function()
    H.assert_tensor(nn.tensor{-3, -1, 0.5, 2, 5}:clamp(-1, 2), {-1, -1, 0.5, 2, 2})
  end)

  it("out-of-place unary ops leave t alone", function()
    local t = nn.tensor{-1, 4}
    local r = t:sqrt():abs():relu()
    assert.is_false(rawequal(t, r))
    H.assert_tensor(t, {-1, 4})
  end)
end)

describe("in-place unary ops", function()
  -- each entry: method, input, expected, tolerance
  local cases = {
    {"exp_", {0, 1}, {1, 2.718281828459045}, H.LIBM},
    {"log_", {1, 2}, {0, 0.6931471805599453}, H.LIBM},
    {"sqrt_", {9, 0.25}, {3, 0.5}, H.LIBM},
    {"abs_", {-2, 3}, {2, 3}},
    {"neg_", {-2, 3}, {2, -3}},
    {"relu_", {-2, 3}, {0, 3}},
    {"sigmoid_", {0, -1}, {0.5, 0.2689414213699951}, H.LIBM},
    {"tanh_", {0, 0.5}, {0, 0.46211715726000974}, H.LIBM},
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " writes into t and returns t", function()
      local t = nn.tensor(c[2])
      assert.is_true(rawequal(t, t[c[1]](t)))
      H.assert_tensor(t, c[3], c[4])
    end)
  end

  it("pow_ and clamp_ write into t and return t", function()
    local t = nn.tensor{-3, 2}
    assert.is_true(rawequal(t, t:pow_(2)))
    H.assert_tensor(t, {9, 4})
    assert.is_true(rawequal(t, t:clamp_(0, 5)))
    H.assert_tensor(t, {5, 4})
  end)
end)

describe("metamethods", function()
  local function a () return nn.tensor{{1, 2}, {3, 4}} end
  local function b () return nn.tensor{{5, 6}, {7, 8}} end

  it("a + b, a - b, a * b (element-wise), a / b", function()
    H.assert_tensor(a() + b(), {{6, 8}, {10, 12}})
    H.assert_tensor(a() - b(), {{-4, -4}, {-4, -4}})
    H.assert_tensor(a() * b(), {{5, 12}, {21, 32}})
    H.assert_tensor(a() / b(), {{0.2, 1 / 3}, {3 / 7, 0.5}}, H.ROUND)
  end)

  it("a number on the right", function()
    H.assert_tensor(a() + 1, {{2, 3}, {4, 5}})
    H.assert_tensor(a() - 1, {{0, 1}, {2, 3}})
    H.assert_tensor(a() * 2, {{2, 4}, {6, 8}})
    H.assert_tensor(a() / 2, {{0.5, 1}, {1.5, 2}})
  end)

  it("a number on the left", function()
    H.assert_tensor(1 + a(), {{2, 3}, {4, 5}})
    H.assert_tensor(10 - a(), {{9, 8}, {7, 6}})
    H.assert_tensor(2 * a(), {{2, 4}, {6, 8}})
    H.assert_tensor(12 / a(), {{12, 6}, {4, 3}})
  end)

  it("a row on the right broadcasts", function()
    H.assert_tensor(a() + nn.tensor{10, 20}, {{11, 22}, {13, 24}})
  end)

  it("-a, #a, and operands left alone", function()
    local t = a()
    H.assert_tensor(-t, {{-1, -2}, {-3, -4}})
    assert.are.equal(2, #t)
    local _ = t + t * 3 - 1
    H.assert_tensor(t, {{1, 2}, {3, 4}})
  end)

  it("tostring gives a string naming the shape", function()
    local s = tostring(a())
    assert.are.equal("string", type(s))
    assert.is_truthy(s:find("[2x2]", 1, true), s)
  end)
end)

describe("the same functions in nn", function()
  it("nn.add, nn.sub, nn.mul, nn.div", function()
    local a, b = nn.tensor{1, 2}, nn.tensor{4, 8}
    H.assert_tensor(nn.add(a, b), {5, 10})
    H.assert_tensor(nn.sub(a, b), {-3, -6})
    H.assert_tensor(nn.mul(a, b), {4, 16})
    H.assert_tensor(nn.div(a, b), {0.25, 0.25})
    H.assert_tensor(nn.add(a, 1), {2, 3})
  end)

  it("nn.exp, nn.relu, nn.pow, nn.clamp", function()
    H.assert_tensor(nn.exp(nn.tensor{0}), {1})
    H.assert_tensor(nn.relu(nn.tensor{-1, 1}), {0, 1})
    H.assert_tensor(nn.pow(nn.tensor{3}, 2), {9})
    H.assert_tensor(nn.clamp(nn.tensor{-5, 5}, -1, 1), {-1, 1})
  end)

  it("nn.add_ writes into its first argument", function()
    local a = nn.tensor{1, 2}
    assert.is_true(rawequal(a, nn.add_(a, nn.tensor{1, 1})))
    H.assert_tensor(a, {2, 3})
  end)
end)

describe("denormals", function()
  -- DESIGN.md, Speed on the CPU: the host sets flush-to-zero and
  -- denormals-are-zero, because subnormal floats make every op on them about
  -- 100x slower.  1e-30 * 1e-10 = 1e-40 is below float32's smallest normal
  -- (1.18e-38): it is flushed to 0 with FTZ on, and 1e-40 with it off.
  local cpuinfo = io.open("/proc/cpuinfo")
  local x86 = cpuinfo and cpuinfo:read("a"):find("sse2") ~= nil
  if cpuinfo then cpuinfo:close() end

  it("products below float32's normal range flush to zero (x86 MXCSR FTZ)", function()
    if not x86 then pending("not an x86 CPU: MXCSR does not apply") return end
    assert.are.equal(0, nn.tensor{1e-30}:mul(1e-10):item())
  end)
end)
