"""The tool bridge: Memfun's tools and external MCP servers, callable from the sandboxed REPL."""

from __future__ import annotations

from memfun_agent.tools._bridge import ToolBridge, ToolCallObserver, describe
from memfun_agent.tools._changes import ChangeTracker
from memfun_agent.tools._checkpoints import (
    Checkpoint,
    CheckpointRecorder,
    FileChange,
    FileState,
    recording,
)
from memfun_agent.tools._mcp import gateway_client, server_client, tool_name
from memfun_agent.tools._permissions import (
    AskCallback,
    Decision,
    PermissionPolicy,
    PermissionRequest,
)
from memfun_agent.tools._sensitive import PathVerdict, SensitivePaths
from memfun_agent.tools._spec import Handler, ToolFailed, ToolSpec
from memfun_agent.tools._undo import CheckpointInfo, CheckpointStore, UndoResult

__all__ = [
    "AskCallback",
    "ChangeTracker",
    "Checkpoint",
    "CheckpointInfo",
    "CheckpointRecorder",
    "CheckpointStore",
    "Decision",
    "FileChange",
    "FileState",
    "Handler",
    "PathVerdict",
    "PermissionPolicy",
    "PermissionRequest",
    "SensitivePaths",
    "ToolBridge",
    "ToolCallObserver",
    "ToolFailed",
    "ToolSpec",
    "UndoResult",
    "describe",
    "gateway_client",
    "recording",
    "server_client",
    "tool_name",
]
