--- spec/cli_spec.lua -- the nnlua command line, as lua5.4's: scripts and
-- their arguments, -e, -l, -v, --help, exit status, tracebacks, stdin,
-- the library found from any directory, '#!' scripts.
-- Each case runs the real binary in a child process: $NNLUA, else ./nnlua.

local H = require "spec.helpers"
local shell_quote, read_file, write_file = H.shell_quote, H.read_file, H.write_file
local NNLUA = H.NNLUA



--- Runs `nnlua <args>` (args already shell-quoted) and returns
-- { out = stdout, err = stderr, code = exit status }.
-- opts.stdin: text for stdin (default: empty);  opts.cwd: directory;
-- opts.env: "NAME=value ..." prefix;  opts.exe: another command than nnlua.
local function run (args, opts)
  opts = opts or {}
  local base = os.tmpname()
  write_file(base .. ".in", opts.stdin or "")
  local cmd = ("%s%s %s %s < %s > %s 2> %s"):format(
    opts.cwd and ("cd " .. shell_quote(opts.cwd) .. " && ") or "",
    opts.env or "",
    opts.exe or shell_quote(NNLUA), args,
    shell_quote(base .. ".in"), shell_quote(base .. ".out"), shell_quote(base .. ".err"))
  local _, how, code = os.execute(cmd)
  local r = { out = read_file(base .. ".out"), err = read_file(base .. ".err"),
              code = (how == "exit") and code or -code }
  os.remove(base); os.remove(base .. ".in"); os.remove(base .. ".out"); os.remove(base .. ".err")
  return r
end

local temp_dir, remove_dir = H.temp_dir, H.remove_dir


describe("nnlua command line", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() remove_dir(dir) end)

  it("sets the load-time settings once, and a user's own values win", function()
    local show = shell_quote("print(os.getenv('GOMP_SPINCOUNT'), os.getenv('OPENBLAS_CORETYPE'))")
    local r = run("-e " .. show, { env = "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OPENBLAS_CORETYPE " })
    assert.are.equal(0, r.code, r.err)
    local spin, core = r.out:match("^(%S+)\t(%S+)\n$")
    assert.are.equal("10000", spin, r.out)
    -- a better OpenBLAS kernel is named only where the CPU has its instructions
    -- and OpenBLAS chose a weaker one (vm/main.c); else the variable stays unset
    assert.truthy(core == "nil" or core == "SkylakeX" or core == "Haswell", r.out)
    r = run("-e " .. show, { env = "GOMP_SPINCOUNT=5 OPENBLAS_CORETYPE=Prescott " })
    assert.are.equal("5\tPrescott\n", r.out)
  end)

  it("runs a script with its arguments in 'arg' and in '...'", function()
    local script = dir .. "/args.lua"
    write_file(script, [[
print(arg[0], arg[1], arg[2], #arg, arg[-1])
print(select('#', ...), ...)
]])
    local r = run(shell_quote(script) .. " alpha 'b c'")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(script .. "\talpha\tb c\t2\t" .. NNLUA .. "\n2\talpha\tb c\n", r.out)
    assert.are.equal("", r.err)
  end)

  it("puts the interpreter and its options at negative indices of 'arg'", function()
    local script = dir .. "/neg.lua"
    write_file(script, "print(arg[-3], arg[-2], arg[-1], arg[0], arg[1])\n")
    local r = run("-e 'x = 1' " .. shell_quote(script) .. " z")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(NNLUA .. "\t-e\tx = 1\t" .. script .. "\tz\n", r.out)
  end)

  it("-e runs code, several in order, before the script", function()
    local script = dir .. "/after.lua"
    write_file(script, "print(order .. 'script')\n")
    local r = run("-e \"order = 'a'\" -e \"order = order .. 'b'\" " .. shell_quote(script))
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("abscript\n", r.out)
  end)

  it("-e with a joined argument, as lua5.4's -eCODE", function()
    local r = run("'-eprint(6 * 7)'")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("42\n", r.out)
  end)

  it("-l requires a module into the global of its name, and -l g=mod into g", function()
    write_file(dir .. "/cli_spec_mod.lua", "return { value = 7 }\n")
    local r = run("-l cli_spec_mod -l m=cli_spec_mod -e 'print(cli_spec_mod.value, m.value, m == cli_spec_mod)'",
                  { cwd = dir })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("7\t7\ttrue\n", r.out)
  end)

  it("-l of a missing module fails with status 1 and says why", function()
    local r = run("-l cli_spec_no_such_module -e 'print(1)'")
    assert.are.equal(1, r.code)
    assert.are.equal("", r.out)
    assert.truthy(r.err:find("^nnlua: module 'cli_spec_no_such_module' not found"), r.err)
  end)

  it("-v prints the version line and exits 0", function()
    local r = run("-v")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:match("^nnlua %d+%.%d+ %(Lua 5%.4%.%d+%)\n$"), r.out)
  end)

  it("--help prints the usage to stdout and exits 0", function()
    local r = run("--help")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("^usage: nnlua %[options%] %[script %[args%]%]\n"), r.out)
    assert.truthy(r.out:find("-e stat", 1, true), r.out)
    assert.are.equal("", r.err)
  end)

  it("rejects an unknown option with the usage on stderr and status 1", function()
    local r = run("-x")
    assert.are.equal(1, r.code)
    assert.are.equal("", r.out)
    assert.truthy(r.err:find("^nnlua: unrecognized option '%-x'\nusage: nnlua"), r.err)
  end)

  it("-e without its argument is an error", function()
    local r = run("-e")
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("'-e' needs argument", 1, true), r.err)
  end)

  it("exits 0 after a script that ends normally, with os.exit's status otherwise", function()
    assert.are.equal(0, run("-e 'local x = 1'").code)
    assert.are.equal(3, run("-e 'os.exit(3)'").code)
    assert.are.equal(1, run("-e 'os.exit(false)'").code)
  end)

  it("a script error: status 1, message and traceback on stderr", function()
    local script = dir .. "/boom.lua"
    write_file(script, [[
io.write("before\n")
function cli_spec_inner () error("deep trouble") end
local function outer () cli_spec_inner() end
outer()
]])
    local r = run(shell_quote(script))
    assert.are.equal(1, r.code)
    assert.are.equal("before\n", r.out)
    local first = r.err:match("^[^\n]*")
    assert.are.equal("nnlua: " .. script .. ":2: deep trouble", first)
    assert.truthy(r.err:find("\nstack traceback:\n", 1, true), r.err)
    assert.truthy(r.err:find("in function 'cli_spec_inner'", 1, true), r.err)
    assert.truthy(r.err:find("in local 'outer'", 1, true), r.err)
  end)

  it("an error in -e names the command line", function()
    local r = run("-e 'error(\"bad\")'")
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("^nnlua: %(command line%):1: bad\nstack traceback:"), r.err)
  end)

  it("an error object that is not a string is described", function()
    local r = run("-e 'error({})'")
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("^nnlua: %(error object is a table value%)"), r.err)
    r = run("-e 'error(setmetatable({}, {__tostring = function() return \"custom\" end}))'")
    assert.are.equal(1, r.code)
    assert.are.equal("nnlua: custom\n", r.err)
  end)

  it("a syntax error in the script: status 1 and the message", function()
    local script = dir .. "/syntax.lua"
    write_file(script, "x = = 1\n")
    local r = run(shell_quote(script))
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("^nnlua: " .. script:gsub("%p", "%%%0") .. ":1: unexpected symbol"), r.err)
  end)

  it("a missing script: status 1 and the message", function()
    local r = run(shell_quote(dir .. "/none.lua"))
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("cannot open " .. (dir .. "/none.lua"):gsub("%p", "%%%0")), r.err)
  end)

  it("runs stdin as a script when there is no script and stdin is not a terminal", function()
    local r = run("", { stdin = "print('from stdin', 5 * 5)\n" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("from stdin\t25\n", r.out)
  end)

  it("'-' runs stdin as the script, with arguments", function()
    local r = run("- one two", { stdin = "print(arg[0], ...)\n" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("-\tone\ttwo\n", r.out)
  end)

  it("'--' ends the options: what follows is the script", function()
    write_file(dir .. "/-dash.lua", "print('dash script', ...)\n")
    local r = run("-- -dash.lua x", { cwd = dir })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("dash script\tx\n", r.out)
  end)

  it("has the global nn and finds the library from any directory", function()
    local r = run("-e 'print(type(nn), rawequal(nn, require(\"nn\")), type(nn.repr))'",
                  { cwd = dir })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("table\ttrue\tfunction\n", r.out)
  end)

  it("puts the library directory, absolute, first on package.path", function()
    local r = run("-e 'print((package.path:match(\"^([^;]+)/%?%.lua;\")))'", { cwd = dir })
    assert.are.equal(0, r.code, r.err)
    local libdir = r.out:match("^(.-)\n$")
    assert.truthy(libdir and libdir:sub(1, 1) == "/", r.out)
    assert.truthy(io.open(libdir .. "/nn/init.lua"), "no nn/init.lua in " .. tostring(libdir))
  end)

  it("runs a script whose first line is '#!', also as an executable", function()
    local script = dir .. "/tool"
    write_file(script, "#!/usr/bin/env nnlua\nprint('shebang', ...)\n")
    local r = run(shell_quote(script) .. " 1")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("shebang\t1\n", r.out)
    -- the kernel runs it through env, which finds nnlua on PATH
    assert(os.execute("chmod +x " .. shell_quote(script)))
    local bindir = NNLUA:match("^(.*)/[^/]*$")
    r = run("2", { exe = shell_quote(script), env = "PATH=" .. shell_quote(bindir) .. ":\"$PATH\" ",
                   cwd = dir })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("shebang\t2\n", r.out)
  end)

  it("sets flush-to-zero and denormals-are-zero (x86)", function()
    local h = io.popen("uname -m")
    local machine = h:read("l")
    h:close()
    if machine ~= "x86_64" then
      pending("MXCSR is x86 only; this machine is " .. tostring(machine))
      return
    end
    -- 1e-310 is a denormal double: DAZ reads it as 0, FTZ flushes the
    -- denormal result of tiny / 4 to 0.  Plain lua5.4 prints "false false".
    local r = run("-e 'local tiny, one, four = 1e-310, 1, 4; print(tiny * one == 0, 2.2250738585072014e-308 / four == 0)'")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("true\ttrue\n", r.out)
  end)
end)
