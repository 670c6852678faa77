-- lua/nn/safetensors.lua (being written)
return {}
