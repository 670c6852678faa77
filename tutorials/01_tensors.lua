-- Lesson 1: tensors.
-- Run it:  ./nnlua tutorials/01_tensors.lua
-- Or:      ./nnlua -i tutorials/01_tensors.lua   runs it, then stays at
--           the prompt with its globals (x, W, v, values, indices ...)
--
-- A tensor is a block of float32 numbers with a shape, stored row by row
-- (row-major): the last index moves fastest.  Everything a network does,
-- forward and backward, is a handful of operations on tensors; this lesson
-- tours them.

function show(title, value)
  print(("-- %s"):format(title))
  print(nn.repr(value))
  print()
end

-- 1. Making tensors.  From a nested table, as Torch7 did:
x = nn.tensor{{1, 2, 3},
              {4, 5, 6}}
show("x = nn.tensor{{1, 2, 3}, {4, 5, 6}}", x)

-- or by shape.  The random ones come from one framework-wide generator
-- (Philox4x32-10): seed it and every run gives the same numbers.
nn.manual_seed(42)
show("nn.tensor.randn(3, 4)  -- normal, mean 0 and std 1", nn.tensor.randn(3, 4))
show("nn.tensor.arange(6)    -- 0, 1, ..., 5 (half-open, as PyTorch)", nn.tensor.arange(6))

-- 2. Shape.  A view shares storage with the tensor it came from, so writing
-- through one shows in the other.  That is how a batch of images (B, 28, 28)
-- becomes the (B, 784) matrix a Dense layer wants, at no cost.
v = x:view(3, 2)
v:set(1, 1, 100)
show("x after v = x:view(3, 2); v:set(1, 1, 100)", x)
x:set(1, 1, 1)

-- narrow/slice along the first dim is how a data loader takes a batch:
show("x:slice(2, 2)  -- row 2 as a (1, 3) view", x:slice(2, 2))

-- 3. Element-wise math.  `*` multiplies element by element, as in PyTorch.
show("x * x", x * x)
show("x:sigmoid()  -- 1 / (1 + e^-x)", x:sigmoid())

-- A row vector is added to every row of a matrix: this is the bias of a
-- Dense layer, broadcast over the batch.
bias = nn.tensor{10, 20, 30}
show("x + bias  -- bias has shape (3): one row, added to each row of x", x + bias)

-- 4. Reductions.  sum over dim 1 adds the rows (the batch), dim 2 the columns.
show("x:sum(1)", x:sum(1))
values, indices = x:max(2)
show("x:max(2) -> values", values)
show("x:max(2) -> indices (1-based, as Torch7)", indices)

-- 5. Matrix multiply: the heart of every Dense layer.  y = x W^T with W of
-- shape (out, in): the transpose is a flag to the BLAS, never a copy.
W = nn.tensor{{1, 0, 0},
              {0, 1, 1}}
show("x:matmul(W, false, true)  -- x W^T: (2x3) @ (3x2)", x:matmul(W, false, true))

-- 6. Mistakes give errors that say what was wrong, with the shapes.
ok, err = pcall(function() return x:matmul(W) end)
print("-- x:matmul(W) without the transpose:")
print(err)

-- At the prompt (./nnlua -i tutorials/01_tensors.lua) the lesson's globals are
-- still there.  Type, for instance (Tab completes names and fields):
--   > x
--   > x:sum(2)
--   > v:size()
--   > indices
--   > help(x)
