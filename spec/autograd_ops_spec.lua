--- spec/autograd_ops_spec.lua -- every recorded op's derivative against
-- central differences (nn.gradcheck on a function of tensors), table-driven
-- over the op list: odd shapes, broadcasting, numbers on either side, the
-- nn.F pairs; and the check failing on a deliberately wrong derivative.
local nn = require "nn"
local H = require "spec.helpers"

-- inputs: randn (rn), randn kept 0.1 away from 0 (away: abs, relu, sign
-- kinks), positive in [0.5, 1.5] (pos: log, sqrt, pow, prod), all
-- requiring grad unless `const`
local function rn(...) return nn.tensor.randn(...):requires_grad_() end
local function away(...) return H.randn_away(0.1, ...):requires_grad_() end
local function pos(...) return (nn.tensor.rand(...) + 0.5):requires_grad_() end
local function const(t) return t:detach() end
local function idx(t) return nn.tensor(t):int() end

-- name, function, inputs: each case is checked by nn.gradcheck
local cases = {
  -- arithmetic, broadcasting, numbers on either side
  { "add (3x4)+(4)", function (a, b) return a + b end, function () return { rn(3, 4), rn(4) } end },
  { "add (3x1)+(1x4)", function (a, b) return a:add(b) end, function () return { rn(3, 1), rn(1, 4) } end },
  { "sub (2x3)-(2x1)", function (a, b) return a - b end, function () return { rn(2, 3), rn(2, 1) } end },
  { "sub number - t", function (a) return 2 - a end, function () return { rn(2, 3) } end },
  { "nn.sub(2, t)", function (a) return nn.sub(2, a) end, function () return { rn(3) } end },
  { "mul (2x3)*(3)", function (a, b) return a * b end, function () return { rn(2, 3), rn(3) } end },
  { "mul t * number", function (a) return a * 3 end, function () return { rn(2, 2) } end },
  { "mul by a constant", function (a, b) return a * b end, function () return { rn(2, 3), const(nn.tensor.randn(2, 3)) } end },
  { "div (2x3)/(3)", function (a, b) return a / b end, function () return { rn(2, 3), pos(3) } end },
  { "div number / t", function (a) return 2 / a end, function () return { pos(2, 3) } end },
  { "neg", function (a) return -a end, function () return { rn(5) } end },
  { "neg method", function (a) return a:neg() end, function () return { rn(2, 3) } end },
  { "pow t ^ 2.5", function (a) return a ^ 2.5 end, function () return { pos(2, 3) } end },
  { "pow t ^ t", function (a, b) return a:pow(b) end, function () return { pos(2, 3), rn(3) } end },
  { "pow 2 ^ t", function (a) return 2 ^ a end, function () return { rn(4) } end },
  { "maximum", function (a, b) return nn.maximum(a, b) end, function () return { rn(3, 4), rn(4) } end },
  { "minimum", function (a, b) return a:minimum(b) end, function () return { rn(3, 4), rn(3, 1) } end },
  { "maximum with a number", function (a) return a:maximum(0.2) end, function () return { away(5) } end },
  -- element-wise functions
  { "exp", function (a) return a:exp() end, function () return { rn(2, 3) } end },
  { "log", function (a) return a:log() end, function () return { pos(2, 3) } end },
  { "sqrt", function (a) return a:sqrt() end, function () return { pos(7) } end },
  { "rsqrt", function (a) return a:rsqrt() end, function () return { pos(7) } end },
  { "abs", function (a) return a:abs() end, function () return { away(2, 3) } end },
  { "sin", function (a) return a:sin() end, function () return { rn(2, 3) } end },
  { "cos", function (a) return a:cos() end, function () return { rn(2, 3) } end },
  { "erf", function (a) return a:erf() end, function () return { rn(2, 3) } end },
  { "relu", function (a) return a:relu() end, function () return { away(3, 4) } end },
  { "sigmoid", function (a) return a:sigmoid() end, function () return { rn(3, 4) } end },
  { "tanh", function (a) return a:tanh() end, function () return { rn(3, 4) } end },
  { "clamp", function (a) return a:clamp(-0.5, 0.5) end,
    function () return { const(nn.tensor{ -1.2, -0.3, 0.1, 0.4, 0.9 }):requires_grad_() } end },
  -- reductions
  { "sum", function (a) return a:sum() end, function () return { rn(2, 3) } end },
  { "sum(2)", function (a) return a:sum(2) end, function () return { rn(2, 3, 2) } end },
  { "sum(-1, keepdim)", function (a) return a:sum(-1, true) end, function () return { rn(2, 3) } end },
  { "mean", function (a) return a:mean() end, function () return { rn(3, 5) } end },
  { "mean(1)", function (a) return a:mean(1) end, function () return { rn(3, 5) } end },
  { "max", function (a) return a:max() end, function () return { rn(2, 3) } end },
  { "max(2)", function (a) return (a:max(2)) end, function () return { rn(3, 4) } end },
  { "min(1, keepdim)", function (a) return (a:min(1, true)) end, function () return { rn(3, 4) } end },
  { "var", function (a) return a:var() end, function () return { rn(2, 3) } end },
  { "std", function (a) return a:std() end, function () return { rn(2, 3) } end },
  { "norm", function (a) return a:norm() end, function () return { rn(2, 3) } end },
  { "norm(1, 2)", function (a) return a:norm(1, 2) end, function () return { away(2, 3) } end },
  { "norm(3, 1, keepdim)", function (a) return a:norm(3, 1, true) end, function () return { away(2, 3) } end },
  { "norm(inf)", function (a) return a:norm(math.huge) end,
    function () return { const(nn.tensor{ { 0.5, -2 }, { 1, 0.2 } }):requires_grad_() } end },
  { "prod", function (a) return a:prod() end, function () return { pos(2, 3) } end },
  { "prod(2)", function (a) return a:prod(2) end, function () return { pos(2, 3) } end },
  { "logsumexp(2)", function (a) return a:logsumexp(2) end, function () return { rn(3, 4) } end },
  { "logsumexp(1, keepdim)", function (a) return a:logsumexp(1, true) end, function () return { rn(3, 4) } end },
  { "softmax(2) (the pair)", function (a) return a:softmax(2) end, function () return { rn(3, 4) } end },
  { "softmax(1) (the formula)", function (a) return a:softmax(1) end, function () return { rn(3, 4) } end },
  { "log_softmax(-1)", function (a) return a:log_softmax(-1) end, function () return { rn(2, 3, 4) } end },
  { "log_softmax(2) of 3 dims", function (a) return a:log_softmax(2) end, function () return { rn(2, 3, 4) } end },
  { "cumsum(2)", function (a) return a:cumsum(2) end, function () return { rn(2, 5) } end },
  -- matrix products
  { "matmul", function (a, b) return a:matmul(b) end, function () return { rn(3, 4), rn(4, 2) } end },
  { "matmul trans_a", function (a, b) return a:matmul(b, true) end, function () return { rn(4, 3), rn(4, 2) } end },
  { "matmul trans_b", function (a, b) return a:matmul(b, false, true) end, function () return { rn(3, 4), rn(2, 4) } end },
  { "matmul both", function (a, b) return nn.matmul(a, b, true, true) end, function () return { rn(4, 3), rn(2, 4) } end },
  { "matmul (K)@(K,N)", function (a, b) return a:matmul(b) end, function () return { rn(4), rn(4, 3) } end },
  { "matmul (M,K)@(K)", function (a, b) return a:matmul(b) end, function () return { rn(2, 4), rn(4) } end },
  { "matmul (K)@(K)", function (a, b) return a:matmul(b) end, function () return { rn(4), rn(4) } end },
  { "matmul batch broadcast", function (a, b) return a:matmul(b) end, function () return { rn(2, 3, 4), rn(4, 2) } end },
  { "bmm", function (a, b) return a:bmm(b) end, function () return { rn(2, 3, 4), rn(2, 4, 2) } end },
  { "outer", function (a, b) return a:outer(b) end, function () return { rn(3), rn(4) } end },
  -- shapes
  { "t", function (a) return a:t() end, function () return { rn(2, 3) } end },
  { "transpose", function (a) return a:transpose(1, 3) end, function () return { rn(2, 3, 2) } end },
  { "permute", function (a) return a:permute(3, 1, 2) end, function () return { rn(2, 3, 4) } end },
  { "view", function (a) return a:view(3, 2) end, function () return { rn(2, 3) } end },
  { "reshape", function (a) return a:reshape{ 6 } end, function () return { rn(2, 3) } end },
  { "flatten", function (a) return a:flatten(2) end, function () return { rn(2, 3, 2) } end },
  { "squeeze", function (a) return a:squeeze() end, function () return { rn(2, 1, 3) } end },
  { "unsqueeze", function (a) return a:unsqueeze(2) end, function () return { rn(2, 3) } end },
  { "expand", function (a) return a:expand(2, 3, 4) end, function () return { rn(3, 1) } end },
  { "broadcast_to", function (a) return a:broadcast_to{ 3, 4 } end, function () return { rn(4) } end },
  { "sum_to_size", function (a) return a:sum_to_size(3) end, function () return { rn(2, 3) } end },
  { "clone", function (a) return a:clone() end, function () return { rn(2, 3) } end },
  { "narrow(1)", function (a) return a:narrow(1, 2, 2) end, function () return { rn(4, 3) } end },
  { "narrow(2)", function (a) return a:narrow(2, 2, 1) end, function () return { rn(2, 3) } end },
  { "slice", function (a) return a:slice(2, -2) end, function () return { rn(5, 2) } end },
  { "select(2, -1)", function (a) return a:select(2, -1) end, function () return { rn(2, 3) } end },
  { "index_select(idx)", function (a) return a:index_select(idx{ 3, 1, 3 }) end, function () return { rn(3, 2) } end },
  { "index_select(2, idx)", function (a) return a:index_select(2, idx{ 2, 2 }) end, function () return { rn(3, 2) } end },
  { "gather", function (a) return a:gather(2, idx{ { 1, 3 }, { 2, 2 } }) end, function () return { rn(2, 3) } end },
  { "scatter_add", function (a, b) return a:scatter_add(2, idx{ { 1 }, { 3 } }, b) end,
    function () return { rn(2, 3), rn(2, 1) } end },
  { "index_add", function (a, b) return a:index_add(1, idx{ 2, 2 }, b) end,
    function () return { rn(3, 2), rn(2, 2) } end },
  { "cat", function (a, b) return nn.cat({ a, b }, 2) end, function () return { rn(2, 3), rn(2, 1) } end },
  { "stack", function (a, b) return nn.stack({ a, b }, 2) end, function () return { rn(2, 3), rn(2, 3) } end },
  { "split", function (a) local p = a:split(2, 2) return p[1] * 2 + p[2]:sum() end,
    function () return { rn(3, 4) } end },
  { "chunk", function (a) local p = a:chunk(3, 1) return nn.cat({ p[3], p[1] }, 1) end,
    function () return { rn(3, 2) } end },
  { "repeat", function (a) return a["repeat"](a, 2, 1, 3) end, function () return { rn(2, 3) } end },
  { "tile", function (a) return a:tile(2) end, function () return { rn(2, 3) } end },
  { "tril", function (a) return a:tril(-1) end, function () return { rn(3, 3) } end },
  { "triu", function (a) return a:triu() end, function () return { rn(2, 3, 3) } end },
  { "where", function (a, b) return nn.where(idx{ { 1, 0, 1 } }, a, b) end,
    function () return { rn(2, 3), rn(3) } end },
  { "x:where(cond, y)", function (a, b) return a:where(nn.tensor{ 0, 1 }, b) end,
    function () return { rn(2), rn(2) } end },
  { "masked_fill", function (a) return a:masked_fill(nn.tensor{ 1, 0, 1 }, 7) end,
    function () return { rn(2, 3) } end },
  { "sort", function (a) return (a:sort(2, true)) end, function () return { rn(2, 4) } end },
  { "topk", function (a) return (a:topk(2, 1)) end, function () return { rn(4, 2) } end },
  { "to cpu (no copy)", function (a) return a:to("cpu") * 2 end, function () return { rn(3) } end },
  -- nn.F: the layers' pairs
  { "F.linear", function (x, w, b) return nn.F.linear(x, w, b) end, function () return { rn(3, 4), rn(2, 4), rn(2) } end },
  { "F.linear relu, no bias", function (x, w) return nn.F.linear(x, w, nil, "relu") end,
    function () return { away(3, 4), rn(2, 4) } end },
  { "F.linear tanh", function (x, w, b) return nn.F.linear(x, w, b, "tanh") end, function () return { rn(3, 4), rn(2, 4), rn(2) } end },
  { "F.activation sigmoid", function (x) return nn.F.activation(x, "sigmoid") end, function () return { rn(2, 3) } end },
  { "F.relu", function (x) return nn.F.relu(x) end, function () return { away(2, 3) } end },
  { "F.tanh", function (x) return nn.F.tanh(x) end, function () return { rn(2, 3) } end },
  { "F.softmax", function (x) return nn.F.softmax(x) end, function () return { rn(2, 3) } end },
  { "F.log_softmax", function (x) return nn.F.log_softmax(x) end, function () return { rn(2, 3) } end },
  { "F.leaky_relu", function (x) return nn.F.leaky_relu(x, 0.2) end, function () return { away(2, 3) } end },
  { "F.dropout", function (x) return (nn.F.dropout(x, 0.5)) end, function () return { rn(3, 4) } end },
  { "F.dropout2d", function (x) return (nn.F.dropout2d(x, 0.5)) end, function () return { rn(2, 3, 2, 2) } end },
  { "F.batch_norm", function (x, w, b)
      return (nn.F.batch_norm(x, nn.tensor.zeros(3), nn.tensor.ones(3), { weight = w, bias = b }))
    end, function () return { rn(4, 3), rn(3), rn(3) } end },
  { "F.add", function (a, b) return nn.F.add(a, b) end, function () return { rn(2, 3), rn(3) } end },
  { "F.concat", function (a, b) return nn.F.concat({ a, b }, 2) end, function () return { rn(2, 3), rn(2, 2) } end },
  { "F.conv2d", function (x, w, b) return nn.F.conv2d(x, w, b, { padding = 1, stride = 2 }) end,
    function () return { rn(1, 2, 4, 4), rn(3, 2, 3, 3), rn(3) } end },
  { "F.max_pool2d", function (x) return (nn.F.max_pool2d(x, 2)) end, function () return { rn(1, 2, 4, 4) } end },
  { "F.avg_pool2d", function (x) return nn.F.avg_pool2d(x, 2, { stride = 1 }) end, function () return { rn(1, 1, 3, 3) } end },
  { "F.adaptive_avg_pool2d", function (x) return nn.F.adaptive_avg_pool2d(x, 2) end, function () return { rn(1, 2, 4, 4) } end },
  -- the losses (targets are data)
  { "F.mse_loss", function (x) return nn.F.mse_loss(x, nn.tensor{ { 1, 2, 3 }, { 0, 0, 1 } }) end,
    function () return { rn(2, 3) } end },
  { "F.l1_loss sum", function (x) return nn.F.l1_loss(x, nn.tensor.zeros(2, 3), "sum") end,
    function () return { away(2, 3) } end },
  { "F.bce_loss", function (p) return nn.F.bce_loss(p, nn.tensor{ 1, 0, 1 }) end,
    function () return { const(nn.tensor{ 0.3, 0.6, 0.8 }):requires_grad_() } end },
  { "F.bce_with_logits_loss", function (x) return nn.F.bce_with_logits_loss(x, nn.tensor{ 1, 0, 1 }) end,
    function () return { rn(3) } end },
  { "F.cross_entropy", function (x) return nn.F.cross_entropy(x, idx{ 2, 1, 3 }) end,
    function () return { rn(3, 3) } end },
  { "F.nll_loss", function (x) return nn.F.nll_loss(x, idx{ 2, 1 }) end, function () return { rn(2, 3) } end },
  { "F.categorical_crossentropy", function (p)
      return nn.F.categorical_crossentropy(p, nn.tensor{ { 0, 1, 0 }, { 1, 0, 0 } })
    end, function () return { const(nn.tensor{ { 0.2, 0.5, 0.3 }, { 0.6, 0.3, 0.1 } }):requires_grad_() } end },
}

describe("autograd: every recorded op's derivative against central differences", function()
  for k, case in ipairs(cases) do
    it(case[1], function()
      nn.manual_seed(100 + k)
      local inputs = case[3]()
      H.assert_gradcheck(case[2], inputs)
    end)
  end

  it("floor, round and sign give a zero gradient (as PyTorch)", function()
    for _, name in ipairs{ "floor", "round", "sign" } do
      local x = nn.tensor{ -1.7, 0.2, 2.5 }:requires_grad_()
      x[name](x):sum():backward()
      H.assert_tensor(x.grad, { 0, 0, 0 }, 0, name)
    end
  end)

  it("max(dim) sends the gradient to the element chosen", function()
    local x = nn.tensor{ { 1, 5, 2 }, { 7, 0, 7 } }:requires_grad_()
    local v = x:max(2)
    v:sum():backward()
    H.assert_tensor(x.grad, { { 0, 1, 0 }, { 1, 0, 0 } }, 0)
  end)

  it("a broadcast input gets the gradient summed to its shape", function()
    local a = nn.tensor.ones(2, 3):requires_grad_()
    local b = nn.tensor{ 1, 2, 3 }:requires_grad_()
    ;(a * b):sum():backward()
    H.assert_tensor(b.grad, { 2, 2, 2 }, 0)
    H.assert_tensor(a.grad, { { 1, 2, 3 }, { 1, 2, 3 } }, 0)
  end)

  it("nn.F.linear's gradients are the Linear layer's (the same pair)", function()
    nn.manual_seed(7)
    local l = nn.Linear(4, 3)
    local x = nn.tensor.randn(5, 4)
    local g = nn.tensor.randn(5, 3)
    l:forward(x)
    l:backward(g)
    local w = l.weight:clone():requires_grad_()
    local b = l.bias:clone():requires_grad_()
    local xr = x:clone():requires_grad_()
    nn.F.linear(xr, w, b):backward(g)
    H.assert_tensor(w.grad, l.grad_weight:totable(), 1e-6)
    H.assert_tensor(b.grad, l.grad_bias:totable(), 1e-6)
    H.assert_tensor(xr.grad, l.grad_input:totable(), 1e-6)
  end)
end)

describe("autograd: the check can fail", function()
  -- run gradcheck with D[op] replaced by `wrong` (restored even on error)
  local function check_with(op, wrong, fn, inputs)
    local D = nn.autograd.derivatives
    local right = D[op]
    D[op] = wrong(right)
    local ok, passed, report = pcall(nn.gradcheck, fn, inputs)
    D[op] = right
    assert.is_true(ok, tostring(passed))
    return passed, report
  end

  it("rejects a derivative 5% off (exp's, patched for this test)", function()
    nn.manual_seed(3)
    local fn = function (a) return a:exp() end
    local passed, r = check_with("exp", function (right)
      return function (n, g, s) return right(n, g, s) * 1.05 end
    end, fn, { rn(2, 3) })
    assert.is_false(passed)
    assert.truthy(tostring(r):find("FAILED", 1, true))
    assert.are.equal("input 1[1][1]", r.failed_at)
    assert.is_true((nn.gradcheck(fn, { rn(2, 3) })))       -- and the real one passes
  end)

  it("rejects a broadcast gradient that is not summed back (add's, patched)", function()
    nn.manual_seed(4)
    local passed = check_with("add", function ()
      return function (n, g) return g, n.next[2] and g:select(1, 1) end
    end, function (a, b) return a + b end, { rn(3, 2), rn(2) })
    assert.is_false(passed)
  end)

  it("rejects a pair's gradient with a wrong sign (F.tanh's, patched)", function()
    nn.manual_seed(5)
    local passed = check_with("F.tanh", function (right)
      return function (n, g, s) return -right(n, g, s) end
    end, function (x) return nn.F.tanh(x) end, { rn(2, 2) })
    assert.is_false(passed)
  end)
end)

describe("nn.F.linear_backward into given gradients (how the engine feeds a layer's own)", function()
  it("adds dW and db to the tensors given, and returns them", function()
    nn.manual_seed(20)
    local g, x, w = nn.tensor.randn(3, 2), nn.tensor.randn(3, 4), nn.tensor.randn(2, 4)
    local gx, gw, gb = nn.F.linear_backward(g, x, w)
    local acc_w, acc_b = nn.tensor.ones(2, 4), nn.tensor.ones(2)
    local gx2, rw, rb = nn.F.linear_backward(g, x, w, { grad_weight = acc_w, grad_bias = acc_b })
    assert.are.equal(acc_w, rw)
    assert.are.equal(acc_b, rb)
    H.assert_tensor(acc_w, (gw + 1):totable(), 1e-6)
    H.assert_tensor(acc_b, (gb + 1):totable(), 1e-6)
    H.assert_tensor(gx2, gx:totable(), 1e-6)
    local _, rw2, rb2 = nn.F.linear_backward(g, x, w, { bias = false, grad_weight = acc_w })
    assert.is_nil(rb2)
    H.assert_tensor(rw2, (gw * 2 + 1):totable(), 1e-6)
  end)

  it("with accumulate = false writes dW and db over the tensors given (beta 0)", function()
    nn.manual_seed(22)
    local g, x, w = nn.tensor.randn(3, 2), nn.tensor.randn(3, 4), nn.tensor.randn(2, 4)
    local _, gw, gb = nn.F.linear_backward(g, x, w)
    local acc_w, acc_b = nn.tensor.full(2, 4, 7), nn.tensor.full(2, 7)
    local _, rw, rb = nn.F.linear_backward(g, x, w, { grad_weight = acc_w, grad_bias = acc_b,
                                                       accumulate = false })
    assert.are.equal(acc_w, rw)
    assert.are.equal(acc_b, rb)
    H.assert_tensor(acc_w, gw:totable(), 1e-6)       -- the 7s are gone, not added to
    H.assert_tensor(acc_b, gb:totable(), 1e-6)
    H.assert_error_has(function () nn.F.linear_backward(g, x, w, { accumulate = 0 }) end,
                       { "bad argument #4 to 'linear_backward'", "accumulate" })
  end)

  it("refuses a given gradient of the wrong shape, or one of the two alone", function()
    local g, x, w = nn.tensor.randn(3, 2), nn.tensor.randn(3, 4), nn.tensor.randn(2, 4)
    H.assert_error_has(function () nn.F.linear_backward(g, x, w, { grad_weight = nn.tensor.ones(4, 2),
                                                                   grad_bias = nn.tensor.ones(2) }) end,
                       { "bad argument #4 to 'linear_backward' (linear_backward: grad_weight must be "
                         .. "a float32 tensor of weight's shape on its device)" })
    H.assert_error_has(function () nn.F.linear_backward(g, x, w, { grad_weight = nn.tensor.ones(2, 4),
                                                                   grad_bias = nn.tensor.ones(3) }) end,
                       { "grad_bias must be a float32 tensor of the bias's shape on its device" })
    H.assert_error_has(function () nn.F.linear_backward(g, x, w, { grad_weight = nn.tensor.ones(2, 4) }) end,
                       { "linear_backward: give grad_weight and grad_bias together (or neither)" })
  end)

  it("the engine's leaves with a .grad get the same numbers either way, and hooks still see them", function()
    nn.manual_seed(21)
    local x = nn.tensor.randn(3, 4)
    local function grads(preset, hook)
      local w = nn.tensor.full(2, 4, 0.5):requires_grad_()
      local b = nn.tensor{ 0.1, -0.2 }:requires_grad_()
      if preset then w.grad, b.grad = nn.tensor.ones(2, 4), nn.tensor.ones(2) end
      local seen = 0
      if hook then w:register_hook(function () seen = seen + 1 end) end
      nn.F.linear(x, w, b, "tanh"):sum():backward()
      return w.grad, b.grad, seen
    end
    local w0, b0 = grads(false)
    local w1, b1 = grads(true)
    H.assert_tensor(w1, (w0 + 1):totable(), 1e-6)
    H.assert_tensor(b1, (b0 + 1):totable(), 1e-6)
    local w2, _, seen = grads(true, true)
    assert.are.equal(1, seen)
    H.assert_tensor(w2, (w0 + 1):totable(), 1e-6)
  end)
end)
