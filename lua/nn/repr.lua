--- nn.repr(value) -> string: the text the prompt prints for a value.
-- A tensor shows its shape, device and summary statistics, then a glimpse of
-- its values (the corners of each matrix when it is large, as PyTorch does).
-- A table shows its contents to a small depth.  Anything with a `__repr`
-- metamethod is shown by it, so later classes (layers, models) print
-- themselves.  Replace nn.repr to change what the prompt prints.
local core = require "nn.core"

local EDGE = 3        -- rows/cols shown at each end of a large dim
local FULL = 8        -- a dim up to this size is shown whole

local function is_tensor(v)
  return getmetatable(v) == core.Tensor
end

-- indices shown along a dim of size n: all, or the first and last EDGE
-- (0 marks the elision)
local function shown(n)
  local idx = {}
  if n <= FULL then
    for i = 1, n do idx[#idx + 1] = i end
  else
    for i = 1, EDGE do idx[#idx + 1] = i end
    idx[#idx + 1] = 0
    for i = n - EDGE + 1, n do idx[#idx + 1] = i end
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
  local fmt
  if ints then fmt = "%d"   -- an int32 tensor's elements, exact at any size
  elseif integral and maxabs < 1e6 then fmt = "%.0f"
  elseif maxabs >= 1e4 or minabs < 1e-3 then fmt = "%.4e"
  else fmt = "%.4f" end
  return function(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return fmt:format(v)
  end
end

-- the text of a matrix m (rows x cols) read through get(i, j)
local function matrix_lines(rows, cols, get)
  local ri, ci = shown(rows), shown(cols)
  local cells, values = {}, {}
  for _, i in ipairs(ri) do
    for _, j in ipairs(ci) do
      if i > 0 and j > 0 then values[#values + 1] = get(i, j) end
    end
  end
  local fmt, width = formatter(values), 1
  local k = 0
  for r, i in ipairs(ri) do
    cells[r] = {}
    for c, j in ipairs(ci) do
      local s
      if i == 0 then s = (c == 1 or j == 0) and "..." or ""
      elseif j == 0 then s = "..."
      else k = k + 1; s = fmt(values[k]) end
      cells[r][c] = s
      width = math.max(width, #s)
    end
  end
  local lines = {}
  for r = 1, #ri do
    local parts = {}
    for c = 1, #ci do parts[c] = ("%" .. width .. "s"):format(cells[r][c]) end
    lines[r] = " " .. table.concat(parts, " ")
  end
  return lines
end

local function tensor_repr(t)
  local shape, n = t:size(), t:numel()
  local head = ("nn.Tensor[%s] %s device=%s"):format(table.concat(shape, "x"), t.dtype,
                                                      t.device)
  if n == 0 then return head .. " (empty)" end
  if n > 1 then
    local f = t:float()   -- the statistics of an int32 tensor, from its float copy
    head = head .. ("  min %.4g  max %.4g  mean %.4g  std %.4g")
                   :format(f:min(), f:max(), f:mean(), f:std())
  end
  -- a CUDA tensor: the statistics above ran on the GPU; the values shown
  -- come to the host, all at once when few, else one by one (t:get copies
  -- one float): what is shown, not the whole tensor
  local host = (t.device == "cpu" or n <= 4096) and t:cpu() or t
  local lines = { head }
  local dims = #shape
  if dims == 0 then
    lines[2] = " " .. formatter({ host:item() })(host:item())
  elseif dims == 1 then
    for _, l in ipairs(matrix_lines(1, shape[1], function(_, j) return host:get(j) end)) do
      lines[#lines + 1] = l
    end
  else
    -- (slices, rows, cols): each slice of the leading dims is one matrix
    local rows, cols = shape[dims - 1], shape[dims]
    local m = host:view(-1, rows, cols)
    local slices = m:size(1)
    for _, s in ipairs(shown(slices)) do
      if dims > 2 then
        if s == 0 then lines[#lines + 1] = " ..." goto continue end
        -- the index of slice s in the leading dims, as (i,j,.,.)
        local idx, rest = {}, s - 1
        for d = dims - 2, 1, -1 do
          idx[d] = rest % shape[d] + 1
          rest = rest // shape[d]
        end
        lines[#lines + 1] = ("(%s,.,.)"):format(table.concat(idx, ","))
      end
      for _, l in ipairs(matrix_lines(rows, cols, function(i, j) return m:get(s, i, j) end)) do
        lines[#lines + 1] = l
      end
      ::continue::
    end
  end
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
  if type(mt) == "table" and type(mt.__repr) == "function" then return mt.__repr(v) end
  if is_tensor(v) then
    return depth == 0 and tensor_repr(v)
           or ("nn.Tensor[%s]"):format(table.concat(v:size(), "x"))
  end
  if type(v) == "string" then return depth == 0 and v or ("%q"):format(v) end
  if type(v) == "table" and (mt == nil or mt.__tostring == nil) then
    return table_repr(v, depth, seen or {})
  end
  return tostring(v)
end

return function(v) return repr(v) end
