--- nn.complete(word) -> a sorted list of completions of `word`, the text
-- before the cursor at the prompt (vm/repl.c's Tab calls this).
--
--   "nn.Lin"                 {"nn.Linear"}
--   "model.layers[1].gr"     {"model.layers[1].grad_bias", "...grad_input", "...grad_weight"}
--   "model:tr"               {"model:train"}  (after ':', only methods)
--   "pri"                    globals and keywords: {"print"}
--
-- The word is a path: a global name, then .name, [integer] or ["string"]
-- steps (no calls: completing never runs user code but __index), then a
-- last '.' or ':' and the part typed so far.  Candidates are the keys of
-- the value found (a table's own, then its metatables' __index chain:
-- tables, a method table kept as a C __index's first upvalue or as the
-- metatable's `methods`), and its data fields as nn.fields lists them
-- (a layer's weight, grad_weight, output, running_mean ...).  Names that
-- start with '_' (private, and metamethods) are left out unless the typed
-- part starts with '_'.  Errors: none; a word that is not such a path, or
-- an __index that raises, gives an empty list.
local nn = require "nn"

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
  "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local MAXDEPTH = 8   -- how far an __index chain is followed

-- v[k] without letting an __index error out
local function index(v, k)
  local ok, r = pcall(function () return v[k] end)
  if ok then return r end
  return nil
end

-- the value a path (without its last part) names, or nil, false if it names nothing
local function resolve(path)
  local name, rest = path:match("^([%a_][%w_]*)(.*)$")
  if not name then return nil, false end
  local v = _G[name]
  while rest ~= "" do
    if v == nil then return nil, false end
    local t = type(v)
    if t ~= "table" and t ~= "userdata" and t ~= "string" then return nil, false end
    local field, after = rest:match("^%.([%a_][%w_]*)(.*)$")
    if not field then
      local num
      num, after = rest:match("^%[%s*(%-?%d+)%s*%](.*)$")
      if num then field = math.tointeger(tonumber(num))
      else
        local _, str, after2 = rest:match("^%[%s*([\"'])(.-)%1%s*%](.*)$")
        if not str then return nil, false end
        field, after = str, after2
      end
    end
    v = index(v, field)
    rest = after
  end
  return v, true
end

-- names (and whether each is a function) of v's keys and __index chain
local function collect(v, names, depth, seen)
  if depth > MAXDEPTH or v == nil then return end
  if type(v) == "table" then
    if seen[v] then return end
    seen[v] = true
    for k, x in next, v do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and names[k] == nil then
        names[k] = type(x) == "function"
      end
    end
  end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return end
  local idx = rawget(mt, "__index")
  if type(idx) == "table" then collect(idx, names, depth + 1, seen)
  elseif type(idx) == "function" then
    local _, up = debug.getupvalue(idx, 1)
    if type(up) == "table" then collect(up, names, depth + 1, seen) end
    local methods = rawget(mt, "methods")
    if type(methods) == "table" then collect(methods, names, depth + 1, seen) end
  end
end

local function complete(word)
  if type(word) ~= "string" then return {} end
  local out = {}
  local path, sep, part = word:match("^(.-)([%.:])([%a_]?[%w_]*)$")
  if not path or path == "" then            -- a global name or a keyword
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    local names = {}
    collect(_G, names, 0, {})
    for _, k in ipairs(KEYWORDS) do names[k] = false end
    for k in pairs(names) do
      if k:sub(1, #word) == word and (word:sub(1, 1) == "_" or k:sub(1, 1) ~= "_") then
        out[#out + 1] = k
      end
    end
    table.sort(out)
    return out
  end
  local v, found = resolve(path)
  if not found or v == nil then return {} end
  local names = {}
  collect(v, names, 0, {})
  if type(v) ~= "string" then
    local ok, fields = pcall(nn.fields, v)
    if ok then
      for _, f in ipairs(fields) do
        if names[f] == nil and f:match("^[%a_][%w_]*$") then names[f] = false end
      end
    end
  end
  local private = part:sub(1, 1) == "_"
  for k, is_fn in pairs(names) do
    if k:sub(1, #part) == part and (private or k:sub(1, 1) ~= "_")
       and (sep == "." or is_fn) then
      out[#out + 1] = path .. sep .. k
    end
  end
  table.sort(out)
  return out
end

return complete
