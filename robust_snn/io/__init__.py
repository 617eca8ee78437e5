"""Files: atomic writes, model files and checkpoints (safetensors + JSON, never pickle)."""
