-- spec/tensor_out_spec.lua -- an `out` argument may be any tensor a user
-- holds, and resizing it must not corrupt anything (issue 13, class 2).
--
-- A layer's parameters, their gradients and its persistent buffers
-- (running_mean, running_var) have their shape fixed (tensor_fix_shape):
-- an out that would reshape them is refused, naming the argument, and the
-- layer still works after.  A view given as out never grows into its
-- parent's elements: it gets a block of its own.  Before the fix,
-- nn.randperm(300, bn.running_mean) then bn:forward(...) overflowed the heap.
local H = require "spec.helpers"
local has = H.assert_error_has

local CANNOT = "a layer's parameter or buffer cannot be resized"

describe("out arguments and a layer's own tensors", function()
  it("randperm into BatchNorm's running_mean is refused, and the layer still works", function()
    local bn = nn.BatchNorm1d(3)
    has(function() nn.randperm(300, bn.running_mean) end, { "bad argument #2 to 'randperm'", CANNOT })
    assert.are.same({ 3 }, bn.running_mean:size())
    assert.are.same({ 0, 0, 0 }, bn.running_mean:totable())
    local y = bn:forward(nn.tensor.randn(8, 3))
    assert.are.same({ 8, 3 }, y:size())
    -- the input's width must still match the layer, as before
    assert.has_error(function() bn:forward(nn.tensor.randn(8, 300)) end)
  end)

  it("index_select and one_hot into running_var are refused", function()
    local bn = nn.BatchNorm1d(3)
    local src = nn.tensor.randn(10, 4)
    has(function() src:index_select(nn.tensor{ 1, 2, 3, 4, 5 }, bn.running_var) end,
        { "bad argument #2 to 'index_select'", CANNOT })
    has(function() nn.data.one_hot(nn.tensor{ 1, 2 }, 5, bn.running_var) end,
        { "bad argument #3 to 'one_hot'", CANNOT })
    assert.are.same({ 1, 1, 1 }, bn.running_var:totable())
    bn:forward(nn.tensor.randn(8, 3))
  end)

  it("randperm into a Linear's weight or gradient is refused; the layer still trains", function()
    local l = nn.Linear(3, 4)
    local w = l.weight:clone()
    has(function() nn.randperm(12, l.weight) end, { "bad argument #2 to 'randperm'", CANNOT, "[4x3]" })
    has(function() nn.randperm(12, l.grad_weight) end, { "bad argument #2 to 'randperm'", CANNOT })
    has(function() nn.randperm(5, l.bias) end, { "bad argument #2 to 'randperm'", CANNOT })
    assert.are.same({ 4, 3 }, l.weight:size())
    assert.are.same(w:totable(), l.weight:totable())
    local x = nn.tensor.randn(2, 3)
    local y = l:forward(x)
    l:backward(nn.tensor.ones(2, 4))
    assert.are.same({ 2, 4 }, y:size())
    assert.are.same({ 4, 3 }, l.grad_weight:size())
  end)

  it("an out of the same shape is allowed: the values change, the block does not", function()
    local l = nn.Linear(3, 12)
    local p = l.bias:data_ptr()
    nn.randperm(12, l.bias)
    assert.are.equal(p, l.bias:data_ptr())
    assert.are.equal(78, l.bias:sum())          -- 1 + ... + 12
  end)

  it("a layer's output buffer stays the layer's to resize", function()
    local l = nn.Linear(3, 4)
    l:forward(nn.tensor.randn(2, 3))
    l:forward(nn.tensor.randn(7, 3))
    assert.are.same({ 7, 4 }, l.output:size())
  end)
end)

describe("out arguments that are views", function()
  it("a one-row view grows into a block of its own, not into its parent's rows", function()
    local parent = nn.tensor.zeros(4, 3)
    local row = parent:narrow(1, 1, 1)
    nn.randperm(12, row)
    assert.are.same({ 12 }, row:size())
    assert.are.equal(78, row:sum())
    assert.are.equal(0, parent:abs():sum())     -- not one of its floats written
    assert.are_not.equal(parent:data_ptr(), row:data_ptr())
  end)

  it("index_select and one_hot into a one-row view leave the parent alone", function()
    local parent = nn.tensor.zeros(4, 3)
    local row = parent:narrow(1, 2, 1)
    nn.tensor.randn(5, 3):index_select(nn.tensor{ 1, 2, 3 }, row)
    assert.are.same({ 3, 3 }, row:size())
    assert.are.equal(0, parent:abs():sum())
    local row2 = parent:narrow(1, 1, 1)
    nn.data.one_hot(nn.tensor{ 1, 2, 3 }, 3, row2)
    assert.are.equal(3, row2:sum())
    assert.are.equal(0, parent:abs():sum())
  end)

  it("a view that shrinks, or keeps its size, writes into its own elements", function()
    local parent = nn.tensor.zeros(4, 3)
    local v = parent:view(12)
    nn.randperm(12, v)
    assert.are.equal(parent:data_ptr(), v:data_ptr())
    assert.are.equal(78, parent:sum())
    local row = parent:narrow(1, 4, 1)
    nn.randperm(2, row)
    assert.are.equal(parent:data_ptr() + 9 * 4, row:data_ptr())
  end)

  it("a tensor that owns its block still grows within it, and its views see that", function()
    local t = nn.tensor.zeros(10)
    local p = t:data_ptr()
    nn.randperm(2, t)
    nn.randperm(10, t)
    assert.are.equal(p, t:data_ptr())
  end)
end)
