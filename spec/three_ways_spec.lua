-- The same MLP trained three ways, from the same weights on the same batches
-- (issue 15, item 5):
--   1. the hand-written layers: nn.Model{nn.Dense, ...}, model:step;
--   2. the autograd engine over raw tensor ops: x:matmul(W:t()) + b, relu,
--      log_softmax, gather, mean; loss:backward(); the same optimizer;
--   3. a graph model (Keras's functional API) of the same Dense layers.
-- Each runs 20 SGD + momentum steps; after every step the spec compares the
-- loss and every parameter's gradient.
--
-- Tolerances, and why:
-- - 1 and 3 run the same C passes in the same order on the same buffers,
--   so they must agree bit for bit: compared with ==.
-- - 2 computes the same function by other float32 roundings: its GEMM
--   multiplies by a transposed view (another OpenBLAS path), the bias is a
--   separate broadcast add, and its loss sums log_softmax's terms where the
--   fused cross-entropy computes (softmax - y) / B directly.  Each op is
--   within a few ulps (float32: 6e-8 relative); the differences feed back
--   through 20 updates, growing with the learning rate times the curvature.
--   Measured (2026-12-01, this spec's data), the worst relative difference
--   over the 20 steps is 2.3e-6; the spec allows 1e-4 relative (plus 1e-6
--   absolute for gradient entries near 0), far below what a wrong
--   derivative gives: the last case makes one layer's gradient 10% too
--   large and the comparison then finds 2.7.

local SIZES, B, STEPS, LR, MOMENTUM = { 20, 16, 12, 5 }, 8, 20, 0.1, 0.9

-- the starting weights and the 20 batches, drawn once
local function problem()
  nn.manual_seed(7)
  local w, batches = {}, {}
  for i = 1, #SIZES - 1 do
    local fan_in, fan_out = SIZES[i], SIZES[i + 1]
    w[#w + 1] = nn.tensor.randn(fan_out, fan_in) * (1 / math.sqrt(fan_in))
    w[#w + 1] = nn.tensor.randn(fan_out) * 0.1
  end
  for s = 1, STEPS do
    batches[s] = { x = nn.tensor.randn(B, SIZES[1]),
                   y = ((nn.tensor.rand(B) * SIZES[#SIZES]):floor() + 1):int() }
  end
  return w, batches
end

local function copies(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t:clone() end
  return out
end

local function dense_layers()
  local layers = {}
  for i = 1, #SIZES - 1 do
    local last = i == #SIZES - 1
    layers[i] = nn.Dense(SIZES[i], SIZES[i + 1], { activation = not last and "relu" or nil })
  end
  return layers
end

local function optimizer() return nn.optim.SGD{ lr = LR, momentum = MOMENTUM } end

-- Each way returns {losses = {...}, grads = {{g1, g2, ...} per step}}.

-- 20 steps of model:step from the weights w; model is sequential or a graph
local function train_steps(model, w, batches)
  model:set{ loss = nn.CrossEntropyLoss(), optimizer = optimizer() }
  model:set_weights(copies(w))
  local losses, grads = {}, {}
  local _, g = model:parameters()
  for s, b in ipairs(batches) do
    losses[s] = model:step(b.x, b.y)
    grads[s] = copies(g)
  end
  return { losses = losses, grads = grads }
end

local function by_layers(w, batches) return train_steps(nn.Model(dense_layers()), w, batches) end

local function by_graph(w, batches)
  local x = nn.Input{ SIZES[1] }
  local h = x
  for _, layer in ipairs(dense_layers()) do h = layer(h) end
  return train_steps(nn.Model{ inputs = x, outputs = h }, w, batches)
end

-- the engine: the MLP as raw tensor ops on leaves that require grad.
-- `wrong` (a test of the test) scales the last layer's gradient.
local function by_engine(w, batches, wrong)
  local params = copies(w)
  for _, p in ipairs(params) do p:requires_grad_() end
  local opt = optimizer()
  local losses, grads = {}, {}
  for s, b in ipairs(batches) do
    for _, p in ipairs(params) do p.grad = nil end
    local h = b.x
    for i = 1, #params, 2 do
      h = h:matmul(params[i]:t()) + params[i + 1]
      if i + 1 < #params then h = h:relu() end
    end
    -- cross-entropy of the logits h against class indices y:
    -- L = -mean_i log_softmax(h)[i, y_i]
    local picked = h:log_softmax(2):gather(2, b.y:view(B, 1))
    local loss = -picked:mean()
    loss:backward()
    local g = {}
    for i, p in ipairs(params) do g[i] = p.grad end
    if wrong then g[#g - 1] = g[#g - 1] * 1.1 end
    losses[s] = loss:item()
    grads[s] = copies(g)
    nn.no_grad(function () opt:step(params, g) end)
  end
  return { losses = losses, grads = grads }
end

-- The worst |a - b| / (ATOL / RTOL + |b|) over two runs' losses and
-- gradients: below RTOL exactly when every entry is within
-- ATOL + RTOL * |b|, the usual allclose test.
local RTOL, ATOL = 1e-4, 1e-6
local function worst_difference(a, b)
  local worst = 0
  for s = 1, STEPS do
    worst = math.max(worst, math.abs(a.losses[s] - b.losses[s]) / (ATOL / RTOL + math.abs(b.losses[s])))
    for i, g in ipairs(b.grads[s]) do
      local rel = ((a.grads[s][i] - g):abs() / (g:abs() + ATOL / RTOL)):max()
      worst = math.max(worst, rel)
    end
  end
  return worst
end

describe("the same MLP three ways (layers, engine, graph model)", function()
  local w, batches = problem()
  local layers = by_layers(w, batches)

  it("the loss falls over the 20 steps (the comparison is of a run that learns)", function()
    assert.is_true(layers.losses[STEPS] < layers.losses[1])
  end)

  it("the graph model gives the layers' losses and gradients bit for bit", function()
    local graph = by_graph(w, batches)
    for s = 1, STEPS do
      assert.are.equal(layers.losses[s], graph.losses[s])
      for i, g in ipairs(layers.grads[s]) do
        assert.is_true(nn.eq(g, graph.grads[s][i]):all(), ("step %d, gradient %d"):format(s, i))
      end
    end
  end)

  it("the engine over raw tensor ops agrees to 1e-4 relative at every step", function()
    local engine = by_engine(w, batches)
    assert.is_true(worst_difference(engine, layers) < RTOL)
  end)

  it("the comparison catches a wrong gradient (10% off in one layer)", function()
    local engine = by_engine(w, batches, true)
    assert.is_true(worst_difference(engine, layers) > 1e-2)
  end)
end)
