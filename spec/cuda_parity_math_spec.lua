--- spec/cuda_parity_math_spec.lua -- batched matmul and the reductions of
-- l_tensor_linalg.c on the GPU against the CPU (spec/cuda_parity_spec.lua's
-- pattern: the same seeded inputs, drawn on the CPU and copied, so both
-- runs see the same bits).  Tolerances, |gpu - cpu| <= tol * max(1, |cpu|):
--
--   GEMM    1e-4    float32 products of K terms in another order: cuBLAS
--                   and OpenBLAS differ by ~sqrt(K) ulp of the largest term
--   REDUCE  1e-6    norm, prod, cumsum in double on both, in one order
--                   along a dim (the same NN_HD line formula), in chunks
--                   over all elements on the GPU; the float result rounds
--                   once.  Norms of p other than 1, 2, inf use pow in double:
--                   within 2 ulp of double on both, far below float's
--   LIBM    1e-6    logsumexp, softmax, log_softmax: the GPU's expf and logf
--                   are 1-2 ulp from glibc's (8 ulp budget)
--
-- Without a GPU the suite is one skipped test.  To check the suite itself
-- on a machine without one, run it against the CPU:
--   NNLUA_PARITY_DEVICE=cpu ./nnlua spec/run.lua spec/cuda_parity_math_spec.lua
-- (every comparison then runs, and must pass exactly).
local nn = require "nn"
local H = require "spec.helpers"

local P = require "spec.parity"
local DEV = P.DEV
local GEMM, REDUCE, LIBM = 1e-4, 1e-6, 1e-6

-- compare: run(dev) on "cpu" and on DEV after the same seed; every tensor
-- or number it returns must agree within tol (spec/parity.lua)
local available, randn, compare = P.available, P.randn, P.compare

describe("CUDA parity of batched matmul and the math reductions (" .. DEV .. " against cpu)",
         function ()
  if not available() then
    pending("no CUDA device: the math parity suite is skipped")
    return
  end

  it("batched matmul: equal batches, broadcast, transposes, 1-D, empty, out:mm", function ()
    compare("matmul", GEMM, function (dev)
      local a, b = randn(dev, 16, 33, 17), randn(dev, 16, 17, 29)
      local at, bt = randn(dev, 16, 17, 33), randn(dev, 16, 29, 17)
      local out = nn.tensor.zeros(16, 33, 29):to(dev)
      out:mm(a, b)
      return {
        a:matmul(b), at:matmul(b, true), a:matmul(bt, false, true), at:matmul(bt, true, true),
        nn.bmm(a, b), out,
        randn(dev, 2, 1, 3, 4):matmul(randn(dev, 5, 4, 6)),           -- mixed strides: 2 runs
        randn(dev, 2, 1, 3, 2, 4):matmul(randn(dev, 1, 2, 1, 4, 2)),
        randn(dev, 7, 5):matmul(randn(dev, 3, 5, 4)),                 -- 2-D @ 3-D
        randn(dev, 3, 4, 5):matmul(randn(dev, 5, 2)),                 -- 3-D @ 2-D
        randn(dev, 9):matmul(randn(dev, 9)), randn(dev, 4, 9):matmul(randn(dev, 9)),
        randn(dev, 9):matmul(randn(dev, 2, 9, 3)), randn(dev, 2, 4, 9):matmul(randn(dev, 9)),
        nn.tensor.zeros(2, 3, 0):to(dev):matmul(nn.tensor.zeros(2, 0, 4):to(dev)),
        nn.tensor.zeros(0, 3, 2):to(dev):matmul(nn.tensor.zeros(0, 2, 4):to(dev)),
        randn(dev, 64, 128, 32):matmul(randn(dev, 64, 32, 128)),
      }
    end)
  end)

  it("outer", function ()
    compare("outer", REDUCE, function (dev)
      return { randn(dev, 37):outer(randn(dev, 5)), nn.tensor.zeros(0):to(dev):outer(randn(dev, 3)) }
    end)
  end)

  it("norm over all elements and along each dim, p = 2, 1, inf, 3, 0.5", function ()
    compare("norm", REDUCE, function (dev)
      local x = randn(dev, 5, 6, 7)
      local big = randn(dev, 10000)            -- 3 chunks on the GPU
      local r = {}
      for _, p in ipairs { 2, 1, math.huge, 3, 0.5 } do
        r[#r + 1] = x:norm(p)
        r[#r + 1] = big:norm(p)
        for d = 1, 3 do r[#r + 1] = x:norm(p, d) end
        r[#r + 1] = x:norm(p, -1, true)
      end
      r[#r + 1] = nn.tensor{3e30, 4e30}:to(dev):norm()
      r[#r + 1] = nn.tensor{1e38, 1e38}:to(dev):norm(10)
      r[#r + 1] = nn.tensor.zeros(0):to(dev):norm()
      r[#r + 1] = nn.tensor.zeros(2, 0):to(dev):norm(2, 2)
      return r
    end)
  end)

  it("prod, cumsum along each dim and over all", function ()
    compare("prod/cumsum", REDUCE, function (dev)
      local x = (nn.tensor.rand(4, 5, 6) + 0.5):to(dev)
      local big = (nn.tensor.rand(9000) * 0.01 + 0.995):to(dev)
      local r = { x:prod(), big:prod(), nn.tensor.zeros(0):to(dev):prod() }
      for d = 1, 3 do
        r[#r + 1] = x:prod(d)
        r[#r + 1] = x:cumsum(d)
      end
      r[#r + 1] = x:prod(-2, true)
      r[#r + 1] = randn(dev, 3, 1000):cumsum(2)
      return r
    end)
  end)

  it("logsumexp, softmax, log_softmax along each dim; large and -inf rows", function ()
    compare("logsumexp/softmax", LIBM, function (dev)
      local x = randn(dev, 4, 5, 6) * 10
      local r = {}
      for d = 1, 3 do
        r[#r + 1] = x:logsumexp(d)
        r[#r + 1] = x:softmax(d)
        r[#r + 1] = x:log_softmax(d)
      end
      r[#r + 1] = x:logsumexp(-1, true)
      local edge = nn.tensor{{1000, 1000}, {-math.huge, -math.huge}, {math.huge, 1}, {1e4, -1e4}}
      edge = edge:to(dev)
      r[#r + 1] = edge:logsumexp(2)
      r[#r + 1] = edge:softmax(2)
      r[#r + 1] = edge:log_softmax(2)
      r[#r + 1] = nn.tensor.zeros(3, 0):to(dev):logsumexp(2)
      return r
    end)
  end)

  it("an op on tensors of two devices names both", function ()
    if DEV == "cpu" then return end
    H.assert_error_has(function () nn.tensor.zeros(2, 3, 4):matmul(nn.tensor.zeros(2, 4, 5):cuda()) end,
                       {"'matmul'", "different devices"})
    H.assert_error_has(function () nn.outer(nn.tensor.zeros(2), nn.tensor.zeros(3):cuda()) end,
                       {"'outer'", "different devices"})
  end)
end)
