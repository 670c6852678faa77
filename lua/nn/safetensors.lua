--- nn.safetensors: checkpoint files, and the JSON and image helpers that
-- travel with them (init.lua also sets nn.json and nn.image from here).
--
-- A checkpoint is a safetensors file (https://github.com/huggingface/safetensors):
-- named float32 (F32) and int32 (I32) tensors plus a string -> string map, `__metadata__`, where
-- model.lua keeps the architecture, the optimizer's settings, the epoch and
-- the random state as JSON text.  Other tools (Python's safetensors,
-- PyTorch, candle) read the tensors.  The work is done in C: io/safetensors.c
-- checks every byte it reads, and writes atomically.
--
--   nn.safetensors.save("model.safetensors", {w = t1, b = t2}, {epoch = "3"})
--   local tensors, metadata = nn.safetensors.load("model.safetensors")
--   nn.json.encode{lr = 0.01, sizes = {784, 10}}  --> '{"lr":0.01,"sizes":[784,10]}'
--   nn.image.load("digit.png")                    --> tensor (28, 28) in [0, 1]
local core = require "nn.core"

local M = {}

--- nn.safetensors.save(path, tensors, [metadata])
-- tensors: a table name -> tensor (any device; CUDA ones are copied to the
-- host), names non-empty strings other than "__metadata__".  metadata: nil
-- or a table of strings -> strings.  The file is written to a temporary file
-- beside `path`, fsynced and renamed into place, so `path` holds the old
-- file or the new one, never a part (a writer killed mid-save may leave its
-- ".<name>.tmp.<pid>.XXXXXX" file behind; the next save to the same path
-- removes those whose <pid> is no longer a live process).  Names are
-- written sorted: the same tensors give the same bytes.
-- Only a regular file is replaced.  A symbolic link is followed to the
-- regular file it leads to, which is replaced (the link stays a link, as
-- editors do); a directory, FIFO, device, socket, dangling link or link to
-- one of those is refused, and left as it was.
-- Errors: a bad argument names the key ("tensors['w'] must be a tensor, got
-- number", "metadata['epoch'] must be a string, got number"), or a path
-- holding a NUL byte; "safetensors.save: <path>: <reason>" when the file
-- cannot be written or is not a regular file.
M.save = core.safetensors_save

--- nn.safetensors.load(path) -> tensors, metadata
-- tensors: a table name -> CPU tensor: float32 for F32 (and F16, BF16, F64,
-- converted), int32 for I32 (and I64 whose values all fit int32; one that
-- does not is an error naming the element); metadata: a table string -> string, empty when the
-- file has none.
-- Errors: "safetensors.load: <path>: <reason>": a missing file, one that is
-- truncated, or corrupt (a header that is not JSON, a duplicate key, a
-- dtype other than F32/F16/BF16/F64/I32/I64, a bad shape, offsets out of range,
-- overlapping or leaving a hole, a size that does not match the shape,
-- metadata that is not strings).  Nothing is returned from a file that
-- fails a check.
M.load = core.safetensors_load

--- nn.json: JSON text through jansson.
--   encode(value, [{indent = n}]) -> string: tables with keys 1..n are
--     arrays, tables with string keys objects (keys sorted), {} is an
--     object; integers stay integers, floats round-trip exactly (17
--     digits); nil and nn.json.null are null.  Raises on NaN/inf, non-UTF-8
--     strings, functions/userdata, mixed or non-string keys, cycles.
--   decode(text) -> value: arrays as tables 1..n, null as nn.json.null (a
--     sentinel, so that arrays keep their length).  Raises on bad JSON and
--     on an object with a duplicate key.
--   null: the sentinel for JSON null (a light userdata, as cjson.null).
M.json = {
  encode = core.json_encode,
  decode = core.json_decode,
  null = core.json_null,
}

--- nn.image: grayscale pictures for scripts/predict.lua.
--   load(path) -> tensor (H, W) on the CPU, values in [0, 1]: PGM (P5, P2)
--     or PNG (any color type and depth, made gray), told by the file's first
--     bytes.  Raises "image.load: <path>: <reason>" on a bad file.
--   save_pgm(path, t): t a 2-D tensor (H, W), clamped to [0, 1], written as
--     an 8-bit binary PGM.
--   save(t, path [, {normalize = false}]) -> path: t (H, W) or (1, H, W) as
--     an 8-bit greyscale PNG through libpng, atomically (io/image.c); also
--     t:save_image(path [, opts]).  lua/nn/plot.lua adds it, with t:show().
M.image = {
  load = core.image_load,
  save_pgm = core.image_save_pgm,
}

return M
