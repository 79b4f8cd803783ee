"""PG-Nodes (GizmoR13/PG-Nodes): Lazy Prompt (mini)."""
