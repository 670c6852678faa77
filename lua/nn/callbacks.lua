-- lua/nn/callbacks.lua (being written)
return {}
