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

-- --- transforms: data augmentation on a batch of images -------------------------
--
-- Each transform is an object that is called on a batch x (B, C, H, W):
--   local crop = nn.data.RandomCrop(28, {padding = 4})
--   local xb2 = crop(xb)           -- crop.output, the same tensor every call
--   flip(xb, xb)                   -- in place, where the transform can
-- and the DataLoader applies a list of them to every batch it yields
-- (DataLoader's `transforms` option).  The work is C on the batch's device
-- (nn/augment.c, nn/cuda_augment.cu); the random choices (a crop's
-- offsets, a flip) are one Philox block per image from the one generator,
-- so nn.manual_seed(s) makes an epoch repeatable, and the CPU and CUDA give
-- the same bits.  Fields: t.random (it draws), t.in_place (t(x, x) works),
-- t.output (the last result, once called); and each option.

local Transform = {}           -- what every transform class shares
Transform.__index = Transform

local function shape_text (shape)
  return "[" .. table.concat(shape, "x") .. "]"
end

-- the shape of x (a tensor, or a shape: a list of sizes), raising unless
-- it is a (B, C, H, W) batch; level: as for error()
local function images_shape (who, x, level)
  local shape = is_tensor(x) and x.shape or x
  if type(shape) ~= "table" or (not is_tensor(x) and math.type(shape[1]) ~= "integer") then
    error(("%s: x must be a tensor (B, C, H, W), got %s"):format(who, type(x)), level + 1)
  end
  if #shape ~= 4 then
    local hint = ""
    if #shape == 2 then
      hint = ": view flat images as (B, C, H, W) first, e.g. x:view(-1, 1, 28, 28)"
    elseif #shape == 3 then
      hint = (": view greyscale images (B, H, W) as (B, 1, H, W) first, x:view(%d, 1, %d, %d)")
             :format(shape[1], shape[2], shape[3])
    end
    error(("%s: expected x [B x C x H x W] (a batch of images), got %s%s")
          :format(who, shape_text(shape), hint), level + 1)
  end
  return shape
end

-- the transform's own output buffer on x's device (made empty; C resizes it)
function Transform:_buffer (x)
  if self.output == nil or self.output.device ~= x.device then
    local t = core.tensor.zeros(0)
    self.output = x.device == "cpu" and t or t:to(x.device)
  end
  return self.output
end

--- transform(x [, out]) -> out: the transformed batch.  out: by default the
-- transform's own buffer t.output (x is left as it is); x itself for in
-- place (t.in_place transforms only); or any tensor, resized.
function Transform.__call (self, x, out)
  if not is_tensor(x) then
    error(("%s: x must be a tensor (B, C, H, W), got %s"):format(self.name, type(x)), 2)
  end
  self:output_shape(x, 2)
  if out == x and not self.in_place then
    error(("%s cannot work in place (out is x): leave out out, or give another tensor")
          :format(self.name), 2)
  end
  if out ~= nil and not is_tensor(out) then
    error(("%s: out must be a tensor, got %s"):format(self.name, type(out)), 2)
  end
  return self:_apply(x, out or self:_buffer(x))
end

-- a class of transforms named `name`
local function transform_class (name)
  local class = setmetatable({ name = name }, Transform)
  class.__index = class
  class.__call = Transform.__call
  class.__name = "nn.data." .. name
  class.__transform = true
  return class
end

local function is_transform (v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and rawget(mt, "__transform") == true or false
end

-- a positive integer, or raise naming who and what
local function check_count (who, what, v, min, level)
  if math.type(v) ~= "integer" and not (type(v) == "number" and math.tointeger(v)) or v < min then
    error(("%s: %s must be an integer >= %d, got %s"):format(who, what, min, tostring(v)),
          level + 1)
  end
  return math.tointeger(v)
end

--- nn.data.RandomCrop(size [, {padding = 0}]): each image zero-padded by
-- `padding` on all four sides, then cropped to size (a number: square; or
-- {h, w}) at a random offset, uniform over every position the crop fits
-- in (as torchvision's RandomCrop(size, padding), fill 0).  x (B, C, H, W)
-- -> (B, C, h, w).  Not in place.
-- Errors: size not a positive integer or a pair of them, padding not an
-- integer >= 0, an unknown option; when applied, x not (B, C, H, W), or a
-- size larger than the padded image.
local RandomCrop = transform_class("RandomCrop")
function data.RandomCrop (size, opts)
  local who = "RandomCrop"
  check_options(opts, who, {"padding"}, 2)
  opts = opts or {}
  local h, w
  if type(size) == "table" then
    if #size ~= 2 then
      error(("%s: size must be a positive integer or a pair {h, w}, got a table of %d values")
            :format(who, #size), 2)
    end
    h, w = check_count(who, "size[1]", size[1], 1, 2), check_count(who, "size[2]", size[2], 1, 2)
  else
    if type(size) ~= "number" then
      error(("%s: size must be a positive integer or a pair {h, w}, got %s"):format(who, type(size)), 2)
    end
    h = check_count(who, "size", size, 1, 2)
    w = h
  end
  local padding = check_count(who, "padding", opts.padding == nil and 0 or opts.padding, 0, 2)
  return setmetatable({ size = { h, w }, padding = padding, random = true, in_place = false },
                      RandomCrop)
end

--- transform:output_shape(x) -> the shape it gives for the batch x (a tensor, or
-- its shape as a list: {64, 3, 32, 32}); raises as t(x) would (x not 4-D, a
-- crop larger than the padded image, a mean of another C).  level: as for
-- error() (the DataLoader checks its transforms with it).
function RandomCrop:output_shape (x, level)
  level = level or 1
  local shape = images_shape(self.name, x, level + 1)
  local hp, wp = shape[3] + 2 * self.padding, shape[4] + 2 * self.padding
  if self.size[1] > hp or self.size[2] > wp then
    error(("RandomCrop: size %dx%d is larger than the padded image %dx%d (x %s, padding %d)")
          :format(self.size[1], self.size[2], hp, wp, shape_text(shape), self.padding), level + 1)
  end
  return { shape[1], shape[2], self.size[1], self.size[2] }
end

function RandomCrop:_apply (x, out)
  return cdata.random_crop(out, x, self.size[1], self.size[2], self.padding)
end

--- crop:_at(x, top, left [, out]) -> out: the crop at the same offsets for
-- every image, 0-based into the padded image (top in 0 .. H + 2 padding -
-- h): what a draw gives, made deterministic, for the specs.  Draws nothing.
function RandomCrop:_at (x, top, left, out)
  self:output_shape(x, 2)
  return cdata.random_crop(out or self:_buffer(x), x, self.size[1], self.size[2], self.padding,
                           top, left)
end

function RandomCrop.__tostring (self)
  local h, w = self.size[1], self.size[2]
  local size = h == w and tostring(h) or ("{%d, %d}"):format(h, w)
  return ("RandomCrop(%s%s)"):format(size, self.padding > 0 and (", padding=%d"):format(self.padding) or "")
end

--- nn.data.RandomHorizontalFlip([p = 0.5]): each image flipped left-right
-- (its columns reversed) with probability p, as torchvision's.  x (B, C, H,
-- W) -> the same shape; t(x, x) flips in place.
-- Errors: p not a number in [0, 1]; when applied, x not (B, C, H, W).
local RandomHorizontalFlip = transform_class("RandomHorizontalFlip")
function data.RandomHorizontalFlip (p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(("RandomHorizontalFlip: p must be a number in [0, 1], got %s"):format(tostring(p)), 2)
  end
  return setmetatable({ p = p, random = true, in_place = true }, RandomHorizontalFlip)
end

function RandomHorizontalFlip:output_shape (x, level)
  level = level or 1
  local shape = images_shape(self.name, x, level + 1)
  return { table.unpack(shape) }
end

function RandomHorizontalFlip:_apply (x, out)
  return cdata.random_hflip(out, x, self.p)
end

function RandomHorizontalFlip.__tostring (self)
  return ("RandomHorizontalFlip(p=%g)"):format(self.p)
end

--- nn.data.Normalize(mean, std): x[b, c] = (x[b, c] - mean[c]) / std[c],
-- as torchvision's Normalize (float32: a subtraction, then a division).
-- mean and std: numbers (every channel) or lists of one number per
-- channel, C of them; each std > 0.  t(x, x) works in place.  Draws
-- nothing (t.random is false: the same on validation data).
-- Errors: mean or std not a number or a list of numbers, lists of
-- different lengths, a std <= 0; when applied, x not (B, C, H, W), or
-- lists whose length is not x's C.
local Normalize = transform_class("Normalize")
function data.Normalize (mean, std)
  local who = "Normalize"
  local lists = {}
  for _, a in ipairs{ {"mean", mean}, {"std", std} } do
    local name, v = a[1], a[2]
    local list = type(v) == "number" and { v } or v
    if type(list) ~= "table" or #list == 0 then
      error(("%s: %s must be a number or a list of numbers (one per channel), got %s")
            :format(who, name, type(v) == "table" and "an empty table" or type(v)), 2)
    end
    for i, e in ipairs(list) do
      if type(e) ~= "number" or e ~= e then
        error(("%s: %s[%d] must be a number, got %s"):format(who, name, i, tostring(e)), 2)
      end
      if name == "std" and not (e > 0) then
        error(("%s: std must be > 0, got %s%s"):format(who, tostring(e),
              #list > 1 and (" (std[%d])"):format(i) or ""), 2)
      end
    end
    lists[name] = list
  end
  if #lists.mean ~= #lists.std and #lists.mean > 1 and #lists.std > 1 then
    error(("%s: mean has %d values but std has %d"):format(who, #lists.mean, #lists.std), 2)
  end
  -- as float32 host tensors of one length (a single value repeated)
  local n = math.max(#lists.mean, #lists.std)
  local function filled (list)
    local t = {}
    for i = 1, n do t[i] = list[#list == 1 and 1 or i] end
    return core.tensor(t)
  end
  return setmetatable({ mean = mean, std = std, random = false, in_place = true,
                        _mean = filled(lists.mean), _std = filled(lists.std), _n = n }, Normalize)
end

function Normalize:output_shape (x, level)
  level = level or 1
  local shape = images_shape(self.name, x, level + 1)
  if self._n ~= 1 and self._n ~= shape[2] then
    error(("Normalize: mean and std have %d values but x %s has %d channel%s")
          :format(self._n, shape_text(shape), shape[2], shape[2] == 1 and "" or "s"), level + 1)
  end
  return { table.unpack(shape) }
end

function Normalize:_apply (x, out)
  return cdata.normalize_channels(out, x, self._mean, self._std)
end

function Normalize.__tostring (self)
  local function text (v)
    if type(v) == "number" then return ("%g"):format(v) end
    local parts = {}
    for i, e in ipairs(v) do parts[i] = ("%g"):format(e) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return ("Normalize(mean=%s, std=%s)"):format(text(self.mean), text(self.std))
end

-- the DataLoader's transforms option: nil, or a list of transforms and
-- functions x -> x, checked against batches of `shape`; level: as for error()
local function check_transforms (list, shape, level)
  if list == nil then return nil end
  if type(list) ~= "table" or is_transform(list) then
    error(("DataLoader: transforms must be a list, e.g. {nn.data.RandomHorizontalFlip()}, got %s")
          :format(is_transform(list) and tostring(list) or type(list)), level + 1)
  end
  local n = 0
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 then
      error(("DataLoader: transforms must be a list, got a table with the key %s")
            :format(tostring(k)), level + 1)
    end
    n = math.max(n, k)
  end
  for i = 1, n do
    local t = list[i]
    if is_transform(t) then
      shape = t:output_shape(shape, level + 1)
    elseif type(t) ~= "function" then
      error(("DataLoader: transforms[%d] must be a transform (nn.data.RandomCrop, "
             .. "RandomHorizontalFlip, Normalize) or a function x -> x, got %s")
            :format(i, is_tensor(t) and "a tensor" or type(t)), level + 1)
    end
  end
  return { table.unpack(list, 1, n) }
end

-- --- DataLoader --------------------------------------------------------------

local DataLoader = {}
DataLoader.__index = DataLoader

--- #loader: the number of batches of one epoch.
function DataLoader.__len (self)
  return self.num_batches
end

--- tostring(loader): "DataLoader(60000 samples, batch_size 32, 1875 batches, shuffled)",
-- and the transforms after a semicolon when there are any.
function DataLoader.__tostring (self)
  local ts = {}
  for i, t in ipairs(self.transforms or {}) do ts[i] = tostring(t) end
  return ("DataLoader(%d samples, batch_size %d, %d batches%s%s%s)")
    :format(self.n, self.batch_size, self.num_batches, self.shuffle and ", shuffled" or "",
            self.drop_last and ", drop_last" or "",
            #ts > 0 and "; " .. table.concat(ts, ", ") or "")
end

-- x or y of a DataLoader as a list: { v } and true for one tensor, a copy
-- of v and false for a non-empty list of tensors (a later change to the
-- caller's list does not reach the loader).  `what` is what one tensor
-- must be, `role` what an entry of a list is, for the message (the
-- caller's caller is blamed).
local function as_list (v, name, what, role)
  if is_tensor(v) and v:dim() >= 1 then return { v }, true end
  local bad = type(v) ~= "table" or is_tensor(v) or #v == 0
  if not bad then
    for i = 1, #v do
      if not is_tensor(v[i]) or v[i]:dim() < 1 then
        error(("DataLoader: %s must be %s, got table (a list must hold tensors with rows: "
               .. "%s[%d] is %s)"):format(name, what, name, i, describe(v[i])), 3)
      end
    end
    return { table.unpack(v, 1, #v) }, false
  end
  error(("DataLoader: %s must be %s, got %s (or a list of such tensors, one per %s of a "
         .. "model of several)"):format(name, what, describe(v), role), 3)
end

--- nn.data.DataLoader(x, y, {batch_size = 32, shuffle = true, drop_last = false, transforms})
-- Batches of the rows of x (and y), for
--   for xb, yb in loader:iter() do ... end
-- x and y may each be a list of tensors with the same rows (the inputs or
-- targets of a graph model of several, nn.Model{inputs, outputs}): xb and
-- yb are then lists of their batches, the same rows of each.  Transforms
-- take x as one tensor (y may be a list: they touch x only).
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
--   transforms       a list applied in order to each batch's xb, on its
--                    device: nn.data.RandomCrop, RandomHorizontalFlip,
--                    Normalize (checked against x's shape here), or
--                    functions xb -> xb.  The yielded xb is then the last
--                    one's result (a transform's own buffer, or loader.xb
--                    transformed in place); its draws follow the shuffle's,
--                    batch by batch, so nn.manual_seed repeats an epoch.
-- Fields: loader.n (samples), loader.batch_size, #loader (batches per epoch),
-- loader.x, loader.y.  x may have any shape with rows first: (N, 784),
-- (N, 1, 28, 28), ...; y may be nil (yb is then nil).
-- Errors: x not a tensor with rows (nor a list of them); y's rows differ
-- from x's, or y on another device; batch_size not a positive integer;
-- shuffle or drop_last not booleans; transforms not a list, an entry that
-- is neither a transform nor a function, or one that does not fit x's
-- shape (x not (N, C, H, W), a crop too large, a mean of another C), or
-- transforms with x a list; an unknown option.
function data.DataLoader (x, y, opts)
  check_options(opts, "DataLoader", {"batch_size", "shuffle", "drop_last", "transforms"}, 2)
  opts = opts or {}
  local xs, x_one = as_list(x, "x", "a tensor with at least 1 dim", "input")
  local ys, y_one = nil, true
  if y ~= nil then ys, y_one = as_list(y, "y", "nil or a tensor", "output") end
  local n, device = #xs[1], xs[1].device
  -- every tensor's rows and device against x's (x[1]'s)
  local ref = x_one and "x" or "x[1]"
  local function same_rows (list, one, name)
    for i = 1, list and #list or 0 do
      local t, what = list[i], one and name or ("%s[%d]"):format(name, i)
      if #t ~= n then
        error(("DataLoader: %s has %d rows but %s has %d (%s %s, %s %s)")
              :format(ref, n, what, #t, ref, tostring(xs[1]), what, tostring(t)), 3)
      end
      if t.device ~= device then
        error(("DataLoader: %s is on %s but %s is on %s"):format(ref, device, what, t.device), 3)
      end
    end
  end
  same_rows(xs, x_one, "x")
  same_rows(ys, y_one, "y")
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
  if opts.transforms ~= nil and not x_one then
    error(("DataLoader: transforms take the batches of one input tensor: x is a list of %d "
           .. "(transform the data first)"):format(#xs), 2)
  end
  local batch_shape = xs[1].shape
  batch_shape[1] = math.min(bs, n)
  local transforms = check_transforms(opts.transforms, batch_shape, 2)
  local self = setmetatable({
    x = x_one and x or xs, y = (y == nil or y_one) and y or ys, n = n, batch_size = bs,
    shuffle = opts.shuffle ~= false, drop_last = opts.drop_last == true,
    transforms = transforms, xs = xs, ys = ys or {}, x_one = x_one, y_one = y_one,
  }, DataLoader)
  -- n // bs, plus one for a partial batch: (n + bs - 1) // bs overflows for a huge bs
  self.num_batches = n // bs + ((not self.drop_last and n % bs > 0) and 1 or 0)
  -- the reused batch buffers, on x's device, with room for a full batch:
  -- loader.xb is x's (a list for a list), loader.yb y's
  local rows = math.min(bs, n)
  local function buffers (list)
    local b = {}
    for i = 1, #list do b[i] = list[i]:narrow(1, 1, rows):clone() end
    return b
  end
  self.xbs, self.ybs = buffers(xs), buffers(self.ys)
  self.xb = x_one and self.xbs[1] or self.xbs
  self.yb = y ~= nil and (y_one and self.ybs[1] or self.ybs) or nil
  -- the permutation, refilled in place by each iter()
  if self.shuffle then
    self.perm = core.tensor.zeros(n)      -- filled by iter(): making a loader draws nothing
    if device ~= "cpu" then self.perm = self.perm:to(device) end
  end
  return self
end

--- loader:iter() -> an iterator over one epoch: each call gives xb, yb (the
-- same two tensors, refilled; see DataLoader), xb transformed by the
-- transforms.  A new permutation per call when shuffling.
function DataLoader:iter ()
  local perm = nil
  if self.shuffle then perm = core.randperm(self.n, self.perm) end
  local xs, ys, xbs, ybs, bs, n = self.xs, self.ys, self.xbs, self.ybs, self.batch_size, self.n
  local xb, yb = self.xb, self.yb
  local ts = self.transforms
  local gather = cdata.gather
  local k, last = 0, self.num_batches
  return function ()
    if k >= last then return nil end
    local first = k * bs + 1
    local count = math.min(bs, n - first + 1)
    k = k + 1
    for i = 1, #xs do gather(xbs[i], xs[i], perm, first, count) end
    for i = 1, #ys do gather(ybs[i], ys[i], perm, first, count) end
    if not self.x_one then return xb, yb end      -- a list: no transforms
    local out = xb
    for i = 1, ts and #ts or 0 do
      local t = ts[i]
      if type(t) == "function" then
        out = t(out)
        if not is_tensor(out) then
          error(("DataLoader: transforms[%d] returned %s, not a tensor"):format(i, type(out)), 2)
        end
      else
        -- in place where it can: out is the loader's batch or a transform's buffer
        out = t(out, t.in_place and out or nil)
      end
    end
    return out, yb
  end
end

return data
