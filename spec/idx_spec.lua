--- spec/idx_spec.lua -- nn.data.load_idx: the IDX reader of io/idx.c, on good,
-- truncated, corrupt and foreign files, plain and gzip'd.
--
-- The files are made here, byte by byte: an IDX header is 00 00, a type
-- byte, a dim count, then big-endian uint32 sizes (io/idx.h).  gzip files
-- are made with deflate's "stored" blocks (RFC 1951 sec. 3.2.4: the bytes
-- as they are, after a 5-byte block header) inside a gzip member (RFC 1952:
-- a 10-byte header, then CRC-32 and length), so a spec can corrupt any byte
-- of them on purpose; data/fixtures/idx_ubyte_2x3x4.gz is a real
-- `gzip -9 -n` stream, compressed.
local nn = require "nn"
local H = require "spec.helpers"

local UBYTE, SBYTE, INT16, INT32, FLOAT32, FLOAT64 = 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E

-- An IDX file: header for `type` and `dims`, then the payload as given.
local function idx (type, dims, payload)
  local parts = { "\0\0", string.char(type, #dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
  parts[#parts + 1] = payload or ""
  return table.concat(parts)
end

-- CRC-32 of s (the gzip trailer's; ISO 3309, reflected polynomial 0xEDB88320).
local function crc32 (s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do
      crc = (crc & 1 == 1) and ((crc >> 1) ~ 0xEDB88320) or (crc >> 1)
    end
  end
  return crc ~ 0xFFFFFFFF
end

-- s as a gzip member of stored deflate blocks (at most 65535 bytes each).
local function gzip_stored (s)
  local parts = { "\31\139\8\0\0\0\0\0\0\3" }             -- 1f 8b, deflate, no flags, Unix
  local pos = 1
  repeat
    local chunk = s:sub(pos, pos + 65534)
    pos = pos + #chunk
    local final = pos > #s and 1 or 0
    parts[#parts + 1] = string.char(final) .. string.pack("<I2<I2", #chunk, (~#chunk) & 0xFFFF) .. chunk
  until pos > #s
  parts[#parts + 1] = string.pack("<I4<I4", crc32(s), #s & 0xFFFFFFFF)
  return table.concat(parts)
end

local tmpdir
local function path_of (name) return tmpdir .. "/" .. name end

-- Write bytes to a fresh file in the spec's folder; return its path.
local count = 0
local function file_with (bytes, ext)
  count = count + 1
  local p = path_of(("f%d%s"):format(count, ext or ".idx"))
  H.write_file(p, bytes)
  return p
end

local function load_error (bytes, ext)
  local p = file_with(bytes, ext)
  return p, H.error_of(nn.data.load_idx, p)
end

-- Assert loading `bytes` fails with a message "load_idx: <path>: ..." that
-- holds every string of `parts`.
local function assert_rejects (bytes, parts, ext)
  local p, msg = load_error(bytes, ext)
  local want = { "load_idx: " .. p .. ": " }
  for _, s in ipairs(parts) do want[#want + 1] = s end
  for _, s in ipairs(want) do
    if not msg:find(s, 1, true) then
      error(("error message %q does not contain %q"):format(msg, s), 2)
    end
  end
  return msg
end

local function bytes_of (values)
  return string.char(table.unpack(values))
end

setup(function () tmpdir = H.temp_dir() end)

teardown(function () H.remove_dir(tmpdir) end)

describe("nn.data.load_idx on good files", function ()
  it("reads unsigned bytes as their values 0..255, shape from the header", function ()
    local t = nn.data.load_idx(file_with(idx(UBYTE, {3}, bytes_of{0, 127, 255})))
    H.assert_tensor(t, {0, 127, 255}, H.EXACT)
    assert.are.equal("cpu", t.device)
  end)

  it("lays out a 3-D file row-major, last dim fastest", function ()
    local payload = {}
    for i = 0, 23 do payload[#payload + 1] = i end
    local t = nn.data.load_idx(file_with(idx(UBYTE, {2, 3, 4}, bytes_of(payload))))
    H.assert_tensor(t, {{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}},
                        {{12, 13, 14, 15}, {16, 17, 18, 19}, {20, 21, 22, 23}}}, H.EXACT)
  end)

  it("reads signed bytes in two's complement", function ()
    local t = nn.data.load_idx(file_with(idx(SBYTE, {4}, bytes_of{0x80, 0xff, 0x00, 0x7f})))
    H.assert_tensor(t, {-128, -1, 0, 127}, H.EXACT)
  end)

  it("reads int16 big-endian", function ()
    local t = nn.data.load_idx(file_with(idx(INT16, {2, 2}, string.pack(">i2>i2>i2>i2",
                                                                      -32768, -1, 258, 32767))))
    H.assert_tensor(t, {{-32768, -1}, {258, 32767}}, H.EXACT)
  end)

  it("reads int32 big-endian", function ()
    local t = nn.data.load_idx(file_with(idx(INT32, {3}, string.pack(">i4>i4>i4",
                                                                   -2147483648, 65536, -2))))
    H.assert_tensor(t, {-2147483648, 65536, -2}, H.EXACT)
  end)

  it("reads float32 big-endian, bit for bit", function ()
    local t = nn.data.load_idx(file_with(idx(FLOAT32, {3}, string.pack(">f>f>f", 1.5, -0.25, 1e-3))))
    -- 1e-3 goes through a float32 in the file: string.pack rounds it once,
    -- the reader must give back those very bits
    H.assert_tensor(t, {1.5, -0.25, (string.unpack("f", string.pack("f", 1e-3)))}, H.EXACT)
  end)

  it("reads float64 big-endian, rounded to float32", function ()
    local t = nn.data.load_idx(file_with(idx(FLOAT64, {1, 2}, string.pack(">d>d", 3.25, 0.1))))
    H.assert_tensor(t, {{3.25, (string.unpack("f", string.pack("f", 0.1)))}}, H.EXACT)
  end)

  it("reads 5 dims, the most a tensor has", function ()
    local t = nn.data.load_idx(file_with(idx(UBYTE, {1, 2, 1, 1, 2}, bytes_of{1, 2, 3, 4})))
    assert.are.same({1, 2, 1, 1, 2}, t.shape)
    assert.are.equal(10, t:sum())
  end)

  it("reads a size of 0 as an empty tensor", function ()
    local t = nn.data.load_idx(file_with(idx(UBYTE, {0, 28})))
    assert.are.same({0, 28}, t.shape)
    assert.are.equal(0, t:numel())
  end)

  it("reads a gzip stream the same as the plain file", function ()
    local plain = idx(INT16, {2, 3}, string.pack(">i2>i2>i2>i2>i2>i2", 1, -2, 3, -4, 5, 300))
    local a = nn.data.load_idx(file_with(plain))
    local b = nn.data.load_idx(file_with(gzip_stored(plain), ".gz"))
    H.assert_tensor(b, {{1, -2, 3}, {-4, 5, 300}}, H.EXACT)
    assert.are.same(a:totable(), b:totable())
  end)

  it("reads a gzip stream of several stored blocks (more than 64 KiB)", function ()
    local payload = {}
    for i = 0, 70000 - 1 do payload[#payload + 1] = string.char(i % 251) end
    local t = nn.data.load_idx(file_with(gzip_stored(idx(UBYTE, {70000}, table.concat(payload))), ".gz"))
    assert.are.equal(70000, t:numel())
    assert.are.equal(250, t:max())
    assert.are.equal(69999 % 251, t:get(70000))
  end)

  it("reads the committed fixture, compressed by gzip -9", function ()
    local t = nn.data.load_idx("data/fixtures/idx_ubyte_2x3x4.gz")
    assert.are.same({2, 3, 4}, t.shape)
    H.assert_tensor(t:view(-1), (function () local v = {} for i = 0, 23 do v[#v + 1] = i end return v end)(), H.EXACT)
  end)
end)

describe("nn.data.load_idx on bad files", function ()
  local good = idx(UBYTE, {2, 3, 4}, string.rep("\7", 24))   -- 16 header bytes + 24 of data

  it("names a missing file and the system's reason", function ()
    local p = path_of("no-such-file.idx")
    H.assert_error_has(function () nn.data.load_idx(p) end,
                       {"load_idx: " .. p .. ": No such file or directory"})
  end)

  it("names a directory", function ()
    H.assert_error_has(function () nn.data.load_idx(tmpdir) end,
                       {"load_idx: " .. tmpdir .. ": Is a directory"})
  end)

  it("rejects a path that is not a string", function ()
    H.assert_error_has(function () nn.data.load_idx({}) end, {"bad argument #1", "string expected"})
    H.assert_error_has(function () nn.data.load_idx() end, {"bad argument #1"})
  end)

  it("rejects an empty file", function ()
    assert_rejects("", {"the file is empty"})
  end)

  it("rejects a wrong magic number, naming the bytes found", function ()
    assert_rejects("\1\2\8\1" .. good:sub(5), {"bad magic number: found 01 02 08 01", "IDX file"})
    assert_rejects("# a text file\n", {"bad magic number: found 23 20 61 20"})
  end)

  it("rejects an unknown type byte", function ()
    assert_rejects(idx(0x07, {2}, "ab"), {"unknown type 0x07"})
    assert_rejects(idx(0x0A, {2}, "ab"), {"unknown type 0x0a"})
  end)

  it("rejects 0 dims and more than 5", function ()
    assert_rejects(idx(UBYTE, {}, "a"), {"0 dims, nnlua reads 1 to 5"})
    assert_rejects(idx(UBYTE, {1, 1, 1, 1, 1, 1}, "a"), {"6 dims, nnlua reads 1 to 5"})
  end)

  it("rejects a file cut inside the magic number", function ()
    assert_rejects(good:sub(1, 2), {"truncated: an IDX file starts with a 4-byte magic number, found 2 bytes"})
  end)

  it("rejects a file cut inside the sizes", function ()
    assert_rejects(good:sub(1, 9), {"truncated: the header of 3 dims needs 16 bytes, found 9"})
    assert_rejects(good:sub(1, 4), {"truncated: the header of 3 dims needs 16 bytes, found 4"})
  end)

  it("rejects a file cut anywhere in the data, counting the bytes", function ()
    for _, cut in ipairs{0, 1, 12, 23} do
      assert_rejects(good:sub(1, 16 + cut),
                     {("truncated: expected 24 bytes of data, found %d"):format(cut), "[2x3x4]"})
    end
  end)

  it("rejects trailing bytes", function ()
    assert_rejects(good .. "\0", {"trailing bytes: 1 more after the 24 bytes of data"})
    assert_rejects(good .. good, {"trailing bytes: 40 more after the 24 bytes of data"})
  end)

  it("rejects sizes whose product is absurd, before allocating", function ()
    assert_rejects(idx(UBYTE, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}),
                   {"make more than 2147483648 elements"})
    assert_rejects(idx(FLOAT64, {65536, 65536}), {"make more than"})
  end)

  it("rejects a gzip stream cut short, inside the data", function ()
    local gz = gzip_stored(good)
    local msg = assert_rejects(gz:sub(1, #gz - 8 - 10), {"truncated: expected 24 bytes of data, found 14"}, ".gz")
    assert.truthy(msg:find("gzip stream ends early", 1, true), msg)
  end)

  it("rejects a gzip stream whose checksum is cut off", function ()
    local gz = gzip_stored(good)
    assert_rejects(gz:sub(1, #gz - 8), {"truncated gzip stream", "checksum is missing"}, ".gz")
  end)

  it("rejects a gzip stream whose data does not match its CRC-32", function ()
    local gz = gzip_stored(good)
    local at = #gz - 8 - 1                    -- the last data byte: 07 -> 08
    local bad = gz:sub(1, at - 1) .. "\8" .. gz:sub(at + 1)
    assert_rejects(bad, {"corrupt gzip stream: incorrect data check"}, ".gz")
  end)

  it("rejects a corrupt deflate stream with zlib's message", function ()
    -- the fixture with its first deflate byte made an invalid block type (11)
    local gz = H.read_file("data/fixtures/idx_ubyte_2x3x4.gz")
    local bad = gz:sub(1, 10) .. string.char(0x07) .. gz:sub(12)
    assert_rejects(bad, {"corrupt gzip stream: invalid block type"}, ".gz")
  end)

  it("rejects a gzip stream with trailing data inside it", function ()
    assert_rejects(gzip_stored(good .. "xyz"), {"trailing bytes after the 24 bytes of data"}, ".gz")
  end)

  it("rejects bytes after the end of the gzip stream, as it rejects them after a plain file", function ()
    local gz = gzip_stored(good)
    assert_rejects(gz .. "garbage", {"trailing bytes: 7 after the end of the gzip stream, not gzip data"}, ".gz")
    assert_rejects(gz .. "\0", {"trailing bytes: 1 after the end of the gzip stream, not gzip data"}, ".gz")
    -- a second member that is itself cut short is corrupt too
    assert_rejects(gz .. "\31\139", {"gzip stream"}, ".gz")
  end)

  it("reads a gzip file of several members (concatenated, as RFC 1952 allows)", function ()
    local t = nn.data.load_idx(file_with(gzip_stored(good:sub(1, 10)) .. gzip_stored(good:sub(11)), ".gz"))
    assert.are.equal(24 * 7, t:sum())
  end)

  it("refuses a path holding a NUL byte, instead of reading the path cut short", function ()
    local p = file_with(good)
    H.assert_error_has(function () nn.data.load_idx(p .. "\0.gz") end,
                       {"bad argument #1", "the path holds a NUL byte at byte " .. #p + 1})
  end)

  it("rejects a small gzip file whose header claims more than it can inflate to", function ()
    -- 60000 x 28 x 28 bytes cannot come out of a file of ~40 bytes (deflate: 1032:1 at most)
    local msg = assert_rejects(gzip_stored(idx(UBYTE, {60000, 28, 28}, "\0\0\0")),
                               {"truncated: expected 47040000 bytes of data", "inflate to at most"}, ".gz")
    assert.falsy(msg:find("out of host memory", 1, true))
  end)

  it("the stored-block gzip helper makes streams zlib accepts (the specs above rely on it)", function ()
    -- without this, a broken helper would make every gzip rejection above pass
    local t = nn.data.load_idx(file_with(gzip_stored(good), ".gz"))
    assert.are.equal(24 * 7, t:sum())
  end)
end)

describe("nn.data.load_idx on Fashion-MNIST", function ()
  local file = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
  if not H.read_file("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") then
    pending("the Debian package dataset-fashion-mnist is not installed (bash scripts/setup.sh)")
    return
  end
  it("loads the 47 MB of training images (time printed, not asserted)", function ()
    local t0 = nn.clock()
    local x = nn.data.load_idx(file)
    local dt = nn.clock() - t0
    io.write(("\n    load_idx %s: %.3f s\n"):format(file, dt))
    assert.are.same({60000, 28, 28}, x.shape)
    assert.are.equal(0, x:min())
    assert.are.equal(255, x:max())
  end)
end)
