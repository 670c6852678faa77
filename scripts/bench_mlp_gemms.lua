-- scripts/bench_mlp_gemms.lua -- where an MLP step's GEMM time goes: the 8
-- products of one training step of the MLP 784-512-1024-10 (3 forward, the
-- 3 dW, and dx of the last two layers: nobody needs the first layer's),
-- each timed alone 200 times with its GFLOP/s, and their sum over one
-- Fashion-MNIST epoch.  The large products should run near the machine's
-- sgemm rate (scripts/bench's GEMM row); the thin ones of the 10-class
-- layer do not.
--   nnlua scripts/bench_mlp_gemms.lua [BATCH = 128]
local B = tonumber(arg[1]) or 128
local function t(f, flops) for i=1,20 do f() end local n=200 local t0=nn.clock() for i=1,n do f() end local s=(nn.clock()-t0)/n return s*1e6, flops/s/1e9 end
local x = nn.tensor.rand(B,784); local W1 = nn.tensor.randn(512,784); local W2 = nn.tensor.randn(1024,512); local W3=nn.tensor.randn(10,1024)
local h1 = nn.tensor.zeros(B,512); local h2 = nn.tensor.zeros(B,1024); local y = nn.tensor.zeros(B,10)
local g3 = nn.tensor.randn(B,10); local g2 = nn.tensor.randn(B,1024); local g1 = nn.tensor.randn(B,512)
local dW1, dW2, dW3 = nn.tensor.zeros(512,784), nn.tensor.zeros(1024,512), nn.tensor.zeros(10,1024)
local dh1, dh2 = nn.tensor.zeros(B,512), nn.tensor.zeros(B,1024)
local total = 0
local function row(name, f, M, N, K) local us, gf = t(f, 2*M*N*K) total = total + us print(("%-28s %8.1f us %7.1f GFLOP/s"):format(name, us, gf)) end
row("fwd1 x W1^T (B,784,512)", function() h1:mm(x, W1, false, true) end, B, 512, 784)
row("fwd2 h1 W2^T (B,512,1024)", function() h2:mm(h1, W2, false, true) end, B, 1024, 512)
row("fwd3 h2 W3^T", function() y:mm(h2, W3, false, true) end, B, 10, 1024)
row("dW3 g3^T h2", function() dW3:mm(g3, h2, true, false) end, 10, 1024, B)
row("dh2 g3 W3", function() dh2:mm(g3, W3) end, B, 1024, 10)
row("dW2 g2^T h1 (1024,512,B)", function() dW2:mm(g2, h1, true, false) end, 1024, 512, B)
row("dh1 g2 W2 (B,512,1024)", function() dh1:mm(g2, W2) end, B, 512, 1024)
row("dW1 g1^T x (512,784,B)", function() dW1:mm(g1, x, true, false) end, 512, 784, B)
print(("total %.1f us/step, x %d steps = %.3f s"):format(total, 60000//B, total*(60000/B)/1e6))
