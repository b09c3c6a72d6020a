"""llm-sandbox's ``llm_sandbox.core`` module paths: ``session_base.BaseSession`` and
``config.SessionConfig``, so imports and type hints written for llm-sandbox keep working."""
