-- spec/progress_spec.lua -- model:train's progress bar on a terminal
-- (lua/nn/fit.lua, draw_bar): one line that fits the width, redrawn in
-- place, leaving only each epoch's summary line behind.
local H = require "spec.helpers"

-- run a 2-epoch train in a pseudo-terminal of `cols` columns; returns what
-- the terminal received
local function train_in_pty(cols, extra)
  local script = os.tmpname()
  H.write_file(script, ([[
    nn.manual_seed(1)
    local m = nn.Model("basic", {8, 16, 2})
    m:train(nn.tensor.randn(2048, 8), nn.tensor.ones(2048), {epochs = 2, batch_size = 16 %s})
  ]]):format(extra or ""))
  local cmd = ("stty cols %d rows 24; %s %s"):format(cols, H.NNLUA, script)
  local p = assert(io.popen(("SHELL=/bin/sh script -qc %s /dev/null"):format(H.shell_quote(cmd))))
  local out = p:read("a")
  p:close()
  os.remove(script)
  return (out:gsub("\r\n", "\n"))
end

-- the drawings of the bar: each text written after a \r, without the
-- erase; not the summary line, which comes after "\r ESC[K"
local function drawings(out)
  local list = {}
  for seg in out:gmatch("\r([^\r\n]*)") do
    if seg:sub(1, 3) ~= "\27[K" then list[#list + 1] = (seg:gsub("\27%[K", "")) end
  end
  return list
end

-- what stays on screen: each line's text after its last \r (the erase
-- before the summary clears the bar)
local function screen(out)
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do
    lines[#lines + 1] = (line:match("([^\r]*)$"):gsub("\27%[K", ""))
  end
  return lines
end

describe("the progress bar", function()
  it("at 80 columns: each drawing fits in 79, with the rate and the ETA", function()
    local out = train_in_pty(80)
    local d = drawings(out)
    assert.is_true(#d >= 2, out)
    local bars = 0
    for _, s in ipairs(d) do
      do
        bars = bars + 1
        assert.is_true(utf8.len(s) <= 79, ("%d columns: %q"):format(utf8.len(s), s))
        assert.is_truthy(s:find("^Epoch [12]/2 +%d+/128 %[[=>.]+%] loss [%d.]+  acc [%d.]+ +[%d.]+[kM]? "
                                .. "samples/s  ETA %d+s$"), s)
      end
    end
    assert.is_true(bars >= 2, out)
    assert.is_truthy(out:find("\27[K", 1, true), "erases to the end of the line")
  end)

  it("leaves nothing behind but the epochs' summary lines", function()
    local lines = screen(train_in_pty(80))
    assert.are.equal(2, #lines, table.concat(lines, "\n"))
    assert.is_truthy(lines[1]:find("^Epoch 1/2  loss [%d.]+ acc [%d.]+  [%d.]+s [%d.]+[kM]?/s$"), lines[1])
    assert.is_truthy(lines[2]:find("^Epoch 2/2  loss "), lines[2])
  end)

  it("narrower, it drops the accuracy, then the speed, then the bar, and still fits", function()
    for _, cols in ipairs{ 50, 40 } do
      local d = drawings(train_in_pty(cols))
      assert.is_true(#d >= 2)
      for _, s in ipairs(d) do
        assert.is_true(utf8.len(s) <= cols - 1, ("%d columns at %d: %q"):format(utf8.len(s), cols, s))
        assert.is_falsy(s:find("acc", 1, true), s)
        assert.is_truthy(s:find(cols == 50 and "%] loss [%d.]+  ETA %d+s$" or " loss [%d.]+  ETA %d+s$"), s)
      end
    end
  end)

  it("is not drawn when stdout is not a terminal", function()
    local script = os.tmpname()
    H.write_file(script, [[
      local m = nn.Model("basic", {8, 2})
      m:train(nn.tensor.randn(64, 8), nn.tensor.ones(64), {epochs = 1, batch_size = 16})
    ]])
    local out = H.run(script)
    os.remove(script)
    assert.is_falsy(out:find("\r", 1, true), out)
    assert.is_truthy(out:find("^Epoch 1/1  loss "), out)
  end)
end)
