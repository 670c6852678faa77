--- lua/nn/inspect.lua: model:inspect() and nn.inspect(model), a look
-- inside a network after a step: one row per layer, and warnings for the
-- usual pathologies of training, each naming the layer.
--
-- What each column is, for layer k (all from the live tensors, so from the
-- last forward and the last backward that ran):
--   output      the shape of layer k's output (the batch first)
--   mean, std   of that output (the activations)
--   zeros       the fraction of its elements that are exactly 0
--   |grad|      the 2-norm of all of the layer's parameter gradients
--               together, sqrt(sum of their squares)
--   |W|         the 2-norm of its weight (its first parameter), now
--   upd/W       ||W_after - W_before|| / ||W_before|| over the optimizer
--               step that model:train last measured (every 32nd step from
--               the first: lua/nn/model.lua); Karpathy's rule of thumb
--               (CS231n, "Babysitting the learning process") wants ~1e-3
--
-- The warnings, and where their thresholds come from:
--   NaN or Inf in an output or a gradient
--   dead units: at least half of a layer's units (columns of a (B, F)
--     output, channels of a (B, C, H, W) one) are 0 for every sample of the
--     batch: ReLUs that no input turns on, whose weights get no gradient
--   saturated: at least half of a Sigmoid's outputs below 0.01 or above
--     0.99 (a Tanh's beyond +-0.99), where the derivative is < 0.01
--   vanishing gradients: a layer's |grad| below 1e-4 of the largest
--     layer's |grad|, or zero where its weight is not
--   exploding gradients: |grad| above 100 |W| (one plain SGD step at
--     lr 0.01 would move W by more than its own size)
--   update ratio: upd/W below 1e-5 or above 1e-1 (100x from 1e-3): the
--     learning rate is likely too small or too large for that layer
local nn = require "nn"
local printing = require "nn.repr"

return function (Model, util)
  local is_module, is_tensor, layer_params = util.is_module, util.is_tensor, util.layer_params

  local function shape_text(t)
    local s = {}
    for i = 1, t:dim() do s[i] = tostring(t:size(i)) end
    return "[" .. table.concat(s, "x") .. "]"
  end

  -- fraction of units (columns, or channels of a 4-D output) that are 0
  -- for every sample; nil for other ranks
  local function dead_fraction(out)
    local nd = out:dim()
    if nd ~= 2 and nd ~= 4 then return nil end
    local live = out:ne(0):float():sum(1)             -- (F) or (C, H, W)
    if nd == 4 then live = live:view(out:size(2), -1):sum(2) end
    local units = live:numel()
    return units > 0 and live:eq(0):sum() / units or nil, units
  end

  local function activation_of(layer)
    if not is_module(layer) then return nil end
    if layer.name == "Sigmoid" or layer.name == "Tanh" then return layer.name:lower() end
    if layer.name == "Linear" then return layer.activation end
    return nil
  end

  local function saturated_fraction(out, act)
    local n = out:numel()
    if n == 0 then return 0 end
    if act == "sigmoid" then return (out:lt(0.01):sum() + out:gt(0.99):sum()) / n end
    return out:abs():gt(0.99):sum() / n
  end

  local function finite(t)
    return not is_tensor(t) or t:numel() == 0 or nn.first_nonfinite({ t }) == nil
  end

  local Report = {}
  Report.__index = Report

  local function num(v, fmt)
    if v == nil then return "-" end
    if v ~= v then return "nan" end
    return (fmt or "%.3g"):format(v)
  end

  --- tostring(report): the table of rows and the warnings, at most 80 columns.
  function Report.__tostring(r)
    local lines = {}
    local head = ("model:inspect() after %d steps"):format(r.steps)
    if r.update_step then head = head .. (", update ratios of step %d"):format(r.update_step) end
    lines[1] = head
    lines[2] = ("%2s %-16s %-13s %7s %7s %6s %7s %6s %7s"):format("#", "layer", "output", "mean",
      "std", "zeros", "|grad|", "|W|", "upd/W")
    for _, row in ipairs(r.rows) do
      local name, shape = row.name, row.shape or "-"
      if #name > 16 then name = name:sub(1, 15) .. "~" end
      if #shape > 13 then shape = shape:sub(1, 12) .. "~" end
      lines[#lines + 1] = ("%2d %-16s %-13s %7s %7s %5s%% %7s %6s %7s"):format(row.index, name,
        shape, num(row.mean, "%.2g"), num(row.std, "%.2g"),
        row.zeros and ("%.1f"):format(100 * row.zeros) or "-", num(row.grad_norm, "%.1e"),
        num(row.weight_norm, "%.3g"), num(row.update_ratio, "%.1e"))
    end
    if #r.warnings == 0 then
      lines[#lines + 1] = "no warnings"
    else
      lines[#lines + 1] = "warnings:"
      for _, w in ipairs(r.warnings) do lines[#lines + 1] = printing.wrap("  " .. w, 79) end
    end
    return table.concat(lines, "\n")
  end
  Report.__repr = Report.__tostring

  --- model:inspect() -> report (alias nn.inspect(model)): after a step, or
  -- after training stopped (Ctrl-C, a NaN, the end), one row per layer:
  -- index, name, shape, mean, std, zeros, dead (fraction of dead units),
  -- grad_norm, weight_norm, update_ratio (nil where it does not apply), and
  -- report.warnings, a list of lines each naming its layer.  The columns
  -- and the thresholds of the warnings: the top of lua/nn/inspect.lua.
  -- Printing the report shows it as a table.
  -- Errors: a model with no layers; no forward yet.
  function Model:inspect()
    if #self.layers == 0 then util.fail(2, "model:inspect: the model has no layers") end
    local first = self.layers[1]
    if not (is_tensor(first.output) and first.output:numel() > 0) then
      util.fail(2, "model:inspect: nothing to look at yet: train a step, or call model:forward(x), first")
    end
    local rows, warnings = {}, {}
    local function warn(i, layer, fmt, ...)
      warnings[#warnings + 1] = ("layer %d (%s): " .. fmt):format(i, util.layer_name(layer), ...)
    end
    local ratios = self._update_ratios or {}
    local largest = 0
    for i, layer in ipairs(self.layers) do
      local row = { index = i, name = tostring(layer):gsub("^nn%.", "") }
      local out = layer.output
      if is_tensor(out) and out:numel() > 0 then
        local f = out:float()
        row.shape = shape_text(out)
        if finite(f) then
          row.mean, row.std = f:mean(), f:numel() > 1 and f:std() or 0
          row.zeros = f:eq(0):sum() / f:numel()
          local dead, units = dead_fraction(f)
          row.dead = dead
          if dead and dead >= 0.5 then
            warn(i, layer, "%.0f%% of its %d units are 0 for every sample of the batch (dead units)",
                 100 * dead, units)
          end
          local act = activation_of(layer)
          if act == "sigmoid" or act == "tanh" then
            local sat = saturated_fraction(f, act)
            row.saturated = sat
            if sat >= 0.5 then
              warn(i, layer, "%.0f%% of its outputs are saturated (%s), where its derivative is "
                   .. "below 0.01", 100 * sat, act == "sigmoid" and "below 0.01 or above 0.99"
                   or "beyond +-0.99")
            end
          end
        else
          warn(i, layer, "its output holds NaN or Inf")
        end
      end
      local params, grads = layer_params(layer)
      if #grads > 0 then
        local sq, bad = 0, false
        for _, g in ipairs(grads) do
          if finite(g) then sq = sq + g:norm() ^ 2 else bad = true end
        end
        if bad then
          warn(i, layer, "its gradients hold NaN or Inf")
        else
          row.grad_norm = math.sqrt(sq)
          largest = math.max(largest, row.grad_norm)
        end
        if params[1] and finite(params[1]) then row.weight_norm = params[1]:norm() end
        row.update_ratio = ratios[i]
      end
      rows[#rows + 1] = row
    end
    for _, row in ipairs(rows) do
      local i, layer, g, w = row.index, self.layers[row.index], row.grad_norm, row.weight_norm
      if g and w then
        if (g == 0 and w > 0) or (largest > 0 and g < 1e-4 * largest) then
          warn(i, layer, "|grad| %.2e is %s the largest layer's %.2e (vanishing gradients)", g,
               g == 0 and "zero beside" or "below 1e-4 of", largest)
        elseif g > 100 * w then
          warn(i, layer, "|grad| %.2e is over 100x |W| %.2e (exploding gradients)", g, w)
        end
      end
      local u = row.update_ratio
      if u and u == u and (u < 1e-5 or u > 1e-1) then
        warn(i, layer, "the last update moved W by %.1e of its norm (about 1e-3 is healthy): the "
             .. "learning rate looks too %s", u, u > 1e-1 and "large" or "small")
      end
    end
    return setmetatable({ rows = rows, warnings = warnings, steps = self._steps or 0,
                          update_step = self._update_step }, Report)
  end
end
