"""Stage 5b, figures: reports drawn as accuracy-versus-cost and cost-breakdown plots.

Takes Reports, accuracies and the bundled PokeBNN reference
(``reference``); gives matplotlib figures: the Pareto plot
(``pareto_plot``, its points ``points``, frontier ``pareto``, size and
axis limits ``pareto_geometry``, label placement ``labels``) and the breakdown bars (``breakdown``,
``breakdown_plot``), sharing ``style`` and the caption block ``layout``.
"""
