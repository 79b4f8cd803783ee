"""ComfyLiterals (M1kep/ComfyLiterals): the Int, Float and String literal nodes."""
