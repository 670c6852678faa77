--- spec/summary_handler.lua -- busted output handler for nnlua's specs.
--
-- Prints what busted's own terminal handler prints (utfTerminal on a
-- terminal, plainTerminal otherwise: a dot per test, then each pending test
-- with its message and each failure and error with its message and
-- traceback), and then, as the very last line,
--
--     N passed, N failed, N skipped
--
-- where failed = failures (an assertion did not hold) + errors (a test, a
-- describe block or a whole file raised).  CI reads that last line.
-- spec/run.lua selects this handler unless the user passes -o.

return function(options)
  local busted = require "busted"

  -- Tracebacks with every failure (busted shows them only with --verbose).
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.verbose = true

  local term = require "term"
  local isatty = io.type(io.stdout) == "file" and term.isatty(io.stdout)
  local inner = require("busted.outputHandlers." .. (isatty and "utfTerminal" or "plainTerminal"))(opts)

  -- The counts, for spec/run.lua's exit status.
  local summary = { passed = 0, failed = 0, skipped = 0 }
  package.loaded["nnlua.summary"] = summary

  local function suite_end()
    summary.passed = inner.successesCount
    summary.failed = inner.failuresCount + inner.errorsCount
    summary.skipped = inner.pendingsCount
    io.write(("%d passed, %d failed, %d skipped\n")
             :format(summary.passed, summary.failed, summary.skipped))
    io.flush()
    return nil, true
  end

  local handler = {}
  -- The loader calls handler:subscribe(options) after building the handler:
  -- subscribe the inner one first, so our line comes after all of its output.
  function handler:subscribe(o)
    inner:subscribe(opts)
    busted.subscribe({ "suite", "end" }, suite_end)
    return self
  end
  return handler
end
