"""DJZ-Nodes (MushroomFleet/DJZ-Nodes, cnr id djz-nodes): ProjectFilePathNode, the path
builder MushroomFleet's Wan workflows feed into their save nodes' filename prefixes."""
