--- lua/nn/checkpoint.lua: nn.Model's checkpoints: model:save, nn.load
-- (Model.load), the list of state tensors they read and write, and the
-- table that rebuilds each layer type (nn.layer_types).  A C layer
-- describes itself: layer:config() holds its options, nn[type](config)
-- rebuilds it, and its type's description names its persistent buffers;
-- nothing here knows a layer by name.
--
-- A checkpoint is a safetensors file (io/safetensors.c) that other tools can read:
--   tensors   layers.<i>.weight, layers.<i>.bias, layers.<i>.running_mean, ...
--             optimizer.<k>.<state>   (exp_avg, momentum_buffer, ...)
--   __metadata__ (strings)
--     format        "nnlua.model/1"
--     architecture  JSON: {layers = {{type = "Linear", in_features = 784, ...}, ...}}
--                   and, for a graph model (lua/nn/graph.lua), graph = {nodes =
--                   {{input = {shape = {784}, name = "image"}}, {layer = 1,
--                   inputs = {1}}, ...}, inputs = 1, outputs = {3}}: each node's
--                   layer (its index in layers) and the nodes it reads
--     training      JSON: {loss = {...}, optimizer = {...}, iterations = n,
--                          metric = "accuracy", epoch = n, rng = {seed, offset},
--                          callbacks = {{kind = "nn.callbacks.EarlyStopping",
--                                        state = {best = ..., wait = ...}}, ...}}
--                   (the callbacks of the last train, a scheduler's state
--                   within its LearningRateScheduler: lua/nn/callbacks.lua)
--
-- How this file joins the Model: it returns a function that lua/nn/model.lua
-- calls once, at its end, as require("nn.checkpoint")(Model, util); the
-- function adds its methods to that same Model table.  util holds the small
-- helpers model.lua shares (fail, is_module, layer_name, layer_params).  This file never requires nn.model, so there is no require
-- cycle; require "nn" gets the table lua/nn/init.lua put in package.loaded
-- before loading the Model.
local nn = require "nn"

return function (Model, util)
  local fail, is_module, layer_name = util.fail, util.is_module, util.layer_name
  local layer_params = util.layer_params

  -- {name, tensor} of every parameter and persistent buffer (those its
  -- type's description lists as persistent, in its order): "layers.3.weight",
  -- "layers.5.running_mean", ...
  -- (model:get_weights and set_weights use the same list)
  function Model:_state_tensors()
    local out = {}
    for i, layer in ipairs(self.layers) do
      local p = layer_params(layer)
      local names = is_module(layer) and select(3, layer:parameters()) or {}
      for k = 1, #p do
        out[#out + 1] = { ("layers.%d.%s"):format(i, names[k] or ("param" .. k)), p[k] }
      end
      if is_module(layer) then
        local buffers = layer:buffers{ persistent = true }
        for _, name in ipairs(nn.module_types[layer.name].persistent) do
          out[#out + 1] = { ("layers.%d.%s"):format(i, name), buffers[name] }
        end
      end
    end
    return out
  end


  -- The constructor of each layer type, by the name a checkpoint's config
  -- gives: every C layer type (its constructor takes its config table), and
  -- any Lua layer type a user puts here (with a config() method).
  nn.layer_types = {}
  for name, t in pairs(nn.module_types) do nn.layer_types[name] = t.new end

  local function config_of(layer, i)
    local cfg
    if type(layer.config) == "function" then
      cfg = layer:config()
    end
    if type(cfg) ~= "table" or nn.layer_types[cfg.type] == nil then
      fail(4, "model:save: layer %d (%s) cannot be saved: give it a config() method that "
           .. "returns {type = name, ...} and put a constructor under nn.layer_types[name]",
           i, layer_name(layer))
    end
    return cfg
  end

  --- model:save(path) -> model: the layers, their parameters and running
  -- statistics, the loss, the optimizer and its state, the epoch and the
  -- random generator's state, as one safetensors file.  Written to a temporary
  -- file in the same directory, fsynced and renamed into place: a crash
  -- mid-save leaves the old file whole.
  -- Errors: a layer that cannot be described; the file cannot be written.
  function Model:save(path)
    if type(path) ~= "string" then fail(2, "model:save: path must be a string, got %s", type(path)) end
    local json = nn.safetensors.json
    local arch = { layers = {} }
    for i, layer in ipairs(self.layers) do arch.layers[i] = config_of(layer, i) end
    if self.graph then arch.graph = self.graph:describe() end
    local tensors = {}
    for _, entry in ipairs(self:_state_tensors()) do tensors[entry[1]] = entry[2] end
    local seed, offset = nn.get_rng_state()
    local training = { epoch = self.epoch, rng = { seed = seed, offset = offset } }
    -- {type, reduction, eps ...}; a loss of the user's own with no config
    -- is not kept (set it again after nn.load)
    if self.loss and type(self.loss.config) == "function" then training.loss = self.loss:config() end
    if self.metric then training.metric = self.metric.name ~= "custom" and self.metric.name or nil end
    training.classes = self.classes
    -- what the inputs were: one sample's shape, and the standardisation a
    -- script applied (scripts/train.lua's CNNs), for whoever predicts
    training.input_shape = rawget(self, "input_shape")
    training.input_mean, training.input_std = rawget(self, "input_mean"), rawget(self, "input_std")
    training.callbacks = self:_callback_states()
    if self.optimizer and self.optimizer.state_dict then
      local sd = self.optimizer:state_dict()
      training.optimizer, training.iterations = sd.config, sd.iterations
      for name, t in pairs(sd.tensors) do tensors["optimizer." .. name] = t end
    end
    nn.safetensors.save(path, tensors, { format = "nnlua.model/1",
                                         architecture = json.encode(arch),
                                         training = json.encode(training) })
    return self
  end

  -- what a file holds, checked against the model it would fill; raises
  -- before anything is changed
  local function check_against(model, tensors, path)
    for _, entry in ipairs(model:_state_tensors()) do
      local name, t = entry[1], entry[2]
      local saved = tensors[name]
      if saved == nil then fail(4, "nn.load: %s: tensor '%s' is missing", path, name) end
      local a, b = table.concat(saved:size(), "x"), table.concat(t:size(), "x")
      if a ~= b then
        fail(4, "nn.load: %s: tensor '%s' has shape [%s] but the layer needs [%s]", path, name, a, b)
      end
    end
  end

  -- Before a layer is built from the file's config: its type's parameters
  -- and persistent buffers (nn.module_types[type]) must be in the file, and
  -- they must hold at least as many numbers as the product of the type's
  -- required integer options, its sizes (a Linear's weight is out x in, a
  -- BatchNorm1d's running_mean num_features), so that a small file cannot
  -- make nn.load build a 30000 x 30000 Linear before it finds the tensor
  -- missing.  check_against compares the exact shapes once it is built.
  local function check_before_build(cfg, i, tensors, path)
    local desc = nn.module_types[cfg.type]
    if desc == nil then return end           -- a Lua layer type: its own constructor
    local names = {}
    for _, name in ipairs(desc.params) do names[#names + 1] = name end
    for _, name in ipairs(desc.persistent) do names[#names + 1] = name end
    if #names == 0 then return end
    local held = 0
    for _, name in ipairs(names) do
      local t = tensors[("layers.%d.%s"):format(i, name)]
      if t then held = held + t:numel() end
    end
    if held == 0 then
      fail(3, "nn.load: %s: tensor 'layers.%d.%s' is missing", path, i, names[1])
    end
    local size, parts = 1, {}
    for _, opt in ipairs(desc.options) do
      local v = cfg[opt.name]
      if opt.required and opt.kind == "integer" and math.type(v) == "integer" and v > 0 then
        size, parts[#parts + 1] = size * v, ("%s = %d"):format(opt.name, v)
      end
    end
    if size > held then
      fail(3, "nn.load: %s: layer %d (%s) with %s needs at least %.0f numbers, but the file "
           .. "holds %d for it", path, i, cfg.type, table.concat(parts, ", "), size, held)
    end
  end

  --- nn.load(path [, {rng = true}]) -> model: a model saved by model:save,
  -- with its loss, optimizer (and state), metric and epoch, ready to go on
  -- training exactly where it stopped: the random generator is restored too
  -- (rng = false keeps the current one).  Resume with
  --   model:train(x, y, {epochs = 20, initial_epoch = model.epoch})
  -- Errors: a missing, truncated or corrupt file, or one whose tensors do not
  -- fit its architecture (a clear message; no half-loaded model).
  function Model.load(path, opts)
    if type(path) ~= "string" then fail(2, "nn.load: path must be a string, got %s", type(path)) end
    opts = opts or {}
    local tensors, meta = nn.safetensors.load(path)
    local json = nn.safetensors.json
    if meta.format ~= "nnlua.model/1" or meta.architecture == nil then
      fail(2, "nn.load: %s: not an nnlua model checkpoint (its __metadata__ has no "
           .. "format 'nnlua.model/1'); nn.safetensors.load reads any safetensors file", path)
    end
    local ok, arch = pcall(json.decode, meta.architecture)
    local ok2, training = pcall(json.decode, meta.training or "{}")
    if not ok or not ok2 or type(arch) ~= "table" or type(arch.layers) ~= "table" then
      fail(2, "nn.load: %s: the architecture in __metadata__ is not valid", path)
    end
    -- layers must be a list: a JSON object would give an empty model
    for k in pairs(arch.layers) do
      if math.type(k) ~= "integer" or k < 1 or k > #arch.layers then
        fail(2, "nn.load: %s: the architecture's layers must be a list, got the key %s", path,
             type(k) == "string" and ("'%s'"):format(k) or tostring(k))
      end
    end
    local layers = {}
    for i, cfg in ipairs(arch.layers) do
      local make = type(cfg) == "table" and nn.layer_types[cfg.type]
      if not make then
        fail(2, "nn.load: %s: layer %d has unknown type %s", path, i, tostring(type(cfg) == "table" and cfg.type))
      end
      check_before_build(cfg, i, tensors, path)
      local built, layer = pcall(make, cfg)
      if not built then fail(2, "nn.load: %s: layer %d (%s): %s", path, i, cfg.type, tostring(layer)) end
      layers[i] = layer
    end
    local model
    if arch.graph ~= nil then               -- a graph model: its nodes rebuilt on the layers
      local made, m = pcall(Model._graph_from_config, arch.graph, layers)
      if not made then fail(2, "nn.load: %s: %s", path, tostring(m)) end
      model = m
    else
      model = Model.new()
      for _, layer in ipairs(layers) do model:add(layer) end
    end
    check_against(model, tensors, path)
    local opt
    if type(training.optimizer) == "table" then
      local made, o = pcall(nn.optim.from_config, training.optimizer)
      if not made then fail(2, "nn.load: %s: optimizer: %s", path, tostring(o)) end
      opt = o
      local state = {}
      for name, t in pairs(tensors) do
        local k = name:match("^optimizer%.(.+)$")
        if k then state[k] = t end
      end
      local loaded, err = pcall(opt.load_state_dict, opt, { config = training.optimizer,
                                iterations = training.iterations or 0, tensors = state })
      if not loaded then fail(2, "nn.load: %s: optimizer state: %s", path, tostring(err)) end
      opt:to(model.device)        -- the file's tensors are on the CPU
    end
    -- everything checked: fill the model
    for _, entry in ipairs(model:_state_tensors()) do entry[2]:copy(tensors[entry[1]]) end
    local loss
    -- the loss from its config, by the constructor its type names (a list
    -- of them, one per output, for a graph model of several outputs)
    local function loss_of(cfg)
      local make_loss = type(cfg) == "table" and nn.loss_types[cfg.type]
      if not make_loss then return nil end
      local made, l = pcall(make_loss, cfg)
      if not made then fail(3, "nn.load: %s: loss: %s", path, tostring(l)) end
      return l
    end
    if type(training.loss) == "table" and training.loss.type == "Losses"
       and type(training.loss.losses) == "table" then
      -- all of them, or none (as for one loss: a loss written in Lua,
      -- nn.FocalLoss, has no constructor here; set the losses again)
      loss = {}
      for k, cfg in ipairs(training.loss.losses) do
        loss[k] = loss_of(cfg)
        if loss[k] == nil then loss = nil break end
      end
      if loss and #loss == 0 then loss = nil end
    else
      loss = loss_of(training.loss)
    end
    model:set{ loss = loss, optimizer = opt, accuracy = training.metric or false }
    model.epoch = math.tointeger(training.epoch) or 0
    model.classes = type(training.classes) == "table" and training.classes or nil
    if type(training.input_shape) == "table" then
      local shape = {}
      for i, d in ipairs(training.input_shape) do
        shape[i] = math.tointeger(d)
        if shape[i] == nil or shape[i] < 1 then shape = nil; break end
      end
      model.input_shape = shape
    end
    for _, k in ipairs{ "input_mean", "input_std" } do
      if type(training[k]) == "number" then model[k] = training[k] end
    end
    -- given back to the callbacks by a train that resumes (lua/nn/fit.lua)
    model._saved_callback_states = type(training.callbacks) == "table" and training.callbacks or nil
    if opts.rng ~= false and type(training.rng) == "table" then
      nn.set_rng_state(training.rng.seed, training.rng.offset)
    end
    return model
  end
end
