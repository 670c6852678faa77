--- spec/cuda_parity_shape_spec.lua -- the shape ops on the GPU against the CPU.
--
-- Each op runs twice from the same inputs (drawn on the CPU and copied, so
-- both runs see the same bits): on the CPU and on the GPU.  They only move
-- elements, so the results must be equal bit for bit (tolerance 0): the
-- tiled transpose kernel (tensor/cuda_shape.cu) for transposes and
-- permutes whose last dim moves, the general strided kernel for the rest,
-- and tril/triu.  Sizes are chosen off the 32x32 tile (33, 65, 97) so the
-- partial tiles at the edges run, and large enough (1000 x 1000) that
-- more tiles than one wave of blocks are taken by the grid-stride loop.
--
-- Without a GPU this is one skipped test.  To check the suite itself here:
--   NNLUA_PARITY_DEVICE=cpu ./nnlua spec/run.lua spec/cuda_parity_shape_spec.lua
local nn = require "nn"

local DEV = os.getenv("NNLUA_PARITY_DEVICE") or "cuda"

local function same (what, want, got)
  assert.are.same(want.shape, got.shape, what .. ": shapes differ")
  assert.are.equal(want.dtype, got.dtype, what .. ": dtypes differ")
  assert.are.equal(DEV, got.device, what .. ": the result left the device")
  local a, b = want:view(-1), got:cpu():view(-1)
  local n = a:numel()
  if n == 0 then return end
  -- float32 and int32 alike compare as numbers; nan never appears (randn)
  local d = (a:float() - b:float()):abs():max()
  if d ~= 0 then error(("%s: differs by up to %g on %s"):format(what, d, DEV), 2) end
end

-- run(x) on a CPU tensor and on its copy on DEV; every result equal
local function compare (what, x, run)
  local want, got = run(x), run(x:to(DEV))
  if type(want) == "table" then
    assert.are.equal(#want, #got, what .. ": piece counts differ")
    for i = 1, #want do same(what .. " piece " .. i, want[i], got[i]) end
  else
    same(what, want, got)
  end
end

describe("CUDA parity of the shape ops (" .. DEV .. " against cpu)", function ()
  if DEV == "cuda" and not nn.cuda.is_available() then
    pending("no CUDA device: the shape parity suite is skipped")
    return
  end

  it("transposes and permutes: tiled and general kernels, both dtypes", function ()
    for _, s in ipairs({ { 33, 65 }, { 1000, 1000 }, { 1, 97 }, { 64, 32 } }) do
      local x = nn.tensor.randn(s[1], s[2])
      compare("t() " .. s[1] .. "x" .. s[2], x, function (v) return v:t() end)
      compare("t() int32", (x * 100):int(), function (v) return v:t() end)
    end
    local y = nn.tensor.randn(3, 5, 33, 40)
    compare("transpose(3, 4)", y, function (v) return v:transpose(3, 4) end)
    compare("transpose(1, 4)", y, function (v) return v:transpose(1, 4) end)
    compare("permute(2, 4, 1, 3)", y, function (v) return v:permute(2, 4, 1, 3) end)
    compare("permute(2, 1, 3, 4)", y, function (v) return v:permute(2, 1, 3, 4) end)
  end)

  it("expand, tile, narrow, select, split, chunk along every dim", function ()
    local x = nn.tensor.randn(4, 1, 35)
    compare("expand", x, function (v) return v:expand(2, 4, 3, 35) end)
    compare("tile", x, function (v) return v:tile(2, 3, 1, 2) end)
    local y = nn.tensor.randn(6, 7, 9)
    for d = 1, 3 do
      compare("narrow " .. d, y, function (v) return v:narrow(d, 2, 3) end)
      compare("select " .. d, y, function (v) return v:select(d, 2) end)
      compare("split " .. d, y, function (v) return v:split(4, d) end)
      compare("chunk " .. d, y, function (v) return v:chunk(3, d) end)
    end
  end)

  it("cat and stack along every dim", function ()
    local a, b = nn.tensor.randn(3, 4, 5), nn.tensor.randn(3, 4, 5)
    for d = 1, 3 do
      compare("cat " .. d, a, function (v)
        return nn.cat({ v, b:to(v.device), v }, d)
      end)
    end
    for d = 1, 4 do
      compare("stack " .. d, a, function (v) return nn.stack({ v, b:to(v.device) }, d) end)
    end
  end)

  it("tril and triu, both dtypes", function ()
    local x = nn.tensor.randn(2, 37, 41)
    for _, k in ipairs({ 0, 3, -5, 100 }) do
      compare("tril " .. k, x, function (v) return v:tril(k) end)
      compare("triu " .. k, (x * 10):int(), function (v) return v:triu(k) end)
    end
  end)

  it("t[i] and t[i] = v on the device", function ()
    local x = nn.tensor.randn(5, 6)
    compare("t[i]", x, function (v) return v[3] end)
    compare("t[i] = row", x, function (v)
      local c = v:clone()
      c[2] = nn.tensor.ones(6):to(v.device)
      c[4] = 0.5
      return c
    end)
  end)

  if DEV ~= "cpu" then
    it("cat refuses tensors on different devices, naming the position", function ()
      local a = nn.tensor.randn(2, 2)
      local ok, err = pcall(nn.cat, { a, a:to(DEV) })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("tensor 2 of the list is on " .. DEV, 1, true), err)
    end)
  end
end)
