--- nn.gradcheck: is a layer's backward the derivative of its forward?
--
-- The check every hand-written backward needs.  For a layer, take the
-- scalar L = sum(y * r), y = layer:forward(x), r a fixed random tensor of
-- y's shape (a random r tests every output's gradient at once, where a
-- plain sum could hide an error that cancels).  Then dL/dy = r, so
-- layer:backward(r) gives the analytic dL/dx and dL/dW.  For each entry v
-- of x and of every parameter, the central difference
--
--      dL/dv ~ (L(v + h) - L(v - h)) / (2h)
--
-- has error O(h^2) from the Taylor series (Burden & Faires, Numerical
-- Analysis, sec. 4.1), plus float32 rounding of about eps * |L| / h, eps =
-- 6e-8.  h = 1e-2 balances the two for the O(1) values a test uses: the
-- rounding part is then ~1e-5 absolute.  The Taylor part, h^2 |f'''| / 6,
-- grows where the third derivative does: for log x at x = 0.1 (BCE on a
-- probability of 0.1) it is 3e-3 of the gradient.  So we accept
-- |analytic - numeric| <= atol + rtol * |numeric| with atol = 1e-3, rtol =
-- 1e-2; a wrong formula (a missing factor, a missing batch sum, a sign) is
-- off by far more (the specs show 5% failing).  A kink (ReLU at 0, L1 at x = t) within h of an
-- entry breaks the difference: keep test inputs away from kinks.
--
-- For a loss, L = crit:forward(x, target) itself and the analytic gradient
-- is crit:backward(x, target); only x is checked (targets are data).
--
-- Works on any object with forward/backward (and parameters, zero_grad,
-- buffers when it has them), so a learner can check a layer written in Lua.
-- For a function of tensors (a layer or loss written as a formula of
-- recorded ops), nn.gradcheck(fn, {x, w, ...}) compares the autograd
-- engine's gradients instead: see check_function at the end.
--
-- It leaves things as it found them: parameters, their accumulated
-- gradients and buffers (BatchNorm's running statistics) are restored, and
-- every forward starts from the same random state, so Dropout draws one
-- mask for all of them.

local core = require "nn.core"

local DEFAULTS = { h = 1e-2, atol = 1e-3, rtol = 1e-2 }

-- "[2][3]" for flat index i (1-based) of a tensor of `shape`
local function index_text (shape, i)
  local parts, rest = {}, i - 1
  for d = #shape, 1, -1 do
    parts[d] = ("[%d]"):format(rest % shape[d] + 1)
    rest = rest // shape[d]
  end
  return table.concat(parts)
end

local function is_tensor (v)
  return getmetatable(v) == core.Tensor
end

local Report = {}
Report.__index = Report

function Report.__tostring (r)
  return ("gradcheck %s: %d entries; worst abs err %.3g at %s, worst rel err %.3g at %s%s")
    :format(r.ok and "ok" or "FAILED", r.checked, r.max_abs, r.where_abs or "-",
            r.max_rel, r.where_rel or "-",
            r.ok and "" or ("; first failure at %s: analytic %.6g, numeric %.6g")
              :format(r.failed_at, r.failed_analytic, r.failed_numeric))
end
Report.__repr = Report.__tostring

--- nn.gradcheck(module_or_criterion, input [, target] [, opts]) -> ok, report
-- Compares every analytic gradient (input and parameters) with central
-- finite differences.  input: a tensor of the shape the layer takes;
-- target: for a loss, a tensor of what it takes.  opts: {h = 1e-2,
-- atol = 1e-3, rtol = 1e-2} (see above).  report: {ok, checked, max_abs,
-- where_abs, max_rel, where_rel, failed_at, failed_analytic,
-- failed_numeric}, printable.  rel err = |a - n| / max(|a|, |n|, atol).
-- Errors: raises if input (or target) is not a tensor, or if the object
-- has no forward/backward.
local check_function                    -- below: nn.gradcheck(fn, {x, w, ...} [, opts])

-- h, atol, rtol from opts (or the defaults); raises at the caller of
-- gradcheck on opts that are not a table
local function tolerances(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("gradcheck: opts must be a table {h, atol, rtol}, got %s"):format(type(opts)), 3)
  end
  return opts.h or DEFAULTS.h, opts.atol or DEFAULTS.atol, opts.rtol or DEFAULTS.rtol
end

-- Entries of t (checked against analytic, of t's shape) one by one:
-- numeric_at(flat, i) is the central difference at flat entry i; the
-- report (above) takes the worst errors and the first failure.
local function compare (report, label, t, analytic, numeric_at, atol, rtol)
  local flat, a = t:view(-1), analytic:view(-1)
  local shape = t:size()
  for i = 1, flat:numel() do
    local numeric = numeric_at(flat, i)
    local an = a:get(i)
    local err = math.abs(an - numeric)
    local rel = err / math.max(math.abs(an), math.abs(numeric), atol)
    local where = label .. index_text(shape, i)
    report.checked = report.checked + 1
    if err > report.max_abs or report.where_abs == nil then report.max_abs, report.where_abs = err, where end
    if rel > report.max_rel or report.where_rel == nil then report.max_rel, report.where_rel = rel, where end
    if report.ok and not (err <= atol + rtol * math.abs(numeric)) then
      report.ok = false
      report.failed_at, report.failed_analytic, report.failed_numeric = where, an, numeric
    end
  end
end

local function gradcheck (m, input, target, opts)
  if type(m) == "function" then return check_function(m, input, target) end
  if not is_tensor(target) then target, opts = nil, target end
  local h, atol, rtol = tolerances(opts)
  if not is_tensor(input) then
    error(("gradcheck: input must be an nn.Tensor, got %s"):format(type(input)), 2)
  end
  local okf, fwd = pcall(function () return m.forward end)
  local okb, bwd = pcall(function () return m.backward end)
  if not (okf and okb and fwd and bwd) then
    error("gradcheck: expected a layer or a loss (with forward and backward), got "
          .. tostring(m), 2)
  end

  -- parameters, their gradients, names; and a copy of all we disturb
  local params, grads, names = {}, {}, {}
  if m.parameters then params, grads, names = m:parameters() end
  params, grads, names = params or {}, grads or {}, names or {}
  local saved_grads, saved_buffers = {}, {}
  for i, g in ipairs(grads) do saved_grads[i] = g:clone() end
  local buffers = m.buffers and m:buffers() or {}
  for name, b in pairs(buffers) do saved_buffers[name] = b:clone() end
  local seed, offset = core.get_rng_state()

  -- the scalar L, from one random state every time
  local r
  local function loss ()
    core.set_rng_state(seed, offset)
    if target then return m:forward(input, target) end
    local v = (m:forward(input) * r):sum()
    if is_tensor(v) then v = v:item() end   -- a layer written as a formula gives a recorded output
    return v
  end
  if not target then
    local y = m:forward(input)
    r = core.tensor.randn(y:size())   -- drawn after the forward's own draws
  end
  local _, after = core.get_rng_state()

  -- analytic gradients
  for _, g in ipairs(grads) do g:zero_() end
  loss()
  local analytic = { (target and m:backward(input, target) or m:backward(r)):clone() }
  for i, g in ipairs(grads) do analytic[i + 1] = g:clone() end

  -- numeric gradients, entry by entry (a debugging tool: this loop over
  -- elements is the point, and each step runs a whole forward anyway)
  local report = setmetatable({ ok = true, checked = 0, max_abs = 0, max_rel = 0 }, Report)
  local checked = { input }
  local labels = { "input" }
  for i, p in ipairs(params) do
    checked[i + 1] = p
    labels[i + 1] = names[i] or ("parameter " .. i)
  end
  for k, t in ipairs(checked) do
    compare(report, labels[k], t, analytic[k], function (flat, i)
      local v = flat:get(i)
      flat:set(i, v + h)
      local up, vu = loss(), flat:get(i)
      flat:set(i, v - h)
      local down, vd = loss(), flat:get(i)
      flat:set(i, v)
      return (up - down) / (vu - vd)      -- by the step float32 really took, not by 2h
    end, atol, rtol)
  end

  -- leave the layer as it was found (one last forward refreshes its output)
  loss()
  for i, g in ipairs(grads) do g:copy(saved_grads[i]) end
  for name, b in pairs(saved_buffers) do
    -- a buffer a forward remakes (Dropout's mask) may have changed shape
    if buffers[name]:numel() == b:numel() then buffers[name]:copy(b) end
  end
  core.set_rng_state(seed, after)
  return report.ok, report
end

-- The scalar L = sum(fn(inputs...) * r) and the report, for a function of
-- tensors: analytic gradients from the autograd engine (L:backward()),
-- numeric ones with recording off.  Shares the tolerances and the report
-- of the layer check above.

--- nn.gradcheck(fn, {x, w, ...} [, opts]) -> ok, report: the autograd
-- engine's gradients of L = sum(fn(x, w, ...) * r) (r a fixed random tensor
-- of the output's shape) against central differences, for every input
-- that requires grad (the others are constants).  fn: a function of
-- tensors made of recorded ops (a layer's formula, a loss).  Inputs' .grad
-- are left as they were.  opts, report: as for a layer (above); the
-- inputs are named "input 1", "input 2", ... in the report.
-- Errors: fn's inputs not a list of tensors; none requires grad; fn does
-- not return a tensor made by recorded ops.
function check_function (fn, inputs, opts)
  local nn = require "nn"
  if type(inputs) ~= "table" or is_tensor(inputs) then
    error(("gradcheck: for a function, inputs must be a list of tensors {x, w, ...}, got %s")
          :format(is_tensor(inputs) and "a tensor (write {x})" or type(inputs)), 2)
  end
  local h, atol, rtol = tolerances(opts)
  local checked = {}
  for i = 1, #inputs do
    if not is_tensor(inputs[i]) then
      error(("gradcheck: input %d must be a tensor, got %s"):format(i, type(inputs[i])), 2)
    end
    if inputs[i].requires_grad then checked[#checked + 1] = i end
  end
  if #checked == 0 then
    error("gradcheck: no input requires grad: call x:requires_grad_() on those to check", 2)
  end
  local seed, offset = core.get_rng_state()
  local y = fn(table.unpack(inputs, 1, #inputs))
  if not is_tensor(y) or not y.requires_grad then
    error(("gradcheck: fn must return a tensor made by recorded ops from its inputs, got %s")
          :format(is_tensor(y) and "a tensor that is not recorded" or type(y)), 2)
  end
  local r = nn.no_grad(function () return core.tensor.randn(y:size()) end)
  local _, after = core.get_rng_state()

  -- analytic: the engine's through the y just recorded, with the inputs'
  -- own .grad set aside
  local saved = {}
  for _, i in ipairs(checked) do saved[i] = inputs[i].grad; inputs[i].grad = nil end
  local L = (y * r):sum()
  L:backward()
  local analytic = {}
  for _, i in ipairs(checked) do
    analytic[i] = inputs[i].grad or nn.no_grad(function () return inputs[i]:mul(0) end)
    inputs[i].grad = saved[i]
  end

  -- numeric, entry by entry, recording off
  local function value ()
    core.set_rng_state(seed, offset)
    local v = (fn(table.unpack(inputs, 1, #inputs)) * r):sum()
    if is_tensor(v) then v = v:item() end
    return v
  end
  local report = setmetatable({ ok = true, checked = 0, max_abs = 0, max_rel = 0 }, Report)
  nn.no_grad(function ()
    for _, i in ipairs(checked) do
      compare(report, ("input %d"):format(i), inputs[i], analytic[i], function (flat, k)
        local v = flat:get(k)
        flat:set(k, v + h)
        local up, vu = value(), flat:get(k)
        flat:set(k, v - h)
        local down, vd = value(), flat:get(k)
        flat:set(k, v)
        return (up - down) / (vu - vd)          -- the step float32 really took
      end, atol, rtol)
    end
  end)
  core.set_rng_state(seed, after)
  return report.ok, report
end

return gradcheck
