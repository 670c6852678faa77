--- spec/helpers.lua -- small helpers shared by the tensor specs.
--   local H = require "spec.helpers"     (spec/run.lua puts the root on package.path)
local H = {}

-- Raise a test *failure* (busted reports an `error` as an error, and only
-- its own fail() as a failure).  level as for error(): 2 = our caller's caller.
local function fail (msg, level)
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and busted.fail then
    busted.fail(msg, level + 1)
  end
  error(msg, level + 1)
end

-- float32 has a 24-bit significand: one unit in the last place (ulp) of a
-- value near 1 is 2^-23 ~ 1.2e-7.
H.FLT_EPS = 2 ^ -23

-- Tolerances, and why:
--  * EXACT (0): integers below 2^24 and dyadic fractions such as 0.25 are
--    exact in float32, and so are their sums, products and quotients while the
--    results stay such numbers; float32 arithmetic then has no rounding.
--  * ROUND: a decimal such as 0.1 is not a float32; stored, it is off by up to
--    half an ulp (6e-8 relative).  One float32 op on such inputs adds another
--    half ulp.  4 ulp (4.8e-7 relative) covers that with room.
--  * LIBM: expf, logf, tanhf, powf ... of glibc are within 1-2 ulp of the true
--    value, which we computed in double; 8 ulp (1e-6 relative) covers the
--    function error plus the rounding of its input.
H.EXACT = 0
H.ROUND = 4 * H.FLT_EPS
H.LIBM = 8 * H.FLT_EPS

--- |got - want| <= rel * max(1, |want|)  (relative for big values, absolute near 0).
function H.close (got, want, rel)
  if got ~= got or want ~= want then return got ~= got and want ~= want end   -- nan
  if got == want then return true end                  -- also +-inf
  return math.abs(got - want) <= (rel or 0) * math.max(1, math.abs(want))
end

local function flatten (v, out)
  if type(v) == "table" then
    for i = 1, #v do flatten(v[i], out) end
  else
    out[#out + 1] = v
  end
  return out
end
H.flatten = flatten

local function shape_of (v, out)
  out = out or {}
  if type(v) == "table" then
    out[#out + 1] = #v
    shape_of(v[1], out)
  end
  return out
end

local function shape_text (s)
  return "[" .. table.concat(s, "x") .. "]"
end
H.shape_text = shape_text

--- Assert tensor t has the shape and values of the nested table `want`
--  (element-wise within rel, see H.close).  Reads t through t.shape and
--  t:get(...), not t:totable(), so totable's own spec can use this.
function H.assert_tensor (t, want, rel, what)
  what = what and (what .. ": ") or ""
  if type(t) ~= "userdata" then fail(what .. "expected a tensor, got " .. type(t), 2) end
  local wshape = shape_of(want)
  local gshape = t.shape
  if shape_text(gshape) ~= shape_text(wshape) then
    fail(("%sshape %s, expected %s"):format(what, shape_text(gshape), shape_text(wshape)), 2)
  end
  local flat = flatten(want, {})
  -- walk every multi-index in row-major order
  local idx = {}
  for d = 1, #wshape do idx[d] = 1 end
  for k = 1, #flat do
    local got = t:get(table.unpack(idx))
    if not H.close(got, flat[k], rel) then
      fail(("%selement [%s] is %.9g, expected %.9g (rel tol %g)")
           :format(what, table.concat(idx, ","), got, flat[k], rel or 0), 2)
    end
    for d = #wshape, 1, -1 do            -- next index, last dim fastest
      idx[d] = idx[d] + 1
      if idx[d] <= wshape[d] then break end
      idx[d] = 1
    end
  end
end

--- Assert a number is close to the expected one.
function H.assert_close (got, want, rel, what)
  if not H.close(got, want, rel) then
    fail(("%s%.9g, expected %.9g (rel tol %g)")
         :format(what and (what .. ": ") or "", got, want, rel or 0), 2)
  end
end

--- The message of the error that fn raises (fails if it raises none).
function H.error_of (fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then fail("expected an error, but the call succeeded", 3) end
  return tostring(err)
end

--- Assert fn raises an error whose message contains each of the plain
--  strings in `parts` (no Lua patterns: "[3x4]" means just that).
function H.assert_error_has (fn, parts)
  local msg = H.error_of(fn)
  for _, p in ipairs(parts) do
    if not msg:find(p, 1, true) then
      fail(("error message %q does not contain %q"):format(msg, p), 2)
    end
  end
  return msg
end

-- --- layers and losses ---------------------------------------------------

--- randn(...) pushed at least `margin` away from 0 (sign kept): inputs for
--  a gradient check of a layer with a kink at 0 (ReLU, LeakyReLU, L1), so
--  that no x +- h of the finite difference crosses it.  margin: 0.1 (ten
--  times gradcheck's h = 1e-2).
function H.randn_away (margin, ...)
  local nn = require "nn"
  local t = nn.tensor.randn(...)
  return t + (t / t:abs()) * (margin or 0.1)
end

--- Assert crit:forward(x, t) is want.loss and crit:backward() is want.grad
--  (a nested table), both within rel; `what` names the case.
function H.assert_loss (crit, x, t, want, rel, what)
  H.assert_close(crit:forward(x, t), want.loss, rel, what .. " loss")
  H.assert_tensor(crit:backward(), want.grad, rel, what .. " grad")
end

--- Assert nn.gradcheck(...) passes; on failure the message is its report.
function H.assert_gradcheck (...)
  local nn = require "nn"
  local ok, report = nn.gradcheck(...)
  if not ok then fail(tostring(report), 2) end
  return report
end

-- --- child processes: the specs that run nnlua itself (cli, repl) ---------

--- s quoted for /bin/sh.
function H.shell_quote (s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- p made absolute against the current directory.
function H.abspath (p)
  if p:sub(1, 1) == "/" then return p end
  local h = io.popen("pwd")
  local cwd = h:read("l")
  h:close()
  return cwd .. "/" .. p
end

--- The binary under test: $NNLUA (make asan sets it), else ./nnlua.
H.NNLUA = H.abspath(os.getenv("NNLUA") or "./nnlua")

--- A fresh empty directory (absolute path) for the files a case writes.
function H.temp_dir ()
  local base = os.tmpname()
  os.remove(base)
  assert(os.execute("mkdir " .. H.shell_quote(base)))
  return base
end

--- rm -rf dir (nil is fine).
function H.remove_dir (dir)
  if dir then os.execute("rm -rf " .. H.shell_quote(dir)) end
end

--- Run `nnlua args` (args already quoted as needed) in a shell; returns its
-- stdout and stderr together, and its exit status.
function H.run (args)
  local p = assert(io.popen(H.NNLUA .. " " .. args .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)\n$"))
  return out:gsub("exit=%d+\n$", ""), code
end

--- ok, data: nn.datasets.fashion_mnist{}, after preparing data/ from the
-- Debian package (CI installs it) when the copy is not there yet.
function H.fashion_mnist ()
  local nn = require "nn"
  local ok, data = pcall(nn.datasets.fashion_mnist, {})
  if not ok then
    os.execute("bash scripts/prepare_data.sh fashion-mnist >/dev/null 2>&1")
    ok, data = pcall(nn.datasets.fashion_mnist, {})
  end
  return ok, data
end

--- The whole file, or nil when it cannot be opened.
function H.read_file (path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.write_file (path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- A loss object over a pure pair of nn.functional, for nn.gradcheck:
-- forward(x, t) = fwd(x, t, reduction), backward(x, t) = bwd(x, t,
-- reduction) * scale (scale ~= 1 breaks it on purpose, to show the check
-- can fail).
function H.loss_pair (fwd, bwd, reduction, scale)
  return {
    forward = function (_, x, t) return fwd(x, t, reduction) end,
    backward = function (_, x, t) return bwd(x, t, reduction) * (scale or 1) end,
  }
end

-- --- a layer on the CPU and its copy on CUDA (the BatchNorm CUDA specs) ---

--- The tensors a pass leaves in layer l, by name: output, grad_input, its
-- buffers, and the parameter gradients when it has parameters.
function H.layer_fields (l)
  local t = { output = l.output, grad_input = l.grad_input }
  for name, b in pairs(l:buffers()) do t[name] = b end
  if l.weight then t.grad_weight, t.grad_bias = l.grad_weight, l.grad_bias end
  return t
end

--- Every field of the CUDA layer `gpu` is on cuda and within tol of the CPU
-- layer's (H.close's relative tolerance).
function H.assert_same_layer (gpu, cpu, tol, what)
  local want = H.layer_fields(cpu)
  for name, t in pairs(H.layer_fields(gpu)) do
    assert(t.device == "cuda", what .. ": " .. name .. " is not on cuda")
    H.assert_tensor(t:cpu(), want[name]:totable(), tol, what .. ": " .. name)
  end
end

--- make(C, opts) on the CPU, with weight and bias (when it has them) drawn
-- from the seed, and a copy of it moved to CUDA: cpu, gpu.
function H.cpu_gpu_pair (make, C, opts, seed)
  local nn = require "nn"
  nn.manual_seed(seed)
  local cpu, gpu = make(C, opts), make(C, opts)
  if cpu.weight then
    cpu.weight:copy(nn.tensor.randn(C)); cpu.bias:copy(nn.tensor.randn(C))
    gpu.weight:copy(cpu.weight); gpu.bias:copy(cpu.bias)
  end
  gpu:cuda()
  return cpu, gpu
end

--- forward x and backward g through both layers (x and g copied to CUDA for gpu)
function H.step_both (cpu, gpu, x, g)
  cpu:forward(x); cpu:backward(g)
  gpu:forward(x:cuda()); gpu:backward(g:cuda())
end

return H
