--- spec/cuda_parity_ewise_spec.lua -- the GPU against the CPU for the
-- broadcast, comparison, mask and element-wise ops of l_tensor_math.c: every
-- op runs on the CPU and on the GPU from the same inputs (drawn on the CPU
-- and copied, so both see the same bits), and the results must agree:
--
--   EXACT   0      comparisons, masks, where, masked_fill, any/all, isnan,
--                  isinf, floor, round, sign, maximum, minimum, the exact
--                  arithmetic (+ - * on the same bits round the same on
--                  both: nvcc runs with -fmad=false)
--   ELEM    1e-6   division, pow, sin, cos, erf, rsqrt, floor_divide and
--                  remainder (fmodf and the division): the GPU's powf,
--                  sinf, cosf, erff may be 1-2 ulp from glibc's (~8 ulp budget)
--   REDUCE  1e-6   sum_to_size: sums in double, on the GPU in another order
--                  where one block of dims is summed (the reduction kernels)
--
-- |gpu - cpu| <= tol * max(1, |cpu|) per element (H.close); nan matches nan.
-- Without a GPU this is one skipped test.  To check the suite itself here:
--   NNLUA_PARITY_DEVICE=cpu ./nnlua spec/run.lua spec/cuda_parity_ewise_spec.lua
-- (the same harness as spec/cuda_parity_spec.lua)
local nn = require "nn"
local H = require "spec.helpers"

local P = require "spec.parity"
local DEV = P.DEV
local EXACT, ELEM, REDUCE = 0, 1e-6, 1e-6

local available, randn, compare = P.available, P.randn, P.compare

describe("CUDA parity of the element-wise ops (" .. DEV .. " against cpu)", function ()
  local ok, why = available()
  if not ok then
    pending("no CUDA device (" .. tostring(why) .. "): the parity suite is skipped")
    return
  end

  -- shapes that take each path: same shape, bias row either side, column,
  -- outer, 5 dims, a 0-dim operand, and one above the CPU's threads threshold
  local shapes = {
    { {5, 7}, {5, 7} }, { {5, 7}, {7} }, { {7}, {5, 7} }, { {5, 7}, {5, 1} },
    { {5, 1}, {1, 7} }, { {2, 1, 3, 1, 2}, {1, 4, 1, 5, 1} }, { {}, {3, 4} },
  }

  it("binary ops over every broadcast path", function ()
    compare("binary", ELEM, function (dev)
      local r = {}
      for _, s in ipairs(shapes) do
        local a = randn(dev, table.unpack(s[1]))
        local b = randn(dev, table.unpack(s[2]))
        local pos = b:abs():add(0.5)
        for _, v in ipairs{ a + b, a - b, a * b, a / pos, a:abs() ^ b, a // pos, a % pos,
                            nn.maximum(a, b), nn.minimum(a, b), b - a, pos / a:abs():add(1),
                            a:abs():add(1) // b, b % a:abs():add(0.5) } do
          r[#r + 1] = v
        end
      end
      local big, col = randn(dev, 600, 500), randn(dev, 600, 1)   -- the CPU's threads' path
      r[#r + 1] = big - col
      r[#r + 1] = big:add(randn(dev, 500))
      local t = randn(dev, 6, 4)
      r[#r + 1] = t:clone():add_(randn(dev, 4))
      r[#r + 1] = t:clone():mul_(randn(dev, 6, 1))
      r[#r + 1] = t ^ 2
      r[#r + 1] = 2 ^ t
      r[#r + 1] = t // 0.75
      r[#r + 1] = -3 % t
      return r
    end)
  end)

  it("comparisons (float32 and int32), where, masked_fill, any, all", function ()
    compare("compare", EXACT, function (dev)
      local r = {}
      for _, s in ipairs(shapes) do
        local a = randn(dev, table.unpack(s[1]))
        local b = randn(dev, table.unpack(s[2]))
        for _, op in ipairs{ "eq", "ne", "lt", "le", "gt", "ge" } do
          r[#r + 1] = a[op](a, b)
          r[#r + 1] = a[op](a, 0.25)
          r[#r + 1] = nn[op](0, b)
        end
        r[#r + 1] = nn.where(a:gt(0), a, b)
        r[#r + 1] = nn.where(b:lt(0), -1, a)
        r[#r + 1] = a:masked_fill(a:gt(0.5), 9)
      end
      local i = nn.tensor{{1, -2, 3}, {0, 5, -6}}:int():to(dev)
      local f = nn.tensor{1, 0.5, 3}:to(dev)
      r[#r + 1] = i:eq(f)
      r[#r + 1] = i:lt(i)
      r[#r + 1] = i:ge(2)
      r[#r + 1] = nn.where(i, f, 0)
      local nan = nn.tensor{0 / 0, 1, math.huge, -math.huge, 0}:to(dev)
      r[#r + 1] = nan:eq(nan)
      r[#r + 1] = nan:ne(1)
      r[#r + 1] = nan:isnan()
      r[#r + 1] = nan:isinf()
      r[#r + 1] = nn.where(nan, 1, 2)
      local m = nn.tensor{{1, 0, 2}, {0, 0, 3}}:to(dev)
      r[#r + 1] = m:any(1)
      r[#r + 1] = m:all(2, true)
      r[#r + 1] = i:any(2)
      r[#r + 1] = m:any() and 1 or 0
      r[#r + 1] = m:all() and 1 or 0
      local big = randn(dev, 300000)
      r[#r + 1] = nn.where(big:gt(0), big, 0)
      return r
    end)
  end)

  it("unary ops: sin cos erf rsqrt floor round sign, in place too", function ()
    compare("unary", ELEM, function (dev)
      local a = randn(dev, 9, 11):mul(3)
      local pos = a:abs():add(1e-3)
      return {
        a:sin(), a:cos(), a:erf(), pos:rsqrt(), a:floor(), a:round(), a:sign(),
        a:clone():sin_(), a:clone():cos_(), a:clone():erf_(), pos:clone():rsqrt_(),
        a:clone():floor_(), a:clone():round_(), a:clone():sign_(),
        nn.tensor{0.5, 1.5, 2.5, -0.5, -2.5, 0 / 0, 0}:to(dev):round(),
        nn.tensor{0 / 0, 0, -0.0, -3}:to(dev):sign(),
      }
    end)
  end)

  it("sum_to_size: one block summed (reduce_dim), several blocks (sum_to_kernel)", function ()
    compare("sum_to_size", REDUCE, function (dev)
      local a = randn(dev, 4, 5, 6)
      return { a:sum_to_size(6), a:sum_to_size(5, 1), a:sum_to_size(4, 1, 6), a:sum_to_size(1),
               a:sum_to_size(4, 5, 6), randn(dev, 300, 70):sum_to_size(70),
               randn(dev, 300, 70):sum_to_size(300, 1), randn(dev, 3, 4, 5, 6):sum_to_size(4, 1, 6),
               randn(dev, 2, 3, 4, 5, 2):sum_to_size(1, 3, 1, 5, 1) }
    end)
  end)

  it("ops between devices are refused", function ()
    if DEV == "cpu" then return end
    local c, g = nn.tensor{1, 2}, nn.tensor{1, 2}:to(DEV)
    H.assert_error_has(function () return c + g end, {"different devices"})
    H.assert_error_has(function () c:lt(g) end, {"different devices"})
    H.assert_error_has(function () nn.where(c, g, 0) end, {"different devices"})
  end)
end)
