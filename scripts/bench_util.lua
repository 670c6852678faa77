-- scripts/bench_util.lua -- what the benchmark scripts share:
--   local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")
--   median_ms(f, reps, warm) -> the median wall time of one call of f, in
--   milliseconds, over `reps` timed calls after `warm` untimed ones
--   (nn.clock: a monotonic wall clock; os.clock would count every thread).
local M = {}

function M.median_ms(f, reps, warm)
  for _ = 1, warm do f() end
  local times = {}
  for r = 1, reps do
    local t0 = nn.clock()
    f()
    times[r] = (nn.clock() - t0) * 1e3
  end
  table.sort(times)
  return times[(reps + 1) // 2]
end

return M
