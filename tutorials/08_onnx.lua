-- Lesson 8: the model leaves nnlua.  Save it as ONNX, look at its graph, run
-- it in another program (ONNX Runtime), and bring it back.
-- Run it:  ./nnlua tutorials/08_onnx.lua   (first: bash scripts/prepare_data.sh,
--          and for part 4: bash scripts/get_onnxruntime.sh)
-- Or:      ./nnlua -i tutorials/08_onnx.lua   and stay at the prompt with
--          its globals (model, proto, imported, x ...)
--
-- ONNX (https://onnx.ai) is a file format for trained networks that most
-- frameworks read and write: PyTorch, TensorFlow, ONNX Runtime, phones and
-- browsers.  A file holds a GRAPH: a list of NODES, each an operator from a
-- fixed, versioned set (Gemm, Relu, Conv, ... of "opset 13"), reading named
-- values and writing named values, plus the weights as INITIALIZERS.  So an
-- nnlua model, once written as ONNX, runs where nnlua is not installed; and
-- a PyTorch user's model comes into nnlua the same way.

function section(title) print(("\n== %s"):format(title)) end

nn.manual_seed(1)

-- 1. The demo's model (scripts/train.lua, `make demo`): 784 -> 256 -> 128
-- -> 10, ReLU fused into the Dense layers, a Softmax at the end.  A short
-- training on part of Fashion-MNIST, so the weights mean something.
section("the model")
data = nn.datasets.fashion_mnist{}
model = nn.Sequential{
  nn.Dense(784, 256, { activation = "relu" }),
  nn.Dense(256, 128, { activation = "relu" }),
  nn.Dense(128, 10),
  nn.Softmax(),
}
model:set{ loss = "categorical_crossentropy", optimizer = nn.optim.Adam{ lr = 1e-3 }, accuracy = true }
model:train(data.x_train:slice(1, 6000), data.y_train:slice(1, 6000),
            { epochs = 1, batch_size = 64, verbose = 0 })
x = data.x_test:slice(1, 256)                      -- a real batch: 256 test images
print(("trained; accuracy on 256 test images: %.3f"):format(
  select(2, model:evaluate(x, data.y_test:slice(1, 256)))))

-- 2. Save it as ONNX.  Each Dense becomes a Gemm node (y = x W^T + b, the
-- transB = 1 attribute says "W is stored (out, in)") and, when it has a
-- fused activation, a second node for it: ONNX has no fused Dense.
section("export")
path = os.tmpname() .. ".onnx"
model:export_onnx(path)                            -- opset 13, batch size left open
print("wrote " .. path)

-- 3. Read the file back as a plain Lua table: its fields are the ones of
-- onnx.proto (ModelProto -> graph -> node, initializer, input, output).
section("the graph")
proto = nn.onnx.read(path)
print(("opset %d, produced by %s %s"):format(proto.opset_import[1].version,
      proto.producer_name, proto.producer_version))
local function shape(v) return "[" .. table.concat(v.shape, ", ") .. "]" end
print(("input  %-6s %s"):format(proto.graph.input[1].name, shape(proto.graph.input[1])))
for i, node in ipairs(proto.graph.node) do
  print(("node %d  %-8s %s -> %s"):format(i, node.op_type, table.concat(node.input, ", "),
        table.concat(node.output, ", ")))
end
print(("output %-6s %s"):format(proto.graph.output[1].name, shape(proto.graph.output[1])))
for _, t in ipairs(proto.graph.initializer) do
  print(("initializer %-16s [%s]"):format(t.name, table.concat(t.dims, "x")))
end
-- "batch" is a NAMED dimension: any batch size runs.

-- 4. Run it in ONNX Runtime, Microsoft's engine (from npm; the runner is
-- scripts/ort_run.js), and compare with nnlua's own outputs.  The sums run
-- in another order there, so expect differences of a few float32 ulps:
-- about 1e-7 of the outputs' size.
section("ONNX Runtime")
ort_ready = io.open(".onnxruntime/node_modules/onnxruntime-node/package.json") ~= nil
if ort_ready then
  local input, output = os.tmpname(), os.tmpname()
  nn.safetensors.save(input, { input = x })      -- the batch, under the graph input's name
  assert(os.execute(("node scripts/ort_run.js %s %s %s"):format(path, input, output)))
  ort_out = nn.safetensors.load(output).output
  os.remove(input)
  os.remove(output)
  local ours = model:predict(x)
  print(("max |ORT - nnlua| = %.3g   (outputs up to %.3g)"):format(
    (ort_out - ours):abs():max(), ours:abs():max()))
  print("same classes for all 256 images:",
        ort_out:argmax(2):eq(ours:argmax(2)):all())
else
  print("ONNX Runtime is not installed: bash scripts/get_onnxruntime.sh, then run this again")
end

-- 5. Back into nnlua.  nn.onnx.load maps each node to a layer (Gemm ->
-- Linear, Relu -> ReLU, ...); the model it gives trains like any other.
-- The same works for an MLP or CNN that PyTorch exported.
section("import")
imported = nn.onnx.load(path)
print(imported)
print("predicts exactly what the original does:",
      (imported:predict(x) - model:predict(x)):abs():max() == 0)

-- A graph model (nn.Model{inputs = ..., outputs = ...}, Keras's functional
-- API) exports the same way: one ONNX input per nn.Input, named by it, and
-- its outputs output_1, ...; nn.onnx.load gives back a graph model.  Here
-- a skip connection: the Dense on the raw image added to the MLP's logits.
local image = nn.Input{ 784, name = "image" }
local h = nn.Dense(784, 64, { activation = "relu" })(image)
graph_model = nn.Model{ inputs = image,
  outputs = nn.Softmax()(nn.Add()(nn.Dense(64, 10)(h), nn.Dense(784, 10)(image))) }
graph_model:export_onnx(path)
print(nn.onnx.load(path))
os.remove(path)

-- At the prompt (./nnlua -i tutorials/08_onnx.lua), look around:
--   > proto.graph.node[1]
--   > proto.graph.initializer[1].tensor
--   > nn.onnx.supported
--   > help(nn.onnx.load)
