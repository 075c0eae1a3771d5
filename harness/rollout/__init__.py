"""Generation backends: HF transformers (default, CPU) and vLLM (GPU, optional extra)."""
