"""VantageLongWanVideo (vantagewithai; the set's files come from the fork
florinnichifiriuc/VantageLongWanVideo): a prompt-per-segment long image-to-video loop over
the Wan 2.2 high- and low-noise experts (dual looper) or over one model (single looper), and
the project node that feeds them their prompts."""
