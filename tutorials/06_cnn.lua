-- Lesson 6: convolution, by hand, by im2col + GEMM, and a CNN that learns.
-- Run it:  ./nnlua tutorials/06_cnn.lua
-- Or:      ./nnlua -i tutorials/06_cnn.lua   runs it, then stays at the
--           prompt with its globals (image, kernel, by_hand, cols, conv,
--           model, feature_maps ...)
--
-- A Dense layer connects every input to every output.  An image has
-- structure a Dense layer ignores: nearby pixels belong together, and a
-- pattern (an edge, a corner) means the same thing wherever it is.  A
-- convolution slides one small kernel over the whole image, so it has few
-- weights and finds its pattern anywhere.  This lesson computes one by
-- hand, then the way nnlua (and Caffe, Torch7, PyTorch's CPU path) does it:
-- copy every patch into a column (im2col), and one matrix product does all
-- the multiplying.  The derivation, the backward pass and the index
-- mapping, drawn, are in nn/conv.c: read it beside this lesson.

function section(title) print(("\n-- %s %s"):format(title, ("-"):rep(60 - #title))) end

-- 1. Convolution by hand.  A 5x5 image, a 3x3 kernel, no padding, stride 1:
-- the output is 3x3, and each output is the sum of the kernel times the
-- patch under it (a cross-correlation, as every framework computes it):
--   y[i][j] = sum over a, b of kernel[a][b] * image[i + a - 1][j + b - 1]
section("by hand")
image = nn.tensor{{1, 2, 0, 1, 3},
                  {0, 1, 3, 2, 1},
                  {2, 0, 1, 0, 2},
                  {1, 3, 2, 1, 0},
                  {0, 1, 0, 2, 1}}
kernel = nn.tensor{{1, 0, -1},        -- a vertical-edge detector: left minus right
                   {1, 0, -1},
                   {1, 0, -1}}
by_hand = nn.tensor.zeros(3, 3)
for i = 1, 3 do
  for j = 1, 3 do
    local sum = 0
    for a = 1, 3 do
      for b = 1, 3 do sum = sum + kernel[a][b] * image[i + a - 1][j + b - 1] end
    end
    by_hand[i][j] = sum
  end
end
print("image (5x5):"); print(image)
print("kernel (3x3):"); print(kernel)
print("y = by_hand (3x3):"); print(by_hand)
-- y[1][1] = (1 + 0 + 2) - (0 + 3 + 1) = -1

-- 2. The same by im2col + GEMM.  Each of the 9 output positions has a 3x3
-- patch; unroll each patch into a column of 9 numbers.  cols is (9, 9):
-- row r = kernel entry (a, b), column c = output position (i, j).  Then the
-- whole convolution is one matrix product: (1 x 9) kernel row times
-- (9 x 9) cols = (1 x 9) outputs.  With C input channels a patch is C*9
-- long; with K kernels the weight is (K, C*9): still one product, and for
-- a batch of B images the columns of all of them sit side by side.  (On the
-- CPU nnlua multiplies a few images' columns at a time, so that they stay
-- in the processor's cache: the same product, cut into pieces.)
section("im2col + GEMM")
cols = nn.tensor.zeros(9, 9)
for i = 1, 3 do
  for j = 1, 3 do
    for a = 1, 3 do
      for b = 1, 3 do cols[(a - 1) * 3 + b][(i - 1) * 3 + j] = image[i + a - 1][j + b - 1] end
    end
  end
end
print("cols = im2col(image) (9 x 9): column c is the patch under output c")
print(cols)
gemm = kernel:view(1, 9):matmul(cols):view(3, 3)
print("kernel:view(1, 9) @ cols, seen as 3x3:"); print(gemm)
print("the same as by hand:", (gemm - by_hand):abs():max() == 0)

-- nnlua's Conv2d does exactly this, in C, for a batch (NCHW: batch, channels,
-- height, width).  Give it our kernel and no bias:
conv = nn.Conv2d(1, 1, 3, {bias = false})
conv.weight:copy(kernel:view(1, 1, 3, 3))
y = conv:forward(image:view(1, 1, 5, 5))
print("nn.Conv2d(1, 1, 3) on the image:"); print(y)
print("the same again:", (y:view(3, 3) - by_hand):abs():max() == 0)

-- 3. Backward, checked.  Conv2d's backward is two more GEMMs (dW = g cols^T,
-- dcols = W^T g) and col2im, which adds each column entry back to the pixel
-- it came from.  Is that the derivative of the forward?  Finite differences
-- say, for a layer with 2 input channels, 3 kernels, stride 2 and padding 1:
section("gradient check")
nn.manual_seed(6)
conv2 = nn.Conv2d(2, 3, 3, {stride = 2, padding = 1})
ok, report = nn.gradcheck(conv2, nn.tensor.randn(2, 2, 5, 5))
print(report)

-- 4. A CNN on Fashion-MNIST, in quick mode: 6,000 training images, one
-- epoch (scripts/train.lua --model cnn trains models/cnn.lua on all 60,000).
section("a CNN that learns")
data = nn.datasets.fashion_mnist{flatten = false}       -- x: (N, 1, 28, 28)
mean, std = data.x_train:mean(), data.x_train:std()
nn.data.normalize(data.x_train, mean, std)
nn.data.normalize(data.x_test, mean, std)
x_train, y_train = data.x_train:slice(1, 6000), data.y_train:slice(1, 6000)
x_test, y_test = data.x_test:slice(1, 2000), data.y_test:slice(1, 2000)
nn.manual_seed(1)
model = dofile("models/cnn.lua")(16)     -- 16, 32 and 64 channels: small and quick
model:set{loss = "cross_entropy", optimizer = nn.optim.SGD{lr = 0.05, momentum = 0.9},
          accuracy = true}
model:summary{1, 28, 28}
history = model:train(x_train, y_train, {epochs = 1, batch_size = 64,
                                        transforms = {nn.data.RandomHorizontalFlip()}})
test_loss, test_acc = model:evaluate(x_test, y_test)
print(("test accuracy after one epoch on 6,000 images: %.1f%%"):format(100 * test_acc))

-- 5. Look inside.  After a forward, each layer's output is live: the first
-- block's (after Conv2d, BatchNorm2d, ReLU and MaxPool2d: layer 4) holds
-- one 14x14 feature map per kernel, (B, 16, 14, 14).  Each is the image
-- seen through one learned filter, half the size.
section("feature maps")
model:predict(x_test:slice(1, 1))
feature_maps = model.layers[4].output            -- (1, 16, 14, 14), live
print(("image 1 is a %s; the first 4 of its 16 feature maps:"):format(data.classes[y_test:get(1)]))
feature_maps:narrow(2, 1, 4):view(4, 14, 14):show()
filters = model.layers[1].weight                 -- (16, 1, 3, 3): the kernels it learned
print("the first layer's 16 filters (3x3 each):")
filters:view(16, 3, 3):show()

-- At the prompt (./nnlua -i tutorials/06_cnn.lua) the lesson's globals are
-- still there.  Type, for instance:
--   > cols
--   > conv.weight
--   > model:inspect()
--   > feature_maps:narrow(2, 5, 4):view(4, 14, 14):show()
--   > model.layers[1].output:narrow(2, 1, 2):view(2, 28, 28):show()
--   > help(nn.Conv2d)
