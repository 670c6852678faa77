-- Shape-op bench: the out-of-place transpose of a 2048x2048 float32 tensor
-- against a plain copy of it (clone: the memcpy yardstick), on the CPU.
--   ./nnlua scripts/bench_shape.lua            (keys match bench_shape_torch.py)
-- Prints `key value`, value the median in milliseconds of REPS timed calls
-- after WARM untimed ones; then the GB/s of each (bytes read + written) and
-- the transpose's share of the copy's bandwidth.
local nn = require "nn"

local N, WARM, REPS = 2048, 5, 31
local x = nn.tensor.randn(N, N)

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script
local function median_ms (f) return bench_util.median_ms(f, REPS, WARM) end

-- interleaved, copy first, so both see the same machine
local copy_ms = median_ms(function () return x:clone() end)
local t_ms = median_ms(function () return x:t() end)
local copy2_ms = median_ms(function () return x:clone() end)
copy_ms = math.min(copy_ms, copy2_ms)
local bytes = 2 * N * N * 4
print(("clone_2048_ms %.3f"):format(copy_ms))
print(("transpose_2048_ms %.3f"):format(t_ms))
print(("# clone %.1f GB/s, transpose %.1f GB/s: %.0f%% of the copy's bandwidth")
      :format(bytes / copy_ms / 1e6, bytes / t_ms / 1e6, 100 * copy_ms / t_ms))
