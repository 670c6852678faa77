--- spec/metrics_spec.lua -- nn.metrics: accuracies counted in C, confusion matrix.
local nn = require "nn"
local H = require "spec.helpers"

local pred = nn.tensor{{0.1, 0.7, 0.2},    -- class 2
                       {0.5, 0.2, 0.3},    -- class 1
                       {0.2, 0.2, 0.6},    -- class 3
                       {0.4, 0.4, 0.2}}    -- a tie: the first maximum, class 1

describe("nn.metrics", function()
  it("categorical accuracy counts rows whose argmax is the target class", function()
    local m = nn.metrics.get("categorical_accuracy")
    m:update(pred, nn.tensor{2, 1, 1, 1})           -- rows 1, 2, 4 right
    assert.are.equal(3 / 4, m:result())
    m:update(pred, nn.tensor{1, 1, 1, 2})           -- row 2 right: 4 of 8 over both
    assert.are.equal(4 / 8, m:result())
    m:reset()
    assert.are.equal(0, m:result())
  end)

  it("takes one-hot (B, C) targets as their argmax", function()
    local m = nn.metrics.get("accuracy")
    m:update(pred, nn.tensor{{0, 1, 0}, {0, 0, 1}, {0, 0, 1}, {1, 0, 0}})
    assert.are.equal(3 / 4, m:result())
  end)

  it("a class index outside 1..C is a miss, not a crash", function()
    local m = nn.metrics.get("categorical_accuracy")
    m:update(pred, nn.tensor{2, 0, 9, 1.5})
    assert.are.equal(1 / 4, m:result())
  end)

  it("binary accuracy thresholds pred and compares with target > 0.5", function()
    local m = nn.metrics.get{ name = "binary_accuracy", threshold = 0.5 }
    m:update(nn.tensor{0.9, 0.2, 0.6, 0.4}, nn.tensor{1, 0, 0, 1})
    assert.are.equal(2 / 4, m:result())
    local a = nn.metrics.get("accuracy")             -- (B, 1) output: binary
    a:update(nn.tensor{{0.9}, {0.1}}, nn.tensor{{1}, {0}})
    assert.are.equal(1, a:result())
  end)

  it("regression accuracy counts |pred - target| <= tolerance", function()
    local m = nn.metrics.get{ name = "regression_accuracy", tolerance = 0.5 }
    m:update(nn.tensor{1.0, 2.0, 3.0}, nn.tensor{1.4, 2.6, 3.0})
    assert.are.equal(2 / 3, m:result())
  end)

  it("a function is a metric of one's own", function()
    local m = nn.metrics.get(function (p, _) return 1, p:size(1) end)
    m:update(pred, nn.tensor{1, 1, 1, 1})
    assert.are.equal(1 / 4, m:result())
    assert.are.equal("custom", m.name)
  end)

  it("confusion matrix: row = true class, column = predicted; batches add up", function()
    local cm = nn.metrics.confusion_matrix(pred, nn.tensor{2, 1, 1, 3})
    H.assert_tensor(cm, {{1, 0, 1}, {0, 1, 0}, {1, 0, 0}}, H.EXACT)
    nn.metrics.confusion_matrix(pred, nn.tensor{2, 2, 2, 2}, cm)
    H.assert_tensor(cm, {{1, 0, 1}, {2, 2, 1}, {1, 0, 0}}, H.EXACT)
  end)

  it("raises on unknown metrics and options, and on shapes that do not fit", function()
    H.assert_error_has(function () nn.metrics.get("precision") end, { "unknown metric precision" })
    H.assert_error_has(function () nn.metrics.get{ name = "accuracy", k = 1 } end, { "unknown option 'k'" })
    local m = nn.metrics.get("categorical_accuracy")
    H.assert_error_has(function () m:update(pred, nn.tensor{1, 2}) end,
                       { "categorical accuracy", "[4x3]", "[2]" })
    local b = nn.metrics.get("binary_accuracy")
    H.assert_error_has(function () b:update(nn.tensor{1, 2}, nn.tensor{1, 2, 3}) end,
                       { "binary accuracy", "differ" })
    H.assert_error_has(function () nn.metrics.confusion_matrix(pred, nn.tensor{1, 1, 1, 1},
                                                               nn.tensor.zeros(2, 2)) end,
                       { "[3x3]" })
    H.assert_error_has(function () nn.metrics.confusion_matrix(nn.tensor{1, 2}, nn.tensor{1, 2}) end,
                       { "(B, C)" })
  end)
end)
