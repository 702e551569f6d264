"""From a photograph to a vessel map: prediction, the segmentation pipeline and its outputs.

* :mod:`.predictor` - whole-image prediction with a network (padding, autocast, flips);
* :mod:`.scale` - the resolution policy (which resize factor an image gets);
* :mod:`.tiling` - overlapping tiles in bounded memory;
* :mod:`.fast` - inference-only rewrites (BatchNorm folding, compile);
* :mod:`.export` - ONNX export and the onnxruntime predictor;
* :mod:`.segmenter` - :class:`~saunet.inference.segmenter.Segmenter`: one photograph in,
  probability map, mask and FOV out (the path behind ``saunet segment`` and the API);
* :mod:`.segment_files` - many files in, PNGs and ``summary.csv`` out (planning, locking,
  ``--resume``);
* :mod:`.scheduling` - how those images move through the steps: two lanes on a CPU
  (:mod:`.lanes`: when, how many threads, the memory guard), else a reader/writer pipeline;
* :mod:`.router` - ``--weights auto``: which shipped weights each photograph gets;
* :mod:`.encode` - the output files and their formats (lossless maps, JPEG overlay);
* :mod:`.overlay` - the mask drawn on the photograph;
* :mod:`.pretrained` - :func:`~saunet.inference.pretrained.load_pretrained`.

Nothing heavy is imported here; import the submodule you need.
"""
