--- The prompt's tools, in the manner of Torch7's `th`:
--
--   who()            the user's globals: name, type, and for a tensor its
--                    shape, dtype, device and bytes (a table that prints
--                    itself; nn.who is the same function)
--   nn.mem()         memory by owner: each model's and layer's parameters,
--                    gradients and buffers, each optimizer's state, and the
--                    user's tensors, per device
--   nn.timing(true)  the prompt prints each command's wall time; nn.timing()
--                    says whether it does
--   nn.fields(x)     the names x answers to, data fields only: a layer's
--                    weight, grad_weight, output, running_mean, options ...;
--                    a table's keys (layer:fields() is the same)
--   nn.shown(v)      -> v, marked as printed already: at the prompt a call
--                    whose one result is the value it passed to nn.shown
--                    is not printed again (model:summary() prints its table)
local nn = require "nn"

local prompt = {}

-- the globals that were there before the user's code ran
local baseline = {}
for k in pairs(_G) do baseline[k] = true end
for _, k in ipairs { "nn", "help", "who", "arg", "_PROMPT", "_PROMPT2" } do baseline[k] = true end

local function is_tensor(v) return getmetatable(v) == nn.Tensor end
local function is_layer(v) return getmetatable(v) == nn.Module end
local function is_loss(v) return getmetatable(v) == nn.Criterion end
local function is_model(v) return type(v) == "table" and getmetatable(v) == nn.Model end

-- sorted, each name once (Linear's bias is a parameter and an option)
local function sorted(list)
  local seen, out = {}, {}
  for _, v in ipairs(list) do
    if not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  table.sort(out)
  return out
end

--- nn.fields(x) -> a sorted list of the names of x's data fields (not its
-- methods): for a layer its parameters, their gradients, its buffers,
-- output, grad_input(s), training, device, name, gives and its options;
-- for a loss its options, output, loss, grad_input, name, doc, takes; for
-- a tensor shape, ndim, dtype, device; for a table its string keys.
-- Anything else: an empty list.
function prompt.fields(x)
  if is_layer(x) then
    local d = nn.module_types[x.name]
    local f = { "output", "grad_input", "training", "device", "name", "gives" }
    for k = 2, d.max_inputs do
      if x["grad_input" .. k] ~= nil then f[#f + 1] = "grad_input" .. k end
    end
    for _, p in ipairs(d.params) do
      if x[p] ~= nil then f[#f + 1] = p; f[#f + 1] = "grad_" .. p end
    end
    for _, b in ipairs(d.buffers) do f[#f + 1] = b end
    for _, o in ipairs(d.options) do f[#f + 1] = o.name end
    return sorted(f)
  end
  if is_loss(x) then
    local f = { "output", "loss", "grad_input", "name", "doc", "takes" }
    for k in pairs(x:config()) do if k ~= "type" then f[#f + 1] = k end end
    return sorted(f)
  end
  if is_tensor(x) then return { "device", "dtype", "ndim", "shape" } end
  if type(x) == "table" then
    local f = {}
    for k in pairs(x) do if type(k) == "string" then f[#f + 1] = k end end
    return sorted(f)
  end
  return {}
end

-- one tensor's bytes: both dtypes are 4 bytes an element
local function bytes_of(t) return t:numel() * 4 end

local function human(n)
  if n >= 2^30 then return ("%.1f GB"):format(n / 2^30) end
  if n >= 2^20 then return ("%.1f MB"):format(n / 2^20) end
  if n >= 2^10 then return ("%.1f KB"):format(n / 2^10) end
  return ("%d B"):format(n)
end
prompt.human = human

-- rows {cols...} as aligned text under a header
local function columns(header, rows)
  local width = {}
  for c, h in ipairs(header) do width[c] = #h end
  for _, r in ipairs(rows) do
    for c, v in ipairs(r) do width[c] = math.max(width[c] or 0, #tostring(v)) end
  end
  local function line(r)
    local parts = {}
    for c = 1, #header do
      local v = tostring(r[c] or "")
      parts[c] = c == #header and v or v .. (" "):rep(width[c] - #v)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local out = { line(header) }
  for _, r in ipairs(rows) do out[#out + 1] = line(r) end
  return table.concat(out, "\n")
end

local function describe(v)
  if is_tensor(v) then
    return "tensor", ("[%s] %s %s %s"):format(table.concat(v:size(), "x"), v.dtype, v.device,
                                            human(bytes_of(v)))
  end
  if is_layer(v) then return "layer", tostring(v) end
  if is_loss(v) then return "loss", tostring(v) end
  if is_model(v) then return "model", ("%d layers"):format(#v.layers) end
  if nn.optim.is_optimizer(v) then return "optimizer", tostring(v) end
  if type(v) == "string" then
    return "string", #v > 40 and ("%q"):format(v:sub(1, 37)) .. "..." or ("%q"):format(v)
  end
  if type(v) == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    return "table", ("%d entries"):format(n)
  end
  if type(v) == "function" then
    local sig = nn.help.signature(v)
    if sig then return "function", sig end
    local info, params = debug.getinfo(v, "Su"), {}
    if info.what == "C" then return "function", "(C)" end
    for i = 1, info.nparams do params[i] = debug.getlocal(v, i) end
    if info.isvararg then params[#params + 1] = "..." end
    return "function", ("function(%s)  %s:%d"):format(table.concat(params, ", "), info.short_src,
                                                    info.linedefined)
  end
  return type(v), tostring(v)
end

local Listing = {}
Listing.__index = Listing
Listing.__repr = function (self) return self.text end
Listing.__tostring = Listing.__repr

-- the names of env's entries the user made, sorted (env: _G by default;
-- of _G, the globals nnlua and Lua set are left out)
local function user_names(env, who)
  if env == nil then env = _G end
  if type(env) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(who, type(env)), 3)
  end
  local names = {}
  for k in pairs(env) do
    if type(k) == "string" and not (env == _G and baseline[k]) then names[#names + 1] = k end
  end
  table.sort(names)
  return names, env
end

--- who([env]) -> a table of {name, type, what} for each global the user
-- made (or each entry of the table env), sorted by name, that prints as
-- aligned columns (a tensor's "what": its shape, dtype, device and bytes).
-- Globals nnlua and Lua set are left out.  Errors: env not a table.
function prompt.who(env)
  local names
  names, env = user_names(env, "who")
  local rows = {}
  for _, k in ipairs(names) do
    local kind, what = describe(rawget(env, k))
    rows[#rows + 1] = { k, kind, what }
  end
  local text = #rows == 0 and "(no globals of yours yet)"
               or columns({ "name", "type", "value" }, rows)
  return setmetatable({ rows = rows, text = text }, Listing)
end

-- tensors a layer owns, by kind
local function layer_tensors(layer, add, owner)
  local d = nn.module_types[layer.name]
  for _, p in ipairs(d.params) do
    if layer[p] ~= nil then add(owner, "parameters", layer[p]); add(owner, "gradients", layer["grad_" .. p]) end
  end
  for _, b in ipairs(d.buffers) do add(owner, "buffers", layer[b]) end
  add(owner, "activations", layer.output)
  for k = 1, d.max_inputs do
    local g = layer[k == 1 and "grad_input" or ("grad_input" .. k)]
    if g ~= nil then add(owner, "activations", g) end
  end
end

local function optimizer_tensors(opt, add, owner, seen)
  seen = seen or {}
  local function walk(t)
    if seen[t] then return end
    seen[t] = true
    for _, v in pairs(t) do
      if is_tensor(v) then add(owner, "optimizer state", v)
      elseif type(v) == "table" then walk(v) end
    end
  end
  walk(opt.state or {})
end

--- nn.mem([env]) -> a table of {owner, kind, device, bytes} rows that
-- prints as columns with a total per device: for each global (or entry of
-- the table env) that is a model (its layers'
-- parameters, gradients, buffers and activations, its optimizer's state),
-- each global layer, optimizer and tensor.  A storage counted once (views
-- of one tensor, a layer held twice), under its first owner.  With CUDA,
-- the device line also says what the caching allocator holds.  Errors:
-- env not a table.
function prompt.mem(env)
  local counted, rows, index = {}, {}, {}
  local function add(owner, kind, t)
    if t == nil then return end
    local key = t.device .. ":" .. t:data_ptr()
    if counted[key] or t:numel() == 0 then return end
    counted[key] = true
    local id = owner .. "\0" .. kind .. "\0" .. t.device
    local r = index[id]
    if not r then
      r = { owner = owner, kind = kind, device = t.device, bytes = 0 }
      index[id] = r
      rows[#rows + 1] = r
    end
    r.bytes = r.bytes + bytes_of(t)
  end
  local names
  names, env = user_names(env, "mem")
  for _, k in ipairs(names) do      -- models first: their layers are theirs
    local v = rawget(env, k)
    if is_model(v) then
      for i, layer in ipairs(v.layers) do
        if is_layer(layer) then layer_tensors(layer, add, ("%s.layers[%d] %s"):format(k, i, layer.name)) end
      end
      if v.optimizer then optimizer_tensors(v.optimizer, add, k .. ".optimizer") end
    end
  end
  for _, k in ipairs(names) do
    local v = rawget(env, k)
    if is_layer(v) then layer_tensors(v, add, k .. " " .. v.name)
    elseif type(v) == "table" and nn.optim.is_optimizer(v) then optimizer_tensors(v, add, k)
    elseif is_tensor(v) then add(k, "tensor", v) end
  end
  local out, totals = {}, {}
  for _, r in ipairs(rows) do
    out[#out + 1] = { r.owner, r.kind, r.device, human(r.bytes) }
    totals[r.device] = (totals[r.device] or 0) + r.bytes
  end
  local text = #out == 0 and "(no tensors in your globals)"
               or columns({ "owner", "kind", "device", "bytes" }, out)
  local devs = {}
  for dev in pairs(totals) do devs[#devs + 1] = dev end
  table.sort(devs)
  for _, dev in ipairs(devs) do text = text .. ("\ntotal on %s: %s"):format(dev, human(totals[dev])) end
  if nn.cuda.is_available() then
    text = text .. ("\ncuda allocator: %s in live tensors"):format(human(nn.cuda.memory_allocated()))
  end
  return setmetatable({ rows = rows, totals = totals, text = text }, Listing)
end

local timing = false

--- nn.timing([on]) -> whether the prompt prints each command's wall time;
-- with on (a boolean), sets it first.  Errors: on not a boolean.
function prompt.timing(...)
  if select("#", ...) > 0 then
    local on = ...
    if type(on) ~= "boolean" then
      error(("bad argument #1 to 'timing' (boolean expected, got %s)"):format(type(on)), 2)
    end
    timing = on
  end
  return timing
end

local shown_value, shown_set = nil, false

--- nn.shown(v) -> v: marks v as already printed by the function returning it,
-- so the prompt does not print it a second time.  A function that prints
-- its result ends with `return nn.shown(text)`; one that returns several
-- values marks the last (t:hist: `return counts, edges, nn.shown(text)`),
-- and the prompt then prints none of them.
function prompt.shown(v)
  shown_value, shown_set = v, true
  return v
end

--- nn.core_prompt_shown_reset() / _was_shown(v): for the prompt (vm/repl.c).
function prompt._reset_shown() shown_value, shown_set = nil, false end
function prompt._was_shown(v) return shown_set and rawequal(v, shown_value) end

return prompt
