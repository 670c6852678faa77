--- spec/tensor_broadcast_spec.lua -- binary ops on shapes that broadcast
-- (NumPy's rules), and sum_to_size, their reverse.
--
-- Expected values come from a plain Lua loop over the broadcast shape (ref()
-- below): it reads each operand through its own index rules, written here
-- from NumPy's documentation, not from the C code.  The operands hold small
-- integers, so sums, differences and products are exact (H.EXACT); div,
-- pow and the rest are compared within H.ROUND / H.LIBM.
local H = require "spec.helpers"

-- a tensor of shape `shape` holding 1, 2, 3, ... (times `scale`, plus `shift`)
local function seq (shape, scale, shift)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local t = nn.tensor.arange(1, n + 1):mul(scale or 1):add(shift or 0)
  return #shape == 0 and t:view() or t:view(shape)
end

-- element at 1-based multi-index idx (already aligned to t's dims) of a flat table
local function at (flat, shape, idx)
  local k = 0
  for d = 1, #shape do k = k * shape[d] + (idx[d] - 1) end
  return flat[k + 1]
end

-- NumPy's rule, written out: the result shape, or nil and the first bad dim
local function bshape (sa, sb)
  local n, r = math.max(#sa, #sb), {}
  for d = 1, n do
    local x, y = sa[d - (n - #sa)] or 1, sb[d - (n - #sb)] or 1
    if x ~= y and x ~= 1 and y ~= 1 then return nil, d end
    r[d] = x == 1 and y or x
  end
  return r
end

-- the expected result of f over a and b broadcast, as a nested table
local function ref (a, b, f)
  local sa, sb = a.shape, b.shape
  local fa, fb = H.flatten(a:totable(), {}), H.flatten(b:totable(), {})
  if #sa == 0 then fa = { a:item() } end
  if #sb == 0 then fb = { b:item() } end
  local s = assert(bshape(sa, sb))
  local function pick (shape, idx)
    local j = {}
    for d = 1, #shape do
      local e = idx[d + (#s - #shape)]
      j[d] = shape[d] == 1 and 1 or e
    end
    return j
  end
  local function build (d, idx)
    if d > #s then
      return f(at(fa, sa, pick(sa, idx)), at(fb, sb, pick(sb, idx)))
    end
    local t = {}
    for i = 1, s[d] do idx[d] = i; t[i] = build(d + 1, idx) end
    return t
  end
  if #s == 0 then return f(fa[1], fb[1]) end
  return build(1, {})
end

local ops = {
  add = function (x, y) return x + y end,
  sub = function (x, y) return x - y end,
  mul = function (x, y) return x * y end,
  div = function (x, y) return x / y end,
  pow = function (x, y) return x ^ y end,
  floor_divide = function (x, y) return x // y end,   -- Lua's float // is floor(x / y)
  remainder = function (x, y) return x % y end,       -- Lua's % has the divisor's sign
  maximum = math.max, minimum = math.min,
}
local tol = { add = H.EXACT, sub = H.EXACT, mul = H.EXACT, div = H.ROUND, pow = H.LIBM,
              floor_divide = H.EXACT, remainder = H.EXACT, maximum = H.EXACT, minimum = H.EXACT }

-- pairs of shapes that broadcast, each way round
local pairs_ok = {
  { {2}, {3, 2} },             -- a missing leading dim
  { {3, 1}, {3, 4} },          -- a column
  { {3, 1}, {1, 4} },          -- an outer sum
  { {4}, {2, 3, 4} },          -- a row over two leading dims (the bias row)
  { {1, 4}, {3, 4} },
  { {2, 1, 3}, {4, 1} },       -- both stretch
  { {2, 1, 3, 1, 2}, {1, 4, 1, 5, 1} },   -- five dims
  { {}, {2, 3} },              -- a 0-dim tensor
  { {1}, {2, 3} },
  { {5}, {5} },
  { {2, 3}, {2, 3} },
}

describe("broadcasting by NumPy's rules", function()
  for _, case in ipairs(pairs_ok) do
    for _, way in ipairs{ "ab", "ba" } do
      local sa, sb = case[1], case[2]
      if way == "ba" then sa, sb = sb, sa end
      local name = ("%s with %s"):format(H.shape_text(sa), H.shape_text(sb))
      it(name .. ": every op against a direct loop", function()
        for op, f in pairs(ops) do
          local a, b = seq(sa), seq(sb, -1, 7)          -- b: 6, 5, 4, ... (some negative)
          if op == "pow" then a, b = seq(sa, 0.5), seq(sb, 0.25, -1) end
          if op == "div" or op == "floor_divide" or op == "remainder" then
            b = seq(sb, 1, -3.5)                          -- no zero divisor
          end
          H.assert_tensor(a[op](a, b), ref(a, b, f), tol[op], name .. " " .. op)
          H.assert_tensor(nn[op](a, b), ref(a, b, f), tol[op], "nn." .. op)
        end
      end)
    end
  end

  it("the prompt's example: ones(2) + ones(3, 2)", function()
    H.assert_tensor(nn.tensor.ones(2) + nn.tensor.ones(3, 2), {{2, 2}, {2, 2}, {2, 2}}, H.EXACT)
  end)

  it("the operators broadcast: + - * / ^ // %", function()
    local col, row = nn.tensor{{1}, {2}, {3}}, nn.tensor{10, 20}
    H.assert_tensor(col + row, {{11, 21}, {12, 22}, {13, 23}}, H.EXACT)
    H.assert_tensor(row - col, {{9, 19}, {8, 18}, {7, 17}}, H.EXACT)
    H.assert_tensor(col * row, {{10, 20}, {20, 40}, {30, 60}}, H.EXACT)
    H.assert_tensor(row / col, {{10, 20}, {5, 10}, {10 / 3, 20 / 3}}, H.ROUND)
    H.assert_tensor(col ^ nn.tensor{1, 2}, {{1, 1}, {2, 4}, {3, 9}}, H.LIBM)
    H.assert_tensor(row // col, {{10, 20}, {5, 10}, {3, 6}}, H.EXACT)
    H.assert_tensor(row % col, {{0, 0}, {0, 0}, {1, 2}}, H.EXACT)
  end)

  it("a number on the left of a method function: nn.sub(2, t), nn.div(1, t)", function()
    H.assert_tensor(nn.sub(2, nn.tensor{1, 5}), {1, -3}, H.EXACT)
    H.assert_tensor(nn.div(1, nn.tensor{2, 4}), {0.5, 0.25}, H.EXACT)
  end)

  it("empty and one-element dims", function()
    local e = nn.tensor.zeros(0, 3) + nn.tensor{1, 2, 3}
    assert.are.same({0, 3}, e.shape)
    assert.are.same({0}, (nn.tensor.zeros(0) * nn.tensor.ones(1)).shape)
    assert.are.same({2, 0}, (nn.tensor.zeros(2, 1) - nn.tensor.zeros(0)).shape)
    H.assert_tensor(nn.tensor{{5}} + nn.tensor{{1}}, {{6}}, H.EXACT)
  end)

  it("shapes that do not broadcast name both shapes and the dim", function()
    H.assert_error_has(function () return nn.tensor.ones(3, 2) + nn.tensor.ones(4) end,
      {"bad argument #2 to 'add'", "shapes [3x2] and [4] do not broadcast: dim 2 has 2 and 4"})
    H.assert_error_has(function () nn.tensor.ones(2, 3, 4):mul(nn.tensor.ones(3, 1, 1)) end,
      {"bad argument #1 to 'mul'", "shapes [2x3x4] and [3x1x1] do not broadcast: dim 1 has 2 and 3"})
    H.assert_error_has(function () nn.maximum(nn.tensor.ones(2), nn.tensor.ones(3)) end,
      {"bad argument #2 to 'maximum'", "dim 1 has 2 and 3"})
  end)

  it("a broadcast shape above 2^40 elements is refused before anything is allocated", function()
    H.assert_error_has(function () return nn.tensor.zeros(2 ^ 21, 1) + nn.tensor.zeros(1, 2 ^ 20) end,
      {"bad argument #2 to 'add'", "broadcast to [2097152x1048576], more than 2^40 elements"})
  end)

  it("in place, the broadcast shape must be self's", function()
    local a = nn.tensor{{1, 2}, {3, 4}}
    assert.is_true(rawequal(a, a:add_(nn.tensor{{10}, {20}})))
    H.assert_tensor(a, {{11, 12}, {23, 24}}, H.EXACT)
    a:mul_(nn.tensor{2, 3})
    H.assert_tensor(a, {{22, 36}, {46, 72}}, H.EXACT)
    H.assert_error_has(function () nn.tensor.ones(2, 1):add_(nn.tensor.ones(1, 3)) end,
      {"bad argument #1 to 'add_'", "in place", "[2x1]", "[1x3]", "[2x3]"})
    H.assert_error_has(function () nn.tensor.ones(3):sub_(nn.tensor.ones(2, 3)) end,
      {"bad argument #1 to 'sub_'", "[3]", "[2x3]"})
  end)

  it("int32 operands are refused by arithmetic, naming the op", function()
    H.assert_error_has(function () return nn.tensor{1, 2}:int() + nn.tensor{1, 2} end,
      {"float32 tensor expected, got int32"})
    H.assert_error_has(function () nn.tensor{1, 2}:add(nn.tensor{1}:int()) end,
      {"bad argument #1 to 'add'", "int32"})
    H.assert_error_has(function () return nn.tensor{1, 2} ^ nn.tensor{1}:int() end, {"int32"})
  end)

  it("wrong types: a string, a table, nil, a freed tensor", function()
    H.assert_error_has(function () return nn.tensor{1} ^ "x" end, {"nn.Tensor or number expected"})
    H.assert_error_has(function () nn.tensor{1}:remainder({}) end,
      {"bad argument #1 to 'remainder'", "nn.Tensor or number expected, got table"})
    H.assert_error_has(function () nn.floor_divide(nil, nn.tensor{1}) end, {"bad argument #1"})
    H.assert_error_has(function () nn.maximum(2, 3) end, {"bad argument #1 to 'maximum'"})
    local t = nn.tensor{1}
    getmetatable(t).__gc(t)
    H.assert_error_has(function () return nn.tensor{1} % t end, {"tensor already freed"})
  end)

  it("extreme numbers as the scalar operand", function()
    H.assert_tensor(nn.tensor{1, -1} * math.huge, {math.huge, -math.huge}, H.EXACT)
    local r = nn.tensor{1} % (0 / 0)
    assert.is_true(r:item() ~= r:item())
    H.assert_tensor(nn.tensor{2} ^ math.maxinteger, {math.huge}, H.EXACT)
    H.assert_tensor(nn.maximum(nn.tensor{1, 2}, math.mininteger), {1, 2}, H.EXACT)
  end)

  it("large ops (split among threads) agree with the loop", function()
    -- 600x500 = 300,000 elements: above the 2^18 at which the CPU loops go parallel
    local a, col, row = nn.tensor.randn(600, 500), nn.tensor.randn(600, 1), nn.tensor.randn(500)
    for _, case in ipairs{ { a, row }, { a, col }, { col, row }, { row, a }, { a, a } } do
      local x, y = case[1], case[2]
      local got = H.flatten((x - y):totable(), {})
      local want = H.flatten(ref(x, y, ops.sub), {})
      assert.are.equal(#want, #got)
      for k = 1, #want do
        if not H.close(got[k], want[k], H.ROUND) then
          error(("element %d is %.9g, expected %.9g"):format(k, got[k], want[k]))
        end
      end
    end
    local one = nn.tensor.randn(300000)                 -- one long row, cut into blocks
    local got, flat = H.flatten(one:maximum(nn.tensor{0}):totable(), {}), H.flatten(one:totable(), {})
    for k = 1, #flat do assert(got[k] == math.max(flat[k], 0), "element " .. k) end
  end)

  it("an output that overlaps a stretched input is refused", function()
    local m = nn.tensor{{1, 2}, {3, 4}}
    H.assert_error_has(function () m:add_(m:narrow(1, 1, 1)) end, {"overlaps an input"})
    H.assert_tensor(m, {{1, 2}, {3, 4}}, H.EXACT)
  end)
end)

-- sum_to_size's reference: for every element of a, add it to the element of
-- the target shape it was stretched from
local function sum_ref (a, shape)
  local sa, fa = a.shape, H.flatten(a:totable(), {})
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local acc = {}
  for k = 1, n do acc[k] = 0 end
  local idx = {}
  for d = 1, #sa do idx[d] = 1 end
  for i = 1, #fa do
    local k = 0
    for d = 1, #shape do
      local e = idx[d + (#sa - #shape)]
      k = k * shape[d] + (shape[d] == 1 and 0 or e - 1)
    end
    acc[k + 1] = acc[k + 1] + fa[i]
    for d = #sa, 1, -1 do
      idx[d] = idx[d] + 1
      if idx[d] <= sa[d] then break end
      idx[d] = 1
    end
  end
  return acc
end

describe("sum_to_size: a broadcast result summed back", function()
  local cases = {
    { {2, 3, 4}, {3, 1} }, { {2, 3, 4}, {4} }, { {2, 3, 4}, {2, 1, 4} }, { {2, 3, 4}, {1} },
    { {2, 3, 4}, {} }, { {2, 3, 4}, {2, 3, 4} }, { {5, 7}, {5, 1} }, { {5, 7}, {1, 7} },
    { {3, 1, 2}, {1, 1, 2} }, { {2, 2, 2, 2, 3}, {2, 1, 2, 1, 3} },
  }
  for _, c in ipairs(cases) do
    it(("%s down to %s, against a direct loop"):format(H.shape_text(c[1]), H.shape_text(c[2])),
       function()
      local a = nn.tensor.randn(table.unpack(c[1]))
      local got = a:sum_to_size(c[2])
      assert.are.same(c[2], got.shape)
      local want, flat = sum_ref(a, c[2]), H.flatten(got:totable(), {})
      if #c[2] == 0 then flat = { got:item() } end
      for k = 1, #want do H.assert_close(flat[k], want[k], H.ROUND * 4, "element " .. k) end
    end)
  end

  it("takes sizes as arguments or as a table, and is the backward of a broadcast add", function()
    local g = nn.tensor{{1, 2, 3}, {4, 5, 6}}
    H.assert_tensor(g:sum_to_size(3), {5, 7, 9}, H.EXACT)
    H.assert_tensor(g:sum_to_size(2, 1), {{6}, {15}}, H.EXACT)
    H.assert_tensor(g:sum_to_size{1, 3}, {{5, 7, 9}}, H.EXACT)
    -- y = a + b with b (3): dL/db = sum over the rows of dL/dy, as F.add_backward gives
    local _, gb = nn.F.add_backward(g, nn.tensor.zeros(2, 3), nn.tensor.zeros(3))
    H.assert_tensor(g:sum_to_size(3), gb:totable(), H.EXACT)
  end)

  it("empty: an empty dim sums to 0; an empty result is empty", function()
    H.assert_tensor(nn.tensor.zeros(0, 3):sum_to_size(3), {0, 0, 0}, H.EXACT)
    assert.are.same({0}, nn.tensor.zeros(2, 0):sum_to_size(0).shape)
  end)

  it("refuses a shape that does not broadcast to self's, and bad sizes", function()
    local a = nn.tensor.zeros(4, 3)
    H.assert_error_has(function () a:sum_to_size(2, 3) end,
      {"bad argument #1 to 'sum_to_size'", "[2x3] does not broadcast to [4x3]"})
    H.assert_error_has(function () a:sum_to_size(1, 4, 3) end, {"[1x4x3] does not broadcast to [4x3]"})
    H.assert_error_has(function () a:sum_to_size(-1) end, {"size 1 must be an integer"})
    H.assert_error_has(function () a:sum_to_size(2.5) end, {"size 1 must be an integer"})
    H.assert_error_has(function () a:sum_to_size{math.huge} end, {"size 1 must be an integer"})
    H.assert_error_has(function () a:sum_to_size(math.maxinteger) end, {"size 1 must be an integer"})
    H.assert_error_has(function () a:sum_to_size(1, 1, 1, 1, 1, 1) end, {"at most 5 dims"})
    H.assert_error_has(function () a:int():sum_to_size(3) end, {"int32"})
  end)
end)
