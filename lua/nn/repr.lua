--- nn.repr(value) -> string: the text the prompt prints for a value.
-- A tensor shows a header (shape, dtype, device, min/max/mean/std, and the
-- count of NaN and Inf when there are any), then its values, as PyTorch
-- prints them: whole up to `threshold` elements, else the first and last
-- `edgeitems` of each long dim with `...` between; rows longer than
-- `linewidth` are cut into column blocks ("Columns 1 to 8", as Torch7),
-- so no line is longer than linewidth.  nn.set_printoptions changes these.
-- A table shows its contents to a small depth (cycles as <cycle>).  Anything
-- with a `__repr` metamethod is shown by it, so layers, models and the
-- history of a train print themselves.  Replace nn.repr to change what the
-- prompt prints.
local core = require "nn.core"

local M = {}

-- PyTorch's defaults, but for linewidth: nil follows the terminal
local DEFAULTS = { precision = 4, edgeitems = 3, threshold = 1000, linewidth = false }
local opts = { precision = 4, edgeitems = 3, threshold = 1000, linewidth = false }

--- nn.terminal_width() -> the number of columns of the terminal on stdout,
-- else $COLUMNS, else 80.  Never less than 20.
function M.terminal_width()
  local cols = core.terminal_size and core.terminal_size(1)
  if cols == nil then cols = math.tointeger(tonumber(os.getenv("COLUMNS") or "")) end
  if cols == nil or cols < 20 then cols = cols and 20 or 80 end
  return cols
end

--- nn.get_printoptions() -> {precision, edgeitems, threshold, linewidth}:
-- a copy of the current options; linewidth is the width in use (the
-- terminal's when none was set).
function M.get_printoptions()
  return { precision = opts.precision, edgeitems = opts.edgeitems, threshold = opts.threshold,
           linewidth = opts.linewidth or M.terminal_width() }
end

--- printing.wrap(text [, width]) -> text with every line longer than width
-- (default: the line width above, less one: a line that fills the last
-- column makes some terminals wrap) broken at its last space that fits, the
-- pieces after the first indented two more than the line was; a line with
-- no such space is cut (between UTF-8 characters).  Before that, a line
-- that a narrower widest gap would fit (an equation's \tag{n} on the
-- right) has that gap narrowed instead.  Other spacing is left as it was,
-- so aligned columns stay aligned.  For text
-- that prints itself: help, a model, inspect's warnings.
function M.wrap(text, width)
  width = math.max(8, width or M.get_printoptions().linewidth - 1)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local indent = line:match("^ *") .. "  "
    if #indent > width // 2 then indent = "  " end
    -- first narrow the widest gap inside the line (an equation's
    -- right-aligned \tag{n}), down to 2 spaces, if that makes it fit
    local over = (utf8.len(line) or #line) - width
    if over > 0 then
      local best_i, best_j = nil, nil
      local from = 1
      while true do                      -- each run of 2+ spaces between two words
        local i, j = line:match("%S()  +()%S", from)
        if i == nil then break end
        if best_i == nil or j - i >= best_j - best_i then best_i, best_j = i, j end
        from = j - 1
      end
      if best_i and best_j - best_i - 2 >= over then
        line = line:sub(1, best_i - 1) .. (" "):rep(best_j - best_i - over) .. line:sub(best_j)
      end
    end
    while #line > width and (utf8.len(line) or #line) > width do
      local lo, cut = #line:match("^ *") + 1, nil
      for k = width + 1, lo + 1, -1 do
        if line:byte(k) == 32 then cut = k; break end
      end
      local head, rest
      if cut then
        head, rest = line:sub(1, cut - 1):gsub(" +$", ""), line:sub(cut + 1):gsub("^ +", "")
      else
        cut = width + 1
        while cut > lo + 1 and (line:byte(cut) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
        head, rest = line:sub(1, cut - 1), line:sub(cut)
      end
      out[#out + 1] = head
      line = indent .. rest
    end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

local CHECKS = {
  precision = { 0, 16, "an integer from 0 to 16 (digits after the point)" },
  edgeitems = { 1, 1000, "an integer from 1 to 1000 (items at each end of a long dim)" },
  threshold = { 0, math.maxinteger, "an integer >= 0 (elements above which a tensor is summarised)" },
  linewidth = { 20, 100000, "an integer from 20 to 100000 (characters per line), or false "
                .. "for the terminal's width" },
}

--- nn.set_printoptions{precision = 4, edgeitems = 3, threshold = 1000,
-- linewidth = <terminal>} -> the previous options (give them back to
-- restore).  Only the keys given change; nn.set_printoptions("default")
-- restores all.  linewidth = false follows the terminal again.
-- Errors: an unknown key; a value that is not an integer in range.
function M.set_printoptions(new)
  local old = { precision = opts.precision, edgeitems = opts.edgeitems,
                threshold = opts.threshold, linewidth = opts.linewidth }
  if new == "default" then
    for k, v in pairs(DEFAULTS) do opts[k] = v end
    return old
  end
  if type(new) ~= "table" then
    error(("nn.set_printoptions: expected a table {precision = 4, edgeitems = 3, "
           .. "threshold = 1000, linewidth = 80} or 'default', got %s"):format(type(new)), 2)
  end
  for k, v in pairs(new) do
    local c = CHECKS[k]
    if c == nil then
      error(("nn.set_printoptions: unknown option '%s' (options: edgeitems, linewidth, "
             .. "precision, threshold)"):format(tostring(k)), 2)
    end
    local ok = math.type(v) == "integer" and v >= c[1] and v <= c[2]
    if k == "linewidth" and v == false then ok = true end
    if not ok then
      error(("nn.set_printoptions: %s must be %s, got %s"):format(k, c[3], tostring(v)), 2)
    end
  end
  for k, v in pairs(new) do opts[k] = v end
  return old
end

local function is_tensor(v)
  return getmetatable(v) == core.Tensor
end

-- indices shown along a dim of size n: all, or the first and last edgeitems
-- (0 marks the elision)
local function shown(n, summarise)
  local idx, e = {}, opts.edgeitems
  if not summarise or n <= 2 * e then
    for i = 1, n do idx[#idx + 1] = i end
  else
    for i = 1, e do idx[#idx + 1] = i end
    idx[#idx + 1] = 0
    for i = n - e + 1, n do idx[#idx + 1] = i end
  end
  return idx
end

-- one number format for all shown values, so the columns line up
local function formatter(values)
  local maxabs, minabs, integral, ints = 0, math.huge, true, #values > 0
  for _, v in ipairs(values) do
    if math.type(v) ~= "integer" then ints = false end
    if v == v and v ~= math.huge and v ~= -math.huge then
      local a = math.abs(v)
      maxabs = math.max(maxabs, a)
      if a > 0 then minabs = math.min(minabs, a) end
      if v ~= math.floor(v) then integral = false end
    end
  end
  local p, fmt = opts.precision, nil
  if ints then fmt = "%d"   -- an int32 tensor's elements, exact at any size
  elseif integral and maxabs < 1e8 then fmt = "%.0f"
  elseif maxabs > 1e8 or maxabs / minabs > 1e3 or minabs < 1e-4 then   -- PyTorch's rule
    fmt = "%." .. p .. "e"
  else fmt = "%." .. p .. "f" end
  return function(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return fmt:format(v)
  end
end

-- The text of the values: `mats` is a list of {label, rows, cols, get}
-- (get(i, j) reads element (i, j) of that matrix; label a line before it,
-- or nil, or false for an elided "..." slice).  One number format and one
-- cell width for them all, so the columns line up from slice to slice;
-- each matrix is cut into column blocks that fit in width_limit.
local function values_lines(mats, summarise, width_limit, lines)
  local values = {}
  for _, m in ipairs(mats) do
    if m.label ~= false then
      m.ri, m.ci = shown(m.rows, summarise), shown(m.cols, summarise)
      for _, i in ipairs(m.ri) do
        for _, j in ipairs(m.ci) do
          if i > 0 and j > 0 then values[#values + 1] = m.get(i, j) end
        end
      end
    end
  end
  local fmt, width, k = formatter(values), 1, 0
  for _, m in ipairs(mats) do
    if m.label ~= false then
      m.cells = {}
      for r, i in ipairs(m.ri) do
        local row = {}
        for c, j in ipairs(m.ci) do
          local s
          if i == 0 then s = (c == 1 or j == 0) and "..." or ""
          elseif j == 0 then s = "..."
          else k = k + 1; s = fmt(values[k]) end
          row[c] = s
          width = math.max(width, #s)
        end
        m.cells[r] = row
      end
    end
  end
  -- a line is " " .. cells joined by " ": n * (width + 1) characters
  local per = math.max(1, width_limit // (width + 1))
  for _, m in ipairs(mats) do
    if m.label == false then lines[#lines + 1] = " ..." goto next end
    if m.label then lines[#lines + 1] = m.label end
    do
      local ci = m.ci
      local blocks = math.ceil(#ci / per)
      for b = 1, blocks do
        local c1, c2 = (b - 1) * per + 1, math.min(b * per, #ci)
        if blocks > 1 then
          local first, last = ci[c1], ci[c2]
          if first == 0 then first = ci[c1 + 1] end
          if last == 0 then last = ci[c2 - 1] end
          if b > 1 then lines[#lines + 1] = "" end
          lines[#lines + 1] = (first == last and " Column %d" or " Columns %d to %d")
                              :format(first, last)
        end
        for r = 1, #m.ri do
          local parts = {}
          for c = c1, c2 do parts[#parts + 1] = ("%" .. width .. "s"):format(m.cells[r][c]) end
          lines[#lines + 1] = (" " .. table.concat(parts, " ")):gsub("%s+$", "")
        end
      end
    end
    ::next::
  end
end

-- "min ..  max ..  mean ..  std .." of the finite elements, and the count
-- of NaN and Inf when there are any
local function stats(t, n)
  local f = t.dtype == "float32" and t or t:float()  -- statistics of an int32 tensor from a float copy
  local nans, infs = 0, 0
  if t.dtype == "float32" then
    nans, infs = math.tointeger(f:isnan():sum()), math.tointeger(f:isinf():sum())
  end
  local text
  if nans + infs == 0 then
    text = ("min %.4g  max %.4g  mean %.4g  std %.4g"):format(f:min(), f:max(), f:mean(),
                                                              n > 1 and f:std() or 0)
  elseif nans + infs == n then
    text = "no finite values"
  else
    local bad = f:isnan():add(f:isinf()):gt(0)
    local k = n - nans - infs
    local x = f:masked_fill(bad, 0)
    local mean = x:sum() / k
    local dev = f:sub(mean):masked_fill(bad, 0)
    local std = k > 1 and math.sqrt(dev:mul(dev):sum() / (k - 1)) or 0
    local y = f:masked_fill(bad, 0 / 0)             -- min and max skip NaN
    text = ("min %.4g  max %.4g  mean %.4g  std %.4g (of %d finite)")
           :format(y:min(), y:max(), mean, std, k)
  end
  if nans > 0 then text = text .. ("  NaN %d"):format(nans) end
  if infs > 0 then text = text .. ("  Inf %d"):format(infs) end
  return text
end

local function tensor_repr(t)
  local shape, n = t:size(), t:numel()
  local linewidth = opts.linewidth or M.terminal_width()
  local head = ("nn.Tensor[%s] %s device=%s"):format(table.concat(shape, "x"), t.dtype, t.device)
  if n == 0 then return head .. " (empty)" end
  local lines = {}
  if n > 1 then
    local s = stats(t, n)
    if #head + 2 + #s <= linewidth then head = head .. "  " .. s
    else lines[2] = "  " .. s end               -- the header wraps at a word, never mid-number
  end
  lines[1] = head
  local summarise = n > opts.threshold
  -- a CUDA tensor: the statistics above ran on the GPU; the values shown
  -- come to the host, all at once when few, else one by one (t:get copies
  -- one element): what is shown, not the whole tensor
  local host = (t.device == "cpu" or n <= 4096) and t:cpu() or t
  local dims = #shape
  if dims == 0 then
    lines[#lines + 1] = " " .. formatter({ host:item() })(host:item())
    return table.concat(lines, "\n")
  end
  local mats = {}
  if dims == 1 then
    mats[1] = { rows = 1, cols = shape[1], get = function(_, j) return host:get(j) end }
  else
    -- (slices, rows, cols): each slice of the leading dims is one matrix
    local rows, cols = shape[dims - 1], shape[dims]
    local m = host:view(-1, rows, cols)
    for _, s in ipairs(shown(m:size(1), summarise)) do
      local label
      if dims > 2 then
        if s == 0 then label = false
        else
          -- the index of slice s in the leading dims, as (i,j,.,.)
          local idx, rest = {}, s - 1
          for d = dims - 2, 1, -1 do
            idx[d] = rest % shape[d] + 1
            rest = rest // shape[d]
          end
          label = ("(%s,.,.)"):format(table.concat(idx, ","))
        end
      end
      mats[#mats + 1] = { label = label, rows = rows, cols = cols,
                          get = function(i, j) return m:get(s, i, j) end }
    end
  end
  values_lines(mats, summarise, linewidth, lines)
  return table.concat(lines, "\n")
end

local repr

local function table_repr(t, depth, seen)
  if seen[t] then return "<cycle>" end
  if depth > 2 then return "{...}" end
  seen[t] = true
  local parts, n = {}, #t
  for i = 1, math.min(n, 20) do parts[#parts + 1] = repr(t[i], depth + 1, seen) end
  if n > 20 then parts[#parts + 1] = ("... (%d items)"):format(n) end
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    if i > 20 then parts[#parts + 1] = "..." break end
    local key = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k
                or "[" .. repr(k, depth + 1, seen) .. "]"
    parts[#parts + 1] = key .. " = " .. repr(t[k], depth + 1, seen)
  end
  seen[t] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

repr = function(v, depth, seen)
  depth = depth or 0
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__repr) == "function" then
    if depth == 0 then return mt.__repr(v) end
    -- nested: the first line of its own text
    return (tostring(mt.__repr(v)):match("^[^\n]*"))
  end
  if is_tensor(v) then
    return depth == 0 and tensor_repr(v)
           or ("nn.Tensor[%s]"):format(table.concat(v:size(), "x"))
  end
  if type(v) == "string" then return depth == 0 and v or ("%q"):format(v) end
  if type(v) == "table" and (mt == nil or mt.__tostring == nil) then
    return table_repr(v, depth, seen or {})
  end
  if type(v) == "function" then     -- nn.Linear prints how to call it, not an address
    local help = package.loaded["nn.help"]
    local sig = help and help.signature(v)
    if sig then return sig end
  end
  return tostring(v)
end

-- "1,234,567"
local function thousands(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end
M.thousands = thousands

local function shape_of(t)
  return t and "[" .. table.concat(t:size(), "x") .. "]" or "none"
end

--- A layer at the prompt: its type and options, its parameter count,
-- device and mode, then its tensors with their shapes, e.g.
--   nn.Linear(3 -> 2): 8 parameters, cpu, training
--     weight [2x3]  bias [2]  grad_weight [2x3]  grad_bias [2]  output [0]
-- (tostring(layer) stays the one-line "nn.Linear(3 -> 2)" that summary shows.)
local function layer_repr(l)
  local params, grads, names = l:parameters()
  local count = 0
  for _, p in ipairs(params) do count = count + p:numel() end
  local head = ("%s: %s parameter%s, %s, %s"):format(tostring(l), thousands(count),
               count == 1 and "" or "s", l.device, l.training and "training" or "evaluation mode")
  local fields = {}
  for i, name in ipairs(names) do fields[#fields + 1] = name .. " " .. shape_of(params[i]) end
  for i, name in ipairs(names) do fields[#fields + 1] = "grad_" .. name .. " " .. shape_of(grads[i]) end
  local bufs, bnames = l:buffers(), {}
  for name in pairs(bufs) do bnames[#bnames + 1] = name end
  table.sort(bnames)
  for _, name in ipairs(bnames) do fields[#fields + 1] = name .. " " .. shape_of(bufs[name]) end
  fields[#fields + 1] = "output " .. shape_of(l.output)
  -- the fields, wrapped at the line width
  local width, lines, line = opts.linewidth or M.terminal_width(), { head }, " "
  for _, f in ipairs(fields) do
    if #line > 1 and #line + 2 + #f > width then lines[#lines + 1] = line; line = " " end
    line = line .. " " .. f .. " "
  end
  lines[#lines + 1] = line
  for i = 2, #lines do lines[i] = lines[i]:gsub("%s+$", "") end
  return table.concat(lines, "\n")
end
core.Module.__repr = layer_repr

M.repr = function(v) return repr(v) end

return M
