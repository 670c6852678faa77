--- Layers and losses written as formulas: no backward by hand.
--
--   local Scale = nn.Lambda{
--     name = "Scale",
--     params = { w = nn.tensor.ones(4) },           -- name -> tensor
--     forward = function (self, x) return x * self.w end,
--   }
--   local model = nn.Model{ nn.Dense(8, 4), Scale, nn.Dense(4, 2) }
--
-- The name is Keras's (keras.layers.Lambda: a layer from a function);
-- PyTorch writes a Module subclass whose forward is the formula, which is
-- what this is, with its parameters declared in a table.
--
-- How it trains (the Model sees a layer written in Lua: forward, backward,
-- parameters, zero_grad, train, evaluate, to; lua/nn/model.lua):
--   forward(x), training:  x' = x when x is recorded, else a leaf sharing
--       x's storage (x:detach():requires_grad_()); the parameters require
--       grad while the formula runs, so the tape records it; the output y
--       is recorded (layer.output: a detached view of it).
--   backward(g):           the engine from y with grad g, down to x's node
--       only (nn.autograd, the same pairs the layers use); the parameters'
--       gradients are ADDED to the gradient tensors this layer owns (fixed
--       tensors, the ones parameters() returns and the optimizer reads:
--       p.grad is that tensor), and the gradient reaching x' is returned.
--   In a custom loop, loss:backward() instead goes through y into the
--       parameters and on below x, as through any recorded op.
--   forward(x), evaluation (predict, evaluate) or under nn.no_grad: the
--       formula runs with recording off.
-- The parameters require grad only while the formula runs: outside it they
-- are plain tensors that an optimizer, a checkpoint or gradcheck may change
-- in place.
local nn = require "nn"
local autograd = require "nn.autograd"

local NODE, GRAD = autograd.NODE, autograd.GRAD
local R = autograd.raw

local function is_tensor(v) return getmetatable(v) == nn.Tensor end
local function fail(level, fmt, ...) error(fmt:format(...), level + 1) end

-- zeros of t's shape on t's device (not t * 0: that is nan where t is inf)
local function zeros_like(t) return autograd.on_device(nn.tensor.zeros(R.size(t)), t.device) end

-- --- nn.Lambda ---------------------------------------------------------------------

local Lambda = {}
Lambda.__index = Lambda
Lambda.__name = "nn.Lambda"

local reserved = {}
for _, k in ipairs{ "forward", "backward", "parameters", "zero_grad", "train", "evaluate", "to",
                    "name", "params", "training", "output", "grad_input" } do reserved[k] = true end

--- nn.Lambda{name = "Residual", params = {w = t, ...}, forward = function (self, x) ... end}
-- -> a layer whose forward is the formula (ops on tensors, self.w the
-- parameters) and whose backward is the autograd engine's.  params: a table
-- name -> float32 tensor (order: sorted by name), optional.
-- Errors: forward not a function; a parameter that is not a float32 tensor,
-- or whose name is one of the layer's own fields.
function Lambda.new(spec)
  if type(spec) ~= "table" then fail(2, "nn.Lambda: expected a table {name, params, forward}, got %s", type(spec)) end
  if type(spec.forward) ~= "function" then
    fail(2, "nn.Lambda: forward must be a function (self, x) -> y, got %s", type(spec.forward))
  end
  if spec.params ~= nil and type(spec.params) ~= "table" then
    fail(2, "nn.Lambda: params must be a table name -> tensor, got %s", type(spec.params))
  end
  local self = setmetatable({ name = spec.name or "Lambda", _fn = spec.forward, training = true,
                              _names = {}, _grads = {} }, Lambda)
  for name, p in pairs(spec.params or {}) do
    if type(name) ~= "string" or reserved[name] then
      fail(2, "nn.Lambda: parameter name %s is not allowed (a string, not one of the layer's fields)",
           tostring(name))
    end
    if not is_tensor(p) or p.dtype ~= "float32" then
      fail(2, "nn.Lambda: parameter '%s' must be a float32 tensor, got %s", name,
           is_tensor(p) and p.dtype .. " tensor" or type(p))
    end
    self._names[#self._names + 1] = name
  end
  table.sort(self._names)
  for i, name in ipairs(self._names) do
    local p = spec.params[name]
    self[name] = p
    self._grads[i] = zeros_like(p)
    GRAD[p] = self._grads[i]                  -- p.grad is the tensor the optimizer reads
  end
  autograd._activate()
  return self
end
setmetatable(Lambda, { __call = function (_, spec) return Lambda.new(spec) end })

-- the formula with the parameters requiring grad (leaves named as the
-- parameters, for show and dot); they stop requiring it after
local function run_marked(self, x, ...)
  local params = {}
  for i, name in ipairs(self._names) do
    params[i] = self[name]
    NODE[params[i]] = autograd.leaf_node(params[i], name)
    GRAD[params[i]] = self._grads[i]          -- the engine adds into the layer's own
  end
  local ok, y = pcall(self._fn, self, x, ...)
  for i = 1, #params do NODE[params[i]] = nil end
  if not ok then error(y, 0) end
  if not is_tensor(y) then error(("%s: forward must return a tensor, got %s"):format(self.name, type(y)), 0) end
  return y
end

--- layer:forward(x, ...) -> y: the formula.
-- Training: recorded, with the parameters requiring grad while it runs,
-- from x itself when x is recorded (so y is on the caller's tape: a
-- custom loop's loss:backward() reaches these parameters and goes on below
-- x), else from a leaf sharing x's storage (x:detach():requires_grad_()).
-- y is recorded; layer.output is a detached view of it (what inspect reads).
-- Evaluation (predict, evaluate) or nn.no_grad: nothing is recorded.
-- Errors: the formula's own; a formula that returns no tensor.
function Lambda:forward(x, ...)
  local fn = self._fn
  if not (self.training and autograd.is_enabled()) then
    local y = nn.no_grad(fn, self, x, ...)
    if not is_tensor(y) then fail(2, "%s: forward must return a tensor, got %s", self.name, type(y)) end
    self.output, self._out, self._x = y, nil, nil
    return y
  end
  local xin = x
  if is_tensor(x) and x.dtype == "float32" and not autograd.is_recorded(x) then
    xin = R.view(x, R.size(x)):requires_grad_()
  end
  local ok, y = pcall(run_marked, self, xin, ...)
  if not ok then error(y, 0) end                 -- the formula's message, as it raised it
  self._out, self._x = y, xin
  self.output = R.view(y, R.size(y))             -- detached: shares y's storage
  return y
end
Lambda.__call = Lambda.forward

--- layer:output_shape(shape) -> the shape of one sample's output, from
-- one sample's input shape (no batch dim), as model:summary asks: the
-- formula run once on zeros, without recording.  nil when it fails.
function Lambda:output_shape(shape)
  local ok, y = pcall(nn.no_grad, self._fn, self, nn.tensor.zeros(1, table.unpack(shape)))
  if not ok or not is_tensor(y) then return nil end
  local out = R.size(y)
  table.remove(out, 1)
  return out
end

--- layer:backward(grad_output [, {grad_input = true}]) -> grad_input: the
-- engine from the last forward's output; parameter gradients added (+=) to
-- layer:parameters()'s gradients.  grad_input: dL/dx, zeros when y does not
-- depend on x; with grad_input = false (a model's first trainable layer,
-- as C layers are told) not computed: nil, and the ops that would only
-- feed it skip that work.
-- Errors: no forward in training mode since the last backward; a
-- grad_output of another shape than the output.
function Lambda:backward(grad_output, opts)
  local y, xin = self._out, self._x
  if y == nil then
    fail(2, "%s: backward needs a forward in training mode first (one backward per forward)", self.name)
  end
  for i, name in ipairs(self._names) do GRAD[self[name]] = self._grads[i] end
  if is_tensor(grad_output) and is_tensor(y) and R.numel(grad_output) == R.numel(y)
     and R.dim(grad_output) ~= R.dim(y) then
    grad_output = R.view(grad_output, R.size(y))
  end
  local want_gx = not (type(opts) == "table" and opts.grad_input == false)
  local stop = is_tensor(xin) and NODE[xin] or nil
  local gx = nil
  if autograd.is_recorded(y) then
    -- from y down to x's node only (the layers below run their own
    -- backward): the gradient reaching it is dL/dx
    local o = { _stop = stop }
    if stop and not want_gx then o._skip = { [stop] = true } end
    local ok, got = pcall(y.backward, y, grad_output, o)
    if not ok then error(("%s: %s"):format(self.name, tostring(got)), 2) end
    gx = got
  end
  self._out = nil
  if not want_gx then gx = nil
  elseif gx == nil and is_tensor(xin) then gx = zeros_like(xin) end
  self.grad_input = gx
  return gx
end

--- layer:parameters() -> params, grads, names (sorted by name).
function Lambda:parameters()
  local p, g, n = {}, {}, {}
  for i, name in ipairs(self._names) do p[i], g[i], n[i] = self[name], self._grads[i], name end
  return p, g, n
end

--- layer:zero_grad() -> layer: every parameter gradient = 0.
function Lambda:zero_grad()
  for _, g in ipairs(self._grads) do R.zero_(g) end
  return self
end

--- layer:train() -> layer: training mode (forward records; the formula may
-- read self.training, e.g. for nn.F.dropout).
function Lambda:train() self.training = true return self end
--- layer:evaluate() -> layer: evaluation mode (forward runs under nn.no_grad).
function Lambda:evaluate() self.training = false return self end

--- layer:to(device) -> layer: the parameters and their gradients moved.
function Lambda:to(device)
  for i, name in ipairs(self._names) do
    local p = R.to(self[name], device)
    self[name] = p
    self._grads[i] = R.to(self._grads[i], device)
    GRAD[p] = self._grads[i]
  end
  return self
end

function Lambda.__tostring(self)
  return ("%s (nn.Lambda, %d parameters)"):format(self.name, #self._names)
end

-- --- nn.LambdaLoss --------------------------------------------------------------------

local LambdaLoss = {}
LambdaLoss.__index = LambdaLoss
LambdaLoss.__name = "nn.LambdaLoss"

--- nn.LambdaLoss{name = "FocalLoss", forward = function (self, out, y) ... end
-- [, reduction = 'mean']} -> a loss for model:set{loss = ...}: forward gives
-- a one-element tensor (or a number, outside recording) from the model's
-- output and the target; its gradient dL/dout comes from the engine.
-- reduction says how evaluate weights batches ('mean' or 'sum').
-- Errors: forward not a function; reduction not 'mean' or 'sum'.
function LambdaLoss.new(spec)
  if type(spec) ~= "table" then fail(2, "nn.LambdaLoss: expected a table {name, forward}, got %s", type(spec)) end
  if type(spec.forward) ~= "function" then
    fail(2, "nn.LambdaLoss: forward must be a function (self, out, target) -> loss, got %s",
         type(spec.forward))
  end
  local reduction = spec.reduction or "mean"
  if reduction ~= "mean" and reduction ~= "sum" then
    fail(2, "nn.LambdaLoss: reduction must be 'mean' or 'sum', got %s", tostring(reduction))
  end
  local self = setmetatable({ name = spec.name or "LambdaLoss", _fn = spec.forward,
                              reduction = reduction, takes = "values" }, LambdaLoss)
  for k, v in pairs(spec) do
    if k ~= "forward" and k ~= "name" and k ~= "reduction" then self[k] = v end
  end
  autograd._activate()
  return self
end
setmetatable(LambdaLoss, { __call = function (_, spec) return LambdaLoss.new(spec) end })

local function as_number(self, L)
  if is_tensor(L) then
    if R.numel(L) ~= 1 then
      fail(3, "%s: forward must return one number (a one-element tensor), got %s", self.name,
           autograd.shape_text(R.size(L)))
    end
    return R.item(L)
  end
  if type(L) ~= "number" then fail(3, "%s: forward must return a number or a tensor, got %s", self.name, type(L)) end
  return L
end

--- loss:forward(out, target) -> the loss, a number (as nn.Criterion's).
function LambdaLoss:forward(out, target)
  if not is_tensor(out) then fail(2, "%s: out must be a tensor, got %s", self.name, type(out)) end
  if not autograd.is_enabled() then
    self._L = nil
    return as_number(self, self._fn(self, out, target))
  end
  local xin = R.view(out, R.size(out)):requires_grad_()
  local L = self._fn(self, xin, target)
  self._L, self._x, self._src, self._target = L, xin, out, target
  return as_number(self, L)
end
LambdaLoss.__call = LambdaLoss.forward

--- loss:backward(out, target) -> dL/dout, of out's shape (the forward is
-- run again when it was not the last one's).
function LambdaLoss:backward(out, target)
  if self._L == nil or self._src ~= out or self._target ~= target then self:forward(out, target) end
  local L, xin = self._L, self._x
  self._L = nil
  GRAD[xin] = nil
  if autograd.is_recorded(L) then L:backward() end
  return GRAD[xin] or zeros_like(xin)
end

--- loss:config() -> {type = name, ...}: what a checkpoint stores of it (a
-- loss written in Lua is not rebuilt by nn.load: set it again).
function LambdaLoss:config()
  return { type = self.name, reduction = self.reduction, gamma = self.gamma }
end

function LambdaLoss.__tostring(self) return ("%s (nn.LambdaLoss)"):format(self.name) end

-- --- the two shipped: ResidualBlock, FocalLoss ---------------------------------------------

-- U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's nn.Linear default
local function uniform(bound, ...)
  return R.sub(R.mul(nn.tensor.rand(...), 2 * bound), bound)
end

--- nn.ResidualBlock(features) -> a layer y = x + W2 relu(W1 x + b1) + b2,
-- x and y (B, features): He et al., "Deep Residual Learning for Image
-- Recognition" (2016), with Dense layers for convolutions and no
-- normalisation.  Written as a formula (nn.Lambda): its backward is the
-- engine's, through nn.F.linear's pair.  Parameters w1, b1, w2, b2
-- initialised as nn.Linear's.
-- Errors: features not a positive integer.
local function ResidualBlock(features)
  if type(features) == "table" then features = features.features end     -- a config
  if math.type(features) ~= "integer" or features < 1 then
    fail(2, "nn.ResidualBlock: features must be a positive integer, got %s", tostring(features))
  end
  local bound = 1 / math.sqrt(features)
  local block = Lambda.new{
    name = "ResidualBlock",
    params = { w1 = uniform(bound, features, features), b1 = uniform(bound, features),
               w2 = uniform(bound, features, features), b2 = uniform(bound, features) },
    forward = function (self, x)
      local h = nn.F.linear(x, self.w1, self.b1, "relu")
      return x + nn.F.linear(h, self.w2, self.b2)
    end,
  }
  -- what a checkpoint keeps (nn.layer_types.ResidualBlock rebuilds it)
  function block.config() return { type = "ResidualBlock", features = features } end
  return block
end

--- nn.FocalLoss{gamma = 2 [, reduction = 'mean']} -> a loss on logits
-- (B, C) and class indices (B) (int32, 1-based, as nn.CrossEntropyLoss):
--   FL = -(1 - p_t)^gamma log p_t,   p_t = softmax(z)_{target}
-- averaged over the batch (Lin et al., "Focal Loss for Dense Object
-- Detection", ICCV 2017, eq. 4, without the alpha weights).  gamma = 0 is
-- cross-entropy.  Written as a formula (nn.LambdaLoss): log_softmax,
-- gather, exp, pow, mean; its gradient is the engine's.
-- Errors: gamma not a number >= 0; targets not (B) class indices.
local function FocalLoss(opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail(2, "nn.FocalLoss: expected a table {gamma = 2}, got %s", type(opts)) end
  local gamma = opts.gamma == nil and 2 or opts.gamma
  if type(gamma) ~= "number" or gamma ~= gamma or gamma < 0 then
    fail(2, "nn.FocalLoss: gamma must be a number >= 0, got %s", tostring(gamma))
  end
  return LambdaLoss.new{
    name = "FocalLoss", gamma = gamma, reduction = opts.reduction or "mean",
    forward = function (self, z, y)
      if not is_tensor(y) or y:dim() ~= 1 or z:dim() ~= 2 or y:size(1) ~= z:size(1) then
        fail(3, "FocalLoss: expected logits (B, C) and class indices (B), got %s and %s",
             autograd.shape_text(z.shape), is_tensor(y) and autograd.shape_text(y.shape) or type(y))
      end
      local idx = y.dtype == "int32" and y or y:int()
      local logpt = z:log_softmax(2):gather(2, idx:view(y:size(1), 1))     -- log p_t, (B, 1)
      local terms = logpt
      if self.gamma ~= 0 then terms = (1 - logpt:exp()) ^ self.gamma * logpt end
      if self.reduction == "sum" then return -terms:sum() end
      return -terms:mean()
    end,
  }
end

return { Lambda = Lambda, LambdaLoss = LambdaLoss, ResidualBlock = ResidualBlock,
         FocalLoss = FocalLoss }
