--- nn.data: datasets in tensors, and the batches a training loop reads.
--
--   local x = nn.data.load_idx("data/mnist/train-images-idx3-ubyte.gz")  -- (8000, 28, 28), 0..255
--   nn.data.normalize(x, 0.1307 * 255, 0.3081 * 255)                    -- in place
--   local xt, yt, xv, yv = nn.data.split(x, y, 0.1)                     -- the last 10% for validation
--   local loader = nn.data.DataLoader(xt, yt, {batch_size = 64})
--   for epoch = 1, 10 do
--     for xb, yb in loader:iter() do ... end                            -- a new shuffle each epoch
--   end
--
-- The per-sample work is C (vm/l_data.c, tensor_index_select,
-- tensor_randperm); this file only keeps count of batches.
local core = require "nn.core"
local cdata = core.data

local data = {}

local function is_tensor (v)
  return getmetatable(v) == core.Tensor
end

local function describe (v)
  return is_tensor(v) and ("a tensor %s"):format(tostring(v)) or type(v)
end

-- Raise unless opts is nil or a table whose keys are all in `known` (a
-- list); `who` names the function.  level: as for error().
local function check_options (opts, who, known, level)
  if opts == nil then return end
  if type(opts) ~= "table" then
    error(("%s: options must be a table, got %s"):format(who, type(opts)), level + 1)
  end
  for key in pairs(opts) do
    local ok = false
    for _, k in ipairs(known) do ok = ok or key == k end
    if not ok then
      error(("%s has no option '%s' (options: %s)")
            :format(who, tostring(key), table.concat(known, ", ")), level + 1)
    end
  end
end

--- nn.data.load_idx(path) -> tensor: an IDX file (MNIST's format), gzip'd
-- or plain, as a CPU float32 tensor of its sizes holding the raw values
-- (0..255 for images, 0..9 for MNIST's labels).  io/idx.c checks the magic
-- number, the sizes and the length to the byte.
-- Errors: "load_idx: <path>: <reason>": missing or unreadable, bad magic
-- number, truncated, trailing bytes, corrupt gzip stream.
data.load_idx = cdata.load_idx

--- nn.data.one_hot(labels, num_classes [, out]) -> (B, num_classes): row b
-- is 1 at column labels[b] and 0 elsewhere.  labels: (B) or (B, 1), class
-- indices 1..num_classes (1-based, as the losses take them).
-- Errors: a label out of range ("label 11 at row 7 is outside 1..10") or
-- not whole, num_classes not a positive integer.
data.one_hot = cdata.one_hot

--- nn.data.normalize(x, mean, std) -> x: x = (x - mean) / std, in place.
-- mean and std are numbers, or tensors of one row of x's last dim (a
-- per-feature mean and std) broadcast over the rows.
-- Errors: x not a tensor, mean or std neither a number nor a tensor, std 0.
function data.normalize (x, mean, std)
  if not is_tensor(x) then
    error(("normalize: x must be a tensor, got %s"):format(type(x)), 2)
  end
  for _, p in ipairs{ {"mean", mean}, {"std", std} } do
    if type(p[2]) ~= "number" and not is_tensor(p[2]) then
      error(("normalize: %s must be a number or a tensor, got %s"):format(p[1], type(p[2])), 2)
    end
  end
  if std == 0 then error("normalize: std must not be 0", 2) end
  return x:sub_(mean):div_(std)
end

--- nn.data.split(x, y, fraction) -> x1, y1, x2, y2: the first rows and the
-- last `fraction` of the rows, as views (no copy).  As Keras's
-- validation_split: no shuffling, the second part is the tail, and the
-- first part has floor(n * (1 - fraction)) rows.  y may be nil (then y1
-- and y2 are nil).
-- Errors: x not a tensor with rows, y's rows differ from x's, fraction
-- not a number in [0, 1].
function data.split (x, y, fraction)
  if not is_tensor(x) or x:dim() < 1 then
    error(("split: x must be a tensor with at least 1 dim, got %s"):format(describe(x)), 2)
  end
  if y ~= nil and (not is_tensor(y) or y:dim() < 1 or #y ~= #x) then
    error(("split: y must be nil or a tensor with the %d rows of x, got %s")
          :format(#x, describe(y)), 2)
  end
  if type(fraction) ~= "number" or not (fraction >= 0 and fraction <= 1) then
    error(("split: fraction must be a number in [0, 1], got %s"):format(tostring(fraction)), 2)
  end
  local n = #x
  local n1 = math.floor(n * (1 - fraction))
  local function halves (t)
    if t == nil then return nil, nil end
    return t:narrow(1, 1, n1), t:narrow(1, n1 + 1, n - n1)
  end
  local x1, x2 = halves(x)
  local y1, y2 = halves(y)
  return x1, y1, x2, y2
end

-- --- DataLoader --------------------------------------------------------------

local DataLoader = {}
DataLoader.__index = DataLoader

--- #loader: the number of batches of one epoch.
function DataLoader.__len (self)
  return self.num_batches
end

--- tostring(loader): "DataLoader(60000 samples, batch_size 32, 1875 batches, shuffled)".
function DataLoader.__tostring (self)
  return ("DataLoader(%d samples, batch_size %d, %d batches%s%s)")
    :format(self.n, self.batch_size, self.num_batches, self.shuffle and ", shuffled" or "",
            self.drop_last and ", drop_last" or "")
end

--- nn.data.DataLoader(x, y, {batch_size = 32, shuffle = true, drop_last = false})
-- Batches of the rows of x (and y), for
--   for xb, yb in loader:iter() do ... end
-- xb and yb are the SAME two tensors every batch (loader.xb, loader.yb):
-- each batch's rows are gathered into them, and the short last batch only
-- resizes them (the storage stays), so a loop allocates nothing.  Keep a
-- batch with :clone() if it must outlive the next one, and run one pass
-- of a loader at a time (a second iter() reshuffles the same buffers).
--   shuffle = true   each call to iter() draws a new permutation of the rows
--                    from the global generator (nn.manual_seed makes it
--                    repeatable; it advances the generator, so a resumed
--                    checkpoint shuffles as the run it came from) and
--                    gathers the rows in that order (tensor_index_select)
--   shuffle = false  the rows in order, copied from x (one memcpy a batch)
--   drop_last        leave out the short last batch when n does not divide
-- Fields: loader.n (samples), loader.batch_size, #loader (batches per epoch),
-- loader.x, loader.y.  x may have any shape with rows first: (N, 784),
-- (N, 1, 28, 28), ...; y may be nil (yb is then nil).
-- Errors: x not a tensor with rows; y's rows differ from x's, or y on
-- another device; batch_size not a positive integer; shuffle or drop_last
-- not booleans; an unknown option.
function data.DataLoader (x, y, opts)
  check_options(opts, "DataLoader", {"batch_size", "shuffle", "drop_last"}, 2)
  opts = opts or {}
  if not is_tensor(x) or x:dim() < 1 then
    error(("DataLoader: x must be a tensor with at least 1 dim, got %s"):format(describe(x)), 2)
  end
  local n = #x
  if y ~= nil then
    if not is_tensor(y) or y:dim() < 1 then
      error(("DataLoader: y must be nil or a tensor, got %s"):format(describe(y)), 2)
    end
    if #y ~= n then
      error(("DataLoader: x has %d rows but y has %d (x %s, y %s)")
            :format(n, #y, tostring(x), tostring(y)), 2)
    end
    if y.device ~= x.device then
      error(("DataLoader: x is on %s but y is on %s"):format(x.device, y.device), 2)
    end
  end
  local bs = opts.batch_size == nil and 32 or opts.batch_size
  if type(bs) ~= "number" or math.tointeger(bs) == nil or bs < 1 then
    error(("DataLoader: batch_size must be a positive integer, got %s"):format(tostring(bs)), 2)
  end
  bs = math.tointeger(bs)
  for _, key in ipairs{"shuffle", "drop_last"} do
    if opts[key] ~= nil and type(opts[key]) ~= "boolean" then
      error(("DataLoader: option '%s' must be a boolean, got %s"):format(key, type(opts[key])), 2)
    end
  end
  local self = setmetatable({
    x = x, y = y, n = n, batch_size = bs,
    shuffle = opts.shuffle ~= false, drop_last = opts.drop_last == true,
  }, DataLoader)
  -- n // bs, plus one for a partial batch: (n + bs - 1) // bs overflows for a huge bs
  self.num_batches = n // bs + ((not self.drop_last and n % bs > 0) and 1 or 0)
  -- the reused batch buffers, on x's device, with room for a full batch
  local rows = math.min(bs, n)
  self.xb = x:narrow(1, 1, rows):clone()
  self.yb = y and y:narrow(1, 1, rows):clone()
  -- the permutation, refilled in place by each iter()
  if self.shuffle then
    self.perm = core.tensor.zeros(n)      -- filled by iter(): making a loader draws nothing
    if x.device ~= "cpu" then self.perm = self.perm:to(x.device) end
  end
  return self
end

--- loader:iter() -> an iterator over one epoch: each call gives xb, yb (the
-- same two tensors, refilled; see DataLoader).  A new permutation per call
-- when shuffling.
function DataLoader:iter ()
  local perm = nil
  if self.shuffle then perm = core.randperm(self.n, self.perm) end
  local x, y, xb, yb, bs, n = self.x, self.y, self.xb, self.yb, self.batch_size, self.n
  local gather = cdata.gather
  local k, last = 0, self.num_batches
  return function ()
    if k >= last then return nil end
    local first = k * bs + 1
    local count = math.min(bs, n - first + 1)
    k = k + 1
    gather(xb, x, perm, first, count)
    if y then gather(yb, y, perm, first, count) end
    return xb, yb
  end
end

return data
