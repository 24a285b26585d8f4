"""Code that runs on the board.  Standard library, numpy and a TFLite runtime only."""
