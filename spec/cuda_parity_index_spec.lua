-- spec/cuda_parity_index_spec.lua -- the index ops, sort and sampling on the
-- GPU against the CPU (the pattern of spec/cuda_parity_spec.lua).
--
-- Tolerances:
--   EXACT  0      argmax / max indices, gather, index_select, one_hot, sort,
--                 topk (the CUDA sort is the CPU's, on the host), and the
--                 draws of multinomial and bernoulli: both devices take the
--                 same Philox lanes and run the same NN_HD row function
--                 (tensor/index.h), with sums in double in the same order
--   ADD    1e-6   scatter_add and index_add: on the GPU the adds are
--                 atomicAdd, in an order that varies, so a sum of several
--                 float terms may differ in its last bits (a few ulp)
--
-- Without a GPU this is one skipped test.  To check the suite itself here:
--   NNLUA_PARITY_DEVICE=cpu ./nnlua spec/run.lua spec/cuda_parity_index_spec.lua
local nn = require "nn"
local H = require "spec.helpers"

local DEV = os.getenv("NNLUA_PARITY_DEVICE") or "cuda"
local EXACT, ADD = 0, 1e-6
local T = nn.tensor

local function available()
  if DEV ~= "cuda" then return true end
  return nn.cuda.is_available()
end

-- every element of a (on any device) within tol * max(1, |b|) of b's; same
-- shape and dtype
local function agree(a, b, tol, what)
  a, b = a:cpu(), b:cpu()
  assert.are.same(b.shape, a.shape, what .. ": shape")
  assert.are.equal(b.dtype, a.dtype, what .. ": dtype")
  local n = b:numel()
  local fa, fb = a:view(n), b:view(n)
  for k = 1, n do
    local x, y = fa:get(k), fb:get(k)
    if not H.close(x, y, tol) then
      error(("%s: element %d is %.9g on %s, %.9g on the cpu"):format(what, k, x, DEV, y), 2)
    end
  end
end

-- f(dev, inputs on dev...) run on the CPU and on DEV from the same inputs
local function parity(what, tol, f, ...)
  local cpu_in = { ... }
  local dev_in = {}
  for k, t in ipairs(cpu_in) do dev_in[k] = t:to(DEV) end
  local want = table.pack(f(table.unpack(cpu_in)))
  local got = table.pack(f(table.unpack(dev_in)))
  for k = 1, want.n do agree(got[k], want[k], tol, what .. " result " .. k) end
end

describe("index ops on " .. DEV .. " against the cpu", function()
  if not available() then
    pending("no CUDA device: CUDA parity specs of the index ops skipped")
    return
  end
  nn.manual_seed(2026)
  local x = T.randn(37, 53)
  local NAN = 0 / 0

  it("argmax, argmin, max and min along each dim (nan included)", function()
    local y = x:clone()
    y:set(3, 4, NAN)
    for d = 1, 2 do
      parity("argmax " .. d, EXACT, function (t) return t:argmax(d) end, y)
      parity("argmin " .. d, EXACT, function (t) return t:argmin(d, true) end, y)
      parity("max " .. d, EXACT, function (t) return t:max(d) end, y)
      parity("min " .. d, EXACT, function (t) return t:min(d) end, y)
    end
  end)

  it("gather and index_select with int32 and float32 indices", function()
    nn.manual_seed(1)
    local idx = (T.rand(37, 20) * 53 + 0.5):clamp(1, 53)
    idx = (idx + 0.5):int()                      -- truncates: 1..53
    parity("gather", EXACT, function (t, i) return t:gather(2, i) end, x, idx)
    parity("gather float idx", EXACT, function (t, i) return t:gather(2, i) end, x, idx:float())
    local rows = nn.randperm(37, {dtype = "int32"})
    parity("index_select", EXACT, function (t, i) return t:index_select(i) end, x, rows)
    parity("index_select dim 2", EXACT, function (t, i) return t:index_select(2, i) end, x,
           nn.randperm(53, {dtype = "int32"}))
    parity("one_hot", EXACT, function (l) return nn.data.one_hot(l, 37) end, rows)
  end)

  it("scatter_add and index_add, with repeated indices", function()
    idx = (T.rand(37, 53) * 4 + 1):int()         -- 1..4, many repeats
    parity("scatter_add", ADD, function (t, i, s) return t:scatter_add(2, i, s) end,
           T.zeros(37, 4), idx, x)
    parity("index_add", ADD, function (t, i, s) return t:index_add(1, i, s) end,
           T.zeros(5, 53), (T.rand(37) * 5 + 1):int(), x)
  end)

  it("sort and topk, ascending and descending, with ties and nan", function()
    local y = (x * 2):clamp(-1, 1)               -- many ties at -1 and 1
    y:set(2, 2, NAN)
    for _, desc in ipairs { false, true } do
      parity("sort", EXACT, function (t) return t:sort(2, desc) end, y)
      parity("sort dim 1", EXACT, function (t) return t:sort(1, desc) end, y)
      parity("topk", EXACT, function (t) return t:topk(5, 2, desc) end, y)
    end
  end)

  it("multinomial and bernoulli draw the same from the same seed", function()
    local probs = T.rand(7, 40)
    probs:set(1, 1, 0)
    for _, repl in ipairs { true, false } do
      nn.manual_seed(5)
      local a = nn.multinomial(probs, 30, repl)
      nn.manual_seed(5)
      local b = nn.multinomial(probs:to(DEV), 30, repl)
      agree(b, a, EXACT, "multinomial " .. tostring(repl))
    end
    nn.manual_seed(8)
    local p = T.rand(1000)
    nn.manual_seed(9)
    local c = p:bernoulli()
    nn.manual_seed(9)
    agree(p:to(DEV):bernoulli(), c, EXACT, "bernoulli")
  end)

  it("errors name the same index on both devices", function()
    local i = T{{1, 2}, {3, 99}}:int()
    local m1 = H.error_of(function() return x:narrow(1, 1, 2):gather(2, i) end)
    local m2 = H.error_of(function() return x:narrow(1, 1, 2):to(DEV):gather(2, i:to(DEV)) end)
    assert.is_truthy(m1:find("index 99 at position 4 is outside 1..53", 1, true), m1)
    assert.is_truthy(m2:find("index 99 at position 4 is outside 1..53", 1, true), m2)
    local m3 = H.error_of(function() return nn.bernoulli(T{0.5, 2}:to(DEV)) end)
    assert.is_truthy(m3:find("position 2", 1, true), m3)
  end)
end)
