"""Bjornulf_custom_nodes (justUmen/Bjornulf_custom_nodes): the note node that also passes a value on."""
