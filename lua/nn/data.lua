-- lua/nn/data.lua (being written)
return {}
