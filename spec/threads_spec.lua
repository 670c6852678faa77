--- spec/threads_spec.lua -- the numbers do not depend on the number of
-- threads: tensor/cpu_gemm.c cuts every matrix product into tiles by its
-- shape alone, each computed by single-threaded OpenBLAS, and the other
-- parallel loops (the optimizer updates) are element-wise.  Before that,
-- OpenBLAS split some products by its thread count, and a (128x512) @
-- (512x10) product differed in its last bits between 1 and 2 threads; so
-- would a training run, and with it any run whose thread count changes.
local nn = require "nn"
local H = require "spec.helpers"

local THREADS = { 1, 2, 3 }

--- fn() run under each thread count of THREADS; the results, in order.
local function under_each (fn)
  local saved, out = nn.get_num_threads(), {}
  for i, n in ipairs(THREADS) do
    nn.set_num_threads(n)
    local ok, r = pcall(fn)
    if not ok then nn.set_num_threads(saved); error(r, 0) end
    out[i] = r
  end
  nn.set_num_threads(saved)
  return out
end

local function assert_bits_equal (got, want, what)
  local g, w = got:view(-1), want:view(-1)
  for i = 1, w:numel() do
    if g:get(i) ~= w:get(i) then
      error(("%s: element %d is %.9g on one thread count and %.9g on another")
            :format(what, i, g:get(i), w:get(i)), 2)
    end
  end
end

describe("the number of threads", function()
  it("nn.set_num_threads sets it, nn.get_num_threads reads it", function()
    local saved = nn.get_num_threads()
    nn.set_num_threads(3)
    assert.are.equal(3, nn.get_num_threads())
    nn.set_num_threads(1)
    assert.are.equal(1, nn.get_num_threads())
    nn.set_num_threads(saved)
  end)

  it("refuses a count outside 1 .. 1024 or not an integer", function()
    H.assert_error_has(function() nn.set_num_threads(0) end,
                       {"bad argument #1", "must be in 1 .. 1024, got 0"})
    H.assert_error_has(function() nn.set_num_threads(1025) end, {"got 1025"})
    H.assert_error_has(function() nn.set_num_threads(math.mininteger) end, {"must be in 1 .. 1024"})
    H.assert_error_has(function() nn.set_num_threads(2.5) end, {"bad argument #1"})
    H.assert_error_has(function() nn.set_num_threads() end, {"bad argument #1"})
  end)

  it("gives matrix products the same bits, for every kind of shape", function()
    nn.manual_seed(5)
    -- {M, K, N, trans_a, trans_b}: the layers' three products, a last layer
    -- of 10 classes (the shape OpenBLAS used to split by thread count), a
    -- product one tile wide, one of many tiles, a tiny one, one row (gemv)
    local cases = { {128, 784, 512, false, true}, {128, 512, 10, false, true},
                    {512, 128, 784, true, false}, {10, 128, 512, true, false},
                    {300, 70, 1000, false, false}, {3, 4, 5, false, false},
                    {1, 784, 1024, false, true}, {1, 1024, 300, false, false} }
    for _, c in ipairs(cases) do
      local M, K, N, ta, tb = c[1], c[2], c[3], c[4], c[5]
      local a = ta and nn.tensor.randn(K, M) or nn.tensor.randn(M, K)
      local b = tb and nn.tensor.randn(N, K) or nn.tensor.randn(K, N)
      local outs = under_each(function () return a:matmul(b, ta, tb) end)
      for i = 2, #outs do
        assert_bits_equal(outs[i], outs[1], ("%dx%dx%d"):format(M, K, N))
      end
      -- and the value is the product (a loose check: the bits are the point)
      local i, j = M, N
      local want = 0
      for k = 1, K do
        want = want + (ta and a:get(k, i) or a:get(i, k)) * (tb and b:get(j, k) or b:get(k, j))
      end
      assert.is_true(math.abs(outs[1]:get(i, j) - want) <= 1e-3 * math.max(1, math.abs(want)))
    end
  end)

  it("gives batched products the same bits, small (over the batch) and large (in tiles)", function()
    nn.manual_seed(6)
    for _, c in ipairs{ {{16, 256, 64}, {16, 64, 256}}, {{2, 300, 500}, {2, 500, 400}},
                        {{3, 1, 40, 10}, {2, 10, 7}} } do
      local a, b = nn.tensor.randn(table.unpack(c[1])), nn.tensor.randn(table.unpack(c[2]))
      local outs = under_each(function () return a:matmul(b) end)
      for i = 2, #outs do assert_bits_equal(outs[i], outs[1], "batched " .. #c[1] .. "-D") end
    end
  end)

  it("gives large one-input element-wise ops and their backwards the same values, "
     .. "sliced over the threads (tensor/cpu.c, above 2^18 elements)", function()
    nn.manual_seed(7)
    local n = 2 ^ 18 + 37                           -- a short last slice
    local x, g = nn.tensor.randn(n), nn.tensor.randn(n)
    local function all ()
      local out = {}
      for _, name in ipairs{ "ReLU", "Tanh", "Sigmoid" } do
        local l = nn[name]()
        out[#out + 1] = l:forward(x):clone()
        out[#out + 1] = l:backward(g):clone()
      end
      out[#out + 1] = x:exp()
      return out
    end
    local runs = under_each(all)
    for i = 2, #runs do
      for k, t in ipairs(runs[i]) do
        local differ = t:ne(runs[1][k]):sum()
        assert(differ == 0, ("result %d on %d threads: %d of %d elements differ from 1 thread's")
                            :format(k, THREADS[i], differ, n))
      end
    end
  end)

  it("gives a training run the same weights", function()
    local function run ()
      nn.manual_seed(3)
      local x = nn.tensor.randn(600, 784)
      local labels = {}
      for i = 1, 600 do labels[i] = (i * 7) % 10 + 1 end
      local m = nn.Model()
      m:add(nn.Dense(784, 256, { activation = "relu" }))
      m:add(nn.Dense(256, 10))
      m:set{ loss = nn.CrossEntropyLoss(), optimizer = nn.optim.Adam{ lr = 1e-3 } }
      m:train(x, nn.tensor(labels), { epochs = 2, batch_size = 128, verbose = 0 })
      local w = {}
      for i, p in ipairs(m:parameters()) do w[i] = p:clone() end
      return w
    end
    local runs = under_each(run)
    for r = 2, #runs do
      for i, p in ipairs(runs[1]) do assert_bits_equal(runs[r][i], p, "parameter " .. i) end
    end
  end)
end)

describe("nn.threads.governor (model:train's threads = 'auto')", function()
  -- drive a governor with made-up batch times: `fast` threads take 1 ms a
  -- row, the other count 2 ms; returns the counts it ran each batch on
  local function drive(gov, batches, fast)
    local saved, ran = nn.get_num_threads(), {}
    for i = 1, batches do
      gov:before()
      ran[i] = nn.get_num_threads()
      gov:after((ran[i] == fast and 1e-3 or 2e-3) * 100, 100, true)
    end
    gov:finish()
    local after = nn.get_num_threads()
    nn.set_num_threads(saved)
    return ran, after
  end

  it("has nothing to choose on one thread", function()
    assert.is_nil(nn.threads.governor(1))
  end)

  it("keeps all threads while they are faster, probing ever more rarely", function()
    local saved = nn.get_num_threads()
    nn.set_num_threads(2)
    local ran, after = drive(nn.threads.governor(2), 400, 2)
    local on_one = 0
    for i = 1, #ran do if ran[i] == 1 then on_one = on_one + 1 end end
    -- probes after 32 full batches, then gaps of 64, 128, 256: 3 in 400,
    -- each 4 batches on one thread (alternating with 4 on two)
    assert.are.equal(3 * 4, on_one)
    assert.are.same({ 1, 2, 1, 2, 1, 2, 1, 2 }, { table.unpack(ran, 33, 40) })
    assert.are.equal(2, ran[400])
    assert.are.equal(2, after)
    nn.set_num_threads(saved)
  end)

  it("moves to one thread when one is faster (a busy machine), and back when the load goes", function()
    local gov = nn.threads.governor(2)
    local ran = drive(gov, 60, 1)
    assert.are.equal(2, ran[1])                 -- all threads to begin with
    assert.are.equal(1, ran[60])                -- the probe after batch 32 moved it
    assert.are.equal(1, gov.switches)
    local ran2 = drive(gov, 200, 2)             -- the load is gone: 2 threads win again
    assert.are.equal(2, ran2[200])
    assert.are.equal(2, gov.switches)
  end)

  it("a short batch in a probe is not counted: the probe runs that step again", function()
    local saved = nn.get_num_threads()
    local gov = nn.threads.governor(2)
    for _ = 1, 32 do gov:before(); gov:after(0.1, 100, true) end   -- up to the first probe
    for step = 1, 8 do                         -- each step of the probe once short, then full
      gov:before()
      local n = nn.get_num_threads()
      gov:after(0.1, 10, false)
      gov:before()
      assert.are.equal(n, nn.get_num_threads(), "step " .. step .. " again")
      gov:after(0.1, 100, true)
    end
    gov:before()                               -- the probe is over (it indexed past its plan)
    assert.is_nil(gov.plan)
    gov:finish()
    nn.set_num_threads(saved)
  end)

  it("model:train takes threads = 'auto' or a count, and puts the count back", function()
    local saved = nn.get_num_threads()
    local m = nn.Sequential{ nn.Linear(4, 2) }
    m:set{ loss = nn.MSELoss(), optimizer = nn.optim.SGD{ lr = 0.1 } }
    local x, y = nn.tensor.randn(8, 4), nn.tensor.randn(8, 2)
    m:train(x, y, { threads = 1, verbose = 0 })
    assert.are.equal(saved, nn.get_num_threads())
    m:train(x, y, { threads = "auto", verbose = 0 })
    assert.are.equal(saved, nn.get_num_threads())
    for _, bad in ipairs{ 0, 1025, 2.5, "x", true } do
      H.assert_error_has(function () m:train(x, y, { threads = bad, verbose = 0 }) end,
                         { 'model:train: threads must be "auto" or an integer in 1 .. 1024' })
    end
    assert.are.equal(saved, nn.get_num_threads())
  end)
end)
