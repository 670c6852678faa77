-- fuzz/lua_api.lua -- a fuzzer of nnlua's Lua API, run by the sanitized host
-- (fuzz/README.md says how, with which ASan options, and how to replay):
--
--   build-asan/nnlua fuzz/lua_api.lua SEED BUDGET [FIRST]
--
-- BUDGET is a count of executions (`500`) or a time (`30s`); FIRST (default
-- 1) is the index of the first execution, so that one execution can be run
-- alone again.  Each execution draws, from a generator seeded by (SEED,
-- index) and nothing else, a sequence of 1 to 30 calls into the API:
-- tensor constructors and methods, every layer type of nn.module_types with
-- random options, forward and backward with random inputs and option
-- tables, every loss of nn.loss_types, nn.functional, the optimizers (and
-- their raw C update), schedulers, metrics, data helpers, JSON, checkpoints
-- (saved, edited, loaded), and a Model trained on tiny random data with
-- callbacks that meddle.  Arguments come from a pool of nasty values (nil,
-- booleans, strings, tables, functions, 0, -1, NaN, +-inf, 2^53, 2^62,
-- math.maxinteger, empty tensors, tensors of many shapes) and from what the
-- execution made before: a layer's own output or weight as its argument,
-- the same tensor twice, an output that overlaps an input, a tensor or
-- layer freed by calling its __gc or __close.  Every call runs under pcall:
-- a Lua error is expected, and anything else -- a crash, an abort, a
-- sanitizer report, a hang -- ends the process, which is the finding.
--
-- At the end it prints one line:
--   lua_api: seed S: N executions, M calls (E raised a Lua error, U unchecked cases) in T s
-- and exits 0; 2 when the harness itself raised outside its pcalls.
--
-- Memory: the shapes drawn are small (sizes 0..5) or past the library's
-- limit of 2^40 elements (2^41, 2^53, 2^62, math.maxinteger), so that their
-- products are tiny, zero or refused; but a size can also be a plain value
-- from the pool (65536, 2^31, 2^32: nn.BatchNorm1d(2^31) is a legitimate
-- 32 GB), so the run relies on ASan's max_allocation_size_mb (make fuzz
-- sets 256) to turn such a request into "out of host memory".  A Model
-- trains for at most 2 epochs on at most 8 rows; gradcheck only small layers.
--
-- Not fuzzed: the CUDA device ("cuda" is only one of the strings drawn;
-- CI has no GPU), nn.interrupt (a third press ends the process by design),
-- files other than one temporary checkpoint, the REPL.
--
-- Left out (each is a finding; see fuzz/README.md):  none.  (FINDING 1,
-- output_shape's int64 overflow, is fixed in nn/module.c and fuzzed again.)

local SEED = math.tointeger(tonumber(arg[1] or "1")) or 1
local BUDGET = arg[2] or "200"
local FIRST = math.tointeger(tonumber(arg[3] or "1")) or 1
local TRACE = os.getenv("NNLUA_FUZZ_TRACE") ~= nil
-- NNLUA_FUZZ_TRACE=exec: only one line per execution (to find which one)
local TRACE_EXEC = os.getenv("NNLUA_FUZZ_TRACE") == "exec"
if TRACE_EXEC then TRACE = false end
-- NNLUA_FUZZ_STATS=1: at the end, per call, how often it returned and raised
local STATS = os.getenv("NNLUA_FUZZ_STATS") ~= nil and {} or nil

local max_execs, deadline = math.huge, math.huge
if BUDGET:match("s$") then
  deadline = nn.clock() + assert(tonumber(BUDGET:sub(1, -2)), "BUDGET: N or Ns")
else
  max_execs = assert(math.tointeger(tonumber(BUDGET)), "BUDGET: N or Ns")
end

-- --- the generator: splitmix64 on Lua's 64-bit integers -----------------------
local state = 0
local function reseed (seed, index)
  state = seed * 0x2545F4914F6CDD1D + index * 0x9E3779B97F4A7C15
end
local function next64 ()
  state = state + 0x9E3779B97F4A7C15
  local z = state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end
-- an integer in 1..n
local function rint (n) return (next64() >> 1) % n + 1 end
-- an integer in lo..hi
local function range (lo, hi) return hi < lo and lo or lo + rint(hi - lo + 1) - 1 end
local function chance (p) return (next64() >> 11) * 2.0^-53 < p end
local function pick (list) return list[rint(#list)] end
local function unit () return (next64() >> 11) * 2.0^-53 end

-- --- the pool of values --------------------------------------------------------
-- huge sizes are all past the library's 2^40 elements: refused, never allocated
local HUGE = { 2^41, -2^41, 2^53, 2^62, math.maxinteger, math.mininteger, 2^63, 1 << 41, 1 << 62 }
local NUMBERS = { 0, -1, 1, 2, 3, 0.5, -0.5, 1.5, 1e-30, 5e-324, -0.0, 2.0, 4, 7, 1e30, 3.4e38, 1e39,
                  math.huge, -math.huge, 0/0, 2^53, 2^62, math.maxinteger, math.mininteger,
                  2^41, 2^31, -2^31, 2^32, 255, 256, 65536 }
local STRINGS = { "", "x", "3", "1e400", "nan", "cpu", "cuda", "cuda:0", "cuda:7", "mean", "sum", "none",
                  "relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "glorot_uniform",
                  "he_normal", "weight", "bias", "output", "grad_input", "%s%s%n", ("x"):rep(300),
                  "Linear", "ReLU", "accuracy", "categorical_crossentropy", "mse", "nll", "\0" }
local OPTION_KEYS = { "bias", "init", "activation", "eps", "momentum", "affine", "negative_slope", "p",
                      "dim", "reduction", "grad_input", "accumulate", "persistent", "epochs",
                      "batch_size", "verbose", "shuffle", "lr", "type", "in_features", "out_features",
                      "num_features", "keepdim", "training", "weight_decay", "betas", "nesterov",
                      "dampening", "alpha", "centered", "amsgrad", "decay", "tolerance", "name",
                      "validation_split", "validation_data", "callbacks", "initial_epoch", "loss",
                      "optimizer", "accuracy", "h", "atol", "rtol", "drop_last", "flatten", 1, 2, 3 }

local ex = {}          -- what this execution has made: tensors, layers, losses, ...
local function remember (kind, v)
  local list = ex[kind]
  if #list < 24 then list[#list + 1] = v else list[rint(#list)] = v end
end

local small_size, shape, tensor, value, options   -- mutually recursive

-- a dimension: mostly 0..5, now and then a huge or nasty one
function small_size ()
  local r = unit()
  if r < 0.85 then return range(0, 5)
  elseif r < 0.9 then return pick(HUGE)
  elseif r < 0.95 then return pick({ -1, -2, 0.5, 2.0, 0/0, math.huge })
  else return value(1) end
end

-- a list of sizes: 0 to 5 dims (the library's most), now and then 6 or 7;
-- mostly small, sometimes one bad entry
function shape (bad)
  local s = {}
  for i = 1, chance(0.03) and range(6, 7) or range(bad and 0 or 1, 5) do
    s[i] = (bad and chance(0.2)) and small_size() or range(0, 5)
  end
  return s
end

local CONSTRUCTORS = { "zeros", "ones", "rand", "randn" }

-- a fresh tensor of the given sizes (on the CPU), or nil when refused
local function make (s)
  local ok, t = pcall(nn.tensor[pick(CONSTRUCTORS)], table.unpack(s))
  if ok then return t end
end

-- a tensor: one made before, or a view of one, a layer's buffer, or a new one
function tensor ()
  local r = unit()
  if r < 0.35 and #ex.tensors > 0 then return pick(ex.tensors) end
  if r < 0.45 and #ex.layers > 0 then
    local l = pick(ex.layers)
    local ok, t = pcall(function () return l[pick({ "output", "grad_input", "grad_input2", "weight", "bias",
                                                    "grad_weight", "grad_bias", "running_mean",
                                                    "running_var", "mask", "save_mean", "save_invstd",
                                                    "grad_pre_activation" })] end)
    if ok and t ~= nil then return t end
  end
  if r < 0.5 and #ex.tensors > 0 then
    local t = pick(ex.tensors)
    local ok, v = pcall(t.narrow, t, range(1, 2), range(1, 2), range(0, 2))
    if ok then return v end
  end
  if r < 0.55 then return make({ 0 }) or make({ 0, 3 }) end
  local t = make(shape(false)) or nn.tensor.zeros(1)
  remember("tensors", t)
  return t
end

-- a random table of options, keys from OPTION_KEYS, values from the pool
function options (depth)
  local o = {}
  for _ = 1, range(0, 4) do o[pick(OPTION_KEYS)] = value(depth + 1) end
  return o
end

local FUNCS = {
  function () end,
  function () error("from a fuzzer's function") end,
  function () return 1 end,
  function (...) return ... end,
}

-- any value
function value (depth)
  depth = depth or 0
  local r = rint(20)
  if r <= 5 then return tensor()
  elseif r <= 9 then return pick(NUMBERS)
  elseif r == 10 then return range(-3, 8)
  elseif r == 11 then return pick(STRINGS)
  elseif r == 12 then return nil
  elseif r == 13 then return chance(0.5)
  elseif r == 14 then return pick(FUNCS)
  elseif r == 15 and depth < 2 then return options(depth)
  elseif r == 16 and depth < 2 then
    local list = {}
    for i = 1, range(0, 4) do list[i] = (depth < 1 and chance(0.3)) and value(depth + 1) or range(-1, 4) end
    return list
  elseif r == 17 and #ex.layers > 0 then return pick(ex.layers)
  elseif r == 18 and #ex.losses > 0 then return pick(ex.losses)
  elseif r == 19 then return setmetatable({}, { __index = function () error("from an __index") end })
  elseif r == 20 then return io.stderr
  end
  return range(0, 3)
end

-- n arguments from the pool (some of them nil)
local function args (n)
  local a = {}
  for i = 1, n do a[i] = value(0) end
  return a, n
end

-- --- the calls --------------------------------------------------------------------
local calls, names = {}, {}
local function def (name, weight, fn)
  for _ = 1, weight do calls[#calls + 1] = fn; names[#names + 1] = name end
end

local n_calls, n_errors, n_harness = 0, 0, 0
local note_internal
local exec_index, call_index = 0, 0

local function describe (v)
  local mt = getmetatable(v)
  if mt == nn.Tensor then
    local ok, s = pcall(function () return "T[" .. table.concat(v.shape, "x") .. "]" end)
    return ok and s or "T[?]"
  end
  if type(v) == "string" then return ("%q"):format(#v > 20 and v:sub(1, 20) .. "..." or v) end
  if math.type(v) == "float" then return ("%.17g"):format(v) end
  if type(v) == "table" or type(v) == "userdata" then
    local ok, s = pcall(function () return v.type or v.name end)
    return (ok and type(s) == "string" and s or type(v)) .. "{}"
  end
  return tostring(v)
end

-- A Lua error is expected, but one raised by the Lua library's own code
-- with Lua's generic message ("attempt to index a nil value", a bad
-- argument to 'format') is a case the library did not check: not a crash,
-- so not a failure, but kept (one per message) and printed at the end.
local internal, n_internal = {}, 0
function note_internal (what, err)   -- luacheck: ignore (declared above)
  local m = tostring(err)
  if not m:find("lua/nn/", 1, true) then return end
  if not (m:find("attempt to ") or m:find("to 'format'") or m:find("table index is")
          or m:find("bad argument #%d+ to '[%w_]*' %(number expected")) then return end
  local key = m:gsub("^.-(lua/nn/)", "%1"):gsub("0x%x+", "0x?")
  if internal[key] == nil then internal[key] = what; n_internal = n_internal + 1 end
end

-- obj:name(...) as a function of (obj, ...): the method is looked up inside
-- the pcall, since indexing a freed tensor or layer raises
local function M (name)
  return function (obj, ...) return obj[name](obj, ...) end
end

-- run f(...) under pcall; keep its tensor, layer and loss results
local function try (what, f, ...)
  n_calls = n_calls + 1
  if TRACE then
    local a = table.pack(...)
    local d = {}
    for i = 1, a.n do d[i] = describe(a[i]) end
    io.stderr:write(("exec %d call %d: %s(%s)\n"):format(exec_index, call_index, what,
                    table.concat(d, ", ")))
    io.stderr:flush()
  end
  local res = table.pack(pcall(f, ...))
  if STATS then
    local st = STATS[what] or { 0, 0, "" }
    STATS[what] = st
    if res[1] then st[1] = st[1] + 1 else st[2] = st[2] + 1; st[3] = tostring(res[2]) end
    if not res[1] and os.getenv("NNLUA_FUZZ_STATS") == what then
      local m = tostring(res[2]):gsub("%d+", "N"):sub(1, 150)
      STATS.messages = STATS.messages or {}
      STATS.messages[m] = (STATS.messages[m] or 0) + 1
    end
  end
  if not res[1] then
    n_errors = n_errors + 1
    note_internal(what, res[2])
    if type(res[2]) ~= "string" and type(res[2]) ~= "table" then
      -- an error object that is no string: still a Lua error, still fine
    end
    return nil
  end
  for i = 2, math.min(res.n, 4) do
    local v = res[i]
    local mt = getmetatable(v)
    if mt == nn.Tensor then remember("tensors", v)
    elseif mt == nn.Module then remember("layers", v)
    elseif mt == nn.Criterion then remember("losses", v) end
  end
  return table.unpack(res, 2, res.n)
end

-- sorted names, so that the draws do not depend on the order of pairs()
local function sorted_keys (t, filter)
  local k = {}
  for name, v in pairs(t) do if filter == nil or filter(name, v) then k[#k + 1] = name end end
  table.sort(k)
  return k
end

local CORE = require "nn.core"
local MODULE_TYPES = sorted_keys(nn.module_types)
local LOSS_TYPES = sorted_keys(nn.loss_types)
-- not the pictures (lua/nn/plot.lua): show and hist print, save_image writes files
local NOT_FUZZED = { cuda = true, to = true, show = true, hist = true, save_image = true }
local TENSOR_METHODS = sorted_keys(getmetatable(nn.tensor.zeros(1)).methods,
                                   function (n) return not NOT_FUZZED[n] end)
local F_FUNCS = sorted_keys(nn.F)
local OPTIMS = { "SGD", "Adagrad", "RMSprop", "Adam", "AdamW" }
local SCHEDULERS = { "StepLR", "ExponentialLR", "CosineAnnealingLR" }

-- a tensor of the shape (rows, cols) with values in [0, 1) or class indices
local function matrix (rows, cols) return make({ rows, cols }) or nn.tensor.zeros(rows, cols) end
local function classes (rows, c)
  local t = {}
  for i = 1, rows do t[i] = range(1, c) end
  return rows > 0 and nn.tensor(t) or nn.tensor.zeros(0)
end

-- a random option value for a module type's option description
local function option_value (o)
  if chance(0.2) then return value(1) end
  if o.kind == "integer" then return chance(0.9) and range(1, 5) or pick({ 0, -1, 2^41, math.maxinteger, 1.5 })
  elseif o.kind == "number" then
    return chance(0.7) and unit() or pick({ 0, 1, -1, 1e-30, 0/0, math.huge, 2 })
  elseif o.kind == "boolean" then return chance(0.5)
  elseif o.kind == "choice" then return o.choices and pick(o.choices) or pick(STRINGS) end
  return value(1)
end

-- a layer of a random type, with random options (mostly sensible ones)
local function new_layer ()
  local name = pick(MODULE_TYPES)
  local ty = nn.module_types[name]
  local pos, opts = {}, {}
  for _, o in ipairs(ty.options or {}) do
    if (o.required or chance(0.4)) and not chance(0.05) then
      local v = option_value(o)
      if o.positional and o.positional > 0 and chance(0.7) then pos[o.positional] = v
      else opts[o.name] = v end
    end
  end
  if chance(0.1) then opts[pick(OPTION_KEYS)] = value(1) end
  local n = 0
  for i in pairs(pos) do if i > n then n = i end end
  if chance(0.6) then n = n + 1; pos[n] = opts end
  return try("nn." .. name, nn[name], table.unpack(pos, 1, n))
end

local function some_layer ()
  if #ex.layers == 0 or chance(0.3) then return new_layer() or nn.ReLU() end
  return pick(ex.layers)
end

-- an input that fits a layer, from its config (in_features, num_features)
local function input_for (l)
  local ok, cfg = pcall(l.config, l)
  local f = ok and type(cfg) == "table" and (cfg.in_features or cfg.num_features) or range(1, 4)
  if math.type(f) ~= "integer" or f > 8 then f = 2 end
  return matrix(range(chance(0.1) and 0 or 1, 4), f)
end

local function some_loss ()
  if #ex.losses == 0 or chance(0.3) then
    local name = pick(LOSS_TYPES)
    local a = {}
    if chance(0.6) then
      a[1] = chance(0.7) and { reduction = pick({ "mean", "sum", "none", 3 }),
                               eps = chance(0.3) and pick({ 1e-7, 0, -1, 0.5, 0/0 }) or nil }
                         or value(1)
    end
    return try("nn." .. name, nn[name], table.unpack(a)) or nn.MSELoss()
  end
  return pick(ex.losses)
end

-- ---- tensors
def("tensor.new", 3, function ()
  local c = pick({ "zeros", "ones", "rand", "randn", "full" })
  local s = shape(true)
  if c == "full" then s[#s + 1] = chance(0.7) and pick(NUMBERS) or value(0) end
  if chance(0.3) then try("tensor." .. c, nn.tensor[c], s)
  else try("tensor." .. c, nn.tensor[c], table.unpack(s)) end
end)
def("tensor.arange", 1, function ()
  local a = {}
  for i = 1, range(0, 3) do a[i] = chance(0.8) and range(-3, 6) or pick(HUGE) end
  if chance(0.2) then a[#a + 1] = pick({ 0, 0.5, -1, 1e-30, 0/0, math.huge, -0.5 }) end
  if chance(0.1) then a[1] = value(0) end
  -- arange divides: a huge stop over a small step can land inside the
  -- limit and be a legitimate allocation of terabytes; leave those out
  local start, stop, step = a[1], a[2], a[3] or 1
  if #a == 1 then start, stop = 0, a[1] end
  if type(start) == "number" and type(stop) == "number" and type(step) == "number" then
    local count = (stop - start) / step
    if count > 2^20 and count <= 2^41 then return end
  end
  try("tensor.arange", nn.tensor.arange, table.unpack(a))
end)
def("tensor{...}", 2, function ()
  local function nested (d)
    if d == 0 or chance(0.1) then return chance(0.9) and pick(NUMBERS) or value(2) end
    local t = {}
    for i = 1, range(0, 3) do t[i] = nested(d - 1) end
    if chance(0.05) then t[#t + 2] = 1 end
    return t
  end
  try("nn.tensor", nn.tensor, nested(range(0, 4)))
end)
def("tensor method", 12, function ()
  local m = pick(TENSOR_METHODS)
  local t = tensor()
  local a, n = args(range(0, 4))
  if chance(0.5) and n > 0 then a[1] = chance(0.5) and range(-2, 4) or tensor() end
  if chance(0.15) then a[rint(math.max(n, 1))] = t end
  try("t:" .. m, M(m), t, table.unpack(a, 1, n))
end)
def("tensor binary", 6, function ()
  local op = pick({ "add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "matmul", "copy", "copy_",
                    "index_select", "pow", "pow_", "clamp", "clamp_" })
  local a = tensor()
  local b
  local r = unit()
  if r < 0.3 then b = a
  elseif r < 0.6 then
    local ok, s = pcall(function () return a.shape end)
    b = ok and make(s) or tensor()
  else b = value(0) end
  try("t:" .. op, M(op), a, b, value(0))
end)
def("tensor mm", 2, function ()
  local a, b, c = tensor(), tensor(), tensor()
  if chance(0.3) then a = b end
  if chance(0.3) then a = c end
  local m, k, n = range(0, 4), range(0, 4), range(0, 4)
  if chance(0.6) then a, b, c = matrix(m, n), matrix(m, k), matrix(k, n) end
  if chance(0.2) then a = b end
  try("t:mm", M("mm"), a, b, c, value(0), value(0))
end)
def("tensor reduce", 4, function ()
  local op = pick({ "sum", "mean", "max", "min", "argmax", "argmin", "std", "var" })
  local t = tensor()
  try("t:" .. op, M(op), t, chance(0.8) and range(-3, 4) or value(0), value(0))
end)
def("tensor view", 4, function ()
  local op = pick({ "view", "reshape", "narrow", "slice", "get", "set", "size" })
  local t = tensor()
  local a = {}
  if (op == "get" or op == "set") and chance(0.6) then
    for i, n in ipairs(t.shape) do a[i] = chance(0.95) and range(1, n) or small_size() end
    if op == "set" then a[#a + 1] = chance(0.9) and pick(NUMBERS) or value(0) end
    try("t:" .. op, M(op), t, table.unpack(a))
    return
  end
  for i = 1, range(0, chance(0.05) and 7 or 5) do a[i] = chance(0.85) and range(-2, 6) or small_size() end
  if chance(0.2) then a = { a } end
  try("t:" .. op, M(op), t, table.unpack(a))
end)
def("tensor meta", 2, function ()
  local t = tensor()
  local op = rint(8)
  if op == 1 then try("tostring", tostring, t)
  elseif op == 2 then try("#t", function () return #t end)
  elseif op == 3 then try("-t", function () return -t end)
  elseif op == 4 then try("t + v", function (v) return t + v end, value(0))
  elseif op == 5 then try("v * t", function (v) return v * t end, value(0))
  elseif op == 6 then try("t / v", function (v) return t / v end, value(0))
  elseif op == 7 then try("t.field", function (k) return t[k] end, pick({ "shape", "ndim", "device", "dtype", "x", 1 }))
  else try("t.field=", function (k, v) t[k] = v end, pick({ "shape", "ndim", "x", 1 }), value(0)) end
end)
def("nn.fn", 4, function ()
  local name = pick({ "abs", "add", "argmax", "clamp", "clone", "copy", "div", "exp", "fill_", "get",
                      "index_select", "item", "log", "matmul", "max", "mean", "min", "mm", "mul",
                      "narrow", "neg", "numel", "pow", "randperm", "relu", "reshape", "set", "sigmoid",
                      "size", "slice", "sqrt", "std", "sub", "sum", "tanh", "totable", "var", "view",
                      "zero_", "dim", "repr", "metric_binary_hits", "metric_class_hits",
                      "metric_within_hits", "metric_confusion" })
  local a, n = args(range(0, 4))
  if n > 0 and chance(0.7) then a[1] = tensor() end
  if n > 1 and chance(0.4) then a[2] = chance(0.5) and tensor() or range(-1, 3) end
  try("nn." .. name, nn[name], table.unpack(a, 1, n))
end)
-- outputs that share memory with an input: the tensor itself, an
-- overlapping view of it (rows shifted by one), a view in another shape,
-- a layer's fixed-shape parameter
local function overlapping (t)
  local r = unit()
  local ok, v = pcall(function ()
    if r < 0.3 then return t end
    local n = t.shape[1]
    if r < 0.6 and n and n >= 2 then return t:narrow(1, range(1, 2), n - 1) end
    if r < 0.8 then return t:view(-1) end
    if #ex.layers > 0 then return pick(ex.layers).weight end
    return t
  end)
  return ok and v or t
end
def("out args", 6, function ()
  local r = rint(7)
  local src = matrix(range(1, 5), range(1, 4))
  if r == 1 then
    local idx = classes(range(0, 5), src.shape[1])
    try("index_select(out)", nn.index_select, src, idx, chance(0.5) and overlapping(src) or overlapping(idx))
  elseif r == 2 then
    local t = make({ range(0, 6) }) or src
    try("randperm(out)", nn.randperm, t:numel(), overlapping(t))
  elseif r == 3 then
    local y = classes(range(0, 5), 4)
    local t = matrix(y:numel(), 4)
    try("one_hot(out)", nn.data.one_hot, y, 4, chance(0.5) and overlapping(y) or overlapping(t))
  elseif r == 4 then
    local m, k, n = src.shape[1], src.shape[2], range(1, 4)
    local b = chance(0.5) and matrix(k, n) or src:view(k, m)
    local out = chance(0.5) and overlapping(src) or overlapping(b)
    try("out:mm(a, b)", M("mm"), out, src, b, chance(0.3), chance(0.3))
  elseif r == 5 then
    local dst = overlapping(src)
    local from = overlapping(src)
    try("dst:copy(src)", M("copy"), dst, from)
  elseif r == 6 then
    local op = pick({ "add_", "sub_", "mul_", "div_", "copy_" })
    try("view:" .. op .. "(view)", M(op), overlapping(src), overlapping(src))
  else
    local perm = nn.randperm(src.shape[1])
    try("gather(out)", CORE.data.gather, overlapping(src), src, chance(0.7) and perm or nil,
        range(1, 2), range(0, src.shape[1]))
  end
end)
def("randperm", 1, function ()
  try("nn.randperm", nn.randperm, chance(0.8) and range(-1, 8) or pick(HUGE), chance(0.3) and value(0) or nil)
end)
def("data", 3, function ()
  local r = rint(6)
  if r == 1 then
    local c = chance(0.8) and range(-1, 6) or pick(HUGE)
    local y = chance(0.6) and classes(range(0, 5), 6) or tensor()
    try("data.one_hot", nn.data.one_hot, y, c, chance(0.3) and tensor() or nil)
  elseif r == 2 then try("data.normalize", nn.data.normalize, tensor(), value(0), value(0))
  elseif r == 3 then local b = range(0, 5)
    try("data.split", nn.data.split, chance(0.7) and matrix(b, 2) or tensor(),
        chance(0.7) and classes(b, 3) or tensor(), chance(0.7) and unit() or value(0))
  elseif r == 4 then
    local dl = try("data.DataLoader", nn.data.DataLoader, tensor(), chance(0.8) and tensor() or value(0),
                   chance(0.7) and { batch_size = pick({ 1, 2, 3, 0, -1, 2^41, 0.5 }),
                                     shuffle = chance(0.5), drop_last = chance(0.5) } or value(0))
    if dl then
      try("loader:iter", function ()
        local k = 0
        for xb, yb in dl:iter() do k = k + 1; if k > 20 then break end end
        return #dl, tostring(dl)
      end)
    end
  elseif r == 5 then
    local src = tensor()
    try("core.data.gather", CORE.data.gather, tensor(), src, chance(0.5) and tensor() or nil,
        chance(0.8) and range(-1, 4) or value(0), chance(0.8) and range(-1, 4) or value(0))
  else
    try("index_select", nn.index_select, tensor(), chance(0.5) and classes(range(0, 4), 3) or tensor(),
        value(0))
  end
end)
def("metrics", 2, function ()
  local spec = pick({ "accuracy", "categorical_accuracy", "binary_accuracy",
                      { name = "regression_accuracy", tolerance = value(1) }, value(0) })
  local m = try("metrics.get", nn.metrics.get, spec)
  if m then
    local b, c = range(0, 5), range(1, 4)
    try("metric:update", M("update"), m, chance(0.7) and matrix(b, c) or tensor(),
        chance(0.7) and (chance(0.5) and classes(b, c) or matrix(b, c)) or tensor())
    try("metric:result", M("result"), m)
  end
  if chance(0.5) then
    local b, c = range(0, 5), range(1, 4)
    try("metrics.confusion_matrix", nn.metrics.confusion_matrix,
        chance(0.8) and matrix(b, c) or tensor(), chance(0.8) and classes(b, c) or tensor(),
        chance(0.3) and (chance(0.5) and make({ c, c }) or tensor()) or nil)
  end
end)
def("json", 1, function ()
  if chance(0.5) then try("json.encode", nn.json.encode, value(0))
  else
    local s = pick({ "{", "[1,2", '{"a":[1,2,{"b":null}]}', "1e999", '"\\ud800"', "[" .. ("["):rep(300),
                     "nan", "-0", '{"__metadata__":{}}', pick(STRINGS) })
    try("json.decode", nn.json.decode, s)
  end
end)
def("json/config", 1, function ()
  local r = rint(5)
  if r == 1 then
    local t = {}
    t[1] = chance(0.5) and t or { t }                      -- a cycle
    try("json.encode(cycle)", nn.json.encode, t)
  elseif r == 2 then
    local d = range(1, 3000)
    try("json.decode(deep)", nn.json.decode, ("["):rep(d) .. ("]"):rep(chance(0.9) and d or 0))
  elseif r == 3 then
    local ok, opt = pcall(nn.optim[pick(OPTIMS)], { lr = 0.1 })
    local cfg = ok and opt:config() or {}
    cfg[pick(OPTION_KEYS)] = value(1)
    try("optim.from_config", nn.optim.from_config, chance(0.9) and cfg or value(0))
  elseif r == 4 then
    local sizes = {}
    for i = 1, range(0, 4) do sizes[i] = chance(0.9) and range(1, 5) or small_size() end
    try("nn.Model('basic')", nn.Model, chance(0.9) and "basic" or value(0), chance(0.9) and sizes or value(0))
  else
    local ok, opt = pcall(nn.optim.SGD, { lr = 0.1 })
    local name = pick(SCHEDULERS)
    local cfg = ({ StepLR = { name = name, step_size = range(-1, 3), gamma = unit() },
                   ExponentialLR = { name = name, gamma = chance(0.8) and unit() or pick(NUMBERS) },
                   CosineAnnealingLR = { name = name, T_max = range(-1, 3), eta_min = unit() } })[name]
    if chance(0.3) then cfg[pick(OPTION_KEYS)] = value(1) end
    try("optim.scheduler_from_config", nn.optim.scheduler_from_config, ok and opt or value(0),
        chance(0.9) and cfg or value(0))
  end
end)
def("rng", 1, function ()
  local r = rint(3)
  if r == 1 then try("manual_seed", nn.manual_seed, value(0))
  elseif r == 2 then try("get_rng_state", nn.get_rng_state)
  else try("set_rng_state", nn.set_rng_state, value(0), value(0)) end
end)
def("philox", 1, function ()
  local a = {}
  for i = 1, range(0, 7) do a[i] = chance(0.8) and range(0, 5) or pick(NUMBERS) end
  try("nn.philox", nn.philox, table.unpack(a))
end)

-- A layer written in Lua, as a user may write one (a table with forward and
-- backward), that misbehaves: returns its input itself, nil, a number, a
-- tensor of another shape or a view of its own parameter; its parameters()
-- give gradients of other shapes than the parameters, or the parameters
-- themselves, or lists of two lengths; its config() returns anything.
local function lua_layer (f)
  local w = matrix(f, f)
  local gw = chance(0.7) and matrix(f, f) or pick({ w, matrix(range(1, 3), f), tensor() })
  local outs = { function (x) return x end, function (x) return x:clone() end,
                 function () return nil end, function () return 3 end,
                 function (x) return x:matmul(w) end, function () return w end,
                 function () return tensor() end, function (x) return x:view(-1) end }
  local fwd, bwd = pick(outs), pick(outs)
  local layer = { name = chance(0.8) and "Fuzzy" or value(1) }
  function layer:forward (x) self.output = fwd(x); return self.output end
  function layer:backward (g) return bwd(g) end
  if chance(0.7) then
    local r = rint(4)
    function layer:parameters ()
      if r == 1 then return { w }, { gw }
      elseif r == 2 then return { w }, { w }
      elseif r == 3 then return { w, w }, { gw }
      else return value(1), value(1) end
    end
  end
  if chance(0.5) then function layer:zero_grad () gw:zero_() end end
  if chance(0.3) then function layer:config () return chance(0.5) and { type = "Fuzzy" } or value(1) end end
  return layer
end

-- ---- lifetimes: a Lua program may call __gc or __close itself (a
-- to-be-closed variable, or getmetatable(x).__gc(x)); whatever it freed
-- must then be refused, and what shares its memory must live on
def("free", 2, function ()
  local r = unit()
  local v
  if r < 0.6 then v = tensor()
  elseif r < 0.85 then v = some_layer()
  else v = some_loss() end
  local mt = getmetatable(v)
  local how = (mt == nn.Tensor and chance(0.5)) and "__close" or "__gc"
  try(how, mt[how], v)
  if chance(0.3) then try("again " .. how, mt[how], v) end
end)
def("close", 1, function ()
  try("local <close>", function ()
    local t <close> = tensor()
    local u = t:view(-1)
    return u
  end)
end)
def("collectgarbage", 1, function ()
  try("collectgarbage", collectgarbage, pick({ "collect", "step", "step" }))
end)

-- ---- layers
def("layer.new", 4, new_layer)
def("layer.new(cfg)", 1, function ()
  local l = some_layer()
  local ok, cfg = pcall(l.config, l)
  if ok and type(cfg) == "table" then
    if chance(0.5) then cfg[pick(OPTION_KEYS)] = value(1) end
    try("nn[cfg.type](cfg)", function () return nn[cfg.type](cfg) end)
  end
end)
def("layer.forward", 8, function ()
  local l = some_layer()
  local a = {}
  local n = range(1, 3)
  for i = 1, n do
    local r = unit()
    if r < 0.6 then a[i] = input_for(l)
    elseif r < 0.7 then a[i] = l.output
    elseif r < 0.75 then a[i] = l.weight
    else a[i] = value(0) end
  end
  if chance(0.2) then a[n + 1] = chance(0.5) and { activation = chance(0.5) } or options(0); n = n + 1 end
  if chance(0.1) then n = range(0, 10) end
  if chance(0.5) then try("l:forward", M("forward"), l, table.unpack(a, 1, n))
  else try("l(...)", function (...) return l(...) end, table.unpack(a, 1, n)) end
end)
def("layer.backward", 6, function ()
  local l = some_layer()
  local g
  local r = unit()
  if r < 0.5 then
    local ok, out = pcall(function () return l.output end)
    g = ok and out and (pcall(out.clone, out) and out:clone()) or tensor()
  elseif r < 0.6 then g = l.output
  elseif r < 0.7 then g = l.grad_input
  else g = value(0) end
  local opts = chance(0.5) and { grad_input = chance(0.7), accumulate = chance(0.5) }
               or (chance(0.5) and options(0) or nil)
  try("l:backward", M("backward"), l, g, opts)
end)
-- a whole pass: forward with inputs that fit (as many as the type takes,
-- of one shape), then backward with a gradient of the output's shape, or
-- the output itself, or another buffer of the layer (aliasing)
def("layer.pass", 8, function ()
  local l = some_layer()
  local ok, cfg = pcall(l.config, l)
  local ty = ok and type(cfg) == "table" and nn.module_types[cfg.type] or {}
  local x = input_for(l)
  local a = { x }
  local n = range(ty.min_inputs or 1, math.min(ty.max_inputs or 1, 4))
  for i = 2, n do
    local r = unit()
    if r < 0.6 then a[i] = matrix(x.shape[1], x.shape[2])
    elseif r < 0.8 then a[i] = x                            -- the same tensor twice
    elseif r < 0.9 then a[i] = make({ x.shape[2] }) or x     -- a row, for Add
    else a[i] = matrix(x.shape[1], range(1, 3)) end          -- other widths, for Concat
  end
  if chance(0.1) then a[1] = l.output end
  if chance(0.3) then l:train() elseif chance(0.3) then l:evaluate() end
  local y = try("l:forward", M("forward"), l, table.unpack(a, 1, n))
  if y == nil then return end
  for _ = 1, range(1, 2) do
    local g
    local r = unit()
    if r < 0.6 then g = (pcall(y.clone, y)) and y:clone() or y
    elseif r < 0.7 then g = y
    elseif r < 0.8 then g = l.grad_input
    elseif r < 0.85 then g = x
    elseif r < 0.9 then g = l.weight or y
    else g = tensor() end
    local opts = nil
    if chance(0.5) then opts = { grad_input = chance(0.7), accumulate = chance(0.5) } end
    if chance(0.05) then opts = options(0) end
    try("l:backward", M("backward"), l, g, opts)
  end
  if chance(0.3) then
    local p, gr = try("l:parameters", M("parameters"), l)
    if p and chance(0.5) then
      local opt = nn.optim.Adam{ lr = 0.01 }
      try("opt:step", M("step"), opt, p, gr)
    end
  end
  if chance(0.2) then try("l:zero_grad", M("zero_grad"), l) end
  if chance(0.2) then try("l(y)", function () return l(y) end) end   -- its own output as input
end)
def("layer.method", 4, function ()
  local l = some_layer()
  local m = pick({ "parameters", "buffers", "config", "output_shape", "zero_grad", "train", "evaluate",
                   "eval", "to", "cpu" })
  local a
  if m == "output_shape" then
    a = chance(0.6) and shape(true) or value(0)
  elseif m == "to" then a = chance(0.8) and "cpu" or value(0)
  elseif m == "buffers" then a = chance(0.5) and { persistent = chance(0.5) } or value(0)
  else a = value(0) end
  try("l:" .. m, M(m), l, a)
end)
def("layer.field", 3, function ()
  local l = some_layer()
  local k = pick({ "weight", "bias", "output", "grad_input", "grad_input2", "grad_weight", "training",
                   "eps", "momentum", "p", "dim", "negative_slope", "running_mean", "in_features",
                   "type", "device", "x", 1 })
  if chance(0.5) then try("l.k", function () return l[k] end)
  else try("l.k = v", function (v) l[k] = v end, value(0)) end
end)
def("gradcheck", 1, function ()
  local l = chance(0.7) and some_layer() or some_loss()
  local x = chance(0.7) and input_for(l) or tensor()
  if chance(0.15) then l = lua_layer(2); x = matrix(range(1, 3), 2) end
  -- gradcheck runs two forwards per entry: a Linear(4, 65536) would take
  -- minutes, so only small layers and inputs
  local ok, size = pcall(function ()
    local n = x:numel()
    if getmetatable(l) == nn.Module then
      for _, p in ipairs((l:parameters())) do n = n + p:numel() end
    end
    return n
  end)
  if not ok or size > 256 then return end
  try("nn.gradcheck", nn.gradcheck, l, x, chance(0.5) and tensor() or nil,
      chance(0.5) and { h = pick({ 1e-2, 0, -1, 0/0 }) } or nil)
end)

-- ---- losses
def("loss.forward", 4, function ()
  local c = some_loss()
  local rows, cols = range(0, 4), range(1, 4)
  local x = chance(0.7) and matrix(rows, cols) or tensor()
  local y
  local r = unit()
  if r < 0.3 then y = classes(rows, cols)
  elseif r < 0.6 then y = matrix(rows, cols)
  elseif r < 0.7 then y = x
  else y = value(0) end
  if chance(0.5) then try("c:forward", M("forward"), c, x, y, chance(0.1) and value(0) or nil)
  else try("c(x, y)", function () return c(x, y) end) end
  if chance(0.6) then
    if chance(0.6) then try("c:backward()", M("backward"), c)
    else try("c:backward(x, y)", M("backward"), c, x, y) end
  end
end)
def("loss.misc", 1, function ()
  local c = some_loss()
  local k = pick({ "config", "grad_input", "takes", "reduction", "eps", "type", "x" })
  if k == "config" then try("c:config", M("config"), c)
  elseif chance(0.7) then try("c.k", function () return c[k] end)
  else try("c.k = v", function (v) c[k] = v end, value(0)) end
end)

-- ---- nn.functional
-- Each function's arguments by role, so that most calls get past the
-- checks: x (B, F), w (O, F), g (B, O) or (B, F), t a target (B, F) or
-- class indices (B), v a row (F) or (O), act an activation's name.
local F_SIGS = {
  linear = { "x", "w", "vo", "act" }, linear_backward = { "go", "x", "w", "lbopts" },
  activation = { "x", "act" }, activation_backward = { "g", "x", "act" },
  relu = { "x" }, sigmoid = { "x" }, tanh = { "x" }, softmax = { "x" }, log_softmax = { "x" },
  leaky_relu = { "x", "num" }, leaky_relu_backward = { "g", "x", "num" },
  dropout = { "x", "p", "bool" }, dropout_backward = { "g", "x" },
  batch_norm = { "x", "v", "v", "bnopts" }, batch_norm_backward = { "g", "x", "v", "v", "v", "bool" },
  add = { "x", "xv" }, add_backward = { "g", "x", "xv" },
  concat = { "list", "dim" }, concat_backward = { "g", "list", "dim" },
  softmax_cross_entropy_backward = { "x", "t", "sceopts" },
  categorical_crossentropy = { "x", "t", "eps", "red" },
  categorical_crossentropy_backward = { "x", "t", "eps", "red" },
}
for _, name in ipairs({ "mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss", "cross_entropy",
                        "nll_loss" }) do
  F_SIGS[name] = { "x", "t", "red" }
  F_SIGS[name .. "_backward"] = { "x", "t", "red" }
end

def("F", 10, function ()
  local name = pick(F_FUNCS)
  local sig = F_SIGS[name]
  if sig == nil or chance(0.15) then
    local a, n = args(range(0, 5))
    try("F." .. name, nn.F[name], table.unpack(a, 1, n))
    return
  end
  local b, f, o = range(chance(0.1) and 0 or 1, 4), range(1, 4), range(1, 4)
  local x = chance(0.5) and matrix(b, f) or make({ b, f }) or tensor()
  local a = {}
  for i, role in ipairs(sig) do
    local v
    if role == "x" then v = (i == 1) and x or matrix(b, f)
    elseif role == "w" then v = matrix(o, f)
    elseif role == "vo" then v = chance(0.7) and make({ o }) or nil
    elseif role == "v" then v = make({ f })
    elseif role == "xv" then v = chance(0.5) and matrix(b, f) or make({ f })
    elseif role == "g" then v = matrix(b, f)
    elseif role == "go" then v = matrix(b, o)
    elseif role == "t" then v = chance(0.5) and classes(b, f) or matrix(b, f)
    elseif role == "act" then v = pick({ "relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "x" })
    elseif role == "num" then v = chance(0.7) and unit() or pick(NUMBERS)
    elseif role == "p" then v = chance(0.7) and unit() or pick({ 0, 1, -1, 0/0, 2 })
    elseif role == "bool" then v = chance(0.5)
    elseif role == "dim" then v = chance(0.8) and range(-1, 2) or range(-3, 3)
    elseif role == "red" then v = chance(0.6) and pick({ "mean", "sum" }) or nil
    elseif role == "list" then
      v = {}
      for k = 1, range(1, 4) do v[k] = chance(0.95) and matrix(b, range(1, 3)) or value(1) end
    elseif role == "lbopts" then v = chance(0.5) and { bias = chance(0.5), grad_input = chance(0.5) } or nil
    elseif role == "sceopts" then v = chance(0.5) and { log = chance(0.5), reduction = pick({ "mean", "sum" }) } or nil
    elseif role == "eps" then v = chance(0.7) and 1e-7 or pick({ 0, -1, 0.5, 0/0, 1 })
    elseif role == "bnopts" then
      v = chance(0.6) and { weight = make({ f }), bias = make({ f }), training = chance(0.5),
                            eps = chance(0.8) and 1e-5 or pick(NUMBERS), momentum = unit() } or nil
    end
    if chance(0.1) then v = value(0) end
    if chance(0.08) then v = x end          -- the same tensor twice
    a[i] = v
  end
  try("F." .. name, nn.F[name], table.unpack(a, 1, #sig))
end)

-- ---- optimizers
local function some_params ()
  local p, g = {}, {}
  if chance(0.5) then
    local l = some_layer()
    local ok, pp, gg = pcall(l.parameters, l)
    if ok and type(pp) == "table" and type(gg) == "table" then p, g = pp, gg end
  else
    for i = 1, range(0, 3) do
      local s = shape(false)
      p[i] = make(s) or tensor()
      g[i] = chance(0.8) and (make(s) or tensor()) or value(0)
    end
  end
  if chance(0.1) then g[#g + 1] = tensor() end
  if chance(0.1) and #p > 0 then g[1] = p[1] end
  return p, g
end
def("optim", 4, function ()
  local name = pick(OPTIMS)
  local o = {}
  if chance(0.8) then
    o.lr = chance(0.8) and unit() or pick(NUMBERS)
    if chance(0.3) then o.momentum = chance(0.7) and unit() or pick(NUMBERS) end
    if chance(0.2) then o.nesterov = chance(0.5) end
    if chance(0.2) then o.weight_decay = chance(0.7) and unit() or pick(NUMBERS) end
    if chance(0.2) then o.betas = chance(0.7) and { unit(), unit() } or value(1) end
    if chance(0.2) then o.amsgrad = chance(0.5) end
    if chance(0.2) then o.centered = chance(0.5) end
    if chance(0.2) then o.eps = pick({ 1e-8, 0, -1, 0/0 }) end
    if chance(0.2) then o.decay = pick({ 0, 0.1, -1, math.huge }) end
    if chance(0.1) then o[pick(OPTION_KEYS)] = value(1) end
  else o = value(0) end
  local opt = try("optim." .. name, nn.optim[name], o)
  if not opt then return end
  for _ = 1, range(1, 3) do
    local p, g = some_params()
    try("opt:step", M("step"), opt, p, g)
    if chance(0.2) then try("opt.k = v", function (k, v) opt[k] = v end, pick({ "lr", "momentum", "betas", "name", "eps" }), value(0)) end
  end
  if chance(0.3) then
    local sd = try("opt:state_dict", M("state_dict"), opt)
    if sd and chance(0.5) then try("opt:load_state_dict", M("load_state_dict"), opt, sd) end
  end
  if chance(0.2) then try("opt:load_state_dict", M("load_state_dict"), opt, value(0)) end
  if chance(0.2) then try("opt:reset", M("reset"), opt) end
  if chance(0.2) then try("opt:config", M("config"), opt); try("tostring(opt)", tostring, opt) end
  if chance(0.3) then
    local sname = pick(SCHEDULERS)
    local s = try("optim." .. sname, nn.optim[sname], opt,
                  chance(0.7) and { step_size = pick({ 1, 2, 0, -1 }), gamma = pick({ 0.5, 0, -1, 0/0 }),
                                    T_max = pick({ 1, 3, 0, -1 }), eta_min = pick({ 0, 0.1, 0/0 }) }
                  or value(0))
    if s then for _ = 1, range(1, 3) do try("sched:step", M("step"), s) end end
  end
end)
def("optim_update", 2, function ()
  local ou = CORE.optim_update
  if not ou then return end
  local o = { name = pick({ "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "x" }),
              lr = unit(), momentum = chance(0.5) and unit() or nil, betas = { 0.9, 0.999 },
              eps = 1e-8, alpha = 0.99, centered = chance(0.5), amsgrad = chance(0.5),
              nesterov = false, dampening = 0, weight_decay = 0 }
  if chance(0.3) then o[pick(OPTION_KEYS)] = value(1) end
  local p, g = some_params()
  local states = {}
  if chance(0.3) then
    for i = 1, range(0, 3) do states[i] = chance(0.5) and {} or { exp_avg = tensor(), momentum_buffer = tensor() } end
  end
  local r = rint(3)
  if r == 1 then try("optim_update.check", ou.check, chance(0.8) and o or value(0))
  elseif r == 2 then try("optim_update.state_names", ou.state_names, chance(0.8) and o or value(0))
  else
    try("optim_update.step", ou.step, o, chance(0.8) and unit() or value(0),
        chance(0.8) and range(0, 3) or value(0), p, g, chance(0.9) and states or value(0))
  end
end)

-- ---- checkpoints: one temporary file per process, rewritten by each call
local TMP = os.tmpname()
local WORDS = { "Linear", "BatchNorm1d", "Softmax", "LogSoftmax", "Concat", "Add", "Dropout", "Identity",
                "Adam", "SGD", "RMSprop", "relu", "weight", "bias", "running_mean", "running_var",
                "exp_avg", "exp_avg_sq", "momentum_buffer", "F32", "F16", "I64", "true", "false",
                "null", "mean", "sum", "layers", "optimizer", "epoch", "in_features", "type" }
local NUMBER_TEXT = { "0", "-1", "1", "2", "3", "65536", "4294967296", "9007199254740993",
                      "99999999999999999999", "1e400", "-0", "0.5", "1e-45", "nan", "" }

-- the file at path with 1 or 2 edits: in the JSON header (a number or a
-- word replaced by another, the header's length rewritten to match, so the
-- reader gets past it), a byte of the data flipped, or the file cut short
local function mutate_file (path)
  local f = io.open(path, "rb")
  if not f then return end
  local bytes = f:read("a")
  f:close()
  if #bytes < 8 then return end
  local n = string.unpack("<I8", bytes)
  if n > #bytes - 8 then return end
  local json, data = bytes:sub(9, 8 + n), bytes:sub(9 + n)
  for _ = 1, range(1, 2) do
    local r = unit()
    if r < 0.45 then
      local k, i = rint(20), 0
      json = json:gsub("%-?%d+%.?%d*e?%-?%d*", function (num)
        i = i + 1
        if i % 20 == k % 20 and chance(0.5) then return pick(NUMBER_TEXT) end
        return num
      end)
    elseif r < 0.8 then
      local w = pick(WORDS)
      local count = select(2, json:gsub(w, "%0"))
      if count > 0 then
        local k, i = rint(count), 0
        json = json:gsub(w, function (m) i = i + 1; return i == k and pick(WORDS) or m end)
      end
    elseif r < 0.9 and #data > 0 then
      local at = rint(#data)
      data = data:sub(1, at - 1) .. string.char(rint(256) - 1) .. data:sub(at + 1)
    else
      data = data:sub(1, rint(#data + 1) - 1)
    end
  end
  f = io.open(path, "wb")
  f:write(string.pack("<I8", #json), json, data)
  f:close()
end

-- ---- a Model
def("model", 2, function ()
  local f_in, rows = range(1, 4), chance(0.9) and range(2, 8) or range(0, 1)
  local layers, f = {}, f_in
  for _ = 1, range(chance(0.1) and 0 or 1, 3) do
    local r = rint(6)
    local l
    if r <= 2 then
      local out = range(1, 4)
      l = try("nn.Linear", nn.Linear, f, out, chance(0.5) and { activation = pick({ "relu", "tanh", "linear", "softmax" }) } or nil)
      if l then f = out end
    elseif r == 3 then l = try("nn.BatchNorm1d", nn.BatchNorm1d, f)
    elseif r == 4 then l = try("nn.Dropout", nn.Dropout, unit())
    elseif r == 5 and chance(0.5) then l = lua_layer(f)
    else l = new_layer() end
    if l then layers[#layers + 1] = l end
  end
  if chance(0.1) and #layers > 0 then layers[#layers + 1] = layers[rint(#layers)] end  -- one layer twice
  if chance(0.3) then layers[#layers + 1] = nn.Softmax() end
  local model = try("nn.Sequential", nn.Sequential, layers)
  if not model then return end
  local as_classes = chance(0.5)
  local loss = as_classes and pick({ "categorical_crossentropy", "cross_entropy", "nll" })
                          or pick({ "mse", "mae", "binary_crossentropy", "bce_with_logits" })
  if chance(0.05) then loss = value(0) end
  local optimizer = nn.optim[pick(OPTIMS)]{ lr = 0.01 }
  if chance(0.05) then optimizer = value(0) end
  try("model:set", M("set"), model, { loss = loss, optimizer = optimizer, accuracy = chance(0.5) })
  local x = matrix(rows, chance(0.9) and f_in or range(1, 4))
  local y = as_classes and classes(rows, f) or nn.tensor.rand(rows, f)
  if chance(0.1) then y = value(0) end
  -- aliasing: the data is a parameter of the model it trains, or y is x
  if chance(0.1) then
    local ok, w = pcall(function () return layers[1].weight end)
    if ok and w and w.shape[2] == f_in then x = w end
  end
  if chance(0.05) then y = x end
  -- callbacks that change the model, its data or its layers while it trains
  local meddle = {
    function () x:fill_(0/0) end,
    function () if layers[1] then getmetatable(layers[1]).__gc(layers[1]) end end,
    function () getmetatable(x).__gc(x) end,
    function () model:add(nn.ReLU()) end,
    function () model:set_weights(model:get_weights()) end,
    function () model:set{ optimizer = nn.optim.SGD{ lr = 0.1 } } end,
    function () model:predict(x) end,
    function () model:to("cpu") end,
    function () collectgarbage() end,
    function () error("from a callback") end,
  }
  local function callbacks ()
    if chance(0.7) then return nil end
    local f = pick(meddle)
    if chance(0.5) then return { f } end
    local ok, cb = pcall(nn.callbacks.LambdaCallback,
                         { [pick({ "on_batch_end", "on_epoch_end", "on_batch_begin", "on_train_begin" })] = f })
    return { ok and cb or f }
  end
  for _ = 1, range(1, 3) do
    local r = rint(8)
    if r <= 2 then
      try("model:train", M("train"), model, x, y,
          chance(0.9) and { epochs = range(0, 2),
                            batch_size = chance(0.8) and range(1, 4) or pick({ 0, -1, 2^41, 0.5 }),
                            verbose = 0, shuffle = chance(0.5),
                            validation_split = chance(0.2) and pick({ 0.5, 0, 1, -1, 0/0 }) or nil,
                            validation_data = chance(0.1) and { x, y } or nil,
                            callbacks = callbacks() }
                       or value(0))
    elseif r == 3 then try("model:evaluate", M("evaluate"), model, x, y)
    elseif r == 4 then try("model:predict", M("predict"), model, chance(0.9) and x or value(0))
    elseif r == 5 then try("model:step", M("step"), model, x, y)
    elseif r == 6 then
      try("model:forward", M("forward"), model, x)
      try("model:compute_loss", M("compute_loss"), model, y)
      try("model:backward", M("backward"), model, chance(0.5) and value(0) or nil)
    elseif r == 7 and chance(0.5) then
      -- a checkpoint saved, maybe edited, loaded, used
      -- a bad path is any value but a string: a string would be a file
      -- written where the fuzzer runs
      local path = TMP
      if chance(0.05) then path = value(0); if type(path) == "string" then path = TMP end end
      try("model:save", M("save"), model, path)
      if chance(0.5) then mutate_file(TMP) end
      local m2 = try("nn.load", nn.load, TMP)
      if m2 then
        try("loaded:predict", M("predict"), m2, x)
        try("loaded:train", M("train"), m2, x, y, { epochs = 1, batch_size = range(1, 4), verbose = 0,
                                                     initial_epoch = chance(0.5) and m2.epoch or nil })
        try("loaded:save", M("save"), m2, TMP)
      end
      if chance(0.3) then
        mutate_file(TMP)
        local t, meta = try("safetensors.load", nn.safetensors.load, TMP)
        if t then
          if type(meta) ~= "table" or chance(0.2) then meta = { [pick(STRINGS)] = value(1) } end
          if chance(0.3) then t[pick(STRINGS)] = value(0) end
          try("safetensors.save", nn.safetensors.save, TMP, t, meta)
        end
      end
    elseif r == 7 then
      local w = try("model:get_weights", M("get_weights"), model)
      try("model:set_weights", M("set_weights"), model, chance(0.7) and w or value(0))
    else
      try("model:confusion_matrix", M("confusion_matrix"), model, x, y)
    end
  end
end)

-- ---- the loop
local execs = 0
local t0 = nn.clock()
exec_index = FIRST - 1
while execs < max_execs and nn.clock() < deadline do
  exec_index = exec_index + 1
  reseed(SEED, exec_index)
  if TRACE_EXEC then io.stderr:write("exec ", exec_index, "\n"); io.stderr:flush() end
  nn.manual_seed(exec_index)
  ex = { tensors = {}, layers = {}, losses = {} }
  for i = 1, range(1, 30) do
    call_index = i
    local k = rint(#calls)
    local ok, err = pcall(calls[k])
    if not ok and tostring(err):find("already freed", 1, true) then
      -- the harness touched (outside try) what a "free" call freed: the
      -- library refused it, as it must; the rest of this call is skipped
      n_errors = n_errors + 1
    elseif not ok then
      -- the harness's own code raised outside try(): a fuzzer bug, not a finding
      n_harness = n_harness + 1
      if TRACE or n_harness <= 3 then
        io.stderr:write(("lua_api: harness error in %s: %s\n"):format(names[k], tostring(err)))
      end
    end
  end
  execs = execs + 1
  if execs % 50 == 0 then collectgarbage() end
end
ex = nil
collectgarbage()
os.remove(TMP)
print(("lua_api: seed %d: %d executions, %d calls (%d raised a Lua error, %d unchecked cases) in %.0f s")
      :format(SEED, execs, n_calls, n_errors, n_internal, nn.clock() - t0))
for _, m in ipairs(sorted_keys(internal)) do
  io.stderr:write(("lua_api: unchecked case in the Lua library, from %s: %s\n"):format(internal[m], m))
end
if STATS then
  local messages = STATS.messages or {}
  STATS.messages = nil
  for _, m in ipairs(sorted_keys(messages)) do print(("%6d  %s"):format(messages[m], m)) end
  for _, what in ipairs(sorted_keys(STATS)) do
    local st = STATS[what]
    print(("%-36s %7d ok %7d raised   %s"):format(what, st[1], st[2], st[3]:sub(1, 110)))
  end
end
-- the harness's own mistakes would silently shrink what is fuzzed: fail
if n_harness > 0 then
  io.stderr:write(("lua_api: %d harness errors (a bug in fuzz/lua_api.lua)\n"):format(n_harness))
  os.exit(2)
end
