"""A pydantic-ai toolset backed by a toolwire registry.

`Agent(model, toolsets=[registry_toolset(registry)])`: the registry's tools keep their names,
descriptions and schemas; the calls a model makes in one turn (pydantic-ai runs them concurrently) reach
the registry together and run as one batch on its backend, with toolwire's validation, deadlines and
policies. Invalid arguments come back to the model as a retry prompt (`ModelRetry`); any other failure
(a tool error, a timeout, a crash, a denial) as a failed tool result it can adapt to (`ToolFailed`).
"""

from toolwire_pydantic_ai._toolset import RegistryToolset, registry_toolset

__all__ = ["RegistryToolset", "registry_toolset"]
