--- spec/optim_spec.lua -- nn.optim: the optimizers' first steps against updates
--  worked by hand, their options, state, checkpoints and errors; on a GPU, the
--  CUDA updates against the CPU's; schedulers.
local nn = require "nn"
local H = require "spec.helpers"
local has = H.assert_error_has

-- Tolerance of the hand-worked steps.  The expected values are computed
-- below in Lua doubles, from the formulas; the optimizer computes in
-- float32 from float32 scalars (lr = 0.1 is stored 1.5e-9 off).  Each step
-- is about 6 float32 operations on values of size ~1, each rounding by half
-- an ulp (6e-8); over three steps that stays under ~20 half-ulps, 1.2e-6.
-- 16 ulp (1.9e-6) covers it; every wrong formula tested here (a buffer that
-- starts at 0, a missing bias correction, eps on the other side of the
-- correction, coupled against decoupled decay) is off by more than 1e-3.
local TOL = 16 * H.FLT_EPS

local P0 = { 1, -2, 0.5 }                 -- parameters and gradients: dyadic,
local G1 = { 0.5, 0.5, -1 }               -- so exact in float32
local G2 = { 0.25, -1.5, -1 }
local G3 = { -0.75, 0.5, 0.125 }

-- element-wise over equal-length Lua lists: map(f, a, b) = {f(a[1], b[1]), ...}
local function map (f, ...)
  local lists, out = { ... }, {}
  for i = 1, #lists[1] do
    local args = {}
    for k = 1, #lists do args[k] = lists[k][i] end
    out[i] = f(table.unpack(args))
  end
  return out
end

local function sign (x) return x > 0 and 1 or (x < 0 and -1 or 0) end

-- p after each step of opt, from p0 through the gradients in `grads`
local function run (opt, p0, grads)
  local p = nn.tensor(p0)
  local after = {}
  for t, g in ipairs(grads) do
    opt:step({ p }, { nn.tensor(g) })
    after[t] = p:totable()
  end
  return after, p
end

local function assert_list (got, want, rel, what)
  assert.are.equal(#want, #got, what)
  for i = 1, #want do H.assert_close(got[i], want[i], rel, ("%s [%d]"):format(what, i)) end
end

-- true when some element differs by more than rel (to show a check can fail)
local function differs (a, b, rel)
  for i = 1, #a do
    if not H.close(a[i], b[i], rel) then return true end
  end
  return false
end

describe("nn.optim.SGD", function()
  it("steps p -= lr * g", function()
    local lr = 0.1
    local after = run(nn.optim.SGD{ lr = lr }, P0, { G1, G2 })
    local p1 = map(function (p, g) return p - lr * g end, P0, G1)
    local p2 = map(function (p, g) return p - lr * g end, p1, G2)
    assert_list(after[1], p1, TOL, "step 1")
    assert_list(after[2], p2, TOL, "step 2")
  end)

  it("with momentum and dampening: the buffer starts as the first gradient, undamped", function()
    local lr, mu, damp = 0.1, 0.9, 0.5
    local opt = nn.optim.SGD{ lr = lr, momentum = mu, dampening = damp }
    local after = run(opt, P0, { G1, G2, G3 })
    -- b_1 = g_1 (PyTorch); b_t = mu b_{t-1} + (1 - dampening) g_t;  p -= lr b
    local b1 = G1
    local p1 = map(function (p, b) return p - lr * b end, P0, b1)
    local b2 = map(function (b, g) return mu * b + (1 - damp) * g end, b1, G2)
    local p2 = map(function (p, b) return p - lr * b end, p1, b2)
    local b3 = map(function (b, g) return mu * b + (1 - damp) * g end, b2, G3)
    local p3 = map(function (p, b) return p - lr * b end, p2, b3)
    assert_list(after[1], p1, TOL, "step 1")
    assert_list(after[2], p2, TOL, "step 2")
    assert_list(after[3], p3, TOL, "step 3")
    assert_list(opt.state[1].momentum_buffer:totable(), b3, TOL, "buffer")
    -- a buffer started at 0 (b_1 = (1 - dampening) g_1) would be caught:
    local p1_zero = map(function (p, g) return p - lr * (1 - damp) * g end, P0, G1)
    assert.is_true(differs(after[1], p1_zero, 1e-3))
  end)

  it("with Nesterov momentum and coupled weight decay", function()
    local lr, mu, wd = 0.1, 0.9, 0.05
    local after = run(nn.optim.SGD{ lr = lr, momentum = mu, nesterov = true, weight_decay = wd },
                      P0, { G1, G2, G3 })
    -- d = g + wd p;  b = mu b + d (b_1 = d_1);  p -= lr (d + mu b)
    local p, b = P0, nil
    for t, g in ipairs{ G1, G2, G3 } do
      local d = map(function (pi, gi) return gi + wd * pi end, p, g)
      b = b and map(function (bi, di) return mu * bi + di end, b, d) or d
      p = map(function (pi, di, bi) return pi - lr * (di + mu * bi) end, p, d, b)
      assert_list(after[t], p, TOL, "step " .. t)
    end
  end)

  it("agrees with PyTorch 1.13 over 5 steps (momentum 0.9, nesterov, weight_decay 0.05)", function()
    -- torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05,
    -- foreach=False), float32, the five gradients below; printed with %.9g
    local after = run(nn.optim.SGD{ lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.05 },
                      P0, { G1, G2, G3, { 0.1, 0.2, 0.3 }, { 1, -1, 2 } })
    assert_list(after[5], { 0.629034817, -1.49508572, 0.806703091 }, TOL, "step 5")
  end)

  it("keeps no state without momentum", function()
    local opt = nn.optim.SGD{ lr = 0.1 }
    run(opt, P0, { G1 })
    assert.are.same({}, opt.state[1])
    assert.are.same({}, opt:state_dict().tensors)
  end)
end)

describe("nn.optim.Adagrad", function()
  it("divides by the root of the summed squared gradients", function()
    local lr, eps = 0.1, 1e-10
    local after = run(nn.optim.Adagrad{ lr = lr }, P0, { G1, G2 })
    -- s = sum of g^2;  p -= lr g / (sqrt(s) + eps)
    local s1 = map(function (g) return g * g end, G1)
    local p1 = map(function (p, g, s) return p - lr * g / (math.sqrt(s) + eps) end, P0, G1, s1)
    local s2 = map(function (s, g) return s + g * g end, s1, G2)
    local p2 = map(function (p, g, s) return p - lr * g / (math.sqrt(s) + eps) end, p1, G2, s2)
    assert_list(after[1], p1, TOL, "step 1")
    assert_list(after[2], p2, TOL, "step 2")
    -- the first step is lr in size, whatever |g|
    assert_list(after[1], map(function (p, g) return p - lr * sign(g) end, P0, G1), TOL, "size")
  end)

  it("with lr_decay, initial_accumulator_value and weight decay", function()
    local lr, lrd, init, wd, eps = 0.1, 0.5, 0.2, 0.1, 1e-10
    local opt = nn.optim.Adagrad{ lr = lr, lr_decay = lrd, initial_accumulator_value = init,
                                  weight_decay = wd }
    local after = run(opt, P0, { G1, G2 })
    local p, s = P0, { init, init, init }
    for t, g in ipairs{ G1, G2 } do
      local d = map(function (pi, gi) return gi + wd * pi end, p, g)      -- g + wd p
      s = map(function (si, di) return si + di * di end, s, d)
      local clr = lr / (1 + (t - 1) * lrd)                                  -- lr / (1 + (t-1) lr_decay)
      p = map(function (pi, di, si) return pi - clr * di / (math.sqrt(si) + eps) end, p, d, s)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    assert_list(opt.state[1].sum:totable(), s, TOL, "sum")
  end)

  it("agrees with PyTorch 1.13 over 5 steps", function()
    -- torch.optim.Adagrad(lr=0.1, lr_decay=0.5, weight_decay=0.1,
    -- initial_accumulator_value=0.2), float32, %.9g
    local after = run(nn.optim.Adagrad{ lr = 0.1, lr_decay = 0.5, weight_decay = 0.1,
                                        initial_accumulator_value = 0.2 },
                      P0, { G1, G2, G3, { 0.1, 0.2, 0.3 }, { 1, -1, 2 } })
    assert_list(after[5], { 0.892472386, -1.98203325, 0.591302037 }, TOL, "step 5")
  end)
end)

describe("nn.optim.RMSprop", function()
  it("divides by the root of the moving mean square (no bias correction)", function()
    local lr, alpha, eps = 0.01, 0.99, 1e-8
    local after = run(nn.optim.RMSprop{ lr = lr }, P0, { G1, G2 })
    -- v = alpha v + (1 - alpha) g^2 (v_0 = 0);  p -= lr g / (sqrt(v) + eps)
    local v1 = map(function (g) return (1 - alpha) * g * g end, G1)
    local p1 = map(function (p, g, v) return p - lr * g / (math.sqrt(v) + eps) end, P0, G1, v1)
    local v2 = map(function (v, g) return alpha * v + (1 - alpha) * g * g end, v1, G2)
    local p2 = map(function (p, g, v) return p - lr * g / (math.sqrt(v) + eps) end, p1, G2, v2)
    assert_list(after[1], p1, TOL, "step 1")
    assert_list(after[2], p2, TOL, "step 2")
    -- v_1 = 0.01 g^2, so the first step is 10 lr in size
    assert_list(after[1], map(function (p, g) return p - 10 * lr * sign(g) end, P0, G1), 1e-6, "size")
  end)

  it("with momentum: the buffer accumulates g / (sqrt(v) + eps), from 0", function()
    local lr, alpha, eps, mu = 0.01, 0.99, 1e-8, 0.9
    local opt = nn.optim.RMSprop{ lr = lr, momentum = mu }
    local after = run(opt, P0, { G1, G2, G3 })
    local p, v, b = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2, G3 } do
      v = map(function (vi, gi) return alpha * vi + (1 - alpha) * gi * gi end, v, g)
      b = map(function (bi, gi, vi) return mu * bi + gi / (math.sqrt(vi) + eps) end, b, g, v)
      p = map(function (pi, bi) return pi - lr * bi end, p, b)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    assert_list(opt.state[1].momentum_buffer:totable(), b, TOL, "buffer")
  end)

  it("centered: divides by sqrt(v - m^2), m the moving mean of g; with weight decay", function()
    local lr, alpha, eps, wd = 0.01, 0.9, 1e-8, 0.1
    local opt = nn.optim.RMSprop{ lr = lr, alpha = alpha, centered = true, weight_decay = wd }
    local after = run(opt, P0, { G1, G2, G3 })
    local p, v, m = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2, G3 } do
      local d = map(function (pi, gi) return gi + wd * pi end, p, g)
      v = map(function (vi, di) return alpha * vi + (1 - alpha) * di * di end, v, d)
      m = map(function (mi, di) return alpha * mi + (1 - alpha) * di end, m, d)
      p = map(function (pi, di, vi, mi) return pi - lr * di / (math.sqrt(vi - mi * mi) + eps) end,
              p, d, v, m)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    assert_list(opt.state[1].grad_avg:totable(), m, TOL, "grad_avg")
    -- uncentered, the first step would be 1/sqrt(0.1) = 3.2 lr, not 1/0.3 = 3.3 lr
    local plain = run(nn.optim.RMSprop{ lr = lr, alpha = alpha, weight_decay = wd }, P0, { G1 })
    assert.is_true(differs(after[1], plain[1], 1e-3))
  end)

  it("agrees with PyTorch 1.13 over 5 steps (centered, momentum, weight decay)", function()
    -- torch.optim.RMSprop(lr=0.01, alpha=0.9, centered=True, momentum=0.5,
    -- weight_decay=0.1), float32, %.9g
    local after = run(nn.optim.RMSprop{ lr = 0.01, alpha = 0.9, centered = true, momentum = 0.5,
                                        weight_decay = 0.1 },
                      P0, { G1, G2, G3, { 0.1, 0.2, 0.3 }, { 1, -1, 2 } })
    assert_list(after[5], { 0.904472232, -1.99306512, 0.561711729 }, TOL, "step 5")
  end)
end)

-- Adam as Kingma & Ba's Algorithm 1 writes it, in doubles, from state (m, v)
-- at step t; returns p, m, v.  eps is added after the corrected root.
local function adam_step (p, m, v, g, t, lr, b1, b2, eps)
  m = map(function (mi, gi) return b1 * mi + (1 - b1) * gi end, m, g)
  v = map(function (vi, gi) return b2 * vi + (1 - b2) * gi * gi end, v, g)
  p = map(function (pi, mi, vi)
    local m_hat, v_hat = mi / (1 - b1 ^ t), vi / (1 - b2 ^ t)
    return pi - lr * m_hat / (math.sqrt(v_hat) + eps)
  end, p, m, v)
  return p, m, v
end

describe("nn.optim.Adam", function()
  it("follows Kingma & Ba's Algorithm 1 for three steps", function()
    local lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    local opt = nn.optim.Adam{ lr = lr }
    local after = run(opt, P0, { G1, G2, G3 })
    local p, m, v = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2, G3 } do
      p, m, v = adam_step(p, m, v, g, t, lr, b1, b2, eps)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    assert_list(opt.state[1].exp_avg:totable(), m, TOL, "exp_avg")
    assert_list(opt.state[1].exp_avg_sq:totable(), v, TOL, "exp_avg_sq")
  end)

  it("corrects the bias of m and v: the first step is lr in size", function()
    -- m_1 / (1 - beta1) = g and v_1 / (1 - beta2) = g^2, so p_1 = p_0 - lr sign(g).
    -- Without the corrections it would be lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr.
    local after = run(nn.optim.Adam{ lr = 0.1 }, P0, { G1 })
    assert_list(after[1], map(function (p, g) return p - 0.1 * sign(g) end, P0, G1), 1e-6, "step 1")
  end)

  it("adds eps after the corrected root, as PyTorch (not Kingma & Ba's eps-hat)", function()
    -- with a large eps the two placements differ visibly
    local lr, b1, b2, eps = 0.1, 0.9, 0.999, 0.5
    local after = run(nn.optim.Adam{ lr = lr, eps = eps }, P0, { G1, G2 })
    local p, m, v = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2 } do
      p, m, v = adam_step(p, m, v, g, t, lr, b1, b2, eps)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    -- Kingma & Ba's "efficient" form: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),
    -- p -= lr_t m / (sqrt(v) + eps)
    local lr1 = lr * math.sqrt(1 - b2) / (1 - b1)
    local eff = map(function (pi, gi)
      return pi - lr1 * (1 - b1) * gi / (math.sqrt((1 - b2) * gi * gi) + eps)
    end, P0, G1)
    assert.is_true(differs(after[1], eff, 1e-3))
  end)

  it("couples weight decay: g + wd p goes through the moments", function()
    local lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.1
    local after = run(nn.optim.Adam{ lr = lr, weight_decay = wd }, P0, { G1, G2, G3 })
    local p, m, v = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2, G3 } do
      local d = map(function (pi, gi) return gi + wd * pi end, p, g)
      p, m, v = adam_step(p, m, v, d, t, lr, b1, b2, eps)
      assert_list(after[t], p, TOL, "step " .. t)
    end
  end)

  it("amsgrad divides by the running max of v", function()
    -- beta2 = 0.5 forgets fast: v falls after a large gradient, its max does not
    local lr, b1, b2, eps = 0.1, 0.9, 0.5, 1e-8
    local big, small = { 4, -4, 4 }, { 0.25, 0.25, -0.25 }
    local opt = nn.optim.Adam{ lr = lr, betas = { b1, b2 }, amsgrad = true }
    local after = run(opt, P0, { big, small, small })
    local p, m, v, vmax = P0, { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ big, small, small } do
      m = map(function (mi, gi) return b1 * mi + (1 - b1) * gi end, m, g)
      v = map(function (vi, gi) return b2 * vi + (1 - b2) * gi * gi end, v, g)
      vmax = map(math.max, vmax, v)
      p = map(function (pi, mi, vi)
        return pi - lr * (mi / (1 - b1 ^ t)) / (math.sqrt(vi / (1 - b2 ^ t)) + eps)
      end, p, m, vmax)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    assert_list(opt.state[1].max_exp_avg_sq:totable(), vmax, TOL, "max_exp_avg_sq")
    local plain = run(nn.optim.Adam{ lr = lr, betas = { b1, b2 } }, P0, { big, small, small })
    assert.is_true(differs(after[3], plain[3], 1e-3))
  end)

  it("takes Keras's beta1 and beta2 for betas", function()
    local a = nn.optim.Adam{ beta1 = 0.8, beta2 = 0.99 }
    assert.are.same({ 0.8, 0.99 }, a.betas)
    assert.are.same({ 0.8, 0.999 }, nn.optim.Adam{ beta1 = 0.8 }.betas)
  end)

  it("agrees with PyTorch 1.13 over 5 steps (amsgrad, weight decay)", function()
    -- torch.optim.Adam(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1,
    -- amsgrad=True), float32, %.9g
    local after = run(nn.optim.Adam{ lr = 0.1, betas = { 0.8, 0.99 }, weight_decay = 0.1,
                                     amsgrad = true },
                      P0, { G1, G2, G3, { 0.1, 0.2, 0.3 }, { 1, -1, 2 } })
    assert_list(after[5], { 0.740332901, -1.9162221, 0.745150566 }, TOL, "step 5")
  end)
end)

describe("nn.optim.AdamW", function()
  it("decouples weight decay: p *= 1 - lr wd, then Adam on g alone", function()
    local lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.5
    local after = run(nn.optim.AdamW{ lr = lr, weight_decay = wd }, P0, { G1, G2, G3 })
    local p, m, v = P0, { 0, 0, 0 }, { 0, 0, 0 }
    for t, g in ipairs{ G1, G2, G3 } do
      p = map(function (pi) return pi * (1 - lr * wd) end, p)
      p, m, v = adam_step(p, m, v, g, t, lr, b1, b2, eps)
      assert_list(after[t], p, TOL, "step " .. t)
    end
    -- Adam with the same weight_decay (coupled) goes elsewhere
    local coupled = run(nn.optim.Adam{ lr = lr, weight_decay = wd }, P0, { G1, G2, G3 })
    assert.is_true(differs(after[3], coupled[3], 1e-3))
  end)

  it("defaults to weight_decay = 0.01", function()
    assert.are.equal(0.01, nn.optim.AdamW().weight_decay)
    local after = run(nn.optim.AdamW(), P0, { G1 })
    local p = map(function (pi) return pi * (1 - 0.001 * 0.01) end, P0)
    p = adam_step(p, { 0, 0, 0 }, { 0, 0, 0 }, G1, 1, 0.001, 0.9, 0.999, 1e-8)
    assert_list(after[1], p, TOL, "step 1")
  end)

  it("agrees with PyTorch 1.13 over 5 steps", function()
    -- torch.optim.AdamW(lr=0.1, weight_decay=0.5), float32, %.9g
    local after = run(nn.optim.AdamW{ lr = 0.1, weight_decay = 0.5 },
                      P0, { G1, G2, G3, { 0.1, 0.2, 0.3 }, { 1, -1, 2 } })
    assert_list(after[5], { 0.580806494, -1.53141749, 0.639617443 }, TOL, "step 5")
  end)
end)

describe("nn.optim: the learning rate", function()
  it("decays as lr / (1 + decay * t), t the steps taken", function()
    local lr, decay = 0.1, 0.5
    local opt = nn.optim.SGD{ lr = lr, decay = decay }
    local p = nn.tensor(P0)
    local want = P0
    for t, g in ipairs{ G1, G2, G3 } do
      local lr_t = lr / (1 + decay * (t - 1))
      H.assert_close(opt:get_lr(), lr_t, 0, "get_lr before step " .. t)
      opt:step({ p }, { nn.tensor(g) })
      want = map(function (pi, gi) return pi - lr_t * gi end, want, g)
      assert_list(p:totable(), want, TOL, "step " .. t)
    end
    assert.are.equal(3, opt.iterations)
    H.assert_close(opt:get_lr(), lr / 2.5, 0, "after 3 steps")
  end)

  it("is opt.lr, writable, read at each step", function()
    local opt = nn.optim.SGD(0.1)           -- a plain number is the lr
    assert.are.equal(0.1, opt.lr)
    local p = nn.tensor(P0)
    opt:step({ p }, { nn.tensor(G1) })
    opt.lr = 0.5
    opt:step({ p }, { nn.tensor(G2) })
    local want = map(function (pi, g1, g2) return pi - 0.1 * g1 - 0.5 * g2 end, P0, G1, G2)
    assert_list(p:totable(), want, TOL, "after lr = 0.5")
  end)

  it("lr = 0 leaves the parameters where they are", function()
    local opt = nn.optim.Adam{ lr = 0 }
    local after = run(opt, P0, { G1, G2 })
    assert.are.same(P0, after[2])
  end)
end)

-- one optimizer of each kind and option set whose state matters
local STATEFUL = {
  { "SGD", { lr = 0.1, momentum = 0.9 }, { "momentum_buffer" } },
  { "SGD", { lr = 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 0.01 }, { "momentum_buffer" } },
  { "Adagrad", { lr = 0.1, initial_accumulator_value = 0.1 }, { "sum" } },
  { "RMSprop", { lr = 0.01, momentum = 0.5, centered = true },
    { "grad_avg", "momentum_buffer", "square_avg" } },
  { "Adam", { lr = 0.01, amsgrad = true }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" } },
  { "AdamW", { lr = 0.01 }, { "exp_avg", "exp_avg_sq" } },
}

local function sorted_keys (t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- a Linear(4, 3) (two parameters) and n random gradient lists for it
local function problem (seed, n)
  nn.manual_seed(seed)
  local layer = nn.Linear(4, 3)
  local grads = {}
  for t = 1, n do grads[t] = { nn.tensor.randn(3, 4), nn.tensor.randn(3) } end
  return layer, grads
end

describe("nn.optim: state", function()
  for _, case in ipairs(STATEFUL) do
    local name, opts, names = case[1], case[2], case[3]
    it(("%s makes its state (%s) on the first step and reuses it"):format(name,
       table.concat(names, ", ")), function()
      local layer, grads = problem(1, 3)
      local params = layer:parameters()
      local opt = nn.optim[name](opts)
      assert.are.same({}, opt.state)
      opt:step(params, grads[1])
      assert.are.equal(2, #opt.state)
      local ptrs = {}
      for i = 1, 2 do
        assert.are.same(names, sorted_keys(opt.state[i]))
        for _, s in ipairs(names) do
          assert.are.same(params[i].shape, opt.state[i][s].shape)
          ptrs[i .. s] = opt.state[i][s]:data_ptr()
        end
      end
      opt:step(params, grads[2])
      opt:step(params, grads[3])
      for i = 1, 2 do
        for _, s in ipairs(names) do
          assert.are.equal(ptrs[i .. s], opt.state[i][s]:data_ptr(), i .. "." .. s .. " moved")
        end
      end
      assert.are.equal(3, opt.iterations)
    end)
  end

  it("steps every parameter of a layer, each with its own state", function()
    local layer, grads = problem(2, 1)
    local params = layer:parameters()
    local w0, b0 = params[1]:clone(), params[2]:clone()
    local opt = nn.optim.SGD{ lr = 0.5 }
    opt:step(layer:parameters())         -- params, grads (and names, ignored)
    -- grad_weight and grad_bias were 0 after construction: nothing moved
    assert.are.same(w0:totable(), params[1]:totable())
    opt:step(params, grads[1])
    H.assert_tensor(params[1], (w0 - grads[1][1] * 0.5):totable(), H.ROUND, "weight")
    H.assert_tensor(params[2], (b0 - grads[1][2] * 0.5):totable(), H.ROUND, "bias")
  end)

  it("reset() drops the state and the iteration count", function()
    local opt = nn.optim.Adam()
    run(opt, P0, { G1, G2 })
    opt:reset()
    assert.are.same({}, opt.state)
    assert.are.equal(0, opt.iterations)
    -- and the next step is a first step again (bias correction from t = 1)
    local after = run(opt, P0, { G1 })
    assert_list(after[1], map(function (p, g) return p - 0.001 * sign(g) end, P0, G1), 1e-6, "step")
  end)
end)

-- a deep copy of a state_dict, as a checkpoint would write and read it
local function copy_state_dict (sd)
  local tensors = {}
  for k, t in pairs(sd.tensors) do tensors[k] = t:clone() end
  return { config = sd.config, iterations = sd.iterations, tensors = tensors }
end

describe("nn.optim: state_dict", function()
  it("holds the config, the iteration count and the live state tensors", function()
    local opt = nn.optim.Adam{ lr = 0.01 }
    local layer, grads = problem(3, 2)
    opt:step(layer:parameters())
    opt:step(layer.weight and layer:parameters(), grads[1])
    local sd = opt:state_dict()
    assert.are.same(opt:config(), sd.config)
    assert.are.equal(2, sd.iterations)
    assert.are.same({ "1.exp_avg", "1.exp_avg_sq", "2.exp_avg", "2.exp_avg_sq" },
                    sorted_keys(sd.tensors))
    assert.are.equal(opt.state[2].exp_avg_sq:data_ptr(), sd.tensors["2.exp_avg_sq"]:data_ptr())
  end)

  for _, case in ipairs(STATEFUL) do
    local name, opts = case[1], case[2]
    it(("%s continues bit for bit after a load"):format(name), function()
      local layer, grads = problem(4, 6)
      local params = layer:parameters()
      local opt = nn.optim[name](opts)
      opt.decay = 0.1                       -- the decay depends on iterations
      for t = 1, 3 do opt:step(params, grads[t]) end
      local saved = copy_state_dict(opt:state_dict())
      local saved_params = { params[1]:clone(), params[2]:clone() }
      for t = 4, 6 do opt:step(params, grads[t]) end
      -- a new optimizer (another lr, to be overwritten) from the checkpoint
      local opts2 = {}
      for k, v in pairs(opts) do opts2[k] = v end
      opts2.lr = 123
      local opt2 = nn.optim[name](opts2)
      opt2:load_state_dict(saved)
      assert.are.equal(3, opt2.iterations)
      assert.are.equal(0.1, opt2.decay)
      for t = 4, 6 do opt2:step(saved_params, grads[t]) end
      for i = 1, 2 do
        assert.are.same(params[i]:totable(), saved_params[i]:totable())   -- exact
      end
      for i = 1, 2 do
        for s, t in pairs(opt.state[i]) do
          assert.are.same(t:totable(), opt2.state[i][s]:totable())
        end
      end
    end)
  end

  it("copies into the state it already has (the memory stays)", function()
    local opt = nn.optim.Adam()
    local p = nn.tensor(P0)
    opt:step({ p }, { nn.tensor(G1) })
    local ptr = opt.state[1].exp_avg:data_ptr()
    local other = nn.optim.Adam()
    run(other, P0, { G2, G3 })
    opt:load_state_dict(other:state_dict())
    assert.are.equal(ptr, opt.state[1].exp_avg:data_ptr())
    assert.are.same(other.state[1].exp_avg:totable(), opt.state[1].exp_avg:totable())
    assert.are.equal(2, opt.iterations)
  end)

  it("of a fresh optimizer loads into a fresh one", function()
    local sd = nn.optim.SGD{ momentum = 0.9 }:state_dict()
    local opt = nn.optim.SGD{ momentum = 0.9 }
    run(opt, P0, { G1 })
    opt:load_state_dict(sd)
    assert.are.equal(0, opt.iterations)
    assert.are.same({}, opt.state)
  end)

  -- what must not change when a load fails
  local function snapshot (opt)
    local s = { lr = opt.lr, iterations = opt.iterations, betas = { opt.betas[1], opt.betas[2] },
                tensors = {} }
    for k, t in pairs(opt:state_dict().tensors) do s.tensors[k] = { t:data_ptr(), t:totable() } end
    return s
  end

  it("load_state_dict raises on what does not fit, and changes nothing", function()
    local opt = nn.optim.Adam{ lr = 0.01 }
    run(opt, P0, { G1, G2 })
    local before = snapshot(opt)
    local good = copy_state_dict(opt:state_dict())
    local function bad (edit)
      local sd = copy_state_dict(good)
      sd.config = {}
      for k, v in pairs(good.config) do sd.config[k] = v end
      sd.config.betas = { 0.5, 0.6 }           -- would show if applied
      edit(sd)
      return sd
    end
    local cases = {
      { 42, "Adam:load_state_dict: expected {config = ..." },
      { {}, "got no config" },
      { nn.optim.SGD():state_dict(), "the state is of an optimizer SGD, not Adam" },
      { bad(function (sd) sd.config.lr = -1 end),
        "Adam:load_state_dict: Adam: lr must be a number >= 0, got -1" },
      { bad(function (sd) sd.config.momentum = 0.9 end), "Adam has no option 'momentum'" },
      { bad(function (sd) sd.iterations = -1 end), "iterations must be an integer >= 0, got -1" },
      { bad(function (sd) sd.iterations = 1.5 end), "iterations must be an integer >= 0, got 1.5" },
      { bad(function (sd) sd.tensors = 5 end), "tensors must be a table" },
      { bad(function (sd) sd.tensors["1.momentum_buffer"] = nn.tensor.zeros(3) end),
        "unknown state '1.momentum_buffer'" },
      { bad(function (sd) sd.tensors["exp_avg"] = nn.tensor.zeros(3) end), "unknown state 'exp_avg'" },
      { bad(function (sd) sd.tensors["1.exp_avg"] = 5 end), "tensors['1.exp_avg'] is a number" },
      { bad(function (sd) sd.tensors["1.exp_avg_sq"] = nil end),
        "the state exp_avg_sq of parameter 1 is missing" },
      { bad(function (sd) sd.tensors["1.exp_avg"] = nn.tensor.zeros(4) end),
        "the state exp_avg of parameter 1 has shape [4], the optimizer's [3]" },
      { bad(function (sd)
          sd.tensors["2.exp_avg"], sd.tensors["2.exp_avg_sq"] = nn.tensor.zeros(2), nn.tensor.zeros(2)
        end), "the state is for 2 parameters, the optimizer's for 1" },
      { bad(function (sd)
          sd.tensors["3.exp_avg"], sd.tensors["3.exp_avg_sq"] = nn.tensor.zeros(2), nn.tensor.zeros(2)
        end), "there is state for parameter 3 but none for 2" },
      { bad(function (sd) sd.tensors = {} end), "2 iterations but no state tensors" },
    }
    for _, case in ipairs(cases) do
      has(function () opt:load_state_dict(case[1]) end, { case[2] })
      assert.are.same(before, snapshot(opt))
    end
    -- and the good one does load
    opt:load_state_dict(good)
    assert.are.same(before.tensors["1.exp_avg"], snapshot(opt).tensors["1.exp_avg"])
  end)
end)

-- true when v is made of numbers, strings, booleans and arrays or string-keyed tables of them
local function json_able (v)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if t ~= "table" or getmetatable(v) ~= nil then return false end
  local n = #v
  for k, x in pairs(v) do
    local array_key = math.type(k) == "integer" and k >= 1 and k <= n
    if not (array_key or (type(k) == "string" and n == 0)) or not json_able(x) then return false end
  end
  return true
end

describe("nn.optim: config", function()
  it("has PyTorch's defaults (and Keras's lr = 0.01 for SGD)", function()
    assert.are.same({ name = "SGD", lr = 0.01, momentum = 0, dampening = 0, nesterov = false,
                      weight_decay = 0, decay = 0 }, nn.optim.SGD():config())
    assert.are.same({ name = "Adagrad", lr = 0.01, lr_decay = 0, eps = 1e-10,
                      initial_accumulator_value = 0, weight_decay = 0, decay = 0 },
                    nn.optim.Adagrad():config())
    assert.are.same({ name = "RMSprop", lr = 0.01, alpha = 0.99, eps = 1e-8, momentum = 0,
                      centered = false, weight_decay = 0, decay = 0 }, nn.optim.RMSprop():config())
    assert.are.same({ name = "Adam", lr = 0.001, betas = { 0.9, 0.999 }, eps = 1e-8,
                      weight_decay = 0, amsgrad = false, decay = 0 }, nn.optim.Adam():config())
    assert.are.same({ name = "AdamW", lr = 0.001, betas = { 0.9, 0.999 }, eps = 1e-8,
                      weight_decay = 0.01, amsgrad = false, decay = 0 }, nn.optim.AdamW():config())
  end)

  it("round-trips through from_config, for every optimizer", function()
    for _, case in ipairs(STATEFUL) do
      local opt = nn.optim[case[1]](case[2])
      local cfg = opt:config()
      assert.is_true(json_able(cfg), case[1])
      local again = nn.optim.from_config(cfg)
      assert.are.same(cfg, again:config())
      assert.are.equal(tostring(opt), tostring(again))
      assert.are.same({}, again.state)
    end
  end)

  it("is a copy: changing it does not change the optimizer", function()
    local opt = nn.optim.Adam()
    local cfg = opt:config()
    cfg.betas[1] = 0.5
    cfg.lr = 1
    assert.are.same({ 0.9, 0.999 }, opt.betas)
    assert.are.equal(0.001, opt.lr)
  end)

  it("from_config raises on an unknown name", function()
    has(function () nn.optim.from_config{ name = "Adamax" } end,
        { "from_config: unknown optimizer 'Adamax' (known: Adagrad, Adam, AdamW, RMSprop, SGD)" })
    has(function () nn.optim.from_config("Adam") end, { "from_config: expected a table, got string" })
    has(function () nn.optim.from_config{ name = "Adam", lr = -2 } end,
        { "Adam: lr must be a number >= 0, got -2" })
  end)

  it("prints as Name{option=value, ...}", function()
    assert.are.equal("Adam{lr=0.001, betas={0.9, 0.999}, eps=1e-08, weight_decay=0}",
                     tostring(nn.optim.Adam()))
    assert.are.equal("AdamW{lr=0.001, betas={0.9, 0.999}, eps=1e-08, weight_decay=0.01, amsgrad=true}",
                     tostring(nn.optim.AdamW{ amsgrad = true }))
    assert.are.equal("SGD{lr=0.1, momentum=0.9, dampening=0, nesterov=true, weight_decay=0}",
                     tostring(nn.optim.SGD{ lr = 0.1, momentum = 0.9, nesterov = true }))
    assert.are.equal("Adagrad{lr=0.01, lr_decay=0, eps=1e-10, initial_accumulator_value=0, "
                     .. "weight_decay=0, decay=0.5}", tostring(nn.optim.Adagrad{ decay = 0.5 }))
    assert.are.equal("RMSprop{lr=0.01, alpha=0.99, eps=1e-08, momentum=0, centered=false, "
                     .. "weight_decay=0}", nn.repr(nn.optim.RMSprop()))
  end)
end)

describe("nn.optim: errors", function()
  it("names an unknown option and lists the known ones", function()
    has(function () nn.optim.Adam{ lrr = 0.1 } end,
        { "Adam has no option 'lrr' (options: lr, betas, eps, weight_decay, amsgrad, decay, "
          .. "beta1, beta2)" })
    has(function () nn.optim.SGD{ beta1 = 0.9 } end,
        { "SGD has no option 'beta1' (options: lr, momentum, dampening, nesterov, "
          .. "weight_decay, decay)" })
    has(function () nn.optim.RMSprop{ 0.1 } end, { "RMSprop has no option '1'" })
    has(function () nn.optim.Adagrad("fast") end,
        { "Adagrad: expected a table of options or a learning rate, got string" })
  end)

  it("rejects values out of range, naming the optimizer, the option and the value", function()
    local cases = {
      { "Adam", { lr = -1 }, "Adam: lr must be a number >= 0, got -1" },
      { "SGD", { lr = 0 / 0 }, "SGD: lr must be a number >= 0, got" },
      { "Adam", { betas = { 1, 0.999 } }, "Adam: betas[1] must be a number in [0, 1), got 1" },
      { "AdamW", { beta2 = -0.1 }, "AdamW: betas[2] must be a number in [0, 1), got -0.1" },
      { "Adam", { eps = 0 }, "Adam: eps must be a number > 0, got 0" },
      { "Adam", { weight_decay = -0.01 }, "Adam: weight_decay must be a number >= 0, got -0.01" },
      { "SGD", { momentum = -0.5 }, "SGD: momentum must be a number >= 0, got -0.5" },
      { "SGD", { dampening = 2 }, "SGD: dampening must be a number in [0, 1], got 2" },
      { "SGD", { nesterov = true }, "SGD: nesterov needs momentum > 0 and dampening = 0" },
      { "SGD", { nesterov = true, momentum = 0.9, dampening = 0.1 },
        "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0.9, dampening 0.1" },
      { "RMSprop", { alpha = 1 }, "RMSprop: alpha must be a number in [0, 1), got 1" },
      { "RMSprop", { momentum = -1 }, "RMSprop: momentum must be a number >= 0, got -1" },
      { "RMSprop", { eps = -1e-8 }, "RMSprop: eps must be a number > 0" },
      { "Adagrad", { lr_decay = -1 }, "Adagrad: lr_decay must be a number >= 0, got -1" },
      { "Adagrad", { initial_accumulator_value = -1 },
        "Adagrad: initial_accumulator_value must be a number >= 0, got -1" },
      { "Adagrad", { eps = 0 }, "Adagrad: eps must be a number > 0, got 0" },
      { "SGD", { decay = -1 }, "SGD: decay must be a number >= 0, got -1" },
      { "SGD", { decay = "x" }, "SGD: decay must be a number >= 0, got 'x'" },
      { "SGD", { lr = "fast" }, "SGD: lr must be a number, got string" },
      { "SGD", { nesterov = 1 }, "SGD: nesterov must be a boolean, got number" },
      { "RMSprop", { centered = "yes" }, "RMSprop: centered must be a boolean, got string" },
      { "Adam", { amsgrad = 0 }, "Adam: amsgrad must be a boolean, got number" },
      { "Adam", { betas = { 0.9 } }, "Adam: betas must be a table of two numbers, got #betas = 1" },
      { "Adam", { betas = 0.9 }, "Adam: betas must be a table of two numbers, got number" },
      { "Adam", { betas = { 0.9, "x" } }, "Adam: betas must be a table of two numbers" },
      { "Adam", { betas = { 0.9, 0.99 }, beta1 = 0.8 },
        "Adam: give betas or beta1 and beta2, not both" },
    }
    for _, case in ipairs(cases) do
      has(function () nn.optim[case[1]](case[2]) end, { case[3] })
    end
  end)

  it("raises at the caller's line", function()
    local msg = H.error_of(function () nn.optim.Adam{ lr = -1 } end)
    assert.truthy(msg:find("optim_spec.lua:%d+: Adam: lr"), msg)
    local opt = nn.optim.SGD()
    msg = H.error_of(function () opt:step({ nn.tensor(P0) }, {}) end)
    assert.truthy(msg:find("optim_spec.lua:%d+: SGD:step"), msg)
  end)

  it("step names the index and the shapes, and changes nothing", function()
    local opt = nn.optim.Adam()
    local a, b = nn.tensor.zeros(4, 3), nn.tensor.zeros(3)
    local ga, gb = nn.tensor.ones(4, 3), nn.tensor.ones(3)
    has(function () opt:step({ a, b }, { ga, nn.tensor.ones(3, 4) }) end,
        { "Adam:step: grads[2] has shape [3x4] but params[2] has [3]" })
    has(function () opt:step({ a, b }, { ga }) end, { "Adam:step: 2 params but 1 grads" })
    has(function () opt:step(nil, { ga }) end,
        { "Adam:step: params must be a list of tensors, got nil" })
    has(function () opt:step({ a }, 5) end,
        { "Adam:step: grads must be a list of tensors, got number" })
    has(function () opt:step({ a, "b" }, { ga, gb }) end,
        { "Adam:step: params[2] is a string, not a tensor" })
    has(function () opt:step({ a, b }, { ga, {} }) end,
        { "Adam:step: grads[2] is a table, not a tensor" })
    -- the first index was fine, but nothing was written, and no state was made
    assert.are.equal(0, a:abs():sum())
    assert.are.same({}, opt.state)
    assert.are.equal(0, opt.iterations)
  end)

  it("step raises when the parameters are not those of the first step", function()
    local opt = nn.optim.SGD{ momentum = 0.9 }
    local a, b = nn.tensor.zeros(4, 3), nn.tensor.zeros(3)
    opt:step({ a, b }, { nn.tensor.ones(4, 3), nn.tensor.ones(3) })
    local a1 = a:totable()
    has(function () opt:step({ a }, { nn.tensor.ones(4, 3) }) end,
        { "SGD:step: 1 params, but the optimizer has state for 2", "opt:reset() starts over" })
    has(function () opt:step({ b, a }, { nn.tensor.ones(3), nn.tensor.ones(4, 3) }) end,
        { "SGD:step: params[1] has shape [3] but its state momentum_buffer has [4x3]" })
    assert.are.same(a1, a:totable())
    assert.are.equal(1, opt.iterations)
    opt:reset()
    opt:step({ b }, { nn.tensor.ones(3) })        -- after reset, anything goes
  end)

  it("step raises on a hyper-parameter set out of range, and on a bad state", function()
    local opt = nn.optim.Adam()
    local p = nn.tensor(P0)
    opt:step({ p }, { nn.tensor(G1) })
    local p1 = p:totable()
    opt.lr = -1
    local function step () opt:step({ p }, { nn.tensor(G1) }) end
    has(step, { "Adam: lr must be a number >= 0, got -1" })
    opt.lr = 0.001
    opt.betas = { 0.9, 1.5 }
    has(step, { "Adam: betas[2] must be a number in [0, 1)" })
    opt.betas = { 0.9, 0.999 }
    opt.lr = "x"
    has(function () opt:get_lr() end, { "Adam: lr must be a number, got string" })
    has(step, { "Adam: lr must be a number, got string" })
    opt.lr = 0.001
    opt.decay = -1
    has(step, { "Adam: decay must be a number >= 0, got -1" })
    opt.decay = 0
    local m = opt.state[1].exp_avg
    opt.state[1].exp_avg = 7
    has(step, { "Adam:step: the state exp_avg of params[1] is a number, not a tensor" })
    opt.state[1].exp_avg = m
    assert.are.same(p1, p:totable())
    assert.are.equal(1, opt.iterations)
  end)

  it("an unknown field cannot be set (a typo would go unseen)", function()
    local opt = nn.optim.Adam()
    has(function () opt.learning_rate = 0.1 end,
        { "Adam has no field 'learning_rate' (fields: lr, betas, eps, weight_decay, amsgrad, "
          .. "decay, iterations, state)" })
    opt.amsgrad = true                  -- a known one can
    assert.is_true(opt.amsgrad)
  end)
end)

-- On the CPU a parameter of 65,536 elements or more is updated by the
-- threads of the OpenMP team, each on its own slice (nn/optim.c,
-- PARALLEL_MIN).  The same numbers split into parameters below that size
-- are updated by one thread: the two must agree bit for bit, for every
-- update, so that no element is skipped, done twice or done otherwise.
describe("nn.optim: a large parameter updated in slices", function()
  local N, PIECE = 200003, 50001         -- odd sizes: slices that are not multiples of 16
  local cases = {
    { "SGD", { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01 } },
    { "SGD", { lr = 0.1 } },
    { "Adagrad", { lr = 0.1, weight_decay = 0.01 } },
    { "RMSprop", { lr = 0.01, momentum = 0.9, centered = true } },
    { "Adam", { lr = 0.01, amsgrad = true } },
    { "AdamW", { lr = 0.01, weight_decay = 0.1 } },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " " .. nn.json.encode(c[2]), function()
      nn.manual_seed(5)
      local p0, g1, g2 = nn.tensor.randn(N), nn.tensor.randn(N), nn.tensor.randn(N)
      -- whole: one tensor of N elements
      local whole = p0:clone()
      local opt = nn.optim[c[1]](c[2])
      opt:step({ whole }, { g1 })
      opt:step({ whole }, { g2 })
      -- pieces: the same numbers as tensors of at most PIECE elements
      local pieces, grads1, grads2 = {}, {}, {}
      for first = 1, N, PIECE do
        local len = math.min(PIECE, N - first + 1)
        pieces[#pieces + 1] = p0:narrow(1, first, len):clone()
        grads1[#grads1 + 1] = g1:narrow(1, first, len):clone()
        grads2[#grads2 + 1] = g2:narrow(1, first, len):clone()
      end
      local opt2 = nn.optim[c[1]](c[2])
      opt2:step(pieces, grads1)
      opt2:step(pieces, grads2)
      local first = 1
      for i, piece in ipairs(pieces) do
        local want = whole:narrow(1, first, piece:numel())
        assert.is_true((want - piece):abs():max() == 0, ("piece %d differs"):format(i))
        first = first + piece:numel()
      end
    end)
  end
end)

describe("nn.optim on CUDA", function()
  if not nn.cuda.is_available() then
    pending("no CUDA device: CUDA specs skipped")
    return
  end

  -- Tolerance: 1e-6 relative to max(1, |value|), after 5 steps.  Both devices
  -- run the same float32 element function (optim.h) with the same float
  -- scalars, computed once on the host, but nvcc contracts a * b + c into
  -- one fma, rounded once instead of twice: half an ulp (6e-8) now and then,
  -- a few per step, over 5 steps.  A kernel that drops a flag or a state is
  -- off by 1e-3 or more.
  local CUDA_TOL = 1e-6

  -- every kind and flag variant the CPU specs above cover
  local CASES = {
    { "SGD", { lr = 0.1 } },
    { "SGD", { lr = 0.1, momentum = 0.9 } },
    { "SGD", { lr = 0.1, momentum = 0.9, dampening = 0.5 } },
    { "SGD", { lr = 0.1, momentum = 0.9, nesterov = true } },
    { "SGD", { lr = 0.1, weight_decay = 0.05 } },
    { "SGD", { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.05, decay = 0.1 } },
    { "Adagrad", { lr = 0.1 } },
    { "Adagrad", { lr = 0.1, lr_decay = 0.5, initial_accumulator_value = 0.2,
                   weight_decay = 0.1 } },
    { "RMSprop", { lr = 0.01 } },
    { "RMSprop", { lr = 0.01, alpha = 0.9, centered = true } },
    { "RMSprop", { lr = 0.01, momentum = 0.9 } },
    { "RMSprop", { lr = 0.01, alpha = 0.9, centered = true, momentum = 0.5, weight_decay = 0.1 } },
    { "Adam", { lr = 0.1 } },
    { "Adam", { lr = 0.1, eps = 0.5, weight_decay = 0.1 } },
    { "Adam", { lr = 0.1, betas = { 0.8, 0.99 }, weight_decay = 0.1, amsgrad = true } },
    { "AdamW", { lr = 0.1, weight_decay = 0.5 } },
    { "AdamW", { lr = 0.1, betas = { 0.9, 0.5 }, weight_decay = 0.5, amsgrad = true } },
  }

  local function describe_case (name, opts)
    local keys = sorted_keys(opts)
    for i, k in ipairs(keys) do
      local v = opts[k]
      keys[i] = k .. "=" .. (type(v) == "table" and ("{%s, %s}"):format(v[1], v[2]) or tostring(v))
    end
    return name .. "{" .. table.concat(keys, ", ") .. "}"
  end

  -- Two parameters from the seed, (37, 29) (1073 elements: five blocks of
  -- 256 threads, the last one part idle) and (3), and n lists of gradients;
  -- all on the CPU.
  local function seeded (seed, n)
    nn.manual_seed(seed)
    local params = { nn.tensor.randn(37, 29), nn.tensor.randn(3) }
    local grads = {}
    for t = 1, n do grads[t] = { nn.tensor.randn(37, 29), nn.tensor.randn(3) } end
    return params, grads
  end

  local function to_cuda (list)
    local out = {}
    for i, t in ipairs(list) do out[i] = t:cuda() end
    return out
  end

  -- opt_c on the CPU and opt_g on CUDA, each n steps from the same seeded
  -- parameters and gradients; returns both optimizers and both parameter lists
  local function run_both (name, opts, seed, n)
    local pc, grads = seeded(seed, n)
    local pg = to_cuda(pc)
    local opt_c, opt_g = nn.optim[name](opts), nn.optim[name](opts)
    for t = 1, n do
      opt_c:step(pc, grads[t])
      opt_g:step(pg, to_cuda(grads[t]))
    end
    return opt_c, opt_g, pc, pg
  end

  for k, case in ipairs(CASES) do
    local name, opts = case[1], case[2]
    it(("%s matches the CPU after 5 steps: parameters and state"):format(describe_case(name, opts)),
       function()
      local opt_c, opt_g, pc, pg = run_both(name, opts, 70 + k, 5)
      for i = 1, 2 do
        assert.are.equal("cuda", pg[i].device)
        H.assert_tensor(pg[i]:cpu(), pc[i]:totable(), CUDA_TOL, "params[" .. i .. "]")
        assert.are.same(sorted_keys(opt_c.state[i]), sorted_keys(opt_g.state[i]))
        for s, t in pairs(opt_g.state[i]) do
          local what = ("state[%d].%s"):format(i, s)
          assert.are.equal("cuda", t.device, what)
          H.assert_tensor(t:cpu(), opt_c.state[i][s]:totable(), CUDA_TOL, what)
        end
      end
    end)
  end

  it("the comparison can fail: one step more on CUDA is off by more than it allows", function()
    local _, opt_g, pc, pg = run_both("Adam", { lr = 0.01 }, 90, 5)
    local _, grads = seeded(91, 1)
    opt_g:step(pg, to_cuda(grads[1]))
    assert.is_false((pcall(H.assert_tensor, pg[1]:cpu(), pc[1]:totable(), CUDA_TOL)))
  end)

  it("names the devices of a gradient on another device", function()
    local opt = nn.optim.SGD()
    has(function () opt:step({ nn.tensor(P0):cuda() }, { nn.tensor(G1) }) end,
        { "SGD:step: grads[1] is on cpu but params[1] is on cuda" })
  end)
end)

-- --- schedulers ---------------------------------------------------------------

-- lr after construction and after each of n sched:step()s
local function lr_sequence (sched, n)
  local seq = { sched:get_last_lr() }
  for _ = 1, n do seq[#seq + 1] = sched:step() end
  return seq
end

-- The sequences below are PyTorch 1.13's closed forms
-- (scheduler._get_closed_form_lr() after each step, base lr 0.1), printed
-- with %.17g.  The formulas are the same double operations in the same
-- order, through the same libm pow and cos, so they agree to the last bit;
-- 4 ulp of a double leaves room for another libm.
local DTOL = 4 * 2 ^ -52

describe("nn.optim schedulers", function()
  it("StepLR: base_lr * gamma ^ floor(epoch / step_size), as PyTorch", function()
    local opt = nn.optim.SGD{ lr = 0.1 }
    local sched = nn.optim.StepLR(opt, { step_size = 3, gamma = 0.5 })
    local want = { 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125 }
    assert_list(lr_sequence(sched, 9), want, DTOL, "StepLR")
    assert.are.equal(9, sched.last_epoch)
    assert.are.equal(0.0125, opt.lr)
  end)

  it("ExponentialLR: base_lr * gamma ^ epoch, as PyTorch", function()
    local opt = nn.optim.Adam{ lr = 0.1 }
    local sched = nn.optim.ExponentialLR(opt, { gamma = 0.9 })
    local want = { 0.10000000000000001, 0.090000000000000011, 0.081000000000000016,
                   0.072900000000000006, 0.065610000000000002, 0.059049000000000011,
                   0.053144100000000007 }
    assert_list(lr_sequence(sched, 6), want, DTOL, "ExponentialLR")
    assert.are.equal(want[7], opt.lr)
  end)

  it("CosineAnnealingLR: half a cosine from base_lr to eta_min at T_max, as PyTorch", function()
    local opt = nn.optim.SGD{ lr = 0.1 }
    local sched = nn.optim.CosineAnnealingLR(opt, { T_max = 5, eta_min = 0.001 })
    local want = { 0.10000000000000001, 0.090546341221559898, 0.065796341221559904,
                   0.03520365877844011, 0.010453658778440109, 0.001, 0.010453658778440095,
                   0.035203658778440096, 0.06579634122155989, 0.090546341221559898,
                   0.10000000000000001, 0.090546341221559939, 0.065796341221559917 }
    assert_list(lr_sequence(sched, 12), want, DTOL, "CosineAnnealingLR")
    -- the formula itself, at epoch 2
    H.assert_close(want[3], 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 2 / 5)) / 2, DTOL)
  end)

  it("sets the base lr, under the optimizer's own decay", function()
    local opt = nn.optim.SGD{ lr = 1, decay = 1 }
    local sched = nn.optim.StepLR(opt, { step_size = 1, gamma = 0.5 })
    local p = nn.tensor(P0)
    opt:step({ p }, { nn.tensor(G1) })
    sched:step()
    assert.are.equal(0.5, opt.lr)
    assert.are.equal(0.25, opt:get_lr())      -- 0.5 / (1 + 1 * 1)
  end)

  it("continues from a state_dict; config and tostring round-trip", function()
    local opt = nn.optim.SGD{ lr = 0.1 }
    local sched = nn.optim.CosineAnnealingLR(opt, { T_max = 10 })
    for _ = 1, 4 do sched:step() end
    local sd = sched:state_dict()
    assert.is_true(json_able(sd))
    assert.are.same({ name = "CosineAnnealingLR", T_max = 10, eta_min = 0 }, sd.config)
    local rest = lr_sequence(sched, 3)
    local opt2 = nn.optim.SGD{ lr = 0.1 }
    local sched2 = nn.optim.scheduler_from_config(opt2, sd.config)
    sched2:load_state_dict(sd)
    assert.are.equal(4, sched2.last_epoch)
    assert.are.same(rest, lr_sequence(sched2, 3))     -- exact
    assert.are.equal("CosineAnnealingLR{T_max=10, eta_min=0}", tostring(sched2))
    assert.are.equal("StepLR{step_size=30, gamma=0.1}",
                     tostring(nn.optim.StepLR(opt, { step_size = 30 })))
  end)

  it("raises on bad options, naming the scheduler", function()
    local opt = nn.optim.SGD()
    local cases = {
      { "StepLR", { gamma = 0.5 }, "StepLR: option step_size is required" },
      { "StepLR", { step_size = 0 }, "StepLR: step_size must be a positive integer, got 0" },
      { "StepLR", { step_size = 1.5 }, "StepLR: step_size must be a positive integer, got 1.5" },
      { "StepLR", { step_size = 2, gamma = 0 }, "StepLR: gamma must be a number > 0, got 0" },
      { "StepLR", { step_size = 2, gama = 0.1 },
        "StepLR has no option 'gama' (options: step_size, gamma)" },
      { "ExponentialLR", {}, "ExponentialLR: option gamma is required" },
      { "ExponentialLR", nil, "ExponentialLR: expected a table of options {gamma = ...}, got nil" },
      { "CosineAnnealingLR", { T_max = -1 },
        "CosineAnnealingLR: T_max must be a positive integer, got -1" },
      { "CosineAnnealingLR", { T_max = 5, eta_min = -1 },
        "CosineAnnealingLR: eta_min must be a number >= 0, got -1" },
    }
    for _, case in ipairs(cases) do
      has(function () nn.optim[case[1]](opt, case[2]) end, { case[3] })
    end
    has(function () nn.optim.StepLR({ lr = 0.1 }, { step_size = 1 }) end,
        { "StepLR: expected an optimizer as argument 1, got table" })
    has(function () nn.optim.scheduler_from_config(opt, { name = "OneCycleLR" }) end,
        { "unknown scheduler 'OneCycleLR' (known: CosineAnnealingLR, ExponentialLR, StepLR)" })
    assert.are.equal(0.01, opt.lr)
  end)

  it("load_state_dict raises on what does not fit, and changes nothing", function()
    local opt = nn.optim.SGD()
    local sched = nn.optim.StepLR(opt, { step_size = 2 })
    sched:step()
    local before = sched:state_dict()
    local function edited (k, v)
      local sd = sched:state_dict()
      sd[k] = v
      return sd
    end
    local cases = {
      { 5, "StepLR:load_state_dict: expected {config = ..." },
      { nn.optim.ExponentialLR(nn.optim.SGD(), { gamma = 0.5 }):state_dict(),
        "the state is of a scheduler ExponentialLR, not StepLR" },
      { edited("config", { name = "StepLR", step_size = 0 }),
        "StepLR:load_state_dict: StepLR: step_size must be a positive integer, got 0" },
      { edited("last_epoch", -2), "last_epoch must be an integer >= 0, got -2" },
      { edited("base_lr", "x"), "base_lr must be a number >= 0, got x" },
      { edited("last_lr", nil), "last_lr must be a number >= 0, got nil" },
    }
    for _, case in ipairs(cases) do
      has(function () sched:load_state_dict(case[1]) end, { case[2] })
      assert.are.same(before, sched:state_dict())
    end
  end)
end)
