-- scripts/export_onnx.lua -- a saved nnlua model (a checkpoint of
-- model:save, such as `make demo`'s data/fashion-mnist_mlp.safetensors) as
-- an ONNX file that ONNX Runtime, PyTorch's onnx tools or any other ONNX
-- runtime reads.
--
--   ./nnlua scripts/export_onnx.lua CHECKPOINT OUT.onnx [--opset N] [--batch N]
--
-- --opset N: 13 (the default) .. 17.  --batch N: a fixed batch size instead
-- of the dynamic dimension "batch".  The sample's shape is the one the
-- checkpoint saved (scripts/train.lua saves it), else what the first layer
-- takes.  Prints the graph's nodes.  A layer that has no ONNX form is an
-- error naming it (lua/nn/onnx.lua lists the layer types that export).
-- Exit status: 0, 1 on an error, 2 on bad arguments.
local nn = require "nn"

local function usage(msg)
  io.stderr:write("export_onnx.lua: ", msg,
                  "\nusage: nnlua scripts/export_onnx.lua CHECKPOINT OUT.onnx [--opset N] [--batch N]\n")
  os.exit(2)
end

local checkpoint, out = arg[1], arg[2]
if checkpoint == nil or out == nil then usage("needs a checkpoint and an output path") end
local opts = {}
local i = 3
while i <= #arg do
  local v = math.tointeger(tonumber(arg[i + 1]))
  if arg[i] == "--opset" then opts.opset = v or usage("--opset needs a number")
  elseif arg[i] == "--batch" then opts.batch = v or usage("--batch needs a number")
  else usage("unknown argument " .. arg[i]) end
  i = i + 2
end

local ok, err = pcall(function ()
  local model = nn.load(checkpoint, { rng = false })
  local proto = nn.onnx.export(model, out, opts)
  local shape = proto.graph.input[1].shape or {}
  print(("export_onnx: %s -> %s: opset %d, input %s, %d nodes, %d initializers"):format(
    checkpoint, out, proto.opset_import[1].version, "[" .. table.concat(shape, ", ") .. "]",
    #proto.graph.node, #proto.graph.initializer))
  for k, node in ipairs(proto.graph.node) do
    print(("  %2d  %-18s %s -> %s"):format(k, node.op_type, table.concat(node.input, ", "),
                                          table.concat(node.output, ", ")))
  end
  if rawget(model, "input_mean") then
    print(("the model expects standardised inputs: (x - %g) / %g, as scripts/train.lua gave them")
          :format(model.input_mean, model.input_std))
  end
end)
if not ok then
  io.stderr:write("export_onnx.lua: ", tostring(err), "\n")
  os.exit(1)
end
