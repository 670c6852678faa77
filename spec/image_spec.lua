--- spec/image_spec.lua -- nn.image.load (PGM, PNG) and nn.image.save_pgm.
--
-- The PNG fixtures in data/fixtures/ were made once with /usr/bin/python3:
-- image_gray8, gray16, rgb, rgba, gray_alpha, gray1 and palette (2-bit) by
-- PIL's Image.fromarray(...).save, and image_rgb16_interlaced by hand
-- (zlib + struct: Adam7 passes, a gAMA chunk of 1/2.2 and a cHRM chunk of
-- odd primaries).  Their pixel values are written out below.
local nn = require "nn"
local H = require "spec.helpers"
local image = nn.safetensors.image     -- also nn.image once init.lua sets it
local shell_quote, read_file, write_file = H.shell_quote, H.read_file, H.write_file

local FIX = H.abspath("data/fixtures") .. "/"

local temp_dir, remove_dir = H.temp_dir, H.remove_dir

--- rows of integers divided by `max`: the expected tensor values
local function scaled (rows, max)
  local out = {}
  for i, row in ipairs(rows) do
    out[i] = {}
    for j, v in ipairs(row) do out[i][j] = v / max end
  end
  return out
end

-- CRC-32 of PNG chunks (ISO 3309, the polynomial 0xedb88320 reflected), to
-- build chunks by hand.
local function crc32 (s)
  local crc = 0xffffffff
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do crc = (crc >> 1) ~ (0xedb88320 & -(crc & 1)) end
  end
  return crc ~ 0xffffffff
end

local function chunk (kind, data, bad_crc)
  local crc = crc32(kind .. data)
  if bad_crc then crc = crc ~ 1 end
  return string.pack(">I4", #data) .. kind .. data .. string.pack(">I4", crc)
end

-- Values as float32 division by 255 or 65535 gives them: within half an ulp
-- of the exact quotient, inside H.ROUND.
describe("nn.image.load PNG", function()
  local cases = {
    { "image_gray8.png", "8-bit gray", scaled({{0, 64, 128, 255}, {1, 2, 254, 200}, {10, 20, 30, 40}}, 255) },
    { "image_gray16.png", "16-bit gray, all 16 bits kept", scaled({{0, 1, 65535}, {4660, 32768, 65534}}, 65535) },
    { "image_gray1.png", "1-bit gray, widened",
      scaled({{0, 1, 0, 1, 1, 0, 0, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0, 1}}, 1) },
    { "image_gray_alpha.png", "gray + alpha, alpha dropped", scaled({{0, 77}, {255, 128}}, 255) },
    -- RGB: libpng's 8-bit path truncates floor((6966 R + 23435 G + 2367 B) / 32768):
    -- red 54, green 182, blue 18; gray pixels (R = G = B) stay as they are
    { "image_rgb.png", "RGB, Rec. 709 weights", scaled({{0, 255, 100}, {54, 182, 18}}, 255) },
    { "image_rgba.png", "RGBA, alpha dropped", scaled({{10, 200}, {50, 54}}, 255) },
    -- palette black, white, gray 90, blue
    { "image_palette.png", "2-bit palette, expanded", scaled({{0, 255, 90}, {18, 90, 255}}, 255) },
  }
  for _, c in ipairs(cases) do
    local file, what, want = c[1], c[2], c[3]
    it(what .. " (" .. file .. ")", function()
      local t = image.load(FIX .. file)
      assert.are.equal("cpu", t.device)
      H.assert_tensor(t, want, H.ROUND)
    end)
  end

  it("16-bit RGB, interlaced, with gAMA: gray in linear light, the cHRM ignored", function()
    -- With a gAMA chunk libpng turns color into gray in linear light:
    -- decode each channel with the file's gamma g = 0.45455, weigh with the
    -- Rec. 709 weights (as 15-bit fractions), encode again with g.  Its
    -- 16-bit gamma tables are quantized; the dark pixel (1000, 2000, 3000)
    -- is off by 15/65535 = 2.3e-4 from the exact value, hence 1e-3.
    local g, w = 0.45455, {6966 / 32768, 23435 / 32768, 2367 / 32768}
    local function gray (r, gr, b)
      local lin = w[1] * (r / 65535) ^ (1 / g) + w[2] * (gr / 65535) ^ (1 / g) + w[3] * (b / 65535) ^ (1 / g)
      return lin ^ g
    end
    local want = {{0, 1, 1000 / 65535}, {gray(65535, 0, 0), gray(1000, 2000, 3000), gray(0, 0, 65535)}}
    local t = image.load(FIX .. "image_rgb16_interlaced.png")
    H.assert_tensor(t, want, 1e-3)
    -- and not the plain weighted sum, which the cHRM's primaries would change too
    assert.is_true(math.abs(t:get(2, 1) - 6966 / 32768) > 0.1)
  end)

  -- An 8-bit palette PNG with a tRNS chunk, built here byte by byte: 3x1
  -- pixels, palette red, blue, white; tRNS makes red fully and blue half
  -- transparent.  The image data is one stored deflate block (RFC 1950/1951:
  -- 78 01, then BFINAL=1 BTYPE=00, LEN, NLEN, the bytes, Adler-32).
  local function palette_trns_png ()
    local raw = "\0\0\1\2"                     -- filter 0, then indices 0, 1, 2
    local a, b = 1, 0
    for i = 1, #raw do a = (a + raw:byte(i)) % 65521; b = (b + a) % 65521 end
    local zdata = "\x78\x01\x01" .. string.pack("<I2I2", #raw, ~#raw & 0xffff) .. raw
                  .. string.pack(">I4", b << 16 | a)
    return "\x89PNG\r\n\x1a\n"
      .. chunk("IHDR", string.pack(">I4I4BBBBB", 3, 1, 8, 3, 0, 0, 0))
      .. chunk("PLTE", "\255\0\0" .. "\0\0\255" .. "\255\255\255")
      .. chunk("tRNS", "\0\128")
      .. chunk("IDAT", zdata)
      .. chunk("IEND", "")
  end

  it("8-bit palette with a tRNS chunk: transparency dropped, colors kept", function()
    local dir = temp_dir()
    write_file(dir .. "/trns.png", palette_trns_png())
    -- red 54, blue 18 (as for RGB above), white 255: whatever their alpha
    H.assert_tensor(image.load(dir .. "/trns.png"), scaled({{54, 18, 255}}, 255), H.ROUND)
    os.execute("rm -rf " .. shell_quote(dir))
  end)

  it("tells the format by its bytes, not its name", function()
    local dir = temp_dir()
    write_file(dir .. "/photo.pgm", read_file(FIX .. "image_gray8.png"))
    H.assert_tensor(image.load(dir .. "/photo.pgm"), cases[1][3], H.ROUND)
    os.execute("rm -rf " .. shell_quote(dir))
  end)
end)

describe("nn.image.load PNG errors", function()
  local dir, path
  before_each(function() dir = temp_dir(); path = dir .. "/bad.png" end)
  after_each(function() os.execute("rm -rf " .. shell_quote(dir)) end)

  local png = read_file(FIX .. "image_gray8.png")
  local magic = png:sub(1, 8)
  local ihdr_end = 8 + 8 + 13 + 4               -- magic, length + type, data, CRC

  local function rejects (bytes, parts)
    write_file(path, bytes)
    local all = { "image.load: " .. path .. ": " }
    for _, p in ipairs(parts) do all[#all + 1] = p end
    return H.assert_error_has(function() image.load(path) end, all)
  end

  it("a PNG cut at any byte raises, and never crashes", function()
    for cut = 0, #png - 1 do
      write_file(path, png:sub(1, cut))
      local ok, err = pcall(image.load, path)
      assert.is_false(ok, "a PNG cut at byte " .. cut .. " loaded")
      assert.matches("image.load: ", err)
    end
  end)

  it("a damaged image chunk (CRC) or header", function()
    -- flip one byte inside IDAT's data: its CRC no longer matches
    local function flip (at) return png:sub(1, at - 1) .. string.char(png:byte(at) ~ 0xff) .. png:sub(at + 1) end
    local idat = png:find("IDAT", 1, true)
    local len = string.unpack(">I4", png, idat - 4)
    rejects(flip(idat + 6), {"PNG: IDAT: "})
    -- flip a byte of IDAT's CRC
    rejects(flip(idat + 4 + len), {"PNG: IDAT: CRC error"})
    -- an IHDR whose bit depth is not one PNG has (3), with a good CRC
    local ihdr = string.pack(">I4I4BBBBB", 4, 3, 3, 0, 0, 0, 0)
    rejects(magic .. chunk("IHDR", ihdr) .. png:sub(ihdr_end + 1), {"PNG: "})
  end)

  it("a header that claims far more pixels than the file can hold", function()
    local ihdr = string.pack(">I4I4BBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    rejects(magic .. chunk("IHDR", ihdr) .. png:sub(ihdr_end + 1),
            {"PNG: 60000x60000 pixels cannot come from a file of"})
    local wide = string.pack(">I4I4BBBBB", 70000, 1, 8, 0, 0, 0, 0)
    rejects(magic .. chunk("IHDR", wide) .. png:sub(ihdr_end + 1), {"PNG: Invalid IHDR data"})
  end)

  it("image data that decodes short", function()
    -- a 4x3 header over a 4x2 image's data
    local small = string.pack(">I4I4BBBBB", 4, 5, 8, 0, 0, 0, 0)
    rejects(magic .. chunk("IHDR", small) .. png:sub(ihdr_end + 1), {"PNG: "})
  end)

  it("says nothing on stderr about a bad ancillary chunk, and loads the image", function()
    -- a tEXt chunk with a wrong CRC: libpng warns and skips it; the warning
    -- must not reach stderr
    local with_text = png:sub(1, ihdr_end) .. chunk("tEXt", "Comment\0hello", true) .. png:sub(ihdr_end + 1)
    write_file(path, with_text)
    local script, err = dir .. "/warn.lua", dir .. "/err.txt"
    write_file(script, ("local t = require('nn').safetensors.image.load(%q) io.write(t:numel())"):format(path))
    local h = io.popen(("%s %s 2> %s"):format(shell_quote(H.NNLUA), shell_quote(script), shell_quote(err)))
    local out = h:read("a")
    h:close()
    assert.are.equal("12", out)
    assert.are.equal("", read_file(err))
  end)

  it("a file that is neither PGM nor PNG, or missing", function()
    rejects("GIF89a....", {"not a PGM or PNG image"})
    rejects("", {"not a PGM or PNG image"})
    rejects("P6\n1 1\n255\n\0\0\0", {"a Netpbm P6 file, but only grayscale PGM (P5, P2) is read"})
    H.assert_error_has(function() image.load(dir .. "/none.png") end,
                       {"image.load: " .. dir .. "/none.png: No such file or directory"})
    H.assert_error_has(function() image.load(dir) end, {"image.load: " .. dir .. ": not a regular file"})
    H.assert_error_has(function() image.load() end, {"bad argument #1", "string expected"})
    H.assert_error_has(function() image.load(FIX .. "image_gray8.png\0.txt") end,
                       {"bad argument #1", "the path holds a NUL byte"})
  end)
end)

describe("nn.image.load PGM", function()
  local dir, path
  before_each(function() dir = temp_dir(); path = dir .. "/x.pgm" end)
  after_each(function() os.execute("rm -rf " .. shell_quote(dir)) end)

  local function load (bytes)
    write_file(path, bytes)
    return image.load(path)
  end

  it("P5, 8 bits, with comments in the header", function()
    local t = load("P5\n# made by hand\n3 2 # width height\n255\n" .. string.char(0, 51, 255, 1, 128, 254))
    H.assert_tensor(t, scaled({{0, 51, 255}, {1, 128, 254}}, 255), H.ROUND)
  end)

  it("P5, 16 bits big-endian (maxval 1000), and a small maxval (15)", function()
    local t = load("P5 2 1 1000\n" .. string.pack(">I2I2", 1000, 333))
    H.assert_tensor(t, {{1, 0.333}}, H.ROUND)
    t = load("P5\t1\r\n2\n15\n" .. string.char(15, 3))
    H.assert_tensor(t, {{1}, {0.2}}, H.ROUND)
  end)

  it("P2, plain text, any whitespace and comments between values", function()
    local t = load("P2\n2 2\n# max\n100\n  0\t50\n# a comment\n100\n 25")
    H.assert_tensor(t, {{0, 0.5}, {1, 0.25}}, H.ROUND)
  end)

  it("ignores what follows the raster (a second image)", function()
    local t = load("P5 1 1 255\n" .. string.char(255) .. "P5 1 1 255\n\0")
    H.assert_tensor(t, {{1}}, H.EXACT)
  end)

  local function rejects (bytes, parts)
    write_file(path, bytes)
    local all = { "image.load: " .. path .. ": PGM: " }
    for _, p in ipairs(parts) do all[#all + 1] = p end
    return H.assert_error_has(function() image.load(path) end, all)
  end

  it("raises on a truncated or corrupt file", function()
    rejects("P5 3 2 255\n" .. string.char(1, 2, 3, 4, 5), {"truncated: the raster of 3x2 needs 6 bytes, the file has 5"})
    rejects("P5 2 1 1000\n" .. string.char(1, 2, 3), {"needs 4 bytes"})
    rejects("P5 3 2", {"the maxval is missing (file truncated)"})
    rejects("P5 3 2 255", {"the file ends after maxval"})
    rejects("P5 3", {"the height is missing"})
    rejects("P5", {"the width is missing"})
    rejects("P5x 3 2 255\n", {"no whitespace after the magic number"})
    rejects("P5 3 x 255\n", {"the height is not a number"})
    rejects("P5 0 2 255\n", {"size 0x2 is out of range"})
    rejects("P5 70000 2 255\n", {"size 70000x2 is out of range"})
    rejects("P5 99999999999 2 255\n", {"the width is not a number below 10^9"})
    rejects("P5 1 1 0\n\0", {"maxval 0 is not in 1..65535"})
    rejects("P5 1 1 65536\n\0\0", {"maxval 65536 is not in 1..65535"})
    rejects("P5 2 1 15\n" .. string.char(3, 16), {"pixel 2 (row 1, column 2) is 16, above maxval 15"})
    rejects("P2 2 2 255\n1 2 3", {"truncated"})
    rejects("P2 2 2 255\n1 2 3     ", {"pixel 4 (row 2, column 2) is missing"})
    rejects("P2 2 1 255\n1 2x", {"pixel 2 (row 1, column 2) is not a number"})
    rejects("P2 2 1 9\n1 10", {"pixel 2 (row 1, column 2) is 10, above maxval 9"})
  end)

  it("a P5 file cut at any byte raises", function()
    local bytes = "P5\n# c\n4 2\n255\n" .. ("\7"):rep(8)
    for cut = 0, #bytes - 1 do
      write_file(path, bytes:sub(1, cut))
      assert.is_false(pcall(image.load, path), "cut at " .. cut)
    end
    assert.are.same({2, 4}, load(bytes).shape)
  end)
end)

describe("nn.image.save_pgm", function()
  local dir, path
  before_each(function() dir = temp_dir(); path = dir .. "/out.pgm" end)
  after_each(function() os.execute("rm -rf " .. shell_quote(dir)) end)

  it("writes an 8-bit P5 that loads back to the same values", function()
    local rows = {}
    for i = 1, 16 do
      rows[i] = {}
      for j = 1, 16 do rows[i][j] = ((i - 1) * 16 + j - 1) / 255 end
    end
    local t = nn.tensor(rows)
    image.save_pgm(path, t)
    local bytes = read_file(path)
    assert.are.equal("P5\n16 16\n255\n", bytes:sub(1, 13))
    assert.are.equal(13 + 256, #bytes)
    -- k / 255 stored as float32 comes back as the float32 quotient k / 255
    local back = image.load(path)
    assert.are.same({16, 16}, back.shape)
    assert.are.equal(0, (back - t):abs():max())
    H.assert_tensor(back, rows, H.ROUND)
  end)

  it("clamps to [0, 1], writes NaN as 0, rounds to nearest", function()
    image.save_pgm(path, nn.tensor{{-1, 2, 0 / 0, 0.5, 0.2, 1 / 0}})
    assert.are.equal("P5\n6 1\n255\n" .. string.char(0, 255, 0, 128, 51, 255), read_file(path))
  end)

  it("raises on a tensor that is not a 2-D image, or a path it cannot write", function()
    H.assert_error_has(function() image.save_pgm(path, nn.tensor{1, 2}) end,
                       {"bad argument #2", "an image is a 2-D tensor (H, W)", "got [2]"})
    H.assert_error_has(function() image.save_pgm(path, nn.tensor.zeros(0, 3)) end, {"bad argument #2", "got [0x3]"})
    H.assert_error_has(function() image.save_pgm(path, "x") end, {"bad argument #2", "nn.Tensor expected"})
    H.assert_error_has(function() image.save_pgm(dir .. "/no/x.pgm", nn.tensor{{1}}) end,
                       {"image.save_pgm: " .. dir .. "/no/x.pgm: ", "No such file or directory"})
    H.assert_error_has(function() image.save_pgm(dir .. "/x.pgm\0.bak", nn.tensor{{1}}) end,
                       {"bad argument #1", "the path holds a NUL byte at byte " .. #dir + 7})
    assert.is_nil(io.open(dir .. "/x.pgm"), "a file was written at the path cut short")
  end)

  it("replaces a file whole, through a temporary file it does not leave behind", function()
    image.save_pgm(path, nn.tensor.zeros(4, 4))
    image.save_pgm(path, nn.tensor{{1}})
    assert.are.equal("P5\n1 1\n255\n\255", read_file(path))
    local p = io.popen("ls -A " .. shell_quote(dir))
    local listing = p:read("a")
    p:close()
    assert.are.equal("out.pgm\n", listing)
  end)

  it("refuses a FIFO or a directory at the path before writing (it used to block on the FIFO)", function()
    local fifo = dir .. "/fifo"
    assert(os.execute("mkfifo " .. shell_quote(fifo)))
    H.assert_error_has(function() image.save_pgm(fifo, nn.tensor{{1}}) end,
                       {"image.save_pgm: " .. fifo, "not a regular file"})
    H.assert_error_has(function() image.save_pgm(dir, nn.tensor{{1}}) end,
                       {"image.save_pgm: " .. dir, "is a directory"})
  end)
end)
