--- spec/tensor_index_spec.lua -- t[i], t[i][j], t[i] = v, t:select, t:narrow on any dim.
-- Expected values are written out by hand or come from plain Lua loops over
-- the nested table the tensor was made from, never from the code under test.
local nn = require "nn"
local H = require "spec.helpers"
local has = H.assert_error_has

local A = { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } }
local function a34 () return nn.tensor(A) end

describe("t[i] reads", function ()
  it("gives row i of a 2-D tensor as a view", function ()
    local t = a34()
    H.assert_tensor(t[2], { 5, 6, 7, 8 })
    H.assert_tensor(t[-1], { 9, 10, 11, 12 })
    local r = t[1]
    r:fill_(0)                           -- a view: t's row 1 changed
    H.assert_tensor(t, { { 0, 0, 0, 0 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } })
    assert.are.equal(t:data_ptr() + 4 * 4, t[2]:data_ptr())
  end)

  it("gives a number for a 1-D tensor, and t[i][j] chains", function ()
    local t = a34()
    for i = 1, 3 do for j = 1, 4 do assert.are.equal(A[i][j], t[i][j]) end end
    assert.are.equal(12, t[-1][-1])
    assert.are.equal(9, t[-1][1])
    assert.are.equal("number", type(t[1][1]))
  end)

  it("keeps the dtype: int32 rows, integer elements", function ()
    local t = a34():int()
    assert.are.equal("int32", t[2].dtype)
    assert.are.equal(7, t[2][3])
    assert.are.equal("integer", math.type(t[2][3]))
  end)

  it("works on 3-D and on empty rows", function ()
    local t = nn.tensor.arange(24):view(2, 3, 4)
    H.assert_tensor(t[2], { { 12, 13, 14, 15 }, { 16, 17, 18, 19 }, { 20, 21, 22, 23 } })
    assert.are.equal(17, t[2][2][2])
    local e = nn.tensor.zeros(2, 0)
    assert.are.same({ 0 }, e[1].shape)
  end)

  it("string keys stay methods and fields; other keys give nil", function ()
    local t = a34()
    assert.are.same({ 3, 4 }, t.shape)
    assert.are.equal(2, t.ndim)
    assert.are.equal("cpu", t.device)
    assert.are.equal("float32", t.dtype)
    assert.is_function(t.sum)
    assert.is_nil(t.nothing_here)
    assert.is_nil(t[true])
    assert.is_nil(t[{}])
  end)

  it("refuses an index out of range, naming the index and the shape", function ()
    local t = a34()
    has(function () return t[4] end, { "index 4 is out of range for [3x4]" })
    has(function () return t[0] end, { "index 0 is out of range for [3x4]" })
    has(function () return t[-4] end, { "index -4", "[3x4]" })
    has(function () return t[math.maxinteger] end, { tostring(math.maxinteger), "[3x4]" })
    has(function () return t[math.mininteger] end, { tostring(math.mininteger), "[3x4]" })
    has(function () return t[1][5] end, { "index 5 is out of range for [4]" })
  end)

  it("refuses a number that is not an integer: 2.5, nan, inf", function ()
    local t = a34()
    has(function () return t[2.5] end, { "tensor index must be an integer", "2.5" })
    has(function () return t[0 / 0] end, { "tensor index must be an integer" })
    has(function () return t[math.huge] end, { "tensor index must be an integer", "inf" })
    has(function () return t[-math.huge] end, { "tensor index must be an integer" })
    assert.are.equal(6, t[2.0][2.0])    -- a float with an integer value is that integer
  end)

  it("refuses to index a 0-dim tensor", function ()
    has(function () return nn.tensor.zeros():view()[1] end, { "cannot index a 0-dim tensor" })
  end)
end)

describe("t[i] = v writes", function ()
  it("a number into a row, and into an element of a 1-D tensor", function ()
    local t = a34()
    t[2] = 0.5
    t[-1][2] = 7                        -- t[-1] is a view: writes through
    H.assert_tensor(t, { { 1, 2, 3, 4 }, { 0.5, 0.5, 0.5, 0.5 }, { 9, 7, 11, 12 } })
  end)

  it("a tensor of the row's shape, or of its numel, either dtype into float32", function ()
    local t = nn.tensor.zeros(2, 2, 3)
    t[1] = nn.tensor{ { 1, 2, 3 }, { 4, 5, 6 } }
    t[2] = nn.tensor{ 7, 8, 9, 10, 11, 12 }:int()
    H.assert_tensor(t, { { { 1, 2, 3 }, { 4, 5, 6 } }, { { 7, 8, 9 }, { 10, 11, 12 } } })
    assert.are.equal("float32", t.dtype)
  end)

  it("int32 takes whole numbers only", function ()
    local t = a34():int()
    t[1] = 5
    t[2] = nn.tensor{ 1, 2, 3, 4 }:int()
    H.assert_tensor(t, { { 5, 5, 5, 5 }, { 1, 2, 3, 4 }, { 9, 10, 11, 12 } })
    has(function () t[1] = 0.5 end, { "whole number", "0.5" })
    has(function () t[1][2] = 0.5 end, { "whole number" })
    has(function () t[1] = nn.tensor{ 1, 2, 3, 4 } end, { "t is int32, v is float32", ":int()" })
    H.assert_tensor(t[1], { 5, 5, 5, 5 })      -- nothing written by the refusals
  end)

  it("refuses a tensor of the wrong size, a bad value, a bad key", function ()
    local t = a34()
    has(function () t[1] = nn.tensor{ 1, 2, 3 } end, { "t[1] = v: v is [3], the row is [4]" })
    has(function () t[-1] = nn.tensor{ 1, 2 } end, { "t[-1] = v: v is [2]" })
    has(function () t[4] = 1 end, { "index 4 is out of range for [3x4]" })
    has(function () t[1] = "x" end, { "must be a number or a tensor", "string" })
    has(function () t.x = 1 end, { "cannot assign to field 'x'" })
    has(function () t[0 / 0] = 1 end, { "tensor index must be an integer" })
  end)
end)

describe("t:select(dim, i)", function ()
  it("drops the dim: a view along dim 1, a copy along the others", function ()
    local t = a34()
    H.assert_tensor(t:select(1, 2), { 5, 6, 7, 8 })
    H.assert_tensor(t:select(2, 3), { 3, 7, 11 })
    H.assert_tensor(t:select(-1, -1), { 4, 8, 12 })
    t:select(1, 1):fill_(0)
    assert.are.equal(0, t[1][1])           -- the view wrote through
    t:select(2, 1):fill_(99)
    assert.are.equal(5, t[2][1])           -- the copy did not
    local x = nn.tensor.arange(24):view(2, 3, 4):int()
    local s = x:select(2, 2)
    H.assert_tensor(s, { { 4, 5, 6, 7 }, { 16, 17, 18, 19 } })
    assert.are.equal("int32", s.dtype)
  end)

  it("refuses a dim or an index out of range", function ()
    has(function () a34():select(3, 1) end, { "bad argument #1 to 'select'", "dim 3", "[3x4]" })
    has(function () a34():select(2, 5) end, { "bad argument #2 to 'select'", "index 5", "[3x4]" })
    has(function () a34():select(math.maxinteger, 1) end, { "bad argument #1 to 'select'" })
    has(function () a34():select(1, math.mininteger) end, { "bad argument #2 to 'select'" })
    has(function () a34():select(1, 0 / 0) end, { "bad argument #2 to 'select'" })
  end)
end)

describe("t:narrow(dim, start, length) on any dim", function ()
  it("is a view along dim 1 and a copy along the others", function ()
    local t = a34()
    H.assert_tensor(t:narrow(2, 2, 2), { { 2, 3 }, { 6, 7 }, { 10, 11 } })
    H.assert_tensor(t:narrow(-1, 4, 1), { { 4 }, { 8 }, { 12 } })
    assert.are.same({ 3, 0 }, t:narrow(2, 3, 0).shape)
    t:narrow(2, 1, 1):fill_(0)
    assert.are.equal(1, t[1][1])                         -- a copy
    t:narrow(1, 1, 1):fill_(0)
    assert.are.equal(0, t[1][1])                         -- a view
    local x = nn.tensor.arange(24):view(2, 3, 4):int()
    H.assert_tensor(x:narrow(3, 2, 2), { { { 1, 2 }, { 5, 6 }, { 9, 10 } },
                                         { { 13, 14 }, { 17, 18 }, { 21, 22 } } })
  end)

  it("refuses ranges past the end along any dim", function ()
    has(function () a34():narrow(2, 4, 2) end, { "'narrow'", "[3x4]" })
    has(function () a34():narrow(2, 0, 1) end, { "'narrow'", "start must be >= 1" })
    has(function () a34():narrow(3, 1, 1) end, { "bad argument #1 to 'narrow'", "dim 3" })
    has(function () a34():narrow(2, 1, math.maxinteger) end, { "'narrow'", "[3x4]" })
  end)
end)
