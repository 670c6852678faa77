-- spec/print_spec.lua -- nn.repr of tensors, layers, tables and a train's
-- history; nn.set_printoptions (lua/nn/repr.lua, lua/nn/fit.lua).
local H = require "spec.helpers"

-- every spec prints at a known width, and leaves the options as it found them
local saved
local function setup() saved = nn.set_printoptions{ linewidth = 80 } end
local function teardown() nn.set_printoptions(saved) end

local function lines_of(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

describe("printing a tensor", function()
  before_each(setup)
  after_each(teardown)

  it("shows a small matrix whole, exactly", function()
    assert.are.equal("nn.Tensor[2x3] float32 device=cpu  min -2.25  max 6  mean 2.875  std 2.957\n"
                     .. "  1.5000 -2.2500  3.0000\n  4.0000  5.0000  6.0000",
                     nn.repr(nn.tensor{{1.5, -2.25, 3}, {4, 5, 6}}))
  end)

  it("shows a 10-class probability row and a 10x10 matrix whole", function()
    local p = nn.tensor.arange(10):div(45)
    local s = nn.repr(p)
    assert.is_falsy(s:find("...", 1, true), s)
    assert.are.equal(" 0.0000 0.0222 0.0444 0.0667 0.0889 0.1111 0.1333 0.1556 0.1778 0.2000",
                     lines_of(s)[2])
    local m = nn.repr(nn.tensor.arange(100):view(10, 10))
    assert.is_falsy(m:find("...", 1, true), m)
    assert.are.equal(11, #lines_of(m))
    assert.are.equal(" 90 91 92 93 94 95 96 97 98 99", lines_of(m)[11])
  end)

  it("summarises above threshold with edgeitems at each end", function()
    nn.set_printoptions{ threshold = 5, edgeitems = 2 }
    local s = nn.repr(nn.tensor.arange(6))
    assert.are.equal("   0   1 ...   4   5", lines_of(s)[2])   -- the cells as wide as "..."
    nn.set_printoptions{ threshold = 1000 }
    assert.are.equal(" 0 1 2 3 4 5", lines_of(nn.repr(nn.tensor.arange(6)))[2])
  end)

  it("uses precision digits after the point", function()
    nn.set_printoptions{ precision = 2 }
    assert.are.equal(" 0.50 0.25", lines_of(nn.repr(nn.tensor{0.5, 0.25}))[2])
  end)

  it("cuts long rows into column blocks no wider than linewidth, the header too", function()
    nn.set_printoptions{ linewidth = 40 }
    local s = nn.repr(nn.tensor.arange(2 * 12):div(7):view(2, 12))
    local ls = lines_of(s)
    for _, l in ipairs(ls) do assert.is_true(#l <= 40, ("%d chars: %q"):format(#l, l)) end
    assert.are.equal("nn.Tensor[2x12] float32 device=cpu", ls[1])
    assert.are.equal("  min 0  max 3.286  mean 1.643  std 1.01", ls[2])
    assert.are.equal(" Columns 1 to 5", ls[3])
    assert.are.equal(" 0.0000 0.1429 0.2857 0.4286 0.5714", ls[4])
    assert.is_truthy(s:find("\n Columns 6 to 10\n", 1, true), s)
    assert.is_truthy(s:find("\n Columns 11 to 12\n", 1, true), s)
  end)

  it("a [64x784] gradient at 80 columns: no line over 80", function()
    local s = nn.repr(nn.tensor.randn(64, 784))
    for _, l in ipairs(lines_of(s)) do assert.is_true(#l <= 80, ("%d chars: %q"):format(#l, l)) end
  end)

  it("counts NaN and Inf in the header, the statistics of the finite ones", function()
    assert.are.equal("nn.Tensor[4] float32 device=cpu\n"
                     .. "  min 1  max 2  mean 1.5  std 0.7071 (of 2 finite)  NaN 1  Inf 1\n"
                     .. "   1 nan inf   2", nn.repr(nn.tensor{1, 0 / 0, 1 / 0, 2}))
  end)

  it("prints int32 integers exactly", function()
    local s = nn.repr(nn.tensor({2147483647, -3}, { dtype = "int32" }))
    assert.are.equal(" 2147483647         -3", lines_of(s)[#lines_of(s)])
    assert.is_falsy(s:find("NaN", 1, true), s)
  end)

  it("labels the slices of a 3-D tensor, one format for all", function()
    local s = nn.repr(nn.tensor.arange(8):view(2, 2, 2))
    assert.are.equal("(1,.,.)\n 0 1\n 2 3\n(2,.,.)\n 4 5\n 6 7",
                     s:match("\n(.*)$"))
  end)

  it("get_printoptions gives the options in use; 'default' restores them", function()
    nn.set_printoptions{ precision = 6, edgeitems = 2, threshold = 50 }
    assert.are.same({ precision = 6, edgeitems = 2, threshold = 50, linewidth = 80 },
                    nn.get_printoptions())
    nn.set_printoptions("default")
    local o = nn.get_printoptions()
    assert.are.same({ 4, 3, 1000 }, { o.precision, o.edgeitems, o.threshold })
  end)

  it("refuses unknown options and values out of range, naming them", function()
    H.assert_error_has(function () nn.set_printoptions{ precison = 2 } end,
                       { "nn.set_printoptions: unknown option 'precison'" })
    H.assert_error_has(function () nn.set_printoptions{ precision = -1 } end,
                       { "precision must be an integer from 0 to 16", "got -1" })
    H.assert_error_has(function () nn.set_printoptions{ linewidth = 5 } end,
                       { "linewidth must be an integer from 20" })
    H.assert_error_has(function () nn.set_printoptions{ edgeitems = 1.5 } end,
                       { "edgeitems must be an integer" })
    H.assert_error_has(function () nn.set_printoptions(3) end,
                       { "nn.set_printoptions: expected a table" })
  end)
end)

describe("printing layers, tables and history", function()
  before_each(setup)
  after_each(teardown)

  it("a layer shows type, parameter count, device, mode and its tensors' shapes", function()
    assert.are.equal("nn.Linear(3 -> 2): 8 parameters, cpu, training\n"
                     .. "  weight [2x3]  bias [2]  grad_weight [2x3]  grad_bias [2]\n"
                     .. "  grad_pre_activation [0]  output [0]", nn.repr(nn.Linear(3, 2)))
    assert.are.equal("nn.ReLU: 0 parameters, cpu, evaluation mode\n  output [0]",
                     nn.repr(nn.ReLU():evaluate()))
    assert.are.equal("nn.Linear(3 -> 2)", tostring(nn.Linear(3, 2)))   -- summary's text stays
  end)

  it("tables nest readably, a cycle as <cycle>, a layer by its first line", function()
    local t = { a = 1, b = { "x", 2 } }
    t.self = t
    assert.are.equal('{a = 1, b = {"x", 2}, self = <cycle>}', nn.repr(t))
    assert.are.equal("{nn.Linear(3 -> 2): 8 parameters, cpu, training}", nn.repr({ nn.Linear(3, 2) }))
  end)

  it("train's history prints its last epochs as a table, and stays a plain table", function()
    nn.manual_seed(1)
    local m = nn.Model("basic", { 4, 2 })
    local h = m:train(nn.tensor.randn(32, 4), nn.tensor.ones(32), { epochs = 7, verbose = 0 })
    assert.are.equal(7, #h.epoch)
    assert.are.equal(7, #h.loss)
    local n = 0
    for _ in ipairs(h.loss) do n = n + 1 end
    assert.are.equal(7, n)
    local ls = lines_of(nn.repr(h))
    assert.are.equal("history: 7 epochs, the last 5", ls[1])
    assert.are.equal("epoch      loss  accuracy        lr   seconds", ls[2])
    assert.are.equal(8, #ls)
    assert.are.equal("(nn.plot(history) draws the curves)", ls[8])
    assert.is_truthy(ls[3]:find(("^    3    %.4f    %.4f     0.001 "):format(h.loss[3], h.accuracy[3])), ls[3])
    assert.is_truthy(ls[7]:find("^    7 "), ls[7])
    assert.are.equal(nn.repr(h), tostring(h))
  end)
end)

describe("the line width follows the terminal", function()
  it("is the terminal's width on a terminal, else $COLUMNS, else 80", function()
    local cmd = H.NNLUA .. " -e 'io.write(nn.get_printoptions().linewidth)'"
    local function run(c)
      local p = assert(io.popen(c))
      local out = p:read("a")
      p:close()
      return out
    end
    assert.are.equal("80", run("env -u COLUMNS " .. cmd .. " | cat"))
    assert.are.equal("50", run("COLUMNS=50 " .. cmd .. " | cat"))
    assert.are.equal("100", run(("SHELL=/bin/sh script -qc %s /dev/null")
                                :format(H.shell_quote("stty cols 100; " .. cmd))))
  end)

  it("nn.core's terminal_size refuses a bad descriptor", function()
    local core = require "nn.core"
    H.assert_error_has(function () core.terminal_size(-1) end,
                       { "bad argument #1 to 'terminal_size' (a file descriptor 0..1023 expected)" })
    assert.is_nil(core.terminal_size(1023))
  end)
end)

describe("printing.wrap (help, a model, inspect's warnings)", function()
  local wrap = require("nn.repr").wrap
  it("breaks a long line at its last space that fits, the rest indented two more", function()
    assert.are.equal("  alpha beta\n    gamma delta\n    epsilon",
                     wrap("  alpha beta gamma delta epsilon", 16))
    assert.are.equal("short\nlines stay", wrap("short\nlines stay", 16))
  end)

  it("first narrows the widest gap, when that alone makes the line fit", function()
    assert.are.equal("x = a + b   (1)", wrap("x = a + b        (1)", 15))
    assert.are.equal("a  b   c", wrap("a  b     c", 8))
  end)

  it("cuts a word longer than the line, between UTF-8 characters", function()
    assert.are.equal("ééééé\n  ééééééé", wrap(("é"):rep(12), 10))   -- (cut by bytes: never inside one)
    assert.are.equal("abcdefgh\n  ij", wrap("abcdefghij", 8))
  end)
end)
