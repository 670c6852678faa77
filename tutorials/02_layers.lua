-- Lesson 2: a layer, forward and backward, by hand.
-- Run it:  ./nnlua tutorials/02_layers.lua
-- Or:      ./nnlua -i tutorials/02_layers.lua   runs it, then stays at
--           the prompt with its globals (layer, x, y, g, dx, criterion ...)
--
-- A network is a chain of layers.  Each layer does two things:
--   forward:   y = f(x)                 the layer's output for an input
--   backward:  dL/dx from dL/dy         the chain rule, one link of it
-- and, if it has parameters W, adds dL/dW to its gradient.  Training is
-- nothing more than: forward through every layer, a loss L at the end,
-- backward through every layer in reverse, then a small step against each
-- dL/dW.  This lesson does one such round by hand with a Linear layer, and
-- checks the calculus with finite differences.  The math of every layer is
-- written above its C code: read nn/linear.c beside this lesson.

function show(title, value)
  print(("-- %s"):format(title))
  print(nn.repr(value))
  print()
end

nn.manual_seed(0)

-- 1. A Linear (Dense) layer: y = x W^T + b.  W has shape (out, in): row j
-- holds the weights into output unit j.  It starts random (Glorot uniform,
-- as in Keras) and b starts at zero.
layer = nn.Linear(3, 2)
layer.weight:copy(nn.tensor{{0.1, -0.2, 0.3},
                            {0.5, 0.25, -1.0}})   -- easy numbers to follow
show("layer", layer)
show("layer.weight  (out=2, in=3)", layer.weight)

-- 2. Forward on a batch of 2 examples of 3 features each: x is (B, in).
x = nn.tensor{{1, 2, 3},
              {-1, 0.5, 2}}
y = layer:forward(x)
-- y[1][1] = 1*0.1 + 2*(-0.2) + 3*0.3 + 0 = 0.6
show("y = layer:forward(x)  (B=2, out=2)", y)

-- The output is a live tensor that belongs to the layer: layer.output is
-- the same object, and the next forward writes into it again.
print("y is layer.output:", y == layer.output)
print()

-- 3. A loss.  Say we want y to be 0: L = mean of y^2 (MSELoss against zeros).
criterion = nn.MSELoss()
target = nn.tensor.zeros(2, 2)
loss = criterion:forward(y, target)
print(("loss L = %.4f"):format(loss))
print()

-- 4. Backward.  The loss gives g = dL/dy = 2 y / 4, one number per output.
g = criterion:backward(y, target)
show("g = dL/dy = criterion:backward(y, target)", g)

-- The layer turns g into the gradient for its input, and adds the
-- gradients of its parameters:
--   dL/dx = g W          (B, in)      what the layer below receives
--   dL/dW = g^T x        (out, in)    summed over the batch
--   dL/db = sum of g     (out)        summed over the batch
dx = layer:backward(g)
show("dL/dx = layer:backward(g)", dx)
show("layer.grad_weight = g^T x", layer.grad_weight)
show("layer.grad_bias = sum of g over the batch", layer.grad_bias)

-- Check one entry with plain Lua: dL/dW[1][1] = sum over b of g[b][1] * x[b][1]
by_hand = g:get(1, 1) * x:get(1, 1) + g:get(2, 1) * x:get(2, 1)
print(("by hand: dL/dW[1][1] = %.4f; the layer says %.4f"):format(by_hand,
      layer.grad_weight:get(1, 1)))
print()

-- 5. Is the calculus right?  Nudge each number a little and watch L move:
-- (L(w + h) - L(w - h)) / 2h is the slope, to within h^2.  nn.gradcheck does
-- this for every entry of the input and of every parameter.
ok, report = nn.gradcheck(layer, x)
print(ok, report)
print()

-- 6. One step of gradient descent: W <- W - lr * dL/dW.  The loss drops.
lr = 0.1
layer.weight:sub_(layer.grad_weight * lr)
layer.bias:sub_(layer.grad_bias * lr)
layer:zero_grad()     -- gradients accumulate until zeroed: zero once per step
after = criterion:forward(layer:forward(x), target)
print(("loss before the step %.4f, after %.4f"):format(loss, after))
print()

-- 7. Activations are layers too.  ReLU passes the gradient where x > 0
-- and blocks it elsewhere; Sigmoid scales it by y (1 - y).
relu = nn.ReLU()
show("nn.ReLU():forward", relu:forward(nn.tensor{{-1, 0.5, 2}}))
show("its backward of ones: the slope, 0 or 1", relu:backward(nn.tensor{{1, 1, 1}}))

-- 8. Write your own layer in Lua: any table with forward and backward.
-- gradcheck tells you whether your backward is right.  Here, y = x^2:
square = {}
function square:forward (input) self.input = input return input * input end
function square:backward (grad) return grad * self.input * 2 end   -- dy/dx = 2x
print("square:", nn.gradcheck(square, nn.tensor.randn(2, 3)))
-- and one with a mistake (forgot the 2): gradcheck catches it
function square:backward (grad) return grad * self.input end
print("square, forgot the 2:", nn.gradcheck(square, nn.tensor.randn(2, 3)))

-- At the prompt (./nnlua -i tutorials/02_layers.lua) the lesson's globals are
-- still there.  Type, for instance (Tab completes names and fields):
--   > layer.grad_weight
--   > y == layer.output
--   > layer:fields()
--   > layer:forward(x)
--   > ?nn.Linear
