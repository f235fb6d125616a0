"""Every way of running a model, behind one small interface (runtime.base.Runtime):

    base.py       GenerationConfig, Completion, the Runtime interface, StopFilter
    sampling.py   the next-token rule for the torch loops (repetition penalty, top-k/top-p)
    llamacpp.py   a GGUF in-process through llama-cpp-python: raw completion and chat
    ollama.py     an Ollama server over HTTP: raw completion and chat; host, client, server probe
    torch_gpt.py  the from-scratch GPT checkpoint in PyTorch: raw completion
    hf.py         a transformers chat model (the LoRA base / merged model): chat

The systems (alslm_ml.scratch, alslm_ml.rag.system, alslm_ml.finetune.system) sit above this
package and turn a question into prompts; this package knows nothing about questions, retrieval,
evaluation or the UI. Heavy libraries (torch, llama_cpp, transformers, ollama) are imported inside
the runtime that needs them, so importing a system stays fast.
"""
