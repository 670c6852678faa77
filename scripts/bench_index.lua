-- scripts/bench_index.lua -- index ops, sort and sampling against PyTorch
-- (scripts/bench_index_torch.py prints the same keys).
--   ./nnlua scripts/bench_index.lua
-- Each line: `key milliseconds`, the median of 7 timed repetitions after 2
-- warm-up calls (wall clock, nn.clock), on the CPU.
local nn = require "nn"
local T = nn.tensor

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script
local function median_ms(f) return bench_util.median_ms(f, 7, 2) end

nn.manual_seed(0)
local x = T.randn(1024, 1024)
local idx = (T.rand(1024, 1024) * 1024 + 1):clamp(1, 1024):int()
local src = T.randn(1024, 1024)
local probs = T.rand(1024, 100)

local cases = {
  { "sort_1024x1024_rows", function () x:sort(2) end },
  { "topk10_1024x1024_rows", function () x:topk(10, 2) end },
  { "argmax_1024x1024_rows", function () x:argmax(2) end },
  { "gather_1024x1024", function () x:gather(2, idx) end },
  { "scatter_add_1024x1024", function () T.zeros(1024, 1024):scatter_add_(2, idx, src) end },
  { "multinomial_1024x100_n10", function () nn.multinomial(probs, 10, true) end },
  { "bernoulli_1024x1024", function () x:clamp(0, 1):bernoulli() end },
}
for _, c in ipairs(cases) do
  io.write(("%s %.3f\n"):format(c[1], median_ms(c[2])))
end
