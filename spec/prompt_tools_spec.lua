--- spec/prompt_tools_spec.lua -- who(), nn.mem(), nn.timing, nn.shown: the
-- prompt's tools in the manner of Torch7's th.  Each lists the user's
-- globals; the spec sets its own (pt_*) and removes them after.

local function clear()
  for k in pairs(_G) do
    if type(k) == "string" and k:match("^pt_") then _G[k] = nil end
  end
end

-- the lines of a listing that name one of this spec's globals
local function ours(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:match("^pt_") or line:match("^name") or line:match("^owner") then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end

describe("who()", function()
  it("lists the user's globals with type, and a tensor's shape, dtype, device and bytes", function()
    local env = { pt_x = nn.tensor.zeros(2, 3), pt_n = 42, pt_s = "hello", pt_l = nn.Linear(3, 2),
                  pt_model = nn.Model{ nn.Linear(2, 2) }, pt_fn = nn.Linear,
                  pt_mine = load("return function (a, b, ...) end", "=mine")() }
    local w = nn.who(env)
    assert.are.equal(table.concat({
      "name      type      value",
      "pt_fn     function  nn.Linear(in_features, out_features [, opts])",
      "pt_l      layer     nn.Linear(3 -> 2)",
      "pt_mine   function  function(a, b, ...)  mine:1",
      "pt_model  model     1 layers",
      "pt_n      number    42",
      "pt_s      string    \"hello\"",
      "pt_x      tensor    [2x3] float32 cpu 24 B",
    }, "\n"), tostring(w))
    assert.are.equal(tostring(w), nn.repr(w))
    assert.are.same({ "pt_x", "tensor", "[2x3] float32 cpu 24 B" }, w.rows[7])
    assert.are.equal("(no globals of yours yet)", tostring(nn.who({})))
  end)

  it("of the globals, leaves out nnlua's and Lua's own", function()
    _G.pt_global = nn.tensor.ones(3)
    local names = {}
    for _, r in ipairs(nn.who().rows) do names[r[1]] = r[2] end
    _G.pt_global = nil
    assert.are.equal("tensor", names.pt_global)
    assert.is_nil(names.nn)
    assert.is_nil(names.print)
    assert.is_nil(names.string)
  end)

  it("refuses an env that is not a table", function()
    assert.has_error(function() nn.who(3) end, "bad argument #1 to 'who' (table expected, got number)")
    assert.has_error(function() nn.mem("x") end, "bad argument #1 to 'mem' (table expected, got string)")
  end)
end)

describe("nn.mem()", function()
  it("counts a model's parameters, gradients, activations and optimizer state, and user tensors", function()
    nn.manual_seed(1)
    local model = nn.Model{ nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2) }
    model:set{ loss = nn.MSELoss(), optimizer = nn.optim.Adam{ lr = 0.01 } }
    model:step(nn.tensor.randn(5, 4), nn.tensor.randn(5, 2))
    local x = nn.tensor.zeros(10, 10)
    local env = { pt_model = model, pt_x = x, pt_y = x:view(100),   -- one storage: counted once
                  pt_layer = model.layers[1] }                          -- the model's: counted there
    local m = nn.mem(env)
    -- Linear(4, 3): 12 + 3 floats = 60 B of parameters, as many of gradients;
    -- its output (5, 3) 60 B (the first layer makes no grad_input); ReLU's
    -- output and grad_input 2 * 60 B; Adam keeps two moments per
    -- parameter: 2 * (15 + 8) floats = 184 B; in all 1048 B
    assert.are.equal(table.concat({
      "owner                      kind             device  bytes",
      "pt_model.layers[1] Linear  parameters       cpu     60 B",
      "pt_model.layers[1] Linear  gradients        cpu     60 B",
      "pt_model.layers[1] Linear  activations      cpu     60 B",
      "pt_model.layers[2] ReLU    activations      cpu     120 B",
      "pt_model.layers[3] Linear  parameters       cpu     32 B",
      "pt_model.layers[3] Linear  gradients        cpu     32 B",
      "pt_model.layers[3] Linear  activations      cpu     100 B",
      "pt_model.optimizer         optimizer state  cpu     184 B",
      "pt_x                       tensor           cpu     400 B",
      "total on cpu: 1.0 KB",
    }, "\n"), tostring(m))
    local total = 0
    for _, r in ipairs(m.rows) do total = total + r.bytes end
    assert.are.equal(total, m.totals.cpu)
    assert.are.equal(1048, m.totals.cpu)
    assert.are.equal("(no tensors in your globals)", tostring(nn.mem({ a = 1 })))
  end)
end)
describe("nn.timing", function()
  after_each(function() nn.timing(false) end)
  it("is off by default, set by a boolean, and refuses anything else", function()
    -- the default, in a fresh nnlua (a spec before this one may have set it)
    local p = assert(io.popen(require("spec.helpers").NNLUA .. " -e 'io.write(tostring(nn.timing()))'"))
    assert.are.equal("false", p:read("a"))
    p:close()
    nn.timing(false)
    assert.is_false(nn.timing())
    assert.is_true(nn.timing(true))
    assert.is_true(nn.timing())
    assert.is_false(nn.timing(false))
    assert.has_error(function() nn.timing("yes") end,
                     "bad argument #1 to 'timing' (boolean expected, got string)")
    assert.has_error(function() nn.timing(nil) end,
                     "bad argument #1 to 'timing' (boolean expected, got nil)")
  end)
end)

describe("nn.shown", function()
  it("returns its value; model:summary() returns its text marked", function()
    local prompt = require "nn.prompt"
    prompt._reset_shown()
    assert.is_false(prompt._was_shown("x"))
    assert.are.equal("x", nn.shown("x"))
    assert.is_true(prompt._was_shown("x"))
    assert.is_false(prompt._was_shown("y"))
    prompt._reset_shown()
    local old = _G.print
    _G.print = function () end
    local text = nn.Model{ nn.Linear(2, 2) }:summary()
    _G.print = old
    assert.is_true(prompt._was_shown(text))
  end)
end)
