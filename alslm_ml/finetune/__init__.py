"""The fine-tuning arm (seed 002): LoRA on SmolLM2-135M-Instruct with grounded ALS Q&A.

data.py (instruction data set), model.py (base model from the packaged GGUF), train.py (LoRA
loop), metrics.py (ROUGE/BLEU/perplexity), experiments.py (seed experiments + final comparison),
system.py (the `base` and `finetuned` systems).
"""
