--- spec/help_spec.lua -- nn.help: every public constructor has help, the
-- derivation shown is the very comment above the C code (cut at build time
-- into lua/nn/help_gen.lua), and nn.help.signature names functions.
local H = require "spec.helpers"

local function read(path) return assert(H.read_file(path), path) end

-- the text of the block comment of `file` whose first line is `title`,
-- read here from the source itself, "** " taken off each line
local function block_in_source(file, title)
  local lines, out, inside = {}, {}, false
  for l in (read(file) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
  for i, l in ipairs(lines) do
    if not inside and l == "/*" and lines[i + 1] == "** " .. title then inside = true
    elseif inside then
      if l:match("^%s*%*/") then break end
      out[#out + 1] = (l:gsub("^%*%* ?", ""))
    end
  end
  return table.concat(out, "\n")
end

local function sorted_keys(t)
  local k = {}
  for name in pairs(t) do k[#k + 1] = name end
  table.sort(k)
  return k
end

describe("nn.help", function()
  it("the generated table exists and was cut from the sources", function()
    local gen = require "nn.help_gen"
    assert.is_true(#gen.derivations >= 15, #gen.derivations)
    assert.is_true(#gen.docs >= 100, #gen.docs)
  end)

  it("every layer constructor has help with its signature, options and derivation", function()
    for _, name in ipairs(sorted_keys(nn.module_types)) do
      local text = nn.help.text(nn[name])
      assert.truthy(text:find("nn." .. name .. "(", 1, true), name .. ":\n" .. text)
      assert.truthy(text:find("Derivation (nn/", 1, true), name .. ":\n" .. text)
      assert.truthy(text:find("Derivation %(nn/[%w_]+%.c:%d+%):\n  %S"), name .. ":\n" .. text)
      for _, o in ipairs(nn.module_types[name].options) do
        assert.truthy(text:find("\n  " .. o.name .. " ", 1, true), name .. "." .. o.name)
      end
    end
  end)

  it("every loss constructor has help with its options and derivation", function()
    for _, name in ipairs(sorted_keys(nn.loss_types)) do
      local text = nn.help.text(nn[name])
      assert.truthy(text:find("nn." .. name .. "([opts])", 1, true), name .. ":\n" .. text)
      assert.truthy(text:find("  reduction        default \"mean\"", 1, true), name .. ":\n" .. text)
      assert.truthy(text:find("Derivation (nn/loss_", 1, true), name .. ":\n" .. text)
    end
  end)

  it("every optimizer, scheduler and callback constructor has a description", function()
    for _, mod in ipairs { "optim", "callbacks" } do
      for _, k in ipairs(sorted_keys(nn[mod])) do
        if k:match("^%u") and type(nn[mod][k]) == "function" then
          local text = nn.help.text(nn[mod][k])
          assert.falsy(text:find("no description", 1, true), k .. ":\n" .. text)
          assert.falsy(text:find("does not describe", 1, true), k .. ":\n" .. text)
          assert.truthy(text:find("^nn%." .. mod .. "%." .. k .. "[%({]"), k .. ":\n" .. text)
        end
      end
    end
  end)

  it("the other public constructors have a description and a signature", function()
    local ctors = {
      ["nn.tensor.zeros"] = nn.tensor.zeros, ["nn.tensor.ones"] = nn.tensor.ones,
      ["nn.tensor.full"] = nn.tensor.full, ["nn.tensor.rand"] = nn.tensor.rand,
      ["nn.tensor.randn"] = nn.tensor.randn, ["nn.tensor.arange"] = nn.tensor.arange,
      ["nn.Model"] = nn.Model.new, ["nn.data.DataLoader"] = nn.data.DataLoader,
      ["nn.datasets.fashion_mnist"] = nn.datasets.fashion_mnist,
      ["nn.datasets.mnist"] = nn.datasets.mnist, ["nn.metrics.get"] = nn.metrics.get,
      ["nn.load"] = nn.load,
    }
    for name, f in pairs(ctors) do
      local sig = nn.help.signature(f)
      assert.truthy(sig and sig:sub(1, #name + 1):match("^" .. name:gsub("%.", "%%.") .. "[%({]"),
                    name .. ": " .. tostring(sig))
      local text = nn.help.text(f)
      assert.falsy(text:find("no description", 1, true), name .. ":\n" .. text)
    end
    assert.are.equal("nn.tensor.ones(3, 4)", nn.help.signature(nn.tensor.ones))   -- "ones likewise"
    assert.are.equal("nn.Model()", nn.help.signature(nn.Model.new))
  end)

  it("Linear's derivation is the comment above linear_forward, word for word", function()
    local want = block_in_source("nn/linear.c", "Linear (Dense):  y = f(x W^T + b)")
    assert.truthy(#want > 500, "the block was not found in nn/linear.c")
    local d = nn.help.derivation_of("Linear")
    assert.are.equal("nn/linear.c", d.file)
    assert.are.equal(want, d.text)
    local text = nn.help.text(nn.Linear)
    local shown = text:match("Derivation %(nn/linear%.c:%d+%):\n(.*)$")
    assert.are.equal(want, (shown:gsub("\n  ", "\n"):gsub("^  ", "")))
  end)

  it("finds each type's own block: a shared one for activations, softmax.c's for LogSoftmax", function()
    assert.are.equal("nn/activation.c", nn.help.derivation_of("ReLU").file)
    assert.are.equal("nn/activation.c", nn.help.derivation_of("Sigmoid").file)
    assert.are.equal("nn/softmax.c", nn.help.derivation_of("LogSoftmax").file)
    assert.are.equal("nn/loss_binary.c", nn.help.derivation_of("BCELoss").file)
    assert.are.equal("BCEWithLogitsLoss:  a Sigmoid and BCELoss fused, on logits x.",
                     nn.help.derivation_of("BCEWithLogitsLoss").title)
    assert.are.equal("Adam, and AdamW", nn.help.derivation_of("AdamW").title)
    assert.is_nil(nn.help.derivation_of("NoSuchLayer"))
  end)

  it("shows Linear's options with their kinds, defaults and positions", function()
    local text = nn.help.text(nn.Linear)
    local head = "nn.Linear(in_features, out_features [, opts])   (also nn.Dense)\n"
                 .. "  y = f(x W^T + b): x (B, in) -> y (B, out), W (out, in), b (out)\n"
    assert.are.equal(head, text:sub(1, #head))
    assert.truthy(text:find("  in_features      integer >= 1; required, argument 1\n", 1, true), text)
    assert.truthy(text:find("  bias             boolean; default true\n", 1, true), text)
    assert.truthy(text:find("Parameters: weight, bias   gradients: grad_weight, grad_bias\n", 1, true), text)
    local bn = nn.help.text(nn.BatchNorm1d)
    assert.truthy(bn:find("  momentum         number in [0, 1]; default 0.1\n", 1, true), bn)
    assert.truthy(bn:find("(saved: running_mean, running_var)", 1, true), bn)
  end)

  it("help of a layer, a loss, a tensor and a model instance", function()
    local l = nn.Linear(3, 2)
    assert.truthy(nn.help.text(l):find("^this one: nn%.Linear%(3 %-> 2%)\n\nnn%.Linear%("))
    assert.truthy(nn.help.text(nn.MSELoss()):find("^this one: nn%.MSELoss%(reduction=mean%)"))
    local t = nn.help.text(nn.tensor.zeros(2, 3))
    assert.truthy(t:find("this one: 2x3 float32 on cpu\n", 1, true), t)
    assert.truthy(t:find("\n  :matmul ", 1, true), t)
    local m = nn.help.text(nn.Model{ nn.Linear(2, 2) })
    assert.truthy(m:find("^nn%.Model"), m)
    assert.truthy(m:find("\n  :train ", 1, true), m)
    assert.falsy(m:find("\n  :_step", 1, true), m)
  end)

  it("help by name, as the docs write it", function()
    assert.are.equal(nn.help.text(nn.Linear), nn.help.text("Linear"))
    assert.are.equal(nn.help.text(nn.Linear), nn.help.text("nn.Linear"))
    local t = nn.help.text("model:train")
    assert.truthy(t:find("^model:train%(x, y %[, opts%]%)\n  model:train%(x, y %[, opts%]%) %-> history"), t)
    assert.truthy(t:find("(lua/nn/fit.lua:", 1, true), t)
    assert.truthy(nn.help.text("nn.optim.Adam"):find("Derivation (nn/optim.c:", 1, true))
  end)

  it("says so, without raising, for what it does not know", function()
    assert.are.equal('no help for "frobnicate".  help() lists the topics.', nn.help.text("frobnicate"))
    assert.are.equal("help(nil): nothing to describe (is the name spelled right?).  help() lists the topics.",
                     nn.help.text(nil))
    assert.are.equal("a number: 42", nn.help.text(42))
    assert.truthy(nn.help.text(function () end):find("^a function nnlua does not describe %(defined at "))
    assert.are.equal("a table with 2 fields: a, b", nn.help.text({ a = 1, b = 2 }))
  end)

  it("help() lists the topics; nn.help(x) prints and returns nothing", function()
    local topics = nn.help.text()
    assert.truthy(topics:find("\nLayers      nn.AdaptiveAvgPool2d, nn.Add, nn.AvgPool2d, nn.BatchNorm1d, ", 1, true), topics)
    assert.truthy(topics:find("\nOptimizers  nn.optim.Adagrad, nn.optim.Adam, ", 1, true), topics)
    local printed = {}
    local old = _G.print
    _G.print = function (s) printed[#printed + 1] = s end
    local n = select("#", nn.help(nn.ReLU))
    _G.print = old
    assert.are.equal(0, n)
    assert.are.equal(require("nn.repr").wrap(nn.help.text(nn.ReLU)), printed[1])   -- to the width
  end)

  it("nn prints a short index through its __repr", function()
    local text = nn.repr(nn)
    assert.truthy(text:find("^nn: the nnlua library %(nnlua 0%.1%)%.  help%(%) for the topics"), text)
    local lines = select(2, text:gsub("\n", "")) + 1
    assert.is_true(lines <= 8, text)
  end)
end)

describe("nn.help.signature", function()
  it("writes the signatures of constructors, functions and methods", function()
    assert.are.equal("nn.Linear(in_features, out_features [, opts])", nn.help.signature(nn.Linear))
    assert.are.equal("nn.Linear(in_features, out_features [, opts])", nn.help.signature(nn.Dense))
    assert.are.equal("nn.ReLU()", nn.help.signature(nn.ReLU))
    assert.are.equal("nn.Dropout([p])", nn.help.signature(nn.Dropout))
    assert.are.equal("nn.Concat([dim])", nn.help.signature(nn.Concat))
    assert.are.equal("nn.BatchNorm1d(num_features [, opts])", nn.help.signature(nn.BatchNorm1d))
    assert.are.equal("nn.MSELoss([opts])", nn.help.signature(nn.MSELoss))
    assert.are.equal("nn.optim.Adagrad{lr = 0.01, lr_decay = 0, eps = 1e-10, "
                     .. "initial_accumulator_value = 0, weight_decay = 0, decay = 0}",
                     nn.help.signature(nn.optim.Adagrad))
    assert.are.equal("model:train(x, y [, opts])", nn.help.signature(nn.Model.train))
    assert.are.equal("model:train(x, y [, opts])", nn.help.signature(nn.Model.fit))
    assert.are.equal("t:sum()", nn.help.signature(nn.tensor.ones(2).sum))
    assert.are.equal("nn.data.one_hot(labels, num_classes [, out])", nn.help.signature(nn.data.one_hot))
  end)

  it("returns nil for what is not an nnlua function", function()
    assert.is_nil(nn.help.signature(print))
    assert.is_nil(nn.help.signature(function (a, b) return a, b end))
    assert.is_nil(nn.help.signature(42))
    assert.is_nil(nn.help.signature(nil))
  end)
end)
