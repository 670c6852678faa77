-- Tensor creation, fields, totable and printing (api.md: Creation, Fields, Printing).
local H = require "spec.helpers"

describe("nn.tensor from a nested table", function()
  it("builds a 2-D tensor with the table's shape and values", function()
    local t = nn.tensor{{1, 2, 3}, {4, 5, 6}}
    H.assert_tensor(t, {{1, 2, 3}, {4, 5, 6}})
    assert.are.equal(2, t.ndim)
  end)

  it("builds 1-D and 3-D tensors", function()
    H.assert_tensor(nn.tensor{7, 8, 9}, {7, 8, 9})
    H.assert_tensor(nn.tensor{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}},
                    {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}})
  end)

  it("stores values as float32", function()
    -- 0.1 is not a float32: the nearest one is 0.100000001490116119384765625.
    assert.are.equal(0.100000001490116119384765625, nn.tensor{0.1}:get(1))
    -- 2^24 + 1 is the first integer a float32 cannot hold: it rounds to even.
    assert.are.equal(16777216, nn.tensor{16777217}:get(1))
    assert.are.equal(-2.5, nn.tensor{-2.5}:get(1))
  end)

  it("accepts integers and floats alike", function()
    assert.are.equal("integer", math.type(8388607))
    H.assert_tensor(nn.tensor{1, 2.5, 8388607}, {1, 2.5, 8388607})
  end)
end)

describe("nn.tensor constructors", function()
  it("zeros, ones and full take sizes as arguments or as a table", function()
    H.assert_tensor(nn.tensor.zeros(2, 3), {{0, 0, 0}, {0, 0, 0}})
    H.assert_tensor(nn.tensor.zeros{2, 3}, {{0, 0, 0}, {0, 0, 0}})
    H.assert_tensor(nn.tensor.ones(3), {1, 1, 1})
    H.assert_tensor(nn.tensor.ones{2, 1}, {{1}, {1}})
    H.assert_tensor(nn.tensor.full(2, 2, 7.5), {{7.5, 7.5}, {7.5, 7.5}})
    H.assert_tensor(nn.tensor.full({1, 3}, -2), {{-2, -2, -2}})
  end)

  it("makes up to 5 dims", function()
    local t = nn.tensor.zeros(2, 1, 3, 1, 2)
    assert.are.same({2, 1, 3, 1, 2}, t.shape)
    assert.are.equal(12, t:numel())
    assert.are.equal(0, t:sum())
  end)

  it("rand and randn have the requested shape", function()
    assert.are.same({3, 4}, nn.tensor.rand(3, 4).shape)
    assert.are.same({3, 4}, nn.tensor.rand{3, 4}.shape)
    assert.are.same({5}, nn.tensor.randn(5).shape)
    assert.are.same({2, 2, 2}, nn.tensor.randn{2, 2, 2}.shape)
  end)

  it("arange(n) counts 0 .. n-1", function()
    H.assert_tensor(nn.tensor.arange(5), {0, 1, 2, 3, 4})
  end)

  it("arange(a, b) counts a .. b-1 (half-open)", function()
    H.assert_tensor(nn.tensor.arange(1, 5), {1, 2, 3, 4})
    H.assert_tensor(nn.tensor.arange(-2, 1), {-2, -1, 0})
  end)

  it("arange(a, b, step) has ceil((b - a) / step) elements", function()
    H.assert_tensor(nn.tensor.arange(0, 1, 0.25), {0, 0.25, 0.5, 0.75})
    -- ceil(1 / 0.3) = 4; the values are float32 roundings of 0, .3, .6, .9
    H.assert_tensor(nn.tensor.arange(0, 1, 0.3), {0, 0.3, 0.6, 0.9}, H.ROUND)
    H.assert_tensor(nn.tensor.arange(1, 10, 3), {1, 4, 7})
  end)

  it("arange with a negative step counts down, as PyTorch", function()
    H.assert_tensor(nn.tensor.arange(5, 1, -1), {5, 4, 3, 2})
  end)
end)

describe("tensor fields", function()
  local t = nn.tensor.zeros(3, 4)

  it("shape, ndim, device and dtype", function()
    assert.are.same({3, 4}, t.shape)
    assert.are.equal(2, t.ndim)
    assert.are.equal("cpu", t.device)
    assert.are.equal("float32", t.dtype)
    assert.are.equal(1, nn.tensor{5}.ndim)
  end)

  it("shape is a copy: changing it does not reshape the tensor", function()
    local s = t.shape
    s[1] = 99
    assert.are.same({3, 4}, t.shape)
  end)

  it("fields are read-only", function()
    assert.has_error(function() t.ndim = 3 end)
    assert.has_error(function() t.shape = {12} end)
    assert.are.equal(2, t.ndim)
    assert.are.same({3, 4}, t.shape)
  end)
end)

describe("t:totable", function()
  it("gives nested tables back", function()
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, nn.tensor{{1, 2}, {3, 4}, {5, 6}}:totable())
    assert.are.same({1.5, -2}, nn.tensor{1.5, -2}:totable())
    assert.are.same({{{1}, {2}}}, nn.tensor{{{1}, {2}}}:totable())
  end)

  it("round-trips the values of a view", function()
    assert.are.same({{0, 1, 2}, {3, 4, 5}}, nn.tensor.arange(6):view(2, 3):totable())
  end)
end)

describe("printing", function()
  it("tostring(t) is nn.repr(t)", function()
    local t = nn.tensor{{1.5, 2}, {3, 4}}
    assert.are.equal(nn.repr(t), tostring(t))
  end)

  it("names shape and device, and shows the values", function()
    local s = nn.repr(nn.tensor{{1.5, -2.25, 3}, {4, 5, 6}})
    assert.is_truthy(s:find("[2x3]", 1, true), s)
    assert.is_truthy(s:find("cpu", 1, true), s)
    assert.is_truthy(s:find("1.5", 1, true), s)
    assert.is_truthy(s:find("-2.25", 1, true), s)
  end)

  it("has min, max, mean and std in its header", function()
    local s = nn.repr(nn.tensor{2, 4, 6})
    for _, word in ipairs{"min", "max", "mean", "std"} do
      assert.is_truthy(s:find(word, 1, true), ("%q lacks %q"):format(s, word))
    end
  end)

  it("shows a 0-dim tensor's shape as []", function()
    local s = nn.repr(nn.tensor{1, 2, 3}:sum(1))
    assert.is_truthy(s:find("[]", 1, true), s)
    assert.is_truthy(s:find("6", 1, true), s)
  end)

  it("summarises a large tensor with ... and stays short", function()
    local s = nn.repr(nn.tensor.arange(100000):view(1000, 100))
    assert.is_truthy(s:find("...", 1, true), s)
    assert.is_true(#s < 4000, ("repr of 100000 values is %d chars"):format(#s))
  end)
end)
