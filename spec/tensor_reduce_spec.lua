-- Reductions (api.md: Reductions).  Sums and means of small integers are exact
-- in float32 and in double, so most checks are exact; var/std go through a
-- division and a square root, so they get H.ROUND (see spec/helpers.lua).
local H = require "spec.helpers"

-- r() = {{1, 5, 3}, {4, 2, 6}}: max 6 at flat 6, min 1 at flat 1
local function r () return nn.tensor{{1, 5, 3}, {4, 2, 6}} end
-- c() = 0 .. 23 as (2,3,4)
local function c () return nn.tensor.arange(24):view(2, 3, 4) end

describe("reductions over all elements", function()
  it("sum, mean, max, min", function()
    assert.are.equal(21, r():sum())
    assert.are.equal(3.5, r():mean())
    assert.are.equal(6, r():max())
    assert.are.equal(1, r():min())
  end)

  it("max and min of all-negative and all-positive tensors", function()
    -- catches an accumulator started at 0 instead of the first element
    assert.are.equal(-2, nn.tensor{-5, -2, -9}:max())
    assert.are.equal(3, nn.tensor{7, 3, 5}:min())
  end)

  it("var and std are unbiased (divide by n - 1), as PyTorch", function()
    -- 1..6: mean 3.5, squared deviations sum to 17.5, /5 = 3.5
    H.assert_close(r():var(), 3.5, H.ROUND)
    H.assert_close(r():std(), 1.8708286933869707, H.ROUND)
    -- 2,4,4,4,5,5,7,9: mean 5, squared deviations sum to 32, /7
    local t = nn.tensor{2, 4, 4, 4, 5, 5, 7, 9}
    H.assert_close(t:var(), 32 / 7, H.ROUND)
    H.assert_close(t:std(), 2.138089935299395, H.ROUND)
  end)

  it("var does not cancel catastrophically on a large mean", function()
    -- 10001..10004 (exact in float32): var = (2.25+.25+.25+2.25)/3 = 5/3.
    -- sum(x^2)/n - mean^2 in float32 would lose every digit here.
    H.assert_close(nn.tensor{10001, 10002, 10003, 10004}:var(), 5 / 3, H.ROUND)
    assert.are.equal(0, nn.tensor.full(10, 3.25):var())
  end)

  it("sum of a million 0.1f is accurate (accumulation in double)", function()
    -- float32(0.1) = 0.100000001490116..., times 1e6 = 100000.00149011612.
    -- A naive float32 running sum gives 100958.3 (1% off); a double
    -- accumulator is exact to ~1e-16, float32 pairwise summation to ~1e-7.
    local t = nn.tensor.full(1000000, 0.1)
    H.assert_close(t:sum(), 100000.00149011612, 1e-6)
    H.assert_close(t:mean(), 0.10000000149011612, 1e-6)
  end)

  it("argmax and argmin give the 1-based flat index", function()
    assert.are.equal(6, r():argmax())
    assert.are.equal(1, r():argmin())
    assert.are.equal(2, nn.tensor{-5, -2, -9}:argmax())
    assert.are.equal(3, nn.tensor{-5, -2, -9}:argmin())
    assert.are.equal(24, c():argmax())
  end)

  it("argmax and argmin take the first of equal extremes", function()
    assert.are.equal(1, nn.tensor{3, 1, 3}:argmax())
    assert.are.equal(2, nn.tensor{3, 1, 1}:argmin())
  end)

  it("are in nn too", function()
    assert.are.equal(21, nn.sum(r()))
    assert.are.equal(3.5, nn.mean(r()))
    assert.are.equal(6, nn.argmax(r()))
    H.assert_tensor(nn.sum(r(), 2), {9, 12})
  end)

  it("work on a view", function()
    local v = c():narrow(1, 2, 1)      -- 12 .. 23
    assert.are.equal(210, v:sum())
    assert.are.equal(12, v:min())
    assert.are.equal(12, v:argmax())
  end)
end)

describe("sum and mean along a dim", function()
  it("sum(1) and sum(2) of a matrix", function()
    H.assert_tensor(r():sum(1), {5, 7, 9})
    H.assert_tensor(r():sum(2), {9, 12})
  end)

  it("a negative dim counts from the end", function()
    H.assert_tensor(r():sum(-1), {9, 12})
    H.assert_tensor(r():sum(-2), {5, 7, 9})
  end)

  it("keepdim keeps the dim as size 1", function()
    H.assert_tensor(r():sum(1, true), {{5, 7, 9}})
    H.assert_tensor(r():sum(2, true), {{9}, {12}})
    H.assert_tensor(r():sum(2, false), {9, 12})
  end)

  it("mean(d) divides by the size of d", function()
    H.assert_tensor(r():mean(1), {2.5, 3.5, 4.5})
    H.assert_tensor(r():mean(2), {3, 4})
    H.assert_tensor(r():mean(2, true), {{3}, {4}})
  end)

  it("sum along each dim of a 3-D tensor", function()
    H.assert_tensor(c():sum(1), {{12, 14, 16, 18}, {20, 22, 24, 26}, {28, 30, 32, 34}})
    H.assert_tensor(c():sum(2), {{12, 15, 18, 21}, {48, 51, 54, 57}})
    H.assert_tensor(c():sum(3), {{6, 22, 38}, {54, 70, 86}})
    assert.are.same({2, 1, 4}, c():sum(2, true).shape)
  end)

  it("summing the only dim of a 1-D tensor gives a 0-dim tensor", function()
    local s = nn.tensor{1, 2, 3}:sum(1)
    assert.are.equal(0, s.ndim)
    assert.are.same({}, s.shape)
    assert.are.equal(6, s:item())
    assert.are.same({1}, nn.tensor{1, 2, 3}:sum(1, true).shape)
  end)
end)

describe("max and min along a dim", function()
  it("max(d) gives values and 1-based indices", function()
    local v, i = r():max(1)
    H.assert_tensor(v, {4, 5, 6})
    H.assert_tensor(i, {2, 1, 2})
    v, i = r():max(2)
    H.assert_tensor(v, {5, 6})
    H.assert_tensor(i, {2, 3})
  end)

  it("min(d) gives values and 1-based indices", function()
    local v, i = r():min(1)
    H.assert_tensor(v, {1, 2, 3})
    H.assert_tensor(i, {1, 2, 1})
    v, i = r():min(-1)
    H.assert_tensor(v, {1, 2})
    H.assert_tensor(i, {1, 2})
  end)

  it("indices are an int32 tensor", function()
    local _, i = r():max(2)
    assert.are.equal("int32", i.dtype)
  end)

  it("max along the middle dim of a 3-D tensor", function()
    local v, i = c():max(2)
    H.assert_tensor(v, {{8, 9, 10, 11}, {20, 21, 22, 23}})
    H.assert_tensor(i, {{3, 3, 3, 3}, {3, 3, 3, 3}})
  end)

  it("ties give the first index", function()
    local _, i = nn.tensor{{1, 1}, {1, 1}}:max(2)
    H.assert_tensor(i, {1, 1})
  end)

  it("argmax(d) and argmin(d) give 1-based index tensors", function()
    H.assert_tensor(r():argmax(1), {2, 1, 2})
    H.assert_tensor(r():argmax(2), {2, 3})
    H.assert_tensor(r():argmin(2), {1, 2})
    H.assert_tensor(nn.tensor{{-1, -3}, {-4, -2}}:argmax(2), {1, 2})
  end)
end)
