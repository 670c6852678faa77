-- lua/nn/optim.lua (being written)
return {}
