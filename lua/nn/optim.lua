--- nn.optim: optimizers and learning-rate schedulers.
--
--   local opt = nn.optim.Adam{lr = 1e-3}
--   local params, grads = layer:parameters()
--   ... forward, loss, backward ...
--   opt:step(params, grads)           -- p -= update(grad), in place, in C
--
-- Optimizers: SGD (momentum, dampening, Nesterov), Adagrad, RMSprop, Adam and
-- AdamW, with PyTorch 1.13's defaults and update rules (nn/optim.c has each
-- rule, its derivation and its sources).  Options come as a table; a plain
-- number is the learning rate: nn.optim.SGD(0.1).  Every optimizer also takes
-- Keras's legacy `decay`: step t (from 0) uses lr / (1 + decay * t).
--
-- An optimizer is a Lua table whose fields are its hyper-parameters, and
-- writable: opt.lr = 0.01 counts from the next step (schedulers do this).
--   opt.lr            the base learning rate
--   opt.iterations    steps taken
--   opt.state         one table of state tensors per parameter index,
--                     opt.state[1].exp_avg: made on the first step, on the
--                     parameter's device, and reused by every later one
-- The update of each parameter tensor is one fused C call; this file only
-- orchestrates (nothing here loops over tensor elements).
--
-- Schedulers set opt.lr once per epoch from a closed form of the epoch,
-- as PyTorch's: StepLR, ExponentialLR, CosineAnnealingLR.
local core = require "nn.core"
local check = require "nn.check"   -- the options' one checker (lua/nn/check.lua)

local update = core.optim_update   -- vm/l_optim.c: check, state_names, step

local optim = {}

-- --- optimizers ----------------------------------------------------------------

-- Per optimizer: its options in the order config() and the errors list them,
-- their defaults (PyTorch's; SGD's lr, which PyTorch requires, is Keras's
-- 0.01), and those shown by tostring (the rest when not at the default).
local KINDS = {
  SGD = {
    keys = { "lr", "momentum", "dampening", "nesterov", "weight_decay", "decay" },
    defaults = { lr = 0.01, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0,
                 decay = 0 },
    shown = { "lr", "momentum", "dampening", "nesterov", "weight_decay" },
  },
  Adagrad = {
    keys = { "lr", "lr_decay", "eps", "initial_accumulator_value", "weight_decay", "decay" },
    defaults = { lr = 0.01, lr_decay = 0, eps = 1e-10, initial_accumulator_value = 0,
                 weight_decay = 0, decay = 0 },
    shown = { "lr", "lr_decay", "eps", "initial_accumulator_value", "weight_decay" },
  },
  RMSprop = {
    keys = { "lr", "alpha", "eps", "momentum", "centered", "weight_decay", "decay" },
    defaults = { lr = 0.01, alpha = 0.99, eps = 1e-8, momentum = 0, centered = false,
                 weight_decay = 0, decay = 0 },
    shown = { "lr", "alpha", "eps", "momentum", "centered", "weight_decay" },
  },
  Adam = {
    keys = { "lr", "betas", "eps", "weight_decay", "amsgrad", "decay" },
    defaults = { lr = 0.001, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0,
                 amsgrad = false, decay = 0 },
    shown = { "lr", "betas", "eps", "weight_decay" },
  },
  AdamW = {
    keys = { "lr", "betas", "eps", "weight_decay", "amsgrad", "decay" },
    defaults = { lr = 0.001, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.01,
                 amsgrad = false, decay = 0 },
    shown = { "lr", "betas", "eps", "weight_decay" },
  },
}

-- Keras's names for Adam's betas, accepted by the constructors
local BETA_KEYS = { beta1 = 1, beta2 = 2 }

local KIND_NAMES = {}
for name in pairs(KINDS) do KIND_NAMES[#KIND_NAMES + 1] = name end
table.sort(KIND_NAMES)

-- fields an optimizer has besides its options
local OWN_FIELDS = { name = true, iterations = true, state = true }

local function is_tensor (v)
  return getmetatable(v) == core.Tensor
end

-- A number as config and tostring show it: 0.001, 1e-08, 0
local function num (v)
  if math.type(v) == "integer" then return tostring(v) end
  return ("%.14g"):format(v)
end

local Optimizer = {}
Optimizer.__index = Optimizer

-- opt.lrr = 1 would go unseen; raise instead.  (Fields that exist are
-- plain table fields, so writing them does not come here.)
function Optimizer.__newindex (self, key, value)
  local kind = KINDS[rawget(self, "name")]
  local known = OWN_FIELDS[key]
  for _, k in ipairs(kind.keys) do known = known or k == key end
  if not known then
    error(("%s has no field '%s' (fields: %s, iterations, state)")
          :format(self.name, tostring(key), table.concat(kind.keys, ", ")), 2)
  end
  rawset(self, key, value)
end

-- A new optimizer of `name` from opts (a table, a number = lr, or nil), or
-- nil and the message.
local function build (name, opts)
  local kind = KINDS[name]
  if type(opts) == "number" then opts = { lr = opts }
  elseif opts == nil then opts = {}
  elseif type(opts) ~= "table" then
    return nil, ("%s: expected a table of options or a learning rate, got %s")
                :format(name, type(opts))
  end
  -- unknown keys are errors, naming the known ones (as nn_check_keys)
  for key in pairs(opts) do
    local known = name:sub(1, 4) == "Adam" and BETA_KEYS[key] ~= nil
    for _, k in ipairs(kind.keys) do known = known or k == key end
    if not known then
      local list = table.concat(kind.keys, ", ")
      if name:sub(1, 4) == "Adam" then list = list .. ", beta1, beta2" end
      return nil, ("%s has no option '%s' (options: %s)"):format(name, tostring(key), list)
    end
  end
  local self = { name = name, iterations = 0, state = {} }
  for _, k in ipairs(kind.keys) do
    local v = opts[k]
    if v == nil then v = kind.defaults[k] end
    if k == "betas" then
      if opts.betas ~= nil and (opts.beta1 ~= nil or opts.beta2 ~= nil) then
        return nil, ("%s: give betas or beta1 and beta2, not both"):format(name)
      end
      if type(v) ~= "table" or #v ~= 2 then
        return nil, ("%s: betas must be a table of two numbers, got %s")
                    :format(name, type(v) == "table" and "#betas = " .. #v or type(v))
      end
      v = { v[1], v[2] }     -- our own copy: the caller's table stays theirs
      for key, i in pairs(BETA_KEYS) do
        if opts[key] ~= nil then v[i] = opts[key] end
      end
    end
    self[k] = v
  end
  local bad = check.problem(name, "decay", self.decay, "number >= 0")
  if bad then return nil, bad end
  -- the types and ranges of the rest, as nn/optim.c checks them
  local err = update.check(self)
  if err then return nil, err end
  return setmetatable(self, Optimizer)
end

local function constructor (name)
  return function (opts)
    local self, err = build(name, opts)
    if not self then error(err, 2) end
    return self
  end
end

--- nn.optim.SGD{lr = 0.01, momentum = 0, dampening = 0, nesterov = false,
--  weight_decay = 0, decay = 0}, or nn.optim.SGD(lr).
--  p -= lr * d, d = g + weight_decay * p, through a momentum buffer when
--  momentum > 0 (first set to d, then b = momentum * b + (1 - dampening) * d;
--  Nesterov: d + momentum * b).  Errors: unknown options, values out of
--  range, nesterov without momentum or with dampening.
optim.SGD = constructor "SGD"

--- nn.optim.Adagrad{lr = 0.01, lr_decay = 0, eps = 1e-10,
--  initial_accumulator_value = 0, weight_decay = 0, decay = 0}.
--  sum += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps).
optim.Adagrad = constructor "Adagrad"

--- nn.optim.RMSprop{lr = 0.01, alpha = 0.99, eps = 1e-8, momentum = 0,
--  centered = false, weight_decay = 0, decay = 0}.
--  v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps) (centered:
--  sqrt(v - mean(g)^2); momentum: through a buffer).
optim.RMSprop = constructor "RMSprop"

--- nn.optim.Adam{lr = 0.001, betas = {0.9, 0.999}, eps = 1e-8,
--  weight_decay = 0, amsgrad = false, decay = 0}; beta1 and beta2 may be
--  given instead of betas (Keras's names).  Weight decay is coupled (an L2
--  term added to g).
optim.Adam = constructor "Adam"

--- nn.optim.AdamW{lr = 0.001, betas = {0.9, 0.999}, eps = 1e-8,
--  weight_decay = 0.01, amsgrad = false, decay = 0}: Adam with decoupled
--  weight decay, p *= 1 - lr * weight_decay before the Adam step.
optim.AdamW = constructor "AdamW"

--- nn.optim.from_config(cfg) -> a new optimizer equal to the one whose
--  opt:config() gave cfg (no state: see load_state_dict).  Errors: an
--  unknown name, or what the constructor raises.
function optim.from_config (cfg)
  if type(cfg) ~= "table" then
    error(("from_config: expected a table, got %s"):format(type(cfg)), 2)
  end
  if KINDS[cfg.name] == nil then
    error(("from_config: unknown optimizer '%s' (known: %s)")
          :format(tostring(cfg.name), table.concat(KIND_NAMES, ", ")), 2)
  end
  local opts = {}
  for k, v in pairs(cfg) do
    if k ~= "name" then opts[k] = v end
  end
  local self, err = build(cfg.name, opts)
  if not self then error(err, 2) end
  return self
end

-- lr / (1 + decay * iterations), or nil and the message
local function current_lr (self)
  if type(self.lr) ~= "number" then
    return nil, ("%s: lr must be a number, got %s"):format(self.name, type(self.lr))
  end
  if type(self.decay) ~= "number" or not (self.decay >= 0) then
    return nil, ("%s: decay must be a number >= 0, got %s"):format(self.name, tostring(self.decay))
  end
  return self.lr / (1 + self.decay * self.iterations)
end

--- opt:get_lr() -> the learning rate the next step will use:
--  lr / (1 + decay * iterations)  (Keras's legacy decay; lr when decay = 0).
--  Errors: lr or decay set to something else than a number (>= 0 for decay).
function Optimizer:get_lr ()
  local lr, err = current_lr(self)
  if not lr then error(err, 2) end
  return lr
end

--- opt:step(params, grads) -> opt.  One update of every params[i] from
--  grads[i] (equal-length lists of tensors, as layer:parameters() returns),
--  in place.  The state tensors are made on the first step and reused; a
--  later call must pass parameters of the same number and shapes.
--  Errors (and then nothing has changed): lists of different lengths, a
--  grads[i] whose shape or device is not params[i]'s ("Adam:step: grads[2]
--  has shape [3x4] but params[2] has [4x3]"), parameters that do not fit
--  the state, a hyper-parameter out of range, tensors on two devices
--  (after moving the parameters, move the optimizer too: opt:to(device)).
function Optimizer:step (params, grads)
  local lr, err = current_lr(self)
  local ok = false
  if lr then ok, err = update.step(self, lr, self.iterations + 1, params, grads, self.state) end
  if not ok then error(err, 2) end
  self.iterations = self.iterations + 1
  return self
end

--- opt:reset() -> opt: drop the state and the iteration count, as if new
--  (the options, lr included, stay).
function Optimizer:reset ()
  self.state = {}
  self.iterations = 0
  return self
end

--- opt:to(device) -> opt: every state tensor moved to 'cpu' or 'cuda' (a
--  copy there; the optimizer holds the only reference), as model:to does
--  for its optimizer.  The next step must then get parameters on that device.
--  Errors: an unknown device; CUDA is not available.
function Optimizer:to (device)
  if device ~= "cpu" and device ~= "cuda" then
    error(("%s:to: device must be 'cpu' or 'cuda', got %s"):format(self.name, tostring(device)), 2)
  end
  for _, st in ipairs(self.state) do
    for name, t in pairs(st) do st[name] = t:to(device) end
  end
  return self
end

--- opt:config() -> {name = "Adam", lr = ..., betas = {...}, ...}: the
--  options, as plain numbers, booleans and arrays (JSON-able);
--  nn.optim.from_config(cfg) rebuilds the optimizer.
function Optimizer:config ()
  local cfg = { name = self.name }
  for _, k in ipairs(KINDS[self.name].keys) do
    local v = self[k]
    if k == "betas" then v = { v[1], v[2] } end
    cfg[k] = v
  end
  return cfg
end

--- opt:state_dict() -> {config = opt:config(), iterations = n,
--  tensors = {["1.exp_avg"] = t, ...}}: everything a checkpoint needs to
--  continue bit for bit.  Tensors are keyed "<parameter index>.<PyTorch's
--  state name>" and are the live state tensors (copy them to keep them).
function Optimizer:state_dict ()
  local tensors = {}
  for i, st in ipairs(self.state) do
    for name, t in pairs(st) do tensors[i .. "." .. name] = t end
  end
  return { config = self:config(), iterations = self.iterations, tensors = tensors }
end

local function shape_text (t)
  return "[" .. table.concat(t.shape, "x") .. "]"
end

-- The state in sd as a list of {name = tensor} tables, checked against the
-- optimizer cfg describes; or nil and the message.
local function read_tensors (who, built, tensors, iterations)
  if type(tensors) ~= "table" then
    return nil, ("%s: tensors must be a table, got %s"):format(who, type(tensors))
  end
  local all, used = update.state_names(built)
  local known = {}
  for _, name in ipairs(all) do known[name] = true end
  local list, n = {}, 0
  for key, t in pairs(tensors) do
    local i, name = tostring(key):match("^(%d+)%.([%w_]+)$")
    i = tonumber(i)
    if not i or i < 1 or not known[name] then
      return nil, ("%s: unknown state '%s' (expected <index>.<name>, name one of %s)")
                  :format(who, tostring(key), table.concat(all, ", "))
    end
    if not is_tensor(t) then
      return nil, ("%s: tensors['%s'] is a %s, not a tensor"):format(who, key, type(t))
    end
    list[i] = list[i] or {}
    list[i][name] = t
    n = math.max(n, i)
  end
  for i = 1, n do
    if list[i] == nil then
      return nil, ("%s: there is state for parameter %d but none for %d"):format(who, n, i)
    end
    for _, name in ipairs(used) do
      if list[i][name] == nil then
        return nil, ("%s: the state %s of parameter %d is missing"):format(who, name, i)
      end
    end
  end
  if n == 0 and iterations > 0 and #used > 0 then
    return nil, ("%s: %d iterations but no state tensors"):format(who, iterations)
  end
  return list, n
end

-- What load_state_dict of an optimizer and of a scheduler both check first:
-- sd is {config = {name = <name>, ...}, ...} of an object of this name.
-- Returns the options (config without its name); raises at the caller of
-- load_state_dict (level 3) with `who` and what was expected.
local function state_dict_options (who, sd, name, kind, expected)
  if type(sd) ~= "table" or type(sd.config) ~= "table" then
    error(("%s: expected %s, got %s")
          :format(who, expected, type(sd) == "table" and "no config" or type(sd)), 3)
  end
  if sd.config.name ~= name then
    error(("%s: the state is of %s %s, not %s"):format(who, kind, tostring(sd.config.name), name), 3)
  end
  local opts = {}
  for k, v in pairs(sd.config) do
    if k ~= "name" then opts[k] = v end
  end
  return opts
end

-- sd[key] as an integer >= 0 (a count of steps or epochs), or raise (level 3)
local function count_of (who, sd, key)
  local n = math.tointeger(sd[key])
  if not n or n < 0 then
    error(("%s: %s must be an integer >= 0, got %s"):format(who, key, tostring(sd[key])), 3)
  end
  return n
end

--- opt:load_state_dict(sd) -> opt: continue from opt2:state_dict().  The
--  options (lr included), the iteration count and the state tensors become
--  sd's; the tensors are copied (into the existing state tensors when there
--  are some, so they keep their memory).  Continuing then gives the same
--  numbers, bit for bit, as never having stopped.
--  Errors, and then nothing has changed: sd of another optimizer (by name),
--  bad options, unknown or missing state tensors, tensors whose shapes or
--  count do not fit the state the optimizer already has.
function Optimizer:load_state_dict (sd)
  local who = self.name .. ":load_state_dict"
  local opts = state_dict_options(who, sd, self.name, "an optimizer",
                                  "{config = ..., iterations = ..., tensors = ...}")
  local built, err = build(self.name, opts)
  if not built then error(who .. ": " .. err, 2) end
  local iterations = count_of(who, sd, "iterations")
  local list, n = read_tensors(who, built, sd.tensors, iterations)
  if not list then error(n, 2) end
  local have = #self.state
  if n > 0 and have > 0 and n ~= have then
    error(("%s: the state is for %d parameters, the optimizer's for %d"):format(who, n, have), 2)
  end
  for i = 1, n do
    for name, t in pairs(list[i]) do
      local mine = self.state[i] and self.state[i][name]
      if mine and shape_text(mine) ~= shape_text(t) then
        error(("%s: the state %s of parameter %d has shape %s, the optimizer's %s")
              :format(who, name, i, shape_text(t), shape_text(mine)), 2)
      end
    end
  end
  -- all fits: apply
  for _, k in ipairs(KINDS[self.name].keys) do self[k] = built[k] end
  local state = {}
  for i = 1, n do
    state[i] = {}
    for name, t in pairs(list[i]) do
      local mine = self.state[i] and self.state[i][name]
      if mine then state[i][name] = mine:copy(t) else state[i][name] = t:clone() end
    end
  end
  self.state = state
  self.iterations = iterations
  return self
end

--- tostring(opt): "Adam{lr=0.001, betas={0.9, 0.999}, eps=1e-08, weight_decay=0}"
--  (amsgrad and decay appear when set).
function Optimizer.__tostring (self)
  local kind = KINDS[self.name]
  local parts = {}
  local function add (k, v)
    if type(v) == "table" then v = "{" .. num(v[1]) .. ", " .. num(v[2]) .. "}"
    elseif type(v) == "number" then v = num(v)
    else v = tostring(v) end
    parts[#parts + 1] = k .. "=" .. v
  end
  for _, k in ipairs(kind.shown) do add(k, self[k]) end
  if self.amsgrad then add("amsgrad", true) end
  if self.decay ~= 0 then add("decay", self.decay) end
  return self.name .. "{" .. table.concat(parts, ", ") .. "}"
end

--- nn.optim.is_optimizer(v) -> true when v is an optimizer of this module.
function optim.is_optimizer (v)
  return getmetatable(v) == Optimizer
end


-- --- learning-rate schedulers ---------------------------------------------------
--
-- Each holds the optimizer and its base_lr (opt.lr when the scheduler was
-- made), counts epochs in last_epoch (0 when made, as PyTorch's after its
-- constructor), and on sched:step() sets opt.lr from the closed form of
-- the epoch (PyTorch's _get_closed_form_lr).  Call it once per epoch, after
-- that epoch's optimizer steps.

local SCHEDULERS = {
  -- lr = base_lr * gamma ^ floor(epoch / step_size)
  StepLR = {
    keys = { "step_size", "gamma" },
    defaults = { gamma = 0.1 },
    rules = { step_size = "positive integer", gamma = "number > 0" },
    lr = function (s, e) return s.base_lr * s.gamma ^ (e // s.step_size) end,
  },
  -- lr = base_lr * gamma ^ epoch
  ExponentialLR = {
    keys = { "gamma" },
    defaults = {},
    rules = { gamma = "number > 0" },
    lr = function (s, e) return s.base_lr * s.gamma ^ e end,
  },
  -- lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2: half a
  -- cosine from base_lr down to eta_min at epoch T_max (and back up after it).
  -- Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
  -- Restarts", ICLR 2017, eq. 5, without the restarts.
  CosineAnnealingLR = {
    keys = { "T_max", "eta_min" },
    defaults = { eta_min = 0 },
    rules = { T_max = "positive integer", eta_min = "number >= 0" },
    lr = function (s, e)
      return s.eta_min + (s.base_lr - s.eta_min) * (1 + math.cos(math.pi * e / s.T_max)) / 2
    end,
  },
}

local SCHEDULER_NAMES = {}
for name in pairs(SCHEDULERS) do SCHEDULER_NAMES[#SCHEDULER_NAMES + 1] = name end
table.sort(SCHEDULER_NAMES)

local Scheduler = {}
Scheduler.__index = Scheduler

-- The options of scheduler `name` from opts, checked: a table, or nil and
-- the message.
local function scheduler_options (name, opts)
  local kind = SCHEDULERS[name]
  if type(opts) ~= "table" then
    return nil, ("%s: expected a table of options {%s = ...}, got %s")
                :format(name, kind.keys[1], type(opts))
  end
  local out = {}
  for key in pairs(opts) do
    if kind.rules[key] == nil then
      return nil, ("%s has no option '%s' (options: %s)")
                  :format(name, tostring(key), table.concat(kind.keys, ", "))
    end
  end
  for _, k in ipairs(kind.keys) do
    local v = opts[k]
    if v == nil then v = kind.defaults[k] end
    if v == nil then return nil, ("%s: option %s is required"):format(name, k) end
    local err = check.problem(name, k, v, kind.rules[k])
    if err then return nil, err end
    out[k] = v
  end
  return out
end

local function build_scheduler (name, opt, opts)
  if not optim.is_optimizer(opt) then
    return nil, ("%s: expected an optimizer as argument 1, got %s"):format(name, type(opt))
  end
  local checked, err = scheduler_options(name, opts)
  if not checked then return nil, err end
  if type(opt.lr) ~= "number" then
    return nil, ("%s: the optimizer's lr must be a number, got %s"):format(name, type(opt.lr))
  end
  local self = setmetatable({ name = name, optimizer = opt, base_lr = opt.lr, last_epoch = 0 },
                            Scheduler)
  for k, v in pairs(checked) do self[k] = v end
  self.last_lr = SCHEDULERS[name].lr(self, 0)   -- = base_lr: the epoch-0 rate
  opt.lr = self.last_lr
  return self
end

local function scheduler_constructor (name)
  return function (opt, opts)
    local self, err = build_scheduler(name, opt, opts)
    if not self then error(err, 2) end
    return self
  end
end

--- nn.optim.StepLR(opt, {step_size = n, gamma = 0.1}): lr = base_lr *
--  gamma ^ floor(epoch / step_size), one decay every step_size epochs.
optim.StepLR = scheduler_constructor "StepLR"

--- nn.optim.ExponentialLR(opt, {gamma = g}): lr = base_lr * gamma ^ epoch.
optim.ExponentialLR = scheduler_constructor "ExponentialLR"

--- nn.optim.CosineAnnealingLR(opt, {T_max = n, eta_min = 0}): lr = eta_min +
--  (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2.
optim.CosineAnnealingLR = scheduler_constructor "CosineAnnealingLR"

--- sched:step() -> the new lr: advance one epoch and set opt.lr.
function Scheduler:step ()
  self.last_epoch = self.last_epoch + 1
  self.last_lr = SCHEDULERS[self.name].lr(self, self.last_epoch)
  self.optimizer.lr = self.last_lr
  return self.last_lr
end

--- sched:get_last_lr() -> the lr the scheduler set last (a number: one
--  parameter group here, where PyTorch returns a list).
function Scheduler:get_last_lr ()
  return self.last_lr
end

--- sched:config() -> {name = "StepLR", step_size = ..., gamma = ...}
function Scheduler:config ()
  local cfg = { name = self.name }
  for _, k in ipairs(SCHEDULERS[self.name].keys) do cfg[k] = self[k] end
  return cfg
end

--- nn.optim.scheduler_from_config(opt, cfg) -> a new scheduler of opt as
--  the one whose sched:config() gave cfg.  Errors: an unknown name, or what
--  the constructor raises.
function optim.scheduler_from_config (opt, cfg)
  if type(cfg) ~= "table" or SCHEDULERS[cfg.name] == nil then
    error(("scheduler_from_config: unknown scheduler '%s' (known: %s)")
          :format(type(cfg) == "table" and tostring(cfg.name) or type(cfg),
                  table.concat(SCHEDULER_NAMES, ", ")), 2)
  end
  local opts = {}
  for k, v in pairs(cfg) do
    if k ~= "name" then opts[k] = v end
  end
  local self, err = build_scheduler(cfg.name, opt, opts)
  if not self then error(err, 2) end
  return self
end

--- sched:state_dict() -> {config = sched:config(), last_epoch = n,
--  base_lr = x, last_lr = y}: plain numbers.
function Scheduler:state_dict ()
  return { config = self:config(), last_epoch = self.last_epoch, base_lr = self.base_lr,
           last_lr = self.last_lr }
end

--- sched:load_state_dict(sd) -> sched: continue from sd.  As PyTorch's, this
--  leaves opt.lr alone: the optimizer's own state_dict holds it.  Errors
--  (nothing changed then): sd of another scheduler, bad options or numbers.
function Scheduler:load_state_dict (sd)
  local who = self.name .. ":load_state_dict"
  local opts = state_dict_options(who, sd, self.name, "a scheduler",
                                  "{config = ..., last_epoch = ..., base_lr = ..., last_lr = ...}")
  local checked, err = scheduler_options(self.name, opts)
  if not checked then error(who .. ": " .. err, 2) end
  local last_epoch = count_of(who, sd, "last_epoch")
  for _, k in ipairs{ "base_lr", "last_lr" } do
    if type(sd[k]) ~= "number" or not (sd[k] >= 0) then
      error(("%s: %s must be a number >= 0, got %s"):format(who, k, tostring(sd[k])), 2)
    end
  end
  for k, v in pairs(checked) do self[k] = v end
  self.last_epoch, self.base_lr, self.last_lr = last_epoch, sd.base_lr, sd.last_lr
  return self
end

--- tostring(sched): "StepLR{step_size=30, gamma=0.1}"
function Scheduler.__tostring (self)
  local parts = {}
  for _, k in ipairs(SCHEDULERS[self.name].keys) do parts[#parts + 1] = k .. "=" .. num(self[k]) end
  return self.name .. "{" .. table.concat(parts, ", ") .. "}"
end

return optim
