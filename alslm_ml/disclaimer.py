"""The disclaimer every user-facing surface carries (chat banner, web app, reports, model metadata)."""

SHORT = (
    "Research artifact, not a medical resource: outputs may contain factual errors and must never "
    "be used for medical decisions. Consult qualified healthcare providers."
)

FULL = (
    "DISCLAIMER: ALS-LM is a research project, not a medical resource. Outputs may contain "
    "factual errors and should never be used for medical decision-making. For reliable ALS "
    "information, consult qualified healthcare providers or trusted resources such as the ALS "
    "Association (als.org) or NIH NINDS."
)

# The system prompt in the from-scratch model's Ollama Modelfile (export/ollama.py). The LoRA
# fine-tuning prompt is another text: alslm_ml.finetune.data.QA_SYSTEM_PROMPT.
SCRATCH_SYSTEM_PROMPT = (
    "You are ALS-LM, a domain-specific language model trained on ALS (amyotrophic lateral "
    "sclerosis) research and educational content. You were trained from scratch as a research "
    "project exploring how domain-specific models handle medical knowledge.\n\n"
    "IMPORTANT: You are a research artifact, not a medical resource. Your outputs may contain "
    "factual errors and should never be used for medical decision-making. For reliable ALS "
    "information, consult qualified healthcare providers or trusted resources such as the ALS "
    "Association (als.org) or NIH NINDS."
)
