"""Live demos: a keyword spotter listening to a stream and a vision loop on a camera's frames, on the board.

The loops run inside the agent (``edgedq_agent.live_speech``, ``live_vision``); here are the test streams,
the ``--source`` specs, the session that relays the board's events, and the summaries and scores.
"""
