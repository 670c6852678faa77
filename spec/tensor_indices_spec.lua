-- spec/tensor_indices_spec.lua -- indices past 2^24 (issue 13, class 3),
-- and nan has one answer.
--
-- argmax along a dim of 2^24 + 3 elements used to return 16777220 for
-- 16777219 (the float32 next to it), and then raised; now the indices are
-- int32 and exact (issue 14).  The flat t:argmax() returns a Lua integer
-- and stays exact at any size.
--
-- The big tensor is 2^24 + 3 floats, 64 MiB: made once, dropped at the end.
local H = require "spec.helpers"
local has = H.assert_error_has

local N = 2 ^ 24 + 3

describe("indices past 2^24", function()
  local big
  setup(function()
    big = nn.tensor.zeros(math.tointeger(N))
    big:set(math.tointeger(N), 1)               -- the max is at 16777219
    big:set(2 ^ 24, -1)                          -- the min at 16777216
  end)
  teardown(function()
    big = nil
    collectgarbage()
  end)

  it("argmax, argmin, max and min along a dim longer than 2^24 are exact (int32)", function()
    -- float32 indices used to round 16777219 to 16777220, and then to raise;
    -- int32 indices hold it (the limit is now 2^31 - 1, too big to test here)
    assert.are.equal(16777219, big:argmax(1):item())
    assert.are.equal(16777216, big:argmin(1):item())
    local v, i = big:max(1)
    assert.are.equal(1, v:item())
    assert.are.equal(16777219, i:item())
    assert.are.equal("int32", i.dtype)
    local w, j = big:min(1)
    assert.are.equal(-1, w:item())
    assert.are.equal(16777216, j:item())
  end)

  it("the flat argmax, argmin are Lua integers, exact at any size", function()
    assert.are.equal(16777219, big:argmax())
    assert.are.equal(16777216, big:argmin())
    assert.are.equal(1, big:max())
  end)

  it("a dim of exactly 2^24 is allowed, and its indices are exact", function()
    local v = big:narrow(1, 1, 2 ^ 24)          -- a view: no second 64 MiB
    assert.are.equal(16777216, v:argmin(1):item())
    local values, idx = v:min(1)
    assert.are.equal(-1, values:item())
    assert.are.equal(16777216, idx:item())
  end)

  it("randperm past 2^24 is refused", function()
    has(function() nn.randperm(2 ^ 24 + 1) end, { "bad argument #1 to 'randperm'", "2^24" })
  end)
end)

describe("argmax and argmin with nan", function()
  local NAN = 0 / 0
  it("all nan: the first index, 1, along a dim and over all", function()
    local t = nn.tensor{ NAN, NAN, NAN }
    assert.are.equal(1, t:argmax())
    assert.are.equal(1, t:argmin())
    assert.are.equal(1, t:argmax(1):item())
    assert.are.equal(1, t:argmin(1):item())
    local v, i = t:max(1)
    assert.is_true(v:item() ~= v:item())
    assert.are.equal(1, i:item())
  end)

  it("rows of all nan, along dim 2", function()
    local t = nn.tensor{ { NAN, NAN, NAN }, { 1, NAN, 3 }, { NAN, 2, NAN } }
    H.assert_tensor(t:argmax(2), { 1, 3, 2 }, H.EXACT)
    H.assert_tensor(t:argmin(2), { 1, 1, 2 }, H.EXACT)
  end)

  it("some nan: skipped, as before", function()
    local t = nn.tensor{ NAN, 1, 3, NAN, 3 }
    assert.are.equal(3, t:argmax())
    assert.are.equal(2, t:argmin())
    assert.are.equal(3, t:argmax(1):item())
  end)
end)
