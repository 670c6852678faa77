--- spec/tensor_compare_spec.lua -- comparisons and masks: eq ne lt le gt ge,
-- where, masked_fill, any, all, isnan, isinf, maximum, minimum.
--
-- Masks are float32 tensors of 0 and 1, so every expected value here is
-- exact (H.EXACT).  The expected masks are written out by hand.
local H = require "spec.helpers"
local NAN = 0 / 0

local function is_nan (x) return x ~= x end

describe("comparisons", function()
  local a = nn.tensor{1, 2, 3}
  local b = nn.tensor{3, 2, 1}

  it("eq ne lt le gt ge of two tensors, as methods and as nn functions", function()
    H.assert_tensor(a:eq(b), {0, 1, 0}, H.EXACT)
    H.assert_tensor(a:ne(b), {1, 0, 1}, H.EXACT)
    H.assert_tensor(a:lt(b), {1, 0, 0}, H.EXACT)
    H.assert_tensor(a:le(b), {1, 1, 0}, H.EXACT)
    H.assert_tensor(a:gt(b), {0, 0, 1}, H.EXACT)
    H.assert_tensor(a:ge(b), {0, 1, 1}, H.EXACT)
    H.assert_tensor(nn.lt(a, b), {1, 0, 0}, H.EXACT)
    H.assert_tensor(nn.ge(a, b), {0, 1, 1}, H.EXACT)
  end)

  it("the result is a float32 mask: mask * x and mask:sum() work", function()
    local x = nn.tensor{-1, 2, -3, 4}
    local m = x:gt(0)
    assert.are.equal("float32", m.dtype)
    H.assert_tensor(m * x, {0, 2, 0, 4}, H.EXACT)
    assert.are.equal(2, m:sum())
  end)

  it("the prompt's example: t:gt(0) of randn(3, 4)", function()
    local t = nn.tensor.randn(3, 4)
    local m = t:gt(0)
    assert.are.same({3, 4}, m.shape)
    for i = 1, 3 do
      for j = 1, 4 do assert.are.equal(t:get(i, j) > 0 and 1 or 0, m:get(i, j)) end
    end
    assert.is_truthy(tostring(m):find("[3x4]", 1, true))
  end)

  it("a number on either side", function()
    H.assert_tensor(a:gt(2), {0, 0, 1}, H.EXACT)
    H.assert_tensor(a:le(2), {1, 1, 0}, H.EXACT)
    H.assert_tensor(nn.lt(2, a), {0, 0, 1}, H.EXACT)     -- 2 < a
    H.assert_tensor(nn.ge(2, a), {1, 1, 0}, H.EXACT)     -- 2 >= a
    H.assert_tensor(nn.eq(2, a), {0, 1, 0}, H.EXACT)
  end)

  it("a float32 tensor against a number compares in float32, as PyTorch", function()
    -- 0.1 is not a float32: the tensor holds 0.100000001490116; eq(0.1) still finds it
    H.assert_tensor(nn.tensor{0.1, 0.2}:eq(0.1), {1, 0}, H.EXACT)
    H.assert_tensor(nn.tensor{0.1}:gt(0.1), {0}, H.EXACT)
  end)

  it("broadcast: a column against a row", function()
    local col, row = nn.tensor{{1}, {2}, {3}}, nn.tensor{1, 2, 3, 4}
    H.assert_tensor(col:lt(row), {{0, 1, 1, 1}, {0, 0, 1, 1}, {0, 0, 0, 1}}, H.EXACT)
    H.assert_tensor(row:eq(col), {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}, H.EXACT)
  end)

  it("nan is unequal to everything, itself included, and unordered", function()
    local n = nn.tensor{NAN, 1}
    H.assert_tensor(n:eq(n), {0, 1}, H.EXACT)
    H.assert_tensor(n:ne(n), {1, 0}, H.EXACT)
    H.assert_tensor(n:lt(math.huge), {0, 1}, H.EXACT)
    H.assert_tensor(n:ge(-math.huge), {0, 1}, H.EXACT)
    H.assert_tensor(nn.tensor{1}:eq(NAN), {0}, H.EXACT)
  end)

  it("int32 operands compare by their exact values", function()
    local i = nn.tensor{0, 3, -5}:int():set(1, 16777217) -- 2^24 + 1: no float32 holds it
    local f = nn.tensor{16777216, 3, -5}                -- 2^24
    H.assert_tensor(i:eq(f), {0, 1, 1}, H.EXACT)
    H.assert_tensor(i:gt(f), {1, 0, 0}, H.EXACT)
    H.assert_tensor(i:eq(i), {1, 1, 1}, H.EXACT)
    H.assert_tensor(i:eq(16777217), {1, 0, 0}, H.EXACT)
    local ext = nn.tensor{0, -2147483648}:int():set(1, 2147483647)
    H.assert_tensor(ext:lt(2147483647), {0, 1}, H.EXACT)
    H.assert_tensor(ext:eq(2147483646), {0, 0}, H.EXACT)   -- in float32 both would be 2^31
    assert.are.equal("float32", i:eq(f).dtype)
  end)

  it("empty tensors give empty masks", function()
    assert.are.same({0, 3}, nn.tensor.zeros(0, 3):lt(nn.tensor.zeros(3)).shape)
    assert.are.same({0}, nn.tensor.zeros(0):eq(1).shape)
  end)

  it("errors: shapes, types, nil, two numbers", function()
    H.assert_error_has(function () a:eq(nn.tensor{1, 2}) end,
      {"bad argument #1 to 'eq'", "shapes [3] and [2] do not broadcast"})
    H.assert_error_has(function () a:lt("x") end, {"bad argument #1 to 'lt'", "nn.Tensor or number"})
    H.assert_error_has(function () a:gt(nil) end, {"bad argument #1 to 'gt'"})
    H.assert_error_has(function () nn.le(1, 2) end, {"bad argument #1 to 'le'", "nn.Tensor expected"})
    H.assert_error_has(function () nn.ne({}, a) end, {"bad argument #1 to 'ne'"})
  end)

  it("== stays Lua's identity, and < needs the methods", function()
    local t = nn.tensor{1}
    assert.is_true(t == t)
    assert.is_false(t == t:clone())
    H.assert_error_has(function () return t < t end, {"attempt to compare"})
    assert.is_nil(getmetatable(t).__eq)
    assert.is_nil(getmetatable(t).__lt)
    assert.is_nil(getmetatable(t).__le)
  end)
end)

describe("where", function()
  local c = nn.tensor{1, 0, 1, 0}
  local x = nn.tensor{1, 2, 3, 4}
  local y = nn.tensor{10, 20, 30, 40}

  it("picks a where cond is nonzero, else b", function()
    H.assert_tensor(nn.where(c, x, y), {1, 20, 3, 40}, H.EXACT)
    H.assert_tensor(nn.where(c, x, -1), {1, -1, 3, -1}, H.EXACT)
    H.assert_tensor(nn.where(c, 7, y), {7, 20, 7, 40}, H.EXACT)
    H.assert_tensor(nn.where(c, 7, 8), {7, 8, 7, 8}, H.EXACT)
  end)

  it("x:where(cond, y) is PyTorch's method form", function()
    H.assert_tensor(x:where(c, y), {1, 20, 3, 40}, H.EXACT)
    H.assert_tensor(x:where(x:gt(2), 0), {0, 0, 3, 4}, H.EXACT)
  end)

  it("the three broadcast together", function()
    local col = nn.tensor{{1}, {0}}                      -- (2x1)
    H.assert_tensor(nn.where(col, nn.tensor{1, 2, 3}, nn.tensor{{-1}, {-2}}),
                    {{1, 2, 3}, {-2, -2, -2}}, H.EXACT)
    H.assert_tensor(nn.where(nn.tensor{1, 0, 1}, nn.tensor{{5}, {6}}, 0),
                    {{5, 0, 5}, {6, 0, 6}}, H.EXACT)
  end)

  it("cond may be int32, and nan counts as nonzero", function()
    H.assert_tensor(nn.where(nn.tensor{0, 5, -1}:int(), 1, 0), {0, 1, 1}, H.EXACT)
    H.assert_tensor(nn.where(nn.tensor{NAN, 0}, 1, 0), {1, 0}, H.EXACT)
  end)

  it("large: 2^18 + elements (the threads' path)", function()
    local n = 300000
    local a, b = nn.tensor.randn(n), nn.tensor.randn(n)
    local r = nn.where(a:gt(b), a, b)
    H.assert_tensor(r:sub(nn.maximum(a, b)):abs():max(1):view(1), {0}, H.EXACT)
  end)

  it("errors: a and b must be float32, the shapes must broadcast", function()
    H.assert_error_has(function () nn.where(c, x:int(), y) end,
      {"bad argument #2 to 'where'", "float32 tensor expected, got int32"})
    H.assert_error_has(function () nn.where(c, x, nn.tensor{1, 2}) end,
      {"bad argument #3 to 'where'", "do not broadcast"})
    H.assert_error_has(function () nn.where(nn.tensor{1, 0}, x, y) end,
      {"bad argument #2 to 'where'", "shapes [2] and [4] do not broadcast"})
    H.assert_error_has(function () nn.where(1, x, y) end, {"bad argument #1 to 'where'"})
    H.assert_error_has(function () nn.where(c, "a", y) end, {"bad argument #2 to 'where'"})
  end)
end)

describe("masked_fill", function()
  it("fills where the mask is nonzero, out of place and in place", function()
    local t = nn.tensor{{1, 2}, {3, 4}}
    H.assert_tensor(t:masked_fill(t:gt(2), 0), {{1, 2}, {0, 0}}, H.EXACT)
    H.assert_tensor(t, {{1, 2}, {3, 4}}, H.EXACT)
    assert.is_true(rawequal(t, t:masked_fill_(nn.tensor{1, 0}, -1)))   -- broadcast row
    H.assert_tensor(t, {{-1, 2}, {-1, 4}}, H.EXACT)
    t:masked_fill_(nn.tensor{{0}, {1}}:int(), math.huge)               -- int32 column
    H.assert_tensor(t, {{-1, 2}, {math.huge, math.huge}}, H.EXACT)
  end)

  it("the mask must broadcast to self's shape; v must be a number", function()
    local t = nn.tensor.zeros(2)
    H.assert_error_has(function () t:masked_fill(nn.tensor.ones(3, 2), 1) end,
      {"bad argument #1 to 'masked_fill'", "mask [3x2] does not broadcast to self's shape [2]"})
    H.assert_error_has(function () t:masked_fill_(nn.tensor.ones(3), 1) end,
      {"bad argument #1 to 'masked_fill_'", "do not broadcast"})
    H.assert_error_has(function () t:masked_fill(nn.tensor.ones(2), "x") end,
      {"bad argument #2 to 'masked_fill'"})
    H.assert_error_has(function () t:int():masked_fill(nn.tensor.ones(2), 1) end, {"int32"})
  end)
end)

describe("any and all", function()
  it("over all elements: booleans", function()
    assert.is_true(nn.tensor{0, 0, 2}:any())
    assert.is_false(nn.tensor{0, 0, 0}:any())
    assert.is_true(nn.tensor{1, -1, 2}:all())
    assert.is_false(nn.tensor{1, 0, 2}:all())
    assert.is_true(nn.tensor{NAN}:all())            -- nan is nonzero
    assert.is_true(nn.tensor{NAN, 0}:any())
    assert.is_true(nn.tensor{0, 3}:int():any())
    assert.is_false(nn.tensor{0, 3}:int():all())
    assert.is_true(nn.any(nn.tensor{1}))
  end)

  it("of an empty tensor: any is false, all is true", function()
    assert.is_false(nn.tensor.zeros(0):any())
    assert.is_true(nn.tensor.zeros(0, 3):all())
  end)

  it("along a dim: a 0/1 mask, with keepdim and negative dims", function()
    local t = nn.tensor{{1, 0, 2}, {0, 0, 3}}
    H.assert_tensor(t:any(1), {1, 0, 1}, H.EXACT)
    H.assert_tensor(t:all(1), {0, 0, 1}, H.EXACT)
    H.assert_tensor(t:any(2), {1, 1}, H.EXACT)
    H.assert_tensor(t:all(-1), {0, 0}, H.EXACT)
    H.assert_tensor(t:any(2, true), {{1}, {1}}, H.EXACT)
    H.assert_tensor(nn.tensor.zeros(2, 0):all(2), {1, 1}, H.EXACT)
    H.assert_tensor(nn.tensor.zeros(2, 0):any(2), {0, 0}, H.EXACT)
    H.assert_tensor(nn.tensor{{0, 7}}:int():all(2), {0}, H.EXACT)
  end)

  it("errors: dims out of range, not a tensor", function()
    local t = nn.tensor.zeros(2, 3)
    H.assert_error_has(function () t:any(3) end, {"bad argument #1 to 'any'", "dim 3 is out of range"})
    H.assert_error_has(function () t:all(-3) end, {"dim -3 is out of range"})
    H.assert_error_has(function () t:all(math.huge) end, {"bad argument #1 to 'all'"})
    H.assert_error_has(function () t:any(math.mininteger) end, {"out of range"})
    H.assert_error_has(function () nn.any(5) end, {"bad argument #1 to 'any'"})
  end)
end)

describe("isnan, isinf, maximum, minimum", function()
  it("isnan and isinf are masks", function()
    local t = nn.tensor{NAN, math.huge, -math.huge, 0, 1}
    H.assert_tensor(t:isnan(), {1, 0, 0, 0, 0}, H.EXACT)
    H.assert_tensor(t:isinf(), {0, 1, 1, 0, 0}, H.EXACT)
    H.assert_tensor(nn.isnan(nn.tensor{3.5e38}), {0}, H.EXACT)     -- large, finite
  end)

  it("maximum and minimum: element-wise, broadcast, nan propagates", function()
    local a, b = nn.tensor{1, 5, NAN, 2}, nn.tensor{3, 4, 1, NAN}
    local mx, mn = nn.maximum(a, b), nn.minimum(a, b)
    H.assert_tensor(mx:narrow(1, 1, 2), {3, 5}, H.EXACT)
    H.assert_tensor(mn:narrow(1, 1, 2), {1, 4}, H.EXACT)
    assert.is_true(is_nan(mx:get(3)) and is_nan(mx:get(4)))
    assert.is_true(is_nan(mn:get(3)) and is_nan(mn:get(4)))
    H.assert_tensor(nn.tensor{{1}, {5}}:maximum(nn.tensor{2, 3}), {{2, 3}, {5, 5}}, H.EXACT)
    H.assert_tensor(nn.minimum(0, nn.tensor{-1, 1}), {-1, 0}, H.EXACT)
    H.assert_tensor(nn.tensor{-1, 1}:maximum(0), {0, 1}, H.EXACT)
  end)

  it("int32 is refused by the arithmetic ones", function()
    H.assert_error_has(function () nn.tensor{1}:int():isnan() end, {"int32"})
    H.assert_error_has(function () nn.maximum(nn.tensor{1}:int(), nn.tensor{1}) end, {"int32"})
  end)
end)
