-- Error paths (api.md: Errors).  Each message must read
--   bad argument #n to 'fname' (what was expected, with shapes such as [3x4])
-- Checks use plain substring search (no Lua patterns), see spec/helpers.lua.
-- For a method call t:f(x), Lua numbers x as #1 (self is not counted).
local H = require "spec.helpers"
local has = H.assert_error_has

local function t34 () return nn.tensor.zeros(3, 4) end

describe("errors: wrong argument type", function()
  it("t:add of a string", function()
    has(function() t34():add("x") end, {"bad argument #1 to 'add'"})
  end)

  it("nn.add of a table names argument #2", function()
    has(function() nn.add(t34(), {}) end, {"bad argument #2 to 'add'"})
  end)

  it("a non-tensor self", function()
    has(function() nn.exp("x") end, {"bad argument #1 to 'exp'"})
    has(function() nn.matmul(5, t34()) end, {"bad argument #1 to 'matmul'"})
  end)

  it("matmul of a number", function()
    has(function() t34():matmul(5) end, {"bad argument #1 to 'matmul'"})
  end)

  it("a string where a size goes", function()
    has(function() nn.tensor.zeros("a", 2) end, {"bad argument #1 to 'zeros'"})
    has(function() nn.tensor.ones(2, "b") end, {"bad argument #2 to 'ones'"})
  end)

  it("a non-number fill value, power, or bound", function()
    has(function() t34():fill_("x") end, {"bad argument #1 to 'fill_'"})
    has(function() t34():pow("x") end, {"bad argument #1 to 'pow'"})
    has(function() t34():clamp(0, "x") end, {"bad argument #2 to 'clamp'"})
  end)

  it("a tensor with a string in arithmetic", function()
    has(function() return t34() + "x" end, {"bad argument", "'add'"})
  end)
end)

describe("errors: shapes that do not fit", function()
  it("add of two shapes that differ, both shapes shown", function()
    local a, b = nn.tensor.zeros(2, 3), nn.tensor.zeros(3, 2)
    has(function() a:add(b) end, {"bad argument #1 to 'add'", "[2x3]", "[3x2]"})
    has(function() a:mul_(b) end, {"bad argument #1 to 'mul_'", "[2x3]", "[3x2]"})
    has(function() return a - b end, {"'sub'", "[2x3]", "[3x2]"})
  end)

  it("a row of the wrong length", function()
    has(function() nn.tensor.zeros(2, 3):add(nn.tensor.zeros(2)) end,
        {"bad argument #1 to 'add'", "[2x3]", "[2]"})
    -- (2x1) broadcasts against (2x3) (NumPy's rules); (3x1) does not
    has(function() nn.tensor.zeros(2, 3):add(nn.tensor.zeros(3, 1)) end,
        {"bad argument #1 to 'add'", "shapes [2x3] and [3x1] do not broadcast: dim 1 has 2 and 3"})
  end)

  it("in place, a bigger tensor does not broadcast into a smaller one", function()
    -- out of place, (3) + (2x3) is a (2x3); in place the result must keep self's shape
    has(function() nn.tensor.zeros(3):add_(nn.tensor.zeros(2, 3)) end,
        {"bad argument #1 to 'add_'", "[3]", "[2x3]", "in place"})
  end)

  it("matmul with inner dimensions that differ (api.md's example)", function()
    has(function() nn.tensor.randn(3, 4):matmul(nn.tensor.ones(5, 5)) end,
        {"bad argument #1 to 'matmul' (inner dimensions differ: [3x4] @ [5x5])"})
    has(function() nn.matmul(nn.tensor.randn(3, 4), nn.tensor.ones(5, 5)) end,
        {"bad argument #2 to 'matmul'", "inner dimensions differ", "[3x4]", "[5x5]"})
  end)

  it("matmul whose transposes make the shapes differ", function()
    -- op(a) = a^T is (3x2), b is (3x2): 2 ~= 3
    has(function() nn.tensor.zeros(2, 3):matmul(nn.tensor.zeros(3, 2), true) end,
        {"'matmul'", "inner dimensions differ"})
  end)

  it("matmul of a 1-D tensor that does not fit, or a 0-dim tensor", function()
    -- a 1-D a is a row, as torch.matmul: (3) @ (3x2) is (2); (3) @ (4x2) is not
    has(function() nn.tensor.zeros(3):matmul(nn.tensor.zeros(4, 2)) end, {"'matmul'", "[3]"})
    has(function() nn.tensor.zeros(2, 2):matmul(nn.tensor{1, 2}:sum(1)) end, {"'matmul'", "[]"})
  end)

  it("mm into an out of the wrong size blames out", function()
    local a, b = nn.tensor.zeros(2, 3), nn.tensor.zeros(3, 4)
    -- out is self here, which Lua words as "calling 'mm' on bad self (...)"
    has(function() nn.tensor.zeros(2, 2):mm(a, b) end, {"calling 'mm' on bad self", "[2x2]", "[2x4]"})
    has(function() nn.tensor.zeros(4, 2):mm(a, b) end, {"'mm'", "[4x2]", "[2x4]"})
    has(function() nn.mm(nn.tensor.zeros(2, 2), a, b) end, {"bad argument #1 to 'mm'", "[2x2]"})
  end)

  it("copy between tensors with another numel", function()
    has(function() nn.tensor.zeros(2, 3):copy(nn.tensor.zeros(5)) end,
        {"bad argument #1 to 'copy'", "[2x3]", "[5]"})
  end)

  it("item of a tensor with more than one element", function()
    has(function() nn.tensor.zeros(2, 2):item() end, {"'item'", "[2x2]"})
  end)
end)

describe("errors: views", function()
  it("view with the wrong numel", function()
    has(function() t34():view(5, 5) end, {"bad argument #", "to 'view'", "[3x4]"})
    has(function() t34():view{13} end, {"bad argument #", "to 'view'", "[3x4]"})
    has(function() t34():reshape(2, 5) end, {"'reshape'", "[3x4]"})
  end)

  it("view with a -1 that cannot be inferred", function()
    has(function() t34():view(5, -1) end, {"'view'", "[3x4]"})     -- 12 / 5
    has(function() t34():view(-1, -1) end, {"'view'"})
  end)

  it("view with a zero or negative size", function()
    has(function() t34():view(-2, -6) end, {"'view'"})
  end)

  it("narrow out of range", function()
    has(function() t34():narrow(1, 3, 2) end, {"bad argument #", "to 'narrow'", "[3x4]"})
    has(function() t34():narrow(1, 4, 1) end, {"'narrow'", "[3x4]"})
    has(function() t34():narrow(1, 0, 1) end, {"'narrow'", "[3x4]"})
    has(function() t34():narrow(1, 1, -1) end, {"'narrow'"})
  end)

  it("narrow along a dim out of range (any dim in range narrows: dim 1 a view, others a copy)", function()
    has(function() t34():narrow(3, 1, 1) end, {"bad argument #1 to 'narrow'"})
  end)

  it("a failed view leaves the tensor as it was", function()
    local t = t34()
    pcall(t.view, t, 5, 5)
    assert.are.same({3, 4}, t.shape)
    assert.are.equal(0, t:sum())
  end)
end)

describe("errors: dims and indices", function()
  it("a dim out of range in a reduction", function()
    has(function() t34():sum(3) end, {"bad argument #1 to 'sum'", "[3x4]"})
    has(function() t34():sum(0) end, {"bad argument #1 to 'sum'", "[3x4]"})
    has(function() t34():mean(-3) end, {"bad argument #1 to 'mean'", "[3x4]"})
    has(function() t34():max(3) end, {"bad argument #1 to 'max'", "[3x4]"})
    has(function() t34():argmin(5) end, {"bad argument #1 to 'argmin'", "[3x4]"})
  end)

  it("a dim out of range in size", function()
    has(function() t34():size(3) end, {"bad argument #1 to 'size'", "[3x4]"})
  end)

  it("an index out of range names the argument", function()
    has(function() t34():get(4, 1) end, {"bad argument #1 to 'get'", "[3x4]"})
    has(function() t34():get(1, 5) end, {"bad argument #2 to 'get'", "[3x4]"})
    has(function() t34():get(0, 1) end, {"bad argument #1 to 'get'", "[3x4]"})
    has(function() t34():set(1, 5, 0) end, {"bad argument #2 to 'set'", "[3x4]"})
  end)

  it("the wrong number of indices", function()
    has(function() t34():get(1) end, {"'get'", "[3x4]"})
    has(function() t34():get(1, 1, 1) end, {"'get'", "[3x4]"})
  end)

  it("a non-integer index", function()
    has(function() t34():get(1.5, 1) end, {"bad argument #1 to 'get'"})
  end)
end)

describe("errors: creation", function()
  it("a ragged nested table names the bad position", function()
    local msg = has(function() nn.tensor{{1, 2}, {3}} end, {"'tensor'"})
    -- the short row is the 2nd: its index must appear in the message
    assert.is_truthy(msg:find("[2]", 1, true) or msg:find("row 2", 1, true), msg)
  end)

  it("a non-number in the table names the bad position", function()
    local msg = has(function() nn.tensor{{1, 2}, {3, "x"}} end, {"'tensor'"})
    assert.is_truthy(msg:find("[2][2]", 1, true) or msg:find("2,2", 1, true)
                     or msg:find("2, 2", 1, true), msg)
    has(function() nn.tensor{1, true} end, {"'tensor'"})
  end)

  it("a table nested deeper in one place than another", function()
    has(function() nn.tensor{{1, 2}, 3} end, {"'tensor'"})
    has(function() nn.tensor{1, {2}} end, {"'tensor'"})
  end)

  it("more than 5 dims", function()
    has(function() nn.tensor.zeros(1, 1, 1, 1, 1, 1) end, {"'zeros'"})
  end)

  it("a negative size", function()
    has(function() nn.tensor.zeros(2, -1) end, {"'zeros'"})
    has(function() nn.tensor.full(-3, 1.0) end, {"'full'"})
  end)

  it("arange with a zero step", function()
    has(function() nn.tensor.arange(0, 1, 0) end, {"'arange'"})
  end)
end)

describe("errors: CUDA", function()
  local ok, reason = nn.cuda.is_available()
  if ok then
    pending("a CUDA device is present: the no-device messages do not apply")
    return
  end

  it("is_available returns false and a reason", function()
    assert.is_false(ok)
    assert.are.equal("string", type(reason))
    assert.is_true(#reason > 0)
  end)

  it("t:cuda() says CUDA is not available, and why", function()
    has(function() t34():cuda() end, {"CUDA is not available: " .. reason})
  end)
end)

describe("errors leave the host usable", function()
  it("a tensor made after many caught errors works", function()
    for _ = 1, 1000 do pcall(function() t34():add(nn.tensor.zeros(2)) end) end
    H.assert_tensor(nn.tensor{1, 2}:add(1), {2, 3})
  end)
end)
