--- lua/nn/graph.lua: models that are graphs, Keras's functional API.
--
--   local image = nn.Input{784, name = "image"}      -- one sample's shape
--   local meta  = nn.Input{10, name = "meta"}
--   local h     = nn.Dense(784, 64, {activation = "relu"})(image)
--   local a     = nn.Dense(64, 32)(h)                 -- a branch: h is read twice
--   local b     = nn.Dense(64, 32)(h)
--   local joint = nn.Concat(2)(nn.Add()(a, b), meta)  -- merges: (B, 42)
--   local class = nn.Softmax()(nn.Dense(42, 10)(joint))
--   local score = nn.Dense(42, 1)(joint)
--   local model = nn.Model{inputs = {image, meta}, outputs = {class, score}}
--   model:set{loss = {"categorical_crossentropy", "mse"}, optimizer = "adam"}
--   model:train({x_image, x_meta}, {y_class, y_score}, {epochs = 5})
--
-- A symbolic tensor (nn.Input{...}, or what a layer called on symbolic
-- tensors returns) holds no numbers: it is a node of the graph, with the
-- layer that makes it, the nodes it reads, and its shape without the batch
-- (node.layer, node.inputs, node.shape).  Calling a C layer on one (its
-- __call, vm/l_module.c m_call, hands a table argument to
-- __symbolic_call below) or any layer through nn.call(layer, ...) records a
-- node and computes its shape with the layer's own output_shape, so a shape
-- that does not fit fails there, naming the layer and the shapes, as Keras
-- does.
--
-- nn.Model{inputs = ..., outputs = ...} walks back from the outputs to the
-- inputs and orders the nodes so that each comes after those it reads (a
-- depth-first post-order: for a chain, the layers in order).  The model is
-- an nn.Model like any other: model.layers holds the layers in that order,
-- so parameters, get_weights/set_weights, to, set_training, inspect and
-- the step's optimizer update are the sequential model's own code.  What a
-- graph does differently is here, called from lua/nn/model.lua where a
-- model has a `graph` field:
--
--   forward    each node in order: out_i = layer_i:forward(outputs of the
--              nodes it reads)
--   backward   each node in reverse order: grad_inputs = layer_i:backward(
--              dL/dout_i), one per input (nn.Add and nn.Concat give two or
--              more), each added to the gradient of the node it came from.
--              A node read by several layers (a branch) gets the sum of
--              their gradients: the chain rule for a variable used several
--              times, dL/dv = sum over its uses (Goodfellow, Bengio &
--              Courville, Deep Learning (2016), sec. 6.5.2).  Read once, its
--              gradient is the reader's grad_input itself: no copy.
--   the step   as the sequential step (model.lua's top comment): parameter
--              gradients set, not accumulated (accumulate = false); a node
--              none of whose inputs leads to a parameter computes no dL/dx
--              (grad_input = false); nodes that lead to no parameter are
--              not visited.  For a chain this is exactly the sequential
--              step, call for call.  Each output has its own loss (Keras:
--              a list, one per output, or one loss used for all); the
--              total loss is their sum (Keras's default loss_weights of
--              1), and each output whose layer gives probabilities and whose
--              loss takes them gets the sequential model's plan (the fused
--              softmax + cross-entropy gradient on the logits), when no
--              other layer reads that output.
--
-- A layer used twice in one graph (weight sharing) is refused when the model
-- is built: a C layer keeps only its last forward's input, which its
-- backward needs, so the second use would silently get a wrong gradient.
local nn = require "nn"
local check = require "nn.check"

return function (Model, util)
  local fail, is_module, is_tensor = util.fail, util.is_module, util.is_tensor
  local layer_name, layer_params = util.layer_name, util.layer_params

  -- the sequential methods a graph model replaces, kept to call them
  local seq_set, seq_add = Model.set, Model.add

  -- --- symbolic tensors -----------------------------------------------------

  local Symbolic = { __name = "nn.SymbolicTensor" }
  Symbolic.__index = Symbolic
  local function is_symbolic(v) return getmetatable(v) == Symbolic end

  local function shape_text(shape)
    if shape == nil then return "(B, ?)" end
    return "(B" .. (#shape > 0 and ", " .. table.concat(shape, ", ") or "") .. ")"
  end

  -- "nn.Linear(3 -> 2)", "Lua layer Double"
  local function layer_text(layer)
    if is_module(layer) then return tostring(layer) end
    return "Lua layer " .. tostring(layer_name(layer))
  end

  --- tostring(s): "nn.Input{784} 'image'", or "symbolic (B, 256) from nn.Linear(784 -> 256)"
  function Symbolic.__tostring(s)
    if s.layer == nil then
      return ("nn.Input{%s}%s"):format(table.concat(s.shape, ", "),
                                      s.name and (" '%s'"):format(s.name) or "")
    end
    return ("symbolic %s from %s"):format(shape_text(s.shape), layer_text(s.layer))
  end
  Symbolic.__repr = Symbolic.__tostring

  --- nn.Input{784} or nn.Input{1, 28, 28, name = "image"} -> a symbolic
  -- tensor: a graph model's input, of one sample's shape (the batch
  -- dimension is left out, as Keras's Input(shape=...)).  Call layers on it
  -- to build the graph: nn.Dense(784, 256)(x); then nn.Model{inputs = x,
  -- outputs = y}.  Its fields: shape (a list of sizes), name (or nil).
  -- Errors: sizes that are not positive integers; none, or more than 4 (a
  -- tensor has at most 5 dims with the batch); a name that is not a
  -- string; any other key.
  local function Input(spec)
    if type(spec) ~= "table" or is_symbolic(spec) then
      fail(2, "nn.Input: expected a table of sizes without the batch, as nn.Input{784} or "
           .. "nn.Input{1, 28, 28}, got %s", is_symbolic(spec) and "a symbolic tensor"
           or check.show(spec))
    end
    for k, v in pairs(spec) do
      if k == "name" then
        if type(v) ~= "string" then fail(2, "nn.Input: name must be a string, got %s", check.show(v)) end
      elseif math.type(k) ~= "integer" or k < 1 or k > #spec then
        fail(2, "nn.Input: unknown key %s (give the sizes, and name = '...')", check.show(k))
      end
    end
    if #spec < 1 or #spec > 4 then
      fail(2, "nn.Input: expected 1 to 4 sizes (one sample's shape: the batch dim is added), got %d",
           #spec)
    end
    local shape = {}
    for i, d in ipairs(spec) do
      if math.type(d) ~= "integer" or d < 1 then
        fail(2, "nn.Input: size %d must be a positive integer, got %s", i, check.show(d))
      end
      shape[i] = d
    end
    return setmetatable({ shape = shape, inputs = {}, name = spec.name }, Symbolic)
  end

  -- the reason in a C error ("bad argument #1 to 'output_shape' (why)"),
  -- the batch of 1 used to ask shown as B
  local function reason_of(err)
    local why = tostring(err):match("%((.*)%)$") or tostring(err):gsub("^[^:]+:%d+: ", "")
    return (why:gsub("%[1x", "[Bx"):gsub("%[1%]", "[B]"))
  end

  -- The node of `layer` called on the symbolic tensors ...; `level` as for
  -- error(), seen from this function.  The shape comes from the layer's own
  -- description (output_shape on a batch of 1), or, for a Lua layer, its
  -- output_shape(self, shape) method when it has one (unknown otherwise).
  local function symbolic_call(level, layer, ...)
    local n = select("#", ...)
    local args = { ... }
    local sym
    for k = 1, n do
      if is_symbolic(args[k]) then sym = sym or k end
    end
    for k = 1, n do
      if not is_symbolic(args[k]) then
        fail(level + 1, "%s: argument %d is %s but argument %d is a symbolic tensor: call a layer "
             .. "on symbolic tensors only (to build a graph) or on real tensors only (to run it)",
             layer_text(layer), k, is_tensor(args[k]) and "a real tensor" or check.show(args[k]), sym)
      end
    end
    local shapes, known = {}, true
    for k = 1, n do
      local s = args[k].shape
      if s == nil then known = false else shapes[k] = { 1, table.unpack(s) } end
    end
    local shape
    if is_module(layer) then
      local d = nn.module_types[layer.name]
      if n < d.min_inputs or n > d.max_inputs then
        fail(level + 1, "%s takes %s, got %d", layer_text(layer), d.min_inputs == d.max_inputs
             and ("%d input%s"):format(d.min_inputs, d.min_inputs == 1 and "" or "s")
             or ("%d to %d inputs"):format(d.min_inputs, d.max_inputs), n)
      end
      if known then
        local ok, out = pcall(layer.output_shape, layer, table.unpack(shapes))
        if not ok then
          local parts = {}
          for k = 1, n do parts[k] = shape_text(args[k].shape) end
          fail(level + 1, "%s called on %s: %s", layer_text(layer), table.concat(parts, " and "),
               reason_of(out))
        end
        table.remove(out, 1)
        shape = out
      end
    elseif known and n == 1 and type(layer.output_shape) == "function" then
      local ok, out = pcall(layer.output_shape, layer, { table.unpack(args[1].shape) })
      if not ok then
        fail(level + 1, "%s called on %s: %s", layer_text(layer), shape_text(args[1].shape),
             reason_of(out))
      end
      shape = type(out) == "table" and out or nil
    end
    return setmetatable({ layer = layer, inputs = args, shape = shape }, Symbolic)
  end

  -- a C layer called with a symbolic tensor among its arguments:
  -- vm/l_module.c m_call comes here, by this metafield of the symbolic
  -- tensor (its caller's line is 3 levels up: this function, m_call, the
  -- caller)
  Symbolic.__symbolic_call = function (layer, ...)
    local node = symbolic_call(3, layer, ...)
    return node
  end

  --- nn.call(layer, x [, x2, ...]) -> output: the layer called on its inputs,
  -- for any layer: a C layer (as layer(x)) or a Lua layer (a table with
  -- forward and backward, which has no __call).  On symbolic tensors
  -- (nn.Input, a layer's symbolic output) it records a graph node and
  -- returns its symbolic output; on real tensors it is layer:forward(x, ...).
  -- A Lua layer's shape in the graph comes from its output_shape(self,
  -- shape) method (shapes without the batch), or is unknown ("?").
  -- Errors: not a layer; symbolic and real tensors mixed; the wrong number
  -- of inputs or shapes that do not fit (for a C layer).
  local function call(layer, ...)
    if not util.is_layer(layer) then
      fail(2, "nn.call: expected a layer (nn.Dense(...), or a table with forward and backward), got %s",
           check.show(layer))
    end
    for k = 1, select("#", ...) do
      if is_symbolic((select(k, ...))) then
        local node = symbolic_call(2, layer, ...)
        return node
      end
    end
    return layer:forward(...)
  end

  -- --- the graph of a model --------------------------------------------------

  local Graph = {}
  Graph.__index = Graph

  local STEP, STEP_FIRST = { accumulate = false }, { accumulate = false, grad_input = false }
  local NO_ACTIVATION = { activation = false }

  -- v as a list of symbolic tensors: inputs = x or {x1, x2}
  local function symbolic_list(v, what, level)
    local head = "nn.Model{inputs = ..., outputs = ...}"
    if v == nil then
      fail(level + 1, "%s: %s must be given: a symbolic tensor or a list of them", head, what)
    end
    if is_symbolic(v) then return { v } end
    if type(v) ~= "table" or #v == 0 then
      fail(level + 1, "%s: %s must be a symbolic tensor (nn.Input{...}, or a layer called on one) "
           .. "or a list of them, got %s", head, what, is_tensor(v) and "a real tensor" or check.show(v))
    end
    local list = {}
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > #v then
        fail(level + 1, "%s: %s must be a list, got the key %s", head, what, check.show(k))
      end
    end
    for k = 1, #v do
      if not is_symbolic(v[k]) then
        fail(level + 1, "%s: %s[%d] is not a symbolic tensor (got %s)", head, what, k,
             is_tensor(v[k]) and "a real tensor" or check.show(v[k]))
      end
      list[k] = v[k]
    end
    return list
  end

  -- Model._new_graph: nn.Model{inputs = x, outputs = y [, name = "..."]} -> a graph model
  -- (lua/nn/graph.lua's top comment): inputs, outputs each a symbolic
  -- tensor or a list of them.  x and y given to train, evaluate, predict,
  -- forward and step are then a tensor for one input (output) and a list of
  -- tensors, in the order of inputs (outputs), for several; forward and
  -- predict give a list for several outputs.
  -- Errors: an unknown key; an input that is not an nn.Input, or given
  -- twice; an output that needs an nn.Input not among the inputs ("Graph
  -- disconnected"); a layer called twice in the graph.
  function Model._new_graph(self, spec)
    for k in pairs(spec) do
      if k ~= "inputs" and k ~= "outputs" and k ~= "name" then
        fail(2, "nn.Model{inputs = ..., outputs = ...}: unknown key %s (keys: inputs, outputs, name)",
             check.show(k))
      end
    end
    if spec.name ~= nil and type(spec.name) ~= "string" then
      fail(2, "nn.Model{inputs = ..., outputs = ...}: name must be a string, got %s", check.show(spec.name))
    end
    local inputs = symbolic_list(spec.inputs, "inputs", 2)
    local outputs = symbolic_list(spec.outputs, "outputs", 2)
    local nodes, pos = {}, {}
    for k, s in ipairs(inputs) do
      if s.layer ~= nil then
        fail(2, "nn.Model: inputs[%d] is the output of %s, not an nn.Input: a graph model starts "
             .. "at its nn.Input tensors", k, layer_text(s.layer))
      end
      if pos[s] then fail(2, "nn.Model: inputs[%d] is inputs[%d] again", k, pos[s]) end
      nodes[k], pos[s] = s, k
    end
    local used_by = {}                      -- layer -> the node that calls it
    local function visit(node, k)
      if pos[node] then return end
      if node.layer == nil then
        error(("nn.Model: Graph disconnected: outputs[%d] needs %s, which is not among the "
               .. "inputs (add it to inputs = {...})"):format(k, tostring(node)), 0)
      end
      for _, p in ipairs(node.inputs) do visit(p, k) end
      if used_by[node.layer] then
        error(("nn.Model: %s is called twice in the graph; a layer keeps only its last call's "
               .. "input for backward, so graph models do not share weights: make a second layer "
               .. "(and copy the weights into it)"):format(layer_text(node.layer)), 0)
      end
      used_by[node.layer] = node
      nodes[#nodes + 1] = node
      pos[node] = #nodes
    end
    -- (the levels: visit's callers are itself and the loop below; error
    -- levels cannot follow a recursion, so a failure is raised again here)
    local ok, err = pcall(function ()
      for k, out in ipairs(outputs) do visit(out, k) end
    end)
    if not ok then error((tostring(err):gsub("^[^:]*:%d+: ", "")), 2) end
    for i = #inputs + 1, #nodes do seq_add(self, nodes[i].layer) end
    local g = setmetatable({ nodes = nodes, inputs = inputs, outputs = outputs, name = spec.name,
                             args = {}, out_pos = {}, readers = {}, needs = {}, step_opts = {},
                             layer_index = {}, values = {}, grads = {}, sums = {}, plans = {} },
                           Graph)
    for i = 1, #nodes do g.readers[i] = 0 end
    for i = #inputs + 1, #nodes do
      local node, args, needs = nodes[i], {}, #layer_params(nodes[i].layer) > 0
      local below = false                  -- does an input lead to a parameter?
      for j, p in ipairs(node.inputs) do
        args[j] = pos[p]
        g.readers[args[j]] = g.readers[args[j]] + 1
        below = below or g.needs[args[j]]
      end
      g.args[i], g.needs[i] = args, needs or below
      g.step_opts[i] = below and STEP or STEP_FIRST
      g.layer_index[i] = i - #inputs
    end
    for k, out in ipairs(outputs) do g.out_pos[k] = pos[out] end
    self.graph = g
    self:_plan_loss()
    return self
  end

  -- v must be a list of n values (or, for n = 1, a tensor): else an error
  -- naming who, what ("x", "y", ...) and the model's count, at `level`
  -- above the caller (lua/nn/fit.lua checks its data with it too)
  -- (shown, when given, is what the message calls v: "validation_data[1]")
  function Model._check_count(v, who, what, n, level, shown)
    if n == 1 and is_tensor(v) then return end
    if type(v) ~= "table" or is_tensor(v) or #v ~= n then
      fail(level + 1, "%s: %s must be %s (the model has %d %s), got %s", who, shown or what,
           n == 1 and "a tensor or a list of 1" or ("a list of %d tensors"):format(n), n,
           what == "x" and "inputs" or "outputs",
           is_tensor(v) and "a tensor" or type(v) == "table" and ("a list of %d"):format(#v)
           or check.show(v))
    end
  end

  -- x as a list of n tensors (a tensor for one); `what` names it for errors
  function Graph:_list(x, who, what, n, level)
    Model._check_count(x, who, what, n, level + 1)
    if is_tensor(x) then return { x } end
    for k = 1, n do
      if not is_tensor(x[k]) then
        fail(level + 1, "%s: %s[%d] must be a tensor, got %s", who, what, k, check.show(x[k]))
      end
    end
    return x
  end

  -- one result per output: the tensor itself for one, else a list
  function Graph:_result(list)
    if #self.outputs == 1 then return list[1] end
    return list
  end

  -- every node's forward, in order, from the input tensors xs; flags: the
  -- positions whose forward leaves out a fused activation (a loss plan)
  function Graph:_run(xs, flags)
    local nodes, values, args = self.nodes, self.values, self.args
    for k = 1, #self.inputs do values[k] = xs[k] end
    for i = #self.inputs + 1, #nodes do
      local layer, a, opts = nodes[i].layer, args[i], flags and flags[i]
      local out
      if #a == 1 then
        if opts then out = layer:forward(values[a[1]], opts) else out = layer:forward(values[a[1]]) end
      elseif #a == 2 and not opts then
        out = layer:forward(values[a[1]], values[a[2]])
      else
        local list = {}
        for j, p in ipairs(a) do list[j] = values[p] end
        if opts then list[#list + 1] = opts end
        out = layer:forward(table.unpack(list))
      end
      values[i] = out
    end
  end

  function Graph:forward(model, x)
    local xs = self:_list(x, "model:forward", "x", #self.inputs, 2)
    self:_run(xs, nil)
    local outs = {}
    for k, p in ipairs(self.out_pos) do outs[k] = self.values[p] end
    model._output = self:_result(outs)
    return model._output
  end

  -- the step's forward: out, and what each output's loss takes (its logits
  -- where a plan says so), as Model:_forward_for_loss
  function Graph:_forward_for_loss(model, x)
    local xs = is_tensor(x) and { x } or x
    self:_run(xs, self.flags)
    local outs, logits = {}, {}
    for k, p in ipairs(self.out_pos) do
      outs[k] = self.values[p]
      local plan = self.plans[k]
      logits[k] = (plan and not plan.fused) and self.values[self.args[p][1]] or outs[k]
    end
    model._output = self:_result(outs)
    return model._output, self:_result(logits)
  end

  -- the losses, one per output (nil when none is set)
  function Graph:_losses(model)
    local loss = model.loss
    if loss == nil then return nil end
    if #self.outputs == 1 then return { loss } end
    return type(loss) == "table" and rawget(loss, "list") or nil
  end

  function Graph:_plan_loss(model)
    self.plans, self.flags = {}, nil
    model._plan = nil
    local losses = self:_losses(model)
    if losses == nil then return end
    local outputs_at = {}
    for _, p in ipairs(self.out_pos) do outputs_at[p] = (outputs_at[p] or 0) + 1 end
    -- the sequential model's plan (model.lua), for an output no other node
    -- reads and no other output repeats; a layer skipped (a Softmax layer
    -- whose input is the logits) must have one input
    for k, p in ipairs(self.out_pos) do
      local plan = self.readers[p] == 0 and outputs_at[p] == 1
                   and nn.Model._loss_plan(self.nodes[p].layer, losses[k])
      if plan and (plan.fused or #self.args[p] == 1) then
        self.plans[k] = plan
        if plan.fused then
          self.flags = self.flags or {}
          self.flags[p] = NO_ACTIVATION
        end
      end
    end
    model._plan = self.plans[1]
  end

  function Graph:_loss_of(model, out, logits, y)
    local losses = self:_losses(model)
    if #self.outputs == 1 then
      local plan = self.plans[1]
      if plan then return plan.loss:forward(logits, y) end
      return losses[1]:forward(out, y)
    end
    local total = 0
    for k = 1, #self.outputs do
      local plan = self.plans[k]
      total = total + (plan and plan.loss:forward(logits[k], y[k]) or losses[k]:forward(out[k], y[k]))
    end
    return total
  end

  -- g added to the gradient of node p: the first is kept as it is (a
  -- layer's live grad_input: no copy), a second one sums into the node's
  -- own buffer
  function Graph:_add_grad(p, g)
    local grads = self.grads
    local cur = grads[p]
    if cur == nil then grads[p] = g; return end
    local buf = self.sums[p]
    if not rawequal(cur, buf) then
      local same = buf ~= nil and buf.device == cur.device and buf:dim() == cur:dim()
      for d = 1, same and cur:dim() or 0 do same = same and buf:size(d) == cur:size(d) end
      if same then buf:copy(cur) else buf = cur:clone(); self.sums[p] = buf end
      grads[p] = buf
    end
    buf:add_(g)
  end

  -- backward from the gradients already in self.grads, last node first;
  -- full: every node and every grad_input (model:backward), else the step's
  -- pruned pass (the top of this file).  Returns dL/dx, one per input.
  function Graph:_walk(full)
    local nodes, grads, args, needs = self.nodes, self.grads, self.args, self.needs
    for i = #nodes, #self.inputs + 1, -1 do
      local g = grads[i]
      if g ~= nil and (full or needs[i]) then
        local layer, a = nodes[i].layer, args[i]
        if not is_module(layer) or full then
          -- a Lua layer is told too when nobody reads its dL/dx (nn.Lambda
          -- skips it), as the sequential step tells it
          local opts = (not full and self.step_opts[i] == STEP_FIRST) and STEP_FIRST or nil
          if #a == 1 then
            local gi = layer:backward(g, opts)
            if gi ~= nil and (full or needs[a[1]]) then self:_add_grad(a[1], gi) end
          else
            local gis = table.pack(layer:backward(g, opts))
            for j, p in ipairs(a) do
              if gis[j] ~= nil and (full or needs[p]) then self:_add_grad(p, gis[j]) end
            end
          end
        elseif self.step_opts[i] == STEP_FIRST then
          layer:backward(g, STEP_FIRST)
        elseif #a == 1 then
          local gi = layer:backward(g, STEP)
          if needs[a[1]] then self:_add_grad(a[1], gi) end
        else
          local gis = table.pack(layer:backward(g, STEP))
          for j, p in ipairs(a) do
            if needs[p] then self:_add_grad(p, gis[j]) end
          end
        end
      end
    end
    local dx = {}
    for k = 1, #self.inputs do dx[k] = grads[k] end
    if #self.inputs == 1 then return dx[1] end
    return dx
  end

  function Graph:_clear_grads()
    local grads = self.grads
    for i = 1, #self.nodes do grads[i] = nil end
  end

  function Graph:_backward_loss(model, logits, y, full)
    self:_clear_grads()
    local losses = self:_losses(model)
    local many = #self.outputs > 1
    for k, p in ipairs(self.out_pos) do
      local plan, g = self.plans[k], nil
      if plan then
        g = plan.loss:backward()             -- at its last forward: (softmax(z) - y) / B
        if not plan.fused then p = self.args[p][1] end
      else
        g = losses[k]:backward(many and logits[k] or logits, many and y[k] or y)
      end
      self:_add_grad(p, g)
    end
    return self:_walk(full)
  end

  -- model:backward([grad_output]) for a graph: grad_output one tensor per
  -- output (a list for several), or from the last compute_loss
  function Graph:backward(model, grad_output)
    if model._output == nil then fail(2, "model:backward: call model:forward(x) first") end
    local gs
    if grad_output ~= nil then
      gs = self:_list(grad_output, "model:backward", "grad_output", #self.outputs, 2)
    else
      if model._target == nil then
        fail(2, "model:backward: give grad_output, or compute the loss first with model:compute_loss(y)")
      end
      local g = model.loss:backward(model._output, model._target)
      gs = #self.outputs == 1 and { g } or g
    end
    self:_clear_grads()
    for k, p in ipairs(self.out_pos) do self:_add_grad(p, gs[k]) end
    return self:_walk(true)
  end

  -- --- several losses ----------------------------------------------------------

  -- The loss of a model of several outputs: their losses, summed.  It acts
  -- as one loss for the code that reads model.loss (evaluate's reduction,
  -- compute_loss, backward, summary, save).
  local Losses = { __name = "nn.Losses" }
  Losses.__index = Losses
  function Losses:forward(outs, ys)
    local total = 0
    for k, l in ipairs(self.list) do total = total + l:forward(outs[k], ys[k]) end
    return total
  end
  function Losses:backward(outs, ys)
    local gs = {}
    for k, l in ipairs(self.list) do gs[k] = l:backward(outs[k], ys[k]) end
    return gs
  end
  function Losses:config()
    local list = {}
    for k, l in ipairs(self.list) do
      if type(l.config) ~= "function" then return nil end     -- one of the user's own: none kept
      list[k] = l:config()
    end
    return { type = "Losses", losses = list }
  end
  function Losses.__tostring(self)
    local names = {}
    for k, l in ipairs(self.list) do names[k] = (tostring(l):gsub("^nn%.", "")) end
    return "nn.Losses(" .. table.concat(names, " + ") .. ")"
  end

  -- a loss object used by one output only: a second use gets a new one of
  -- the same config (a loss keeps its gradient in its own buffer)
  local function fresh(loss, seen)
    if not seen[loss] then seen[loss] = true; return loss end
    if getmetatable(loss) == nn.Criterion then
      local cfg = loss:config()
      return nn.loss_types[cfg.type](cfg)
    end
    error(("model:set: the Lua loss %s is given for two outputs: give each its own"):format(
      tostring(loss)), 0)
  end

  -- model:set for a graph model: loss may be one loss for every output, or
  -- a list of one per output
  function Graph:set(model, opts)
    if type(opts) ~= "table" or opts.loss == nil then
      local ok, err = pcall(seq_set, model, opts)
      if not ok then error((tostring(err):gsub("^[^:]*:%d+: ", "")), 2) end
      return model
    end
    local rest = {}
    for k, v in pairs(opts) do if k ~= "loss" then rest[k] = v end end
    local ok, err = pcall(function ()
      local n, loss = #self.outputs, opts.loss
      local given = {}
      if type(loss) == "table" and loss[1] ~= nil and getmetatable(loss) == nil then
        if #loss ~= n then
          error(("model:set: loss must be one loss, or a list of %d (one per output), got a list of %d")
                :format(n, #loss), 0)
        end
        for k = 1, n do given[k] = loss[k] end
      else
        for k = 1, n do given[k] = loss end
      end
      local list, seen = {}, {}
      for k = 1, n do
        local made, l = pcall(Model._resolve_loss, given[k], 1)
        if not made then
          l = tostring(l):gsub("^[^:]*:%d+: ", "")
          error(n > 1 and (l:gsub("^model:set: ", "model:set: loss[" .. k .. "]: ")) or l, 0)
        end
        list[k] = fresh(l, seen)
      end
      for k = 2, n do
        if list[k].reduction ~= list[1].reduction then
          error(("model:set: the losses must share one reduction: loss[1] has '%s', loss[%d] '%s'")
                :format(tostring(list[1].reduction), k, tostring(list[k].reduction)), 0)
        end
      end
      model.loss = n == 1 and list[1]
                   or setmetatable({ list = list, reduction = list[1].reduction }, Losses)
      seq_set(model, rest)
    end)
    if not ok then error((tostring(err):gsub("^[^:]*:%d+: ", "")), 2) end
    return model
  end

  function Graph:add()
    fail(2, "model:add: a graph model (nn.Model{inputs = ..., outputs = ...}) is fixed: call the "
         .. "new layer on a symbolic tensor and build a new nn.Model")
  end

  -- model:step(x, y) for a graph: x and y tensors or lists of them
  function Graph:step(model, x, y)
    model:_check_ready("model:step")
    local xs = self:_list(x, "model:step", "x", #self.inputs, 2)
    local ys = self:_list(y, "model:step", "y", #self.outputs, 2)
    model:set_training(true)
    local device = model:_device()
    local xd, yd = {}, {}
    for k, t in ipairs(xs) do xd[k] = util.on_device(t, device) end
    for k, t in ipairs(ys) do yd[k] = util.on_device(t, device) end
    return (model:_step(#xd == 1 and xd[1] or xd, #yd == 1 and yd[1] or yd))
  end

  -- the name of node i in summary's "Connected to" column
  local function node_label(self, i)
    local node = self.nodes[i]
    if node.layer == nil then return node.name or ("input" .. i) end
    return ("#%d"):format(i)
  end

  -- model:summary() for a graph: one row per node, with the nodes it reads
  function Graph:summary(model)
    local rows, name_w, total, buffers = {}, 20, 0, 0
    for i, node in ipairs(self.nodes) do
      local name, count, from = nil, 0, {}
      if node.layer == nil then
        name = "Input" .. (node.name and (" '" .. node.name .. "'") or "")
      else
        for _, p in ipairs((layer_params(node.layer))) do count = count + p:numel() end
        if is_module(node.layer) then
          for _, b in pairs(node.layer:buffers{ persistent = true }) do buffers = buffers + b:numel() end
        end
        name = tostring(node.layer):gsub("^nn%.", "")
        for j, p in ipairs(self.args[i]) do from[j] = node_label(self, p) end
      end
      total = total + count
      rows[i] = { node_label(self, i), name, shape_text(node.shape), count, table.concat(from, ", ") }
      name_w = math.max(name_w, #name)
    end
    name_w = math.min(name_w, 24)
    local fmt = "%-8s %-" .. name_w .. "s %-16s %9s  %s"
    local rule = ("-"):rep(8 + 1 + name_w + 1 + 16 + 1 + 9 + 2 + 14)
    -- (Keras's columns; a node is named by its row, an input by its name)
    local lines = { fmt:format("Node", "Layer", "Output shape", "Params", "Connected to"), rule }
    for _, r in ipairs(rows) do
      local name = #r[2] > name_w and r[2]:sub(1, name_w - 1) .. "~" or r[2]
      local label = #r[1] > 8 and r[1]:sub(1, 7) .. "~" or r[1]
      lines[#lines + 1] = (fmt:format(label, name, r[3], Model._thousands(r[4]), r[5]):gsub("%s+$", ""))
    end
    lines[#lines + 1] = rule
    local outs = {}
    for k, p in ipairs(self.out_pos) do outs[k] = node_label(self, p) end
    lines[#lines + 1] = ("Outputs: %s"):format(table.concat(outs, ", "))
    lines[#lines + 1] = ("Total params: %s (%.2f KB)"):format(Model._thousands(total + buffers),
                                                            (total + buffers) * 4 / 1024)
    lines[#lines + 1] = ("Trainable params: %s"):format(Model._thousands(total))
    lines[#lines + 1] = ("Non-trainable params: %s"):format(Model._thousands(buffers))
    if model.loss then lines[#lines + 1] = ("Loss: %s"):format(tostring(model.loss):gsub("^nn%.", "")) end
    if model.optimizer then lines[#lines + 1] = ("Optimizer: %s"):format(tostring(model.optimizer)) end
    local text = require("nn.repr").wrap(table.concat(lines, "\n"))
    print(text)
    return nn.shown(text)
  end

  -- --- checkpoints ------------------------------------------------------------

  -- the graph as a checkpoint's architecture keeps it: nodes in order, an
  -- input as {input = {shape = ..., name = ...}}, a layer node as {layer =
  -- its index in model.layers, inputs = {the positions of its input nodes}}
  function Graph:describe()
    local nodes = {}
    for i, node in ipairs(self.nodes) do
      if node.layer == nil then
        nodes[i] = { input = { shape = node.shape, name = node.name } }
      else
        nodes[i] = { layer = self.layer_index[i], inputs = self.args[i] }
      end
    end
    return { nodes = nodes, inputs = #self.inputs, outputs = self.out_pos, name = self.name }
  end

  -- a graph model from a checkpoint's description and its built layers;
  -- raises a plain message (nn.load adds the path) on a description that
  -- does not hold together
  function Model._graph_from_config(desc, layers)
    local function bad(fmt, ...) error(("the graph is not valid: " .. fmt):format(...), 0) end
    if type(desc) ~= "table" or type(desc.nodes) ~= "table" or type(desc.outputs) ~= "table" then
      bad("nodes and outputs must be lists")
    end
    local n_in = math.tointeger(desc.inputs)
    local nodes, used = {}, {}
    if n_in == nil or n_in < 1 or n_in > #desc.nodes then bad("inputs must count its first nodes") end
    for i, d in ipairs(desc.nodes) do
      if type(d) ~= "table" then bad("node %d is not a table", i) end
      if i <= n_in then
        if type(d.input) ~= "table" or type(d.input.shape) ~= "table" then bad("node %d is not an input", i) end
        local spec = { name = d.input.name }
        for k, s in ipairs(d.input.shape) do spec[k] = math.tointeger(s) end
        local ok, s = pcall(Input, spec)
        if not ok then bad("node %d: %s", i, tostring(s)) end
        nodes[i] = s
      else
        local li = math.tointeger(d.layer)
        if li == nil or layers[li] == nil or used[li] then bad("node %d names no layer, or a used one", i) end
        used[li] = true
        if type(d.inputs) ~= "table" or #d.inputs == 0 then bad("node %d has no inputs", i) end
        local args = {}
        for j, p in ipairs(d.inputs) do
          p = math.tointeger(p)
          if p == nil or p < 1 or p >= i then bad("node %d reads node %s, not one before it", i, tostring(p)) end
          args[j] = nodes[p]
        end
        local ok, s = pcall(symbolic_call, 1, layers[li], table.unpack(args))
        if not ok then bad("node %d: %s", i, (tostring(s):gsub("^[^:]*:%d+: ", ""))) end
        nodes[i] = s
      end
    end
    if #nodes - n_in ~= #layers then bad("%d layer nodes for %d layers", #nodes - n_in, #layers) end
    local ins, outs = {}, {}
    for k = 1, n_in do ins[k] = nodes[k] end
    for k, p in ipairs(desc.outputs) do
      p = math.tointeger(p)
      if p == nil or nodes[p] == nil then bad("output %d is not a node", k) end
      outs[k] = nodes[p]
    end
    if #outs == 0 then bad("no outputs") end
    local ok, model = pcall(Model.new, { inputs = ins, outputs = outs, name = desc.name })
    if not ok then bad("%s", (tostring(model):gsub("^[^:]*:%d+: ", ""))) end
    return model
  end

  -- how many tensors x (which = "x") or y gives: nil for a sequential model
  -- (one tensor), else the graph's number of inputs or outputs (lua/nn/fit.lua)
  function Model:_arity(which)
    local g = rawget(self, "graph")
    if g == nil then return nil end
    return which == "x" and #g.inputs or #g.outputs
  end

  -- the public methods a graph model answers itself (model.lua's colon
  -- check sends them here), each as function (model, ...)
  local methods = {}
  for _, name in ipairs{ "set", "add", "forward", "backward", "step", "summary" } do
    local f = Graph[name]
    methods[name] = function (model, ...) return f(model.graph, model, ...) end
  end
  methods.compile = methods.set

  return { Input = Input, call = call, is_symbolic = is_symbolic, methods = methods }
end
