-- scripts/predict.lua -- classify one 28x28 image with a trained checkpoint.
--
--   ./nnlua scripts/predict.lua CHECKPOINT IMAGE [--invert] [--top K]
--   ./nnlua scripts/predict.lua CHECKPOINT INDEX [--dataset fashion-mnist|mnist]
--
-- IMAGE: a PGM (P2 or P5) or PNG file, 28x28, any bit depth; colour is
-- turned to gray.  The datasets hold light objects on a black background:
-- give --invert for a dark drawing on white paper.
-- INDEX: the INDEX-th image (1-based) of the dataset's test set; the true
-- class is printed beside the prediction.  The dataset defaults to the one
-- the checkpoint's classes name.
-- Prints the top K (default 3) classes with their probabilities.
local function usage(msg)
  io.stderr:write("predict.lua: ", msg, "\nusage: nnlua scripts/predict.lua CHECKPOINT IMAGE|INDEX ",
                  "[--invert] [--top K] [--dataset fashion-mnist|mnist]\n")
  os.exit(2)
end

local checkpoint, what = arg[1], arg[2]
if checkpoint == nil or what == nil then usage("needs a checkpoint and an image or index") end
local invert, top, dataset = false, 3, nil
local i = 3
while i <= #arg do
  if arg[i] == "--invert" then invert = true
  elseif arg[i] == "--top" then top = math.tointeger(tonumber(arg[i + 1])) or usage("--top needs a number"); i = i + 1
  elseif arg[i] == "--dataset" then dataset = arg[i + 1] or usage("--dataset needs a name"); i = i + 1
  else usage("unknown argument " .. arg[i]) end
  i = i + 1
end

local model = nn.load(checkpoint, { rng = false })
local classes = model.classes
local image, truth
local index = math.tointeger(tonumber(what))
if index then
  dataset = dataset or (classes and classes[1] == "0" and "mnist" or "fashion-mnist")
  local load = ({ ["fashion-mnist"] = nn.datasets.fashion_mnist, mnist = nn.datasets.mnist })[dataset]
  if not load then usage("--dataset must be fashion-mnist or mnist") end
  local data = load{}
  local n = data.x_test:size(1)
  if index < 1 or index > n then usage(("index %d is outside the test set's 1..%d"):format(index, n)) end
  image = data.x_test:slice(index, index):view(1, 784)
  truth = data.y_test:get(index)
  classes = classes or data.classes
else
  image = nn.image.load(what)
  local size = image:size()
  if size[1] ~= 28 or size[2] ~= 28 then
    usage(("%s is %dx%d; the model takes 28x28 images"):format(what, size[2], size[1]))
  end
  if invert then image = 1 - image end
  image = image:view(1, 784)
end

-- a CNN takes (1, 1, 28, 28), standardised as it was trained (model.input_*)
if model.input_shape and #model.input_shape == 3 then image = image:view(1, 1, 28, 28) end
if model.input_mean then image = (image - model.input_mean) / model.input_std end
local out = model:predict(image)
local last = model.layers[#model.layers]
local probs = out
if not (last.name == "Softmax" or last.activation == "softmax") then
  probs = nn.Softmax():forward(out)        -- logits: turn them into probabilities
end
local ranked = {}
for c = 1, probs:size(2) do ranked[c] = { c, probs:get(1, c) } end
table.sort(ranked, function (a, b) return a[2] > b[2] end)
if truth then print(("image %d of the test set, true class: %s"):format(index, classes and classes[truth] or truth)) end
for k = 1, math.min(top, #ranked) do
  local c, p = ranked[k][1], ranked[k][2]
  print(("%d. %-12s %6.2f%%"):format(k, classes and classes[c] or ("class " .. c), 100 * p))
end
