-- Adversarial arguments for every public function (issue 13, item 16).
--
-- The promise: bad input gives a clear Lua error that names the argument
-- and what was expected, never a crash and never one of Lua's own messages
-- for a bug inside the library.  Each case here calls a public function,
-- by its name (a method call `t:narrow(...)` or a field `nn.F.linear(...)`,
-- so that Lua can name it), with one argument replaced by something bad:
-- nil, a boolean, a string, a table, a function, sizes that are negative,
-- zero, fractional or huge, NaN, +-inf, empty tensors, tensors of the wrong
-- shape, the same tensor twice, a layer's own buffers.  The call must
-- either succeed or raise a string that
--   * is not "attempt to index / compare / perform arithmetic / call /
--     get length / concatenate" (Lua's messages for a library bug), and
--   * does not read "to '?'" (a binding that lost its own name).
-- `make asan` runs this file under ASan+UBSan with the other specs, so a
-- crash or an out-of-bounds access here fails CI as well.
--
-- One `it` per function: a failure lists every call that broke the promise,
-- written out as the call with the bad value in it.

local H = require "spec.helpers"
local TRACE = os.getenv("ADV_TRACE")    -- ADV_TRACE=1: each call on stderr before it runs
local T = nn.tensor

-- --- the bad values --------------------------------------------------------

-- Each is made fresh per call: an op may fill, resize or move its arguments.
local function bad_values ()
  return {
    { "nil",             function () return nil end },
    { "false",           function () return false end },
    { "true",            function () return true end },
    { '"x"',             function () return "/nonexistent-nnlua-adv/x" end },
    { '"3"',             function () return "3" end },
    { "{}",              function () return {} end },
    { "{1, 2}",          function () return { 1, 2 } end },
    { "function",        function () return print end },
    { "0",               function () return 0 end },
    { "-1",              function () return -1 end },
    { "-7",              function () return -7 end },
    { "1.5",             function () return 1.5 end },
    { "math.maxinteger", function () return math.maxinteger end },
    { "math.mininteger", function () return math.mininteger end },
    { "math.huge",       function () return math.huge end },
    { "-math.huge",      function () return -math.huge end },
    { "0/0",             function () return 0 / 0 end },
    { "2^53",            function () return 2 ^ 53 end },
    { "2^63",            function () return 2 ^ 63 end },
    { "zeros(0)",        function () return T.zeros(0) end },
    { "zeros(0, 3)",     function () return T.zeros(0, 3) end },
    { "zeros(3, 0)",     function () return T.zeros(3, 0) end },
    { "0-dim tensor",    function () return T.ones(3):sum(1) end },
    { "randn(1)",        function () return T.randn(1) end },
    { "randn(5, 7)",     function () return T.randn(5, 7) end },
    { "randn(2, 3, 4)",  function () return T.randn(2, 3, 4) end },
    { "narrow view",     function () return T.randn(6, 4):narrow(1, 2, 3) end },
    { "a layer",         function () return nn.ReLU() end },
    { "a loss",          function () return nn.MSELoss() end },
  }
end
local BAD = bad_values()

-- "3" is a path a save would write into the current directory: functions
-- that write files get every bad value but that one.
local function without_numeric_string ()
  local out = {}
  for _, b in ipairs(BAD) do
    if b[1] ~= '"3"' then out[#out + 1] = b end
  end
  return out
end

-- --- the checker -----------------------------------------------------------

local LUA_BUG = {
  "attempt to index", "attempt to compare", "attempt to perform arithmetic",
  "attempt to call", "attempt to get length", "attempt to concatenate",
}

--- nil when (ok, err) keeps the promise, else what is wrong.
local function judge (ok, err)
  if ok then return nil end
  if type(err) ~= "string" then return "raised a " .. type(err) .. ", not a message" end
  for _, b in ipairs(LUA_BUG) do
    if err:find(b, 1, true) then return err end
  end
  if err:find("to '?'", 1, true) then return "no function name: " .. err end
  if err == "" then return "an empty message" end
  return nil
end

-- A caller that calls `prefix .. name` by name: `self:name(...)` for a
-- method, `nn.F.name(...)` for a field.  Never a tail call (a tail call
-- loses the name Lua reports).
local function caller (expr)
  local src = ("local nn = ...; return function (self, ...) "
               .. "local r = table.pack(%s(...)); return r end"):format(expr)
  return assert(load(src, "=adversarial", "t"))(nn)
end
-- a method named by a Lua keyword (t["repeat"]) cannot be called as self:repeat()
local KEYWORDS = { ["repeat"] = true }
local function method (name)
  if KEYWORDS[name] then
    local src = ("local nn = ...; return function (self, ...) "
                 .. "local r = table.pack(self[%q](self, ...)); return r end"):format(name)
    return assert(load(src, "=adversarial", "t"))(nn)
  end
  return caller("self:" .. name)
end
local function field (path) return caller(path) end

local function show (labels, n)
  local parts = {}
  for i = 1, n do parts[i] = labels[i] or "nil" end
  return table.concat(parts, ", ")
end

--- Call f(self(), args...) with each position 1..npos replaced by each bad
-- value (the other positions keep their good values), plus self itself
-- replaced by each bad value when `self_bad` is a function to call instead.
-- Returns the list of broken promises.
local function probe (spec)
  local problems = {}
  local f = spec.call
  local good = spec.args or {}
  local npos = spec.npos or math.min(#good + 1, 5)
  local bads = spec.bad or BAD
  local function run (label, self, args, n)
    if TRACE then io.stderr:write(label, "\n") end
    local ok, err = pcall(f, self, table.unpack(args, 1, n))
    local why = judge(ok, err)
    if why then problems[#problems + 1] = label .. ": " .. why end
    if spec.after then spec.after() end
  end
  local function fresh_args ()
    local a, labels = {}, {}
    for i, g in ipairs(good) do
      if type(g) == "function" then a[i] = g() else a[i] = g end
      labels[i] = type(g) == "function" and "<good>" or tostring(g)
    end
    return a, labels
  end
  for pos = 1, npos do
    for _, b in ipairs(bads) do
      local a, labels = fresh_args()
      a[pos] = b[2]()
      labels[pos] = "<" .. b[1] .. ">"
      local self = spec.self and spec.self() or nil
      run(("%s(%s)"):format(spec.name, show(labels, math.max(#good, pos))),
          self, a, math.max(#good, pos))
    end
  end
  for _, s in ipairs(spec.selves or {}) do        -- other receivers: empty, views
    local a, labels = fresh_args()
    run(("%s(%s) on %s"):format(spec.name, show(labels, #good), s[1]), s[2](), a, #good)
  end
  return problems
end

local function assert_none (problems)
  if #problems > 0 then
    local shown = {}
    for i = 1, math.min(#problems, 40) do shown[i] = problems[i] end
    error(("%d call(s) broke the promise:\n  %s"):format(#problems,
          table.concat(shown, "\n  ")), 2)
  end
end

local function keys_of (t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function r34 () return T.randn(3, 4) end

-- Receivers every tensor method is also called on.
local SELVES = {
  { "zeros(0)", function () return T.zeros(0) end },
  { "zeros(0, 3)", function () return T.zeros(0, 3) end },
  { "a 0-dim tensor", function () return T.ones(3):sum(1) end },
  { "a narrow view", function () return T.randn(6, 4):narrow(1, 2, 3) end },
  { "randn(2, 3, 4)", function () return T.randn(2, 3, 4) end },
}

-- --- tensors ---------------------------------------------------------------

-- Good arguments of each tensor method (after self); a method not listed
-- is probed with positions 1 to 3 and no good arguments.
local TENSOR_ARGS = {
  add = { r34 }, sub = { r34 }, mul = { r34 }, div = { r34 },
  add_ = { r34 }, sub_ = { r34 }, mul_ = { r34 }, div_ = { r34 },
  argmax = { 2 }, argmin = { 2 },
  clamp = { 0, 1 }, clamp_ = { 0, 1 },
  copy = { r34 }, copy_ = { r34 },
  fill_ = { 1 },
  get = { 1, 1 }, set = { 1, 1, 5 },
  index_select = { function () return T{ 1, 3 } end },
  matmul = { function () return T.randn(4, 2) end, false, false },
  mm = { r34, function () return T.randn(4, 4) end, false, false },
  max = { 2, false }, min = { 2, false }, sum = { 2, false }, mean = { 2, false },
  std = { 2, false }, var = { 2, false },
  narrow = { 1, 1, 2 }, slice = { 1, 2 },
  pow = { 2 }, pow_ = { 2 },
  reshape = { 4, 3 }, view = { 4, 3 },
  size = { 1 },
  to = { "cpu" },
  -- issue 14's ops: valid arguments for a (3x4) self, so that each position
  -- is probed with bad values while the others are good
  eq = { r34 }, ne = { r34 }, lt = { r34 }, le = { r34 }, gt = { 0 }, ge = { 0 },
  maximum = { r34 }, minimum = { r34 }, floor_divide = { r34 }, remainder = { r34 },
  floor_divide_ = { r34 }, remainder_ = { r34 },
  where = { r34, r34 }, masked_fill = { r34, 0 }, masked_fill_ = { r34, 0 },
  any = { 2 }, all = { 2 }, sum_to_size = { 1, 4 },
  norm = { 2, 2 }, prod = { 2 }, cumsum = { 2 }, logsumexp = { 2 },
  softmax = { 2 }, log_softmax = { 2 },
  gather = { 2, function () return T({{1, 2, 3, 4}, {4, 3, 2, 1}, {1, 1, 1, 1}}, {dtype = "int32"}) end },
  scatter_add = { 2, function () return T({{1, 2, 3, 4}, {4, 3, 2, 1}, {1, 1, 1, 1}}, {dtype = "int32"}) end, r34 },
  index_add = { 2, function () return T({4, 1}, {dtype = "int32"}) end, function () return T.randn(3, 2) end },
  sort = { 2, true }, topk = { 2, 2 },
  transpose = { 1, 2 }, permute = { 2, 1 }, unsqueeze = { 1 }, squeeze = { 1 },
  flatten = { 1, 2 }, expand = { 2, 3, 4 }, broadcast_to = { {2, 3, 4} }, tile = { 1, 2 },
  ["repeat"] = { 1, 2 }, select = { 1, 2 }, split = { 2, 1 }, chunk = { 2, 1 },
  tril = { 0 }, triu = { 0 },
}

describe("adversarial: tensor methods", function()
  local methods = getmetatable(T.zeros(1)).methods
  for _, name in ipairs(keys_of(methods)) do
    it("t:" .. name, function()
      local args = TENSOR_ARGS[name] or {}
      -- t:show() and t:hist() print what they draw: silenced while probed
      local quiet, saved = name == "show" or name == "hist", _G.print
      if quiet then _G.print = function () end end
      local _ <close> = setmetatable({}, { __close = function () _G.print = saved end })
      assert_none(probe {
        name = "t:" .. name, call = method(name), self = r34,
        args = args, npos = TENSOR_ARGS[name] and nil or 3, selves = SELVES,
        bad = name == "save_image" and without_numeric_string() or nil,   -- it writes files
      })
      if type(nn[name]) == "function" then   -- the same function as nn.name(t, ...): a bad self
        assert_none(probe {
          name = "nn." .. name, call = field(("nn[%q]"):format(name)),   -- nn["repeat"] parses
          args = { r34, table.unpack(args) }, npos = 1,
        })
      end
    end)
  end

  it("metamethods: + - * / unary - # tostring", function()
    local problems = {}
    local ops = {
      { "+", function (a, b) return a + b end }, { "-", function (a, b) return a - b end },
      { "*", function (a, b) return a * b end }, { "/", function (a, b) return a / b end },
    }
    for _, op in ipairs(ops) do
      for _, b in ipairs(BAD) do
        for _, order in ipairs { "t op bad", "bad op t" } do
          local t, v = r34(), b[2]()
          -- a string on the left goes to the string library's own arithmetic,
          -- which calls our __add from C: Lua cannot name it there.
          if v ~= nil and not (type(v) == "string" and order == "bad op t") then
            local ok, err = pcall(op[2], order == "t op bad" and t or v, order == "t op bad" and v or t)
            local why = judge(ok, err)
            -- Lua's own "attempt to perform arithmetic on a nil value" is
            -- right when neither operand is a tensor; here one always is.
            if why then problems[#problems + 1] = ("%s with %s: %s"):format(order:gsub("op", op[1]), b[1], why) end
          end
        end
      end
    end
    for _, s in ipairs(SELVES) do
      local t = s[2]()
      for _, f in ipairs { function () return -t end, function () return #t end,
                           function () return tostring(t) end } do
        local ok, err = pcall(f)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = s[1] .. ": " .. why end
      end
    end
    assert_none(problems)
  end)

  it("fields of a tensor cannot be broken by assignment", function()
    local problems = {}
    for _, k in ipairs { "shape", "ndim", "device", "dtype", "data" } do
      for _, b in ipairs(BAD) do
        local t = r34()
        -- a tensor has no __newindex: Lua's own "attempt to index a
        -- nn.Tensor value" at the caller's line is the right message
        local ok, err = pcall(function () t[k] = b[2]() end)
        local why = judge(ok, err)
        if why and not why:find("attempt to index a nn.Tensor value", 1, true) then
          problems[#problems + 1] = ("t.%s = %s: %s"):format(k, b[1], why)
        end
        ok, err = pcall(function () return t:sum(1):sum(1):item() end)
        why = judge(ok, err)
        if why then problems[#problems + 1] = ("after t.%s = %s: %s"):format(k, b[1], why) end
      end
    end
    assert_none(problems)
  end)
end)

describe("adversarial: tensor constructors", function()
  local ARGS = {
    zeros = { 2, 3 }, ones = { 2, 3 }, rand = { 2, 3 }, randn = { 2, 3 },
    full = { 2, 3, 1.5 }, arange = { 1, 5, 1 },
    from_table = { function () return { { 1, 2 }, { 3, 4 } } end },
  }
  for _, name in ipairs(keys_of(T)) do
    if type(T[name]) == "function" then
      it("nn.tensor." .. name, function()
        assert_none(probe { name = "nn.tensor." .. name, call = field("nn.tensor." .. name),
                            args = ARGS[name] or {}, npos = 3 })
      end)
    end
  end

  it("nn.tensor{...} of ragged, nested-bad and huge tables", function()
    local problems = {}
    local cases = {
      { "{{1, 2}, {3}}", { { 1, 2 }, { 3 } } }, { "{{1}, 2}", { { 1 }, 2 } },
      { "{1, {2}}", { 1, { 2 } } }, { '{"a"}', { "a" } }, { "{{}}", { {} } },
      { "{true}", { true } }, { "{nil, 1}", { nil, 1 } }, { "{0/0, math.huge}", { 0 / 0, math.huge } },
      { "{1e39}", { 1e39 } }, { "{x = 1}", { x = 1 } }, { "nine deep", { { { { { { { { { 1 } } } } } } } } } },
      { "{{{}}}", { { {} } } }, { "{print}", { print } },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(function () local r = T(c[2]); return r end)
      local why = judge(ok, err)
      if why then problems[#problems + 1] = "nn.tensor(" .. c[1] .. "): " .. why end
    end
    assert_none(problems)
  end)
end)

-- --- nn.* functions that are not tensor methods -----------------------------

-- These change global state or stop the program: probed elsewhere or not at all.
local NN_SKIP = {
  interrupt = true, defer_interrupts = true,    -- the Ctrl-C machinery of the host
}
local NN_ARGS = {
  manual_seed = { 1 }, set_rng_state = { 1, 0 }, randperm = { 5 },
  index_select = { r34, function () return T{ 1, 2 } end },
  set_default_device = { "cpu" },
  json_encode = { function () return { a = 1 } end }, json_decode = { '{"a": 1}' },
  repr = { r34 }, gradcheck = { function () return nn.Linear(3, 2) end,
                                function () return T.randn(2, 3) end },
  philox = { 1, 0, 4 },
}
-- Functions that may write the path they are given.
local WRITES = { image_save_pgm = true, safetensors_save = true, onnx_write = true }

describe("adversarial: nn.* functions", function()
  for _, name in ipairs(keys_of(nn)) do
    local v = nn[name]
    local methods = getmetatable(T.zeros(1)).methods
    if type(v) == "function" and not NN_SKIP[name] and not methods[name]
       and not nn.layer_types[name] and not nn.loss_types[name] then
      it("nn." .. name, function()
        assert_none(probe {
          name = "nn." .. name, call = field(("nn[%q]"):format(name)),   -- nn["repeat"] parses args = NN_ARGS[name] or {},
          npos = 3, bad = WRITES[name] and without_numeric_string() or nil,
          after = function () nn.set_default_device("cpu") end,
        })
      end)
    end
  end

  for _, lib in ipairs { "json", "image", "safetensors", "cuda", "datasets" } do
    for _, name in ipairs(keys_of(nn[lib])) do
      if type(nn[lib][name]) == "function" then
        it(("nn.%s.%s"):format(lib, name), function()
          assert_none(probe {
            name = ("nn.%s.%s"):format(lib, name), call = field(("nn.%s.%s"):format(lib, name)),
            npos = 3, bad = name:find("save") and without_numeric_string() or nil,
          })
        end)
      end
    end
  end
end)

-- --- nn.functional ---------------------------------------------------------

local function r23 () return T.randn(2, 3) end
local function probs23 () return T.rand(2, 3):clamp(0.05, 0.95) end
local function cls2 () return T{ 1, 3 } end
local F_ARGS = {
  linear = { r23, function () return T.randn(4, 3) end, function () return T.randn(4) end, "relu" },
  linear_backward = { function () return T.randn(2, 4) end, r23, function () return T.randn(4, 3) end },
  activation = { r23, "relu" }, activation_backward = { r23, r23, "relu" },
  relu = { r23 }, sigmoid = { r23 }, tanh = { r23 }, softmax = { r23 }, log_softmax = { r23 },
  leaky_relu = { r23, 0.1 }, leaky_relu_backward = { r23, r23, 0.1 },
  dropout = { r23, 0.5 }, dropout_backward = { r23, r23 },
  batch_norm = { r23, function () return T.zeros(3) end, function () return T.ones(3) end },
  batch_norm_backward = { r23, r23, function () return T.zeros(3) end, function () return T.ones(3) end },
  add = { r23, r23 }, add_backward = { r23, r23, r23 },
  concat = { function () return { r23(), r23() } end, 2 },
  concat_backward = { function () return T.randn(2, 6) end, function () return { r23(), r23() } end, 2 },
  mse_loss = { r23, r23 }, mse_loss_backward = { r23, r23 },
  l1_loss = { r23, r23 }, l1_loss_backward = { r23, r23 },
  bce_loss = { probs23, probs23 }, bce_loss_backward = { probs23, probs23 },
  bce_with_logits_loss = { r23, probs23 }, bce_with_logits_loss_backward = { r23, probs23 },
  cross_entropy = { r23, cls2 }, cross_entropy_backward = { r23, cls2 },
  nll_loss = { r23, cls2 }, nll_loss_backward = { r23, cls2 },
  categorical_crossentropy = { probs23, probs23 }, categorical_crossentropy_backward = { probs23, probs23 },
  softmax_cross_entropy_backward = { probs23, cls2 },
  conv2d = { function () return T.randn(2, 2, 4, 4) end, function () return T.randn(3, 2, 3, 3) end,
             function () return T.randn(3) end, function () return { padding = 1 } end },
  conv2d_backward = { function () return T.randn(2, 3, 4, 4) end, function () return T.randn(2, 2, 4, 4) end,
                      function () return T.randn(3, 2, 3, 3) end, function () return { padding = 1 } end },
  max_pool2d = { function () return T.randn(1, 2, 4, 4) end, 2 },
  max_pool2d_backward = { function () return T.randn(1, 2, 2, 2) end, function () return T.randn(1, 2, 4, 4) end,
                          function () return T.ones(1, 2, 2, 2):int() end, 2 },
  avg_pool2d = { function () return T.randn(1, 2, 4, 4) end, 2 },
  avg_pool2d_backward = { function () return T.randn(1, 2, 2, 2) end, function () return T.randn(1, 2, 4, 4) end, 2 },
  adaptive_avg_pool2d = { function () return T.randn(1, 2, 4, 4) end, 2 },
  adaptive_avg_pool2d_backward = { function () return T.randn(1, 2, 2, 2) end, function () return T.randn(1, 2, 4, 4) end },
  dropout2d = { function () return T.randn(1, 2, 4, 4) end, 0.5 },
  dropout2d_backward = { function () return T.randn(1, 2, 4, 4) end, function () return T.ones(1, 2, 1, 1) end },
}

describe("adversarial: nn.functional", function()
  for _, name in ipairs(keys_of(nn.F)) do
    it("nn.F." .. name, function()
      local args = F_ARGS[name] or {}
      assert_none(probe { name = "nn.F." .. name, call = field("nn.F." .. name),
                          args = args, npos = math.min(#args + 2, 5) })
    end)
  end

  it("nn.F with one tensor as several arguments", function()
    local problems = {}
    for _, name in ipairs(keys_of(nn.F)) do
      local n = #(F_ARGS[name] or {})
      for k = 1, math.max(n, 2) do
        local x = T.randn(3, 3)
        local a = {}
        for i = 1, math.max(n, 2) do a[i] = x end
        if name:find("concat") then a[1] = { x, x }; if name == "concat_backward" then a[2] = { x, x } end end
        if F_ARGS[name] then
          for i, g in ipairs(F_ARGS[name]) do
            if type(g) == "string" or type(g) == "number" then a[i] = g end
          end
        end
        local ok, err = pcall(field("nn.F." .. name), nil, table.unpack(a, 1, k))
        local why = judge(ok, err)
        if why then problems[#problems + 1] = ("nn.F.%s(x x%d): %s"):format(name, k, why) end
      end
    end
    assert_none(problems)
  end)
end)

-- --- layers ----------------------------------------------------------------

-- Good constructor arguments and a good input of each layer type.
local LAYER = {
  Linear = { args = { 3, 2 }, x = { r23 } },
  BatchNorm1d = { args = { 3 }, x = { r23 } },
  BatchNorm2d = { args = { 3 }, x = { function () return T.randn(2, 3, 2, 2) end } },
  Concat = { args = { 2 }, x = { r23, r23 } },
  Add = { args = {}, x = { r23, r23 } },
  Conv2d = { args = { 2, 2, 3 }, x = { function () return T.randn(2, 2, 4, 4) end } },
  MaxPool2d = { args = { 2 }, x = { function () return T.randn(2, 3, 4, 4) end } },
  AvgPool2d = { args = { 2 }, x = { function () return T.randn(2, 3, 4, 4) end } },
  AdaptiveAvgPool2d = { args = { 2 }, x = { function () return T.randn(2, 3, 4, 4) end } },
  Dropout2d = { args = {}, x = { function () return T.randn(2, 3, 4, 4) end } },
}

describe("adversarial: layers", function()
  for _, name in ipairs(keys_of(nn.module_types)) do
    local desc = nn.module_types[name]
    local info = LAYER[name] or { args = {}, x = { r23 } }
    local function make () return nn[name](table.unpack(info.args)) end

    it("nn." .. name .. "(...)", function()
      assert_none(probe { name = "nn." .. name, call = field("nn." .. name),
                          args = info.args, npos = #info.args + 2 })
      -- every option, by name, set to every bad value
      for _, opt in ipairs(desc.options) do
        local problems = {}
        for _, b in ipairs(BAD) do
          local opts = {}
          opts[opt.name] = b[2]()
          local args = { table.unpack(info.args) }
          if opt.positional then args[opt.positional] = b[2]() end
          local ctor = field("nn." .. name)
          local ok, err = pcall(ctor, nil, opts)      -- a config table, as nn[cfg.type](cfg)
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.%s{%s = %s}: %s"):format(name, opt.name, b[1], why) end
          local t = {}
          for i, a in ipairs(info.args) do t[i] = a end
          t[#t + 1] = opts
          ok, err = pcall(ctor, nil, table.unpack(t))
          why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.%s(..., {%s = %s}): %s"):format(name, opt.name, b[1], why) end
        end
        assert_none(problems)
      end
    end)

    if name == "BatchNorm1d" then
      it("an option of the wrong type says 'an integer', in English", function()
        H.assert_error_has(function () return nn.BatchNorm1d{ num_features = true } end,
                           { "bad argument #1 to 'BatchNorm1d'", "num_features must be an integer, got boolean" })
      end)
    end

    it(name .. ":forward and :backward", function()
      local nx = #info.x
      local fwd = {}
      for i = 1, nx do fwd[i] = info.x[i] end
      assert_none(probe { name = name .. ":forward", call = method("forward"), self = make,
                          args = fwd, npos = nx + 2 })
      -- backward: before any forward, and with a bad grad after a good one
      local function fed ()
        local l = make()
        local xs = {}
        for i = 1, nx do xs[i] = info.x[i]() end
        l:forward(table.unpack(xs))
        return l
      end
      assert_none(probe { name = name .. ":backward (fresh)", call = method("backward"),
                          self = make, args = { function () return T.randn(2, 2) end }, npos = 2 })
      assert_none(probe { name = name .. ":backward", call = method("backward"), self = fed,
                          args = {}, npos = 2 })
    end)

    it(name .. ": other methods and fields", function()
      local problems = {}
      for _, m in ipairs { "output_shape", "to", "buffers", "parameters", "train",
                           "evaluate", "eval", "zero_grad", "config" } do
        local p = probe { name = name .. ":" .. m, call = method(m), self = make,
                          args = {}, npos = 2 }
        for _, x in ipairs(p) do problems[#problems + 1] = x end
      end
      -- assignment to every field, then a forward and backward that still behave
      local fields = { "output", "grad_input", "training", "weight", "bias", "grad_weight",
                       "grad_bias", "running_mean", "running_var", "mask", "device", "nonsense" }
      for _, o in ipairs(desc.options) do fields[#fields + 1] = o.name end
      for _, k in ipairs(fields) do
        for _, b in ipairs(BAD) do
          local l = make()
          local ok, err = pcall(function () l[k] = b[2]() end)
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("l.%s = %s: %s"):format(k, b[1], why) end
          ok, err = pcall(function ()
            local xs = {}
            for i = 1, #info.x do xs[i] = info.x[i]() end
            local y = l:forward(table.unpack(xs))
            l:backward(T.ones(table.unpack(y.shape)))
          end)
          why = judge(ok, err)
          if why then problems[#problems + 1] = ("after l.%s = %s, a pass: %s"):format(k, b[1], why) end
        end
      end
      assert_none(problems)
    end)

    it(name .. ": its own buffers as its input", function()
      local problems = {}
      local l = make()
      local xs = {}
      for i = 1, #info.x do xs[i] = info.x[i]() end
      local function try (what, f)
        local ok, err = pcall(f)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = what .. ": " .. why end
      end
      try("first forward", function () l:forward(table.unpack(xs)) end)
      for _, k in ipairs { "output", "grad_input", "weight", "bias", "grad_weight", "running_mean" } do
        try("forward(l." .. k .. ")", function ()
          local v = l[k]
          if v == nil then return end
          local a = {}
          for i = 1, #info.x do a[i] = v end
          l:forward(table.unpack(a))
        end)
        try("backward(l." .. k .. ")", function ()
          local v = l[k]
          if v ~= nil then l:backward(v) end
        end)
        try("forward(x) then backward(l." .. k .. ")", function ()
          l:forward(table.unpack(xs))
          local v = l[k]
          if v ~= nil then l:backward(v) end
        end)
      end
      -- two layers sharing one tensor as input and grad
      try("forward(x, x)", function () local x = info.x[1](); l:forward(x, x) end)
      assert_none(problems)
    end)
  end
end)

-- --- losses ----------------------------------------------------------------

local LOSS_TARGET = {
  CrossEntropyLoss = cls2, NLLLoss = cls2, BCELoss = probs23,
  BCEWithLogitsLoss = probs23, CategoricalCrossentropy = probs23,
}
local LOSS_INPUT = { BCELoss = probs23, CategoricalCrossentropy = probs23 }

describe("adversarial: losses", function()
  for _, name in ipairs(keys_of(nn.loss_types)) do
    local x = LOSS_INPUT[name] or r23
    local t = LOSS_TARGET[name] or r23
    it("nn." .. name .. "(...)", function()
      assert_none(probe { name = "nn." .. name, call = field("nn." .. name), args = {}, npos = 2 })
      local problems = {}
      for _, k in ipairs { "reduction", "eps", "nonsense" } do
        for _, b in ipairs(BAD) do
          local ok, err = pcall(field("nn." .. name), nil, { [k] = b[2]() })
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.%s{%s = %s}: %s"):format(name, k, b[1], why) end
        end
      end
      assert_none(problems)
    end)

    it(name .. ":forward, :backward and fields", function()
      local function make () return nn[name]() end
      assert_none(probe { name = name .. ":forward", call = method("forward"), self = make,
                          args = { x, t }, npos = 3 })
      assert_none(probe { name = name .. ":backward (fresh)", call = method("backward"), self = make,
                          args = {}, npos = 3 })
      assert_none(probe { name = name .. ":backward", call = method("backward"), self = make,
                          args = { x, t }, npos = 3 })
      assert_none(probe { name = name .. ":config", call = method("config"), self = make, args = {}, npos = 1 })
      local problems = {}
      for _, k in ipairs { "reduction", "grad_input", "takes", "eps", "nonsense" } do
        for _, b in ipairs(BAD) do
          local c = make()
          local ok, err = pcall(function () c[k] = b[2]() end)
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("c.%s = %s: %s"):format(k, b[1], why) end
          ok, err = pcall(function () c:forward(x(), t()); c:backward() end)
          why = judge(ok, err)
          if why then problems[#problems + 1] = ("after c.%s = %s, a pass: %s"):format(k, b[1], why) end
        end
      end
      -- the same tensor as input and target, and the loss's own gradient as either
      local c = make()
      for _, f in ipairs {
        function () local v = x(); return c:forward(v, v) end,
        function () c:forward(x(), t()); return c:forward(c.grad_input, t()) end,
        function () c:forward(x(), t()); c:backward(); return c:backward(c.grad_input, c.grad_input) end,
      } do
        local ok, err = pcall(f)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = name .. " aliasing: " .. why end
      end
      assert_none(problems)
    end)
  end
end)

-- --- optimizers and schedulers ----------------------------------------------

describe("adversarial: nn.optim", function()
  local OPTS = { "SGD", "Adagrad", "RMSprop", "Adam", "AdamW" }
  local FIELDS = { "lr", "momentum", "nesterov", "dampening", "weight_decay", "decay", "alpha",
                   "centered", "betas", "eps", "amsgrad", "nonsense" }
  for _, name in ipairs(OPTS) do
    it("nn.optim." .. name, function()
      local problems = {}
      local p = probe { name = "nn.optim." .. name, call = field("nn.optim." .. name), args = {}, npos = 2 }
      for _, x in ipairs(p) do problems[#problems + 1] = x end
      for _, k in ipairs(FIELDS) do
        for _, b in ipairs(BAD) do
          local ok, err = pcall(field("nn.optim." .. name), nil, { [k] = b[2]() })
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.optim.%s{%s = %s}: %s"):format(name, k, b[1], why) end
        end
      end
      local function make () return nn.optim[name]{ lr = 0.01 } end
      local function params () return { T.randn(3, 2), T.randn(2) } end
      for _, x in ipairs(probe { name = "opt:step", call = method("step"), self = make,
                                 args = { params, params }, npos = 3 }) do
        problems[#problems + 1] = x
      end
      for _, m in ipairs { "load_state_dict", "to", "state_dict", "config", "get_lr", "reset" } do
        for _, x in ipairs(probe { name = "opt:" .. m, call = method(m), self = make, args = {}, npos = 2 }) do
          problems[#problems + 1] = x
        end
      end
      -- lists of different lengths, shapes that differ, one tensor as param and grad
      local o = make()
      for _, f in ipairs {
        function () o:step({ T.randn(3) }, {}) end,
        function () o:step({ T.randn(3) }, { T.randn(4) }) end,
        function () local w = T.randn(3); o:step({ w }, { w }) end,
        function () local w = T.randn(3); o:step({ w, w }, { T.randn(3), T.randn(3) }) end,
        function () o:step({ T.randn(3) }, { T.randn(3) }); o:step({ T.randn(4) }, { T.randn(4) }) end,
        function () o:step({ T.zeros(0) }, { T.zeros(0) }) end,
      } do
        local ok, err = pcall(f)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = "opt:step, odd lists: " .. why end
      end
      -- fields set to bad values, then a step
      for _, k in ipairs(FIELDS) do
        for _, b in ipairs(BAD) do
          local opt = make()
          local ok, err = pcall(function () opt[k] = b[2]() end)
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("opt.%s = %s: %s"):format(k, b[1], why) end
          ok, err = pcall(function () opt:step({ T.randn(3) }, { T.randn(3) }) end)
          why = judge(ok, err)
          if why then problems[#problems + 1] = ("after opt.%s = %s, a step: %s"):format(k, b[1], why) end
        end
      end
      assert_none(problems)
    end)
  end

  for _, name in ipairs { "StepLR", "ExponentialLR", "CosineAnnealingLR" } do
    it("nn.optim." .. name, function()
      local problems = {}
      local function opt () return nn.optim.SGD{ lr = 0.1 } end
      local good = { StepLR = { step_size = 2, gamma = 0.5 }, ExponentialLR = { gamma = 0.9 },
                     CosineAnnealingLR = { T_max = 10, eta_min = 0 } }
      for _, x in ipairs(probe { name = "nn.optim." .. name, call = field("nn.optim." .. name),
                                 args = { opt, function () return good[name] end }, npos = 3 }) do
        problems[#problems + 1] = x
      end
      for k in pairs(good[name]) do
        for _, b in ipairs(BAD) do
          local o = {}
          for kk, vv in pairs(good[name]) do o[kk] = vv end
          o[k] = b[2]()
          local ctor = field("nn.optim." .. name)
          local ok, err = pcall(function ()
            local s = ctor(nil, opt(), o)[1]
            for _ = 1, 3 do s:step() end
          end)
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.optim.%s(opt, {%s = %s}): %s"):format(name, k, b[1], why) end
        end
      end
      local function sched () return nn.optim[name](opt(), good[name]) end
      for _, m in ipairs { "step", "state_dict", "load_state_dict", "get_lr", "config" } do
        local s = sched()
        if type(s[m]) == "function" then
          for _, x in ipairs(probe { name = "sched:" .. m, call = method(m), self = sched, args = {}, npos = 2 }) do
            problems[#problems + 1] = x
          end
        end
      end
      assert_none(problems)
    end)
  end

  it("nn.optim.from_config, scheduler_from_config, is_optimizer", function()
    local problems = {}
    for _, n in ipairs { "from_config", "scheduler_from_config", "is_optimizer" } do
      for _, x in ipairs(probe { name = "nn.optim." .. n, call = field("nn.optim." .. n), args = {}, npos = 3 }) do
        problems[#problems + 1] = x
      end
    end
    assert_none(problems)
  end)
end)

-- --- data, metrics, callbacks -------------------------------------------------

describe("adversarial: nn.data", function()
  local function x10 () return T.randn(10, 3) end
  local function y10 () return T.arange(1, 11):clamp(1, 3) end
  local ARGS = {
    DataLoader = { x10, y10, function () return { batch_size = 4 } end },
    one_hot = { function () return T{ 1, 2, 3 } end, 3 },
    normalize = { x10, 0.5, 0.25 },
    split = { x10, y10, 0.2 },
    load_idx = { "/nonexistent-nnlua-adv/file.idx" },
  }
  for _, name in ipairs(keys_of(nn.data)) do
    it("nn.data." .. name, function()
      assert_none(probe { name = "nn.data." .. name, call = field("nn.data." .. name),
                          args = ARGS[name] or {}, npos = math.max(#(ARGS[name] or {}) + 1, 3) })
    end)
  end

  it("DataLoader options and iteration", function()
    local problems = {}
    for _, k in ipairs { "batch_size", "shuffle", "drop_last", "nonsense" } do
      for _, b in ipairs(BAD) do
        local ok, err = pcall(function ()
          local dl = nn.data.DataLoader(x10(), y10(), { [k] = b[2]() })
          for xb, yb in dl:iter() do local _ = xb, yb end
        end)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = ("DataLoader(x, y, {%s = %s}): %s"):format(k, b[1], why) end
      end
    end
    for _, f in ipairs {
      function () local x = x10(); for _ in nn.data.DataLoader(x, x):iter() do end end,
      function () for _ in nn.data.DataLoader(T.zeros(0, 3), T.zeros(0)):iter() do end end,
      function () for _ in nn.data.DataLoader(x10(), T.zeros(9)):iter() do end end,
    } do
      local ok, err = pcall(f)
      local why = judge(ok, err)
      if why then problems[#problems + 1] = "DataLoader, odd data: " .. why end
    end
    assert_none(problems)
  end)
end)

describe("adversarial: nn.metrics", function()
  it("nn.metrics.get and the metrics it returns", function()
    local problems = {}
    for _, x in ipairs(probe { name = "nn.metrics.get", call = field("nn.metrics.get"), args = {}, npos = 2 }) do
      problems[#problems + 1] = x
    end
    for _, x in ipairs(probe { name = "nn.metrics.confusion_matrix", call = field("nn.metrics.confusion_matrix"),
                               args = { r23, cls2 }, npos = 3 }) do
      problems[#problems + 1] = x
    end
    for _, m in ipairs { "accuracy", "categorical_accuracy", "binary_accuracy" } do
      local metric = nn.metrics.get(m)
      local f = type(metric) == "table" and function (_, ...) return metric(...) end or function (_, ...) return metric(...) end
      if type(metric) == "table" and type(metric.update) == "function" then
        f = function (_, ...) return metric:update(...) end
      end
      for _, x in ipairs(probe { name = m, call = f, args = { r23, cls2 }, npos = 2 }) do
        problems[#problems + 1] = x
      end
    end
    for _, b in ipairs(BAD) do
      local ok, err = pcall(function () return nn.metrics.get{ name = "regression_accuracy", tolerance = b[2]() } end)
      local why = judge(ok, err)
      if why then problems[#problems + 1] = ("regression_accuracy tolerance = %s: %s"):format(b[1], why) end
    end
    assert_none(problems)
  end)
end)

describe("adversarial: nn.callbacks", function()
  local FIELDS = { "monitor", "patience", "min_delta", "restore_best_weights", "path",
                   "save_best_only", "on_epoch_end", "on_batch_end", "nonsense" }
  for _, name in ipairs(keys_of(nn.callbacks)) do
    it("nn.callbacks." .. name, function()
      local problems = {}
      for _, x in ipairs(probe { name = "nn.callbacks." .. name, call = field("nn.callbacks." .. name),
                                 args = {}, npos = 2, bad = without_numeric_string() }) do
        problems[#problems + 1] = x
      end
      for _, k in ipairs(FIELDS) do
        for _, b in ipairs(without_numeric_string()) do
          local ok, err = pcall(field("nn.callbacks." .. name), nil, { [k] = b[2]() })
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("nn.callbacks.%s{%s = %s}: %s"):format(name, k, b[1], why) end
        end
      end
      assert_none(problems)
    end)
  end
end)

-- --- models ------------------------------------------------------------------

describe("adversarial: models", function()
  local function model ()
    local m = nn.Sequential{ nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3), nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.01 }, accuracy = true }
    return m
  end
  local function x8 () return T.randn(8, 3) end
  local function y8 () return T{ 1, 2, 3, 1, 2, 3, 1, 2 } end
  local ARGS = {
    add = { function () return nn.Linear(3, 3) end },
    set = { function () return { loss = "mse" } end }, compile = { function () return { loss = "mse" } end },
    forward = { x8 }, predict = { x8 }, evaluate = { x8, y8 }, step = { x8, y8 },
    train = { x8, y8, function () return { epochs = 1, verbose = 0 } end },
    fit = { x8, y8, function () return { epochs = 1, verbose = 0 } end },
    confusion_matrix = { x8, y8 }, to = { "cpu" }, set_training = { true },
    compute_loss = { y8 }, backward = {}, set_weights = {},
  }
  local SKIP = { new = true, summary = true, save = true, load = true }
  for _, name in ipairs(keys_of(nn.Model)) do
    if type(nn.Model[name]) == "function" and not name:find("^_") and not SKIP[name] then
      it("model:" .. name, function()
        local args = ARGS[name] or {}
        assert_none(probe { name = "model:" .. name, call = method(name), self = model,
                            args = args, npos = math.max(#args + 1, 2),
                            -- export_onnx writes the path it is given
                            bad = name == "export_onnx" and without_numeric_string() or nil })
      end)
    end
  end

  it("model:save and nn.load of bad paths", function()
    local problems = {}
    for _, x in ipairs(probe { name = "model:save", call = method("save"), self = model, args = {},
                               npos = 2, bad = without_numeric_string() }) do
      problems[#problems + 1] = x
    end
    for _, x in ipairs(probe { name = "nn.load", call = field("nn.load"), args = {}, npos = 2 }) do
      problems[#problems + 1] = x
    end
    assert_none(problems)
  end)

  it("nn.Sequential / nn.Model constructors", function()
    local problems = {}
    for _, path in ipairs { "nn.Sequential", "nn.Model", "nn.Model.new" } do
      for _, x in ipairs(probe { name = path, call = field(path), args = {}, npos = 2 }) do
        problems[#problems + 1] = x
      end
    end
    for _, b in ipairs(BAD) do
      for _, f in ipairs {
        function () return nn.Sequential{ nn.Linear(3, 2), b[2]() } end,
        function () return nn.Model("basic", b[2]()) end,
        function () return nn.Model("basic", { 3, b[2](), 2 }) end,
        function () local m = model(); m:set{ loss = b[2]() } end,
        function () local m = model(); m:set{ optimizer = b[2]() } end,
        function () local m = model(); m:set{ accuracy = b[2]() } end,
        -- a huge epoch count is a long run, not an error: only the refused ones
        function () local e = b[2](); if math.type(e) == "integer" and e > 2 then return end
                    local m = model(); m:train(x8(), y8(), { epochs = e, verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, batch_size = b[2](), verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, validation_split = b[2](), verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, validation_data = b[2](), verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, callbacks = b[2](), verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, initial_epoch = b[2](), verbose = 0 }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, verbose = b[2]() }) end,
        function () local m = model(); m:train(x8(), y8(), { epochs = 1, shuffle = b[2](), verbose = 0 }) end,
      } do
        local ok, err = pcall(f)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = ("with %s: %s"):format(b[1], why) end
      end
    end
    assert_none(problems)
  end)

  it("a model fed its own buffers", function()
    local problems = {}
    local m = model()
    local function try (what, f)
      local ok, err = pcall(f)
      local why = judge(ok, err)
      if why then problems[#problems + 1] = what .. ": " .. why end
    end
    try("forward", function () m:forward(x8()) end)
    try("forward(last output)", function () m:forward(m.layers[4].output) end)
    try("forward(first weight)", function () m:forward(m.layers[1].weight) end)
    try("step(x, x)", function () local x = x8(); m:step(x, x) end)
    try("train(x, x)", function () local x = x8(); m:train(x, x, { epochs = 1, verbose = 0 }) end)
    try("set_weights(get_weights reversed)", function ()
      local w = m:get_weights()
      local r = {}
      for i = #w, 1, -1 do r[#r + 1] = w[i] end
      m:set_weights(r)
    end)
    try("add(a layer already in it)", function () m:add(m.layers[1]) end)
    assert_none(problems)
  end)
end)

-- --- indices held in tensors --------------------------------------------------

-- Class targets, index lists and labels are float tensors: every value a
-- float can hold must be refused or used, never read out of bounds.
describe("adversarial: indices inside tensors", function()
  local VALUES = { 0, -1, 4, 1.5, 0.999, 3.0001, 0 / 0, math.huge, -math.huge, 2 ^ 31, 2 ^ 63, -2 ^ 63, 1e30 }
  local function bad_index (v) return T{ 1, v } end

  local calls = {
    { "nn.F.cross_entropy(x, t)", function (t) return nn.F.cross_entropy(r23(), t) end },
    { "nn.F.cross_entropy_backward(x, t)", function (t) return nn.F.cross_entropy_backward(r23(), t) end },
    { "nn.F.nll_loss(x, t)", function (t) return nn.F.nll_loss(r23(), t) end },
    { "nn.F.nll_loss_backward(x, t)", function (t) return nn.F.nll_loss_backward(r23(), t) end },
    { "nn.F.softmax_cross_entropy_backward(p, t)",
      function (t) return nn.F.softmax_cross_entropy_backward(probs23(), t) end },
    { "CrossEntropyLoss:forward", function (t) local c = nn.CrossEntropyLoss(); c:forward(r23(), t); return c:backward() end },
    { "NLLLoss:forward", function (t) local c = nn.NLLLoss(); c:forward(r23(), t); return c:backward() end },
    { "metrics categorical_accuracy", function (t) return nn.metrics.get("categorical_accuracy"):update(r23(), t) end },
    { "metrics accuracy", function (t) return nn.metrics.get("accuracy"):update(r23(), t) end },
    { "nn.metrics.confusion_matrix", function (t) return nn.metrics.confusion_matrix(r23(), t) end },
    { "nn.metrics.confusion_matrix into a cm", function (t) return nn.metrics.confusion_matrix(r23(), t, T.zeros(3, 3)) end },
    { "nn.data.one_hot(t, 3)", function (t) return nn.data.one_hot(t, 3) end },
    { "nn.index_select(x, idx)", function (t) return nn.index_select(r23(), t) end },
    { "x:index_select(idx)", function (t) return r23():index_select(t) end },
    { "model:evaluate(x, t)", function (t)
        local m = nn.Sequential{ nn.Linear(3, 3), nn.Softmax() }
        m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.1 }, accuracy = true }
        return m:evaluate(r23(), t)
      end },
    { "model:step(x, t)", function (t)
        local m = nn.Sequential{ nn.Linear(3, 3), nn.LogSoftmax() }
        m:set{ loss = "nll", optimizer = nn.optim.SGD{ lr = 0.1 } }
        return m:step(r23(), t)
      end },
  }
  for _, c in ipairs(calls) do
    it(c[1] .. " with out-of-range, fractional and non-finite indices", function()
      local problems = {}
      for _, v in ipairs(VALUES) do
        local ok, err = pcall(c[2], bad_index(v))
        local why = judge(ok, err)
        if why then problems[#problems + 1] = ("index %s: %s"):format(tostring(v), why) end
      end
      for _, t in ipairs { T.zeros(0), T.ones(1, 2), T.ones(2, 2), T.ones(2, 1), T.ones(3) } do
        local ok, err = pcall(c[2], t)
        local why = judge(ok, err)
        if why then problems[#problems + 1] = ("indices of shape %s: %s"):format(H.shape_text(t.shape), why) end
      end
      assert_none(problems)
    end)
  end

  it("a silent wrong number: index 0 or C + 1 is refused, not read", function()
    for _, v in ipairs { 0, 4 } do
      assert.is_false(pcall(nn.F.cross_entropy, r23(), bad_index(v)), "cross_entropy took class " .. v)
      assert.is_false(pcall(nn.F.nll_loss, r23(), bad_index(v)), "nll_loss took class " .. v)
      assert.is_false(pcall(nn.index_select, r23(), T{ v }), "index_select took row " .. v)
    end
  end)
end)

-- --- aliasing, closed tensors, collected owners ---------------------------------

describe("adversarial: aliasing and lifetimes", function()
  local methods = getmetatable(T.zeros(1)).methods

  it("every tensor method with self as every tensor argument, and overlapping views", function()
    local problems = {}
    for _, name in ipairs(keys_of(methods)) do
      local m = method(name)
      local args = TENSOR_ARGS[name] or {}
      for _, shape in ipairs { { 4, 4 }, { 3, 4 } } do
        local variants = {
          { "self", function (t) return t end },
          { "a view of self", function (t) return t:narrow(1, 1, shape[1] - 1) end },
          { "a shifted view", function (t) return t:narrow(1, 2, shape[1] - 1) end },
        }
        for _, v in ipairs(variants) do
          local t = T.randn(table.unpack(shape))
          local a = {}
          for i, g in ipairs(args) do
            if type(g) == "function" then a[i] = v[2](t) else a[i] = g end
          end
          if #a > 0 then
            local ok, err = pcall(m, (v[1] == "self") and t or t:narrow(1, 1, shape[1] - 1),
                                  table.unpack(a, 1, #args))
            local why = judge(ok, err)
            if why then problems[#problems + 1] = ("t:%s with %s, %dx%d: %s"):format(name, v[1], shape[1], shape[2], why) end
          end
        end
      end
    end
    assert_none(problems)
  end)

  it("a closed tensor, as self and as an argument, is refused by name", function()
    local problems = {}
    local function closed ()
      local t = T.randn(3, 4)
      getmetatable(t).__close(t)
      return t
    end
    for _, name in ipairs(keys_of(methods)) do
      local p = probe { name = "closed:" .. name, call = method(name), self = closed,
                        args = TENSOR_ARGS[name] or {}, npos = 0 }
      for _, x in ipairs(p) do problems[#problems + 1] = x end
      local args = TENSOR_ARGS[name] or {}
      for i, g in ipairs(args) do
        if type(g) == "function" then
          local a = {}
          for j, gg in ipairs(args) do a[j] = type(gg) == "function" and gg() or gg end
          local c = closed()
          a[i] = c
          local ok, err = pcall(method(name), r34(), table.unpack(a, 1, #args))
          local why = judge(ok, err)
          if why then problems[#problems + 1] = ("t:%s with a closed tensor as #%d: %s"):format(name, i, why) end
        end
      end
    end
    -- the message says it is freed, and names the method, not 'index'
    H.assert_error_has(function () return closed():sum(1) end, { "'sum'", "tensor already freed" })
    H.assert_error_has(function () return r34():add(closed()) end,
                       { "bad argument #1 to 'add'", "tensor already freed" })
    H.assert_error_has(function () return 1 + closed() end, { "'add'", "tensor already freed" })
    -- in a list, it is called freed, not "a userdata"
    H.assert_error_has(function () return nn.F.concat({ r34(), closed() }, 2) end,
                       { "bad argument #1 to 'concat'", "entry 2 is a freed tensor" })
    H.assert_error_has(function () return nn.optim.SGD{ lr = 0.1 }:step({ closed() }, { r34() }) end,
                       { "params[1] is a freed tensor" })
    H.assert_error_has(function () return nn.optim.Adam{ lr = 0.1 }:step({ r34() }, { closed() }) end,
                       { "grads[1] is a freed tensor" })
    H.assert_error_has(function () return nn.safetensors.save("/nonexistent-nnlua-adv/x", { a = closed() }) end,
                       { "tensors['a'] must be a tensor, got freed tensor" })
    local c = closed()
    for _, f in ipairs { function () return tostring(c) end, function () return #c end,
                         function () return c.shape end, function () return c + 1 end,
                         function () return -c end, function () return nn.Linear(4, 2):forward(c) end,
                         function () getmetatable(c).__close(c) end } do
      local ok, err = pcall(f)
      local why = judge(ok, err)
      if why then problems[#problems + 1] = "closed tensor: " .. why end
    end
    assert_none(problems)
  end)

  it("a layer's buffers outlive the layer, a view outlives its parent", function()
    local w, out, g, l2
    do
      local l = nn.Linear(3, 2)
      l:forward(T.randn(4, 3))
      l:backward(T.ones(4, 2))
      w, out, g = l.weight, l.output, l.grad_input
    end
    local v
    do v = T.randn(6, 4):narrow(1, 2, 3):view(12) end
    collectgarbage(); collectgarbage()
    assert.are.same({ 2, 3 }, w.shape)
    assert.are.same({ 4, 2 }, out.shape)
    assert.are.same({ 4, 3 }, g.shape)
    assert.is_number(w:sum(1):sum(1):item() + out:sum(1):sum(1):item() + g:sum(1):sum(1):item())
    assert.is_number(v:sum(1):item())
    -- a second layer fed the first's buffers after the first is gone
    l2 = nn.Linear(3, 2)
    assert.are.same({ 4, 2 }, l2:forward(g).shape)
    assert.are.same({ 4, 3 }, l2:backward(out).shape)
  end)
end)

-- --- shapes at the edges ------------------------------------------------------

describe("adversarial: shapes at the edges", function()
  it("views, narrows, slices and ranges of zero, -1 and too many dims", function()
    local problems = {}
    local cases = {
      { "r34:view(-1, -1)", function () return r34():view(-1, -1) end },
      { "zeros(0, 3):view(-1, 0)", function () return T.zeros(0, 3):view(-1, 0) end },
      { "zeros(0, 3):view(0, -1)", function () return T.zeros(0, 3):view(0, -1) end },
      { "zeros(0):view(-1)", function () return T.zeros(0):view(-1) end },
      { "r34:view(-2, 6)", function () return r34():view(-2, 6) end },
      { "r34:view(5, -1)", function () return r34():view(5, -1) end },
      { "r34:view(nine 1s and 12)", function () return r34():view(1, 1, 1, 1, 1, 1, 1, 1, 1, 12) end },
      { "zeros(nine 1s)", function () return T.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end },
      { "zeros{}", function () return T.zeros{} end },
      { "zeros()", function () return T.zeros() end },
      { "zeros(2^20, 2^20, 2^20)", function () return T.zeros(2 ^ 20, 2 ^ 20, 2 ^ 20) end },
      { "zeros(2^31, 2^31)", function () return T.zeros(2 ^ 31, 2 ^ 31) end },
      { "zeros(0, 2^62)", function () return T.zeros(0, 2 ^ 62) end },
      { "zeros(0, math.maxinteger)", function () return T.zeros(0, math.maxinteger) end },
      { "r34:narrow(1, 4, 0)", function () return r34():narrow(1, 4, 0) end },
      { "r34:narrow(1, 5, 0)", function () return r34():narrow(1, 5, 0) end },
      { "r34:narrow(1, maxint, maxint)", function () return r34():narrow(1, math.maxinteger, math.maxinteger) end },
      { "r34:narrow(-1, 1, 2)", function () return r34():narrow(-1, 1, 2) end },
      { "r34:narrow(-3, 1, 2)", function () return r34():narrow(-3, 1, 2) end },
      { "r34:slice(4, 3)", function () return r34():slice(4, 3) end },
      { "r34:slice(0, 0)", function () return r34():slice(0, 0) end },
      { "r34:slice(3, 2)", function () return r34():slice(3, 2) end },
      { "r34:slice(mininteger, maxinteger)", function () return r34():slice(math.mininteger, math.maxinteger) end },
      { "arange(0, 1, 0)", function () return T.arange(0, 1, 0) end },
      { "arange(1, 0, 1)", function () return T.arange(1, 0, 1) end },
      { "arange(0, 1, -1)", function () return T.arange(0, 1, -1) end },
      { "arange(0, 1e12, 1e-12)", function () return T.arange(0, 1e12, 1e-12) end },
      { "arange(0, 2^60)", function () return T.arange(0, 2 ^ 60) end },
      { "arange(mininteger, maxinteger)", function () return T.arange(math.mininteger, math.maxinteger) end },
      { "full(2, 2, 1e39)", function () return T.full(2, 2, 1e39) end },
      { "zeros(0, 3):sum(1)", function () return T.zeros(0, 3):sum(1) end },
      { "zeros(0, 3):mean(1)", function () return T.zeros(0, 3):mean(1) end },
      { "zeros(0, 3):max(1)", function () return T.zeros(0, 3):max(1) end },
      { "zeros(0, 3):argmax(1)", function () return T.zeros(0, 3):argmax(1) end },
      { "zeros(3, 0):argmax(2)", function () return T.zeros(3, 0):argmax(2) end },
      { "zeros(0):std()", function () return T.zeros(0):std() end },
      { "ones(1):var()", function () return T.ones(1):var() end },
      { "zeros(0):max()", function () return T.zeros(0):max() end },
      { "zeros(0):item()", function () return T.zeros(0):item() end },
      { "zeros(0, 3):matmul(zeros(3, 0))", function () return T.zeros(0, 3):matmul(T.zeros(3, 0)) end },
      { "zeros(2, 0):matmul(zeros(0, 2))", function () return T.zeros(2, 0):matmul(T.zeros(0, 2)) end },
      { "zeros(0, 3):totable()", function () return T.zeros(0, 3):totable() end },
      { "tostring(zeros(0, 3))", function () return tostring(T.zeros(0, 3)) end },
      { "nn.randperm(0)", function () return nn.randperm(0) end },
      { "nn.Linear(3, 2):forward(zeros(0, 3))", function () return nn.Linear(3, 2):forward(T.zeros(0, 3)) end },
      { "BatchNorm1d(3):forward(zeros(0, 3))", function () return nn.BatchNorm1d(3):forward(T.zeros(0, 3)) end },
      { "BatchNorm1d(3):forward(ones(1, 3))", function () return nn.BatchNorm1d(3):forward(T.ones(1, 3)) end },
      { "Softmax():forward(zeros(2, 0))", function () return nn.Softmax():forward(T.zeros(2, 0)) end },
      { "Concat(2):forward(nine inputs)", function ()
          local xs = {}
          for i = 1, 9 do xs[i] = T.ones(2, 1) end
          return nn.Concat(2):forward(table.unpack(xs))
        end },
      { "Add():forward(a, b, c)", function () return nn.Add():forward(r34(), r34(), r34()) end },
      { "MSELoss():forward(zeros(0, 3), zeros(0, 3))", function () return nn.MSELoss():forward(T.zeros(0, 3), T.zeros(0, 3)) end },
      { "CrossEntropyLoss():forward(zeros(0, 3), zeros(0))", function () return nn.CrossEntropyLoss():forward(T.zeros(0, 3), T.zeros(0)) end },
      { "nn.data.one_hot(zeros(0), 3)", function () return nn.data.one_hot(T.zeros(0), 3) end },
      { "DataLoader(zeros(0, 3), zeros(0))", function () return nn.data.DataLoader(T.zeros(0, 3), T.zeros(0)) end },
      { "model:train on zero rows", function ()
          local m = nn.Sequential{ nn.Linear(3, 2) }
          m:set{ loss = "mse", optimizer = nn.optim.SGD{ lr = 0.1 } }
          return m:train(T.zeros(0, 3), T.zeros(0, 2), { epochs = 1, verbose = 0 })
        end },
      { "model:predict on zero rows", function ()
          local m = nn.Sequential{ nn.Linear(3, 2) }
          return m:predict(T.zeros(0, 3))
        end },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[2])
      local why = judge(ok, err)
      if why then problems[#problems + 1] = c[1] .. ": " .. why end
    end
    assert_none(problems)
  end)
end)
