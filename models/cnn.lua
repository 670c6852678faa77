--- models/cnn.lua -- a small CNN for 28x28 greyscale images (Fashion-MNIST,
-- the MNIST digits): three blocks of Conv2d 3x3 + BatchNorm2d + ReLU, each
-- halving the image with a 2x2 max-pool, then Dropout and one Dense.
-- scripts/train.lua --model cnn trains it (with random crops and flips);
-- copy the file to start your own.
--
--   local build = dofile("models/cnn.lua")
--   model = build()            -- x (B, 1, 28, 28) -> logits (B, 10)
--   model = build(48)          -- wider: 48, 96, 192 channels
--
-- The shapes, for a batch of B images and width w (32 by default):
--   x                                        (B,  1, 28, 28)
--   Conv2d(1 -> w, 3, p 1), BN, ReLU          (B,  w, 28, 28)
--   MaxPool2d(2)                              (B,  w, 14, 14)
--   Conv2d(w -> 2w, 3, p 1), BN, ReLU         (B, 2w, 14, 14)
--   MaxPool2d(2)                              (B, 2w,  7,  7)
--   Conv2d(2w -> 4w, 3, p 1), BN, ReLU        (B, 4w,  7,  7)
--   MaxPool2d(2)                              (B, 4w,  3,  3)   (floor(7 / 2) = 3)
--   Flatten, Dropout(0.3)                     (B, 36w)
--   Dense(36w -> 10)                          (B, 10)           the logits
-- No bias in the convolutions: the BatchNorm after each adds its own (beta).
-- Why this shape: the 3x3 convolutions see more of the image at each block
-- (3, 8, 18 pixels across), BatchNorm lets a large learning rate train it in
-- a few epochs, and the pooling keeps the work small: at w = 32 a training
-- step costs about 44 MFLOP per image, most of it in the second and third
-- convolutions.
return function (width)
  local w = width or 32
  local function block(c_in, c_out)
    return nn.Conv2d(c_in, c_out, 3, { padding = 1, bias = false }), nn.BatchNorm2d(c_out),
           nn.ReLU(), nn.MaxPool2d(2)
  end
  local layers = {}
  for _, pair in ipairs{ { 1, w }, { w, 2 * w }, { 2 * w, 4 * w } } do
    for _, l in ipairs{ block(pair[1], pair[2]) } do layers[#layers + 1] = l end
  end
  layers[#layers + 1] = nn.Flatten()
  layers[#layers + 1] = nn.Dropout(0.3)
  layers[#layers + 1] = nn.Dense(36 * w, 10)
  return nn.Model(layers)
end
