-- scripts/train.lua -- the main job: train an MLP or a CNN on Fashion-MNIST
-- (or the MNIST digits), save a checkpoint, print the test accuracy.
--
--   ./nnlua scripts/train.lua                          Fashion-MNIST, the MLP
--   ./nnlua scripts/train.lua --model cnn              the CNN (models/cnn.lua)
--   ./nnlua scripts/train.lua --model cnn-ref          the reference CNN (models/reference_cnn.lua)
--   ./nnlua scripts/train.lua --dataset mnist --epochs 20
--   ./nnlua scripts/train.lua --resume data/fashion-mnist_mlp.safetensors --epochs 20
--
-- Options (defaults in brackets: the MLP on Fashion-MNIST's, then on MNIST's
-- where they differ; each CNN has its own, in `presets` below):
--   --model mlp|cnn|cnn-ref         [mlp]
--   --dataset fashion-mnist|mnist   [fashion-mnist]
--   --hidden 256,128                the MLP's hidden widths, Dense + ReLU each [256,128 | 1024,512]
--   --dropout P                     the MLP: Dropout after each hidden layer [0 | 0.5]
--   --epochs N                      the last epoch to run [20 | 50]
--   --batch-size N                  [128]
--   --optimizer adam|sgd|adamw|rmsprop|adagrad   [adam]
--   --lr X                          learning rate [0.001]
--   --momentum M                    SGD's momentum [0.9]
--   --nesterov yes|no               SGD's Nesterov momentum [no | yes for the CNN]
--   --weight-decay W                L2 penalty on the weights [0 | 5e-4 for the CNN]
--   --lr-decay G                    multiply the lr by G before each epoch after
--                                   the first [0.85 | 0.94]
--   --augment none|crop|crop+flip   the CNNs: random crops of the zero-padded
--                                   image (2 pixels), and left-right flips
--                                   (not for digits) [crop+flip | crop]
-- The MNIST digits are only 8,000 training images: a wider net with
-- Dropout, trained longer, generalises better there (96.5% against 94.6%).
--   --limit N                       train on the first N training images only
--                                   (a quick run) [all]
--   --validation-split F            rows held out of training to watch [0]
--   --seed N                        [1]
--   --checkpoint PATH               where to save [data/<dataset>_<model>.safetensors]
--   --resume PATH                   go on from a checkpoint (its model, optimizer,
--                                   epoch and random state)
--   --quiet                         one line per epoch even on a terminal
-- The CNNs see standardised images: (x - mean) / std with the training
-- set's mean and std, the same for the test set (and saved with the model
-- as model.input_mean, model.input_std, for scripts/predict.lua).
-- Prepare the data first:  bash scripts/prepare_data.sh all
local options = {
  model = "mlp", dataset = "fashion-mnist", seed = "1", ["validation-split"] = "0", limit = "0",
  checkpoint = nil, resume = nil, quiet = false,
}
-- the defaults by model, then by dataset (the measured figures are in the README)
local presets = {
  mlp = {
    ["fashion-mnist"] = { hidden = "256,128", dropout = "0", epochs = "20", ["lr-decay"] = "0.85",
                          ["batch-size"] = "128", optimizer = "adam", lr = "0.001", momentum = "0.9",
                          augment = "none", nesterov = "no", ["weight-decay"] = "0" },
    mnist = { hidden = "1024,512", dropout = "0.5", epochs = "50", ["lr-decay"] = "0.94",
              ["batch-size"] = "128", optimizer = "adam", lr = "0.001", momentum = "0.9",
              augment = "none", nesterov = "no", ["weight-decay"] = "0" },
  },
  cnn = {
    ["fashion-mnist"] = { epochs = "30", ["batch-size"] = "64", optimizer = "sgd", lr = "0.05",
                          momentum = "0.9", ["lr-decay"] = "0.87", augment = "crop+flip",
                          nesterov = "yes", ["weight-decay"] = "5e-4" },
    mnist = { epochs = "20", ["batch-size"] = "64", optimizer = "sgd", lr = "0.05",
              momentum = "0.9", ["lr-decay"] = "0.85", augment = "crop",
              nesterov = "yes", ["weight-decay"] = "5e-4" },
  },
  ["cnn-ref"] = {
    ["fashion-mnist"] = { epochs = "10", ["batch-size"] = "64", optimizer = "adam", lr = "0.001",
                          momentum = "0.9", ["lr-decay"] = "0.8", augment = "none",
                          nesterov = "no", ["weight-decay"] = "0" },
    mnist = { epochs = "10", ["batch-size"] = "64", optimizer = "adam", lr = "0.001",
              momentum = "0.9", ["lr-decay"] = "0.8", augment = "none",
              nesterov = "no", ["weight-decay"] = "0" },
  },
}
local preset_keys = { hidden = true, dropout = true, epochs = true, ["lr-decay"] = true,
                      ["batch-size"] = true, optimizer = true, lr = true, momentum = true,
                      augment = true, nesterov = true, ["weight-decay"] = true }
-- the model files: each returns a function that builds the model
local model_files = { cnn = "models/cnn.lua", ["cnn-ref"] = "models/reference_cnn.lua" }

local function usage(msg)
  io.stderr:write("train.lua: ", msg, "\n(see the comment at the top of scripts/train.lua)\n")
  os.exit(2)
end

local i = 1
while i <= #arg do
  local name = arg[i]:match("^%-%-([%w%-]+)$")
  if name == nil or (options[name] == nil and not preset_keys[name] and name ~= "checkpoint"
                     and name ~= "resume") then
    usage("unknown argument " .. arg[i])
  end
  if name == "quiet" then
    options.quiet = true
  else
    if arg[i + 1] == nil then usage("--" .. name .. " needs a value") end
    options[name] = arg[i + 1]
    i = i + 1
  end
  i = i + 1
end

local by_model = presets[options.model] or usage("--model must be mlp, cnn or cnn-ref")
local preset = by_model[options.dataset] or usage("--dataset must be fashion-mnist or mnist")
for k, v in pairs(preset) do
  if options[k] == nil then options[k] = v end
end

local function number(name, integer)
  local v = tonumber(options[name])
  if v == nil or (integer and math.type(v) ~= "integer") then
    usage(("--%s must be a%s number, got %s"):format(name, integer and "n integer" or "", options[name]))
  end
  return v
end

local loaders = { ["fashion-mnist"] = nn.datasets.fashion_mnist, mnist = nn.datasets.mnist }
local load = loaders[options.dataset] or usage("--dataset must be fashion-mnist or mnist")
local cnn = options.model ~= "mlp"
local data = load{ flatten = not cnn }                -- a CNN takes (N, 1, 28, 28)
print(("%s: %d training and %d test images of %dx%d"):format(options.dataset,
      data.x_train:size(1), data.x_test:size(1), 28, 28))
local limit = number("limit", true)
if limit < 0 then usage("--limit must be a number of images, 0 for all") end
if limit > 0 and limit < data.x_train:size(1) then
  data.x_train, data.y_train = data.x_train:slice(1, limit), data.y_train:slice(1, limit)
  print(("training on the first %d images (--limit)"):format(limit))
end
local input_mean, input_std
if cnn then                        -- standardise with the training set's statistics
  input_mean, input_std = data.x_train:mean(), data.x_train:std()
  nn.data.normalize(data.x_train, input_mean, input_std)
  nn.data.normalize(data.x_test, input_mean, input_std)
end

nn.manual_seed(number("seed", true))
local model
if options.resume then
  model = nn.load(options.resume)
  print(("resumed from %s at epoch %d"):format(options.resume, model.epoch))
elseif cnn then
  model = dofile(model_files[options.model])()
else
  local widths = { 784 }
  for w in options.hidden:gmatch("[^,]+") do
    widths[#widths + 1] = tonumber(w) or usage("--hidden must be widths such as 256,128")
  end
  local p = number("dropout")
  model = nn.Model()
  for k = 1, #widths - 1 do
    model:add(nn.Dense(widths[k], widths[k + 1], { activation = "relu" }))
    if p > 0 then model:add(nn.Dropout(p)) end
  end
  model:add(nn.Dense(widths[#widths], 10))
  model:add(nn.Softmax())
end
if not options.resume then
  local optimizers = { adam = "Adam", sgd = "SGD", adamw = "AdamW", rmsprop = "RMSprop",
                       adagrad = "Adagrad" }
  local opt = optimizers[options.optimizer] or usage("unknown --optimizer " .. options.optimizer)
  local settings = { lr = number("lr"), weight_decay = number("weight-decay") }
  if opt == "SGD" then
    settings.momentum = number("momentum")
    if options.nesterov ~= "yes" and options.nesterov ~= "no" then usage("--nesterov must be yes or no") end
    settings.nesterov = options.nesterov == "yes"
  end
  model:set{ loss = cnn and "cross_entropy" or "categorical_crossentropy",
             optimizer = nn.optim[opt](settings), accuracy = true }
end
model.classes = data.classes     -- saved with the checkpoint, for predict.lua
model.input_mean, model.input_std = input_mean or model.input_mean, input_std or model.input_std
model:summary(cnn and { 1, 28, 28 } or nil)

local transforms = {}
local augment = options.augment
if augment ~= "none" and augment ~= "crop" and augment ~= "crop+flip" then
  usage("--augment must be none, crop or crop+flip")
end
if augment ~= "none" then
  if not cnn then usage("--augment is for the CNNs (the MLP takes flat rows)") end
  transforms[1] = nn.data.RandomCrop(28, { padding = 2 })
  if augment == "crop+flip" then transforms[2] = nn.data.RandomHorizontalFlip() end
end

local checkpoint = options.checkpoint
                   or ("data/%s_%s.safetensors"):format(options.dataset, options.model)
local callbacks = { nn.callbacks.ModelCheckpoint{ path = checkpoint } }
local decay = number("lr-decay")
if decay ~= 1 then
  callbacks[#callbacks + 1] = nn.callbacks.LearningRateScheduler(function (epoch, lr)
    return epoch > 1 and lr * decay or lr
  end)
end

local t0 = nn.clock()
local history = model:train(data.x_train, data.y_train, {
  epochs = number("epochs", true), initial_epoch = model.epoch,
  batch_size = number("batch-size", true), validation_split = number("validation-split"),
  verbose = options.quiet and 2 or 1, callbacks = callbacks,
  transforms = #transforms > 0 and transforms or nil,
})
local seconds = nn.clock() - t0
local ran = #history.epoch
local loss, accuracy = model:evaluate(data.x_test, data.y_test)
if ran > 0 then
  print(("trained %d epochs in %.1f s (%.2f s per epoch); checkpoint: %s")
        :format(ran, seconds, seconds / ran, checkpoint))
end
print(("test loss %.4f  test accuracy %.2f%%"):format(loss, 100 * accuracy))
