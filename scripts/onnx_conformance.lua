--- scripts/onnx_conformance.lua -- ONNX's own backend node tests, run by nnlua.
--   ./nnlua scripts/onnx_conformance.lua [DIR] [-v]        (make onnx-conformance)
-- DIR: the node tests, by default Debian's libonnx-testdata:
-- /usr/share/libonnx-testdata/data/node/<test>/model.onnx with
-- test_data_set_<k>/input_<i>.pb and output_<i>.pb (TensorProto files).
--
-- Each test is one small model.  A test is SUPPORTED when every operator in
-- it is one nnlua runs (nn.onnx.supported), its opset is one whose form of
-- each operator nnlua runs (nn.onnx.since), and its outputs are float32
-- (its inputs float32, or INT64 for shapes; nnlua's tensors are float32: tests of
-- uint8, int64, double, float16, bool or string data are counted as
-- unsupported, with the reason).  A supported test is imported with
-- nn.onnx.Graph (lua/nn/onnx.lua) and run on each of its data sets; it
-- passes when every output has the reference's shape and
--   |got - want| <= atol + rtol * |want|      elementwise (NaN equals NaN)
-- with ONNX's own runner's tolerance: rtol = 1e-3, atol = 1e-7
-- (onnx/backend/test/loader/__init__.py sets them; runner/__init__.py
-- compares with numpy.testing.assert_allclose).
-- Prints one line per failure, the counts "N passed, N failed, N unsupported",
-- the operators covered, and (with -v) why each test is unsupported.
-- Exit status 1 when a supported test fails.
local nn = require "nn"

local RTOL, ATOL = 1e-3, 1e-7
local dir, verbose = "/usr/share/libonnx-testdata/data/node", false
for _, a in ipairs(arg) do
  if a == "-v" then verbose = true else dir = a end
end

local function ls(path, pattern)
  local out = {}
  local h = io.popen("ls -1 '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
  for line in h:lines() do
    if line:match(pattern) then out[#out + 1] = line end
  end
  h:close()
  table.sort(out)
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local claimed = {}
for _, op in ipairs(nn.onnx.supported) do claimed[op] = true end

-- why a test is not supported (nil when it is)
local function unsupported(proto)
  local opset
  for _, o in ipairs(proto.opset_import) do
    if o.domain == "" or o.domain == "ai.onnx" then opset = o.version end
  end
  for _, node in ipairs(proto.graph.node) do
    if not claimed[node.op_type] then return "operator " .. node.op_type end
    local since = nn.onnx.since[node.op_type] or nn.onnx.MIN_OPSET
    if (opset or 0) < since then
      return ("opset %s (nnlua runs %s from opset %d)"):format(tostring(opset), node.op_type, since)
    end
  end
  -- float32 data; INT64 inputs too (shapes, axes: read as integers)
  for _, v in ipairs(proto.graph.input) do
    if v.elem_type ~= 1 and v.elem_type ~= 7 then
      return ("input %s of type %s"):format(v.name, tostring(v.elem_type))
    end
  end
  for _, v in ipairs(proto.graph.output) do
    if v.elem_type ~= 1 then return ("output %s of type %s"):format(v.name, tostring(v.elem_type)) end
  end
  return nil
end

-- nil when got matches want, else the reason
local function compare(got, want, k)
  if type(got) ~= "userdata" then return ("output %d: no tensor"):format(k) end
  local gs, ws = table.concat(got:size(), "x"), table.concat(want:size(), "x")
  if gs ~= ws then return ("output %d: shape [%s], expected [%s]"):format(k, gs, ws) end
  if want:numel() == 0 then return nil end
  local diff = got:sub(want):abs()
  local close = diff:le(want:abs():mul(RTOL):add(ATOL))
  local ok = nn.maximum(nn.maximum(close, got:eq(want)), got:isnan():mul(want:isnan()))
  if ok:min() < 1 then
    local d = diff:masked_fill(diff:isnan(), math.huge):max()
    return ("output %d: max |got - want| = %.3g beyond atol + rtol |want|"):format(k, d)
  end
  return nil
end

local passed, failed, skipped = 0, {}, {}
local covered, ops_failed = {}, {}
local tests = ls(dir, "^test_")
for _, name in ipairs(tests) do
  local path = dir .. "/" .. name
  if exists(path .. "/model.onnx") then
    local ok, proto = pcall(nn.onnx.read, path .. "/model.onnx")
    local why
    if ok then why = unsupported(proto) else why = "cannot read: " .. tostring(proto) end
    if why then
      skipped[#skipped + 1] = name .. ": " .. why
    else
      local err
      local graph_ok, graph = pcall(nn.onnx.Graph.new, proto, name)
      if not graph_ok then err = tostring(graph) end
      local sets = ls(path, "^test_data_set_")
      for _, set in ipairs(sets) do
        if err then break end
        local inputs, wants = {}, {}
        -- data nnlua cannot hold (a 6-D tensor) is refused by name: the
        -- test is then unsupported
        local read_ok, read_err = pcall(function ()
          for _, f in ipairs(ls(path .. "/" .. set, "^input_%d+%.pb$")) do
            inputs[tonumber(f:match("%d+")) + 1] =
              nn.onnx.value(nn.onnx.read_tensor(path .. "/" .. set .. "/" .. f))
          end
          for _, f in ipairs(ls(path .. "/" .. set, "^output_%d+%.pb$")) do
            wants[tonumber(f:match("%d+")) + 1] = nn.onnx.read_tensor(path .. "/" .. set .. "/" .. f).tensor
          end
        end)
        local run = read_ok and table.pack(pcall(graph.predict, graph, table.unpack(inputs, 1, #graph.inputs)))
                    or { false, "its data is not supported: " .. tostring(read_err) }
        if not run[1] then
          err = set .. ": " .. tostring(run[2])
        else
          for k, want in ipairs(wants) do
            local why_not = compare(run[k + 1], want, k)
            if why_not then err = set .. ": " .. why_not break end
          end
        end
      end
      local ops = {}
      for _, node in ipairs(proto.graph.node) do ops[node.op_type] = true end
      if err and err:find("is not supported", 1, true) then
        -- a form nnlua recognises and refuses by name (a 3-D window, an
        -- integer exponent): unsupported, never a silent wrong answer
        skipped[#skipped + 1] = name .. ": " .. err
      elseif err then
        failed[#failed + 1] = name .. ": " .. err
        for op in pairs(ops) do ops_failed[op] = true end
      else
        passed = passed + 1
        for op in pairs(ops) do covered[op] = (covered[op] or 0) + 1 end
      end
    end
  end
end

for _, line in ipairs(failed) do print("FAILED " .. line) end
if verbose then
  for _, line in ipairs(skipped) do print("unsupported " .. line) end
end
local names = {}
for op, n in pairs(covered) do names[#names + 1] = ("%s (%d)"):format(op, n) end
table.sort(names)
print(("operators covered by passing tests: %d: %s"):format(#names, table.concat(names, ", ")))
local none = {}
for _, op in ipairs(nn.onnx.supported) do
  if not covered[op] then none[#none + 1] = op end
end
if #none > 0 then print("supported operators that no runnable (float32) test here covers: " .. table.concat(none, ", ")) end
print(("onnx-conformance: %d tests in %s"):format(#tests, dir))
print(("%d passed, %d failed, %d unsupported"):format(passed, #failed, #skipped))
os.exit(#failed == 0 and 0 or 1)
