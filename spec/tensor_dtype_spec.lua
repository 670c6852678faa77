--- spec/tensor_dtype_spec.lua -- the int32 dtype: making, converting,
-- reading and writing int32 tensors, and every arithmetic op refusing them.
--
-- int32 exists for indices, class targets and token ids: exact up to
-- 2^31 - 1, where float32 is exact only up to 2^24 (16777217 has no float32).
local nn = require "nn"
local H = require "spec.helpers"

local INT = { dtype = "int32" }

describe("int32 tensors: making them", function()
  it("from a nested table, every value exact, beyond float32's 2^24", function()
    local t = nn.tensor({{2147483647, -2147483648}, {16777217, 0}}, INT)
    assert.are.equal("int32", t.dtype)
    assert.are.same({2, 2}, t.shape)
    assert.are.same({{2147483647, -2147483648}, {16777217, 0}}, t:totable())
    assert.are.equal("integer", math.type(t:get(2, 1)))
    assert.are.equal(16777217, t:get(2, 1))
    -- a float32 tensor of the same table rounds it: the reason int32 exists
    assert.are.equal(16777216, nn.tensor{16777217}:get(1))
    -- 3.0 is the whole number 3
    assert.are.same({3}, nn.tensor({3.0}, INT):totable())
  end)

  it("zeros, ones and full take {dtype = 'int32'}; float32 stays the default", function()
    assert.are.same({{0, 0, 0}, {0, 0, 0}}, nn.tensor.zeros(2, 3, INT):totable())
    assert.are.equal("int32", nn.tensor.ones(2, INT).dtype)
    assert.are.same({1, 1}, nn.tensor.ones(2, INT):totable())
    assert.are.same({-7, -7}, nn.tensor.full(2, -7, INT):totable())
    assert.are.equal("float32", nn.tensor.zeros(2).dtype)
    assert.are.equal("float32", nn.tensor.zeros(2, {dtype = "float32"}).dtype)
    assert.are.equal("float32", nn.tensor{1, 2}.dtype)
  end)

  it("refuses what int32 cannot hold, naming the element", function()
    H.assert_error_has(function() nn.tensor({1, 2.5}, INT) end,
                       {"bad argument #1", "t[2] is 2.5", "not a whole number"})
    H.assert_error_has(function() nn.tensor({{1}, {2147483648}}, INT) end,
                       {"t[2][1] is 2147483648", "outside int32"})
    H.assert_error_has(function() nn.tensor({0 / 0}, INT) end, {"t[1]", "not a whole number"})
    H.assert_error_has(function() nn.tensor({math.huge}, INT) end, {"t[1]", "not a whole number"})
    H.assert_error_has(function() nn.tensor({-2 ^ 31 - 1}, INT) end, {"t[1]", "int32"})
    H.assert_error_has(function() nn.tensor.full(2, 0.5, INT) end,
                       {"an int32 element must be a whole number, got 0.5"})
    H.assert_error_has(function() nn.tensor.full(2, 2 ^ 31, INT) end,
                       {"must be in -2147483648 .. 2147483647"})
  end)

  it("refuses an unknown dtype or option, and random int32 draws", function()
    H.assert_error_has(function() nn.tensor.zeros(2, {dtype = "int64"}) end,
                       {"bad argument #2", "dtype must be 'float32' or 'int32', got int64"})
    H.assert_error_has(function() nn.tensor({1}, {dtype = true}) end,
                       {"bad argument #2", "dtype must be", "got boolean"})
    H.assert_error_has(function() nn.tensor({1}, {dtyp = "int32"}) end,
                       {"bad argument #2", "no option 'dtyp'"})
    H.assert_error_has(function() nn.tensor.rand(2, INT) end,
                       {"bad argument #2", "random numbers are float32"})
    H.assert_error_has(function() nn.tensor.randn(2, INT) end, {"random numbers are float32"})
  end)
end)

describe("int32 tensors: converting", function()
  it(":int() truncates toward zero, as C and PyTorch's .int()", function()
    local t = nn.tensor{1.5, -2.7, 3, -0.5, 2147483520, -2147483648}:int()
    assert.are.equal("int32", t.dtype)
    assert.are.same({1, -2, 3, 0, 2147483520, -2147483648}, t:totable())
  end)

  it(":long() is :int() (nnlua's integers are int32)", function()
    local t = nn.tensor{4.9}:long()
    assert.are.equal("int32", t.dtype)
    assert.are.same({4}, t:totable())
  end)

  it(":float() gives float32 values, rounding above 2^24 as any int-to-float conversion", function()
    local f = nn.tensor({-3, 16777217, 7}, INT):float()
    assert.are.equal("float32", f.dtype)
    assert.are.same({-3, 16777216, 7}, f:totable())
  end)

  it("gives the tensor itself when it has that dtype already, else a copy", function()
    local f, i = nn.tensor{1, 2}, nn.tensor({1, 2}, INT)
    assert.are.equal(f, f:float())
    assert.are.equal(i, i:int())
    local c = f:int()
    c:set(1, 9)
    assert.are.same({1, 2}, f:totable())
  end)

  it("refuses a float with no int32 value, naming the element, rather than wrapping it", function()
    H.assert_error_has(function() nn.tensor{1, 0 / 0}:int() end,
                       {"element 2 of [2] is nan: it has no int32 value"})
    H.assert_error_has(function() nn.tensor{math.huge}:int() end, {"element 1", "inf"})
    H.assert_error_has(function() nn.tensor{-math.huge}:int() end, {"element 1", "-inf"})
    H.assert_error_has(function() nn.tensor{2 ^ 31}:int() end,
                       {"element 1 of [1] is 2147483648", "int32 holds -2147483648 .. 2147483647"})
    H.assert_error_has(function() nn.tensor{0, -2 ^ 31 - 256}:int() end, {"element 2"})
  end)

  it("copy converts between dtypes in either direction", function()
    local f = nn.tensor.zeros(3)
    f:copy(nn.tensor({5, -6, 7}, INT))
    assert.are.same({5, -6, 7}, f:totable())
    local i = nn.tensor.zeros(3, INT)
    i:copy(nn.tensor{1.9, -1.9, 0})
    assert.are.same({1, -1, 0}, i:totable())
    H.assert_error_has(function() i:copy(nn.tensor{1, 0 / 0, 3}) end, {"element 2", "nan"})
  end)
end)

describe("int32 tensors: reading, writing, shapes", function()
  it("get, item and totable give Lua integers; set and fill_ take whole numbers", function()
    local t = nn.tensor.zeros(2, 2, INT)
    t:set(1, 2, 2147483647)
    assert.are.equal(2147483647, t:get(1, 2))
    assert.are.equal("integer", math.type(t:get(1, 2)))
    assert.are.equal(2147483647, t:view(4):narrow(1, 2, 1):item())
    t:fill_(-5)
    assert.are.same({{-5, -5}, {-5, -5}}, t:totable())
    H.assert_error_has(function() t:set(1, 1, 0.5) end,
                       {"bad argument #3 to 'set'", "must be a whole number, got 0.5"})
    H.assert_error_has(function() t:fill_(2 ^ 31) end,
                       {"bad argument #1 to 'fill_'", "must be in -2147483648 .. 2147483647"})
    H.assert_error_has(function() t:fill_(0 / 0) end, {"bad argument #1 to 'fill_'", "nan"})
  end)

  it("views, narrows, slices and clones keep the dtype and the values", function()
    local t = nn.tensor({{1, 2, 3}, {4, 5, 6}}, INT)
    for _, v in ipairs{ t:view(3, 2), t:view(-1), t:narrow(1, 2, 1), t:slice(1, 1), t:clone() } do
      assert.are.equal("int32", v.dtype)
    end
    assert.are.same({{4, 5, 6}}, t:narrow(1, 2, 1):totable())
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, t:view(3, 2):totable())
    assert.are.same(t:totable(), t:clone():totable())
  end)

  it("prints its dtype and its integers exactly", function()
    local s = tostring(nn.tensor({2147483647, -3}, INT))
    assert.truthy(s:find("int32", 1, true), s)
    assert.truthy(s:find("2147483647", 1, true), s)
    assert.truthy(s:find("-3", 1, true), s)
    assert.truthy(tostring(nn.tensor{1.5}):find("float32", 1, true))
  end)
end)

describe("int32 tensors: arithmetic refuses them by name", function()
  local i = nn.tensor({1, 2, 3}, INT)
  local want = {"float32 tensor expected, got int32 tensor [3]: convert with :float()"}

  it("element-wise math, operators and reductions", function()
    H.assert_error_has(function() return i + 1 end, want)
    H.assert_error_has(function() return nn.tensor{1, 2, 3} * i end, want)
    H.assert_error_has(function() return -i end, want)
    H.assert_error_has(function() return i:exp() end, want)
    H.assert_error_has(function() return i:add_(1) end, want)
    H.assert_error_has(function() return i:sum() end, want)
    H.assert_error_has(function() return i:mean(1) end, want)
    H.assert_error_has(function() return i:argmax() end, want)
    H.assert_error_has(function() return i:std() end, want)
  end)

  it("matmul, layers and losses", function()
    local m = nn.tensor({{1, 2}, {3, 4}}, INT)
    H.assert_error_has(function() return m:matmul(nn.tensor.ones(2, 2)) end,
                       {"calling 'matmul' on bad self", "got int32 tensor [2x2]"})
    H.assert_error_has(function() return nn.tensor.ones(2, 2):matmul(m) end,
                       {"bad argument #1 to 'matmul'", "got int32 tensor [2x2]"})
    H.assert_error_has(function() return nn.Linear(2, 3):forward(m) end,
                       {"got int32 tensor [2x2]"})
    H.assert_error_has(function() return nn.MSELoss():forward(m, nn.tensor.ones(2, 2)) end,
                       {"got int32 tensor [2x2]"})
  end)
end)
