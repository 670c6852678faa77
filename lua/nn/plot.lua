--- lua/nn/plot.lua: pictures, in the terminal and to files.
--
--   nn.plot(history)              loss and accuracy curves (train, validation)
--                                 as a braille plot sized to the terminal
--   nn.plot(history, 'loss.png')  the same as a PNG, through gnuplot
--   t:show()                      a 2-D tensor, an image (H, W) or (1, H, W), or
--                                 a grid of images (B, H, W) / (B, 1, H, W), in
--                                 greyscale Unicode blocks
--   t:hist([bins = 20])           a histogram of t's values
--   nn.image.save(t, 'x.png' [, {normalize = true}]), t:save_image(path [, opts])
--                                 an 8-bit greyscale PNG (io/image.c, libpng)
--
-- Colour: on a terminal, t:show() draws two pixel rows per character with the
-- upper half block U+2580 in 256-colour greys (foreground the upper pixel,
-- background the lower one); with NO_COLOR set (https://no-color.org) or
-- stdout not a terminal it draws one character pair per pixel from the
-- shade ramp " ░▒▓█", which any text file keeps.  Each of these returns
-- the text it printed, so a spec (or a log) can look at it.
local nn = require "nn"
local core = require "nn.core"
local printing = require "nn.repr"

local M = {}

local function is_tensor(v) return getmetatable(v) == core.Tensor end

-- the colour escapes are used on a terminal without NO_COLOR; opts.color
-- (true/false) decides instead when given
local function use_color(o)
  if o and o.color ~= nil then return o.color and true or false end
  local no = os.getenv("NO_COLOR")
  return (no == nil or no == "") and nn.isatty(1)
end

local function width_of(o)
  return (o and o.width) or printing.get_printoptions().linewidth
end

-- A method of a tensor called with a dot (t.show()) gets no tensor: say so.
local function self_tensor(t, name)
  if not is_tensor(t) then
    error(("use t:%s(...) (a colon): t.%s(...) passes no tensor (got %s)")
          :format(name, name, type(t)), 3)
  end
end

local function check_opts(o, who, keys)
  if o == nil then return {} end
  if type(o) ~= "table" then
    error(("%s: options must be a table, got %s"):format(who, type(o)), 3)
  end
  for k in pairs(o) do
    if not keys[k] then
      local names = {}
      for name in pairs(keys) do names[#names + 1] = name end
      table.sort(names)
      error(("%s: unknown option '%s' (options: %s)"):format(who, tostring(k),
            table.concat(names, ", ")), 3)
    end
  end
  return o
end

-- finite min and max of t (nil when no element is finite)
local function finite_range(t)
  local f = t.dtype == "float32" and t or t:float()
  local bad = f:isnan():add(f:isinf())
  if bad:sum() == f:numel() then return nil end
  local x = f:masked_fill(f:isinf(), 0 / 0)      -- max and min skip NaN
  return x:min(), x:max(), bad:sum()
end


--- t:show([opts]) -> the text printed: t as greyscale blocks.
-- t: (H, W), (1, H, W), (B, H, W) or (B, 1, H, W) (a grid of B images, as
-- many a row as the terminal holds).  Values in [0, 1] are shown as they are
-- (0 black, 1 white); otherwise, or with normalize = true, t's min..max is
-- stretched to black..white.  opts: normalize, color (true/false: force the
-- escapes on or off), width (columns; default the line width of
-- nn.get_printoptions), print = false (return the text only).  An image
-- wider than the width is shown sampled (every k-th column and row).
-- Errors: not a tensor (a dot call t.show()); another shape; an empty tensor.
function M.show(t, o)
  self_tensor(t, "show")
  o = check_opts(o, "t:show", { normalize = true, color = true, width = true, print = true })
  local s = t:size()
  local B, H, W
  if #s == 2 then B, H, W = 1, s[1], s[2]
  elseif #s == 3 then B, H, W = s[1], s[2], s[3]
  elseif #s == 4 and s[2] == 1 then B, H, W = s[1], s[3], s[4]
  else
    error(("t:show: expected (H, W), (1, H, W), (B, H, W) or (B, 1, H, W), got [%s]")
          :format(table.concat(s, "x")), 2)
  end
  if t:numel() == 0 then error("t:show: the tensor is empty", 2) end
  if t:numel() > 1 << 22 then
    error(("t:show: %d elements is too many to show; show a part (t:narrow)"):format(t:numel()), 2)
  end
  local lo, hi = finite_range(t)
  lo, hi = lo or 0, hi or 1
  if o.normalize or lo < 0 or hi > 1 then
    if hi <= lo then hi = lo + 1 end
  else
    lo, hi = 0, 1
  end
  local color, width = use_color(o), width_of(o)
  local cell = color and 1 or 2                          -- characters per pixel
  -- sample every k-th pixel when one image is wider than the width
  local k = math.max(1, math.ceil(W * cell / width))
  local w, h = (W + k - 1) // k, (H + k - 1) // k
  local per_row = math.max(1, (width + 1) // (w * cell + 1))
  local vals = t:float():view(B, H, W):cpu():totable()
  local function level(b, i, j)       -- 0..1, NaN as 0
    local v = vals[b][(i - 1) * k + 1][(j - 1) * k + 1]
    if v ~= v then return 0 end
    v = (v - lo) / (hi - lo)
    return v < 0 and 0 or v > 1 and 1 or v
  end
  -- 256-colour greys: 16 is black, 232..255 the ramp, 231 white
  local function grey(v)
    local g = math.floor(v * 25 + 0.5)
    return g == 0 and 16 or g == 25 and 231 or 231 + g
  end
  local ramp = { " ", "░", "▒", "▓", "█" }
  local lines = {}
  for b0 = 1, B, per_row do
    local b1 = math.min(B, b0 + per_row - 1)
    local step = color and 2 or 1
    for i = 1, h, step do
      local parts = {}
      for b = b0, b1 do
        local row = {}
        for j = 1, w do
          if color then
            local top = grey(level(b, i, j))
            local bottom = i + 1 <= h and grey(level(b, i + 1, j)) or nil
            row[#row + 1] = bottom and ("\27[38;5;%d;48;5;%dm▀"):format(top, bottom)
                            or ("\27[38;5;%dm\27[49m▀"):format(top)
          else
            local c = ramp[math.min(5, math.floor(level(b, i, j) * 5) + 1)]
            row[#row + 1] = c .. c
          end
        end
        parts[#parts + 1] = table.concat(row) .. (color and "\27[0m" or "")
      end
      lines[#lines + 1] = table.concat(parts, " ")
    end
    if b1 < B then lines[#lines + 1] = "" end
  end
  local text = table.concat(lines, "\n")
  if o.print ~= false then
    print(text)
    return nn.shown(text)        -- printed: the prompt does not print it again
  end
  return text
end


local EIGHTHS = { "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█" }

-- a bar of `v` cells out of the whole ones, in eighths of a character
local function bar(v)
  local full = math.floor(v)
  local rest = math.floor((v - full) * 8)
  return ("█"):rep(full) .. (rest > 0 and EIGHTHS[rest] or "")
end

local function num(v) return ("%.4g"):format(v) end

--- t:hist([bins = 20] [, opts]) -> counts, edges, text: a histogram of t's
-- finite values in `bins` equal bins from its min to its max (the last bin
-- holds the max), printed one bin a line with a bar sized to the terminal.
-- NaN and Inf are counted in the header, not binned.  counts: a list of
-- bins integers; edges: bins + 1 numbers.  opts: width, print = false.
-- Errors: not a tensor (a dot call t.hist()); bins not an integer 1..1000;
-- an empty tensor.
function M.hist(t, bins, o)
  self_tensor(t, "hist")
  if type(bins) == "table" and o == nil then bins, o = nil, bins end
  bins = bins == nil and 20 or bins
  if math.type(bins) ~= "integer" or bins < 1 or bins > 1000 then
    error(("t:hist: bins must be an integer from 1 to 1000, got %s"):format(tostring(bins)), 2)
  end
  o = check_opts(o, "t:hist", { width = true, print = true })
  local n = t:numel()
  if n == 0 then error("t:hist: the tensor is empty", 2) end
  local f = t.dtype == "float32" and t or t:float()
  local lo, hi, bad = finite_range(f)
  local counts, edges = {}, {}
  local head = ("hist of %s values"):format(printing.thousands(n))
  if lo == nil then
    for i = 1, bins do counts[i] = 0 end
    lo, hi = 0, 0
  else
    local span = hi - lo
    for i = 0, bins do edges[i + 1] = i == bins and hi or lo + span * i / bins end
    -- count(x >= e_i) - count(x >= e_{i+1}): one comparison pass a bin
    local ge, finite = {}, n - bad
    local y = f:masked_fill(f:isinf(), 0 / 0)      -- NaN compares false: out of every count
    for i = 1, bins + 1 do
      ge[i] = i == 1 and finite or i == bins + 1 and 0 or math.tointeger(y:ge(edges[i]):sum())
      -- an element equal to hi is in the last bin: ge[bins + 1] = 0 does it
    end
    for i = 1, bins do counts[i] = ge[i] - ge[i + 1] end
    head = head .. ("  min %s  max %s  mean %s"):format(num(lo), num(hi),
                                                       num(f:masked_fill(f:isnan():add(f:isinf()):gt(0), 0):sum() / finite))
    local nans, infs = math.tointeger(f:isnan():sum()), math.tointeger(f:isinf():sum())
    if nans > 0 then head = head .. ("  NaN %d"):format(nans) end
    if infs > 0 then head = head .. ("  Inf %d"):format(infs) end
  end
  local lines = { head }
  if #edges > 0 then
    local labels, lw, most = {}, 0, 0
    for i = 1, bins do
      labels[i] = ("%s .. %s"):format(num(edges[i]), num(edges[i + 1]))
      lw = math.max(lw, #labels[i])
      most = math.max(most, counts[i])
    end
    local cw = #tostring(most)
    -- label, " │", bar, " ", count, and the last column left free
    local room = math.max(10, math.min(60, width_of(o) - lw - cw - 4))
    for i = 1, bins do
      local b = most > 0 and bar(counts[i] / most * room) or ""
      local shown = b .. (" "):rep(room - utf8.len(b))
      lines[#lines + 1] = ("%" .. lw .. "s │%s %" .. cw .. "d"):format(labels[i], shown, counts[i])
    end
  end
  local text = table.concat(lines, "\n")
  if o.print ~= false then
    print(text)
    return counts, edges, nn.shown(text)   -- printed: the prompt does not print them again
  end
  return counts, edges, text
end


-- braille: each character is a 2 x 4 grid of dots, U+2800 + bits
local DOT = { { 0x01, 0x08 }, { 0x02, 0x10 }, { 0x04, 0x20 }, { 0x40, 0x80 } }

-- one panel: series {name, values, color}, drawn as `rows` lines of at most
-- `width` characters (labels, axis, canvas); returns its lines
local function panel(title, series, epochs, width, rows, color)
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(series) do
    for _, v in ipairs(s.values) do
      if v == v and v ~= math.huge and v ~= -math.huge then
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
    end
  end
  if lo > hi then return { title .. ": no finite values" } end
  if hi == lo then lo, hi = lo - 0.5, hi + 0.5 end
  local label_w = math.max(#num(lo), #num(hi))
  local cols = math.max(8, width - label_w - 2)
  local W, Hd = cols * 2, rows * 4                       -- dots
  local grid = {}                                        -- grid[r][c] = {bits, series}
  for r = 1, rows do grid[r] = {} for c = 1, cols do grid[r][c] = { 0, nil } end end
  local n = #epochs
  local function dot(x, y, si)
    local c, r = x // 2 + 1, y // 4 + 1
    if c < 1 or c > cols or r < 1 or r > rows then return end
    local cell = grid[r][c]
    cell[1] = cell[1] | DOT[y % 4 + 1][x % 2 + 1]
    cell[2] = cell[2] or si
  end
  local function px(i) return n == 1 and 0 or math.floor((i - 1) / (n - 1) * (W - 1) + 0.5) end
  local function py(v) return math.floor((hi - v) / (hi - lo) * (Hd - 1) + 0.5) end
  for si, s in ipairs(series) do
    local prev
    for i = 1, n do
      local v = s.values[i]
      if v ~= nil and v == v then
        local x, y = px(i), py(v)
        if not color and s.marker then                   -- no colour: points only, marked
        elseif prev then                                 -- the segment from the last point
          local steps = math.max(math.abs(x - prev[1]), math.abs(y - prev[2]), 1)
          for k = 0, steps do
            dot(prev[1] + (x - prev[1]) * k // steps, prev[2] + (y - prev[2]) * k // steps, si)
          end
        else dot(x, y, si) end
        prev = { x, y }
        if not color and s.marker then grid[y // 4 + 1][x // 2 + 1].marker = s.marker end
      end
    end
  end
  local lines = { title }
  for r = 1, rows do
    local label = r == 1 and num(hi) or r == rows and num(lo) or ""
    local row = {}
    for c = 1, cols do
      local cell = grid[r][c]
      local ch = cell.marker or (cell[1] > 0 and utf8.char(0x2800 + cell[1]) or " ")
      if color and cell[2] and ch ~= " " then
        ch = ("\27[%dm%s\27[0m"):format(series[cell[2]].color, ch)
      end
      row[c] = ch
    end
    lines[#lines + 1] = ("%" .. label_w .. "s ┤%s"):format(label, table.concat(row))
  end
  local first, last = tostring(epochs[1]), tostring(epochs[n])
  lines[#lines + 1] = (" "):rep(label_w) .. " └" .. ("─"):rep(cols)
  local gap = math.max(1, cols - #first - #last - 6)
  lines[#lines + 1] = (" "):rep(label_w + 2) .. first .. (" "):rep(gap) .. last .. " epoch"
  local legend = {}
  for _, s in ipairs(series) do
    local mark = color and ("\27[%dm⠤⠤\27[0m"):format(s.color) or (s.marker and s.marker:rep(2) or "⠤⠤")
    legend[#legend + 1] = mark .. " " .. s.name
  end
  lines[#lines + 1] = (" "):rep(label_w + 2) .. table.concat(legend, "   ")
  return lines
end

local function check_history(h)
  if type(h) ~= "table" or type(h.loss) ~= "table" or type(h.epoch) ~= "table" then
    error(("nn.plot: expected the history model:train returns ({epoch = {...}, loss = {...}, "
           .. "...}), got %s"):format(type(h) == "table" and "a table without epoch and loss"
           or type(h)), 3)
  end
  if #h.epoch == 0 then error("nn.plot: the history has no epochs yet", 3) end
end

-- the panels of a history: {title, {series...}}
local function panels_of(h)
  local out = {}
  local function add(title, train, val)
    local series = {}
    if type(h[train]) == "table" and #h[train] > 0 then
      series[#series + 1] = { name = train, values = h[train], color = 34 }
    end
    if type(h[val]) == "table" and #h[val] > 0 then
      series[#series + 1] = { name = val, values = h[val], color = 33, marker = "•" }
    end
    if #series > 0 then out[#out + 1] = { title, series, train, val } end
  end
  add("loss", "loss", "val_loss")
  add("accuracy", "accuracy", "val_accuracy")
  return out
end

-- the gnuplot program on PATH, or nil
local function gnuplot_path()
  local p = io.popen("command -v gnuplot 2>/dev/null")
  local path = p and p:read("l")
  if p then p:close() end
  return path ~= "" and path or nil
end

local function plot_file(h, path)
  if not gnuplot_path() then
    error(("nn.plot: writing %s needs the program gnuplot, which is not installed "
           .. "(Debian: apt-get install gnuplot-nox)"):format(path), 3)
  end
  local data = os.tmpname()
  local f = assert(io.open(data, "w"))
  local cols = { "epoch", "loss", "val_loss", "accuracy", "val_accuracy" }
  for i = 1, #h.epoch do
    local row = {}
    for _, c in ipairs(cols) do
      local v = type(h[c]) == "table" and h[c][i] or nil
      row[#row + 1] = (v ~= nil and v == v) and ("%.9g"):format(v) or "NaN"
    end
    f:write(table.concat(row, " "), "\n")
  end
  f:close()
  local ps = panels_of(h)
  local quoted = path:gsub("\\", "\\\\"):gsub('"', '\\"')
  local script = { "set terminal pngcairo size 900," .. (#ps * 320) .. " noenhanced",
                   ('set output "%s"'):format(quoted),
                   ("set multiplot layout %d,1"):format(#ps), "set grid", "set xlabel 'epoch'",
                   "set key outside right" }
  local col = { loss = 2, val_loss = 3, accuracy = 4, val_accuracy = 5 }
  for _, p in ipairs(ps) do
    local plots = {}
    for _, s in ipairs(p[2]) do
      plots[#plots + 1] = ('"%s" using 1:%d with linespoints title "%s"'):format(data, col[s.name], s.name)
    end
    script[#script + 1] = ("set title '%s'"):format(p[1])
    script[#script + 1] = "plot " .. table.concat(plots, ", ")
  end
  script[#script + 1] = "unset multiplot"
  local sf = os.tmpname()
  local g = assert(io.open(sf, "w"))
  g:write(table.concat(script, "\n"), "\n")
  g:close()
  -- pngcairo comes with gnuplot-nox; gnuplot's own png terminal if not
  local cmd = ("gnuplot %s 2>&1"):format(sf)
  local p = io.popen(cmd)
  local msg = p:read("a")
  local ok = p:close()
  if not ok and msg:find("unknown or ambiguous terminal", 1, true) then
    script[1] = script[1]:gsub("pngcairo", "png")
    g = assert(io.open(sf, "w"))
    g:write(table.concat(script, "\n"), "\n")
    g:close()
    p = io.popen(cmd)
    msg = p:read("a")
    ok = p:close()
  end
  os.remove(data)
  os.remove(sf)
  if not ok then error(("nn.plot: gnuplot could not write %s: %s"):format(path, msg), 3) end
  return path
end

--- nn.plot(history [, path] [, opts]) -> the text printed (or path):
-- the curves of a model:train history, loss (and val_loss) in one panel,
-- accuracy (and val_accuracy) in another, against the epoch.  Without path:
-- braille plots in the terminal, as wide as the line width (opts.width) and
-- opts.height rows each (default 10).  In colour the training curve is
-- blue and the validation one yellow; without colour the validation points
-- are marked • and not joined.  With path: a PNG drawn by gnuplot (returns path).
-- opts: width, height, color, print = false.
-- Errors: not a history (needs epoch and loss lists), no epochs; a path that
-- is not a string; gnuplot not installed ("... needs the program gnuplot").
function M.plot(h, path, o)
  if type(path) == "table" and o == nil then path, o = nil, path end
  check_history(h)
  if path ~= nil then
    if type(path) ~= "string" or path == "" then
      error(("nn.plot: path must be a file name such as 'loss.png', got %s"):format(type(path)), 2)
    end
    return plot_file(h, path)
  end
  o = check_opts(o, "nn.plot", { width = true, height = true, color = true, print = true })
  local width, color = width_of(o), use_color(o)
  local rows = o.height or 10
  if math.type(rows) ~= "integer" or rows < 2 or rows > 200 then
    error(("nn.plot: height must be an integer from 2 to 200, got %s"):format(tostring(rows)), 2)
  end
  local lines = {}
  for _, p in ipairs(panels_of(h)) do
    local pl = panel(p[1], p[2], h.epoch, width, rows, color)
    if #lines > 0 then lines[#lines + 1] = "" end
    for _, l in ipairs(pl) do lines[#lines + 1] = l end
  end
  local text = table.concat(lines, "\n")
  if o.print ~= false then
    print(text)
    return nn.shown(text)        -- printed: the prompt does not print it again
  end
  return text
end

--- nn.image.save(t, path [, {normalize = false}]) -> path: t (H, W) or
-- (1, H, W) as an 8-bit greyscale PNG, values clamped to [0, 1], or with
-- normalize = true stretched from t's min..max.  Written atomically
-- (io/image.c).  Errors: not a tensor; another shape; a path that cannot be
-- written ("image.save: <path>: <reason>").
function M.save_image(t, path, o)
  self_tensor(t, "save_image")
  if t:dim() == 3 and t:size(1) == 1 then t = t:view(t:size(2), t:size(3)) end
  if type(path) ~= "string" then
    error(("image.save: path must be a string such as 'x.png', got %s"):format(type(path)), 2)
  end
  return core.image_save_png(path, t, o)
end

-- the tensor methods
core.Tensor.methods.show = M.show
core.Tensor.methods.hist = M.hist
core.Tensor.methods.save_image = M.save_image
nn.image.save = function (t, path, o)
  if type(t) == "string" and is_tensor(path) then t, path = path, t end   -- (path, t) as save_pgm
  return M.save_image(t, path, o)
end

return M
