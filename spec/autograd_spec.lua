--- spec/autograd_spec.lua -- the engine: fields, backward, accumulation,
-- freeing, no_grad, detach, in-place refusals, hooks, show and dot.  (Each
-- op's derivative: spec/autograd_ops_spec.lua.)
local nn = require "nn"
local H = require "spec.helpers"

describe("nn.autograd: the fields", function()
  it("a tensor does not require grad until asked; requires_grad_ makes it a leaf", function()
    local x = nn.tensor.ones(2, 3)
    assert.is_false(x.requires_grad)
    assert.is_nil(x.grad)
    assert.is_nil(x.grad_fn)
    assert.is_true(x.is_leaf)
    assert.are.equal(x, x:requires_grad_())
    assert.is_true(x.requires_grad)
    assert.is_true(x.is_leaf)
    x.requires_grad = false
    assert.is_false(x.requires_grad)
    x.requires_grad = true
    assert.is_true(x.requires_grad)
    x:requires_grad_(false)
    assert.is_false(x.requires_grad)
  end)

  it("an op's output records its node: grad_fn, not a leaf, requires grad", function()
    local x = nn.tensor.ones(2, 3):requires_grad_()
    local y = x * 2
    assert.is_true(y.requires_grad)
    assert.is_false(y.is_leaf)
    assert.are.equal("mul", y.grad_fn.op)
    assert.are.equal("<grad_fn mul -> [2x3]>", tostring(y.grad_fn))
    local c = nn.tensor.ones(2, 3) * 2                 -- no input recorded: nothing recorded
    assert.is_false(c.requires_grad)
  end)

  it("a recorded sum or mean is a 0-dim tensor (PyTorch's); unrecorded, a number", function()
    local x = nn.tensor{ 1, 2, 3 }
    assert.are.equal("number", type(x:sum()))
    x:requires_grad_()
    local s = x:sum()
    assert.are.equal("userdata", type(s))
    assert.are.same({}, s.shape)
    assert.are.equal(6, s:item())
    assert.are.equal(2, x:mean():item())
  end)

  it("prints a recorded tensor (its stats stay numbers) and says it is recorded", function()
    local x = nn.tensor{ 1, 2, 3 }:requires_grad_()
    local text = tostring(x)
    assert.truthy(text:find("min 1  max 3  mean 2", 1, true), text)
    assert.truthy(text:find("\n  requires_grad$"), text)
    local s = tostring((x * 2):sum())
    assert.truthy(s:find(" 12", 1, true), s)
    assert.truthy(s:find("grad_fn <grad_fn sum -> []>", 1, true), s)
    assert.is_nil(tostring(nn.tensor{ 1 }):find("grad", 1, true))
  end)

  it("refuses bad assignments, naming the field", function()
    local x = nn.tensor.ones(2):requires_grad_()
    local y = x * 2
    H.assert_error_has(function () y.requires_grad = false end,
                       { "you can only change requires_grad flags of leaf variables", "'mul'" })
    H.assert_error_has(function () x.requires_grad = "yes" end,
                       { "t.requires_grad = v: v must be a boolean, got string" })
    H.assert_error_has(function () nn.tensor{ 1 }:int():requires_grad_() end,
                       { "only float32 tensors can require gradients, got int32" })
    H.assert_error_has(function () x.grad = nn.tensor.ones(3) end,
                       { "t.grad = v: v must have t's shape [2] on cpu, got [3] on cpu" })
    H.assert_error_has(function () x.grad = 3 end, { "t.grad = v: v must be a tensor or nil, got number" })
    H.assert_error_has(function () x.grad = nn.tensor.ones(2):int() end,
                       { "t.grad = v: v must be a float32 tensor, got int32 (convert with :float())" })
    H.assert_error_has(function () y.grad_fn = 1 end, { "t.grad_fn is read-only" })
    H.assert_error_has(function () x.foo = 1 end,
                       { "cannot assign to field 'foo' of a tensor (only t[i] = v)" })
  end)
end)

describe("nn.autograd: backward", function()
  it("y = sum(x * x) gives dL/dx = 2x; a second backward adds to x.grad", function()
    local x = nn.tensor{ { 1, -2 }, { 3, 0.5 } }:requires_grad_()
    local y = (x * x):sum()
    y:backward(nil, { retain_graph = true })
    H.assert_tensor(x.grad, { { 2, -4 }, { 6, 1 } }, 0)
    y:backward()
    H.assert_tensor(x.grad, { { 4, -8 }, { 12, 2 } }, 0)
    x.grad = nil
    assert.is_nil(x.grad)
  end)

  it("a tensor used twice gets the sum of both paths (y = x*x + x: 2x + 1)", function()
    local x = nn.tensor{ 1, 2, 3 }:requires_grad_()
    ;(x * x + x):sum():backward()
    H.assert_tensor(x.grad, { 3, 5, 7 }, 0)
  end)

  it("a gradient shared by two leaves, or given by the caller, is copied into .grad", function()
    local a = nn.tensor{ 1, 2 }:requires_grad_()
    local b = nn.tensor{ 3, 4 }:requires_grad_()
    local y = a + b                                   -- add passes g to both
    local g = nn.tensor{ 1, 1 }
    y:backward(g, { retain_graph = true })
    assert.are_not.equal(a.grad:data_ptr(), b.grad:data_ptr())
    assert.are_not.equal(g:data_ptr(), a.grad:data_ptr())
    y:backward(g)
    H.assert_tensor(a.grad, { 2, 2 }, 0)
    H.assert_tensor(b.grad, { 2, 2 }, 0)
    H.assert_tensor(g, { 1, 1 }, 0)                    -- the caller's tensor untouched
    local x = nn.tensor{ 5 }:requires_grad_()
    local gx = nn.tensor{ 2 }
    x:backward(gx)                                    -- a leaf as the root
    x:backward(gx)
    H.assert_tensor(gx, { 2 }, 0)
    H.assert_tensor(x.grad, { 4 }, 0)
  end)

  it("takes grad = dL/dy for a y of several elements", function()
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    local y = x * 3
    y:backward(nn.tensor{ 10, 100 })
    H.assert_tensor(x.grad, { 30, 300 }, 0)
  end)

  it("a long chain (3000 ops) does not overflow the stack", function()
    local x = nn.tensor{ 1 }:requires_grad_()
    local y = x
    for _ = 1, 3000 do y = y * 1 end
    y:sum():backward()
    H.assert_tensor(x.grad, { 1 }, 0)
  end)

  it("frees the saved tensors: a second backward raises, retain_graph keeps them", function()
    local x = nn.tensor.ones(2):requires_grad_()
    local y = (x:exp()):sum()
    y:backward()
    H.assert_error_has(function () y:backward() end,
                       { "backward: trying to backward through the graph a second time",
                         "retain_graph = true" })
  end)

  it("saves only the tensors a derivative reads: the ones between can be freed", function()
    -- y = relu(x W^T + b): matmul keeps x and W, + keeps nothing, relu its
    -- output; so x W^T and (x W^T + b) are garbage once the forward is done
    -- with them (PyTorch's saved tensors), and backward is still right
    local x = nn.tensor{ { 1, -2, 3 }, { 0.5, 1, -1 } }:requires_grad_()
    local w = nn.tensor{ { 0.1, 0.2, 0.3 }, { -0.4, 0.5, -0.6 } }:requires_grad_()
    local b = nn.tensor{ 0.15, -0.05 }:requires_grad_()
    local between = setmetatable({}, { __mode = "v" })
    local y
    do
      local mm = x:matmul(w, false, true)
      local pre = mm + b
      between[1], between[2] = mm, pre
      y = pre:relu()
    end
    collectgarbage(); collectgarbage()
    assert.is_nil(between[1], "x W^T is still held")
    assert.is_nil(between[2], "x W^T + b is still held")
    y:sum():backward()
    -- pre = {{0.75, -3.25}, {0.1, 0.85}}, so the mask [pre > 0] = {{1, 0}, {1, 1}};
    -- dL/dW = mask^T x, dL/db = the mask's column sums, dL/dx = mask W
    H.assert_tensor(w.grad, { { 1.5, -1, 2 }, { 0.5, 1, -1 } }, 1e-6)
    H.assert_tensor(b.grad, { 2, 1 }, 1e-6)
    H.assert_tensor(x.grad, { { 0.1, 0.2, 0.3 }, { -0.3, 0.7, -0.3 } }, 1e-6)
  end)

  it("raises PyTorch's errors: no grad required, no grad for a non-scalar, wrong shape", function()
    H.assert_error_has(function () nn.tensor.ones(2):backward() end,
                       { "element 0 of tensors does not require grad and does not have a grad_fn" })
    local x = nn.tensor.ones(2, 3):requires_grad_()
    local y = x * 2
    H.assert_error_has(function () y:backward() end,
                       { "grad can be implicitly created only for scalar outputs; y is [2x3]" })
    H.assert_error_has(function () y:backward(nn.tensor.ones(3, 2)) end,
                       { "backward: grad has shape [3x2], expected [2x3] (the shape of y)" })
    H.assert_error_has(function () y:backward(5) end,
                       { "backward: grad must be a tensor of y's shape [2x3], got number" })
    H.assert_error_has(function () y:backward(nn.tensor.ones(2, 3), { retain = true }) end,
                       { "backward: unknown option 'retain' (options: retain_graph, hook, accumulate)" })
    H.assert_error_has(function () y:backward(nn.tensor.ones(2, 3), { hook = 1 }) end,
                       { "backward: hook must be a function (node, grad), got number" })
  end)

  it("an op without a derivative raises when backward reaches it, naming the op", function()
    local x = nn.tensor{ 5, 7 }:requires_grad_()
    H.assert_error_has(function () x:remainder(3):sum():backward() end,
                       { "backward: 'remainder' has no derivative in nnlua" })
    H.assert_error_has(function () (x // 2):sum():backward() end,
                       { "backward: 'floor_divide' has no derivative in nnlua" })
    H.assert_error_has(function () (x % 2):sum():backward() end,
                       { "backward: 'remainder' has no derivative in nnlua" })
  end)

  it("prod raises at backward on a zero (where its simple formula divides by zero)", function()
    local x = nn.tensor{ 2, 0, 3 }:requires_grad_()
    H.assert_error_has(function () x:prod():backward() end,
                       { "'prod' of a tensor holding a zero has no derivative in nnlua" })
  end)

  it("a loss refuses a target that requires grad instead of ignoring it", function()
    local x = nn.tensor.randn(2, 3):requires_grad_()
    local t = nn.tensor.randn(2, 3):requires_grad_()
    H.assert_error_has(function () return nn.F.mse_loss(x, t) end,
                       { "mse_loss: the target requires grad", "target:detach()" })
  end)

  it("a where condition that requires grad is refused", function()
    local x = nn.tensor.randn(3):requires_grad_()
    H.assert_error_has(function () return nn.where(x, x, 0) end,
                       { "where: the condition is a mask and gets no gradient" })
  end)
end)

describe("nn.autograd: backward with accumulate = false (zero_grad fused)", function()
  -- the reference: PyTorch's zero_grad(set_to_none = False), then a plain backward
  local function mlp_grads(x, y, params, opts, zero_first)
    if zero_first then for _, p in ipairs(params) do if p.grad then p.grad:zero_() end end end
    local h = nn.F.linear(x, params[1], params[2], "relu")
    h = nn.F.linear(h, params[3], params[4])
    nn.F.cross_entropy(h, y):backward(nil, opts)
    local out = {}
    for i, p in ipairs(params) do out[i] = p.grad:clone() end
    return out
  end

  it("sets existing .grad to this backward's gradient: zero_() + backward's numbers", function()
    nn.manual_seed(30)
    local x, y = nn.tensor.randn(5, 4), nn.tensor{ 1, 3, 2, 3, 1 }:int()
    local params = { nn.tensor.randn(6, 4), nn.tensor.randn(6), nn.tensor.randn(3, 6),
                     nn.tensor.randn(3) }
    for _, p in ipairs(params) do p:requires_grad_() end
    local first = mlp_grads(x, y, params, { accumulate = false })   -- no .grad yet: made
    local ref = mlp_grads(x, y, params, nil, true)
    for i = 1, 4 do H.assert_tensor(first[i], ref[i]:totable(), 1e-6) end
    for _, p in ipairs(params) do p.grad:fill_(100) end          -- stale values to overwrite
    local ptrs = {}
    for i, p in ipairs(params) do ptrs[i] = p.grad:data_ptr() end
    local set = mlp_grads(x, y, params, { accumulate = false })
    for i, p in ipairs(params) do
      H.assert_tensor(set[i], ref[i]:totable(), 1e-6)
      assert.are.equal(ptrs[i], p.grad:data_ptr())             -- written in place
    end
    -- the default still adds: the check above can tell the two apart
    local added = mlp_grads(x, y, params)
    H.assert_tensor(added[1], (ref[1] * 2):totable(), 1e-5)
  end)

  it("a leaf reached twice gets the sum: the first write sets, the later ones add", function()
    nn.manual_seed(31)
    local x = nn.tensor.randn(3, 4)
    local w, b = nn.tensor.randn(4, 4):requires_grad_(), nn.tensor.randn(4):requires_grad_()
    local function loss()                        -- w and b used by two linears, w once more
      local h = nn.F.linear(nn.F.linear(x, w, b, "tanh"), w, b)
      return h:sum() + (w * w):sum()
    end
    loss():backward()
    local rw, rb = w.grad:clone(), b.grad:clone()
    w.grad:fill_(-50); b.grad:fill_(-50)
    loss():backward(nil, { accumulate = false })
    H.assert_tensor(w.grad, rw:totable(), 1e-5)
    H.assert_tensor(b.grad, rb:totable(), 1e-5)
    w.grad:fill_(-50)                            -- b's .grad made anew, w's set: betas differ
    b.grad = nil
    loss():backward(nil, { accumulate = false })
    H.assert_tensor(w.grad, rw:totable(), 1e-5)
    H.assert_tensor(b.grad, rb:totable(), 1e-5)
  end)

  it("refuses an accumulate that is not a boolean", function()
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    H.assert_error_has(function () (x * x):sum():backward(nil, { accumulate = "no" }) end,
                       { "backward: accumulate must be a boolean, got string" })
  end)
end)

describe("nn.autograd: gradients given back early stay valid wherever a user holds them", function()
  local function net(x, w1, w2)
    return nn.F.cross_entropy(nn.F.linear(nn.F.linear(x, w1, nil, "relu"), w2), nn.tensor{ 1, 2 }:int())
  end

  it("a gradient a tensor hook kept, or a backward hook saw, is still readable and right", function()
    nn.manual_seed(32)
    local x = nn.tensor.randn(2, 3)
    local w1, w2 = nn.tensor.randn(4, 3):requires_grad_(), nn.tensor.randn(2, 4):requires_grad_()
    local h = nn.F.linear(x, w1, nil, "relu")
    local kept
    h:register_hook(function (g) kept = g end)
    nn.F.cross_entropy(nn.F.linear(h, w2), nn.tensor{ 1, 2 }:int()):backward()
    -- dL/dh = dL/dz2 @ w2, from the loss's pair: recomputed by hand
    local z2 = nn.no_grad(function () return nn.F.linear(h, w2) end)
    local dz = nn.F.cross_entropy_backward(z2, nn.tensor{ 1, 2 }:int())
    H.assert_tensor(kept, nn.no_grad(function () return dz:matmul(w2) end):totable(), 1e-5)
    local seen = {}
    net(x, w1, w2):backward(nil, { hook = function (node, g) seen[#seen + 1] = { node.op, g } end })
    assert.is_true(#seen >= 4)
    for _, e in ipairs(seen) do
      assert.is_true(e[2]:numel() > 0, e[1])
      assert.is_true(e[2]:sum() == e[2]:sum(), e[1])           -- readable, not freed
    end
  end)

  it("a derivative the user adds may return a tensor it keeps: never freed early", function()
    local keep = nn.tensor{ 10, 20 }
    nn.autograd.derivatives.keeper = function () return keep end
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    x.grad = nn.tensor{ 0, 0 }                      -- so keep is added to it, then dropped
    local y = nn.autograd.record("keeper", nn.no_grad(function () return x * 1 end), {}, { x })
    local z = nn.F.relu(y)                          -- a listed op downstream and upstream
    z:sum():backward()
    H.assert_tensor(keep, { 10, 20 }, 0)
    H.assert_tensor(x.grad, { 10, 20 }, 0)
    nn.autograd.derivatives.keeper = nil
  end)

  it("retain_graph: the second backward gives the same gradients", function()
    nn.manual_seed(33)
    local x = nn.tensor.randn(2, 3)
    local w1, w2 = nn.tensor.randn(4, 3):requires_grad_(), nn.tensor.randn(2, 4):requires_grad_()
    local loss = net(x, w1, w2)
    loss:backward(nil, { retain_graph = true })
    local g1 = w1.grad:clone()
    loss:backward()
    H.assert_tensor(w1.grad, (g1 * 2):totable(), 1e-5)
  end)
end)

describe("nn.autograd: recording on and off", function()
  it("nn.no_grad runs fn without recording and returns its results", function()
    local x = nn.tensor.ones(2):requires_grad_()
    local a, b = nn.no_grad(function (v) return v * 2, "two" end, x)
    assert.is_false(a.requires_grad)
    assert.are.equal("two", b)
    assert.is_true(nn.autograd.is_enabled())
  end)

  it("nn.no_grad restores the mode when fn raises", function()
    local ok, err = pcall(nn.no_grad, function () error("boom", 0) end)
    assert.is_false(ok)
    assert.are.equal("boom", err)
    assert.is_true(nn.autograd.is_enabled())
    H.assert_error_has(function () nn.no_grad(3) end, { "nn.no_grad: expected a function, got number" })
  end)

  it("set_enabled switches recording and returns the previous mode", function()
    local x = nn.tensor.ones(2):requires_grad_()
    assert.is_true(nn.autograd.set_enabled(false))
    assert.is_false((x * 2).requires_grad)
    assert.is_false(nn.autograd.set_enabled(true))
    assert.is_true((x * 2).requires_grad)
  end)

  it("detach shares storage and is not recorded: no gradient flows through it", function()
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    local d = x:detach()
    assert.are.equal(x:data_ptr(), d:data_ptr())
    assert.is_false(d.requires_grad)
    ;(x * d):sum():backward()                    -- d/dx (x * const) = const
    H.assert_tensor(x.grad, { 1, 2 }, 0)
  end)
end)

describe("nn.autograd: in-place ops while recording", function()
  it("refuses an in-place op on a leaf that requires grad, or on a recorded tensor", function()
    local x = nn.tensor.ones(2):requires_grad_()
    H.assert_error_has(function () x:add_(1) end,
                       { "add_: a leaf tensor that requires grad is used in an in-place operation" })
    H.assert_error_has(function () x:fill_(0) end, { "fill_: a leaf tensor" })
    H.assert_error_has(function () x[1] = 3 end, { "t[i] = v: a leaf tensor" })
    local y = x * 2
    H.assert_error_has(function () y:mul_(2) end, { "mul_: a tensor made by 'mul'" })
    H.assert_error_has(function () nn.tensor.zeros(2):copy_(y) end,
                       { "copy_: a tensor not recorded, with an argument that requires grad" })
  end)

  it("allows it inside nn.no_grad (a hand-written SGD step)", function()
    local w = nn.tensor{ 1, 2 }:requires_grad_()
    ;(w * w):sum():backward()
    nn.no_grad(function () w:sub_(w.grad * 0.25) end)
    H.assert_tensor(w, { 0.5, 1 }, 0)
  end)

  it("leaves the error messages of unrecorded calls as they were", function()
    nn.tensor.ones(1):requires_grad_()                        -- the dispatch is installed
    H.assert_error_has(function () return nn.tensor.ones(2, 3):matmul(nn.tensor.ones(5, 2)) end,
                       { "autograd_spec.lua:", "bad argument #1 to 'matmul' (inner dimensions differ" })
    H.assert_error_has(function () return nn.matmul(nn.tensor.ones(2, 3), nn.tensor.ones(5, 2)) end,
                       { "bad argument #2 to 'matmul'" })
    H.assert_error_has(function () return nn.tensor.ones(2).sum() end,
                       { "a method takes a colon: t:sum(...)" })
    -- and of recorded ones
    local x = nn.tensor.ones(2, 3):requires_grad_()
    H.assert_error_has(function () return x:matmul(nn.tensor.ones(5, 2)) end,
                       { "autograd_spec.lua:", "bad argument #1 to 'matmul' (inner dimensions differ" })
  end)
end)

describe("nn.autograd: watching backward", function()
  it("register_hook sees a tensor's gradient and may replace it", function()
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    local y = x * 3
    local seen
    y:register_hook(function (g) seen = g:totable() end)
    x:register_hook(function (g) return g * 10 end)
    y:sum():backward()
    assert.are.same({ 1, 1 }, seen)
    H.assert_tensor(x.grad, { 30, 30 }, 0)
    H.assert_error_has(function () nn.tensor.ones(1):register_hook(print) end,
                       { "cannot register a hook on a tensor that doesn't require gradient" })
  end)

  it("a backward hook sees every node, output first, with its incoming gradient", function()
    local x = nn.tensor{ 1, 2 }:requires_grad_()
    local y = (x:exp() * 2):sum()
    local ops = {}
    y:backward(nil, { hook = function (node, g) ops[#ops + 1] = node.op .. " " .. g:numel() end })
    assert.are.same({ "sum 1", "mul 2", "exp 2", "leaf 2" }, ops)
  end)

  it("grad_printer (print_grad) prints each node's op, shape and gradient norm", function()
    local lines = {}
    local x = nn.tensor{ 3, 4 }:requires_grad_()
    local hook = nn.autograd.grad_printer(function (l) lines[#lines + 1] = l end)
    ;(x * 1):sum():backward(nil, { hook = hook })
    assert.are.equal(3, #lines)
    assert.truthy(lines[2]:find("mul%s+%[2%]%s+|dL/dout| = 1%.41421"), lines[2])
  end)
end)

describe("nn.autograd: show and dot", function()
  local function graph()
    local x = nn.tensor.ones(4, 3):requires_grad_()
    local w = nn.tensor.ones(3, 2):requires_grad_()
    return (x:matmul(w):tanh() * nn.tensor.ones(4, 2)):mean()
  end

  it("show lists the nodes in order: op, inputs, output shape", function()
    local text = nn.autograd.show(graph(), { quiet = true })
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(7, #lines)
    assert.truthy(lines[1]:find("op%s+inputs%s+output"))
    assert.truthy(lines[2]:find("^%s+1%s+leaf grad%s+%[4x3%]$"), lines[2])
    assert.truthy(lines[4]:find("^%s+3%s+matmul%s+#1%[4x3%] #2%[3x2%]%s+%[4x2%]$"), lines[4])
    assert.truthy(lines[6]:find("mul%s+#4%[4x2%] const%[4x2%]%s+%[4x2%]"), lines[6])
    assert.truthy(lines[7]:find("mean%s+#5%[4x2%]%s+%[%]$"), lines[7])
    for _, l in ipairs(lines) do assert.is_true(#l <= 80, l) end
    local x = nn.tensor.ones(2):requires_grad_()
    local named = nn.autograd.show(x * 2, { quiet = true, names = { x = x } })
    assert.truthy(named:find("leaf x grad", 1, true), named)
    assert.truthy(nn.autograd.dot(x * 2, nil, { names = { x = x } }):find('label="x\\n[2]"', 1, true))
    H.assert_error_has(function () nn.autograd.show(x * 2, { names = 3 }) end,
                       { "nn.autograd.show: names must be a table {name = tensor, ...}, got number" })
    H.assert_error_has(function () nn.autograd.show(x * 2, 3) end,
                       { "nn.autograd.show: opts must be a table, got number" })
    H.assert_error_has(function () nn.autograd.show(nn.tensor.ones(2)) end,
                       { "nn.autograd.show: expected a tensor made by recorded ops", "not recorded" })
  end)

  it("dot writes Graphviz: ops as boxes, tensors as ellipses with shapes", function()
    local dir = H.temp_dir()
    local path = dir .. "/g.dot"
    local text = nn.autograd.dot(graph(), path)
    assert.truthy(text:find("^digraph autograd {"))
    assert.truthy(text:find('op3 %[shape=box, label="matmul"%]'))
    assert.truthy(text:find('t3 %[shape=ellipse, label="%[4x2%]"%]'))
    assert.truthy(text:find("t1 %-> op3;"))
    assert.truthy(text:find('label="const\\n%[4x2%]"'))
    assert.are.equal(text, H.read_file(path))
    -- rendered by Debian's graphviz where it is installed (scripts/setup.sh)
    if os.execute("command -v dot >/dev/null 2>&1") then
      local png = dir .. "/g.png"
      assert.is_true(os.execute(("dot -Tpng %s -o %s"):format(H.shell_quote(path), H.shell_quote(png))))
      assert.are.equal("\137PNG", H.read_file(png):sub(1, 4))
    end
    H.remove_dir(dir)
    H.assert_error_has(function () nn.autograd.dot(graph(), 3) end,
                       { "nn.autograd.dot: path must be a file name such as 'g.dot', got number" })
    H.assert_error_has(function () nn.autograd.dot(graph(), "/nonexistent/dir/g.dot") end,
                       { "nn.autograd.dot: cannot write /nonexistent/dir/g.dot" })
  end)
end)

describe("nn.autograd on CUDA", function()
  if not nn.cuda.is_available() then pending("no CUDA device: CUDA specs skipped") return end
  it("gives the CPU's gradients for a small network", function()
    nn.manual_seed(9)
    local xc, wc = nn.tensor.randn(4, 3), nn.tensor.randn(2, 3)
    local function grads(dev)
      local x = xc:to(dev):requires_grad_()
      local w = wc:to(dev):requires_grad_()
      local y = nn.F.linear(x, w, nil, "tanh"):log_softmax(2)
      nn.F.nll_loss(y, nn.tensor{ 1, 2, 1, 2 }:int():to(dev)):backward()
      return x.grad:cpu(), w.grad:cpu()
    end
    local gx, gw = grads("cpu")
    local cx, cw = grads("cuda")
    H.assert_tensor(cx, gx:totable(), 1e-4)
    H.assert_tensor(cw, gw:totable(), 1e-4)
  end)
end)

describe("recording reads every entry of a list argument", function()
  it("nn.cat of 70 tensors records when only the 70th requires grad", function()
    local list = {}
    for i = 1, 69 do list[i] = nn.tensor.rand(1, 2) end
    list[70] = nn.tensor.rand(1, 2):requires_grad_()
    local y = nn.cat(list, 1)
    assert.is_true(y.requires_grad)
    y:sum():backward()
    assert.are.same({ { 1, 1 } }, list[70].grad:totable())
  end)
end)
