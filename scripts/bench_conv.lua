-- Conv2d bench: forward + backward of one nn.Conv2d (padding 1, 3x3
-- kernel, batch 64) at the three shapes of a small MNIST CNN, on the CPU.
--   ./nnlua scripts/bench_conv.lua [reps]       (keys match bench_conv_torch.py)
-- Prints `key value`, value the median in milliseconds of one iteration
-- (forward, then backward of a fixed grad_output into the input, weight
-- and bias gradients) over REPS timed iterations after WARM untimed ones.
local nn = require "nn"

local WARM, REPS = 3, tonumber(arg and arg[1]) or 21
local B = 64
-- name, C_in, C_out, H (= W)
local SHAPES = {
  { "conv_28x28x1_to_32", 1, 32, 28 },
  { "conv_14x14x32_to_64", 32, 64, 14 },
  { "conv_7x7x64_to_128", 64, 128, 7 },
}

local bench_util = dofile((arg[0]:match("^(.*/)") or "") .. "bench_util.lua")   -- beside this script

nn.manual_seed(1)
for _, s in ipairs(SHAPES) do
  local name, cin, cout, hw = table.unpack(s)
  local layer = nn.Conv2d(cin, cout, 3, {padding = 1})
  local x = nn.tensor.randn(B, cin, hw, hw)
  local g = nn.tensor.randn(B, cout, hw, hw)
  local ms = bench_util.median_ms(function ()
    layer:forward(x)
    layer:backward(g, {accumulate = false})
  end, REPS, WARM)
  -- 3 GEMMs of 2 B Ho Wo C_out C_in k^2 flops each (forward, dW, dx)
  local gflop = 3 * 2 * B * hw * hw * cout * cin * 9 / 1e9
  print(("%s_ms %.3f"):format(name, ms))
  print(("# %s: %.1f GFLOP/s"):format(name, gflop / ms * 1e3))
end
