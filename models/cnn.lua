--- models/cnn.lua -- a small CNN for 28x28 greyscale images (Fashion-MNIST,
-- the MNIST digits): Conv2d 3x3 + BatchNorm2d + ReLU blocks, the image
-- halved by a 2x2 max-pool three times, then a Dense hidden layer with
-- dropout around it, and the Dense layer of the logits.
-- scripts/train.lua --model cnn trains it (with random crops and flips);
-- copy the file to start your own.
--
--   local build = dofile("models/cnn.lua")
--   model = build()            -- x (B, 1, 28, 28) -> logits (B, 10)
--   model = build(16)          -- narrower: 16, 32 and 64 channels
--
-- The shapes, for a batch of B images and width w (32 by default):
--   x                                        (B,  1, 28, 28)
--   Conv2d(1 -> w, 3, p 1), BN, ReLU          (B,  w, 28, 28)
--   MaxPool2d(2)                              (B,  w, 14, 14)
--   Conv2d(w -> 2w, 3, p 1), BN, ReLU         (B, 2w, 14, 14)
--   Conv2d(2w -> 2w, 3, p 1), BN, ReLU        (B, 2w, 14, 14)
--   MaxPool2d(2)                              (B, 2w,  7,  7)
--   Conv2d(2w -> 4w, 3, p 1), BN, ReLU        (B, 4w,  7,  7)
--   MaxPool2d(2)                              (B, 4w,  3,  3)   (floor(7 / 2) = 3)
--   Flatten, Dropout(0.2)                     (B, 36w)
--   Dense(36w -> 256) ReLU, Dropout(0.3)      (B, 256)
--   Dense(256 -> 10)                          (B, 10)           the logits
-- No bias in the convolutions: the BatchNorm after each adds its own (beta).
-- Why this shape: each 3x3 convolution sees more of the image than the one
-- before (3, 8, 12, then 22 pixels across), BatchNorm lets a
-- large learning rate train it in a few epochs, and the pooling keeps the
-- work small.  The second convolution at 14x14 and the hidden Dense layer
-- are what took it past the net without them (92.3% to 93.7% on
-- Fashion-MNIST): that net underfit, its training accuracy no higher than
-- its test accuracy.  At w = 32 a training step costs about 90 MFLOP per
-- image (three times the forward's 15 M multiply-adds), 70% of it in the
-- two 14x14 convolutions.
return function (width)
  local w = width or 32
  local layers = {}
  local function add (...) for _, l in ipairs{ ... } do layers[#layers + 1] = l end end
  local function conv (c_in, c_out)   -- Conv2d 3x3 + BatchNorm2d + ReLU, same size out
    add(nn.Conv2d(c_in, c_out, 3, { padding = 1, bias = false }), nn.BatchNorm2d(c_out), nn.ReLU())
  end
  conv(1, w);          add(nn.MaxPool2d(2))
  conv(w, 2 * w);      conv(2 * w, 2 * w);      add(nn.MaxPool2d(2))
  conv(2 * w, 4 * w);  add(nn.MaxPool2d(2))
  add(nn.Flatten(), nn.Dropout(0.2), nn.Dense(36 * w, 256, { activation = "relu" }),
      nn.Dropout(0.3), nn.Dense(256, 10))
  return nn.Model(layers)
end
