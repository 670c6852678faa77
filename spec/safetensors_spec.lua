--- spec/safetensors_spec.lua -- nn.safetensors.save / load: checkpoint files.
-- Round trips (bit for bit), the file layout of the format
-- (https://github.com/huggingface/safetensors), every error of the reader,
-- failing saves that leave the old file alone, and a writer killed mid-save.
local nn = require "nn"
local H = require "spec.helpers"
local st = nn.safetensors
local shell_quote, read_file, write_file = H.shell_quote, H.read_file, H.write_file

local temp_dir, remove_dir = H.temp_dir, H.remove_dir

--- The names in dir (ls -A), sorted.
local function list_dir (dir)
  local names, h = {}, io.popen("ls -A " .. shell_quote(dir))
  for line in h:lines() do names[#names + 1] = line end
  h:close()
  table.sort(names)
  return names
end

--- A file of the format by hand: header text (padded with spaces to a
-- multiple of 8 unless raw), then the data bytes.
local function craft (header, data, raw)
  if not raw then header = header .. (" "):rep((8 - #header % 8) % 8) end
  return string.pack("<I8", #header) .. header .. (data or "")
end

--- The header (decoded) and the data bytes of a file's contents.
local function split (bytes)
  local n = string.unpack("<I8", bytes)
  return nn.safetensors.json.decode(bytes:sub(9, 8 + n)), bytes:sub(9 + n), n
end

--- Assert two tensors have one shape and equal elements; NaN equals NaN,
-- and -0 differs from +0 (checked through 1/x).
local function assert_same (got, want, what)
  assert.are.same(want.shape, got.shape, what)
  local g, w = got:view(-1), want:view(-1)
  for i = 1, want:numel() do
    local a, b = g:get(i), w:get(i)
    local same = (a ~= a and b ~= b) or (a == b and (a ~= 0 or 1 / a == 1 / b))
    if not same then
      error(("%s: element %d is %.9g, expected %.9g"):format(what or "tensor", i, a, b), 2)
    end
  end
end

local function float_bits (...)     -- little-endian float32 bit patterns as bytes
  return string.pack(("<" .. ("I4"):rep(select("#", ...))), ...)
end

describe("nn.safetensors round trip", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() remove_dir(dir) end)

  it("keeps int32 tensors int32, as I32 entries, every value exact", function()
    local path = dir .. "/ints.safetensors"
    local ids = nn.tensor({{2147483647, -2147483648}, {0, 16777217}}, {dtype = "int32"})
    nn.safetensors.save(path, {ids = ids, w = nn.tensor{0.5}})
    local header = split(H.read_file(path))
    assert.are.equal("I32", header.ids.dtype)
    assert.are.equal("F32", header.w.dtype)
    local back = nn.safetensors.load(path)
    assert.are.equal("int32", back.ids.dtype)
    assert.are.same({{2147483647, -2147483648}, {0, 16777217}}, back.ids:totable())
  end)

  it("gives back random tensors of 0 to 5 dims, and empty ones, exactly", function()
    nn.manual_seed(11)
    local tensors = {
      scalar = nn.tensor.full(-2.75),
      vector = nn.tensor.randn(7),
      matrix = nn.tensor.randn(5, 3),
      cube = nn.tensor.randn(2, 3, 4),
      four = nn.tensor.rand(1, 2, 1, 3),
      five = nn.tensor.randn(2, 1, 3, 1, 2),
      empty = nn.tensor.zeros(0),
      empty2 = nn.tensor.zeros(3, 0),
    }
    local path = dir .. "/r.safetensors"
    st.save(path, tensors)
    local got, meta = st.load(path)
    assert.are.same({}, meta)
    local n = 0
    for name, t in pairs(tensors) do
      assert_same(got[name], t, name)
      assert.are.equal("cpu", got[name].device)
      n = n + 1
    end
    for _ in pairs(got) do n = n - 1 end
    assert.are.equal(0, n, "as many tensors back as went in")
  end)

  it("keeps -0, inf, nan and large values", function()
    local t = nn.tensor{-0.0, 0.0, 1 / 0, -1 / 0, 0 / 0, 3.4028234663852886e38, -1.5e-38}
    local path = dir .. "/s.safetensors"
    st.save(path, {t = t})
    assert_same(st.load(path).t, t, "specials")
  end)

  it("keeps every bit: NaN payloads and denormals written by hand come back in a saved file", function()
    -- the host flushes denormals to zero in float arithmetic, so these bit
    -- patterns can only be made as bytes: quiet NaN with a payload, a
    -- negative signalling-looking NaN, the smallest and largest denormal, -0
    local data = float_bits(0x7fc12345, 0xff800001, 0x00000001, 0x007fffff, 0x80000000, 0x3f800000)
    local src = dir .. "/bits.safetensors"
    write_file(src, craft('{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}', data))
    local t = st.load(src).x
    assert.are.same({2, 3}, t.shape)
    local out = dir .. "/again.safetensors"
    st.save(out, {x = t})
    local _, got = split(read_file(out))
    assert.are.equal(data, got)
  end)

  it("round-trips the metadata strings, whatever they hold", function()
    local meta = {
      epoch = "12", empty = "", quote = 'say "hi"\\ \n\t', unicode = "π ≈ 3.14159 — ✓",
      arch = nn.safetensors.json.encode{layers = {{type = "Linear", in_features = 784}}},
    }
    local path = dir .. "/m.safetensors"
    st.save(path, {w = nn.tensor{1}}, meta)
    local _, got = st.load(path)
    assert.are.same(meta, got)
  end)

  it("saves a file with no tensors, and loads it", function()
    local path = dir .. "/none.safetensors"
    st.save(path, {}, {note = "only metadata"})
    local t, m = st.load(path)
    assert.are.same({}, t)
    assert.are.same({note = "only metadata"}, m)
  end)

  it("replaces an existing file, keeping its mode", function()
    local path = dir .. "/keep.safetensors"
    st.save(path, {a = nn.tensor{1}})
    os.execute("chmod 640 " .. shell_quote(path))
    st.save(path, {b = nn.tensor{2}})
    local t = st.load(path)
    assert.is_nil(t.a)
    assert.are.equal(2, t.b:get(1))
    local h = io.popen("stat -c %a " .. shell_quote(path))
    local mode = h:read("l")
    h:close()
    assert.are.equal("640", mode)
    assert.are.same({"keep.safetensors"}, list_dir(dir), "no temporary file left behind")
  end)

  it("copies CUDA tensors to the host to save them", function()
    if not nn.cuda.is_available() then pending("no CUDA device: CUDA save skipped") return end
    local t = nn.tensor.randn(4, 3)
    local path = dir .. "/cuda.safetensors"
    st.save(path, {g = t:cuda()})
    assert_same(st.load(path).g, t, "from cuda")
  end)
end)

describe("nn.safetensors file layout", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() remove_dir(dir) end)

  it("is: 8-byte little-endian header size, a JSON header from '{' padded to 8, then the data", function()
    local path = dir .. "/l.safetensors"
    st.save(path, {b = nn.tensor{1, 2, 3}, a = nn.tensor{{0.5, -1}}}, {epoch = "4"})
    local bytes = read_file(path)
    local header, data, n = split(bytes)
    assert.are.equal(0, n % 8, "header size is a multiple of 8")
    assert.are.equal("{", bytes:sub(9, 9))
    assert.matches("^{.*} *$", bytes:sub(9, 8 + n))
    assert.are.same({epoch = "4"}, header.__metadata__)
    assert.are.same({dtype = "F32", shape = {1, 2}, data_offsets = {0, 8}}, header.a)
    assert.are.same({dtype = "F32", shape = {3}, data_offsets = {8, 20}}, header.b)
    assert.are.equal(20, #data)
    assert.are.equal(string.pack("<ffff", 0.5, -1, 1, 2) .. string.pack("<f", 3), data)
  end)

  it("writes names sorted, so the same tensors always give the same bytes", function()
    local x, y, z = nn.tensor{1}, nn.tensor{2, 3}, nn.tensor{{4}}
    local p1, p2 = dir .. "/1.safetensors", dir .. "/2.safetensors"
    local t1 = {} t1.zeta = z t1.alpha = x t1.mid = y
    local t2 = {} t2.mid = y t2.alpha = x t2.zeta = z
    st.save(p1, t1, {b = "2", a = "1"})
    st.save(p2, t2, {a = "1", b = "2"})
    local bytes = read_file(p1)
    assert.are.equal(bytes, read_file(p2))
    local text = bytes:sub(9, 8 + string.unpack("<I8", bytes))
    local a, m, zz = text:find('"alpha"', 1, true), text:find('"mid"', 1, true), text:find('"zeta"', 1, true)
    assert.is_true(a < m and m < zz, text)
  end)

  it("writes the file through a temporary file in the same directory, and leaves none", function()
    local path = dir .. "/t.safetensors"
    for i = 1, 3 do st.save(path, {w = nn.tensor.full(3, i)}) end
    assert.are.same({"t.safetensors"}, list_dir(dir))
    assert.are.equal(3, st.load(path).w:get(1))
  end)

  it("through a symbolic link to a regular file: replaces the file it leads to; the link stays a link", function()
    assert(os.execute("mkdir " .. shell_quote(dir .. "/real")))
    local real, link = dir .. "/real/m.safetensors", dir .. "/m.safetensors"
    st.save(real, {w = nn.tensor{1}}, {version = "old"})
    assert(os.execute("chmod 640 " .. shell_quote(real) .. " && ln -s real/m.safetensors " .. shell_quote(link)))
    st.save(link, {w = nn.tensor{2}}, {version = "new"})
    assert.is_true(os.execute("test -L " .. shell_quote(link)) == true, "the link was replaced by a file")
    local _, m = st.load(real)
    assert.are.equal("new", m.version)
    assert.are.equal(2, st.load(link).w:get(1))
    -- the temporary file went beside the target, and the mode is the target's
    assert.are.same({"m.safetensors", "real"}, list_dir(dir))
    assert.are.same({"m.safetensors"}, list_dir(dir .. "/real"))
    local h = io.popen("stat -c %a " .. shell_quote(real))
    assert.are.equal("640", h:read("l"))
    h:close()
  end)

  -- temporary files are ".<name>.tmp.<pid>.XXXXXX"; a save removes those
  -- of its path whose pid is no live process
  it("removes the temporary files that dead writers left behind, and keeps a live writer's", function()
    local path = dir .. "/t.safetensors"
    local h = io.popen("sh -c 'echo $$'")          -- a process that has exited
    local dead = h:read("n")
    h:close()
    h = io.popen("echo $PPID")                     -- this process: alive
    local live = h:read("n")
    h:close()
    assert.is_true(os.execute("kill -0 " .. live) == true, "the live pid is not alive")
    assert.is_false(os.execute("kill -0 " .. dead .. " 2>/dev/null") == true, "the dead pid is alive")
    local dead_tmp = (".t.safetensors.tmp.%d.AbC123"):format(dead)
    local live_tmp = (".t.safetensors.tmp.%d.XyZ789"):format(live)
    local other = (".u.safetensors.tmp.%d.AbC123"):format(dead)   -- another path's: not ours
    for _, name in ipairs({dead_tmp, live_tmp, other}) do write_file(dir .. "/" .. name, "partial") end
    st.save(path, {w = nn.tensor{1}})
    assert.are.same({live_tmp, other, "t.safetensors"}, list_dir(dir))
  end)
end)

describe("nn.safetensors.load errors", function()
  local dir, path
  before_each(function() dir = temp_dir(); path = dir .. "/bad.safetensors" end)
  after_each(function() remove_dir(dir) end)

  -- Writes `bytes` to the file and asserts load raises a message with the
  -- path and each of the parts.
  local function rejects (bytes, parts)
    write_file(path, bytes)
    local all = { "safetensors.load: " .. path .. ": " }
    for _, p in ipairs(parts) do all[#all + 1] = p end
    return H.assert_error_has(function() st.load(path) end, all)
  end

  local one = '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
  local eight = ("\0"):rep(8)

  it("a valid hand-made file loads (the cases below each break one thing)", function()
    write_file(path, craft("{" .. one .. "}", string.pack("<ff", 1.5, -2)))
    H.assert_tensor(st.load(path).w, {1.5, -2}, H.EXACT)
  end)

  it("a missing file", function()
    H.assert_error_has(function() st.load(dir .. "/nope.safetensors") end,
                       {"safetensors.load: " .. dir .. "/nope.safetensors: No such file or directory"})
  end)

  it("a directory", function()
    H.assert_error_has(function() st.load(dir) end, {"safetensors.load: " .. dir .. ": not a regular file"})
  end)

  it("a file cut at any byte raises, and never crashes", function()
    local good = dir .. "/good.safetensors"
    st.save(good, {w = nn.tensor{{1, 2}, {3, 4}}, b = nn.tensor{5}}, {k = "v"})
    local bytes = read_file(good)
    local count = 0
    for cut = 0, #bytes - 1 do
      write_file(path, bytes:sub(1, cut))
      local ok, err = pcall(st.load, path)
      assert.is_false(ok, "a file cut at byte " .. cut .. " loaded")
      assert.matches("safetensors.load: .*: ", err)
      count = count + 1
    end
    assert.are.equal(#bytes, count)
    write_file(path, bytes)
    assert.are.equal(5, st.load(path).b:get(1), "the whole file loads")
  end)

  it("names what is wrong with a truncated file", function()
    rejects("", {"0 bytes is too short"})
    rejects("\16\0\0", {"3 bytes is too short"})
    rejects(craft("{" .. one .. "}", string.pack("<f", 1)), {"tensor 'w'", "outside the data buffer of 4 bytes", "truncated"})
    rejects(craft("{" .. one .. "}"):sub(1, 20), {"runs past the end of the file", "truncated"})
  end)

  it("a header size too large for the file, or absurd", function()
    rejects(string.pack("<I8", 100) .. "{}", {"header size 100 runs past the end of the file (10 bytes)"})
    rejects(string.pack("<I8", 1 << 40) .. "{}", {"header size 1099511627776 is absurd"})
    rejects(string.pack("<I8", -1) .. "{}", {"is absurd"})
  end)

  it("a header that is not a JSON object", function()
    rejects(craft('{"w": }'), {"the header is not valid JSON"})
    rejects(craft(" {}"), {"does not start with '{'"})
    rejects(craft("[1, 2]"), {"does not start with '{'"})
    rejects(craft("", nil, true), {"does not start with '{'"})
    rejects(craft('{} {}'), {"the header is not valid JSON"})
    rejects(craft('{"w":"\255"}'), {"the header is not valid JSON"})
  end)

  it("a duplicate key", function()
    rejects(craft("{" .. one .. "," .. one .. "}", eight), {"not valid JSON", "duplicate object key"})
  end)

  it("a dtype it does not read, or a missing or odd one", function()
    rejects(craft('{"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}', eight),
            {"tensor 'w': dtype U8 is not supported (only F32, I32, and F16, BF16, F64"})
    rejects(craft('{"w":{"shape":[2],"data_offsets":[0,8]}}', eight), {"tensor 'w': dtype is missing"})
    rejects(craft('{"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}', eight), {"tensor 'w': dtype is not a string"})
  end)

  it("I64 values that int32 cannot hold, naming the element", function()
    rejects(craft('{"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}',
                  string.pack("<i8<i8", 7, 1 << 31)),
            {"tensor 'w': element 2 is 2147483648, outside int32"})
    rejects(craft('{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}',
                  string.pack("<i8", math.mininteger)),
            {"element 1 is -9223372036854775808, outside int32"})
  end)

  it("reads I32 and I64 as int32, and F32 next to them as float32", function()
    write_file(path, craft('{"a":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},' ..
                           '"b":{"dtype":"I64","shape":[2],"data_offsets":[12,28]},' ..
                           '"c":{"dtype":"F32","shape":[1],"data_offsets":[28,32]}}',
                           string.pack("<i4<i4<i4", 1, -2, 2147483647) ..
                           string.pack("<i8<i8", -2147483648, 5) .. float_bits(0x3fc00000)))
    local t = st.load(path)
    assert.are.equal("int32", t.a.dtype)
    assert.are.same({1, -2, 2147483647}, t.a:totable())
    assert.are.equal("int32", t.b.dtype)
    assert.are.same({-2147483648, 5}, t.b:totable())
    assert.are.equal("float32", t.c.dtype)
    assert.are.same({1.5}, t.c:totable())
  end)

  it("an entry that is not an object, or has a field too many", function()
    rejects(craft('{"w":[1]}'), {"tensor 'w': entry is not an object"})
    rejects(craft('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', eight),
            {"tensor 'w': unknown field 'x'"})
  end)

  it("a bad shape", function()
    local function shape (s) return craft('{"w":{"dtype":"F32","shape":' .. s .. ',"data_offsets":[0,8]}}', eight) end
    rejects(shape('[2,-1]'), {"tensor 'w': shape[1] is not an integer"})
    rejects(shape('[2.0]'), {"tensor 'w': shape[0] is not an integer"})
    rejects(shape('"2"'), {"tensor 'w': shape is not an array"})
    rejects(shape('[1,1,1,1,1,2]'), {"tensor 'w': shape has 6 dims (at most 5)"})
    rejects(shape('[1099511627776,1099511627776]'), {"tensor 'w': shape is too large"})
    rejects(craft('{"w":{"dtype":"F32","data_offsets":[0,8]}}', eight), {"tensor 'w': shape is missing"})
  end)

  it("offsets that are not two integers, or lie outside the buffer", function()
    local function offs (o, data) return craft('{"w":{"dtype":"F32","shape":[2],"data_offsets":' .. o .. '}}', data or eight) end
    rejects(offs('[0]'), {"tensor 'w': data_offsets is not two integers"})
    rejects(offs('[0,8,8]'), {"tensor 'w': data_offsets is not two integers"})
    rejects(offs('[-8,0]'), {"tensor 'w': data_offsets is not two integers"})
    rejects(offs('["0",8]'), {"tensor 'w': data_offsets is not two integers"})
    rejects(offs('[8,0]'), {"tensor 'w': data_offsets [8, 0] are outside the data buffer"})
    rejects(offs('[8,16]'), {"tensor 'w': data_offsets [8, 16] are outside the data buffer of 8 bytes"})
    rejects(offs('[0,18446744073709551615]'), {"not valid JSON"})
  end)

  it("a byte count that does not match the shape", function()
    rejects(craft('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight),
            {"tensor 'w': data_offsets [0, 8] hold 8 bytes, but 3 elements of F32 need 12"})
    rejects(craft('{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}', eight),
            {"3 elements of F16 need 6"})
  end)

  it("tensors that overlap, leave a hole, or stop short of the end", function()
    local a = '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
    rejects(craft('{' .. a .. ',"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', ("\0"):rep(12)),
            {"tensors 'a' and 'b' overlap in the data buffer"})
    rejects(craft('{' .. a .. ',"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}', eight),
            {"tensors 'a' and 'b' overlap"})
    rejects(craft('{' .. a .. ',"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}', ("\0"):rep(20)),
            {"a hole in the data buffer: bytes [8, 12) before tensor 'b' belong to no tensor"})
    rejects(craft('{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight),
            {"a hole in the data buffer: bytes [0, 4)"})
    rejects(craft('{' .. a .. '}', ("\0"):rep(12)),
            {"the tensors end at byte 8 of the data buffer, but it has 12 bytes"})
    rejects(craft('{}', "x"), {"the tensors end at byte 0 of the data buffer, but it has 1 bytes"})
  end)

  it("metadata that is not an object of strings", function()
    rejects(craft('{"__metadata__":{"epoch":3}}'), {"__metadata__['epoch'] is not a string"})
    rejects(craft('{"__metadata__":{"a":"1","b":null}}'), {"__metadata__['b'] is not a string"})
    rejects(craft('{"__metadata__":["x"]}'), {"__metadata__ is not an object"})
  end)

  it("loads F16, BF16 and F64 as float32", function()
    -- F16: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest denormal), inf, -0
    local h = string.pack("<I2I2I2I2I2I2I2", 0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x8000)
    -- BF16: the top half of float32 1.5 and -3
    local b = string.pack("<I2I2", 0x3fc0, 0xc040)
    local d = string.pack("<dd", 0.25, -1e10)
    write_file(path, craft('{"h":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},'
      .. '"b":{"dtype":"BF16","shape":[2],"data_offsets":[14,18]},'
      .. '"d":{"dtype":"F64","shape":[1,2],"data_offsets":[18,34]}}', h .. b .. d))
    local t = st.load(path)
    assert_same(t.h, nn.tensor{1, -2, 0.5, 65504, 2 ^ -24, 1 / 0, -0.0}, "F16")
    assert_same(t.b, nn.tensor{1.5, -3}, "BF16")
    assert_same(t.d, nn.tensor{{0.25, -1e10}}, "F64")
    local n = 0 / 0
    write_file(path, craft('{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', string.pack("<I2", 0x7e00)))
    n = st.load(path).h:get(1)
    assert.is_true(n ~= n, "F16 NaN stays NaN")
  end)
end)

describe("nn.safetensors.save errors", function()
  local dir, path
  before_each(function() dir = temp_dir(); path = dir .. "/old.safetensors" end)
  after_each(function() remove_dir(dir) end)

  -- an old file, and a check that it is still there, byte for byte
  local old
  local function make_old ()
    st.save(path, {w = nn.tensor{1, 2, 3}}, {version = "old"})
    old = read_file(path)
  end
  local function old_intact ()
    assert.are.equal(old, read_file(path), "the old file changed")
    local _, m = st.load(path)
    assert.are.equal("old", m.version)
  end

  it("names a bad argument, and writes nothing", function()
    make_old()
    local t = nn.tensor{1}
    H.assert_error_has(function() st.save(path, "w") end, {"bad argument #2", "table expected"})
    H.assert_error_has(function() st.save(path, {w = 3}) end, {"bad argument #2", "tensors['w'] must be a tensor, got number"})
    H.assert_error_has(function() st.save(path, {t}) end, {"bad argument #2", "tensor names must be strings, got a number key"})
    H.assert_error_has(function() st.save(path, {[""] = t}) end, {"bad argument #2", "'' cannot name a tensor"})
    H.assert_error_has(function() st.save(path, {__metadata__ = t}) end, {"bad argument #2", "'__metadata__' cannot name a tensor"})
    H.assert_error_has(function() st.save(path, {["a\0b"] = t}) end, {"bad argument #2", "cannot name a tensor"})
    H.assert_error_has(function() st.save(path, {["\255"] = t}) end, {"safetensors.save: ", "not valid UTF-8"})
    H.assert_error_has(function() st.save(path, {w = t}, {epoch = 3}) end, {"bad argument #3", "metadata['epoch'] must be a string, got number"})
    H.assert_error_has(function() st.save(path, {w = t}, {[1] = "x"}) end, {"bad argument #3", "metadata keys must be strings, got a number key"})
    H.assert_error_has(function() st.save(path, {w = t}, {k = "a\0b"}) end, {"bad argument #3", "metadata['k'] holds a NUL byte"})
    H.assert_error_has(function() st.save(path, {w = t}, {k = "\255"}) end, {"bad argument #3", "metadata['k'] is not valid UTF-8"})
    H.assert_error_has(function() st.save(path, {w = t}, "meta") end, {"bad argument #3", "table expected"})
    H.assert_error_has(function() st.save(nil, {w = t}) end, {"bad argument #1", "string expected"})
    old_intact()
    assert.are.same({"old.safetensors"}, list_dir(dir))
  end)

  it("into a missing directory: an error naming the path, and no file", function()
    local p = dir .. "/missing/x.safetensors"
    H.assert_error_has(function() st.save(p, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. p .. ": cannot create a temporary file in its directory: No such file or directory"})
    assert.are.same({}, list_dir(dir))
  end)

  it("over a directory: refused before writing; the directory stays, and no temporary file is left", function()
    local p = dir .. "/ckpt"
    assert(os.execute("mkdir " .. shell_quote(p) .. " && touch " .. shell_quote(p .. "/inside")))
    H.assert_error_has(function() st.save(p, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. p .. ": is a directory, not a regular file: refusing to replace it"})
    assert.are.same({"ckpt"}, list_dir(dir))
    assert.are.same({"inside"}, list_dir(p))
  end)

  -- `test -<flag> path` in the shell: -p a FIFO, -L a symbolic link, -f a
  -- regular file (after links), -c a character device
  local function is (flag, p) return os.execute("test -" .. flag .. " " .. shell_quote(p)) == true end
  local function readlink (p)
    local h = io.popen("readlink " .. shell_quote(p))
    local target = h:read("l")
    h:close()
    return target
  end

  it("over a FIFO: refused, naming the path and what it is; the FIFO stays", function()
    local p = dir .. "/fifo"
    assert(os.execute("mkfifo " .. shell_quote(p)))
    H.assert_error_has(function() st.save(p, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. p .. ": is a FIFO, not a regular file: refusing to replace it"})
    assert.is_true(is("p", p), "the FIFO was replaced")
    assert.are.same({"fifo"}, list_dir(dir))
  end)

  it("over a symbolic link to a FIFO, or to /dev/null: refused; the link and what it leads to stay", function()
    local fifo, to_fifo, to_null = dir .. "/fifo", dir .. "/to_fifo", dir .. "/to_null"
    assert(os.execute("mkfifo " .. shell_quote(fifo) .. " && ln -s fifo " .. shell_quote(to_fifo)
                      .. " && ln -s /dev/null " .. shell_quote(to_null)))
    H.assert_error_has(function() st.save(to_fifo, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. to_fifo .. ": is a symbolic link to a FIFO (" .. fifo .. ")",
                        "refusing to replace it"})
    H.assert_error_has(function() st.save(to_null, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. to_null .. ": is a symbolic link to a character device (/dev/null)",
                        "refusing to replace it"})
    assert.is_true(is("L", to_fifo) and is("L", to_null), "a link was replaced")
    assert.are.equal("fifo", readlink(to_fifo))
    assert.are.equal("/dev/null", readlink(to_null))
    assert.is_true(is("p", fifo), "the FIFO was replaced")
    assert.is_true(is("c", "/dev/null"), "/dev/null is no longer a device")
    assert.are.same({"fifo", "to_fifo", "to_null"}, list_dir(dir))
  end)

  it("over a dangling symbolic link: refused; the link stays", function()
    local p = dir .. "/dangling"
    assert(os.execute("ln -s nowhere " .. shell_quote(p)))
    H.assert_error_has(function() st.save(p, {w = nn.tensor{1}}) end,
                       {"safetensors.save: " .. p .. ": is a symbolic link that leads nowhere"})
    assert.are.equal("nowhere", readlink(p))
    assert.are.same({"dangling"}, list_dir(dir))
  end)

  it("a path with a NUL byte: refused, nothing written at the path cut short", function()
    H.assert_error_has(function() st.save(dir .. "/x.safetensors\0.bak", {w = nn.tensor{1}}) end,
                       {"bad argument #1", "the path holds a NUL byte at byte " .. #dir + 15})
    H.assert_error_has(function() st.load(dir .. "/x.safetensors\0.bak") end,
                       {"bad argument #1", "the path holds a NUL byte"})
    assert.are.same({}, list_dir(dir))
  end)

  it("to a name ending in '/'", function()
    H.assert_error_has(function() st.save(dir .. "/", {w = nn.tensor{1}}) end, {"not a file name"})
  end)

  it("that fails mid-write (file size limit): the old file stays, and no temporary file", function()
    make_old()
    -- a child nnlua whose file size limit (ulimit -f, in 512- or 1024-byte
    -- blocks) is far below the 4 MB it writes; SIGXFSZ ignored, so write()
    -- fails with EFBIG instead of killing it
    local script = dir .. "/big.lua"
    write_file(script, ([[
local nn = require "nn"
local ok, err = pcall(nn.safetensors.save, %q, {w = nn.tensor.zeros(1024, 1024)}, {version = "new"})
io.write(tostring(ok), "\n", tostring(err), "\n")
]]):format(path))
    local out = dir .. "/out.txt"
    local ok = os.execute(("sh -c %s > %s 2>&1"):format(
      shell_quote("trap '' XFSZ; ulimit -f 64; exec " .. shell_quote(H.NNLUA) .. " " .. shell_quote(script)),
      shell_quote(out)))
    local text = read_file(out)
    assert.is_true(ok, text)
    assert.matches("^false\nsafetensors.save: " .. path:gsub("%p", "%%%0") .. ": cannot write: File too large", text)
    os.remove(out)
    os.remove(script)
    old_intact()
    assert.are.same({"old.safetensors"}, list_dir(dir))
  end)
end)

describe("nn.safetensors atomic save", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() remove_dir(dir) end)

  -- A writer process saves a 64 MB tensor filled with its version number
  -- over and over (versions start at arg[2]); each run is killed with
  -- SIGKILL after a growing delay.  After every kill the file must load and
  -- be one complete version: the tensor all equal to its metadata version.
  -- A killed writer may leave its ".ckpt.safetensors.tmp.<pid>.XXXXXX" behind:
  -- that is allowed (and is the sign that the kill landed mid-save); only
  -- the renamed file counts.
  it("a writer killed at any moment leaves the old or the new file, whole", function()
    local path = dir .. "/ckpt.safetensors"
    local script = dir .. "/writer.lua"
    local N = 16 * 1024 * 1024                  -- 64 MB of float32
    write_file(script, ([[
local nn = require "nn"
local path, v = arg[1], tonumber(arg[2])
local t = nn.tensor.zeros(%d)
while true do
  t:fill_(v)
  nn.safetensors.save(path, {w = t}, {version = tostring(v)})
  v = v + 1
end
]]):format(N))
    st.save(path, {w = nn.tensor.zeros(N)}, {version = "0"})
    local killed_mid_save, replaced, last = false, false, 0
    -- each round starts a writer and kills it with SIGKILL once its temporary
    -- file is there, that is in the middle of a save (after the rounds' first
    -- kills, whatever the machine's speed: a fixed delay missed every save
    -- under ASan on a slow day); the round lets it finish k - 1 saves first
    local function temp_exists()
      for _, name in ipairs(list_dir(dir)) do
        if name:find("^%.ckpt%.safetensors%.tmp%.") then return true end
      end
      return false
    end
    for k = 1, 7 do
      local start = 1000 * k
      local p = assert(io.popen(("sh -c '%s %s %s %d >/dev/null 2>&1 & echo $!'"):format(
        H.NNLUA, shell_quote(script), shell_quote(path), start)))
      local pid = tonumber(p:read("l"))
      p:close()
      local deadline, seen = os.time() + 60, 0
      while os.time() < deadline do                -- poll until the k-th save is under way
        if temp_exists() then
          seen = seen + 1
          if seen >= k then break end
          repeat until not temp_exists() or os.time() >= deadline
        end
      end
      os.execute(("kill -KILL %d; while kill -0 %d 2>/dev/null && ! grep -q '^State:.*Z' /proc/%d/status 2>/dev/null; do sleep 0.01; done"):format(pid, pid, pid))
      local t, m = st.load(path)
      local v = tonumber(m.version)
      assert.are.equal(N, t.w:numel())
      assert.are.equal(v, t.w:min(), "every element is the file's version")
      assert.are.equal(v, t.w:max(), "every element is the file's version")
      assert.is_true(v == last or v >= start, ("version %d: neither the old %d nor this writer's"):format(v, last))
      if v ~= last then replaced = true end
      last = v
      local temps = 0
      for _, name in ipairs(list_dir(dir)) do
        if name:find("^%.ckpt%.safetensors%.tmp%.") then
          temps = temps + 1
          os.remove(dir .. "/" .. name)
        end
      end
      if temps > 0 then killed_mid_save = true end
      if killed_mid_save and replaced and k >= 3 then break end
    end
    assert.is_true(killed_mid_save, "no kill landed in the middle of a save")
    assert.is_true(replaced, "no save completed before a kill")
  end)
end)
