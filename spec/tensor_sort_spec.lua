-- spec/tensor_sort_spec.lua -- sort and topk: values, 1-based int32 indices,
-- stability, nan placement (PyTorch: nan after every number ascending, first
-- descending), dims and errors.  Expected values are sorted by hand, and a
-- random case is checked against Lua's table.sort over (value, index) pairs.
local H = require "spec.helpers"
local has = H.assert_error_has
local T = nn.tensor
local NAN = 0 / 0

-- a reference: the rows of a 2-D tensor t (as Lua lists) sorted stably
local function ref_sort(t, descending)
  local rows, n = t:size(1), t:size(2)
  local values, indices = {}, {}
  for r = 1, rows do
    local items = {}
    for c = 1, n do items[c] = { v = t:get(r, c), i = c } end
    table.sort(items, function (a, b)
      if a.v == b.v then return a.i < b.i end
      if descending then return a.v > b.v end
      return a.v < b.v
    end)
    values[r], indices[r] = {}, {}
    for c = 1, n do values[r][c], indices[r][c] = items[c].v, items[c].i end
  end
  return values, indices
end

describe("sort", function()
  it("sorts the last dim by default; indices are int32 and 1-based", function()
    local v, i = T{{3, 1, 2}, {0, -5, 7}}:sort()
    assert.are.equal("int32", i.dtype)
    H.assert_tensor(v, {{1, 2, 3}, {-5, 0, 7}}, H.EXACT)
    H.assert_tensor(i, {{2, 3, 1}, {2, 1, 3}}, H.EXACT)
  end)
  it("descending, and along dim 1", function()
    local v, i = T{{3, 1, 2}, {0, -5, 7}}:sort(2, true)
    H.assert_tensor(v, {{3, 2, 1}, {7, 0, -5}}, H.EXACT)
    H.assert_tensor(i, {{1, 3, 2}, {3, 1, 2}}, H.EXACT)
    local w, j = T{{3, 1}, {0, 4}, {2, 2}}:sort(1)
    H.assert_tensor(w, {{0, 1}, {2, 2}, {3, 4}}, H.EXACT)
    H.assert_tensor(j, {{2, 1}, {3, 3}, {1, 2}}, H.EXACT)
    local u, k = T{{3, 1}, {0, 4}}:sort(-2, true)
    H.assert_tensor(u, {{3, 4}, {0, 1}}, H.EXACT)
    H.assert_tensor(k, {{1, 2}, {2, 1}}, H.EXACT)
  end)
  it("is stable: equal values keep their order, ascending and descending", function()
    local _, i = T{2, 1, 2, 1, 2}:sort()
    H.assert_tensor(i, {2, 4, 1, 3, 5}, H.EXACT)
    local _, j = T{2, 1, 2, 1, 2}:sort(1, true)
    H.assert_tensor(j, {1, 3, 5, 2, 4}, H.EXACT)
  end)
  it("puts nan last ascending and first descending, as PyTorch", function()
    local v, i = T{NAN, 1, NAN, -1}:sort()
    H.assert_tensor(v, {-1, 1, NAN, NAN}, H.EXACT)
    H.assert_tensor(i, {4, 2, 1, 3}, H.EXACT)
    local w, j = T{NAN, 1, NAN, -1}:sort(1, true)
    H.assert_tensor(w, {NAN, NAN, 1, -1}, H.EXACT)
    H.assert_tensor(j, {1, 3, 2, 4}, H.EXACT)
  end)
  it("handles inf, -0 and 1-element and empty rows", function()
    local v = T{math.huge, -math.huge, 0, 1}:sort()
    H.assert_tensor(v, {-math.huge, 0, 1, math.huge}, H.EXACT)
    local w, j = T{{5}, {4}}:sort()
    H.assert_tensor(w, {{5}, {4}}, H.EXACT)
    H.assert_tensor(j, {{1}, {1}}, H.EXACT)
    local e, k = T.zeros(3, 0):sort()
    assert.are.equal(0, e:numel())
    assert.are.equal(0, k:numel())
  end)
  it("agrees with table.sort on 7 rows of 300 random values with ties", function()
    nn.manual_seed(5)
    local t = T.rand(7, 300) * 4 + 0.5
    for r = 1, 7 do for c = 1, 300, 3 do t:set(r, c, 2) end end   -- ties: every third is 2
    for _, desc in ipairs { false, true } do
      local v, i = t:sort(2, desc)
      local rv, ri = ref_sort(t, desc)
      H.assert_tensor(v, rv, H.EXACT, "values")
      H.assert_tensor(i, ri, H.EXACT, "indices")
    end
  end)
  it("refuses int32, 0-dim, a bad dim", function()
    has(function() return T{1, 2}:int():sort() end, {"bad self", "int32"})
    has(function() return T{5}:sum(1):sort() end, {"at least 1 dim"})
    has(function() return T{1, 2}:sort(2) end, {"bad argument #1 to 'sort'", "dim 2"})
    has(function() return T{1, 2}:sort(1.5) end, {"bad argument #1 to 'sort'"})
  end)
end)

describe("topk", function()
  it("the k largest of each row, largest first, with their indices", function()
    local v, i = T{{4, 8, 1, 9}, {3, 3, 7, 0}}:topk(2)
    H.assert_tensor(v, {{9, 8}, {7, 3}}, H.EXACT)
    H.assert_tensor(i, {{4, 2}, {3, 1}}, H.EXACT)
    assert.are.equal("int32", i.dtype)
  end)
  it("the k smallest with largest = false; along dim 1; sorted = false is sorted", function()
    local v, i = T{4, 8, 1, 9}:topk(3, 1, false)
    H.assert_tensor(v, {1, 4, 8}, H.EXACT)
    H.assert_tensor(i, {3, 1, 2}, H.EXACT)
    local w, j = T{{1, 5}, {3, 2}, {2, 9}}:topk(1, 1)
    H.assert_tensor(w, {{3, 9}}, H.EXACT)
    H.assert_tensor(j, {{2, 3}}, H.EXACT)
    local u = T{4, 8, 1, 9}:topk(2, -1, true, false)
    H.assert_tensor(u, {9, 8}, H.EXACT)
  end)
  it("nan counts as the largest; k = 0 and k = n", function()
    local v, i = T{1, NAN, 3}:topk(2)
    H.assert_tensor(v, {NAN, 3}, H.EXACT)
    H.assert_tensor(i, {2, 3}, H.EXACT)
    assert.are.equal(0, T{1, 2}:topk(0):numel())
    H.assert_tensor(T{1, 2}:topk(2), {2, 1}, H.EXACT)
  end)
  it("a small k (selected, not sorted) gives sort's first k, ties and nan included", function()
    nn.manual_seed(21)
    local t = (T.rand(9, 400) * 3):clamp(0.5, 2.5)   -- ties at 0.5 and 2.5
    t:set(1, 7, 0 / 0)
    t:set(2, 9, -0.0)
    for _, largest in ipairs { true, false } do
      for _, k in ipairs { 1, 5, 50 } do
        local v, i = t:topk(k, 2, largest)
        local sv, si = t:sort(2, largest)
        local first = T.arange(1, k + 1):int()        -- columns 1..k
        local what = ("k %d largest %s"):format(k, tostring(largest))
        assert.are.equal(0, (i:float() - si:index_select(2, first):float()):abs():max(), what)
        local want = {}
        for r = 1, 9 do
          want[r] = {}
          for c = 1, k do want[r][c] = sv:get(r, c) end
        end
        H.assert_tensor(v, want, H.EXACT, what)
      end
    end
  end)

  it("refuses k outside 0..n or not an integer", function()
    has(function() return T{1, 2}:topk(3) end, {"bad argument #1 to 'topk'", "k = 3 is outside 0..2"})
    has(function() return T{1, 2}:topk(-1) end, {"outside 0..2"})
    has(function() return T{1, 2}:topk(math.maxinteger) end, {"outside 0..2"})
    has(function() return T{1, 2}:topk(0 / 0) end, {"bad argument #1 to 'topk'"})
    has(function() return T{1, 2}:topk(1, 3) end, {"bad argument #2 to 'topk'", "dim 3"})
  end)
end)
