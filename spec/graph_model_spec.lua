--- spec/graph_model_spec.lua -- graph models, Keras's functional API
--- (lua/nn/graph.lua): nn.Input, layers called on symbolic tensors,
--- nn.Model{inputs = ..., outputs = ...}; their values, gradients, training,
--- summary, checkpoints and errors.
local nn = require "nn"
local H = require "spec.helpers"

local function silently(fn, ...)
  local saved = _G.print
  _G.print = function () end
  local ok, a, b = pcall(fn, ...)
  _G.print = saved
  if not ok then error(a, 0) end
  return a, b
end

-- A model of two inputs and two outputs, with a branch (h is read by two
-- layers) and two merges (Add, Concat):
--   a (B, 4) -> d1 (tanh) -> h (B, 5) -> d2 -> (B, 3) -+- Add -> s (B, 3)
--                               \------> d3 -> (B, 3) -/
--   Concat(s, b (B, 3)) -> j (B, 6) -> d4 -> Softmax -> out1 (B, 3)
--                                   \-> d5 -> out2 (B, 1)
-- tanh, not ReLU: no kink within the finite differences' h.
local function two_by_two()
  local L = { d1 = nn.Dense(4, 5, { activation = "tanh" }), d2 = nn.Dense(5, 3), d3 = nn.Dense(5, 3),
              add = nn.Add(), cat = nn.Concat(2), d4 = nn.Dense(6, 3), sm = nn.Softmax(),
              d5 = nn.Dense(6, 1) }
  local a, b = nn.Input{ 4, name = "a" }, nn.Input{ 3, name = "b" }
  local h = L.d1(a)
  local s = L.add(L.d2(h), L.d3(h))
  local j = L.cat(s, b)
  local out1, out2 = L.sm(L.d4(j)), L.d5(j)
  return nn.Model{ inputs = { a, b }, outputs = { out1, out2 } }, L
end

-- the same network run layer by layer, by hand
local function by_hand(L, xa, xb)
  local h = L.d1:forward(xa)
  local s = nn.add(L.d2:forward(h):clone(), L.d3:forward(h))
  local j = nn.cat({ s, xb }, 2)
  return L.sm:forward(L.d4:forward(j)), L.d5:forward(j)
end

-- L = sum(out1 * r1) + sum(out2 * r2), as a Lua number
local function loss_of(m, x, r)
  local out = m:forward(x)
  return (out[1] * r[1]):sum() + (out[2] * r[2]):sum()
end

-- The largest miss of the model's analytic gradients (model:backward from
-- dL/dout = r) against central differences (L(v + h) - L(v - h)) / 2h, over
-- every entry of every parameter and of both inputs; the tolerance is
-- nn.gradcheck's, atol + rtol * |numeric| (lua/nn/gradcheck.lua says why).
local TOL = { h = 1e-2, atol = 1e-3, rtol = 1e-2 }
local function check_gradients(m, x, r)
  m:zero_grad()
  m:forward(x)
  local dx = m:backward(r)
  local params, grads = m:parameters()
  local pairs_ = {}
  for k = 1, #params do pairs_[#pairs_ + 1] = { params[k], grads[k]:clone(), "param " .. k } end
  for k = 1, 2 do pairs_[#pairs_ + 1] = { x[k], dx[k]:clone(), "x[" .. k .. "]" } end
  local worst, where = 0, nil
  for _, e in ipairs(pairs_) do
    local t, g = e[1], e[2]
    local flat, gflat = t:view(-1), g:view(-1)
    for i = 1, t:numel() do
      local v = flat:get(i)
      flat:set(i, v + TOL.h)
      local up = loss_of(m, x, r)
      flat:set(i, v - TOL.h)
      local down = loss_of(m, x, r)
      flat:set(i, v)
      local numeric, analytic = (up - down) / (2 * TOL.h), gflat:get(i)
      local excess = math.abs(analytic - numeric) - (TOL.atol + TOL.rtol * math.abs(numeric))
      if excess > worst then worst, where = excess, ("%s[%d]: analytic %.6g, numeric %.6g")
                                                  :format(e[3], i, analytic, numeric) end
    end
  end
  return worst == 0, where
end

local function same_bits(a, b, what)
  assert.are.same(a:size(), b:size(), what)
  assert.is_true(a:eq(b):all(), what .. ": not the same bits")
end

describe("nn.Input and layers called on symbolic tensors", function()
  it("an Input is one sample's shape; a layer called on it gives its output's shape", function()
    local x = nn.Input{ 1, 28, 28, name = "image" }
    assert.are.same({ 1, 28, 28 }, x.shape)
    assert.are.equal("image", x.name)
    assert.are.equal("nn.Input{1, 28, 28} 'image'", tostring(x))
    local c = nn.Conv2d(1, 4, 3)(x)
    assert.are.same({ 4, 26, 26 }, c.shape)
    local f = nn.Flatten()(c)
    assert.are.same({ 4 * 26 * 26 }, f.shape)
    local d = nn.Dense(4 * 26 * 26, 10)
    local y = d(f)
    assert.are.equal(d, y.layer)
    assert.are.equal(f, y.inputs[1])
    assert.is_truthy(tostring(y):find("symbolic (B, 10) from nn.Linear(2704 -> 10)", 1, true))
    assert.are.same({ 5 }, nn.Concat(2)(nn.Input{ 2 }, nn.Input{ 3 }).shape)
  end)

  it("a C layer called on real tensors is still its forward, with the same errors", function()
    local l = nn.Linear(3, 2)
    local y = l(nn.tensor.ones(4, 3))
    assert.are.equal(l.output, y)
    H.assert_error_has(function () l(nn.tensor.ones(2, 4)) end,
                       { "bad argument #2 to 'l'", "expected input [B x 3], got [2x4]" })
  end)

  it("nn.call calls a Lua layer (no __call) on symbolic or real tensors", function()
    local double = {
      name = "Double",
      forward = function (_, x) return x * 2 end,
      backward = function (_, g) return g * 2 end,
      output_shape = function (_, shape) return shape end,
    }
    local x = nn.Input{ 3 }
    local y = nn.call(double, x)
    assert.are.same({ 3 }, y.shape)
    local unknown = nn.call({ forward = double.forward, backward = double.backward }, x)
    assert.is_nil(unknown.shape)                          -- no output_shape: "?"
    H.assert_tensor(nn.call(double, nn.tensor{ 1, 2 }), { 2, 4 }, H.EXACT)
    local l = nn.Dense(3, 2)
    assert.are.equal(l.output, nn.call(l, nn.tensor.ones(1, 3)))
    -- a graph through the Lua layer trains its neighbours: y = d(2x)
    nn.manual_seed(5)
    local d = nn.Dense(3, 1)
    local m = nn.Model{ inputs = x, outputs = d(y) }
    local xs = nn.tensor.randn(6, 3)
    H.assert_tensor(m:forward(xs), d:forward(xs * 2):totable(), H.EXACT)
    m:zero_grad()
    m:forward(xs)
    local dx = m:backward(nn.tensor.ones(6, 1))
    H.assert_tensor(dx, (nn.tensor.ones(6, 1):matmul(d.weight) * 2):totable(), H.ROUND)
  end)
end)

describe("a Lua layer of two inputs in a graph", function()
  it("gets both inputs, and its two gradients go back to their producers", function()
    local mul = {                                        -- y = a * b, elementwise
      name = "Mul",
      forward = function (self, a, b) self.a, self.b = a:clone(), b:clone(); return a * b end,
      backward = function (self, g) return g * self.b, g * self.a end,
    }
    nn.manual_seed(6)
    local x1, x2 = nn.Input{ 3 }, nn.Input{ 2 }
    local d1, d2 = nn.Dense(3, 2), nn.Dense(2, 1)
    local m = nn.Model{ inputs = { x1, x2 }, outputs = d2(nn.call(mul, d1(x1), x2)) }
    local a, b = nn.tensor.randn(4, 3), nn.tensor.randn(4, 2)
    local h = d1:forward(a):clone()
    H.assert_tensor(m:forward{ a, b }, d2:forward(h * b):totable(), H.EXACT)
    m:zero_grad()
    local g = nn.tensor.ones(4, 1)
    local dx = m:backward(g)
    local dmul = g:matmul(d2.weight)                     -- dL/d(a * b): (4, 2)
    H.assert_tensor(dx[2], (dmul * h):totable(), H.ROUND, "dL/dx2")
    H.assert_tensor(dx[1], (dmul * b):matmul(d1.weight):totable(), H.ROUND, "dL/dx1")
  end)
end)

describe("a graph model of two inputs and two outputs, with a branch and merges", function()
  it("forward gives what the same layers give called by hand", function()
    nn.manual_seed(21)
    local m, L = two_by_two()
    local xa, xb = nn.tensor.randn(5, 4), nn.tensor.randn(5, 3)
    local out = m:forward{ xa, xb }
    local want1, want2 = by_hand(L, xa, xb)
    want1, want2 = want1:clone(), want2:clone()
    out = m:forward{ xa, xb }
    same_bits(out[1], want1, "out1")
    same_bits(out[2], want2, "out2")
    assert.are.equal(8, #m.layers)
    assert.are.equal(L.d1, m.layers[1])                  -- the nodes' order: d1 first
  end)

  it("every parameter's and input's gradient matches central differences of the model's loss",
     function()
    nn.manual_seed(22)
    local m = two_by_two()
    local x = { nn.tensor.randn(3, 4), nn.tensor.randn(3, 3) }
    local r = { nn.tensor.randn(3, 3), nn.tensor.randn(3, 1) }
    local ok, where = check_gradients(m, x, r)
    assert.is_true(ok, where)
  end)

  it("the check fails when the branch's two gradients are not summed", function()
    nn.manual_seed(22)
    local m = two_by_two()
    -- broken on purpose: the second gradient into a node replaces the first
    m.graph._add_grad = function (g, p, grad) g.grads[p] = grad end
    local x = { nn.tensor.randn(3, 4), nn.tensor.randn(3, 3) }
    local r = { nn.tensor.randn(3, 3), nn.tensor.randn(3, 1) }
    local ok, where = check_gradients(m, x, r)
    assert.is_false(ok, "the broken routing passed the check")
    assert.is_truthy(where:find("analytic", 1, true), where)
  end)

  it("a step sums the losses of the outputs; each output's loss is its own", function()
    nn.manual_seed(23)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = nn.optim.SGD{ lr = 0.1 } }
    assert.is_truthy(m.graph.plans[1])                   -- Softmax + cross-entropy fused
    assert.is_nil(m.graph.plans[2])
    local x = { nn.tensor.randn(6, 4), nn.tensor.randn(6, 3) }
    local y = { nn.tensor{ 1, 2, 3, 3, 2, 1 }, nn.tensor.randn(6, 1) }
    local out = m:forward(x)
    local want = nn.CategoricalCrossentropy():forward(out[1], y[1]) + nn.MSELoss():forward(out[2], y[2])
    H.assert_close(m:evaluate(x, y), want, 1e-5, "evaluate")
    H.assert_close(m:step(x, y), want, 1e-5, "step")
    -- one loss for every output: each output gets its own copy
    m:set{ loss = "mse" }
    assert.are_not.equal(m.loss.list[1], m.loss.list[2])
    assert.are.equal("MSELoss", m.loss.list[2]:config().type)
  end)

  it("train falls on a small synthetic problem with both outputs, and predict gives both", function()
    nn.manual_seed(24)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = nn.optim.Adam{ lr = 0.02 },
           accuracy = true }
    local xa, xb = nn.tensor.randn(96, 4), nn.tensor.randn(96, 3)
    -- class: the argmax of xb; score: the sum of xa
    local _, cls = xb:max(2)
    local y = { cls:view(-1), xa:sum(2):view(-1, 1) }
    local h = m:train({ xa, xb }, y, { epochs = 40, batch_size = 16, verbose = 0,
                                        validation_split = 0.25 })
    assert.is_true(h.loss[40] < 0.5 * h.loss[1], ("loss %g -> %g"):format(h.loss[1], h.loss[40]))
    assert.is_true(h.accuracy[40] > 0.7, "accuracy " .. h.accuracy[40])
    assert.is_truthy(h.val_loss[40])
    local p = m:predict({ xa, xb }, { batch_size = 40 })     -- three batches
    assert.are.same({ 96, 3 }, p[1]:size())
    assert.are.same({ 96, 1 }, p[2]:size())
    local whole = m:predict{ xa, xb }
    same_bits(p[1], whole[1], "predict in batches")
  end)

  it("stop_on_nan stops at the batch whose second input holds a NaN, before its update", function()
    nn.manual_seed(27)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = "sgd" }
    local xa, xb = nn.tensor.randn(8, 4), nn.tensor.randn(8, 3)
    xb:set(6, 2, 0 / 0)                                  -- in the second batch of 4
    local y = { nn.tensor{ 1, 2, 3, 1, 2, 3, 1, 2 }, nn.tensor.randn(8, 1) }
    -- what the first (clean) batch alone makes of the same weights
    local ref = two_by_two()
    ref:set_weights(m:get_weights())
    ref:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = "sgd" }
    ref:step({ xa:slice(1, 4), xb:slice(1, 4) }, { y[1]:slice(1, 4), y[2]:slice(1, 4) })
    local h = silently(m.train, m, { xa, xb }, y, { batch_size = 4, shuffle = false,
                                                    stop_on_nan = true })
    assert.are.equal("nan", h.stopped.reason)
    assert.are.equal(2, h.stopped.batch)
    assert.is_truthy(h.stopped.message:find("Concat", 1, true), h.stopped.message)
    local w, want = m:get_weights(), ref:get_weights()
    for k = 1, #w do same_bits(w[k], want[k], "weight " .. k) end
  end)

  it("summary has one row per node, with the nodes each reads", function()
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" } }
    local text = silently(m.summary, m)
    assert.is_truthy(text:find("Connected to", 1, true), text)
    for _, row in ipairs{ "a        Input 'a'            (B, 4)",
                          "#6       Add                  (B, 3)                   0  #4, #5",
                          "#7       Concat(dim=2)        (B, 6)                   0  #6, b",
                          "Outputs: #9, #10", "Total params: 89" } do
      assert.is_truthy(text:find(row, 1, true), row .. "\n" .. text)
    end
    assert.is_truthy(tostring(m):find("nn.Model: 8 layers, 89 parameters, a graph of 2 inputs and 2 "
                                      .. "outputs", 1, true), tostring(m))
  end)

  it("save and nn.load rebuild the same graph: predictions equal exactly", function()
    nn.manual_seed(25)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = nn.optim.Adam{ lr = 0.01 } }
    local x = { nn.tensor.randn(7, 4), nn.tensor.randn(7, 3) }
    local y = { nn.tensor{ 1, 2, 3, 1, 2, 3, 1 }, nn.tensor.randn(7, 1) }
    m:step(x, y)
    local dir = H.temp_dir()
    local path = dir .. "/graph.safetensors"
    m:save(path)
    local m2 = nn.load(path)
    H.remove_dir(dir)
    assert.is_truthy(m2.graph)
    assert.are.equal("b", m2.graph.inputs[2].name)
    local p, p2 = m:predict(x), m2:predict(x)
    same_bits(p2[1], p[1], "out1")
    same_bits(p2[2], p[2], "out2")
    assert.are.equal("MSELoss", m2.loss.list[2]:config().type)
    -- and it trains on exactly as the original (optimizer state restored)
    same_bits(nn.tensor{ m2:step(x, y) }, nn.tensor{ m:step(x, y) }, "next step's loss")
  end)

  it("nn.load refuses a checkpoint whose graph does not hold together", function()
    local m = two_by_two()
    local dir = H.temp_dir()
    local path = dir .. "/graph.safetensors"
    m:save(path)
    local tensors, meta = nn.safetensors.load(path)
    local function with_graph(change, want)
      local arch = nn.json.decode(meta.architecture)
      change(arch.graph)
      local bad = dir .. "/bad.safetensors"
      nn.safetensors.save(bad, tensors, { format = meta.format, training = meta.training,
                                          architecture = nn.json.encode(arch) })
      H.assert_error_has(function () nn.load(bad) end, { "nn.load: " .. bad, want })
    end
    with_graph(function (g) g.nodes[3].inputs = { 5 } end, "node 3 reads node 5, not one before it")
    with_graph(function (g) g.nodes[4].layer = 1 end, "node 4 names no layer, or a used one")
    with_graph(function (g) g.outputs = { 42 } end, "output 1 is not a node")
    with_graph(function (g) g.inputs = 1 end, "node 2 names no layer")
    with_graph(function (g) g.nodes[6].inputs = { 3, 4 } end, "node 6: nn.Add called on (B, 5) and (B, 3)")
    H.remove_dir(dir)
  end)

  it("inspect, get_weights / set_weights, to('cpu') work as for a sequential model", function()
    nn.manual_seed(26)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = "sgd" }
    local x = { nn.tensor.randn(4, 4), nn.tensor.randn(4, 3) }
    m:step(x, { nn.tensor{ 1, 2, 3, 1 }, nn.tensor.randn(4, 1) })
    local report = m:inspect()
    assert.are.equal(8, #report.rows)
    local w = m:get_weights()
    assert.are.equal(10, #w)
    assert.are.equal(m, m:to("cpu"))
    local m2 = two_by_two()
    m2:set_weights(w)
    same_bits(m2:forward(x)[2], m:forward(x)[2]:clone(), "copied weights")
  end)
end)

describe("a chain as a graph model is the sequential model, bit for bit", function()
  local function check(make_layers, loss)
    nn.manual_seed(31)
    local seq = nn.Sequential(make_layers())
    local layers = make_layers()
    local x = nn.Input{ 6 }
    local y = x
    for _, l in ipairs(layers) do y = l(y) end
    local g = nn.Model{ inputs = x, outputs = y }
    g:set_weights(seq:get_weights())
    seq:set{ loss = loss, optimizer = nn.optim.Adam{ lr = 0.01 } }
    g:set{ loss = loss, optimizer = nn.optim.Adam{ lr = 0.01 } }
    assert.are.equal(seq._plan ~= nil, g._plan ~= nil)
    assert.are.equal(seq._plan and seq._plan.fused, g._plan and g._plan.fused)
    local classes = {}
    for i = 1, 40 do classes[i] = (i * 7) % 4 + 1 end
    local xs, ys = nn.tensor.randn(40, 6), nn.tensor(classes)
    for step = 1, 20 do
      local i = (step - 1) % 5 * 8 + 1
      local xb, yb = xs:slice(i, i + 7), ys:slice(i, i + 7)
      local l1, l2 = seq:step(xb, yb), g:step(xb, yb)
      assert.are.equal(l1, l2, "loss of step " .. step)
      local _, g1 = seq:parameters()
      local _, g2 = g:parameters()
      for k = 1, #g1 do same_bits(g2[k], g1[k], ("step %d gradient %d"):format(step, k)) end
    end
    nn.manual_seed(32)                     -- the same shuffles for both
    local h1 = seq:train(xs, ys, { epochs = 2, batch_size = 16, shuffle = true, verbose = 0 })
    nn.manual_seed(32)
    local h2 = g:train(xs, ys, { epochs = 2, batch_size = 16, shuffle = true, verbose = 0 })
    assert.are.same(h1.loss, h2.loss)
    local w1, w2 = seq:get_weights(), g:get_weights()
    for k = 1, #w1 do same_bits(w2[k], w1[k], "weight " .. k) end
  end

  it("with a Softmax layer and cross-entropy (the plan on the logits)", function()
    check(function ()
      return { nn.Dense(6, 8, { activation = "relu" }), nn.Dense(8, 4), nn.Softmax() }
    end, "categorical_crossentropy")
  end)

  it("with the softmax fused into the last Dense", function()
    check(function ()
      return { nn.Dense(6, 8, { activation = "relu" }), nn.Dense(8, 4, { activation = "softmax" }) }
    end, "categorical_crossentropy")
  end)

  it("with a layer without parameters first (never visited by the backward)", function()
    check(function ()
      return { nn.ReLU(), nn.Dense(6, 8, { activation = "tanh" }), nn.Dense(8, 4) }
    end, "cross_entropy")
  end)
end)

describe("graph models: errors", function()
  it("a shape that does not fit, named at the layer's call", function()
    local x = nn.Input{ 784 }
    H.assert_error_has(function () nn.Dense(10, 5)(x) end,
                       { "graph_model_spec.lua", "nn.Linear(10 -> 5) called on (B, 784)",
                         "expected input [B x 10]" })
    H.assert_error_has(function () nn.Add()(x, nn.Input{ 3 }) end,
                       { "nn.Add called on (B, 784) and (B, 3)", "do not broadcast" })
  end)

  it("a wrong number of inputs, and symbolic and real tensors mixed", function()
    local x = nn.Input{ 4 }
    H.assert_error_has(function () nn.Add()(x) end, { "nn.Add takes 2 inputs, got 1" })
    H.assert_error_has(function () nn.Dense(4, 2)(x, x) end, { "takes 1 input, got 2" })
    H.assert_error_has(function () nn.Add()(x, nn.tensor.ones(2, 4)) end,
                       { "graph_model_spec.lua", "nn.Add: argument 2 is a real tensor but argument 1 "
                         .. "is a symbolic tensor" })
    H.assert_error_has(function () nn.call(nn.Add(), nn.tensor.ones(2, 4), x) end,
                       { "argument 1 is a real tensor but argument 2 is a symbolic tensor" })
    H.assert_error_has(function () nn.call(42, x) end, { "nn.call: expected a layer" })
  end)

  it("an output not reachable from the inputs: Graph disconnected", function()
    local a, b = nn.Input{ 2 }, nn.Input{ 2, name = "b" }
    local y = nn.Add()(a, b)
    local msg = H.assert_error_has(function () nn.Model{ inputs = a, outputs = y } end,
                                   { "Graph disconnected", "outputs[1] needs nn.Input{2} 'b'" })
    assert.is_truthy(msg:find("graph_model_spec.lua", 1, true), msg)
  end)

  it("unknown keys, inputs that are not nn.Input, lists that are not lists", function()
    local x = nn.Input{ 3 }
    local y = nn.Dense(3, 2)(x)
    H.assert_error_has(function () nn.Model{ inputs = x, outputs = y, loss = "mse" } end,
                       { "unknown key 'loss' (keys: inputs, outputs, name)" })
    H.assert_error_has(function () nn.Model{ inputs = y, outputs = y } end,
                       { "inputs[1] is the output of nn.Linear(3 -> 2), not an nn.Input" })
    H.assert_error_has(function () nn.Model{ inputs = { x, x }, outputs = y } end,
                       { "inputs[2] is inputs[1] again" })
    H.assert_error_has(function () nn.Model{ inputs = x } end, { "outputs must be given" })
    H.assert_error_has(function () nn.Model{ inputs = x, outputs = { y, nn.tensor.ones(2) } } end,
                       { "outputs[2] is not a symbolic tensor (got a real tensor)" })
  end)

  it("a layer used twice in one graph (weight sharing) is refused", function()
    local x = nn.Input{ 3 }
    local d = nn.Dense(3, 3)
    local y = d(d(x))
    H.assert_error_has(function () nn.Model{ inputs = x, outputs = y } end,
                       { "nn.Linear(3 -> 3) is called twice in the graph", "do not share weights" })
  end)

  it("nn.Input's sizes and keys", function()
    H.assert_error_has(function () nn.Input{} end, { "nn.Input: expected 1 to 4 sizes" })
    H.assert_error_has(function () nn.Input{ 1, 2, 3, 4, 5 } end, { "expected 1 to 4 sizes" })
    H.assert_error_has(function () nn.Input{ 0 } end, { "nn.Input: size 1 must be a positive integer, got 0" })
    H.assert_error_has(function () nn.Input(784) end, { "nn.Input: expected a table of sizes" })
    H.assert_error_has(function () nn.Input{ 3, shape = 2 } end, { "nn.Input: unknown key 'shape'" })
    H.assert_error_has(function () nn.Input{ 3, name = 1 } end, { "nn.Input: name must be a string" })
  end)

  it("x and y of the wrong count of tensors to train, predict, evaluate, step, forward", function()
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = "sgd" }
    local x = { nn.tensor.randn(4, 4), nn.tensor.randn(4, 3) }
    local y = { nn.tensor{ 1, 2, 3, 1 }, nn.tensor.randn(4, 1) }
    H.assert_error_has(function () m:train(x[1], y, { verbose = 0 }) end,
                       { "model:train: x must be a list of 2 tensors (the model has 2 inputs), got a tensor" })
    H.assert_error_has(function () m:train(x, { y[1] }, { verbose = 0 }) end,
                       { "model:train: y must be a list of 2 tensors (the model has 2 outputs), got a list of 1" })
    H.assert_error_has(function () m:train({ x[1], x[2]:slice(1, 3) }, y, { verbose = 0 }) end,
                       { "model:train: x[2] has 3 rows but x[1] has 4" })
    H.assert_error_has(function () m:predict{ x[1] } end,
                       { "model:predict: x must be a list of 2 tensors" })
    H.assert_error_has(function () m:evaluate(x, y[1]) end, { "model:evaluate: y must be a list of 2" })
    H.assert_error_has(function () m:step(x, { y[1], "y" }) end, { "model:step: y[2] must be a tensor" })
    H.assert_error_has(function () m:forward(x[1]) end, { "model:forward: x must be a list of 2" })
    H.assert_error_has(function () m:train(x, y, { verbose = 0, transforms = { function (t) return t end } }) end,
                       { "transforms take the batches of one input tensor" })
    -- a sequential model still wants one tensor
    local seq = nn.Sequential{ nn.Dense(4, 2) }
    H.assert_error_has(function () seq:predict(x) end, { "model:predict: x must be a tensor, got table" })
  end)

  it("a list of losses of the wrong length, and add on a graph model", function()
    local m = two_by_two()
    H.assert_error_has(function () m:set{ loss = { "mse" } } end,
                       { "model:set: loss must be one loss, or a list of 2 (one per output), got a list of 1" })
    H.assert_error_has(function () m:set{ loss = { "mse", "nope" } } end,
                       { "model:set: loss[2]: unknown loss 'nope'" })
    H.assert_error_has(function () m:set{ loss = { "mse", nn.MSELoss{ reduction = "sum" } } } end,
                       { "the losses must share one reduction" })
    H.assert_error_has(function () m:add(nn.ReLU()) end, { "model:add: a graph model", "is fixed" })
  end)

  it("help describes nn.Input and nn.call", function()
    for _, f in ipairs{ nn.Input, nn.call } do
      local text = nn.help.text(f)
      assert.falsy(text:find("no description", 1, true), text)
    end
    assert.is_truthy(nn.help.text(nn.Input):find("nn.Input{784}", 1, true))
  end)
end)

describe("a graph model on CUDA", function()
  if not nn.cuda.is_available() then
    pending("no CUDA device: CUDA specs skipped")
    return
  end
  it("to('cuda') moves every layer; predictions match the CPU's", function()
    nn.manual_seed(41)
    local m = two_by_two()
    m:set{ loss = { "categorical_crossentropy", "mse" }, optimizer = nn.optim.SGD{ lr = 0.1 } }
    local x = { nn.tensor.randn(8, 4), nn.tensor.randn(8, 3) }
    local y = { nn.tensor{ 1, 2, 3, 1, 2, 3, 1, 2 }, nn.tensor.randn(8, 1) }
    local cpu = m:predict(x)
    m:to("cuda")
    assert.are.equal("cuda", m.device)
    local gpu = m:predict(x)
    for k = 1, 2 do
      assert.are.equal("cpu", gpu[k].device)
      H.assert_tensor(gpu[k], cpu[k]:totable(), 1e-5, "output " .. k)
    end
    local loss = m:step(x, y)
    assert.is_true(loss == loss)
    m:cpu()
    assert.are.equal("cpu", m.layers[1].weight.device)
  end)
end)

describe("a C layer called on a table that is not a symbolic tensor", function()
  it("gets forward's own error, and a symbolic tensor in any position builds the graph", function()
    local d = nn.Dense(4, 3)
    assert.error_matches(function () return d({ nn.tensor.rand(2, 4) }) end,
                         "bad argument #2 to 'd' %(nn.Tensor expected, got table%)")
    local x = nn.Input{ 4 }
    local add = nn.Add()
    assert.error_matches(function () return add(nn.tensor.rand(2, 4), x) end,
                         "argument 1 is a real tensor but argument 2 is a symbolic tensor")
  end)
end)

describe("checkpoints of models whose loss is written in Lua", function()
  it("save and load, without the loss (set it again): one loss, or one of several", function()
    local dir = H.temp_dir()
    local x = nn.Input{ 4 }
    local m = nn.Model{ inputs = x, outputs = { nn.Dense(4, 3)(x), nn.Dense(4, 2)(x) } }
    m:set{ loss = { nn.FocalLoss{}, "mse" }, optimizer = "sgd" }
    m:save(dir .. "/g.safetensors")
    assert.is_nil(nn.load(dir .. "/g.safetensors").loss)
    local s = nn.Model{ nn.Dense(4, 2) }
    s:set{ loss = { forward = function () return 0 end, backward = function () end }, optimizer = "sgd" }
    s:save(dir .. "/s.safetensors")
    local back = nn.load(dir .. "/s.safetensors")
    assert.is_nil(back.loss)
    assert.are.same(s.layers[1].weight:totable(), back.layers[1].weight:totable())
  end)
end)

describe("a Lua layer first in a graph model's step", function()
  it("is told that nobody reads its dL/dx (grad_input = false), as the sequential step tells it", function()
    local function spied()
      local block, seen = nn.ResidualBlock(4), {}
      local backward = block.backward
      block.backward = function (self, g, opts)
        seen[#seen + 1] = opts == nil and "none" or opts.grad_input
        return backward(self, g, opts)
      end
      return block, seen
    end
    local block, seen = spied()
    local x = nn.Input{ 4 }
    local m = nn.Model{ inputs = x, outputs = nn.Dense(4, 3)(nn.call(block, x)) }
    m:set{ loss = "mse", optimizer = "sgd" }
    m:step(nn.tensor.rand(2, 4), nn.tensor.rand(2, 3))
    assert.are.same({ false }, seen)
    local sblock, sseen = spied()
    local s = nn.Model{ sblock, nn.Dense(4, 3) }
    s:set{ loss = "mse", optimizer = "sgd" }
    s:step(nn.tensor.rand(2, 4), nn.tensor.rand(2, 3))
    assert.are.same({ false }, sseen)
  end)
end)

describe("a graph model's validation_data", function()
  it("is named as validation_data in its errors, not as the training x", function()
    local a, b = nn.Input{ 4 }, nn.Input{ 3 }
    local m = nn.Model{ inputs = { a, b }, outputs = nn.Dense(7, 2)(nn.Concat(2)(a, b)) }
    m:set{ loss = "mse", optimizer = "sgd" }
    local x, y = { nn.tensor.rand(10, 4), nn.tensor.rand(10, 3) }, nn.tensor.rand(10, 2)
    H.assert_error_has(function ()
      m:train(x, y, { verbose = 0, validation_data = { { nn.tensor.rand(5, 4), nn.tensor.rand(4, 3) },
                                                       nn.tensor.rand(5, 2) } })
    end, { "model:train: validation_data[1][2] has 4 rows but validation_data[1][1] has 5" })
    H.assert_error_has(function ()
      m:train(x, y, { verbose = 0, validation_data = { nn.tensor.rand(5, 4), nn.tensor.rand(5, 2) } })
    end, { "model:train: validation_data[1] must be a list of 2 tensors (the model has 2 inputs), got a tensor" })
    H.assert_error_has(function () m:train(x, y, { verbose = 0, validation_data = 5 }) end,
                       { "validation_data must be {x_val, y_val}, each a tensor or a list of tensors, got 5" })
  end)
end)
