-- bench_gemm.lua -- nnlua's matmul rate, to compare with scripts/gemm_ref.c.
-- Usage: nnlua scripts/bench_gemm.lua [N [reps]]
-- Prints "GFLOP/s <mm> <matmul>": the median rate of out:mm(a, b) (into a
-- preallocated out) and of a:matmul(b) (a new output each call), for an
-- N x N x N product (2 N^3 flops), after one warm-up call each.
local n = tonumber(arg[1]) or 1024
local reps = tonumber(arg[2]) or 20

local a = nn.tensor.arange(n * n):view(n, n)
local b = nn.tensor.arange(n * n):view(n, n)
local out = nn.tensor.zeros(n, n)

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script
local function median_rate(f)   -- GFLOP/s of the median call
  return 2 * n ^ 3 / (bench_util.median_ms(f, reps, 1) * 1e-3) * 1e-9
end

local mm = median_rate(function() out:mm(a, b) end)
local matmul = median_rate(function() local c = a:matmul(b) end)
print(("GFLOP/s %.2f %.2f"):format(mm, matmul))
