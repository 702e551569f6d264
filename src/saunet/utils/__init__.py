"""Helpers shared by every layer: atomic file writes (:mod:`.files`) and device,
precision and hardware description (:mod:`.device`). They import nothing else from saunet."""
