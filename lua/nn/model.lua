--- nn.Model (also nn.Sequential): a stack of layers that trains itself, as
-- Keras's Sequential.
--
--   local model = nn.Sequential{
--     nn.Dense(784, 128, {activation = "relu"}),
--     nn.Dense(128, 10),
--     nn.Softmax(),
--   }                          -- or nn.Model() and model:add(layer), one by one
--   model:set{loss = "categorical_crossentropy", optimizer = nn.optim.Adam{lr = 1e-3},
--             accuracy = true}
--   local history = model:train(x, y, {epochs = 5, batch_size = 128,
--                                      validation_split = 0.1})
--   print(model:evaluate(x_test, y_test))          --> loss, accuracy
--
-- or the template nn.Model("basic", {784, 128, 128, 10}), which builds just
-- that (Dense + ReLU layers, a Softmax output, categorical cross-entropy,
-- Adam) and whose parts can then be replaced with model:set{...}.
-- Or a graph of layers, Keras's functional API (lua/nn/graph.lua):
--   local x = nn.Input{784}
--   local y = nn.Softmax()(nn.Dense(256, 10)(nn.Dense(784, 256)(x)))
--   local model = nn.Model{inputs = x, outputs = y}   -- several: lists
--
-- Three files hold the class: this one (the container, forward, backward,
-- the step, summary), lua/nn/fit.lua (train, evaluate, predict: the loop,
-- its progress display and callbacks) and lua/nn/checkpoint.lua (save,
-- nn.load).  The last two add their methods to this table; see the end of
-- this file.
--
-- One training step (model:step(x, y), which model:train runs per batch):
--   zero_grad the layers written in Lua that have parameters
--   out = layer_n(... layer_1(x))                          forward
--   loss = criterion(out, y)
--   g = dloss/dout; for each layer, last first, down to the first layer that
--     has parameters: g = layer:backward(g)   C layers SET their parameter
--     gradients here (no zero_grad needed: GEMMs with beta 0); Lua layers
--     add to theirs, zeroed above.  The first layer with parameters computes
--     only those gradients, not dL/dx; the layers below it are not visited.
--   optimizer:step(params, grads)                          nn/optim.c
-- model:backward() outside a step goes through every layer and adds (+=)
-- to every gradient, as PyTorch's backward: model:zero_grad() clears them.
-- Where the last layer gives probabilities (a Softmax, or a Dense whose
-- fused activation is softmax) and the loss takes them (categorical
-- cross-entropy; or log-probabilities and NLLLoss), model:set plans the step
-- on the logits instead, as Keras does: the loss is computed by
-- nn.CrossEntropyLoss, the criterion that takes logits and owns the fused
-- gradient dL/dz = (softmax(z) - y) / B (nn/loss_classification.c): stable
-- where p underflows, and one pass instead of two.  The Softmax layer still
-- runs, so predict and its live output give probabilities; a fused softmax
-- is left out of the step's forward ({activation = false}), so that
-- layer's output holds the logits after a step.
--
-- Every layer's output and gradients stay live tensors: after a step,
-- model.layers[1].grad_weight is the gradient that step computed.
local nn = require "nn"

local Model = {}
Model.__index = Model

local function fail(level, fmt, ...)
  error(fmt:format(...), level + 1)
end

local function is_module(v) return getmetatable(v) == nn.Module end
local function is_tensor(v) return getmetatable(v) == nn.Tensor end

-- a layer is a C layer (nn.Module) or a table with forward and backward
local function is_layer(v)
  return is_module(v) or (type(v) == "table" and type(v.forward) == "function"
                          and type(v.backward) == "function")
end

local function check_layer(layer, who)
  if is_layer(layer) then return end
  fail(3, "%s: expected a layer (nn.Dense(...), nn.ReLU(), or a table with forward "
       .. "and backward), got %s", who, type(layer))
end

local function layer_name(layer)
  if is_module(layer) then return layer.name end
  return layer.name or "LuaLayer"
end

local function layer_params(layer)
  if is_module(layer) or type(layer.parameters) == "function" then
    local p, g = layer:parameters()
    return p or {}, g or {}
  end
  return {}, {}
end

local function set_mode(layer, training)
  if is_module(layer) then
    if training then layer:train() else layer:evaluate() end
  elseif training and type(layer.train) == "function" then layer:train()
  elseif not training and type(layer.evaluate) == "function" then layer:evaluate() end
end

-- t on the model's device: t itself when it is there (no copy)
local function on_device(t, device)
  if t == nil or t.device == device then return t end
  return t:to(device)
end

local function sorted_names(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end


-- the layers of nn.Model{l1, l2, ...}, checked before any is added
local function check_list(list)
  if is_layer(list) then
    fail(3, "nn.Model: expected a list of layers {l1, l2, ...}, got one layer; write nn.Model{layer}")
  end
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > #list then
      fail(3, "nn.Model: expected a list of layers {l1, l2, ...}, got the key %s",
           type(k) == "string" and ("'" .. k .. "'") or tostring(k))
    end
  end
  for i = 1, #list do
    local v = list[i]
    if not is_layer(v) then
      fail(3, "nn.Model: entry %d is not a layer (got %s)", i, is_tensor(v) and "a tensor" or type(v))
    end
  end
end


--- nn.Model() -> an empty model.
-- nn.Model{l1, l2, ...} (or nn.Sequential{l1, l2, ...}, the same class) ->
-- a model of those layers, in order, as model:add would add them one by
-- one (Torch7's and Keras's way to write it); nn.Model{} is an empty model.
-- nn.Model{inputs = x, outputs = y} -> a graph model (Keras's functional
-- API): x = nn.Input{784}, y = layers called on it, each a symbolic
-- tensor or a list of them (lua/nn/graph.lua).
-- nn.Model("basic", {784, 128, 128, 10}) -> Dense + ReLU hidden layers of
-- those sizes, a Dense + Softmax output, categorical cross-entropy, Adam
-- (lr 1e-3) and accuracy.
-- Errors: an entry of the list that is not a layer, naming its index
-- ("nn.Model: entry 2 is not a layer (got number)"); an unknown template;
-- sizes that are not positive integers.
function Model.new(template, sizes)
  local self = setmetatable({ layers = {}, trainable_layers = {}, epoch = 0,
                              training = true, stop_training = false,
                              device = nn.get_default_device() }, Model)
  if template == nil then return self end
  -- nn.Model{inputs = x, outputs = y}: a graph model (lua/nn/graph.lua)
  if type(template) == "table" and (rawget(template, "inputs") ~= nil
                                    or rawget(template, "outputs") ~= nil) then
    return Model._new_graph(self, template)
  end
  if type(template) == "table" or is_module(template) then
    check_list(template)
    for i = 1, #template do self:add(template[i]) end
    return self
  end
  if template ~= "basic" then
    fail(2, "nn.Model: unknown template %s (known: 'basic')", tostring(template))
  end
  if type(sizes) ~= "table" or #sizes < 2 then
    fail(2, "nn.Model('basic', sizes): sizes must be a list of at least 2 layer widths, "
         .. "as {784, 128, 10}")
  end
  for i, n in ipairs(sizes) do
    if math.type(n) ~= "integer" or n < 1 then
      fail(2, "nn.Model('basic', sizes): sizes[%d] must be a positive integer, got %s",
           i, tostring(n))
    end
  end
  for i = 1, #sizes - 2 do
    self:add(nn.Dense(sizes[i], sizes[i + 1], { activation = "relu" }))
  end
  self:add(nn.Dense(sizes[#sizes - 1], sizes[#sizes]))
  self:add(nn.Softmax())
  self:set{ loss = "categorical_crossentropy", optimizer = "adam", accuracy = true }
  return self
end

setmetatable(Model, { __call = function (_, ...) return Model.new(...) end })

--- model:add(layer) -> model: append a layer (a C layer or a Lua table with
-- forward(self, x) and backward(self, grad_output); optional parameters(),
-- zero_grad(), train(), evaluate()).  Errors: anything else.
function Model:add(layer)
  check_layer(layer, "model:add")
  set_mode(layer, self.training)    -- a layer joins in the model's mode
  self.layers[#self.layers + 1] = layer
  if #layer_params(layer) > 0 then
    self.trainable_layers[#self.trainable_layers + 1] = layer
    self._first_trainable = self._first_trainable or #self.layers
  end
  self._params = nil            -- the flat parameter lists are rebuilt on the next step
  self.device = self:_device()
  self:_plan_loss()
  return self
end


-- losses and optimizers by name, as Keras's strings
local losses = {
  categorical_crossentropy = function () return nn.CategoricalCrossentropy() end,
  sparse_categorical_crossentropy = function () return nn.CategoricalCrossentropy() end,
  cross_entropy = function () return nn.CrossEntropyLoss() end,
  nll = function () return nn.NLLLoss() end,
  mse = function () return nn.MSELoss() end,
  mean_squared_error = function () return nn.MSELoss() end,
  mae = function () return nn.L1Loss() end,
  mean_absolute_error = function () return nn.L1Loss() end,
  binary_crossentropy = function () return nn.BCELoss() end,
  bce_with_logits = function () return nn.BCEWithLogitsLoss() end,
}
local optimizers = { sgd = "SGD", adagrad = "Adagrad", rmsprop = "RMSprop", adam = "Adam",
                     adamw = "AdamW" }

-- model:set's loss as a loss object: one given (a C loss, or one written in
-- Lua: nn.LambdaLoss, nn.FocalLoss, a table with forward(out, y) -> number,
-- backward(out, y) -> dL/dout, and reduction, as a criterion's), or made
-- from its Keras name.  Raises at `level` (as error's) otherwise.  A graph
-- model (graph.lua) resolves each output's loss with it.
function Model._resolve_loss(loss, level)
  if type(loss) == "string" then
    local make = losses[loss]
    if not make then
      fail(level + 1, "model:set: unknown loss '%s' (known: %s)", loss, sorted_names(losses))
    end
    return make()
  end
  if getmetatable(loss) ~= nn.Criterion
     and not (type(loss) == "table" and type(loss.forward) == "function"
              and type(loss.backward) == "function") then
    fail(level + 1, "model:set: loss must be a loss (nn.CategoricalCrossentropy(), ...) or its "
         .. "name, got %s", type(loss))
  end
  return loss
end

--- model:set{loss = ..., optimizer = ..., accuracy = ...} -> model (alias
-- compile).  Any part may be left out and set later; a part given again
-- replaces the old one.
--   loss       a loss (nn.CategoricalCrossentropy(), ..., or one written in Lua:
--              a table with forward(out, y) and backward(out, y), nn.FocalLoss{})
--              or its Keras name:
--              categorical_crossentropy, sparse_categorical_crossentropy,
--              cross_entropy, nll, mse, mae, binary_crossentropy, bce_with_logits
--   optimizer  nn.optim.Adam{...}, ..., or a name: sgd, adagrad, rmsprop,
--              adam, adamw (with their default settings)
--   accuracy   true ("accuracy"), false (none), a metric name or spec of
--              nn.metrics.get, or a function (pred, target) -> hits, count
--   metrics    Keras's list form, {"accuracy"}: its first entry is used
-- Errors: an unknown key or name.
function Model:set(opts)
  if type(opts) ~= "table" then fail(2, "model:set: expected a table of options, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "loss" and k ~= "optimizer" and k ~= "accuracy" and k ~= "metrics" then
      fail(2, "model:set: unknown option '%s' (options: loss, optimizer, accuracy, metrics)", tostring(k))
    end
  end
  if opts.loss ~= nil then self.loss = Model._resolve_loss(opts.loss, 2) end
  if opts.optimizer ~= nil then
    local opt = opts.optimizer
    if type(opt) == "string" then
      local name = optimizers[opt:lower()]
      if not name then fail(2, "model:set: unknown optimizer '%s' (known: %s)", opt, sorted_names(optimizers)) end
      opt = nn.optim[name]{}
    elseif type(opt) ~= "table" or type(opt.step) ~= "function" then
      fail(2, "model:set: optimizer must be an optimizer (nn.optim.Adam{...}, ...) or its name, got %s", type(opt))
    end
    self.optimizer = opt
  end
  local acc = opts.accuracy
  if opts.metrics ~= nil then
    if type(opts.metrics) ~= "table" then fail(2, "model:set: metrics must be a list, as {'accuracy'}") end
    acc = opts.metrics[1] or false
  end
  if acc ~= nil then
    if acc == true then acc = "accuracy" end
    self.metric = acc and nn.metrics.get(acc) or nil
  end
  self:_plan_loss()
  return self
end
Model.compile = Model.set

-- The plan for `loss` read on what `layer` gives (the top of this file):
-- nil, or {loss = nn.CrossEntropyLoss{...}, fused = true when the softmax
-- is the layer's fused activation}.  Read from the descriptions alone: what
-- the layer gives (layer.gives) and what the loss takes (loss.takes).  A
-- graph model (graph.lua) asks it for each output.
function Model._loss_plan(layer, loss)
  -- (a C layer and a C loss: a loss written in Lua is never replaced)
  if layer == nil or not is_module(layer) or getmetatable(loss) ~= nn.Criterion then return nil end
  if layer.gives == "values" or layer.gives ~= loss.takes then return nil end
  return { loss = nn.CrossEntropyLoss{ reduction = loss.reduction },
           fused = layer:config().activation ~= nil }    -- the softmax is its activation
end

-- The plan of the step's loss: self._plan, the last layer's plan
function Model:_plan_loss()
  if self.graph then return self.graph:_plan_loss(self) end     -- one plan per output
  self._plan = Model._loss_plan(self.layers[#self.layers], self.loss)
end

function Model:_check_ready(who)
  if #self.layers == 0 then fail(3, "%s: the model has no layers; add some with model:add(layer)", who) end
  if self.loss == nil then fail(3, "%s: no loss; set one with model:set{loss = 'categorical_crossentropy'}", who) end
  if self.optimizer == nil and who ~= "model:evaluate" then
    fail(3, "%s: no optimizer; set one with model:set{optimizer = nn.optim.Adam{}}", who)
  end
end

--- model:parameters() -> params, grads: every layer's parameters and their
-- gradients, in layer order (the live tensors the optimizer updates).
function Model:parameters()
  local params, grads = {}, {}
  for _, layer in ipairs(self.layers) do
    local p, g = layer_params(layer)
    for i = 1, #p do params[#params + 1], grads[#grads + 1] = p[i], g[i] end
  end
  return params, grads
end

--- model:set_training(on) -> model: training mode (Dropout drops, BatchNorm
-- uses batch statistics) or evaluation mode, for every layer.  train and
-- step switch to training, evaluate and predict to evaluation and back.
function Model:set_training(on)
  on = on and true or false
  if self.training ~= on then
    for _, layer in ipairs(self.layers) do set_mode(layer, on) end
    self.training = on
  end
  return self
end

-- where the parameters are (those of the first layer that has any; else
-- the first layer's output buffer; else the default device).  model.device
-- holds it, set by add and to; train, evaluate, predict and step ask anew.
function Model:_device()
  local first = self.trainable_layers[1] or self.layers[1]
  if first == nil then return nn.get_default_device() end
  if is_module(first) then return first.device end
  local p = layer_params(first)
  return p[1] and p[1].device or nn.get_default_device()
end

--- model:to(device) -> model: every layer (parameters, gradients, buffers,
-- running statistics) and the optimizer's state moved to 'cpu' or 'cuda',
-- in place, as PyTorch's model.to(device).  Training and prediction then
-- copy x and y there themselves.  A layer written in Lua moves when it has
-- a to(self, device) method.
-- Errors: an unknown device; "CUDA is not available: <reason>"; out of
-- GPU memory (the model may then be half moved: move it again, or back).
function Model:to(device)
  if device ~= "cpu" and device ~= "cuda" then
    fail(2, "model:to: device must be 'cpu' or 'cuda', got %s", tostring(device))
  end
  for i, layer in ipairs(self.layers) do
    local ok, err = true, nil
    if is_module(layer) or type(layer.to) == "function" then ok, err = pcall(layer.to, layer, device) end
    if not ok then fail(2, "model:to: layer %d (%s): %s", i, layer_name(layer), tostring(err)) end
  end
  if self.optimizer and self.optimizer.to then self.optimizer:to(device) end
  self._params, self._grads = nil, nil
  self.device = device
  return self
end
function Model:cuda() return self:to("cuda") end
function Model:cpu() return self:to("cpu") end

--- model:forward(x) -> output: x through every layer, in the current mode.
-- x: (B, ...) as the first layer takes it.  The output is the last layer's
-- live output tensor (the next forward overwrites it).
-- Errors: a layer's own error, as it raises it: a C layer names itself and
-- the shapes ("bad argument #1 to 'forward' (Linear(3 -> 2): expected input
-- [B x 3], got [4x5])").  No pcall per layer: it would cost time on every
-- batch and turn the error into a string that names no function ('?').
function Model:forward(x)
  if #self.layers == 0 then fail(2, "model:forward: the model has no layers") end
  local out = x
  for _, layer in ipairs(self.layers) do
    out = layer:forward(out)
  end
  self._output = out
  return out
end

-- The forward of a step (and of evaluate): as model:forward, but where a
-- plan puts the loss on the logits (Model:_plan_loss) also returns them:
-- the last layer's input (a Softmax layer still runs, for the live output),
-- or the last layer's output with its fused softmax left out.
-- Returns out, and the tensor the loss takes (out itself without a plan).
function Model:_forward_for_loss(x)
  if self.graph then return self.graph:_forward_for_loss(self, x) end
  local plan, layers = self._plan, self.layers
  if plan == nil then
    local out = self:forward(x)
    return out, out
  end
  local n, out = #layers, x
  for i = 1, n - 1 do out = layers[i]:forward(out) end
  if plan.fused then
    out = layers[n]:forward(out, { activation = false })
    self._output = out
    return out, out
  end
  local logits = out
  out = layers[n]:forward(out)
  self._output = out
  return out, logits
end

-- Steps' options of C layers' backward: set the parameter gradients (the
-- step's zero_grad fused in: GEMMs with beta 0), and for the first layer
-- that has parameters, no dL/dx (nobody reads it: for a Dense, one GEMM of
-- three).  model:backward() outside a step accumulates, through every layer.
local STEP, STEP_FIRST = { accumulate = false }, { accumulate = false, grad_input = false }

-- backward through layers first..1 from g; returns dL/dx.  With `full`
-- false (a training step) it does less, for the same gradients: below the
-- first layer that has parameters nothing is computed (STEP_FIRST above).
local function backward_from(self, first, g, full)
  local layers, stop = self.layers, full and 1 or self._first_trainable
  if stop == nil then return nil end                 -- nothing to train
  for i = first, stop, -1 do
    local layer = layers[i]
    if not is_module(layer) then
      -- a Lua layer is told too when nobody reads its dL/dx (nn.Lambda skips it)
      g = layer:backward(g, (not full and i == stop) and STEP_FIRST or nil)
    elseif full then
      g = layer:backward(g)
    elseif i == stop then
      layer:backward(g, STEP_FIRST)
      return nil
    else
      g = layer:backward(g, STEP)
    end
  end
  return g
end

--- model:backward([grad_output]) -> grad_input, dL/dx.  With grad_output
-- (the output's shape): through every layer from it.  Without: from the
-- loss of the last model:compute_loss(y), at the model's output (the
-- plain chain rule, through a Softmax's Jacobian: the fused gradient is
-- the step's).  Parameter gradients accumulate
-- (+=): model:zero_grad() clears them (model:step needs no zero_grad: see
-- the top of this file).
-- Errors: no forward before; a gradient of the wrong shape.
function Model:backward(grad_output)
  if self._output == nil then fail(2, "model:backward: call model:forward(x) first") end
  if grad_output ~= nil then return backward_from(self, #self.layers, grad_output, true) end
  if self._target == nil then
    fail(2, "model:backward: give grad_output, or compute the loss first with model:compute_loss(y)")
  end
  return backward_from(self, #self.layers, self.loss:backward(self._output, self._target), true)
end

-- the backward of a step's loss: from the criterion the plan chose, at the
-- tensor it took (the logits: below a Softmax layer, or at a Dense whose
-- forward left its softmax out and whose backward then skips it too)
function Model:_backward_loss(out, y, full)
  if self.graph then return self.graph:_backward_loss(self, out, y, full) end
  local n, plan = #self.layers, self._plan
  if plan == nil then return backward_from(self, n, self.loss:backward(out, y), full) end
  local g = plan.loss:backward()            -- at its last forward: (softmax(z) - y) / B
  return backward_from(self, plan.fused and n or n - 1, g, full)
end

-- the loss of a step's forward (out, and what the plan's loss takes)
function Model:_loss_of(out, logits, y)
  if self.graph then return self.graph:_loss_of(self, out, logits, y) end
  if self._plan then return self._plan.loss:forward(logits, y) end
  return self.loss:forward(out, y)
end

--- model:compute_loss(y) -> the loss of the last forward's output against y
-- (a number), kept for model:backward().  (model.loss is the loss itself.)
-- Errors: no forward before; no loss set.
function Model:compute_loss(y)
  if self._output == nil then fail(2, "model:compute_loss: call model:forward(x) first") end
  if self.loss == nil then fail(2, "model:compute_loss: no loss; set one with model:set{loss = ...}") end
  self._target = y
  return self.loss:forward(self._output, y)
end

--- model:zero_grad() -> model: every parameter gradient = 0.
function Model:zero_grad()
  for _, layer in ipairs(self.trainable_layers) do layer:zero_grad() end
  return self
end

-- Every TRACK_EVERY-th step (the first included) measures how far the
-- optimizer moved each weight, ||W_after - W_before|| / ||W_before||, for
-- model:inspect(): a copy of the weights before and two norms after, so
-- 1/32 of a copy per step on average.
local TRACK_EVERY = 32

-- each trainable layer's first parameter (its weight), with its index
local function tracked_weights(self)
  local list = {}
  for i, layer in ipairs(self.layers) do
    local p = layer_params(layer)
    if p[1] then list[#list + 1] = { index = i, weight = p[1] } end
  end
  return list
end

local function snapshot_weights(self)
  local list = self._tracked
  -- made again when the layers changed (model:add) or moved (model:to)
  if list == nil or self._tracked_layers ~= #self.layers
     or (list[1] and list[1].weight.device ~= list[1].before.device) then
    list = tracked_weights(self)
    for _, w in ipairs(list) do w.before = w.weight:clone() end
    self._tracked, self._tracked_layers = list, #self.layers
  else
    for _, w in ipairs(list) do w.before:copy(w.weight) end
  end
end

local function record_updates(self)
  local ratios = {}
  for _, w in ipairs(self._tracked) do
    local before = w.before:norm()                  -- (a weight of zeros has no ratio)
    ratios[w.index] = before > 0 and w.before:sub_(w.weight):norm() / before or nil
  end
  self._update_ratios, self._update_step = ratios, self._steps
end

-- One step, without the checks (train calls it per batch).  watch: nil, or
-- the tensors model:train{stop_on_nan} checks (Model:_nan_watch): when the
-- loss or one of them is NaN or Inf after the backward, the step returns
-- `true` third, before the optimizer's update, so every tensor is as the
-- batch left it.
function Model:_step(x, y, watch)
  if self._params == nil then self._params, self._grads = self:parameters() end
  -- the C layers' gradients are set by the backward itself (backward_from);
  -- a layer written in Lua gets its zero_grad here
  for _, layer in ipairs(self.trainable_layers) do
    if not is_module(layer) then layer:zero_grad() end
  end
  local out, logits = self:_forward_for_loss(x)
  local loss = self:_loss_of(out, logits, y)
  self._target = nil                  -- compute_loss sets it, for model:backward()
  self:_backward_loss(logits, y)
  if watch and (loss ~= loss or loss == math.huge or loss == -math.huge
                or nn.first_nonfinite(watch)) then
    return loss, out, true
  end
  local steps = (self._steps or 0) + 1
  self._steps = steps
  local track = steps % TRACK_EVERY == 1
  if track then snapshot_weights(self) end
  self.optimizer:step(self._params, self._grads)
  if track then record_updates(self) end
  return loss, out
end

-- The tensors stop_on_nan checks after each batch: every layer's output
-- and its parameters' gradients (the grad_inputs feed those: a NaN there
-- reaches a gradient below, or the first layer's, which nobody reads).
function Model:_nan_watch()
  local list = {}
  for _, layer in ipairs(self.layers) do
    if is_module(layer) then           -- (a Lua layer may make a new output each time)
      list[#list + 1] = layer.output
      local _, grads = layer:parameters()
      for _, g in ipairs(grads) do list[#list + 1] = g end
    end
  end
  return list
end

-- Where the first NaN or Inf is, after a batch that made one: the outputs
-- in forward order, then the loss, then the gradients from the last layer
-- back (the order they were computed in).  -> index, layer, tensor name,
-- what it holds ("6 NaN", "1 Inf", "2 NaN and 1 Inf"), or nil, nil, "loss"
-- when no tensor holds one (the loss itself is not finite).
function Model:_find_nonfinite()
  local function what(t)
    local f = t:float()
    local nans, infs = f:isnan():sum(), f:isinf():sum()
    if nans + infs == 0 then return nil end
    return nans > 0 and infs > 0 and ("%d NaN and %d Inf"):format(nans, infs)
           or nans > 0 and ("%d NaN"):format(nans) or ("%d Inf"):format(infs)
  end
  for i, layer in ipairs(self.layers) do
    local w = is_tensor(layer.output) and what(layer.output)
    if w then return i, layer, "output", w end
  end
  for i = #self.layers, 1, -1 do
    local layer = self.layers[i]
    if is_module(layer) then
      for _, name in ipairs(nn.module_types[layer.name].params) do
        local g = layer["grad_" .. name]
        local w = g and what(g)
        if w then return i, layer, "grad_" .. name, w end
      end
      local gi = layer.grad_input
      local w = is_tensor(gi) and gi:numel() > 0 and what(gi)
      if w then return i, layer, "grad_input", w end
    end
  end
  return nil, nil, "loss"
end

--- model:step(x, y) -> loss: one training step on one batch (forward,
-- loss, backward setting the gradients, optimizer update; the top of this
-- file has the details), in training mode.
-- x: (B, ...), y: the targets the loss takes (copied to the model's device
-- when they are elsewhere).  Between steps every layer's
-- output, grad_input and grad_weight can be looked at.
-- Errors: no layers, loss or optimizer; shapes that do not fit.
function Model:step(x, y)
  self:_check_ready("model:step")
  if not is_tensor(x) then fail(2, "model:step: x must be an nn.Tensor, got %s", type(x)) end
  if not is_tensor(y) then fail(2, "model:step: y must be an nn.Tensor, got %s", type(y)) end
  self:set_training(true)
  local device = self:_device()
  return (self:_step(on_device(x, device), on_device(y, device)))
end


--- model:get_weights() -> a list of copies of every parameter and
-- persistent buffer (BatchNorm's running statistics), in a fixed order.
function Model:get_weights()
  local list = {}
  for _, entry in ipairs(self:_state_tensors()) do list[#list + 1] = entry[2]:clone() end
  return list
end

--- model:set_weights(list) -> model: copy a get_weights() list back.
-- Errors: a list of another length or shapes (nothing is changed then).
function Model:set_weights(list)
  local state = self:_state_tensors()
  if type(list) ~= "table" or #list ~= #state then
    fail(2, "model:set_weights: expected %d tensors, got %s", #state,
         type(list) == "table" and tostring(#list) or type(list))
  end
  for i, entry in ipairs(state) do
    if not is_tensor(list[i]) or list[i]:numel() ~= entry[2]:numel() then
      fail(2, "model:set_weights: entry %d (%s) must have %d elements", i, entry[1], entry[2]:numel())
    end
  end
  for i, entry in ipairs(state) do entry[2]:copy(list[i]) end
  return self
end


--- model:summary([input_shape]) -> the table Keras prints: each layer, its
-- output shape (B for the batch), its number of parameters, and the
-- totals.  Also printed.  Output shapes follow, through each layer's
-- output_shape, from input_shape (one sample's, without the batch: {1, 28,
-- 28} for an image), else the shape of the rows model:train last trained on
-- (model.input_shape), else the first layer's in_features (or
-- num_features); "?" where none is known or a Lua layer does not say.
-- Errors: input_shape not a list of positive integers.
function Model:summary(input_shape)
  local shape = nil
  if input_shape ~= nil then
    local ok = type(input_shape) == "table" and #input_shape >= 1
    for _, d in ipairs(ok and input_shape or {}) do
      ok = ok and math.type(d) == "integer" and d > 0
    end
    if not ok then
      fail(2, "model:summary: input_shape must be a list of positive sizes without the batch, "
           .. "such as {1, 28, 28}, got %s", require("nn.check").show(input_shape))
    end
    shape = { table.unpack(input_shape) }
  elseif type(rawget(self, "input_shape")) == "table" then
    shape = { table.unpack(self.input_shape) }
  end
  local first = self.layers[1]
  if shape == nil and first and is_module(first) then
    local cfg = first:config()
    local width = cfg.in_features or cfg.num_features
    if width then shape = { width } end
  end
  local rows, name_w = {}, 20
  local total, buffers = 0, 0
  for i, layer in ipairs(self.layers) do
    shape = Model._output_shape(layer, shape)
    local count = 0
    for _, p in ipairs((layer_params(layer))) do count = count + p:numel() end
    if is_module(layer) then
      for _, b in pairs(layer:buffers{ persistent = true }) do buffers = buffers + b:numel() end
    end
    total = total + count
    local name = tostring(layer):gsub("^nn%.", "")
    rows[i] = { name, shape and ("(B, " .. table.concat(shape, ", ") .. ")") or "?", count }
    name_w = math.max(name_w, #name)
  end
  -- the name column takes what 79 columns leave (a long name is cut, ~)
  name_w = math.min(name_w, 79 - (4 + 1) - (1 + 20) - (1 + 11))
  local fmt = "%-4s %-" .. name_w .. "s %-20s %11s"
  local rule = ("-"):rep(4 + 1 + name_w + 1 + 20 + 1 + 11)
  local lines = { fmt:format("#", "Layer", "Output shape", "Params"), rule }
  for i, r in ipairs(rows) do
    local name = #r[1] > name_w and r[1]:sub(1, name_w - 1) .. "~" or r[1]
    lines[#lines + 1] = fmt:format(i, name, r[2], Model._thousands(r[3]))
  end
  lines[#lines + 1] = rule
  lines[#lines + 1] = ("Total params: %s (%.2f KB)"):format(Model._thousands(total + buffers),
                                                          (total + buffers) * 4 / 1024)
  lines[#lines + 1] = ("Trainable params: %s"):format(Model._thousands(total))
  lines[#lines + 1] = ("Non-trainable params: %s"):format(Model._thousands(buffers))
  if self.loss then lines[#lines + 1] = ("Loss: %s"):format(tostring(self.loss):gsub("^nn%.", "")) end
  if self.optimizer then lines[#lines + 1] = ("Optimizer: %s"):format(tostring(self.optimizer)) end
  local text = require("nn.repr").wrap(table.concat(lines, "\n"))
  print(text)
  return nn.shown(text)   -- printed: the prompt does not print it again
end

function Model._thousands(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

-- the output shape (without the batch) of a layer given its input shape
-- (nil: not known), as the layer's own description computes it
function Model._output_shape(layer, shape)
  if shape == nil then return nil end
  if not is_module(layer) then
    return type(layer.output_shape) == "function" and layer:output_shape(shape) or nil
  end
  local ok, out = pcall(layer.output_shape, layer, { 1, table.unpack(shape) })
  if not ok then return nil end
  table.remove(out, 1)
  return out
end

Model.__tostring = function (self)
  local parts = {}
  for i, layer in ipairs(self.layers) do
    parts[#parts + 1] = ("  (%d) %s"):format(i, tostring(layer):gsub("^nn%.", ""))
  end
  local count = 0
  for _, p in ipairs((self:parameters())) do count = count + p:numel() end
  local head = ("nn.Model: %d layers, %s parameters"):format(#self.layers, Model._thousands(count))
  local g = rawget(self, "graph")
  if g then                              -- a graph model (lua/nn/graph.lua): in its nodes' order
    head = head .. (", a graph of %d input%s and %d output%s"):format(#g.inputs,
      #g.inputs == 1 and "" or "s", #g.outputs, #g.outputs == 1 and "" or "s")
  end
  local tail = {}
  if self.loss then tail[#tail + 1] = "loss " .. tostring(self.loss):gsub("^nn%.", "") end
  if self.optimizer then tail[#tail + 1] = "optimizer " .. tostring(self.optimizer) end
  if self.metric then tail[#tail + 1] = "metric " .. self.metric.name end
  if self.epoch > 0 then tail[#tail + 1] = ("trained %d epochs"):format(self.epoch) end
  local text = head .. (#parts > 0 and "\n" .. table.concat(parts, "\n") or "")
  if #tail > 0 then text = text .. "\n  " .. table.concat(tail, ", ") end
  return require("nn.repr").wrap(text)
end
Model.__repr = Model.__tostring

-- The training loop (lua/nn/fit.lua), the checkpoints
-- (lua/nn/checkpoint.lua) and model:inspect (lua/nn/inspect.lua) add their
-- methods to this same table.  Each file
-- returns a function, called here once with the Model and the helpers they
-- share; neither requires nn.model, so there is no require cycle.
local util = { fail = fail, is_module = is_module, is_tensor = is_tensor,
               is_layer = is_layer, layer_name = layer_name, layer_params = layer_params,
               on_device = on_device, sorted_names = sorted_names }
require("nn.fit")(Model, util)
require("nn.checkpoint")(Model, util)
require("nn.inspect")(Model, util)
-- graph models (lua/nn/graph.lua): nn.Input, nn.call, and the methods a
-- graph model answers itself (graph.methods), sent there by the check below
local graph = require("nn.graph")(Model, util)
Model._graph = graph

-- model.predict(x), a dot for a colon (a Python habit), would hand x to
-- predict as the model and fail far inside ("attempt to get length of a nil
-- value").  So every public method (all of this table's functions but new,
-- load and the private _names) first checks that it got a model, and else
-- raises "use model:predict(...) (a colon)" at the caller's line.  The
-- check is a tail call: error levels inside the method are unchanged.
local function is_model(v)
  return getmetatable(v) == Model or (type(v) == "table" and type(rawget(v, "layers")) == "table")
end
local STATIC = { new = true, load = true }
local methods = {}
for name, f in pairs(Model) do
  if type(f) == "function" and not STATIC[name] and not name:find("^_") then methods[name] = f end
end
-- wrapper -> the method it checks for: nn.help finds a method's docstring
-- through it (fit and train are one method under two wrappers)
Model._checked = setmetatable({}, { __mode = "k" })
for name, f in pairs(methods) do
  local in_graph = graph.methods[name]
  Model[name] = function (self, ...)
    if not is_model(self) then
      error(("use model:%s(...) (a colon): model.%s(...) passes %s as the model")
            :format(name, name, self == nil and "nothing" or is_tensor(self) and "a tensor"
                    or "a " .. type(self)), 2)
    end
    if in_graph and rawget(self, "graph") then return in_graph(self, ...) end
    return f(self, ...)
  end
  Model._checked[Model[name]] = f
end

return Model
