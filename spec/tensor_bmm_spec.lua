-- Batched and 1-D matmul (a:matmul(b), out:mm(a, b), nn.bmm), as
-- torch.matmul: batch dims broadcast by NumPy's rules, transposes of the
-- last two dims as flags, 1-D operands as a row (left) or a column (right).
-- Expected values: hand-computed small cases, and products computed here in
-- Lua (double) from t:totable(), matrix by matrix, so that nothing of the
-- code under test is in the reference.
local H = require "spec.helpers"
local has = H.assert_error_has
local T = nn.tensor

-- float32 GEMM against a double reference: a K-term dot product of randn
-- inputs (K <= 8 here) is off by at most ~K ulp of sum |a_k b_k| (~8), so
-- 1e-5 relative to max(1, |want|) holds with room (Higham, Accuracy and
-- Stability of Numerical Algorithms, 2nd ed., sec. 3.1).
local GEMM = 1e-5

-- op(A) @ op(B) of two nested 2-D tables, in double
local function mm (A, B, ta, tb)
  local function at (X, i, j, t) if t then return X[j][i] end return X[i][j] end
  local M = ta and #A[1] or #A
  local K = ta and #A or #A[1]
  local N = tb and #B or #B[1]
  local C = {}
  for i = 1, M do
    C[i] = {}
    for j = 1, N do
      local s = 0
      for k = 1, K do s = s + at(A, i, k, ta) * at(B, k, j, tb) end
      C[i][j] = s
    end
  end
  return C
end

describe("batched matmul", function()
  it("(2,2,2) @ (2,2,2), computed by hand", function()
    local a = T{{{1, 2}, {3, 4}}, {{0, 1}, {1, 0}}}
    local b = T{{{5, 6}, {7, 8}}, {{2, 3}, {4, 5}}}
    -- [1 2; 3 4][5 6; 7 8] = [19 22; 43 50];  the swap [0 1; 1 0] swaps rows
    H.assert_tensor(a:matmul(b), {{{19, 22}, {43, 50}}, {{4, 5}, {2, 3}}})
  end)

  it("the prompt's example: randn(2, 3, 4) @ randn(2, 4, 5) is each matrix's product", function()
    local a, b = T.randn(2, 3, 4), T.randn(2, 4, 5)
    local A, B = a:totable(), b:totable()
    H.assert_tensor(a:matmul(b), { mm(A[1], B[1]), mm(A[2], B[2]) }, GEMM)
  end)

  it("agrees with a loop of 2-D matmuls over the batch (64 small matrices: the parallel path)",
     function()
    local a, b = T.randn(64, 8, 5), T.randn(64, 5, 7)
    local c = a:matmul(b)
    local a2, b2, c2 = a:view(64 * 8, 5), b:view(64 * 5, 7), c:view(64 * 8, 7)
    for i = 1, 64 do
      local want = a2:narrow(1, (i - 1) * 8 + 1, 8):matmul(b2:narrow(1, (i - 1) * 5 + 1, 5))
      H.assert_tensor(c2:narrow(1, (i - 1) * 8 + 1, 8), want:totable(), GEMM, "matrix " .. i)
    end
  end)

  it("few large matrices (the BLAS-threaded path) match the double reference", function()
    local a, b = T.randn(2, 40, 300), T.randn(2, 300, 40)   -- 2*40*40*300 = 1 MFLOP: below
    local A, B = a:totable(), b:totable()
    -- K = 300: ~300 ulp of sum |a_k b_k| (~300): 1e-4 relative
    H.assert_tensor(a:matmul(b), { mm(A[1], B[1]), mm(A[2], B[2]) }, 1e-4)
    local big_a, big_b = T.randn(2, 256, 300), T.randn(2, 300, 256)  -- 39 MFLOP each: above
    local c = big_a:matmul(big_b)
    local BA, BB = big_a:totable(), big_b:totable()
    -- spot-check: row 7 of matrix 2 and row 200 of matrix 1
    local r2 = mm({ BA[2][7] }, BB[2])[1]
    local r1 = mm({ BA[1][200] }, BB[1])[1]
    for j = 1, 256 do
      H.assert_close(c:get(2, 7, j), r2[j], 1e-4, "c[2][7][" .. j .. "]")
      H.assert_close(c:get(1, 200, j), r1[j], 1e-4, "c[1][200][" .. j .. "]")
    end
  end)

  it("broadcasts batch dims: (2,1,3,4) @ (5,4,6) -> (2,5,3,6)", function()
    local a, b = T.randn(2, 1, 3, 4), T.randn(5, 4, 6)
    local A, B = a:totable(), b:totable()
    local want = {}
    for i = 1, 2 do
      want[i] = {}
      for j = 1, 5 do want[i][j] = mm(A[i][1], B[j]) end
    end
    H.assert_tensor(a:matmul(b), want, GEMM)
  end)

  it("broadcasts a size-1 batch dim on either side and a 2-D operand", function()
    local a, b = T.randn(1, 3, 4), T.randn(3, 4, 2)
    local A, B = a:totable(), b:totable()
    H.assert_tensor(a:matmul(b), { mm(A[1], B[1]), mm(A[1], B[2]), mm(A[1], B[3]) }, GEMM)
    local m = T.randn(3, 4)                  -- 2-D @ 3-D: one matrix for every entry
    local Mt = m:totable()
    H.assert_tensor(m:matmul(b), { mm(Mt, B[1]), mm(Mt, B[2]), mm(Mt, B[3]) }, GEMM)
    local w = T.randn(2, 5)                  -- 3-D @ 2-D: (3,4,2) @ (2,5)
    local W = w:totable()
    H.assert_tensor(b:matmul(w), { mm(B[1], W), mm(B[2], W), mm(B[3], W) }, GEMM)
  end)

  it("4-D and 5-D, with equal batches (one strided run) and mixed ones", function()
    local a, b = T.randn(2, 3, 2, 4), T.randn(2, 3, 4, 3)
    local A, B = a:totable(), b:totable()
    local want = {}
    for i = 1, 2 do
      want[i] = {}
      for j = 1, 3 do want[i][j] = mm(A[i][j], B[i][j]) end
    end
    H.assert_tensor(a:matmul(b), want, GEMM)
    -- (2,1,3,2,4) @ (1,2,1,4,2) -> (2,2,3,2,2)
    local x, y = T.randn(2, 1, 3, 2, 4), T.randn(1, 2, 1, 4, 2)
    local X, Y = x:totable(), y:totable()
    local w5 = {}
    for i = 1, 2 do
      w5[i] = {}
      for j = 1, 2 do
        w5[i][j] = {}
        for k = 1, 3 do w5[i][j][k] = mm(X[i][1][k], Y[1][j][1]) end
      end
    end
    H.assert_tensor(x:matmul(y), w5, GEMM)
  end)

  it("transposes of the last two dims are flags: (B,K,M)^T @ (B,N,K)^T", function()
    local a, b = T.randn(3, 4, 2), T.randn(3, 5, 4)
    local A, B = a:totable(), b:totable()
    local want = {}
    for i = 1, 3 do want[i] = mm(A[i], B[i], true, true) end
    H.assert_tensor(a:matmul(b, true, true), want, GEMM)
    local c = T.randn(3, 2, 4)
    local C = c:totable()
    for i = 1, 3 do want[i] = mm(C[i], B[i], false, true) end
    H.assert_tensor(c:matmul(b, false, true), want, GEMM)
    -- with a broadcast b: (3,4,2)^T @ (4,5)
    local m = T.randn(4, 5)
    local Mt = m:totable()
    for i = 1, 3 do want[i] = mm(A[i], Mt, true, false) end
    H.assert_tensor(a:matmul(m, true), want, GEMM)
  end)

  it("out:mm(a, b) writes a batched product into out, and may be a or b", function()
    local a, b = T.randn(2, 3, 3), T.randn(2, 3, 3)
    local A, B = a:totable(), b:totable()
    local out = T.zeros(2, 3, 3)
    assert.are.equal(out, out:mm(a, b))
    H.assert_tensor(out, { mm(A[1], B[1]), mm(A[2], B[2]) }, GEMM)
    a:mm(a, b)                                 -- out over an input: through a copy
    H.assert_tensor(a, { mm(A[1], B[1]), mm(A[2], B[2]) }, GEMM)
  end)

  it("empty batches, rows and inner dims", function()
    assert.are.same({ 0, 3, 5 }, T.zeros(0, 3, 4):matmul(T.zeros(0, 4, 5)).shape)
    assert.are.same({ 2, 0, 5 }, T.zeros(2, 0, 4):matmul(T.zeros(2, 4, 5)).shape)
    assert.are.same({ 2, 4, 0 }, T.zeros(1, 4, 3):matmul(T.zeros(2, 3, 0)).shape)
    -- K = 0: the empty sum, zeros
    H.assert_tensor(T.zeros(2, 2, 0):matmul(T.zeros(2, 0, 3)),
                    {{{0, 0, 0}, {0, 0, 0}}, {{0, 0, 0}, {0, 0, 0}}})
  end)

  it("nn.bmm(a, b) is the 3-D product (and takes the flags)", function()
    local a, b = T.randn(3, 2, 4), T.randn(3, 4, 5)
    local A, B = a:totable(), b:totable()
    H.assert_tensor(nn.bmm(a, b), { mm(A[1], B[1]), mm(A[2], B[2]), mm(A[3], B[3]) }, GEMM)
    H.assert_tensor(a:bmm(b), { mm(A[1], B[1]), mm(A[2], B[2]), mm(A[3], B[3]) }, GEMM)
    local bt = T.randn(3, 5, 4)
    local Bt = bt:totable()
    H.assert_tensor(nn.bmm(a, bt, false, true),
                    { mm(A[1], Bt[1], false, true), mm(A[2], Bt[2], false, true),
                      mm(A[3], Bt[3], false, true) }, GEMM)
  end)
end)

describe("1-D matmul, as torch.matmul", function()
  it("vector @ vector is the dot product, a 0-dim tensor", function()
    local r = T{1, 2, 3}:matmul(T{4, 5, 6})
    assert.are.same({}, r.shape)
    assert.are.equal(32, r:item())
    assert.are.equal(0, T.zeros(0):matmul(T.zeros(0)):item())   -- the empty sum
  end)

  it("matrix @ vector and vector @ matrix drop the vector's dim", function()
    H.assert_tensor(T{{1, 2}, {3, 4}, {5, 6}}:matmul(T{1, -1}), {-1, -1, -1})
    H.assert_tensor(T{1, -1, 2}:matmul(T{{1, 2}, {3, 4}, {5, 6}}), {8, 10})
    H.assert_tensor(T{{1, 2}, {3, 4}}:matmul(T{1, 1}, true), {4, 6})   -- a^T @ v
  end)

  it("batched @ vector and vector @ batched", function()
    local a = T{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}
    H.assert_tensor(a:matmul(T{1, 10}), {{21, 43}, {65, 87}})
    H.assert_tensor(T{1, 10}:matmul(a), {{31, 42}, {75, 86}})
  end)
end)

describe("matmul errors", function()
  it("batch dims that do not broadcast name both shapes", function()
    has(function() T.zeros(2, 3, 4):matmul(T.zeros(3, 4, 5)) end,
        {"bad argument #1 to 'matmul'", "batch dims do not broadcast", "[2x3x4]", "[3x4x5]"})
    has(function() nn.matmul(T.zeros(2, 2, 3, 4), T.zeros(3, 3, 4, 5)) end,
        {"bad argument #2 to 'matmul'", "batch dims do not broadcast"})
  end)

  it("inner dimensions that differ in a batch", function()
    has(function() T.zeros(2, 3, 4):matmul(T.zeros(2, 5, 6)) end,
        {"bad argument #1 to 'matmul'", "inner dimensions differ: [2x3x4] @ [2x5x6]"})
    has(function() T.zeros(2, 3, 4):matmul(T.zeros(2, 3, 6), false, true) end,
        {"inner dimensions differ", "[2x3x6]^T"})
  end)

  it("a 0-dim tensor, a transposed 1-D one, int32", function()
    has(function() T.zeros(2, 2, 2):matmul(T{1, 2}:sum(1)) end,
        {"'matmul'", "1 to 5 dims", "[]"})
    -- self is the one blamed: Lua words it "calling 'matmul' on bad self"
    has(function() T.zeros(3):matmul(T.zeros(3, 2), true) end,
        {"calling 'matmul' on bad self", "1-D tensor has no transpose"})
    has(function() nn.matmul(T.zeros(2, 3), T.zeros(3), false, true) end,
        {"bad argument #2 to 'matmul'", "1-D tensor has no transpose"})
    has(function() T.zeros(2, 2, 2):matmul(T.zeros(2, 2, 2):int()) end,
        {"bad argument #1 to 'matmul'", "float32 tensor expected, got int32"})
  end)

  it("mm into an out of the wrong shape blames out", function()
    has(function() T.zeros(2, 3, 3):mm(T.zeros(2, 3, 4), T.zeros(2, 4, 5)) end,
        {"calling 'mm' on bad self", "output is [2x3x3], the product is [2x3x5]"})
  end)

  it("bmm takes 3-D tensors of one batch size", function()
    has(function() nn.bmm(T.zeros(3, 4), T.zeros(2, 4, 5)) end,
        {"bad argument #1 to 'bmm'", "two 3-D tensors"})
    has(function() nn.bmm(T.zeros(2, 3, 4), T.zeros(1, 4, 5)) end,
        {"bad argument #2 to 'bmm'", "batch sizes differ", "matmul does"})
    has(function() nn.bmm(T.zeros(2, 3, 4), T.zeros(2, 5, 5)) end,
        {"bad argument #2 to 'bmm'", "inner dimensions differ"})
    has(function() nn.bmm(T.zeros(2, 3, 4), "x") end, {"bad argument #2 to 'bmm'"})
  end)
end)
