-- Lesson 4: a Model that trains itself, on real clothes (Fashion-MNIST).
-- Run it:  ./nnlua tutorials/04_model.lua   (first: bash scripts/prepare_data.sh)
-- Or:      ./nnlua -i tutorials/04_model.lua   runs it, then stays at
--           the prompt with its globals (data, model, history, cm, x_test ...)
--
-- Lessons 2 and 3 did the training round by hand: forward through each
-- layer, a loss, backward through each layer, an optimizer step.  nn.Model
-- does exactly that for a stack of layers (read lua/nn/model.lua: it is
-- short), plus what goes around it: batches, epochs, accuracy, validation,
-- checkpoints.  Here it learns to tell a shirt from a sneaker.

function section(title) print(("\n== %s"):format(title)) end

nn.manual_seed(1)

-- 1. The data: 28x28 grayscale images, flattened to 784 numbers in [0, 1],
-- and labels 1..10 (1-based, as everything in nnlua).
section("data")
data = nn.datasets.fashion_mnist{}
print("x_train", nn.repr(data.x_train):match("[^\n]+"))
print("y_train", nn.repr(data.y_train):match("[^\n]+"))
print("classes", table.concat(data.classes, ", "))
-- this lesson trains on a part of it, to run in a few seconds;
-- scripts/train.lua trains on all 60,000
x, y = data.x_train:slice(1, 12000), data.y_train:slice(1, 12000)

-- 2. The model: two Dense layers with ReLU fused in, a Dense to 10 class
-- scores (logits), and a Softmax that turns them into probabilities.
section("model")
model = nn.Model()
model:add(nn.Dense(784, 128, { activation = "relu" }))
model:add(nn.Dense(128, 64, { activation = "relu" }))
model:add(nn.Dense(64, 10))
model:add(nn.Softmax())
-- the loss compares the probabilities with the labels; Adam updates the
-- weights; accuracy = how often the most probable class is the label.
-- A Softmax output meeting this loss trains with their fused gradient,
-- p - onehot(y): see nn/loss_classification.c.
model:set{ loss = "categorical_crossentropy", optimizer = nn.optim.Adam{ lr = 1e-3 },
           accuracy = true }
model:summary()

-- 3. One step by hand, to look inside: every layer's output and gradient is
-- a live tensor.
section("one step")
loss = model:step(x:slice(1, 32), y:slice(1, 32))
print(("loss of the first batch: %.4f   (ln 10 = %.4f: a uniform guess)"):format(loss, math.log(10)))
print("probabilities of example 1:", nn.repr(model.layers[4].output:slice(1, 1)):match("[^\n]+"))
print("grad_weight of layer 1:    ", nn.repr(model.layers[1].grad_weight):match("[^\n]+"))

-- 4. Training: 3 epochs, 10% of the rows held out to watch for
-- overfitting.  train returns the history of each epoch.
section("train")
history = model:train(x, y, { epochs = 3, batch_size = 64, validation_split = 0.1,
                              verbose = 2 })
print(("accuracy went from %.3f to %.3f"):format(history.accuracy[1], history.accuracy[#history.accuracy]))

-- 5. How good is it on images it never saw?
section("test")
x_test, y_test = data.x_test:slice(1, 2000), data.y_test:slice(1, 2000)
test_loss, test_acc = model:evaluate(x_test, y_test)
print(("test loss %.4f, test accuracy %.1f%%"):format(test_loss, 100 * test_acc))
-- where it goes wrong: row = true class, column = predicted class
cm = model:confusion_matrix(x_test, y_test)
worst, wi, wj = 0, 1, 1
for i = 1, 10 do
  for j = 1, 10 do
    if i ~= j and cm:get(i, j) > worst then worst, wi, wj = cm:get(i, j), i, j end
  end
end
print(("most common mistake: %d %s taken for %s"):format(worst, data.classes[wi], data.classes[wj]))

-- 6. Save, load, and the loaded model predicts the same, bit for bit.
section("checkpoint")
path = os.tmpname()
model:save(path)
again = nn.load(path)
os.remove(path)
p1, p2 = model:predict(x_test:slice(1, 5)), again:predict(x_test:slice(1, 5))
print("same predictions after save and load:", (p1 - p2):abs():max() == 0)
print(("image 1 is labelled %s; the model says %s"):format(data.classes[y_test:get(1)],
      data.classes[p1:argmax(2):get(1)]))

-- At the prompt (./nnlua -i tutorials/04_model.lua) the lesson's globals are
-- still there.  Type, for instance (Tab completes names and fields):
--   > model:summary()
--   > history.accuracy
--   > model.layers[1].weight
--   > cm
--   > who()
