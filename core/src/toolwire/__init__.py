"""toolwire: Python functions, OpenAPI services and MCP servers as tools for any LLM provider.

Everything public is re-exported here.
"""

from toolwire._sources import ToolChanges
from toolwire.batching import CallBatcher
from toolwire.config import Config, ConfigError, ServeConfig, load_config
from toolwire.executing import (
    Executor,
    ExecutorConfig,
    Job,
    Outcome,
    Outcomes,
    call_invoker,
    call_invoker_async,
    cancelled_outcome,
    check_options,
    current_call_id,
    earliest_deadline,
    enter_scopes,
    error_from_exception,
    listen_progress,
    report_progress,
    set_current_call_id,
    timeout_outcome,
)
from toolwire.formats import SchemaConversionError
from toolwire.hookspecs import Batch, ExecutorSpec, FormatSpec, LoaderSpec, ServerSpec, hookimpl
from toolwire.names import safe_name
from toolwire.plugins import PluginConflictError, PluginInfo, Plugins, UnknownPluginError
from toolwire.registry import ToolRegistry
from toolwire.tools import (
    Annotations,
    Audio,
    ContentBlock,
    ErrorKind,
    Image,
    Resource,
    Text,
    Tool,
    ToolCall,
    ToolCallError,
    ToolError,
    ToolOutput,
    ToolResult,
    ToolSource,
    is_async_callable,
)

__all__ = [
    "Annotations",
    "Audio",
    "Batch",
    "CallBatcher",
    "Config",
    "ConfigError",
    "ContentBlock",
    "ErrorKind",
    "Executor",
    "ExecutorConfig",
    "ExecutorSpec",
    "FormatSpec",
    "Image",
    "Job",
    "LoaderSpec",
    "Outcome",
    "Outcomes",
    "PluginConflictError",
    "PluginInfo",
    "Plugins",
    "Resource",
    "SchemaConversionError",
    "ServeConfig",
    "ServerSpec",
    "Text",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolChanges",
    "ToolError",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "ToolSource",
    "UnknownPluginError",
    "call_invoker",
    "call_invoker_async",
    "cancelled_outcome",
    "check_options",
    "current_call_id",
    "earliest_deadline",
    "enter_scopes",
    "error_from_exception",
    "hookimpl",
    "is_async_callable",
    "listen_progress",
    "load_config",
    "report_progress",
    "safe_name",
    "set_current_call_id",
    "timeout_outcome",
]
