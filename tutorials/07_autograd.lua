-- Lesson 7: the computation graph, by hand and by the autograd engine.
-- Run it:  ./nnlua tutorials/07_autograd.lua
-- Or:      ./nnlua -i tutorials/07_autograd.lua   runs it, then stays at
--           the prompt with its globals (nodes, W1, loss, model, ...)
--
-- Lesson 2 ran one layer forward and backward.  A network is many such
-- steps, and the order matters: forward must compute each value after the
-- values it reads; backward must compute each gradient after the gradients
-- of everything that read it.  Write the computation down as a LIST OF
-- NODES in the order it ran (MiniTorch's tape, micrograd's graph), and both
-- orders are free: forward walks the list from the start, backward walks
-- it from the end.  Each node knows only its own derivative; the chain
-- rule is the walk.
--
-- This lesson builds the list by hand for a two-layer network, then lets
-- the engine build it (nn.autograd: every op on a tensor that requires grad
-- is recorded as a node), then runs the same network as hand-written layers,
-- and shows that all three give the same numbers.

nn.manual_seed(0)

-- The data: a batch of 4 examples of 3 features, and their classes (1 or 2:
-- class indices count from 1 in nnlua, as every index in Lua does).
x = nn.tensor.randn(4, 3)
y = nn.tensor{ 1, 2, 2, 1 }:int()

-- The parameters of  z = W2 relu(W1 x + b1) + b2,  loss = cross-entropy.
W1, b1 = nn.tensor.randn(5, 3) * 0.5, nn.tensor.zeros(5)
W2, b2 = nn.tensor.randn(2, 5) * 0.5, nn.tensor.zeros(2)

-- 1. The graph by hand.  A node: the op's name, its inputs (names of values),
-- its output's name, a forward (values -> value) and a backward (the output's
-- gradient -> one gradient per input).  Each backward calls the same C pair
-- the layers use (nn.F.*_backward): no derivative is written twice.
nodes = {
  { op = "linear", inputs = { "x", "W1", "b1" }, output = "a1",
    forward = function (v) return nn.F.linear(v.x, v.W1, v.b1) end,
    backward = function (v, g)
      local gx, gw, gb = nn.F.linear_backward(g, v.x, v.W1)
      return { x = gx, W1 = gw, b1 = gb }
    end },
  { op = "relu", inputs = { "a1" }, output = "h1",
    forward = function (v) return nn.F.relu(v.a1) end,
    backward = function (v, g) return { a1 = nn.F.activation_backward(g, v.h1, "relu") } end },
  { op = "linear", inputs = { "h1", "W2", "b2" }, output = "z",
    forward = function (v) return nn.F.linear(v.h1, v.W2, v.b2) end,
    backward = function (v, g)
      local gx, gw, gb = nn.F.linear_backward(g, v.h1, v.W2)
      return { h1 = gx, W2 = gw, b2 = gb }
    end },
  { op = "cross_entropy", inputs = { "z", "y" }, output = "loss",
    forward = function (v) return nn.F.cross_entropy(v.z, v.y) end,
    backward = function (v, g) return { z = nn.F.cross_entropy_backward(v.z, v.y) * g } end },
}

-- Forward: walk the list in order; every value goes into one table.
values = { x = x, y = y, W1 = W1, b1 = b1, W2 = W2, b2 = b2 }
for _, node in ipairs(nodes) do
  values[node.output] = node.forward(values)
  print(("forward  %-14s -> %s"):format(node.op, node.output))
end
print(("loss = %.6f"):format(values.loss))
print()

-- Backward: walk the list in reverse.  grads[name] is dL/d(name); the loss
-- starts it (dL/dL = 1).  A value read by two nodes would get the SUM of
-- their gradients (the multivariate chain rule): hence += below.
grads = { loss = 1 }
for i = #nodes, 1, -1 do
  local node = nodes[i]
  for name, g in pairs(node.backward(values, grads[node.output])) do
    if name ~= "x" then grads[name] = grads[name] and grads[name] + g or g end
  end
  print(("backward %-14s <- d loss / d %s"):format(node.op, node.output))
end
print()
print("dL/dW1 by hand:")
print(grads.W1)

-- 2. The same network through the engine.  Mark the parameters as leaves
-- that require a gradient; every op on them is recorded as it runs (define
-- by run), so the list of nodes above is built for us.
eW1, eb1 = W1:clone():requires_grad_(), b1:clone():requires_grad_()
eW2, eb2 = W2:clone():requires_grad_(), b2:clone():requires_grad_()
h = nn.F.relu(nn.F.linear(x, eW1, eb1))
loss = nn.F.cross_entropy(nn.F.linear(h, eW2, eb2), y)
print()
print("the engine's graph, in the order it ran (the same four ops as ours;")
print("the leaves are the parameters, 'const' a tensor that needs no gradient):")
names = { x = x, W1 = eW1, b1 = eb1, W2 = eW2, b2 = eb2 }
nn.autograd.show(loss, { names = names })
print()
-- Backward walks it in reverse; a hook sees each node's incoming gradient
-- dL/d(output) as the walk reaches it: the chain rule, one link at a time.
print("backward, node by node:")
loss:backward(nil, { hook = nn.autograd.print_grad, retain_graph = true })
print()
print("dL/dW1 by the engine:")
print(eW1.grad)
print(("largest difference from the hand-made graph: %.3g"):format(
      (eW1.grad - grads.W1):abs():max()))

-- The engine records any formula, not only layers: the same network from
-- raw tensor ops (matmul, +, relu, log_softmax, gather, mean).
rW1 = W1:clone():requires_grad_()
z = (x:matmul(rW1:t()) + b1):relu():matmul(W2:t()) + b2
raw_loss = -z:log_softmax(2):gather(2, y:view(4, 1)):mean()
raw_loss:backward()
print(("raw ops: loss %.6f, largest dL/dW1 difference %.3g"):format(
      raw_loss:item(), (rW1.grad - grads.W1):abs():max()))

-- 3. The same network as hand-written layers (what nn.Model trains).
model = nn.Model{ nn.Dense(3, 5, { activation = "relu" }), nn.Dense(5, 2) }
model:set_weights{ W1:clone(), b1:clone(), W2:clone(), b2:clone() }
model:set{ loss = nn.CrossEntropyLoss() }
out = model:forward(x)
print(("layers: loss %.6f"):format(model:compute_loss(y)))
model:zero_grad()
model:backward()
params, layer_grads = model:parameters()
print(("layers: largest dL/dW1 difference %.3g"):format(
      (layer_grads[1] - grads.W1):abs():max()))

-- 4. Draw the graph: Graphviz text (ops as boxes, tensors as ellipses),
-- rendered by Debian's graphviz package: dot -Tpng graph.dot -o graph.png
dot_path = os.tmpname()
nn.autograd.dot(loss, dot_path, { names = names })
print()
print("wrote the graph as Graphviz text to " .. dot_path)
if os.execute("command -v dot > /dev/null") then
  png_path = dot_path .. ".png"
  os.execute(("dot -Tpng %s -o %s"):format(dot_path, png_path))
  print("and drew it: " .. png_path)
end

-- At the prompt (./nnlua -i tutorials/07_autograd.lua), try:
--   > nn.autograd.show(raw_loss)         the raw ops' graph: more nodes
--   > eW1.grad - grads.W1                 the engine against the hand-made list
--   > h.grad_fn                           the node that made h
--   > nn.gradcheck(function (w) return (x:matmul(w:t())):tanh():sum() end, {rW1})
