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

-- On a GPU: each count on CUDA against the CPU on the same seeded inputs
-- (nn/cuda_losses.cu runs the tests of nn/metrics.h that the CPU loop runs,
-- then sums 0/1 flags): whole numbers, so they must be equal.
describe("nn.metrics on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end

  -- (B) class indices with some that are not classes (0, C + 1, 1.5)
  local function some_bad (B, C)
    local t = {}
    for b = 1, B do t[b] = b % 7 == 0 and 0 or b % 11 == 0 and C + 1 or b % 13 == 0 and 1.5
                           or (3 * b) % C + 1 end
    return nn.tensor(t)
  end

  it("count the hits of the CPU", function()
    nn.manual_seed(61)
    -- 600 rows: more than one block of 256 threads
    for _, s in ipairs{ { 1, 1 }, { 4, 3 }, { 600, 10 } } do
      local B, C = s[1], s[2]
      local p = nn.tensor.randn(B, C)
      for _, t in ipairs{ some_bad(B, C), nn.tensor.rand(B, C) } do
        assert.are.equal(nn.metric_class_hits(p, t), nn.metric_class_hits(p:cuda(), t:cuda()))
      end
    end
    -- ties go to the first maximum on both devices
    local t = nn.tensor{ 1, 1, 3, 2 }
    assert.are.equal(nn.metric_class_hits(pred, t), nn.metric_class_hits(pred:cuda(), t:cuda()))
    for _, n in ipairs{ 1, 5, 1000 } do
      local p, t2 = nn.tensor.rand(n), nn.tensor.rand(n)
      for _, threshold in ipairs{ 0.3, 0.5 } do
        assert.are.equal(nn.metric_binary_hits(p, t2, threshold),
                         nn.metric_binary_hits(p:cuda(), t2:cuda(), threshold))
      end
      for _, tolerance in ipairs{ 0, 0.1, 0.5 } do
        assert.are.equal(nn.metric_within_hits(p, t2, tolerance),
                         nn.metric_within_hits(p:cuda(), t2:cuda(), tolerance))
      end
    end
  end)

  it("gives the accuracies of the CPU through nn.metrics", function()
    local m_cpu, m_gpu = nn.metrics.get("accuracy"), nn.metrics.get("accuracy")
    m_cpu:update(pred, nn.tensor{ 2, 1, 1, 1 })
    m_gpu:update(pred:cuda(), nn.tensor{ 2, 1, 1, 1 }:cuda())
    assert.are.equal(m_cpu:result(), m_gpu:result())
  end)

  it("fills the confusion matrix of the CPU, on the cpu", function()
    nn.manual_seed(62)
    local B, C = 600, 7
    local p = nn.tensor.randn(B, C)
    for _, t in ipairs{ some_bad(B, C), nn.tensor.rand(B, C) } do
      local want = nn.metrics.confusion_matrix(p, t)
      local got = nn.metrics.confusion_matrix(p:cuda(), t:cuda())
      assert.are.equal("cpu", got.device)
      H.assert_tensor(got, want:totable(), H.EXACT)
      -- batches add up there too
      nn.metrics.confusion_matrix(p:cuda(), t:cuda(), got)
      H.assert_tensor(got, (want * 2):totable(), H.EXACT)
    end
  end)

  it("wants pred and target on one device, naming both", function()
    H.assert_error_has(function () nn.metric_class_hits(pred:cuda(), nn.tensor{ 1, 1, 1, 1 }) end,
                       { "categorical accuracy", "pred is on cuda, target on cpu" })
    H.assert_error_has(function () nn.metric_binary_hits(nn.tensor{ 1 }, nn.tensor{ 1 }:cuda()) end,
                       { "binary accuracy", "pred is on cpu, target on cuda" })
    H.assert_error_has(function ()
      nn.metrics.confusion_matrix(pred:cuda(), nn.tensor{ 1, 1, 1, 1 })
    end, { "confusion matrix", "cuda", "cpu" })
  end)
end)
