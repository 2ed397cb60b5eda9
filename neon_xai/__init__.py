"""neon_xai: the command-line front end (``neon-xai``) and its HTML report."""
