--- nn: the nnlua library.
-- The C core (`nn.core`, built into the nnlua host) holds the tensors and
-- their math; this file gathers it into the table users script against, and
-- adds what is better written in Lua: printing, and (in later lessons)
-- layers, models, optimizers and data.
local core = require "nn.core"

local nn = { _VERSION = "nnlua 0.1" }

-- The tensor functions also as plain functions: nn.add(a, b), nn.matmul(a, b).
for name, value in pairs(core) do nn[name] = value end

--- nn.tensor{{1, 2}, {3, 4}}: a tensor from a nested table of numbers.
-- nn.tensor.zeros(3, 4), ones, full, rand, randn, arange: constructors.
-- Errors: raises when the table is ragged or holds something else than numbers.
nn.tensor = core.tensor

--- nn.repr(value) -> string: how the prompt shows a value; nn.set_printoptions{...},
-- nn.get_printoptions(), nn.terminal_width() (lua/nn/repr.lua).
local printing = require "nn.repr"
nn.repr = printing.repr
nn.set_printoptions, nn.get_printoptions = printing.set_printoptions, printing.get_printoptions
nn.terminal_width = printing.terminal_width

--- nn.gradcheck(layer_or_loss, input [, target] [, opts]) -> ok, report:
-- analytic gradients against central finite differences (lua/nn/gradcheck.lua).
nn.gradcheck = require "nn.gradcheck"
nn.functional = core.functional
nn.F = nn.functional

-- The Lua parts, one file each.  They may `require "nn"` at their top and
-- get this very table (filled by the time their functions run).
package.loaded.nn = nn
nn.optim = require "nn.optim"          -- SGD, Adam, ...; schedulers (lua/nn/optim.lua)
nn.data = require "nn.data"            -- load_idx, DataLoader, one_hot (lua/nn/data.lua)
nn.datasets = require "nn.datasets"    -- fashion_mnist, mnist (lua/nn/datasets.lua)
nn.safetensors = require "nn.safetensors"  -- checkpoint files (lua/nn/safetensors.lua)
nn.json = nn.safetensors.json          -- encode/decode through jansson
nn.image = nn.safetensors.image        -- load PGM/PNG as (H, W) in [0, 1], save_pgm
nn.metrics = require "nn.metrics"      -- accuracies, confusion matrix (lua/nn/metrics.lua)
nn.callbacks = require "nn.callbacks"  -- early stopping, checkpoints, ... (lua/nn/callbacks.lua)
nn.threads = require "nn.threads"      -- the thread-count governor of model:train (lua/nn/threads.lua)
--- nn.autograd: the define-by-run tape (lua/nn/autograd.lua, its ops in
-- autograd_ops.lua): t:requires_grad_(), y:backward(), t.grad, nn.no_grad(fn),
-- nn.autograd.show(y), nn.autograd.dot(y, path).
nn.autograd = require "nn.autograd"
nn.no_grad = nn.autograd.no_grad
nn.Model = require "nn.model"          -- the Keras-like Model (lua/nn/model.lua; its training
                                       -- loop in fit.lua, its checkpoints in checkpoint.lua)
nn.Sequential = nn.Model               -- nn.Sequential{l1, l2, ...}: the same class, Torch7's name
nn.load = nn.Model.load                -- nn.load(path): a saved Model (lua/nn/checkpoint.lua)
nn.Input = nn.Model._graph.Input       -- graph models: nn.Input{784}, layers called on it,
nn.call = nn.Model._graph.call         -- nn.Model{inputs = x, outputs = y} (lua/nn/graph.lua)
nn.onnx = require "nn.onnx"            -- ONNX files: model:export_onnx, nn.onnx.load (lua/nn/onnx.lua)
-- layers and losses written as formulas of recorded ops: nn.Lambda, nn.LambdaLoss,
-- nn.ResidualBlock, nn.FocalLoss (lua/nn/lambda.lua)
do
  local lambda = require "nn.lambda"
  nn.Lambda, nn.LambdaLoss = lambda.Lambda, lambda.LambdaLoss
  nn.ResidualBlock, nn.FocalLoss = lambda.ResidualBlock, lambda.FocalLoss
  nn.layer_types.ResidualBlock = nn.ResidualBlock      -- nn.load rebuilds them
end
--- nn.inspect(model) -> report: model:inspect(), as a function (lua/nn/inspect.lua)
function nn.inspect(model)
  if type(model) ~= "table" or type(rawget(model, "layers")) ~= "table" then
    error(("nn.inspect: expected a model (nn.Model), got %s"):format(
      require("nn.check").show(model)), 2)
  end
  return nn.Model.inspect(model)
end
-- pictures: nn.plot(history [, path]), t:show(), t:hist(), nn.image.save (lua/nn/plot.lua)
nn.plot = require("nn.plot").plot

-- The prompt's helpers, usable anywhere: nn.help (help.lua, its text cut
-- from the sources' comments at build time), nn.complete (Tab), nn.fields,
-- who, nn.mem, nn.timing, nn.shown (prompt.lua).  `nn` prints a short index.
local prompt = require "nn.prompt"
nn.fields, nn.who, nn.mem = prompt.fields, prompt.who, prompt.mem
nn.timing, nn.shown = prompt.timing, prompt.shown
nn.help = require "nn.help"
nn.complete = require "nn.complete"
core.Module.methods.fields = prompt.fields      -- layer:fields()
core.Criterion.methods.fields = prompt.fields   -- loss:fields()
setmetatable(nn, { __repr = function () return nn.help.index() end })

-- tostring(t) and print(t) show the same text as the prompt.
core.Tensor.__tostring = function (t) return nn.repr(t) end

-- Lua names a function in an error message by the first loaded module that
-- holds it; with nn.core gone from package.loaded that module is nn, and the
-- message reads "bad argument #2 to 'nn.matmul'".  (require "nn.core" again
-- returns the same table: the C side keeps it in the registry.)
package.loaded["nn.core"] = nil

return nn
