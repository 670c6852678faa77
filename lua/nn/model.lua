-- lua/nn/model.lua (being written)
local Model = {}
function Model.load() error("not yet") end
return Model
