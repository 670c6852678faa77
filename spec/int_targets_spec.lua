-- spec/int_targets_spec.lua -- class targets as int32: every loss and metric
-- that takes class indices gives the same loss, the same gradient and the
-- same counts for an int32 target as for the float32 one with the same
-- classes (the binding reads an int32 target through a float32 copy, exact
-- for classes up to 2^24).  The float results are checked against a direct
-- computation too, so that "the same" cannot be the same mistake.
local H = require "spec.helpers"
local has = H.assert_error_has
local T = nn.tensor

local logits = T{{1, 2, 0.5}, {0.3, -1, 2}, {0, 0, 0}, {3, 1, -2}}
local classes = { 2, 3, 1, 1 }

-- mean over rows of -log softmax(logits)[class], in Lua
local function direct_ce()
  local sum = 0
  for r = 1, 4 do
    local z, m = {}, -math.huge
    for c = 1, 3 do z[c] = logits:get(r, c); m = math.max(m, z[c]) end
    local s = 0
    for c = 1, 3 do s = s + math.exp(z[c] - m) end
    sum = sum - (z[classes[r]] - m - math.log(s))
  end
  return sum / 4
end

local function same_tensor(a, b, what)
  assert.are.same(a.shape, b.shape, what)
  assert.are.equal(0, (a - b):abs():max(), what)
end

describe("class targets as int32", function()
  local tf, ti = T(classes), T(classes):int()

  it("CrossEntropyLoss: the same loss and gradient for int32 and float32", function()
    local cf, ci = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    local lf, li = cf:forward(logits, tf), ci:forward(logits, ti)
    H.assert_close(lf, direct_ce(), 1e-6)
    assert.are.equal(lf, li)
    same_tensor(cf:backward(), ci:backward(), "grad")
    same_tensor(cf:backward(logits, tf), ci:backward(logits, ti), "grad with arguments")
  end)

  it("NLLLoss on log-probabilities: the same loss and gradient", function()
    local logp = nn.LogSoftmax():forward(logits)
    local cf, ci = nn.NLLLoss(), nn.NLLLoss()
    local lf, li = cf:forward(logp, tf), ci:forward(logp, ti)
    H.assert_close(lf, direct_ce(), 1e-6)
    assert.are.equal(lf, li)
    same_tensor(cf:backward(), ci:backward(), "grad")
  end)

  it("the functional forms take int32 targets", function()
    assert.are.equal(nn.F.cross_entropy(logits, tf), nn.F.cross_entropy(logits, ti))
    same_tensor(nn.F.cross_entropy_backward(logits, tf), nn.F.cross_entropy_backward(logits, ti))
    local logp = nn.LogSoftmax():forward(logits)
    assert.are.equal(nn.F.nll_loss(logp, tf), nn.F.nll_loss(logp, ti))
  end)

  it("a class out of range in an int32 target is refused as in a float one", function()
    local bad = T{2, 3, 4, 1}:int()
    local msg_i = H.error_of(function() nn.CrossEntropyLoss():forward(logits, bad) end)
    local msg_f = H.error_of(function() nn.CrossEntropyLoss():forward(logits, bad:float()) end)
    assert.are.equal(msg_f:gsub("^[^:]*:%d+: ", ""), (msg_i:gsub("^[^:]*:%d+: ", "")))
    assert.is_truthy(msg_i:find("bad argument #2", 1, true), msg_i)
  end)

  it("categorical accuracy and the confusion matrix count int32 targets alike", function()
    -- argmax rows: 2, 3, 1 (a tie: the first), 1 -> all four right
    local m = nn.metrics.get("categorical_accuracy")
    m:update(logits, ti)
    assert.are.equal(1, m:result())
    m:update(logits, T{1, 1, 1, 1}:int())            -- rows 3, 4 right: 6 of 8
    assert.are.equal(6 / 8, m:result())
    local cm_f = nn.metrics.confusion_matrix(logits, tf)
    local cm_i = nn.metrics.confusion_matrix(logits, ti)
    same_tensor(cm_f, cm_i, "confusion")
    H.assert_tensor(cm_i, {{2, 0, 0}, {0, 1, 0}, {0, 0, 1}}, H.EXACT)
  end)

  it("argmax's int32 result is a target too: accuracy of a prediction against itself", function()
    local m = nn.metrics.get("categorical_accuracy")
    m:update(logits, logits:argmax(2))
    assert.are.equal(1, m:result())
  end)

  it("a DataLoader carries int32 labels, and a model fits on them", function()
    nn.manual_seed(1)
    local x = T.randn(64, 4)
    local y = x:argmax(2)                             -- int32 classes 1..4
    local loader = nn.data.DataLoader(x, y, {batch_size = 16, shuffle = true})
    for xb, yb in loader:iter() do
      assert.are.equal("int32", yb.dtype)
      -- each batch's labels are still the argmax of its rows
      assert.are.equal(0, (xb:argmax(2):float() - yb:float()):abs():max())
    end
    local m = nn.Model{ nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4) }
    m:compile{ loss = "cross_entropy", optimizer = "adam", metrics = {"accuracy"} }
    local h = m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
    assert.is_true(h ~= nil)
    local loss, acc = m:evaluate(x, y)
    assert.is_true(loss == loss and loss > 0, "loss " .. tostring(loss))
    assert.is_true(acc >= 0 and acc <= 1)
  end)

  it("a non-tensor target is still refused by name", function()
    has(function() nn.CrossEntropyLoss():forward(logits, {1, 2}) end, {"bad argument #2"})
  end)
end)
