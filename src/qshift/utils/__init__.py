"""Small shared helpers of the bottom layer: atomic writes, seeds, annotation reading."""
