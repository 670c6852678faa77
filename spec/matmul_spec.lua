-- Matrix multiply (api.md: Matrix multiply).  All inputs are small integers,
-- so every product and partial sum is an integer below 2^24: exact in
-- float32 whatever order sgemm adds in.  Hence exact comparisons.
local H = require "spec.helpers"

-- A = [[1,2,3],[4,5,6]] (2x3), B = [[7,8],[9,10],[11,12]] (3x2), A@B = [[58,64],[139,154]]
local A  = {{1, 2, 3}, {4, 5, 6}}
local At = {{1, 4}, {2, 5}, {3, 6}}          -- A transposed, 3x2
local B  = {{7, 8}, {9, 10}, {11, 12}}
local Bt = {{7, 9, 11}, {8, 10, 12}}         -- B transposed, 2x3
local AB = {{58, 64}, {139, 154}}

-- A reference product in plain Lua, for the larger non-square cases.
local function ref (a, b)   -- a: tables m x k, b: k x n
  local out = {}
  for i = 1, #a do
    out[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do s = s + a[i][k] * b[k][j] end
      out[i][j] = s
    end
  end
  return out
end
local function transpose (a)
  local t = {}
  for j = 1, #a[1] do
    t[j] = {}
    for i = 1, #a do t[j][i] = a[i][j] end
  end
  return t
end
-- rows x cols of small integers in -3..3, a different pattern per seed
local function pattern (rows, cols, seed)
  local t = {}
  for i = 1, rows do
    t[i] = {}
    for j = 1, cols do t[i][j] = (i * 7 + j * 3 + seed) % 7 - 3 end
  end
  return t
end

describe("matmul", function()
  it("A @ B", function()
    H.assert_tensor(nn.tensor(A):matmul(nn.tensor(B)), AB)
  end)

  it("trans_a: A^T given as (3x2)", function()
    H.assert_tensor(nn.tensor(At):matmul(nn.tensor(B), true), AB)
    H.assert_tensor(nn.tensor(At):matmul(nn.tensor(B), true, false), AB)
  end)

  it("trans_b: B^T given as (2x3)", function()
    H.assert_tensor(nn.tensor(A):matmul(nn.tensor(Bt), false, true), AB)
  end)

  it("trans_a and trans_b", function()
    H.assert_tensor(nn.tensor(At):matmul(nn.tensor(Bt), true, true), AB)
  end)

  it("explicit false flags are the plain product", function()
    H.assert_tensor(nn.tensor(A):matmul(nn.tensor(B), false, false), AB)
  end)

  it("B @ A is (3x3)", function()
    H.assert_tensor(nn.tensor(B):matmul(nn.tensor(A)),
                    {{39, 54, 69}, {49, 68, 87}, {59, 82, 105}})
  end)

  it("(1xK) @ (Kx1) is the dot product, (Kx1) @ (1xK) the outer product", function()
    H.assert_tensor(nn.tensor{{1, 2, 3}}:matmul(nn.tensor{{4}, {5}, {6}}), {{32}})
    H.assert_tensor(nn.tensor{{1}, {2}, {3}}:matmul(nn.tensor{{4, 5, 6}}),
                    {{4, 5, 6}, {8, 10, 12}, {12, 15, 18}})
    -- the same dot product with both operands given the other way round
    H.assert_tensor(nn.tensor{{1}, {2}, {3}}:matmul(nn.tensor{{4, 5, 6}}, true, true), {{32}})
  end)

  it("nn.matmul(a, b, ...) is the same function", function()
    H.assert_tensor(nn.matmul(nn.tensor(A), nn.tensor(B)), AB)
    H.assert_tensor(nn.matmul(nn.tensor(At), nn.tensor(Bt), true, true), AB)
  end)

  it("leaves its inputs alone", function()
    local a, b = nn.tensor(A), nn.tensor(B)
    a:matmul(b, false, false)
    H.assert_tensor(a, A)
    H.assert_tensor(b, B)
  end)

  -- M, N, K all different, so a swapped leading dimension or a swapped M/N
  -- cannot go unnoticed (square matrices hide such bugs).
  for _, f in ipairs{{false, false}, {true, false}, {false, true}, {true, true}} do
    it(("(17x33) @ (33x9) with trans_a=%s trans_b=%s matches a Lua loop")
       :format(tostring(f[1]), tostring(f[2])), function()
      local a, b = pattern(17, 33, 1), pattern(33, 9, 4)
      local want = ref(a, b)
      local ta = nn.tensor(f[1] and transpose(a) or a)
      local tb = nn.tensor(f[2] and transpose(b) or b)
      H.assert_tensor(ta:matmul(tb, f[1], f[2]), want)
    end)
  end

  it("works on views (narrowed rows)", function()
    local big = nn.tensor{{0, 0, 0}, {1, 2, 3}, {4, 5, 6}, {0, 0, 0}}
    H.assert_tensor(big:narrow(1, 2, 2):matmul(nn.tensor(B)), AB)
  end)
end)

describe("mm into a preallocated out", function()
  it("overwrites out (does not add to it) and returns out", function()
    local out = nn.tensor.full(2, 2, 99)
    local r = out:mm(nn.tensor(A), nn.tensor(B))
    assert.is_true(rawequal(out, r))
    H.assert_tensor(out, AB)
  end)

  it("takes the transpose flags", function()
    local out = nn.tensor.zeros(2, 2)
    out:mm(nn.tensor(At), nn.tensor(B), true)
    H.assert_tensor(out, AB)
    out:fill_(-1):mm(nn.tensor(A), nn.tensor(Bt), false, true)
    H.assert_tensor(out, AB)
    out:fill_(-1):mm(nn.tensor(At), nn.tensor(Bt), true, true)
    H.assert_tensor(out, AB)
  end)

  it("writes into a view of a larger tensor, and nowhere else", function()
    local big = nn.tensor.full(4, 2, 7)
    big:narrow(1, 2, 2):mm(nn.tensor(A), nn.tensor(B))
    H.assert_tensor(big, {{7, 7}, {58, 64}, {139, 154}, {7, 7}})
  end)

  it("(1xK) @ (Kx1) into a (1x1) out", function()
    local out = nn.tensor.zeros(1, 1)
    out:mm(nn.tensor{{1, 2, 3}}, nn.tensor{{4}, {5}, {6}})
    assert.are.equal(32, out:item())
  end)
end)

-- One-row products go through a matrix-vector path (cpu.c: our loop below
-- 64K elements of b, cblas_sgemv above).  Row 1 of a two-row product, which
-- goes through sgemm, is the reference: the same sums, rounded in another
-- order, so a few ulp of float32 apart at these sizes (H.ROUND is 4 ulp of
-- max(1, |v|); the sums of up to 1024 terms of size ~1 need 1e-5).  The
-- beta = 1 form (out += ...) is Linear's bias gradient, (1,B) @ (B,out):
-- linear_spec's accumulation cases go through it.
describe("matmul of one row (matrix-vector path)", function()
  for _, size in ipairs{ {5, 3}, {784, 32}, {1024, 512}, {37, 2000} } do
    local K, N = size[1], size[2]
    for _, tb in ipairs{ false, true } do
      it(("(1x%d) @ %s%s matches row 1 of the two-row product"):format(K, tb and "(NxK)^T " or "",
         tb and "" or ("(%dx%d)"):format(K, N)), function()
        nn.manual_seed(K + N)
        local a2 = nn.tensor.randn(2, K)
        local b = tb and nn.tensor.randn(N, K) or nn.tensor.randn(K, N)
        local want = a2:matmul(b, false, tb):slice(1, 1)
        local got = a2:slice(1, 1):matmul(b, false, tb)
        assert.are.same({ 1, N }, got:size())
        local err = (got - want):abs():max()
        assert.is_true(err <= 1e-5 * math.max(1, want:abs():max()), ("max error %g"):format(err))
      end)
    end
  end
end)
