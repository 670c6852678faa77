--- models/reference_cnn.lua -- the AlexNet-like network an earlier numpy
-- project trained on Fashion-MNIST (83.1% test accuracy there).  Copy this
-- file to start a CNN of your own: it returns a function that builds the
-- model, and scripts/train.lua --model cnn-ref trains it.
--
--   local build = dofile("models/reference_cnn.lua")
--   model = build()                      -- takes x (B, 1, 28, 28), gives logits (B, 10)
--
-- The shapes, for a batch of B images (NCHW):
--   x                                  (B,   1, 28, 28)
--   Conv2d(1 -> 32, k 4, stride 2)     (B,  32, 13, 13)   (28 - 4) / 2 + 1 = 13
--   Conv2d(32 -> 64, k 3, s 2, p 1)    (B,  64,  7,  7)   (13 + 2 - 3) / 2 + 1 = 7
--   Conv2d(64 -> 128, k 3, s 2, p 1)   (B, 128,  4,  4)   (7 + 2 - 3) / 2 + 1 = 4
--   Flatten                            (B, 2048)
--   Dense(2048 -> 1024), ReLU          (B, 1024)
--   Dense(1024 -> 10)                  (B, 10)            the logits
-- each Conv2d followed by a ReLU.  2.2 million parameters, 2.1 of them in
-- the first Dense.
return function ()
  return nn.Model{
    nn.Conv2d(1, 32, 4, { stride = 2 }), nn.ReLU(),
    nn.Conv2d(32, 64, 3, { stride = 2, padding = 1 }), nn.ReLU(),
    nn.Conv2d(64, 128, 3, { stride = 2, padding = 1 }), nn.ReLU(),
    nn.Flatten(),
    nn.Dense(2048, 1024, { activation = "relu" }),
    nn.Dense(1024, 10),
  }
end
