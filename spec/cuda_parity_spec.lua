--- spec/cuda_parity_spec.lua -- the GPU against the CPU, op by op.
--
-- Every tensor op, every layer's forward and backward, every loss (and the
-- fused Softmax + cross-entropy gradient), every optimizer update and every
-- metric runs twice from the same seeded inputs: on the CPU, and on the GPU.
-- The inputs are drawn on the CPU and copied, so both runs see the same
-- bits; the results must agree within the tolerance of their kind:
--
--   EXACT   0       copies, fills, gathers, comparisons, argmax, counts, the
--                   uniform draws (Philox gives the same bits, and the
--                   multiply and add are unfused on both: tensor/cuda_elementwise.cu)
--   ELEM    1e-6    element-wise math: the GPU's expf, logf, tanhf may be
--                   1-2 ulp from glibc's (~8 ulp budget); the rest rounds as
--                   on the CPU (nvcc runs with -fmad=false, sqrt and
--                   division correctly rounded)
--   REDUCE  1e-6    sums in double, in another order (a tree, not a loop)
--   GEMM    1e-4    float32 products of K terms in another order: cuBLAS
--                   and OpenBLAS differ by ~sqrt(K) ulp of the largest term
--   LAYER   1e-4    a layer is GEMMs and element-wise math chained
--   OPTIM   1e-5    5 updates: the same float operations in the same order
--                   on both (no fma), so equal in principle; the margin
--                   is for a compiler that reorders anyway
--
-- |gpu - cpu| <= tol * max(1, |cpu|) per element (H.close); nan matches nan.
--
-- Without a GPU the whole suite is one skipped test, with the reason.  To
-- check the suite itself on a machine without one, run it against the CPU:
--   NNLUA_PARITY_DEVICE=cpu ./nnlua spec/run.lua spec/cuda_parity_spec.lua
-- (every comparison then runs, and must pass exactly; the CUDA-only parts,
-- errors between devices and the allocator, are skipped).
local nn = require "nn"
local H = require "spec.helpers"

local P = require "spec.parity"
local DEV = P.DEV
local EXACT, ELEM, REDUCE, GEMM, LAYER, OPTIM = 0, 1e-6, 1e-6, 1e-4, 1e-4, 1e-5

local available, randn, compare = P.available, P.randn, P.compare

describe("CUDA parity (" .. DEV .. " against cpu)", function ()
  local ok, why = available()
  if not ok then
    pending("no CUDA device (" .. tostring(why) .. "): the parity suite is skipped")
    return
  end

  describe("tensor ops", function ()
    it("constructors on the default device: zeros, ones, full, arange, rand, randn, tensor{}",
       function ()
      local function made(dev)
        nn.set_default_device(dev)
        local r = { nn.tensor.zeros(3, 4), nn.tensor.ones(2, 5), nn.tensor.full(3, 2, 7.5),
                    nn.tensor.arange(0, 10, 0.5), nn.tensor{{1, 2}, {3, 4}},
                    nn.tensor.rand(7, 9) }
        nn.set_default_device("cpu")
        return r
      end
      local ok2, err = pcall(compare, "constructors", EXACT, made)
      nn.set_default_device("cpu")
      assert(ok2, err)
      -- randn: Box-Muller through the GPU's logf, sinf, cosf
      compare("randn", ELEM, function (dev)
        nn.set_default_device(dev)
        local r = nn.tensor.randn(33, 17)
        nn.set_default_device("cpu")
        return { r }
      end)
    end)

    it("copies and views: clone, copy, view, narrow, slice, fill_, zero_, get, set, item",
       function ()
      compare("copies", EXACT, function (dev)
        local a = randn(dev, 6, 4)
        local b = a:clone()
        local c = nn.tensor.zeros(4, 6):to(dev):copy(a)
        local v = a:view(-1)
        local n = a:narrow(1, 2, 3):clone()
        local s = a:slice(2, 4):clone()
        local f = a:clone():fill_(3.25)
        local z = a:clone():zero_()
        b:set(2, 3, 42)
        return { b, c, v, n, s, f, z, a:get(5, 2), a:view(-1):narrow(1, 7, 1):view():item(),
                 a:totable() }
      end)
    end)

    it("binary ops: tensor, broadcast row, scalar, in place, operators", function ()
      compare("binary", ELEM, function (dev)
        local a, b = randn(dev, 5, 7), randn(dev, 5, 7)
        local row = randn(dev, 7)
        local pos = randn(dev, 5, 7):abs():add(0.5)
        return {
          a:add(b), a:sub(b), a:mul(b), a:div(pos), a:add(row), a:mul(row), a:sub(row),
          a:div(pos:narrow(1, 1, 1):view(-1)),
          a:add(2.5), a:sub(1.5), a:mul(-3), a:div(4),
          a:clone():add_(b), a:clone():sub_(b), a:clone():mul_(b), a:clone():div_(pos),
          a:clone():add_(1), a:clone():mul_(0.5),
          a + b, a - b, a * b, a / pos, -a, a * 2, 2 - a, 3 / pos,
        }
      end)
    end)

    it("unary ops: neg, exp, log, sqrt, abs, relu, sigmoid, tanh, pow, clamp, and in place",
       function ()
      compare("unary", ELEM, function (dev)
        local a = randn(dev, 9, 11):mul(3)
        local pos = a:abs():add(1e-3)
        return {
          a:neg(), a:exp(), pos:log(), pos:sqrt(), a:abs(), a:relu(), a:sigmoid(), a:tanh(),
          pos:pow(1.5), a:pow(2), a:clamp(-1, 0.5),
          a:clone():neg_(), a:clone():exp_(), pos:clone():log_(), pos:clone():sqrt_(),
          a:clone():abs_(), a:clone():relu_(), a:clone():sigmoid_(), a:clone():tanh_(),
          pos:clone():pow_(0.5), a:clone():clamp_(-0.5, 2),
          -- the edges: overflowing exp, log 0, sigmoid at +-100, relu of nan
          nn.tensor{-100, -1, 0, 1, 100, 0 / 0}:to(dev):sigmoid(),
          nn.tensor{0, 1, 1e-30}:to(dev):log(), nn.tensor{100, -100}:to(dev):exp(),
          nn.tensor{0 / 0, -1, 2}:to(dev):relu(),
        }
      end)
    end)

    it("reductions: sum, mean, max, min, argmax, argmin, var, std, all and along each dim",
       function ()
      compare("reduce", REDUCE, function (dev)
        local a = randn(dev, 13, 17)
        local big = randn(dev, 300000)      -- several blocks, two passes
        local r = { a:sum(), a:mean(), a:max(), a:min(), a:argmax(), a:argmin(), a:var(),
                    a:std(), big:sum(), big:mean(), big:var(), big:argmax(), big:max() }
        for d = 1, 2 do
          for _, keep in ipairs{ false, true } do
            local mx, imx = a:max(d, keep)
            local mn, imn = a:min(d, keep)
            r[#r + 1] = { a:sum(d, keep), a:mean(d, keep), mx, imx, mn, imn,
                          a:argmax(d, keep), a:argmin(d, keep) }
          end
        end
        -- ties go to the first, as on the CPU; nan beats every number
        local ties = nn.tensor{{1, 3, 3, 0}, {2, 2, 2, 2}, {0 / 0, 5, 0 / 0, 1}}:to(dev)
        r[#r + 1] = { ties:argmax(2), ties:argmin(2), ties:max(2) }
        return r
      end)
    end)

    it("matmul and mm with every transpose, and beta through a Linear", function ()
      compare("matmul", GEMM, function (dev)
        local a, b = randn(dev, 37, 64), randn(dev, 64, 29)
        local at, bt = randn(dev, 64, 37), randn(dev, 29, 64)
        local out = nn.tensor.zeros(37, 29):to(dev)
        return { a:matmul(b), at:matmul(b, true), a:matmul(bt, false, true),
                 at:matmul(bt, true, true), out:mm(a, b),
                 randn(dev, 1, 64):matmul(b),          -- one row: gemv on the CPU
                 randn(dev, 1024, 256):matmul(randn(dev, 256, 512)) }
      end)
    end)

    it("gathering: index_select, one_hot, randperm, and the DataLoader's batches", function ()
      compare("gather", EXACT, function (dev)
        local src = randn(dev, 50, 6)
        local idx = nn.tensor{3, 1, 50, 7, 7}:to(dev)
        local perm = nn.randperm(40, nn.tensor.zeros(40):to(dev))
        local loader = nn.data.DataLoader(randn(dev, 23, 3), nn.tensor.arange(1, 24):to(dev),
                                          { batch_size = 5 })
        local batches = {}
        for xb, yb in loader:iter() do batches[#batches + 1] = { xb:clone(), yb:clone() } end
        return { src:index_select(idx), nn.data.one_hot(nn.tensor{1, 3, 2, 3}:to(dev), 4),
                 perm, batches }
      end)
    end)
  end)

  describe("layers: forward, backward, parameter gradients", function ()
    -- forward on x, backward from g; returns the output, dL/dx and dL/dW, dL/db
    local function pass(layer, x, g)
      local y = layer:forward(x):clone()
      local dx = layer:backward(g):clone()
      local r = { y, dx }
      local _, grads = layer:parameters()
      for i, t in ipairs(grads or {}) do r[2 + i] = t:clone() end
      return r
    end

    local function layer_case(name, make, shape, tol)
      it(name, function ()
        compare(name, tol or LAYER, function (dev)
          local layer = make():to(dev)
          local x = randn(dev, table.unpack(shape))
          local y = layer:forward(x)
          local g = randn(dev, table.unpack(y.shape))
          return pass(layer, x, g)
        end)
      end)
    end

    layer_case("Linear", function () return nn.Linear(20, 13) end, {8, 20})
    layer_case("Linear without bias", function () return nn.Linear(20, 13, {bias = false}) end, {8, 20})
    for _, act in ipairs{ "relu", "sigmoid", "tanh", "softmax", "log_softmax" } do
      layer_case("Dense with activation " .. act,
                 function () return nn.Dense(20, 13, {activation = act}) end, {8, 20})
    end
    layer_case("ReLU", function () return nn.ReLU() end, {6, 9}, ELEM)
    layer_case("LeakyReLU", function () return nn.LeakyReLU(0.1) end, {6, 9}, ELEM)
    layer_case("Sigmoid", function () return nn.Sigmoid() end, {6, 9}, ELEM)
    layer_case("Tanh", function () return nn.Tanh() end, {6, 9}, ELEM)
    layer_case("Softmax", function () return nn.Softmax() end, {6, 9}, ELEM)
    layer_case("LogSoftmax", function () return nn.LogSoftmax() end, {6, 9}, ELEM)
    layer_case("Softmax on 3-D input", function () return nn.Softmax() end, {2, 3, 5}, ELEM)
    layer_case("Dropout (the same mask from the same seed)", function () return nn.Dropout(0.3) end,
               {16, 33}, EXACT)
    layer_case("Flatten", function () return nn.Flatten() end, {4, 3, 5}, EXACT)
    layer_case("Identity", function () return nn.Identity() end, {4, 5}, EXACT)
    layer_case("BatchNorm1d, training", function () return nn.BatchNorm1d(12) end, {10, 12})
    layer_case("BatchNorm1d without affine", function ()
      return nn.BatchNorm1d(12, {affine = false}) end, {10, 12})
    layer_case("BatchNorm1d on (B, C, L)", function () return nn.BatchNorm1d(6) end, {3, 6, 7})
    layer_case("BatchNorm2d, training", function () return nn.BatchNorm2d(6) end, {4, 6, 3, 5})
    layer_case("BatchNorm2d without affine, a batch of 1", function ()
      return nn.BatchNorm2d(5, {affine = false, eps = 1e-3}) end, {1, 5, 4, 3})
    -- Conv2d: im2col, the GEMMs, col2im (a gather on the GPU, a scatter-add
    -- on the CPU, in one order), the NCHW moves and the bias sum
    layer_case("Conv2d, stride 2, padding 1", function ()
      return nn.Conv2d(3, 8, 3, {stride = 2, padding = 1}) end, {5, 3, 11, 9})
    layer_case("Conv2d, groups 2, dilation 2, kernel {2, 3}", function ()
      return nn.Conv2d(4, 6, {2, 3}, {groups = 2, dilation = 2, padding = {1, 0}}) end,
      {3, 4, 8, 9})
    layer_case("Conv2d 1x1 (no im2col)", function ()
      return nn.Conv2d(6, 4, 1, {groups = 2}) end, {3, 6, 5, 7})
    it("Conv2d's pure pair (nn.F.conv2d, conv2d_backward) and accumulate = false", function ()
      compare("conv2d-functional", LAYER, function (dev)
        local opts = {stride = {1, 2}, padding = {2, 1}, dilation = {2, 1}}
        local x, w, b = randn(dev, 2, 3, 9, 8), randn(dev, 5, 3, 3, 3), randn(dev, 5)
        local y = nn.F.conv2d(x, w, b, opts)
        local gx, gw, gb = nn.F.conv2d_backward(randn(dev, table.unpack(y.shape)), x, w, opts)
        local l = nn.Conv2d(3, 5, 3, opts):to(dev)
        l:forward(x)
        l:backward(randn(dev, table.unpack(y.shape)))
        l:backward(randn(dev, table.unpack(y.shape)), {accumulate = false, grad_input = false})
        return { y, gx, gw, gb, l.grad_weight:clone(), l.grad_bias:clone() }
      end)
    end)

    -- pooling: the same window functions on both (nn/pool.h), and the
    -- backward a gather in the same order, so the same bits
    layer_case("MaxPool2d, k3 s2 p1", function ()
      return nn.MaxPool2d(3, {stride = 2, padding = 1}) end, {4, 3, 9, 11}, EXACT)
    layer_case("MaxPool2d, dilation 2, ceil_mode, non-square", function ()
      return nn.MaxPool2d({3, 2}, {stride = {2, 1}, dilation = 2, ceil_mode = true}) end,
      {2, 5, 12, 7}, EXACT)
    layer_case("MaxPool2d, many blocks", function () return nn.MaxPool2d(2) end,
               {16, 32, 28, 28}, EXACT)
    layer_case("AvgPool2d, k3 s2 p1", function ()
      return nn.AvgPool2d(3, {stride = 2, padding = 1}) end, {4, 3, 9, 11}, ELEM)
    layer_case("AvgPool2d, ceil_mode, count_include_pad false, overlapping", function ()
      return nn.AvgPool2d({3, 2}, {stride = 1, padding = 1, ceil_mode = true,
                                   count_include_pad = false}) end, {2, 5, 8, 7}, ELEM)
    layer_case("AdaptiveAvgPool2d to 3x5 (windows that share rows)", function ()
      return nn.AdaptiveAvgPool2d({3, 5}) end, {4, 3, 10, 11}, ELEM)
    layer_case("AdaptiveAvgPool2d, global", function () return nn.AdaptiveAvgPool2d(1) end,
               {8, 16, 7, 7}, ELEM)
    layer_case("Dropout2d (the same channels from the same seed)", function ()
      return nn.Dropout2d(0.3) end, {6, 8, 5, 5}, EXACT)

    it("MaxPool2d's indices, ties to the first and nan, and the gradient through them", function ()
      compare("maxpool-indices", EXACT, function (dev)
        local m = nn.MaxPool2d(2, 1):to(dev)
        -- small integers: many ties; one nan
        local x = nn.tensor.rand(3, 4, 6, 7):mul(3):floor()
        x:set(2, 3, 4, 5, 0 / 0)
        x = x:to(dev)
        local y = m:forward(x):clone()
        local dx = m:backward(randn(dev, 3, 4, 5, 6)):clone()
        return { y, m.indices:clone(), dx }
      end)
    end)

    -- layers of several inputs: forward(a, b), one gradient per input
    local function multi_case(name, make, shapes)
      it(name, function ()
        compare(name, ELEM, function (dev)
          local layer = make():to(dev)
          local xs = {}
          for i, s in ipairs(shapes) do xs[i] = randn(dev, table.unpack(s)) end
          local y = layer:forward(table.unpack(xs))
          local r = { y:clone() }
          for _, gx in ipairs{ layer:backward(randn(dev, table.unpack(y.shape))) } do
            r[#r + 1] = gx:clone()
          end
          return r
        end)
      end)
    end
    multi_case("Add, same shapes", function () return nn.Add() end, {{6, 9}, {6, 9}})
    multi_case("Add, a row broadcast (the bias-gradient sum)", function () return nn.Add() end,
               {{37, 9}, {9}})
    multi_case("Concat along dim 2", function () return nn.Concat(2) end, {{5, 3, 4}, {5, 1, 4}, {5, 6, 4}})

    it("Linear: accumulate = false (beta 0) and forward{activation = false}", function ()
      compare("linear-beta0", LAYER, function (dev)
        local l = nn.Dense(20, 13, {activation = "relu"}):to(dev)
        local x = randn(dev, 8, 20)
        local z = l:forward(x, {activation = false}):clone()
        l:backward(randn(dev, 8, 13))
        l:backward(randn(dev, 8, 13), {accumulate = false, grad_input = false})
        return { z, l.grad_weight:clone(), l.grad_bias:clone() }
      end)
    end)

    it("the pure pairs called directly (nn.functional)", function ()
      compare("functional", LAYER, function (dev)
        local F = nn.functional
        local x, w, b = randn(dev, 8, 20), randn(dev, 13, 20), randn(dev, 13)
        local g = randn(dev, 8, 13)
        local gx, gw, gb = F.linear_backward(g, x, w)
        local y, sm, si = F.batch_norm(randn(dev, 9, 5), nn.tensor.zeros(5):to(dev),
                                       nn.tensor.ones(5):to(dev))
        return { F.linear(x, w, b, "tanh"), gx, gw, gb, y, sm, si,
                 F.concat({x, x}, 1), F.add(x, randn(dev, 20)) }
      end)
    end)

    it("BatchNorm1d: running statistics, then evaluation", function ()
      compare("bn-eval", LAYER, function (dev)
        local bn = nn.BatchNorm1d(7, {momentum = 0.3}):to(dev)
        for _ = 1, 3 do bn:forward(randn(dev, 9, 7):mul(2):add(1)) end
        bn:evaluate()
        local x = randn(dev, 5, 7)
        local r = pass(bn, x, randn(dev, 5, 7))
        r[#r + 1] = bn.running_mean:clone()
        r[#r + 1] = bn.running_var:clone()
        return r
      end)
    end)

    it("BatchNorm2d: running statistics, then evaluation", function ()
      compare("bn2d-eval", LAYER, function (dev)
        local bn = nn.BatchNorm2d(7, {momentum = 0.3}):to(dev)
        for _ = 1, 3 do bn:forward(randn(dev, 3, 7, 4, 5):mul(2):add(1)) end
        bn:evaluate()
        local r = pass(bn, randn(dev, 2, 7, 3, 3), randn(dev, 2, 7, 3, 3))
        r[#r + 1] = bn.running_mean:clone()
        r[#r + 1] = bn.running_var:clone()
        return r
      end)
    end)
  end)

  describe("data augmentation: the same draws, the same bits", function ()
    -- each image's choice is a function of its Philox block on both devices,
    -- and the pixels are copies, zeros or one float subtraction and division
    local function transform_case(name, make, shape)
      it(name, function ()
        compare(name, EXACT, function (dev)
          local t = make()
          local x = randn(dev, table.unpack(shape))
          -- twice: the second call draws the next blocks
          return { t(x):clone(), t(x):clone(), t(x:clone(), nil) }
        end)
      end)
    end
    transform_case("RandomCrop with padding", function ()
      return nn.data.RandomCrop({5, 7}, {padding = 3}) end, {9, 2, 6, 8})
    transform_case("RandomHorizontalFlip, odd width", function ()
      return nn.data.RandomHorizontalFlip(0.5) end, {11, 3, 4, 7})
    transform_case("Normalize per channel", function ()
      return nn.data.Normalize({0.4914, 0.4822, 0.4465}, {0.247, 0.243, 0.261}) end, {4, 3, 5, 5})

    it("in place, and a shuffled DataLoader epoch with every transform", function ()
      compare("augment-loader", EXACT, function (dev)
        local x = randn(dev, 6, 3, 5, 5)
        nn.data.RandomHorizontalFlip(0.5)(x, x)
        nn.data.Normalize(0.5, 2)(x, x)
        local loader = nn.data.DataLoader(randn(dev, 23, 3, 8, 8), nn.tensor.arange(1, 24):to(dev),
          { batch_size = 5, transforms = { nn.data.RandomCrop(6, {padding = 2}),
            nn.data.RandomHorizontalFlip(), nn.data.Normalize({0.1, 0.2, 0.3}, {1, 2, 3}) } })
        local batches = {}
        for xb, yb in loader:iter() do batches[#batches + 1] = { xb:clone(), yb:clone() } end
        return { x, batches }
      end)
    end)
  end)

  describe("losses: loss and gradient", function ()
    local function loss_case(name, make, x_of, t_of, tol)
      for _, reduction in ipairs{ "mean", "sum" } do
        it(name .. ", reduction " .. reduction, function ()
          compare(name, tol or REDUCE * 10, function (dev)
            local crit = make{ reduction = reduction }
            local x, t = x_of(dev), t_of(dev)
            local loss = crit:forward(x, t)
            return { loss, crit:backward(x, t):clone() }
          end)
        end)
      end
    end
    local function labels(dev) return nn.tensor{3, 1, 4, 4, 2, 1}:to(dev) end
    local function scores(dev) return randn(dev, 6, 4):mul(3) end
    local function softmaxed(dev) return nn.Softmax():forward(randn(dev, 6, 4)):clone() end
    local function log_softmaxed(dev) return nn.LogSoftmax():forward(randn(dev, 6, 4)):clone() end
    local function uniform01(dev) return nn.tensor.rand(5, 3):to(dev) end
    -- soft targets: rows of probabilities (a softmax of normals), as label smoothing gives
    local probs = softmaxed

    loss_case("MSELoss", nn.MSELoss, function (d) return randn(d, 5, 3) end,
              function (d) return randn(d, 5, 3) end)
    loss_case("L1Loss", nn.L1Loss, function (d) return randn(d, 5, 3) end,
              function (d) return randn(d, 5, 3) end)
    loss_case("CrossEntropyLoss, index targets", nn.CrossEntropyLoss, scores, labels)
    loss_case("CrossEntropyLoss, probability targets", nn.CrossEntropyLoss, scores, probs)
    loss_case("NLLLoss, index targets", nn.NLLLoss, log_softmaxed, labels)
    loss_case("NLLLoss, probability targets", nn.NLLLoss, log_softmaxed, probs)
    loss_case("CategoricalCrossentropy, index targets", nn.CategoricalCrossentropy, softmaxed, labels)
    loss_case("CategoricalCrossentropy, probability targets", nn.CategoricalCrossentropy,
              softmaxed, probs)
    loss_case("BCELoss", nn.BCELoss, uniform01, function (d) return nn.tensor.rand(5, 3):to(d) end)
    loss_case("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, function (d) return randn(d, 5, 3):mul(4) end,
              function (d) return nn.tensor.rand(5, 3):to(d) end)

    it("the fused Softmax + CategoricalCrossentropy and LogSoftmax + NLLLoss gradients", function ()
      compare("fused", ELEM * 10, function (dev)
        local F, LOG = nn.functional, { log = true }
        return { F.softmax_cross_entropy_backward(softmaxed(dev), labels(dev)),
                 F.softmax_cross_entropy_backward(softmaxed(dev), probs(dev)),
                 F.softmax_cross_entropy_backward(log_softmaxed(dev), labels(dev), LOG),
                 F.softmax_cross_entropy_backward(log_softmaxed(dev), probs(dev), LOG) }
      end)
    end)
  end)

  describe("optimizers: 5 updates", function ()
    local cases = {
      { "SGD", {lr = 0.1} }, { "SGD", {lr = 0.1, momentum = 0.9} },
      { "SGD", {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01} },
      { "SGD", {lr = 0.1, momentum = 0.9, dampening = 0.5} },
      { "Adagrad", {lr = 0.1, weight_decay = 0.01, lr_decay = 0.01} },
      { "RMSprop", {lr = 0.01} }, { "RMSprop", {lr = 0.01, momentum = 0.9, centered = true} },
      { "Adam", {lr = 0.01} }, { "Adam", {lr = 0.01, weight_decay = 0.01, amsgrad = true} },
      { "AdamW", {lr = 0.01, weight_decay = 0.1} },
    }
    for _, c in ipairs(cases) do
      local name, opts = c[1], c[2]
      it(name .. " " .. nn.json.encode(opts), function ()
        compare(name, OPTIM, function (dev)
          local opt = nn.optim[name](opts)
          local p = { randn(dev, 17, 5), randn(dev, 5) }
          for _ = 1, 5 do opt:step(p, { randn(dev, 17, 5), randn(dev, 5) }) end
          local st = {}
          for i, s in ipairs(opt.state) do
            for k, t in pairs(s) do st[i .. "." .. k] = t end
          end
          return { p, st }
        end)
      end)
    end
  end)

  describe("metrics", function ()
    it("accuracy (index and one-hot targets), binary and regression accuracy, confusion matrix",
       function ()
      compare("metrics", EXACT, function (dev)
        local list = {}
        for i = 1, 40 do list[i] = (i * 7) % 5 + 1 end
        local pred, y = randn(dev, 40, 5), nn.tensor(list):to(dev)
        local acc, cat = nn.metrics.get("accuracy"), nn.metrics.get("categorical_accuracy")
        acc:update(pred, y)
        cat:update(pred, nn.data.one_hot(y, 5))
        local bin = nn.metrics.get("binary_accuracy")
        bin:update(randn(dev, 30):sigmoid(), nn.tensor.rand(30):to(dev))
        local reg = nn.metrics.get{ name = "regression_accuracy", tolerance = 0.5 }
        reg:update(randn(dev, 30), randn(dev, 30))
        return { acc:result(), cat:result(), bin:result(), reg:result(),
                 nn.metrics.confusion_matrix(pred, y) }
      end)
    end)
  end)

  describe("a model", function ()
    -- the MLP of the main job, small: Dense+ReLU, Dropout, Dense+Softmax,
    -- CategoricalCrossentropy (the fused gradient), Adam; 5 steps
    local function train(dev)
      local model = nn.Model()
      model:add(nn.Dense(30, 16, { activation = "relu" }))
      model:add(nn.Dropout(0.2))
      model:add(nn.Dense(16, 4))
      model:add(nn.Softmax())
      model:set{ loss = "categorical_crossentropy", optimizer = "adam", accuracy = true }
      model:to(dev)
      local x = nn.tensor.randn(24, 30)
      local list = {}
      for i = 1, 24 do list[i] = i % 4 + 1 end
      local y = nn.tensor(list)
      local losses = {}
      for i = 1, 5 do losses[i] = model:step(x, y) end
      local w = model:get_weights()
      return { losses, w, model:predict(x), (model:evaluate(x, y)) }
    end

    it("trains to the same losses and weights on both devices", function ()
      compare("model", GEMM * 10, train)
    end)

    it("gives the very same numbers twice on the same device (determinism)", function ()
      local runs = {}
      for r = 1, 2 do
        nn.manual_seed(P.SEED)
        runs[r] = P.collect(train(DEV), "run", {})
      end
      for i = 1, #runs[1] do
        local a, b = runs[1][i][2], runs[2][i][2]
        if type(a) == "userdata" then
          assert.are.same(a:cpu():view(-1):totable(), b:cpu():view(-1):totable(), runs[1][i][1])
        else
          assert.are.equal(a, b, runs[1][i][1])
        end
      end
    end)
  end)
end)

describe("CUDA errors and memory", function ()
  if DEV ~= "cuda" or not nn.cuda.is_available() then
    pending("no CUDA device: the CUDA error and allocator specs are skipped")
    return
  end

  it("an op on tensors of two devices names both", function ()
    H.assert_error_has(function () return nn.tensor.zeros(3):add(nn.tensor.zeros(3):cuda()) end,
                       { "cpu", "cuda" })
    H.assert_error_has(function () return nn.Linear(3, 2):forward(nn.tensor.zeros(4, 3):cuda()) end,
                       { "input is on cuda", "parameters are on cpu" })
  end)

  it("out of memory raises CUDA's message, the bytes asked for and the device's free and "
     .. "total bytes, and the model stays usable", function ()
    local model = nn.Model("basic", { 20, 8, 3 }):to("cuda")
    local x, y = nn.tensor.randn(10, 20), nn.tensor{1, 2, 3, 1, 2, 3, 1, 2, 3, 1}
    model:step(x, y)
    local before = model:get_weights()
    -- 2^38 floats, 1 TiB, made on the GPU directly (not on the host first):
    -- more than any GPU has
    nn.set_default_device("cuda")
    local made, err = pcall(nn.tensor.zeros, 1024, 1024, 1024, 256)
    nn.set_default_device("cpu")
    assert.is_false(made, "1 TiB on the GPU")
    err = tostring(err)
    assert.truthy(err:find("cannot allocate", 1, true), err)
    assert.truthy(err:find("bytes free", 1, true) or err:find("free", 1, true), err)
    assert.truthy(err:find("out of memory", 1, true), err)
    local after = model:get_weights()
    for i = 1, #before do
      assert.are.same(before[i]:cpu():view(-1):totable(), after[i]:cpu():view(-1):totable())
    end
    assert.is_number(model:step(x, y))
  end)

  it("10,000 training steps keep memory_reserved flat (the caching allocator)", function ()
    local model = nn.Model("basic", { 64, 32, 10 }):to("cuda")
    local x = nn.tensor.randn(16, 64):cuda()
    local list = {}
    for i = 1, 16 do list[i] = i % 10 + 1 end
    local y = nn.tensor(list):cuda()
    for _ = 1, 100 do model:step(x, y) end
    local reserved, allocated = nn.cuda.memory_reserved(), nn.cuda.memory_allocated()
    for _ = 1, 10000 do model:step(x, y) end
    nn.cuda.synchronize()
    assert.are.equal(reserved, nn.cuda.memory_reserved())
    assert.are.equal(allocated, nn.cuda.memory_allocated())
  end)

  it("a loop that drops CUDA tensors does not run the GPU out of memory (the collector "
     .. "is told what each holds)", function ()
    -- 64 MiB a tensor, 4,000 of them: 256 GiB in all, far beyond any GPU
    -- unless the collector frees them as it goes (made on the GPU directly)
    nn.set_default_device("cuda")
    local ok, err = pcall(function ()
      for _ = 1, 4000 do
        local t = nn.tensor.zeros(4096, 4096)
        t = nil
      end
    end)
    nn.set_default_device("cpu")
    assert(ok, err)
    collectgarbage("collect")
    assert.is_true(nn.cuda.memory_allocated() < 2 ^ 30)
  end)

  it("empty_cache gives the cached blocks back", function ()
    do local t = nn.tensor.zeros(1024, 1024):cuda() end
    collectgarbage("collect")
    assert.is_true(nn.cuda.memory_reserved() >= nn.cuda.memory_allocated())
    nn.cuda.empty_cache()
    assert.are.equal(nn.cuda.memory_allocated(), nn.cuda.memory_reserved())
  end)
end)
