--- lua/nn/fit.lua: the training loop of nn.Model: train (fit), evaluate,
-- predict, confusion_matrix; batching, the progress display, callbacks and
-- history, and Ctrl-C.
--
-- How this file joins the Model: it returns a function that lua/nn/model.lua
-- calls once, at its end, as require("nn.fit")(Model, util); the function
-- adds its methods to that same Model table.  util holds the small helpers
-- model.lua shares (fail, is_tensor, on_device, sorted_names).  This file
-- never requires nn.model, so there is no require cycle; require "nn" gets
-- the table lua/nn/init.lua put in package.loaded before loading the Model.
local nn = require "nn"
local check = require "nn.check"

return function (Model, util)
  local fail, is_tensor, on_device = util.fail, util.is_tensor, util.on_device
  local sorted_names = util.sorted_names

  --- Batches of rows [i, j] of x (and y), in order, as views (no copies).
  local function each_slice(n, batch_size)
    local i = 1
    return function ()
      if i > n then return nil end
      local j = math.min(i + batch_size - 1, n)
      local a = i
      i = j + 1
      return a, j
    end
  end

  local function rows_of(t, who, name)
    if not is_tensor(t) then fail(3, "%s: %s must be a tensor, got %s", who, name, type(t)) end
    if t:dim() == 0 then fail(3, "%s: %s must have a batch dimension, got a scalar", who, name) end
    return t:size(1)
  end

  -- A graph model (lua/nn/graph.lua) of several inputs takes x as a list of
  -- tensors, one per input, in the order of its inputs (and y likewise, one
  -- per output); one input takes a tensor (or a list of one).  Every tensor
  -- of a list has the same rows, and each batch takes the same rows of each.
  -- data(self, v, who, name, level [, shown]) -> v checked: a tensor, or a
  -- list of tensors; the helpers below it take either.  name is "x" or
  -- "y"; shown, what the messages call v (validation_data[1], ...).
  local function data(self, v, who, kind, level, shown)
    local n = self:_arity(kind == "x" and "x" or "y")
    if n == nil then return v end                     -- a sequential model: one tensor
    if is_tensor(v) and n == 1 then return v end
    self._check_count(v, who, kind, n, level + 1, shown)
    local name = shown or kind
    local rows
    for k = 1, n do
      local t = v[k]
      if not is_tensor(t) or t:dim() == 0 then
        fail(level + 1, "%s: %s[%d] must be a tensor with a batch dimension, got %s", who, name, k,
             is_tensor(t) and "a scalar" or check.show(t))
      end
      if rows and t:size(1) ~= rows then
        fail(level + 1, "%s: %s[%d] has %d rows but %s[1] has %d", who, name, k, t:size(1), name, rows)
      end
      rows = t:size(1)
    end
    if n == 1 then return v[1] end
    local list = {}
    for k = 1, n do list[k] = v[k] end
    return list
  end

  -- (a list here has passed data(): a graph model's, of checked tensors)
  local function count_rows(self, v, who, name)
    if self:_arity("x") == nil or is_tensor(v) then return rows_of(v, who, name) end
    return v[1]:size(1)
  end
  local function map(v, f)
    if is_tensor(v) then return f(v) end
    local out = {}
    for k = 1, #v do out[k] = f(v[k]) end
    return out
  end
  local function slice(v, i, j) return map(v, function (t) return t:slice(i, j) end) end
  local function to_device(v, device) return map(v, function (t) return on_device(t, device) end) end
  -- the metric reads the first output against its targets
  local function first(v) return is_tensor(v) and v or v[1] end

  --- model:evaluate(x, y [, {batch_size = 256}]) -> loss, accuracy: the mean
  -- loss over all samples (or the sum, for a loss with reduction 'sum'),
  -- computed as a training step computes it (on the logits, where the model
  -- plans the fused Softmax + cross-entropy: model.lua's top comment), and
  -- the accuracy (nil when no accuracy metric is set), in evaluation mode.
  -- Errors: no layers or loss; x and y with different numbers of rows.
  function Model:evaluate(x, y, opts)
    self:_check_ready("model:evaluate")
    opts = check.keys(2, "model:evaluate", opts, { "batch_size" })
    x, y = data(self, x, "model:evaluate", "x", 2), data(self, y, "model:evaluate", "y", 2)
    local n = count_rows(self, x, "model:evaluate", "x")
    if count_rows(self, y, "model:evaluate", "y") ~= n then
      fail(2, "model:evaluate: x has %d rows but y has %d", n, first(y):size(1))
    end
    if n == 0 then fail(2, "model:evaluate: x has no rows: a loss over nothing is not a number") end
    local bs = check.value(2, "model:evaluate", "batch_size", opts.batch_size, "positive integer", 256)
    local was = self.training
    self:set_training(false)
    local metric, total, mean = self.metric, 0, self.loss.reduction == "mean"
    if metric then metric:reset() end
    local device = self:_device()
    for i, j in each_slice(n, bs) do
      local xb, yb = to_device(slice(x, i, j), device), to_device(slice(y, i, j), device)
      local out, logits = self:_forward_for_loss(xb)     -- as a step computes its loss
      total = total + self:_loss_of(out, logits, yb) * (mean and (j - i + 1) or 1)
      if metric then metric:update(first(out), first(yb)) end
    end
    self:set_training(was)
    return total / (mean and n or 1), metric and metric:result() or nil
  end

  --- model:predict(x [, {batch_size = 256}]) -> a new tensor of the outputs,
  -- (N, ...), computed in evaluation mode batch by batch (a list of them,
  -- one per output, for a graph model of several outputs).
  -- Errors: no layers; x not a tensor (not a list of one per input, for a
  -- graph model of several inputs).
  function Model:predict(x, opts)
    if #self.layers == 0 then fail(2, "model:predict: the model has no layers") end
    opts = check.keys(2, "model:predict", opts, { "batch_size" })
    x = data(self, x, "model:predict", "x", 2)
    local n = count_rows(self, x, "model:predict", "x")
    local bs = check.value(2, "model:predict", "batch_size", opts.batch_size, "positive integer", 256)
    local was, result = self.training, nil
    self:set_training(false)
    local device = self:_device()
    if n <= bs then                -- one batch (one image at the prompt): one copy
      local out = self:forward(to_device(x, device))
      local home = nn.get_default_device()
      result = map(out, function (t) return t.device == home and t:clone() or t:to(home) end)
      self:set_training(was)
      return result
    end
    for i, j in each_slice(n, bs) do
      local out = self:forward(to_device(slice(x, i, j), device))
      if result == nil then
        result = map(out, function (t)
          local shape = t:size()
          shape[1] = n
          return nn.tensor.zeros(shape)
        end)
      end
      if is_tensor(out) then result:slice(i, j):copy(out)
      else for k = 1, #out do result[k]:slice(i, j):copy(out[k]) end end
    end
    self:set_training(was)
    return result
  end

  --- model:confusion_matrix(x, y [, {batch_size = 256}]) -> (C, C) counts:
  -- row i holds the examples of true class i, column j where they went.
  function Model:confusion_matrix(x, y, opts)
    local pred = self:predict(x, opts)
    return nn.metrics.confusion_matrix(pred, y)
  end


  -- "42s", "3m05s", "1h02m": a duration, short
  local function short_time(sec)
    sec = math.max(0, math.floor(sec + 0.5))
    if sec < 60 then return ("%ds"):format(sec) end
    if sec < 3600 then return ("%dm%02ds"):format(sec // 60, sec % 60) end
    return ("%dh%02dm"):format(sec // 3600, sec % 3600 // 60)
  end

  -- "950", "12.3k", "1.2M": a rate in at most 5 characters
  local function short_rate(r)
    if r < 1e4 then return ("%.0f"):format(r) end
    if r < 1e6 then return ("%.1fk"):format(r / 1e3) end
    return ("%.1fM"):format(r / 1e6)
  end

  -- the text of the progress line, at most `width` characters:
  --   Epoch 1/2 12/16 [=====>....] loss 0.6865  acc 0.5938  78.6k samples/s  ETA 3s
  -- the rate and the ETA are padded to a fixed width, so the bar keeps its
  -- length while it fills; the parts that do not fit are left out, least
  -- needed first (the accuracy, then the speed), and the bar takes what is
  -- left (6 to 30 cells)
  local function bar_line(epoch, epochs, done, total, logs, seen, elapsed, width)
    local rate = elapsed > 0 and seen / elapsed or 0
    local eta = done > 0 and (total - done) / done * elapsed or 0
    local count = ("%" .. #tostring(total) .. "d/%d"):format(done, total)   -- no jumping
    local head = ("Epoch %d/%d %s "):format(epoch, epochs, count)
    local loss = (" loss %.4f"):format(logs.loss)
    local acc = logs.accuracy and ("  acc %.4f"):format(logs.accuracy) or ""
    local speed = ("  %5s samples/s"):format(short_rate(rate))
    local left = ("  ETA %-5s"):format(short_time(eta))
    for _, tail in ipairs{ loss .. acc .. speed .. left, loss .. speed .. left, loss .. left } do
      local cells = width - #head - 2 - #tail
      if cells >= 6 then
        cells = math.min(cells, 30)
        local filled = math.floor(cells * done / math.max(total, 1))
        local bar = ("="):rep(filled) .. (filled < cells and ">" or "") .. ("."):rep(cells - filled - 1)
        return (head .. "[" .. bar .. "]" .. tail):gsub("%s+$", "")
      end
    end
    return ((head .. loss .. left):sub(1, width):gsub("%s+$", ""))      -- no room for a bar
  end

  -- the progress of one epoch, on a terminal: one line redrawn in place
  -- (\r, the line, then ESC [ K erases what a longer line left), never
  -- wider than the terminal less one column, so it never wraps
  local function draw_bar(epoch, epochs, done, total, logs, seen, elapsed)
    local width = nn.terminal_width() - 1
    io.stdout:write("\r", bar_line(epoch, epochs, done, total, logs, seen, elapsed, width), "\27[K")
    io.stdout:flush()
  end

  -- the end of an epoch on a terminal: the bar's line is erased, and the
  -- epoch's summary line is printed in its place
  local function clear_bar()
    io.stdout:write("\r\27[K")
    io.stdout:flush()
  end

  -- what the history of a train shows at the prompt: its last epochs as a
  -- table (the history stays a plain table of lists: h.loss[2], #h.epoch)
  local HISTORY_SHOWN = 5
  local History = {}
  function History.__tostring(h)
    local n = type(h.epoch) == "table" and #h.epoch or 0
    local cols = {}
    for _, key in ipairs{ "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds" } do
      if type(h[key]) == "table" and #h[key] > 0 then cols[#cols + 1] = key end
    end
    local lines = { ("history: %d epoch%s%s%s"):format(n, n == 1 and "" or "s",
                    n > HISTORY_SHOWN and (", the last %d"):format(HISTORY_SHOWN) or "",
                    h.interrupted and " (interrupted)" or "") }
    if n == 0 then return lines[1] end
    local head = { ("%5s"):format("epoch") }
    for _, key in ipairs(cols) do head[#head + 1] = ("%" .. math.max(8, #key) + 2 .. "s"):format(key) end
    lines[#lines + 1] = table.concat(head)
    for i = math.max(1, n - HISTORY_SHOWN + 1), n do
      local row = { ("%5s"):format(tostring(h.epoch[i])) }
      for _, key in ipairs(cols) do
        local v = h[key][i]
        row[#row + 1] = ("%" .. math.max(8, #key) + 2 .. "s"):format(v == nil and "-" or key == "lr" and ("%.3g"):format(v)
                                        or key == "seconds" and ("%.2f"):format(v)
                                        or ("%.4f"):format(v))
      end
      lines[#lines + 1] = table.concat(row)
    end
    lines[#lines + 1] = "(nn.plot(history) draws the curves)"
    return table.concat(lines, "\n")
  end
  History.__repr = History.__tostring
  Model._History = History

  -- "Epoch 3/20  loss 0.4512 acc 0.8411  val_loss 0.4730 val_acc 0.8290  1.52s 40k/s",
  -- the names as the progress bar's; within 80 columns: the rate is left
  -- out of a line it would push past them
  local function epoch_line(epoch, epochs, logs)
    local train = ("loss %.4f"):format(logs.loss)
    if logs.accuracy then train = train .. (" acc %.4f"):format(logs.accuracy) end
    local parts = { ("Epoch %d/%d"):format(epoch, epochs), train }
    if logs.val_loss then
      local val = ("val_loss %.4f"):format(logs.val_loss)
      if logs.val_accuracy then val = val .. (" val_acc %.4f"):format(logs.val_accuracy) end
      parts[#parts + 1] = val
    end
    parts[#parts + 1] = ("%.2fs"):format(logs.seconds)
    local line, rate = table.concat(parts, "  "), logs.samples / logs.seconds
    rate = rate >= 1e6 and ("%.1fM/s"):format(rate / 1e6)
           or rate >= 1e4 and ("%.0fk/s"):format(rate / 1e3) or ("%.0f/s"):format(rate)
    if #line + 1 + #rate <= 80 then line = line .. " " .. rate end
    return line
  end

  -- the callbacks that have a given hook; a plain function is an epoch hook
  local function hooks(callbacks, name)
    local list = {}
    for _, cb in ipairs(callbacks) do
      if type(cb) == "function" then
        if name == "on_epoch_end" then
          list[#list + 1] = function (model, epoch, logs) return cb(epoch, logs, model) end
        end
      elseif type(cb[name]) == "function" then
        list[#list + 1] = function (...) return cb[name](cb, ...) end
      end
    end
    return list
  end

  local function call_all(list, ...)
    for i = 1, #list do list[i](...) end
  end

  -- a callback's kind, as its saved state names it: "nn.callbacks.EarlyStopping"
  local function kind_of(cb)
    local mt = getmetatable(cb)
    if type(cb) == "table" and mt and mt.__tostring then return tostring(cb) end
    return type(cb) == "table" and "callback" or "function"
  end

  --- model:_callback_states() -> the states of the callbacks of the last
  -- train, a list in their order: {kind = ..., state = cb:state_dict()}
  -- (no state for one without state_dict); after nn.load, the states the
  -- file held until a train gives them back.  model:save writes this list.
  function Model:_callback_states()
    if self._callbacks == nil then return self._saved_callback_states end
    local out = {}
    for i, cb in ipairs(self._callbacks) do
      out[i] = { kind = kind_of(cb) }
      if type(cb) == "table" and type(cb.state_dict) == "function" then out[i].state = cb:state_dict() end
    end
    return out
  end

  -- a resumed train: the k-th callback of a kind gets the k-th saved state
  -- of that kind (after its on_train_begin, which starts it afresh)
  local function restore_callback_states(callbacks, saved, verbose)
    local by_kind = {}
    for _, entry in ipairs(saved) do
      if type(entry) == "table" and entry.state ~= nil then
        local kind = tostring(entry.kind)
        by_kind[kind] = by_kind[kind] or {}
        table.insert(by_kind[kind], entry.state)
      end
    end
    local used = {}
    for i, cb in ipairs(callbacks) do
      if type(cb) == "table" and type(cb.load_state_dict) == "function" then
        local kind = kind_of(cb)
        used[kind] = (used[kind] or 0) + 1
        local state = by_kind[kind] and by_kind[kind][used[kind]]
        if state ~= nil then
          cb:load_state_dict(state)
        elseif verbose > 0 then
          print(("model:train: the checkpoint holds no state for callbacks[%d] (%s): it starts afresh")
                :format(i, kind))
        end
      end
    end
  end

  -- history.stopped for a batch whose loss, activations or gradients hold
  -- a NaN or an Inf (Model:_step returned `bad`): names the first one
  local function nan_stop(self, epoch, batch, batches, loss)
    local i, layer, name, what = self:_find_nonfinite()
    local where = i and ("layer %d (%s) %s has %s"):format(i, tostring(layer), name, what)
                  or ("the loss is %s"):format(tostring(loss))
    local look = i and ("model.layers[%d].%s"):format(i, name) or "model.layers[#model.layers].output"
    return { reason = "nan", epoch = epoch, batch = batch, layer = i, tensor = name,
             message = ("stopped in epoch %d at batch %d of %d: %s.\nThe optimizer did not "
                        .. "update: every tensor is as this batch left it (%s).")
                       :format(epoch, batch, batches, where, look) }
  end

  local train_keys = { "epochs", "batch_size", "shuffle", "validation_data", "validation_split",
                       "verbose", "callbacks", "initial_epoch", "drop_last", "threads",
                       "stop_on_nan", "transforms" }

  -- callbacks: a list whose entries are callbacks (tables of hooks) or functions
  local function check_callbacks(list)
    if list == nil then return {} end
    if type(list) ~= "table" then
      fail(3, "model:train: callbacks must be a list of callbacks, got %s", check.show(list))
    end
    for k, cb in pairs(list) do
      if math.type(k) ~= "integer" or k < 1 or k > #list then
        fail(3, "model:train: callbacks must be a list {cb1, cb2, ...}, got the key %s", check.show(k))
      end
      if type(cb) ~= "function" and type(cb) ~= "table" then
        fail(3, "model:train: callbacks[%d] must be a callback (nn.callbacks.EarlyStopping{...}, "
             .. "a table of hooks) or a function (epoch, logs, model), got %s", k, check.show(cb))
      end
    end
    return list
  end

  --- model:train(x, y [, opts]) -> history (alias fit).  Trains on the rows
  -- of x (N, ...) against y (N) class indices or (N, ...) targets.
  -- opts (Keras's names and defaults):
  --   epochs = 1, batch_size = 32, shuffle = true (a new order each epoch,
  --   from the generator nn.manual_seed seeds), validation_data = {x_val, y_val}
  --   or validation_split = fraction (the LAST rows, before shuffling, as
  --   Keras), verbose = 1 (a progress bar on a terminal, else one line per
  --   epoch; 0: silent; 2: one line per epoch), callbacks = {...}
  --   (nn.callbacks.*, or functions f(epoch, logs, model) run after each
  --   epoch), initial_epoch = 0 (epochs run from initial_epoch + 1 to epochs,
  --   so a resumed run numbers its epochs on), drop_last = false,
  --   threads = "auto" (on the CPU, the number of threads is chosen by
  --   timing batches on each: all of them on a quiet machine, fewer when
  --   other processes take the cores; the numbers do not depend on it:
  --   lua/nn/threads.lua) or a number of threads to run on throughout,
  --   stop_on_nan = true at the prompt, false in a script (after each
  --   batch, before the optimizer's update, the loss, every layer's output
  --   and every parameter gradient are checked for NaN and Inf: at the
  --   first one training stops at that batch, says which layer, tensor and
  --   batch, and leaves every tensor as the batch left it; the check is a
  --   pass over memory, its cost a row of BENCHMARKS.md).  A layer's hook
  --   (layer:on_forward, on_backward) that returns false stops training
  --   after the batch,
  --   transforms = {...} (nn.data.RandomCrop, RandomHorizontalFlip,
  --   Normalize, or functions x -> x: applied in order to each training
  --   batch, as the DataLoader's option; not to validation_data, evaluate
  --   or predict, so normalise the data itself (nn.data.normalize) and keep
  --   the transforms for the random augmentation).
  -- history: lists indexed by epoch run: epoch, loss, accuracy, val_loss,
  -- val_accuracy, lr, seconds; history.interrupted when Ctrl-C stopped it;
  -- history.stopped = {reason = "nan" | "hook", epoch, batch, message} when
  -- a NaN or a hook did (the unfinished epoch is not in the lists).
  -- Ctrl-C stops at the end of the current batch (or, pressed during an
  -- epoch's validation or callbacks, before the next epoch) and returns the
  -- history so far, the model intact (a second Ctrl-C interrupts at once);
  -- a press after the last epoch is used up, never left for the next train.
  -- After nn.load, a train that resumes (initial_epoch > 0) gives the
  -- callbacks the states the checkpoint kept (lua/nn/callbacks.lua).
  -- Errors: no layers, loss or optimizer; an option of the wrong type or
  -- range (named: nn.check); no rows to train on (an empty x, a
  -- validation_split that leaves none, drop_last with fewer rows than a
  -- batch); shapes that do not fit.
  function Model:train(x, y, opts)
    self:_check_ready("model:train")
    local who = "model:train"
    opts = check.keys(2, who, opts, train_keys)
    x, y = data(self, x, who, "x", 2), data(self, y, who, "y", 2)
    local n = count_rows(self, x, who, "x")
    if count_rows(self, y, who, "y") ~= n then
      fail(2, "model:train: x has %d rows but y has %d", n, first(y):size(1))
    end
    local epochs = check.value(2, who, "epochs", opts.epochs, "non-negative integer", 1)
    local initial = check.value(2, who, "initial_epoch", opts.initial_epoch, "non-negative integer", 0)
    local bs = check.value(2, who, "batch_size", opts.batch_size, "positive integer", 32)
    local shuffle = check.value(2, who, "shuffle", opts.shuffle, "boolean", true)
    local drop_last = check.value(2, who, "drop_last", opts.drop_last, "boolean", false)
    local verbose = check.value(2, who, "verbose", opts.verbose, { 0, 1, 2 }, 1)
    local callbacks = check_callbacks(opts.callbacks)
    local stop_on_nan = check.value(2, who, "stop_on_nan", opts.stop_on_nan, "boolean",
                                    nn.at_prompt == true)
    local threads = opts.threads == nil and "auto" or opts.threads
    if threads ~= "auto" and not (math.type(threads) == "integer" and threads >= 1
                                  and threads <= 1024) then
      fail(2, 'model:train: threads must be "auto" or an integer in 1 .. 1024, got %s',
           check.show(threads))
    end
    local x_val, y_val
    if opts.validation_data ~= nil and opts.validation_split ~= nil then
      fail(2, "model:train: give validation_data or validation_split, not both")
    end
    if opts.validation_data ~= nil then
      local v = opts.validation_data
      local graph = self:_arity("x") ~= nil       -- (a graph model: lists allowed)
      if type(v) ~= "table" or not (is_tensor(v[1]) or graph and type(v[1]) == "table")
         or not (is_tensor(v[2]) or graph and type(v[2]) == "table") then
        fail(2, "model:train: validation_data must be {x_val, y_val}, %s, got %s",
             graph and "each a tensor or a list of tensors" or "two tensors", check.show(v))
      end
      x_val = data(self, v[1], who, "x", 2, "validation_data[1]")
      y_val = data(self, v[2], who, "y", 2, "validation_data[2]")
      local nv = count_rows(self, x_val, who, "validation_data[1]")
      if count_rows(self, y_val, who, "validation_data[2]") ~= nv then
        fail(2, "model:train: validation_data: x_val has %d rows but y_val has %d", nv,
             first(y_val):size(1))
      end
      if nv == 0 then fail(2, "model:train: validation_data has no rows") end
    elseif opts.validation_split ~= nil then
      local f = check.value(2, who, "validation_split", opts.validation_split, "fraction")
      if f > 0 then
        if is_tensor(x) and is_tensor(y) then
          x, y, x_val, y_val = nn.data.split(x, y, f)
        else                                  -- lists: each tensor split at the same row
          local function halves(v)
            local train_part = map(v, function (t) return (nn.data.split(t, nil, f)) end)
            local held_out = map(v, function (t) return select(3, nn.data.split(t, nil, f)) end)
            return train_part, held_out
          end
          x, x_val = halves(x)
          y, y_val = halves(y)
        end
        if first(x_val):size(1) == 0 then
          fail(2, "model:train: validation_split = %s holds out 0 of the %d rows", tostring(f), n)
        end
      end
    end
    -- training on no rows would report a NaN loss
    local rows = first(x):size(1)
    if rows == 0 then
      if x_val ~= nil and opts.validation_split ~= nil then
        fail(2, "model:train: validation_split = %s leaves 0 of the %d rows to train on",
             tostring(opts.validation_split), n)
      end
      fail(2, "model:train: x has no rows to train on")
    end
    if drop_last and rows < bs then
      fail(2, "model:train: drop_last with batch_size %d and %d rows to train on leaves no batch",
           bs, rows)
    end
    local tty = verbose == 1 and nn.isatty(1)
    local on_batch, on_epoch_begin = hooks(callbacks, "on_batch_end"), hooks(callbacks, "on_epoch_begin")
    local on_epoch_end = hooks(callbacks, "on_epoch_end")

    -- the data goes to the model's device once (as Keras), so each batch is
    -- gathered there; validation batches are copied one by one (evaluate)
    -- one sample's shape, for model:summary()
    if self:_arity("x") == nil then
      local sample = x.shape
      table.remove(sample, 1)
      self.input_shape = sample
    end
    local device = self:_device()
    x, y = to_device(x, device), to_device(y, device)
    -- (the DataLoader checks the transforms against x's shape; its message
    -- is given again at the caller's line)
    -- (lists of tensors for a graph model of several inputs or outputs)
    local made, loader = pcall(nn.data.DataLoader, x, y, { batch_size = bs, shuffle = shuffle,
                               drop_last = drop_last, transforms = opts.transforms })
    if not made then fail(2, "model:train: %s", (tostring(loader):gsub("^[^:]+:%d+: ", ""))) end
    local history = setmetatable({ epoch = {}, loss = {}, accuracy = {}, val_loss = {},
                                   val_accuracy = {}, lr = {}, seconds = {} }, History)
    self.history, self.stop_training = history, false
    local metric, batches = self.metric, #loader
    -- Ctrl-C waits for the end of the batch; undone however train ends.  A
    -- press that lands after the last check (in the last validation, in a
    -- callback) is consumed on the way out, after the deferral ends (a
    -- press from then on interrupts at once), so it cannot stop the next
    -- train before its first batch.
    nn.defer_interrupts(true)
    local threads_before = nn.get_num_threads()
    if threads ~= "auto" then nn.set_num_threads(threads) end
    local gov = threads == "auto" and device == "cpu" and nn.threads.governor() or nil
    local guard <close> = setmetatable({}, { __close = function ()
      nn.defer_interrupts(false)
      nn.interrupt_pending()
      nn.set_num_threads(threads_before)
    end })
    local watch = stop_on_nan and self:_nan_watch() or nil
    nn.take_stop_request()              -- a hook's request from before this train
    call_all(hooks(callbacks, "on_train_begin"), self, {})
    -- the callbacks' states a checkpoint held go back to them when resuming
    if initial > 0 and self._saved_callback_states then
      restore_callback_states(callbacks, self._saved_callback_states, verbose)
    end
    self._callbacks, self._saved_callback_states = callbacks, nil
    for e0 = initial, epochs - 1 do       -- not initial + 1: it wraps at math.maxinteger
      local epoch = e0 + 1
      call_all(on_epoch_begin, self, epoch)
      self:set_training(true)
      if metric then metric:reset() end
      local t0, seen, loss_sum, batch, last_draw = nn.clock(), 0, 0, 0, 0
      local logs = { loss = 0 }
      for xb, yb in loader:iter() do
        local b, t_step = first(xb):size(1), gov and nn.clock()
        if gov then gov:before() end
        local loss, out, bad = self:_step(xb, yb, watch)
        if gov then gov:after(nn.clock() - t_step, b, b == bs) end
        if bad then
          history.stopped = nan_stop(self, epoch, batch + 1, batches, loss)
          break
        end
        batch, seen, loss_sum = batch + 1, seen + b, loss_sum + loss * b
        if metric then metric:update(first(out), first(yb)) end
        if #on_batch > 0 then call_all(on_batch, self, batch, { loss = loss, batch_size = b }) end
        if tty then
          local now = nn.clock()
          if now - last_draw > 0.1 or batch == batches then
            logs.loss, logs.accuracy = loss_sum / seen, metric and metric:result() or nil
            draw_bar(epoch, epochs, batch, batches, logs, seen, now - t0)
            last_draw = now
          end
        end
        if nn.interrupt_pending() then history.interrupted = true; break end
        local why = nn.take_stop_request()
        if why then
          history.stopped = { reason = "hook", epoch = epoch, batch = batch, message =
            ("stopped in epoch %d after batch %d of %d: %s"):format(epoch, batch, batches, why) }
          break
        end
        if self.stop_training then break end
      end
      if tty then clear_bar() end
      logs = { loss = seen > 0 and loss_sum / seen or 0 / 0, samples = seen,
               accuracy = metric and metric:result() or nil,
               lr = self.optimizer.get_lr and self.optimizer:get_lr() or self.optimizer.lr }
      if history.stopped then
        if verbose > 0 then print(history.stopped.message) end
        break
      end
      if x_val ~= nil and not history.interrupted then
        logs.val_loss, logs.val_accuracy = self:evaluate(x_val, y_val, { batch_size = math.max(bs, 256) })
      end
      logs.seconds = nn.clock() - t0
      if history.interrupted then
        if verbose > 0 then
          print(("interrupted in epoch %d after batch %d of %d: the model keeps what it learned")
                :format(epoch, batch, batches))
        end
        break
      end
      self.epoch = epoch
      for key, list in pairs(history) do
        if key == "epoch" then list[#list + 1] = epoch else list[#list + 1] = logs[key] end
      end
      call_all(on_epoch_end, self, epoch, logs)
      if verbose > 0 then print(epoch_line(epoch, epochs, logs)) end
      if self.stop_training then break end
      -- a press during the validation or the callbacks stops before the next epoch
      if epoch < epochs and nn.interrupt_pending() then
        history.interrupted = true
        if verbose > 0 then
          print(("interrupted after epoch %d: the model keeps what it learned"):format(epoch))
        end
        break
      end
    end
    call_all(hooks(callbacks, "on_train_end"), self, {})
    return history
  end
  Model.fit = Model.train
end
