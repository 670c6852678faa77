--- spec/lambda_spec.lua -- layers and losses written as formulas (nn.Lambda,
-- nn.LambdaLoss) and the two shipped (nn.ResidualBlock, nn.FocalLoss):
-- their values by hand, their gradients against central differences, and
-- each trained inside nn.Model with no backward written by hand.
local nn = require "nn"
local H = require "spec.helpers"

-- the residual block's value, by an independent route: plain tensor ops
-- with recording off
local function residual_by_hand(block, x)
  return nn.no_grad(function ()
    local h = (x:matmul(block.w1:t()) + block.b1):relu()
    return x + h:matmul(block.w2:t()) + block.b2
  end)
end

describe("nn.ResidualBlock", function()
  it("computes x + W2 relu(W1 x + b1) + b2", function()
    nn.manual_seed(1)
    local block = nn.ResidualBlock(5)
    local x = nn.tensor.randn(3, 5)
    local y = block:forward(x)
    H.assert_tensor(y, residual_by_hand(block, x):totable(), 1e-5)
    assert.is_true(y.requires_grad)                   -- recorded: a loss of it reaches the parameters
    assert.is_false(block.output.requires_grad)       -- layer.output: a detached view
    local p, g, names = block:parameters()
    assert.are.same({ "b1", "b2", "w1", "w2" }, names)
    assert.are.equal(4, #p)
    assert.are.equal(p[3]:data_ptr(), block.w1:data_ptr())
    assert.are.equal(g[3]:data_ptr(), block.w1.grad:data_ptr())   -- p.grad is the layer's
  end)

  it("backward matches central differences (input and every parameter)", function()
    nn.manual_seed(2)
    H.assert_gradcheck(nn.ResidualBlock(4), H.randn_away(0.1, 3, 4))
  end)

  it("gradcheck rejects it when F.linear's derivative is wrong (patched)", function()
    nn.manual_seed(3)
    local D = nn.autograd.derivatives
    local right = D.linear
    D.linear = function (n, g, s)
      local gx, gw, gb = right(n, g, s)
      return gx and gx * 1.1, gw, gb                 -- dL/dx 10% off
    end
    local ok, passed = pcall(nn.gradcheck, nn.ResidualBlock(4), H.randn_away(0.1, 3, 4))
    D.linear = right
    assert.is_true(ok, tostring(passed))
    assert.is_false(passed)
  end)

  it("adds its gradients to the ones it owns; zero_grad clears them", function()
    nn.manual_seed(4)
    local block = nn.ResidualBlock(3)
    local x, g = nn.tensor.randn(2, 3), nn.tensor.randn(2, 3)
    block:forward(x)
    local gx = block:backward(g)
    local once = block.w1.grad:clone()
    block:forward(x)
    block:backward(g)
    H.assert_tensor(block.w1.grad, (once * 2):totable(), 1e-6)
    -- dL/dx = g + (the branch's): against gradcheck's own analytic gradient
    assert.are.same({ 2, 3 }, gx.shape)
    block:zero_grad()
    assert.are.equal(0, block.w1.grad:abs():sum())
    H.assert_error_has(function () block:backward(g) end,
                       { "ResidualBlock: backward needs a forward in training mode first" })
  end)

  it("told grad_input = false, gives no dL/dx and the same parameter gradients", function()
    nn.manual_seed(13)
    local block = nn.ResidualBlock(3)
    local x, g = nn.tensor.randn(2, 3), nn.tensor.randn(2, 3)
    block:forward(x)
    assert.is_not_nil(block:backward(g))
    local full = block.w1.grad:clone()
    block:zero_grad()
    block:forward(x)
    assert.is_nil(block:backward(g, { grad_input = false }))
    H.assert_tensor(block.w1.grad, full:totable(), 1e-6)
  end)

  it("trains inside nn.Model: the loss falls far below the untrained one", function()
    nn.manual_seed(5)
    local x = nn.tensor.randn(128, 4)
    local a = nn.tensor.randn(4, 4)
    local y = nn.no_grad(function () return x + (x:matmul(a)):relu() * 0.5 end)
    local model = nn.Model{ nn.ResidualBlock(4) }
    model:set{ loss = "mse", optimizer = nn.optim.Adam{ lr = 1e-2 }, accuracy = false }
    local before = model:evaluate(x, y)
    local history = model:train(x, y, { epochs = 60, batch_size = 32, verbose = 0 })
    local after = model:evaluate(x, y)
    assert.is_true(before > 0.5, before)                -- the untrained block: far from 0.03
    assert.is_true(after < 0.03, ("%g -> %g"):format(before, after))
    assert.are.equal(60, #history.loss)
  end)

  it("predict runs the formula without recording", function()
    nn.manual_seed(6)
    local model = nn.Model{ nn.ResidualBlock(3), nn.Linear(3, 2) }
    model:set{ loss = "mse", optimizer = "sgd" }
    local out = model:predict(nn.tensor.randn(4, 3))
    assert.is_false(out.requires_grad)
    assert.is_nil(model.layers[1]._out)
  end)

  it("shows its output shape in summary, and saves and loads", function()
    nn.manual_seed(7)
    local model = nn.Model{ nn.Linear(4, 6), nn.ResidualBlock(6), nn.Linear(6, 2) }
    model:set{ loss = "mse", optimizer = "adam" }
    local text = model:summary()
    assert.truthy(text:find("ResidualBlock[^\n]*%(B, 6%)%s+84"), text)
    local dir = H.temp_dir()
    model:save(dir .. "/m.safetensors")
    local back = nn.load(dir .. "/m.safetensors")
    H.remove_dir(dir)
    local x = nn.tensor.randn(3, 4)
    H.assert_tensor(back:predict(x), model:predict(x):totable(), 0)
  end)

  it("moves with the model to the CPU (and to CUDA where there is one)", function()
    local model = nn.Model{ nn.ResidualBlock(3) }
    model:to("cpu")
    assert.are.equal("cpu", model.layers[1].w1.device)
    if nn.cuda.is_available() then
      model:to("cuda")
      assert.are.equal("cuda", model.layers[1].w1.device)
      assert.are.equal("cuda", model.layers[1].w1.grad.device)
    end
  end)

  it("refuses a size that is not a positive integer", function()
    H.assert_error_has(function () nn.ResidualBlock(0) end,
                       { "nn.ResidualBlock: features must be a positive integer, got 0" })
    H.assert_error_has(function () nn.ResidualBlock(2.5) end, { "got 2.5" })
  end)
end)

describe("nn.Lambda", function()
  it("in a custom loop, loss:backward() reaches every block's parameters (as a PyTorch module)", function()
    nn.manual_seed(14)
    local b1, b2 = nn.ResidualBlock(3), nn.ResidualBlock(3)
    local x, t = nn.tensor.randn(4, 3), nn.tensor.randn(4, 3)
    nn.F.mse_loss(b2(b1(x)), t):backward()
    local g1, g2 = b1.w1.grad:clone(), b2.w1.grad:clone()
    assert.is_true(g1:abs():sum() > 0 and g2:abs():sum() > 0)
    -- the same gradients through the layer contract a model uses
    b1:zero_grad(); b2:zero_grad()
    local y = b2:forward(b1:forward(x))
    local g = nn.no_grad(function () return nn.F.mse_loss_backward(y, t) end)
    b1:backward(b2:backward(g))
    H.assert_tensor(b1.w1.grad, g1:totable(), 1e-5)
    H.assert_tensor(b2.w1.grad, g2:totable(), 1e-5)
  end)

  it("a formula layer trains its parameters; inside another formula it stays on the tape", function()
    local scale = nn.Lambda{ name = "Scale", params = { w = nn.tensor{ 2, 3 } },
                             forward = function (self, x) return x * self.w end }
    local x = nn.tensor{ { 1, 1 }, { 2, 2 } }
    local y = scale:forward(x)
    H.assert_tensor(y, { { 2, 3 }, { 4, 6 } }, 0)
    local gx = scale:backward(nn.tensor.ones(2, 2))
    H.assert_tensor(gx, { { 2, 3 }, { 2, 3 } }, 0)
    H.assert_tensor(scale.w.grad, { 3, 3 }, 0)
    assert.is_false(scale.w.requires_grad)                 -- only while the formula runs
    -- called on a recorded x: its output is on the caller's tape
    scale:zero_grad()
    local v = nn.tensor{ { 1, 2 } }:requires_grad_()
    local out = (scale(v) * 2):sum()
    out:backward()
    H.assert_tensor(v.grad, { { 4, 6 } }, 0)
    H.assert_tensor(scale.w.grad, { 2, 4 }, 0)
  end)

  it("shows its parameters by name on the tape", function()
    local lin = nn.Lambda{ params = { weight = nn.tensor.ones(2, 3) },
                           forward = function (self, x) return x:matmul(self.weight:t()) end }
    local x = nn.tensor.ones(4, 3):requires_grad_()
    local text = nn.autograd.show(lin(x):sum(), { quiet = true })
    assert.truthy(text:find("leaf weight grad%s+%[2x3%]"), text)
  end)

  it("refuses a bad spec, naming what is wrong", function()
    H.assert_error_has(function () nn.Lambda{} end,
                       { "nn.Lambda: forward must be a function (self, x) -> y, got nil" })
    H.assert_error_has(function () nn.Lambda(3) end, { "nn.Lambda: expected a table" })
    local f = function (_, x) return x end
    H.assert_error_has(function () nn.Lambda{ forward = f, params = { w = 3 } } end,
                       { "nn.Lambda: parameter 'w' must be a float32 tensor, got number" })
    H.assert_error_has(function () nn.Lambda{ forward = f, params = { w = nn.tensor{ 1 }:int() } } end,
                       { "parameter 'w' must be a float32 tensor, got int32 tensor" })
    H.assert_error_has(function () nn.Lambda{ forward = f, params = { forward = nn.tensor{ 1 } } } end,
                       { "parameter name forward is not allowed" })
    local bad = nn.Lambda{ name = "Bad", forward = function () return 3 end }
    H.assert_error_has(function () bad:forward(nn.tensor{ 1 }) end,
                       { "Bad: forward must return a tensor, got number" })
  end)
end)

-- FL = -(1 - p_t)^gamma log p_t, mean over the batch, by hand
local function focal_by_hand(z, y, gamma)
  local total = 0
  local rows = z:totable()
  for b, row in ipairs(rows) do
    local m, s = -math.huge, 0
    for _, v in ipairs(row) do m = math.max(m, v) end
    for _, v in ipairs(row) do s = s + math.exp(v - m) end
    local pt = math.exp(row[y[b]] - m) / s
    total = total - (1 - pt) ^ gamma * math.log(pt)
  end
  return total / #rows
end

describe("nn.FocalLoss", function()
  it("is -(1 - p_t)^gamma log p_t averaged, by hand", function()
    H.assert_close(nn.FocalLoss{ gamma = 2 }:forward(nn.tensor{ { 0, 0 } }, nn.tensor{ 1 }:int()),
                   0.25 * math.log(2), 1e-6)
    nn.manual_seed(8)
    local z = nn.tensor.randn(5, 4)
    local y = { 1, 4, 2, 2, 3 }
    H.assert_close(nn.FocalLoss{ gamma = 2 }:forward(z, nn.tensor(y):int()), focal_by_hand(z, y, 2), 1e-5)
    H.assert_close(nn.FocalLoss{ gamma = 0.5 }:forward(z, nn.tensor(y):int()),
                   focal_by_hand(z, y, 0.5), 1e-5)
  end)

  it("at gamma = 0 is cross-entropy: the same loss and the same gradient", function()
    nn.manual_seed(9)
    local z = nn.tensor.randn(6, 3)
    local y = nn.tensor{ 1, 2, 3, 3, 2, 1 }:int()
    local fl = nn.FocalLoss{ gamma = 0 }
    local ce = nn.CrossEntropyLoss()
    H.assert_close(fl:forward(z, y), ce:forward(z, y), 1e-6)
    H.assert_tensor(fl:backward(z, y), ce:backward(z, y):totable(), 1e-5)
  end)

  it("its gradient matches central differences", function()
    nn.manual_seed(10)
    H.assert_gradcheck(nn.FocalLoss{ gamma = 2 }, nn.tensor.randn(4, 3), nn.tensor{ 3, 1, 2, 1 }:int())
  end)

  it("trains a classifier inside nn.Model below what an untrained one reaches", function()
    nn.manual_seed(11)
    -- three classes: the sign of x1 and whether |x2| > 1
    local x = nn.tensor.randn(192, 2)
    local y = nn.no_grad(function ()
      return (x:select(2, 1):gt(0) + x:select(2, 2):abs():gt(1) * 2):clamp(0, 2):add(1):int()
    end)
    local model = nn.Model{ nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3) }
    model:set{ loss = nn.FocalLoss{ gamma = 2 }, optimizer = nn.optim.Adam{ lr = 2e-2 },
               accuracy = true }
    local before = model:evaluate(x, y)
    model:train(x, y, { epochs = 80, batch_size = 32, verbose = 0 })
    local after, acc = model:evaluate(x, y)
    assert.is_true(after < 0.3 * before, ("%g -> %g"):format(before, after))
    assert.is_true(after < 0.06, after)
    assert.is_true(acc > 0.9, acc)
  end)

  it("refuses a bad gamma and bad targets", function()
    H.assert_error_has(function () nn.FocalLoss{ gamma = -1 } end,
                       { "nn.FocalLoss: gamma must be a number >= 0, got -1" })
    H.assert_error_has(function () nn.FocalLoss(2) end, { "nn.FocalLoss: expected a table {gamma = 2}" })
    H.assert_error_has(function () nn.FocalLoss{}:forward(nn.tensor.randn(2, 3), nn.tensor{ 1, 2, 3 }:int()) end,
                       { "FocalLoss: expected logits (B, C) and class indices (B), got [2x3] and [3]" })
  end)
end)

describe("nn.LambdaLoss", function()
  it("a formula loss trains a model; evaluate needs no recording", function()
    nn.manual_seed(12)
    -- log cosh(d) = d + softplus(-2d) - log 2, written with recorded ops
    local logcosh = nn.LambdaLoss{
      name = "LogCosh",
      forward = function (_, out, y)
        local d = out - y
        return (d + ((d * -2):exp() + 1):log() - math.log(2)):mean()
      end,
    }
    local x = nn.tensor.randn(64, 3)
    local y = nn.no_grad(function () return x:sum(2, true) * 0.5 end)
    local model = nn.Model{ nn.Linear(3, 1) }
    model:set{ loss = logcosh, optimizer = nn.optim.Adam{ lr = 5e-2 } }
    local before = model:evaluate(x, y)
    model:train(x, y, { epochs = 60, batch_size = 16, verbose = 0 })
    local after = model:evaluate(x, y)
    assert.is_true(after < 0.05 * before, ("%g -> %g"):format(before, after))
  end)

  it("model:set refuses a table that is not a loss", function()
    local model = nn.Model{ nn.Linear(2, 1) }
    H.assert_error_has(function () model:set{ loss = {} } end,
                       { "model:set: loss must be a loss (nn.CategoricalCrossentropy(), ...) or its name, got table" })
  end)

  it("refuses a bad spec and a bad result", function()
    H.assert_error_has(function () nn.LambdaLoss{} end,
                       { "nn.LambdaLoss: forward must be a function (self, out, target) -> loss, got nil" })
    H.assert_error_has(function () nn.LambdaLoss{ forward = print, reduction = "max" } end,
                       { "nn.LambdaLoss: reduction must be 'mean' or 'sum', got max" })
    local vec = nn.LambdaLoss{ name = "Vec", forward = function (_, out) return out * 1 end }
    H.assert_error_has(function () vec:forward(nn.tensor.ones(3), nn.tensor.ones(3)) end,
                       { "Vec: forward must return one number (a one-element tensor), got [3]" })
  end)
end)

describe("a loss written in Lua is the one a step uses", function()
  it("even when it says it takes the probabilities the last layer gives (no fused plan)", function()
    -- model.lua plans a fused softmax + cross-entropy only for nnlua's own
    -- losses; a Lua loss that declares takes = "probabilities" is still called
    local calls = 0
    local inner = nn.MSELoss()
    local loss = { reduction = "mean", takes = "probabilities" }
    function loss:forward(out, y) calls = calls + 1; return inner:forward(out, y) end
    function loss:backward(out, y) return inner:backward(out, y) end
    for _, m in ipairs{ nn.Sequential{ nn.Dense(3, 2, { activation = "softmax" }) },
                        (function ()
                          local x = nn.Input{ 3 }
                          return nn.Model{ inputs = x,
                                           outputs = nn.Dense(3, 2, { activation = "softmax" })(x) }
                        end)() } do
      calls = 0
      m:set{ loss = loss, optimizer = "sgd" }
      m:step(nn.tensor.randn(4, 3), nn.tensor.rand(4, 2))
      assert.are.equal(1, calls)
    end
  end)
end)
