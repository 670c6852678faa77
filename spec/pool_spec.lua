--- spec/pool_spec.lua -- nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d:
-- PyTorch's output sizes, windows, divisors, ties and nans, against a naive
-- reference written here in Lua on nested tables (the padding built as
-- real rows of -inf or zeros, the output size by the documented formula);
-- small cases by hand; gradients by finite differences; errors; and
-- Dropout, Flatten and a model on 4-D input.
local nn = require "nn"
local H = require "spec.helpers"

-- --- the reference ------------------------------------------------------

-- PyTorch's documented output size: floor or ceil of
-- (n + 2p - d (k - 1) - 1) / s, plus 1; with ceil_mode one less when the
-- last window would start in the right padding
local function out_size (n, k, s, p, d, ceil_mode)
  local span = (n + 2 * p - d * (k - 1) - 1) / s
  local o = (ceil_mode and math.ceil(span) or math.floor(span)) + 1
  if ceil_mode and (o - 1) * s >= n + p then o = o - 1 end
  return o
end

local function pair (v) if type(v) == "table" then return v[1], v[2] end return v, v end

-- the options of a case as numbers: k, s, p, d pairs and the flags
local function geometry (kernel, o)
  o = o or {}
  local g = {}
  g.kh, g.kw = pair(kernel)
  g.sh, g.sw = pair(o.stride or kernel)
  g.ph, g.pw = pair(o.padding or 0)
  g.dh, g.dw = pair(o.dilation or 1)
  g.ceil = o.ceil_mode or false
  g.include = o.count_include_pad ~= false
  return g
end

-- plane (a table of rows) padded with ph rows and pw columns of `fill`
local function padded (plane, ph, pw, fill)
  local Hh, W = #plane, #plane[1]
  local out = {}
  for i = 1, Hh + 2 * ph do
    out[i] = {}
    for j = 1, W + 2 * pw do
      local r, c = i - ph, j - pw
      out[i][j] = (r >= 1 and r <= Hh and c >= 1 and c <= W) and plane[r][c] or fill
    end
  end
  return out
end

-- max pooling of one plane: y and the 1-based positions of the first max of
-- each window (a strict >, so the first of equals; a nan wins, the last of
-- several), over the -inf-padded plane
local function ref_max_plane (plane, g)
  local Hh, W = #plane, #plane[1]
  local Ho = out_size(Hh, g.kh, g.sh, g.ph, g.dh, g.ceil)
  local Wo = out_size(W, g.kw, g.sw, g.pw, g.dw, g.ceil)
  local P = padded(plane, g.ph, g.pw, -math.huge)
  local y, idx = {}, {}
  for oh = 1, Ho do
    y[oh], idx[oh] = {}, {}
    for ow = 1, Wo do
      local best, at = nil, 0
      for i = 0, g.kh - 1 do
        for j = 0, g.kw - 1 do
          local r = (oh - 1) * g.sh + i * g.dh + 1     -- row in the padded plane
          local c = (ow - 1) * g.sw + j * g.dw + 1
          local v = P[r] and P[r][c]
          local ih, iw = r - g.ph, c - g.pw            -- in the input, 1-based
          if v ~= nil and ih >= 1 and ih <= Hh and iw >= 1 and iw <= W then
            if best == nil or v > best or v ~= v then best, at = v, (ih - 1) * W + iw end
          end
        end
      end
      y[oh][ow], idx[oh][ow] = best or -math.huge, at
    end
  end
  return y, idx
end

-- average pooling of one plane over the zero-padded plane, the window cut
-- at the end of the padding; divisor: the cut window's size, or the input
-- pixels in it
local function ref_avg_plane (plane, g)
  local Hh, W = #plane, #plane[1]
  local Ho = out_size(Hh, g.kh, g.sh, g.ph, 1, g.ceil)
  local Wo = out_size(W, g.kw, g.sw, g.pw, 1, g.ceil)
  local P = padded(plane, g.ph, g.pw, 0)
  local y = {}
  for oh = 1, Ho do
    y[oh] = {}
    for ow = 1, Wo do
      local sum, cells, real = 0, 0, 0
      for r = (oh - 1) * g.sh + 1, math.min((oh - 1) * g.sh + g.kh, Hh + 2 * g.ph) do
        for c = (ow - 1) * g.sw + 1, math.min((ow - 1) * g.sw + g.kw, W + 2 * g.pw) do
          sum, cells = sum + P[r][c], cells + 1
          local ih, iw = r - g.ph, c - g.pw
          if ih >= 1 and ih <= Hh and iw >= 1 and iw <= W then real = real + 1 end
        end
      end
      y[oh][ow] = sum / (g.include and cells or real)
    end
  end
  return y
end

-- adaptive average pooling of one plane to Ho x Wo
local function ref_adaptive_plane (plane, Ho, Wo)
  local Hh, W = #plane, #plane[1]
  local y = {}
  for oh = 0, Ho - 1 do
    y[oh + 1] = {}
    local a, e = math.floor(oh * Hh / Ho), math.ceil((oh + 1) * Hh / Ho)
    for ow = 0, Wo - 1 do
      local b, f = math.floor(ow * W / Wo), math.ceil((ow + 1) * W / Wo)
      local sum = 0
      for r = a + 1, e do for c = b + 1, f do sum = sum + plane[r][c] end end
      y[oh + 1][ow + 1] = sum / ((e - a) * (f - b))
    end
  end
  return y
end

-- a plane function applied to every (b, c) of a nested (B, C, H, W) table
local function per_plane (x, fn, ...)
  local ys, extra = {}, {}
  for b = 1, #x do
    ys[b], extra[b] = {}, {}
    for c = 1, #x[b] do ys[b][c], extra[b][c] = fn(x[b][c], ...) end
  end
  return ys, extra
end

-- distinct values in random order (no ties: a max moves only if an entry
-- moves past a neighbour, far beyond gradcheck's h = 1e-2)
local function distinct (...)
  local shape = { ... }
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return (nn.randperm(n):float() * 0.1 - n * 0.05):view(table.unpack(shape))
end

-- --- the cases --------------------------------------------------------------

local max_cases = {
  { "k2 (s = k) on odd planes", {2, 3, 7, 5}, 2, {} },
  { "k3, stride 2, padding 1", {2, 2, 7, 6}, 3, { stride = 2, padding = 1 } },
  { "stride 1 (overlapping windows)", {1, 2, 5, 5}, 2, { stride = 1 } },
  { "dilation 2", {2, 2, 9, 8}, 3, { dilation = 2 } },
  { "dilation 2, padding 1, stride 2", {1, 3, 8, 9}, 3, { stride = 2, padding = 1, dilation = 2 } },
  { "ceil_mode", {2, 2, 7, 6}, 2, { ceil_mode = true } },
  { "ceil_mode, k3 s2 p1 (a last window that would start in the padding)",
    {1, 2, 6, 5}, 3, { stride = 2, padding = 1, ceil_mode = true } },
  { "non-square {2, 3}, stride {1, 2}", {2, 2, 5, 7}, {2, 3}, { stride = {1, 2} } },
  { "non-square padding {1, 0}", {1, 1, 6, 6}, {3, 2}, { padding = {1, 0} } },
  { "batch 1, one channel", {1, 1, 4, 4}, 2, {} },
  { "k2 on wide planes (four windows at a time, then the rest one by one)", {2, 2, 6, 28}, 2, {} },
  { "k2 on wide odd planes, ceil_mode (a last row and column of one tap)", {1, 3, 7, 21}, 2,
    { ceil_mode = true } },
  { "a window larger than the stride, ceil_mode and dilation",
    {1, 1, 10, 11}, {3, 2}, { stride = {2, 3}, padding = 1, dilation = {2, 1}, ceil_mode = true } },
}

local avg_cases = {
  { "k2 (s = k) on odd planes", {2, 3, 7, 5}, 2, {} },
  { "k3, stride 2, padding 1", {2, 2, 7, 6}, 3, { stride = 2, padding = 1 } },
  { "k3, stride 2, padding 1, count_include_pad false", {2, 2, 7, 6}, 3,
    { stride = 2, padding = 1, count_include_pad = false } },
  { "stride 1 (overlapping windows)", {1, 2, 5, 5}, 2, { stride = 1 } },
  { "ceil_mode: a window cut at the padding", {2, 2, 7, 6}, 2, { ceil_mode = true } },
  { "ceil_mode, padding 1, count_include_pad true", {1, 2, 6, 5}, 3,
    { stride = 2, padding = 1, ceil_mode = true } },
  { "ceil_mode, padding 1, count_include_pad false", {1, 2, 6, 5}, 3,
    { stride = 2, padding = 1, ceil_mode = true, count_include_pad = false } },
  { "non-square {2, 3}, stride {2, 1}", {2, 2, 5, 7}, {2, 3}, { stride = {2, 1} } },
  { "batch 1, one channel", {1, 1, 4, 4}, 2, {} },
}

local adaptive_cases = {
  { "divisible: 6x4 -> 3x2", {2, 2, 6, 4}, {3, 2} },
  { "not divisible: 7x5 -> 3x2 (windows share a row)", {2, 3, 7, 5}, {3, 2} },
  { "global average pooling: output_size 1", {3, 4, 5, 6}, 1 },
  { "larger than the input: 3x2 -> 5x4 (rows repeat)", {1, 2, 3, 2}, {5, 4} },
  { "batch 1, 9x9 -> 4", {1, 1, 9, 9}, 4 },
}

describe("nn.MaxPool2d", function()
  for _, case in ipairs(max_cases) do
    local name, shape, kernel, opts = case[1], case[2], case[3], case[4]
    it("forward and indices as the reference: " .. name, function()
      nn.manual_seed(11)
      local x = nn.tensor.randn(shape)
      local layer = nn.MaxPool2d(kernel, opts)
      local y = layer:forward(x)
      local want, idx = per_plane(x:totable(), ref_max_plane, geometry(kernel, opts))
      H.assert_tensor(y, want, H.EXACT, name)
      H.assert_tensor(layer.indices, idx, H.EXACT, name .. " indices")
      assert.are.equal("int32", layer.indices.dtype)
      assert.are.same(layer:output_shape(shape), y:size())
    end)
  end

  it("a 4x4 plane, k = 2: the known maxima, their 1-based positions, and the gradient routed there", function()
    local x = nn.tensor{{{{1, 3, 2, 0},
                          {4, 2, 8, 1},
                          {0, 5, 1, 7},
                          {6, 2, 3, 9}}}}
    local m = nn.MaxPool2d(2)
    H.assert_tensor(m:forward(x), {{{{4, 8}, {6, 9}}}}, H.EXACT)
    -- (1, 0) -> 1*4 + 0 + 1 = 5, (1, 2) -> 7, (3, 0) -> 13, (3, 3) -> 16
    H.assert_tensor(m.indices, {{{{5, 7}, {13, 16}}}}, H.EXACT)
    H.assert_tensor(m:backward(nn.tensor{{{{10, 20}, {30, 40}}}}),
                    {{{{0, 0, 0, 0}, {10, 0, 20, 0}, {0, 0, 0, 0}, {30, 0, 0, 40}}}}, H.EXACT)
  end)

  it("ties go to the first in window order; a nan is the max and propagates", function()
    local m = nn.MaxPool2d(2)
    m:forward(nn.tensor.full(1, 1, 4, 4, 7))
    H.assert_tensor(m.indices, {{{{1, 3}, {9, 11}}}}, H.EXACT)
    local nan = 0 / 0
    local y = m:forward(nn.tensor{{{{1, 2, 5, 5},
                                    {nan, 3, 5, 1},
                                    {2, 9, -1, -2},
                                    {9, 1, -3, nan}}}})
    H.assert_tensor(y, {{{{nan, 5}, {9, nan}}}}, H.EXACT)
    H.assert_tensor(m.indices, {{{{5, 3}, {10, 16}}}}, H.EXACT)
  end)

  it("the same tie and nan rules where four windows are taken at a time (planes 8+ wide)", function()
    -- every window of the 2x2 pool: ties in every pattern, a nan at each tap,
    -- two nans, -inf alone and beside a number, across rows 8 to 29 wide
    local pattern = { 1, 1, 0 / 0, 2, -math.huge, 3, 3, 0 / 0, 0 / 0, -1, -math.huge, -math.huge, 5 }
    for _, W in ipairs{ 8, 13, 16, 29 } do
      local rows, k = {}, 0
      for i = 1, 6 do
        rows[i] = {}
        for j = 1, W do
          k = k + 1
          rows[i][j] = pattern[(k * 7 + i) % #pattern + 1]
        end
      end
      local m = nn.MaxPool2d(2)
      local y = m:forward(nn.tensor{{rows}})
      local want, idx = ref_max_plane(rows, geometry(2, {}))
      H.assert_tensor(y, {{want}}, H.EXACT, "W = " .. W)
      H.assert_tensor(m.indices, {{idx}}, H.EXACT, "W = " .. W .. " indices")
    end
  end)

  it("overlapping windows (s < k) add their gradients at a shared max", function()
    local m = nn.MaxPool2d(2, 1)
    local y = m:forward(nn.tensor{{{{1, 2, 1}, {2, 9, 2}, {1, 2, 1}}}})
    H.assert_tensor(y, {{{{9, 9}, {9, 9}}}}, H.EXACT)
    H.assert_tensor(m.indices, {{{{5, 5}, {5, 5}}}}, H.EXACT)
    H.assert_tensor(m:backward(nn.tensor{{{{1, 2}, {3, 4}}}}),
                    {{{{0, 0, 0}, {0, 10, 0}, {0, 0, 0}}}}, H.EXACT)
  end)

  it("a dilated window with no tap inside the input gives -inf and position 0, and no gradient", function()
    -- k 2, dilation 3, padding 1 on H = 2: the taps are rows -1 and 2
    local m = nn.MaxPool2d({2, 1}, {dilation = {3, 1}, padding = {1, 0}})
    local y = m:forward(nn.tensor{{{{1, 2}, {3, 4}}}})
    H.assert_tensor(y, {{{{-math.huge, -math.huge}}}}, H.EXACT)
    H.assert_tensor(m.indices, {{{{0, 0}}}}, H.EXACT)
    H.assert_tensor(m:backward(nn.tensor{{{{1, 1}}}}), {{{{0, 0}, {0, 0}}}}, H.EXACT)
  end)

  it("passes gradcheck (inputs without ties): plain, overlapping, padded, dilated, ceil_mode", function()
    nn.manual_seed(12)
    H.assert_gradcheck(nn.MaxPool2d(2), distinct(2, 2, 4, 5))
    H.assert_gradcheck(nn.MaxPool2d(3, 1), distinct(1, 2, 5, 5))
    H.assert_gradcheck(nn.MaxPool2d(3, {stride = 2, padding = 1}), distinct(1, 2, 5, 6))
    H.assert_gradcheck(nn.MaxPool2d({2, 3}, {dilation = 2, ceil_mode = true}), distinct(1, 1, 6, 7))
  end)

  it("gradcheck fails on a wrong backward", function()
    nn.manual_seed(13)
    local inner = nn.MaxPool2d(2)
    local halved = {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g) return inner:backward(g) * 0.5 end,
    }
    assert.is_false((nn.gradcheck(halved, distinct(1, 1, 4, 4))))
    -- the gradient sent to the wrong pixel: the first of each window, not the max
    local first = {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g)
        local dx = nn.tensor.zeros(1, 1, 4, 4)
        for oh = 1, 2 do for ow = 1, 2 do
          dx:set(1, 1, 2 * oh - 1, 2 * ow - 1, g:get(1, 1, oh, ow))
        end end
        return dx
      end,
    }
    assert.is_false((nn.gradcheck(first, distinct(1, 1, 4, 4))))
  end)

  it("prints kernel_size and the options off their defaults; config() rebuilds it", function()
    assert.are.equal("nn.MaxPool2d(kernel_size=2)", tostring(nn.MaxPool2d(2)))
    assert.are.equal("nn.MaxPool2d(kernel_size=2)", tostring(nn.MaxPool2d(2, 2)))
    assert.are.equal("nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
                     tostring(nn.MaxPool2d(3, {stride = 2, padding = 1})))
    local m = nn.MaxPool2d({3, 5}, {stride = {1, 2}, padding = {1, 2}, dilation = 2, ceil_mode = true})
    assert.are.equal("nn.MaxPool2d(kernel_size=(3, 5), stride=(1, 2), padding=(1, 2), " ..
                     "dilation=2, ceil_mode=true)", tostring(m))
    assert.are.same({3, 5}, m.kernel_size)
    assert.are.same({1, 2}, m.stride)
    -- the stride's default is 0, meaning kernel_size (an option's default
    -- cannot name another option)
    assert.are.same({0, 0}, nn.MaxPool2d(2).stride)
    local cfg = m:config()
    assert.are.same(cfg, nn.MaxPool2d(cfg):config())
    -- PyTorch's positional order: kernel_size, stride, padding, dilation
    local pos = nn.MaxPool2d(3, 2, 1, 2)
    assert.are.same({2, 2}, pos.stride)
    assert.are.same({1, 1}, pos.padding)
    assert.are.same({2, 2}, pos.dilation)
  end)

  it("refuses bad options, naming the option", function()
    H.assert_error_has(function () nn.MaxPool2d() end, {"kernel_size must be given"})
    H.assert_error_has(function () nn.MaxPool2d(0) end, {"kernel_size must be a positive integer, got 0"})
    H.assert_error_has(function () nn.MaxPool2d(2.5) end, {"kernel_size must be a positive integer"})
    H.assert_error_has(function () nn.MaxPool2d(2, {stride = -1}) end,
                       {"stride must be a non-negative integer, got -1"})
    H.assert_error_has(function () nn.MaxPool2d(2, {padding = -1}) end,
                       {"padding must be a non-negative integer, got -1"})
    H.assert_error_has(function () nn.MaxPool2d(2, {dilation = 0}) end,
                       {"dilation must be a positive integer, got 0"})
    H.assert_error_has(function () nn.MaxPool2d(2, {ceil_mode = 1}) end,
                       {"ceil_mode' must be a boolean"})
    H.assert_error_has(function () nn.MaxPool2d({2, 3, 4}) end,
                       {"kernel_size must be an integer or a pair {h, w}, got a table of 3"})
    H.assert_error_has(function () nn.MaxPool2d(2, {return_indices = true}) end,
                       {"MaxPool2d has no option 'return_indices'"})
    H.assert_error_has(function () nn.MaxPool2d(2 ^ 31) end,
                       {"kernel_size must be at most 2^31 - 1"})
  end)

  it("refuses padding above kernel_size / 2, as PyTorch", function()
    H.assert_error_has(function () nn.MaxPool2d(3, {padding = 2}) end,
                       {"MaxPool2d: padding must be at most half of kernel_size", "got padding 2 for kernel_size 3"})
    H.assert_error_has(function () nn.MaxPool2d({4, 3}, {padding = {2, 2}}) end,
                       {"got padding 2 for kernel_size (4, 3)"})
    assert.is_not_nil(nn.MaxPool2d(3, {padding = 1}))
    assert.is_not_nil(nn.MaxPool2d(2, {padding = 1}))
  end)

  it("refuses an input that is not 4-D, or too small for the window, with the numbers", function()
    local m = nn.MaxPool2d(3)
    H.assert_error_has(function () m:forward(nn.tensor.ones(4, 5)) end,
                       {"bad argument #1 to 'forward'", "MaxPool2d: expected input [B x C x H x W], got [4x5]"})
    H.assert_error_has(function () m:forward(nn.tensor.ones(2, 4, 5)) end,
                       {"expected input [B x C x H x W], got [2x4x5]", "add the batch dim"})
    H.assert_error_has(function () m:forward(nn.tensor.ones(1, 1, 2, 5)) end,
                       {"MaxPool2d: input [1x1x2x5] is too small for the window", "planes of 2x5",
                        "kernel_size 3, stride 3, padding 0, dilation 1", "output of 0x1"})
    H.assert_error_has(function () nn.MaxPool2d(2, {dilation = 3}):forward(nn.tensor.ones(1, 1, 3, 9)) end,
                       {"output of 0x3"})
    H.assert_error_has(function () m:forward(nn.tensor.ones(1, 0, 5, 5)) end,
                       {"with C, H, W >= 1, got [1x0x5x5]"})
    H.assert_error_has(function () m:output_shape({1, 1, 2, 2}) end, {"too small for the window"})
    H.assert_error_has(function () m:forward(nn.tensor.ones(1, 1, 3, 3):int()) end, {"int32"})
  end)

  it("refuses a backward before any forward, and after a failed one", function()
    H.assert_error_has(function () nn.MaxPool2d(2):backward(nn.tensor.ones(1, 1, 2, 2)) end,
                       {"MaxPool2d", "backward before forward"})
    local m = nn.MaxPool2d(2)
    m:forward(nn.tensor.ones(1, 1, 4, 4))
    pcall(m.forward, m, nn.tensor.ones(4, 4))
    H.assert_error_has(function () m:backward(nn.tensor.ones(1, 1, 2, 2)) end,
                       {"MaxPool2d", "backward before forward"})
    m:forward(nn.tensor.ones(1, 1, 4, 4))
    H.assert_error_has(function () m:backward(nn.tensor.ones(1, 1, 3, 2)) end,
                       {"grad_output must have the output's shape [1x1x2x2], got [1x1x3x2]"})
  end)

  it("takes an empty batch", function()
    local m = nn.MaxPool2d(2)
    assert.are.same({0, 3, 2, 2}, m:forward(nn.tensor.zeros(0, 3, 4, 4)):size())
    assert.are.same({0, 3, 4, 4}, m:backward(nn.tensor.zeros(0, 3, 2, 2)):size())
  end)

  it("gives the same bits on 1 thread and on several", function()
    nn.manual_seed(14)
    local x = nn.tensor.randn(8, 16, 24, 24)          -- past the parallel threshold
    local g = nn.tensor.randn(8, 16, 12, 12)
    local threads = nn.get_num_threads()
    local function run (n)
      nn.set_num_threads(n)
      local m = nn.MaxPool2d(3, {stride = 2, padding = 1})
      local a = nn.AvgPool2d(3, {stride = 2, padding = 1})
      return { m:forward(x):clone(), m:backward(g):clone(), a:forward(x):clone(), a:backward(g):clone() }
    end
    local one, many = run(1), run(math.max(2, threads))
    nn.set_num_threads(threads)
    for i = 1, #one do assert.are.same(one[i]:view(-1):totable(), many[i]:view(-1):totable()) end
  end)
end)

describe("nn.AvgPool2d", function()
  for _, case in ipairs(avg_cases) do
    local name, shape, kernel, opts = case[1], case[2], case[3], case[4]
    it("forward as the reference: " .. name, function()
      nn.manual_seed(21)
      local x = nn.tensor.randn(shape)
      local layer = nn.AvgPool2d(kernel, opts)
      local y = layer:forward(x)
      local want = per_plane(x:totable(), ref_avg_plane, geometry(kernel, opts))
      H.assert_tensor(y, want, 1e-6, name)
      assert.are.same(layer:output_shape(shape), y:size())
    end)
  end

  it("a 4x4 plane by hand: k = 2 means; k = 3, s = 2, p = 1 with and without the padding counted", function()
    local x = nn.tensor.arange(1, 17):view(1, 1, 4, 4)
    H.assert_tensor(nn.AvgPool2d(2):forward(x), {{{{3.5, 5.5}, {11.5, 13.5}}}}, H.EXACT)
    -- window (0, 0) holds 1 2 5 6 and 5 zeros of padding: 14 / 9, or 14 / 4
    local with = nn.AvgPool2d(3, {stride = 2, padding = 1})
    H.assert_tensor(with:forward(x), {{{{14 / 9, 30 / 9}, {57 / 9, 99 / 9}}}}, H.ROUND)
    local without = nn.AvgPool2d(3, {stride = 2, padding = 1, count_include_pad = false})
    H.assert_tensor(without:forward(x), {{{{14 / 4, 30 / 6}, {57 / 6, 99 / 9}}}}, H.ROUND)
    -- backward: g / D spread over each window, the overlaps adding
    H.assert_tensor(with:backward(nn.tensor.full(1, 1, 2, 2, 9)),
                    {{{{1, 2, 1, 1}, {2, 4, 2, 2}, {1, 2, 1, 1}, {1, 2, 1, 1}}}}, H.ROUND)
  end)

  it("ceil_mode: the last window is cut at the padding, and its divisor with it", function()
    -- H = W = 5, k = 2, s = 2, ceil_mode: 3x3 windows, the last ones of one row/column
    local x = nn.tensor.ones(1, 1, 5, 5)
    H.assert_tensor(nn.AvgPool2d(2, {ceil_mode = true}):forward(x),
                    {{{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}}}, H.EXACT)
    -- k = 3, s = 2, p = 1 on H = 4, ceil_mode: windows start at -1, 1, 3; the
    -- last is rows 3..4 of which 4 is padding and 5 past it: divisor 2 rows
    local y = nn.AvgPool2d(3, {stride = 2, padding = 1, ceil_mode = true}):forward(nn.tensor.ones(1, 1, 4, 4))
    H.assert_tensor(y, {{{{4 / 9, 6 / 9, 2 / 6}, {6 / 9, 1, 3 / 6}, {2 / 6, 3 / 6, 1 / 4}}}}, H.ROUND)
  end)

  it("passes gradcheck: plain, overlapping, padded both ways, ceil_mode, non-square", function()
    nn.manual_seed(22)
    H.assert_gradcheck(nn.AvgPool2d(2), nn.tensor.randn(2, 2, 4, 5))
    H.assert_gradcheck(nn.AvgPool2d(3, 1), nn.tensor.randn(1, 2, 5, 5))
    H.assert_gradcheck(nn.AvgPool2d(3, {stride = 2, padding = 1}), nn.tensor.randn(1, 2, 5, 6))
    H.assert_gradcheck(nn.AvgPool2d(3, {stride = 2, padding = 1, count_include_pad = false,
                                        ceil_mode = true}), nn.tensor.randn(1, 1, 6, 5))
    H.assert_gradcheck(nn.AvgPool2d({2, 3}, {stride = {1, 2}}), nn.tensor.randn(1, 1, 5, 7))
  end)

  it("gradcheck fails on a wrong backward: the divisor of the other count_include_pad", function()
    nn.manual_seed(23)
    local inner = nn.AvgPool2d(3, {stride = 2, padding = 1, count_include_pad = false})
    local other = nn.AvgPool2d(3, {stride = 2, padding = 1})
    local wrong = {
      forward = function (_, x) other:forward(x) return inner:forward(x) end,
      backward = function (_, g) return other:backward(g) end,
    }
    assert.is_false((nn.gradcheck(wrong, nn.tensor.randn(1, 1, 5, 5))))
  end)

  it("prints kernel_size and the options off their defaults; config() rebuilds it", function()
    assert.are.equal("nn.AvgPool2d(kernel_size=2)", tostring(nn.AvgPool2d(2)))
    local a = nn.AvgPool2d({3, 2}, {stride = 1, padding = {1, 0}, count_include_pad = false})
    assert.are.equal("nn.AvgPool2d(kernel_size=(3, 2), stride=1, padding=(1, 0), " ..
                     "count_include_pad=false)", tostring(a))
    assert.are.equal("nn.AvgPool2d(kernel_size=2, ceil_mode=true)",
                     tostring(nn.AvgPool2d(2, {ceil_mode = true})))
    assert.are.same(a:config(), nn.AvgPool2d(a:config()):config())
  end)

  it("refuses bad options, padding above kernel_size / 2, a wrong rank and a small input", function()
    H.assert_error_has(function () nn.AvgPool2d(2, {dilation = 2}) end, {"AvgPool2d has no option 'dilation'"})
    H.assert_error_has(function () nn.AvgPool2d(2, {count_include_pad = "yes"}) end,
                       {"count_include_pad' must be a boolean"})
    H.assert_error_has(function () nn.AvgPool2d(2, {padding = 2}) end,
                       {"AvgPool2d: padding must be at most half of kernel_size"})
    H.assert_error_has(function () nn.AvgPool2d(2):forward(nn.tensor.ones(3, 4, 4, 4, 1)) end,
                       {"AvgPool2d: expected input [B x C x H x W], got [3x4x4x4x1]"})
    H.assert_error_has(function () nn.AvgPool2d({2, 5}):forward(nn.tensor.ones(2, 1, 4, 4)) end,
                       {"AvgPool2d: input [2x1x4x4] is too small", "kernel_size (2, 5), stride (2, 5), padding 0 give an output of 2x0"})
    H.assert_error_has(function () nn.AvgPool2d(2):backward(nn.tensor.ones(1, 1, 1, 1)) end,
                       {"AvgPool2d", "backward before forward"})
  end)
end)

describe("nn.AdaptiveAvgPool2d", function()
  for _, case in ipairs(adaptive_cases) do
    local name, shape, size = case[1], case[2], case[3]
    it("forward as the reference: " .. name, function()
      nn.manual_seed(31)
      local x = nn.tensor.randn(shape)
      local layer = nn.AdaptiveAvgPool2d(size)
      local y = layer:forward(x)
      local Ho, Wo = pair(size)
      H.assert_tensor(y, per_plane(x:totable(), ref_adaptive_plane, Ho, Wo), 1e-6, name)
      assert.are.same(layer:output_shape(shape), y:size())
    end)
  end

  it("by hand: 5 rows to 3 are rows 1-2, 2-4, 4-5; output_size 1 is the plane's mean", function()
    local x = nn.tensor{1, 2, 3, 4, 5}:view(1, 1, 5, 1)
    H.assert_tensor(nn.AdaptiveAvgPool2d({3, 1}):forward(x), {{{{1.5}, {3}, {4.5}}}}, H.EXACT)
    local m = nn.AdaptiveAvgPool2d(1)
    local y = m:forward(nn.tensor.arange(1, 17):view(1, 1, 4, 4))
    H.assert_tensor(y, {{{{8.5}}}}, H.EXACT)
    H.assert_tensor(m:backward(nn.tensor{{{{16}}}}), {{{{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}}}}, H.EXACT)
    -- the shared row 2 gets the shares of both windows
    local a = nn.AdaptiveAvgPool2d({3, 1})
    a:forward(x)
    H.assert_tensor(a:backward(nn.tensor{{{{2}, {3}, {4}}}}), {{{{1}, {1 + 1}, {1}, {1 + 2}, {2}}}}, H.EXACT)
  end)

  it("passes gradcheck: divisible, overlapping windows, global, larger than the input", function()
    nn.manual_seed(32)
    H.assert_gradcheck(nn.AdaptiveAvgPool2d({3, 2}), nn.tensor.randn(2, 2, 6, 4))
    H.assert_gradcheck(nn.AdaptiveAvgPool2d({3, 2}), nn.tensor.randn(1, 2, 7, 5))
    H.assert_gradcheck(nn.AdaptiveAvgPool2d(1), nn.tensor.randn(2, 3, 3, 4))
    H.assert_gradcheck(nn.AdaptiveAvgPool2d({4, 3}), nn.tensor.randn(1, 1, 3, 2))
  end)

  it("gradcheck fails on a wrong backward (the shared rows' second share forgotten)", function()
    nn.manual_seed(33)
    local inner = nn.AdaptiveAvgPool2d({3, 1})
    local wrong = {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g)
        local dx = inner:backward(g):clone()
        dx:set(1, 1, 2, 1, dx:get(1, 1, 2, 1) * 0.5)
        return dx
      end,
    }
    assert.is_false((nn.gradcheck(wrong, nn.tensor.randn(1, 1, 5, 1))))
  end)

  it("prints, rebuilds from config(), and refuses bad sizes and inputs", function()
    assert.are.equal("nn.AdaptiveAvgPool2d(output_size=1)", tostring(nn.AdaptiveAvgPool2d(1)))
    assert.are.equal("nn.AdaptiveAvgPool2d(output_size=(3, 2))", tostring(nn.AdaptiveAvgPool2d({3, 2})))
    local cfg = nn.AdaptiveAvgPool2d({3, 2}):config()
    assert.are.same({ type = "AdaptiveAvgPool2d", output_size = {3, 2} }, cfg)
    assert.are.same(cfg, nn.AdaptiveAvgPool2d(cfg):config())
    H.assert_error_has(function () nn.AdaptiveAvgPool2d() end, {"output_size must be given"})
    H.assert_error_has(function () nn.AdaptiveAvgPool2d(0) end, {"output_size must be a positive integer, got 0"})
    H.assert_error_has(function () nn.AdaptiveAvgPool2d({2, -1}) end, {"output_size must be a positive integer, got -1"})
    H.assert_error_has(function () nn.AdaptiveAvgPool2d(2):forward(nn.tensor.ones(4, 4)) end,
                       {"AdaptiveAvgPool2d: expected input [B x C x H x W], got [4x4]"})
    H.assert_error_has(function () nn.AdaptiveAvgPool2d(2):forward(nn.tensor.ones(1, 2, 0, 4)) end,
                       {"with C, H, W >= 1"})
    H.assert_error_has(function () nn.AdaptiveAvgPool2d(2):backward(nn.tensor.ones(1, 1, 2, 2)) end,
                       {"AdaptiveAvgPool2d", "backward before forward"})
  end)
end)

describe("other layers on 4-D input", function()
  it("nn.Dropout works element by element on (B, C, H, W)", function()
    nn.manual_seed(41)
    local d = nn.Dropout(0.5)
    local y = d:forward(nn.tensor.ones(4, 3, 5, 5))
    assert.are.same({4, 3, 5, 5}, y:size())
    assert.are.same({4, 3, 5, 5}, d.mask:size())
    -- single elements are dropped, not whole planes: some plane is mixed
    local mixed = false
    for b = 1, 4 do for c = 1, 3 do
      local s = y:narrow(1, b, 1):narrow(2, c, 1):sum()
      if s > 0 and s < 2 * 25 then mixed = true end
    end end
    assert.is_true(mixed)
    assert.are.same(y:totable(), d:backward(nn.tensor.ones(4, 3, 5, 5)):totable())
    H.assert_gradcheck(nn.Dropout(0.3), nn.tensor.randn(2, 2, 3, 3))
  end)

  it("nn.Flatten makes (B, C, H, W) into (B, C*H*W), a live view; the gradient comes back 4-D", function()
    local x = nn.tensor.arange(0, 2 * 3 * 2 * 2):view(2, 3, 2, 2)
    local f = nn.Flatten()
    local y = f:forward(x)
    assert.are.same({2, 12}, y:size())
    -- row-major: y[b][c*H*W + h*W + w + 1] = x[b][c][h][w]
    assert.are.equal(x:get(2, 3, 1, 2), y:get(2, 2 * 4 + 0 * 2 + 1 + 1))
    H.assert_tensor(y, {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
                        {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}}, H.EXACT)
    x:set(1, 2, 2, 1, -5)                     -- the same memory
    assert.are.equal(-5, y:get(1, 7))
    local g = f:backward(nn.tensor.arange(0, 24):view(2, 12))
    assert.are.same({2, 3, 2, 2}, g:size())
    assert.are.equal(23, g:get(2, 3, 2, 2))
    assert.are.same({7, 3 * 5 * 4}, f:output_shape({7, 3, 5, 4}))
  end)

  it("the pooled output of a MaxPool2d flattens into a Linear", function()
    local pool, flat = nn.MaxPool2d(2), nn.Flatten()
    local y = flat:forward(pool:forward(nn.tensor.randn(3, 2, 4, 6)))
    assert.are.same({3, 2 * 2 * 3}, y:size())
    assert.are.same({3, 4}, nn.Linear(12, 4):forward(y):size())
  end)
end)

describe("a model with pooling", function()
  -- 8x8 one-channel images: a bright 2x2 spot in one of 4 quadrants on
  -- weak noise; the class is the quadrant
  local function spots (n, seed)
    nn.manual_seed(seed)
    local x = nn.tensor.randn(n, 1, 8, 8) * 0.1
    local labels = {}
    for i = 1, n do
      local q = (i * 7) % 4 + 1
      labels[i] = q
      local r0, c0 = (q - 1) // 2 * 4 + 2, (q - 1) % 2 * 4 + 2
      for r = r0, r0 + 1 do for c = c0, c0 + 1 do x:set(i, 1, r, c, 2) end end
    end
    return x, nn.tensor(labels)
  end

  it("MaxPool2d -> Flatten -> Linear trains: the loss falls over a few steps", function()
    local x, y = spots(32, 51)
    local m = nn.Sequential{ nn.MaxPool2d(4), nn.Flatten(), nn.Linear(4, 4), nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.5 }, accuracy = true }
    local first = m:step(x, y)
    local last
    for _ = 1, 30 do last = m:step(x, y) end
    assert.is_true(last < first * 0.5, ("loss %g -> %g"):format(first, last))
    local _, acc = m:evaluate(x, y)
    assert.is_true(acc > 0.9, "accuracy " .. acc)
  end)

  it("AvgPool2d, MaxPool2d, Dropout2d, AdaptiveAvgPool2d between Linear layers train and round-trip a checkpoint", function()
    local x, y = spots(32, 52)
    local m = nn.Sequential{ nn.AvgPool2d(2), nn.MaxPool2d(2, {stride = 1, padding = 1}),
                             nn.Dropout2d(0.1), nn.AdaptiveAvgPool2d({2, 2}), nn.Flatten(),
                             nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.Adam{ lr = 0.05 } }
    local first = m:step(x, y)
    local last
    for _ = 1, 20 do last = m:step(x, y) end
    assert.is_true(last < first, ("loss %g -> %g"):format(first, last))
    local path = os.tmpname()
    m:save(path)
    local m2 = nn.load(path)
    os.remove(path)
    for i, layer in ipairs(m.layers) do
      assert.are.same(layer:config(), m2.layers[i]:config(), "layer " .. i)
    end
    H.assert_tensor(m2:predict(x), m:predict(x):totable(), H.EXACT)
  end)
end)

describe("the pure pairs as functions (nn.F)", function()
  it("max_pool2d and its backward give what the layer gives", function()
    nn.manual_seed(61)
    local x = nn.tensor.randn(2, 3, 7, 6)
    local g = nn.tensor.randn(2, 3, 4, 3)
    local opts = {stride = 2, padding = 1, dilation = {1, 2}, ceil_mode = true}
    local m = nn.MaxPool2d(3, opts)
    local want_y, want_dx = m:forward(x):clone(), m:backward(g):clone()
    local y, idx = nn.F.max_pool2d(x, 3, opts)
    H.assert_tensor(y, want_y:totable(), H.EXACT)
    H.assert_tensor(idx, m.indices:totable(), H.EXACT)
    assert.are.equal("int32", idx.dtype)
    H.assert_tensor(nn.F.max_pool2d_backward(g, x, idx, 3, opts), want_dx:totable(), H.EXACT)
    -- the stride defaults to the kernel_size
    H.assert_tensor(nn.F.max_pool2d(x, {2, 3}), nn.MaxPool2d({2, 3}):forward(x):totable(), H.EXACT)
  end)

  it("avg_pool2d, adaptive_avg_pool2d, dropout2d and their backwards give what the layers give", function()
    nn.manual_seed(62)
    local x = nn.tensor.randn(2, 3, 7, 6)
    local opts = {stride = {2, 1}, padding = 1, ceil_mode = true, count_include_pad = false}
    local a = nn.AvgPool2d(3, opts)
    local y = a:forward(x)
    local g = nn.tensor.randn(y:size())
    H.assert_tensor(nn.F.avg_pool2d(x, 3, opts), y:totable(), H.EXACT)
    H.assert_tensor(nn.F.avg_pool2d_backward(g, x, 3, opts), a:backward(g):totable(), H.EXACT)
    local ad = nn.AdaptiveAvgPool2d({3, 4})
    local ya = ad:forward(x)
    local ga = nn.tensor.randn(ya:size())
    H.assert_tensor(nn.F.adaptive_avg_pool2d(x, {3, 4}), ya:totable(), H.EXACT)
    H.assert_tensor(nn.F.adaptive_avg_pool2d_backward(ga, x), ad:backward(ga):totable(), H.EXACT)
    nn.manual_seed(63)
    local d = nn.Dropout2d(0.5)
    local yd = d:forward(x):clone()
    nn.manual_seed(63)
    local yf, mask = nn.F.dropout2d(x, 0.5)
    H.assert_tensor(yf, yd:totable(), H.EXACT)
    assert.are.same({2, 3, 1, 1}, mask:size())
    H.assert_tensor(nn.F.dropout2d_backward(x, mask), d:backward(x):totable(), H.EXACT)
    local ye, empty = nn.F.dropout2d(x, 0.5, false)
    H.assert_tensor(ye, x:totable(), H.EXACT)
    assert.are.equal(0, empty:numel())
  end)

  it("raise with the layers' messages, blaming the argument", function()
    local x = nn.tensor.randn(1, 1, 4, 4)
    H.assert_error_has(function () nn.F.max_pool2d(nn.tensor.randn(4, 4), 2) end,
                       {"bad argument #1 to 'max_pool2d'", "MaxPool2d: expected input [B x C x H x W], got [4x4]"})
    H.assert_error_has(function () nn.F.max_pool2d(x, 5) end, {"too small for the window"})
    H.assert_error_has(function () nn.F.max_pool2d(x) end, {"kernel_size must be given"})
    H.assert_error_has(function () nn.F.max_pool2d(x, 0) end, {"kernel_size must be a positive integer"})
    H.assert_error_has(function () nn.F.max_pool2d(x, 2, {strid = 1}) end, {"strid"})
    H.assert_error_has(function () nn.F.max_pool2d(x, 3, {padding = 2}) end,
                       {"padding must be at most half of kernel_size"})
    H.assert_error_has(function () nn.F.avg_pool2d(x, 2, {dilation = 2}) end, {"dilation"})
    H.assert_error_has(function () nn.F.adaptive_avg_pool2d(x, {0, 1}) end,
                       {"output_size must be a positive integer"})
    local _, idx = nn.F.max_pool2d(x, 2)
    H.assert_error_has(function () nn.F.max_pool2d_backward(nn.tensor.ones(1, 1, 3, 3), x, idx, 2) end,
                       {"bad argument #1 to 'max_pool2d_backward'", "grad_y must be [1x1x2x2], got [1x1x3x3]"})
    H.assert_error_has(function () nn.F.max_pool2d_backward(nn.tensor.ones(1, 1, 2, 2), x, idx:float(), 2) end,
                       {"bad argument #3 to 'max_pool2d_backward'", "indices must be an int32 tensor"})
    H.assert_error_has(function () nn.F.dropout2d(nn.tensor.ones(2, 2), 0.5) end,
                       {"Dropout2d: expected input [B x C x H x W], got [2x2]"})
  end)
end)
