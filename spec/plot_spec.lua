-- spec/plot_spec.lua -- pictures: t:show(), t:hist(), nn.plot(history [, path]),
-- nn.image.save / t:save_image (lua/nn/plot.lua, io/image.c).
local H = require "spec.helpers"

local function lines_of(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

local PLAIN = { color = false, print = false, width = 80 }

describe("t:show()", function()
  it("draws a 2-D tensor in shade characters, two per pixel, 0 black and 1 white", function()
    local t = nn.tensor{{0, 0.25, 0.5}, {0.75, 1, 0}}
    assert.are.equal("  ░░▒▒\n▓▓██  ", t:show(PLAIN))
  end)

  it("stretches min..max when values leave [0, 1], or with normalize", function()
    assert.are.equal("  ██", nn.tensor{{-3, 5}}:show(PLAIN))
    assert.are.equal("  ██", nn.tensor{{0.2, 0.4}}:show{ color = false, print = false, normalize = true })
    assert.are.equal("░░▒▒", nn.tensor{{0.2, 0.4}}:show(PLAIN))
  end)

  it("on a terminal: half blocks, the upper pixel as foreground, the lower as background", function()
    local s = nn.tensor{{0, 1}, {1, 0}}:show{ color = true, print = false }
    assert.are.equal("\27[38;5;16;48;5;231m▀\27[38;5;231;48;5;16m▀\27[0m", s)
  end)

  it("takes (1, H, W), and lays a batch (B, H, W) or (B, 1, H, W) side by side", function()
    assert.are.equal("██", nn.tensor{{{1}}}:show(PLAIN))
    local batch = nn.tensor{{{0}}, {{1}}, {{0.5}}}
    assert.are.equal("   ██ ▒▒", batch:show(PLAIN))
    assert.are.equal("   ██ ▒▒", batch:view(3, 1, 1, 1):show(PLAIN))
  end)

  it("wraps a grid at the width, and samples an image wider than it", function()
    local batch = nn.tensor.ones(3, 1, 4)
    assert.are.equal("████████ ████████\n\n████████", batch:show{ color = false, print = false, width = 17 })
    local wide = nn.tensor.ones(2, 100)
    local ls = lines_of(wide:show{ color = false, print = false, width = 40 })
    for _, l in ipairs(ls) do assert.is_true(utf8.len(l) <= 40, l) end
  end)

  it("a 28x28 Fashion-MNIST item is 28 lines of 56 characters (14 on a terminal)", function()
    local ok, data = H.fashion_mnist()
    local img = ok and data.x_train:narrow(1, 1, 1):view(28, 28) or nn.tensor.rand(28, 28)
    local ls = lines_of(img:show(PLAIN))
    assert.are.equal(28, #ls)
    for _, l in ipairs(ls) do assert.are.equal(56, utf8.len(l)) end
    assert.are.equal(14, #lines_of(img:show{ color = true, print = false }))
  end)

  it("prints the text it returns", function()
    local out = H.run("-e \"nn.tensor{{1, 0}}:show{color = false}\"")
    assert.are.equal("██  \n", out)
  end)

  it("refuses other shapes, empty tensors, unknown options and a dot call", function()
    H.assert_error_has(function () nn.tensor.ones(2, 2, 2, 2):show() end,
                       { "t:show: expected (H, W), (1, H, W), (B, H, W) or (B, 1, H, W), got [2x2x2x2]" })
    H.assert_error_has(function () nn.tensor.ones(3):show() end, { "got [3]" })
    H.assert_error_has(function () nn.tensor.zeros(0, 3):show() end, { "t:show: the tensor is empty" })
    H.assert_error_has(function () nn.tensor.ones(2, 2):show{ colour = true } end,
                       { "t:show: unknown option 'colour'" })
    local t = nn.tensor.ones(2, 2)
    H.assert_error_has(function () t.show() end, { "use t:show(...) (a colon)" })
  end)
end)

describe("t:hist()", function()
  it("counts per equal bin from min to max, the max in the last bin", function()
    local counts, edges = nn.tensor{0, 1, 1, 2, 3, 4}:hist(4, { print = false })
    assert.are.same({ 1, 2, 1, 2 }, counts)
    assert.are.same({ 0, 1, 2, 3, 4 }, edges)
  end)

  it("prints bars scaled to the largest count, exactly", function()
    local _, _, text = nn.tensor{0, 1, 1, 2}:hist(2, { width = 30, print = false })
    assert.are.equal("hist of 4 values  min 0  max 2  mean 1\n"
                     .. "0 .. 1 │██████▎             1\n"     -- 1/3 of 19 cells: 6 and 2/8
                     .. "1 .. 2 │███████████████████ 3", text)   -- 29 columns: the last one free
  end)

  it("leaves NaN and Inf out of the bins and counts them in the header", function()
    local counts, _, text = nn.tensor{0, 0 / 0, 1 / 0, 1}:hist(2, { print = false })
    assert.are.same({ 1, 1 }, counts)
    assert.is_truthy(text:find("NaN 1  Inf 1", 1, true), text)
  end)

  it("no line is wider than the width", function()
    local _, _, text = nn.tensor.randn(1000):hist(20, { width = 60, print = false })
    for _, l in ipairs(lines_of(text)) do assert.is_true(utf8.len(l) <= 60, l) end
  end)

  it("refuses bad bins, an empty tensor and a dot call", function()
    H.assert_error_has(function () nn.tensor{1}:hist(0) end,
                       { "t:hist: bins must be an integer from 1 to 1000, got 0" })
    H.assert_error_has(function () nn.tensor{1}:hist(2.5) end, { "got 2.5" })
    H.assert_error_has(function () nn.tensor.zeros(0):hist() end, { "t:hist: the tensor is empty" })
    H.assert_error_has(function () local t = nn.tensor{1}; t.hist(3) end, { "use t:hist(...) (a colon)" })
  end)
end)

describe("nn.plot", function()
  local h = { epoch = { 1, 2, 3 }, loss = { 1, 0.5, 0.25 }, val_loss = { 1.2, 0.6, 0.5 },
              accuracy = { 0.5, 0.75, 1 } }

  it("draws loss and accuracy panels as braille, as wide as asked", function()
    local s = nn.plot(h, { width = 30, height = 3, color = false, print = false })
    local ls = lines_of(s)
    assert.are.equal("loss", ls[1])
    assert.is_truthy(ls[2]:find("^ 1.2 ┤"), ls[2])
    assert.is_truthy(ls[4]:find("^0.25 ┤"), ls[4])
    assert.is_truthy(s:find("\naccuracy\n", 1, true), s)
    assert.is_truthy(s:find("⠤⠤ loss   •• val_loss", 1, true), s)
    for _, l in ipairs(ls) do assert.is_true(utf8.len(l) <= 30, l) end
    -- the bottom row: loss falling to 0.25 in braille, and val_loss's last
    -- point (0.5, in the same cell row) marked at the right end
    assert.is_truthy(ls[4]:find("⠉⠉", 1, true), ls[4])
    assert.is_truthy(ls[4]:find("•$"), ls[4])
  end)

  it("draws one point for one epoch", function()
    local s = nn.plot({ epoch = { 1 }, loss = { 0.5 } }, { width = 30, height = 2, color = false, print = false })
    assert.is_truthy(s:find("⠁", 1, true) or s:find("⡀", 1, true) or s:find("⠉", 1, true), s)
  end)

  it("writes a PNG through gnuplot", function()
    local path = os.tmpname() .. ".png"
    if not os.execute("command -v gnuplot >/dev/null 2>&1") then
      H.assert_error_has(function () nn.plot(h, path) end, { "needs the program gnuplot" })
      return
    end
    assert.are.equal(path, nn.plot(h, path))
    local bytes = H.read_file(path)
    os.remove(path)
    assert.are.equal("\137PNG\r\n\26\n", bytes:sub(1, 8))
  end)

  it("names the missing gnuplot", function()
    local p = io.popen("PATH=/nonexistent " .. H.NNLUA .. " -e \"nn.plot({epoch = {1}, loss = {1}}, "
                       .. "'/tmp/nnlua-no-gnuplot.png')\" 2>&1")
    local out = p:read("a")
    p:close()
    assert.is_truthy(out:find("nn.plot: writing /tmp/nnlua-no-gnuplot.png needs the program "
                                  .. "gnuplot, which is not installed (Debian: apt-get install "
                                  .. "gnuplot-nox)", 1, true), out)
  end)

  it("refuses what is not a history", function()
    H.assert_error_has(function () nn.plot({ 1, 2 }) end,
                       { "nn.plot: expected the history model:train returns" })
    H.assert_error_has(function () nn.plot({ epoch = {}, loss = {} }) end,
                       { "nn.plot: the history has no epochs yet" })
    H.assert_error_has(function () nn.plot(h, 3) end, { "nn.plot: path must be a file name" })
    H.assert_error_has(function () nn.plot(h, { height = 1 }) end,
                       { "nn.plot: height must be an integer from 2 to 200, got 1" })
  end)
end)

describe("nn.image.save", function()
  it("writes an 8-bit greyscale PNG that nn.image.load reads back", function()
    local dir = H.temp_dir()
    local path = dir .. "/x.png"
    local t = nn.tensor{{0, 0.5}, {1, 2}}
    assert.are.equal(path, nn.image.save(t, path))
    local back = nn.image.load(path):totable()
    assert.are.same({ { 0 }, { 1, 1 } }, { { back[1][1] }, back[2] })
    assert.is_true(math.abs(back[1][2] - 128 / 255) < 1e-7, back[1][2])   -- 0.5 * 255 + 0.5 rounds to 128; float32
    local bytes = H.read_file(path)
    assert.are.equal("\137PNG\r\n\26\n", bytes:sub(1, 8))
    assert.are.equal(0, bytes:byte(25) - 8)     -- IHDR bit depth 8
    assert.are.equal(0, bytes:byte(26))         -- IHDR colour type 0: greyscale
    H.remove_dir(dir)
  end)

  it("normalize stretches min..max; t:save_image takes (1, H, W); no temporary file stays", function()
    local dir = H.temp_dir()
    local path = dir .. "/n.png"
    nn.tensor{{-1, 1}}:view(1, 1, 2):save_image(path, { normalize = true })
    assert.are.same({ { 0, 1 } }, nn.image.load(path):totable())
    local p = io.popen("ls -A " .. H.shell_quote(dir))
    local listing = p:read("a")
    p:close()
    assert.are.equal("n.png\n", listing)
    H.remove_dir(dir)
  end)

  it("refuses bad shapes, bad options, and an unwritable path", function()
    H.assert_error_has(function () nn.image.save(nn.tensor{1, 2}, "/tmp/a.png") end,
                       { "an image is a 2-D tensor (H, W)", "[2]" })
    H.assert_error_has(function () nn.image.save(nn.tensor{{1}}, "/tmp/a.png", { norm = true }) end,
                       { "image.save has no option 'norm'" })
    H.assert_error_has(function () nn.image.save(nn.tensor{{1}}, "/nonexistent/dir/a.png") end,
                       { "image.save: /nonexistent/dir/a.png: cannot create a temporary file" })
    H.assert_error_has(function () nn.image.save(nn.tensor{{1}}, 3) end,
                       { "image.save: path must be a string" })
    H.assert_error_has(function () local t = nn.tensor{{1}}; t.save_image("/tmp/a.png") end,
                       { "use t:save_image(...) (a colon)" })
  end)
end)
