-- Every lesson in tutorials/ runs to the end in the real host: a lesson that
-- a change broke fails here, not in front of a learner.  Each runs in its
-- own nnlua process, as a learner would run it, with -i (./nnlua -i
-- tutorials/NN_x.lua): the lesson, then the prompt, where the lines the
-- lesson invites the learner to type ("--   > line" at its end) are typed
-- through a pipe and must run without an error, on the lesson's globals.
local H = require "spec.helpers"
local NNLUA = os.getenv("NNLUA") or "./nnlua"

local function lessons()
  local list = {}
  local p = assert(io.popen("ls tutorials/*.lua 2>/dev/null"))
  for file in p:lines() do list[#list + 1] = file end
  p:close()
  return list
end

-- the lines a lesson invites the learner to type at the prompt
local function invited(file)
  local lines = {}
  for l in io.lines(file) do
    local typed = l:match("^%-%-   > (.+)$")
    if typed then lines[#lines + 1] = typed end
  end
  return lines
end

-- `nnlua -i file` with `typed` on its stdin: the output (stdout and
-- stderr) and the exit status
local function run_at_prompt(file, typed)
  local input = os.tmpname()
  H.write_file(input, table.concat(typed, "\n") .. "\n")
  local p = assert(io.popen(("NNLUA_HISTORY= %s -i %s < %s 2>&1; echo \"exit=$?\""):format(
    NNLUA, file, H.shell_quote(input))))
  local out = p:read("a")
  p:close()
  os.remove(input)
  return out
end

-- the lessons from 4 on read Fashion-MNIST: prepare data/ from the Debian
-- package (CI installs it) when it is not there yet
if not io.open("data/fashion-mnist/t10k-labels-idx1-ubyte.gz") then
  os.execute("bash scripts/prepare_data.sh fashion-mnist >/dev/null 2>&1")
end

describe("tutorials", function()
  it("there is at least one lesson", function()
    assert.is_true(#lessons() >= 1)
  end)

  for _, file in ipairs(lessons()) do
    it(file .. " runs to the end, and the lines it invites work at the prompt", function()
      local typed = invited(file)
      assert.is_true(#typed >= 3, file .. " invites no lines to type at the prompt")
      local out = run_at_prompt(file, typed)
      assert.is_truthy(out:find("exit=0\n$"), out)
      assert.is_falsy(out:find("stack traceback"), out)
      assert.is_falsy(out:find("attempt to", 1, true), out)
      -- each typed line showed something (a value, or help's text)
      local _, prompts = out:gsub("\n> ", "")
      assert.is_true(prompts >= #typed, out)
    end)
  end

  it("lesson 2 leaves its layer and tensors as globals, live at the prompt", function()
    local out = run_at_prompt("tutorials/02_layers.lua",
      { "y == layer.output", "layer.grad_weight:size(1), layer.grad_weight:size(2)", "x:size(1)" })
    assert.is_truthy(out:find("\n> true\n> 2\t3\n> 2\n", 1, true), out)
  end)
end)
