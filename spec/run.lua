--- spec/run.lua -- run busted's specs inside the nnlua host.
--
--   ./nnlua spec/run.lua [busted options] [spec files or folders]
--   ./nnlua spec/run.lua spec                    -- what `make test` runs
--   ./nnlua spec/run.lua spec/matmul_spec.lua    -- one file
--   ./nnlua spec/run.lua -o TAP spec             -- another output handler
--
-- The specs need the real host (the `nn` global, tensor userdata), so they
-- cannot run under /usr/bin/busted with lua5.4.  This file is that script's
-- twin: busted's runner reads the global `arg` for its options and the source
-- name of its caller for its name, then loads and runs the spec files.
--
-- Output: spec/summary_handler.lua by default (the usual terminal report plus
-- a last line `N passed, N failed, N skipped`); `-o NAME` picks another.
-- Exit status: 0 when every test passed (pending ones allowed), 1 otherwise.

local path = require "pl.path"

-- The folder of this file (".../spec/") and the repository root above it.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local root = path.normpath(path.abspath(path.join(here, ".."))) .. "/"

-- The host passes the script's arguments as `arg` (as lua.c does) and as `...`.
-- Rebuild `arg` from `...` if the host did not set it, so busted's option
-- parser always sees them.
if type(arg) ~= "table" then
  arg = { [0] = here .. "run.lua", ... }
end

-- `require 'spec.helpers'` from any spec, whatever the current directory.
package.path = root .. "?.lua;" .. root .. "?/init.lua;" .. package.path

-- An absolute path, because busted changes into --directory before it loads
-- the handler.
local handler = path.abspath(here .. "summary_handler.lua")

-- Busted's runner calls os.exit(1) itself when a test failed or errored, and
-- returns normally when all passed.  It must be called from this chunk's top
-- level: it takes debug.getinfo(2) as the calling script.
require "busted.runner" ({ standalone = false, output = handler })

-- Belt and braces: the handler counted what ran; an error that reached it but
-- not the runner's own count still fails the run.
local summary = package.loaded["nnlua.summary"]
if summary and summary.failed > 0 then
  os.exit(1, true)
end
