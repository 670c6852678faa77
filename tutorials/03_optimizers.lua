-- Lesson 3: optimizers.
-- Run it:  ./nnlua tutorials/03_optimizers.lua
-- Or:      ./nnlua -i tutorials/03_optimizers.lua   runs it, then stays at
--           the prompt with its globals (x, y, opt, model, sched ...)
--
-- Training is a loop: forward, loss, backward, then a step that moves each
-- parameter p against its gradient g = dL/dp.  How that step is taken is
-- the optimizer.  This lesson fits a tiny linear regression three ways (SGD,
-- SGD with momentum, Adam) and prints how fast each one gets there.  The
-- update rules, with their derivations and sources, are in nn/optim.c.

nn.manual_seed(0)

-- 1. The data.  y = 2 x1 - 3 x2 + 0.5, exactly, for 64 random points.  The
-- second feature is 10 times smaller than the first, so the loss is a long
-- narrow valley: 100 times steeper along w1 than along w2 (the curvature of
-- MSE along w_i is 2 mean(x_i^2)).  That is an "ill-conditioned" problem,
-- and the one where optimizers differ.
x = nn.tensor.randn(64, 2):mul(nn.tensor{1, 0.1})   -- scale column 2 by 0.1
teacher = nn.Linear(2, 1)
teacher.weight:copy(nn.tensor{{2, -3}})
teacher.bias:copy(nn.tensor{0.5})
y = teacher:forward(x):clone()

-- 2. One training run: full-batch steps with the optimizer `opt`.
function fit (title, opt, steps)
  nn.manual_seed(1)                        -- every run starts from the same weights
  local model = nn.Linear(2, 1)
  local criterion = nn.MSELoss()
  local params, grads = model:parameters()  -- {weight, bias}, {grad_weight, grad_bias}
  local line = {}
  local loss
  for step = 1, steps do
    model:zero_grad()                       -- gradients accumulate: zero them each step
    loss = criterion:forward(model:forward(x), y)
    model:backward(criterion:backward())
    opt:step(params, grads)                 -- p -= update(g), in place, for each parameter
    if step % 25 == 0 then line[#line + 1] = ("%9.2e"):format(loss) end
  end
  local w = model.weight
  print(("%-26s %s   w = (%.3f, %.3f)")
        :format(title, table.concat(line, " "), w:get(1, 1), w:get(1, 2)))
  return loss
end

print(("%-26s %s"):format("loss after step", "       25        50        75       100"))

-- 3. Plain SGD:  p = p - lr g.
-- The step along each direction is lr times its slope.  lr must stay below
-- 2 / (the largest curvature) or the steep direction w1 oscillates and
-- blows up; at that lr the flat direction w2 crawls.
sgd = fit("SGD lr=0.4", nn.optim.SGD{lr = 0.4}, 100)

-- 4. SGD with momentum:  b = mu b + g;  p = p - lr b.
-- The buffer b sums past gradients with weights mu^k: along w2, where the
-- gradients keep their sign, it grows up to 1 / (1 - mu) = 10 times the
-- gradient; along w1, where they alternate, they cancel.  (Nesterov's
-- variant, nesterov = true, looks one step ahead: d = g + mu b.)
momentum = fit("SGD lr=0.4 momentum=0.9", nn.optim.SGD{lr = 0.4, momentum = 0.9}, 100)

-- 5. Adam:  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
--           p = p - lr m^ / (sqrt(v^) + eps),  m^ and v^ corrected for their start at 0.
-- Each parameter is divided by the root of its own mean squared gradient,
-- so every direction moves at about lr per step, however steep: the
-- valley's shape matters much less.
adam = fit("Adam lr=0.1", nn.optim.Adam{lr = 0.1}, 100)

print(("%-26s %39s   w = (2, -3)"):format("the answer (the teacher's)", ""))
print()
print(("final loss: SGD %.2e, SGD + momentum %.2e, Adam %.2e"):format(sgd, momentum, adam))
print(tostring(nn.optim.Adam{lr = 0.1}) .. "   (an optimizer prints its settings)")
print()

-- 6. An optimizer keeps state between steps: here Adam's two averages, one
-- pair per parameter tensor, named as in PyTorch.  A checkpoint saves
-- opt:state_dict() so that training resumes exactly where it stopped.
opt = nn.optim.Adam{lr = 0.1}
model = nn.Linear(2, 1)
params, grads = model:parameters()
model:backward(nn.MSELoss():backward(model:forward(x), y))
opt:step(params, grads)
names = {}
for name in pairs(opt:state_dict().tensors) do names[#names + 1] = name end
table.sort(names)
print("Adam's state after one step: " .. table.concat(names, ", "))
print()

-- 7. A schedule changes lr from epoch to epoch.  Cosine annealing glides
-- from the base lr to eta_min over T_max epochs:
sgd2 = nn.optim.SGD{lr = 0.1}
sched = nn.optim.CosineAnnealingLR(sgd2, {T_max = 4})
lrs = {("%.4f"):format(sgd2.lr)}
for _ = 1, 4 do lrs[#lrs + 1] = ("%.4f"):format(sched:step()) end
print("CosineAnnealingLR, lr per epoch: " .. table.concat(lrs, "  "))

-- At the prompt (./nnlua -i tutorials/03_optimizers.lua) the lesson's globals are
-- still there.  Type, for instance (Tab completes names and fields):
--   > opt
--   > model.weight
--   > sched:get_last_lr()
--   > help(nn.optim.Adam)
