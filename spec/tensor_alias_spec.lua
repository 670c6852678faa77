--- spec/tensor_alias_spec.lua -- an output that shares memory with an input
-- never gives a silent wrong number: a product into its own input is
-- computed apart and copied; an element-wise op works in place (the output
-- is the input itself) but refuses an output over another part of it.
local nn = require "nn"
local H = require "spec.helpers"

describe("outputs that overlap an input", function()
  it("b:mm(a, b) and a:mm(a, b) give the product of the inputs as they were", function()
    nn.manual_seed(41)
    for _, which in ipairs{ "a", "b" } do
      local a, b = nn.tensor.randn(4, 4), nn.tensor.randn(4, 4)
      local want = a:matmul(b):totable()
      local out = which == "a" and a or b
      out:mm(a, b)
      H.assert_tensor(out, want, H.ROUND, which)
    end
  end)

  it("a product into a row view of its input is computed apart too", function()
    nn.manual_seed(42)
    local a = nn.tensor.randn(2, 2)
    local w = nn.tensor.randn(2, 2)
    local want = a:matmul(w):totable()
    local big = nn.tensor.zeros(4, 2)
    big:narrow(1, 1, 2):copy(a)
    local view = big:narrow(1, 1, 2)
    view:mm(view, w)
    H.assert_tensor(view, want, H.ROUND)
  end)

  it("element-wise in place is fine; over another part of the input it is refused", function()
    local t = nn.tensor{1, 2, 3, 4, 5, 6}
    t:add_(t)                                          -- in place: the same elements
    H.assert_tensor(t, {2, 4, 6, 8, 10, 12}, H.EXACT)
    local x = nn.tensor{1, 2, 3, 4, 5, 6}
    -- x[2..6] += x[1..5]: each element would read its left neighbour already changed
    H.assert_error_has(function () x:narrow(1, 2, 5):add_(x:narrow(1, 1, 5)) end,
                       {"overlaps an input"})
    H.assert_tensor(x, {1, 2, 3, 4, 5, 6}, H.EXACT)    -- nothing written
  end)

  it("a broadcast row may not lie inside the output it is added to every row of", function()
    local m = nn.tensor{{1, 2}, {3, 4}}
    -- m += its own first row: row 2 would read row 1 already doubled
    H.assert_error_has(function () m:add_(m:narrow(1, 1, 1):view(2)) end, {"overlaps an input"})
    H.assert_tensor(m, {{1, 2}, {3, 4}}, H.EXACT)
    H.assert_tensor(m:add(m:narrow(1, 1, 1):view(2)), {{2, 4}, {4, 6}}, H.EXACT)  -- out of place: fine
  end)
end)
