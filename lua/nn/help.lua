--- nn.help: what a value is and how to call it, at the prompt or anywhere.
--
--   help()                 the topics        (at the prompt also ?)
--   help(nn.Linear)        a layer: signature, shapes, options with their
--                          defaults, parameters, fields, errors, and the
--                          derivation from the comment above its C code
--   ?nn.optim.Adam         the prompt's shorthand for help(nn.optim.Adam)
--   help("model:train")    a name, as the docs write it
--   nn.help.text(x)        the same text, returned instead of printed
--   nn.help.signature(fn)  "nn.Linear(in_features, out_features [, opts])",
--                          or nil for a function nnlua does not know
--
-- The text comes from the sources themselves: lua/nn/help_gen.lua, which
-- the Makefile cuts from the comments at build time (scripts/gen_help.lua):
-- the "--- nn.f(...)" docstrings of lua/nn/*.lua, the "/* t:f(...)" ones of
-- vm/l_*.c, and the derivation blocks of nn/*.c.  Options, defaults and
-- parameters come from the layers' own descriptions (nn.module_types).
local nn = require "nn"

local help = {}

-- The generated text is read on first use, not when nn loads: it is 120 KB
-- of Lua, and parsing it at every start of nnlua cost ~8 ms of start-up.
local loaded
local function load_gen()
  if loaded then return loaded end
  local ok, g = pcall(require, "nn.help_gen")
  if not ok or type(g) ~= "table" then g = { derivations = {}, docs = {}, missing = true } end
  local by_key = {}
  for _, d in ipairs(g.docs) do
    by_key[d.key] = by_key[d.key] or d   -- the first one: the fullest, by custom
  end
  loaded = { gen = g, by_key = by_key }
  return loaded
end
local gen = setmetatable({}, { __index = function (_, k) return load_gen().gen[k] end })
local docs_by_key = setmetatable({}, { __index = function (_, k) return load_gen().by_key[k] end })

-- the receivers the docs write for each class's methods ("model:train")
local RECEIVERS = {
  Model = { "model" }, Module = { "layer", "l" }, Criterion = { "crit" },
  Tensor = { "t", "a", "x", "dst", "out", "src" }, Optimizer = { "opt" },
  Scheduler = { "sched" }, Metric = { "metric" }, DataLoader = { "loader" },
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

local function word_at(s, w)   -- position of w in s as a whole word, or nil
  return s:find("%f[%w_]" .. w:gsub("%p", "%%%0") .. "%f[^%w_]")
end

-- {class name = method table}, found once the library is loaded
local classes_cache
local function classes()
  if classes_cache then return classes_cache end
  local c = {}
  c.Model = nn.Model
  c.Module = nn.Module and nn.Module.methods
  c.Criterion = nn.Criterion and nn.Criterion.methods
  local tidx = nn.Tensor and nn.Tensor.__index
  if type(tidx) == "function" then
    local _, up = debug.getupvalue(tidx, 1)
    if type(up) == "table" then c.Tensor = up end
  end
  local ok, opt = pcall(nn.optim.SGD, { lr = 0.1 })
  if ok then
    c.Optimizer = getmetatable(opt).__index
    local ok2, sched = pcall(nn.optim.StepLR, opt, { step_size = 1 })
    if ok2 then c.Scheduler = getmetatable(sched).__index end
  end
  local ok3, metric = pcall(nn.metrics.get, "accuracy")
  if ok3 then c.Metric = getmetatable(metric).__index end
  for name, t in pairs(c) do if type(t) ~= "table" then c[name] = nil end end
  classes_cache = c
  return c
end

-- {function = "nn.path"} over nn's tables, the shortest path first
local paths_cache
local function paths()
  if paths_cache then return paths_cache end
  local found, seen = {}, {}
  local queue = { { nn, "nn", 0 } }
  local head = 1
  while queue[head] do
    local t, path, depth = table.unpack(queue[head])
    head = head + 1
    seen[t] = true
    for _, k in ipairs(sorted_keys(t)) do
      if k:match("^[%a][%w_]*$") and k ~= "core" and k ~= "Model" and k ~= "Sequential" then
        local v = rawget(t, k)
        if type(v) == "function" and not found[v] then found[v] = path .. "." .. k
        elseif type(v) == "table" and not seen[v] and depth < 2 and k ~= "loaded" then
          seen[v] = true
          queue[#queue + 1] = { v, path .. "." .. k, depth + 1 }
        end
      end
    end
  end
  -- a layer's or a loss's constructor is nn.<its name> (nn.Dense is nn.Linear)
  for name, d in pairs(nn.module_types) do found[d.new] = "nn." .. name end
  for name, f in pairs(nn.loss_types) do found[f] = "nn." .. name end
  if type(nn.Model.new) == "function" then found[nn.Model.new] = "nn.Model" end
  paths_cache = found
  return found
end

-- the method a function is: a Model method's colon check (model.lua) is
-- the method it checks for, so fit and train are one method
local function unwrap(fn)
  local checked = rawget(nn.Model, "_checked")
  return checked and checked[fn] or fn
end

-- class, method name of a method function (of its aliases, a documented one)
local doc_of_method
local function method_of(fn)
  local found_c, found_k
  fn = unwrap(fn)
  for _, cname in ipairs(sorted_keys(classes())) do
    local methods = classes()[cname]
    for _, k in ipairs(sorted_keys(methods)) do
      if unwrap(methods[k]) == fn then
        if doc_of_method(cname, k) then return cname, k end
        found_c, found_k = found_c or cname, found_k or k
      end
    end
  end
  return found_c, found_k
end

function doc_of_method(cname, name)
  for _, r in ipairs(RECEIVERS[cname] or {}) do
    local d = docs_by_key[r .. ":" .. name]
    if d then return d end
  end
end

-- the doc of nn.tensor.ones, which has none of its own: the one of its
-- table ("nn.tensor.zeros(3, 4) ...") that names it ("ones likewise"), and
-- the call form of that doc with the name changed
local function sibling_doc(path)
  local prefix, name = path:match("^(.*%.)([%w_]+)$")
  if not prefix then return nil end
  for _, d in ipairs(gen.docs) do
    local other = d.key:sub(#prefix + 1)
    local at = d.key:sub(1, #prefix) == prefix and other:match("^[%w_]+$") and word_at(d.text, name)
    if at and d.text:find("likewise", at, true) then
      return d, other
    end
  end
end

-- the call form at the start of a doc's text: "nn.optim.SGD{lr = 0.01, ...}"
local function call_form(text)
  local s = text:gsub("%s*\n%s*", " ")
  local head = s:match("^[%w_%.:]+[%({]")
  if not head then return nil end
  local open = #head
  local depth, i = 0, open
  while i <= #s do
    local ch = s:sub(i, i)
    if ch == "(" or ch == "{" then depth = depth + 1
    elseif ch == ")" or ch == "}" then
      depth = depth - 1
      if depth == 0 then return s:sub(1, i) end
    end
    i = i + 1
  end
  return nil
end

local function layer_signature(name)
  local d = nn.module_types[name]
  local args, has_named = {}, false
  local pos = {}
  for _, o in ipairs(d.options) do
    if o.positional > 0 then pos[#pos + 1] = o else has_named = true end
  end
  table.sort(pos, function(a, b) return a.positional < b.positional end)
  local s, opened = {}, 0
  for _, o in ipairs(pos) do
    if o.required then s[#s + 1] = (#s > 0 and ", " or "") .. o.name
    else s[#s + 1] = (#s > 0 and " [, " or "[") .. o.name; opened = opened + 1 end
  end
  args = table.concat(s) .. ("]"):rep(opened)
  if has_named then args = args .. (args == "" and "[opts]" or " [, opts]") end
  return ("nn.%s(%s)"):format(name, args)
end

--- nn.help.signature(fn) -> "nn.Linear(in_features, out_features [, opts])",
-- "model:train(x, y [, opts])", ...: how to call fn, for the printer (repr);
-- nil when fn is not a function nnlua knows.
function help.signature(fn)
  if type(fn) ~= "function" then return nil end
  for name, d in pairs(nn.module_types) do
    if d.new == fn then return layer_signature(name) end
  end
  for name, f in pairs(nn.loss_types) do
    if f == fn then return ("nn.%s([opts])"):format(name) end
  end
  local path = paths()[fn]
  if path then
    for _, d in ipairs(gen.docs) do
      local form = d.key == path and call_form(d.text)
      if form then return form end
    end
  end
  local cname, name = method_of(fn)     -- also nn.sum, which is t:sum
  if cname then
    local d = doc_of_method(cname, name)
    local form = d and call_form(d.text)
    if form then return form end
    path = path or (RECEIVERS[cname][1] .. ":" .. name)
  end
  local sib = path and sibling_doc(path)
  local sform = sib and call_form(sib.text)
  if sform then return path .. sform:sub(#sib.key + 1) end
  if not path then return nil end
  local info = debug.getinfo(fn, "u")
  if info.what == "C" or info.nparams == nil then return path .. "(...)" end
  local params = {}
  for i = 1, info.nparams do params[i] = debug.getlocal(fn, i) end
  if path:find(":") and params[1] == "self" then table.remove(params, 1) end
  if info.isvararg then params[#params + 1] = "..." end
  return path .. "(" .. table.concat(params, ", ") .. ")"
end

-- the derivation block of a layer, loss or optimizer type: the one whose
-- title names it (first words first), else one in the file whose header
-- names it and whose text does
local function derivation_of(name)
  local best, best_pos
  for _, d in ipairs(gen.derivations) do
    local head = d.title:match("^(.-):") or d.title:match("^(.-)  ") or d.title
    local p = word_at(head, name)
    if p and (not best_pos or p < best_pos) then best, best_pos = d, p end
  end
  if best then return best end
  for _, d in ipairs(gen.derivations) do
    if word_at(d.text, name) and d.text:find("\\tag") then return d end
  end
end
help.derivation_of = derivation_of

local function indent(text, pad)
  return pad .. text:gsub("\n", "\n" .. pad)
end

local function fmt_default(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function num(v, kind)
  if kind == "integer" and math.tointeger(v) then return tostring(math.tointeger(v)) end
  return ("%g"):format(v)
end

local function option_line(o)
  local what
  if o.kind == "choice" then what = "one of " .. table.concat(o.choices, ", ")
  elseif o.kind == "boolean" then what = "boolean"
  else
    what = o.hw and "integer or pair {h, w}" or o.kind
    local lo, hi = o.min or -math.huge, o.max or math.huge
    if hi >= 2^53 then hi = math.huge end
    if lo <= -2^53 then lo = -math.huge end
    if lo > -math.huge and hi < math.huge then
      what = what .. (" in %s%s, %s]"):format(o.min_excluded and "(" or "[", num(lo, o.kind), num(hi, o.kind))
    elseif lo > -math.huge then
      what = what .. (o.min_excluded and " > " or " >= ") .. num(lo, o.kind)
    end
  end
  local dflt = o.required and "required" or ("default " .. fmt_default(o.default))
  if o.positional > 0 then dflt = dflt .. (", argument %d"):format(o.positional) end
  return ("  %-16s %s; %s%s"):format(o.name, what, dflt,
                                   o.doc ~= "" and ("\n  %-16s %s"):format("", o.doc) or "")
end

local function derivation_text(name)
  local d = derivation_of(name)
  if not d then
    if gen.missing then return "Derivation: not built (lua/nn/help_gen.lua is missing: run make)." end
    return nil
  end
  return ("Derivation (%s:%d):\n%s"):format(d.file, d.line, indent(d.text, "  "))
end

local function layer_text(name)
  local d = nn.module_types[name]
  local out = { layer_signature(name) .. (name == "Linear" and "   (also nn.Dense)" or ""),
                "  " .. d.doc, "" }
  if d.min_inputs ~= 1 or d.max_inputs ~= 1 then
    out[#out + 1] = ("Inputs: %d to %d (layer:forward(a, b, ...))"):format(d.min_inputs, d.max_inputs)
  end
  if #d.options > 0 then
    out[#out + 1] = "Options (positional where an argument number is given, else in opts):"
    for _, o in ipairs(d.options) do out[#out + 1] = option_line(o) end
  else
    out[#out + 1] = "Options: none"
  end
  local grads = {}
  for i, p in ipairs(d.params) do grads[i] = "grad_" .. p end
  out[#out + 1] = "Parameters: " .. (#d.params > 0 and table.concat(d.params, ", ")
                  .. "   gradients: " .. table.concat(grads, ", ") or "none")
  if #d.buffers > 0 then
    out[#out + 1] = "Buffers: " .. table.concat(d.buffers, ", ")
                    .. (#d.persistent > 0 and ("   (saved: " .. table.concat(d.persistent, ", ") .. ")") or "")
  end
  out[#out + 1] = "Fields: output, grad_input, training, device, name, and each option (layer:fields())"
  out[#out + 1] = "Methods: forward, backward, zero_grad, parameters, buffers, config, output_shape,"
                  .. " train, evaluate, to (help(\"layer:forward\"), ...)"
  out[#out + 1] = ("Errors: a bad option raises \"bad argument #n to '%s' (%s: <option> must be ...)\";"
                   .. " forward and backward name the input whose shape or device is wrong."):format(name, name)
  local dt = derivation_text(name)
  if dt then out[#out + 1] = ""; out[#out + 1] = dt end
  return table.concat(out, "\n")
end

local function loss_text(name)
  local c = nn.loss_types[name]()
  local cfg = c:config()
  local out = { ("nn.%s([opts])"):format(name), "  " .. c.doc, "",
                "Takes: the model's " .. c.takes .. " (x), and a target", "Options (in opts):" }
  for _, k in ipairs(sorted_keys(cfg)) do
    if k ~= "type" then
      out[#out + 1] = ("  %-16s default %s%s"):format(k, fmt_default(cfg[k]),
                      k == "reduction" and "; \"mean\" or \"sum\"" or "")
    end
  end
  out[#out + 1] = "Methods: forward(x, target) -> loss, backward() -> dL/dx, config()"
  out[#out + 1] = ("Errors: a bad option raises \"bad argument #1 to '%s' (...)\"; forward names"
                   .. " x or the target when their shapes or devices disagree."):format(name)
  local dt = derivation_text(name)
  if dt then out[#out + 1] = ""; out[#out + 1] = dt end
  return table.concat(out, "\n")
end

local function doc_text(d, sig)
  local out = { sig or d.key }
  out[#out + 1] = indent(d.text, "  ")
  out[#out + 1] = ("  (%s:%d)"):format(d.file, d.line)
  return table.concat(out, "\n")
end

-- one line of a doc for a list: what follows its call form, to the end of
-- its first sentence, at most 60 characters
local function first_line_of(d)
  local s = d.text:gsub("%s*\n%s*", " ")
  local form = call_form(s)
  local rest = form and s:sub(#form + 1) or s
  rest = rest:gsub("^%s*", ""):gsub("^:%s*", "")
  rest = rest:match("^(.-%.)%s") or rest
  if #rest > 60 then rest = rest:sub(1, 57) .. "..." end
  return rest
end

-- the docs of every method of a class, one line each
local function methods_text(cname)
  local methods = classes()[cname]
  if not methods then return "" end
  local out = {}
  for _, k in ipairs(sorted_keys(methods)) do
    if not k:match("^_") and type(methods[k]) == "function" then
      local d = doc_of_method(cname, k)
      out[#out + 1] = ("  :%-18s %s"):format(k, d and first_line_of(d) or "")
    end
  end
  return table.concat(out, "\n")
end

local function function_text(fn)
  for name, d in pairs(nn.module_types) do if d.new == fn then return layer_text(name) end end
  for name, f in pairs(nn.loss_types) do if f == fn then return loss_text(name) end end
  local sig = help.signature(fn)
  local path = paths()[fn]
  local d = path and (docs_by_key[path] or sibling_doc(path))
  if not d then
    local cname, name = method_of(fn)
    if cname then d = doc_of_method(cname, name) end
  end
  if not sig and not d then
    local info = debug.getinfo(fn, "S")
    return ("a function nnlua does not describe (defined at %s)"):format(info.short_src
           .. (info.linedefined > 0 and (":" .. info.linedefined) or ""))
  end
  local out = { d and doc_text(d, sig) or (sig .. "\n  (no description)") }
  -- an optimizer: its update's derivation from nn/optim.c
  local oname = path and path:match("^nn%.optim%.(%w+)$")
  if oname then
    local dt = derivation_text(oname)
    if dt then out[#out + 1] = ""; out[#out + 1] = dt end
  end
  return table.concat(out, "\n")
end

local function topics_text()
  local layers, losses = sorted_keys(nn.module_types), sorted_keys(nn.loss_types)
  local opts, scheds = {}, {}
  for _, k in ipairs(sorted_keys(nn.optim)) do
    if k:match("^%u") then
      if k:match("LR$") then scheds[#scheds + 1] = k else opts[#opts + 1] = k end
    end
  end
  local cbs = {}
  for _, k in ipairs(sorted_keys(nn.callbacks)) do
    if type(nn.callbacks[k]) == "function" then cbs[#cbs + 1] = k end
  end
  return table.concat({
    "help(x): x a function, layer, loss, optimizer, model or tensor, or a name as a",
    "string (\"Linear\", \"model:train\").  At the prompt, ?x is help(x).",
    "",
    "Layers      nn." .. table.concat(layers, ", nn."),
    "Losses      nn." .. table.concat(losses, ", nn."),
    "Optimizers  nn.optim." .. table.concat(opts, ", nn.optim."),
    "Schedulers  nn.optim." .. table.concat(scheds, ", nn.optim."),
    "Callbacks   nn.callbacks." .. table.concat(cbs, ", nn.callbacks."),
    "Models      nn.Model (nn.Sequential): help(nn.Model) lists its methods",
    "Tensors     nn.tensor, nn.tensor.zeros/ones/full/rand/randn/arange: help(nn.tensor)",
    "Data        nn.data.DataLoader, nn.datasets.fashion_mnist, nn.data.one_hot, nn.metrics",
    "Files       model:save, nn.load, nn.safetensors, nn.json, nn.image",
    "Functions   nn.F (nn.functional): each layer's and loss's pure pair",
    "Prompt      who(), nn.mem(), nn.timing(true), nn.fields(x), x:fields(); a",
    "            trailing ; hides a result; Tab completes names and fields",
  }, "\n")
end

local function is_layer(v) return getmetatable(v) == nn.Module end
local function is_loss(v) return getmetatable(v) == nn.Criterion end
local function is_tensor(v) return getmetatable(v) == nn.Tensor end

local function tensor_text(t)
  local head = t and ("this one: %s %s on %s\n\n"):format(table.concat(t:size(), "x"), t.dtype, t.device) or ""
  local d = docs_by_key["nn.tensor"]
  return "nn.tensor{{1, 2}, {3, 4}}, nn.tensor.zeros(3, 4), ones, full, rand, randn, arange\n"
         .. (d and indent(d.text, "  ") .. "\n" or "") .. head
         .. "Fields: shape, ndim, dtype, device\nMethods:\n" .. methods_text("Tensor")
end

local function model_text()
  local d = docs_by_key["nn.Model"]
  return "nn.Model{layer, ...} (also nn.Sequential)\n" .. (d and indent(d.text, "  ") or "")
         .. "\nMethods:\n" .. methods_text("Model")
end

-- a name as a string: a layer, a loss, a doc key, or nn.<name>
local function name_text(s)
  if nn.module_types[s] then return layer_text(s) end
  if nn.loss_types[s] then return loss_text(s) end
  local key = s:gsub("^nn%.", "")
  if nn.module_types[key] then return layer_text(key) end
  if nn.loss_types[key] then return loss_text(key) end
  local d = docs_by_key[s] or docs_by_key["nn." .. s]
  if d then
    local v = nn
    for part in (d.key:gsub("^nn%.?", "")):gmatch("[^%.]+") do
      v = type(v) == "table" and rawget(v, part) or nil
    end
    if type(v) == "function" then return function_text(v) end
    return doc_text(d, call_form(d.text))
  end
  -- a method name alone ("train") or after any receiver ("m:train")
  local name = s:match("[:%.]([%w_]+)$") or s
  local hits = {}
  for _, e in ipairs(gen.docs) do
    if e.key:match("[:%.]" .. name .. "$") then hits[#hits + 1] = doc_text(e, call_form(e.text)) end
  end
  if #hits > 0 then return table.concat(hits, "\n\n") end
  return nil
end

--- nn.help.text(x) -> string: what help(x) prints (no argument: the topics).
-- Never raises: a value nnlua does not describe gets a line that says so.
function help.text(...)
  if select("#", ...) == 0 then return topics_text() end
  local x = ...
  if x == nil then
    return "help(nil): nothing to describe (is the name spelled right?).  help() lists the topics."
  end
  if x == nn then return topics_text() end
  if type(x) == "string" then
    return name_text(x) or ("no help for %q.  help() lists the topics."):format(x)
  end
  if type(x) == "function" then return function_text(x) end
  if is_layer(x) then return ("this one: %s\n\n%s"):format(tostring(x), layer_text(x.name)) end
  if is_loss(x) then return ("this one: %s\n\n%s"):format(tostring(x), loss_text(x.name)) end
  if is_tensor(x) then return tensor_text(x) end
  if x == nn.tensor then return tensor_text(nil) end
  if x == nn.Model or getmetatable(x) == nn.Model then return model_text() end
  if type(x) == "table" then
    local mt = getmetatable(x)
    local cname
    for name, methods in pairs(classes()) do if mt and mt.__index == methods then cname = name end end
    if cname then
      return ("%s %s: %s\nMethods:\n%s"):format(cname:match("^[AEIOU]") and "an" or "a", cname,
                                               tostring(x), methods_text(cname))
    end
    -- a table of nn: its own doc, then its functions with their signatures
    for path_fn, p in pairs(paths()) do
      local _ = path_fn
      local mod = p:match("^(nn%.[%w_]+)%.[%w_]+$")
      if mod then
        local v = nn[mod:sub(4)]
        if v == x then
          local d = docs_by_key[mod]
          local out = { mod .. (d and (":\n" .. indent(d.text, "  ")) or ""), "Functions:" }
          for _, k in ipairs(sorted_keys(x)) do
            if type(x[k]) == "function" and not k:match("^_") then
              out[#out + 1] = "  " .. (help.signature(x[k]) or (mod .. "." .. k))
            end
          end
          return table.concat(out, "\n")
        end
      end
    end
    local keys = nn.fields(x)
    return ("a table with %d field%s: %s"):format(#keys, #keys == 1 and "" or "s",
                                                 table.concat(keys, ", "))
  end
  return ("a %s: %s"):format(type(x), tostring(x))
end

--- nn.help(x): prints help.text(x) (no argument: the topics); returns nothing.
-- (wrapped to the terminal's width: a line of a derivation or of an
-- option's choices longer than that continues, indented, on the next)
setmetatable(help, { __call = function (_, ...)
  print(require("nn.repr").wrap(help.text(...)))
end })

--- nn.help.index() -> the short index `nn` prints as at the prompt.
function help.index()
  return table.concat({
    ("nn: the nnlua library (%s).  help() for the topics, help(x) for one thing."):format(nn._VERSION),
    "  layers   nn.Linear nn.ReLU nn.Softmax nn.Dropout nn.BatchNorm1d ... (" .. #sorted_keys(nn.module_types) .. ")",
    "  losses   nn.CrossEntropyLoss nn.MSELoss ... (" .. #sorted_keys(nn.loss_types) .. ")",
    "  models   nn.Model{...}  model:set{...}  model:train(x, y)  model:summary()",
    "  tables   nn.tensor nn.optim nn.data nn.datasets nn.metrics nn.callbacks nn.F nn.image",
    "  prompt   who()  nn.mem()  nn.timing(true)  nn.fields(x)",
  }, "\n")
end

return help
