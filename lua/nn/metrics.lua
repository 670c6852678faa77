--- nn.metrics: how often a model is right, as Keras's metrics.
--
-- A metric counts hits batch by batch (the counting is C: nn/metrics.c)
-- and divides once, at the end, by the samples it saw:
--
--   local acc = nn.metrics.get("accuracy")
--   acc:reset(); acc:update(pred, target); acc:update(pred2, target2)
--   acc:result()                 --> hits / samples, in [0, 1]
--
-- Names:
--   "categorical_accuracy"   argmax of pred (B, C) == target class
--                            (target (B) 1-based indices, or (B, C) rows)
--   "binary_accuracy"        (pred > threshold) == (target > 0.5), per element
--   "regression_accuracy"    |pred - target| <= tolerance, per element
--   "accuracy"               categorical for (B, C) pred with C > 1, else binary
--                            (Keras picks by the loss; we pick by the shape)
-- or a table {name=..., threshold=..., tolerance=...}, or a function
-- f(pred, target) -> hits, count for a metric of one's own.
local nn = require "nn"

local metrics = {}

local Metric = {}
Metric.__index = Metric
Metric.__tostring = function (m) return ("Metric(%s)"):format(m.name) end

--- metric:reset(): forget what was counted.
function Metric:reset() self.hits, self.count = 0, 0; return self end

--- metric:update(pred, target): count one batch.  pred: the model's output
-- (B, C) or (B) / (B, 1); target as the loss takes it.
-- Errors: shapes that do not fit (raised by the C count, naming both).
function Metric:update(pred, target)
  for i = 1, 2 do                      -- the built-in counts index them as tensors
    local t = select(i, pred, target)
    if getmetatable(t) ~= nn.Tensor and self.name ~= "custom" then
      error(("metric:update: %s must be an nn.Tensor, got %s")
            :format(i == 1 and "pred" or "target", type(t)), 2)
    end
  end
  local hits, count = self.count_fn(pred, target)
  self.hits, self.count = self.hits + hits, self.count + count
end

--- metric:result() -> the fraction of hits so far (0 when nothing counted).
function Metric:result() return self.count > 0 and self.hits / self.count or 0 end

local function rows(t) return t:dim() == 0 and 1 or t:size(1) end

local counters = {
  categorical_accuracy = function (_)
    return function (pred, target) return nn.metric_class_hits(pred, target), rows(pred) end
  end,
  binary_accuracy = function (opts)
    local threshold = opts.threshold or 0.5
    return function (pred, target)
      return nn.metric_binary_hits(pred, target, threshold), pred:numel()
    end
  end,
  regression_accuracy = function (opts)
    local tolerance = opts.tolerance or 0.1
    return function (pred, target)
      return nn.metric_within_hits(pred, target, tolerance), pred:numel()
    end
  end,
  accuracy = function (opts)
    local threshold = opts.threshold or 0.5
    return function (pred, target)
      if pred:dim() == 2 and pred:size(2) > 1 then
        return nn.metric_class_hits(pred, target), rows(pred)
      end
      return nn.metric_binary_hits(pred, target, threshold), pred:numel()
    end
  end,
}
local known_keys = { name = true, threshold = true, tolerance = true }

--- nn.metrics.get(spec) -> a new metric.  spec: a name above, a table
-- {name = ..., threshold = 0.5, tolerance = 0.1}, or a function
-- f(pred, target) -> hits, count (its name is "custom").
-- Errors: an unknown name or option.
function metrics.get(spec)
  local m = setmetatable({ hits = 0, count = 0 }, Metric)
  if type(spec) == "function" then
    m.name, m.count_fn = "custom", spec
    return m
  end
  local opts = type(spec) == "table" and spec or { name = spec }
  for k in pairs(opts) do
    if not known_keys[k] then
      error(("metric: unknown option '%s' (options: name, threshold, tolerance)"):format(tostring(k)), 2)
    end
  end
  local make = counters[opts.name]
  if make == nil then
    error(("metric: unknown metric %s (known: accuracy, categorical_accuracy, binary_accuracy, "
           .. "regression_accuracy, or a function)"):format(tostring(opts.name)), 2)
  end
  m.name, m.count_fn = opts.name, make(opts)
  return m
end

--- nn.metrics.confusion_matrix(pred, target [, cm]) -> cm (C, C): counts,
-- cm[i][j] = examples of true class i that pred puts in class j; given a
-- cm, adds to it (so batches sum up).  pred: (B, C); target (B) 1-based
-- indices or (B, C).  Errors: shapes that do not fit.
function metrics.confusion_matrix(pred, target, cm)
  if getmetatable(pred) ~= nn.Tensor then
    error(("confusion_matrix: pred must be an nn.Tensor, got %s"):format(type(pred)), 2)
  end
  if pred:dim() ~= 2 then
    error(("confusion_matrix: pred must be (B, C) class scores, got %d dims"):format(pred:dim()), 2)
  end
  local C = pred:size(2)
  cm = cm or nn.tensor.zeros(C, C):cpu()     -- counted on the host, whatever the default
  return nn.metric_confusion(cm, pred, target)
end

return metrics
