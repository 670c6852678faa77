--- spec/inspect_spec.lua -- model:inspect() (lua/nn/inspect.lua): its
-- figures against ones computed by hand on a 2-2-1 network, and each
-- warning on a network built to show its pathology.
local nn = require "nn"
local H = require "spec.helpers"
local T = nn.tensor

-- x = [[1, 2], [3, 4]] -> Dense(2, 2, relu) -> Dense(2, 1) -> MSE against t
local function tiny(w2, lr)
  local m = nn.Model{ nn.Dense(2, 2, { activation = "relu" }), nn.Dense(2, 1) }
  m:set{ loss = "mse", optimizer = nn.optim.SGD{ lr = lr or 0.1 } }
  m.layers[1].weight:copy(nn.tensor({ { 1, -1 }, { 0.5, 2 } }))
  m.layers[1].bias:zero_()
  m.layers[2].weight:copy(nn.tensor({ w2 or { 1, 1 } }))
  m.layers[2].bias:zero_()
  return m, nn.tensor({ { 1, 2 }, { 3, 4 } }), nn.tensor({ { 4 }, { 10 } })
end

describe("model:inspect()", function()
  -- By hand.  z1 = x W1^T = [[-1, 4.5], [-1, 9.5]], h = relu(z1) = [[0, 4.5], [0, 9.5]]:
  --   mean 3.5, std (unbiased, as t:std) sqrt((3.5^2 + 1^2 + 3.5^2 + 6^2) / 3) = sqrt(20.5),
  --   zeros 2/4, unit 1 is 0 for both samples: dead 1/2.
  -- y = h W2^T = [4.5, 9.5]; MSE against [4, 10]: g = 2 (y - t) / 2 = [0.5, -0.5].
  --   grad_W2 = g^T h = [0, 0.5*4.5 - 0.5*9.5] = [0, -2.5], grad_b2 = 0: |grad| 2.5.
  --   dh = g W2 = [[.5, .5], [-.5, -.5]], masked by h > 0: dz = [[0, .5], [0, -.5]];
  --   grad_W1 = dz^T x = [[0, 0], [-1, -1]], grad_b1 = 0: |grad| sqrt(2).
  --   |W1| = sqrt(1 + 1 + .25 + 4) = 2.5, |W2| = sqrt(2) before the update.
  --   SGD lr 0.1: upd/W = 0.1 |grad_W| / |W|: layer 1 0.1 sqrt(2) / 2.5, layer 2 0.1 * 2.5 / sqrt(2).
  it("gives each layer's figures as computed by hand", function()
    local m, x, t = tiny()
    m:step(x, t)
    local r = m:inspect()
    local r1, r2 = r.rows[1], r.rows[2]
    assert.are.equal("[2x2]", r1.shape)
    H.assert_close(r1.mean, 3.5, 1e-6)
    H.assert_close(r1.std, math.sqrt(20.5), 1e-6)
    assert.are.equal(0.5, r1.zeros)
    assert.are.equal(0.5, r1.dead)
    H.assert_close(r1.grad_norm, math.sqrt(2), 1e-6)
    -- |W| is the weight now, after the update: W1 - 0.1 grad_W1 = [[1, -1], [0.6, 2.1]]
    H.assert_close(r1.weight_norm, math.sqrt(6.77), 1e-6)
    H.assert_close(r1.update_ratio, 0.1 * math.sqrt(2) / 2.5, 1e-5)
    assert.are.equal("[2x1]", r2.shape)
    H.assert_close(r2.mean, 7, 1e-6)
    H.assert_close(r2.grad_norm, 2.5, 1e-6)
    H.assert_close(r2.weight_norm, math.sqrt(1 + 1.25 ^ 2), 1e-6)   -- [1, 1] - 0.1 [0, -2.5]
    H.assert_close(r2.update_ratio, 0.25 / math.sqrt(2), 1e-5)
    assert.are.equal(1, r.steps)
    assert.are.equal(1, r.update_step)
  end)

  it("warns of dead units and of an update ratio far from 1e-3, naming the layer", function()
    local m, x, t = tiny()
    m:step(x, t)
    local w = m:inspect().warnings
    assert.are.equal(2, #w, table.concat(w, "\n"))
    assert.truthy(w[1]:find("^layer 1 %(Linear%): 50%% of its 2 units are 0 for every sample"), w[1])
    assert.truthy(w[2]:find("^layer 2 %(Linear%): the last update moved W by 1.8e%-01"), w[2])
    assert.truthy(w[2]:find("too large", 1, true), w[2])
  end)

  it("warns of vanishing gradients below a layer with tiny weights", function()
    local m, x, t = tiny({ 1e-6, 1e-6 }, 1e-3)
    m:step(x, t)
    local w = table.concat(m:inspect().warnings, "\n")
    assert.truthy(w:find("layer 1 (Linear): |grad|", 1, true), w)
    assert.truthy(w:find("(vanishing gradients)", 1, true), w)
  end)

  it("warns of exploding gradients where |grad| is over 100 |W|", function()
    local m, x, t = tiny({ 1e-3, 1e-3 }, 1e-3)
    m:step(x, t)
    local w = table.concat(m:inspect().warnings, "\n")
    assert.truthy(w:find("layer 2 (Linear): |grad|", 1, true), w)
    assert.truthy(w:find("(exploding gradients)", 1, true), w)
  end)

  it("warns of saturated sigmoids", function()
    nn.manual_seed(1)
    local m = nn.Model{ nn.Dense(3, 8), nn.Sigmoid(), nn.Dense(8, 2) }
    m:set{ loss = "cross_entropy", optimizer = nn.optim.SGD{ lr = 1e-3 } }
    m.layers[1].weight:mul_(1000)
    m:step(T.randn(16, 3), T.ones(16))
    local r = m:inspect()
    assert.is_true(r.rows[2].saturated > 0.9)
    local w = table.concat(r.warnings, "\n")
    assert.truthy(w:find("layer 2 (Sigmoid): ", 1, true) and w:find("saturated", 1, true), w)
  end)

  it("reports NaN in an output instead of its statistics", function()
    local m, x, t = tiny()
    x[1][1] = 0 / 0
    m:forward(x)
    local r = m:inspect()
    assert.is_nil(r.rows[1].mean)
    assert.truthy(table.concat(r.warnings, "\n"):find("layer 1 (Linear): its output holds NaN or Inf", 1, true))
  end)

  it("prints as a table of at most 80 columns, and nn.inspect is the same", function()
    local m, x, t = tiny()
    m:step(x, t)
    local text = tostring(nn.inspect(m))
    assert.truthy(text:find("^model:inspect%(%) after 1 steps, update ratios of step 1\n"), text)
    assert.truthy(text:find("\n 1 Linear(2 -> 2, ~ [2x2]", 1, true), text)
    for line in text:gmatch("[^\n]+") do assert.is_true(#line <= 80, line) end
  end)

  it("says what is missing before any forward", function()
    local m = tiny()
    H.assert_error_has(function () m:inspect() end, { "model:inspect", "nothing to look at yet" })
    H.assert_error_has(function () nn.Model{}:inspect() end, { "model:inspect: the model has no layers" })
    H.assert_error_has(function () nn.inspect(nn.tensor.ones(2)) end, { "nn.inspect: expected a model" })
  end)
end)
