--- spec/repl_spec.lua -- the nnlua prompt, driven as a person would.
--
-- Two ways in.  Through a pipe, `nnlua -i` reads plain lines and still shows
-- its prompts: enough for printing, continuation lines and errors.  Ctrl-C,
-- Ctrl-D, line editing and history need a terminal: those cases run nnlua
-- under `script` (util-linux), which gives it a pseudo-terminal; we write
-- keystrokes into script's stdin (Ctrl-C is byte 3, and the terminal turns
-- it into SIGINT) and read the screen from the file script writes.  Every
-- wait polls that file against a deadline; nothing sleeps for long.

local H = require "spec.helpers"
local shell_quote, read_file, write_file = H.shell_quote, H.read_file, H.write_file
local NNLUA = H.NNLUA
local DEADLINE = 15  -- seconds any one expected output may take (a wait, not a sleep: a slow
                     -- sanitizer build on a busy machine still passes)



local ok_system, system = pcall(require, "system")   -- lua-system, a busted dependency
local function now ()
  return ok_system and system.monotime() or os.time()
end
local function nap ()
  if ok_system then system.sleep(0.01) else os.execute("sleep 0.01") end
end

--- `nnlua -i` with `input` on a pipe: { out, err, code }.
local function run_piped (input)
  local base = os.tmpname()
  write_file(base .. ".in", input)
  local _, how, code = os.execute(("NNLUA_HISTORY= %s -i < %s > %s 2> %s"):format(
    shell_quote(NNLUA), shell_quote(base .. ".in"), shell_quote(base .. ".out"),
    shell_quote(base .. ".err")))
  local r = { out = read_file(base .. ".out"), err = read_file(base .. ".err"),
              code = (how == "exit") and code or -code }
  os.remove(base); os.remove(base .. ".in"); os.remove(base .. ".out"); os.remove(base .. ".err")
  return r
end

--- nnlua at a pseudo-terminal.  env: arguments for env(1) before nnlua
-- ("NAME=value", "-u NAME").
-- s:send(keys) types; s:expect(text) waits until `text` (plain, or a
-- pattern when pattern = true) shows on the screen after what an earlier
-- expect matched, and returns what came before it; s:finish() waits for
-- the exit and returns the status; s:abort() ends a session a failed case
-- left running.
local Session = {}
Session.__index = Session
local running = {}   -- sessions not yet finished, for after_each

local function session (env, cols, limit)
  local base = os.tmpname()
  local s = setmetatable({ screen_file = base .. ".out", pid_file = base .. ".pid",
                           base = base, pos = 1 }, Session)
  -- timeout: a hung nnlua fails the case instead of hanging the run.
  -- TERM: libedit needs a known terminal to edit.
  -- The inner sh writes its pid, which exec hands to timeout, for abort().
  -- exec: script runs its command through $SHELL -c; a shell that stayed
  -- to wait for nnlua would get the Ctrl-C too, and dash dies of it.
  -- cat: once script has exited, keystrokes still sent go somewhere; a
  -- write to a pipe nobody reads would kill this process with SIGPIPE.
  -- cols: the terminal's width (stty in script's shell, before nnlua);
  -- limit: the seconds the whole session may take (10)
  local inner = ("echo $$ > %s; SHELL=/bin/sh exec timeout %d script -qfec %s /dev/null > %s 2>&1"):format(
    shell_quote(s.pid_file), limit or 10,
    shell_quote((cols and ("stty cols %d rows 50; "):format(cols) or "")
                .. "exec env " .. (env or "NNLUA_HISTORY=") .. " TERM=xterm " .. NNLUA),
    shell_quote(s.screen_file))
  local cmd = "sh -c " .. shell_quote(inner) .. "; rc=$?; cat > /dev/null; exit $rc"
  s.pipe = assert(io.popen(cmd, "w"))
  running[s] = true
  return s
end

function Session:send (keys)
  self.pipe:write(keys)
  self.pipe:flush()
end

function Session:screen ()
  return read_file(self.screen_file) or ""
end

function Session:expect (text, pattern)
  local t0 = now()
  repeat
    local screen = self:screen()
    local i, j = screen:find(text, self.pos, not pattern)
    if i then
      local before = screen:sub(self.pos, i - 1)
      self.pos = j + 1
      return before
    end
    nap()
  until now() - t0 > DEADLINE
  error(("timed out waiting for %q; the screen after the last match was:\n%s")
        :format(text, self:screen():sub(self.pos)), 2)
end

-- true if `text` shows within `seconds`, without failing
function Session:shows (text, seconds)
  local t0 = now()
  repeat
    if self:screen():find(text, self.pos, true) then return true end
    nap()
  until now() - t0 > seconds
  return false
end

function Session:finish ()
  local _, how, code = self.pipe:close()
  running[self] = nil
  os.remove(self.base); os.remove(self.screen_file); os.remove(self.pid_file)
  return (how == "exit") and code or -code
end

function Session:pid ()
  return (read_file(self.pid_file) or ""):match("^(%d+)")
end

-- Ctrl-D at the prompt; returns the exit status.  A Ctrl-D that reaches
-- the terminal while it is still in cooked mode (nnlua between two lines)
-- is taken as the terminal's own end-of-file and never reaches the line
-- editor, so if nnlua has not exited after a second, press again.
function Session:quit ()
  for _ = 1, 5 do
    self:send("\4")
    local t0 = now()
    repeat
      if not os.execute("kill -0 " .. (self:pid() or "0") .. " 2> /dev/null") then
        return self:finish()
      end
      nap()
    until now() - t0 > 1
  end
  return self:finish()
end

function Session:abort ()
  local pid = self:pid()
  if pid then os.execute("kill " .. pid .. " 2> /dev/null") end   -- timeout passes it on
  self:finish()
end

-- the prompt at the start of a line: the first one follows the version line
local PROMPT = "\n> "


describe("nnlua prompt, through a pipe (-i)", function()
  it("prints an expression's value without '='", function()
    local r = run_piped("1234 * 1000\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> 1234000\n", 1, true), r.out)
  end)

  it("prints several results tab-separated on one line", function()
    local r = run_piped("10, 20, 'x'\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> 10\t20\t", 1, true), r.out)
  end)

  it("runs a statement without printing, and keeps its globals", function()
    local r = run_piped("repl_x = 17\nrepl_x + 1\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("\n> > 18\n", 1, true), r.out)
  end)

  it("shows the last expression after statements on one line: 'x = 1; x + 2'", function()
    local r = run_piped("repl_y = 40; repl_y + 2\nprint('a;b'); 7\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> 42\n", 1, true), r.out)
    assert.truthy(r.out:find("a;b\n7\n", 1, true), r.out)
  end)

  it("continues an incomplete statement on the next line with '>> '", function()
    local r = run_piped("for i = 1, 3 do\nprint(i * 111)\nend\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> >> >> 111\n222\n333\n", 1, true), r.out)
  end)

  it("prints an error, and the next line still works", function()
    local r = run_piped("error('repl spec boom')\n6 * 7\n")
    assert.are.equal(0, r.code)
    assert.truthy(r.err:find("^stdin:1: repl spec boom\nstack traceback:"), r.err)
    assert.truthy(r.out:find("> 42\n", 1, true), r.out)
  end)

  it("reports a syntax error, then goes on", function()
    local r = run_piped("x = = 1\n2 + 2\n")
    assert.are.equal(0, r.code)
    assert.truthy(r.err:find("stdin:1: unexpected symbol near '='", 1, true), r.err)
    assert.truthy(r.out:find("> 4\n", 1, true), r.out)
  end)

  it("prints values through nn.repr, looked up each time", function()
    local r = run_piped("7\nnn.repr = function (v) return '<' .. tostring(v) .. '>' end\n7, 8\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> 7\n", 1, true), r.out)
    assert.truthy(r.out:find("> <7>\t<8>\n", 1, true), r.out)
  end)

  it("reports an error inside nn.repr and stays up", function()
    local r = run_piped("nn.repr = function () error('repr broke') end\n1\nnn.repr = tostring\n9 * 9\n")
    assert.are.equal(0, r.code)
    assert.truthy(r.err:find("repr broke", 1, true), r.err)
    assert.truthy(r.out:find("> 81\n", 1, true), r.out)
  end)

  it("at end of input inside a statement, says what is missing, exits 0", function()
    local r = run_piped("for i = 1, 2 do\n")
    assert.are.equal(0, r.code)
    assert.truthy(r.err:find("'end' expected", 1, true), r.err)
  end)

  it("runs the prompt after a script with -i", function()
    local base = os.tmpname()
    write_file(base, "repl_from_script = 99\n")
    local _, _, code = os.execute(("printf 'repl_from_script + 1\\n' | %s -i %s > %s 2>&1"):format(
      shell_quote(NNLUA), shell_quote(base), shell_quote(base .. ".out")))
    local out = read_file(base .. ".out")
    os.remove(base); os.remove(base .. ".out")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("> 100\n", 1, true), out)
  end)
end)


describe("nnlua prompt: help, ';', timing, who (through a pipe)", function()
  it("?x is help(x), and ? alone lists the topics", function()
    local r = run_piped("?nn.ReLU\n?\n? nn.optim.Adam\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.err)
    assert.truthy(r.out:find("\n> nn.ReLU()\n  y = max(x, 0), any shape\n", 1, true), r.out)
    assert.truthy(r.out:find("\n> help(x): x a function, layer, loss, optimizer, model or tensor", 1, true), r.out)
    assert.truthy(r.out:find("\n> nn.optim.Adam{lr = 0.001, ", 1, true), r.out)
  end)

  it("help and who are globals at the prompt", function()
    local r = run_piped("repl_w = nn.tensor.zeros(4, 5)\nwho()\nhelp(nn.Dropout)\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("repl_w  tensor  [4x5] float32 cpu 80 B\n", 1, true), r.out)
    assert.truthy(r.out:find("> nn.Dropout([p])\n", 1, true), r.out)
  end)

  it("a trailing ';' hides the result, and only that line's", function()
    local r = run_piped("41 + 1;\nrepl_s = 'abc';\nrepl_s;  \nrepl_s .. 'd'\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.err)
    assert.truthy(r.out:find("\n> > > > abcd\n", 1, true), r.out)
    assert.falsy(r.out:find("42", 1, true), r.out)
  end)

  it("nn.timing(true) prints each command's wall time after it, until turned off", function()
    local r = run_piped("nn.timing(true);\n6 * 7\nnn.timing(false)\n7 * 7\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("\n> %(%d+%.%d%d%d s%)\n> 42\n%(%d+%.%d%d%d s%)\n> false\n> 49\n"), r.out)
  end)

  it("model:summary() prints its table once", function()
    local r = run_piped("repl_m = nn.Model{nn.Linear(4, 3), nn.ReLU()}\nrepl_m:summary()\n"
                        .. "repl_txt = repl_m:summary()\n#repl_txt > 100\n")
    assert.are.equal(0, r.code, r.err)
    local _, n = r.out:gsub("Total params: 15", "")
    assert.are.equal(2, n, r.out)   -- once per call: not printed again as a result
    assert.truthy(r.out:find("> true\n", 1, true), r.out)
  end)

  it("nn prints its short index", function()
    local r = run_piped("nn\n")
    assert.are.equal(0, r.code, r.err)
    assert.truthy(r.out:find("> nn: the nnlua library (nnlua 0.1).  help() for the topics", 1, true), r.out)
    assert.falsy(r.out:find("function: 0x", 1, true), r.out)
  end)
end)


-- script needs a pseudo-terminal from the system (/dev/ptmx)
local have_pty = os.execute("script -qfec true /dev/null > /dev/null 2>&1 < /dev/null")

describe("nnlua prompt, at a terminal", function()
  if not have_pty then
    pending("no pseudo-terminal here (`script -qfec true /dev/null` failed): terminal specs skipped")
    return
  end
  after_each(function()
    for s in pairs(running) do s:abort() end
  end)

  it("prints a value, and Ctrl-D at an empty prompt exits with status 0", function()
    local s = session()
    s:expect(PROMPT)
    s:send("6 * 7\n")
    s:expect("\n42\r\n")
    s:expect("> ")
    assert.are.equal(0, s:quit())
  end)

  it("Ctrl-C cancels a half-typed line and gives a fresh prompt", function()
    local s = session()
    s:expect(PROMPT)
    s:send("2000 +")
    s:expect("2000 +")          -- echoed: the line editor has it
    s:send("\3")
    s:expect("^C\r\n> ")
    s:send("7 * 3\n")           -- 21 alone; 2021 if the half line had stayed
    local shown = s:expect("\n21\r\n")
    assert.falsy(shown:find("2021", 1, true), shown)
    assert.are.equal(0, s:quit())
  end)

  it("Ctrl-C cancels a statement being continued", function()
    local s = session()
    s:expect(PROMPT)
    s:send("for i = 1, 2 do\n")
    s:expect(">> ")
    s:send("\3")
    s:expect("^C\r\n> ")
    s:send("4 * 4\n")           -- inside the for body it would print nothing
    s:expect("\n16\r\n")
    assert.are.equal(0, s:quit())
  end)

  it("Ctrl-C interrupts running code, and the prompt still evaluates", function()
    local s = session()
    s:expect(PROMPT)
    s:send("while true do end\n")
    s:expect("while true do end\r\n")
    -- the press can come just before the loop starts; press again then
    local interrupted = false
    for _ = 1, 5 do
      s:send("\3")
      if s:shows("interrupted!", 1) then interrupted = true break end
    end
    assert.is_true(interrupted, "no 'interrupted!' after Ctrl-C:\n" .. s:screen())
    s:expect("interrupted!")
    s:expect("> ")
    s:send("5 * 5\n")
    s:expect("\n25\r\n")
    assert.are.equal(0, s:quit())
  end)

  -- what a person sees at the end: each line's text after its last \r
  -- (a redrawn progress bar, the line editor's redraws), escapes removed
  local function seen_lines (raw)
    local lines = {}
    for line in (raw:gsub("\r\n", "\n") .. "\n"):gmatch("([^\n]*)\n") do
      line = line:gsub("\27%[[%d;?]*[%a@]", "")
      lines[#lines + 1] = line:match("([^\r]*)$")
    end
    return lines
  end

  it("a learner's session at 80 columns: train, Ctrl-C, inspect, hist, show, plot, help", function()
    local s = session("NNLUA_HISTORY= NO_COLOR=1", 80, 120)   -- many steps: a generous limit
    s:expect(PROMPT)
    s:send("nn.manual_seed(1); x = nn.tensor.rand(512, 784)\n")
    s:expect("> ")
    s:send("y = (nn.tensor.rand(512) * 10):floor() + 1\n")
    s:expect("> ")
    s:send("model = nn.Model{nn.Dense(784, 32, {activation = 'relu'}), nn.Dense(32, 10)}\n")
    s:expect("> ")
    s:send("opt = nn.optim.SGD{lr = 0.1}\n")
    s:expect("> ")
    s:send("model:set{loss = 'cross_entropy', optimizer = opt, accuracy = true};\n")
    s:expect("> ")
    s:send("history = model:train(x, y, {epochs = 100000, batch_size = 8})\n")
    s:expect("Epoch 1/100000  loss")          -- the first epoch's summary: training goes on
    s:send("\3")
    s:expect("interrupted [inaft]+ epoch %d+", true)
    s:expect("> ")
    s:send("model:inspect()\n")
    s:expect("(dead units)")
    s:expect("> ")
    s:send("model.layers[1].grad_weight:hist()\n")
    s:expect("hist of 25,088 values")
    s:expect("> ")
    s:send("x[1]:view(28, 28):show()\n")
    s:expect("> ")
    s:send("nn.plot(history)\n")
    s:expect("accuracy")
    s:expect("> ")
    s:send("help(nn.Linear)\n")
    s:expect("Source: Goodfellow")
    s:expect("> ")
    local raw = s:screen()
    assert.are.equal(0, s:quit())
    local lines = seen_lines(raw)
    for _, line in ipairs(lines) do
      assert.is_true((utf8.len(line) or #line) <= 80, ("%d columns: %q"):format(utf8.len(line) or #line, line))
    end
    local text = table.concat(lines, "\n")
    -- the bar was redrawn in place: what stays is the epochs' summary lines
    assert.falsy(text:find("ETA", 1, true), text)
    assert.truthy(text:find("\n # layer +output +mean +std +zeros +|grad| +|W| +upd/W\n"), text)
    assert.truthy(text:find("\n 1 Linear%(784 %-> 3~ %[%d+x32%]"), text)
    -- hist: the header and 20 bins; show: 28 rows of shades, 2 characters a pixel
    local bins, rows = 0, 0
    for _, line in ipairs(lines) do
      if line:find(" │", 1, true) and line:find("%d$") then bins = bins + 1 end
      if #line > 0 and line:find("^[ ░▒▓█]+$") and utf8.len(line) <= 56 then rows = rows + 1 end
    end
    assert.are.equal(20, bins)
    assert.is_true(rows >= 26, text)            -- (a row of blanks has no shade: it is empty)
    assert.truthy(text:find("\nloss\n", 1, true), text)
    assert.truthy(text:find("nn.Linear(in_features, out_features [, opts])", 1, true), text)
    assert.falsy(text:find("function: 0x", 1, true), text)
  end)

  it("writes the history file and reads it at the next start", function()
    local hist = os.tmpname()
    os.remove(hist)
    local s = session("NNLUA_HISTORY=" .. hist)
    s:expect(PROMPT)
    s:send("'hist' .. 6 * 7\n")
    s:expect("hist42")
    assert.are.equal(0, s:quit())
    local saved = read_file(hist)
    assert.truthy(saved and saved:find("'hist'", 1, true), "history file: " .. tostring(saved))
    -- Ctrl-P (previous history) then Enter runs the saved line again
    s = session("NNLUA_HISTORY=" .. hist)
    s:expect(PROMPT)
    s:send("\16")
    s:expect("6 * 7")
    s:send("\n")
    s:expect("hist42")
    assert.are.equal(0, s:quit())
    os.remove(hist)
  end)

  it("does not fail when HOME is unset or the history file cannot be written", function()
    local s = session("-u HOME -u NNLUA_HISTORY")
    s:expect(PROMPT)
    s:send("3 + 4\n")
    s:expect("\n7\r\n")
    assert.are.equal(0, s:quit())
    s = session("NNLUA_HISTORY=/nonexistent-dir/history")
    s:expect(PROMPT)
    s:send("3 + 5\n")
    s:expect("\n8\r\n")
    assert.are.equal(0, s:quit())
  end)

  it("completes global names, table fields and methods with Tab", function()
    local s = session()
    s:expect(PROMPT)
    s:send("repl_tab = { alpha_field = 61 }\n")
    s:expect("61 }\r\n> ")
    s:send("repl_tab.alp\t")
    s:expect("ha_field")
    s:send(" + 1\n")
    s:expect("\n62\r\n")
    s:send("string.rev\t")
    s:expect("erse")
    s:send("('abc') == 'cba'\n")
    s:expect("\ntrue\r\n")
    s:send("nn.ten\t")         -- a field of nn
    s:expect("sor")
    s:send(" ~= nil\n")
    s:expect("\ntrue\r\n")
    s:send("io.stdout:wri\t")  -- a userdata's method, through its __index table
    s:expect("te")
    s:send("('done') == io.stdout\n")
    s:expect("\ndonetrue\r\n")
    s:send("repl_t = nn.tensor.ones(2)\n")
    s:expect("ones(2)\r\n> ")
    s:send("repl_t:num\t")     -- a tensor's method, behind an __index function
    s:expect("el")
    s:send("()\n")
    s:expect("\n2\r\n")
    s:send("repl_num = 5\n")
    s:expect("repl_num = 5\r\n> ")
    s:send("repl_num.\t")       -- a number has no fields: nothing, no crash
    -- Ctrl-C makes the terminal throw away keys not yet read: wait for
    -- the echo, which shows the line editor has them
    s:expect("repl_num.")
    s:send("\3")
    s:expect("^C\r\n> ")
    s:send("repl_num + 1\n")
    s:expect("\n6\r\n")
    assert.are.equal(0, s:quit())
  end)

  it("completes a layer's fields through model.layers[1]. and methods after ':'", function()
    local s = session()
    s:expect(PROMPT)
    s:send("repl_m = nn.Model{nn.Linear(4, 3), nn.BatchNorm1d(3)}\n")
    s:expect("BatchNorm1d(3)}\r\n> ")
    s:send("repl_m.layers[1].grad_w\t")     -- a field the layer's __index computes
    s:expect("eight")
    s:send(":size(2)\n")
    s:expect("\n4\r\n")
    s:send("repl_m.layers[2].running_v\t")
    s:expect("ar")
    s:send(":numel()\n")
    s:expect("\n3\r\n")
    s:send("#repl_m:summ\t")                 -- a method, after ':'
    s:expect("ary")
    s:send("() > 0;\n")
    s:expect("Non-trainable params")
    s:send("?nn.Lin\t")                      -- after '?', a name
    s:expect("ear")
    s:send("\n")
    s:expect("(also nn.Dense)")
    assert.are.equal(0, s:quit())
  end)
end)
