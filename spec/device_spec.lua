--- spec/device_spec.lua -- moving layers, models and optimizers between
--- devices, the default device, and nn.cuda's queries.
--
-- What runs everywhere: the API on the CPU (moving to where a thing already
-- is changes nothing and keeps every tensor), the errors, and, without a
-- GPU, the "CUDA is not available" answers.  With a GPU, the moves
-- themselves (spec/cuda_parity_spec.lua compares the results).
local nn = require "nn"
local H = require "spec.helpers"

local HAS_CUDA, WHY = nn.cuda.is_available()

local function small_model()
  local m = nn.Model()
  m:add(nn.Dense(4, 5, { activation = "relu" }))
  m:add(nn.BatchNorm1d(5))
  m:add(nn.Dropout(0.1))
  m:add(nn.Dense(5, 3))
  m:set{ loss = nn.CrossEntropyLoss(), optimizer = nn.optim.Adam{ lr = 0.01 }, accuracy = true }
  return m
end

describe("devices: on the cpu", function()
  it("layer.device, and layer:to('cpu') / layer:cpu() return the layer with the same tensors",
     function()
    local l = nn.Linear(3, 2)
    local w = l.weight
    assert.are.equal("cpu", l.device)
    assert.are.equal(l, l:to("cpu"))
    assert.are.equal(l, l:cpu())
    assert.are.equal(w, l.weight)
    assert.are.equal("cpu", nn.ReLU().device)
  end)

  it("model.device, model:to('cpu') keeps training where it was", function()
    local m = small_model()
    assert.are.equal("cpu", m.device)
    local x, y = nn.tensor.randn(8, 4), nn.tensor{1, 2, 3, 1, 2, 3, 1, 2}
    m:step(x, y)
    local before = m:get_weights()
    assert.are.equal(m, m:to("cpu"))
    assert.are.equal(m, m:cpu())
    local after = m:get_weights()
    for i = 1, #before do H.assert_tensor(after[i], before[i]:totable()) end
    assert.is_number(m:step(x, y))
    assert.are.equal("cpu", nn.Model().device)    -- no layers: the default device
  end)

  it("opt:to('cpu') keeps the state tensors' values", function()
    local opt = nn.optim.Adam{ lr = 0.1 }
    local p, g = { nn.tensor{1, 2, 3} }, { nn.tensor{0.5, -1, 2} }
    opt:step(p, g)
    local m = opt.state[1].exp_avg:clone()
    assert.are.equal(opt, opt:to("cpu"))
    H.assert_tensor(opt.state[1].exp_avg, m:totable())
  end)

  it("nn.get_default_device() is the cpu, and set_default_device('cpu') keeps it", function()
    assert.are.equal("cpu", nn.get_default_device())
    nn.set_default_device("cpu")
    assert.are.equal("cpu", nn.get_default_device())
    assert.are.equal("cpu", nn.tensor.zeros(2).device)
    assert.are.equal("cpu", nn.Linear(2, 2).weight.device)
  end)

  it("a tensor prints its device", function()
    assert.truthy(tostring(nn.tensor{1, 2}):find("device=cpu", 1, true))
  end)
end)

describe("devices: errors", function()
  it("an unknown device is named", function()
    local l = nn.Linear(3, 2)
    H.assert_error_has(function () l:to("tpu") end, {"invalid option 'tpu'"})
    H.assert_error_has(function () nn.tensor{1}:to("gpu") end, {"invalid option 'gpu'"})
    H.assert_error_has(function () nn.set_default_device("gpu") end, {"invalid option 'gpu'"})
    H.assert_error_has(function () small_model():to("gpu") end,
                       {"model:to: device must be 'cpu' or 'cuda', got gpu"})
    H.assert_error_has(function () nn.optim.SGD{}:to(1) end,
                       {"SGD:to: device must be 'cpu' or 'cuda', got 1"})
  end)
end)

describe("devices: without a GPU", function()
  if HAS_CUDA then
    pending("a CUDA device is present: the no-device answers do not apply")
    return
  end

  it("nn.cuda answers: no device, nothing allocated, synchronize and empty_cache do nothing",
     function()
    assert.are.equal(0, nn.cuda.device_count())
    assert.are.equal(0, nn.cuda.memory_allocated())
    assert.are.equal(0, nn.cuda.memory_reserved())
    nn.cuda.synchronize()
    nn.cuda.empty_cache()
  end)

  it("layer:cuda(), model:to('cuda') and set_default_device('cuda') say CUDA is not "
     .. "available, and why, and change nothing", function()
    local want = "CUDA is not available: " .. WHY
    local l = nn.Linear(3, 2)
    H.assert_error_has(function () l:cuda() end, {want})
    H.assert_error_has(function () l:to("cuda") end, {want})
    assert.are.equal("cpu", l.device)
    local m = small_model()
    H.assert_error_has(function () m:to("cuda") end, {"model:to: layer 1 (Linear)", want})
    assert.are.equal("cpu", m.device)
    assert.is_number(m:step(nn.tensor.randn(4, 4), nn.tensor{1, 2, 3, 1}))
    H.assert_error_has(function () nn.set_default_device("cuda") end, {want})
    assert.are.equal("cpu", nn.get_default_device())
  end)
end)

describe("devices: on a GPU", function()
  if not HAS_CUDA then
    pending("no CUDA device: the moves are skipped")
    return
  end

  it("layer:cuda() moves every tensor in place: a variable holding layer.weight follows",
     function()
    local l = nn.Dense(3, 2, { activation = "relu" })
    local w, want = l.weight, l.weight:clone()
    l:forward(nn.tensor.randn(4, 3))
    assert.are.equal(l, l:cuda())
    assert.are.equal("cuda", l.device)
    assert.are.equal("cuda", w.device)
    assert.are.equal("cuda", l.output.device)
    H.assert_tensor(w:cpu(), want:totable())
    l:cpu()
    assert.are.equal("cpu", w.device)
  end)

  it("layers without parameters follow their input; with parameters elsewhere, an error",
     function()
    local r = nn.ReLU()
    assert.are.equal("cuda", r:forward(nn.tensor{-1, 2}:cuda()).device)
    assert.are.equal("cpu", r:forward(nn.tensor{-1, 2}).device)
    H.assert_error_has(function () nn.Linear(2, 2):forward(nn.tensor.randn(1, 2):cuda()) end,
                       {"input is on cuda", "parameters are on cpu"})
  end)

  it("model:to('cuda') trains on CPU data, and the optimizer's state moves with it", function()
    local m = small_model()
    local x, y = nn.tensor.randn(8, 4), nn.tensor{1, 2, 3, 1, 2, 3, 1, 2}
    m:step(x, y)
    m:to("cuda")
    assert.are.equal("cuda", m.device)
    assert.are.equal("cuda", m.optimizer.state[1].exp_avg.device)
    assert.is_number(m:step(x, y))
    local h = m:train(x, y, { epochs = 2, batch_size = 4, verbose = 0 })
    assert.are.equal(2, #h.loss)
    assert.are.equal(8, m:predict(x):size(1))
    H.assert_error_has(function ()
      local opt = nn.optim.Adam{}
      opt:step({ nn.tensor{1, 2} }, { nn.tensor{1, 1} })
      opt:step({ nn.tensor{1, 2}:cuda() }, { nn.tensor{1, 1}:cuda() })
    end, {"params[1] is on cuda but its state", "opt:to('cuda')"})
  end)

  it("set_default_device('cuda') makes tensors and layers there", function()
    nn.set_default_device("cuda")
    local ok, err = pcall(function ()
      assert.are.equal("cuda", nn.tensor.zeros(2).device)
      assert.are.equal("cuda", nn.tensor{1, 2}.device)
      assert.are.equal("cuda", nn.Linear(2, 2).weight.device)
    end)
    nn.set_default_device("cpu")
    assert(ok, err)
  end)

  it("a CUDA tensor prints device=cuda", function()
    assert.truthy(tostring(nn.tensor{1, 2}:cuda()):find("device=cuda", 1, true))
  end)
end)
