--- spec/conv2d_spec.lua -- nn.Conv2d: forward against a naive convolution
-- written here in plain Lua loops, backward by nn.gradcheck (and a wrong
-- backward that it must reject), the options, the errors, the buffers, and
-- a small model that learns.
local nn = require "nn"
local H = require "spec.helpers"

-- float32 products summed over C/groups kh kw terms (up to 36 here) of
-- size ~1, against the same sums in double: each addition rounds by half an
-- ulp of the partial sum, ~36 * 6e-8 * 10 ~ 2e-5 at worst; 1e-4 keeps a
-- margin, and a wrong index, tap or padding is off by 1e-2 or more.
local TOL = 1e-4

-- PyTorch's output size along one axis
local function out_size (n, k, s, p, d)
  return (n + 2 * p - d * (k - 1) - 1) // s + 1
end

-- y = conv2d(x, w, b) by its definition, in double: the 7 loops over the
-- batch, output channels, output rows and columns, input channels of the
-- group and the kernel's rows and columns.  s, p, d: {h, w} pairs.
local function naive_conv (x, w, b, s, p, d, groups)
  local X, Wt = x:totable(), w:totable()
  local bias = b and b:totable() or nil
  local B, C, Hh, Ww = table.unpack(x.shape)
  local O, Cg, kh, kw = table.unpack(w.shape)
  assert(C == Cg * groups)
  local Ho, Wo = out_size(Hh, kh, s[1], p[1], d[1]), out_size(Ww, kw, s[2], p[2], d[2])
  local y = {}
  for bb = 1, B do
    y[bb] = {}
    for o = 1, O do
      local group = (o - 1) // (O // groups)
      local plane = {}
      for oh = 1, Ho do
        local row = {}
        for ow = 1, Wo do
          local acc = bias and bias[o] or 0
          for c2 = 1, Cg do
            local c = group * Cg + c2
            for ki = 1, kh do
              local ih = (oh - 1) * s[1] - p[1] + (ki - 1) * d[1]
              for kj = 1, kw do
                local iw = (ow - 1) * s[2] - p[2] + (kj - 1) * d[2]
                if ih >= 0 and ih < Hh and iw >= 0 and iw < Ww then
                  acc = acc + Wt[o][c2][ki][kj] * X[bb][c][ih + 1][iw + 1]
                end
              end
            end
          end
          row[ow] = acc
        end
        plane[oh] = row
      end
      y[bb][o] = plane
    end
  end
  return y
end

local function pair (v) return type(v) == "table" and v or { v, v } end

-- the layer's options as the naive convolution takes them
local function check_forward (layer, x)
  local y = layer:forward(x)
  local want = naive_conv(x, layer.weight, layer.bias, pair(layer.stride), pair(layer.padding),
                          pair(layer.dilation), layer.groups)
  H.assert_tensor(y, want, TOL, tostring(layer))
end

-- the configurations both the forward and the gradient checks run
local configs = {
  { "odd sizes", function () return nn.Conv2d(3, 5, 3) end, {2, 3, 7, 9} },
  { "stride 2", function () return nn.Conv2d(2, 4, 3, {stride = 2}) end, {2, 2, 9, 8} },
  { "padding 1", function () return nn.Conv2d(2, 3, 3, {padding = 1}) end, {2, 2, 5, 6} },
  { "dilation 2", function () return nn.Conv2d(2, 3, 3, {dilation = 2, padding = 1}) end,
    {2, 2, 8, 7} },
  { "groups 2", function () return nn.Conv2d(4, 6, 3, {groups = 2}) end, {2, 4, 6, 5} },
  { "batch 1", function () return nn.Conv2d(3, 2, 3, {padding = 1, stride = 2}) end,
    {1, 3, 5, 5} },
  { "non-square kernel {2, 3}, stride {2, 1}, padding {1, 0}", function ()
      return nn.Conv2d(2, 3, {2, 3}, {stride = {2, 1}, padding = {1, 0}}) end, {2, 2, 7, 6} },
  { "batch 20, stride 2 (on the CPU: groups of 2 images, im2col's rows split between them)",
    function () return nn.Conv2d(2, 3, 3, {stride = 2}) end, {20, 2, 9, 8} },
  { "1x1 (the path without im2col)", function () return nn.Conv2d(4, 6, 1) end, {3, 4, 5, 4} },
  { "1x1 with groups 2", function () return nn.Conv2d(4, 6, 1, {groups = 2}) end, {2, 4, 3, 3} },
  { "1x1 with stride 2 (through im2col)", function () return nn.Conv2d(3, 2, 1, {stride = 2}) end,
    {2, 3, 5, 5} },
  -- stride 1 and Wo = W: im2col copies each row of cols as one block (conv.c,
  -- im2col_plane_same); the second has taps that read no pixel at all
  { "output as wide as the input: padding {1, 2}, dilation 2", function ()
      return nn.Conv2d(3, 2, 3, {padding = {1, 2}, dilation = 2}) end, {2, 3, 6, 7} },
  { "output as wide as the input, taps off the image: kernel 5, dilation {2, 3}, padding {5, 6}",
    function () return nn.Conv2d(2, 3, 5, {dilation = {2, 3}, padding = {5, 6}}) end,
    {2, 2, 3, 4} },
  { "no bias, dilation {2, 1}, groups 3", function ()
      return nn.Conv2d(3, 6, 2, {bias = false, dilation = {2, 1}, groups = 3}) end, {2, 3, 6, 5} },
}

describe("nn.Conv2d forward", function()
  it("a 3x3 kernel of ones sums each patch (by hand: 1x4x4 input 0..15)", function()
    local l = nn.Conv2d(1, 1, 3)
    l.weight:fill_(1)
    l.bias:zero_()
    local x = nn.tensor.arange(0, 16):view(1, 1, 4, 4)
    -- patch (0,0): 0+1+2+4+5+6+8+9+10 = 45; each step right adds 9, down 36
    H.assert_tensor(l:forward(x), {{{{45, 54}, {81, 90}}}}, H.EXACT)
  end)

  for _, c in ipairs(configs) do
    it("matches the naive 7-loop convolution: " .. c[1], function()
      nn.manual_seed(41)
      check_forward(c[2](), nn.tensor.randn(c[3]))
    end)
  end

  -- the configurations above are small: a strided layer's im2col takes its
  -- taps from a table (conv.c, tap_table); a larger plane takes the row loops
  it("matches the naive convolution on planes too large for im2col's tap table", function()
    nn.manual_seed(43)
    check_forward(nn.Conv2d(2, 3, 3, {stride = {1, 2}, padding = 1}), nn.tensor.randn(2, 2, 47, 61))
    check_forward(nn.Conv2d(1, 2, 5, {dilation = 2}), nn.tensor.randn(1, 1, 70, 66))
  end)

  it("has PyTorch's output size: floor((H + 2p - d (k - 1) - 1) / s) + 1", function()
    local l = nn.Conv2d(1, 2, {3, 2}, {stride = {2, 3}, padding = {1, 2}, dilation = {2, 1}})
    local y = l:forward(nn.tensor.randn(1, 1, 10, 11))
    assert.are.same({1, 2, out_size(10, 3, 2, 1, 2), out_size(11, 2, 3, 2, 1)}, y:size())
    assert.are.same({1, 2, 4, 5}, y:size())
    assert.are.same(y:size(), l:output_shape({1, 1, 10, 11}))
  end)
end)

-- A Lua layer around a real Conv2d whose backward is wrong in one way:
-- "scale" returns 1.05 dL/dx; "bias" drops dL/db; nil changes nothing (the
-- control that shows the wrapper itself is sound).
local function wrapped_conv (make, wrong)
  local inner = make()
  local w = {}
  function w:forward (x) return inner:forward(x) end
  function w:backward (g)
    local dx = inner:backward(g)
    if wrong == "scale" then return dx * 1.05 end
    if wrong == "bias" then inner.grad_bias:zero_() end
    return dx
  end
  function w:parameters () return inner:parameters() end
  return w
end

describe("nn.Conv2d backward", function()
  for i, c in ipairs(configs) do
    it("gradcheck of input, weight and bias: " .. c[1], function()
      nn.manual_seed(50 + i)
      H.assert_gradcheck(c[2](), nn.tensor.randn(c[3]))
    end)
  end

  it("gradcheck fails on a backward that scales dL/dx by 1.05 or drops dL/db", function()
    nn.manual_seed(61)
    local make = function () return nn.Conv2d(2, 3, 3, {padding = 1}) end
    local x = nn.tensor.randn(2, 2, 5, 4)
    assert.is_true((nn.gradcheck(wrapped_conv(make, nil), x)), "the sound wrapper must pass")
    local ok_s, rep_s = nn.gradcheck(wrapped_conv(make, "scale"), x)
    assert.is_false(ok_s)
    assert.truthy(rep_s.failed_at:find("^input"), rep_s.failed_at)
    local ok_b, rep_b = nn.gradcheck(wrapped_conv(make, "bias"), x)
    assert.is_false(ok_b)
    assert.truthy(rep_b.failed_at:find("bias"), rep_b.failed_at)
  end)

  it("accumulates by default, sets with {accumulate = false}, and {grad_input = false} "
     .. "leaves grad_input alone", function()
    nn.manual_seed(62)
    local l = nn.Conv2d(2, 3, 3, {padding = 1})
    local x = nn.tensor.randn(2, 2, 4, 5)
    local g = nn.tensor.randn(l:forward(x):size())
    local dx = l:backward(g):clone()
    local dw, db = l.grad_weight:clone(), l.grad_bias:clone()
    l:backward(g)
    H.assert_tensor(l.grad_weight, (dw * 2):totable(), H.ROUND, "twice accumulates")
    H.assert_tensor(l.grad_bias, (db * 2):totable(), H.ROUND)
    l.grad_input:fill_(7)
    l:backward(g, {accumulate = false, grad_input = false})
    H.assert_tensor(l.grad_weight, dw:totable(), H.EXACT, "accumulate = false sets")
    H.assert_tensor(l.grad_bias, db:totable(), H.EXACT)
    assert.are.equal(7, l.grad_input:max())
    assert.are.equal(7, l.grad_input:min())
    H.assert_tensor(l:backward(g), dx:totable(), H.EXACT)
  end)

  it("takes a batch of another size on the next call (buffers resized), with the same "
     .. "numbers as a fresh layer", function()
    nn.manual_seed(63)
    local a = nn.Conv2d(3, 4, 3, {stride = 2, padding = 1})
    local b = nn.Conv2d(3, 4, 3, {stride = 2, padding = 1})
    b.weight:copy(a.weight)
    b.bias:copy(a.bias)
    local x4, x2 = nn.tensor.randn(4, 3, 7, 6), nn.tensor.randn(2, 3, 7, 6)
    local y4 = a:forward(x4):clone()
    local g4 = nn.tensor.randn(y4:size())
    local dx4 = a:backward(g4, {accumulate = false}):clone()
    local y2 = a:forward(x2):clone()
    local g2 = nn.tensor.randn(y2:size())
    local dx2 = a:backward(g2, {accumulate = false}):clone()
    assert.are.same({2, 4, 4, 3}, a.output:size())
    H.assert_tensor(y2, b:forward(x2):totable(), H.EXACT, "batch 2 after batch 4")
    H.assert_tensor(dx2, b:backward(g2, {accumulate = false}):totable(), H.EXACT)
    H.assert_tensor(a.grad_weight, b.grad_weight:totable(), H.EXACT)
    H.assert_tensor(a:forward(x4), y4:totable(), H.EXACT, "batch 4 again")
    H.assert_tensor(a:backward(g4, {accumulate = false}), dx4:totable(), H.EXACT)
  end)

  it("the backward uses the columns of its layer's last forward", function()
    -- the columns (im2col of x) of the forward serve the backward: two
    -- layers on two inputs, interleaved; each keeps its own
    nn.manual_seed(64)
    local l1, l2 = nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 3)
    l2.weight:copy(l1.weight)
    l2.bias:copy(l1.bias)
    local xa, xb = nn.tensor.randn(1, 2, 5, 5), nn.tensor.randn(1, 2, 5, 5)
    local g = nn.tensor.randn(1, 2, 3, 3)
    l1:forward(xa)
    l2:forward(xb)
    l1:backward(g, {accumulate = false})
    l2:forward(xa)
    l2:backward(g, {accumulate = false})
    H.assert_tensor(l1.grad_weight, l2.grad_weight:totable(), H.EXACT)
  end)

  it("a batch in many groups of images (more than dW's 8 partial sums, a short last group) "
     .. "gives each image's y and dx as that image alone, and dW, db their sums", function()
    -- 35 images of 16 x 16 x 16: on the CPU 12 groups of 3 (the last of 2),
    -- so 4 of the 8 partial sums of dW take two groups; with groups = 2
    nn.manual_seed(71)
    local l = nn.Conv2d(16, 4, 3, {padding = 1, groups = 2})
    local x, g = nn.tensor.randn(35, 16, 16, 16), nn.tensor.randn(35, 4, 16, 16)
    local y = l:forward(x):clone()
    local dx = l:backward(g, {accumulate = false}):clone()
    local dw, db = l.grad_weight:clone(), l.grad_bias:clone()
    local one = nn.Conv2d(16, 4, 3, {padding = 1, groups = 2})
    one.weight:copy(l.weight)
    one.bias:copy(l.bias)
    local sum_w, sum_b = nn.tensor.zeros(4, 8, 3, 3), nn.tensor.zeros(4)
    for b = 1, 35 do
      local xb, gb = x:narrow(1, b, 1):clone(), g:narrow(1, b, 1):clone()
      H.assert_tensor(y:narrow(1, b, 1), one:forward(xb):totable(), H.EXACT, "y of image " .. b)
      H.assert_tensor(dx:narrow(1, b, 1), one:backward(gb, {accumulate = false}):totable(),
                      H.EXACT, "dx of image " .. b)
      sum_w:add_(one.grad_weight)
      sum_b:add_(one.bias_grad or one.grad_bias)
    end
    -- sums of 35 x 256 products of size ~1 in two orders: ~1e-4 apart at most
    H.assert_tensor(dw, sum_w:totable(), 1e-3, "dW")
    H.assert_tensor(db, sum_b:totable(), 1e-3, "db")
    -- accumulate: a second backward adds the same again
    l:backward(g)
    H.assert_tensor(l.grad_weight, (dw * 2):totable(), 1e-5, "dW accumulated")
  end)

  it("gives the same bits on 1, 2 and 3 threads (im2col, groups of images, 1x1 paths)", function()
    local function run (threads, make, shape)
      local saved = nn.get_num_threads()
      nn.set_num_threads(threads)
      nn.manual_seed(66)
      local l = make()
      local x = nn.tensor.randn(shape)
      local y = l:forward(x):clone()
      local dx = l:backward(nn.tensor.randn(y:size())):clone()
      nn.set_num_threads(saved)
      return { y, dx, l.grad_weight:clone(), l.grad_bias:clone() }
    end
    -- the second and third: more groups of images than dW's 8 partial sums,
    -- groups of 2 and 3 images with a short last one, slots taken in turn
    for _, c in ipairs{ { function () return nn.Conv2d(8, 16, 3, {padding = 1}) end, {6, 8, 12, 11} },
                        { function () return nn.Conv2d(2, 3, 3, {stride = 2}) end, {21, 2, 9, 8} },
                        { function () return nn.Conv2d(16, 4, 3, {padding = 1, groups = 2}) end,
                          {35, 16, 16, 16} },
                        { function () return nn.Conv2d(16, 8, 1, {groups = 2}) end, {6, 16, 9, 9} },
                        -- 1x1, two images: the threads take whole products on 2
                        -- threads, and on 1 and 3 the products run in turn, their
                        -- tiles shared among the threads (cpu_gemm)
                        { function () return nn.Conv2d(64, 32, 1) end, {2, 64, 24, 24} } } do
      local one = run(1, c[1], c[2])
      for _, threads in ipairs{ 2, 3 } do
        local other = run(threads, c[1], c[2])
        for i = 1, #one do
          H.assert_tensor(other[i], one[i]:totable(), H.EXACT, threads .. " threads, result " .. i)
        end
      end
    end
  end)

  it("l(l(x)) with a square layer computes as on a copy of the first output", function()
    nn.manual_seed(65)
    local l = nn.Conv2d(2, 2, 3, {padding = 1})
    local x = nn.tensor.randn(2, 2, 4, 4)
    local want = l:forward(l:forward(x):clone()):clone()
    H.assert_tensor(l(l(x)), want:totable(), H.EXACT)
  end)
end)

describe("nn.Conv2d options", function()
  it("takes a number, a pair {h, w}, or an options table, and shows pairs", function()
    local a = nn.Conv2d(1, 2, 3)
    assert.are.same({3, 3}, a.kernel_size)
    assert.are.same({1, 1}, a.stride)
    assert.are.same({0, 0}, a.padding)
    assert.are.same({1, 1}, a.dilation)
    assert.are.equal(1, a.groups)
    local b = nn.Conv2d(1, 2, {2, 3}, {stride = {2, 1}, padding = 1, dilation = {1, 2}})
    assert.are.same({2, 3}, b.kernel_size)
    assert.are.same({2, 1}, b.stride)
    assert.are.same({1, 1}, b.padding)
    assert.are.same({1, 2}, b.dilation)
    local c = nn.Conv2d{in_channels = 4, out_channels = 6, kernel_size = {3, 1}, groups = 2,
                        bias = false}
    assert.are.same({3, 1}, c.kernel_size)
    assert.are.equal(2, c.groups)
    assert.is_nil(c.bias)
    assert.are.same({6, 2, 3, 1}, c.weight:size())
  end)

  it("config() round trip: nn[cfg.type](cfg) gives the same layer", function()
    local l = nn.Conv2d(4, 6, {3, 5}, {stride = 2, padding = {1, 2}, dilation = {2, 1},
                                       groups = 2, bias = false})
    local cfg = l:config()
    assert.are.same({ type = "Conv2d", in_channels = 4, out_channels = 6, kernel_size = {3, 5},
                      stride = {2, 2}, padding = {1, 2}, dilation = {2, 1}, groups = 2,
                      bias = false }, cfg)
    local again = nn[cfg.type](cfg)
    assert.are.same(cfg, again:config())
    assert.are.equal(tostring(l), tostring(again))
  end)

  it("prints readably: in -> out, then what differs from the defaults", function()
    assert.are.equal("nn.Conv2d(1 -> 32, kernel_size=3)", tostring(nn.Conv2d(1, 32, 3)))
    assert.are.equal("nn.Conv2d(1 -> 32, kernel_size=3, stride=2)",
                     tostring(nn.Conv2d(1, 32, 3, {stride = 2})))
    assert.are.equal("nn.Conv2d(4 -> 8, kernel_size=(3, 5), padding=(1, 2), dilation=2, "
                     .. "groups=2, bias=false)",
                     tostring(nn.Conv2d(4, 8, {3, 5}, {padding = {1, 2}, dilation = 2,
                                                       groups = 2, bias = false})))
  end)

  it("starts as PyTorch: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded", function()
    nn.manual_seed(7)
    local l = nn.Conv2d(4, 64, {3, 2}, {groups = 2})      -- fan_in = 2 * 3 * 2 = 12
    local bound = 1 / math.sqrt(12)
    assert.is_true(l.weight:max() <= bound and l.weight:min() >= -bound)
    assert.is_true(l.weight:max() > 0.9 * bound and l.weight:min() < -0.9 * bound)
    assert.is_true(l.bias:max() <= bound and l.bias:min() >= -bound)
    assert.is_true(l.bias:max() > 0.5 * bound and l.bias:min() < -0.5 * bound)
    nn.manual_seed(7)
    local again = nn.Conv2d(4, 64, {3, 2}, {groups = 2})
    H.assert_tensor(again.weight, l.weight:totable(), H.EXACT, "same seed, same weights")
  end)

  it("output and weight are live tensors of the right shapes", function()
    local l = nn.Conv2d(3, 5, {3, 2}, {padding = 1})
    assert.are.same({5, 3, 3, 2}, l.weight:size())
    assert.are.same({5}, l.bias:size())
    local out = l.output
    local y = l:forward(nn.tensor.randn(2, 3, 6, 7))
    assert.are.same({2, 5, 6, 8}, l.output:size())
    assert.are.same({2, 5, 6, 8}, out:size(), "the box taken before the forward")
    assert.are.equal(y, l.output)
    l:forward(nn.tensor.randn(1, 3, 4, 4))
    assert.are.same({1, 5, 4, 5}, out:size())
    l:backward(nn.tensor.ones(1, 5, 4, 5))
    assert.are.same({1, 3, 4, 4}, l.grad_input:size())
    assert.are.same({5, 3, 3, 2}, l.grad_weight:size())
  end)
end)

describe("nn.Conv2d errors", function()
  it("in_channels or out_channels not divisible by groups names both", function()
    H.assert_error_has(function () nn.Conv2d(3, 8, 3, {groups = 2}) end,
                       {"Conv2d: in_channels (3) and out_channels (8) must both be divisible "
                        .. "by groups (2)"})
    H.assert_error_has(function () nn.Conv2d(4, 6, 3, {groups = 4}) end,
                       {"in_channels (4) and out_channels (6)", "groups (4)"})
  end)

  it("kernel_size, stride, dilation, groups >= 1 and padding >= 0", function()
    H.assert_error_has(function () nn.Conv2d(1, 2, 0) end,
                       {"bad argument #3 to 'Conv2d'", "kernel_size must be a positive integer, got 0"})
    H.assert_error_has(function () nn.Conv2d(1, 2, {3, 0}) end,
                       {"kernel_size must be a positive integer, got 0"})
    H.assert_error_has(function () nn.Conv2d(1, 2, 3, {stride = 0}) end,
                       {"stride must be a positive integer, got 0"})
    H.assert_error_has(function () nn.Conv2d(1, 2, 3, {dilation = {1, -2}}) end,
                       {"dilation must be a positive integer, got -2"})
    H.assert_error_has(function () nn.Conv2d(1, 2, 3, {padding = -1}) end,
                       {"padding must be a non-negative integer, got -1", "got -1"})
    H.assert_error_has(function () nn.Conv2d(1, 2, 3, {groups = 0}) end,
                       {"groups must be a positive integer, got 0"})
    H.assert_error_has(function () nn.Conv2d(1, 2, 2.5) end,
                       {"kernel_size must be a positive integer, got 2.5"})
    H.assert_error_has(function () nn.Conv2d(1, 2, {1, 2, 3}) end,
                       {"kernel_size must be an integer or a pair {h, w}, got a table of 3"})
    H.assert_error_has(function () nn.Conv2d(1, 2) end, {"kernel_size must be given"})
  end)

  it("input not 4-D, or of the wrong channels, names the layer, the expected and the shape got",
     function()
    local l = nn.Conv2d(3, 4, 3, {stride = 2})
    H.assert_error_has(function () l:forward(nn.tensor.randn(3, 5, 5)) end,
                       {"bad argument #1 to 'forward'", "Conv2d(3 -> 4, kernel_size=3, stride=2): "
                        .. "expected input [B x 3 x H x W], got [3x5x5]"})
    H.assert_error_has(function () l:forward(nn.tensor.randn(2, 1, 5, 5)) end,
                       {"Conv2d(3 -> 4, kernel_size=3, stride=2): expected input [B x 3 x H x W], "
                        .. "got [2x1x5x5]"})
  end)

  it("an input smaller than the (dilated) kernel says so, with the numbers", function()
    H.assert_error_has(function () nn.Conv2d(1, 1, 5):forward(nn.tensor.randn(2, 1, 3, 7)) end,
                       {"Conv2d(1 -> 1, kernel_size=5): the input [2x1x3x7] is too small for "
                        .. "the kernel: 3x7 with padding 0x0 against a kernel of 5x5 spanning "
                        .. "5x5 at dilation 1x1"})
    H.assert_error_has(function ()
      nn.Conv2d(1, 1, 3, {dilation = 3, padding = 1}):forward(nn.tensor.randn(1, 1, 4, 9))
    end, {"too small for the kernel", "spanning 7x7 at dilation 3x3"})
    H.assert_error_has(function () nn.Conv2d(1, 1, 3):output_shape({1, 1, 2, 2}) end,
                       {"bad argument #1 to 'output_shape'", "too small for the kernel"})
  end)

  it("a backward with a grad_output of another shape, or before forward, is refused", function()
    local l = nn.Conv2d(1, 2, 3)
    H.assert_error_has(function () l:backward(nn.tensor.ones(1, 2, 3, 3)) end,
                       {"backward before forward"})
    l:forward(nn.tensor.randn(1, 1, 5, 5))
    H.assert_error_has(function () l:backward(nn.tensor.ones(1, 2, 3, 4)) end,
                       {"grad_output must have the output's shape [1x2x3x3], got [1x2x3x4]"})
  end)
end)

describe("nn.F.conv2d and nn.F.conv2d_backward (the pure pair, no module)", function()
  it("give the layer's numbers, bit for bit", function()
    nn.manual_seed(81)
    local opts = {stride = {2, 1}, padding = 1, dilation = {1, 2}, groups = 2}
    local l = nn.Conv2d(4, 6, {3, 2}, opts)
    local x = nn.tensor.randn(2, 4, 7, 6)
    local y = nn.F.conv2d(x, l.weight, l.bias, opts)
    H.assert_tensor(y, l:forward(x):totable(), H.EXACT)
    local g = nn.tensor.randn(y:size())
    local gx, gw, gb = nn.F.conv2d_backward(g, x, l.weight, opts)
    l:backward(g, {accumulate = false})
    H.assert_tensor(gx, l.grad_input:totable(), H.EXACT)
    H.assert_tensor(gw, l.grad_weight:totable(), H.EXACT)
    H.assert_tensor(gb, l.grad_bias:totable(), H.EXACT)
    local gx2, gw2, gb2 = nn.F.conv2d_backward(g, x, l.weight, {stride = {2, 1}, padding = 1,
      dilation = {1, 2}, groups = 2, bias = false, grad_input = false})
    assert.is_nil(gx2)
    assert.is_nil(gb2)
    H.assert_tensor(gw2, gw:totable(), H.EXACT)
    -- 1x1, no bias
    local w1 = nn.tensor.randn(3, 4, 1, 1)
    H.assert_tensor(nn.F.conv2d(x, w1), naive_conv(x, w1, nil, {1, 1}, {0, 0}, {1, 1}, 1), TOL)
  end)

  it("check their options and shapes", function()
    local x, w = nn.tensor.randn(2, 4, 5, 5), nn.tensor.randn(6, 2, 3, 3)
    H.assert_error_has(function () nn.F.conv2d(x, w, nil, {stride = 0}) end,
                       {"bad argument #4", "conv2d: stride must be a positive integer or a pair {h, w} of them"})
    H.assert_error_has(function () nn.F.conv2d(x, w, nil, {stride = "2"}) end,
                       {"bad argument #4", "conv2d: stride must be a positive integer"})
    H.assert_error_has(function () nn.F.max_pool2d(x, {"2", 2}) end,
                       {"kernel_size must be a positive integer"})
    H.assert_error_has(function () nn.F.conv2d(x, w, nil, {padding = {1, -1}}) end,
                       {"conv2d: padding must be a non-negative integer or a pair {h, w} of them"})
    H.assert_error_has(function () nn.F.conv2d(x, w, nil, {strides = 1}) end,
                       {"conv2d has no option 'strides'"})
    H.assert_error_has(function () nn.F.conv2d(x, w) end,
                       {"bad argument #1", "conv2d: expected x [B x 2 x H x W] for weight [6x2x3x3] "
                        .. "and groups = 1, got [2x4x5x5]"})
    H.assert_error_has(function () nn.F.conv2d(x, nn.tensor.randn(5, 2, 3, 3), nil, {groups = 2}) end,
                       {"bad argument #2", "C_out = 5 is not divisible by groups = 2"})
    H.assert_error_has(function () nn.F.conv2d(x, w, nn.tensor.randn(5), {groups = 2}) end,
                       {"bad argument #3", "conv2d: bias must be [6], got [5]"})
    H.assert_error_has(function ()
      nn.F.conv2d_backward(nn.tensor.randn(2, 6, 4, 4), x, w, {groups = 2})
    end, {"bad argument #1", "conv2d: grad_y must be [2x6x3x3], got [2x6x4x4]"})
  end)
end)

describe("nn.Conv2d in a model", function()
  it("Conv2d -> ReLU -> Flatten -> Linear trains: the loss goes down", function()
    nn.manual_seed(71)
    local m = nn.Model()
    m:add(nn.Conv2d(1, 4, 3, {padding = 1}))
    m:add(nn.ReLU())
    m:add(nn.Conv2d(4, 4, 3, {stride = 2, groups = 2}))
    m:add(nn.ReLU())
    m:add(nn.Flatten())
    m:add(nn.Linear(4 * 3 * 3, 3))
    m:add(nn.Softmax())
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
    local x = nn.tensor.randn(16, 1, 7, 7)
    local y = nn.tensor.randn(16, 3):argmax(2)       -- random classes: to be memorised
    local first = m:step(x, y)
    local last
    for _ = 1, 30 do last = m:step(x, y) end
    assert.is_true(last < 0.8 * first, ("loss %.4f -> %.4f"):format(first, last))
  end)

  it("a model with Conv2d saves and loads (config with pairs, 4-D weights) bit for bit", function()
    nn.manual_seed(72)
    local m = nn.Model()
    m:add(nn.Conv2d(2, 4, {3, 2}, {stride = {1, 2}, padding = 1, groups = 2}))
    m:add(nn.Flatten())
    local x = nn.tensor.randn(3, 2, 5, 6)
    local want = m:forward(x):clone()
    local dir = H.temp_dir()
    local path = dir .. "/conv.safetensors"
    m:save(path)
    local m2 = nn.load(path)
    H.remove_dir(dir)
    assert.are.equal(tostring(m.layers[1]), tostring(m2.layers[1]))
    H.assert_tensor(m2:forward(x), want:totable(), H.EXACT)
  end)
end)
