--- spec/scripts_spec.lua -- the main job (scripts/train.lua) and scripts/predict.lua,
--- run as a user runs them, in their own nnlua process.
local nn = require "nn"

local H = require "spec.helpers"
local run = H.run

describe("scripts/train.lua and scripts/predict.lua", function()
  local ok, data = H.fashion_mnist()
  if not ok then
    pending("Fashion-MNIST is not installed (bash scripts/setup.sh): " .. tostring(data))
    return
  end
  local dir = H.temp_dir()
  local ckpt = dir .. "/mlp.safetensors"

  it("train.lua trains, saves a checkpoint and prints the test accuracy", function()
    local out, code = run(("scripts/train.lua --epochs 1 --hidden 32 --quiet --checkpoint %s"):format(ckpt))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("Epoch 1/1  loss", 1, true), out)
    local acc = tonumber(out:match("test accuracy ([%d.]+)%%"))
    assert.is_true(acc ~= nil and acc > 70, out)
    assert.are.equal(1, nn.load(ckpt, { rng = false }).epoch)
  end)

  it("train.lua --resume goes on from the checkpoint's epoch", function()
    local out, code = run(("scripts/train.lua --resume %s --epochs 2 --quiet --checkpoint %s"):format(ckpt, ckpt))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("resumed from .* at epoch 1"), out)
    assert.is_truthy(out:find("Epoch 2/2  loss", 1, true), out)
    assert.is_falsy(out:find("Epoch 1/2", 1, true), out)
  end)

  it("train.lua names a bad argument", function()
    local out, code = run("scripts/train.lua --epochs")
    assert.are.equal(2, code, out)
    assert.is_truthy(out:find("--epochs needs a value", 1, true), out)
    out = run("scripts/train.lua --dataset cifar")
    assert.is_truthy(out:find("--dataset must be fashion-mnist or mnist", 1, true), out)
  end)

  it("predict.lua classifies a test image by index, with the true class", function()
    local out, code = run(("scripts/predict.lua %s 1"):format(ckpt))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("true class: Ankle boot", 1, true), out)
    assert.is_truthy(out:find("1%. [%w/%- ]+ +[%d.]+%%"), out)
  end)

  it("predict.lua classifies a PGM file the same as the test image it holds", function()
    local pgm = dir .. "/boot.pgm"
    nn.image.save_pgm(pgm, data.x_test:slice(1, 1):view(28, 28))
    local from_file = run(("scripts/predict.lua %s %s --top 1"):format(ckpt, pgm))
    local from_index = run(("scripts/predict.lua %s 1 --top 1"):format(ckpt))
    local a, b = from_file:match("1%. ([^\n]+)"), from_index:match("1%. ([^\n]+)")
    assert.is_truthy(a, from_file)
    assert.are.equal(b, a)   -- save_pgm rounds to 8 bits: the images are the same bytes
  end)

  it("train.lua --model cnn trains a CNN on 4-D images and predict.lua uses it the same way", function()
    local cnn = dir .. "/cnn.safetensors"
    -- 48 steps: models/cnn.lua's running BatchNorm statistics need that many to
    -- serve the test set (at 16 it scored 33%, above chance but under 40)
    local out, code = run(("scripts/train.lua --model cnn --limit 3072 --epochs 1 --batch-size 64 "
                           .. "--quiet --checkpoint %s"):format(cnn))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("training on the first 3072 images", 1, true), out)
    assert.is_truthy(out:find("(B, 32, 28, 28)", 1, true), out)       -- the summary's shapes
    assert.is_truthy(out:find("Epoch 1/1  loss", 1, true), out)
    local acc = tonumber(out:match("test accuracy ([%d.]+)%%"))
    assert.is_true(acc ~= nil and acc > 40, out)
    local m = nn.load(cnn, { rng = false })
    assert.are.same({ 1, 28, 28 }, m.input_shape)
    assert.is_true(math.abs(m.input_mean - 0.286) < 0.01 and math.abs(m.input_std - 0.353) < 0.01)
    out, code = run(("scripts/predict.lua %s 1"):format(cnn))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("true class: Ankle boot", 1, true), out)
    out = run("scripts/train.lua --model mlp --augment crop")
    assert.is_truthy(out:find("--augment is for the CNNs", 1, true), out)
    out = run("scripts/train.lua --model resnet")
    assert.is_truthy(out:find("--model must be mlp, cnn or cnn-ref", 1, true), out)
  end)

  it("predict.lua refuses an image that is not 28x28, and a missing file", function()
    local out, code = run(("scripts/predict.lua %s data/fixtures/image_gray8.png"):format(ckpt))
    assert.are.equal(2, code, out)
    assert.is_truthy(out:find("is 4x3; the model takes 28x28", 1, true), out)
    out, code = run(("scripts/predict.lua %s /nonexistent.png"):format(ckpt))
    assert.are_not.equal(0, code)
    assert.is_truthy(out:find("/nonexistent.png", 1, true), out)
    H.remove_dir(dir)
  end)
end)
