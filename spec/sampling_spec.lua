-- spec/sampling_spec.lua -- nn.multinomial and bernoulli on the one Philox
-- generator.
--
-- The lanes are defined so that draw e of a call (row-major over (B, n))
-- takes the very uniform nn.tensor.rand gives element e after the same
-- seed: so the exact draws are computed here, independently of the C code,
-- by inverse CDF over those uniforms in Lua.  The frequency checks are over
-- 10^5 draws from a fixed seed: the tolerance (1 percentage point) is over
-- 6 standard deviations of a count (sqrt(p (1 - p) / 10^5) <= 0.0016), and
-- the seed is fixed, so they are deterministic besides.
local H = require "spec.helpers"
local has = H.assert_error_has
local T = nn.tensor

-- the uniforms a call of `count` draws takes after nn.manual_seed(seed)
local function uniforms(seed, count)
  nn.manual_seed(seed)
  local u = T.rand(count)
  local out = {}
  for e = 1, count do out[e] = u:get(e) end
  return out
end

-- inverse CDF over weights w (a Lua list), with the classes in `gone` out
-- of play; a double-precision sum in class order, as the C loop's
local function inverse_cdf(w, u, gone)
  local total = 0
  for k = 1, #w do if not gone[k] then total = total + w[k] end end
  local target, acc, last = u * total, 0, nil
  for k = 1, #w do
    if not gone[k] and w[k] > 0 then
      last = k
      acc = acc + w[k]
      if acc > target then return k end
    end
  end
  return last
end

-- the float32 value of x (the weights are stored as float32)
local function f32(x) return T{x}:get(1) end

describe("nn.multinomial", function()
  it("with replacement: draw j of row b takes uniform (b-1)*n + j", function()
    local w = { f32(0.1), f32(0.2), f32(0.3), f32(0.4) }
    local u = uniforms(42, 2 * 6)
    nn.manual_seed(42)
    local got = nn.multinomial(T{{0.1, 0.2, 0.3, 0.4}, {0.1, 0.2, 0.3, 0.4}}, 6, true)
    assert.are.equal("int32", got.dtype)
    local want = {}
    for b = 1, 2 do
      want[b] = {}
      for j = 1, 6 do want[b][j] = inverse_cdf(w, u[(b - 1) * 6 + j], {}) end
    end
    H.assert_tensor(got, want, H.EXACT)
  end)
  it("without replacement (the default): a drawn class leaves play", function()
    local w = { f32(0.5), 0, f32(2), 1, f32(0.25) }
    local u = uniforms(3, 4)
    nn.manual_seed(3)
    local got = nn.multinomial(T{0.5, 0, 2, 1, 0.25}, 4)
    local gone, want = {}, {}
    for j = 1, 4 do
      want[j] = inverse_cdf(w, u[j], gone)
      gone[want[j]] = true
    end
    H.assert_tensor(got, want, H.EXACT)
    -- all four classes of positive weight, each once
    local seen = {}
    for j = 1, 4 do seen[got:get(j)] = true end
    assert.is_true(seen[1] and seen[3] and seen[4] and seen[5] and not seen[2])
  end)
  it("a hand-worked case: weights (1, 3) and uniforms below and above 1/4", function()
    -- class 1 when u * 4 < 1, else class 2
    local u = uniforms(9, 8)
    nn.manual_seed(9)
    local got = nn.multinomial(T{1, 3}, 8, true)
    for j = 1, 8 do assert.are.equal(u[j] < 0.25 and 1 or 2, got:get(j)) end
  end)
  it("advances the generator by ceil(B n / 4) blocks, as rand(B n) does", function()
    nn.manual_seed(1)
    nn.multinomial(T{1, 1}, 5, true)
    local after = T.rand(3)
    nn.manual_seed(1)
    T.rand(5)
    assert.are.equal(0, (after - T.rand(3)):abs():max())
  end)
  it("frequencies over 10^5 draws match the weights within 1 point", function()
    nn.manual_seed(2026)
    local draws = nn.multinomial(T{0.1, 0.2, 0.3, 0.4}, 100000, true)
    local counts = nn.data.one_hot(draws, 4):sum(1)
    for k, p in ipairs { 0.1, 0.2, 0.3, 0.4 } do
      local f = counts:get(k) / 100000
      assert.is_true(math.abs(f - p) < 0.01, ("class %d: %.4f, want %.1f"):format(k, f, p))
    end
  end)
  it("without replacement over 50000 rows: first draw in proportion, second differs", function()
    nn.manual_seed(77)
    local probs = T.zeros(50000, 3) + T{1, 1, 2}      -- each row (1, 1, 2)
    local d = nn.multinomial(probs, 2)
    assert.are.same({ 50000, 2 }, d.shape)
    local first = nn.data.one_hot(d:index_select(2, T{1}:int()), 3):sum(1)
    local f = first:get(3) / 50000                   -- P(class 3 first) = 2 / 4
    assert.is_true(math.abs(f - 0.5) < 0.01, "class 3 first: " .. f)
    local a, b = d:index_select(2, T{1}:int()):float(), d:index_select(2, T{2}:int()):float()
    assert.is_true((a - b):abs():min() >= 1, "a row drew one class twice")
  end)
  it("n = 0 gives an empty result", function()
    assert.are.equal(0, nn.multinomial(T{1, 2}, 0):numel())
  end)
  it("refuses bad weights, n and shapes, naming the row", function()
    has(function() nn.multinomial(T{{1, 1}, {1, -1}}, 1) end,
        {"bad argument #1 to 'multinomial'", "row 2 of probs has a negative, inf or nan weight"})
    has(function() nn.multinomial(T{1, 0 / 0}, 1) end, {"row 1", "nan"})
    has(function() nn.multinomial(T{1, math.huge}, 1) end, {"row 1", "inf"})
    has(function() nn.multinomial(T{0, 0}, 1, true) end, {"row 1 of probs has no positive weight"})
    has(function() nn.multinomial(T{1, 0, 1}, 4) end,
        {"bad argument #2", "4 draws without replacement from 3 classes"})
    has(function() nn.multinomial(T{1, 0, 1}, 3, false) end,
        {"bad argument #1", "row 1 of probs has fewer classes of positive weight than the 3"})
    assert.are.equal(3, nn.multinomial(T{1, 2, 1}, 3):numel())
    has(function() nn.multinomial(T{1, 1}, -1) end, {"bad argument #2", "n must be"})
    has(function() nn.multinomial(T{1, 1}, 2.5) end, {"bad argument #2"})
    has(function() nn.multinomial(T{1, 1}, math.maxinteger, true) end, {"bad argument #2"})
    has(function() nn.multinomial(T.ones(2, 2, 2), 1) end, {"bad argument #1", "(C) or (B, C)"})
    has(function() nn.multinomial(T{1, 1}:int(), 1) end, {"bad argument #1", "int32"})
  end)
end)

describe("bernoulli", function()
  it("element i is u_i < p[i], u_i the uniform rand gives element i", function()
    local p = T{0.5, 0, 1, 0.25, 0.75, 0.9, 0.1}
    local u = uniforms(13, 7)
    nn.manual_seed(13)
    local got = p:bernoulli()
    local want = {}
    for i = 1, 7 do want[i] = u[i] < p:get(i) and 1 or 0 end
    H.assert_tensor(got, want, H.EXACT)
    assert.are.equal(0, got:get(2))
    assert.are.equal(1, got:get(3))
    nn.manual_seed(13)
    H.assert_tensor(nn.bernoulli(p), want, H.EXACT)
  end)
  it("a mean of 0.3 over 10^5 draws of p = 0.3, within 1 point", function()
    nn.manual_seed(99)
    local m = (T.zeros(100000) + 0.3):bernoulli():mean()
    assert.is_true(math.abs(m - 0.3) < 0.01, "mean " .. m)
  end)
  it("keeps the shape; an empty p gives an empty result", function()
    assert.are.same({ 2, 3 }, T.zeros(2, 3):bernoulli().shape)
    assert.are.equal(0, T.zeros(0):bernoulli():numel())
  end)
  it("refuses p outside [0, 1] or nan, naming the position", function()
    has(function() T{0.5, 1.5}:bernoulli() end, {"p at position 2 is 1.5, outside [0, 1]"})
    has(function() nn.bernoulli(T{-0.1}) end, {"bad argument #1 to 'bernoulli'", "position 1"})
    has(function() nn.bernoulli(T{0 / 0}) end, {"nan"})
    has(function() nn.bernoulli(T{0.5}:int()) end, {"int32"})
    has(function() nn.bernoulli(nil) end, {"bad argument #1 to 'bernoulli'"})
  end)
end)
