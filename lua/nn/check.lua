--- lua/nn/check.lua: the one checker of options for the Lua library (train,
-- evaluate, predict, the callbacks, the optimizers and schedulers), so that
-- every bad option reads the same way and names itself:
--
--   model:train: batch_size must be a positive integer, got 'x'
--
--   local check = require "nn.check"
--   bs = check.value(2, "model:train", "batch_size", opts.batch_size, "positive integer", 32)
--   check.keys(2, "EarlyStopping", opts, {"monitor", "patience", ...})
--
-- level is as for error(), seen from the function that calls check: 2 blames
-- the line that called that function (STYLE.md: the caller's line).
local check = {}

-- name -> {test, what the message says it must be}.  NaN fails every
-- comparison, so `v >= 0` style tests refuse it without a special case.
local KINDS = {
  ["positive integer"] = { function (v) return math.type(v) == "integer" and v >= 1 end,
                           "a positive integer" },
  ["non-negative integer"] = { function (v) return math.type(v) == "integer" and v >= 0 end,
                               "a non-negative integer" },
  ["number >= 0"] = { function (v) return type(v) == "number" and v >= 0 end, "a number >= 0" },
  ["number > 0"] = { function (v) return type(v) == "number" and v > 0 end, "a number > 0" },
  ["fraction"] = { function (v) return type(v) == "number" and v >= 0 and v < 1 end,
                   "a number in [0, 1)" },
  ["boolean"] = { function (v) return type(v) == "boolean" end, "a boolean (true or false)" },
  ["string"] = { function (v) return type(v) == "string" end, "a string" },
  ["function"] = { function (v) return type(v) == "function" end, "a function" },
  ["table"] = { function (v) return type(v) == "table" end, "a table" },
}

--- check.show(v) -> how a message shows a bad value: 'x' for a string,
-- the number for a number, the type otherwise ("a table").
function check.show(v)
  if type(v) == "string" then return ("'%s'"):format(v) end
  if v ~= v then return "nan" end
  if type(v) == "number" or type(v) == "boolean" or v == nil then return tostring(v) end
  return "a " .. type(v)
end

--- check.problem(who, name, v, kind) -> nil when v is of `kind`, else the
-- message "who: name must be ..., got ...", for code that returns errors
-- (nil, message) instead of raising.  kind: one of the names of KINDS above
-- ("positive integer", "non-negative integer", "number >= 0", "number > 0",
-- "fraction", "boolean", "string", "function", "table"), or a list of the
-- values allowed ({0, 1, 2}).
function check.problem(who, name, v, kind)
  local ok, what
  if type(kind) == "table" then
    local shown = {}
    for i, allowed in ipairs(kind) do
      ok = ok or v == allowed
      shown[i] = check.show(allowed)
    end
    what = "one of " .. table.concat(shown, ", ")
  else
    local rule = KINDS[kind]
    if rule == nil then error(("check: unknown kind '%s'"):format(tostring(kind)), 3) end
    ok, what = rule[1](v), rule[2]
  end
  if ok then return nil end
  return ("%s: %s must be %s, got %s"):format(who, name, what, check.show(v))
end

--- check.value(level, who, name, v, kind [, default]) -> v, or default when
-- v is nil and a default is given.  Errors: check.problem's message.
function check.value(level, who, name, v, kind, default)
  if v == nil and default ~= nil then return default end
  local msg = check.problem(who, name, v, kind)
  if msg then error(msg, level + 1) end
  return v
end

--- check.keys(level, who, opts, known) -> opts, or {} for nil: opts must
-- be a table whose keys are all in the list `known`.
-- Errors: opts not a table; an unknown key (the message lists the known).
function check.keys(level, who, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: options must be a table, got %s"):format(who, check.show(opts)), level + 1)
  end
  local set = {}
  for _, k in ipairs(known) do set[k] = true end
  for k in pairs(opts) do
    if not set[k] then
      local names = {}
      for i, name in ipairs(known) do names[i] = name end
      table.sort(names)
      error(("%s: unknown option '%s' (options: %s)"):format(who, tostring(k),
            table.concat(names, ", ")), level + 1)
    end
  end
  return opts
end

return check
