-- spec/dot_call_spec.lua -- a method called with a dot (model.predict(x), a
-- Python habit) says to use a colon.
--
-- The rule (lua/nn/model.lua's end, vm/bindings.h nn_check_self):
--  * a Model method (every public one: not new, load or _private) raises
--    "use model:NAME(...) (a colon)" when its first argument is not a model;
--  * a C method of tensors, layers and losses gives the hint when its first
--    argument is missing or of another type AND the call was not written
--    with a colon AND the function running is that type's method NAME;
--    t.exp(x) with x a tensor is nn.exp(x), a valid call, and stays one;
--  * with a colon and a bad self, Lua's own "calling 'NAME' on bad self".
local H = require "spec.helpers"

describe("a dot for a colon", function()
  local m = nn.Model("basic", { 4, 3 })
  local x = nn.tensor.randn(2, 4)

  it("model.predict(x) says to use model:predict(...)", function()
    H.assert_error_has(function () local y = m.predict(x) return y end,
                       { "use model:predict(...) (a colon): model.predict(...) passes a tensor as the model" })
  end)

  it("every public Model method checks its model; new and load do not", function()
    local names = {}
    for name, f in pairs(nn.Model) do
      if type(f) == "function" and not name:find("^_") and name ~= "new" and name ~= "load" then
        names[#names + 1] = name
      end
    end
    table.sort(names)
    assert.is_true(#names >= 20, #names)
    for _, name in ipairs(names) do
      H.assert_error_has(function () local r = m[name]() return r end,
                         { ("use model:%s(...) (a colon): model.%s(...) passes nothing as the model")
                           :format(name, name) })
    end
    assert.are.equal(3, m:predict(x):size(2))          -- a colon still works
  end)

  it("names the caller's line", function()
    local ok, err = pcall(function () local y = m.evaluate(x, x) return y end)
    assert.is_false(ok)
    assert.is_truthy(err:find("dot_call_spec.lua:%d+: use model:evaluate"), err)
  end)

  it("errors inside a method are unchanged by the check", function()
    H.assert_error_has(function () local r = m:train(x) return r end,
                       { "model:train: y must be a tensor, got nil" })
  end)

  it("tensor methods: t.sum(), t.view(2, 4) hint at the colon", function()
    H.assert_error_has(function () local r = x.sum() return r end,
                       { "bad argument #1 to 'sum' (nn.Tensor expected, got no value; a method "
                         .. "takes a colon: t:sum(...))" })
    H.assert_error_has(function () local r = x.view(4, 2) return r end,
                       { "bad argument #1 to 'view' (nn.Tensor expected, got number; a method "
                         .. "takes a colon: t:view(...))" })
  end)

  it("t.exp(x), nn.exp(x) with a tensor are valid calls", function()
    local t = nn.tensor{ 0 }
    assert.are.same({ 1 }, t.exp(t):totable())
    assert.are.same({ 1 }, nn.exp(t):totable())
  end)

  it("a function that is not a tensor method gives no hint", function()
    local msg = H.assert_error_has(function () local r = nn.F.relu("x") return r end,
                                   { "nn.Tensor expected, got string" })
    assert.is_falsy(msg:find("colon", 1, true), msg)
  end)

  it("with a colon and a bad self: Lua's own message", function()
    assert.are.equal(2, x.sum(x, 2):size(1))            -- x.sum(x, 2) is nn.sum(x, 2): valid
    H.assert_error_has(function () local r = nn.Tensor.methods.sum("x") return r end,
                       { "a method takes a colon: t:sum(...)" })
    local fake = setmetatable({}, { __index = nn.Tensor.methods })
    H.assert_error_has(function () local r = fake:sum() return r end,
                       { "calling 'sum' on bad self" })
  end)

  it("layers and losses: layer.forward(x), loss.forward(y, t)", function()
    local l = nn.Linear(4, 3)
    H.assert_error_has(function () local r = l.forward(x) return r end,
                       { "bad argument #1 to 'forward' (nn.Module expected, got nn.Tensor; a method "
                         .. "takes a colon: layer:forward(...))" })
    H.assert_error_has(function () local r = l.zero_grad() return r end,
                       { "nn.Module expected, got no value; a method takes a colon: layer:zero_grad(...)" })
    local loss = nn.MSELoss()
    H.assert_error_has(function () local r = loss.forward(x, x) return r end,
                       { "nn.Criterion expected, got nn.Tensor; a method takes a colon: loss:forward(...)" })
  end)

  it("Lua tensor methods: t.show(), t.hist(), t.save_image()", function()
    H.assert_error_has(function () local r = x.show() return r end, { "use t:show(...) (a colon)" })
    H.assert_error_has(function () local r = x.hist(5) return r end, { "use t:hist(...) (a colon)" })
  end)
end)
