-- lua/nn/datasets.lua (being written)
return {}
