--- nn.threads: how many threads a training loop runs on, chosen by
-- measuring it (model:train's `threads = "auto"`, the default).
--
-- On a quiet machine every core helps: an MLP epoch at batch 128 took 8.8 s
-- on 2 threads and 13.2 s on 1.  When another process keeps a core busy,
-- the thread on that core gets half of it, and each matrix product waits
-- for its share: the same epoch took 16.6 s on 2 threads and 12.8 s on 1
-- (issue 13; PyTorch, which runs one thread here, took 14.5 s).  No fixed
-- count is right for both, so the loop measures: every so often it runs a
-- few batches on the other count, and keeps the faster.
--
-- This is safe for the numbers: they do not depend on the thread count
-- (tensor/cpu_gemm.c cuts every product by its shape alone; the other
-- parallel loops are element-wise), so a seed gives the same weights
-- whatever the governor chooses, and whatever the machine's load
-- (spec/threads_spec.lua).
--
-- The probe: after the first `FIRST` full batches, 2 RUNS batches are
-- timed, alternating between the current count and the other (so a load
-- that drifts during the probe weighs on both alike); the median time per
-- sample of each decides, and the other count wins only when it is at
-- least 10% faster (a busy core makes the timings jumpy, and a wrong switch
-- costs the batches until the next probe).  A probe that keeps the count
-- doubles the gap to the next one (up to MAX_GAP batches); one that
-- changes it starts again at FIRST, so a load that comes or goes is
-- noticed within seconds.  Measured beside one busy process (batch 128):
-- one probe after a warm-up batch on each side, 5% to win, flip-flopped
-- (3 switches in an epoch: 14.7 s, where 1 thread throughout took 10.8 s).
local core = require "nn.core"

local M = {}

local FIRST, MAX_GAP, RUNS, GAIN = 32, 1024, 4, 0.9

local Governor = {}
Governor.__index = Governor

--- nn.threads.governor([max]) -> a governor over max threads (default: the
-- current count, nn.get_num_threads()), or nil when max is 1: nothing to
-- choose.  Use: gov:before() before each batch, gov:after(seconds, rows)
-- after it, gov:finish() when the loop ends (the count goes back to max).
function M.governor(max)
  max = max or core.get_num_threads()
  if max < 2 then return nil end
  return setmetatable({ max = max, n = max, gap = FIRST, next = FIRST, seen = 0,
                        plan = nil, step = 0, times = nil, switches = 0 }, Governor)
end

local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  return s[(#s + 1) // 2]
end

--- before a batch: set the thread count it runs on
function Governor:before()
  if self.plan == nil and self.seen >= self.next then
    -- the probe: RUNS on each count, alternating, the other count first
    local other = self.n == self.max and 1 or self.max
    self.plan, self.step, self.times = {}, 0, { [self.n] = {}, [other] = {} }
    for _ = 1, RUNS do
      self.plan[#self.plan + 1] = { n = other, timed = true }
      self.plan[#self.plan + 1] = { n = self.n, timed = true }
    end
    self.other = other
  end
  if self.plan then
    self.step = self.step + 1
    core.set_num_threads(self.plan[self.step].n)
  else
    core.set_num_threads(self.n)      -- the count it chose (a user's call may have changed it)
  end
end

--- after a batch of `rows` rows that took `seconds`; `full` false for a
-- short last batch, which is not counted
function Governor:after(seconds, rows, full)
  if full == false then                 -- not counted: a probe runs its step again
    if self.plan then self.step = self.step - 1 end
    return
  end
  self.seen = self.seen + 1
  if self.plan == nil then return end
  local s = self.plan[self.step]
  if s.timed then table.insert(self.times[s.n], seconds / rows) end
  if self.step < #self.plan then return end
  -- the probe is done: keep the faster
  local here, there = median(self.times[self.n]), median(self.times[self.other])
  if there < GAIN * here then
    self.n, self.gap, self.switches = self.other, FIRST, self.switches + 1
  else
    self.gap = math.min(2 * self.gap, MAX_GAP)
  end
  core.set_num_threads(self.n)
  self.plan, self.next = nil, self.seen + self.gap
end

--- the loop is over: the thread count goes back to what it was
function Governor:finish()
  core.set_num_threads(self.max)
end

return M
