--- spec/sequential_spec.lua -- nn.Sequential{l1, l2, ...} and nn.Model{...}:
--- a model built from a list of layers, and the errors of a bad list.
local nn = require "nn"
local H = require "spec.helpers"

-- a layer written in Lua: y = 2x, with no parameters
local function doubler()
  return {
    name = "Double",
    forward = function (_, x) return x:mul(2) end,
    backward = function (_, g) return g:mul(2) end,
  }
end

describe("nn.Sequential{...} and nn.Model{...}", function()
  it("nn.Sequential is nn.Model: the same class", function()
    assert.are.equal(nn.Model, nn.Sequential)
    assert.are.equal(nn.Model, getmetatable(nn.Sequential{}))
  end)

  it("build a model of the layers, in order, as model:add would", function()
    local l1, l2, l3 = nn.Dense(4, 3), nn.ReLU(), nn.Dense(3, 2)
    local m = nn.Sequential{ l1, l2, l3 }
    assert.are.equal(3, #m.layers)
    assert.are.equal(l1, m.layers[1])
    assert.are.equal(l2, m.layers[2])
    assert.are.equal(l3, m.layers[3])
    assert.are.equal(2, #m.trainable_layers)          -- what add keeps is kept
    assert.are.equal(l3, m.trainable_layers[2])
    assert.is_truthy(tostring(m):find("nn.Model: 3 layers", 1, true))
    local m2 = nn.Model{ nn.Dense(4, 3), doubler() }
    assert.are.equal(2, #m2.layers)
    assert.are.equal("Double", m2.layers[2].name)
  end)

  it("gives the same outputs as the model built with add", function()
    nn.manual_seed(3)
    local a = nn.Model():add(nn.Dense(4, 3, { activation = "tanh" })):add(nn.Dense(3, 2))
    nn.manual_seed(3)
    local b = nn.Sequential{ nn.Dense(4, 3, { activation = "tanh" }), nn.Dense(3, 2) }
    local x = nn.tensor.randn(5, 4)
    H.assert_tensor(b:forward(x), a:forward(x):totable(), H.EXACT, "outputs")
  end)

  it("trains like any model, and finds the fused Softmax + cross-entropy gradient", function()
    local m = nn.Sequential{ nn.Dense(4, 3), nn.Softmax() }
    m:set{ loss = "categorical_crossentropy", optimizer = nn.optim.SGD{ lr = 0.1 } }
    assert.is_truthy(m._plan)
    local loss = m:step(nn.tensor.randn(8, 4), nn.tensor{ 1, 2, 3, 1, 2, 3, 1, 2 })
    assert.is_true(loss > 0)
  end)

  it("an empty list is an empty model; nn.Model() and the template still work", function()
    assert.are.equal(0, #nn.Model{}.layers)
    assert.are.equal(0, #nn.Sequential{}.layers)
    assert.are.equal(0, #nn.Model().layers)
    assert.are.equal(3, #nn.Model("basic", { 4, 3, 2 }).layers)
  end)

  it("names the index of an entry that is not a layer, and blames the caller's line", function()
    local msg = H.assert_error_has(function () nn.Model{ nn.Dense(2, 2), 42 } end,
                                   { "nn.Model: entry 2 is not a layer (got number)" })
    assert.is_truthy(msg:find("sequential_spec.lua", 1, true), msg)
    H.assert_error_has(function () nn.Sequential{ nn.Dense(2, 2), nn.ReLU(), "relu" } end,
                       { "entry 3 is not a layer (got string)" })
    H.assert_error_has(function () nn.Model{ nn.tensor.zeros(2, 2) } end,
                       { "entry 1 is not a layer (got a tensor)" })
    H.assert_error_has(function () nn.Model{ { forward = function () end } } end,
                       { "entry 1 is not a layer (got table)" })    -- no backward
    local missing
    H.assert_error_has(function () nn.Model{ nn.Dense(2, 2), missing, nn.ReLU() } end,
                       { "entry 2 is not a layer (got nil)" })
  end)

  it("rejects one layer not in a list, and keys that are not list positions", function()
    H.assert_error_has(function () nn.Model(nn.Dense(2, 2)) end,
                       { "expected a list of layers", "nn.Model{layer}" })
    H.assert_error_has(function () nn.Model(doubler()) end, { "expected a list of layers" })
    H.assert_error_has(function () nn.Sequential{ nn.Dense(2, 2), loss = "mse" } end,
                       { "expected a list of layers", "key 'loss'" })
  end)
end)
