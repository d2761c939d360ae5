"""A toolwire registry's tools as OpenAI Agents SDK function tools.

`Agent(name=..., tools=function_tools(registry))`: each tool keeps its name, description and schema; the
calls a model makes in one turn (the SDK runs them concurrently) reach the registry together and run
as one batch on its backend, with toolwire's validation, deadlines and policies. The arguments' JSON text
goes to the registry as the model wrote it (parsed and validated in one pass); a failed call returns
the error the model should read, as the SDK expects of a tool that fails.
"""

from toolwire_openai_agents._tools import function_tools

__all__ = ["function_tools"]
