--- spec/parity.lua -- what the CUDA parity specs share: the device under
-- test, its availability, and compare(), which runs the same seeded work on
-- the CPU and on the device and checks every result within a tolerance.
--
-- NNLUA_PARITY_DEVICE=cpu runs the suites against the CPU itself, so that
-- they can be checked on a machine without a GPU (every comparison then
-- runs, and must pass exactly).
local nn = require "nn"
local H = require "spec.helpers"

local P = {}

P.DEV = os.getenv("NNLUA_PARITY_DEVICE") or "cuda"
P.SEED = 2026

--- true when DEV can be used (always for the CPU)
function P.available()
  if P.DEV ~= "cuda" then return true end
  return nn.cuda.is_available()
end

--- a CPU tensor of normals, and the same on dev (a copy: the same bits)
function P.randn(dev, ...)
  local t = nn.tensor.randn(...)
  return t:to(dev)
end

--- results -> a flat list of {label, value}: tensors and numbers, nested tables
local function collect(v, label, out)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function (a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do collect(v[k], label .. "." .. tostring(k), out) end
  else
    out[#out + 1] = { label, v }
  end
  return out
end

P.collect = collect

--- compare(what, tol, run): run(dev) on "cpu" and on DEV, each after the
-- same seed; every tensor or number it returns (nested tables of them too)
-- must agree within tol: |dev - cpu| <= tol * max(1, |cpu|) (H.close), nan
-- matching nan.
function P.compare(what, tol, run)
  nn.manual_seed(P.SEED)
  local want = collect(run("cpu"), what, {})
  nn.manual_seed(P.SEED)
  local got = collect(run(P.DEV), what, {})
  if #want ~= #got then
    error(("%s: the two runs return different counts (%d on the cpu, %d on %s)")
          :format(what, #want, #got, P.DEV), 2)
  end
  for i = 1, #want do
    local label, w, g = want[i][1], want[i][2], got[i][2]
    if type(w) == "userdata" then
      if table.concat(w.shape, "x") ~= table.concat(g.shape, "x") then
        error(("%s: shapes differ: [%s] on the cpu, [%s] on %s"):format(label,
              table.concat(w.shape, "x"), table.concat(g.shape, "x"), P.DEV), 2)
      end
      local a, b = w:cpu():view(-1), g:cpu():view(-1)
      for k = 1, a:numel() do
        local x, y = a:get(k), b:get(k)
        if not H.close(y, x, tol) then
          error(("%s: element %d is %.9g on %s, %.9g on the cpu (tol %g)")
                :format(label, k, y, P.DEV, x, tol), 2)
        end
      end
    elseif type(w) == "number" then
      if not H.close(g, w, tol) then
        error(("%s: %.9g on %s, %.9g on the cpu (tol %g)"):format(label, g, P.DEV, w, tol), 2)
      end
    elseif w ~= g then
      error(("%s: %s on %s, %s on the cpu"):format(label, tostring(g), P.DEV, tostring(w)), 2)
    end
  end
end

return P
