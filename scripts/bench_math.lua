-- bench_math.lua -- batched matmul against PyTorch's torch.bmm (its twin is
-- scripts/bench_math_torch.py, which prints the same keys).
-- Usage: nnlua scripts/bench_math.lua [reps]
-- Prints "key ms": the median time of one call, in milliseconds, over
-- `reps` calls after two warm-up calls, for
--   bmm_16x256x64x256   a:matmul(b), a (16,256,64), b (16,64,256)
--   bmm_64x128x32x128   a:matmul(b), a (64,128,32), b (64,32,128)
-- each a new output per call, as torch.bmm(a, b).  The *_loop rows are the
-- same products as a Lua loop of 2-D out:mm(a_i, b_i) into rows of a
-- preallocated output, where OpenBLAS threads each matrix itself: what
-- the batch-parallel path of cpu_matmul_batched is measured against.
local reps = tonumber(arg[1]) or 30

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script
local function median_ms (f) return bench_util.median_ms(f, reps, 2) end

local cases = { { 16, 256, 64, 256 }, { 64, 128, 32, 128 } }
for _, c in ipairs(cases) do
  local B, M, K, N = c[1], c[2], c[3], c[4]
  local a, b = nn.tensor.randn(B, M, K), nn.tensor.randn(B, K, N)
  local key = ("bmm_%dx%dx%dx%d"):format(B, M, K, N)
  print(("%s %.4f"):format(key, median_ms(function () local c_ = a:matmul(b) end)))
  local out = nn.tensor.zeros(B, M, N)
  local a2, b2, o2 = a:view(B * M, K), b:view(B * K, N), out:view(B * M, N)
  local as, bs, os_ = {}, {}, {}
  for i = 1, B do
    as[i] = a2:narrow(1, (i - 1) * M + 1, M)
    bs[i] = b2:narrow(1, (i - 1) * K + 1, K)
    os_[i] = o2:narrow(1, (i - 1) * M + 1, M)
  end
  print(("%s_loop %.4f"):format(key, median_ms(function ()
    for i = 1, B do os_[i]:mm(as[i], bs[i]) end
  end)))
end
