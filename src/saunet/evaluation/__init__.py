"""Scoring vessel maps against labels under stated protocols (paper Sec. III-B).

* :mod:`.metrics` - pure functions of arrays: SE, SP, ACC, AUC, F1, MCC, clDice, curves;
* :mod:`.protocols` - the ``paper`` and ``fov`` protocols, thresholds, the 2nd observer;
* :mod:`.pipeline` - a checkpoint or a folder of maps in, scored test split out;
* :mod:`.outputs` - the files of an evaluation: metrics.json, per_image.csv, table.md, plots;
* :mod:`.compare` - paired tests between two evaluations of the same images.
"""
