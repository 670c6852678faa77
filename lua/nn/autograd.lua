--- nn.autograd: a define-by-run tape, as PyTorch and micrograd record it.
--
--   local x = nn.tensor.randn(4, 3):requires_grad_()
--   local w = nn.tensor.randn(3, 2):requires_grad_()
--   local loss = (x:matmul(w):tanh() ^ 2):mean()      -- a 0-dim tensor
--   loss:backward()                                   -- x.grad, w.grad
--   nn.autograd.show(loss)                            -- the tape, one node a line
--
-- The idea (MiniTorch's node list, micrograd's Value): every op applied to a
-- tensor that requires grad makes a node {op, its inputs' nodes, what its
-- backward needs}; the nodes form a DAG that ends at the output.  backward
-- visits the nodes in reverse topological order, so each node has the whole
-- gradient dL/d(out) of its output before it runs, and applies the chain
-- rule locally:
--
--     dL/d(input_i) = (d out / d input_i)^T  dL/d(out)            \tag{1}
--
-- (a vector-Jacobian product: the Jacobian is never built).  A tensor used
-- twice gets the sum of the gradients of its uses (the multivariate chain
-- rule), so gradients meeting at a node are added before it runs:
--
--     dL/dv = \sum_{uses u of v}  dL/du  du/dv                    \tag{2}
--
-- A leaf (a tensor made by the user with requires_grad) adds (+=) what
-- reaches it into leaf.grad, as PyTorch does.  Source: Baydin et al.,
-- "Automatic Differentiation in Machine Learning: a Survey" (JMLR 2018),
-- sec. 3.2 (reverse mode); Karpathy's micrograd; MiniTorch, module 1.
--
-- Where the derivatives are: lua/nn/autograd_ops.lua, one entry per op,
-- each calling the SAME C backward pair the layers use where there is one
-- (nn.F.linear_backward, nn.F.activation_backward, the losses' *_backward),
-- or composing tensor ops where the derivative is a formula of them
-- (mul: g * b).  This file is the engine: the per-tensor state, the
-- recording, backward, and the pictures (show, dot).
--
-- The per-tensor state: NODE[t], the node that made t, or its leaf node
-- when it requires grad (kept in the tensor box's user value), and GRAD[t],
-- a leaf's .grad (a weak-keyed table); vm/l_tensor.c sends the fields t.grad, t.requires_grad,
-- t.grad_fn, t.is_leaf here (the metatable's __getfield / __setfield).
--
-- Dispatch: the differentiable entries of nn.Tensor.methods, nn.*, nn.F.*
-- and the metamethods (+ - * / ^ unary -) are replaced by wrappers the first
-- time a tensor is made to require grad (until then nothing changes: no
-- program that never asks for gradients pays anything).  A wrapper is a C
-- dispatcher (vm/l_tensor.c, ag_dispatch): a call whose inputs are not
-- recorded costs one table lookup per tensor argument and then runs the C
-- function in the caller's own frame, so its errors read exactly as before;
-- a recorded call costs one node (a Lua table) and its saved tensors.
local nn = require "nn"

local Tensor = nn.Tensor
local methods = Tensor.methods
local F = nn.F

local autograd = {}

-- the dispatcher and the recording switch of vm/l_tensor.c (see wrap below)
local core_wrap, core_set_enabled = nn._autograd_wrap, nn._autograd_set_enabled
local release = nn._autograd_release                  -- frees a gradient nothing else holds
local slice_range = nn._slice_range                   -- the rows t:slice(i, j) takes
nn._autograd_wrap, nn._autograd_set_enabled, nn._autograd_release = nil, nil, nil
nn._slice_range = nil

-- the raw C functions, before any wrapping (the derivatives call these:
-- nothing is recorded during backward)
local R, RF = {}, {}
for k, v in pairs(methods) do R[k] = v end
for _, k in ipairs{ "cat", "stack", "where" } do R["nn_" .. k] = nn[k] end
R.__add, R.__sub, R.__mul, R.__div, R.__unm = Tensor.__add, Tensor.__sub, Tensor.__mul,
                                              Tensor.__div, Tensor.__unm
R.__pow, R.__idiv, R.__mod = Tensor.__pow, Tensor.__idiv, Tensor.__mod
R.__newindex = Tensor.__newindex
for k, v in pairs(F) do RF[k] = v end
R.zeros, R.ones = nn.tensor.zeros, nn.tensor.ones
autograd.raw, autograd.raw_F = R, RF

local enabled = true                                  -- nn.no_grad turns it off
-- tensor -> its node (or leaf node): kept in the tensor box's user value
-- (vm/l_tensor.c newbox), read and written here as if NODE were a table
local getuv, setuv = debug.getuservalue, debug.setuservalue
local NODE = setmetatable({}, {
  __index = function (_, t)
    if getmetatable(t) == Tensor then return (getuv(t, 1)) end
    return nil
  end,
  __newindex = function (_, t, node) setuv(t, node, 1) end,
})
local GRAD = setmetatable({}, { __mode = "k" })       -- leaf tensor -> its .grad

local function is_tensor(v) return getmetatable(v) == Tensor end

local function shape_text(s)
  if s == nil or s == false then return "?" end
  return "[" .. table.concat(s, "x") .. "]"
end
autograd.shape_text = shape_text

local function fail(level, fmt, ...)
  error(fmt:format(...), level + 1)
end

-- --- nodes --------------------------------------------------------------------

--- A node of the tape (t.grad_fn): node.op (the op's name), node.next[i]
-- (the node of input i, false for an input that is not recorded),
-- node.shapes[i] (input i's shape, false for a number), node.shape (the
-- output's), node.s (what the backward needs: false once freed).  A leaf
-- node has node.leaf = true and node.tensor.
local Node = {}
Node.__index = Node
Node.__name = "grad_fn"
function Node.__tostring(n)
  if n.leaf then return ("<leaf %s%s>"):format(n.name and (n.name .. " ") or "", shape_text(n.shape)) end
  return ("<grad_fn %s -> %s>"):format(n.op, shape_text(n.shape))
end
Node.__repr = Node.__tostring
autograd.Node = Node

local function leaf_node(t, name)
  return setmetatable({ leaf = true, tensor = t, shape = R.size(t), name = name,
                        op = "leaf", next = {}, n = 0 }, Node)
end

--- record(op, out, s, inputs [, n]) -> out: makes out the output of a node
-- of op whose inputs are the array `inputs` (tensors, numbers, nil; n of
-- them, #inputs by default), saving s (a table, what the op's derivative in
-- autograd_ops.lua reads).  For an op written in Lua (autograd_ops.lua,
-- nn.Lambda): the wrappers call it, a user rarely does.
-- (It reads and writes the box's user value itself, not through NODE's
-- metamethods: a recorded op runs it once per op.)
local function record(op, out, s, inputs, n)
  if getuv(out, 1) ~= nil then return out end   -- an op that returned an input itself (x:to(its device))
  n = n or #inputs
  local nxt, shapes = {}, {}
  for i = 1, n do
    local v = inputs[i]
    if getmetatable(v) == Tensor then
      local c = getuv(v, 1)
      if c then                                 -- a recorded input: its node knows its shape
        nxt[i], shapes[i] = c, c.shape
      else                                      -- a constant: its shape, for show and dot
        nxt[i], shapes[i] = false, R.size(v)
      end
    else
      nxt[i], shapes[i] = false, false
    end
  end
  setuv(out, setmetatable({ op = op, next = nxt, shapes = shapes, n = n, s = s,
                            shape = R.size(out) }, Node), 1)
  return out
end
autograd.record = record

--- is_recorded(t) -> true when t requires grad (a leaf) or was made by a
-- recorded op.
local function is_recorded(t) return NODE[t] ~= nil end
autograd.is_recorded = is_recorded

-- --- the fields: t.requires_grad, t.grad, t.grad_fn, t.is_leaf ---------------------

local activate                      -- below: installs the wrappers, once

local function set_requires_grad(t, on, who)
  local node = NODE[t]
  if node and not node.leaf then
    if on then return end
    fail(3, "%s: you can only change requires_grad flags of leaf variables (this tensor "
         .. "was made by '%s'; use t:detach() for a tensor outside the graph)", who, node.op)
  end
  if on then
    if t.dtype ~= "float32" then
      fail(3, "%s: only float32 tensors can require gradients, got %s (convert with :float())",
           who, t.dtype)
    end
    if node == nil then NODE[t] = leaf_node(t) end
    activate()
  else
    NODE[t] = nil
  end
end

local getters = {
  requires_grad = function (t) return NODE[t] ~= nil end,
  grad = function (t) return GRAD[t] end,
  grad_fn = function (t) local n = NODE[t] if n and not n.leaf then return n end return nil end,
  is_leaf = function (t) local n = NODE[t] return n == nil or n.leaf == true end,
}

Tensor.__getfield = function (t, key)
  local get = getters[key]
  if get then return get(t) end
  return nil
end

Tensor.__setfield = function (t, key, v)
  if key == "requires_grad" then
    if type(v) ~= "boolean" then
      fail(3, "t.requires_grad = v: v must be a boolean, got %s", type(v))
    end
    set_requires_grad(t, v, "t.requires_grad")
    return true
  elseif key == "grad" then
    if v ~= nil then
      if not is_tensor(v) then fail(3, "t.grad = v: v must be a tensor or nil, got %s", type(v)) end
      if v.dtype ~= "float32" then
        fail(3, "t.grad = v: v must be a float32 tensor, got %s (convert with :float())", v.dtype)
      end
      local a, b = R.size(t), R.size(v)
      if shape_text(a) ~= shape_text(b) or v.device ~= t.device then
        fail(3, "t.grad = v: v must have t's shape %s on %s, got %s on %s", shape_text(a),
             t.device, shape_text(b), v.device)
      end
    end
    GRAD[t] = v
    return true
  elseif getters[key] then
    fail(3, "t.%s is read-only", key)
  end
  return false
end

--- t:requires_grad_([on = true]) -> t: from now on every op on t is
-- recorded, and backward leaves dL/dt in t.grad (PyTorch's spelling).
-- Errors: t an int32 tensor; t made by a recorded op (not a leaf) and on false.
function methods.requires_grad_(t, on)
  if not is_tensor(t) then fail(2, "requires_grad_: expected a tensor (t:requires_grad_()), got %s", type(t)) end
  if on == nil then on = true end
  set_requires_grad(t, on and true or false, "requires_grad_")
  return t
end

--- t:detach() -> a tensor sharing t's storage that is not recorded (no
-- gradient flows through it), as PyTorch's detach.
function methods.detach(t)
  if not is_tensor(t) then fail(2, "detach: expected a tensor (t:detach()), got %s", type(t)) end
  return R.view(t, R.size(t))
end

--- t:register_hook(fn) -> t: fn(grad) is called when backward computes
-- dL/dt (before it is added to t.grad for a leaf); a tensor fn returns
-- replaces the gradient (PyTorch's Tensor.register_hook).
-- Errors: t not recorded; fn not a function.
function methods.register_hook(t, fn)
  local node = NODE[t]
  if node == nil then
    fail(2, "register_hook: cannot register a hook on a tensor that doesn't require gradient")
  end
  if type(fn) ~= "function" then fail(2, "register_hook: fn must be a function, got %s", type(fn)) end
  node.hooks = node.hooks or {}
  node.hooks[#node.hooks + 1] = fn
  return t
end

-- --- recording on and off ------------------------------------------------------------

--- nn.autograd.is_enabled() -> whether ops are recorded now.
function autograd.is_enabled() return enabled end

--- nn.autograd.set_enabled(on) -> the previous mode: record ops (true) or not.
local function set_mode(on)
  enabled = on
  core_set_enabled(on)
end

function autograd.set_enabled(on)
  local before = enabled
  set_mode(on and true or false)
  return before
end

--- nn.no_grad(fn, ...) -> fn(...)'s results, with recording off while fn
-- runs (PyTorch's `with torch.no_grad()`); the mode is restored even when
-- fn raises (the error is raised again).
-- Errors: fn not a function.
function autograd.no_grad(fn, ...)
  if type(fn) ~= "function" then fail(2, "nn.no_grad: expected a function, got %s", type(fn)) end
  local before = enabled
  set_mode(false)
  local res = table.pack(pcall(fn, ...))
  set_mode(before)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- --- backward ----------------------------------------------------------------------------

-- The derivatives, by op name (autograd_ops.lua fills it).  D[op](node, g, s)
-- returns dL/d(input i) for each input i, reduced to its shape (nil for one
-- whose node.next[i] is false: nobody needs it).
local D = {}
autograd.derivatives = D

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- nodes reachable from root, children before parents (an iterative
-- depth-first search: a long chain does not overflow Lua's C stack); the
-- inputs of `stop` (a boundary: nn.Lambda's input) are not visited
local function topo_order(root, stop)
  local order, seen = {}, { [root] = true }
  local stack, pos = { root }, { 1 }
  while #stack > 0 do
    local top = #stack
    local node, i = stack[top], pos[top]
    local child = nil
    while node ~= stop and i <= node.n do
      local c = node.next[i]
      i = i + 1
      if c and not seen[c] then child = c break end
    end
    pos[top] = i
    if child then
      seen[child] = true
      stack[top + 1], pos[top + 1] = child, 1
    else
      order[#order + 1] = node
      stack[top], pos[top] = nil, nil
    end
  end
  return order
end
autograd.topo_order = topo_order

-- A leaf's gradient: added (+=) to leaf.grad (set there instead with
-- accumulate = false), or, when it has none, kept as leaf.grad: the tensor
-- itself when backward made it for this leaf alone (`owned`), else a copy
-- (it may be another tensor's gradient too).  Returns true when g itself
-- became leaf.grad.
-- `zeroed` (accumulate = false): the leaves whose .grad this backward has
-- already written; the first write sets, the later ones add (a leaf that
-- D.linear wrote and that another op reads too).
local function accumulate(node, g, owned, zeroed)
  local t = node.tensor
  local cur = GRAD[t]
  if zeroed then
    local first = not zeroed[t]
    zeroed[t] = true
    if first and cur ~= nil then R.copy_(cur, g) return false end   -- zero_grad fused
  end
  if cur ~= nil then
    R.add_(cur, g)                                  -- (2): leaves accumulate
    return false
  end
  GRAD[t] = owned and g or R.clone(g)
  return owned
end

-- gi is a tensor of its own, not g or a view of g's storage (a derivative
-- that passes g through, or returns a part of it, gives g's memory)
local function apart(gi, g)
  if gi == g then return false end
  local p, q = R.data_ptr(gi), R.data_ptr(g)
  return p < q or p >= q + 4 * R.numel(g)
end

-- The edges into the parts of the graph that lead to no leaf but the
-- `skip` ones are cut while backward runs (node.next[i] = false: the
-- derivative then does not compute that gradient, as linear_backward's
-- grad_input = false); returns the list to put back.
local function prune(order, skip)
  local needed, cut = {}, {}
  for _, node in ipairs(order) do                   -- children first
    if skip[node] ~= nil then
      needed[node] = not skip[node]
    elseif node.leaf then
      needed[node] = true
    else
      local any = false
      for i = 1, node.n do
        local c = node.next[i]
        if c then
          if needed[c] then any = true
          else cut[#cut + 1] = { node, i, c }; node.next[i] = false end
        end
      end
      needed[node] = any
    end
  end
  return cut
end

-- what a derivative may ask of the backward running: hook, whether a
-- backward hook watches every node (autograd_ops.lua's D.linear then takes
-- the plain path, so the hook sees the leaves' gradients); zeroed, with
-- accumulate = false, the set of leaves whose existing .grad this backward
-- has written (their first write sets: D.linear then gives linear_backward
-- beta 0), else false
local backward_state = { hook = false, zeroed = false }

-- The derivatives whose results are all tensors made by the call itself
-- (or g, or views of g), distinct for distinct inputs, and kept nowhere
-- else: a gradient such a derivative returned, apart from g, is reachable
-- only from the walk below, so once it has been used (its node's own
-- derivative ran, or it was added into a sum) it is given back at once
-- (`release`) instead of being left to the collector.  autograd_ops.lua
-- names its ops here (ops.fresh); a derivative a user adds is not among
-- them, so what it returns is never freed early.
local FRESH = {}

-- The walk: the nodes in reverse topological order (each has its whole
-- gradient before it runs), recording off.  grads[node] its gradient so far;
-- owned[node] true when that tensor was made for that node alone (a leaf
-- may keep it as its .grad); mine[node] true when, moreover, nothing but
-- `grads` can reach it (a FRESH derivative's result, or a sum made here),
-- so it is released once used.  Nothing a hook saw is released: a node
-- with hooks, or a backward with a hook, keeps everything.  Returns the
-- gradient that reached `stop` (nn.Lambda's boundary), kept.
local function walk(order, root, grad, retain, hook, stop, zeroed)
  local captured
  local grads, owned, mine = { [root] = grad }, {}, {}
  for k = #order, 1, -1 do
    local node = order[k]
    local g = grads[node]
    if node == stop then
      captured, g = g, nil                          -- the gradient at the boundary, kept
    end
    if g ~= nil then
      grads[node] = nil
      local free = mine[node] and hook == nil
      if node.hooks then
        free = false
        for _, h in ipairs(node.hooks) do
          local r = h(g)
          if r ~= nil then g, owned[node] = r, false end
        end
      end
      if hook then hook(node, g) end
      if node.leaf then
        if not accumulate(node, g, owned[node], zeroed) and free then release(g) end
      else
        local s = node.s
        if s == false then
          error(("backward: trying to backward through the graph a second time ('%s': its "
                 .. "saved tensors were freed after the first backward); give "
                 .. "{retain_graph = true} to the first backward if you need to"):format(node.op), 0)
        end
        local op = node.op
        local d = D[op]
        if d == nil then
          error(("backward: '%s' has no derivative in nnlua"):format(op), 0)
        end
        local n, r1, r2, r3, r4, rest = node.n, nil, nil, nil, nil, nil
        if n <= 4 then r1, r2, r3, r4 = d(node, g, s)      -- no table for the common case
        else rest = { d(node, g, s) } end
        local fresh = FRESH[op] and rest == nil
        if not fresh then free = false end              -- a derivative we do not know may keep g
        local nxt = node.next
        for i = 1, n do
          local c, gi = nxt[i], nil
          if rest then gi = rest[i]
          elseif i == 1 then gi = r1 elseif i == 2 then gi = r2
          elseif i == 3 then gi = r3 else gi = r4 end
          if c and gi then
            if gi == g then free = false end          -- passed on as it is
            local own = apart(gi, g)
            if fresh and own then                     -- distinct from the inputs before it?
              if (i > 1 and gi == r1) or (i > 2 and gi == r2) or (i > 3 and gi == r3) then
                fresh = false
              end
            end
            local prev = grads[c]
            if prev == nil then
              grads[c], owned[c], mine[c] = gi, own, fresh and own
            else
              grads[c] = R.add(prev, gi)                                -- (2)
              if mine[c] then release(prev) end
              if fresh and own then release(gi) end
              owned[c], mine[c] = true, true
            end
          end
        end
        if not retain then node.s = false end               -- free what it saved
        if free then release(g) end       -- used up; views of it keep it (release checks)
      end
    end
  end
  return captured
end

local backward_keys = { retain_graph = true, hook = true, accumulate = true, _skip = true,
                        _stop = true }

--- y:backward([grad] [, {retain_graph = false, hook = fn, accumulate = true}]):
-- dL/dv for every leaf v that y depends on, added (+=) to v.grad, or with
-- accumulate = false written over an existing v.grad (a training step's
-- zero_grad fused in, as layer:backward(g, {accumulate = false}); a leaf
-- without a .grad gets one either way; for the leaves y depends on, the
-- same numbers as `v.grad:zero_()` before a plain backward; a leaf y does
-- not reach keeps its .grad).  grad = dL/dy: optional
-- when y has one element (then 1), else a tensor of y's shape.  The graph's
-- saved tensors are freed afterwards unless retain_graph.  hook(node, g) is
-- called for every node with its incoming gradient g before it runs (watch
-- the chain rule: nn.autograd.print_grad is such a hook).  Recording is off
-- while backward runs.
-- Errors: y does not require grad; no grad for a y of several elements;
-- accumulate not a boolean; a
-- grad of another shape; a second backward through a freed graph; an op
-- without a derivative ("backward: 'remainder' has no derivative in nnlua").
function methods.backward(y, grad, opts)
  if not is_tensor(y) then fail(2, "backward: expected a tensor (y:backward()), got %s", type(y)) end
  if type(grad) == "table" and opts == nil and not is_tensor(grad) then grad, opts = nil, grad end
  opts = opts or {}
  if type(opts) ~= "table" then fail(2, "backward: opts must be a table, got %s", type(opts)) end
  for k in pairs(opts) do
    if not backward_keys[k] then
      fail(2, "backward: unknown option '%s' (options: retain_graph, hook, accumulate)",
           tostring(k))
    end
  end
  if opts.accumulate ~= nil and type(opts.accumulate) ~= "boolean" then
    fail(2, "backward: accumulate must be a boolean, got %s", type(opts.accumulate))
  end
  if opts.hook ~= nil and type(opts.hook) ~= "function" then
    fail(2, "backward: hook must be a function (node, grad), got %s", type(opts.hook))
  end
  local root = NODE[y]
  if root == nil then
    fail(2, "backward: element 0 of tensors does not require grad and does not have a grad_fn "
         .. "(make an input with x:requires_grad_() before the ops)")
  end
  local shape = R.size(y)
  if grad == nil then
    if R.numel(y) ~= 1 then
      fail(2, "backward: grad can be implicitly created only for scalar outputs; y is %s: "
           .. "give a gradient of its shape", shape_text(shape))
    end
    grad = autograd.on_device(R.ones(shape), y.device)
  elseif not is_tensor(grad) then
    fail(2, "backward: grad must be a tensor of y's shape %s, got %s", shape_text(shape), type(grad))
  elseif not same_shape(R.size(grad), shape) then
    fail(2, "backward: grad has shape %s, expected %s (the shape of y)",
         shape_text(R.size(grad)), shape_text(shape))
  elseif grad.dtype ~= "float32" or grad.device ~= y.device then
    fail(2, "backward: grad must be float32 on %s, got %s on %s", y.device, grad.dtype, grad.device)
  end
  local zeroed = opts.accumulate == false and {}
  local before = enabled
  set_mode(false)
  backward_state.hook, backward_state.zeroed = opts.hook ~= nil, zeroed
  local stop = opts._stop
  local order = topo_order(root, stop)
  local cut = opts._skip and prune(order, opts._skip)
  local ok, err = pcall(walk, order, root, grad, opts.retain_graph, opts.hook, stop, zeroed)
  if cut then for _, e in ipairs(cut) do e[1].next[e[2]] = e[3] end end
  backward_state.zeroed = false
  set_mode(before)
  if not ok then error(err, 2) end
  return err                       -- nil; with _stop (nn.Lambda), the gradient that reached it
end

-- --- wrappers --------------------------------------------------------------------------

-- wrap(raw, rec) -> the dispatcher of vm/l_tensor.c (nn.core._autograd_wrap):
-- runs rec(raw, ...) when recording is on and an argument is recorded,
-- else raw itself in the caller's frame (its error messages unchanged).
local function wrap(raw, rec)
  return core_wrap(raw, rec)
end


-- ops refused while recording: an in-place change of a tensor the tape
-- needs would make its gradients silently wrong.  (Not detected: an
-- in-place change through a view of a recorded tensor made before it was
-- recorded, or of a tensor a node saved that is not itself recorded, e.g.
-- a constant operand changed between forward and backward: PyTorch counts
-- versions for that; nnlua does not.)
local function inplace_rec(name)
  return function (_, t, ...)
    local what = NODE[t] and (NODE[t].leaf and "a leaf tensor that requires grad"
                                         or ("a tensor made by '" .. NODE[t].op .. "'"))
                 or "a tensor not recorded, with an argument that requires grad"
    error(("%s: %s is used in an in-place operation while recording (use the out-of-place "
           .. "form, or run it inside nn.no_grad(fn))"):format(name, what), 0)
  end
end

local ops = require "nn.autograd_ops"
ops.setup(autograd, { R = R, RF = RF, NODE = NODE, GRAD = GRAD, D = D, record = record,
                      is_tensor = is_tensor, same_shape = same_shape, state = backward_state,
                      release = release, slice_range = slice_range })
for _, op in ipairs(ops.fresh) do FRESH[op] = true end

local active = false
--- (internal) installs the wrappers into nn.Tensor.methods, nn, nn.F and
-- the metamethods; called by the first requires_grad.  Idempotent.
function activate()
  if active then return end
  active = true
  local function put(tbl, name, fn)
    if rawget(tbl, name) ~= nil then rawset(tbl, name, fn) end
  end
  for name, def in pairs(ops.methods) do
    local raw = R[name]
    if raw then
      local w = wrap(raw, def.rec)
      if nn[name] == raw then nn[name] = w end
      put(methods, name, w)
    end
  end
  for name, def in pairs(ops.functions) do           -- nn.cat, nn.stack, nn.where
    local raw = R["nn_" .. name]
    if raw then nn[name] = wrap(raw, def.rec) end
  end
  for name, def in pairs(ops.F) do
    local raw = RF[name]
    if raw then F[name] = wrap(raw, def.rec) end
  end
  for name, def in pairs(ops.meta) do
    local raw = R[name]
    if raw then Tensor[name] = wrap(raw, def.rec) end
  end
  for _, name in ipairs(ops.inplace) do
    local raw = R[name]
    if raw then
      local w = wrap(raw, inplace_rec(name))
      if nn[name] == raw then nn[name] = w end
      put(methods, name, w)
    end
  end
  -- Showing a tensor never records: the stats a printout or a picture
  -- computes (t:min(), t:std(), ...) stay numbers on a recorded tensor.
  local function not_recorded(tbl, name)
    local f = rawget(tbl, name)
    if type(f) == "function" then
      rawset(tbl, name, function (...) return autograd.no_grad(f, ...) end)
    end
  end
  -- the prompt's printout, print(t), tostring(t): a recorded tensor says
  -- so on a last line, as PyTorch's grad_fn=<MulBackward0>
  local repr = rawget(nn, "repr")
  nn.repr = function (v, ...)
    local text = autograd.no_grad(repr, v, ...)
    local node = is_tensor(v) and NODE[v]
    if node and type(text) == "string" then
      text = text .. (node.leaf and "\n  requires_grad" or ("\n  grad_fn " .. tostring(node)))
    end
    return text
  end
  not_recorded(methods, "show")            -- t:show(), t:hist() (lua/nn/plot.lua)
  not_recorded(methods, "hist")
  -- t[i] = v on a recorded tensor (or with a recorded v)
  local newindex = R.__newindex
  Tensor.__newindex = wrap(newindex, function (_, t, k, v)
    if type(k) ~= "number" then return newindex(t, k, v) end
    inplace_rec("t[i] = v")(nil, t)
  end)
end
autograd._activate = activate

--- nn.autograd.is_active() -> whether the wrappers are installed (after the
-- first requires_grad).
function autograd.is_active() return active end

-- --- pictures -------------------------------------------------------------------------

local function node_label(n, names)
  if n.leaf then
    local name = n.name or (names and names[n.tensor])
    return name and ("leaf " .. name) or "leaf"
  end
  return n.op
end

-- opts.names {name = tensor, ...} as tensor -> name; raises for another type
local function names_of(opts, who)
  if opts.names == nil then return nil end
  if type(opts.names) ~= "table" then
    fail(4, "%s: names must be a table {name = tensor, ...}, got %s", who, type(opts.names))
  end
  local by = {}
  for k, v in pairs(opts.names) do if is_tensor(v) then by[v] = tostring(k) end end
  return by
end

-- the inputs of node n as text: "#2 [4x3]" for a recorded one, "const
-- [4x3]" for a tensor that is not, "number" for a number
local function inputs_text(n, index)
  local parts = {}
  for i = 1, n.n do
    local c = n.next[i]
    if c then parts[#parts + 1] = ("#%d%s"):format(index[c], shape_text(c.shape))
    elseif n.shapes[i] then parts[#parts + 1] = "const" .. shape_text(n.shapes[i])
    else parts[#parts + 1] = "number" end
  end
  return table.concat(parts, " ")
end

-- show's and dot's arguments checked: opts (a table or nil), the names
-- opts.names gives, and y's node; raises at their caller
local function tape_of(y, opts, who, also)
  opts = opts or {}
  if type(opts) ~= "table" then fail(3, "%s: opts must be a table, got %s", who, type(opts)) end
  local names = names_of(opts, who)
  local root = NODE[y]
  if not is_tensor(y) or root == nil then
    fail(3, "%s: expected a tensor made by recorded ops%s, got %s", who, also,
         is_tensor(y) and "a tensor that is not recorded" or type(y))
  end
  return opts, names, root
end

--- nn.autograd.show(y [, {names = {x = x, ...}, width = 80, quiet = false}])
-- -> text: y's tape, one node a line in the order the ops ran
-- (topological: inputs first), also printed unless quiet: index, op
-- (leaves: "leaf", with the name a layer or opts.names gives them; "grad":
-- it requires grad), the inputs ("#k[shape]" for node k, "const[shape]"
-- for a tensor not recorded, "number"), and the output's shape ("(freed)"
-- once a backward freed what the node saved).
-- Errors: y not a tensor made by recorded ops; opts or names not tables.
function autograd.show(y, opts)
  local root, names
  opts, names, root = tape_of(y, opts, "nn.autograd.show", " (or one that requires grad)")
  local order = topo_order(root)
  local index = {}
  for i, n in ipairs(order) do index[n] = i end
  local width = opts.width or 80
  local lines = { ("  #  %-18s %-38s %s"):format("op", "inputs", "output") }
  for i, n in ipairs(order) do
    local label = node_label(n, names) .. (n.leaf and " grad" or "")
    local ins = n.leaf and "" or inputs_text(n, index)
    local out = shape_text(n.shape) .. (n.s == false and "  (freed)" or "")
    local line = ("%3d  %-18s %-38s %s"):format(i, label, ins, out)
    if #line > width and #ins > 38 then
      line = ("%3d  %-18s %s\n%s%s"):format(i, label, ins, (" "):rep(63), out)
    end
    lines[#lines + 1] = line
  end
  local text = table.concat(lines, "\n")
  if not opts.quiet then print(text) end
  return text
end

--- nn.autograd.dot(y [, path [, {names = {x = x, ...}}]]) -> text: y's tape
-- as Graphviz: ops as boxes, tensors as ellipses labelled with their shapes
-- (leaves filled, named as in show), edges in the direction data flows.
-- With path, also written there (render with Debian's graphviz: dot -Tpng
-- g.dot -o g.png).
-- Errors: y not recorded; a path that cannot be written; opts not a table.
function autograd.dot(y, path, opts)
  local root, names
  opts, names, root = tape_of(y, opts, "nn.autograd.dot", "")
  if path ~= nil and type(path) ~= "string" then
    fail(2, "nn.autograd.dot: path must be a file name such as 'g.dot', got %s", type(path))
  end
  local order = topo_order(root)
  local index = {}
  for i, n in ipairs(order) do index[n] = i end
  local out = { "digraph autograd {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];" }
  local c = 0
  for i, n in ipairs(order) do
    if n.leaf then
      out[#out + 1] = ("  t%d [shape=ellipse, style=filled, fillcolor=lightblue, label=\"%s\\n%s\"];")
        :format(i, n.name or (names and names[n.tensor]) or "leaf", shape_text(n.shape))
    else
      out[#out + 1] = ("  op%d [shape=box, label=\"%s\"];"):format(i, n.op)
      out[#out + 1] = ("  t%d [shape=ellipse, label=\"%s\"];"):format(i, shape_text(n.shape))
      out[#out + 1] = ("  op%d -> t%d;"):format(i, i)
      for k = 1, n.n do
        local src = n.next[k]
        if src then
          out[#out + 1] = ("  t%d -> op%d;"):format(index[src], i)
        elseif n.shapes[k] then
          c = c + 1
          out[#out + 1] = ("  c%d [shape=ellipse, style=dashed, label=\"const\\n%s\"];")
            :format(c, shape_text(n.shapes[k]))
          out[#out + 1] = ("  c%d -> op%d;"):format(c, i)
        end
      end
    end
  end
  out[#out + 1] = "}"
  local text = table.concat(out, "\n") .. "\n"
  if path then
    local f, err = io.open(path, "w")
    if not f then fail(2, "nn.autograd.dot: cannot write %s: %s", path, tostring(err)) end
    f:write(text)
    f:close()
  end
  return text
end

--- nn.autograd.grad_printer([out = print]) -> hook: a backward hook that
-- gives out(line) for each node: its op, output shape and incoming
-- gradient's norm, so a learner watches the chain rule run:
--   y:backward(nil, {hook = nn.autograd.print_grad})
-- nn.autograd.print_grad is grad_printer() (lines to print).
function autograd.grad_printer(out)
  out = out or print
  return function (node, g)
    out(("backward %-16s %-12s |dL/dout| = %.6g"):format(node_label(node), shape_text(node.shape),
                                                         R.norm(g)))
  end
end
autograd.print_grad = function (node, g) return autograd.grad_printer()(node, g) end

autograd.NODE, autograd.GRAD = NODE, GRAD
autograd.leaf_node = leaf_node
return autograd
