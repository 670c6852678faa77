-- Shapes, views and element access (api.md: Shape).
local H = require "spec.helpers"

-- m() = {{0,1,2,3},{4,5,6,7},{8,9,10,11}}, a fresh one each call
local function m () return nn.tensor.arange(12):view(3, 4) end

describe("size, dim, numel and #", function()
  local t = nn.tensor.zeros(3, 4)

  it("size() is the shape as a table; size(d) one size", function()
    assert.are.same({3, 4}, t:size())
    assert.are.equal(3, t:size(1))
    assert.are.equal(4, t:size(2))
  end)

  it("size(-1) counts from the end", function()
    assert.are.equal(4, t:size(-1))
    assert.are.equal(3, t:size(-2))
  end)

  it("dim(), numel() and #t", function()
    assert.are.equal(2, t:dim())
    assert.are.equal(12, t:numel())
    assert.are.equal(3, #t)
    assert.are.equal(5, #nn.tensor.zeros(5))
    assert.are.equal(24, nn.tensor.zeros(2, 3, 4):numel())
  end)
end)

describe("view and reshape", function()
  it("view(2, 6) keeps row-major order", function()
    H.assert_tensor(m():view(2, 6), {{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 11}})
  end)

  it("view takes the sizes as a table too", function()
    H.assert_tensor(m():view{6, 2}, {{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}})
  end)

  it("infers one size given as -1", function()
    assert.are.same({4, 3}, m():view(-1, 3).shape)
    assert.are.same({12}, m():view(-1).shape)
    assert.are.same({2, 3, 2}, m():view(2, -1, 2).shape)
  end)

  it("reshape does what view does", function()
    H.assert_tensor(m():reshape(4, 3), {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}})
    assert.are.same({2, 6}, m():reshape{-1, 6}.shape)
  end)

  it("shares storage with the original, both ways", function()
    local t = m()
    local v = t:view(12)
    v:set(6, 100)                 -- flat index 6 is t[2][2]
    assert.are.equal(100, t:get(2, 2))
    t:set(3, 4, -1)               -- t[3][4] is flat 12
    assert.are.equal(-1, v:get(12))
  end)

  it("leaves the original's shape alone", function()
    local t = m()
    t:view(2, 6)
    assert.are.same({3, 4}, t.shape)
  end)
end)

describe("narrow and slice", function()
  it("narrow(1, start, length) takes rows start .. start+length-1", function()
    H.assert_tensor(m():narrow(1, 2, 2), {{4, 5, 6, 7}, {8, 9, 10, 11}})
    H.assert_tensor(m():narrow(1, 1, 1), {{0, 1, 2, 3}})
    H.assert_tensor(m():narrow(1, 1, 3), {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}})
  end)

  it("narrow is a view", function()
    local t = m()
    local n = t:narrow(1, 3, 1)
    n:fill_(7)
    H.assert_tensor(t, {{0, 1, 2, 3}, {4, 5, 6, 7}, {7, 7, 7, 7}})
  end)

  it("narrow of a 1-D tensor takes elements", function()
    H.assert_tensor(nn.tensor.arange(6):narrow(1, 3, 2), {2, 3})
  end)

  it("slice(i, j) takes rows i .. j inclusive", function()
    H.assert_tensor(m():slice(2, 3), {{4, 5, 6, 7}, {8, 9, 10, 11}})
    H.assert_tensor(m():slice(1, 1), {{0, 1, 2, 3}})
  end)

  it("slice counts negatives from the end, as string.sub", function()
    H.assert_tensor(m():slice(-2, -1), {{4, 5, 6, 7}, {8, 9, 10, 11}})
    H.assert_tensor(m():slice(1, -3), {{0, 1, 2, 3}})
    H.assert_tensor(m():slice(-1, 3), {{8, 9, 10, 11}})
  end)

  it("slice(i) runs to the last row, as string.sub", function()
    H.assert_tensor(m():slice(2), {{4, 5, 6, 7}, {8, 9, 10, 11}})
  end)

  it("slice is a view", function()
    local t = m()
    t:slice(2, 2):zero_()
    H.assert_tensor(t, {{0, 1, 2, 3}, {0, 0, 0, 0}, {8, 9, 10, 11}})
  end)

  it("a view of a view sees the same storage", function()
    local t = m()
    local s = t:slice(2, 3):view(8):narrow(1, 3, 2)   -- t[2][3], t[2][4]
    H.assert_tensor(s, {6, 7})
    s:fill_(-5)
    H.assert_tensor(t, {{0, 1, 2, 3}, {4, 5, -5, -5}, {8, 9, 10, 11}})
  end)
end)

describe("clone and copy", function()
  it("clone is a deep copy", function()
    local t = m()
    local c = t:clone()
    c:set(1, 1, 42)
    assert.are.equal(0, t:get(1, 1))
    H.assert_tensor(c, {{42, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}})
  end)

  it("clone of a view copies only the view", function()
    local c = m():slice(3, 3):clone()
    H.assert_tensor(c, {{8, 9, 10, 11}})
  end)

  it("dst:copy(src) copies element by element and returns dst", function()
    local dst = nn.tensor.zeros(2, 3)
    local r = dst:copy(nn.tensor.arange(6))   -- same numel, other shape
    assert.is_true(rawequal(dst, r))
    H.assert_tensor(dst, {{0, 1, 2}, {3, 4, 5}})
  end)

  it("copy into a view writes through to the base", function()
    local t = m()
    t:narrow(1, 2, 1):copy(nn.tensor{-1, -2, -3, -4})
    H.assert_tensor(t, {{0, 1, 2, 3}, {-1, -2, -3, -4}, {8, 9, 10, 11}})
  end)
end)

describe("get, set, item, fill_, zero_", function()
  it("get takes one index per dim, 1-based", function()
    local t = m()
    assert.are.equal(0, t:get(1, 1))
    assert.are.equal(6, t:get(2, 3))
    assert.are.equal(11, t:get(3, 4))
    local c = nn.tensor.arange(24):view(2, 3, 4)
    assert.are.equal(1 * 12 + 2 * 4 + 3, c:get(2, 3, 4))
  end)

  it("set writes one element and returns the tensor", function()
    local t = nn.tensor.zeros(2, 2)
    local r = t:set(2, 1, 3.5)
    assert.is_true(rawequal(t, r))
    H.assert_tensor(t, {{0, 0}, {3.5, 0}})
    t:set(1, 2, -1):set(2, 2, 9)   -- chains
    H.assert_tensor(t, {{0, -1}, {3.5, 9}})
  end)

  it("item reads a one-element tensor of any dim", function()
    assert.are.equal(2.5, nn.tensor{2.5}:item())
    assert.are.equal(-3, nn.tensor{{-3}}:item())
    assert.are.equal(11, m():view(12):narrow(1, 12, 1):item())
  end)

  it("fill_ and zero_ write every element and return the tensor", function()
    local t = nn.tensor.zeros(2, 3)
    assert.is_true(rawequal(t, t:fill_(0.5)))
    H.assert_tensor(t, {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}})
    assert.is_true(rawequal(t, t:zero_()))
    H.assert_tensor(t, {{0, 0, 0}, {0, 0, 0}})
  end)
end)
