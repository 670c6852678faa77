--- spec/hooks_spec.lua -- layer:on_forward / on_backward, and a hook that
-- stops training (vm/l_module.c, lua/nn/fit.lua).
local nn = require "nn"
local H = require "spec.helpers"
local T = nn.tensor

local function small_model()
  nn.manual_seed(7)
  local m = nn.Model{ nn.Dense(4, 5, { activation = "relu" }), nn.Dense(5, 3) }
  m:set{ loss = "cross_entropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
  return m
end

local function data(n)
  nn.manual_seed(8)
  return T.randn(n, 4), (T.rand(n) * 3):floor() + 1
end

describe("layer hooks", function()
  it("calls forward hooks after the pass, in the order set, with the live tensors", function()
    local l = nn.Linear(3, 2)
    local x = T.randn(4, 3)
    local seen = {}
    l:on_forward(function (layer, input, output)
      seen[#seen + 1] = { "a", layer, input, output, output:clone() }
    end)
    l:on_forward(function () seen[#seen + 1] = { "b" } end)
    local y = l:forward(x)
    assert.are.equal(2, #seen)
    assert.are.equal("a", seen[1][1])
    assert.are.equal("b", seen[2][1])
    assert.are.equal(l, seen[1][2])
    assert.are.equal(x, seen[1][3])
    assert.are.equal(y, seen[1][4])              -- the live layer.output itself
    H.assert_tensor(seen[1][5], y:totable(), H.EXACT)
  end)

  it("passes the inputs of a layer of several as a list", function()
    local add = nn.Add()
    local a, b = T.randn(2, 3), T.randn(2, 3)
    local got
    add:on_forward(function (_, input) got = input end)
    add:forward(a, b)
    assert.are.equal(2, #got)
    assert.are.equal(a, got[1])
    assert.are.equal(b, got[2])
  end)

  it("calls backward hooks with grad_input and grad_output; grad_input nil when not computed", function()
    local l = nn.Linear(3, 2)
    local x, g = T.randn(4, 3), T.ones(4, 2)
    local calls = {}
    l:on_backward(function (layer, gi, go) calls[#calls + 1] = { layer, gi, go } end)
    l:forward(x)
    local gi = l:backward(g)
    l:backward(g, { grad_input = false })
    assert.are.equal(2, #calls)
    assert.are.equal(l, calls[1][1])
    assert.are.equal(gi, calls[1][2])
    assert.are.equal(g, calls[1][3])
    assert.is_nil(calls[2][2])
    assert.are.equal(g, calls[2][3])
  end)

  it("removes a hook through its handle; a second remove does nothing", function()
    local l = nn.ReLU()
    local n1, n2 = 0, 0
    local h1 = l:on_forward(function () n1 = n1 + 1 end)
    l:on_forward(function () n2 = n2 + 1 end)
    l:forward(T.randn(2, 2))
    h1:remove()
    h1:remove()
    l:forward(T.randn(2, 2))
    assert.are.equal(1, n1)
    assert.are.equal(2, n2)
    assert.truthy(tostring(h1):find("forward hook of nn.ReLU", 1, true))
  end)

  it("lets a hook remove itself while the hooks run", function()
    local l = nn.ReLU()
    local n, h = 0, nil
    h = l:on_forward(function () n = n + 1; h:remove() end)
    l:forward(T.randn(2, 2))
    l:forward(T.randn(2, 2))
    assert.are.equal(1, n)
  end)

  it("propagates an error raised in a hook", function()
    local l = nn.ReLU()
    l:on_forward(function () error("hook says no") end)
    H.assert_error_has(function () l:forward(T.randn(2, 2)) end, { "hook says no" })
  end)

  it("rejects a hook that is not a function", function()
    H.assert_error_has(function () nn.ReLU():on_forward(3) end, { "function expected" })
    H.assert_error_has(function () nn.ReLU():on_backward() end, { "function expected" })
  end)

  it("runs hooks during model:train, and a hook returning false stops it after that batch", function()
    local m = small_model()
    local x, y = data(40)
    local batches = 0
    m.layers[2]:on_forward(function () batches = batches + 1 end)
    local seen_grad = 0
    m.layers[1]:on_backward(function (_, gi, go)
      assert.is_nil(gi)                          -- the first layer's dL/dx is not computed
      seen_grad = seen_grad + go:size(1)
      if seen_grad >= 30 then return false end   -- stop after the third batch of 10
    end)
    local h = m:train(x, y, { epochs = 3, batch_size = 10, shuffle = false, verbose = 0 })
    assert.are.equal(3, batches)
    assert.are.equal("hook", h.stopped.reason)
    assert.are.equal(1, h.stopped.epoch)
    assert.are.equal(3, h.stopped.batch)
    assert.truthy(h.stopped.message:find("backward hook of nn.Linear(4 -> 5, relu) returned false", 1, true))
    assert.are.equal(0, #h.loss)                 -- the unfinished epoch is not in the lists
    assert.are.equal(3, m._steps)                -- the batch that asked to stop was trained
  end)

  it("does not carry a stop request from outside training into the next train", function()
    local m = small_model()
    local x, y = data(20)
    local h = m.layers[2]:on_forward(function () return false end)
    m:forward(x)
    h:remove()
    local hist = m:train(x, y, { epochs = 1, batch_size = 10, verbose = 0 })
    assert.is_nil(hist.stopped)
    assert.are.equal(1, #hist.loss)
  end)
end)
