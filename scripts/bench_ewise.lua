-- scripts/bench_ewise.lua -- nnlua's side of the element-wise benchmark
-- (scripts/bench_ewise_torch.py is PyTorch's, on the same work, with the
-- same keys):
--   ./nnlua scripts/bench_ewise.lua [REPS]
-- prints "key milliseconds", the median of REPS (default 9) timed calls after
-- 2 untimed ones, each call making its result as a new tensor:
--   bcast_row_ms    (4096x4096) + (4096)       a row over the rows (the bias add)
--   bcast_col_ms    (4096x4096) + (4096x1)     a column over the columns
--   bcast_outer_ms  (4096x1) + (1x4096)        an outer sum: both stretch
--   where_ms        where(cond, a, b), 2^24 elements each, cond = a:gt(0)
-- Times are wall-clock (nn.clock).
local reps = tonumber(arg[1]) or 9

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script
local function median_ms(fn) return bench_util.median_ms(fn, reps, 2) end

nn.manual_seed(1)
local N = 4096
local big, row, col, rowm = nn.tensor.randn(N, N), nn.tensor.randn(N), nn.tensor.randn(N, 1),
                            nn.tensor.randn(1, N)
local n = 1 << 24
local a, b = nn.tensor.randn(n), nn.tensor.randn(n)
local cond = a:gt(0)

print(("bcast_row_ms %.3f"):format(median_ms(function () return big + row end)))
print(("bcast_col_ms %.3f"):format(median_ms(function () return big + col end)))
print(("bcast_outer_ms %.3f"):format(median_ms(function () return col + rowm end)))
print(("where_ms %.3f"):format(median_ms(function () return nn.where(cond, a, b) end)))
