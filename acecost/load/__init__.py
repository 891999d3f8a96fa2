"""Stage 1, load: what the user names becomes a function and abstract arguments.

Takes a model file, ``pkg.module:attr``, a Keras model or ``zoo:NAME``
(``resolve``, ``keras``; ``target`` is what a loaded target is), lifts
the shapes a function closes over into arguments (``lift``), and traces
it abstractly into a closed jaxpr (``trace``). Gives a
:class:`~acecost.load.target.Target` and its jaxpr; nothing is allocated
or run. ``tag`` is the marker a model uses to declare a width; ``locate``
says where in the user's code a model failed.
"""
