--- The recorded ops of nn.autograd and their derivatives.
--
-- Each op has two halves:
--   rec(raw, ...)         the forward: calls the C function raw with the
--                         user's arguments and records a node (autograd.record)
--                         saving what the backward needs;
--   D[op](node, g, s)     the backward: g = dL/d(out); returns dL/d(input i)
--                         for each input i in order, each of input i's shape
--                         (a broadcast input gets g summed down: to_shape),
--                         nil/false where node.next[i] is false (not needed).
--
-- No derivative is written twice: where a C backward pair exists (the
-- layers' and losses' pairs in nn.F: linear_backward, activation_backward,
-- mse_loss_backward, ...), D calls it; elsewhere the derivative is a
-- formula of tensor ops, written beside its op with its math.  Notation:
-- a, b the inputs, y the output, g = dL/dy, "k" a kept (keepdim) shape.
-- Sources: the derivatives are the standard ones (PyTorch's
-- tools/autograd/derivatives.yaml lists the same formulas); the softmax and
-- loss pairs are derived in nn/softmax.c and nn/loss_*.c.
local nn = require "nn"

local M = { methods = {}, functions = {}, F = {}, meta = {} }

-- The ops whose derivative returns only tensors it made itself (or g, or
-- views of g), a different one for each input, and keeps none of them nor
-- g: what they return may be given back as soon as it is used
-- (autograd.lua's walk, FRESH).  Checked by reading each one below; an op
-- not listed is simply never freed early.
M.fresh = { "add", "sub", "mul", "div", "neg", "relu", "sum", "mean", "matmul", "t",
            "gather", "softmax", "log_softmax", "linear",
            "F.relu", "F.sigmoid", "F.tanh", "F.softmax", "F.log_softmax", "F.linear",
            "F.mse_loss", "F.l1_loss", "F.bce_loss", "F.bce_with_logits_loss",
            "F.cross_entropy", "F.nll_loss", "F.categorical_crossentropy" }

-- In-place ops: refused while recording when they touch a recorded tensor
-- (autograd.lua, inplace_rec).
M.inplace = { "add_", "sub_", "mul_", "div_", "neg_", "exp_", "log_", "sqrt_", "abs_",
              "relu_", "sigmoid_", "tanh_", "clamp_", "pow_", "floor_divide_", "remainder_",
              "masked_fill_", "sin_", "cos_", "erf_", "rsqrt_", "floor_", "round_", "sign_",
              "fill_", "zero_", "copy", "copy_", "set", "scatter_add_", "index_add_", "mm" }

function M.setup(autograd, env)
  local R, RF, NODE, D, record = env.R, env.RF, env.NODE, env.D, env.record
  local GRAD = env.GRAD
  local is_tensor = env.is_tensor
  local release = env.release        -- gives back a tensor only this code can reach
  local slice_range = env.slice_range

  -- --- helpers -------------------------------------------------------------------------

  local function numel_of(shape)
    local n = 1
    for i = 1, #shape do n = n * shape[i] end
    return n
  end

  -- g summed down to `shape` (the backward of broadcasting: dL/db =
  -- sum of g over the dims b was stretched along), or viewed when only the
  -- number of dims differs; false for a number input (shape false)
  local function to_shape(g, shape)
    if not shape then return false end
    if R.numel(g) ~= numel_of(shape) then return R.sum_to_size(g, shape) end
    if R.dim(g) ~= #shape then return R.view(g, shape) end
    return g
  end
  autograd.to_shape = to_shape

  -- z on device: moved when it was made elsewhere (nn.tensor's
  -- constructors make on the default device, which may be either)
  local function on_device(z, device)
    if z.device ~= device then z = R.to(z, device) end
    return z
  end
  autograd.on_device = on_device

  local function zeros_on(shape, device) return on_device(R.zeros(shape), device) end

  -- a 0-dim tensor holding v, on device (what a recorded sum() returns
  -- instead of a number: PyTorch's sum gives a tensor too)
  local function scalar(v, device) return on_device(R.add(R.zeros({}), v), device) end
  autograd.scalar = scalar

  local function pos_dim(d, ndim)
    if d < 0 then return d + ndim + 1 end
    return d
  end

  -- a single op: inputs are the first nin arguments.  `keep` names the
  -- tensors its derivative reads, which are saved until backward (PyTorch's
  -- saved tensors): "in" the tensor arguments (s[1], s[2], ...), "out" the
  -- output (s.out), "all" both, nil neither.  Other arguments (numbers,
  -- dims) are saved always.  A tensor not saved can be freed as soon as the
  -- forward is done with it: y = relu(x W^T + b) keeps x, W and y, not the
  -- two tensors between.
  local function simple(op, nin, keep)
    local keep_in, keep_out = keep == "in" or keep == "all", keep == "out" or keep == "all"
    return function (raw, ...)
      local out = raw(...)
      local args = { ... }
      local s = args
      if not keep_in then
        s = {}
        for i = 1, select("#", ...) do
          if not is_tensor(args[i]) then s[i] = args[i] end
        end
      end
      if keep_out then s.out = out end
      return record(op, out, s, args, nin)
    end
  end

  local function def(tbl, names, rec)
    for name in names:gmatch("%S+") do tbl[name] = { rec = rec } end
  end

  -- g placed at [start, start + len) of dim d in zeros of `shape` (the
  -- backward of narrow, slice, select, split: the rest of the input got
  -- no gradient)
  local function pad(g, shape, d, start, len)
    local parts = {}
    local before, after = {}, {}
    for i = 1, #shape do before[i], after[i] = shape[i], shape[i] end
    before[d], after[d] = start - 1, shape[d] - (start - 1) - len
    local dev = g.device
    if before[d] > 0 then parts[#parts + 1] = zeros_on(before, dev) end
    parts[#parts + 1] = g
    if after[d] > 0 then parts[#parts + 1] = zeros_on(after, dev) end
    if #parts == 1 then return g end
    return R.nn_cat(parts, d)
  end

  -- --- arithmetic: a + b, a - b, a * b, a / b, a ^ b (numbers on either side) ----------

  -- y = a + b:  dy/da = dy/db = 1, then summed to each one's shape
  D.add = function (n, g)
    return n.next[1] and to_shape(g, n.shapes[1]), n.next[2] and to_shape(g, n.shapes[2])
  end
  -- y = a - b:  dL/da = g, dL/db = -g
  D.sub = function (n, g)
    return n.next[1] and to_shape(g, n.shapes[1]), n.next[2] and to_shape(R.neg(g), n.shapes[2])
  end
  -- y = a b:  dL/da = g b, dL/db = g a
  D.mul = function (n, g, s)
    return n.next[1] and to_shape(R.mul(g, s[2]), n.shapes[1]),
           n.next[2] and to_shape(R.mul(g, s[1]), n.shapes[2])
  end
  -- y = a / b:  dL/da = g / b, dL/db = -g a / b^2 = -g y / b
  D.div = function (n, g, s)
    return n.next[1] and to_shape(R.div(g, s[2]), n.shapes[1]),
           n.next[2] and to_shape(R.neg(R.div(R.mul(g, s.out), s[2])), n.shapes[2])
  end
  -- y = a ^ b:  dL/da = g b a^(b-1), dL/db = g y ln a
  D.pow = function (n, g, s)
    local a, b = s[1], s[2]
    local ga, gb = false, false
    if n.next[1] then
      local bm1 = type(b) == "number" and b - 1 or R.sub(b, 1)
      ga = to_shape(R.mul(g, R.mul(R.pow(a, bm1), b)), n.shapes[1])
    end
    if n.next[2] then
      local lna = type(a) == "number" and math.log(a) or R.log(a)
      gb = to_shape(R.mul(R.mul(g, s.out), lna), n.shapes[2])
    end
    return ga, gb
  end
  -- y = -a:  dL/da = -g
  D.neg = function (_, g) return R.neg(g) end

  -- each as a method (a:add(b)) and an operator (a + b): op, metamethod,
  -- inputs, what its derivative reads.  floor_divide and remainder are
  -- recorded with no derivative (PyTorch has one for remainder; nnlua does
  -- not): backward raises "backward: 'remainder' has no derivative in nnlua"
  for _, o in ipairs{ { "add", "__add", 2 }, { "sub", "__sub", 2 }, { "mul", "__mul", 2, "in" },
                      { "div", "__div", 2, "all" }, { "pow", "__pow", 2, "all" },
                      { "neg", "__unm", 1 }, { "floor_divide", "__idiv", 2 },
                      { "remainder", "__mod", 2 } } do
    def(M.methods, o[1], simple(o[1], o[3], o[4]))
    def(M.meta, o[2], simple(o[1], o[3], o[4]))
  end

  -- maximum(a, b): dL/da = g [a > b] + g/2 [a = b] (ties split, as PyTorch)
  local function minmax(n, g, s, cmp)
    local a, b = s[1], s[2]
    local ma = R.add(R[cmp](a, b), R.mul(R.eq(a, b), 0.5))
    return n.next[1] and to_shape(R.mul(g, ma), n.shapes[1]),
           n.next[2] and to_shape(R.mul(g, R.sub(1, ma)), n.shapes[2])
  end
  D.maximum = function (n, g, s) return minmax(n, g, s, "gt") end
  D.minimum = function (n, g, s) return minmax(n, g, s, "lt") end
  def(M.methods, "maximum", simple("maximum", 2, "in"))
  def(M.methods, "minimum", simple("minimum", 2, "in"))

  -- --- element-wise functions: dL/da = g f'(a) -----------------------------------------

  D.exp = function (_, g, s) return R.mul(g, s.out) end                  -- (e^a)' = y
  D.log = function (_, g, s) return R.div(g, s[1]) end                   -- 1 / a
  D.sqrt = function (_, g, s) return R.div(R.mul(g, 0.5), s.out) end     -- 1 / (2 y)
  D.rsqrt = function (_, g, s)                                           -- -a^{-3/2} / 2 = -y^3 / 2
    return R.mul(g, R.mul(R.pow(s.out, 3), -0.5))
  end
  D.abs = function (_, g, s) return R.mul(g, R.sign(s[1])) end           -- sign(a); 0 at 0
  D.sin = function (_, g, s) return R.mul(g, R.cos(s[1])) end
  D.cos = function (_, g, s) return R.mul(g, R.neg(R.sin(s[1]))) end
  D.erf = function (_, g, s)                                             -- 2/sqrt(pi) e^{-a^2}
    return R.mul(g, R.mul(R.exp(R.neg(R.mul(s[1], s[1]))), 2 / math.sqrt(math.pi)))
  end
  -- relu, sigmoid, tanh: the layers' pair, from the output y
  -- (nn/activation.c: relu' = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2)
  D.relu = function (_, g, s) return RF.activation_backward(g, s.out, "relu") end
  D.sigmoid = function (_, g, s) return RF.activation_backward(g, s.out, "sigmoid") end
  D.tanh = function (_, g, s) return RF.activation_backward(g, s.out, "tanh") end
  -- clamp(a, lo, hi): g where lo <= a <= hi, else 0 (as PyTorch: the bounds pass)
  D.clamp = function (_, g, s)
    local lo, hi = s[2] or -math.huge, s[3] or math.huge
    return R.mul(g, R.mul(R.ge(s[1], lo), R.le(s[1], hi)))
  end
  -- floor, round, sign: piecewise constant, gradient 0 (as PyTorch)
  local function zero_grad(n, g) return zeros_on(n.shapes[1], g.device) end
  D.floor, D.round, D.sign = zero_grad, zero_grad, zero_grad
  -- what each derivative above reads: the output, the input, or neither
  for name in ("exp sqrt rsqrt relu sigmoid tanh"):gmatch("%S+") do
    def(M.methods, name, simple(name, 1, "out"))
  end
  for name in ("log abs sin cos erf clamp"):gmatch("%S+") do
    def(M.methods, name, simple(name, 1, "in"))
  end
  for name in ("floor round sign"):gmatch("%S+") do def(M.methods, name, simple(name, 1)) end

  -- --- reductions ---------------------------------------------------------------------

  -- g (the reduced shape) back to a's shape: dim d put back as size 1
  -- (unless keepdim kept it), then repeated along it
  local function unreduce(g, shape, d, keepdim)
    if d ~= nil and not keepdim then g = R.unsqueeze(g, d) end
    return R.expand(g, shape)
  end

  -- sum(a) or sum(a, d [, keepdim]): y_k = \sum_i a_{k,i} => dL/da_{k,i} = g_k
  local function reduce_rec(op)
    return function (raw, a, d, keepdim)
      if d == nil then
        local out = scalar(raw(a), a.device)
        return record(op, out, { n = R.numel(a) }, { a }, 1)
      end
      local out = raw(a, d, keepdim)
      return record(op, out, { d = pos_dim(d, R.dim(a)), keepdim = keepdim, n = R.size(a, d) },
                    { a }, 1)
    end
  end
  D.sum = function (n, g, s) return unreduce(g, n.shapes[1], s.d, s.keepdim) end
  -- mean: y = sum / n => dL/da = g / n
  D.mean = function (n, g, s) return R.div(unreduce(g, n.shapes[1], s.d, s.keepdim), s.n) end
  def(M.methods, "sum", reduce_rec("sum"))
  def(M.methods, "mean", reduce_rec("mean"))

  -- max(a) / max(a, d): the gradient goes to the element chosen (argmax;
  -- the first of equal ones, as the index max returns), as PyTorch's max(dim)
  local function max_rec(op, argop)
    return function (raw, a, d, keepdim)
      if d == nil then
        local out = scalar(raw(a), a.device)
        return record(op, out, { flat = R[argop](a) }, { a }, 1)
      end
      local v, idx = raw(a, d, keepdim)
      record(op, v, { d = pos_dim(d, R.dim(a)), keepdim = keepdim, idx = idx }, { a }, 1)
      return v, idx
    end
  end
  -- put g at the indices along d: zeros:scatter_add(d, idx, g)
  local function to_indices(n, g, s)
    local shape, dev = n.shapes[1], g.device
    if s.flat then
      local idx = R.int(nn.tensor{ s.flat })
      if dev ~= "cpu" then idx = R.to(idx, dev) end
      local flat = R.scatter_add(zeros_on({ numel_of(shape) }, dev), 1, idx, R.view(g, 1))
      return R.view(flat, shape)
    end
    local gk, ik = g, s.idx
    if not s.keepdim then gk, ik = R.unsqueeze(g, s.d), R.unsqueeze(ik, s.d) end
    return R.scatter_add(zeros_on(shape, dev), s.d, ik, gk)
  end
  D.max, D.min = to_indices, to_indices
  def(M.methods, "max", max_rec("max", "argmax"))
  def(M.methods, "min", max_rec("min", "argmin"))

  -- sort(a [, d [, descending]]), topk(a, k [, d ...]): values = a gathered
  -- at the indices, so dL/da = zeros:scatter_add(d, idx, g)
  local function sorted_rec(op, dim_arg)
    return function (raw, a, ...)
      local v, idx = raw(a, ...)
      local d = select(dim_arg - 1, ...) or -1
      record(op, v, { d = pos_dim(d, R.dim(a)), keepdim = true, idx = idx }, { a }, 1)
      return v, idx
    end
  end
  D.sort, D.topk = to_indices, to_indices
  def(M.methods, "sort", sorted_rec("sort", 2))
  def(M.methods, "topk", sorted_rec("topk", 3))

  -- var(a), std(a) over all elements, unbiased (n - 1) as t:var():
  -- dvar/da = 2 (a - mean) / (n - 1);  dstd/da = (a - mean) / ((n - 1) std)
  local function var_rec(op)
    return function (raw, a)
      local out = scalar(raw(a), a.device)
      return record(op, out, { a, out = out }, { a }, 1)
    end
  end
  D.var = function (_, g, s)
    local a = s[1]
    local c = R.sub(a, R.mean(a))
    return R.mul(g, R.mul(c, 2 / (R.numel(a) - 1)))
  end
  D.std = function (_, g, s)
    local a = s[1]
    local c = R.sub(a, R.mean(a))
    return R.mul(R.div(g, s.out), R.div(c, R.numel(a) - 1))
  end
  def(M.methods, "var", var_rec("var"))
  def(M.methods, "std", var_rec("std"))

  -- norm(a [, p [, d [, keepdim]]]) = (\sum |a|^p)^{1/p}:
  --   dL/da = g sign(a) |a|^{p-1} / y^{p-1}   (p = 2: g a / y)
  --   p = inf: g sign(a) at the largest |a| (shared among ties)
  -- where y = 0 the gradient is 0 (a subgradient, as PyTorch)
  M.methods.norm = { rec = function (raw, a, p, d, keepdim)
    local out = raw(a, p, d, keepdim)
    if d == nil then out = scalar(out, a.device) end
    return record("norm", out, { a, p = p or 2, d = d and pos_dim(d, R.dim(a)),
                                 keepdim = keepdim, out = out }, { a }, 1)
  end }
  D.norm = function (n, g, s)
    local a, p, shape = s[1], s.p, n.shapes[1]
    local y, gk = s.out, g
    if s.d ~= nil and not s.keepdim then y, gk = R.unsqueeze(y, s.d), R.unsqueeze(g, s.d) end
    local ga
    if p == math.huge then
      local at = R.eq(R.abs(a), y)
      local count = s.d and R.sum(at, s.d, true) or R.sum(at)
      ga = R.mul(R.mul(R.sign(a), at), R.div(gk, count))
    elseif p == 2 then
      ga = R.mul(R.div(a, y), gk)
    else
      ga = R.mul(R.mul(R.sign(a), R.div(R.pow(R.abs(a), p - 1), R.pow(y, p - 1))), gk)
    end
    ga = R.masked_fill(ga, R.eq(R.expand(y, shape), 0), 0)
    return ga
  end

  -- prod(a [, d [, keepdim]]): dL/da_i = g \prod_{j != i} a_j = g y / a_i.
  -- "Where simple": a zero in a raises at backward (PyTorch handles it with
  -- products of the others; nnlua does not: it would divide by zero).
  M.methods.prod = { rec = function (raw, a, d, keepdim)
    local out = raw(a, d, keepdim)
    if d == nil then out = scalar(out, a.device) end
    return record("prod", out, { a, d = d and pos_dim(d, R.dim(a)), keepdim = keepdim, out = out },
                  { a }, 1)
  end }
  D.prod = function (n, g, s)
    local a = s[1]
    if R.any(R.eq(a, 0)) then
      error("backward: 'prod' of a tensor holding a zero has no derivative in nnlua "
            .. "(y / a divides by zero)", 0)
    end
    local y, gk = s.out, g
    if s.d ~= nil and not s.keepdim then y, gk = R.unsqueeze(y, s.d), R.unsqueeze(g, s.d) end
    return R.mul(R.div(R.expand(y, n.shapes[1]), a), gk)
  end

  -- logsumexp(a, d [, keepdim]): dL/da = g exp(a - y) = g softmax(a)
  M.methods.logsumexp = { rec = function (raw, a, d, keepdim)
    local out = raw(a, d, keepdim)
    return record("logsumexp", out, { a, d = pos_dim(d, R.dim(a)), keepdim = keepdim, out = out },
                  { a }, 1)
  end }
  D.logsumexp = function (_, g, s)
    local y, gk = s.out, g
    if not s.keepdim then y, gk = R.unsqueeze(y, s.d), R.unsqueeze(g, s.d) end
    return R.mul(R.exp(R.sub(s[1], y)), gk)
  end

  -- softmax(a, d): dL/da = y (g - \sum_d g y); log_softmax: g - e^y \sum_d g.
  -- Along the last dim this is the Softmax layer's pair
  -- (nn.F.activation_backward, nn/softmax.c), on rows; else the formula.
  local function softmax_rec(op)
    return function (raw, a, d)
      local out = raw(a, d)
      return record(op, out, { d = pos_dim(d, R.dim(a)), out = out }, { a }, 1)
    end
  end
  local function softmax_d(act)
    return function (n, g, s)
      local shape, y, d = n.shapes[1], s.out, s.d
      if d == #shape then
        local c = shape[d]
        local rows = numel_of(shape) // math.max(c, 1)
        return R.view(RF.activation_backward(R.view(g, rows, c), R.view(y, rows, c), act), shape)
      end
      if act == "softmax" then return R.mul(y, R.sub(g, R.sum(R.mul(g, y), d, true))) end
      return R.sub(g, R.mul(R.exp(y), R.sum(g, d, true)))
    end
  end
  D.softmax, D.log_softmax = softmax_d("softmax"), softmax_d("log_softmax")
  def(M.methods, "softmax", softmax_rec("softmax"))
  def(M.methods, "log_softmax", softmax_rec("log_softmax"))

  -- cumsum(a, d): y_i = \sum_{j <= i} a_j => dL/da_j = \sum_{i >= j} g_i,
  -- the reversed cumulative sum = total - cumsum(g) + g
  M.methods.cumsum = { rec = function (raw, a, d)
    local out = raw(a, d)
    return record("cumsum", out, { d = pos_dim(d, R.dim(a)) }, { a }, 1)
  end }
  D.cumsum = function (_, g, s)
    return R.add(R.sub(R.sum(g, s.d, true), R.cumsum(g, s.d)), g)
  end

  -- --- matrix products ---------------------------------------------------------------

  -- C = op(A) op(B):  dL/dop(A) = G op(B)^T,  dL/dop(B) = op(A)^T G
  -- (Goodfellow et al., Deep Learning, sec. 6.5.6); with op(A) = A^T the
  -- gradient of A is that transposed: dL/dA = op(B) G^T; likewise B.  The
  -- transposes are matmul's flags, never copies.  A 1-D operand is a row
  -- (left) or a column (right), its dim put back; batch dims that were
  -- broadcast are summed back (to_shape).
  local function matmul_d(n, g, s)
    local a, b, ta, tb = s[1], s[2], s[3] and true or false, s[4] and true or false
    local sa, sb = n.shapes[1], n.shapes[2]
    if #sa == 1 and #sb == 1 then
      a, b, g = R.view(a, 1, sa[1]), R.view(b, sb[1], 1), R.view(g, 1, 1)
    elseif #sa == 1 then                             -- (K) @ (..., K, N): g (..., N) -> (..., 1, N)
      a, g = R.view(a, 1, sa[1]), R.unsqueeze(g, R.dim(g))
    elseif #sb == 1 then                             -- (..., M, K) @ (K): g (..., M) -> (..., M, 1)
      b, g = R.view(b, sb[1], 1), R.unsqueeze(g, R.dim(g) + 1)
    end
    local ga, gb = false, false
    if n.next[1] then
      ga = ta and R.matmul(b, g, tb, true) or R.matmul(g, b, false, not tb)
      ga = to_shape(ga, sa)
    end
    if n.next[2] then
      gb = tb and R.matmul(g, a, true, ta) or R.matmul(a, g, not ta, false)
      gb = to_shape(gb, sb)
    end
    return ga, gb
  end
  D.matmul, D.bmm = matmul_d, matmul_d
  def(M.methods, "matmul", simple("matmul", 2, "in"))
  def(M.methods, "bmm", simple("bmm", 2, "in"))
  -- outer(a, b) = a b^T: dL/da = G b, dL/db = G^T a
  D.outer = function (n, g, s)
    return n.next[1] and R.matmul(g, s[2]), n.next[2] and R.matmul(s[1], g)
  end
  def(M.methods, "outer", simple("outer", 2, "in"))

  -- --- shapes: moves of elements, so the gradient moves them back -------------------------

  -- view, reshape, flatten, squeeze, unsqueeze: the same elements in another shape
  D.view = function (n, g) return R.view(g, n.shapes[1]) end
  for name in ("view reshape flatten squeeze unsqueeze"):gmatch("%S+") do
    def(M.methods, name, function (raw, a, ...)
      local out = raw(a, ...)
      return record("view", out, {}, { a }, 1)
    end)
  end
  -- expand, broadcast_to: a stretched => its gradient summed back
  D.expand = function (n, g) return R.sum_to_size(g, n.shapes[1]) end
  def(M.methods, "expand broadcast_to", simple("expand", 1))
  -- sum_to_size: the other way round
  D.sum_to_size = function (n, g) return R.expand(g, n.shapes[1]) end
  def(M.methods, "sum_to_size", simple("sum_to_size", 1))
  -- clone: dL/da = g
  D.clone = function (_, g) return g end
  def(M.methods, "clone", simple("clone", 1))
  -- to(device), cuda(), cpu(): the gradient goes back to a's device
  D.to = function (_, g, s) return R.to(g, s.device) end
  def(M.methods, "to cuda cpu", function (raw, a, ...)
    return record("to", raw(a, ...), { device = a.device }, { a }, 1)
  end)
  -- t(), transpose(d1, d2): the same transpose of g
  D.t = function (n, g) if #n.shapes[1] < 2 then return g end return R.t(g) end
  def(M.methods, "t", simple("t", 1))
  D.transpose = function (_, g, s) return R.transpose(g, s[2], s[3]) end
  def(M.methods, "transpose", simple("transpose", 1))
  -- permute(p): g permuted by the inverse permutation
  M.methods.permute = { rec = function (raw, a, ...)
    local out = raw(a, ...)
    local p = type(...) == "table" and (...) or { ... }
    local nd, inv = #p, {}
    for i = 1, nd do inv[pos_dim(p[i], nd)] = i end
    return record("permute", out, { inv = inv }, { a }, 1)
  end }
  D.permute = function (_, g, s) return R.permute(g, s.inv) end
  -- tril(k), triu(k): the same mask on g
  D.tril = function (_, g, s) return R.tril(g, s[2]) end
  D.triu = function (_, g, s) return R.triu(g, s[2]) end
  def(M.methods, "tril", simple("tril", 1))
  def(M.methods, "triu", simple("triu", 1))

  -- narrow(d, start, len), slice(i, j), select(d, i), split, chunk: a part
  -- of a; its gradient is g in that place, zeros elsewhere
  D.narrow = function (n, g, s)
    if s.select then g = R.unsqueeze(g, s.d) end
    return pad(g, n.shapes[1], s.d, s.start, s.len)
  end
  M.methods.narrow = { rec = function (raw, a, d, start, len)
    local out = raw(a, d, start, len)
    return record("narrow", out, { d = pos_dim(d, R.dim(a)), start = start, len = len }, { a }, 1)
  end }
  M.methods.slice = { rec = function (raw, a, i, j)
    local out = raw(a, i, j)
    local start, len = slice_range(R.size(a, 1), i, j)    -- the rows slice took
    return record("narrow", out, { d = 1, start = start, len = len }, { a }, 1)
  end }
  M.methods.select = { rec = function (raw, a, d, i)
    local out = raw(a, d, i)
    local dd = pos_dim(d, R.dim(a))
    local size = R.size(a, dd)
    return record("narrow", out, { d = dd, start = i < 0 and i + size + 1 or i, len = 1,
                                   select = true }, { a }, 1)
  end }
  local function pieces_rec(op)
    return function (raw, a, arg, d)
      local list = raw(a, arg, d)
      local dd = pos_dim(d or 1, R.dim(a))
      local start = 1
      for k = 1, #list do
        local len = R.size(list[k], dd)
        record(op, list[k], { d = dd, start = start, len = len }, { a }, 1)
        start = start + len
      end
      return list
    end
  end
  D.split, D.chunk = D.narrow, D.narrow
  def(M.methods, "split", pieces_rec("split"))
  def(M.methods, "chunk", pieces_rec("chunk"))

  -- repeat, tile: y is copies of a; dL/da = the sum of g over the copies.
  -- Dim by dim: g viewed as (outer, reps, size * inner), summed over reps.
  D["repeat"] = function (n, g)
    local sa, sy = n.shapes[1], n.shape
    local nd = #sy
    local ap = {}
    for i = 1, nd do ap[i] = sa[i - (nd - #sa)] or 1 end
    local cur = {}
    for i = 1, nd do cur[i] = sy[i] end
    for d = 1, nd do
      local reps = ap[d] > 0 and cur[d] // ap[d] or 1
      if reps > 1 then
        local outer, inner = 1, 1
        for i = 1, d - 1 do outer = outer * cur[i] end
        for i = d + 1, nd do inner = inner * cur[i] end
        g = R.sum(R.view(g, outer, reps, ap[d] * inner), 2)
        cur[d] = ap[d]
        g = R.view(g, cur)
      end
    end
    return R.view(g, sa)
  end
  def(M.methods, "repeat tile", simple("repeat", 1))

  -- index_select(d, idx) or index_select(idx) (rows): dL/da = zeros:index_add(d, idx, g)
  M.methods.index_select = { rec = function (raw, a, d, idx, out_arg)
    if (is_tensor(d) and idx ~= nil) or out_arg ~= nil then
      error("index_select: an out tensor cannot be recorded (use the form that returns a new tensor)", 0)
    end
    local out = raw(a, d, idx)                       -- the user's arguments, as given
    if is_tensor(d) then d, idx = 1, d end           -- index_select(idx): rows
    return record("index_select", out, { d = pos_dim(d, R.dim(a)), idx = idx }, { a }, 1)
  end }
  D.index_select = function (n, g, s)
    return R.index_add(zeros_on(n.shapes[1], g.device), s.d, s.idx, g)
  end
  -- gather(d, idx): dL/da = zeros:scatter_add(d, idx, g)
  M.methods.gather = { rec = function (raw, a, d, idx)
    local out = raw(a, d, idx)
    return record("gather", out, { d = pos_dim(d, R.dim(a)), idx = idx }, { a }, 1)
  end }
  D.gather = function (n, g, s)
    return R.scatter_add(zeros_on(n.shapes[1], g.device), s.d, s.idx, g)
  end
  -- scatter_add(d, idx, src): y = a + scatter(src): dL/da = g, dL/dsrc = g:gather(d, idx)
  -- index_add(d, idx, src): dL/da = g, dL/dsrc = g:index_select(d, idx)
  local function add_into_rec(op)
    return function (raw, a, d, idx, src)
      local out = raw(a, d, idx, src)
      return record(op, out, { d = pos_dim(d, R.dim(a)), idx = idx }, { a, false, false, src }, 4)
    end
  end
  D.scatter_add = function (n, g, s)
    return n.next[1] and g, false, false, n.next[4] and R.gather(g, s.d, s.idx)
  end
  D.index_add = function (n, g, s)
    return n.next[1] and g, false, false, n.next[4] and R.index_select(g, s.d, s.idx)
  end
  def(M.methods, "scatter_add", add_into_rec("scatter_add"))
  def(M.methods, "index_add", add_into_rec("index_add"))

  -- cat(list, d), stack(list, d): each input's gradient is its part of g
  local function list_rec(op)
    return function (raw, list, d)
      local out = raw(list, d)
      local n = #list
      local nd = is_tensor(list[1]) and R.dim(list[1]) or 0
      local dd = d or 1
      if op == "cat" then dd = pos_dim(dd, nd) else dd = pos_dim(dd, nd + 1) end
      return record(op, out, { d = dd }, list, n)
    end
  end
  D.cat = function (n, g, s)
    local sizes = {}
    for i = 1, n.n do sizes[i] = n.shapes[i][s.d] end
    local parts = R.split(g, sizes, s.d)
    return table.unpack(parts, 1, n.n)
  end
  D.stack = function (n, g, s)
    local parts = R.split(g, 1, s.d)
    for i = 1, n.n do parts[i] = R.view(parts[i], n.shapes[i]) end
    return table.unpack(parts, 1, n.n)
  end
  M.functions.cat = { rec = list_rec("cat") }
  M.functions.stack = { rec = list_rec("stack") }

  -- where(cond, a, b): dL/da = g where cond, dL/db = g elsewhere (each
  -- summed to its shape); x:where(cond, y) is where(cond, x, y)
  D.where = function (n, g, s)
    local cond = s.cond
    return n.next[1] and to_shape(R.nn_where(cond, g, 0), n.shapes[1]),
           n.next[2] and to_shape(R.nn_where(cond, 0, g), n.shapes[2])
  end
  M.functions.where = { rec = function (raw, cond, a, b)
    if NODE[cond] ~= nil then error("where: the condition is a mask and gets no gradient: detach it", 0) end
    local out = raw(cond, a, b)
    return record("where", out, { cond = cond }, { a, b }, 2)
  end }
  M.methods.where = { rec = function (raw, x, cond, y)
    if NODE[cond] ~= nil then error("where: the condition is a mask and gets no gradient: detach it", 0) end
    local out = raw(x, cond, y)
    return record("where", out, { cond = cond }, { x, y }, 2)
  end }
  -- masked_fill(mask, v): dL/da = g, 0 where filled
  M.methods.masked_fill = { rec = function (raw, a, mask, v)
    local out = raw(a, mask, v)
    return record("masked_fill", out, { mask = mask }, { a }, 1)
  end }
  D.masked_fill = function (_, g, s) return R.masked_fill(g, s.mask, 0) end

  -- --- nn.F: the layers' pairs, each one node whose backward IS the pair ------------------

  -- linear(x, w, b, act): nn/linear.c (4)-(6), after the activation's pair
  M.F.linear = { rec = function (raw, x, w, b, act)
    local out = raw(x, w, b, act)
    return record("linear", out, { x, w, b, act = act, out = out }, { x, w, b }, 3)
  end }
  -- A weight (and bias) that are leaves with a .grad already (a layer's
  -- own gradient tensors: nn.Lambda) get dW, db added there by the pair
  -- itself (beta = 1, as the layers accumulate), not made apart and added
  -- after: one pass over the weight less.  Not when a hook must see them.
  local function direct(c, t)
    return c and c.leaf and c.hooks == nil and not env.state.hook and GRAD[t] ~= nil and c
  end
  -- With y:backward(nil, {accumulate = false}) (env.state.zeroed), the
  -- first write of this backward into a leaf's .grad sets it (beta 0), the
  -- later ones add; weight and bias share one beta, so they go the direct
  -- way only when both are written first, or both again.
  -- The gradient at the pre-activation (gz below) is made here and read
  -- only by linear_backward: it is given back as soon as that returns.
  D.linear = function (n, g, s)
    local act = s.act
    local gz = g
    if act ~= nil and act ~= "linear" then gz = RF.activation_backward(g, s.out, act) end
    local cw, cb = n.next[2], n.next[3]
    local w, b = s[2], s[3]
    local has_bias = b ~= nil
    local gx, gw, gb
    if direct(cw, w) and (not has_bias or direct(cb, b)) then
      local zeroed = env.state.zeroed
      local acc = true
      if zeroed then
        acc = zeroed[w] == true
        if has_bias and (zeroed[b] == true) ~= acc then acc = nil end   -- one beta: not direct
      end
      if acc ~= nil then
        if zeroed then zeroed[w] = true; if has_bias then zeroed[b] = true end end
        gx = RF.linear_backward(gz, s[1], w, { bias = has_bias, grad_input = n.next[1] and true,
                                               grad_weight = GRAD[w], accumulate = acc,
                                               grad_bias = has_bias and GRAD[b] or nil })
        gw, gb = false, false
      end
    end
    if gw == nil then
      gx, gw, gb = RF.linear_backward(gz, s[1], w, { bias = has_bias, grad_input = n.next[1] and true })
    end
    if gz ~= g then release(gz) end
    return gx, gw, gb
  end
  -- activation(x, name) and relu, sigmoid, tanh, softmax, log_softmax
  local function act_rec(name)
    return function (raw, x, nm)
      local out = raw(x, nm)
      return record("F." .. (name or nm), out, { act = name or nm, out = out }, { x }, 1)
    end
  end
  local function act_d(_, g, s) return RF.activation_backward(g, s.out, s.act) end
  M.F.activation = { rec = act_rec(nil) }
  for name in ("relu sigmoid tanh softmax log_softmax linear"):gmatch("%S+") do
    D["F." .. name] = act_d
    if name ~= "linear" then M.F[name] = { rec = act_rec(name) } end
  end
  M.F.leaky_relu = { rec = function (raw, x, slope)
    local out = raw(x, slope)
    return record("F.leaky_relu", out, { x, slope = slope }, { x }, 1)
  end }
  D["F.leaky_relu"] = function (_, g, s) return RF.leaky_relu_backward(g, s[1], s.slope) end
  -- dropout(x, p, training), dropout2d: y and the mask; backward = the pair
  local function dropout_rec(op)
    return function (raw, x, p, training)
      local y, mask = raw(x, p, training)
      record(op, y, { mask = mask, training = training == nil or training }, { x }, 1)
      return y, mask
    end
  end
  M.F.dropout = { rec = dropout_rec("F.dropout") }
  M.F.dropout2d = { rec = dropout_rec("F.dropout2d") }
  D["F.dropout"] = function (_, g, s)
    if not s.training then return g end
    return RF.dropout_backward(g, s.mask)
  end
  D["F.dropout2d"] = function (_, g, s)
    if not s.training then return g end
    return RF.dropout2d_backward(g, s.mask)
  end
  -- batch_norm(x, running_mean, running_var, {weight, bias, training, ...})
  M.F.batch_norm = { rec = function (raw, x, rm, rv, opts)
    local y, sm, si = raw(x, rm, rv, opts)
    local o = type(opts) == "table" and opts or {}
    local training = o.training == nil or o.training
    record("F.batch_norm", y, { x, weight = o.weight, sm = sm, si = si, training = training },
           { x, o.weight, o.bias }, 3)
    return y, sm, si
  end }
  D["F.batch_norm"] = function (_, g, s)
    return RF.batch_norm_backward(g, s[1], s.sm, s.si, s.weight, s.training)
  end
  -- add(a, b), concat(list, d): the Add and Concat layers' pairs
  M.F.add = { rec = simple("F.add", 2, "in") }
  D["F.add"] = function (_, g, s) return RF.add_backward(g, s[1], s[2]) end
  M.F.concat = { rec = function (raw, list, d)
    local out = raw(list, d)
    local keep = {}
    for i = 1, #list do keep[i] = list[i] end
    return record("F.concat", out, { list = keep, d = d }, list, #list)
  end }
  D["F.concat"] = function (n, g, s)
    return table.unpack(RF.concat_backward(g, s.list, s.d), 1, n.n)
  end
  -- conv2d(x, w, b, opts): nn/conv.c (4)-(9)
  M.F.conv2d = { rec = function (raw, x, w, b, opts)
    local out = raw(x, w, b, opts)
    return record("F.conv2d", out, { x, w, b, opts = opts }, { x, w, b }, 3)
  end }
  D["F.conv2d"] = function (n, g, s)
    local o = { bias = s[3] ~= nil, grad_input = n.next[1] and true }
    for k, v in pairs(s.opts or {}) do o[k] = v end
    return RF.conv2d_backward(g, s[1], s[2], o)
  end
  -- pools: nn/pool.c's pairs
  M.F.max_pool2d = { rec = function (raw, x, k, opts)
    local y, idx = raw(x, k, opts)
    record("F.max_pool2d", y, { x, k = k, opts = opts, idx = idx }, { x }, 1)
    return y, idx
  end }
  D["F.max_pool2d"] = function (_, g, s) return RF.max_pool2d_backward(g, s[1], s.idx, s.k, s.opts) end
  M.F.avg_pool2d = { rec = function (raw, x, k, opts)
    local y = raw(x, k, opts)
    return record("F.avg_pool2d", y, { x, k = k, opts = opts }, { x }, 1)
  end }
  D["F.avg_pool2d"] = function (_, g, s) return RF.avg_pool2d_backward(g, s[1], s.k, s.opts) end
  M.F.adaptive_avg_pool2d = { rec = function (raw, x, size)
    local y = raw(x, size)
    return record("F.adaptive_avg_pool2d", y, { x }, { x }, 1)
  end }
  D["F.adaptive_avg_pool2d"] = function (_, g, s) return RF.adaptive_avg_pool2d_backward(g, s[1]) end

  -- the losses: a 0-dim tensor L (a number without recording);
  -- dL/dx = the loss's pair (its dL/dx for L itself) times g.  Targets are
  -- data: a target that requires grad is refused, not silently ignored.
  local function loss_rec(name, with_eps)
    return function (raw, x, t, a3, a4)
      if NODE[t] ~= nil then
        error(("%s: the target requires grad; nnlua's losses give no gradient to the "
               .. "target (pass target:detach())"):format(name), 0)
      end
      local v = raw(x, t, a3, a4)
      local out = scalar(v, x.device)
      return record("F." .. name, out, { x, t, a3, a4, with_eps = with_eps }, { x }, 1)
    end
  end
  local function loss_d(name)
    local back = name .. "_backward"
    return function (_, g, s)
      local d = RF[back](s[1], s[2], s[3], s[4])     -- made here, read once: given back
      local gx = R.mul(d, g)
      release(d)
      return gx
    end
  end
  for name in ("mse_loss l1_loss bce_loss bce_with_logits_loss cross_entropy nll_loss "
               .. "categorical_crossentropy"):gmatch("%S+") do
    M.F[name] = { rec = loss_rec(name) }
    D["F." .. name] = loss_d(name)
  end
end

return M
