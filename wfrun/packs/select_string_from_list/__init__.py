"""ComfyUI-SelectStringFromListWithIndex (wirytiox, registry id
comfyui-selectstringfromlistwithindex): StringFromList."""
