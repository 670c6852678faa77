--- spec/activation_spec.lua -- nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh.
local nn = require "nn"
local H = require "spec.helpers"

local X = {{-2, -0.5, 0, 0.5, 3}}

-- Forward values from PyTorch 1.13 (torch.sigmoid, torch.tanh,
-- F.leaky_relu) on the same inputs; glibc's expf/tanhf are within 1-2 ulp,
-- so H.LIBM (8 ulp).  ReLU and LeakyReLU(0.1) are one multiply: H.ROUND.
local CASES = {
  { name = "ReLU", make = function () return nn.ReLU() end,
    want = {{0, 0, 0, 0.5, 3}}, tol = H.EXACT,
    -- f'(x): 1 for x > 0, 0 for x < 0, and 0 at the kink x = 0 (PyTorch)
    slope = {{0, 0, 0, 1, 1}} },
  { name = "LeakyReLU", make = function () return nn.LeakyReLU(0.1) end,
    want = {{-0.2, -0.05, 0, 0.5, 3}}, tol = H.ROUND,
    slope = {{0.1, 0.1, 0.1, 1, 1}} },
  { name = "Sigmoid", make = function () return nn.Sigmoid() end,
    want = {{0.11920291930437088, 0.3775406777858734, 0.5, 0.622459352016449, 0.9525741338729858}},
    tol = H.LIBM },
  { name = "Tanh", make = function () return nn.Tanh() end,
    want = {{-0.9640275835990906, -0.46211716532707214, 0, 0.46211716532707214, 0.9950547814369202}},
    tol = H.LIBM },
}

for _, c in ipairs(CASES) do
  describe("nn." .. c.name, function()
    it("forward matches PyTorch's values", function()
      H.assert_tensor(c.make():forward(nn.tensor(X)), c.want, c.tol)
    end)

    if c.slope then
      it("backward is g times the slope, 0 (or the leak) at the kink", function()
        local m = c.make()
        m:forward(nn.tensor(X))
        H.assert_tensor(m:backward(nn.tensor{{1, 1, 1, 1, 1}}), c.slope, H.ROUND)
      end)
    end

    for _, shape in ipairs{ {1, 4}, {3, 5}, {2, 3, 4} } do
      it(("passes gradcheck at [%s]"):format(table.concat(shape, "x")), function()
        nn.manual_seed(#shape * 10 + shape[1])
        H.assert_gradcheck(c.make(), H.randn_away(0.1, table.unpack(shape)))
      end)
    end

    it("has no parameters", function()
      local p, g = c.make():parameters()
      assert.are.same({}, p)
      assert.are.same({}, g)
    end)
  end)
end

describe("activations", function()
  it("Sigmoid and Tanh saturate without nan at +-1e4, with gradient 0 there", function()
    for _, m in ipairs{ nn.Sigmoid(), nn.Tanh() } do
      local y = m:forward(nn.tensor{{-1e4, 1e4}})
      local dx = m:backward(nn.tensor{{1, 1}})
      H.assert_tensor(dx, {{0, 0}}, H.EXACT, tostring(m))
      assert.are.equal(1, y:get(1, 2))
    end
  end)

  it("gradcheck fails on a Sigmoid whose backward forgets the (1 - y) factor", function()
    local inner = nn.Sigmoid()
    local broken = {
      forward = function (_, x) return inner:forward(x) end,
      backward = function (_, g) return g * inner.output end,   -- g y, not g y (1 - y)
    }
    nn.manual_seed(11)
    local ok, report = nn.gradcheck(broken, nn.tensor.randn(3, 4))
    assert.is_false(ok)
    assert.truthy(report.failed_at:find("^input%["), report.failed_at)
  end)

  it("LeakyReLU takes its slope positionally or as an option, 0.01 by default", function()
    H.assert_close(nn.LeakyReLU().negative_slope, 0.01, H.ROUND)
    H.assert_close(nn.LeakyReLU{negative_slope = 0.2}.negative_slope, 0.2, H.ROUND)
    assert.are.equal("nn.LeakyReLU(negative_slope=0.3)", tostring(nn.LeakyReLU(0.3)))
    H.assert_error_has(function () nn.LeakyReLU{slope = 0.2} end,
                       {"LeakyReLU has no option 'slope'", "negative_slope"})
  end)
end)
