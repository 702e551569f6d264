"""Vessel measures from a binary vessel mask, a field of view and an optional optic disc.

Pure functions of arrays, one job per module (units: pixels unless a name says otherwise):

* :mod:`.skeleton` - centreline, graph of segments, branch points and end points, lengths;
* :mod:`.calibre` - mean width as area / centreline length, per image and per segment;
* :mod:`.tortuosity` - arc/chord and tortuosity density (Grisan et al. 2008);
* :mod:`.fractal` - box-counting dimension;
* :mod:`.zones` - zones B and C around the optic disc;
* :mod:`.units` - micrometres per pixel from a given scale or the camera's field angle;
* :mod:`.disc` - optic-disc localisation (:class:`~saunet.measure.disc.Disc`);
* :mod:`.image` - all measures of one image: the rows of ``measurements.csv`` and
  ``segments.csv``;
* :mod:`.picture` - the ``<stem>_measure.png`` picture;
* :mod:`.html` - ``index.html``;
* :mod:`.files` - many inputs in, the output folder of ``saunet measure`` out.

Definitions, units and rules for undefined values: docs/measure.md and each module.
"""
