-- lua/nn/metrics.lua (being written)
return {}
