"""SSH boards: where a device lives (target), whom to trust (trust), the connection (client), the board's
work folder (store, uploads, lock), the agent as a remote process, and all of it as one ``Connection``."""
