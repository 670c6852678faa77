--- spec/complete_spec.lua -- nn.complete(word): what Tab offers at the prompt
-- (vm/repl.c hands it the word before the cursor).  The prompt itself is
-- driven through a pseudo-terminal in spec/repl_spec.lua.

describe("nn.complete", function()
  before_each(function()
    _G.cmp_model = nn.Model{ nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2) }
    _G.cmp_t = { alpha = 1, alps = 2, _hidden = 3, [1] = "x", ["not an id"] = 4 }
  end)
  after_each(function() _G.cmp_model, _G.cmp_t = nil, nil end)

  it("completes global names and keywords", function()
    assert.are.same({ "cmp_model" }, nn.complete("cmp_m"))
    assert.are.same({ "while" }, nn.complete("whil"))
    assert.are.same({ "print" }, nn.complete("prin"))
  end)

  it("completes a table's fields, and hides names starting with '_' until typed", function()
    assert.are.same({ "cmp_t.alpha", "cmp_t.alps" }, nn.complete("cmp_t.al"))
    assert.are.same({ "cmp_t.alpha", "cmp_t.alps" }, nn.complete("cmp_t."))
    assert.are.same({ "cmp_t._hidden" }, nn.complete("cmp_t._"))
  end)

  it("completes through nn's tables", function()
    assert.are.same({ "nn.Linear" }, nn.complete("nn.Lin"))
    assert.are.same({ "nn.optim.Adagrad", "nn.optim.Adam", "nn.optim.AdamW" }, nn.complete("nn.optim.Ada"))
  end)

  it("completes a layer's computed fields through model.layers[1].", function()
    assert.are.same({ "cmp_model.layers[1].grad_bias", "cmp_model.layers[1].grad_input",
                      "cmp_model.layers[1].grad_pre_activation", "cmp_model.layers[1].grad_weight" },
                    nn.complete("cmp_model.layers[1].gr"))
    assert.are.same({ "cmp_model.layers[2].running_mean", "cmp_model.layers[2].running_var" },
                    nn.complete("cmp_model.layers[2].runn"))
    assert.are.same({ "cmp_model.layers[1].weight" }, nn.complete("cmp_model.layers[1].wei"))
    assert.are.same({ "cmp_model.layers[1].in_features" }, nn.complete("cmp_model.layers[1].in_"))
    assert.are.same({ "cmp_model.layers[1].output", "cmp_model.layers[1].output_shape" },
                    nn.complete("cmp_model.layers[1].outp"))
  end)

  it("after ':' offers methods only, and no private ones", function()
    assert.are.same({ "cmp_model:train" }, nn.complete("cmp_model:tr"))
    local all = nn.complete("cmp_model:")
    for _, c in ipairs(all) do
      assert.falsy(c:find(":_", 1, true), c)
    end
    assert.truthy(#all >= 20, #all)
    assert.are.same({ "cmp_model:_step" }, nn.complete("cmp_model:_ste"))
    assert.are.same({ "cmp_model.layers[1]:forward" }, nn.complete("cmp_model.layers[1]:forw"))
    assert.are.same({}, nn.complete("cmp_model.layers[1]:weig"))   -- a field, not a method
  end)

  it("completes a tensor's fields and methods, and a string's methods", function()
    _G.cmp_x = nn.tensor.ones(2, 3)
    assert.are.same({ "cmp_x.dtype" }, nn.complete("cmp_x.dty"))
    assert.are.same({ "cmp_x:matmul" }, nn.complete("cmp_x:matm"))
    _G.cmp_x = "abc"
    assert.are.same({ "cmp_x:upper" }, nn.complete("cmp_x:upp"))
    _G.cmp_x = nil
  end)

  it("takes [\"key\"] steps", function()
    _G.cmp_t.inner = { deep = 1 }
    assert.are.same({ "cmp_t[\"inner\"].deep" }, nn.complete("cmp_t[\"inner\"].de"))
  end)

  it("offers nothing, without raising, for what is not a path to a value", function()
    assert.are.same({}, nn.complete("cmp_missing.x"))
    assert.are.same({}, nn.complete("cmp_t.alpha.x"))         -- a number has no fields
    assert.are.same({}, nn.complete("cmp_t[1"))
    assert.are.same({}, nn.complete("f(x).y"))
    assert.are.same({}, nn.complete("cmp_model.layers[99].w"))
    assert.are.same({}, nn.complete(42))
    _G.cmp_bad = setmetatable({}, { __index = function () error("boom") end })
    assert.are.same({}, nn.complete("cmp_bad.x.y"))
    _G.cmp_bad = nil
  end)
end)

describe("nn.fields and layer:fields()", function()
  it("lists a Linear's fields", function()
    assert.are.same({ "activation", "bias", "device", "gives", "grad_bias", "grad_input",
                      "grad_pre_activation", "grad_weight", "in_features", "init", "name",
                      "out_features", "output", "training", "weight" },
                    nn.Linear(3, 2):fields())
  end)

  it("leaves out a parameter the layer does not have, and lists every input's gradient", function()
    local f = nn.fields(nn.Linear(3, 2, { bias = false }))
    for _, k in ipairs(f) do assert.are_not.equal("grad_bias", k) end
    local add = nn.Add()
    add:forward(nn.tensor.ones(2), nn.tensor.ones(2))
    add:backward(nn.tensor.ones(2))
    assert.are.same({ "device", "gives", "grad_input", "grad_input2", "name", "output", "training" },
                    nn.fields(add))
  end)

  it("lists a loss's, a tensor's and a table's fields", function()
    assert.are.same({ "doc", "grad_input", "loss", "name", "output", "reduction", "takes" },
                    nn.MSELoss():fields())
    assert.are.same({ "device", "dtype", "ndim", "shape" }, nn.fields(nn.tensor.ones(1)))
    assert.are.same({ "a", "b" }, nn.fields({ b = 1, a = 2, [3] = 3 }))
    assert.are.same({}, nn.fields(7))
  end)
end)
