"""ComfyUI_CreaPrompt (tritant/ComfyUI_CreaPrompt): CreaPrompt List only.

The pack's other nodes draw random prompt parts from the word lists (CSV files) it ships;
wfrun runs none of them. CreaPrompt List draws nothing: it only splits the text it is given.
"""
