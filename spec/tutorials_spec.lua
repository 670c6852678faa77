-- Every lesson in tutorials/ runs to the end in the real host: a lesson that
-- a change broke fails here, not in front of a learner.  Each runs in its
-- own nnlua process, as a learner would run it (./nnlua tutorials/NN_x.lua).
local NNLUA = os.getenv("NNLUA") or "./nnlua"

local function lessons()
  local list = {}
  local p = assert(io.popen("ls tutorials/*.lua 2>/dev/null"))
  for file in p:lines() do list[#list + 1] = file end
  p:close()
  return list
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
    it(file .. " runs to the end and exits 0", function()
      local p = assert(io.popen(NNLUA .. " " .. file .. " 2>&1; echo \"exit=$?\""))
      local out = p:read("a")
      p:close()
      assert.is_truthy(out:find("exit=0\n$"), out)
      assert.is_falsy(out:find("stack traceback"), out)
    end)
  end
end)
