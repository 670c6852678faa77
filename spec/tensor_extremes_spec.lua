-- spec/tensor_extremes_spec.lua -- every size, index and dim argument fed the
-- numbers that break size arithmetic (issue 13, class 1): the integer
-- limits, infinities, nan, 2^53 and 2^62 (floats that convert to integers
-- too large for any tensor), negatives and fractions.
--
-- Each must give `bad argument #n to 'f' (...)`: never a crash, never a
-- view outside the block, never a silent result.  Run under `make asan`
-- (UBSan too), this is what shows that no signed overflow or wild pointer
-- is left on these paths: before the fix, t:narrow(1, math.maxinteger - 4,
-- 10) overflowed in tensor_narrow and wrote before the block.
local H = require "spec.helpers"
local has = H.assert_error_has

local NAN = 0 / 0
local core = require "nn.core"
-- the values tried; `name` only for the test's message
local EXTREMES = {
  { "math.maxinteger", math.maxinteger }, { "math.mininteger", math.mininteger },
  { "math.huge", math.huge }, { "-math.huge", -math.huge }, { "0/0", NAN },
  { "2^53", 2 ^ 53 }, { "2^62", 2 ^ 62 }, { "-1", -1 }, { "-2^62", -(2 ^ 62) },
  { "2.5", 2.5 }, { "maxinteger - 4", math.maxinteger - 4 },
}

-- fn(v) must raise a bad-argument error to `fname` ("" when Lua cannot
-- name the function, as for nn.tensor[f]) for every extreme v
-- (except those in `ok`, which are valid there and are checked apart).
local function each_rejected (fname, fn, ok)
  for _, e in ipairs(EXTREMES) do
    local name, v = e[1], e[2]
    if not (ok and ok[name]) then
      local okcall, err = pcall(fn, v)
      assert(not okcall, ("%s(%s) was accepted"):format(fname, name))
      err = tostring(err)
      assert(err:find("bad argument #", 1, true)
             and (fname == "" or err:find("to '" .. fname .. "'", 1, true)),
             ("%s(%s): %s"):format(fname, name, err))
    end
  end
end

local function t34 () return nn.tensor.zeros(3, 4) end

describe("sizes from user numbers", function()
  it("zeros, ones, rand, randn, full: every size argument, and a table of sizes", function()
    each_rejected("zeros", function(v) return nn.tensor.zeros(v) end)
    each_rejected("zeros", function(v) return nn.tensor.zeros(3, v) end)
    for _, f in ipairs { "zeros", "ones", "rand", "randn" } do
      local make = nn.tensor[f]
      each_rejected("", function(v) return make(v) end)
      each_rejected("", function(v) return make(3, 4, v) end)
      each_rejected("", function(v) return make{ 2, v } end)
    end
    each_rejected("full", function(v) return nn.tensor.full(v, 1) end)
    each_rejected("full", function(v) return nn.tensor.full({ 2, v }, 1) end)
  end)

  it("sizes each below 2^40 whose product is above it name the argument", function()
    has(function() nn.tensor.zeros(2 ^ 30, 2 ^ 30, 2 ^ 30) end,
        { "bad argument #1 to 'zeros'", "2^40" })
    has(function() nn.tensor.zeros{ 2 ^ 21, 2 ^ 21 } end, { "bad argument #1 to 'zeros'", "2^40" })
    -- a 0 anywhere makes an empty tensor, whatever the other sizes (up to 2^40)
    assert.are.equal(0, nn.tensor.zeros(0, 2 ^ 40):numel())
  end)

  it("view and reshape: each size, and sizes whose product overflows", function()
    -- -1 is "infer this size", valid there
    each_rejected("view", function(v) return nn.tensor.zeros(12):view(v, 12) end, { ["-1"] = true })
    each_rejected("reshape", function(v) return nn.tensor.zeros(12):reshape{ v, -1 } end)
    has(function() nn.tensor.zeros(0):view(2 ^ 62, 2 ^ 62, 0) end, { "bad argument #1 to 'view'" })
    has(function() nn.tensor.zeros(4):view(2 ^ 31, 2 ^ 31, 2 ^ 31, -1) end,
        { "bad argument #1 to 'view'" })
  end)

  it("arange: bounds and steps that are not finite, and counts beyond 2^40", function()
    for _, args in ipairs {
      { math.huge }, { -math.huge }, { NAN }, { 0, math.huge }, { -math.huge, 0 },
      { 0, 1, NAN }, { 0, 1, math.huge }, { 0, 1, 0 }, { 0, 2 ^ 62 }, { 0, math.maxinteger },
      { -1e308, 1e308 }, { 0, 1, 1e-300 },
    } do
      local ok, err = pcall(nn.tensor.arange, table.unpack(args))
      assert(not ok, ("arange(%s) was accepted"):format(table.concat(args, ", ")))
      assert(tostring(err):find("bad argument #", 1, true), tostring(err))
    end
    -- an empty range is empty, as in numpy, not an error
    assert.are.equal(0, nn.tensor.arange(math.mininteger):numel())
    assert.are.equal(0, nn.tensor.arange(5, 1):numel())
  end)
end)

describe("indices and dims from user numbers", function()
  it("narrow: dim, start and length", function()
    -- dim -1 is the last dim (a copy of column 1), as in PyTorch
    each_rejected("narrow", function(v) return t34():narrow(v, 1, 1) end, { ["-1"] = true })
    assert.are.same({ 3, 1 }, t34():narrow(-1, 1, 1).shape)
    each_rejected("narrow", function(v) return t34():narrow(1, v, 1) end)
    each_rejected("narrow", function(v) return t34():narrow(1, 1, v) end)
    each_rejected("narrow", function(v) return t34():narrow(1, 2, v) end)
  end)

  it("narrow: the issue's reproducers write nothing and give no view at data[-1]", function()
    local t = nn.tensor.zeros(3)
    has(function() t:narrow(1, math.maxinteger - 4, 10):fill_(1) end, { "bad argument #2 to 'narrow'" })
    has(function() t:narrow(1, math.mininteger, 1) end, { "bad argument #2 to 'narrow'" })
    assert.are.same({ 0, 0, 0 }, t:totable())
  end)

  it("slice: clips integers as string.sub does, and rejects what is not one", function()
    local t = t34()
    assert.are.equal(0, t:slice(math.maxinteger):size(1))
    assert.are.equal(3, t:slice(math.mininteger):size(1))
    assert.are.equal(3, t:slice(1, math.maxinteger):size(1))
    assert.are.equal(0, t:slice(1, math.mininteger):size(1))
    assert.are.equal(0, t:slice(2 ^ 62, 2 ^ 53):size(1))
    assert.are.equal(0, t:slice(math.mininteger, math.mininteger):size(1))
    for _, v in ipairs { math.huge, -math.huge, NAN, 2.5 } do
      has(function() t:slice(v) end, { "bad argument #1 to 'slice'" })
      has(function() t:slice(1, v) end, { "bad argument #2 to 'slice'" })
    end
  end)

  it("size, sum, mean, max, min, argmax, argmin: the dim", function()
    local last = { ["-1"] = true }     -- dim -1 is the last dim, valid
    each_rejected("size", function(v) return t34():size(v) end, last)
    each_rejected("sum", function(v) return t34():sum(v) end, last)
    each_rejected("argmax", function(v) return t34():argmax(v) end, last)
    for _, f in ipairs { "sum", "mean", "max", "min", "argmax", "argmin" } do
      each_rejected("", function(v) return t34()[f](t34(), v) end, last)
    end
  end)

  it("get and set: each index", function()
    each_rejected("get", function(v) return t34():get(v, 1) end)
    each_rejected("get", function(v) return t34():get(1, v) end)
    each_rejected("set", function(v) return t34():set(v, 1, 0) end)
    each_rejected("set", function(v) return t34():set(1, v, 0) end)
  end)

  it("index_select: extreme values in the index tensor", function()
    local src = t34()
    for _, e in ipairs(EXTREMES) do
      has(function() src:index_select(nn.tensor{ 1, e[2] }) end, { "bad argument #1 to 'index_select'" })
    end
  end)
end)

describe("data functions: sizes and counts from user numbers", function()
  it("randperm: n", function()
    each_rejected("randperm", function(v) return nn.randperm(v) end)
    has(function() nn.randperm(2 ^ 24 + 1) end, { "bad argument #1 to 'randperm'", "2^24" })
  end)

  it("one_hot: num_classes, and labels", function()
    local y = nn.tensor{ 1, 2 }
    each_rejected("one_hot", function(v) return nn.data.one_hot(y, v) end)
    has(function() nn.data.one_hot(y, 2 ^ 24 + 1) end, { "bad argument #2 to 'one_hot'", "2^24" })
    for _, e in ipairs(EXTREMES) do
      has(function() nn.data.one_hot(nn.tensor{ 1, e[2] }, 3) end, { "bad argument #1 to 'one_hot'" })
    end
  end)

  it("gather: first and count", function()
    local src = t34()
    local out = nn.tensor.zeros(0)
    each_rejected("gather", function(v) return core.data.gather(out, src, nil, v, 1) end)
    each_rejected("gather", function(v) return core.data.gather(out, src, nil, 1, v) end)
    each_rejected("gather", function(v) return core.data.gather(out, src, nn.tensor{ 1, 2 }, v, 1) end)
    assert.are.same({ 0 }, out:size())     -- nothing was resized on the way
  end)

  it("the random generator's state and isatty's fd", function()
    has(function() nn.set_rng_state(1, -1) end, { "bad argument #2 to 'set_rng_state'" })
    for _, v in ipairs { math.huge, NAN, 2.5 } do
      has(function() nn.manual_seed(v) end, { "bad argument #1 to 'manual_seed'" })
      has(function() nn.set_rng_state(1, v) end, { "bad argument #2 to 'set_rng_state'" })
    end
    for _, v in ipairs { math.maxinteger, math.mininteger, 2 ^ 62, -1 } do
      has(function() core.isatty(v) end, { "bad argument #1 to 'isatty'" })
    end
  end)
end)
