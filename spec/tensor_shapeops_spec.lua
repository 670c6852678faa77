--- spec/tensor_shapeops_spec.lua -- transpose, permute, t, squeeze, unsqueeze,
-- flatten, expand/broadcast_to, tile/repeat, nn.cat, nn.stack, split, chunk,
-- tril, triu.  Expected values are hand-written or come from plain Lua loops
-- over nested tables (ref_* below), never from the code under test.
local nn = require "nn"
local H = require "spec.helpers"
local has = H.assert_error_has

local A = { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } }
local function a34 () return nn.tensor(A) end

-- x[i][j][k] = 100 i + 10 j + k as a nested table of shape (d1, d2, d3)
local function cube (d1, d2, d3)
  local t = {}
  for i = 1, d1 do
    t[i] = {}
    for j = 1, d2 do
      t[i][j] = {}
      for k = 1, d3 do t[i][j][k] = 100 * i + 10 * j + k end
    end
  end
  return t
end

-- the permute of a 3-D nested table: out[i_1][i_2][i_3] = x[...] with
-- x's dim p[d] indexed by out's index d
local function ref_permute3 (x, p)
  local sh = { #x, #x[1], #x[1][1] }
  local out = {}
  for a = 1, sh[p[1]] do
    out[a] = {}
    for b = 1, sh[p[2]] do
      out[a][b] = {}
      for c = 1, sh[p[3]] do
        local idx = {}
        idx[p[1]], idx[p[2]], idx[p[3]] = a, b, c
        out[a][b][c] = x[idx[1]][idx[2]][idx[3]]
      end
    end
  end
  return out
end

describe("transpose, permute, t", function ()
  it("t() of a 2-D tensor, of either dtype", function ()
    local want = { { 1, 5, 9 }, { 2, 6, 10 }, { 3, 7, 11 }, { 4, 8, 12 } }
    H.assert_tensor(a34():t(), want)
    H.assert_tensor(a34():transpose(1, 2), want)
    H.assert_tensor(a34():transpose(-1, -2), want)
    H.assert_tensor(nn.transpose(a34(), 2, 1), want)
    local i = a34():int():t()
    assert.are.equal("int32", i.dtype)
    H.assert_tensor(i, want)
  end)

  it("t() of 1-D and 0-dim tensors is the tensor itself", function ()
    local v = nn.tensor{ 1, 2, 3 }
    assert.are.equal(v, v:t())
  end)

  it("is a copy: writing the result leaves the input alone", function ()
    local t = a34()
    t:t():fill_(0)
    H.assert_tensor(t, A)
  end)

  it("matches a Lua loop on large, odd-sized matrices (the tiled path and its edges)",
     function ()
    for _, s in ipairs({ { 33, 65 }, { 64, 64 }, { 1, 100 }, { 257, 3 }, { 130, 97 }, { 300, 517 } }) do
      local x = nn.tensor.randn(s[1], s[2])
      local xt = x:totable()
      local y = x:t()
      assert.are.same({ s[2], s[1] }, y.shape)
      local yt = y:totable()
      for i = 1, s[1] do
        for j = 1, s[2] do
          if yt[j][i] ~= xt[i][j] then
            error(("[%dx%d] element (%d,%d): %g, want %g"):format(s[1], s[2], i, j, yt[j][i],
                                                                xt[i][j]))
          end
        end
      end
    end
  end)

  it("transpose and permute of 3-D and 4-D tensors", function ()
    local c = cube(2, 3, 4)
    local x = nn.tensor(c)
    for _, p in ipairs({ { 1, 2, 3 }, { 1, 3, 2 }, { 2, 1, 3 }, { 2, 3, 1 }, { 3, 1, 2 },
                         { 3, 2, 1 } }) do
      H.assert_tensor(x:permute(p[1], p[2], p[3]), ref_permute3(c, p), 0,
                      "permute " .. table.concat(p, ","))
      H.assert_tensor(x:permute(p), ref_permute3(c, p))
    end
    H.assert_tensor(x:transpose(1, 3), ref_permute3(c, { 3, 2, 1 }))
    H.assert_tensor(x:transpose(2, 3), ref_permute3(c, { 1, 3, 2 }))
    -- 4-D: a batch of transposes along the last two dims against select
    local y = nn.tensor.randn(2, 3, 5, 7)
    local z = y:transpose(3, 4)
    assert.are.same({ 2, 3, 7, 5 }, z.shape)
    for a = 1, 2 do for b = 1, 3 do for i = 1, 5 do for j = 1, 7 do
      assert(z:get(a, b, j, i) == y:get(a, b, i, j))
    end end end end
    -- empty dims
    assert.are.same({ 0, 3 }, nn.tensor.zeros(3, 0):t().shape)
  end)

  it("refuses dims out of range, extreme numbers and bad permutations", function ()
    has(function () a34():transpose(1, 3) end, { "bad argument #2 to 'transpose'", "dim 3",
                                                 "[3x4]" })
    has(function () a34():transpose(0, 1) end, { "bad argument #1 to 'transpose'" })
    has(function () a34():transpose(math.maxinteger, 1) end, { "bad argument #1 to 'transpose'" })
    has(function () a34():transpose(math.mininteger, 1) end, { "bad argument #1 to 'transpose'" })
    has(function () a34():transpose(0 / 0, 1) end, { "bad argument #1 to 'transpose'" })
    has(function () a34():transpose(math.huge, 1) end, { "bad argument #1 to 'transpose'" })
    has(function () a34():permute(1, 1) end, { "'permute'", "dim 1 appears twice" })
    has(function () a34():permute(1) end, { "'permute'", "needs 2 dims, got 1" })
    has(function () a34():permute{ 2, 1, 3 } end, { "'permute'", "needs 2 dims, got 3" })
    has(function () a34():permute{ 2, 2 } end, { "'permute'", "appears twice" })
    has(function () a34():permute{ 1, 3 } end, { "'permute'", "dim 3 is out of range" })
    has(function () nn.tensor.zeros(2, 2, 2):t() end, { "calling 't' on bad self", "[2x2x2]" })
  end)
end)

describe("squeeze, unsqueeze, flatten: views", function ()
  it("change only the shape and share storage", function ()
    local x = nn.tensor.arange(6):view(1, 2, 1, 3)
    assert.are.same({ 2, 3 }, x:squeeze().shape)
    assert.are.same({ 2, 1, 3 }, x:squeeze(1).shape)
    assert.are.same({ 1, 2, 1, 3 }, x:squeeze(2).shape)      -- size 2: kept, as torch
    assert.are.same({ 1, 2, 3 }, x:squeeze(-2).shape)
    assert.are.same({ 1, 1, 2, 1, 3 }, x:unsqueeze(1).shape)
    assert.are.same({ 1, 2, 1, 3, 1 }, x:unsqueeze(-1).shape)
    assert.are.same({ 1, 2, 1, 1, 3 }, x:unsqueeze(4).shape)
    assert.are.same({ 6 }, x:flatten().shape)
    assert.are.same({ 1, 6 }, x:flatten(2).shape)
    assert.are.same({ 1, 2, 3 }, x:flatten(2, 3).shape)
    assert.are.same({ 1 }, nn.tensor.zeros():view():flatten().shape)
    local s = x:squeeze()
    s:fill_(7)
    assert.are.equal(7, x:get(1, 2, 1, 3))
    assert.are.equal(x:data_ptr(), x:unsqueeze(1):data_ptr())
    assert.are.equal("int32", x:int():squeeze().dtype)
  end)

  it("refuse dims out of range and a sixth dim", function ()
    local x = nn.tensor.zeros(2, 3)
    has(function () x:squeeze(3) end, { "bad argument #1 to 'squeeze'", "dim 3" })
    has(function () x:unsqueeze(4) end, { "bad argument #1 to 'unsqueeze'", "dim 4" })
    has(function () x:unsqueeze(-4) end, { "bad argument #1 to 'unsqueeze'" })
    has(function () x:unsqueeze(0 / 0) end, { "bad argument #1 to 'unsqueeze'" })
    has(function () nn.tensor.zeros(1, 1, 1, 1, 1):unsqueeze(1) end,
        { "'unsqueeze'", "6 dims", "at most 5" })
    has(function () x:flatten(2, 1) end, { "'flatten'", "start dim 2 is after end dim 1" })
    has(function () x:flatten(1, math.maxinteger) end, { "bad argument #2 to 'flatten'" })
  end)
end)

describe("expand, broadcast_to (copies)", function ()
  it("repeat size-1 dims and add leading dims, -1 keeps a size", function ()
    local col = nn.tensor{ { 1 }, { 2 } }
    H.assert_tensor(col:expand(2, 3), { { 1, 1, 1 }, { 2, 2, 2 } })
    H.assert_tensor(col:expand(-1, 3), { { 1, 1, 1 }, { 2, 2, 2 } })
    H.assert_tensor(nn.tensor{ 1, 2, 3 }:expand(2, 3), { { 1, 2, 3 }, { 1, 2, 3 } })
    H.assert_tensor(nn.tensor{ 1, 2 }:int():broadcast_to{ 2, 2, 2 },
                    { { { 1, 2 }, { 1, 2 } }, { { 1, 2 }, { 1, 2 } } })
    assert.are.same({ 2, 0, 3 }, col:expand(2, 2, 3):narrow(2, 1, 0).shape)
    assert.are.same({ 0, 3 }, nn.tensor{ { 1, 2, 3 } }:expand(0, 3).shape)
    H.assert_tensor(a34():expand(3, 4), A)                        -- same shape: a copy
    local e = col:expand(2, 3)
    e:fill_(0)
    H.assert_tensor(col, { { 1 }, { 2 } })
  end)

  it("refuses a shape it does not broadcast to, naming both", function ()
    has(function () nn.tensor{ { 1 }, { 2 }, { 3 } }:expand(2, 4) end,
        { "bad argument #1 to 'expand'", "cannot expand [3x1] to [2x4]: dim 1 is 3, not 1 or 2" })
    has(function () a34():expand(4) end, { "'expand'", "[3x4]", "[4]" })
    has(function () a34():expand(-1, 4, 4) end, { "'expand'", "size -1", "a new dim" })
    has(function () a34():expand(3, -2) end, { "'expand'" })
    has(function () a34():expand(1, 1, 1, 3, 4, 1) end, { "'expand'", "at most 5" })
    has(function () a34():expand(3, math.maxinteger) end, { "'expand'" })
    has(function () a34():expand(3, 0 / 0) end, { "'expand'" })
  end)
end)

describe("tile and repeat (copies)", function ()
  it("tile along each dim, as torch.tile and Tensor.repeat", function ()
    local x = nn.tensor{ { 1, 2 }, { 3, 4 } }
    H.assert_tensor(x:tile(2, 3), { { 1, 2, 1, 2, 1, 2 }, { 3, 4, 3, 4, 3, 4 },
                                    { 1, 2, 1, 2, 1, 2 }, { 3, 4, 3, 4, 3, 4 } })
    H.assert_tensor(x:tile(2), { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } })           -- torch.tile pads reps
    H.assert_tensor(x["repeat"](x, 1, 2), { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } })
    H.assert_tensor(nn.tensor{ 5, 6 }:int():tile{ 2, 2 }, { { 5, 6, 5, 6 }, { 5, 6, 5, 6 } })
    assert.are.same({ 2, 2, 4 }, x:tile(2, 1, 2).shape)                     -- a new leading dim
    H.assert_tensor(x:tile(2, 1, 2)[2], { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } })
    assert.are.same({ 0, 2 }, x:tile(0, 1).shape)
  end)

  it("refuses negative reps, too few for repeat, more than 5 dims", function ()
    local x = nn.tensor.zeros(2, 2)
    has(function () x:tile(-1, 2) end, { "bad argument #1 to 'tile'", "rep 1" })
    has(function () x["repeat"](x, 2) end, { "'repeat'", "at least 2 reps" })
    has(function () x:tile(1, 1, 1, 1, 1, 1) end, { "'tile'", "at most 5" })
    has(function () x:tile(2 ^ 30, 2 ^ 30) end, { "'tile'" })
  end)
end)

describe("nn.cat and nn.stack", function ()
  it("cat along dim 1, 2 and -1", function ()
    local a, b = a34(), nn.tensor{ { 0, 0, 0, 0 } }
    H.assert_tensor(nn.cat({ a, b }, 1), { A[1], A[2], A[3], { 0, 0, 0, 0 } })
    H.assert_tensor(nn.cat({ b, b }), { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } })
    local c = nn.tensor{ { -1 }, { -2 }, { -3 } }
    H.assert_tensor(nn.cat({ c, a, c }, 2), { { -1, 1, 2, 3, 4, -1 }, { -2, 5, 6, 7, 8, -2 },
                                              { -3, 9, 10, 11, 12, -3 } })
    H.assert_tensor(nn.cat({ a, c }, -1), { { 1, 2, 3, 4, -1 }, { 5, 6, 7, 8, -2 },
                                            { 9, 10, 11, 12, -3 } })
    H.assert_tensor(nn.cat({ a:int(), c:int() }, 2)[3], { 9, 10, 11, 12, -3 })
    assert.are.equal("int32", nn.cat({ c:int() }, 2).dtype)
    H.assert_tensor(nn.cat({ a, nn.tensor.zeros(3, 0) }, 2), A)         -- an empty piece
  end)

  it("stack along a new dim", function ()
    local a, b = nn.tensor{ 1, 2 }, nn.tensor{ 3, 4 }
    H.assert_tensor(nn.stack({ a, b }), { { 1, 2 }, { 3, 4 } })
    H.assert_tensor(nn.stack({ a, b }, 2), { { 1, 3 }, { 2, 4 } })
    H.assert_tensor(nn.stack({ a, b }, -1), { { 1, 3 }, { 2, 4 } })
    local s = nn.stack({ a34(), a34() }, 2)
    assert.are.same({ 3, 2, 4 }, s.shape)
    H.assert_tensor(s[3], { A[3], A[3] })
  end)

  it("refuse empty lists, non-tensors, mixed dtypes and shapes, a sixth dim", function ()
    local a = a34()
    has(function () nn.cat({}) end, { "bad argument #1 to 'cat'", "empty" })
    has(function () nn.stack({}) end, { "bad argument #1 to 'stack'", "empty" })
    has(function () nn.cat({ a, 5 }) end, { "bad argument #1 to 'cat'", "entry 2", "number" })
    has(function () nn.cat(a) end, { "bad argument #1 to 'cat'", "table expected" })
    has(function () nn.cat({ a, a:int() }) end,
        { "bad argument #1 to 'cat'", "tensor 2 of the list is int32, tensor 1 is float32" })
    has(function () nn.cat({ a, a, nn.tensor.zeros(3, 5) }, 1) end,
        { "bad argument #1 to 'cat'", "tensor 3 of the list is [3x5]", "[3x4]", "off dim 1" })
    has(function () nn.cat({ a, a }, 3) end, { "bad argument #2 to 'cat'", "dim 3" })
    has(function () nn.cat({ a, a }, math.mininteger) end, { "bad argument #2 to 'cat'" })
    has(function () nn.stack({ a, a:t() }) end, { "'stack'", "tensor 2 of the list is [4x3]" })
    has(function () nn.stack({ a, a }, 4) end, { "bad argument #2 to 'stack'" })
    local five = nn.tensor.zeros(1, 1, 1, 1, 1)
    has(function () nn.stack({ five, five }) end, { "'stack'", "6 dims", "at most 5" })
  end)
end)

describe("split and chunk", function ()
  it("split by size: PyTorch's short last piece; views along dim 1", function ()
    local x = nn.tensor.arange(5)
    local p = x:split(2)
    assert.are.equal(3, #p)
    H.assert_tensor(p[1], { 0, 1 })
    H.assert_tensor(p[2], { 2, 3 })
    H.assert_tensor(p[3], { 4 })
    p[1]:fill_(9)
    assert.are.equal(9, x[1])                            -- a view
    local q = a34():split(3, 2)
    H.assert_tensor(q[1], { { 1, 2, 3 }, { 5, 6, 7 }, { 9, 10, 11 } })
    H.assert_tensor(q[2], { { 4 }, { 8 }, { 12 } })
    local r = a34():split({ 1, 0, 3 }, -1)
    assert.are.same({ 3, 0 }, r[2].shape)
    H.assert_tensor(r[3], { { 2, 3, 4 }, { 6, 7, 8 }, { 10, 11, 12 } })
    assert.are.equal(1, #nn.tensor.zeros(0):split(2))
    local whole = x:split(math.maxinteger)                -- one piece: all of x
    assert.are.equal(1, #whole)
    assert.are.same({ 5 }, whole[1].shape)
  end)

  it("chunk: ceil(size / n) each, so possibly fewer than n", function ()
    local sizes = function (list)
      local s = {}
      for i, t in ipairs(list) do s[i] = t.shape[1] end
      return s
    end
    assert.are.same({ 2, 2, 1 }, sizes(nn.tensor.arange(5):chunk(3)))
    assert.are.same({ 2, 2, 2 }, sizes(nn.tensor.arange(6):chunk(4)))
    assert.are.same({ 0, 0, 0 }, sizes(nn.tensor.zeros(0):chunk(3)))
    local c = a34():int():chunk(2, 2)
    H.assert_tensor(c[2], { { 3, 4 }, { 7, 8 }, { 11, 12 } })
    assert.are.equal("int32", c[2].dtype)
  end)

  it("refuse size 0, chunk(0), sizes that do not sum", function ()
    has(function () a34():split(0) end, { "bad argument #1 to 'split'", "split size must be >= 1" })
    has(function () a34():split({ 1, 1 }) end, { "'split'", "sum to 2, not 3" })
    has(function () a34():split({ 1, -1, 3 }) end, { "'split'" })
    has(function () a34():split(1, 3) end, { "bad argument #2 to 'split'", "dim 3" })
    has(function () a34():chunk(0) end, { "bad argument #1 to 'chunk'", "got 0" })
    has(function () a34():chunk(math.maxinteger) end, { "bad argument #1 to 'chunk'" })
    has(function () a34():chunk(0 / 0) end, { "bad argument #1 to 'chunk'" })
  end)
end)

describe("tril and triu", function ()
  it("keep a triangle of the last two dims, k the diagonal offset", function ()
    H.assert_tensor(a34():tril(), { { 1, 0, 0, 0 }, { 5, 6, 0, 0 }, { 9, 10, 11, 0 } })
    H.assert_tensor(a34():triu(), { { 1, 2, 3, 4 }, { 0, 6, 7, 8 }, { 0, 0, 11, 12 } })
    H.assert_tensor(a34():tril(1), { { 1, 2, 0, 0 }, { 5, 6, 7, 0 }, { 9, 10, 11, 12 } })
    H.assert_tensor(a34():triu(-1), { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 0, 10, 11, 12 } })
    H.assert_tensor(a34():tril(-5), { { 0, 0, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 } })
    H.assert_tensor(a34():triu(math.mininteger), A)
    H.assert_tensor(a34():tril(math.maxinteger), A)
    local b = nn.tensor{ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } }:int():triu(1)
    assert.are.equal("int32", b.dtype)
    H.assert_tensor(b, { { { 0, 2 }, { 0, 0 } }, { { 0, 6 }, { 0, 0 } } })
  end)

  it("refuse fewer than 2 dims and a non-integer k", function ()
    has(function () nn.tensor{ 1, 2 }:tril() end, { "calling 'tril' on bad self", "2 dims" })
    has(function () a34():triu(0.5) end, { "bad argument #1 to 'triu'" })
  end)
end)

describe("at the prompt", function ()
  it("t[2], t[2][3], t:t(), nn.cat({t, t}, 1) print the right tensor", function ()
    local t = nn.tensor.randn(3, 4)
    local row = tostring(t[2])
    assert.truthy(row:find("[4]", 1, true), row)
    assert.truthy(tostring(t:t()):find("[4x3]", 1, true))
    assert.truthy(tostring(nn.cat({ t, t }, 1)):find("[6x4]", 1, true))
    assert.are.equal(t:get(2, 3), t[2][3])
  end)
end)
