"""Measuring on devices: bench, eval, deploy, their statistics, datasets and saved results.

Everything here talks to a device through ``edgedq.device`` and one runner
(``runner.AgentRunner``: hold, push, one fresh agent process per request), and
reports typed events (``events``) while it works.
"""
