--- nn.callbacks: code that model:train runs at its milestones, as Keras's.
--
--   model:train(x, y, {epochs = 50, validation_split = 0.1, callbacks = {
--     nn.callbacks.EarlyStopping{monitor = "val_loss", patience = 3, restore_best_weights = true},
--     nn.callbacks.ModelCheckpoint{path = "best.safetensors", save_best_only = true},
--     nn.callbacks.LearningRateScheduler(function (epoch, lr) return lr * 0.9 end),
--     nn.callbacks.CSVLogger{path = "log.csv"},
--     nn.callbacks.TerminateOnNaN(),
--     function (epoch, logs, model) print(epoch, logs.loss) end,   -- after each epoch
--   }})
--
-- A callback is a table with any of these methods, each called with the
-- model first:
--   on_train_begin(model, logs)        on_train_end(model, logs)
--   on_epoch_begin(model, epoch)       on_epoch_end(model, epoch, logs)
--   on_batch_end(model, batch, logs)   logs = {loss = ..., batch_size = ...}
-- Epoch logs hold loss, accuracy, val_loss, val_accuracy, lr, seconds,
-- samples.  Setting model.stop_training = true ends training after the
-- current batch.  Epochs count from 1.
--
-- A callback with state (EarlyStopping, ModelCheckpoint, LearningRateScheduler
-- with a scheduler) also has cb:state_dict() -> a table of plain numbers and
-- cb:load_state_dict(sd).  model:save keeps the states of the callbacks of
-- the model's last train in the checkpoint; after nn.load, a train that
-- resumes (initial_epoch > 0) gives them back to the callbacks at the same
-- places in its list (of the same kind) after their on_train_begin, so a
-- resumed run goes on as an unbroken one.  Put ModelCheckpoint after a
-- LearningRateScheduler: it saves the states as they are when it runs.

local callbacks = {}

local check = require "nn.check"

local function fail(fmt, ...) error(fmt:format(...), 3) end

-- the options of constructor `who`, checked (level 3: the constructor's caller)
local function check_opts(who, opts, known)
  local checked = check.keys(3, who, opts, known)    -- not a tail call: it keeps the levels
  return checked
end

-- "min" for losses, "max" for accuracies, unless told
local function mode_for(who, monitor, mode)
  mode = check.value(3, who, "mode", mode, { "auto", "min", "max" }, "auto")
  if mode == "auto" then return monitor:find("acc") and "max" or "min" end
  return mode
end

-- a best value as a checkpoint's JSON can hold it: +-inf (nothing seen yet)
-- becomes nil, and nil the start value again
local function finite(v)
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  return v
end

local function start_best(mode) return mode == "min" and math.huge or -math.huge end

-- sd[key] checked for load_state_dict: a number (kind "number") or an
-- integer >= 0 (kind "count"), or nil when optional
local function state_field(who, sd, key, kind, optional)
  local v = sd[key]
  if v == nil and optional then return nil end
  if kind == "count" then
    v = math.tointeger(v)
    if v and v >= 0 then return v end
  elseif type(v) == "number" and v == v then
    return v
  end
  error(("%s:load_state_dict: %s must be %s, got %s"):format(who, key,
        kind == "count" and "an integer >= 0" or "a number", check.show(sd[key])), 3)
end

local function check_state(who, sd)
  if type(sd) ~= "table" then
    error(("%s:load_state_dict: expected a table, got %s"):format(who, check.show(sd)), 3)
  end
end

local function improved(mode, current, best, min_delta)
  if mode == "min" then return current < best - min_delta end
  return current > best + min_delta
end

local function monitored(who, logs, monitor)
  local v = logs[monitor]
  if v == nil then
    local have = {}
    for k in pairs(logs) do have[#have + 1] = k end
    table.sort(have)
    error(("%s: '%s' is not in the epoch's logs (they hold: %s); for val_* give "
           .. "validation_data or validation_split to train"):format(who, monitor,
           table.concat(have, ", ")), 0)
  end
  return v
end

local function class(name)
  local c = {}
  c.__index = c
  c.__tostring = function () return "nn.callbacks." .. name end
  return c
end


--- nn.callbacks.EarlyStopping{monitor = "val_loss", patience = 0,
-- min_delta = 0, mode = "auto", restore_best_weights = false}: stop when the
-- monitored value has not improved by more than min_delta for `patience`
-- epochs; with restore_best_weights, the model ends with the weights of its
-- best epoch.  Errors: unknown options; the monitored value missing from
-- the logs (raised at the first epoch's end).
local EarlyStopping = class("EarlyStopping")
function callbacks.EarlyStopping(opts)
  local who = "EarlyStopping"
  opts = check_opts(who, opts, { "monitor", "patience", "min_delta", "mode", "restore_best_weights" })
  local self = setmetatable({
    monitor = check.value(2, who, "monitor", opts.monitor, "string", "val_loss"),
    patience = check.value(2, who, "patience", opts.patience, "non-negative integer", 0),
    min_delta = check.value(2, who, "min_delta", opts.min_delta, "number >= 0", 0),
    restore_best_weights = check.value(2, who, "restore_best_weights", opts.restore_best_weights,
                                       "boolean", false) }, EarlyStopping)
  self.mode = mode_for("EarlyStopping", self.monitor, opts.mode)
  return self
end
function EarlyStopping:on_train_begin()
  self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, nil, nil, nil
  self.best = start_best(self.mode)
end
--- es:state_dict() -> {best = x, wait = n, best_epoch = n}: what a resumed
-- run needs to stop where an unbroken one would (best_weights, tensors, are
-- not kept: a resumed run restores the best weights it sees itself).
function EarlyStopping:state_dict()
  return { best = finite(self.best), wait = self.wait or 0, best_epoch = self.best_epoch }
end
function EarlyStopping:load_state_dict(sd)
  check_state("EarlyStopping", sd)
  local best = state_field("EarlyStopping", sd, "best", "number", true)
  local wait = state_field("EarlyStopping", sd, "wait", "count")
  local best_epoch = state_field("EarlyStopping", sd, "best_epoch", "count", true)
  self.best, self.wait, self.best_epoch = best or start_best(self.mode), wait, best_epoch
  return self
end
function EarlyStopping:on_epoch_end(model, epoch, logs)
  local current = monitored("EarlyStopping", logs, self.monitor)
  if improved(self.mode, current, self.best, self.min_delta) then
    self.best, self.best_epoch, self.wait = current, epoch, 0
    if self.restore_best_weights then self.best_weights = model:get_weights() end
  else
    self.wait = self.wait + 1
    if self.wait >= self.patience then
      self.stopped_epoch, model.stop_training = epoch, true
    end
  end
end
function EarlyStopping:on_train_end(model)
  if self.restore_best_weights and self.best_weights and self.best_epoch ~= model.epoch then
    model:set_weights(self.best_weights)
  end
end


--- nn.callbacks.ModelCheckpoint{path = "ckpt.safetensors", monitor =
-- "val_loss", save_best_only = false, mode = "auto", verbose = false}: save
-- the model (model:save: weights, optimizer, epoch, random state) after each
-- epoch, or only when the monitored value improves.  "{epoch}" in the path
-- becomes the epoch number.  Errors: no path; unknown options.
local ModelCheckpoint = class("ModelCheckpoint")
function callbacks.ModelCheckpoint(opts)
  local who = "ModelCheckpoint"
  opts = check_opts(who, opts, { "path", "monitor", "save_best_only", "mode", "verbose" })
  local self = setmetatable({
    path = check.value(2, who, "path", opts.path, "string"),
    monitor = check.value(2, who, "monitor", opts.monitor, "string", "val_loss"),
    save_best_only = check.value(2, who, "save_best_only", opts.save_best_only, "boolean", false),
    verbose = check.value(2, who, "verbose", opts.verbose, "boolean", false) }, ModelCheckpoint)
  self.mode = mode_for("ModelCheckpoint", self.monitor, opts.mode)
  return self
end
function ModelCheckpoint:on_train_begin()
  self.best = start_best(self.mode)
end
--- mc:state_dict() -> {best = x}: the best monitored value saved so far
function ModelCheckpoint:state_dict()
  return { best = finite(self.best) }
end
function ModelCheckpoint:load_state_dict(sd)
  check_state("ModelCheckpoint", sd)
  self.best = state_field("ModelCheckpoint", sd, "best", "number", true) or start_best(self.mode)
  return self
end
function ModelCheckpoint:on_epoch_end(model, epoch, logs)
  if self.save_best_only then
    local current = monitored("ModelCheckpoint", logs, self.monitor)
    if not improved(self.mode, current, self.best, 0) then return end
    self.best = current
  end
  local path = self.path:gsub("{epoch}", tostring(epoch))
  model:save(path)
  self.last_saved = path
  if self.verbose then print(("ModelCheckpoint: epoch %d saved to %s"):format(epoch, path)) end
end


--- nn.callbacks.LearningRateScheduler(schedule): before each epoch set the
-- optimizer's lr to schedule(epoch, lr) (a function, as Keras's; epochs
-- count from 1), or, given a scheduler of nn.optim (StepLR, ExponentialLR,
-- CosineAnnealingLR), call its step() after each epoch, as PyTorch does.
-- Errors: anything else; a schedule that returns no number.
local LearningRateScheduler = class("LearningRateScheduler")
function callbacks.LearningRateScheduler(schedule)
  local is_sched = type(schedule) == "table" and type(schedule.step) == "function"
  if type(schedule) ~= "function" and not is_sched then
    fail("LearningRateScheduler: expected a function (epoch, lr) -> lr or a scheduler of "
         .. "nn.optim, got %s", type(schedule))
  end
  return setmetatable({ schedule = schedule, is_scheduler = is_sched }, LearningRateScheduler)
end
function LearningRateScheduler:on_epoch_begin(model, epoch)
  if self.is_scheduler then return end
  local lr = self.schedule(epoch, model.optimizer.lr)
  if type(lr) ~= "number" or lr ~= lr or lr < 0 then
    error(("LearningRateScheduler: the schedule returned %s for epoch %d; it must return "
           .. "a number >= 0"):format(tostring(lr), epoch), 0)
  end
  model.optimizer.lr = lr
end
function LearningRateScheduler:on_epoch_end()
  if self.is_scheduler then self.schedule:step() end
end
--- lrs:state_dict() -> {scheduler = sched:state_dict()}, or {} for a
-- function (its lr lives in the optimizer, which the checkpoint keeps)
function LearningRateScheduler:state_dict()
  if not self.is_scheduler then return {} end
  return { scheduler = self.schedule:state_dict() }
end
function LearningRateScheduler:load_state_dict(sd)
  check_state("LearningRateScheduler", sd)
  if self.is_scheduler then
    if sd.scheduler == nil then
      error("LearningRateScheduler:load_state_dict: the state holds no scheduler", 2)
    end
    self.schedule:load_state_dict(sd.scheduler)
  end
  return self
end


--- nn.callbacks.CSVLogger{path = "log.csv", separator = ",", append = false}:
-- one row per epoch (epoch, then the logs' keys in sorted order), flushed
-- as it goes, so a crash loses at most the epoch that was running.
-- Errors: no path; the file cannot be opened (at the start of training).
local CSVLogger = class("CSVLogger")
function callbacks.CSVLogger(opts)
  local who = "CSVLogger"
  opts = check_opts(who, opts, { "path", "separator", "append" })
  return setmetatable({ path = check.value(2, who, "path", opts.path, "string"),
                        separator = check.value(2, who, "separator", opts.separator, "string", ","),
                        append = check.value(2, who, "append", opts.append, "boolean", false) },
                      CSVLogger)
end
function CSVLogger:on_train_begin()
  local existed = false
  if self.append then
    local f = io.open(self.path, "r")
    if f then existed = f:read(1) ~= nil; f:close() end
  end
  local f, err = io.open(self.path, self.append and "a" or "w")
  if not f then error("CSVLogger: " .. tostring(err), 0) end
  self.file, self.keys = f, nil
  self.write_header = not existed
end
function CSVLogger:on_epoch_end(_, epoch, logs)
  if self.keys == nil then
    self.keys = {}
    for k in pairs(logs) do self.keys[#self.keys + 1] = k end
    table.sort(self.keys)
    if self.write_header then
      self.file:write("epoch", self.separator, table.concat(self.keys, self.separator), "\n")
    end
  end
  local row = { tostring(epoch) }
  for _, k in ipairs(self.keys) do
    local v = logs[k]
    row[#row + 1] = v == nil and "" or (math.type(v) == "float" and ("%.6g"):format(v) or tostring(v))
  end
  self.file:write(table.concat(row, self.separator), "\n")
  self.file:flush()
end
function CSVLogger:on_train_end()
  if self.file then self.file:close(); self.file = nil end
end


--- nn.callbacks.TerminateOnNaN(): stop training at the first batch whose
-- loss is NaN or infinite (the weights have diverged: lower the lr).
local TerminateOnNaN = class("TerminateOnNaN")
function callbacks.TerminateOnNaN()
  return setmetatable({}, TerminateOnNaN)
end
function TerminateOnNaN:on_batch_end(model, batch, logs)
  local loss = logs.loss
  if loss ~= loss or loss == math.huge or loss == -math.huge then
    print(("TerminateOnNaN: batch %d has loss %s; stopping"):format(batch, tostring(loss)))
    self.stopped_batch, model.stop_training = batch, true
  end
end


--- nn.callbacks.LambdaCallback{on_epoch_end = f, on_batch_end = f, ...}:
-- plain functions as hooks, called as f(epoch_or_batch, logs, model)
-- (on_train_begin/end: f(logs, model); on_epoch_begin: f(epoch, model)).
-- Errors: an unknown hook name, or a hook that is not a function.
function callbacks.LambdaCallback(fns)
  fns = check_opts("LambdaCallback", fns, { "on_train_begin", "on_train_end", "on_epoch_begin",
                                            "on_epoch_end", "on_batch_end" })
  local cb = {}
  for name, f in pairs(fns) do
    check.value(2, "LambdaCallback", name, f, "function")
    if name == "on_train_begin" or name == "on_train_end" then
      cb[name] = function (_, model, logs) return f(logs, model) end
    elseif name == "on_epoch_begin" then
      cb[name] = function (_, model, epoch) return f(epoch, model) end
    else
      cb[name] = function (_, model, n, logs) return f(n, logs, model) end
    end
  end
  return setmetatable(cb, { __tostring = function () return "nn.callbacks.LambdaCallback" end })
end

return callbacks
