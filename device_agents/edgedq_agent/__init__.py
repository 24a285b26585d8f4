"""The edgedq board agent: runs TFLite models where they will be deployed and reports raw measurements.

Standard library, numpy and a TFLite runtime only; Python 3.9 or newer.
"""

AGENT_VERSION = "0.3.0"
PROTOCOL_VERSION = 2
