"""The typed workflow graph: build it from a document, then check it."""

from wfrun.graph.build import build
from wfrun.graph.check import CheckOptions, PackChecks, check
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph

__all__ = ["CheckOptions", "LinkRef", "NodeInstance", "PackChecks", "WorkflowGraph", "build", "check"]
