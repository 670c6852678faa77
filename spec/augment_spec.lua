--- spec/augment_spec.lua -- the data augmentation transforms (nn.data.RandomCrop,
-- RandomHorizontalFlip, Normalize) and the DataLoader's transforms option: each
-- against hand-computed results on tiny images, the random choices against an
-- independent Philox in plain Lua, statistics over many draws, reproducibility
-- with nn.manual_seed, and every error.  (CPU against CUDA: cuda_parity_spec.lua.)
local nn = require "nn"
local H = require "spec.helpers"

-- --- Philox4x32-10 in plain Lua (tensor/philox.h's, written again): the
-- reference for which offsets and flips a seed must give ----------------------
local M32 = 0xffffffff

local function philox_block (seed, block)
  local c0, c1, c2, c3 = block & M32, (block >> 32) & M32, 0, 0
  local k0, k1 = seed & M32, (seed >> 32) & M32
  for r = 0, 9 do
    if r > 0 then k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32 end
    local p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2       -- < 2^64: wraps, bits kept
    c0, c1, c2, c3 = ((p1 >> 32) ~ c1 ~ k0) & M32, p1 & M32, ((p0 >> 32) ~ c3 ~ k1) & M32, p0 & M32
  end
  return { c0, c1, c2, c3 }
end

-- the documented draws (augment.h): image b of a call takes block offset + b
local function crop_offsets (seed, block, rows, cols)
  local r = philox_block(seed, block)
  return (r[1] * rows) >> 32, (r[2] * cols) >> 32
end
local function flips (seed, block, p)
  return (philox_block(seed, block)[1] >> 8) / 2 ^ 24 < p
end

-- x (1, 1, 2, 3) = 1 2 3 / 4 5 6
local function tiny () return nn.tensor{ { { {1, 2, 3}, {4, 5, 6} } } } end

describe("the reference Philox", function()
  it("gives the known answer of Salmon et al. (counter and key zero)", function()
    assert.are.same({ 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 }, philox_block(0, 0))
  end)
end)

describe("nn.data.RandomHorizontalFlip", function()
  it("p = 1 flips a 2x3 image left-right; p = 0 leaves it; x itself is untouched", function()
    local x = tiny()
    H.assert_tensor(nn.data.RandomHorizontalFlip(1)(x), { { { {3, 2, 1}, {6, 5, 4} } } }, H.EXACT)
    H.assert_tensor(nn.data.RandomHorizontalFlip(0)(x), { { { {1, 2, 3}, {4, 5, 6} } } }, H.EXACT)
    H.assert_tensor(x, { { { {1, 2, 3}, {4, 5, 6} } } }, H.EXACT, "x")
  end)

  it("flips every channel of an image together, an odd and an even width, in place", function()
    local x = nn.tensor{ { { {1, 2, 3} }, { {4, 5, 6} } }, { { {7, 8, 9} }, { {10, 11, 12} } } }
    local f = nn.data.RandomHorizontalFlip(1)
    assert.are.equal(x, f(x, x))
    H.assert_tensor(x, { { { {3, 2, 1} }, { {6, 5, 4} } }, { { {9, 8, 7} }, { {12, 11, 10} } } }, H.EXACT)
    local even = nn.tensor{ { { {1, 2, 3, 4} } } }
    H.assert_tensor(f(even), { { { {4, 3, 2, 1} } } }, H.EXACT)
  end)

  it("flips the images a seed says (Philox lane 0 < p, one block per image)", function()
    nn.manual_seed(42)
    local seed, offset = nn.get_rng_state()
    local B = 40
    local x = nn.tensor.arange(1, 2 * B + 1):view(B, 1, 1, 2)
    local y = nn.data.RandomHorizontalFlip(0.5)(x)
    local _, after = nn.get_rng_state()
    assert.are.equal(offset + B, after, "one block per image")
    local want, n = {}, 0
    for b = 1, B do
      local a, z = 2 * b - 1, 2 * b
      if flips(seed, offset + b - 1, 0.5) then want[b] = { { {z, a} } }; n = n + 1
      else want[b] = { { {a, z} } } end
    end
    assert.is_true(n > 5 and n < 35, "both kinds among 40")
    H.assert_tensor(y, want, H.EXACT)
  end)

  it("flips a fraction near p of many images (4000, p = 0.3)", function()
    nn.manual_seed(7)
    local B = 4000
    local x = nn.tensor{ { { {0, 1} } } }:expand(B, 1, 1, 2):clone()   -- each 0 1; flipped: 1 0
    local y = nn.data.RandomHorizontalFlip(0.3)(x)
    local fraction = y:view(B, 2):narrow(2, 1, 1):sum() / B
    -- sd = sqrt(0.3 * 0.7 / 4000) = 0.0072: 4 sd
    assert.is_true(math.abs(fraction - 0.3) < 0.029, "fraction " .. fraction)
  end)

  it("refuses p outside [0, 1] and x not a batch of images", function()
    for _, p in ipairs{ -0.1, 1.5, 0 / 0 } do
      H.assert_error_has(function () nn.data.RandomHorizontalFlip(p) end,
                         {"RandomHorizontalFlip: p must be a number in [0, 1], got"})
    end
    H.assert_error_has(function () nn.data.RandomHorizontalFlip("a") end, {"got a"})
    local f = nn.data.RandomHorizontalFlip()
    H.assert_error_has(function () f(nn.tensor.zeros(4, 784)) end,
                       {"RandomHorizontalFlip: expected x [B x C x H x W] (a batch of images), "
                        .. "got [4x784]: view flat images as (B, C, H, W) first"})
    H.assert_error_has(function () f(nn.tensor.zeros(4, 28, 28)) end,
                       {"got [4x28x28]: view greyscale images (B, H, W) as (B, 1, H, W) first, "
                        .. "x:view(4, 1, 28, 28)"})
    H.assert_error_has(function () f(nn.tensor.zeros(1, 1, 2, 2, 2)) end, {"got [1x1x2x2x2]"})
    H.assert_error_has(function () f({}) end, {"RandomHorizontalFlip: x must be a tensor"})
    H.assert_error_has(function () f(nn.tensor.zeros(1, 1, 2, 2):int()) end,
                       {"float32 tensor expected"})
  end)

  it("prints readably", function()
    assert.are.equal("RandomHorizontalFlip(p=0.5)", tostring(nn.data.RandomHorizontalFlip()))
    assert.are.equal("RandomHorizontalFlip(p=0.25)", tostring(nn.data.RandomHorizontalFlip(0.25)))
  end)
end)

describe("nn.data.RandomCrop", function()
  -- x (1, 1, 2, 3) padded by 1:   0 0 0 0 0
  --                               0 1 2 3 0
  --                               0 4 5 6 0
  --                               0 0 0 0 0
  it("crops the zero-padded image at given offsets (the specs' hook)", function()
    local crop, x = nn.data.RandomCrop(2, {padding = 1}), tiny()
    H.assert_tensor(crop:_at(x, 0, 0), { { { {0, 0}, {0, 1} } } }, H.EXACT, "(0, 0)")
    H.assert_tensor(crop:_at(x, 1, 2), { { { {2, 3}, {5, 6} } } }, H.EXACT, "(1, 2)")
    H.assert_tensor(crop:_at(x, 2, 3), { { { {6, 0}, {0, 0} } } }, H.EXACT, "(2, 3)")
    local wide = nn.data.RandomCrop({1, 5}, {padding = 1})
    H.assert_tensor(wide:_at(x, 2, 0), { { { {0, 4, 5, 6, 0} } } }, H.EXACT, "{1, 5} at (2, 0)")
    H.assert_tensor(nn.data.RandomCrop({2, 3}):_at(x, 0, 0), x:totable(), H.EXACT, "no padding")
    H.assert_error_has(function () crop:_at(x, 3, 0) end, {"offsets (3, 0) must be in 0 .. 2 and 0 .. 3"})
  end)

  it("crops at the offsets a seed says (Philox lanes 0 and 1, one block per image)", function()
    nn.manual_seed(2026)
    local seed, offset = nn.get_rng_state()
    local crop = nn.data.RandomCrop(2, {padding = 1})
    local x = nn.tensor{ { { {1, 2, 3}, {4, 5, 6} } }, { { {7, 8, 9}, {10, 11, 12} } },
                         { { {13, 14, 15}, {16, 17, 18} } } }
    local y = crop(x):clone()             -- crop.output: _at below writes there
    for b = 1, 3 do
      local top, left = crop_offsets(seed, offset + b - 1, 3, 4)
      local want = crop:_at(x:narrow(1, b, 1), top, left):totable()[1]
      H.assert_tensor(y:narrow(1, b, 1), { want }, H.EXACT, ("image %d at (%d, %d)"):format(b, top, left))
    end
  end)

  -- B images (1, 3, 3) whose pixel (h, w) holds 10 h + w (1-based), cropped
  -- to 3x3 with padding 2: every window holds a real pixel, whose value and
  -- place give the offsets
  local function offsets_of (y, b, pad)
    local img = y[b][1]
    for i = 1, 3 do
      for j = 1, 3 do
        local v = img[i][j]
        if v > 0 then return (v // 10 - 1) + pad - (i - 1), (v % 10 - 1) + pad - (j - 1) end
      end
    end
  end

  it("draws every offset, about equally often (2000 images, 5 x 5 offsets)", function()
    nn.manual_seed(11)
    local B, pad = 2000, 2
    local one = {}
    for h = 1, 3 do one[h] = {} for w = 1, 3 do one[h][w] = 10 * h + w end end
    local x = nn.tensor{ { one } }:expand(B, 1, 3, 3):clone()
    local y = nn.data.RandomCrop(3, {padding = pad})(x):totable()
    local count = {}
    for b = 1, B do
      local top, left = offsets_of(y, b, pad)
      assert.is_true(top >= 0 and top <= 4 and left >= 0 and left <= 4, "offsets in range")
      local k = top * 5 + left
      count[k] = (count[k] or 0) + 1
    end
    -- 80 expected each, sd sqrt(80 * 24/25) = 8.8: 4.5 sd either side
    for k = 0, 24 do
      assert.is_true(count[k] ~= nil and count[k] > 40 and count[k] < 120,
                     ("offset (%d, %d) drawn %s times"):format(k // 5, k % 5, tostring(count[k])))
    end
  end)

  it("keeps its output buffer across calls, and x untouched", function()
    local crop, x = nn.data.RandomCrop(2, {padding = 1}), tiny()
    local first = crop(x)
    local ptr = first:data_ptr()
    assert.are.equal(first, crop.output)
    assert.are.equal(first, crop(x))
    assert.are.equal(ptr, crop(x):data_ptr())
    H.assert_tensor(x, { { { {1, 2, 3}, {4, 5, 6} } } }, H.EXACT)
    local out = nn.tensor.zeros(7)
    assert.are.equal(out, crop(x, out))
    assert.are.same({1, 1, 2, 2}, out.shape)
  end)

  it("refuses a size larger than the padded image, bad sizes, and working in place", function()
    local x = nn.tensor.zeros(2, 3, 28, 28)
    H.assert_error_has(function () nn.data.RandomCrop(32)(x) end,
                       {"RandomCrop: size 32x32 is larger than the padded image 28x28 (x [2x3x28x28], padding 0)"})
    H.assert_error_has(function () nn.data.RandomCrop(37, {padding = 4})(x) end,
                       {"size 37x37 is larger than the padded image 36x36"})
    assert.are.same({2, 3, 36, 36}, nn.data.RandomCrop(36, {padding = 4})(x).shape)
    H.assert_error_has(function () nn.data.RandomCrop(28)(nn.tensor.zeros(2, 784)) end,
                       {"RandomCrop: expected x [B x C x H x W] (a batch of images), got [2x784]"})
    H.assert_error_has(function () nn.data.RandomCrop(0) end, {"RandomCrop: size must be an integer >= 1, got 0"})
    H.assert_error_has(function () nn.data.RandomCrop(2.5) end, {"size must be an integer >= 1, got 2.5"})
    H.assert_error_has(function () nn.data.RandomCrop({2, 0}) end, {"size[2] must be an integer >= 1, got 0"})
    H.assert_error_has(function () nn.data.RandomCrop({2, 3, 4}) end, {"a pair {h, w}, got a table of 3 values"})
    H.assert_error_has(function () nn.data.RandomCrop("28") end, {"a pair {h, w}, got string"})
    H.assert_error_has(function () nn.data.RandomCrop(2, {padding = -1}) end,
                       {"RandomCrop: padding must be an integer >= 0, got -1"})
    H.assert_error_has(function () nn.data.RandomCrop(2, {pad = 1}) end, {"RandomCrop has no option 'pad'"})
    H.assert_error_has(function () nn.data.RandomCrop(2)(x, x) end,
                       {"RandomCrop cannot work in place (out is x)"})
    H.assert_error_has(function () nn.data.RandomCrop(2)(x, 3) end, {"RandomCrop: out must be a tensor"})
  end)

  it("prints readably", function()
    assert.are.equal("RandomCrop(28, padding=4)", tostring(nn.data.RandomCrop(28, {padding = 4})))
    assert.are.equal("RandomCrop(28)", tostring(nn.data.RandomCrop(28)))
    assert.are.equal("RandomCrop({24, 28}, padding=2)", tostring(nn.data.RandomCrop({24, 28}, {padding = 2})))
  end)
end)

describe("nn.data.Normalize", function()
  it("subtracts each channel's mean and divides by its std", function()
    local x = nn.tensor{ { { {1, 3} }, { {2, 10} } }, { { {5, -1} }, { {6, 0} } } }   -- (2, 2, 1, 2)
    local t = nn.data.Normalize({1, 2}, {2, 4})
    H.assert_tensor(t(x), { { { {0, 1} }, { {0, 2} } }, { { {2, -1} }, { {1, -0.5} } } }, H.EXACT)
    H.assert_tensor(nn.data.Normalize(1, 2)(x),
                    { { { {0, 1} }, { {0.5, 4.5} } }, { { {2, -1} }, { {2.5, -0.5} } } }, H.EXACT, "numbers")
    H.assert_tensor(nn.data.Normalize({1, 2}, 2)(x),
                    { { { {0, 1} }, { {0, 4} } }, { { {2, -1} }, { {2, -1} } } }, H.EXACT, "a list and a number")
    -- in float32, as torchvision: (x - mean) / std, not x * (1 / std)
    local v = nn.data.Normalize(0.1307, 0.3081)(nn.tensor{ { { {0.5} } } }):item()
    local f = function (n) return string.unpack("f", string.pack("f", n)) end
    assert.are.equal(f(f(f(0.5) - f(0.1307)) / f(0.3081)), v)
  end)

  it("works in place, and draws nothing", function()
    local x = nn.tensor{ { { {3, 5} } } }
    local _, before = nn.get_rng_state()
    assert.are.equal(x, nn.data.Normalize(1, 2)(x, x))
    H.assert_tensor(x, { { { {1, 2} } } }, H.EXACT)
    local _, after = nn.get_rng_state()
    assert.are.equal(before, after)
  end)

  it("refuses std <= 0, lists of another length than C, and bad values", function()
    H.assert_error_has(function () nn.data.Normalize(0, 0) end, {"Normalize: std must be > 0, got 0"})
    H.assert_error_has(function () nn.data.Normalize({0, 0}, {1, -1}) end,
                       {"Normalize: std must be > 0, got -1 (std[2])"})
    H.assert_error_has(function () nn.data.Normalize({0, 0}, {1, 2, 3}) end,
                       {"Normalize: mean has 2 values but std has 3"})
    H.assert_error_has(function () nn.data.Normalize("a", 1) end,
                       {"Normalize: mean must be a number or a list of numbers (one per channel), got string"})
    H.assert_error_has(function () nn.data.Normalize({}, 1) end, {"got an empty table"})
    H.assert_error_has(function () nn.data.Normalize({0, "x"}, 1) end, {"Normalize: mean[2] must be a number, got x"})
    H.assert_error_has(function () nn.data.Normalize(0 / 0, 1) end, {"Normalize: mean[1] must be a number"})
    local t = nn.data.Normalize({0.5, 0.5, 0.5}, {0.2, 0.2, 0.2})
    H.assert_error_has(function () t(nn.tensor.zeros(4, 1, 28, 28)) end,
                       {"Normalize: mean and std have 3 values but x [4x1x28x28] has 1 channel"})
    H.assert_error_has(function () t(nn.tensor.zeros(4, 2, 2, 2)) end, {"has 2 channels"})
    H.assert_error_has(function () t(nn.tensor.zeros(4, 3)) end, {"Normalize: expected x [B x C x H x W]"})
  end)

  it("prints readably", function()
    assert.are.equal("Normalize(mean=0.1307, std=0.3081)", tostring(nn.data.Normalize(0.1307, 0.3081)))
    assert.are.equal("Normalize(mean={0.4914, 0.4822, 0.4465}, std={0.247, 0.243, 0.261})",
                     tostring(nn.data.Normalize({0.4914, 0.4822, 0.4465}, {0.247, 0.243, 0.261})))
  end)
end)

describe("the C half, nn.core.data (checked again below the Lua checks)", function()
  local C = require("nn.core").data
  it("refuses what the Lua side would, naming the transform", function()
    local x, out = nn.tensor.zeros(1, 1, 2, 3), nn.tensor.zeros(0)
    H.assert_error_has(function () C.random_crop(out, nn.tensor.zeros(2, 3), 1, 1, 0) end,
                       {"RandomCrop: expected x [B x C x H x W] (a batch of images), got [2x3]"})
    H.assert_error_has(function () C.random_crop(out, x, 3, 1, 0) end,
                       {"RandomCrop: size 3x1 is larger than the padded image 2x3"})
    H.assert_error_has(function () C.random_crop(x, x, 1, 1, 0) end, {"out shares memory with x"})
    H.assert_error_has(function () C.random_crop(out, x, 1, 1, 0, 2, 0) end, {"offsets (2, 0) must be in"})
    H.assert_error_has(function () C.random_hflip(out, x, 2) end,
                       {"RandomHorizontalFlip: p must be in [0, 1], got 2"})
    H.assert_error_has(function () C.random_hflip(x:view(-1):narrow(1, 2, 5):view(1, 1, 1, 5), x, 1) end,
                       {"out shares memory with x"})
    H.assert_error_has(function () C.normalize_channels(out, x, nn.tensor{0, 0}, nn.tensor{1, 1}) end,
                       {"Normalize: mean and std have 2 values but x [1x1x2x3] has 1 channels"})
    H.assert_error_has(function () C.normalize_channels(out, x, nn.tensor{0}, nn.tensor{0}) end,
                       {"Normalize: std must be > 0, got 0"})
  end)
end)

describe("nn.data.DataLoader with transforms", function()
  local function images (n) return nn.tensor.arange(1, n * 2 * 4 * 4 + 1):view(n, 2, 4, 4) end

  it("applies the transforms in order to each batch, on the batch", function()
    local x, y = images(5), nn.tensor{1, 2, 3, 4, 5}
    local loader = nn.data.DataLoader(x, y, { batch_size = 2, shuffle = false, transforms = {
      nn.data.RandomHorizontalFlip(1), nn.data.Normalize(1, 2), function (b) return b * -1 end } })
    local k = 0
    for xb, yb in loader:iter() do
      local rows = yb.shape[1]
      local want = (nn.data.RandomHorizontalFlip(1)(x:narrow(1, k + 1, rows)) - 1) / -2
      H.assert_tensor(xb, want:totable(), H.EXACT, "batch of " .. k)
      k = k + rows
    end
    assert.are.equal(5, k)
    assert.are.equal("DataLoader(5 samples, batch_size 2, 3 batches; RandomHorizontalFlip(p=1), "
                     .. "Normalize(mean=1, std=2), " .. tostring(loader.transforms[3]) .. ")",
                     tostring(loader))
  end)

  it("crops every batch to the transform's size, and leaves x alone", function()
    local x = images(6)
    local before = x:clone()
    local loader = nn.data.DataLoader(x, nil, { batch_size = 4, transforms = {
      nn.data.RandomCrop(3, {padding = 1}), nn.data.RandomHorizontalFlip() } })
    for xb in loader:iter() do assert.are.same(3, xb.shape[3]); assert.are.same(3, xb.shape[4]) end
    H.assert_tensor(x, before:totable(), H.EXACT)
  end)

  -- one shuffled epoch with a crop and a flip: its batches, cloned
  local function epoch (seed)
    nn.manual_seed(seed)
    local loader = nn.data.DataLoader(images(10), nn.tensor.arange(1, 11), { batch_size = 4,
      transforms = { nn.data.RandomCrop(3, {padding = 2}), nn.data.RandomHorizontalFlip(0.5) } })
    local out = {}
    for xb, yb in loader:iter() do out[#out + 1] = { xb:totable(), yb:totable() } end
    return out
  end

  it("repeats an epoch exactly after nn.manual_seed, and another seed gives another", function()
    assert.are.same(epoch(3), epoch(3))
    assert.are.not_same(epoch(3), epoch(4))
  end)

  it("gives the same bits on 1, 2 and 3 threads (each image's choice is its own)", function()
    local saved, runs = nn.get_num_threads(), {}
    local x = nn.tensor.randn(64, 3, 24, 24)               -- 110592 values: the parallel loops
    local ts = { nn.data.RandomCrop(20, {padding = 3}), nn.data.RandomHorizontalFlip(),
                 nn.data.Normalize({0.1, 0.2, 0.3}, {1, 2, 3}) }
    for i, n in ipairs{ 1, 2, 3 } do
      nn.set_num_threads(n)
      nn.manual_seed(5)
      local ok, err = pcall(function ()
        local out = x
        for _, t in ipairs(ts) do out = t(out) end
        runs[i] = out:clone()
      end)
      if not ok then nn.set_num_threads(saved); error(err, 0) end
    end
    nn.set_num_threads(saved)
    assert.are.equal(0, (runs[2] - runs[1]):abs():max())
    assert.are.equal(0, (runs[3] - runs[1]):abs():max())
  end)

  it("refuses an unknown object, a non-list, and transforms that do not fit x", function()
    local x = images(4)
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = { nn.data.RandomHorizontalFlip(), {} } }) end,
                       {"DataLoader: transforms[2] must be a transform (nn.data.RandomCrop, "
                        .. "RandomHorizontalFlip, Normalize) or a function x -> x, got table"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = { nn.tensor.zeros(1) } }) end,
                       {"transforms[1] must be a transform", "got a tensor"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = { nn.ReLU() } }) end,
                       {"transforms[1] must be a transform"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = nn.data.RandomHorizontalFlip() }) end,
                       {"DataLoader: transforms must be a list, e.g. {nn.data.RandomHorizontalFlip()}, "
                        .. "got RandomHorizontalFlip(p=0.5)"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = 3 }) end,
                       {"transforms must be a list", "got number"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = { a = 1 } }) end,
                       {"transforms must be a list, got a table with the key a"})
    -- checked against x's shape when the loader is made, at the caller's line
    local ok, err = pcall(function () nn.data.DataLoader(x, nil, { transforms = { nn.data.RandomCrop(7) } }) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("augment_spec.lua", 1, true), err)
    assert.truthy(tostring(err):find("RandomCrop: size 7x7 is larger than the padded image 4x4", 1, true), err)
    H.assert_error_has(function () nn.data.DataLoader(x:view(4, 32), nil, { transforms = { nn.data.RandomHorizontalFlip() } }) end,
                       {"RandomHorizontalFlip: expected x [B x C x H x W] (a batch of images), got [4x32]"})
    H.assert_error_has(function () nn.data.DataLoader(x, nil, { transforms = { nn.data.Normalize({1, 2, 3}, 1) } }) end,
                       {"Normalize: mean and std have 3 values but x [4x2x4x4] has 2 channels"})
    -- after a crop the next transform sees the cropped shape
    assert.is_not_nil(nn.data.DataLoader(x, nil, { transforms = { nn.data.RandomCrop(3), nn.data.Normalize({0, 0}, 1) } }))
    local loader = nn.data.DataLoader(x, nil, { transforms = { function () return 1 end } })
    H.assert_error_has(function () for _ in loader:iter() do end end,
                       {"DataLoader: transforms[1] returned number, not a tensor"})
  end)

  it("leaves a loader without transforms as it was", function()
    local loader = nn.data.DataLoader(images(3), nil, { batch_size = 2, shuffle = false })
    assert.is_nil(loader.transforms)
    for xb in loader:iter() do assert.are.equal(loader.xb, xb) end
  end)
end)
