"""llama-cpp-python's OpenAI-compatible server, started with two workarounds.

Used by evals/real-model.sh; takes the same arguments as `python -m llama_cpp.server`.

* CPUs with AMX: llama.cpp's AMX matrix kernel crashes on the first token (seen with
  SmolLM2 and gemma3 on the development machine). Loading the weights without the
  extra buffer types keeps that kernel out of the way.
* The `chatml-function-calling` handler ignores the request's `max_tokens` when
  `tool_choice` is `auto`, so a small model can generate until the context is full and
  block the single-threaded server for minutes. Every internal completion is capped at
  DEPLOY_AGENT_LLM_CAP tokens (default 200).
"""
import os
import runpy
import sys

import llama_cpp.llama_cpp as lowlevel
from llama_cpp import Llama

CAP = int(os.environ.get("DEPLOY_AGENT_LLM_CAP", "200"))
_model_params = lowlevel.llama_model_default_params
_complete = Llama.create_completion


def model_params_without_extra_buffers():
    params = _model_params()
    params.use_extra_bufts = False
    return params


def capped_completion(self, *args, **kwargs):
    wanted = kwargs.get("max_tokens")
    if wanted is None or wanted <= 0 or wanted > CAP:
        kwargs["max_tokens"] = CAP
    return _complete(self, *args, **kwargs)


lowlevel.llama_model_default_params = model_params_without_extra_buffers
Llama.create_completion = capped_completion

if __name__ == "__main__":
    sys.argv = ["llama_cpp.server"] + sys.argv[1:]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
