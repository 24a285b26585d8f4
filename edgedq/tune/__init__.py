"""``edgedq tune``: the fastest variant of a model a board runs within an accuracy budget, chosen by measurement.

``sensitivity`` ranks the layers dynamic-range quantization hurts (on the host), ``candidates`` turns the ranking
into recipes and converts each once (cached), ``choose`` applies the budget rule and finds the Pareto front,
``run`` measures every candidate on every board, ``result`` holds what came out (with its JSON) and ``output``
writes the chosen model with a manifest that says why.
"""
